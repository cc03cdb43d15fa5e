r"""The translation task: parallel corpus → translator → training → decoding → BLEU → checkpoint.

Works for any model with this interface (GRU seq2seq, Bahdanau, Transformer, non-autoregressive).

**The interface** (:class:`Seq2SeqModel`): an ``nn.Module`` with

- ``forward(src (B, S), src_valid_len (B,), tgt_in (B, T)) -> logits (B, T, V)``: teacher
  forcing, ``tgt_in = [<bos>, y_1, ..., y_{T-1}]`` and the logits predict ``y_1 .. y_T``;
- ``init_state(src, src_valid_len) -> state``: encode the sources; a pytree whose tensors hold
  the B sources on dim 0;
- ``step(tokens (N, t), state) -> (log_probs (N, V), state)``: the next-token distribution after
  the prefixes ``tokens`` (``<bos>`` included), exactly :mod:`deepnotes.decoding`'s step.

**Training** (S2, A14) minimises the masked cross-entropy over valid target tokens
(:func:`~deepnotes.functional.masked_cross_entropy`). With scheduled sampling the decoder is fed
its own previous prediction instead of the gold token with probability :math:`p_e`, which rises
over the epochs :math:`e = 0..E-1` (the model learns to recover from its own mistakes, which it
meets at test time: exposure bias).

**Decoding** uses greedy or beam search (S3, S5); :func:`evaluate_bleu` scores the translations
against the raw references with sacrebleu-compatible corpus BLEU and the notes' BLEU (S4).

**Checkpoints** store the model, its registry name and config, both vocabularies and
``num_steps`` in ``model_info``, so ``deepnotes translate CHECKPOINT "sentence"`` rebuilds it.

**End to end**, :func:`train_translator` loads a corpus (:func:`load_translation_corpus`: the
Bible verse pairs, the made-up ``toy-en-es`` corpus or your own TSV), builds a registered model
from :class:`TranslatorSettings`, trains, times and saves it; :func:`bleu_rows`,
:func:`sample_rows` and :func:`translator_metrics` report it.

Notes: S1, S2, S3, S4, S5, A14.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from deepnotes.errors import CheckpointError, ConfigError
from deepnotes.functional.attention import guided_attention_loss
from deepnotes.functional.sequence import fused_masked_cross_entropy
from deepnotes.metrics import bleu, corpus_bleu
from deepnotes.text.codec import WordCodec, detokenize

__all__ = [
    "SMALL_TRANSLATOR", "ScheduledSampling", "Seq2SeqModel", "TranslatorSettings", "bleu_rows",
    "check_sources", "copy_map",
    "copy_baseline_bleu", "decode", "detokenize", "encode_sentences", "evaluate_bleu",
    "load_seq2seq", "load_translation_corpus", "sample_rows", "save_seq2seq", "save_translator",
    "scheduled_sampling_log_probs", "seq2seq_info", "seq2seq_loss", "teacher_forcing_inputs",
    "train_seq2seq", "train_translator", "translate", "translator_metrics",
]


@runtime_checkable
class Seq2SeqModel(Protocol):
    """What :func:`train_seq2seq`, :func:`translate` and ``deepnotes translate`` need of a model."""

    def forward(self, src: Tensor, src_valid_len: Tensor, tgt_in: Tensor) -> Tensor: ...

    def init_state(self, src: Tensor, src_valid_len: Tensor) -> Any: ...

    def step(self, tokens: Tensor, state: Any) -> tuple[Tensor, Any]: ...


# ---------------------------------------------------------------------------- training
@dataclass
class ScheduledSampling:
    r"""How often the decoder is fed its own prediction during training (A14).

    .. math::
        p_e = p_{\max}\cdot\frac{e}{E-1} \;(\text{linear}), \qquad
        p_e = p_{\max}\Big(1 - \frac{k}{k + \exp(e/k)}\Big)\;(\text{inverse sigmoid})

    for epoch :math:`e = 0, \dots, E-1` (the linear schedule starts with pure teacher forcing).

    Args:
        max_prob: :math:`p_{\max}`, the probability reached at the last epoch. Default 0.25.
        schedule: ``"linear"`` (default) or ``"inverse_sigmoid"`` (Bengio et al., 2015).
        k: speed of the inverse-sigmoid schedule (in epochs). Default 2.
        mode: ``"step"`` (default) decodes token by token through ``model.step`` and feeds back
            the prediction made one step earlier (the original method; needs a differentiable
            ``step``); ``"two_pass"`` runs a teacher-forced pass, swaps tokens of ``tgt_in`` for
            its predictions, and trains on a second pass (any model, parallel decoders too).
        sample: feed a token sampled from the prediction instead of its argmax. Default False.

    Example:
        >>> [round(ScheduledSampling(0.3).prob(e, 4), 2) for e in range(4)]
        [0.0, 0.1, 0.2, 0.3]

    Notes: A14.
    """

    max_prob: float = 0.25
    schedule: str = "linear"
    k: float = 2.0
    mode: str = "step"
    sample: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_prob <= 1.0:
            raise ConfigError(f"scheduled sampling max_prob must be in [0, 1], got {self.max_prob}")
        if self.schedule not in ("linear", "inverse_sigmoid"):
            raise ConfigError(f"schedule must be 'linear' or 'inverse_sigmoid', got {self.schedule!r}")
        if self.mode not in ("step", "two_pass"):
            raise ConfigError(f"mode must be 'step' or 'two_pass', got {self.mode!r}")
        if self.k <= 0:
            raise ConfigError(f"k must be > 0, got {self.k}")

    def prob(self, epoch: int, epochs: int) -> float:
        """:math:`p_e`, the chance of feeding the model's own token in epoch ``epoch`` (0-based)."""
        if self.schedule == "linear":
            # p_e = p_max · e / (E - 1)
            return self.max_prob * (epoch / (epochs - 1) if epochs > 1 else 1.0)
        # p_e = p_max (1 - k / (k + exp(e / k)))
        return self.max_prob * (1.0 - self.k / (self.k + math.exp(epoch / self.k)))


