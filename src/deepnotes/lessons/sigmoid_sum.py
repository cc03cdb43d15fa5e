"""A curve is a constant plus a sum of sigmoids; more pieces fit it better.

Claim (notes B5; Hung-yi Lee's lecture 1): any piecewise-linear curve equals a constant plus a
sum of "hard sigmoids", each a ramp that is built from two ReLUs, and any smooth curve is
approximated as closely as we like by enough pieces; soft sigmoids do the same job:

.. math::
    y \\approx b + \\sum_{i=1}^{n} c_i\\,\\sigma(b_i + w_i x), \\qquad
    y \\approx b + \\sum_{i=1}^{n} c_i\\,[\\mathrm{ReLU}(b_i + w_i x)
        - \\mathrm{ReLU}(b_i + w_i x - 1)]

The error falls as the number of pieces n grows. Stacking such sums is a neural network (one
hidden layer of n units here).

Data: two curves on [0, 1], sampled at 256 evenly spaced training points and judged on 2,001
points between them: a piecewise-linear curve with five kinks at irregular places, and a smooth
one, 0.5 + 0.3·sin(3πx) + 0.2·x². Fitting: piece i starts as a ramp over the i-th of n equal
intervals; the heights c_i and the constant b are solved by least squares; then all of
(b, c_i, b_i, w_i) are refined by Adam on the mean squared error, keeping the best iterate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

from deepnotes.figures import save_figure, subplots
from deepnotes.functional import hard_sigmoid, relu, sigmoid
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.models.linear import normal_equation

NAME = "sigmoid-sum"
SUMMARY = ("constant + sum of n sigmoids / hard sigmoids (two ReLUs) fits a curve; error falls "
           "with n (B5)")
CONCEPTS = ("B5", "B6")

# piecewise-linear target: kinks at irregular x, so no equal-interval grid hits them all
_KNOTS_X = (0.0, 0.13, 0.3, 0.47, 0.62, 0.81, 1.0)
_KNOTS_Y = (0.2, 0.7, 0.45, 1.0, 0.3, 0.8, 0.5)


def piecewise_linear(x: Tensor) -> Tensor:
    """The lesson's piecewise-linear curve: straight lines between ``_KNOTS_X``/``_KNOTS_Y``."""
    kx = torch.tensor(_KNOTS_X, dtype=x.dtype)
    ky = torch.tensor(_KNOTS_Y, dtype=x.dtype)
    seg = torch.clamp(torch.searchsorted(kx, x, right=True) - 1, 0, len(kx) - 2)
    t = (x - kx[seg]) / (kx[seg + 1] - kx[seg])
    return ky[seg] + t * (ky[seg + 1] - ky[seg])


def smooth(x: Tensor) -> Tensor:
    """The lesson's smooth curve 0.5 + 0.3·sin(3πx) + 0.2·x²."""
    return 0.5 + 0.3 * torch.sin(3 * torch.pi * x) + 0.2 * x * x


TARGETS: dict[str, Callable[[Tensor], Tensor]] = {"piecewise-linear": piecewise_linear,
                                                  "smooth": smooth}


@dataclass
class Config(LessonConfig):
    # quick: 100 Adam steps instead of 3,000 (tests); the fit is deterministic (no seed used)
    QUICK = {"steps": 100}

    pieces: tuple[int, ...] = (1, 2, 4, 8, 16, 32)  # numbers of sigmoids n
    train_points: int = 256  # evenly spaced training points on [0, 1]
    steps: int = 3000  # Adam refinement steps
    lr: float = 0.01  # Adam learning rate for the refinement
    figure_pieces: int = 6  # n drawn piece by piece in the figure


def pieces(x: Tensor, b: Tensor, w: Tensor, kind: str) -> Tensor:
    """Each piece's unit curve at ``x``: ``σ(b_i + w_i x)`` or ``ReLU(z) - ReLU(z - 1)``.

    Shape:
        - x: ``(N,)``; b, w: ``(n,)``. Output: ``(N, n)``.
    """
    z = b + w * x.unsqueeze(1)  # (N, n)
    if kind == "sigmoid":
        return sigmoid(z)
    # hard sigmoid = two ReLUs: ReLU(z) - ReLU(z - 1)
    return relu(z) - relu(z - 1.0)


