"""Conditional GAN on Fashion-MNIST: ask for a class, get that class.

Claim (notes N6, N5): a DCGAN whose generator reads (z, c) and whose discriminator scores
(x, c) draws the garment it is asked for: our classifier labels the samples of class c as c
most of the time, and the per-class FID sits well above the per-class real floor but far below
the FID of another class's images. As the notes describe, the discriminator can also be shown
real images with a *wrong* label as negatives, so that it must judge whether image and label
fit, not only whether the image is real; the lesson trains with and without those negatives for
the same number of updates and compares the label accuracy of the samples.

Notes: N6 (conditional GAN; wrong-label negatives), N5 (classifier accuracy and FID per class).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from deepnotes.figures import image_grid, save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.models import create
from deepnotes.tasks.gan import train_gan
from deepnotes.tasks.image_features import feature_classifier, fid_images, image_probs
from deepnotes.tasks.image_generation import CLASS_NAMES, draw, load_images
from deepnotes.train.checkpoint import save_model

NAME = "conditional-gan"
SUMMARY = ("conditional DCGAN on Fashion-MNIST: a grid by class, our classifier's accuracy and "
           "FID per class, with and without wrong-label negatives (N6, N5)")
CONCEPTS = ("N5", "N6")


@dataclass
class Config(LessonConfig):
    QUICK: ClassVar[dict[str, Any]] = {
        "train_images": 3000, "updates": 40, "per_class": 100, "classifier_epochs": 1,
        "classifier_images": 3000, "width": 8}

    wrong_label_weights: tuple[float, ...] = (0.0, 1.0)  # weight of the wrong-label negatives
    train_images: int | None = None  # training images (None: all 60,000)
    updates: int = 3000  # generator updates per variant (the equal budget)
    batch_size: int = 64  # real images per discriminator step
    latent_dim: int = 64  # noise size
    width: int = 32  # DCGAN channel base
    method: str = "gan"  # gan | sngan (the GAN losses take wrong-label negatives)
    per_class: int = 1000  # samples per class for accuracy and FID
    classifier_epochs: int = 5  # epochs of the FID classifier (cached under the data home)
    classifier_images: int | None = None  # its training images (None: all 60,000)
    device: str = "cpu"  # cpu | cuda | auto


def _per_class_fid(clf, samples: torch.Tensor, labels: torch.Tensor, real: torch.Tensor,
                   real_labels: torch.Tensor, n: int) -> list[float]:
    return [fid_images(clf, samples[labels == c][:n], real[real_labels == c][:n])
            for c in range(10)]


def _tag(w: float) -> str:
    """Names of a variant's files and metrics: ``no-wrong-labels``, ``wrong-labels-w1``."""
    return "no-wrong-labels" if w == 0 else f"wrong-labels-w{w:g}"


