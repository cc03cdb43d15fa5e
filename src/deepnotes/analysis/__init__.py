"""Analysis of trained models: Hessians at critical points and loss landscapes.

``hessian`` gives gradients, exact Hessians, Hessian-vector products, Lanczos eigenvalues and
the second-derivative test (minimum / maximum / saddle, the notes' minimum ratio, the escape
direction); ``critical`` drives the gradient to zero to land on a critical point of any kind;
``landscape`` evaluates the loss along lines and planes through the parameters.

Example:
    >>> import torch
    >>> from deepnotes.analysis import analyse_critical_point
    >>> x = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    >>> point = analyse_critical_point(lambda: x[0] ** 2 - x[1] ** 2, [x])
    >>> point.kind, point.minimum_ratio
    ('saddle point', 0.5)

Notes: O1.
"""

from __future__ import annotations

from deepnotes.analysis.critical import CriticalPointSearch, find_critical_point
from deepnotes.analysis.hessian import (
    Closure,
    CriticalPoint,
    LanczosResult,
    analyse_critical_point,
    classify_critical_point,
    escape_direction,
    extreme_eigenpairs,
    flat_gradient,
    flatten,
    get_flat_params,
    gradient_norm,
    hessian,
    hessian_operator,
    hvp,
    lanczos,
    minimum_ratio,
    model_closure,
    parameters_of,
    set_flat_params,
    taylor_quadratic,
    unflatten,
)
from deepnotes.analysis.landscape import loss_along, loss_plane

__all__ = [
    "Closure", "CriticalPoint", "CriticalPointSearch", "LanczosResult", "analyse_critical_point",
    "classify_critical_point", "escape_direction", "extreme_eigenpairs", "find_critical_point",
    "flat_gradient", "flatten", "get_flat_params", "gradient_norm", "hessian",
    "hessian_operator", "hvp", "lanczos", "loss_along", "loss_plane", "minimum_ratio",
    "model_closure", "parameters_of", "set_flat_params", "taylor_quadratic", "unflatten",
]
