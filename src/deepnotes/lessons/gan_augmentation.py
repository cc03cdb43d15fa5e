"""Generated images as data augmentation: does a conditional GAN trained on few images help a
classifier trained on the same few images?

Claim (notes G6, N6): with only 100 labelled Fashion-MNIST images per class, a classifier can
be trained on the real images alone, or on the real images plus images a conditional GAN —
trained on those same 1,000 images — draws for each class. How many generated images to add
is chosen on a validation split (real images the classifier never trains on); the test images
are read once at the end. A third classifier trained on generated images only measures how
much of each class the generator captured (the "classification accuracy score" of Ravuri &
Vinyals, 2019). Whether the generated images help is what the lesson measures; GAN
augmentation is known to help little or not at all when the GAN sees no more data than the
classifier, since it cannot add information the real images lack.

Notes: G6 (augmentation with generated data), N6 (conditional GAN).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from deepnotes.data import ArrayDataset
from deepnotes.errors import ConfigError
from deepnotes.figures import image_grid, save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.metrics import accuracy
from deepnotes.models import create
from deepnotes.tasks.classification import fit_classifier
from deepnotes.tasks.gan import train_gan
from deepnotes.tasks.image_generation import CLASS_NAMES, draw, load_images

NAME = "gan-augmentation"
SUMMARY = ("100 real images per class + conditional-GAN images vs the real images alone: test "
           "accuracy, the amount chosen on validation (G6, N6)")
CONCEPTS = ("G6", "N6")


@dataclass
class Config(LessonConfig):
    QUICK: ClassVar[dict[str, Any]] = {
        "per_class": 20, "val_per_class": 20, "gan_updates": 30, "width": 8,
        "extra_per_class": (20,), "epochs": 2, "test_images": 1000}

    per_class: int = 100  # real labelled training images per class
    val_per_class: int = 100  # real validation images per class (choices only)
    gan_updates: int = 3000  # conditional-GAN generator updates (on the real training images)
    width: int = 32  # DCGAN channel base
    latent_dim: int = 64  # noise size
    wrong_label_weight: float = 1.0  # real images with a wrong label as negatives (N6)
    extra_per_class: tuple[int, ...] = (100, 300, 1000)  # generated images per class, tried
    epochs: int = 30  # classifier epochs (lenet-modern, Adam)
    lr: float = 2e-3  # classifier learning rate
    batch_size: int = 64  # classifier batch size
    test_images: int | None = None  # test images (None: all 10,000)
    device: str = "cpu"  # cpu | cuda | auto


def _subset(x: torch.Tensor, y: torch.Tensor, per_class: int, skip: int,
            g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` images of each class, after the first ``skip`` of a seeded shuffle."""
    keep = []
    for c in range(10):
        idx = torch.nonzero(y == c).squeeze(1)
        idx = idx[torch.randperm(len(idx), generator=g)]
        keep.append(idx[skip:skip + per_class])
    k = torch.cat(keep)
    return x[k], y[k]


def _classifier(cfg: Config, x: torch.Tensor, y: torch.Tensor, val: ArrayDataset,
                test: ArrayDataset) -> tuple[float, float]:
    """Train lenet-modern on (x, y) in [0, 1]; its validation and test accuracy."""
    torch.manual_seed(cfg.seed)
    model = create("lenet-modern")
    fit = fit_classifier(model, ArrayDataset(x, y, name="train", task="classification"), val,
                         optimizer="adam", lr=cfg.lr, epochs=cfg.epochs,
                         batch_size=cfg.batch_size, seed=cfg.seed, progress=False,
                         device=cfg.device)
    model = fit.model.cpu().eval()
    with torch.no_grad():
        test_acc = float(accuracy(model(test.x), test.y))
    return float(fit.test["accuracy"]), test_acc


