"""Linear regression: the model y = b + w·x, its closed-form solution and gradient descent.

Notes: B2 (linear model, many features, normal equation), B3 (MSE), B4 (gradient descent).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.models import register_model


@dataclass
class LinearRegressionConfig:
    in_features: int = 1  # number of input features d
    out_features: int = 1  # number of outputs


@register_model("linear-regression", LinearRegressionConfig,
                summary="y = b + w·x with d features (B2); flattens image inputs",
                inputs="features")
class LinearRegression(nn.Module):
    """Linear regression ``ŷ = x W^T + b``.

    Args:
        config: :class:`LinearRegressionConfig`.

    Shape:
        - Input: ``(N, *)`` flattened to ``(N, in_features)``.
        - Output: ``(N,)`` when ``out_features == 1`` else ``(N, out_features)``.

    Notes: B2.
    """

    def __init__(self, config: LinearRegressionConfig) -> None:
        super().__init__()
        self.config = config
        self.linear = nn.Linear(config.in_features, config.out_features)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # d2l's initialisation: w ~ N(0, 0.01²), b = 0
        nn.init.normal_(self.linear.weight, std=0.01)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)  # (N, d)
        if x.shape[1] != self.config.in_features:
            raise ShapeError(
                f"linear-regression expects {self.config.in_features} features, got {x.shape[1]}"
            )
        y = self.linear(x)  # (N, out)
        return y.squeeze(-1) if self.config.out_features == 1 else y


def normal_equation(x: torch.Tensor, y: torch.Tensor, l2: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Closed-form least squares: append a column of ones and solve the normal equation.

    .. math::
        \hat\theta = (X^\top X + \lambda I')^{-1} X^\top y, \qquad X = [x, 1]

    where :math:`I'` is the identity with a zero for the bias (the bias is not penalised).
    Solved with ``torch.linalg.lstsq`` (QR) when ``l2 == 0`` for numerical stability.

    Args:
        x: features ``(N, d)``.
        y: targets ``(N,)``.
        l2: ridge strength λ ≥ 0.

    Returns:
        ``(w, b)`` with ``w`` of shape ``(d,)`` and scalar ``b`` minimising
        ``mean((x w + b - y)^2) + λ/N ||w||²``... scaled as ``||Xθ - y||² + λ||w||²``.

    Notes: B2.
    """
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ShapeError(f"normal_equation expects x (N, d) and y (N,), got {tuple(x.shape)} and {tuple(y.shape)}")
    ones = torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device)
    xb = torch.cat([x, ones], dim=1)  # (N, d+1)
    if l2 == 0:
        theta = torch.linalg.lstsq(xb, y.unsqueeze(1)).solution.squeeze(1)  # (d+1,)
    else:
        # θ = (XᵀX + λI')⁻¹ Xᵀy
        reg = torch.eye(xb.shape[1], dtype=x.dtype, device=x.device) * l2
        reg[-1, -1] = 0.0
        theta = torch.linalg.solve(xb.T @ xb + reg, xb.T @ y)
    return theta[:-1], theta[-1]


def gradient_descent(x: torch.Tensor, y: torch.Tensor, lr: float, steps: int,
                     w0: torch.Tensor | None = None, b0: float = 0.0) -> dict[str, torch.Tensor]:
    r"""Full-batch gradient descent on the MSE of a linear model, written out by hand.

    .. math::
        L = \frac1N\sum_i (w\cdot x_i + b - y_i)^2,\quad
        w \leftarrow w - \eta\,\frac{2}{N} X^\top r,\quad b \leftarrow b - \eta\,\frac{2}{N}\sum_i r_i

    with residuals :math:`r = Xw + b - y`.

    Returns:
        dict with ``w``, ``b`` and the loss before every step and after the last (``steps + 1``
        values; ``inf`` once the iterate overflows).

    Notes: B4.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ConfigError(f"steps must be an integer >= 0, got {steps!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ConfigError(f"lr must be a finite number > 0, got {lr!r}")
    n, d = x.shape
    w = torch.zeros(d, dtype=x.dtype) if w0 is None else w0.clone()
    b = torch.tensor(float(b0), dtype=x.dtype)
    losses = torch.empty(steps + 1, dtype=x.dtype)
    for t in range(steps + 1):
        # r = Xw + b - y
        r = x @ w + b - y
        # L = mean(r²)
        losses[t] = (r * r).mean()
        if t == steps:
            break
        # ∂L/∂w = 2/N · Xᵀr,  ∂L/∂b = 2/N · Σr
        w = w - lr * (2.0 / n) * (x.T @ r)
        b = b - lr * (2.0 / n) * r.sum()
    return {"w": w, "b": b, "loss": losses}