def teacher_forcing_inputs(tgt: Tensor, bos: int) -> Tensor:
    """Decoder inputs for teacher forcing: ``<bos>`` then the targets shifted right by one.

    Example:
        >>> teacher_forcing_inputs(torch.tensor([[5, 6, 3, 1]]), bos=2)
        tensor([[2, 5, 6, 3]])

    Notes: S2.
    """
    bos_col = torch.full_like(tgt[:, :1], bos)
    return torch.cat([bos_col, tgt[:, :-1]], dim=1)  # (B, T)


def _pick(log_probs: Tensor, sample: bool) -> Tensor:
    if sample:
        return torch.multinomial(log_probs.detach().float().exp(), 1).squeeze(1)
    return log_probs.detach().argmax(dim=-1)


def scheduled_sampling_log_probs(model: nn.Module, src: Tensor, src_valid_len: Tensor,
                                 tgt_in: Tensor, prob: float, sample: bool = False) -> Tensor:
    r"""Token-by-token training pass that feeds back the model's own predictions (A14).

    .. math::
        x_{t+1} = \begin{cases} \hat y_t = \arg\max_y P(y \mid x_{\le t}) & u_{b,t} < p \\
        y_t & \text{otherwise} \end{cases}, \qquad u_{b,t} \sim U(0, 1)

    where ``tgt_in[:, t+1]`` is the gold :math:`y_t`. With ``prob=0`` this equals the
    teacher-forced forward pass (as log-probabilities).

    Shape:
        - src (B, S), src_valid_len (B,), tgt_in (B, T). Output: (B, T, V) log-probabilities.

    Notes: A14.
    """
    state = model.init_state(src, src_valid_len)
    B, T = tgt_in.shape
    tokens = tgt_in[:, :1]  # (B, 1): <bos>
    out = []
    for t in range(T):
        log_probs, state = model.step(tokens, state)  # (B, V)
        out.append(log_probs)
        if t + 1 < T:
            own = torch.rand(B, device=tgt_in.device) < prob
            nxt = torch.where(own, _pick(log_probs, sample), tgt_in[:, t + 1])
            tokens = torch.cat([tokens, nxt[:, None]], dim=1)  # (B, t + 2)
    return torch.stack(out, dim=1)  # (B, T, V)


