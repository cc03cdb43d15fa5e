"""CNN vs self-attention on images: the CNN wins with little data, attention catches up with more.

Claim (notes A8): a convolution is self-attention restricted to a small, fixed neighbourhood
with weights shared over positions; self-attention over image patches learns its own
receptive field. The more flexible model needs more data: trained on growing subsets of
Fashion-MNIST with the same optimizer and budget, a small CNN beats a small ViT-style model
(patches + self-attention) clearly when training data is scarce, and the gap shrinks as the
training set grows (Dosovitskiy et al. 2021 show it reversing at far larger scales).
Measured (full mode, seed 0, 10,000 test images): CNN − ViT test accuracy 0.086 with 250
images (0.748 vs 0.662), 0.075 with 1,000, 0.057 with 4,000 and 0.040 with 16,000 (0.891 vs
0.851); the CNN has 9,098 parameters, the ViT 41,674.

Both models (``small-cnn`` and ``small-vit`` in :mod:`deepnotes.models`) are trained from
scratch on the first ``n`` images of one fixed shuffle of the first ``2·max(sizes)`` training
images (nested subsets) and tested on the same test images. Budget: ``epochs`` passes over each
set, clipped to a number of optimizer steps between ``min_steps`` and ``max_steps``
(``steps = clip(epochs · n / B, min_steps, max_steps)``), Adam with cosine decay. Quick mode:
sizes 100 and 2,000, B = 32, 4 epochs clipped to 60..200 steps, 1,000 test images.

Data: Fashion-MNIST (``/usr/share/datasets/fashion-mnist``).

Notes: A8, C1, C4, A4, A5, A6.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from deepnotes.data import load
from deepnotes.figures import save_figure, subplots
from deepnotes.functional import cross_entropy
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.models import create
from deepnotes.optim import CosineAnnealingLR, create_optimizer
from deepnotes.runtime import seed_everything
from deepnotes.train.checkpoint import save_model

NAME = "cnn-vs-self-attention"
SUMMARY = "small CNN vs small ViT on growing Fashion-MNIST subsets: CNN wins with little data (A8)"
CONCEPTS = ("A8", "C1", "C4", "A4", "A5", "A6")


@dataclass
class Config(LessonConfig):
    # quick: sizes 100 and 2,000, a short budget (B = 32, 4 epochs, 60..200 steps), 1,000 test
    # images (tests)
    QUICK = {"sizes": (100, 2000), "test_size": 1000, "batch_size": 32, "epochs": 4,
             "min_steps": 60, "max_steps": 200}

    sizes: tuple[int, ...] = (250, 1000, 4000, 16000)  # training-set sizes n (nested subsets)
    test_size: int = 10000  # test images
    epochs: int = 20  # passes over a set, before the step limits below
    min_steps: int = 300  # every size gets at least this many optimizer steps
    max_steps: int = 5000  # and at most this many
    batch_size: int = 64  # minibatch size
    lr: float = 4e-3  # Adam's peak learning rate (cosine decay to 0), both models
    patch: int = 7  # ViT patch side (28 / 7 = 4 × 4 = 16 tokens)
    embed_dim: int = 48  # ViT width d
    heads: int = 4  # ViT attention heads
    layers: int = 2  # ViT encoder blocks (pre-LN)
    channels: tuple[int, int] = (8, 16)  # CNN channels of its two 3×3 conv layers


def make_model(cfg: Config, name: str) -> nn.Module:
    """``"cnn"``: deepnotes.models ``small-cnn``; ``"vit"``: ``small-vit``, sized by ``cfg``."""
    if name == "cnn":
        return create("small-cnn", channels=cfg.channels)
    return create("small-vit", patch=cfg.patch, embed_dim=cfg.embed_dim, heads=cfg.heads,
                  layers=cfg.layers)


def _steps(cfg: Config, n: int) -> int:
    return int(min(cfg.max_steps, max(cfg.min_steps, math.ceil(cfg.epochs * n / cfg.batch_size))))


def _train(model: nn.Module, x: Tensor, y: Tensor, steps: int, cfg: Config, seed: int) -> float:
    """Adam + cosine decay for ``steps`` minibatch steps over reshuffled epochs; seconds."""
    opt = create_optimizer("adam", model.parameters(), lr=cfg.lr)
    sched = CosineAnnealingLR(opt, T_max=steps)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    start, done = time.perf_counter(), 0
    while done < steps:
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            loss = cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            done += 1
            if done == steps:
                break
    return time.perf_counter() - start


@torch.no_grad()
def _accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    model.eval()
    hits = sum(int((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum())
               for i in range(0, len(x), 1000))
    return hits / len(x)


def run(cfg: Config, out_dir: Path) -> LessonResult:
    sizes = tuple(sorted(cfg.sizes))
    limit = 2 * max(sizes) if max(sizes) < 20000 else None
    train = load("fashion-mnist", split="train", limit=limit)
    test = load("fashion-mnist", split="test", limit=cfg.test_size)
    perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(cfg.seed))
    xs, ys = train.x[perm], train.y[perm]
    rows, last = [], {}
    for n in sizes:
        steps = _steps(cfg, n)
        row = {"train_size": n, "steps": steps, "epochs": steps * cfg.batch_size / n}
        for name in ("cnn", "vit"):
            seed_everything(cfg.seed)
            model = make_model(cfg, name)
            secs = _train(model, xs[:n], ys[:n], steps, cfg, cfg.seed)
            row[f"{name}_test_accuracy"] = _accuracy(model, test.x, test.y)
            row[f"{name}_train_accuracy"] = _accuracy(model, xs[:n], ys[:n])
            row[f"{name}_seconds"] = secs
            row[f"{name}_parameters"] = sum(p.numel() for p in model.parameters())
            last[name] = model
        row["gap"] = row["cnn_test_accuracy"] - row["vit_test_accuracy"]
        rows.append(row)

    first, final = rows[0], rows[-1]
    metrics = {
        "smallest_size": float(first["train_size"]), "largest_size": float(final["train_size"]),
        "gap_smallest": first["gap"], "gap_largest": final["gap"],
        "gap_shrink": first["gap"] - final["gap"],
        "cnn_accuracy_smallest": first["cnn_test_accuracy"],
        "vit_accuracy_smallest": first["vit_test_accuracy"],
        "cnn_accuracy_largest": final["cnn_test_accuracy"],
        "vit_accuracy_largest": final["vit_test_accuracy"],
        "vit_gain": final["vit_test_accuracy"] - first["vit_test_accuracy"],
        "cnn_gain": final["cnn_test_accuracy"] - first["cnn_test_accuracy"],
        "cnn_parameters": float(first["cnn_parameters"]),
        "vit_parameters": float(first["vit_parameters"]),
        "train_seconds": float(sum(r["cnn_seconds"] + r["vit_seconds"] for r in rows)),
    }

    fig, axes = subplots(1, 2, figsize=(10.5, 4))
    ns = [r["train_size"] for r in rows]
    axes[0].semilogx(ns, [r["cnn_test_accuracy"] for r in rows], "o-",
                     label=f"CNN ({metrics['cnn_parameters']:,.0f} params)")
    axes[0].semilogx(ns, [r["vit_test_accuracy"] for r in rows], "s-",
                     label=f"self-attention / ViT ({metrics['vit_parameters']:,.0f} params)")
    axes[0].set_xlabel("training images n")
    axes[0].set_ylabel("test accuracy")
    axes[0].legend(fontsize=8)
    axes[1].semilogx(ns, [r["gap"] for r in rows], "d-", color="black")
    axes[1].axhline(0, color="gray", lw=0.8)
    axes[1].set_xlabel("training images n")
    axes[1].set_ylabel("CNN − ViT test accuracy")
    fig.suptitle("Fixed receptive field (CNN) vs learned one (self-attention) as data grows")
    path = save_figure(fig, out_dir / "cnn_vs_self_attention.png")

    claim = (f"with {first['train_size']:,} training images the CNN beats self-attention by "
             f"{first['gap']:.3f} ({first['cnn_test_accuracy']:.3f} vs "
             f"{first['vit_test_accuracy']:.3f}); with {final['train_size']:,} the gap is "
             f"{final['gap']:.3f} ({final['cnn_test_accuracy']:.3f} vs "
             f"{final['vit_test_accuracy']:.3f})")
    return LessonResult(NAME, metrics, [path], rows, claim=claim, tables={"sizes": rows},
                        checkpoint=save_model(last["vit"], out_dir))
