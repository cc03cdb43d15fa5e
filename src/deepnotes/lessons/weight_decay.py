"""Weight decay (L2 regularisation) against overfitting when examples are few and features many.

Claim (notes G4; d2l 4.5): with few training examples and many features a model fits the
training set almost perfectly but generalises badly; adding λ/2·||w||² to the loss — the update
w ← (1−ηλ)w − η·grad — shrinks the weights and lowers the held-out loss.

Two settings:
1. d2l's high-dimensional linear regression (20 training examples, 200 features,
   y = 0.05 + Σ 0.01·x_i + ε), λ = 0 vs λ = 3 — the book's anchor experiment.
2. Real data: softmax regression on 100 Fashion-MNIST images (784 pixel features, 7,850
   weights, 10 classes), full-batch gradient descent: λ is chosen on 1,000 validation images,
   and the chosen λ and λ = 0 are compared on 2,000 test images that played no part in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from deepnotes.data import ArrayDataset, MiniBatches, load
from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.models import create
from deepnotes.nn import MSELoss
from deepnotes.tasks.classification import fit_classifier, fit_model
from deepnotes.train.checkpoint import save_model

NAME = "weight-decay"
SUMMARY = "L2 weight decay lowers held-out loss with few examples and many features (G4)"
CONCEPTS = ("G1", "G4")


@dataclass
class Config(LessonConfig):
    QUICK = {"epochs": 50, "images_epochs": 300, "lambdas": (0.0, 3e-3, 1e-2)}

    epochs: int = 100  # epochs for the synthetic regression (d2l: 100)
    lambd: float = 3.0  # λ for the synthetic regression (d2l: 3)
    images_train: int = 100  # training images in the real-data setting
    images_epochs: int = 1000  # full-batch epochs on them
    lambdas: tuple[float, ...] = (0.0, 1e-3, 3e-3, 1e-2, 3e-2)  # λ sweep on the images (0 first)


def _synthetic(n: int, d: int, gen: torch.Generator) -> ArrayDataset:
    # y = 0.05 + Σ_i 0.01·x_i + ε,  ε ~ N(0, 0.01²)
    x = torch.randn(n, d, generator=gen)
    y = 0.05 + 0.01 * x.sum(dim=1) + 0.01 * torch.randn(n, generator=gen)
    return ArrayDataset(x, y, name="d2l-high-dim", task="regression")


def _regression_run(train: ArrayDataset, test: ArrayDataset, lambd: float, epochs: int,
                    seed: int) -> dict:
    model = create("linear-regression", in_features=train.x.shape[1])
    # d2l 4.5 starts this experiment from w ~ N(0, 1): without decay, the 180 directions the 20
    # examples cannot see keep their random start, and only the penalty pulls them to 0.
    with torch.no_grad():
        torch.nn.init.normal_(model.linear.weight, 0.0, 1.0,
                              generator=torch.Generator().manual_seed(seed))
    fit = fit_model(model, MSELoss(), train, test, optimizer="sgd", lr=0.003, epochs=epochs,
                    batch_size=5, seed=seed, weight_decay=lambd, progress=False)
    return {
        "train_loss": fit.trainer.evaluate(fit.trainer.train_data)["loss"],
        "test_loss": fit.test["loss"],
        "w_norm": model.linear.weight.norm().item(),
        "curve": fit.history.column("val_loss"),
    }


def run(cfg: Config, out_dir: Path) -> LessonResult:
    gen = torch.Generator().manual_seed(cfg.seed)
    train, test = _synthetic(20, 200, gen), _synthetic(100, 200, gen)
    plain = _regression_run(train, test, 0.0, cfg.epochs, cfg.seed)
    decay = _regression_run(train, test, cfg.lambd, cfg.epochs, cfg.seed)

    # Real data: softmax regression on a handful of images, full batch, λ sweep.
    n_tr = cfg.images_train
    pool = load("fashion-mnist", split="train", limit=max(3000, n_tr + 1000))
    perm = torch.randperm(len(pool), generator=gen)
    tr = pool.subset(perm[:n_tr])
    va = pool.subset(perm[n_tr:n_tr + 1000])
    te = load("fashion-mnist", split="test", limit=2000)
    sweep = []
    for lam in cfg.lambdas:
        model = create("softmax-regression", in_features=784, num_classes=10)
        fit = fit_classifier(model, tr, va, optimizer="sgd", lr=0.5, epochs=cfg.images_epochs,
                             batch_size=len(tr), seed=cfg.seed, weight_decay=lam, progress=False)
        test = fit.trainer.evaluate(MiniBatches(te, batch_size=1024, shuffle=False))
        sweep.append({"lambda": lam, "train_loss": fit.history.last()["train_loss"],
                      "val_loss": fit.test["loss"], "test_loss": test["loss"],
                      "test_accuracy": test["accuracy"],
                      "w_norm": model.linear.weight.norm().item(),
                      "model": model})
    best = min(sweep, key=lambda r: r["val_loss"])  # chosen on validation, never on test
    chosen_model = best["model"]
    for r in sweep:
        del r["model"]

    fig, axes = subplots(1, 2, figsize=(10, 4))
    axes[0].semilogy(range(1, len(plain["curve"]) + 1), plain["curve"], label="λ = 0")
    axes[0].semilogy(range(1, len(decay["curve"]) + 1), decay["curve"], label=f"λ = {cfg.lambd:g}")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("held-out MSE")
    axes[0].set_title("d2l high-dim regression (n=20, d=200)")
    axes[0].legend()
    xs = [max(r["lambda"], 1e-4) for r in sweep]
    axes[1].semilogx(xs, [r["val_loss"] for r in sweep], "o-", label="validation CE")
    axes[1].semilogx(xs, [r["test_loss"] for r in sweep], "^:", label="test CE")
    axes[1].semilogx(xs, [r["train_loss"] for r in sweep], "s--", label="training CE")
    axes[1].set_xlabel("λ (0 drawn at 1e-4)")
    axes[1].set_title(f"Fashion-MNIST, {n_tr} training images")
    axes[1].legend()
    path = save_figure(fig, out_dir / "weight_decay.png")

    zero = sweep[0]
    metrics = {
        "synthetic_test_loss_no_decay": plain["test_loss"],
        "synthetic_test_loss_decay": decay["test_loss"],
        "synthetic_train_loss_no_decay": plain["train_loss"],
        "synthetic_train_loss_decay": decay["train_loss"],
        "synthetic_w_norm_no_decay": plain["w_norm"],
        "synthetic_w_norm_decay": decay["w_norm"],
        "images_test_loss_no_decay": zero["test_loss"],
        "images_chosen_lambda": best["lambda"],
        "images_chosen_test_loss": best["test_loss"],
        "images_test_accuracy_no_decay": zero["test_accuracy"],
        "images_chosen_test_accuracy": best["test_accuracy"],
    }
    return LessonResult(NAME, metrics, [path], [], tables={"images_sweep": sweep},
                        claim="L2 weight decay shrinks ||w|| and lowers held-out loss when n is "
                              "small and d large",
                        checkpoint=save_model(chosen_model, out_dir))
