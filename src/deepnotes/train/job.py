"""``deepnotes train MODEL --data NAME|PATH``: one training job from a model name and data.

The job infers input size and number of classes from the data, holds out a validation split
(G3), trains with the Trainer (checkpoints, metrics, curves in the run folder), evaluates the
dataset's test split when it has one, and can resume from its own checkpoint.

``--data`` is a registered array dataset (``deepnotes list datasets``) or your own file
(:func:`resolve_data`; a registered name wins over a file of that name, write ``./NAME``):
a CSV/TSV table or a folder of images, one subfolder per class (read by
:mod:`deepnotes.data.files`, 20% held out as the test split: ``test_fraction``), a UTF-8 text
file for ``rnn-lm`` (a character language model) or a ``source<TAB>target`` file for a
translator (both trained by :mod:`deepnotes.tasks.own_data`). The checkpoint of a table or an
image folder records the file and how it was read (``model_info["data_source"]``), so
``deepnotes eval`` reads the same test split again, or another file of the same layout.

Reproducible: ``seed`` seeds every generator before the model is built, so two runs of the same
command give bit-identical weights. Resumed with more epochs, the learning-rate schedule follows
the uninterrupted run with the final epoch count from the resume point on (its length is the
new one, not the one stored in the checkpoint).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from deepnotes import data as dn_data
from deepnotes import models
from deepnotes.config import apply_overrides, parse_assignments, save_toml, to_dict
from deepnotes.data import files
from deepnotes.errors import ConfigError, DataMissingError
from deepnotes.metrics import accuracy
from deepnotes.nn import CrossEntropyLoss, MSELoss
from deepnotes.optim import create_optimizer, create_schedule
from deepnotes.runtime import seed_everything, torch_threads
from deepnotes.train import distributed
from deepnotes.train.callbacks import Callback, TensorBoardLogger
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
    precision: str = "32"  # 32 | bf16 | fp16: autocast of forward and loss (fp16: CUDA only)
    compile: bool = False  # torch.compile the model (the first steps pay the compile time)
    tensorboard: bool = False  # also write TensorBoard event files to OUT/tensorboard
    # your own files (--data PATH)
    target: str = ""  # table: the target column ("": the last column)
    task: str = ""  # table: classification | regression ("": inferred, see deepnotes.data.files)
    test_fraction: float = 0.2  # table, image folder: share held out as the test split (0: none)
    image_size: int = 0  # image folder: resize every image to N x N (0: all must share one size)
    num_steps: int = 35  # text (rnn-lm): characters per row of a batch, the BPTT length
    preprocess: str = "none"  # text (rnn-lm): none (the text as is) | d2l (lower-case letters)
    max_words: int = 15  # pairs (translators): keep pairs of at most this many tokens a side


#: what ``deepnotes train`` can feed a model: the array datasets (images, tables, series)
TRAINABLE_INPUTS = ("features", "images")
#: the models ``deepnotes train`` trains on your own text file and on your own pairs file
LANGUAGE_MODELS = ("rnn-lm",)
TRANSLATORS = ("seq2seq-rnn", "bahdanau", "transformer-mt")
#: TrainJob values of text and pairs jobs where they differ from its defaults (the lessons')
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "text": {"batch_size": 32, "lr": 5e-3, "grad_clip": 1.0},
    "pairs": {"batch_size": 64, "lr": 5e-3, "grad_clip": 1.0},
}
#: TrainJob fields that only some kinds of data use (a value given for another kind is an error)
ONLY_FOR: dict[str, tuple[str, ...]] = {
    "target": ("table",), "task": ("table",), "test_fraction": ("table", "images"),
    "image_size": ("images",), "num_steps": ("text",), "preprocess": ("text",),
    "max_words": ("pairs",),
    "max_steps": ("registered", "table", "images", "text"),
    "limit": ("registered", "table", "images", "text"),
    "val_fraction": ("registered", "table", "images", "text"),
    "weight_decay": ("registered", "table", "images"),
    "warmup_steps": ("registered", "table", "images"),
    "schedule": ("registered", "table", "images", "text"),
    "precision": ("registered", "table", "images"),
    "compile": ("registered", "table", "images"),
    "tensorboard": ("registered", "table", "images"),
}
KIND_NAMES = {"registered": "a registered dataset", "table": "a table", "images": "an image folder",
              "text": "a text file", "pairs": "a pairs file"}


def _looks_like_path(data: str) -> bool:
    return ("/" in data or os.sep in data or data.startswith(("~", "."))
            or Path(data).suffix != "")


def resolve_data(model_name: str, data: str) -> tuple[str, Path | None]:
    """What ``--data`` names for ``model_name``: ``("registered", None)`` for a registered
    dataset, else ``(kind, path)`` with kind ``table`` or ``images`` (feature and image models:
    a file or a folder), ``text`` (``rnn-lm``) or ``pairs`` (translators).

    Raises:
        UnknownNameError: neither a dataset name nor an existing path (lists close names).
        DataMissingError: a path (it has a ``/`` or a suffix) where there is nothing.
        ConfigError: a file the model cannot learn from (one sentence saying which it can).
    """
    if data in dn_data.DATASETS:
        return "registered", None
    path = Path(data).expanduser()
    if not path.exists():
        if _looks_like_path(data):
            raise DataMissingError(
                f"no file or folder at {data}; --data takes a dataset name (`deepnotes list "
                f"datasets`) or the path of your own table (CSV/TSV), image folder, text file "
                f"(rnn-lm) or source<TAB>target file (translators)")
        dn_data.entry(data)  # raises UnknownNameError with the close names
    inputs = models.model_inputs(model_name)
    if inputs in TRAINABLE_INPUTS:
        return ("images" if path.is_dir() else "table"), path
    if model_name in LANGUAGE_MODELS + TRANSLATORS:
        if path.is_dir():
            what = "a UTF-8 text file" if model_name in LANGUAGE_MODELS else (
                "a UTF-8 file of 'source<TAB>target' lines")
            raise ConfigError(f"{model_name} learns from {what}, but {data} is a folder")
        return ("text" if model_name in LANGUAGE_MODELS else "pairs"), path
    raise ConfigError(
        f"{model_name} reads {models.INPUTS[inputs]}, which `deepnotes train` cannot make from "
        f"{data}; your own files train feature and image models (a table or an image folder), "
        f"{', '.join(LANGUAGE_MODELS)} (a text file) and {', '.join(TRANSLATORS)} (a "
        f"source<TAB>target file); {model_name} is trained by its lessons (`deepnotes list "
        f"lessons`)")


def _check_fields(kind: str, given: dict[str, str], data: str) -> None:
    """One sentence for a TrainJob field given for data it does not apply to."""
    for name in given:
        kinds = ONLY_FOR.get(name)
        if kinds is not None and kind not in kinds:
            names = [KIND_NAMES[k] for k in kinds]
            listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
            raise ConfigError(f"{name} applies to {listed}, but {data} is {KIND_NAMES[kind]}; "
                              f"leave it out")


def _shown(value: Any) -> str:
    """A default as ``--set`` writes it: ``none``, ``true``, ``256,256``, ``""``."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (tuple, list)):
        return ",".join(_shown(v) for v in value)
    return '""' if value == "" else str(value)


