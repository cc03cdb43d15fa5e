r"""Training a GPT the way nanoGPT does: random windows of one long token stream, AdamW,
warm-up then cosine, gradient accumulation, clipping, loss estimated on a few batches.

One update reads ``batch_size × accumulate`` windows of ``block_size`` tokens (``x`` a window,
``y`` the same window one token later) and minimises the mean next-token cross-entropy

.. math::
    \mathcal L = -\frac{1}{BT}\sum_{b,t} \log P(y_{b,t} \mid x_{b,\le t})

with AdamW (decay on weight matrices and embeddings only, :func:`deepnotes.tasks.bert.adamw`),
the learning rate warmed up linearly then decayed on a cosine to ``min_lr``
(:func:`deepnotes.optim.warmup_cosine`), and the gradient norm clipped (O11). With
``accumulate = k`` the gradients of ``k`` micro-batches are summed (each loss divided by k)
before one update: the same step as one batch k times larger, in the memory of one.

Notes: P7, O7, O11.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as TF

from deepnotes.errors import ConfigError, NonFiniteLossError

__all__ = ["GPTRun", "char_baselines", "estimate_loss", "full_loss", "get_batch",
           "sliding_loss", "split_stream", "train_gpt"]


def split_stream(ids: Tensor, fractions: tuple[float, float, float] = (0.9, 0.05, 0.05)
                 ) -> tuple[Tensor, Tensor, Tensor]:
    """Cut one token stream into consecutive train / validation / test parts (nanoGPT cuts
    90 / 10 into train and validation; we keep a test part the choices never see).

    Example:
        >>> [len(p) for p in split_stream(torch.arange(100))]
        [90, 5, 5]
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-9 or min(fractions) <= 0:
        raise ConfigError(f"fractions must be three positive numbers summing to 1, got "
                          f"{fractions}")
    n = len(ids)
    a = int(n * fractions[0])
    b = a + int(n * fractions[1])
    return ids[:a], ids[a:b], ids[b:]


def get_batch(data: Tensor, block_size: int, batch_size: int, generator: torch.Generator,
              device: str | torch.device = "cpu") -> tuple[Tensor, Tensor]:
    """``batch_size`` windows at random offsets: ``x = data[i : i+T]``, ``y = data[i+1 : i+T+1]``.

    Example:
        >>> x, y = get_batch(torch.arange(10), 4, 2, torch.Generator().manual_seed(0))
        >>> bool((y == x + 1).all()), tuple(x.shape)
        (True, (2, 4))
    """
    if len(data) <= block_size:
        raise ConfigError(f"the text has {len(data)} tokens; windows of block_size={block_size} "
                          f"need at least {block_size + 1}: use a longer text or a smaller "
                          f"block_size")
    ix = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    offsets = torch.arange(block_size)
    x = data[ix[:, None] + offsets]  # (B, T)
    y = data[ix[:, None] + offsets + 1]
    return x.to(device), y.to(device)


def lm_loss(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """Mean next-token cross-entropy of ``model(x) (B, T, V)`` against ``y (B, T)``."""
    logits = model(x)
    return TF.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1))


@torch.no_grad()
def estimate_loss(model: nn.Module, data: Tensor, block_size: int, batch_size: int,
                  iters: int, seed: int, device: str | torch.device = "cpu") -> float:
    """Mean loss over ``iters`` random batches (the same batches at every call: a fixed seed),
    as nanoGPT's ``estimate_loss``; ``iters=0`` reads every full window of the text once."""
    was = model.training
    model.eval()
    try:
        if iters == 0:
            return full_loss(model, data, block_size, batch_size, device)
        g = torch.Generator().manual_seed(seed)
        total = 0.0
        for _ in range(iters):
            x, y = get_batch(data, block_size, batch_size, g, device)
            total += float(lm_loss(model, x, y))
        return total / iters
    finally:
        model.train(was)


@torch.no_grad()
def full_loss(model: nn.Module, data: Tensor, block_size: int, batch_size: int = 32,
              device: str | torch.device = "cpu") -> float:
    """Cross-entropy per token over the whole text, cut into consecutive windows (each token
    predicted once, from the context inside its window)."""
    n = (len(data) - 1) // block_size
    if n < 1:
        raise ConfigError(f"the text has {len(data)} tokens, fewer than one window of "
                          f"{block_size + 1}")
    x_all = data[: n * block_size].view(n, block_size)
    y_all = data[1: n * block_size + 1].view(n, block_size)
    total = 0.0
    for i in range(0, n, batch_size):
        x, y = x_all[i:i + batch_size].to(device), y_all[i:i + batch_size].to(device)
        logits = model(x)
        total += float(TF.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                                        y.reshape(-1), reduction="sum"))
    return total / (n * block_size)