def run(cfg: Config, out_dir: Path) -> LessonResult:
    from deepnotes.errors import ConfigError

    if cfg.method not in ("gan", "minimax", "sngan"):
        raise ConfigError(f"method must be gan, minimax or sngan (the GAN losses, which take "
                          f"wrong-label negatives), got {cfg.method!r}")
    if cfg.per_class < 2 or len(set(cfg.wrong_label_weights)) != len(cfg.wrong_label_weights):
        raise ConfigError(f"per_class must be >= 2 and the wrong-label weights distinct, got "
                          f"{cfg.per_class} and {cfg.wrong_label_weights}")
    if cfg.classifier_images is None:
        clf = feature_classifier(epochs=cfg.classifier_epochs, device="cpu")
    else:
        clf = feature_classifier(out_dir / "fid-classifier.safetensors",
                                 epochs=cfg.classifier_epochs, limit=cfg.classifier_images,
                                 device="cpu")
    x, y = load_images("train", limit=cfg.train_images)
    test, test_y = load_images("test")
    test01 = (test + 1) / 2
    train01 = (x + 1) / 2
    n = cfg.per_class
    # the floor: real training vs real test images of the same class; the ceiling: another class
    floor = _per_class_fid(clf, train01, y, test01, test_y, n)
    other = [fid_images(clf, train01[y == (c + 1) % 10][:n], test01[test_y == c][:n])
             for c in range(10)]
    real_acc = float((image_probs(clf, test01).argmax(1) == test_y).float().mean())

    rows, per_class, history, figures = [], [], [], []
    want = torch.arange(10).repeat_interleave(n)  # the labels asked for
    for w in cfg.wrong_label_weights:
        torch.manual_seed(cfg.seed)
        gen = create("dcgan-generator", latent_dim=cfg.latent_dim, width=cfg.width,
                     num_classes=10)
        disc = create("dcgan-discriminator", width=cfg.width, num_classes=10,
                      norm="none" if cfg.method == "sngan" else "batch",
                      spectral_norm=cfg.method == "sngan")
        r = train_gan(gen, disc, x, y, method=cfg.method, updates=cfg.updates,
                      batch_size=cfg.batch_size, wrong_label_weight=w, seed=cfg.seed,
                      device=cfg.device, log_every=max(1, cfg.updates // 20))
        history += [{"wrong_label_weight": w, **h} for h in r.history]
        gen.cpu()
        samples = draw(gen, len(want), want, seed=cfg.seed + 1)
        got = image_probs(clf, samples).argmax(1)
        acc = [float((got[want == c] == c).float().mean()) for c in range(10)]
        fids = _per_class_fid(clf, samples, want, test01, test_y, n)
        tag = _tag(w)
        save_model(gen, out_dir / "generators" / tag)
        grid = torch.stack([samples[want == c][:10] for c in range(10)]).flatten(0, 1)
        figures.append(image_grid(grid, out_dir / f"cgan_grid_{tag}.png", nrow=10,
                                  title=f"one row per class (wrong-label weight {w:g})",
                                  row_labels=list(CLASS_NAMES)))
        rows.append({"wrong_label_weight": w, "updates": r.updates,
                     "train_seconds": round(r.seconds, 1),
                     "label_accuracy": round(sum(acc) / 10, 4),
                     "mean_class_fid": round(sum(fids) / 10, 3),
                     "mean_floor": round(sum(floor) / 10, 3),
                     "mean_other_class_fid": round(sum(other) / 10, 3)})
        per_class += [{"wrong_label_weight": w, "class": CLASS_NAMES[c],
                       "label_accuracy": round(acc[c], 4), "fid": round(fids[c], 3),
                       "real_floor": round(floor[c], 3), "other_class_fid": round(other[c], 3)}
                      for c in range(10)]

    metrics: dict[str, float] = {"real_test_accuracy": real_acc,
                                 "mean_real_floor": sum(floor) / 10,
                                 "mean_other_class_fid": sum(other) / 10}
    for row in rows:
        key = _tag(row["wrong_label_weight"]).replace("-", "_")
        metrics[f"{key}_label_accuracy"] = row["label_accuracy"]
        metrics[f"{key}_mean_class_fid"] = row["mean_class_fid"]
    fig, ax = subplots(figsize=(9, 3.8))
    width = 0.8 / max(1, len(rows))
    for i, row in enumerate(rows):
        accs = [p["label_accuracy"] for p in per_class
                if p["wrong_label_weight"] == row["wrong_label_weight"]]
        ax.bar([c + i * width for c in range(10)], accs, width,
               label=f"wrong-label weight {row['wrong_label_weight']}")
    ax.set_xticks([c + 0.4 - width / 2 for c in range(10)], CLASS_NAMES, rotation=30,
                  fontsize=8)
    ax.set(ylabel="classifier says the asked class", ylim=(0, 1),
           title=f"Label accuracy of generated images (real test images: {real_acc:.3f})")
    ax.legend(fontsize=8)
    figures.append(save_figure(fig, out_dir / "cgan_label_accuracy.png"))
    claim = ("Asked for a class, the conditional DCGAN draws it: label accuracy "
             + ", ".join(f"{r['label_accuracy']:.3f} with wrong-label weight "
                         f"{r['wrong_label_weight']:g}" for r in rows)
             + f" (real test images {real_acc:.3f}); mean per-class FID "
             + ", ".join(f"{r['mean_class_fid']:.2f}" for r in rows)
             + f" vs real floor {sum(floor) / 10:.2f} and another class's images "
             f"{sum(other) / 10:.2f}.")
    return LessonResult(NAME, metrics, figures, history, claim=claim,
                        tables={"variants": rows, "per_class": per_class},
                        checkpoint=str(out_dir / "generators"))
