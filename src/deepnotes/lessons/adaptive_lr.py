"""Adaptive learning rates on a long flat valley: GD, Adagrad, RMSProp, Adam, and LR schedules.

Claim (notes O4–O7): on an error surface that is steep across a valley and flat along it,
  * plain gradient descent with a learning rate large enough to move along the valley
    bounces from wall to wall (the loss stops falling while the gradient stays large), and a
    smaller rate that does not bounce crawls;
  * Adagrad divides by σ = √(Σ all past g²): σ only grows, so after the steep start its step
    along the flat direction keeps shrinking and it stalls far from the minimum;
  * RMSProp (σ² = α·σ² + (1−α)·g², an exponential average) forgets the old large gradients,
    and Adam (RMSProp + momentum, bias-corrected) too: with the same η and steps both end
    much closer to the minimum;
  * with a constant η, RMSProp's σ across the valley shrinks once y has settled, so η/σ
    grows and it ends jittering across the valley (the notes' "learning-rate explosion");
    decaying η (cosine annealing) removes the jitter;
  * RMSProp's σ starts from 0, so its first steps are η/√(1−α) (10× η for α = 0.99): the σ
    statistics are unreliable at first, which is the notes' reason for warm-up; a linear
    warm-up keeps those first steps small (Adam's bias correction does the same job);
  * the schedules (step, exponential, cosine, inverse square root, warm-up + cosine) have
    the shapes the notes draw.

Surface: f(x, y) = a·x² + b·y² with a = 0.01 (flat) and b = 5 (steep), minimum at (0, 0),
start (−10, 1). Optimizers are deepnotes.optim's; schedules deepnotes.optim's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.optim import (
    CosineAnnealingLR,
    ExponentialLR,
    InverseSqrtLR,
    LinearWarmup,
    StepLR,
    create_optimizer,
    warmup_cosine,
)

NAME = "adaptive-lr"
SUMMARY = "Flat valley: GD bounces, Adagrad stalls, RMSProp/Adam arrive; warm-up, schedules (O4–O7)"
CONCEPTS = ("O4", "O5", "O6", "O7", "B4")


@dataclass
class Config(LessonConfig):
    # quick mode runs the same numbers: the lesson takes about a second either way (nothing
    # here is random, so the seed changes nothing either)
    QUICK = {}

    flat: float = 0.01  # a in f = a·x² + b·y² (curvature 2a along the valley)
    steep: float = 5.0  # b (curvature 2b across the valley)
    start: tuple[float, float] = (-10.0, 1.0)  # starting point (x, y)
    steps: int = 200  # optimizer steps for every method
    lr: float = 0.1  # η of Adagrad, RMSProp and Adam
    rmsprop_alpha: float = 0.9  # RMSProp's α in the valley race (d2l's choice)
    gd_big: float = 0.95  # GD lr as a fraction of the stability limit 2/λ_max
    gd_small: float = 0.25  # a GD lr that does not bounce, as a fraction of 2/λ_max
    warmup_steps: int = 20  # warm-up length for the RMSProp warm-up run and the plots
    schedule_steps: int = 200  # steps shown in the schedule plot


def _surface(cfg: Config):
    def f(p: torch.Tensor) -> torch.Tensor:
        # f(x, y) = a·x² + b·y²
        return cfg.flat * p[..., 0] ** 2 + cfg.steep * p[..., 1] ** 2

    return f


def _sigma(name: str, state: dict[str, Any], step: int) -> torch.Tensor:
    """The per-coordinate σ the optimizer divides by after ``step`` steps."""
    if name == "adagrad":
        return state["sum"].sqrt()  # σ = √(Σ g²)
    if name == "rmsprop":
        return state["square_avg"].sqrt()  # σ = √(EMA of g²)
    if name == "adam":
        beta2 = 0.999
        return (state["exp_avg_sq"] / (1 - beta2 ** step)).sqrt()  # σ = √v̂
    raise KeyError(name)


def _descend(cfg: Config, name: str, lr: float, steps: int, schedule=None, **kwargs):
    """Run one optimizer from ``cfg.start``; return the path (steps+1, 2), σ's and step lrs."""
    f = _surface(cfg)
    p = torch.tensor(cfg.start, dtype=torch.float64, requires_grad=True)
    opt = create_optimizer(name, [p], lr=lr, **kwargs)
    sched = schedule(opt) if schedule is not None else None
    path, sigmas, lrs = [p.detach().clone()], [], []
    for t in range(1, steps + 1):
        lrs.append(opt.param_groups[0]["lr"])
        opt.zero_grad()
        f(p).backward()
        opt.step()
        if sched is not None:
            sched.step()
        path.append(p.detach().clone())
        if name != "sgd":
            sigmas.append(_sigma(name, opt.state[p], t).clone())
    return torch.stack(path), (torch.stack(sigmas) if sigmas else None), lrs