def init_pieces(n: int, kind: str, dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """``(b, w)`` putting piece i on the i-th of n equal intervals of [0, 1].

    Hard: ``z = n x - i`` goes 0 → 1 across [i/n, (i+1)/n]. Sigmoid: centred on the interval's
    middle with ``w = 4n``, so ``σ`` rises from 0.12 to 0.88 across it.
    """
    i = torch.arange(n, dtype=dtype)
    if kind == "sigmoid":
        return -4.0 * (i + 0.5), torch.full((n,), 4.0 * n, dtype=dtype)
    return -i, torch.full((n,), float(n), dtype=dtype)


def fit_sum(x: Tensor, y: Tensor, n: int, kind: str, steps: int, lr: float) -> dict[str, Tensor]:
    """Fit ``y ≈ b0 + Σ c_i φ(b_i + w_i x)``: least squares for (b0, c), then Adam on everything.

    Returns the parameters ``b0, c, b, w`` with the lowest training MSE seen.
    """
    b, w = init_pieces(n, kind, x.dtype)
    c, b0 = normal_equation(pieces(x, b, w, kind), y)
    params = [p.clone().requires_grad_(True) for p in (b0.reshape(1), c, b, w)]
    opt = torch.optim.Adam(params, lr=lr)

    def loss_of(ps: list[Tensor]) -> Tensor:
        pred = ps[0] + pieces(x, ps[2], ps[3], kind) @ ps[1]  # (N,)
        return ((pred - y) ** 2).mean()

    best_loss, best = float("inf"), [p.detach().clone() for p in params]
    for _ in range(steps + 1):
        loss = loss_of(params)
        if loss.item() < best_loss:
            best_loss, best = loss.item(), [p.detach().clone() for p in params]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {"b0": best[0][0], "c": best[1], "b": best[2], "w": best[3]}


def evaluate(params: dict[str, Tensor], x: Tensor, kind: str) -> Tensor:
    return params["b0"] + pieces(x, params["b"], params["w"], kind) @ params["c"]


def run(cfg: Config, out_dir: Path) -> LessonResult:
    steps = cfg.steps
    x = torch.linspace(0.0, 1.0, cfg.train_points, dtype=torch.float64)
    x_eval = torch.linspace(0.0, 1.0, 2001, dtype=torch.float64)
    rows, metrics, shown = [], {}, {}
    for target_name, target in TARGETS.items():
        y, y_eval = target(x), target(x_eval)
        for kind in ("sigmoid", "hard"):
            for n in cfg.pieces:
                params = fit_sum(x, y, n, kind, steps, cfg.lr)
                mse = float(((evaluate(params, x_eval, kind) - y_eval) ** 2).mean())
                rows.append({"target": target_name, "kind": kind, "pieces": n, "mse": mse,
                             "train_mse": float(((evaluate(params, x, kind) - y) ** 2).mean())})
                metrics[f"{target_name}_{kind}_mse_n{n}"] = mse
            shown[target_name, kind] = fit_sum(x, y, cfg.figure_pieces, kind, steps, cfg.lr)
        metrics[f"{target_name}_variance"] = float(y_eval.var())
    figures = _plot(out_dir, cfg, x_eval, shown, rows)
    n_max = max(cfg.pieces)
    return LessonResult(NAME, metrics, figures, [],
                        claim=(f"a constant plus n sigmoids (or hard sigmoids, two ReLUs each) "
                               f"fits a piecewise-linear and a smooth curve, the error falling as "
                               f"n grows to {n_max}"),
                        tables={"pieces": rows})


def _plot(out_dir: Path, cfg: Config, x: Tensor, shown: dict, rows: list[dict]) -> list[str]:
    fig, axes = subplots(2, 3, figsize=(15, 8))
    for r, target_name in enumerate(TARGETS):
        y = TARGETS[target_name](x)
        for col, kind in enumerate(("hard", "sigmoid")):
            ax = axes[r, col]
            p = shown[target_name, kind]
            ax.plot(x, y, "k", lw=2.5, alpha=0.35, label="target")
            ax.axhline(float(p["b0"]), color="0.4", ls=":", lw=1, label="constant b")
            parts = p["c"] * pieces(x, p["b"], p["w"], kind)  # (N, n)
            if kind == "hard":  # the library's one-call form gives the same curves
                parts = torch.stack([hard_sigmoid(x, c=p["c"][i], b=p["b"][i], w=p["w"][i])
                                     for i in range(len(p["c"]))], dim=1)
            for i in range(parts.shape[1]):
                ax.plot(x, parts[:, i], lw=0.9, ls="--")
            ax.plot(x, evaluate(p, x, kind), "r", lw=1.2,
                    label=f"b + sum of {parts.shape[1]} pieces")
            name = ("hard sigmoids c·[ReLU(z) − ReLU(z−1)]" if kind == "hard"
                    else "sigmoids c·σ(b + wx)")
            ax.set_title(f"{target_name}: {name}", fontsize=10)
            ax.legend(fontsize=7, loc="lower right")
        ax = axes[r, 2]
        for kind, marker in (("sigmoid", "o-"), ("hard", "s--")):
            sel = [row for row in rows if row["target"] == target_name and row["kind"] == kind]
            ax.loglog([row["pieces"] for row in sel], [row["mse"] for row in sel], marker,
                      label=kind)
        ax.set_xlabel("pieces n")
        ax.set_ylabel("MSE on 2,001 points")
        ax.set_title(f"{target_name}: error falls with n")
        ax.legend()
    return [save_figure(fig, out_dir / "sigmoid_sum.png")]
