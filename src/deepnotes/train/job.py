"""``deepnotes train MODEL --data NAME``: one training job from a model name and a dataset name.

The job infers input size and number of classes from the data, holds out a validation split
(G3), trains with the Trainer (checkpoints, metrics, curves in the run folder), evaluates the
dataset's test split when it has one, and can resume from its own checkpoint.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepnotes import data as dn_data
from deepnotes import models
from deepnotes.config import apply_overrides, to_dict
from deepnotes.errors import ConfigError
from deepnotes.metrics import accuracy
from deepnotes.nn import CrossEntropyLoss, MSELoss
from deepnotes.optim import create_optimizer, create_schedule
from deepnotes.runtime import torch_threads
from deepnotes.train.checkpoint import load_checkpoint, peek_checkpoint
from deepnotes.train.trainer import TrainConfig, Trainer


@dataclass
class TrainJob:
    epochs: int = 10  # passes over the training split
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


def _model_overrides(model_name: str, ds: Any, given: dict[str, str]) -> dict[str, Any]:
    """Fill input/output sizes from the data unless the user set them."""
    fields = {f for f in vars(models.config_class(model_name)()).keys()}
    auto: dict[str, Any] = {}
    n_features = math.prod(ds.x.shape[1:])
    if "in_features" in fields:
        auto["in_features"] = n_features
    if ds.task == "classification":
        n_classes = len(ds.classes) if ds.classes else int(ds.y.max()) + 1
        if "num_classes" in fields:
            auto["num_classes"] = n_classes
    else:
        if "num_classes" in fields:
            auto["num_classes"] = 1
        if "out_features" in fields:
            auto["out_features"] = 1
    auto.update(given)
    return auto


def build(model_name: str, data_name: str, job: TrainJob, model_sets: dict[str, str], out_dir: Path):
    """Create data loaders, model, optimizer, schedule and Trainer for a job."""
    full = dn_data.load(data_name, split="train", limit=job.limit)
    if not 0.0 <= job.val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {job.val_fraction}")
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
    if full.task == "classification":
        loss_fn, metrics = CrossEntropyLoss(), {"accuracy": accuracy}
    else:
        loss_fn, metrics = MSELoss(), {}
    cfg = TrainConfig(epochs=job.epochs, grad_clip=job.grad_clip, device=job.device, seed=job.seed,
                      progress=job.progress, out_dir=str(out_dir))
    info = models.model_info(model)
    info["data"] = data_name
    trainer = Trainer(model, opt, loss_fn, train_loader, val_loader, scheduler=scheduler,
                      metrics=metrics, config=cfg, model_info=info)
    return trainer, full


def run_job(model_name: str, data_name: str, sets: list[str], out_dir: Path, resume: bool = False) -> dict[str, Any]:
    """Train ``model_name`` on ``data_name``; ``sets`` are ``field=value`` (``model.field=value``
    for the model's config). Returns the summary written to ``summary.json``."""
    job_sets = [s for s in sets if not s.startswith("model.")]
    model_sets = dict(s[len("model."):].split("=", 1) for s in sets if s.startswith("model."))
    job = apply_overrides(TrainJob(), job_sets)
    with torch_threads(job.threads):
        return _run_job(model_name, data_name, job, model_sets, out_dir, resume)


def _run_job(model_name: str, data_name: str, job: TrainJob, model_sets: dict[str, str],
             out_dir: Path, resume: bool) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    trainer, full = build(model_name, data_name, job, model_sets, out_dir)
    from deepnotes.config import save_toml

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
    ds = dn_data.load(data_name, split=split)
    if ds.task == "classification":
        loss_fn, metrics = CrossEntropyLoss(), {"accuracy": accuracy}
    else:
        loss_fn, metrics = MSELoss(), {}
    loader = dn_data.MiniBatches(ds, batch_size=1024, shuffle=False)
    trainer = Trainer(model, None, loss_fn, loader, None, metrics=metrics,
                      config=TrainConfig(progress=False))
    return {"model": info["name"], "data": data_name, "split": split, **trainer.evaluate(loader)}