def run(cfg: Config, out_dir: Path) -> LessonResult:
    f = _surface(cfg)
    lam_max = 2 * max(cfg.flat, cfg.steep)
    rms = f"RMSProp (α={cfg.rmsprop_alpha})"
    cosine = lambda opt: CosineAnnealingLR(opt, T_max=cfg.steps)  # noqa: E731
    # label -> (metric key, optimizer, lr, schedule, optimizer arguments)
    runs = {
        "GD, large lr": ("gd_large", "sgd", cfg.gd_big * 2 / lam_max, None, {}),
        "GD, small lr": ("gd_small", "sgd", cfg.gd_small * 2 / lam_max, None, {}),
        "Adagrad": ("adagrad", "adagrad", cfg.lr, None, {}),
        rms: ("rmsprop", "rmsprop", cfg.lr, None, {"alpha": cfg.rmsprop_alpha}),
        "Adam": ("adam", "adam", cfg.lr, None, {}),
        rms + " + cosine decay": ("rmsprop_cosine", "rmsprop", cfg.lr, cosine,
                                  {"alpha": cfg.rmsprop_alpha}),
    }
    keys = {label: spec[0] for label, spec in runs.items()}
    paths, sigmas, rows = {}, {}, []
    metrics: dict[str, float] = {"steps": float(cfg.steps)}
    for label, (key, name, lr, schedule, kwargs) in runs.items():
        path, sigma, _ = _descend(cfg, name, lr, cfg.steps, schedule=schedule, **kwargs)
        paths[label], sigmas[label] = path, sigma
        end = path[-1]
        dist = float(end.norm())
        # the valley walls: sign changes of y between consecutive points
        bounces = int(((path[1:, 1] * path[:-1, 1]) < 0).sum())
        metrics[f"{key}_lr"] = lr
        metrics[f"{key}_distance"] = dist
        metrics[f"{key}_final_loss"] = float(f(end))
        metrics[f"{key}_y_sign_changes"] = float(bounces)
        metrics[f"{key}_final_abs_y"] = float(end[1].abs())
        metrics[f"{key}_final_grad_norm"] = float(torch.stack(
            [2 * cfg.flat * end[0], 2 * cfg.steep * end[1]]).norm())
        rows.append({"optimizer": label, "lr": lr, "final_x": float(end[0]),
                     "final_y": float(end[1]), "distance": dist, "final_loss": float(f(end)),
                     "y_sign_changes": bounces})
        if sigma is not None:
            # σ along the flat direction x and the effective step η/σ_x
            metrics[f"{key}_sigma_x_first"] = float(sigma[0, 0])
            metrics[f"{key}_sigma_x_last"] = float(sigma[-1, 0])
            metrics[f"{key}_sigma_x_max"] = float(sigma[:, 0].max())
            dx = (path[1:, 0] - path[:-1, 0]).abs()
            metrics[f"{key}_step_x_first"] = float(dx[0])
            metrics[f"{key}_step_x_last"] = float(dx[-1])
    ada = sigmas["Adagrad"][:, 0]
    metrics["adagrad_sigma_x_growth"] = float(ada[-1] / ada[0])
    metrics["adagrad_sigma_x_nondecreasing"] = float(bool((ada[1:] >= ada[:-1]).all()))
    metrics["adagrad_effective_lr_x_first"] = cfg.lr / float(ada[0])
    metrics["adagrad_effective_lr_x_last"] = cfg.lr / float(ada[-1])

    warm = _warmup_demo(cfg)
    metrics.update(warm["metrics"])
    schedules = _schedules(cfg)
    metrics.update(_schedule_metrics(cfg, schedules))

    history = [{"step": t, **{f"{keys[k]}_{c}": float(paths[k][t, i])
                              for k in paths for i, c in enumerate("xy")}}
               for t in range(cfg.steps + 1)]
    figures = [_path_figure(cfg, paths, out_dir), _sigma_figure(cfg, sigmas, out_dir),
               _schedule_figure(cfg, schedules, warm, out_dir)]
    claim = (f"after {cfg.steps} steps at η={cfg.lr}: Adagrad is {metrics['adagrad_distance']:.2f} "
             f"from the minimum (σ_x grew {metrics['adagrad_sigma_x_growth']:.0f}×), RMSProp "
             f"{metrics['rmsprop_distance']:.3f}, Adam {metrics['adam_distance']:.3f}; GD at "
             f"{cfg.gd_big:.2f}·2/λ_max bounces {int(metrics['gd_large_y_sign_changes'])} times "
             f"and ends {metrics['gd_large_distance']:.2f} away")
    schedule_rows = [{"step": t, **{k: v[t] for k, v in schedules.items()}}
                     for t in range(cfg.schedule_steps + 1)]
    return LessonResult(NAME, metrics, figures, history, claim=claim,
                        tables={"optimizers": rows, "schedules": schedule_rows})


