"""N-fold cross-validation picks a model size without touching the test set.

Claim (notes G3; d2l 4.4): split the training data into N folds, train N times with each fold
held out once, and average the held-out scores; choosing the model with the best average picks a
model whose real test accuracy is close to the best achievable among the candidates, while the
test set is never looked at. Data: scikit-learn's 1,797 handwritten 8×8 digits; 500 are set
aside as the test set, the rest are split into 5 folds; candidates are MLPs with one hidden layer
of 1 to 256 units.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from statistics import mean, stdev

import torch

from deepnotes.data import kfold_indices, load
from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.models import create
from deepnotes.tasks.classification import fit_classifier
from deepnotes.train.checkpoint import save_model

NAME = "k-fold"
SUMMARY = ("5-fold cross-validation selects an MLP width on real digits; its pick is near the test "
           "optimum (G3)")
CONCEPTS = ("G2", "G3")


@dataclass
class Config(LessonConfig):
    QUICK = {"folds": 3, "widths": (1, 4, 64), "epochs": 15}

    folds: int = 5  # N in N-fold
    widths: tuple[int, ...] = (1, 2, 4, 16, 64, 256)  # candidate hidden widths
    epochs: int = 40  # epochs per training run
    test_size: int = 500  # digits held out as the test set


def run(cfg: Config, out_dir: Path) -> LessonResult:
    digits = load("digits", flatten=True)
    gen = torch.Generator().manual_seed(cfg.seed)
    perm = torch.randperm(len(digits), generator=gen)
    test = digits.subset(perm[: cfg.test_size])
    pool = digits.subset(perm[cfg.test_size:])
    folds = cfg.folds

    def train(width: int, train_ds, val_ds):
        model = create("mlp", in_features=64, hidden=(width,), num_classes=10)
        return fit_classifier(model, train_ds, val_ds, optimizer="adam", lr=1e-2,
                              epochs=cfg.epochs, batch_size=64, seed=cfg.seed, progress=False)

    rows, final_models = [], {}
    for w in cfg.widths:
        scores = []
        for tr_idx, va_idx in kfold_indices(len(pool), folds, shuffle=True, seed=cfg.seed):
            fit = train(w, pool.subset(tr_idx), pool.subset(va_idx))
            scores.append(fit.test["accuracy"])  # held-out fold accuracy
        # Observed only after the choice is made below; never used to choose.
        final = train(w, pool, test)
        final_models[w] = final.model
        rows.append({"width": w, "cv_accuracy": mean(scores), "cv_std": stdev(scores),
                     "train_accuracy": final.history.last()["train_accuracy"],
                     "test_accuracy": final.test["accuracy"]})

    chosen = max(rows, key=lambda r: r["cv_accuracy"])
    oracle = max(rows, key=lambda r: r["test_accuracy"])

    fig, ax = subplots(figsize=(6.4, 4.2))
    ws = [r["width"] for r in rows]
    ax.errorbar(ws, [r["cv_accuracy"] for r in rows], yerr=[r["cv_std"] for r in rows], fmt="o-",
                capsize=3, label=f"{folds}-fold CV accuracy")
    ax.plot(ws, [r["test_accuracy"] for r in rows], "s--",
            label="test accuracy (not used to choose)")
    ax.plot(ws, [r["train_accuracy"] for r in rows], "^:", label="training accuracy")
    ax.axvline(chosen["width"], color="k", lw=1, ls=":", label=f"CV choice: {chosen['width']}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("hidden width")
    ax.set_ylabel("accuracy")
    ax.set_title("model selection on digits")
    ax.legend(fontsize=8)
    path = save_figure(fig, out_dir / "kfold.png")

    smallest = rows[0]
    metrics = {
        "folds": float(folds),
        "chosen_width": float(chosen["width"]),
        "chosen_cv_accuracy": chosen["cv_accuracy"],
        "chosen_test_accuracy": chosen["test_accuracy"],
        "oracle_width": float(oracle["width"]),
        "oracle_test_accuracy": oracle["test_accuracy"],
        "smallest_cv_accuracy": smallest["cv_accuracy"],
        "smallest_test_accuracy": smallest["test_accuracy"],
    }
    return LessonResult(NAME, metrics, [path], rows, tables={"widths": rows},
                        claim="the width with the best N-fold CV accuracy has test accuracy near "
                              "the best candidate's",
                        checkpoint=save_model(final_models[chosen["width"]], out_dir))
