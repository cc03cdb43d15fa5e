"""SGD, momentum, Adagrad, RMSProp and Adam on the same network and data, curves in one plot.

Claim (notes O3–O6; d2l 12.6–12.10): with every optimizer given the same initial weights, data
order and number of steps, momentum (which accumulates past gradients into a velocity) and the
adaptive methods (Adagrad's per-parameter σ from all past gradients, RMSProp's exponentially
weighted σ, Adam = RMSProp + momentum with bias correction) drive the training loss down faster
than plain SGD at its usual learning rate. Data: Fashion-MNIST; model: MLP 784-256-10.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deepnotes.data import load
from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.models import create
from deepnotes.tasks.classification import fit_classifier
from deepnotes.train import Callback
from deepnotes.train.checkpoint import save_model

NAME = "optimizers"
SUMMARY = "SGD vs momentum vs Adagrad vs RMSProp vs Adam on Fashion-MNIST, one plot (O3–O6)"
CONCEPTS = ("O3", "O4", "O5", "O6")

# name -> (registered optimizer, learning rate, other arguments): each method at customary
# settings (RMSProp's α = 0.9 as in d2l 12.8; torch's default 0.99 makes the first steps large
# because the running mean of g² starts at 0).
SETTINGS = {
    "SGD": ("sgd", 0.05, {}),
    "momentum (β=0.9)": ("momentum", 0.05, {}),
    "Adagrad": ("adagrad", 0.05, {}),
    "RMSProp (α=0.9)": ("rmsprop", 1e-3, {"alpha": 0.9}),
    "Adam": ("adam", 1e-3, {}),
}


@dataclass
class Config(LessonConfig):
    QUICK = {"train_size": 5000, "test_images": 2000, "epochs": 2}

    train_size: int = 60000  # training images
    test_images: int | None = None  # test images (None: all 10,000)
    epochs: int = 5  # epochs for every optimizer
    batch_size: int = 128  # minibatch size


class StepLosses(Callback):
    """Records the training loss after every optimizer step."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_step_end(self, trainer, step, loss) -> None:
        self.losses.append(float(loss))


def run(cfg: Config, out_dir: Path) -> LessonResult:
    epochs = cfg.epochs
    train = load("fashion-mnist", split="train", limit=cfg.train_size)
    test = load("fashion-mnist", split="test", limit=cfg.test_images)
    rows, curves, fitted = [], {}, {}
    for label, (opt, lr, kwargs) in SETTINGS.items():
        model = create("mlp", in_features=784, hidden=(256,), num_classes=10)
        rec = StepLosses()
        fit = fit_classifier(model, train, test, optimizer=opt, lr=lr, epochs=epochs,
                             batch_size=cfg.batch_size, seed=cfg.seed, progress=False,
                             callbacks=(rec,), optimizer_kwargs=kwargs)
        full_train = fit.trainer.evaluate(fit.trainer.train_data)
        curves[label] = rec.losses
        fitted[opt] = fit.model
        rows.append({"optimizer": label, "lr": lr, "final_train_loss": full_train["loss"],
                     "test_accuracy": fit.test["accuracy"],
                     "seconds": sum(r["seconds"] for r in fit.history.rows)})

    fig, ax = subplots(figsize=(7, 4.5))
    for label, losses in curves.items():
        k = max(1, len(losses) // 200)  # smooth: mean over windows of k steps
        smooth = [sum(losses[i:i + k]) / len(losses[i:i + k]) for i in range(0, len(losses), k)]
        ax.plot([i * k for i in range(len(smooth))], smooth, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (minibatch)")
    ax.set_title(f"Fashion-MNIST MLP, {len(train)} images, {epochs} epochs")
    ax.legend()
    path = save_figure(fig, out_dir / "optimizers.png")

    by = {r["optimizer"].split(" ")[0].lower(): r for r in rows}
    metrics = {f"{k}_train_loss": r["final_train_loss"] for k, r in by.items()}
    metrics.update({f"{k}_test_accuracy": r["test_accuracy"] for k, r in by.items()})
    return LessonResult(NAME, metrics, [path], [], tables={"optimizers": rows},
                        claim="momentum and the adaptive methods reach a lower training loss than "
                              "plain SGD in the same steps",
                        checkpoint=save_model(fitted["adam"], out_dir))