# ------------------------------------------------------------------------------- warm-up

def _warmup_demo(cfg: Config) -> dict[str, Any]:
    """RMSProp with torch's α = 0.99 with and without linear warm-up, and Adam: first steps."""
    n = 3 * cfg.warmup_steps
    out: dict[str, Any] = {"metrics": {}, "steps": {}}
    settings = {
        "rmsprop": ("rmsprop", None),
        # the ramp starts at η/w so that the first step is not wasted
        "rmsprop_warmup": ("rmsprop", lambda opt: LinearWarmup(
            opt, cfg.warmup_steps, start_factor=1 / cfg.warmup_steps)),
        "adam": ("adam", None),
    }
    for key, (name, sched) in settings.items():
        kwargs = {"alpha": 0.99} if name == "rmsprop" else {}
        path, _, lrs = _descend(cfg, name, cfg.lr, n, schedule=sched, **kwargs)
        steps = (path[1:] - path[:-1]).norm(dim=1)  # |Δθ_t|
        out["steps"][key] = steps
        out["metrics"][f"warmup_{key}_first_step"] = float(steps[0])
        out["metrics"][f"warmup_{key}_max_step_early"] = float(steps[: cfg.warmup_steps].max())
        out["metrics"][f"warmup_{key}_distance"] = float(path[-1].norm())
    out["metrics"]["warmup_rmsprop_first_step_over_lr"] = (
        out["metrics"]["warmup_rmsprop_first_step"] / (cfg.lr * math.sqrt(2)))
    return out


# ----------------------------------------------------------------------------- schedules

