r"""The language-model task: corpus → token ids → model → truncated-BPTT training on the Trainer
→ perplexity → generation → checkpoint.

Training a recurrent LM on one long text (R3, R7): the text is cut into minibatches of B rows of
T tokens (:class:`deepnotes.data.SequenceBatches`), and each step minimises the cross-entropy over
time

.. math::
    L = -\frac{1}{BT}\sum_{b=1}^{B}\sum_{t=1}^{T} \log P(x_{b,t+1} \mid x_{b,\le t})

by back-propagation through time. With *sequential partitioning* row b of the next batch
continues row b of this one, so the final hidden state is carried over but detached (truncated
BPTT: gradients stop at the batch border); with *random sampling* each batch starts from a zero
state. Gradients are clipped by their global norm (O11). The quality measure is the
perplexity :math:`\exp(\text{mean NLL})` (R8, :mod:`deepnotes.metrics.perplexity`): 1 is
perfect, :math:`|V|` is a uniform guess.

The model interface: ``model(X (B, T), state=None) -> (logits (B, T, V), state)`` plus
``begin_state(batch_size, device)`` (e.g. the registry's ``rnn-lm``).

Notes: R3, R7, R8, O11.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from deepnotes.data.corpora import d2l_style_chars, load_corpus
from deepnotes.data.sequences import SequenceBatches
from deepnotes.decoding import greedy_search, map_state, sample
from deepnotes.errors import CheckpointError, ConfigError
from deepnotes.functional import log_softmax
from deepnotes.metrics import causal_perplexity, perplexity
from deepnotes.models import from_info, model_info
from deepnotes.nn import CrossEntropyLoss
from deepnotes.optim import CosineAnnealingLR, create_optimizer
from deepnotes.text import NGramLM, Vocab, tokenize
from deepnotes.train.callbacks import Callback
from deepnotes.train.trainer import TrainConfig, Trainer

__all__ = [
    "TIME_MACHINE_CHARS",
    "LMRun",
    "causal_perplexity",
    "char_corpus",
    "generate",
    "lm_loss",
    "load_lm",
    "load_text",
    "ngram_baseline",
    "perplexity",
    "preprocess",
    "save_lm",
    "train_lm",
    "unknown_in_prefix",
    "word_corpus",
]

TIME_MACHINE_CHARS = 170_580  # length of d2l's preprocessed The Time Machine
_CE = {r: CrossEntropyLoss(reduction=r) for r in ("mean", "sum")}


# ----------------------------------------------------------------------------- corpus
def load_text(corpus: str, what: str = "") -> tuple[str, str]:
    """``(raw text, where it came from)`` of corpus ``corpus`` (a
    :func:`deepnotes.data.load_corpus` name such as ``"austen"`` or ``"sample"``, or the path of
    your own UTF-8 text file); ``what`` says how much of it the caller uses, for the record."""
    text = load_corpus(corpus)
    if corpus == "sample":
        return text, "the built-in sample text (Pride and Prejudice ch. 1-2)"
    return text, f"{what} of {corpus}" if what else corpus


def preprocess(text: str, kind: str) -> str:
    """``"d2l"``: lower-case letters and single spaces (d2l's Time Machine); ``"none"``: as is."""
    if kind == "d2l":
        return d2l_style_chars(text)
    if kind == "none":
        return text
    raise ConfigError(f"unknown preprocessing {kind!r}; choose 'd2l' or 'none'")


def char_corpus(text: str, max_chars: int | None = None, kind: str = "d2l"
                ) -> tuple[Tensor, Vocab, str]:
    """Character ids, the character vocabulary (``<unk>`` + every character) and the text used.

    Example:
        >>> ids, vocab, text = char_corpus("It's a truth!")
        >>> text, len(vocab), vocab.to_tokens(ids[:4].tolist())
        ('it s a truth ', 9, ['i', 't', ' ', 's'])
    """
    text = preprocess(text, kind)[:max_chars]
    if len(text) < 2:
        raise ConfigError(f"a character LM needs a text of at least 2 characters, got {len(text)}")
    vocab = Vocab(list(text), reserved=("<unk>",))
    return torch.tensor(vocab.to_indices(list(text)), dtype=torch.long), vocab, text


def word_corpus(text: str, max_tokens: int | None = None, min_freq: int = 2
                ) -> tuple[Tensor, Vocab, list[str]]:
    """Word ids (words and punctuation marks, lower-cased), the vocabulary and the tokens used.

    Words seen fewer than ``min_freq`` times in the text map to ``<unk>`` (R1).

    Example:
        >>> ids, vocab, toks = word_corpus("The cat. The dog. The cat!", min_freq=2)
        >>> toks[:3], vocab.to_tokens(ids[:3].tolist())
        (['the', 'cat', '.'], ['the', 'cat', '.'])
    """
    tokens = [t for line in tokenize(text, kind="word") for t in line][:max_tokens]
    if len(tokens) < 2:
        raise ConfigError(f"a word LM needs a text of at least 2 words, got {len(tokens)}")
    vocab = Vocab(tokens, min_freq=min_freq, reserved=("<unk>",))
    return torch.tensor(vocab.to_indices(tokens), dtype=torch.long), vocab, tokens


def _prefix_tokens(prefix: str, kind: str, tokens: str) -> list[str]:
    """The prefix as the model's tokens: characters (after ``kind`` preprocessing) or words."""
    if tokens == "word":
        return [t for line in tokenize(prefix, kind="word") for t in line]
    if tokens == "char":
        return list(preprocess(prefix, kind))
    raise ConfigError(f"unknown token kind {tokens!r}; choose 'char' or 'word'")


def unknown_in_prefix(prefix: str, vocab: Vocab, kind: str = "d2l", tokens: str = "char"
                      ) -> list[str]:
    """The parts of ``prefix`` the model cannot read: characters its preprocessing drops (the
    d2l preprocessing keeps letters only) and tokens outside its vocabulary (read as ``<unk>``).

    Example:
        >>> _, vocab, _ = char_corpus("the cat")
        >>> unknown_in_prefix("the dog, 42", vocab)
        [',', '4', '2', 'd', 'o', 'g']
    """
    dropped = []
    if tokens == "char" and kind == "d2l":
        dropped = [c for c in prefix if not c.isspace() and d2l_style_chars(c) == " "]
    unknown = [t for t in _prefix_tokens(prefix, kind, tokens)
               if t not in vocab and not t.isspace()]
    return list(dict.fromkeys(dropped + unknown))


# ----------------------------------------------------------------------------- loss
def lm_loss(model: nn.Module, X: Tensor, Y: Tensor, state: Any = None,
            reduction: str = "mean") -> tuple[Tensor, Any]:
    """Cross-entropy over time of ``model(X, state)`` against ``Y`` (both ``(B, T)``)."""
    logits, state = model(X, state)  # (B, T, V)
    # L = mean_{b,t} -log softmax(o_{b,t})[y_{b,t}]
    loss = _CE[reduction](logits.reshape(-1, logits.shape[-1]), Y.reshape(-1))  # (B*T, V), (B*T,)
    return loss, state



# ----------------------------------------------------------------------------- training
@dataclass
class LMRun:
    """One training run: per-epoch rows, per-step loss and gradient norm, time, divergence."""

    model: nn.Module
    history: list[dict[str, Any]] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)
    step_grad_norm: list[float] = field(default_factory=list)  # before clipping
    seconds: float = 0.0  # training time (evaluation excluded)
    steps: int = 0
    diverged: bool = False  # the loss became NaN/inf and training stopped
    best_epoch: int = 0  # with keep_best: the epoch whose weights the model ends with

    @property
    def val_ppl(self) -> float:
        vals = [r["val_ppl"] for r in self.history if "val_ppl" in r]
        return vals[-1] if vals else math.nan