def field_help(cls: type = TrainJob) -> list[tuple[str, str, str]]:
    """``[(field, default, comment)]`` of a config dataclass, its comments read from its source.

    Example:
        >>> field_help()[0]
        ('epochs', '10', 'passes over the training split')
    """
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        source = ""
    comments = dict(re.findall(r"^\s+(\w+):[^#\n]*#\s*(.*)$", source, flags=re.M))
    rows = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = ""
        rows.append((f.name, _shown(default), comments.get(f.name, "")))
    return rows


def train_help() -> str:
    """The fields ``deepnotes train --set`` accepts, for ``deepnotes train --help``: TrainJob's
    fields, then each trainable model's config fields (``model.FIELD``)."""
    rows = field_help()
    width = max(len(f"{name}={default}") for name, default, _ in rows)
    lines = ["--set FIELD=VALUE, the job's fields (text and pairs jobs start from batch_size=32",
             "and 64, lr=0.005, grad_clip=1.0):"]
    lines += [f"  {f'{name}={default}':<{width}}  {comment}" for name, default, comment in rows]
    lines += ["", "--set model.FIELD=VALUE, the model's config fields (sizes such as in_features,",
              "num_classes and vocabulary sizes are set from the data):"]
    sizes = {"in_features", "num_classes", "classes", "out_features", "in_channels",
             "image_size", "image", "vocab_size", "src_vocab_size", "tgt_vocab_size", "pad",
             "bos", "eos"}
    for entry in models.MODELS.entries():
        if entry.obj.deepnotes_inputs not in TRAINABLE_INPUTS and (
                entry.name not in LANGUAGE_MODELS + TRANSLATORS):
            continue
        shown = [f"{name}={default}" for name, default, _ in field_help(entry.obj.config_class)
                 if name not in sizes] or ["(sizes only)"]
        lines += textwrap.wrap(" ".join(shown), width=96, initial_indent=f"  {entry.name}: ",
                               subsequent_indent="      ", break_on_hyphens=False)
    return "\n".join(lines)