def seq2seq_loss(model: nn.Module, batch: Sequence[Tensor], bos: int, sampling_prob: float = 0.0,
                 sampling: ScheduledSampling | None = None, label_smoothing: float = 0.0) -> Tensor:
    """Masked cross-entropy of one ``(src, src_valid_len, tgt, tgt_valid_len)`` batch (S2, A14).

    Teacher forcing when ``sampling_prob == 0``; otherwise scheduled sampling as ``sampling``
    says (default :class:`ScheduledSampling`'s step mode).
    """
    src, src_len, tgt, tgt_len = batch
    tgt_in = teacher_forcing_inputs(tgt, bos)
    if sampling_prob <= 0.0:
        return fused_masked_cross_entropy(model(src, src_len, tgt_in), tgt, tgt_len,
                                          label_smoothing)
    sampling = sampling or ScheduledSampling()
    if sampling.mode == "step":
        scores = scheduled_sampling_log_probs(model, src, src_len, tgt_in, sampling_prob,
                                              sampling.sample)
    else:
        with torch.no_grad():  # pass 1: what the model predicts under teacher forcing
            first = torch.log_softmax(model(src, src_len, tgt_in), dim=-1)  # (B, T, V)
        pred = _pick(first.reshape(-1, first.shape[-1]), sampling.sample).view_as(tgt)
        own = torch.rand(tgt.shape, device=tgt.device) < sampling_prob
        own[:, 0] = False  # <bos> stays
        # position t+1 of the input holds the prediction made at position t
        mixed = torch.where(own, teacher_forcing_inputs(pred, bos), tgt_in)
        scores = model(src, src_len, mixed)  # pass 2
    # log_softmax of log-probabilities is a no-op, so both kinds of scores go in as logits
    return fused_masked_cross_entropy(scores, tgt, tgt_len, label_smoothing)


def copy_map(src_vocab: Any, tgt_vocab: Any) -> Tensor:
    """For a copying translator (``bahdanau`` with ``copy=True``): the target id of each source
    token spelled the same in the target vocabulary, -1 for the rest and for reserved tokens
    (``<unk>``, ``<pad>`` ...). Names, numbers and loan words are what this lets the decoder
    copy. Notes: A14 (copy mechanism).

    Example:
        >>> from deepnotes.text import Vocab
        >>> src, tgt = Vocab(["isaac", "lived", "in", "gerar"]), Vocab(["isaac", "vivió", "en"])
        >>> m = copy_map(src, tgt)
        >>> tgt.idx_to_token[int(m[src.token_to_idx["isaac"]])], int(m[src.token_to_idx["in"]])
        ('isaac', -1)
    """
    out = torch.full((len(src_vocab),), -1, dtype=torch.long)
    for i, token in enumerate(src_vocab.idx_to_token):
        if token not in src_vocab.reserved and token in tgt_vocab.token_to_idx:
            out[i] = tgt_vocab.token_to_idx[token]
    return out


class _Seq2SeqStep:
    """The Trainer's loss_step: counts target tokens and applies the epoch's sampling prob."""

    def __init__(self, bos: int, epochs: int, sampling: ScheduledSampling | None,
                 label_smoothing: float, guided: float = 0.0, guided_width: float = 0.2) -> None:
        self.bos, self.epochs, self.sampling = bos, epochs, sampling
        self.label_smoothing = label_smoothing
        self.guided, self.guided_width = guided, guided_width
        self.trainer: Any = None
        self.tokens: dict[int, int] = {}

    def prob(self, epoch: int) -> float:
        return 0.0 if self.sampling is None else self.sampling.prob(epoch, self.epochs)

    def __call__(self, model: nn.Module, loss_fn: Any, batch: Sequence[Tensor]):
        p = 0.0
        if model.training:
            epoch = self.trainer.epoch
            self.tokens[epoch] = self.tokens.get(epoch, 0) + int(batch[3].sum())
            p = self.prob(epoch)
        loss = seq2seq_loss(model, batch, self.bos, p, self.sampling, self.label_smoothing)
        if self.guided and model.training:
            # + λ · guided attention on the weights of this forward pass (A14)
            live = getattr(model, "attention_live", None)
            if live is None:
                raise ConfigError(f"guided_attention needs a model with step-by-step attention "
                                  f"weights (bahdanau), not {type(model).__name__}")
            loss = loss + self.guided * guided_attention_loss(live, batch[3], batch[1],
                                                              self.guided_width)
        return loss, None, None


