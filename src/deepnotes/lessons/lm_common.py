r"""Shared code of the language-model lessons: corpus, BPTT training, perplexity, sampling, saving.

Training a recurrent LM on one long text (R3, R7): the text is cut into minibatches of B rows of
T tokens (:class:`deepnotes.data.SequenceBatches`), and each step minimises the cross-entropy over
time

.. math::
    L = -\frac{1}{BT}\sum_{b=1}^{B}\sum_{t=1}^{T} \log P(x_{b,t+1} \mid x_{b,\le t})

by back-propagation through time. With *sequential partitioning* row b of the next batch
continues row b of this one, so the final hidden state is carried over but detached (truncated
BPTT: gradients stop at the batch border); with *random sampling* each batch starts from a zero
state. Gradients are clipped by their global norm (O11). The quality measure is the
perplexity :math:`\exp(\text{mean NLL})` (R8): 1 is perfect, :math:`|V|` is a uniform guess.

Notes: R3, R7, R8, O11.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from deepnotes.data.corpora import d2l_style_chars
from deepnotes.data.sequences import SequenceBatches
from deepnotes.decoding import greedy_search, map_state, sample
from deepnotes.errors import CheckpointError, ConfigError
from deepnotes.functional import clip_grad_norm_, grad_norm, log_softmax
from deepnotes.models import from_info, model_info
from deepnotes.nn import CrossEntropyLoss
from deepnotes.optim import CosineAnnealingLR, create_optimizer
from deepnotes.text import NGramLM, Vocab, sample_text, tokenize

__all__ = [
    "TIME_MACHINE_CHARS",
    "LMRun",
    "causal_perplexity",
    "char_corpus",
    "generate",
    "lesson_text",
    "lm_loss",
    "load_lm",
    "ngram_baseline",
    "perplexity",
    "plot_curves",
    "preprocess",
    "word_corpus",
    "save_lm",
    "train_lm",
]

TIME_MACHINE_CHARS = 170_580  # length of d2l's preprocessed The Time Machine
_CE = {r: CrossEntropyLoss(reduction=r) for r in ("mean", "sum")}


# ----------------------------------------------------------------------------- corpus
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


def lesson_text(quick: bool, corpus: str, what: str) -> tuple[str, str]:
    """``(raw text, where it came from)``: the built-in sample text in quick mode, else
    ``deepnotes.data.load_corpus(corpus)`` (``what`` says how much of it the lesson uses)."""
    if quick:
        return sample_text(), "the built-in sample text (Pride and Prejudice ch. 1-2)"
    from deepnotes.data.corpora import load_corpus

    return load_corpus(corpus), f"{what} of {corpus}"


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


# ----------------------------------------------------------------------------- loss / eval
def lm_loss(model: nn.Module, X: Tensor, Y: Tensor, state: Any = None,
            reduction: str = "mean") -> tuple[Tensor, Any]:
    """Cross-entropy over time of ``model(X, state)`` against ``Y`` (both ``(B, T)``)."""
    logits, state = model(X, state)  # (B, T, V)
    # L = mean_{b,t} -log softmax(o_{b,t})[y_{b,t}]
    loss = _CE[reduction](logits.reshape(-1, logits.shape[-1]), Y.reshape(-1))  # (B*T, V), (B*T,)
    return loss, state


def _detach(state: Any) -> Any:
    return map_state(lambda t: t.detach(), state)


@torch.no_grad()
def perplexity(model: nn.Module, ids: Tensor, num_steps: int = 35, carry_state: bool = True,
               rows: int = 16) -> float:
    r"""Perplexity :math:`\exp(-\frac1N\sum_t \log P(x_{t+1} \mid \text{context}))` of ``ids``.

    ``carry_state=True``: the text is laid out as ``rows`` contiguous rows read in chunks of
    ``num_steps`` with the hidden state carried over, so each prediction sees everything
    before it in its row (the usual evaluation). ``carry_state=False``: non-overlapping
    windows of ``num_steps`` tokens, each from a zero state (d2l's validation), so early
    positions of a window have little context.

    Example:
        >>> from deepnotes.models import create
        >>> m = create("rnn-lm", vocab_size=5, hidden=4)
        >>> p = perplexity(m, torch.arange(40) % 5, num_steps=7)
        >>> 1 < p < 10
        True

    Notes: R8.
    """
    was = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        ids = ids.to(device)
        if carry_state:
            rows = max(1, min(rows, (len(ids) - 1) // num_steps))
            n = (len(ids) - 1) // rows * rows
            X, Y = ids[:n].reshape(rows, -1), ids[1:n + 1].reshape(rows, -1)  # (R, N/R)
            chunks = [(X[:, i:i + num_steps], Y[:, i:i + num_steps])
                      for i in range(0, X.shape[1], num_steps)]
        else:
            w = (len(ids) - 1) // num_steps
            X = ids[:w * num_steps].reshape(w, num_steps)  # (W, T)
            Y = ids[1:w * num_steps + 1].reshape(w, num_steps)  # (W, T)
            chunks = [(X[i:i + 256], Y[i:i + 256]) for i in range(0, w, 256)]
        if not chunks or chunks[0][0].numel() == 0:
            raise ConfigError(f"{len(ids)} tokens are too few for windows of {num_steps}; "
                              "use a longer text or smaller num_steps")
        nll, count, state = 0.0, 0, None
        for Xc, Yc in chunks:
            loss, state = lm_loss(model, Xc, Yc, state if carry_state else None, reduction="sum")
            nll += float(loss)
            count += Yc.numel()
        # perplexity = exp(mean NLL)
        return math.exp(nll / count)
    finally:
        model.train(was)


@torch.no_grad()
def causal_perplexity(model: nn.Module, ids: Tensor, num_steps: int = 35) -> float:
    """Perplexity where token t+1 is scored from ``x_1..x_t`` ONLY, in windows of ``num_steps``.

    Each prefix is fed separately (the model never sees a later token), exactly what it can do
    when generating; for a unidirectional model this equals
    ``perplexity(..., carry_state=False)``, for a bidirectional one it is the honest score.

    Notes: R4, R8.
    """
    was = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        w = (len(ids) - 1) // num_steps
        if w < 1:
            raise ConfigError(f"{len(ids)} tokens are too few for windows of {num_steps}")
        X = ids[:w * num_steps].reshape(w, num_steps).to(device)  # (W, T)
        Y = ids[1:w * num_steps + 1].reshape(w, num_steps).to(device)  # (W, T)
        nll = 0.0
        for t in range(1, num_steps + 1):
            logits, _ = model(X[:, :t])  # (W, t, V): only the prefix x_1..x_t
            # -log P(x_{t+1} | x_{≤t}) from the last position
            nll += float(nn.functional.cross_entropy(logits[:, -1], Y[:, t - 1], reduction="sum"))
        return math.exp(nll / Y.numel())
    finally:
        model.train(was)


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

    @property
    def val_ppl(self) -> float:
        vals = [r["val_ppl"] for r in self.history if "val_ppl" in r]
        return vals[-1] if vals else math.nan


def train_lm(model: nn.Module, train_ids: Tensor, val_ids: Tensor | None = None, *,
             epochs: int = 10, batch_size: int = 32, num_steps: int = 35,
             sampling: str = "sequential", optimizer: str = "adam", lr: float = 3e-3,
             grad_clip: float | None = 1.0, cosine: bool = False, seed: int = 0,
             max_steps: int | None = None, eval_every: int = 1, progress: bool | None = None,
             label: str = "") -> LMRun:
    """Train a language model with (truncated) BPTT; evaluate validation perplexity per epoch.

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
        seed: seeds the batch offsets/shuffles.
        max_steps: stop after this many steps.
        eval_every: validate every this many epochs (and after the last).
        progress: tqdm bar (``None``: only on a terminal).

    Returns:
        :class:`LMRun`; a NaN/inf loss stops training and sets ``diverged`` (no exception).

    Notes: R3, R7, O11.
    """
    loader = SequenceBatches(train_ids, batch_size, num_steps, sampling=sampling, seed=seed)
    device = next(model.parameters()).device
    params = [p for p in model.parameters() if p.requires_grad]
    opt = create_optimizer(optimizer, params, lr=lr)
    total = epochs * len(loader) if max_steps is None else min(max_steps, epochs * len(loader))
    sched = CosineAnnealingLR(opt, T_max=max(1, total)) if cosine else None
    show = sys.stderr.isatty() if progress is None else progress
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=label or "train", unit="step", leave=False, dynamic_ncols=True)
    run = LMRun(model)
    model.train()
    for epoch in range(epochs):
        state, sums, count = None, 0.0, 0
        started = time.perf_counter()
        for X, Y in loader:
            X, Y = X.to(device), Y.to(device)
            if loader.sequential and state is not None:
                # truncated BPTT: keep the state's value, cut its gradient path
                state = _detach(state)
            else:
                state = None
            loss, state = lm_loss(model, X, Y, state)
            value = float(loss.detach())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip is not None:
                norm = clip_grad_norm_(params, grad_clip)
            else:
                norm = grad_norm(params)
            run.step_loss.append(value)
            run.step_grad_norm.append(float(norm))
            if not (math.isfinite(value) and math.isfinite(float(norm))):
                run.diverged = True
                break
            opt.step()
            if sched is not None:
                sched.step()
            run.steps += 1
            sums, count = sums + value, count + 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{value:.3f}", epoch=epoch + 1)
            if max_steps is not None and run.steps >= max_steps:
                break
        run.seconds += time.perf_counter() - started
        if count:
            row: dict[str, Any] = {"model": label, "epoch": epoch + 1, "step": run.steps,
                                   "train_loss": sums / count, "train_ppl": math.exp(sums / count),
                                   "seconds": run.seconds}
            last = epoch + 1 == epochs or run.diverged or (max_steps and run.steps >= max_steps)
            if val_ids is not None and not run.diverged and ((epoch + 1) % eval_every == 0 or last):
                row["val_ppl"] = perplexity(model, val_ids, num_steps)
            run.history.append(row)
        if run.diverged or (max_steps is not None and run.steps >= max_steps):
            break
    if bar is not None:
        bar.close()
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
             kind: str = "d2l", tokens: str = "char") -> str:
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
        >>> len(generate(m, vocab, "ab", num_tokens=5))
        7

    Notes: R8, A14.
    """
    if num_tokens < 1:
        raise ConfigError(f"num_tokens must be >= 1, got {num_tokens}")
    given = _prefix_tokens(prefix, kind, tokens)
    if not given:
        raise ConfigError(f"the prefix {prefix!r} is empty after preprocessing; give some letters")
    ids = vocab.to_indices(given)
    model.eval()
    device = next(model.parameters()).device
    reread = bool(getattr(model, "bidirectional", False))
    state = None
    if not reread:
        state = model.begin_state(1, device=device)
        if len(ids) > 1:  # warm-up on all but the last prefix token
            _, state = model(torch.tensor([ids[:-1]], device=device), state)
        state = map_state(lambda s: s.transpose(0, 1), state)  # (1, L*D, H)
    step = _step_fn(model, ids[:-1], reread)
    eos = len(vocab)  # an id the model never scores: generation runs num_tokens steps
    if temperature == 0:
        out = greedy_search(step, ids[-1], eos, num_tokens, state=state, batch_size=1, device=device)
    else:
        g = torch.Generator(device="cpu").manual_seed(seed)
        out = sample(step, ids[-1], eos, num_tokens, temperature=temperature, top_k=top_k,
                     generator=g, state=state, batch_size=1, device=device)
    sep = " " if tokens == "word" else ""
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


# ----------------------------------------------------------------------------- plots
def plot_curves(series: dict[str, tuple[list[float], list[float]]], path: Path, xlabel: str,
                ylabel: str, title: str, logy: bool = False,
                refs: dict[str, float | tuple[float, str]] | None = None) -> str:
    """Line plot of ``{label: (xs, ys)}`` saved as PNG.

    ``refs`` adds dashed horizontal lines ``{legend label: y}``; ``(y, series label)`` draws the
    line in that series' colour (e.g. a published number next to our curve).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    colours = {}
    for label, (xs, ys) in series.items():
        (line,) = ax.plot(xs, ys, label=label, marker="o" if len(xs) < 40 else None, ms=3)
        colours[label] = line.get_color()
    for i, (label, ref) in enumerate((refs or {}).items()):
        y, owner = ref if isinstance(ref, tuple) else (ref, None)
        ax.axhline(y, ls="--", lw=1, color=colours.get(owner, f"0.{3 + 2 * (i % 3)}"), label=label)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)