class _BPTT(Callback):
    """The Trainer's ``loss_step`` for truncated BPTT, and a callback that keeps the run's record.

    With sequential partitioning the final state of one batch starts the next (detached: the
    gradient stops at the batch border); every epoch and every random-sampling batch starts
    from a zero state.
    """

    def __init__(self, run: LMRun, sequential: bool, val_ids: Tensor | None, num_steps: int,
                 eval_every: int, label: str) -> None:
        self.run, self.sequential, self.val_ids = run, sequential, val_ids
        self.num_steps, self.eval_every, self.label = num_steps, eval_every, label
        self.state: Any = None

    def __call__(self, model: nn.Module, loss_fn: Any, batch: Any) -> tuple[Tensor, None, None]:
        X, Y = batch
        state = None
        if self.sequential and self.state is not None:
            # truncated BPTT: keep the state's value, cut its gradient path
            state = map_state(lambda t: t.detach(), self.state)
        loss, state = lm_loss(model, X, Y, state)
        self.state = state
        return loss, None, None

    def on_epoch_start(self, trainer: Trainer) -> None:
        self.state = None

    def on_step_end(self, trainer: Trainer, step: int, loss: Any) -> None:
        self.run.step_loss.append(float(loss))
        self.run.step_grad_norm.append(trainer.last_grad_norm)

    def on_epoch_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        last = trainer.epoch >= trainer.config.epochs
        if self.val_ids is not None and (trainer.epoch % self.eval_every == 0 or last):
            row["val_ppl"] = perplexity(trainer.model, self.val_ids, self.num_steps)