@torch.no_grad()
def sliding_loss(model: nn.Module, data: Tensor, block_size: int, stride: int | None = None,
                 batch_size: int = 32, device: str | torch.device = "cpu") -> float:
    """Cross-entropy per token over the whole text with a sliding window: windows of
    ``block_size`` tokens every ``stride`` (default half a window); each window scores only
    its last ``stride`` tokens (the first window all of its own), so every token after the
    first window is predicted from at least ``block_size - stride + 1`` tokens of context.

    Example:
        >>> from deepnotes.models import create
        >>> m = create("gpt", vocab_size=5, block_size=8, n_layer=1, n_head=1, n_embd=4)
        >>> 1.0 < sliding_loss(m, torch.arange(40) % 5, 8) < 2.0   # about log 5 untrained
        True
    """
    if stride is None:
        stride = max(1, block_size // 2)
    if not 1 <= stride <= block_size:
        raise ConfigError(f"stride must be in [1, block_size={block_size}], got {stride}")
    n = len(data) - 1  # tokens to predict
    if n < block_size:
        raise ConfigError(f"the text has {len(data)} tokens, fewer than one window of "
                          f"{block_size + 1}")
    starts = list(range(0, n - block_size + 1, stride))
    if starts[-1] + block_size < n:
        starts.append(n - block_size)  # a last window flush with the end
    was = model.training
    model.eval()
    total, count, scored_to = 0.0, 0, 0  # predictions of targets < scored_to are counted
    try:
        for i in range(0, len(starts), batch_size):
            group = starts[i:i + batch_size]
            x = torch.stack([data[s:s + block_size] for s in group]).to(device)
            y = torch.stack([data[s + 1:s + block_size + 1] for s in group]).to(device)
            nll = TF.cross_entropy(model(x).flatten(0, 1).float(), y.flatten(),
                                   reduction="none").view(len(group), block_size)
            for row, s in enumerate(group):
                first = max(scored_to - s, 0)  # skip targets an earlier window scored
                total += float(nll[row, first:].sum())
                count += block_size - first
                scored_to = s + block_size
    finally:
        model.train(was)
    return total / count


def char_baselines(train: Tensor, evaluate: Tensor, vocab_size: int) -> dict[str, float]:
    """Cross-entropy (nats per token) of counting models fit on ``train``: unigram
    :math:`P(y)` and bigram :math:`P(y \\mid x)` with add-one smoothing, on ``evaluate``;
    the floor a GPT has to go below to have learnt anything beyond letter pairs."""
    uni = torch.bincount(train, minlength=vocab_size).double() + 1
    uni_lp = (uni / uni.sum()).log()
    pairs = torch.zeros(vocab_size, vocab_size, dtype=torch.float64)
    pairs.index_put_((train[:-1], train[1:]), torch.ones(len(train) - 1, dtype=torch.float64),
                     accumulate=True)
    pairs += 1
    bi_lp = (pairs / pairs.sum(1, keepdim=True)).log()
    return {"unigram": float(-uni_lp[evaluate].mean()),
            "bigram": float(-bi_lp[evaluate[:-1], evaluate[1:]].mean())}


@dataclass
class GPTRun:
    """What :func:`train_gpt` did: one history row per evaluation and the wall time."""

    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0  # wall time, evaluations included
    eval_seconds: float = 0.0  # of which spent estimating the loss
    iters: int = 0
    tokens: int = 0  # training tokens read
    best_iter: int = 0  # with keep_best: the update whose weights the model ends with

    @property
    def train_seconds(self) -> float:
        """Wall time without the loss estimates."""
        return self.seconds - self.eval_seconds

    @property
    def tokens_per_second(self) -> float:
        """Training tokens per second of training (evaluations left out)."""
        return self.tokens / self.train_seconds if self.train_seconds > 0 else math.nan


def train_gpt(model: nn.Module, train: Tensor, val: Tensor, *, max_iters: int,
              batch_size: int = 12, block_size: int | None = None, lr: float = 1e-3,
              min_lr: float = 1e-4, warmup_iters: int = 100, lr_decay_iters: int | None = None,
              weight_decay: float = 0.1, beta2: float = 0.99, grad_clip: float | None = 1.0,
              accumulate: int = 1, eval_interval: int = 250, eval_iters: int = 20,
              compile: bool = False, seed: int = 0, device: str = "cpu",
              progress: bool | None = None, log: Any = None, keep_best: bool = False
              ) -> GPTRun:
    """Train ``model`` (any ``idx -> logits`` LM) nanoGPT-style; evaluate every
    ``eval_interval`` updates and after the last one (``eval_iters`` batches of each split).

    ``compile=True`` runs the forward and backward through ``torch.compile`` (the first update
    pays the compile time; it counts in ``seconds``). A non-finite loss stops with
    :class:`~deepnotes.errors.NonFiniteLossError` before the update that would spread it.
    ``keep_best=True`` ends with the weights of the evaluation with the lowest validation
    loss (nanoGPT saves a checkpoint when it improves); ``run.best_iter`` says which.
    """
    from deepnotes.optim import warmup_cosine
    from deepnotes.tasks.bert import adamw

    block_size = block_size or model.config.block_size
    lr_decay_iters = lr_decay_iters or max_iters
    for name, v in (("max_iters", max_iters), ("batch_size", batch_size),
                    ("accumulate", accumulate), ("eval_interval", eval_interval)):
        if not isinstance(v, int) or v < 1:
            raise ConfigError(f"{name} must be a positive integer, got {v!r}")
    if not 0 <= warmup_iters < lr_decay_iters:
        raise ConfigError(f"warmup_iters={warmup_iters} must be >= 0 and below "
                          f"lr_decay_iters={lr_decay_iters}")
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model.to(device).train()
    opt = adamw(model, lr, weight_decay, betas=(0.9, beta2))
    sched = warmup_cosine(opt, warmup_iters, lr_decay_iters, eta_min=min_lr)
    forward = torch.compile(model) if compile else model
    run = GPTRun()
    bar = None
    if (sys.stderr.isatty() if progress is None else progress):
        from tqdm.auto import tqdm

        bar = tqdm(total=max_iters, desc="gpt", unit="update", dynamic_ncols=True)
    t0 = time.perf_counter()
    seen = 0.0  # running mean of the training loss since the last evaluation
    n_seen = 0
    best: tuple[float, dict] | None = None
    try:
        for it in range(1, max_iters + 1):
            total = 0.0
            for _ in range(accumulate):
                x, y = get_batch(train, block_size, batch_size, g, device)
                loss = lm_loss(forward, x, y) / accumulate  # mean over the k micro-batches
                loss.backward()
                total += float(loss.detach())
            if not math.isfinite(total):
                raise NonFiniteLossError(f"the training loss is {total} at update {it}; lower "
                                         f"lr (now {sched.lrs_at(it - 1)[0]:.2g}) or clip harder")
            if grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            sched.step()
            run.tokens += batch_size * accumulate * block_size
            seen, n_seen = seen + total, n_seen + 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{total:.3f}", refresh=False)
            if it % eval_interval == 0 or it == max_iters:
                row = {"iter": it, "train_loss": seen / n_seen, "seconds":
                       time.perf_counter() - t0, "lr": opt.param_groups[0]["lr"]}
                te = time.perf_counter()
                row["val_loss"] = estimate_loss(model, val, block_size, batch_size, eval_iters,
                                                seed + 1, device)
                run.eval_seconds += time.perf_counter() - te
                if keep_best and (best is None or row["val_loss"] < best[0]):
                    best = (row["val_loss"], {k: v.detach().clone()
                                              for k, v in model.state_dict().items()})
                    run.best_iter = it
                run.history.append(row)
                seen, n_seen = 0.0, 0
                if log is not None:
                    log(f"iter {it}: train loss {row['train_loss']:.4f}, val loss "
                        f"{row['val_loss']:.4f}, {row['seconds']:.0f} s")
            run.iters = it
    finally:
        if bar is not None:
            bar.close()
        run.seconds = time.perf_counter() - t0
        model.eval()
    if best is not None:
        model.load_state_dict(best[1])
    return run
