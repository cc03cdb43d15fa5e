"""Critical points: where training stalls, is it a local minimum or a saddle point?

Claim (notes O1): a small gradient does not mean a local minimum. The Hessian's eigenvalues
tell the kinds apart (all positive: local minimum; both signs: saddle point), and the "minimum
ratio" (share of positive eigenvalues) at the points where training stalls is usually below 1.
At a saddle, moving along the eigenvector u of the most negative eigenvalue λ lowers the loss,
L(θ + αu) ≈ L(θ) + ½α²λ, and gradient descent carries on from there, while started on the
saddle itself it does not move. What we find (full run, 72 nets): 59 of 72 stalled points have
minimum ratio < 1; of the 27 that reach an exact critical point (‖∇L‖ ≤ 1e-10), 14 are saddles
and 13 local minima, all 13 from the longest (1,000-step) training: short training stalls near
saddles, and the wider nets (h = 12, 16) never reach an exact critical point at all (the
gradient-norm search stalls on a slope of nearly flat directions, still with negative
curvature). So saddles are common where training stalls, but on nets this small true local
minima are not rare.

Experiment (as in the notes' empirical study): many small nets (10-h-1 tanh MLPs, h = 3…16,
37 to 193 weights, different seeds) on the diabetes regression data (354 training patients,
x and y standardised), loss = MSE + λ/2·‖θ‖² with a small λ = 0.01 (it keeps the critical
points isolated instead of spread along flat valleys). Phase 1: full-batch Adam for 100, 300
or 1,000 steps; phase 2: minimise ‖∇L‖² (Levenberg–Marquardt with the exact Hessian) until
‖∇L‖ ≤ 1e-10 ("critical") or it stops improving ("stalled", typically ‖∇L‖ ≈ 1e-3 after
starting from ≈ 1e-2). Then the exact Hessian (float64) gives the eigenvalues, the kind of
point and the minimum ratio (eigenvalues below max(√ε·max|λ|, ‖∇L‖) in size count as zero).
All counts are reported as they come.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import torch

from deepnotes.analysis import (
    analyse_critical_point,
    escape_direction,
    find_critical_point,
    get_flat_params,
    loss_along,
    set_flat_params,
)
from deepnotes.data import load
from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.models import create
from deepnotes.nn import MSELoss
from deepnotes.optim import create_optimizer

NAME = "critical-points"
SUMMARY = "Stalled training: Hessian eigenvalues, saddle vs minimum, minimum ratio, escape (O1)"
CONCEPTS = ("O1",)


@dataclass
class Config(LessonConfig):
    # quick: 6 nets (widths 3 and 4, one seed per setting), at most 25 Hessians a search (tests)
    QUICK = {"widths": (3, 4), "nets_per_setting": 1, "search_iters": 25}

    seed: int = 0  # base seed: net k uses seed·10000 + k
    widths: tuple[int, ...] = (3, 4, 6, 8, 12, 16)  # hidden units of the 10-h-1 tanh nets
    train_steps: tuple[int, ...] = (100, 300, 1000)  # phase-1 Adam steps (training "stalls")
    nets_per_setting: int = 4  # seeds per (width, steps) pair
    lr: float = 0.01  # phase-1 Adam learning rate (full batch)
    weight_decay: float = 1e-2  # λ of the λ/2·‖θ‖² term in the loss
    grad_tol: float = 1e-10  # a point is critical when ‖∇L‖ ≤ grad_tol
    search_iters: int = 50  # phase-2 Hessians at most
    escape_steps: int = 300  # gradient-descent steps from the saddle and from θ + α·u


_KINDS = {"saddle point": "saddles", "local minimum": "minima", "local maximum": "maxima",
          "degenerate": "degenerate"}


def _closure(model, x, y, weight_decay: float):
    mse = MSELoss()

    def closure():
        # L(θ) = MSE + λ/2·‖θ‖²
        penalty = sum((p * p).sum() for p in model.parameters())
        return mse(model(x), y) + 0.5 * weight_decay * penalty

    return closure


def _net(width: int, seed: int):
    torch.manual_seed(seed)
    return create("mlp", in_features=10, hidden=(width,), num_classes=1,
                  activation="tanh").double()


def _gradient_descent(model, closure, lr: float, steps: int) -> list[float]:
    opt = create_optimizer("sgd", model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = closure()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    losses.append(float(closure().detach()))
    return losses


def run(cfg: Config, out_dir: Path) -> LessonResult:
    widths = cfg.widths
    steps_list = cfg.train_steps
    per_setting = cfg.nets_per_setting
    search_iters = cfg.search_iters
    data = load("diabetes", split="train", standardize_target=True)
    x, y = data.x.double(), data.y.double()

    rows, thetas = [], []
    k = 0
    for _ in range(per_setting):
        for steps in steps_list:
            for width in widths:
                seed = cfg.seed * 10000 + k
                k += 1
                model = _net(width, seed)
                closure = _closure(model, x, y, cfg.weight_decay)
                # phase 1: train until progress is slow
                opt = create_optimizer("adam", model.parameters(), lr=cfg.lr)
                for _ in range(steps):
                    opt.zero_grad()
                    closure().backward()
                    opt.step()
                trained_loss = float(closure().detach())
                # phase 2: drive ‖∇L‖ to 0 (lands on the nearby critical point, of any kind)
                search = find_critical_point(closure, model, tol=cfg.grad_tol,
                                             max_iters=search_iters)
                point = analyse_critical_point(closure, model)
                with torch.no_grad():
                    mse = float(MSELoss()(model(x), y))
                rows.append({
                    "seed": seed, "width": width, "parameters": point.eigenvalues.numel(),
                    "adam_steps": steps, "loss_after_adam": trained_loss,
                    "grad_norm_after_adam": search.start_grad_norm, "loss": point.loss,
                    "mse": mse, "grad_norm": point.grad_norm,
                    "status": "critical" if search.converged else "stalled",
                    "kind": point.kind, "minimum_ratio": point.minimum_ratio,
                    "negative_eigenvalues": int((point.eigenvalues < -point.tol).sum()),
                    "lambda_min": float(point.eigenvalues[0]),
                    "lambda_max": float(point.eigenvalues[-1]),
                })
                thetas.append(get_flat_params(model))

    critical = [r for r in rows if r["status"] == "critical"]
    metrics: dict[str, float] = {
        "nets": float(len(rows)),
        "critical_points": float(len(critical)),
        "stalled_points": float(len(rows) - len(critical)),
    }
    for group, members in (("critical", critical), ("all", rows)):
        for kind, label in _KINDS.items():
            metrics[f"{group}_{label}"] = float(sum(r["kind"] == kind for r in members))
        ratios = [r["minimum_ratio"] for r in members]
        metrics[f"{group}_ratio_below_1"] = float(sum(v < 1 for v in ratios))
        metrics[f"{group}_median_minimum_ratio"] = (statistics.median(ratios) if ratios
                                                    else float("nan"))
    metrics["max_grad_norm_critical"] = max((r["grad_norm"] for r in critical),
                                            default=float("nan"))
    # the notes' picture: the lower the loss, the larger the minimum ratio (negative correlation)
    metrics["loss_ratio_correlation"] = statistics.correlation(
        [r["loss"] for r in rows], [r["minimum_ratio"] for r in rows])
    for steps in steps_list:  # short training stalls near saddles, long training near minima
        ratios = [r["minimum_ratio"] for r in rows if r["adam_steps"] == steps]
        metrics[f"mean_minimum_ratio_after_{steps}_steps"] = statistics.fmean(ratios)

    escape, curves = _escape(cfg, rows, thetas, x, y)
    metrics.update(escape)
    figures = [_scatter(rows, out_dir), _escape_figure(curves, escape, out_dir)]
    claim = (f"{int(metrics['all_ratio_below_1'])} of {len(rows)} points where training stalled "
             f"have minimum ratio < 1 ({int(metrics['critical_saddles'])} of "
             f"{len(critical)} exact critical points are saddles); a step along the negative "
             f"eigenvector lowers the loss by {escape.get('escape_drop', float('nan')):.2e} and "
             f"training continues from there")
    return LessonResult(NAME, metrics, figures, [], claim=claim, tables={"points": rows})


def _escape(cfg: Config, rows, thetas, x, y):
    """Leave a saddle along u: the loss along θ + αu, and gradient descent from both points."""
    saddles = [i for i, r in enumerate(rows) if r["kind"] == "saddle point"]
    if not saddles:
        return {"escape_found_saddle": 0.0}, None
    # the exact critical saddle with the most negative eigenvalue (else a stalled one)
    i = min(saddles, key=lambda j: (rows[j]["status"] != "critical", rows[j]["lambda_min"]))
    model = _net(rows[i]["width"], rows[i]["seed"])
    set_flat_params(model, thetas[i])
    closure = _closure(model, x, y, cfg.weight_decay)
    point = analyse_critical_point(closure, model)
    lam, u = escape_direction(point.eigenvalues, point.eigenvectors)
    lam_max = float(point.eigenvalues[-1])
    alphas = torch.linspace(-1.0, 1.0, 201, dtype=torch.float64)
    along_u = loss_along(closure, model, u, alphas)
    best = int(torch.argmin(along_u))
    alpha = float(alphas[best])
    small = 0.01  # where the quadratic model ½α²λ should hold
    drop_small = float(loss_along(closure, model, u, [small])[0]) - point.loss
    # gradient descent with step 1/λ_max from the saddle and from θ + α·u
    lr = 1.0 / lam_max
    stay = _gradient_descent(model, closure, lr, cfg.escape_steps)
    set_flat_params(model, thetas[i] + alpha * u)
    leave = _gradient_descent(model, closure, lr, cfg.escape_steps)
    metrics = {
        "escape_found_saddle": 1.0,
        "escape_from_critical": float(rows[i]["status"] == "critical"),
        "escape_saddle_loss": point.loss,
        "escape_saddle_grad_norm": point.grad_norm,
        "escape_lambda_min": lam,
        "escape_alpha": alpha,
        "escape_loss_after_step": float(along_u[best]),
        "escape_drop": point.loss - float(along_u[best]),
        "escape_quadratic_ratio": drop_small / (0.5 * small ** 2 * lam),
        "escape_gd_from_saddle_loss": stay[-1],
        "escape_gd_from_step_loss": leave[-1],
    }
    curves = {"alphas": alphas, "along_u": along_u, "loss": point.loss,
              "lam": lam, "lam_max": lam_max, "stay": stay, "leave": leave}
    return metrics, curves


def _scatter(rows, out_dir: Path) -> str:
    fig, ax = subplots(figsize=(6.5, 4.5))
    colours = {"saddle point": "tab:red", "local minimum": "tab:blue",
               "degenerate": "tab:grey", "local maximum": "tab:green"}
    for kind, colour in colours.items():
        for status, face in (("critical", colour), ("stalled", "none")):
            pts = [r for r in rows if r["kind"] == kind and r["status"] == status]
            if pts:
                ax.scatter([r["minimum_ratio"] for r in pts], [r["loss"] for r in pts],
                           facecolors=face, edgecolors=colour, label=f"{kind} ({status})")
    ax.set_xlabel("minimum ratio = #positive eigenvalues / #eigenvalues")
    ax.set_ylabel("training loss at the point")
    ax.set_title("Where training stalls (filled: ‖∇L‖ ≤ 1e-10; hollow: stalled)")
    ax.legend(fontsize=8)
    return save_figure(fig, out_dir / "critical_points_scatter.png")


def _escape_figure(curves, escape, out_dir: Path) -> str:
    fig, (ax1, ax2) = subplots(1, 2, figsize=(11, 4.2))
    if curves is not None:
        a = curves["alphas"]
        drop = curves["along_u"] - curves["loss"]
        ax1.plot(a, drop, label=f"along u (λ_min = {curves['lam']:.2e})")
        ax1.plot(a, 0.5 * a ** 2 * curves["lam"], "--", label="½α²λ_min (Taylor)")
        ax1.axvline(escape["escape_alpha"], color="k", lw=0.6, label="escape step")
        low = float(drop.min())
        ax1.set_ylim(2 * low, -1.5 * low)
        ax1.set_xlabel("α")
        ax1.set_ylabel("L(θ + α·u) − L(θ)")
        ax1.set_title(f"Loss through the saddle (along v_max it rises: λ_max = "
                      f"{curves['lam_max']:.2f})", fontsize=10)
        ax1.legend(fontsize=8)
        ax2.plot(curves["stay"], label="GD started on the saddle")
        ax2.plot(curves["leave"], label="GD started at θ + α·u")
        ax2.set_xlabel("gradient-descent step")
        ax2.set_ylabel("training loss")
        ax2.set_title("Escaping the saddle")
        ax2.legend(fontsize=8)
    return save_figure(fig, out_dir / "critical_points_escape.png")