def train_seq2seq(model: nn.Module, data: Any, epochs: int = 10, lr: float = 0.005,
                  clip: float | None = 1.0, scheduled_sampling: ScheduledSampling | float | None = None,
                  device: str = "auto", progress: bool | None = None, seed: int = 0,
                  optimizer: str = "adam", label_smoothing: float = 0.0,
                  out_dir: str | Path | None = None, validate: bool = True,
                  warmup_steps: int = 0, cosine: bool = False, guided_attention: float = 0.0,
                  guided_width: float = 0.2) -> list[dict[str, Any]]:
    r"""Train a :class:`Seq2SeqModel` on a :class:`~deepnotes.data.parallel.TranslationData`.

    Each step: teacher-forced (or scheduled-sampling) logits, masked cross-entropy over the
    valid target tokens, backprop, gradient-norm clipping to ``clip`` (R7), an optimizer step.
    Runs on :class:`~deepnotes.train.Trainer` (progress bar, seeding, non-finite checks; with
    ``out_dir`` a resumable checkpoint that also holds both vocabularies).

    Args:
        model: the translator (moved to ``device``).
        data: ``TranslationData`` (``batches("train")``, ``batches("valid")``, the vocabularies).
        epochs: passes over the training pairs. lr: learning rate. Default 0.005.
        clip: max global gradient norm (``None``: no clipping). Default 1.0.
        scheduled_sampling: ``None`` (teacher forcing), a :class:`ScheduledSampling`, or a float
            :math:`p_{\max}` for the default linear schedule.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``. progress: progress bar (None: on a terminal).
        seed: seeds every generator at the start (the batch order is the data's own seed).
        optimizer: a name for :func:`deepnotes.optim.create_optimizer`. Default ``"adam"``.
        label_smoothing: :math:`\varepsilon` of the loss. Default 0.
        out_dir: write ``metrics.csv`` and ``checkpoint.safetensors`` there.
        validate: compute the validation loss after each epoch (when the split is not empty).
        warmup_steps: raise the learning rate linearly from 0 over this many steps (O7).
        cosine: then decay it to 0 along a cosine over the remaining steps (O7).
        guided_attention: weight λ of :func:`~deepnotes.functional.attention.
            guided_attention_loss` added to the training loss (A14; a model with step-by-step
            attention, ``bahdanau``); 0 turns it off. guided_width: its band ``g``.

    Returns:
        One row per epoch: ``epoch, train_loss, val_loss, sampling_prob, tokens_per_sec,
        seconds, lr, ...``.

    Notes: S2, A14, R7.
    """
    from deepnotes.optim import create_optimizer, create_schedule
    from deepnotes.train.trainer import TrainConfig, Trainer

    if not isinstance(model, Seq2SeqModel):
        raise ConfigError(f"{type(model).__name__} lacks the seq2seq interface (forward(src, "
                          "src_valid_len, tgt_in), init_state, step); see Seq2SeqModel")
    if isinstance(scheduled_sampling, (int, float)) and not isinstance(scheduled_sampling, bool):
        scheduled_sampling = ScheduledSampling(float(scheduled_sampling))
    if guided_attention < 0:
        raise ConfigError(f"guided_attention must be >= 0, got {guided_attention}")
    loss_step = _Seq2SeqStep(data.tgt_vocab.bos, epochs, scheduled_sampling, label_smoothing,
                             guided_attention, guided_width)
    opt = create_optimizer(optimizer, model.parameters(), lr=lr)
    train_batches = data.batches("train")
    total = epochs * len(train_batches)
    scheduler = None
    if cosine:
        scheduler = create_schedule("cosine", opt, T_max=max(1, total - warmup_steps))
    if warmup_steps > 0:
        scheduler = create_schedule("warmup", opt, warmup_steps=warmup_steps, after=scheduler)
    val = data.batches("valid") if validate and len(data.valid) else None
    cfg = TrainConfig(epochs=epochs, grad_clip=clip, device=device, seed=seed, progress=progress,
                      out_dir=str(out_dir) if out_dir is not None else None)
    info = seq2seq_info(model, data.src_vocab, data.tgt_vocab, data.num_steps,
                        getattr(data, "codec", None))
    trainer = Trainer(model, opt, None, train_batches, val, scheduler=scheduler, config=cfg,
                      model_info=info, loss_step=loss_step)
    loss_step.trainer = trainer
    rows = trainer.fit().rows
    for row in rows:
        e = int(row["epoch"]) - 1
        row["sampling_prob"] = loss_step.prob(e)
        row["tokens_per_sec"] = loss_step.tokens.get(e, 0) / max(float(row["seconds"]), 1e-9)
    return rows


# ---------------------------------------------------------------------------- decoding
def encode_sentences(sentences: Sequence[str], src_vocab: Any, num_steps: int | None = None,
                     codec: Any = None) -> tuple[Tensor, Tensor]:
    """Tokenise raw sentences as the training data was (``codec``: words by default, or the
    data's subword codec) and index them: ``(src, src_valid_len)``.

    ``num_steps`` truncates (as training did); default: the longest sentence plus ``<eos>``.
    """
    from deepnotes.data.parallel import build_array

    if isinstance(sentences, str):
        raise ConfigError("pass a list of sentences, not one str (e.g. [\"hello .\"])")
    tokens = (codec or WordCodec()).split_many(list(sentences))
    steps = num_steps or max([len(t) for t in tokens] + [0]) + 1
    return build_array(tokens, src_vocab, steps)


