"""Softmax regression on Fashion-MNIST.

Claim (notes B7, B8; d2l 3.6/3.7): a single linear layer with softmax, trained by minibatch SGD
on cross-entropy, classifies Fashion-MNIST clothing images with about 0.83 test accuracy after
10 epochs (the d2l book's figure). Full mode: 10 epochs, batch 256, SGD lr 0.1 with momentum 0.9.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deepnotes.data import load
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.models import create
from deepnotes.tasks.classification import fit_classifier, fit_metrics

NAME = "softmax-regression"
SUMMARY = "softmax regression on Fashion-MNIST, ≈0.83 test accuracy in 10 epochs (B7, B8)"
CONCEPTS = ("B3", "B7", "B8", "B1")  # B1: a classification task


@dataclass
class Config(LessonConfig):
    QUICK = {"train_images": 5000, "test_images": 2000, "epochs": 2}

    train_images: int | None = None  # training images (None: all 60,000)
    test_images: int | None = None  # test images (None: all 10,000)
    epochs: int = 10  # passes over the training images
    batch_size: int = 256  # minibatch size
    optimizer: str = "momentum"  # sgd | momentum | adagrad | rmsprop | adam | adamw
    lr: float = 0.1  # learning rate
    device: str = "auto"  # cpu | cuda | auto
    progress: bool | None = None  # progress bar (None: only on a terminal)


def run(cfg: Config, out_dir: Path) -> LessonResult:
    train = load("fashion-mnist", split="train", limit=cfg.train_images)
    test = load("fashion-mnist", split="test", limit=cfg.test_images)
    model = create("softmax-regression", in_features=784, num_classes=10)
    fit = fit_classifier(model, train, test, optimizer=cfg.optimizer, lr=cfg.lr,
                         epochs=cfg.epochs, batch_size=cfg.batch_size, seed=cfg.seed,
                         out_dir=out_dir, progress=cfg.progress, device=cfg.device)
    metrics = fit_metrics(fit, len(train))
    figures = [str(p) for p in fit.history.plot(out_dir)]
    return LessonResult(NAME, metrics, figures, fit.history.rows,
                        claim="softmax regression reaches ≈0.83 test accuracy on Fashion-MNIST "
                              "in 10 epochs (d2l: ≈0.83)",
                        checkpoint=str(out_dir / "checkpoint.safetensors"))
