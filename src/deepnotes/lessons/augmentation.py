"""Data augmentation: random flips and shifts of the training images make a small set go further.

Claim (notes G6; d2l 14.1): trained on few images, a CNN memorises them — training accuracy
reaches 100 % while test accuracy stalls. Training the same network, with the same budget, on
label-preserving random edits of the images (a new edit of every image each epoch: here a
left-right flip with probability 1/2, a random shift of up to two pixels, i.e. zero-pad and
crop, and a small random erased patch) narrows the gap between training and test accuracy,
lowers the test loss and raises test accuracy. Rotations and zooms are left out by default:
Fashion-MNIST's clothes are all upright and the same size, so those edits teach invariances the
test set never asks for (they can be switched on in the config).

Data: 2,000 Fashion-MNIST training images (quick: 600), the 10,000 test images (quick: 5,000).
Model: ``lenet-modern`` (LeNet-5 with ReLU, batch norm, max pooling), Adam with a cosine
learning-rate decay. Training accuracy in the gap is measured on the clean training images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from deepnotes.data import MiniBatches, load
from deepnotes.data.augment import (
    AugmentedBatches,
    Compose,
    RandomAffine,
    RandomCrop,
    RandomErasing,
    RandomHorizontalFlip,
)
from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.metrics import accuracy
from deepnotes.models import create, model_info
from deepnotes.nn import CrossEntropyLoss
from deepnotes.optim import create_optimizer, create_schedule
from deepnotes.train import Callback, TrainConfig, Trainer
from deepnotes.train.checkpoint import save_model

NAME = "augmentation"
SUMMARY = ("flips, shifts and erased patches narrow the train/test gap and lift test accuracy of a "
           "CNN on 2,000 images (G6)")
CONCEPTS = ("G1", "G6")


@dataclass
class Config(LessonConfig):
    QUICK = {"train_size": 600, "test_images": 5000, "epochs": 30, "eval_every": 10}

    train_size: int = 2000  # training images (few, so that the plain network overfits)
    test_images: int | None = None  # test images (None: all 10,000)
    model: str = "lenet-modern"  # any registered image classifier taking (N, 1, 28, 28)
    epochs: int = 60  # passes over the training images (both runs)
    batch_size: int = 32  # minibatch size (small: more steps for the augmented run to learn)
    lr: float = 2e-3  # Adam learning rate, decayed to 0 along a cosine
    flip_p: float = 0.5  # probability of a left-right flip
    crop_padding: int = 2  # zero padding before the random 28x28 crop (largest shift, pixels)
    erasing_p: float = 0.25  # probability of erasing a random patch
    erasing_scale: tuple[float, float] = (0.02, 0.1)  # area fraction of the erased patch
    degrees: float = 0.0  # largest random rotation (0: off; clothes are upright)
    scale: tuple[float, float] = (1.0, 1.0)  # random zoom range ((1, 1): off)
    eval_every: int = 5  # epochs between test evaluations (for the curves)
    seed: int = 0  # controls initialisation, shuffling and the augmentation draws
    device: str = "auto"  # cpu | cuda | auto


def make_transform(cfg: Config) -> Compose:
    """The training-time augmentation the config describes (flip, rotate/zoom, shift, erase)."""
    steps: list[Any] = [RandomHorizontalFlip(cfg.flip_p)]
    if cfg.degrees or tuple(cfg.scale) != (1.0, 1.0):
        steps.append(RandomAffine(cfg.degrees, scale=tuple(cfg.scale)))
    steps.append(RandomCrop(None, padding=cfg.crop_padding))
    steps.append(RandomErasing(cfg.erasing_p, scale=tuple(cfg.erasing_scale)))
    return Compose(steps)


class _CleanCurves(Callback):
    """After every validated epoch, record accuracy on the clean training images and the test
    numbers."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def on_epoch_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        if row.get("val_accuracy") is None or row["val_accuracy"] != row["val_accuracy"]:
            return
        clean = trainer.evaluate(trainer.train_data)  # stored tensors, no augmentation
        self.rows.append({"epoch": float(row["epoch"]), "train_accuracy": clean["accuracy"],
                          "train_loss": clean["loss"], "test_accuracy": row["val_accuracy"],
                          "test_loss": row["val_loss"]})