class _KeepBest(Callback):
    """Keeps a copy of the weights of the epoch with the lowest validation perplexity."""

    def __init__(self, run: LMRun) -> None:
        self.run, self.best, self.state = run, math.inf, None

    def on_epoch_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        if row.get("val_ppl", math.inf) < self.best:
            self.best = row["val_ppl"]
            self.state = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
            self.run.best_epoch = trainer.epoch


def train_lm(model: nn.Module, train_ids: Tensor, val_ids: Tensor | None = None, *,
             epochs: int = 10, batch_size: int = 32, num_steps: int = 35,
             sampling: str = "sequential", optimizer: str = "adam", lr: float = 3e-3,
             grad_clip: float | None = 1.0, cosine: bool = False, seed: int = 0,
             max_steps: int | None = None, eval_every: int = 1, progress: bool | None = None,
             label: str = "", device: str | None = None, keep_best: bool = False) -> LMRun:
    """Train a language model with (truncated) BPTT on the Trainer; validation perplexity per epoch.

    Args:
        model: ``model(X (B, T), state) -> (logits (B, T, V), state)``, e.g. ``rnn-lm``.
        train_ids, val_ids: token ids (1-D); ``val_ids=None`` skips validation.
        epochs, batch_size, num_steps: passes over the text, B and T.
        sampling: ``"sequential"`` (state carried and detached between batches) or
            ``"random"`` (a zero state for every batch) (R3).
        optimizer, lr: any name of :func:`deepnotes.optim.create_optimizer` and its rate.
        grad_clip: clip the global gradient norm to this (O11); ``None`` does not clip (the
            norm is still recorded).
        cosine: decay the learning rate to 0 along a cosine over all steps.
        seed: seeds every generator at the start and the batch offsets/shuffles.
        max_steps: stop after this many steps.
        eval_every: validate every this many epochs (and after the last).
        progress: progress bar (``None``: only on a terminal).
        label: the ``model`` column of the rows (which run they belong to).
        device: where to train (default: where the model's parameters are).
        keep_best: end with the weights of the epoch with the lowest validation perplexity
            (needs ``val_ids``); ``run.best_epoch`` says which.

    Returns:
        :class:`LMRun`; a NaN/inf loss or gradient norm stops training before the bad step and
        sets ``diverged`` (no exception).

    Notes: R3, R7, O11.
    """
    loader = SequenceBatches(train_ids, batch_size, num_steps, sampling=sampling, seed=seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = create_optimizer(optimizer, params, lr=lr)
    total = epochs * len(loader) if max_steps is None else min(max_steps, epochs * len(loader))
    sched = CosineAnnealingLR(opt, T_max=max(1, total)) if cosine else None
    run = LMRun(model)
    step = _BPTT(run, loader.sequential, val_ids, num_steps, eval_every, label)
    where = device or str(next(model.parameters()).device)
    cfg = TrainConfig(epochs=epochs, max_steps=max_steps, grad_clip=grad_clip, device=where,
                      seed=seed, progress=progress, log_grad_norm=True, on_nonfinite="stop")
    best = _KeepBest(run) if keep_best and val_ids is not None else None
    trainer = Trainer(model, opt, None, loader, scheduler=sched, config=cfg,
                      callbacks=[step] + ([best] if best else []), loss_step=step)
    trainer.fit()
    run.diverged, run.steps = trainer.diverged, trainer.step
    if trainer.nonfinite is not None:  # the step that stopped training, for the record
        run.step_loss.append(trainer.nonfinite["loss"])
        run.step_grad_norm.append(trainer.nonfinite["grad_norm"])
    elapsed = 0.0
    for i, r in enumerate(trainer.history.rows):
        elapsed += r["seconds"]
        row: dict[str, Any] = {"model": label, "epoch": i + 1, "step": r["step"],
                               "train_loss": r["train_loss"],
                               "train_ppl": math.exp(min(r["train_loss"], 700.0)),
                               "seconds": elapsed}
        if "val_ppl" in r:
            row["val_ppl"] = r["val_ppl"]
        run.history.append(row)
    if (run.history and val_ids is not None and not run.diverged
            and "val_ppl" not in run.history[-1]):  # stopped by max_steps inside an epoch
        run.history[-1]["val_ppl"] = perplexity(model, val_ids, num_steps)
    run.seconds = elapsed
    final = run.history[-1].get("val_ppl", math.inf) if run.history else math.inf
    if best is not None and best.state is not None and best.best <= final:
        model.load_state_dict(best.state)  # (the weights after the last step may be best)
    elif best is not None:
        run.best_epoch = len(run.history)
    model.eval()
    return run


# ----------------------------------------------------------------------------- n-gram baseline
def ngram_baseline(train_tokens: list[str], val_tokens: list[str],
                   eps_values: tuple[float, ...] = (0.01, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
                   ) -> dict[str, float]:
    """Validation perplexity of smoothed character unigram/bigram/trigram LMs (R2).

    Each order's ε is the best of ``eps_values`` on the validation text (lower orders fixed at
    their best first), which flatters the baseline slightly. Two trigram variants: the notes'
    ε3 (mixing in the unigram) and the common one mixing in the bigram.
    """
    base = NGramLM(train_tokens, order=3)
    best: dict[str, float] = {}
    fixed = [0.0, 0.0, 0.0]
    for name, order, backoff in (("unigram", 1, "unigram"), ("bigram", 2, "unigram"),
                                 ("trigram", 3, "unigram"), ("trigram_bigram_backoff", 3, "bigram")):
        scores = []
        for eps in eps_values:
            e = list(fixed)
            e[order - 1] = eps
            lm = base.with_eps(tuple(e), order=order, trigram_backoff=backoff)
            scores.append((lm.perplexity(val_tokens), eps))
        ppl, eps = min(scores)
        if order < 3:
            fixed[order - 1] = eps
        best[f"{name}_val_ppl"] = ppl
    return best


# ----------------------------------------------------------------------------- sampling
def _step_fn(model: nn.Module, context: list[int], reread: bool):
    """A decoder ``step`` for an LM: feed the newest token (or re-read the whole text)."""
    device = next(model.parameters()).device
    before = torch.tensor([context], dtype=torch.long, device=device)  # (1, P - 1)

    def step(tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
        if reread:
            # the whole text so far (prefix + generated) from a zero state
            full = torch.cat([before.expand(tokens.shape[0], -1), tokens], dim=1)  # (N, t')
            logits, _ = model(full)
            return log_softmax(logits[:, -1], dim=-1), state
        # decoders keep states batch-first: (N, L*D, H) here, (L*D, N, H) in the model
        state = map_state(lambda s: s.transpose(0, 1).contiguous(), state)
        logits, state = model(tokens[:, -1:], state)  # (N, 1, V)
        return log_softmax(logits[:, -1], dim=-1), map_state(lambda s: s.transpose(0, 1), state)

    return step


@torch.no_grad()
def generate(model: nn.Module, vocab: Vocab, prefix: str, num_tokens: int = 50,
             temperature: float = 0.0, top_k: int | None = None, seed: int = 0,
             kind: str = "d2l", tokens: str = "char", top_p: float | None = None) -> str:
    r"""Continue ``prefix`` by ``num_tokens`` tokens: greedy (τ = 0) or sampled (τ > 0).

    ``tokens="char"`` (default) continues character by character; ``tokens="word"`` reads the
    prefix as words (and punctuation marks) and joins the output with spaces.

    The prefix (preprocessed like the training text) warms the state up; then each step feeds
    the last character and picks :math:`\arg\max_y P(y \mid \cdot)` (``temperature=0``, via
    :func:`deepnotes.decoding.greedy_search`) or draws from the temperature / top-k
    distribution (:func:`deepnotes.decoding.sample`). A bidirectional model re-reads the whole
    text at each step (all it may see is the past).

    Example:
        >>> from deepnotes.models import create
        >>> ids, vocab, _ = char_corpus("abab")
        >>> m = create("rnn-lm", vocab_size=len(vocab), hidden=4)
        >>> out = generate(m, vocab, "ab", num_tokens=5)   # an untrained model: any 5 tokens
        >>> out.startswith("ab")
        True

    Notes: R8, A14.
    """
    if num_tokens < 1:
        raise ConfigError(f"num_tokens must be >= 1, got {num_tokens}")
    given = _prefix_tokens(prefix, kind, tokens)
    if not given:
        raise ConfigError(f"the prefix {prefix!r} is empty after preprocessing; give some letters")
    ids = vocab.to_indices(given)
    model.eval()
    sep = " " if tokens == "word" else ""
    if hasattr(model, "forward_cached"):  # a GPT: its KV cache (deepnotes.models.gpt)
        from deepnotes.models.gpt import generate as gpt_generate

        out = gpt_generate(model, ids, num_tokens, temperature=temperature, top_k=top_k,
                           top_p=top_p, seed=seed)
        return sep.join(given + vocab.to_tokens(out[0, len(ids):].tolist()))
    device = next(model.parameters()).device
    reread = bool(getattr(model, "bidirectional", False))
    state = None
    if not reread:
        state = model.begin_state(1, device=device)
        if len(ids) > 1:  # warm-up on all but the last prefix token
            _, state = model(torch.tensor([ids[:-1]], device=device), state)
        state = map_state(lambda s: s.transpose(0, 1), state)  # (1, L*D, H)
    step = _step_fn(model, ids[:-1], reread)
    eos = None  # a language model has no end token: generation runs num_tokens steps
    if temperature == 0:
        out = greedy_search(step, ids[-1], eos, num_tokens, state=state, batch_size=1, device=device)
    else:
        g = torch.Generator(device="cpu").manual_seed(seed)
        out = sample(step, ids[-1], eos, num_tokens, temperature=temperature, top_k=top_k,
                     top_p=top_p, generator=g, state=state, batch_size=1, device=device)
    return sep.join(given + vocab.to_tokens(out.tokens[0]))


# ----------------------------------------------------------------------------- checkpoints
def save_lm(model: nn.Module, vocab: Vocab, path: str | Path, kind: str = "d2l",
            extra: dict[str, Any] | None = None, tokens: str = "char") -> str:
    """Save an LM and its vocabulary as one checkpoint that ``deepnotes generate`` can use.

    The vocabulary (``Vocab.state_dict()``) and the preprocessing go into the checkpoint's JSON
    next to ``model_info`` (``model_info["text"]``).
    """
    from deepnotes.train.checkpoint import save_checkpoint

    info = model_info(model)
    if info is None:
        raise ConfigError("save_lm needs a model built with deepnotes.models.create "
                          "(it records the name and config that rebuild it)")
    info["text"] = {"vocab": vocab.state_dict(), "tokens": tokens, "preprocess": kind,
                    **(extra or {})}
    return str(save_checkpoint(path, model, model_info=info))


def load_lm(path: str | Path, device: str = "cpu") -> tuple[nn.Module, Vocab, dict[str, Any]]:
    """Rebuild ``(model, vocab, text_info)`` from a checkpoint written by :func:`save_lm`."""
    from deepnotes.train.checkpoint import load_checkpoint, peek_checkpoint

    info = peek_checkpoint(path).get("model_info") or {}
    text = info.get("text")
    if "name" not in info or not isinstance(text, dict) or "vocab" not in text:
        raise CheckpointError(f"checkpoint {str(path)!r} holds no language model with a vocabulary; "
                              "train one with `deepnotes run rnn-lm` (it saves one)")
    model = from_info(info)
    load_checkpoint(path, model=model)
    return model.to(device).eval(), Vocab.from_state_dict(text["vocab"]), text
