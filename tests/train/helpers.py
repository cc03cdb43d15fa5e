"""Tiny problems and builders shared by the Trainer tests (seconds on a CPU)."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from deepnotes.data import MiniBatches
from deepnotes.metrics import accuracy
from deepnotes.train import TrainConfig, Trainer


def classification_data(n: int = 40, d: int = 5, classes: int = 3, seed: int = 1
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Separable-ish blobs: labels come from a fixed random linear map of the inputs."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    w = torch.randn(d, classes, generator=g)
    return x, (x @ w).argmax(dim=1)


def regression_data(n: int = 64, seed: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    y = x @ torch.tensor([1.5, -2.0, 0.5]) + 0.3
    return x, y


def dropout_mlp(d: int = 5, classes: int = 3, seed: int = 0) -> nn.Module:
    """An MLP with dropout; the same ``seed`` gives the same initial weights."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, classes))


def params_equal(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def classifier_trainer(make_optimizer: Callable[[nn.Module], torch.optim.Optimizer],
                       make_scheduler: Callable[[torch.optim.Optimizer], Any] | None = None,
                       *, batch_size: int = 8, **config: Any) -> Trainer:
    """A fresh Trainer (new model, optimizer, schedule, loaders) on the blob problem."""
    x, y = classification_data()
    model = dropout_mlp()
    opt = make_optimizer(model)
    sched = make_scheduler(opt) if make_scheduler is not None else None
    config.setdefault("progress", False)
    config.setdefault("device", "cpu")
    return Trainer(model, opt, nn.functional.cross_entropy,
                   MiniBatches((x, y), batch_size=batch_size, seed=3),
                   MiniBatches((x[:16], y[:16]), batch_size=8, shuffle=False),
                   scheduler=sched, metrics={"accuracy": accuracy},
                   config=TrainConfig(**config))
