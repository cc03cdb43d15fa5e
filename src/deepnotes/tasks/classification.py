"""The classification (and regression) task on the Trainer: fit a model, observe a held-out set,
report the numbers every classification lesson shows.

:func:`fit_model` trains any model with any loss on ``(x, y)`` minibatches (weight decay on
weight matrices only), evaluating a held-out set after each epoch without choosing anything on
it; :func:`fit_classifier` is that with cross-entropy and accuracy.

Notes: B7, B8, G4.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from deepnotes.data import MiniBatches
from deepnotes.metrics import accuracy
from deepnotes.models import model_info
from deepnotes.nn import CrossEntropyLoss
from deepnotes.optim import CosineAnnealingLR, create_optimizer
from deepnotes.train import History, TrainConfig, Trainer

__all__ = ["Fit", "cosine_over", "fit_classifier", "fit_metrics", "fit_model"]


@dataclass
class Fit:
    """A trained classifier and what was measured on it."""

    model: nn.Module
    history: History
    trainer: Trainer
    test: dict[str, float]


def fit_model(model: nn.Module, loss_fn: Any, train_ds: Any, test_ds: Any | None, *,
              metrics: dict[str, Any] | None = None, optimizer: str = "sgd", lr: float = 0.1,
              epochs: int = 10, batch_size: int = 256, seed: int = 0, weight_decay: float = 0.0,
              out_dir: Path | None = None, progress: bool | None = None, device: str = "auto",
              optimizer_kwargs: dict[str, Any] | None = None, scheduler_factory: Any = None,
              eval_batch_size: int = 1024, callbacks: tuple = ()) -> Fit:
    """Train ``model`` on ``train_ds`` with ``loss_fn``; evaluate on ``test_ds`` after each epoch.

    The held-out set is only observed (never used to choose anything inside the function), so a
    lesson may report it as its test score.
    """
    torch.manual_seed(seed)
    train_loader = MiniBatches(train_ds, batch_size=batch_size, shuffle=True, seed=seed)
    test_loader = (MiniBatches(test_ds, batch_size=eval_batch_size, shuffle=False)
                   if test_ds is not None else None)
    # L2 on weight matrices only: biases are not decayed (as in d2l's weight-decay chapter).
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    opt = create_optimizer(optimizer, [g for g in groups if g["params"]], lr=lr,
                           **(optimizer_kwargs or {}))
    scheduler = scheduler_factory(opt) if scheduler_factory is not None else None
    cfg = TrainConfig(epochs=epochs, seed=seed, device=device, progress=progress,
                      out_dir=str(out_dir) if out_dir is not None else None)
    trainer = Trainer(model, opt, loss_fn, train_loader, test_loader, scheduler=scheduler,
                      metrics=metrics or {}, config=cfg, model_info=model_info(model),
                      callbacks=callbacks)
    history = trainer.fit()
    test = trainer.evaluate(test_loader) if test_loader is not None else {}
    return Fit(model, history, trainer, test)


def fit_classifier(model: nn.Module, train_ds: Any, test_ds: Any | None, **kwargs: Any) -> Fit:
    """:func:`fit_model` with cross-entropy loss and accuracy (kwargs as there)."""
    return fit_model(model, CrossEntropyLoss(), train_ds, test_ds,
                     metrics={"accuracy": accuracy}, **kwargs)


def fit_metrics(fit: Fit, n_train: int) -> dict[str, float]:
    """The numbers every classification lesson reports about its main run."""
    last = fit.history.last()
    return {
        "test_accuracy": fit.test["accuracy"],
        "test_loss": fit.test["loss"],
        "train_accuracy": last["train_accuracy"],
        "train_loss": last["train_loss"],
        "epochs": float(len(fit.history.rows)),
        "train_examples": float(n_train),
        "parameters": float(sum(p.numel() for p in fit.model.parameters())),
        "train_seconds": float(sum(r["seconds"] for r in fit.history.rows)),
    }


def cosine_over(epochs: int, steps_per_epoch: int):
    """A ``scheduler_factory``: cosine decay from the optimizer's lr to 0 over the whole run."""
    return lambda opt: CosineAnnealingLR(opt, T_max=max(1, epochs * steps_per_epoch))