def check_sources(sentences: Sequence[str], src_vocab: Any, num_steps: int | None = None,
                  codec: Any = None) -> list[str]:
    """Check sentences before translating them; return warnings (sentences cut to fit).

    Raises :class:`ConfigError` for a sentence with no tokens or with no token the model
    knows (it would be translated from ``<unk>`` alone: fluent text unrelated to the input).

    Example:
        >>> from deepnotes.text import Vocab
        >>> v = Vocab([["the", "cat", "."]], reserved=("<unk>", "<pad>", "<bos>", "<eos>"))
        >>> check_sources(["the cat sat ."], v, num_steps=3)
        ['sentence 1 has 4 tokens but the model reads at most 2 (it was trained on sentences that long): the rest is dropped']
    """
    warnings = []
    pieces = (codec or WordCodec()).split_many(list(sentences))
    for i, (sentence, tokens) in enumerate(zip(sentences, pieces), start=1):
        if not tokens:
            raise ConfigError(f"sentence {i} is empty; give a sentence to translate")
        if all(t not in src_vocab for t in tokens):
            raise ConfigError(
                f"sentence {i} ({sentence[:40]!r}) has no word the model knows (its source "
                f"vocabulary holds {len(src_vocab):,} tokens of its training language); it "
                f"cannot be translated")
        if num_steps is not None and len(tokens) > num_steps - 1:
            warnings.append(f"sentence {i} has {len(tokens):,} tokens but the model reads at "
                            f"most {num_steps - 1} (it was trained on sentences that long): the "
                            f"rest is dropped")
    return warnings


