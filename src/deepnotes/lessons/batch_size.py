"""Batch size: time per update, time per epoch, and how well small and large batches generalise.

Claims (notes O2; Hung-yi Lee's lecture on batch and momentum):

1. **Speed.** Thanks to parallel hardware a bigger batch costs little more time *per update*
   until the machine is saturated, while an epoch needs ⌈N / B⌉ updates, so the time *per epoch*
   falls as B grows. We measure the seconds per update of SGD on Fashion-MNIST for
   B = 1 ... 4,096 (wall-clock on this machine, several timed updates after warm-up) and derive
   the seconds per 60,000-image epoch as (seconds per update) × ⌈60,000 / B⌉. Timings are
   measurements, not guarantees: they depend on the machine and on its load. The lesson runs on
   torch's default thread count; ``--threads 1`` gives steady timings on a busy shared machine
   (small operations split over contended cores ran up to 10x slower in our runs) and shows
   how one core amortises the fixed cost of an update. The notes' picture, per-update time
   nearly flat over a wide range of B, is a GPU measurement: run with ``device=cuda`` to see it.
2. **Generalisation.** Trained for the same number of epochs with the same learning-rate
   policy, the small-batch model reaches a higher test accuracy than the large-batch one (the
   notes: noisy small-batch updates escape sharp minima and end in flat ones). Part of the gap
   at equal epochs is simply that the large batch made far fewer updates; the lesson reports
   training accuracy beside test accuracy so both parts are visible.
3. **Sharp vs flat minima at equal updates.** To take the number of updates out of the
   comparison, a small-batch and a large-batch model are trained for the *same number of
   updates* (so the large batch sees many more examples), and the sharpness of the point each
   ends at is measured on training images: the top eigenvalue of the training loss's Hessian
   (Lanczos on Hessian-vector products) and the mean training-loss increase under random weight
   perturbations whose norm is a fixed fraction ρ of each weight tensor's norm
   (:func:`deepnotes.analysis.sharpness.perturbation_sharpness`; relative, because batch
   normalisation makes the loss blind to the scale of the weights before it). The claim
   (Keskar et al., 2017): large-batch training lands in sharper minima and generalises worse.

Model: ``lenet-modern`` (LeNet with ReLU, batch norm and max pooling), or with ``model=mlp`` an
MLP (784-256-256-10). BatchNorm cannot normalise over a single example, so with a BatchNorm
model the timing sweep starts at B = 2 instead of 1.
Data: Fashion-MNIST, 60,000 training and 10,000 test images (quick: 1,000 and 1,000).

Notes: O2 (batch size; sharp vs flat minima), B8.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from deepnotes.analysis import extreme_eigenpairs, model_closure
from deepnotes.analysis.sharpness import perturbation_sharpness
from deepnotes.data import MiniBatches, load
from deepnotes.errors import ConfigError
from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.metrics import accuracy
from deepnotes.models import create
from deepnotes.nn import CrossEntropyLoss
from deepnotes.optim import create_optimizer
from deepnotes.runtime import resolve_device
from deepnotes.tasks.classification import fit_classifier
from deepnotes.train import TrainConfig, Trainer
from deepnotes.train.checkpoint import save_model

NAME = "batch-size"
SUMMARY = ("time per update/epoch vs batch size 1..4096; small batches generalise better at equal "
           "epochs; sharpness of small- vs large-batch minima at equal updates (O2)")
CONCEPTS = ("O2", "B8")

EPOCH_IMAGES = 60000  # a Fashion-MNIST epoch, for the per-epoch time


@dataclass
class Config(LessonConfig):
    QUICK = {"timing_batches": (2, 32, 512), "timing_seconds": 0.2, "large_batch": 1000,
             "epochs": 2, "train_images": 1000, "test_images": 1000, "equal_updates": 100,
             "equal_updates_large_batch": 128, "sharpness_images": 256, "sharpness_samples": 4,
             "lanczos_iters": 8}

    model: str = "lenet-modern"  # lenet-modern | mlp (784-256-256-10)
    timing_batches: tuple[int, ...] = (1, 4, 16, 64, 256, 1024, 4096)  # batch sizes timed
    timing_seconds: float = 2.0  # keep timing each batch size at least this long
    timing_updates: tuple[int, int] = (3, 500)  # fewest and most timed updates per batch size
    small_batch: int = 32  # the small batch of the accuracy comparison
    large_batch: int = 4096  # the large batch of the accuracy comparison
    epochs: int = 5  # epochs for both (equal epochs)
    lr: float = 0.1  # SGD learning rate
    lr_scaling: str = "none"  # none: same lr for every B | sqrt | linear (× (B / small_batch)^p)
    train_images: int = 60000  # training images for the accuracy comparison
    test_images: int | None = None  # test images (None: all 10,000)
    device: str = "auto"  # cpu | cuda | auto (timings on a GPU are synchronised)
    # 3) equal updates, then the sharpness of each end point (same lr policy as above)
    equal_updates: int = 1875  # SGD updates for both (one epoch of batch 32 on 60,000 images)
    equal_updates_large_batch: int = 1024  # the large batch here (4,096 would take ~4x longer)
    sharpness_images: int = 2000  # first training images the Hessian and perturbations see
    sharpness_radius: float = 0.01  # ρ: each weight tensor moved by ρ times its own norm
    sharpness_samples: int = 10  # random perturbations averaged
    lanczos_iters: int = 20  # Lanczos steps for the top Hessian eigenvalue


def _build(name: str) -> nn.Module:
    if name == "mlp":
        return create("mlp", in_features=784, hidden=(256, 256), num_classes=10)
    return create(name)


def _has_batch_norm(model: nn.Module) -> bool:
    return any("BatchNorm" in type(m).__name__ for m in model.modules())


def _lr_for(cfg: Config, batch: int) -> float:
    power = {"none": 0.0, "sqrt": 0.5, "linear": 1.0}.get(cfg.lr_scaling)
    if power is None:
        raise ConfigError(f"lr_scaling must be none, sqrt or linear, got {cfg.lr_scaling!r}")
    # η_B = η · (B / B_small)^p
    return cfg.lr * (batch / cfg.small_batch) ** power


def time_updates(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, lr: float,
                 min_seconds: float, min_updates: int, max_updates: int) -> dict[str, float]:
    """Wall-clock seconds of one SGD update (forward, backward, step) on ``batch`` examples.

    Runs on the device of ``x`` (the model is moved there). Two untimed warm-up updates, then
    updates until both ``min_updates`` and ``min_seconds`` are reached (at most
    ``max_updates``); returns the mean seconds per update.
    """
    model = model.to(x.device)
    sync = torch.cuda.synchronize if x.device.type == "cuda" else (lambda: None)
    loss_fn = CrossEntropyLoss()
    opt = create_optimizer("sgd", model.parameters(), lr=lr)
    model.train()
    n = x.shape[0]
    starts = torch.arange(0, max(n - batch, 0) + 1, batch)  # consecutive batches of the data

    def update(i: int) -> None:
        s = int(starts[i % len(starts)])
        loss = loss_fn(model(x[s: s + batch]), y[s: s + batch])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for i in range(2):
        update(i)
    sync()
    count, began = 0, time.perf_counter()
    while count < max_updates:
        update(count)
        count += 1
        sync()
        if count >= min_updates and time.perf_counter() - began >= min_seconds:
            break
    per_update = (time.perf_counter() - began) / count
    return {"batch_size": batch, "timed_updates": count, "seconds_per_update": per_update,
            "examples_per_second": batch / per_update,
            "updates_per_epoch": math.ceil(EPOCH_IMAGES / batch),
            "seconds_per_epoch": per_update * math.ceil(EPOCH_IMAGES / batch)}


def train_for_updates(model: nn.Module, train, batch: int, lr: float, updates: int, seed: int,
                      device: str) -> Trainer:
    """Plain SGD for exactly ``updates`` steps of ``batch`` examples each (the last, smaller
    batch of an epoch is dropped, so every update averages ``batch`` gradients)."""
    loader = MiniBatches(train, batch_size=batch, shuffle=True, seed=seed, drop_last=True)
    config = TrainConfig(epochs=math.ceil(updates / len(loader)), max_steps=updates, seed=seed,
                         device=device, progress=False)
    trainer = Trainer(model, create_optimizer("sgd", model.parameters(), lr=lr),
                      CrossEntropyLoss(), loader, None, metrics={"accuracy": accuracy},
                      config=config)
    trainer.fit()
    return trainer


def sharpness(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: Config,
              radii: tuple[float, ...]) -> dict[str, float]:
    r"""How sharp the training loss is at ``model``'s weights, on the images ``x``.

    ``top_hessian_eigenvalue``: :math:`\lambda_{max}(\nabla^2 L)` by Lanczos
    (``cfg.lanczos_iters`` Hessian-vector products); ``loss_increase_r{i}``: the mean of
    :math:`\tfrac12[L(\theta + \delta) + L(\theta - \delta)] - L(\theta)` over
    ``cfg.sharpness_samples`` random :math:`\delta` with :math:`\|\delta_l\| = \rho_i \|W_l\|`
    per weight tensor (:func:`~deepnotes.analysis.sharpness.perturbation_sharpness`), one per
    radius in ``radii``. Evaluated in eval mode (BatchNorm uses its running statistics).
    """
    model.eval()
    loss = model_closure(model, CrossEntropyLoss(), x, y)
    top = extreme_eigenpairs(loss, model, num_iters=cfg.lanczos_iters, seed=cfg.seed)
    with torch.no_grad():
        out = {"loss": float(loss()), "top_hessian_eigenvalue": float(top.values[-1])}
    for i, rho in enumerate(radii):
        out[f"loss_increase_r{i}"] = perturbation_sharpness(
            loss, model, rho, cfg.sharpness_samples, seed=cfg.seed).mean
    return out


def run(cfg: Config, out_dir: Path) -> LessonResult:
    device = resolve_device(cfg.device)
    name = cfg.model
    if name not in ("lenet-modern", "mlp"):
        raise ConfigError(f"model must be lenet-modern or mlp, got {name!r}")
    probe = _build(name)
    n_train, large, epochs = cfg.train_images, cfg.large_batch, cfg.epochs
    if not cfg.small_batch < large <= n_train:
        raise ConfigError(f"need small_batch < large_batch <= training images, got "
                          f"{cfg.small_batch}, {large}, {n_train}")
    if not cfg.small_batch < cfg.equal_updates_large_batch <= n_train:
        raise ConfigError(f"need small_batch < equal_updates_large_batch <= training images, "
                          f"got {cfg.small_batch}, {cfg.equal_updates_large_batch}, {n_train}")
    if cfg.equal_updates < 1 or not 0 < cfg.sharpness_images <= n_train:
        raise ConfigError(f"need equal_updates >= 1 and 0 < sharpness_images <= {n_train}, got "
                          f"{cfg.equal_updates} and {cfg.sharpness_images}")
    min_batch = 2 if _has_batch_norm(probe) else 1  # BN needs two examples to normalise over
    timing_batches = sorted({max(b, min_batch) for b in cfg.timing_batches})
    min_seconds = cfg.timing_seconds
    lo_updates, hi_updates = cfg.timing_updates

    train = load("fashion-mnist", split="train", limit=max(n_train, max(timing_batches)))
    test = load("fashion-mnist", split="test", limit=cfg.test_images)

    # 1) time per update and per epoch against batch size
    timing = []
    x_dev, y_dev = train.x.to(device), train.y.to(device)
    for b in timing_batches:
        torch.manual_seed(cfg.seed)
        timing.append(time_updates(_build(name), x_dev, y_dev, b, _lr_for(cfg, b),
                                   min_seconds, lo_updates, hi_updates))
    del x_dev, y_dev

    # 2) small vs large batch at equal epochs, same lr policy
    acc_train = train.subset(torch.arange(n_train)) if len(train) > n_train else train
    runs = {}
    for label, b in (("small", cfg.small_batch), ("large", large)):
        torch.manual_seed(cfg.seed)
        model = _build(name)
        fit = fit_classifier(model, acc_train, test, optimizer="sgd", lr=_lr_for(cfg, b),
                             epochs=epochs, batch_size=b, seed=cfg.seed, progress=False,
                             device=str(device))
        train_eval = fit.trainer.evaluate(fit.trainer.train_data)
        runs[label] = {"batch": b, "fit": fit, "model": model, "train": train_eval}

    # 3) equal numbers of updates, then the sharpness of each end point on training images
    x_sharp = acc_train.x[:cfg.sharpness_images].to(device)
    y_sharp = acc_train.y[:cfg.sharpness_images].to(device)
    radii = tuple(cfg.sharpness_radius * m for m in (0.25, 0.5, 1.0, 2.0, 4.0))
    equal = {}
    for label, b in (("small", cfg.small_batch), ("large", cfg.equal_updates_large_batch)):
        torch.manual_seed(cfg.seed)
        model = _build(name)
        trainer = train_for_updates(model, acc_train, b, _lr_for(cfg, b), cfg.equal_updates,
                                    cfg.seed, str(device))
        test_eval = trainer.evaluate(MiniBatches(test, 1024, shuffle=False))
        train_eval = trainer.evaluate(MiniBatches(acc_train, 1024, shuffle=False))
        equal[label] = {"batch": b, "updates": trainer.step, "test": test_eval,
                        "train": train_eval, **sharpness(model, x_sharp, y_sharp, cfg, radii)}

    metrics: dict[str, float] = {"threads": float(torch.get_num_threads()),
                                 "epochs": float(epochs), "train_images": float(n_train),
                                 "cuda": float(device.type == "cuda")}
    fastest = min(timing, key=lambda row: row["seconds_per_epoch"])["batch_size"]
    metrics["fastest_epoch_batch"] = float(fastest)
    for row in timing:
        b = row["batch_size"]
        metrics[f"seconds_per_update_b{b}"] = row["seconds_per_update"]
        metrics[f"seconds_per_epoch_b{b}"] = row["seconds_per_epoch"]
        metrics[f"updates_per_epoch_b{b}"] = float(row["updates_per_epoch"])
    for label, r in runs.items():
        fit = r["fit"]
        metrics[f"{label}_batch"] = float(r["batch"])
        metrics[f"{label}_batch_lr"] = _lr_for(cfg, r["batch"])
        metrics[f"{label}_batch_test_accuracy"] = fit.test["accuracy"]
        metrics[f"{label}_batch_test_loss"] = fit.test["loss"]
        metrics[f"{label}_batch_train_accuracy"] = r["train"]["accuracy"]
        metrics[f"{label}_batch_train_loss"] = r["train"]["loss"]
        metrics[f"{label}_batch_gap"] = r["train"]["accuracy"] - fit.test["accuracy"]
        metrics[f"{label}_batch_updates"] = float(fit.trainer.step)
        # measured, not estimated: the mean wall-clock seconds of one training epoch
        metrics[f"{label}_batch_measured_seconds_per_epoch"] = (
            sum(row["seconds"] for row in fit.history.rows) / len(fit.history.rows))
    metrics["equal_updates"] = float(cfg.equal_updates)
    metrics["sharpness_radius"] = cfg.sharpness_radius
    for label, r in equal.items():
        pre = f"equal_updates_{label}"
        metrics.update({
            f"{pre}_batch": float(r["batch"]), f"{pre}_updates": float(r["updates"]),
            f"{pre}_examples_seen": float(r["batch"] * r["updates"]),
            f"{pre}_test_accuracy": r["test"]["accuracy"], f"{pre}_test_loss": r["test"]["loss"],
            f"{pre}_train_accuracy": r["train"]["accuracy"],
            f"{pre}_train_loss": r["train"]["loss"],
            f"{pre}_gap": r["train"]["accuracy"] - r["test"]["accuracy"],
            f"{pre}_top_hessian_eigenvalue": r["top_hessian_eigenvalue"],
            # radius index 2 is ρ itself (the others are ρ/4, ρ/2, 2ρ, 4ρ: the figure)
            f"{pre}_perturbation_sharpness": r["loss_increase_r2"]})
    history = [{"epoch": a["epoch"], "small_train_loss": a["train_loss"],
                "large_train_loss": b["train_loss"], "small_val_accuracy": a["val_accuracy"],
                "large_val_accuracy": b["val_accuracy"]}
               for a, b in zip(runs["small"]["fit"].history.rows,
                               runs["large"]["fit"].history.rows)]
    figures = _plot(out_dir, name, timing, runs)
    figures.append(_plot_sharpness(out_dir, name, cfg, equal, radii))
    sharper = ("large" if equal["large"]["top_hessian_eigenvalue"]
               > equal["small"]["top_hessian_eigenvalue"] else "small")
    return LessonResult(NAME, metrics, figures, history,
                        claim=(f"{name}: a bigger batch costs more per update; of B = "
                               f"{timing_batches[0]} ... {timing_batches[-1]} the epoch was "
                               f"fastest at B = {fastest} on this {device.type}; at equal epochs "
                               f"(lr policy {cfg.lr_scaling!r}) batch {cfg.small_batch} reaches a "
                               f"higher test accuracy than batch {large}; after "
                               f"{cfg.equal_updates} updates each, the {sharper}-batch model "
                               f"(B = {equal[sharper]['batch']}) sits at the sharper point (top "
                               f"Hessian eigenvalue)"),
                        tables={"timing": timing,
                                "accuracy": [{"batch_size": r["batch"],
                                              "lr": _lr_for(cfg, r["batch"]),
                                              "updates": r["fit"].trainer.step,
                                              "train_accuracy": r["train"]["accuracy"],
                                              "test_accuracy": r["fit"].test["accuracy"]}
                                             for r in runs.values()],
                                "equal_updates": [{"batch_size": r["batch"],
                                                   "lr": _lr_for(cfg, r["batch"]),
                                                   "updates": r["updates"],
                                                   "train_accuracy": r["train"]["accuracy"],
                                                   "test_accuracy": r["test"]["accuracy"],
                                                   "top_hessian_eigenvalue":
                                                       r["top_hessian_eigenvalue"],
                                                   "perturbation_sharpness":
                                                       r["loss_increase_r2"]}
                                                  for r in equal.values()],
                                "sharpness": [{"batch_size": r["batch"], "radius": rho,
                                               "loss_increase": r[f"loss_increase_r{i}"]}
                                              for r in equal.values()
                                              for i, rho in enumerate(radii)]},
                        checkpoint=save_model(runs["small"]["model"], out_dir))


def _plot(out_dir: Path, name: str, timing: list[dict], runs: dict) -> list[str]:
    fig, axes = subplots(1, 3, figsize=(15, 4))
    bs = [row["batch_size"] for row in timing]
    axes[0].loglog(bs, [row["seconds_per_update"] for row in timing], "o-")
    axes[0].set_xlabel("batch size B")
    axes[0].set_ylabel("seconds per update")
    axes[0].set_title(f"{name}: time per update (measured)")
    axes[1].loglog(bs, [row["seconds_per_epoch"] for row in timing], "s-", color="C1")
    axes[1].set_xlabel("batch size B")
    axes[1].set_ylabel(f"seconds per {EPOCH_IMAGES:,}-image epoch")
    axes[1].set_title("time per epoch = per update × ⌈N/B⌉")
    for label, style in (("small", "C0"), ("large", "C3")):
        rows = runs[label]["fit"].history.rows
        ep = [r["epoch"] for r in rows]
        b = runs[label]["batch"]
        axes[2].plot(ep, [r["train_accuracy"] for r in rows], style + "-", label=f"B={b} train")
        axes[2].plot(ep, [r["val_accuracy"] for r in rows], style + "--", label=f"B={b} test")
    axes[2].set_xlabel("epoch")
    axes[2].set_ylabel("accuracy")
    axes[2].set_title("equal epochs: small vs large batch")
    axes[2].legend(fontsize=8)
    return [save_figure(fig, out_dir / "batch_size.png")]


def _plot_sharpness(out_dir: Path, name: str, cfg: Config, equal: dict,
                    radii: tuple[float, ...]) -> str:
    fig, axes = subplots(1, 2, figsize=(11, 4))
    for (label, r), style in zip(equal.items(), ("C0", "C3")):
        b = r["batch"]
        axes[0].loglog(radii, [r[f"loss_increase_r{i}"] for i in range(len(radii))],
                       style + "o-", label=f"B={b}: test acc {r['test']['accuracy']:.3f}")
    axes[0].axvline(cfg.sharpness_radius, color="k", lw=0.8, ls=":")
    axes[0].set_xticks(radii, [f"{rho:g}" for rho in radii])
    axes[0].tick_params(axis="x", which="minor", labelbottom=False)
    axes[0].set_xlabel("ρ (perturbation norm / weight norm, per tensor)")
    axes[0].set_ylabel("mean training-loss increase")
    axes[0].set_title(f"{name}: {cfg.equal_updates} updates each")
    axes[0].legend(fontsize=8)
    labels = [f"B={r['batch']}" for r in equal.values()]
    axes[1].bar(labels, [r["top_hessian_eigenvalue"] for r in equal.values()],
                color=["C0", "C3"])
    axes[1].set_ylabel("top Hessian eigenvalue (training loss)")
    axes[1].set_title("sharpness at equal updates")
    return save_figure(fig, out_dir / "batch_size_sharpness.png")
