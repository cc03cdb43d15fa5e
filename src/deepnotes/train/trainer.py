"""The Trainer: one loop for every model — minibatch steps, metrics, checkpoints, resume.

One optimisation step on a minibatch :math:`\\mathcal B` (B4, B8):

.. math::
    L_{\\mathcal B}(\\theta) = \\frac{1}{|\\mathcal B|}\\sum_{i\\in\\mathcal B} \\ell(f_\\theta(x_i), y_i),
    \\qquad \\theta \\leftarrow \\text{optimizer}(\\theta, \\nabla_\\theta L_{\\mathcal B})

An *epoch* runs over all minibatches once; after each epoch the Trainer records the mean
training loss and metrics (weighted by batch size), evaluates the validation data, writes a row
of ``metrics.csv``, and (with ``out_dir``) saves a checkpoint from which :meth:`Trainer.fit`
with ``resume=`` continues to exactly the numbers an uninterrupted run gives: model,
optimizer, schedule, data order and every random generator are restored.

Started by ``torchrun`` (``WORLD_SIZE > 1``) the Trainer trains data-parallel
(:mod:`deepnotes.train.distributed`): it joins the process group (gloo on the CPU, NCCL on
CUDA), wraps the training step in DistributedDataParallel, gives each rank its slice of every
global batch of a :class:`MiniBatches` (other loaders run the same batches on every rank:
correct, but no faster), sums losses, metrics and counts over the ranks, and writes
checkpoints, ``metrics.csv`` and figures from rank 0 only. ``W`` processes with a global batch
``B`` take the steps one process takes with batch ``B``. Every rank must call :meth:`fit`,
:meth:`evaluate` and :meth:`save_checkpoint` (they communicate). Each rank seeds its
generators with ``seed + rank`` (different dropout masks per rank), and checkpoints keep every
rank's generator states, so a resumed run repeats the uninterrupted one. BatchNorm
normalises each rank's slice (its running statistics are rank 0's), so a BatchNorm model's
steps differ a little from one process's. A model whose parameters are not all used in every
step needs a loss step that touches them (DDP waits for a gradient of every parameter).

``precision="bf16"``/``"fp16"`` runs the forward pass and loss under autocast and
``compile=True`` runs the model through ``torch.compile`` (:mod:`deepnotes.train.precision`).

Example:
    >>> import torch
    >>> from deepnotes.data import MiniBatches
    >>> from deepnotes.optim import SGD
    >>> x = torch.randn(64, 3); y = x @ torch.tensor([1.0, -2.0, 0.5])
    >>> model = torch.nn.Linear(3, 1)
    >>> trainer = Trainer(model, SGD(model.parameters(), lr=0.1),
    ...                   lambda out, t: ((out.squeeze(1) - t) ** 2).mean(),
    ...                   MiniBatches((x, y), batch_size=16), config=TrainConfig(epochs=20))
    >>> trainer.fit().last()["train_loss"] < 1e-3
    True

Notes: B4, B8 (minibatch training), B11 (devices, saving), O7 (schedules), O11 (clipping).
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import Tensor, nn

from deepnotes.data.loader import MiniBatches
from deepnotes.errors import CheckpointError, ConfigError, NonFiniteLossError, TrainingWarning
from deepnotes.functional.clip import clip_grad_norm_, grad_norm
from deepnotes.runtime import resolve_device, seed_everything
from deepnotes.train import distributed
from deepnotes.train.callbacks import Callback
from deepnotes.train.checkpoint import (
    checkpoint_paths,
    get_rng_state,
    load_checkpoint,
    save_checkpoint,
    set_rng_state,
)
from deepnotes.train.history import History
from deepnotes.train.precision import (
    PRECISIONS,
    autocast,
    check_precision,
    compile_model,
    grad_scaler,
)

__all__ = ["DIVERGENCE_FACTOR", "TrainConfig", "Trainer", "default_loss_step"]

#: an epoch's mean loss this many times the first step's loss triggers a divergence warning
DIVERGENCE_FACTOR = 100.0

Batch = Sequence[Tensor]
#: ``loss_step(model, loss_fn, batch) -> (loss, outputs, targets)``; outputs/targets feed the
#: metrics (``None`` skips them for the batch).
LossStep = Callable[[nn.Module, Callable[..., Tensor], Batch], tuple[Tensor, Any, Any]]


@dataclass
class TrainConfig:
    """How to train (not what): epochs, devices, clipping, output.

    Attributes:
        epochs: passes over the training data (with ``max_steps``: an upper bound).
        max_steps: stop after this many optimizer steps (``None``: no limit).
        grad_clip: clip the global gradient norm to this value (O11); ``None``: no clipping.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        seed: seeds Python, NumPy and torch at the start of a fresh ``fit``.
        scheduler_interval: step the schedule after every ``"step"`` or every ``"epoch"``.
        progress: progress bar with loss, throughput and ETA; ``None``: only on a terminal.
        out_dir: folder for ``metrics.csv``, curves and checkpoints (``None``: keep in memory).
        checkpoint_every: save a checkpoint every this many epochs (0: only at the end).
        eval_every: validate every this many epochs (the last epoch is always validated).
        log_grad_norm: compute the global gradient norm every step even without clipping
            (``trainer.last_grad_norm``, the row's ``grad_norm``); clipping always computes it.
        on_nonfinite: a NaN/inf loss (or gradient norm, when computed) ``"raise"``
            :class:`~deepnotes.errors.NonFiniteLossError` (default) or ``"stop"`` training
            before the bad step changes the weights (``trainer.diverged`` becomes ``True``).
        precision: ``"32"`` (float32), ``"bf16"`` (bfloat16 autocast; CPU or a recent GPU)
            or ``"fp16"`` (float16 autocast with loss scaling; CUDA only, a ConfigError on
            the CPU). Weights and optimizer state stay float32.
        compile: run the model through ``torch.compile`` (the first steps, the first
            evaluation and the last, smaller batch pay the compile time).
    """

    epochs: int = 10
    max_steps: int | None = None
    grad_clip: float | None = None
    device: str = "auto"
    seed: int = 0
    scheduler_interval: str = "step"
    progress: bool | None = None
    out_dir: str | None = None
    checkpoint_every: int = 1
    eval_every: int = 1
    log_grad_norm: bool = False
    on_nonfinite: str = "raise"
    precision: str = "32"
    compile: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ConfigError(f"epochs must be a positive integer, got {self.epochs!r}")
        if self.max_steps is not None and (not isinstance(self.max_steps, int) or self.max_steps < 1):
            raise ConfigError(f"max_steps must be a positive integer or None, got {self.max_steps!r}")
        if self.grad_clip is not None and not (self.grad_clip > 0 and math.isfinite(self.grad_clip)):
            raise ConfigError(f"grad_clip must be a positive number or None, got {self.grad_clip!r}")
        if self.scheduler_interval not in ("step", "epoch"):
            raise ConfigError(f"scheduler_interval must be 'step' or 'epoch', got {self.scheduler_interval!r}")
        if not isinstance(self.checkpoint_every, int) or self.checkpoint_every < 0:
            raise ConfigError(f"checkpoint_every must be an integer >= 0, got {self.checkpoint_every!r}")
        if not isinstance(self.eval_every, int) or self.eval_every < 1:
            raise ConfigError(f"eval_every must be a positive integer, got {self.eval_every!r}")
        if self.on_nonfinite not in ("raise", "stop"):
            raise ConfigError(f"on_nonfinite must be 'raise' or 'stop', got {self.on_nonfinite!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(map(repr, PRECISIONS))}, "
                              f"got {self.precision!r}")
        if not isinstance(self.compile, bool):
            raise ConfigError(f"compile must be True or False, got {self.compile!r}")


def default_loss_step(model: nn.Module, loss_fn: Callable[..., Tensor], batch: Batch
                      ) -> tuple[Tensor, Tensor, Tensor]:
    """``(x, y) -> loss_fn(model(x), y)``; more inputs ``(x1, ..., xk, y)`` go to ``model(*xs)``."""
    if len(batch) < 2:
        raise ConfigError(f"a training batch must hold inputs and targets, got {len(batch)} tensor(s); "
                          f"give MiniBatches((x, y)) or pass a custom loss_step")
    *inputs, targets = batch
    outputs = model(*inputs)
    return loss_fn(outputs, targets), outputs, targets


def _detached(outputs: Any) -> Any:
    """``outputs`` without autograd history: a tensor, or a tuple/list of them (a model with
    several heads)."""
    if isinstance(outputs, (tuple, list)):
        return type(outputs)(_detached(o) for o in outputs)
    return outputs.detach() if isinstance(outputs, Tensor) else outputs


def _batch_size(batch: Batch) -> int:
    return int(batch[-1].shape[0]) if batch[-1].dim() > 0 else 1


class _Sums:
    """Running sums of per-example loss and metrics over one epoch (tensors stay on device)."""

    def __init__(self, names: Iterable[str]) -> None:
        self.n = 0
        self.sums: dict[str, Any] = {name: 0.0 for name in ["loss", *names]}
        self.seconds = 0.0
        self.grad_norm_sum = 0.0
        self.grad_norm_count = 0

    def add(self, name: str, value: Any, n: int) -> None:
        value = value.detach() if isinstance(value, Tensor) else value
        self.sums[name] = self.sums[name] + value * n

    def means(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}{k}": (float(v) / self.n if self.n else math.nan) for k, v in self.sums.items()}

    def state(self) -> dict[str, Any]:
        return {"n": self.n, "sums": {k: float(v) for k, v in self.sums.items()},
                "seconds": self.seconds, "grad_norm_sum": float(self.grad_norm_sum),
                "grad_norm_count": self.grad_norm_count}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> _Sums:
        sums = cls(())
        sums.sums = dict(state["sums"])
        sums.n, sums.seconds = int(state["n"]), float(state["seconds"])
        sums.grad_norm_sum = float(state["grad_norm_sum"])
        sums.grad_norm_count = int(state["grad_norm_count"])
        return sums

    def all_reduced(self) -> _Sums:
        """The sums over every rank (one all-reduce); the time stays this rank's."""
        keys = list(self.sums)
        values = distributed.all_reduce_sum([self.n, *(self.sums[k] for k in keys),
                                             self.grad_norm_sum, self.grad_norm_count])
        total = _Sums(())
        total.n, total.seconds = round(values[0]), self.seconds
        total.sums = dict(zip(keys, values[1:-2]))
        total.grad_norm_sum, total.grad_norm_count = values[-2], round(values[-1])
        return total

    @classmethod
    def total_of(cls, states: list[dict[str, Any]]) -> _Sums:
        """The sums of several ranks' :meth:`state` dicts (the time: the slowest rank's)."""
        parts = [cls.from_state(st) for st in states]
        total = cls(())
        total.sums = {k: sum(p.sums[k] for p in parts) for k in parts[0].sums}
        total.n = sum(p.n for p in parts)
        total.seconds = max(p.seconds for p in parts)
        total.grad_norm_sum = sum(p.grad_norm_sum for p in parts)
        total.grad_norm_count = sum(p.grad_norm_count for p in parts)
        return total


class Trainer:
    """Train any ``nn.Module`` with any optimizer, loss and data (see the module docstring).

    Args:
        model: the network; moved to ``config.device``.
        optimizer: a ``torch.optim.Optimizer`` (ours or torch's); ``None`` for evaluation only.
        loss_fn: ``loss_fn(outputs, targets) -> scalar`` (mean over the batch).
        train_data: :class:`~deepnotes.data.MiniBatches` (restartable, resumable) or any
            re-iterable of ``(inputs..., targets)`` tuples.
        val_data: same kinds, evaluated after each epoch (``None``: no validation).
        scheduler: a learning-rate schedule stepped per ``config.scheduler_interval``.
        metrics: ``{"name": fn(outputs, targets) -> batch mean}``, e.g. ``{"accuracy": accuracy}``.
        config: a :class:`TrainConfig`.
        callbacks: :class:`~deepnotes.train.callbacks.Callback` objects.
        model_info: JSON dict stored in checkpoints to rebuild the model
            (see :func:`deepnotes.models.model_info`).
        loss_step: ``(model, loss_fn, batch) -> (loss, outputs, targets)`` for models whose
            batches are more than ``(x, y)`` (masks, teacher forcing ...).

    Attributes:
        history: a :class:`~deepnotes.train.history.History` with one row per epoch.
        epoch, step: epochs and optimizer steps completed.
        last_lr: the learning rate (of the first parameter group) the latest step used.
        last_grad_norm: the global gradient norm before clipping of the latest step (NaN
            unless ``grad_clip`` or ``log_grad_norm`` is set).
        should_stop: set ``True`` (e.g. in a callback) to stop after the current epoch.
        diverged: ``True`` once ``on_nonfinite="stop"`` ended training on a NaN/inf;
            ``nonfinite`` then holds the bad step's ``{"step", "loss", "grad_norm"}``.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer | None,
                 loss_fn: Callable[..., Tensor], train_data: Iterable[Batch] | None,
                 val_data: Iterable[Batch] | None = None, *, scheduler: Any = None,
                 metrics: dict[str, Callable[[Any, Any], Any]] | None = None,
                 config: TrainConfig | None = None, callbacks: Sequence[Callback] = (),
                 model_info: dict[str, Any] | None = None,
                 loss_step: LossStep | None = None) -> None:
        if not isinstance(model, nn.Module):
            raise ConfigError(f"Trainer needs an nn.Module as model, got {type(model).__name__}")
        if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
            raise ConfigError(f"Trainer needs a torch.optim.Optimizer, got {type(optimizer).__name__}")
        self.config = config or TrainConfig()
        device = resolve_device(self.config.device)
        distributed.init_from_env(device)  # torchrun with WORLD_SIZE > 1: join the group
        self.device = distributed.rank_device(device)
        check_precision(self.config.precision, self.device)
        self.model = model.to(self.device)
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.train_data = train_data
        self.val_data = val_data
        self.scheduler = scheduler
        self.metrics = dict(metrics or {})
        self.callbacks = list(callbacks)
        self.model_info = model_info
        self.loss_step = loss_step or default_loss_step
        # what runs the forward pass: the model, or its compiled wrapper (same parameters)
        self._forward_model = compile_model(self.model) if self.config.compile else self.model
        self._scaler = grad_scaler(self.config.precision, self.device)  # fp16 on CUDA only
        self._ddp: nn.Module | None = None  # the DDP-wrapped training step (several ranks)
        self._sharded = False  # each rank trains on its slice of the global batches
        if distributed.is_distributed() and optimizer is not None:
            step = distributed.StepModule(self._forward_model, self.loss_step, loss_fn)
            self._ddp = distributed.wrap_model(step, self.device)
            if isinstance(train_data, MiniBatches):
                train_data.shard(distributed.rank(), distributed.world_size())
                self._sharded = True
        self.history = History(columns=self._columns())
        self.epoch = 0
        self.step = 0
        self.should_stop = False
        self.last_lr = math.nan
        self.last_grad_norm = math.nan
        self.diverged = False
        self.nonfinite: dict[str, float] | None = None
        self._first_loss: float | None = None  # the first step's loss, to notice divergence
        self._warned_divergence = False
        self._partial: _Sums | None = None  # sums of an epoch interrupted by max_steps
        self.out_dir = Path(self.config.out_dir) if self.config.out_dir else None

    # ------------------------------------------------------------------ public API
    @property
    def checkpoint_path(self) -> Path | None:
        """``out_dir/checkpoint.safetensors`` (with ``checkpoint.json`` beside it)."""
        return self.out_dir / "checkpoint.safetensors" if self.out_dir else None

    def fit(self, resume: str | Path | bool | None = None) -> History:
        """Train until ``config.epochs`` (or ``max_steps``) are done; return the history.

        The first call seeds every generator with ``config.seed``; a later call on the same
        Trainer (after raising ``config.epochs`` or ``max_steps``) continues exactly where the
        previous one stopped, as :meth:`fit` with ``resume`` does from a checkpoint.

        Args:
            resume: a checkpoint path (or ``True`` for this run's own ``checkpoint_path``) to
                continue from; the result equals the uninterrupted run's.

        Raises:
            NonFiniteLossError: the loss became NaN/inf (the message names the step).
            CheckpointError: ``resume`` names a missing or mismatched checkpoint.
        """
        if self.optimizer is None or self.train_data is None:
            raise ConfigError("fit() needs an optimizer and training data; this Trainer was built "
                              "for evaluation only")
        cfg = self.config
        if resume:
            path = self.checkpoint_path if resume is True else Path(resume)
            if path is None:
                raise ConfigError("fit(resume=True) needs config.out_dir to find the checkpoint")
            self.load_checkpoint(path, restore_rng=True)
        elif self.step == 0 and self._partial is None:
            seed_everything(cfg.seed + distributed.rank())  # seed + r: own dropout masks
        # else: a second fit() on this Trainer continues where the first stopped, RNGs as they are
        for cb in self.callbacks:
            cb.on_fit_start(self)
        self.should_stop = False
        while (self.epoch < cfg.epochs and not self.should_stop and not self.diverged
               and not self._steps_done()):
            for cb in self.callbacks:
                cb.on_epoch_start(self)
            row = self._train_epoch()
            if row is None:  # max_steps reached inside the epoch, or diverged
                break
            for cb in self.callbacks:
                cb.on_epoch_end(self, row)
            if self.out_dir is not None:
                self._write_csv()
                last = self.epoch >= cfg.epochs or self.should_stop or self._steps_done()
                if last or (cfg.checkpoint_every and self.epoch % cfg.checkpoint_every == 0):
                    self.save_checkpoint()
        if self.out_dir is not None and distributed.is_main():
            self.history.to_csv(self.out_dir / "metrics.csv")
            self.history.plot(self.out_dir)
        for cb in self.callbacks:
            cb.on_fit_end(self)
        return self.history

    @torch.no_grad()
    def evaluate(self, data: Iterable[Batch], metrics: dict[str, Callable] | None = None
                 ) -> dict[str, float]:
        """Mean loss and metrics over ``data`` in eval mode (dropout off, BN running stats).

        A shuffling :class:`MiniBatches` is read in its stored order without touching its
        epoch counter, so evaluating the training data does not change the training run.
        Under ``torchrun`` each rank evaluates its slice of a :class:`MiniBatches` and the
        sums are added over the ranks (every rank must call this).
        """
        metrics = self.metrics if metrics is None else metrics
        sharded = False
        if isinstance(data, MiniBatches):
            data = MiniBatches(data.tensors, batch_size=max(data.batch_size, 1024), shuffle=False)
            if distributed.is_distributed():
                data.shard(distributed.rank(), distributed.world_size())
                sharded = True
        was_training = self.model.training
        self.model.eval()
        sums = _Sums(metrics)
        try:
            for batch in data:
                batch = self._to_device(batch)
                with autocast(self.config.precision, self.device):
                    loss, outputs, targets = self.loss_step(self._forward_model, self.loss_fn,
                                                            batch)
                n = data.last_share[0] if sharded else _batch_size(batch)
                sums.n += n
                sums.add("loss", loss, n)
                if outputs is not None:
                    for name, fn in metrics.items():
                        sums.add(name, fn(outputs, targets), n)
        finally:
            self.model.train(was_training)
        return (sums.all_reduced() if sharded else sums).means("")

    def save_checkpoint(self, path: str | Path | None = None) -> Path:
        """Write model, optimizer, schedule, data position, RNGs and history (atomically).

        Under ``torchrun`` every rank calls it: the ranks' generator states are gathered and
        rank 0 writes the file; the other ranks return the path without writing.
        """
        path = Path(path) if path is not None else self.checkpoint_path
        if path is None:
            raise ConfigError("save_checkpoint() needs a path or config.out_dir")
        partial = self._partial.state() if self._partial is not None else None
        # every rank's generators and (mid-epoch) running sums, for an exact resume
        ranks = (distributed.all_gather_objects((get_rng_state(), partial))
                 if distributed.is_distributed() else None)
        if not distributed.is_main():
            return checkpoint_paths(path)[0]
        if ranks is not None and self._sharded and partial is not None:
            partial = _Sums.total_of([p for _, p in ranks]).state()  # the epoch so far
        state = {
            "epoch": self.epoch,
            "step": self.step,
            "history": self.history.rows,
            "loader": (self.train_data.state_dict() if isinstance(self.train_data, MiniBatches)
                       else None),
            "partial": partial,
            "config": asdict(self.config),
            # callbacks with state (e.g. EarlyStopping's patience count), by position and class
            "callbacks": [{"class": type(cb).__name__, "state": cb.state_dict()}
                          for cb in self.callbacks],
        }
        if ranks is not None:  # rank r's torch/NumPy/Python generators and sums
            state["ranks_rng"] = [{"tensors": t, "json": j} for (t, j), _ in ranks]
            if self._sharded and partial is not None:
                state["ranks_partial"] = [p for _, p in ranks]
        if self._scaler is not None:  # fp16 loss scale and its growth counter
            state["grad_scaler"] = self._scaler.state_dict()
        return save_checkpoint(path, self.model, self.optimizer, self.scheduler, trainer_state=state,
                               model_info=self.model_info)

    def load_checkpoint(self, path: str | Path, restore_rng: bool = False) -> dict[str, Any]:
        """Restore everything :meth:`save_checkpoint` wrote (RNGs only with ``restore_rng``)."""
        st_path, _ = checkpoint_paths(path)
        if not st_path.exists():
            raise CheckpointError(f"no checkpoint at {st_path}; train without resume first, or "
                                  f"point resume at a run folder that has one")
        loaded = load_checkpoint(path, self.model, self.optimizer, self.scheduler,
                                 map_location="cpu", restore_rng=restore_rng)
        state = loaded["trainer_state"] or {}
        missing = [k for k in ("epoch", "step", "history") if k not in state]
        if missing:
            raise CheckpointError(f"checkpoint {st_path} has no trainer state key(s) {missing}; it "
                                  f"was not written by Trainer.save_checkpoint")
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.history = History(state["history"], columns=self._columns())
        if state.get("loader") is not None and isinstance(self.train_data, MiniBatches):
            self.train_data.load_state_dict(state["loader"])
        self._partial = _Sums.from_state(state["partial"]) if state.get("partial") else None
        if self._partial is not None and self._sharded:
            r, saved = distributed.rank(), state.get("ranks_partial") or []
            if len(saved) == distributed.world_size():  # this rank's own sums
                self._partial = _Sums.from_state(saved[r])
            elif r > 0:  # saved by another number of ranks: rank 0 carries the total
                self._partial = _Sums(self._partial.sums)  # same names, all 0
        if restore_rng and distributed.is_distributed() and not distributed.is_main():
            saved_rng, r = state.get("ranks_rng") or [], distributed.rank()
            if r < len(saved_rng):
                set_rng_state(saved_rng[r]["tensors"], saved_rng[r]["json"])
            else:  # more ranks than the run that saved: this rank's own stream
                seed_everything(self.config.seed + r)
        if self._scaler is not None and state.get("grad_scaler"):
            self._scaler.load_state_dict(state["grad_scaler"])
        saved = state.get("callbacks") or []
        for i, cb in enumerate(self.callbacks):
            if i < len(saved) and saved[i]["class"] == type(cb).__name__ and saved[i]["state"]:
                cb.load_state_dict(saved[i]["state"])
        return loaded

    # ------------------------------------------------------------------ the loop
    def _columns(self) -> list[str]:
        cols = ["epoch", "step", "train_loss", *[f"train_{m}" for m in self.metrics]]
        if self.val_data is not None:
            cols += ["val_loss", *[f"val_{m}" for m in self.metrics]]
        return cols + ["lr", "seconds", "examples_per_sec"]

    def _steps_done(self) -> bool:
        return self.config.max_steps is not None and self.step >= self.config.max_steps

    def _to_device(self, batch: Any) -> tuple[Any, ...]:
        if isinstance(batch, Tensor):
            batch = (batch,)
        return tuple(t.to(self.device, non_blocking=True) if isinstance(t, Tensor) else t
                     for t in batch)

    def _write_csv(self) -> None:
        if distributed.is_main():
            self.history.to_csv(self.out_dir / "metrics.csv")

    def _show_progress(self) -> bool:
        if not distributed.is_main():
            return False
        if self.config.progress is None:
            return sys.stderr.isatty()
        return bool(self.config.progress)

    def _nonfinite_loss(self, loss: float) -> bool:
        """True when ``loss`` is NaN/inf; with ``on_nonfinite="stop"`` under DDP, when it is on
        any rank (every rank stops at the same step)."""
        bad = not math.isfinite(loss)
        if self._ddp is not None and self.config.on_nonfinite == "stop":
            bad = distributed.all_reduce_sum([float(bad)])[0] > 0
        return bad

    def _nonfinite(self, loss: float, batch_index: int) -> NonFiniteLossError:
        lr = self.optimizer.param_groups[0]["lr"] if self.optimizer is not None else math.nan
        return NonFiniteLossError(
            f"the training loss became {loss} at step {self.step + 1} (epoch {self.epoch + 1}, "
            f"batch {batch_index + 1}); lower the learning rate (now {lr:g}), clip gradients "
            f"with grad_clip, or check the inputs for NaN/inf"
        )

    def _train_epoch(self) -> dict[str, Any] | None:
        cfg = self.config
        loader = self.train_data
        if self._partial is None:
            sums = _Sums(self.metrics)
            if isinstance(loader, MiniBatches):
                loader.set_epoch(self.epoch)
            first_batch = 0
        else:  # continuing an epoch cut short by max_steps
            sums, self._partial = self._partial, None
            if self.history.rows and self.history.rows[-1].get("partial"):
                self.history.rows.pop()  # the partial row is rebuilt when the epoch finishes
            first_batch = 0
            if isinstance(loader, MiniBatches):
                # re-arm the loader at the batch after the last one trained on (needed when
                # the cut pass is still the loader's latest, i.e. fit() is called again)
                loader.load_state_dict(loader.state_dict())
                first_batch = loader.state_dict()["batch"]
        try:
            total = len(loader)  # type: ignore[arg-type]
        except TypeError:
            total = None
        bar = None
        if self._show_progress():
            from tqdm.auto import tqdm

            bar = tqdm(total=total, initial=first_batch, desc=f"epoch {self.epoch + 1}/{cfg.epochs}",
                       unit="batch", leave=False, dynamic_ncols=True)
        self.model.train()
        on_cpu = self.device.type == "cpu"
        stop_on_nonfinite = cfg.on_nonfinite == "stop"
        started = time.perf_counter()
        examples_this_run = 0
        cut_short = False
        world = distributed.world_size()
        for b, batch in enumerate(loader, start=first_batch):
            batch = self._to_device(batch)
            with autocast(cfg.precision, self.device):
                if self._ddp is not None:  # the step inside DDP: gradients averaged over ranks
                    loss, outputs, targets = self._ddp(batch)
                else:
                    loss, outputs, targets = self.loss_step(self._forward_model, self.loss_fn,
                                                            batch)
            if loss.dim() != 0:
                raise ConfigError(f"the loss must be a scalar (mean over the batch), got shape "
                                  f"{tuple(loss.shape)}; use reduction='mean'")
            # One host sync per step on the CPU (free there); on CUDA the check is batched
            # into the epoch sums and checked below.
            if self._first_loss is None:
                self._first_loss = float(loss.detach())
            if (on_cpu or stop_on_nonfinite) and self._nonfinite_loss(loss_value := loss.item()):
                if stop_on_nonfinite:
                    self.diverged = True
                    self.nonfinite = {"step": self.step + 1, "loss": loss_value,
                                      "grad_norm": math.nan}
                    break
                raise self._nonfinite(loss_value, b)
            n = _batch_size(batch)
            scaled = loss
            if self._sharded:
                # this rank's share of the global batch; DDP averages over the W ranks, so
                # W·n_r/n times the rank's mean loss makes the step the global batch's
                n, n_global = loader.last_share  # type: ignore[union-attr]
                scaled = loss * (world * n / n_global)
            if self._scaler is not None:
                scaled = self._scaler.scale(scaled)  # fp16: s·L, so small gradients survive
            self.optimizer.zero_grad(set_to_none=True)
            scaled.backward()
            if cfg.grad_clip is not None or cfg.log_grad_norm:
                if self._scaler is not None:
                    self._scaler.unscale_(self.optimizer)  # clip the true gradients
                params = [p for p in self.model.parameters() if p.grad is not None]
                norm = (clip_grad_norm_(params, cfg.grad_clip) if cfg.grad_clip is not None
                        else grad_norm(params))
                self.last_grad_norm = float(norm)
                # (with fp16 loss scaling an overflow is the scaler's business: it skips the step)
                if (stop_on_nonfinite and self._scaler is None
                        and not math.isfinite(self.last_grad_norm)):
                    self.diverged = True
                    self.nonfinite = {"step": self.step + 1, "loss": float(loss.detach()),
                                      "grad_norm": self.last_grad_norm}
                    break
                sums.grad_norm_sum += self.last_grad_norm
                sums.grad_norm_count += 1
            self.last_lr = self.optimizer.param_groups[0]["lr"]
            if self._scaler is not None:
                self._scaler.step(self.optimizer)  # unscales (if not yet), skips on inf/NaN
                self._scaler.update()
            else:
                self.optimizer.step()
            if self.scheduler is not None and cfg.scheduler_interval == "step":
                self.scheduler.step()
            self.step += 1
            sums.n += n
            examples_this_run += n
            sums.add("loss", loss, n)
            if outputs is not None:
                with torch.no_grad():
                    for name, fn in self.metrics.items():
                        sums.add(name, fn(_detached(outputs), targets), n)
            for cb in self.callbacks:
                cb.on_step_end(self, self.step, loss.detach())
            if not on_cpu and self.step % 50 == 0 and not math.isfinite(float(sums.sums["loss"])):
                raise self._nonfinite(float(loss.detach()), b)
            if bar is not None:
                bar.update(1)
                if self.step % 10 == 0 or b + 1 == total:
                    elapsed = time.perf_counter() - started
                    bar.set_postfix(loss=f"{float(loss.detach()):.4f}",
                                    ex_per_s=f"{examples_this_run / max(elapsed, 1e-9):.0f}")
            if self._steps_done() and (total is None or b + 1 < total):
                cut_short = True
                break
        if bar is not None:
            bar.close()
        sums.seconds += time.perf_counter() - started
        # the epoch's sums over every rank (this rank's own when the data is not sharded)
        total = sums.all_reduced() if self._sharded else sums
        if self.diverged:
            # keep what was learnt before the bad step; the epoch's row says it diverged
            if total.n:
                row = self._row(total, validate=False)
                row["diverged"] = True
                self.history.append(row)
            return None
        if not math.isfinite(float(total.sums["loss"])):
            raise self._nonfinite(float(total.sums["loss"]), max(b, 0))
        if total.n == 0:
            raise ConfigError("the training data yielded no batches; check its size and batch_size")
        row = self._row(total, validate=not cut_short and (
            (self.epoch + 1) % cfg.eval_every == 0 or self.epoch + 1 == cfg.epochs))
        if cut_short:
            row["partial"] = True
            self._partial = sums  # this rank's own sums: the epoch goes on from them
            self.history.append(row)
            if self.out_dir is not None:
                self._write_csv()
                self.save_checkpoint()
            return None
        self.epoch += 1
        if self.scheduler is not None and cfg.scheduler_interval == "epoch":
            self.scheduler.step()
        self._check_divergence(row)
        self.history.append(row)
        if bar is not None or (self.config.progress and not sys.stderr.isatty()):
            shown = ", ".join(f"{k} {v:.4g}" for k, v in row.items()
                              if k not in ("epoch", "step") and isinstance(v, float))
            print(f"epoch {self.epoch}/{cfg.epochs}: {shown}", file=sys.stderr)
        return self.history.rows[-1]  # the stored row: callbacks may add columns to it

    def _check_divergence(self, row: dict[str, Any]) -> None:
        """Warn once when the epoch's loss is finite but far above the first step's: the run is
        diverging (the learning rate is usually too large) though nothing became NaN."""
        first, loss = self._first_loss, float(row["train_loss"])
        if self._warned_divergence or first is None or not math.isfinite(first):
            return
        if loss > DIVERGENCE_FACTOR * max(abs(first), 1e-8):
            self._warned_divergence = True
            lr = self.optimizer.param_groups[0]["lr"] if self.optimizer is not None else math.nan
            warnings.warn(TrainingWarning(
                f"the training loss grew from {first:.4g} (first step) to {loss:.4g} (epoch "
                f"{self.epoch}): training is diverging; lower the learning rate (now {lr:g}) or "
                f"clip gradients (grad_clip)"), stacklevel=2)

    def _row(self, sums: _Sums, validate: bool) -> dict[str, Any]:
        row: dict[str, Any] = {"epoch": self.epoch + 1, "step": self.step}
        row.update(sums.means("train_"))
        if validate and self.val_data is not None:
            row.update({f"val_{k}": v for k, v in self.evaluate(self.val_data).items()})
        # the rate the epoch's last step used (before a per-step schedule moved it on)
        row["lr"] = float(self.last_lr)
        if sums.grad_norm_count:
            row["grad_norm"] = sums.grad_norm_sum / sums.grad_norm_count
        row["seconds"] = sums.seconds
        row["examples_per_sec"] = sums.n / sums.seconds if sums.seconds > 0 else math.nan
        return row