#: models of the generative lessons, which `deepnotes train` does not train (and which lessons do)
GENERATIVE_LESSONS = {"vae": ("vae",), "autoencoder": ("autoencoder",),
                      "conv-autoencoder": ("autoencoder",),
                      "cyclegan-generator": ("cyclegan",), "ddpm-unet": ("diffusion",)}


def check_pair(model_name: str, ds: Any, data_name: str) -> None:
    """Raise :class:`ConfigError` (one sentence saying what fits) unless ``deepnotes train`` can
    train ``model_name`` on the array dataset ``ds``."""
    inputs = models.model_inputs(model_name)
    if models.model_task(model_name) == "generation" or model_name in GENERATIVE_LESSONS:
        lessons = GENERATIVE_LESSONS.get(model_name, ("gan-toy", "dcgan", "conditional-gan"))
        raise ConfigError(
            f"{model_name} is part of a generative model, which its lessons train "
            f"({', '.join(lessons)}: `deepnotes run LESSON`), not `deepnotes train`; draw from "
            f"a trained GAN generator with `deepnotes sample RUN/generators/METHOD`")
    if inputs not in TRAINABLE_INPUTS:
        sets = ", ".join(d.name for d in dn_data.entries() if d.kind in dn_data.ARRAY_KINDS)
        own = ""
        if model_name in LANGUAGE_MODELS:
            own = " or on your own text file (`--data my.txt`)"
        elif model_name in TRANSLATORS:
            own = " or on your own source<TAB>target file (`--data pairs.tsv`)"
        raise ConfigError(
            f"{model_name} reads {models.INPUTS[inputs]}, but `deepnotes train` trains models "
            f"that read feature vectors or images on the array datasets ({sets}); {model_name} "
            f"is trained by its lessons (`deepnotes list lessons`){own}")
    if inputs == "images" and ds.x.dim() != 4:
        raise ConfigError(f"{model_name} reads images (N, C, H, W), but {data_name} holds "
                          f"feature vectors of shape {tuple(ds.x.shape[1:])}; use an image "
                          f"dataset (fashion-mnist, digits, a folder of images) or a feature "
                          f"model (mlp)")
    if inputs == "images":
        fields = {f.name for f in dataclasses.fields(models.config_class(model_name))}
        channels, height, width = (int(n) for n in ds.x.shape[1:])
        if height != width and fields & {"image_size", "image"}:
            raise ConfigError(f"{model_name} reads square images, but {data_name} holds "
                              f"{width}x{height} images; set image_size=N to resize them to "
                              f"N x N")
        if channels != 1 and "in_channels" not in fields:
            raise ConfigError(f"{model_name} reads grey images (one channel), but {data_name} "
                              f"holds {channels}-channel images; use lenet, resnet or mlp")
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


def _load_train(model_name: str, data_name: str, job: TrainJob) -> Any:
    """The training part of a registered array dataset, a table or an image folder."""
    kind, path = resolve_data(model_name, data_name)
    if kind == "registered":
        return _load_array(data_name, "train")
    if kind == "table":
        return files.load_table(path, target=job.target or None, task=job.task or None,
                                split="train", test_fraction=job.test_fraction, seed=job.seed)
    if kind == "images":
        return files.load_image_folder(path, image_size=job.image_size, split="train",
                                       test_fraction=job.test_fraction, seed=job.seed)
    raise ConfigError(f"{data_name} is {KIND_NAMES[kind]}; {model_name} trains on it through "
                      f"run_job, not build")


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


