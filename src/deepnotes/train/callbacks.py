"""Hooks into the Trainer's loop: record per-step losses, stop early, anything a lesson needs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deepnotes.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from deepnotes.train.trainer import Trainer

__all__ = ["Callback", "EarlyStopping", "StepRecorder", "TensorBoardLogger"]


class Callback:
    """Base class; override any of the hooks. Set ``trainer.should_stop = True`` to stop."""

    def on_fit_start(self, trainer: Trainer) -> None:
        """Before the first step (also after a resume)."""

    def on_epoch_start(self, trainer: Trainer) -> None:
        """Before the first step of each epoch (``trainer.epoch`` epochs are done)."""

    def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
        """After each optimizer step; ``step`` counts from 1, ``loss`` is the minibatch loss
        (a detached 0-dim tensor: ``float(loss)`` syncs a GPU) and ``trainer.last_lr`` the
        learning rate that step used."""

    def on_epoch_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        """After each epoch's row (train and validation numbers) is in the history; ``row`` is
        the stored row, so a callback may add columns to it (e.g. a validation perplexity)."""

    def on_fit_end(self, trainer: Trainer) -> None:
        """After the last epoch (or an early stop)."""

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs to carry on as if it never stopped (JSON-able; default none)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


class StepRecorder(Callback):
    """Keeps the minibatch loss of every step and the learning rate that step used."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.lrs: list[float] = []

    def on_step_end(self, trainer: Trainer, step: int, loss: float) -> None:
        self.losses.append(float(loss))
        self.lrs.append(float(trainer.last_lr))


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs (G3).

    Example:
        >>> stop = EarlyStopping("val_loss", patience=3)
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, mode: str = "min",
                 min_delta: float = 0.0) -> None:
        if mode not in ("min", "max"):
            raise ConfigError(f"EarlyStopping mode must be 'min' or 'max', got {mode!r}")
        if patience < 1:
            raise ConfigError(f"EarlyStopping patience must be >= 1, got {patience}")
        self.monitor, self.patience, self.mode, self.min_delta = monitor, patience, mode, min_delta
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = 0
        self.bad_epochs = 0

    def on_epoch_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        if self.monitor not in row:
            raise ConfigError(f"EarlyStopping monitors {self.monitor!r} but the epoch row has only "
                              f"{', '.join(row)}; pass validation data or monitor another column")
        value = float(row[self.monitor])
        better = (value < self.best - self.min_delta if self.mode == "min"
                  else value > self.best + self.min_delta)
        if better:
            self.best, self.best_epoch, self.bad_epochs = value, int(row["epoch"]), 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs >= self.patience:
                trainer.should_stop = True

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = float(state["best"])
        self.best_epoch, self.bad_epochs = int(state["best_epoch"]), int(state["bad_epochs"])


class TensorBoardLogger(Callback):
    """Write the run to TensorBoard event files in ``log_dir`` (``tensorboard --logdir DIR``).

    Every ``every_steps`` steps the minibatch loss and learning rate (``step/loss``,
    ``step/lr``); after each epoch every number of its row (``epoch/train_loss``,
    ``epoch/val_accuracy``, ...). Needs the ``tensorboard`` package (``pip install
    tensorboard``); only rank 0 writes under ``torchrun``.

    Example:
        >>> logger = TensorBoardLogger("runs/a/tensorboard")   # doctest: +SKIP
        >>> Trainer(..., callbacks=[logger]).fit()              # doctest: +SKIP
    """

    def __init__(self, log_dir: str | Path, every_steps: int = 10) -> None:
        if not isinstance(every_steps, int) or every_steps < 1:
            raise ConfigError(f"every_steps must be a positive integer, got {every_steps!r}")
        try:
            from torch.utils.tensorboard import SummaryWriter  # noqa: F401
        except ImportError:
            raise ConfigError("TensorBoard logging needs the tensorboard package: "
                              "`pip install tensorboard` (or `pip install 'deepnotes[tensorboard]'`)"
                              ) from None
        self.log_dir, self.every_steps = Path(log_dir), every_steps
        self.writer: Any = None

    def _open(self) -> Any:
        from torch.utils.tensorboard import SummaryWriter

        from deepnotes.runtime import is_main_process

        if self.writer is None and is_main_process():
            self.writer = SummaryWriter(str(self.log_dir))
        return self.writer

    def on_fit_start(self, trainer: Trainer) -> None:
        self._open()

    def on_step_end(self, trainer: Trainer, step: int, loss: Any) -> None:
        if self.writer is not None and step % self.every_steps == 0:
            self.writer.add_scalar("step/loss", float(loss), step)
            self.writer.add_scalar("step/lr", float(trainer.last_lr), step)

    def on_epoch_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        if self.writer is None:
            return
        for key, value in row.items():
            if key not in ("epoch", "step") and isinstance(value, (int, float)) \
                    and not isinstance(value, bool) and math.isfinite(value):
                self.writer.add_scalar(f"epoch/{key}", float(value), int(row["epoch"]))
        self.writer.flush()

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