def _schedules(cfg: Config) -> dict[str, list[float]]:
    """lr_t / η for t = 0 … schedule_steps of each schedule (built on a throwaway optimizer)."""
    T, w = cfg.schedule_steps, cfg.warmup_steps

    def make(build):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = build(opt)
        return [sched.lrs_at(t)[0] for t in range(T + 1)]

    return {
        "step decay (γ=0.5 every T/4)": make(lambda o: StepLR(o, step_size=T // 4, gamma=0.5)),
        "exponential (γ=0.98)": make(lambda o: ExponentialLR(o, gamma=0.98)),
        "cosine annealing": make(lambda o: CosineAnnealingLR(o, T_max=T)),
        "inverse sqrt (Transformer)": make(lambda o: InverseSqrtLR(o, warmup_steps=w)),
        "linear warm-up, then constant": make(lambda o: LinearWarmup(o, w)),
        "warm-up + cosine": make(lambda o: warmup_cosine(o, warmup_steps=w, total_steps=T)),
    }


def _schedule_metrics(cfg: Config, s: dict[str, list[float]]) -> dict[str, float]:
    T, w = cfg.schedule_steps, cfg.warmup_steps
    wc = s["warm-up + cosine"]
    inv = s["inverse sqrt (Transformer)"]
    return {
        "warmup_cosine_start": wc[0],
        "warmup_cosine_peak_step": float(max(range(T + 1), key=lambda t: wc[t])),
        "warmup_cosine_peak": max(wc),
        "warmup_cosine_end": wc[T],
        "inverse_sqrt_peak_step": float(max(range(T + 1), key=lambda t: inv[t])),
        # after the peak lr ∝ 1/√s (s = t + 1): four times the steps, half the lr
        "inverse_sqrt_ratio_4x": inv[4 * w - 1] / inv[w - 1],
        "cosine_mid": s["cosine annealing"][T // 2],
    }


# ------------------------------------------------------------------------------- figures

def _path_figure(cfg: Config, paths, out_dir: Path) -> str:
    f = _surface(cfg)
    x0 = abs(cfg.start[0]) * 1.15
    y0 = abs(cfg.start[1]) * 1.6
    X, Y = torch.meshgrid(torch.linspace(-x0, x0 / 3, 200), torch.linspace(-y0, y0, 200),
                          indexing="xy")
    Z = f(torch.stack([X, Y], dim=-1))
    fig, ax = subplots(figsize=(10, 4.5))
    ax.contour(X.numpy(), Y.numpy(), Z.numpy(), levels=25, cmap="Greys", linewidths=0.6)
    for label, path in paths.items():
        p = path.numpy()
        ax.plot(p[:, 0], p[:, 1], lw=1.0, marker=".", ms=2.5, label=label)
    ax.plot(0, 0, "k*", ms=12, label="minimum")
    ax.set_xlabel("x (flat direction)")
    ax.set_ylabel("y (steep direction)")
    ax.set_title(f"f = {cfg.flat}·x² + {cfg.steep}·y², {cfg.steps} steps each")
    ax.legend(fontsize=8, loc="upper right")
    return save_figure(fig, out_dir / "adaptive_lr_paths.png")


def _sigma_figure(cfg: Config, sigmas, out_dir: Path) -> str:
    fig, (ax1, ax2) = subplots(1, 2, figsize=(11, 4.2))
    for label, sigma in sigmas.items():
        if sigma is None or "decay" in label:
            continue
        ax1.plot(sigma[:, 0].numpy(), label=label)
        ax2.plot((cfg.lr / sigma[:, 0]).numpy(), label=label)
    ax1.set_yscale("log")
    ax1.set_xlabel("step")
    ax1.set_ylabel("σ along x")
    ax1.set_title("Adagrad's σ only grows; RMSProp's/Adam's follow the gradient")
    ax2.set_yscale("log")
    ax2.set_xlabel("step")
    ax2.set_ylabel("η / σ along x")
    ax2.set_title("Effective learning rate along the flat direction")
    for ax in (ax1, ax2):
        ax.legend(fontsize=8)
    return save_figure(fig, out_dir / "adaptive_lr_sigma.png")


def _schedule_figure(cfg: Config, schedules, warm, out_dir: Path) -> str:
    fig, (ax1, ax2) = subplots(1, 2, figsize=(11, 4.2))
    for label, values in schedules.items():
        ax1.plot(values, label=label)
    ax1.set_xlabel("step t")
    ax1.set_ylabel("lr_t / η")
    ax1.set_title(f"Learning-rate schedules (warm-up {cfg.warmup_steps} steps)")
    ax1.legend(fontsize=8)
    names = {"rmsprop": "RMSProp α=0.99", "rmsprop_warmup": "RMSProp α=0.99 + warm-up",
             "adam": "Adam (bias-corrected)"}
    for key, steps in warm["steps"].items():
        ax2.plot(steps.numpy(), label=names[key])
    ax2.axhline(cfg.lr * math.sqrt(2), color="grey", lw=0.6, ls="--", label="η·√2 (sign step)")
    ax2.set_yscale("log")
    ax2.set_xlabel("step")
    ax2.set_ylabel("|Δθ|")
    ax2.set_title("First steps: σ from few gradients is too small")
    ax2.legend(fontsize=8)
    return save_figure(fig, out_dir / "adaptive_lr_schedules.png")