def build(model_name: str, data_name: str, job: TrainJob, model_sets: dict[str, str],
          out_dir: Path):
    """Create data loaders, model, optimizer, schedule and Trainer for a job."""
    full = _load_train(model_name, data_name, job)
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
        tr_idx, va_idx = dn_data.holdout_split(len(full), val_fraction=job.val_fraction,
                                               seed=job.seed)
        train_ds, val_ds = full.subset(tr_idx), full.subset(va_idx)
    else:
        train_ds, val_ds = full, None
    train_loader = dn_data.MiniBatches(train_ds, batch_size=job.batch_size, shuffle=True,
                                       seed=job.seed)
    val_loader = (dn_data.MiniBatches(val_ds, batch_size=1024, shuffle=False)
                  if val_ds is not None else None)
    opt = create_optimizer(job.optimizer, model.parameters(), lr=job.lr,
                           weight_decay=job.weight_decay)
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
                      progress=job.progress, out_dir=str(out_dir),
                      precision=job.precision, compile=job.compile)
    info = models.model_info(model)
    info["data"] = data_name
    if "source" in full.meta:  # your own file: where it is and how it was read (for eval)
        info["data"] = full.meta["source"]["path"]
        info["data_source"] = full.meta["source"]
    callbacks: list[Callback] = [ScheduleLength(scheduler)] if scheduler is not None else []
    if job.tensorboard:
        callbacks.append(TensorBoardLogger(Path(out_dir) / "tensorboard"))
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


def run_job(model_name: str, data_name: str, sets: list[str], out_dir: Path,
            resume: bool = False) -> dict[str, Any]:
    """Train ``model_name`` on ``data_name``; ``sets`` are ``field=value`` (``model.field=value``
    for the model's config). Returns the summary written to ``summary.json``."""
    given = parse_assignments(sets)  # one sentence for a --set without "="
    model_sets = {k[len("model."):]: v for k, v in given.items() if k.startswith("model.")}
    job_sets = {k: v for k, v in given.items() if not k.startswith("model.")}
    kind, path = resolve_data(model_name, data_name)
    job = apply_overrides(TrainJob(**TASK_DEFAULTS.get(kind, {})), job_sets)
    _check_fields(kind, job_sets, data_name)
    with torch_threads(job.threads):
        if kind in ("text", "pairs"):
            if resume:
                raise ConfigError(f"--resume continues tables, image folders and registered "
                                  f"datasets; train {model_name} on {data_name} again instead")
            return _run_text_job(model_name, kind, path, job, model_sets, out_dir)
        return _run_job(model_name, data_name, job, model_sets, out_dir, resume)


