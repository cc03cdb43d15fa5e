"""Dropout against overfitting, and dropout at test time as an uncertainty estimate.

Claim (notes G5; d2l 4.6): when a wide MLP is trained long on few examples it overfits; inverted
dropout (zero each hidden unit with probability p during training, scale the survivors by
1/(1−p), do nothing at test time) narrows the gap between training and test accuracy and lowers the
test loss (full mode: test cross-entropy 1.28 → 0.92; accuracy is a tie, 0.807 both). Kept on at
test time (MC dropout), the spread of T stochastic predictions is an uncertainty estimate: the
model is less certain (higher predictive entropy) on the examples it gets wrong than on those it
gets right.

Data: 1,000 Fashion-MNIST training images (full training set is 60,000), the 10,000 test images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from deepnotes.data import load
from deepnotes.figures import save_figure, subplots
from deepnotes.functional import softmax
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.models import create
from deepnotes.tasks.classification import fit_classifier
from deepnotes.train.checkpoint import save_model

NAME = "dropout"
SUMMARY = ("dropout narrows the train/test gap on a small training set; MC dropout flags likely "
           "errors (G5)")
CONCEPTS = ("G1", "G5")


@dataclass
class Config(LessonConfig):
    QUICK = {"train_size": 500, "test_images": 2000, "epochs": 40, "mc_samples": 10}

    train_size: int = 1000  # training images (few, to overfit)
    test_images: int | None = None  # test images (None: all 10,000)
    hidden: tuple[int, ...] = (512, 512)  # wide hidden layers
    p: float = 0.5  # dropout probability
    epochs: int = 100  # epochs (long, to overfit)
    lr: float = 1e-3  # Adam learning rate
    mc_samples: int = 30  # stochastic forward passes for MC dropout


@torch.no_grad()
def mc_dropout_predict(model: torch.nn.Module, x: torch.Tensor, samples: int) -> torch.Tensor:
    r"""Average of ``samples`` softmax outputs with dropout kept on (MC dropout).

    .. math:: \bar p(y|x) = \frac1T\sum_{t=1}^T \mathrm{softmax}(f(x; \text{mask}_t))

    Returns ``(samples, N, C)`` probabilities.
    """
    was_training = model.training
    model.train()
    probs = torch.stack([softmax(model(x), dim=-1) for _ in range(samples)])  # (T, N, C)
    model.train(was_training)
    return probs


def run(cfg: Config, out_dir: Path) -> LessonResult:
    n_train = cfg.train_size
    train = load("fashion-mnist", split="train", limit=n_train)
    test = load("fashion-mnist", split="test", limit=cfg.test_images)
    results = {}
    for name, p in (("plain", 0.0), ("dropout", cfg.p)):
        model = create("mlp", in_features=784, hidden=cfg.hidden, num_classes=10, dropout=p)
        fit = fit_classifier(model, train, test, optimizer="adam", lr=cfg.lr, epochs=cfg.epochs,
                             batch_size=128, seed=cfg.seed, progress=False)
        train_eval = fit.trainer.evaluate(fit.trainer.train_data)  # eval mode: dropout off
        results[name] = {"model": model, "history": fit.history, "test": fit.test,
                         "train": train_eval}

    # MC dropout on the dropout model: entropy of the mean prediction, correct vs wrong.
    model = results["dropout"]["model"].cpu()
    x, y = test.x, test.y
    probs = mc_dropout_predict(model, x, cfg.mc_samples)  # (T, N, C)
    mean = probs.mean(0)  # (N, C)
    # H[p̄] = -Σ_c p̄_c log p̄_c
    entropy = -(mean * mean.clamp_min(1e-12).log()).sum(-1)  # (N,)
    correct = mean.argmax(-1) == y
    mc_acc = correct.float().mean().item()
    h_right = entropy[correct].mean().item()
    h_wrong = entropy[~correct].mean().item()

    fig, axes = subplots(1, 2, figsize=(10, 4))
    for name, r in results.items():
        axes[0].plot(r["history"].column("train_accuracy"), label=f"{name} train")
        axes[0].plot(r["history"].column("val_accuracy"), "--", label=f"{name} test")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("accuracy")
    axes[0].set_title(f"{n_train} training images, hidden {cfg.hidden}")
    axes[0].legend(fontsize=8)
    axes[1].hist(entropy[correct].numpy(), bins=40, alpha=0.6, density=True, label="correct")
    axes[1].hist(entropy[~correct].numpy(), bins=40, alpha=0.6, density=True, label="wrong")
    axes[1].set_xlabel("predictive entropy (MC dropout)")
    axes[1].set_title("uncertainty vs error")
    axes[1].legend()
    path = save_figure(fig, out_dir / "dropout.png")

    plain, drop = results["plain"], results["dropout"]
    metrics = {
        "plain_train_accuracy": plain["train"]["accuracy"],
        "plain_test_accuracy": plain["test"]["accuracy"],
        "plain_test_loss": plain["test"]["loss"],
        "dropout_train_accuracy": drop["train"]["accuracy"],
        "dropout_test_accuracy": drop["test"]["accuracy"],
        "dropout_test_loss": drop["test"]["loss"],
        "plain_gap": plain["train"]["accuracy"] - plain["test"]["accuracy"],
        "dropout_gap": drop["train"]["accuracy"] - drop["test"]["accuracy"],
        "mc_dropout_test_accuracy": mc_acc,
        "mc_entropy_correct": h_right,
        "mc_entropy_wrong": h_wrong,
    }
    return LessonResult(NAME, metrics, [path], drop["history"].rows,
                        claim="dropout narrows the train/test gap and MC-dropout entropy is higher "
                              "on errors",
                        checkpoint=save_model(drop["model"], out_dir))
