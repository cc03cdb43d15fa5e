"""``deepnotes train MODEL --data NAME``: one training job from a model name and a dataset name.

The job infers input size and number of classes from the data, holds out a validation split
(G3), trains with the Trainer (checkpoints, metrics, curves in the run folder), evaluates the
dataset's test split when it has one, and can resume from its own checkpoint.

Reproducible: ``seed`` seeds every generator before the model is built, so two runs of the same
command give bit-identical weights. Resumed with more epochs, the learning-rate schedule follows
the uninterrupted run with the final epoch count from the resume point on (its length is the
new one, not the one stored in the checkpoint).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from deepnotes import data as dn_data
from deepnotes import models
from deepnotes.config import apply_overrides, parse_assignments, save_toml, to_dict
from deepnotes.errors import ConfigError
from deepnotes.metrics import accuracy
from deepnotes.nn import CrossEntropyLoss, MSELoss
from deepnotes.optim import create_optimizer, create_schedule
from deepnotes.runtime import seed_everything, torch_threads
from deepnotes.train.callbacks import Callback
from deepnotes.train.checkpoint import load_checkpoint, peek_checkpoint
from deepnotes.train.trainer import TrainConfig, Trainer


@dataclass
class TrainJob:
    epochs: int = 10  # passes over the training split
    max_steps: int | None = None  # stop after this many optimizer steps (None: all epochs)
    batch_size: int = 256  # minibatch size
    optimizer: str = "adam"  # sgd | momentum | adagrad | rmsprop | adam | adamw
    lr: float = 1e-3  # learning rate
    weight_decay: float = 0.0  # L2 / decoupled decay (AdamW) strength
    schedule: str = ""  # "" (constant) or a registered schedule name, e.g. "cosine"
    warmup_steps: int = 0  # linear warm-up steps before the schedule
    val_fraction: float = 0.1  # share of the training split held out for validation
    limit: int | None = None  # use only the first N training examples
    grad_clip: float | None = None  # clip gradients to this global norm
    seed: int = 0  # seeds data split, init, shuffling and dropout
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # torch CPU threads (0: torch's default, all cores; 1 on a busy machine)
    progress: bool | None = None  # progress bar (None: only on a terminal)


#: what ``deepnotes train`` can feed a model: the array datasets (images, tables, series)
TRAINABLE_INPUTS = ("features", "images")


def check_pair(model_name: str, ds: Any, data_name: str) -> None:
    """Raise :class:`ConfigError` (one sentence saying what fits) unless ``deepnotes train`` can
    train ``model_name`` on the array dataset ``ds``."""
    inputs = models.model_inputs(model_name)
    if inputs not in TRAINABLE_INPUTS:
        sets = ", ".join(d.name for d in dn_data.entries() if d.kind in dn_data.ARRAY_KINDS)
        raise ConfigError(
            f"{model_name} reads {models.INPUTS[inputs]}, but `deepnotes train` trains models "
            f"that read feature vectors or images on the array datasets ({sets}); {model_name} "
            f"is trained by its lessons (`deepnotes list lessons`)")
    if inputs == "images" and ds.x.dim() != 4:
        raise ConfigError(f"{model_name} reads images (N, C, H, W), but {data_name} holds "
                          f"feature vectors of shape {tuple(ds.x.shape[1:])}; use an image "
                          f"dataset (fashion-mnist, digits) or a feature model (mlp)")
    fields = {f.name for f in dataclasses.fields(models.config_class(model_name))}
    classifier = bool(fields & {"num_classes", "classes"}) and model_name != "linear-regression"
    if ds.task == "classification" and not classifier:
        raise ConfigError(f"{model_name} predicts numbers (regression), but {data_name} is a "
                          f"classification set; use softmax-regression or mlp")
    if ds.task == "regression" and (inputs == "images" or model_name == "softmax-regression"):
        raise ConfigError(f"{model_name} is a classifier, but {data_name} is a regression set "
                          f"(numeric target); use linear-regression or mlp")


def _model_overrides(model_name: str, ds: Any, given: dict[str, str]) -> dict[str, Any]:
    """Fill input/output sizes from the data unless the user set them."""
    fields = {f.name for f in dataclasses.fields(models.config_class(model_name))}
    auto: dict[str, Any] = {}
    if "in_features" in fields:
        auto["in_features"] = math.prod(ds.x.shape[1:])
    if ds.x.dim() == 4:  # images (N, C, H, W)
        channels, side = int(ds.x.shape[1]), int(ds.x.shape[2])
        for name, value in (("in_channels", channels), ("image_size", side), ("image", side)):
            if name in fields:
                auto[name] = value
    if ds.task == "classification":
        n_classes = len(ds.classes) if ds.classes else int(ds.y.max()) + 1
        for name in ("num_classes", "classes"):
            if name in fields:
                auto[name] = n_classes
    else:
        for name in ("num_classes", "out_features"):
            if name in fields:
                auto[name] = 1
    auto.update(given)
    return auto


def _load_array(name: str, split: str) -> Any:
    """An array dataset, or one sentence saying which datasets ``deepnotes train`` reads."""
    info = dn_data.entry(name)
    if info.kind not in dn_data.ARRAY_KINDS:
        sets = ", ".join(d.name for d in dn_data.entries() if d.kind in dn_data.ARRAY_KINDS)
        raise ConfigError(f"{name} is a {info.kind} dataset; `deepnotes train` and `deepnotes "
                          f"eval` read the array datasets ({sets}); the lessons use {name}")
    return dn_data.load(name, split=split)


class RegressionLoss(nn.Module):
    """Mean squared error with the output and the target both as ``(N,)`` when each holds one
    number per example (models give ``(N,)`` or ``(N, 1)``, datasets ``(N,)`` or ``(N, 1)``)."""

    def __init__(self) -> None:
        super().__init__()
        self.mse = MSELoss()

    @staticmethod
    def _flat(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(len(t)) if t.dim() == 2 and t.shape[1] == 1 else t

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.mse(self._flat(output), self._flat(target).to(output.dtype))


def _loss_and_metrics(task: str) -> tuple[Any, dict[str, Any]]:
    if task == "classification":
        return CrossEntropyLoss(), {"accuracy": accuracy}
    return RegressionLoss(), {}


def build(model_name: str, data_name: str, job: TrainJob, model_sets: dict[str, str], out_dir: Path):
    """Create data loaders, model, optimizer, schedule and Trainer for a job."""
    full = _load_array(data_name, "train")
    if job.limit is not None:
        if job.limit < 1:
            raise ConfigError(f"limit must be a positive number of examples, got {job.limit}")
        full = full.subset(list(range(min(job.limit, len(full)))))
    if not 0.0 <= job.val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {job.val_fraction}")
    check_pair(model_name, full, data_name)
    seed_everything(job.seed)  # before the model: its initial weights come from the seed
    model = models.create(model_name, **_model_overrides(model_name, full, model_sets))
    if job.val_fraction > 0:
        tr_idx, va_idx = dn_data.holdout_split(len(full), val_fraction=job.val_fraction, seed=job.seed)
        train_ds, val_ds = full.subset(tr_idx), full.subset(va_idx)
    else:
        train_ds, val_ds = full, None
    train_loader = dn_data.MiniBatches(train_ds, batch_size=job.batch_size, shuffle=True, seed=job.seed)
    val_loader = dn_data.MiniBatches(val_ds, batch_size=1024, shuffle=False) if val_ds is not None else None
    opt = create_optimizer(job.optimizer, model.parameters(), lr=job.lr, weight_decay=job.weight_decay)
    scheduler = None
    steps = job.epochs * len(train_loader)
    if job.schedule:
        kwargs: dict[str, Any] = {}
        if job.schedule == "cosine":
            kwargs["T_max"] = max(1, steps - job.warmup_steps)
        scheduler = create_schedule(job.schedule, opt, **kwargs)
    if job.warmup_steps > 0:
        scheduler = create_schedule("warmup", opt, warmup_steps=job.warmup_steps, after=scheduler)
    loss_fn, metrics = _loss_and_metrics(full.task)
    cfg = TrainConfig(epochs=job.epochs, max_steps=job.max_steps, grad_clip=job.grad_clip,
                      device=job.device, seed=job.seed,
                      progress=job.progress, out_dir=str(out_dir))
    info = models.model_info(model)
    info["data"] = data_name
    callbacks = [ScheduleLength(scheduler)] if scheduler is not None else []
    trainer = Trainer(model, opt, loss_fn, train_loader, val_loader, scheduler=scheduler,
                      metrics=metrics, config=cfg, model_info=info, callbacks=callbacks)
    return trainer, full


class ScheduleLength(Callback):
    """Keep the schedule's length (``T_max``) as built for this run when a checkpoint is loaded.

    A checkpoint stores the schedule of the run that wrote it; resumed with more epochs, the
    schedule must run to the new end, as it would have in one uninterrupted run. The learning
    rate of the next step is recomputed from the new length at the step reached.
    """

    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        self.lengths = [(s, s.T_max) for s in self._chain(scheduler) if hasattr(s, "T_max")]

    @staticmethod
    def _chain(scheduler: Any) -> list[Any]:
        chain = []
        while scheduler is not None:
            chain.append(scheduler)
            scheduler = getattr(scheduler, "after", None)
        return chain

    def on_fit_start(self, trainer: Trainer) -> None:
        if all(s.T_max == length for s, length in self.lengths):
            return
        for s, length in self.lengths:
            s.T_max = length
        top = self.scheduler
        lrs = top.lrs_at(top.last_epoch)
        for group, lr in zip(top.optimizer.param_groups, lrs):
            group["lr"] = lr
        top._last_lr = list(lrs)


def run_job(model_name: str, data_name: str, sets: list[str], out_dir: Path, resume: bool = False) -> dict[str, Any]:
    """Train ``model_name`` on ``data_name``; ``sets`` are ``field=value`` (``model.field=value``
    for the model's config). Returns the summary written to ``summary.json``."""
    given = parse_assignments(sets)  # one sentence for a --set without "="
    model_sets = {k[len("model."):]: v for k, v in given.items() if k.startswith("model.")}
    job = apply_overrides(TrainJob(), {k: v for k, v in given.items()
                                       if not k.startswith("model.")})
    with torch_threads(job.threads):
        return _run_job(model_name, data_name, job, model_sets, out_dir, resume)


def _run_job(model_name: str, data_name: str, job: TrainJob, model_sets: dict[str, str],
             out_dir: Path, resume: bool) -> dict[str, Any]:
    trainer, full = build(model_name, data_name, job, model_sets, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # written once everything is checked: a command that fails on its arguments keeps an
    # earlier run's config.toml
    save_toml({"model": models.model_info(trainer.model), "data": data_name, "job": to_dict(job),
               "resumed": bool(resume)}, out_dir / "config.toml")
    ckpt = out_dir / "checkpoint.safetensors"
    history = trainer.fit(resume=ckpt if resume else None)
    summary: dict[str, Any] = {"model": models.model_info(trainer.model), "data": data_name,
                               "job": to_dict(job), "final": history.last()}
    try:
        test_ds = dn_data.load(data_name, split="test")
    except (ConfigError, KeyError, ValueError):
        test_ds = None
    if test_ds is not None and test_ds is not full:
        test = trainer.evaluate(dn_data.MiniBatches(test_ds, batch_size=1024, shuffle=False))
        summary.update({f"test_{k}": v for k, v in test.items()})
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def evaluate_checkpoint(path: Path, data_name: str | None = None, split: str = "test") -> dict[str, Any]:
    """Rebuild the model stored in a checkpoint and evaluate it on a dataset split."""
    info = peek_checkpoint(path).get("model_info") or {}
    if "name" not in info:
        raise ConfigError(f"checkpoint {str(path)!r} does not say which model it holds; "
                          "it was not written by `deepnotes train` or a lesson")
    data_name = data_name or info.get("data")
    if not data_name:
        raise ConfigError("the checkpoint does not name its dataset; pass --data NAME")
    model = models.from_info(info)
    load_checkpoint(path, model=model)
    ds = _load_array(data_name, split)
    loss_fn, metrics = _loss_and_metrics(ds.task)
    loader = dn_data.MiniBatches(ds, batch_size=1024, shuffle=False)
    trainer = Trainer(model, None, loss_fn, loader, None, metrics=metrics,
                      config=TrainConfig(progress=False))
    return {"model": info["name"], "data": data_name, "split": split, **trainer.evaluate(loader)}
