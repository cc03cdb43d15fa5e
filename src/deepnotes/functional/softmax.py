"""Softmax and log-softmax, made stable by subtracting the maximum (log-sum-exp trick).

Notes: B7.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["softmax", "log_softmax", "logsumexp"]


def logsumexp(x: Tensor, dim: int = -1, keepdim: bool = False) -> Tensor:
    r"""Stable :math:`\log\sum_j e^{x_j}` along ``dim``.

    .. math::
        \log\sum_j e^{x_j} = m + \log\sum_j e^{x_j - m}, \qquad m = \max_j x_j

    Every exponent is ``<= 0``, so nothing overflows. A row holding ``+inf`` gives ``inf`` and
    a row that is all ``-inf`` gives ``-inf`` (as ``torch.logsumexp``).

    Args:
        x: input tensor.
        dim: dimension to reduce. Default ``-1``.
        keepdim: keep ``dim`` with size 1. Default ``False``.

    Shape:
        - Input: ``(*)``. Output: ``(*)`` without ``dim`` (or with size 1 if ``keepdim``).

    Example:
        >>> logsumexp(torch.tensor([1000.0, 1000.0]))
        tensor(1000.6932)

    Notes: B7.
    """
    # m = max_j x_j (a constant shift: it cancels in the gradient, so it is detached)
    m = x.amax(dim=dim, keepdim=True).detach()
    # an infinite max (a +inf entry, or a row that is all -inf) is no use as a shift: x - m
    # would be inf - inf = nan. Shift by 0 there, so the sum gives +inf or log 0 = -inf.
    m = torch.where(torch.isinf(m), torch.zeros_like(m), m)
    # m + log Σ_j exp(x_j - m)
    out = m + torch.log(torch.exp(x - m).sum(dim=dim, keepdim=True))
    return out if keepdim else out.squeeze(dim)


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    r"""Softmax along ``dim``: turns scores into probabilities that sum to one.

    .. math::
        \mathrm{softmax}(x)_i = \frac{e^{x_i}}{\sum_j e^{x_j}}
                              = \frac{e^{x_i - m}}{\sum_j e^{x_j - m}}, \qquad m = \max_j x_j

    Args:
        x: input scores (logits).
        dim: dimension that sums to one. Default ``-1``.

    Shape:
        - Input: ``(*)``. Output: ``(*)``, same shape.

    Example:
        >>> softmax(torch.tensor([1000.0, 0.0, -1000.0]))
        tensor([1., 0., 0.])

    Notes: B7.
    """
    # m = max_j x_j
    m = x.amax(dim=dim, keepdim=True).detach()
    # e_i = exp(x_i - m) ∈ (0, 1]
    e = torch.exp(x - m)
    # softmax_i = e_i / Σ_j e_j
    return e / e.sum(dim=dim, keepdim=True)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    r"""Log of the softmax along ``dim``, computed without forming the softmax.

    .. math::
        \log\mathrm{softmax}(x)_i = x_i - \log\sum_j e^{x_j}
                                  = (x_i - m) - \log\sum_j e^{x_j - m}

    Args:
        x: input scores (logits).
        dim: dimension to normalise over. Default ``-1``.

    Shape:
        - Input: ``(*)``. Output: ``(*)``, same shape.

    Example:
        >>> log_softmax(torch.tensor([1000.0, 0.0]))
        tensor([    0., -1000.])

    Notes: B7.
    """
    # z_i = x_i - m
    z = x - x.amax(dim=dim, keepdim=True).detach()
    # log softmax_i = z_i - log Σ_j exp(z_j)
    return z - torch.log(torch.exp(z).sum(dim=dim, keepdim=True))
