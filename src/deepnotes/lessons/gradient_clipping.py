"""Gradient clipping: an RNN language model with a large learning rate, with and without clipping.

Claim (notes R7, O11; d2l 9.5): the error surface of a recurrent network is rough — flat
plateaus next to steep cliffs — because back-propagation through time multiplies by the same
recurrent matrix T times, so a gradient can suddenly be orders of magnitude larger than usual.
With a learning rate that is fine on the plateaus, one such step throws the weights far away and
the loss jumps (a *spike*) far above where it was, even above the uniform guess log|V|. Clipping
the gradient by its global norm,

    g <- g · min(1, θ / ||g||),

keeps the direction but caps the step, so the same learning rate trains smoothly: no loss spikes,
and a lower final loss. Both runs start from the same weights and see the same batches.

A loss spike is a step whose loss exceeds the median of the previous 10 steps by more than
0.5 nats (or is NaN/inf); a gradient-norm spike is a norm above 10x the median of the previous
10 (measured before clipping).

Measured (full mode, H=128, SGD lr 2, 411 steps): without clipping 194 loss spikes, gradient
norm up to 122, loss up to 51 nats (uniform: 3.33), final validation perplexity 1.4e14; clipped
at 1: no spike, loss never above 3.34, validation perplexity 7.95.

Data: full mode, the first 170,580 characters of the Jane Austen novels (janeaustenr), d2l's
preprocessing; quick mode the package's sample text. Plain tanh RNN, SGD, sequential
partitioning with the state carried across batches (truncated BPTT).

Notes: R7, O11.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path

import torch

from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.models import create
from deepnotes.tasks.lm import TIME_MACHINE_CHARS, LMRun, char_corpus, load_text, train_lm

NAME = "gradient-clipping"
SUMMARY = "RNN LM at a large lr: loss/gradient spikes without clipping, none with it (R7, O11)"
CONCEPTS = ("R7", "O11")


@dataclass
class Config(LessonConfig):
    QUICK = {"corpus": "sample", "hidden": 64, "epochs": 10, "batch_size": 16}  # (tests)

    corpus: str = "austen"  # deepnotes.data.load_corpus name ("sample": the built-in text)
    chars: int = TIME_MACHINE_CHARS  # characters used
    cell: str = "rnn"  # rnn | gru | lstm (the plain RNN's gradients explode most readily)
    hidden: int = 128  # H
    epochs: int = 3  # passes over the text
    batch_size: int = 32  # B
    num_steps: int = 35  # T, the BPTT length
    lr: float = 2.0  # SGD learning rate: large on purpose
    clip: float = 1.0  # θ, the largest gradient norm let through
    window: int = 10  # spikes are measured against the median of this many previous steps
    loss_jump: float = 0.5  # nats above that median that make a loss spike
    norm_factor: float = 10.0  # times that median that make a gradient-norm spike


def spikes(values: list[float], window: int, above: float = 0.0, factor: float = 1.0) -> int:
    """Steps whose value is non-finite or > factor·median(previous ``window``) + above."""
    count = 0
    for i in range(window, len(values)):
        ref = statistics.median(values[i - window:i])
        if not math.isfinite(values[i]) or values[i] > factor * ref + above:
            count += 1
    return count


def _summary(r: LMRun, cfg: Config) -> dict[str, float]:
    losses, norms = r.step_loss, r.step_grad_norm
    finite = [v for v in losses if math.isfinite(v)]
    return {
        "loss_spikes": float(spikes(losses, cfg.window, above=cfg.loss_jump)),
        "grad_norm_spikes": float(spikes(norms, cfg.window, factor=cfg.norm_factor)),
        "max_grad_norm": max(norms),
        "median_grad_norm": statistics.median(norms),
        "max_loss": max(finite) if finite else math.inf,
        "final_loss": statistics.mean(losses[-10:]),
        "final_val_ppl": math.inf if r.diverged else r.val_ppl,
        "diverged": float(r.diverged),
        "steps": float(len(losses)),
    }


def run(cfg: Config, out_dir: Path) -> LessonResult:
    raw, source = load_text(cfg.corpus, f"{cfg.chars:,} chars")
    hidden, epochs, batch = cfg.hidden, cfg.epochs, cfg.batch_size
    ids, vocab, _ = char_corpus(raw, max_chars=cfg.chars)
    cut = int(len(ids) * 0.9)
    torch.manual_seed(cfg.seed)
    start = create("rnn-lm", vocab_size=len(vocab), cell=cfg.cell, hidden=hidden).state_dict()
    runs: dict[str, LMRun] = {}
    for name, clip in (("no_clip", None), ("clip", cfg.clip)):
        model = create("rnn-lm", vocab_size=len(vocab), cell=cfg.cell, hidden=hidden)
        model.load_state_dict(start)  # the same initial weights for both runs
        runs[name] = train_lm(model, ids[:cut], ids[cut:], epochs=epochs, batch_size=batch,
                              num_steps=cfg.num_steps, optimizer="sgd", lr=cfg.lr,
                              grad_clip=clip, seed=cfg.seed, progress=False, label=name)
    metrics: dict[str, float] = {"uniform_loss": math.log(len(vocab)), "clip_threshold": cfg.clip,
                                 "lr": cfg.lr}
    for name, r in runs.items():
        metrics.update({f"{name}_{k}": v for k, v in _summary(r, cfg).items()})
    metrics["clip_max_update_norm"] = min(metrics["clip_max_grad_norm"], cfg.clip)
    history = [{"run": name, "step": i + 1, "loss": loss, "grad_norm": norm}
               for name, r in runs.items()
               for i, (loss, norm) in enumerate(zip(r.step_loss, r.step_grad_norm))]
    figure = _plot(runs, cfg, metrics["uniform_loss"], out_dir / "gradient_clipping.png")
    n, c = "no_clip_", "clip_"
    claim = (f"{cfg.cell.upper()} LM, SGD lr={cfg.lr:g} on {source}: without clipping "
             f"{metrics[n + 'loss_spikes']:.0f} loss spikes and {metrics[n + 'grad_norm_spikes']:.0f} "
             f"gradient-norm spikes (max norm {metrics[n + 'max_grad_norm']:.3g}, max loss "
             f"{metrics[n + 'max_loss']:.3g} vs uniform {metrics['uniform_loss']:.2f}), final "
             f"validation perplexity {metrics[n + 'final_val_ppl']:.3g}; clipping at norm "
             f"{cfg.clip:g}: {metrics[c + 'loss_spikes']:.0f} loss spikes, max loss "
             f"{metrics[c + 'max_loss']:.3g}, final validation perplexity "
             f"{metrics[c + 'final_val_ppl']:.3g}.")
    return LessonResult(name=NAME, metrics=metrics, figures=[figure], history=history, claim=claim)


def _plot(runs: dict[str, LMRun], cfg: Config, uniform: float, path: Path) -> str:
    fig, (ax1, ax2) = subplots(1, 2, figsize=(11, 4.2))
    labels = {"no_clip": "no clipping", "clip": f"clipped at {cfg.clip:g}"}
    for name, r in runs.items():
        ax1.plot(range(1, len(r.step_loss) + 1), r.step_loss, label=labels[name], lw=1)
        ax2.plot(range(1, len(r.step_grad_norm) + 1), r.step_grad_norm, label=labels[name], lw=1)
    ax1.axhline(uniform, ls="--", color="gray", lw=1, label="uniform guess log|V|")
    ax2.axhline(cfg.clip, ls="--", color="gray", lw=1, label="θ")
    ax1.set(xlabel="step", ylabel="training loss (nats)", title=f"Loss, SGD lr={cfg.lr:g}")
    ax2.set(xlabel="step", ylabel="gradient norm before clipping", yscale="log",
            title="Gradient norm")
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=8)
    return save_figure(fig, path)