@torch.no_grad()
def decode(model: nn.Module, src: Tensor, src_valid_len: Tensor, bos: int, eos: int,
           method: str = "greedy", beam_size: int = 4, alpha: float = 0.75,
           max_len: int | None = None, batch_size: int = 64):
    """Decode a batch of indexed sources; a :class:`~deepnotes.decoding.SearchResult` (S3, S5).

    ``method="greedy"`` or ``"beam"`` (``beam_size`` k, length penalty ``alpha``). Sources are
    decoded ``batch_size`` at a time; ``max_len`` defaults to ``2·S + 2`` tokens.
    """
    from deepnotes.decoding import SearchResult, beam_search, greedy_search

    if method not in ("greedy", "beam"):
        raise ConfigError(f"method must be 'greedy' or 'beam', got {method!r}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    max_len = max_len or 2 * src.shape[1] + 2
    parts = []
    try:
        for i in range(0, src.shape[0], batch_size):
            s, n = src[i:i + batch_size].to(device), src_valid_len[i:i + batch_size].to(device)
            state = model.init_state(s, n)
            if method == "greedy":
                parts.append(greedy_search(model.step, bos, eos, max_len, state=state,
                                           batch_size=s.shape[0], device=device))
            else:
                parts.append(beam_search(model.step, bos, eos, beam_size, max_len, alpha,
                                         state=state, batch_size=s.shape[0], device=device))
    finally:
        model.train(was_training)
    return SearchResult([t for p in parts for t in p.tokens],
                        torch.cat([p.log_probs for p in parts]) if parts else torch.zeros(0),
                        torch.cat([p.scores for p in parts]) if parts else torch.zeros(0),
                        [h for p in parts for h in p.hypotheses])


def _to_text(tokens: list[int], tgt_vocab: Any, codec: Any = None) -> str:
    words = [w for w in tgt_vocab.to_tokens(tokens) if w not in ("<eos>", "<pad>", "<bos>")]
    return (codec or WordCodec()).join(words)


def translate(model: nn.Module, sources: Sequence[str] | tuple[Tensor, Tensor], src_vocab: Any,
              tgt_vocab: Any, method: str = "greedy", beam_size: int = 4, alpha: float = 0.75,
              max_len: int | None = None, num_steps: int | None = None,
              batch_size: int = 64, codec: Any = None) -> list[str]:
    """Translate raw sentences (or an indexed ``(src, src_valid_len)`` pair) into text
    (``codec``: how the model's data was cut into tokens; default words).

    Example:
        >>> translate(model, ["In the beginning."], data.src_vocab, data.tgt_vocab,
        ...           method="beam", beam_size=4)   # doctest: +SKIP
        ['en el principio.']

    Notes: S3, S5.
    """
    if isinstance(sources, tuple) and len(sources) == 2 and isinstance(sources[0], Tensor):
        src, src_len = sources
    else:
        src, src_len = encode_sentences(sources, src_vocab, num_steps, codec)
    result = decode(model, src, src_len, tgt_vocab.bos, tgt_vocab.eos, method, beam_size, alpha,
                    max_len, batch_size)
    return [_to_text(t, tgt_vocab, codec) for t in result.tokens]


def evaluate_bleu(model: nn.Module, split: Any, src_vocab: Any, tgt_vocab: Any,
                  method: str = "greedy", beam_size: int = 4, alpha: float = 0.75,
                  max_len: int | None = None, lowercase: bool = True, k: int = 4,
                  batch_size: int = 64, codec: Any = None) -> dict[str, Any]:
    r"""Translate a :class:`~deepnotes.data.parallel.TranslationSplit` and score it (S4).

    Returns ``{"bleu": sacrebleu-compatible corpus BLEU (0-100) against the raw references,
    "notes_bleu": mean of the notes' per-sentence BLEU (k-grams) on word tokens,
    "mean_log_prob": mean log P of the decoded sequences, "hypotheses": [...],
    "references": [...], "log_probs": [...], "scores": [...]}`` (per sentence: log P and the
    search's ranking score). ``lowercase=True`` (sacrebleu ``-lc``) because the vocabularies
    are lower-cased.
    """
    from deepnotes.text import tokenize

    result = decode(model, split.src, split.src_valid_len, tgt_vocab.bos, tgt_vocab.eos, method,
                    beam_size, alpha, max_len, batch_size)
    hyps = [_to_text(t, tgt_vocab, codec) for t in result.tokens]
    refs = list(split.tgt_text)
    score = corpus_bleu(hyps, [refs], lowercase=lowercase)
    notes = [bleu(tokenize([h])[0], tokenize([r])[0], k=k) for h, r in zip(hyps, refs)]
    return {"bleu": float(score.score), "notes_bleu": float(sum(notes) / max(len(notes), 1)),
            "mean_log_prob": float(result.log_probs.mean()) if len(hyps) else math.nan,
            "hypotheses": hyps, "references": refs, "log_probs": result.log_probs.tolist(),
            "scores": result.scores.tolist()}


# ---------------------------------------------------------------------------- checkpoints
def seq2seq_info(model: nn.Module, src_vocab: Any, tgt_vocab: Any,
                 num_steps: int | None = None, codec: Any = None) -> dict[str, Any] | None:
    """``model_info`` of a translator: registry name + config, both vocabularies, num_steps
    and the codec that cut sentences into tokens (``codec_from_json(info["codec"])``)."""
    from deepnotes.models import model_info

    info = model_info(model)
    if info is None:
        return None
    return {**info, "task": "translation", "src_vocab": src_vocab.state_dict(),
            "tgt_vocab": tgt_vocab.state_dict(), "num_steps": num_steps,
            "codec": (codec or WordCodec()).to_json()}


def save_seq2seq(path: str | Path, model: nn.Module, src_vocab: Any, tgt_vocab: Any,
                 num_steps: int | None = None, codec: Any = None) -> Path:
    """Save a translator built by :func:`deepnotes.models.create` with its vocabularies.

    ``path`` is a run folder (``checkpoint.safetensors`` + ``.json`` inside) or a base path.
    """
    from deepnotes.train.checkpoint import save_checkpoint

    info = seq2seq_info(model, src_vocab, tgt_vocab, num_steps, codec)
    if info is None:
        raise CheckpointError(f"{type(model).__name__} was not built by deepnotes.models.create, "
                              "so its checkpoint could not rebuild it; create it by name")
    if Path(path).is_dir():
        path = Path(path) / "checkpoint"
    return save_checkpoint(path, model, model_info=info)


def load_seq2seq(path: str | Path, device: str = "cpu") -> tuple[nn.Module, Any, Any, dict]:
    """Rebuild a translator saved by :func:`save_seq2seq` (or ``train_seq2seq(out_dir=)``).

    Returns ``(model (eval mode), src_vocab, tgt_vocab, model_info)``.
    """
    from deepnotes.models import from_info
    from deepnotes.runtime import resolve_device
    from deepnotes.text import Vocab
    from deepnotes.train.checkpoint import load_checkpoint, peek_checkpoint

    info = peek_checkpoint(path)["model_info"]
    if not info or "src_vocab" not in info or "tgt_vocab" not in info:
        raise CheckpointError(f"checkpoint {path} holds no translation model (no vocabularies in "
                              "its model_info); save it with save_seq2seq or train_seq2seq(out_dir=)")
    model = from_info(info)
    load_checkpoint(path, model)
    model.to(resolve_device(device)).eval()
    return (model, Vocab.from_state_dict(info["src_vocab"]), Vocab.from_state_dict(info["tgt_vocab"]),
            info)


# ---------------------------------------------------------------------------- end to end
@dataclass
class TranslatorSettings:
    """Data, model and training settings of an RNN translator (the translation lessons' configs
    extend these)."""

    corpus: str = "bible-en-es"  # bible-en-es | toy-en-es | the path of a source<TAB>target file
    max_words: int = 15  # keep pairs with at most this many tokens a side
    embed_size: int = 128  # word embedding width
    num_hiddens: int = 256  # GRU hidden size (and attention width)
    num_layers: int = 2  # GRU layers (encoder and decoder)
    dropout: float = 0.3  # dropout on embeddings and between layers
    bidirectional: bool = False  # bidirectional encoder
    epochs: int = 20  # passes over the training pairs
    batch_size: int = 64  # pairs per minibatch
    lr: float = 0.003  # Adam learning rate
    clip: float = 1.0  # max gradient norm
    scheduled_sampling: float = 0.0  # > 0: feed own predictions, up to this probability (A14)
    guided_attention: float = 0.0  # > 0: weight of the guided-attention loss (bahdanau, A14)
    device: str = "auto"  # cpu | cuda | auto
    progress: bool | None = None  # progress bar (None: only on a terminal)
    seed: int = 0  # controls initialisation, dropout and shuffling


#: a model and schedule that learn the toy corpus in a few seconds on one core (quick modes)
SMALL_TRANSLATOR = {"corpus": "toy-en-es", "embed_size": 32, "num_hiddens": 64, "num_layers": 1,
                    "dropout": 0.0, "epochs": 8, "lr": 0.01, "batch_size": 48}


def load_translation_corpus(corpus: str, max_words: int = 15, batch_size: int = 64, seed: int = 0,
                            min_freq: int = 2, toy_pairs: int | None = None):
    """A :class:`~deepnotes.data.parallel.TranslationData` of ``corpus``.

    ``"bible-en-es"``: the English → Spanish Bible verse pairs (90/5/5 split, words seen < 2
    times → ``<unk>``); ``"toy-en-es"``: ``toy_pairs`` (default 600) made-up pairs generated from
    ``seed`` (80/10/10, every word kept); anything else: the path of your own
    ``source<TAB>target`` file (90/5/5).
    """
    from deepnotes.data.parallel import BIBLE_NAME, load_translation_data
    from deepnotes.data.toy_mt import TOY_NAME

    if corpus == TOY_NAME:
        return load_translation_data(TOY_NAME, max_words=max_words, batch_size=batch_size,
                                     seed=seed, min_freq=1, fractions=(0.8, 0.1, 0.1),
                                     limit=toy_pairs)
    if corpus == BIBLE_NAME:
        return load_translation_data(max_words=max_words, batch_size=batch_size, seed=seed,
                                     min_freq=min_freq)
    return load_translation_data(path=corpus, max_words=max_words, batch_size=batch_size,
                                 seed=seed, min_freq=min_freq)


def copy_baseline_bleu(split: Any) -> float:
    """Corpus BLEU of copying each source sentence as its 'translation' (lower-cased)."""
    return float(corpus_bleu(list(split.src_text), [list(split.tgt_text)], lowercase=True).score)


def bleu_rows(model: nn.Module, data: Any, settings: Sequence[tuple[str, int, float]],
              max_len: int | None = None) -> list[dict[str, Any]]:
    """One row per ``(method, beam_size, alpha)``: test BLEU, notes' BLEU, mean log P, time."""
    rows = []
    for method, beam_size, alpha in settings:
        t0 = time.perf_counter()
        r = evaluate_bleu(model, data.test, data.src_vocab, data.tgt_vocab, method=method,
                          beam_size=beam_size, alpha=alpha, max_len=max_len or data.num_steps,
                          codec=getattr(data, "codec", None))
        lengths = [len(h.split()) for h in r["hypotheses"]]
        label = method if method == "greedy" else f"beam k={beam_size} α={alpha:g}"
        rows.append({"decoding": label,
                     "method": method, "beam_size": beam_size if method == "beam" else 1,
                     "alpha": alpha,
                     "test_bleu": r["bleu"], "test_notes_bleu": r["notes_bleu"],
                     "mean_log_prob": r["mean_log_prob"],
                     "mean_words": sum(lengths) / max(len(lengths), 1),
                     "seconds": time.perf_counter() - t0})
    return rows


def sample_rows(model: nn.Module, data: Any, n: int = 6, method: str = "greedy",
                beam_size: int = 4) -> list[dict[str, str]]:
    """The first ``n`` test sentences: source, reference and the model's translation."""
    src = list(data.test.src_text[:n])
    out = translate(model, src, data.src_vocab, data.tgt_vocab, method=method,
                    beam_size=beam_size, num_steps=data.num_steps, max_len=data.num_steps,
                    codec=getattr(data, "codec", None))
    return [{"source": s, "reference": r, "translation": t}
            for s, r, t in zip(src, data.test.tgt_text[:n], out)]


def save_translator(model: nn.Module, data: Any, out_dir: Path) -> str:
    """``out_dir/checkpoint.safetensors`` with both vocabularies (``deepnotes translate`` reads it)."""
    return str(save_seq2seq(Path(out_dir) / "checkpoint", model, data.src_vocab, data.tgt_vocab,
                            data.num_steps, getattr(data, "codec", None)))


def train_translator(model_name: str, cfg: Any, out_dir: Path, data: Any = None,
                     **model_extra: Any) -> dict[str, Any]:
    """Load the data, build ``model_name``, train it with ``cfg``'s fields, time it, save it.

    ``cfg`` has the fields of :class:`TranslatorSettings`. ``data`` skips loading (the same
    corpus again). Returns ``{"model", "data", "history", "train_seconds", "untrained_bleu",
    "copy_bleu", "checkpoint"}``.
    """
    from deepnotes.models import create

    if data is None:
        data = load_translation_corpus(cfg.corpus, cfg.max_words, cfg.batch_size, cfg.seed)
    model = create(model_name, src_vocab_size=len(data.src_vocab),
                   tgt_vocab_size=len(data.tgt_vocab), embed_size=cfg.embed_size,
                   num_hiddens=cfg.num_hiddens, num_layers=cfg.num_layers,
                   dropout=cfg.dropout, bidirectional=cfg.bidirectional, **model_extra)
    if model_extra.get("copy"):  # a copying translator copies tokens both sides spell alike
        model.set_copy_map(copy_map(data.src_vocab, data.tgt_vocab))
    untrained = bleu_rows(model, data, [("greedy", 1, 0.0)])[0]["test_bleu"]
    sampling = (ScheduledSampling(cfg.scheduled_sampling) if cfg.scheduled_sampling > 0 else None)
    t0 = time.perf_counter()
    history = train_seq2seq(model, data, epochs=cfg.epochs, lr=cfg.lr, clip=cfg.clip,
                            scheduled_sampling=sampling, device=cfg.device,
                            progress=cfg.progress, seed=cfg.seed,
                            guided_attention=getattr(cfg, "guided_attention", 0.0))
    seconds = time.perf_counter() - t0
    model.cpu()
    return {"model": model, "data": data, "history": history, "train_seconds": seconds,
            "untrained_bleu": untrained, "copy_bleu": copy_baseline_bleu(data.test),
            "checkpoint": save_translator(model, data, out_dir)}


def translator_metrics(run: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, float]:
    """The numbers every translation lesson reports about its trained model."""
    h, data, model = run["history"], run["data"], run["model"]
    metrics = {
        "first_epoch_train_loss": float(h[0]["train_loss"]),
        "final_train_loss": float(h[-1]["train_loss"]),
        "final_val_loss": float(h[-1].get("val_loss", float("nan"))),
        "train_seconds": float(run["train_seconds"]),
        "tokens_per_sec": float(sum(r["tokens_per_sec"] for r in h) / len(h)),
        "epochs": float(len(h)),
        "train_pairs": float(len(data.train)),
        "test_pairs": float(len(data.test)),
        "src_vocab": float(len(data.src_vocab)),
        "tgt_vocab": float(len(data.tgt_vocab)),
        "parameters": float(sum(p.numel() for p in model.parameters())),
        "untrained_test_bleu": float(run["untrained_bleu"]),
        "copy_source_test_bleu": float(run["copy_bleu"]),
    }
    for r in rows:
        key = "greedy" if r["method"] == "greedy" else f"beam{r['beam_size']}_alpha{r['alpha']:g}"
        metrics[f"test_bleu_{key}"] = float(r["test_bleu"])
        metrics[f"test_notes_bleu_{key}"] = float(r["test_notes_bleu"])
        metrics[f"mean_log_prob_{key}"] = float(r["mean_log_prob"])
    return metrics