def run(cfg: Config, out_dir: Path) -> LessonResult:
    if cfg.per_class < 1 or cfg.val_per_class < 1 or not cfg.extra_per_class:
        raise ConfigError(f"per_class and val_per_class must be >= 1 and extra_per_class "
                          f"non-empty, got {cfg.per_class}, {cfg.val_per_class}, "
                          f"{cfg.extra_per_class}")
    x_all, y_all = load_images("train")
    g = torch.Generator().manual_seed(cfg.seed)
    x_tr, y_tr = _subset(x_all, y_all, cfg.per_class, 0, g)  # [-1, 1] for the GAN
    g = torch.Generator().manual_seed(cfg.seed)
    x_va, y_va = _subset(x_all, y_all, cfg.val_per_class, cfg.per_class, g)
    val = ArrayDataset((x_va + 1) / 2, y_va, name="validation", task="classification")
    x_te, y_te = load_images("test", limit=cfg.test_images)
    test = ArrayDataset((x_te + 1) / 2, y_te, name="test", task="classification")
    real01 = (x_tr + 1) / 2

    # a conditional GAN on the same real images the classifier gets
    torch.manual_seed(cfg.seed)
    gen = create("dcgan-generator", latent_dim=cfg.latent_dim, width=cfg.width, num_classes=10)
    disc = create("dcgan-discriminator", width=cfg.width, num_classes=10)
    r = train_gan(gen, disc, x_tr, y_tr, updates=cfg.gan_updates, batch_size=min(64, len(x_tr)),
                  wrong_label_weight=cfg.wrong_label_weight, seed=cfg.seed, device=cfg.device,
                  log_every=max(1, cfg.gan_updates // 20))
    gen.cpu()
    most = max(cfg.extra_per_class)
    want = torch.arange(10).repeat_interleave(most)
    fake = draw(gen, len(want), want, seed=cfg.seed + 1)  # (10·most, 1, 28, 28) in [0, 1]

    rows = []
    val_acc, test_acc = _classifier(cfg, real01, y_tr, val, test)
    rows.append({"training set": "real only", "generated_per_class": 0,
                 "images": len(real01), "val_accuracy": round(val_acc, 4),
                 "test_accuracy": round(test_acc, 4)})
    for k in cfg.extra_per_class:
        pick = torch.cat([torch.nonzero(want == c).squeeze(1)[:k] for c in range(10)])
        x = torch.cat([real01, fake[pick]])
        y = torch.cat([y_tr, want[pick]])
        va, te = _classifier(cfg, x, y, val, test)
        rows.append({"training set": "real + generated", "generated_per_class": k,
                     "images": len(x), "val_accuracy": round(va, 4),
                     "test_accuracy": round(te, 4)})
    # the generator alone: a classifier trained on its images, tested on real ones
    pick = torch.cat([torch.nonzero(want == c).squeeze(1)[:cfg.per_class] for c in range(10)])
    va, te = _classifier(cfg, fake[pick], want[pick], val, test)
    rows.append({"training set": "generated only", "generated_per_class": cfg.per_class,
                 "images": len(pick), "val_accuracy": round(va, 4), "test_accuracy": round(te, 4)})

    augmented = [row for row in rows if row["training set"] == "real + generated"]
    best = max(augmented, key=lambda row: row["val_accuracy"])  # chosen on validation
    metrics = {"real_only_test_accuracy": rows[0]["test_accuracy"],
               "real_only_val_accuracy": rows[0]["val_accuracy"],
               "augmented_test_accuracy": best["test_accuracy"],
               "augmented_val_accuracy": best["val_accuracy"],
               "chosen_generated_per_class": float(best["generated_per_class"]),
               "generated_only_test_accuracy": rows[-1]["test_accuracy"],
               "gain": best["test_accuracy"] - rows[0]["test_accuracy"],
               "gan_updates": float(r.updates), "gan_seconds": r.seconds}
    grid = torch.stack([fake[want == c][:10] for c in range(10)]).flatten(0, 1)
    figures = [image_grid(grid, out_dir / "gan_augmentation_samples.png", nrow=10,
                          title=f"generated training images (cGAN on {cfg.per_class} per class)",
                          row_labels=list(CLASS_NAMES))]
    fig, ax = subplots(figsize=(6, 3.8))
    ks = [0] + [row["generated_per_class"] for row in augmented]
    ax.plot(ks, [rows[0]["val_accuracy"]] + [row["val_accuracy"] for row in augmented], "o-",
            label="validation")
    ax.plot(ks, [rows[0]["test_accuracy"]] + [row["test_accuracy"] for row in augmented], "s--",
            label="test")
    ax.axhline(rows[-1]["test_accuracy"], color="grey", ls=":",
               label=f"generated only (test) {rows[-1]['test_accuracy']:.3f}")
    ax.set(xlabel="generated images added per class", ylabel="accuracy",
           title=f"{cfg.per_class} real images per class + cGAN images")
    ax.legend(fontsize=8)
    figures.append(save_figure(fig, out_dir / "gan_augmentation_accuracy.png"))
    claim = (f"With {cfg.per_class} real images per class, test accuracy "
             f"{metrics['real_only_test_accuracy']:.3f} from the real images alone vs "
             f"{metrics['augmented_test_accuracy']:.3f} with "
             f"{best['generated_per_class']} cGAN images per class added (chosen on validation; "
             f"gain {metrics['gain']:+.3f}); a classifier trained on generated images only "
             f"reaches {metrics['generated_only_test_accuracy']:.3f} on real test images.")
    return LessonResult(NAME, metrics, figures, r.history, claim=claim,
                        tables={"training_sets": rows})
