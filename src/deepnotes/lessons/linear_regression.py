"""Linear regression: gradient descent finds the closed-form solution; the learning rate decides
whether it gets there.

Claim (notes B2, B4): on real data (scikit-learn's diabetes, 442 patients, 10 standardised
features) full-batch gradient descent on the MSE converges to the normal-equation solution; a
learning rate that is too small crawls (the loss is still far from the optimum after the same
number of steps), and one that is too large oscillates and diverges. For a quadratic loss the
border is exact: gradient descent converges iff η < 2/λ_max, with λ_max the largest eigenvalue
of the loss's Hessian 2XᵀX/N, so the lesson places its learning rates relative to that border.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from deepnotes.data import load
from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.models import create
from deepnotes.models.linear import gradient_descent, normal_equation
from deepnotes.train.checkpoint import save_model

NAME = "linear-regression"
SUMMARY = ("GD recovers the closed-form solution; too large a learning rate diverges, too small "
           "crawls (B2, B4)")
CONCEPTS = ("B2", "B3", "B4", "B1")  # B1: a regression task


@dataclass
class Config(LessonConfig):
    QUICK = {"steps": 2000}  # 11 parameters: both take well under a second

    steps: int = 5000  # gradient-descent steps for every learning rate
    good_fraction: float = 0.9  # good lr = this × 2/λ_max
    small_fraction: float = 0.002  # too-small lr = this × 2/λ_max
    large_fraction: float = 1.05  # too-large lr = this × 2/λ_max (just past the border)


def run(cfg: Config, out_dir: Path) -> LessonResult:
    steps = cfg.steps
    ds = load("diabetes")
    x = ds.x.double()  # (N, d) standardised features
    y = ds.y.double().reshape(-1)  # (N,)
    y = (y - y.mean()) / y.std()  # standardise the target so losses are comparable
    n = x.shape[0]

    w_cf, b_cf = normal_equation(x, y)
    loss_cf = ((x @ w_cf + b_cf - y) ** 2).mean().item()

    # Hessian of L(w, b) = mean((Xw + b - y)²) is 2/N · [X 1]ᵀ[X 1]; GD converges iff η < 2/λ_max
    xb = torch.cat([x, torch.ones(n, 1, dtype=x.dtype)], dim=1)  # (N, d+1)
    lam_max = torch.linalg.eigvalsh(2.0 / n * xb.T @ xb).max().item()
    lr_border = 2.0 / lam_max

    lrs = {
        "too small": cfg.small_fraction * lr_border,
        "good": cfg.good_fraction * lr_border,
        "too large": cfg.large_fraction * lr_border,
    }
    runs = {k: gradient_descent(x, y, lr=lr, steps=steps) for k, lr in lrs.items()}

    good = runs["good"]
    w_gap = (good["w"] - w_cf).norm().item() / w_cf.norm().item()
    metrics = {
        "closed_form_mse": loss_cf,
        "lr_border": lr_border,
        "lr_good": lrs["good"],
        "gd_good_final_mse": good["loss"][-1].item(),
        "gd_good_relative_weight_gap": w_gap,
        "gd_good_bias_gap": abs(good["b"].item() - b_cf.item()),
        "gd_small_final_mse": runs["too small"]["loss"][-1].item(),
        # the loss falls fast along steep directions, so crawling shows in the weights
        "gd_small_relative_weight_gap":
            (runs["too small"]["w"] - w_cf).norm().item() / w_cf.norm().item(),
        "gd_large_final_mse": runs["too large"]["loss"][-1].item(),
        "gd_large_initial_mse": runs["too large"]["loss"][0].item(),
        "steps": float(steps),
    }

    fig, ax = subplots(figsize=(6.4, 4.2))
    for k, r in runs.items():
        ax.semilogy(r["loss"].clamp(max=1e12).numpy(), label=f"{k}: η = {lrs[k]:.3g}")
    ax.axhline(loss_cf, color="k", ls="--", lw=1, label=f"closed form {loss_cf:.4f}")
    ax.set_xlabel("gradient-descent step")
    ax.set_ylabel("training MSE (standardised target)")
    ax.set_title(f"diabetes: η border 2/λ_max = {lr_border:.3g}")
    ax.legend(fontsize=8)
    path = save_figure(fig, out_dir / "lr_curves.png")

    # the GD solution as a model the CLI can load (`deepnotes eval`); its target is standardised
    model = create("linear-regression", in_features=x.shape[1])
    with torch.no_grad():
        model.linear.weight.copy_(good["w"].reshape(1, -1).float())
        model.linear.bias.copy_(good["b"].reshape(1).float())
    history = [{"step": t, **{f"mse_{k.replace(' ', '_')}": r["loss"][t].item()
                              for k, r in runs.items()}}
               for t in range(0, steps + 1, max(1, steps // 100))]
    return LessonResult(
        NAME, metrics, [path], history,
        claim="GD with η < 2/λ_max reaches the closed-form solution; η ≪ 2/λ_max crawls; "
              "η > 2/λ_max diverges.",
        tables={"weights": [{"feature": i, "closed_form": w_cf[i].item(), "gd": good["w"][i].item()}
                            for i in range(len(w_cf))]},
        checkpoint=save_model(model, out_dir),
    )
