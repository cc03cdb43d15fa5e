r"""Gradient norm and gradient clipping by norm, the usual cure for exploding gradients.

Notes: O11.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor

from deepnotes.errors import ConfigError, NonFiniteLossError

__all__ = ["grad_norm", "clip_grad_norm_"]


def _grads(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p.grad for p in params if p.grad is not None]


def _check_norm_type(norm_type: float) -> float:
    norm_type = float(norm_type)
    if not (norm_type > 0.0):
        raise ConfigError(f"norm_type must be a positive number or inf, got {norm_type}")
    return norm_type


def _vector_norm(t: Tensor, norm_type: float) -> Tensor:
    if norm_type == 2.0 and t.is_floating_point():
        # ‖g‖_2 = √(g·g): one pass, nothing allocated the size of g
        flat = t.reshape(-1)
        return flat.dot(flat).sqrt()
    a = t.abs()
    if math.isinf(norm_type):
        # ‖g‖_∞ = max_i |g_i|
        return a.max() if a.numel() > 0 else a.new_zeros(())
    # ‖g‖_p = (Σ_i |g_i|^p)^{1/p}
    return (a**norm_type).sum() ** (1.0 / norm_type)


def grad_norm(parameters: Tensor | Iterable[Tensor], norm_type: float = 2.0) -> Tensor:
    r"""Norm of all gradients together, as if they were concatenated into one vector.

    .. math::
        \|g\|_p = \Big(\sum_k \|g_k\|_p^{\,p}\Big)^{1/p}, \qquad
        \|g\|_\infty = \max_k \|g_k\|_\infty

    where :math:`g_k` is the gradient of parameter :math:`k` (parameters without a gradient
    are skipped).

    Args:
        parameters: a tensor or an iterable of tensors (e.g. ``model.parameters()``).
        norm_type: :math:`p > 0`, or ``float("inf")``. Default ``2.0``.

    Shape:
        - Output: a scalar tensor (``tensor(0.)`` when no parameter has a gradient).

    Example:
        >>> w = torch.zeros(2, requires_grad=True)
        >>> w.grad = torch.tensor([3.0, 4.0])
        >>> grad_norm([w])
        tensor(5.)

    Notes: O11.
    """
    norm_type = _check_norm_type(norm_type)
    grads = _grads(parameters)
    if not grads:
        return torch.tensor(0.0)
    device = grads[0].device
    # ‖g_k‖_p for each parameter, gathered on the first gradient's device
    norms = torch.stack([_vector_norm(g, norm_type).to(device) for g in grads])  # (K,)
    # ‖g‖_p = ‖(‖g_1‖_p, …, ‖g_K‖_p)‖_p
    return _vector_norm(norms, norm_type)


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> Tensor:
    r"""Rescale gradients in place so that their total norm is at most ``max_norm``.

    .. math::
        g \leftarrow g \cdot \min\!\Big(1,\ \frac{\text{max\_norm}}{\|g\|_p + 10^{-6}}\Big)

    The direction of the gradient is kept; only its length is capped. Same semantics and return
    value as ``torch.nn.utils.clip_grad_norm_``.

    Args:
        parameters: a tensor or an iterable of tensors whose ``.grad`` is clipped.
        max_norm: largest allowed total norm.
        norm_type: :math:`p > 0`, or ``float("inf")``. Default ``2.0``.
        error_if_nonfinite: raise :class:`~deepnotes.errors.NonFiniteLossError` when the total
            norm is ``nan`` or ``inf`` (instead of spreading it into the gradients).
            Default ``False``.

    Returns:
        The total norm :math:`\|g\|_p` *before* clipping (a scalar tensor).

    Example:
        >>> w = torch.zeros(2, requires_grad=True)
        >>> w.grad = torch.tensor([3.0, 4.0])
        >>> clip_grad_norm_([w], max_norm=1.0), w.grad
        (tensor(5.), tensor([0.6000, 0.8000]))

    Notes: O11.
    """
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    total_norm = grad_norm(params, norm_type)
    grads = _grads(params)
    if not grads:
        return total_norm
    if error_if_nonfinite and not bool(torch.isfinite(total_norm)):
        raise NonFiniteLossError(
            f"the total {norm_type}-norm of the gradients is {float(total_norm)}, so they cannot "
            f"be clipped; look for a nan/inf loss or set error_if_nonfinite=False"
        )
    # coef = min(1, max_norm / (‖g‖ + 1e-6))
    coef = torch.clamp(float(max_norm) / (total_norm + 1e-6), max=1.0)
    with torch.no_grad():
        for g in grads:
            # g ← coef·g
            g.mul_(coef.to(g.device))
    return total_norm
