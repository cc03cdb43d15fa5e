"""Public vs private leaderboard: choosing among many models by a test score overfits that test.

Claim (notes G3): a test split whose score is used to choose a model becomes a validation
split. Picking the best of N models by their score on the *public* half of a test set overfits
that half: the pick's public score rises with N faster than its score on the *private* half,
so the gap public − private grows with the number of models tried. In the extreme, models that
guess at random: the best of many random guessers looks better than chance on public and is at
chance on private.

Data: Fashion-MNIST. A pool of 200 MLPs (one hidden layer) is trained on 2,000 training images,
each with its own seed and a width, learning rate and epoch count drawn at random (the models a
leaderboard sees); a pool of 1,000 random guessers predicts uniform random labels. A leaderboard
is 500 public and 500 private images drawn from the 10,000 test images; 200 are drawn, each also
used mirrored (public <-> private), so both halves play the same part and only choosing tells
them apart. For each N the public and private accuracy of the best-on-public of N pool members
drawn at random is computed exactly (:func:`deepnotes.metrics.leaderboard.leaderboard_pick`:
no sampling of the N) and averaged over the leaderboards.

Notes: G3 (public vs private leaderboard: a test split used to choose is a validation split).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from deepnotes.data import load
from deepnotes.errors import ConfigError
from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.metrics.leaderboard import leaderboard_pick, split_accuracy
from deepnotes.models import create
from deepnotes.tasks.classification import fit_classifier

NAME = "leaderboard"
SUMMARY = ("choosing the best of N models on a public test half overfits it: the public-private "
           "gap grows with N; the best random guesser beats chance only on public (G3)")
CONCEPTS = ("G3",)


@dataclass
class Config(LessonConfig):
    QUICK: ClassVar[dict[str, Any]] = {
        "models": 20, "train_images": 1000, "epochs_range": (3, 3), "test_images": 2000,
        "splits": 100, "guessers": 300, "ns": (1, 4, 20)}

    models: int = 200  # trained MLPs in the pool (the most N can be)
    train_images: int = 2000  # Fashion-MNIST training images every model is fit to
    widths: tuple[int, ...] = (64, 128, 256)  # hidden widths drawn from, uniformly
    lr_range: tuple[float, float] = (1e-3, 3e-3)  # Adam learning rate, drawn log-uniformly
    epochs_range: tuple[int, int] = (5, 10)  # epochs drawn uniformly from lo .. hi
    test_images: int = 10000  # test images the leaderboard's halves are drawn from
    half: int = 500  # test images on each half of the leaderboard (public, private)
    splits: int = 200  # leaderboards drawn (each also used mirrored: public <-> private)
    guessers: int = 1000  # random guessers (uniform random labels) in the second pool
    ns: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100, 200)  # models tried (N), each <= models


def _train_pool(cfg: Config, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, list]:
    """Train ``cfg.models`` MLPs with random hyperparameters; which test images each gets right."""
    train = load("fashion-mnist", split="train", limit=cfg.train_images, flatten=True)
    test = load("fashion-mnist", split="test", limit=cfg.test_images, flatten=True)
    lo, hi = math.log(cfg.lr_range[0]), math.log(cfg.lr_range[1])
    correct, rows = [], []
    for k in range(cfg.models):
        width = cfg.widths[int(torch.randint(len(cfg.widths), (1,), generator=gen))]
        lr = math.exp(lo + (hi - lo) * float(torch.rand(1, generator=gen)))
        epochs = int(torch.randint(cfg.epochs_range[0], cfg.epochs_range[1] + 1, (1,),
                                   generator=gen))
        seed = cfg.seed * 100_003 + k
        torch.manual_seed(seed)  # the model's initial weights
        model = create("mlp", in_features=784, hidden=(width,), num_classes=10)
        fit_classifier(model, train, None, optimizer="adam", lr=lr, epochs=epochs, batch_size=64,
                       seed=seed, progress=False)
        model.eval()
        with torch.no_grad():
            right = model(test.x).argmax(dim=1) == test.y  # (T,)
        correct.append(right)
        rows.append({"model": k, "width": width, "lr": lr, "epochs": epochs,
                     "test_accuracy": right.float().mean().item()})
    return torch.stack(correct), test.y, rows  # (M, T), (T,)


def _draws(t: int, cfg: Config, gen: torch.Generator):
    """``splits`` leaderboards: (images, public mask), each followed by its mirror image."""
    public = torch.arange(2 * cfg.half) < cfg.half  # (2·half,) first half public
    for _ in range(cfg.splits):
        images = torch.randperm(t, generator=gen)[: 2 * cfg.half]
        yield images, public
        yield images, ~public


def _average_picks(correct_per_draw, ns: tuple[int, ...]) -> list[dict]:
    """Expected public/private accuracy of the best-on-public of N, averaged over the draws."""
    sums, draws = {n: [0.0, 0.0] for n in ns}, 0
    for correct, public in correct_per_draw:
        pub, priv = split_accuracy(correct, public)  # (M,), (M,)
        for n in ns:
            p, q = leaderboard_pick(pub, priv, n)
            sums[n][0] += p
            sums[n][1] += q
        draws += 1
    rows = []
    for n in ns:
        p, q = (v / draws for v in sums[n])
        rows.append({"n": n, "public": p, "private": q, "gap": p - q})
    return rows


def run(cfg: Config, out_dir: Path) -> LessonResult:
    if max(cfg.ns) > cfg.models or min(cfg.ns) < 1:
        raise ConfigError(f"every N in ns must be in 1 .. models = {cfg.models}, got {cfg.ns}")
    if not 1 <= cfg.half <= cfg.test_images // 2:
        raise ConfigError(f"half must be in 1 .. test_images // 2 = {cfg.test_images // 2}, "
                          f"got {cfg.half}")
    gen = torch.Generator().manual_seed(cfg.seed)
    correct, labels, pool = _train_pool(cfg, gen)
    t = len(labels)
    models = _average_picks(((correct[:, im], pub) for im, pub in _draws(t, cfg, gen)), cfg.ns)

    # Random guessers: uniform labels over the 10 classes, fresh guesses on every leaderboard.
    def guessed(images: torch.Tensor, public: torch.Tensor):
        guesses = torch.randint(10, (cfg.guessers, len(images)), generator=gen)  # (G, 2·half)
        return guesses == labels[images], public

    guess_ns = tuple(n for n in (1, 10, 100, 1000, 10000) if n < cfg.guessers) + (cfg.guessers,)
    guessers = _average_picks((guessed(im, pub) for im, pub in _draws(t, cfg, gen)), guess_ns)

    fig, (ax1, ax2) = subplots(1, 2, figsize=(10.4, 4.2))
    for ax, rows, title in ((ax1, models, f"{cfg.models} trained MLPs"),
                            (ax2, guessers, f"{cfg.guessers} random guessers")):
        n = [r["n"] for r in rows]
        ax.plot(n, [r["public"] for r in rows], "o-", label="public (used to choose)")
        ax.plot(n, [r["private"] for r in rows], "s--", label="private (seen after)")
        ax.set_xscale("log")
        ax.set_xlabel("models tried N (best on public is picked)")
        ax.set_title(title)
    ax2.axhline(0.1, color="k", lw=1, ls=":", label="chance (1/10)")
    ax1.set_ylabel("accuracy of the pick")
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=8)
    path = save_figure(fig, out_dir / "leaderboard.png")

    first, last = models[0], models[-1]
    best_guess = guessers[-1]
    metrics = {
        "models": float(cfg.models),
        "public_images": float(cfg.half),
        "private_images": float(cfg.half),
        "pool_mean_test_accuracy": correct.double().mean().item(),
        "pool_best_test_accuracy": correct.double().mean(dim=1).max().item(),
        "n_min": float(first["n"]),
        "n_max": float(last["n"]),
        "public_at_n_min": first["public"],
        "private_at_n_min": first["private"],
        "gap_at_n_min": first["gap"],
        "public_at_n_max": last["public"],
        "private_at_n_max": last["private"],
        "gap_at_n_max": last["gap"],
        "public_gain": last["public"] - first["public"],
        "private_gain": last["private"] - first["private"],
        "guessers": float(cfg.guessers),
        "guesser_best_public": best_guess["public"],
        "guesser_best_private": best_guess["private"],
        "guesser_gap": best_guess["gap"],
    }
    return LessonResult(NAME, metrics, [path], models,
                        claim="the best-on-public of N models scores lower on private than on "
                              "public, by a gap that grows with N; the best random guesser beats "
                              "chance only on public",
                        tables={"models": models, "guessers": guessers, "pool": pool})