def _train(cfg: Config, train: Any, test: Any, transform: Any, epochs: int, eval_every: int
           ) -> dict[str, Any]:
    torch.manual_seed(cfg.seed)
    model = create(cfg.model)
    if transform is None:
        data = MiniBatches(train, batch_size=cfg.batch_size, seed=cfg.seed)
    else:
        data = AugmentedBatches(train, batch_size=cfg.batch_size, transform=transform,
                                seed=cfg.seed)
    test_batches = MiniBatches(test, batch_size=1000, shuffle=False)
    opt = create_optimizer("adam", model.parameters(), lr=cfg.lr)
    # η_t = η_0·(1 + cos(π t / T)) / 2 over all T steps of the run
    sched = create_schedule("cosine", opt, T_max=epochs * len(data))
    curves = _CleanCurves()
    trainer = Trainer(model, opt, CrossEntropyLoss(), data, test_batches, scheduler=sched,
                      metrics={"accuracy": accuracy}, callbacks=[curves],
                      model_info=model_info(model),
                      config=TrainConfig(epochs=epochs, seed=cfg.seed, device=cfg.device,
                                         progress=False, eval_every=eval_every))
    history = trainer.fit()
    return {"model": model, "history": history, "curves": curves.rows, "final": curves.rows[-1]}


def _example_grid(train: Any, transform: Any, path: Path, seed: int, n_images: int = 6,
                  n_versions: int = 7) -> str:
    x = train.x[:n_images]  # (n, 1, 28, 28)
    fig, axes = subplots(n_images, n_versions + 1,
                         figsize=(1.3 * (n_versions + 1), 1.3 * n_images))
    for v in range(n_versions + 1):
        gen = torch.Generator().manual_seed(seed * 1000 + v)
        shown = x if v == 0 else transform(x, generator=gen)
        for i in range(n_images):
            ax = axes[i, v]
            ax.imshow(shown[i, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0, v].set_title("original" if v == 0 else f"draw {v}", fontsize=8)
    fig.suptitle("training images and random augmented versions", fontsize=10)
    return save_figure(fig, path, dpi=100)


def _curves(results: dict[str, dict[str, Any]], n_train: int, path: Path) -> str:
    fig, axes = subplots(1, 2, figsize=(11, 4))
    colours = {"plain": "tab:red", "augmented": "tab:blue"}
    for name, r in results.items():
        ep = [row["epoch"] for row in r["curves"]]
        c = colours[name]
        axes[0].plot(ep, [row["train_accuracy"] for row in r["curves"]], "--", color=c,
                     label=f"{name}: train (clean images)")
        axes[0].plot(ep, [row["test_accuracy"] for row in r["curves"]], "-o", color=c, ms=3,
                     label=f"{name}: test")
        axes[1].plot(ep, [row["test_loss"] for row in r["curves"]], "-o", color=c, ms=3,
                     label=name)
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("accuracy")
    axes[0].set_title(f"{n_train} training images: the gap")
    axes[0].legend(fontsize=8)
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("test cross-entropy")
    axes[1].set_title("test loss")
    axes[1].legend(fontsize=8)
    return save_figure(fig, path)


def run(cfg: Config, out_dir: Path) -> LessonResult:
    n_train, epochs = cfg.train_size, cfg.epochs
    train = load("fashion-mnist", split="train", limit=n_train)
    test = load("fashion-mnist", split="test", limit=cfg.test_images)
    transform = make_transform(cfg)
    results = {name: _train(cfg, train, test, t, epochs, cfg.eval_every)
               for name, t in (("plain", None), ("augmented", transform))}

    figures = [_example_grid(train, transform, out_dir / "augmentation_examples.png", cfg.seed),
               _curves(results, n_train, out_dir / "augmentation_curves.png")]

    metrics: dict[str, float] = {"train_examples": float(n_train), "epochs": float(epochs)}
    table = []
    for name, r in results.items():
        f = r["final"]
        gap = f["train_accuracy"] - f["test_accuracy"]
        metrics.update({f"{name}_train_accuracy": f["train_accuracy"],
                        f"{name}_test_accuracy": f["test_accuracy"],
                        f"{name}_test_loss": f["test_loss"], f"{name}_gap": gap,
                        f"{name}_best_test_accuracy":
                            max(row["test_accuracy"] for row in r["curves"]),
                        f"{name}_train_seconds":
                            float(sum(row["seconds"] for row in r["history"].rows))})
        table.append({"run": name, "train_accuracy": f["train_accuracy"],
                      "test_accuracy": f["test_accuracy"], "test_loss": f["test_loss"], "gap": gap})
    metrics["test_accuracy_gain"] = (metrics["augmented_test_accuracy"]
                                     - metrics["plain_test_accuracy"])
    aug = results["augmented"]
    return LessonResult(NAME, metrics, figures, aug["history"].rows,
                        claim="augmentation narrows the train/test gap and raises test accuracy",
                        tables={"runs": table, "transform": [{"transform": repr(transform)}]},
                        checkpoint=save_model(aug["model"], out_dir))
