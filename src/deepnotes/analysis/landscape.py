r"""The loss along a line or over a plane through the current parameters (error surfaces).

:math:`\ell(\alpha) = L(\theta + \alpha d)` along a direction :math:`d`, and
:math:`\ell(\alpha, \beta) = L(\theta + \alpha d_1 + \beta d_2)` over a plane; the parameters
are restored afterwards. Along a Hessian eigenvector :math:`u` at a critical point the curve
starts as :math:`L(\theta) + \tfrac12\alpha^2\lambda` (see :mod:`deepnotes.analysis.hessian`).

Example:
    >>> x = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    >>> f = lambda: x[0] ** 2 - x[1] ** 2
    >>> loss_along(f, [x], torch.tensor([0.0, 1.0], dtype=torch.float64), [-1.0, 0.0, 2.0])
    tensor([-1.,  0., -4.], dtype=torch.float64)

Notes: O1, O8 (error surfaces).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import torch
from torch import Tensor, nn

from deepnotes.analysis.hessian import Closure, get_flat_params, parameters_of, set_flat_params
from deepnotes.errors import ShapeError

__all__ = ["loss_along", "loss_plane"]


def _check_direction(d: Tensor, theta: Tensor, name: str) -> Tensor:
    if d.shape != theta.shape:
        raise ShapeError(f"{name} has shape {tuple(d.shape)}; expected {tuple(theta.shape)} "
                         f"(one number per parameter).")
    return d.to(theta)


def loss_along(closure: Closure, params: Iterable[Tensor] | nn.Module, direction: Tensor,
               alphas: Sequence[float] | Tensor) -> Tensor:
    """:math:`L(\\theta + \\alpha d)` for each α, as a vector; θ is left unchanged."""
    ps = parameters_of(params)
    theta = get_flat_params(ps)
    d = _check_direction(direction, theta, "direction")
    out = []
    try:
        with torch.no_grad():
            for a in torch.as_tensor(alphas, dtype=theta.dtype).tolist():
                set_flat_params(ps, theta + a * d)
                out.append(closure().detach())
    finally:
        set_flat_params(ps, theta)
    return torch.stack(out)


def loss_plane(closure: Closure, params: Iterable[Tensor] | nn.Module, d1: Tensor, d2: Tensor,
               alphas: Sequence[float] | Tensor, betas: Sequence[float] | Tensor) -> Tensor:
    """:math:`L(\\theta + \\alpha_i d_1 + \\beta_j d_2)` as a (len(alphas), len(betas)) grid."""
    ps = parameters_of(params)
    theta = get_flat_params(ps)
    d1 = _check_direction(d1, theta, "d1")
    d2 = _check_direction(d2, theta, "d2")
    b = torch.as_tensor(betas, dtype=theta.dtype).tolist()
    rows = []
    try:
        with torch.no_grad():
            for a in torch.as_tensor(alphas, dtype=theta.dtype).tolist():
                row = []
                for bj in b:
                    set_flat_params(ps, theta + a * d1 + bj * d2)
                    row.append(closure().detach())
                rows.append(torch.stack(row))
    finally:
        set_flat_params(ps, theta)
    return torch.stack(rows)
