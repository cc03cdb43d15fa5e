r"""Drive the gradient to zero: find the critical point near the current parameters, of any kind.

Gradient descent on :math:`L` runs away from saddles and maxima, so it cannot show which kinds
of critical points a loss has. Minimising the squared gradient norm instead,

.. math:: \min_\theta\ \tfrac12\|g(\theta)\|^2, \qquad g = \nabla L(\theta),

is zero at *every* critical point. It is a least-squares problem in the residual :math:`g`
whose Jacobian is the Hessian :math:`H`, so Levenberg–Marquardt applies:

.. math:: \delta = -(H^2 + \mu I)^{-1} H g
    = -\sum_i \frac{\lambda_i\,(u_i^\top g)}{\lambda_i^2 + \mu}\, u_i,

with :math:`H = \sum_i \lambda_i u_i u_i^\top`. With :math:`\mu = 0` it is Newton's step
:math:`-H^{-1}g` (quadratic convergence to a non-degenerate critical point); a larger
:math:`\mu` shortens the step along nearly flat directions. Each iteration takes the smallest
:math:`\mu` of a ladder that lowers :math:`\|g\|`. It can stop at a local minimum of
:math:`\|g\|^2` that is not a critical point (:math:`Hg = 0`, :math:`g \ne 0`): the search then
reports ``"stalled"`` with the gradient norm it reached.

Notes: O1 (the notes' experiment trains until the gradient is small, then reads the Hessian).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import torch
from torch import Tensor, nn

from deepnotes.analysis.hessian import (
    Closure,
    flat_gradient,
    get_flat_params,
    hessian,
    parameters_of,
    set_flat_params,
)
from deepnotes.errors import ConfigError

__all__ = ["CriticalPointSearch", "find_critical_point"]


@dataclass
class CriticalPointSearch:
    """How :func:`find_critical_point` ended.

    Attributes:
        converged: ``grad_norm <= tol`` was reached.
        grad_norm: :math:`\\|\\nabla L\\|` at the end.
        start_grad_norm: :math:`\\|\\nabla L\\|` at the start.
        iterations: Hessians computed.
        reason: ``"converged"``, ``"stalled"`` (no step lowers :math:`\\|g\\|`) or
            ``"max_iters"``.
    """

    converged: bool
    grad_norm: float
    start_grad_norm: float
    iterations: int
    reason: str


def find_critical_point(closure: Closure, params: Iterable[Tensor] | nn.Module,
                        tol: float = 1e-10, max_iters: int = 50) -> CriticalPointSearch:
    r"""Move ``params`` (in place) to a nearby point where :math:`\nabla L = 0`, of any kind.

    Levenberg–Marquardt on :math:`\tfrac12\|\nabla L\|^2` with the exact Hessian (see the module
    docstring), so it suits nets of up to a few thousand parameters. Use float64 parameters
    for small tolerances.

    Args:
        closure: computes the loss from the current parameters.
        params: the parameters (tensors that require grad, or a module).
        tol: stop when :math:`\|\nabla L\| \le` tol. Default: ``1e-10``.
        max_iters: at most this many Hessians. Default: ``50``.

    Example:
        >>> p = torch.tensor([-0.7, 0.4], dtype=torch.float64, requires_grad=True)
        >>> f = lambda: p[0] ** 3 - 3 * p[0] + p[1] ** 2  # saddle at (-1, 0), minimum at (1, 0)
        >>> find_critical_point(f, [p]).converged, [round(v, 6) for v in p.tolist()]
        (True, [-1.0, 0.0])

    Notes: O1.
    """
    if tol < 0 or max_iters < 1:
        raise ConfigError(f"find_critical_point needs tol >= 0 and max_iters >= 1, got "
                          f"tol={tol}, max_iters={max_iters}.")
    ps = parameters_of(params)
    g = flat_gradient(closure, ps)
    gn2 = float(g @ g)
    start = math.sqrt(gn2)
    for it in range(max_iters):
        if math.sqrt(gn2) <= tol:
            return CriticalPointSearch(True, math.sqrt(gn2), start, it, "converged")
        H = hessian(closure, ps)
        lam, U = torch.linalg.eigh(0.5 * (H + H.T))  # H = Σ λ_i u_i u_iᵀ
        c = U.T @ g  # g in the eigenbasis
        theta = get_flat_params(ps)
        scale = float(lam.abs().max()) ** 2
        accepted = False
        for mu in [0.0] + [scale * 10.0 ** k for k in range(-12, 3)]:
            # δ = −Σ λ_i (u_iᵀg) / (λ_i² + μ) · u_i
            delta = -U @ (lam * c / (lam ** 2 + mu))
            if not torch.isfinite(delta).all():
                continue
            set_flat_params(ps, theta + delta)
            g_new = flat_gradient(closure, ps)
            gn2_new = float(g_new @ g_new)
            if gn2_new < gn2 * (1 - 1e-6):
                accepted = True
                break
        if not accepted:
            set_flat_params(ps, theta)
            return CriticalPointSearch(False, math.sqrt(gn2), start, it + 1, "stalled")
        g, gn2 = g_new, gn2_new
    done = math.sqrt(gn2) <= tol
    return CriticalPointSearch(done, math.sqrt(gn2), start, max_iters,
                               "converged" if done else "max_iters")