def _run_text_job(model_name: str, kind: str, path: Path, job: TrainJob,
                  model_sets: dict[str, str], out_dir: Path) -> dict[str, Any]:
    """A character LM on a text file, or a translator on a pairs file (tasks.own_data)."""
    from deepnotes.tasks.own_data import train_lm_on_file, train_translator_on_file

    common = {"model_sets": model_sets, "epochs": job.epochs, "batch_size": job.batch_size,
              "optimizer": job.optimizer, "lr": job.lr, "grad_clip": job.grad_clip,
              "seed": job.seed, "device": job.device, "progress": job.progress}
    out_dir.mkdir(parents=True, exist_ok=True)
    if kind == "text":
        if job.schedule not in ("", "cosine"):
            raise ConfigError(f"schedule must be empty or cosine for a text file, got "
                              f"{job.schedule!r}")
        summary = train_lm_on_file(path, out_dir, num_steps=job.num_steps,
                                   preprocess=job.preprocess, val_fraction=job.val_fraction,
                                   limit=job.limit, cosine=job.schedule == "cosine",
                                   max_steps=job.max_steps, **common)
    else:
        summary = train_translator_on_file(model_name, path, out_dir, max_words=job.max_words,
                                           **common)
    summary["job"] = to_dict(job)
    save_toml({"model": summary["model"], "data": summary["data"], "job": summary["job"],
               "resumed": False}, out_dir / "config.toml")
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _run_job(model_name: str, data_name: str, job: TrainJob, model_sets: dict[str, str],
             out_dir: Path, resume: bool) -> dict[str, Any]:
    trainer, full = build(model_name, data_name, job, model_sets, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # written once everything is checked: a command that fails on its arguments keeps an
    # earlier run's config.toml (under torchrun: by rank 0 only)
    if distributed.is_main():
        save_toml({"model": models.model_info(trainer.model), "data": data_name,
                   "job": to_dict(job), "resumed": bool(resume)}, out_dir / "config.toml")
    ckpt = out_dir / "checkpoint.safetensors"
    history = trainer.fit(resume=ckpt if resume else None)
    summary: dict[str, Any] = {"model": models.model_info(trainer.model), "data": data_name,
                               "job": to_dict(job), "final": history.last()}
    if "source" in full.meta:
        summary["data_source"] = {k: v for k, v in full.meta["source"].items()
                                  if k not in ("mean", "std")}
        summary["train_examples"] = len(full)
    source = full.meta.get("source")
    if source is not None:  # your own file: its held-out part (none with test_fraction=0)
        test_ds = files.reload(source, "test") if source["test_fraction"] > 0 else None
    else:
        try:
            test_ds = dn_data.load(data_name, split="test")
        except (ConfigError, KeyError, ValueError):
            test_ds = None
    if test_ds is not None and test_ds is not full:
        test = trainer.evaluate(dn_data.MiniBatches(test_ds, batch_size=1024, shuffle=False))
        summary.update({f"test_{k}": v for k, v in test.items()})
    if distributed.is_main():
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def evaluate_checkpoint(path: Path, data_name: str | None = None,
                        split: str | None = None) -> dict[str, Any]:
    """Rebuild the model stored in a checkpoint and evaluate it on a dataset split.

    A model trained on your own table or image folder reads it again as it did in training
    (the file and the reading settings are in ``model_info["data_source"]``): the default
    split is the held-out ``test`` part. ``data_name`` may name another file of the same layout
    (same columns or class folders; features scaled with the training statistics), whose
    default split is then ``all`` of it. A registered dataset's default split is ``test``.
    """
    info = peek_checkpoint(path).get("model_info") or {}
    if "name" not in info:
        raise ConfigError(f"checkpoint {str(path)!r} does not say which model it holds; "
                          "it was not written by `deepnotes train` or a lesson")
    if "text" in info:
        raise ConfigError(f"{path} holds a language model; continue a text with `deepnotes "
                          f"generate {path} \"prefix\"`")
    if "src_vocab" in info:
        raise ConfigError(f"{path} holds a translator; translate with `deepnotes translate "
                          f"{path} \"sentence\"`")
    source = info.get("data_source")
    if source is not None:
        other = None
        if data_name is not None:
            if data_name in dn_data.DATASETS:
                raise ConfigError(f"the model was trained on your file {source['path']}; "
                                  f"evaluate it on that file or one of the same layout, not on "
                                  f"{data_name}")
            given = Path(data_name).expanduser()
            if given.resolve() != Path(source["path"]):
                other = given
        elif not Path(source["path"]).exists():
            raise DataMissingError(f"the model was trained on {source['path']}, which is no "
                                   f"longer there; pass --data PATH of that file or of one of "
                                   f"the same layout")
        split = split or ("all" if other is not None else "test")
        ds = files.reload(source, split, path=other)
        data_name = str(other if other is not None else source["path"])
    else:
        data_name = data_name or info.get("data")
        if not data_name:
            raise ConfigError("the checkpoint does not name its dataset; pass --data NAME")
        if data_name not in dn_data.DATASETS and Path(data_name).expanduser().exists():
            raise ConfigError(f"the model was trained on {info.get('data', 'a registered dataset')}"
                              f"; a registered dataset's model is evaluated on a registered "
                              f"dataset, not on {data_name}")
        split = split or "test"
        ds = _load_array(data_name, split)
    model = models.from_info(info)
    load_checkpoint(path, model=model)
    loss_fn, metrics = _loss_and_metrics(ds.task)
    loader = dn_data.MiniBatches(ds, batch_size=1024, shuffle=False)
    trainer = Trainer(model, None, loss_fn, loader, None, metrics=metrics,
                      config=TrainConfig(progress=False))
    result = {"model": info["name"], "data": data_name, "split": split}
    if source is not None:
        result["examples"] = len(ds)
    return {**result, **trainer.evaluate(loader)}
