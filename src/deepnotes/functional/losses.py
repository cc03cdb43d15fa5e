r"""Losses from their formulas: MAE (L1), MSE, cross-entropy from logits, binary cross-entropy.

Every loss takes ``reduction`` (``"mean"``, ``"sum"`` or ``"none"``) and an optional ``mask``:
a float or bool tensor of the per-element loss's shape whose entries weight each position.
With a mask, ``"mean"`` is the weighted mean :math:`\sum_i w_i l_i / \sum_i w_i`.

Notes: B3 (losses), B7 (softmax regression and cross-entropy).
"""

from __future__ import annotations

import torch
from torch import Tensor

from deepnotes.errors import ConfigError, InvalidTargetError, ShapeError
from deepnotes.functional.softmax import log_softmax

__all__ = [
    "reduce_loss",
    "l1_loss",
    "mae_loss",
    "mse_loss",
    "cross_entropy",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
]

_REDUCTIONS = ("mean", "sum", "none")


def reduce_loss(loss: Tensor, reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    r"""Reduce a per-element loss, optionally weighted by a mask.

    .. math::
        \text{mean: } \frac{\sum_i w_i l_i}{\sum_i w_i}, \qquad
        \text{sum: } \sum_i w_i l_i, \qquad \text{none: } w_i l_i

    Without ``weight`` every :math:`w_i = 1` (plain mean / sum).

    Args:
        loss: per-element losses.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``. Default ``"mean"``.
        weight: optional weights with ``loss``'s shape (bool is read as 0/1).

    Shape:
        - ``loss``: ``(*)``; ``weight``: ``(*)``. Output: scalar, or ``(*)`` for ``"none"``.

    Example:
        >>> reduce_loss(torch.tensor([1.0, 2.0, 9.0]), weight=torch.tensor([1, 1, 0]))
        tensor(1.5000)

    Notes: B3.
    """
    if reduction not in _REDUCTIONS:
        raise ConfigError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if weight is None:
        if reduction == "mean":
            return loss.mean()
        return loss.sum() if reduction == "sum" else loss
    if weight.shape != loss.shape:
        raise ShapeError(
            f"mask must have the per-element loss shape {tuple(loss.shape)}, "
            f"got {tuple(weight.shape)}; give one weight per target position"
        )
    w = weight.to(loss.dtype)
    # w_i · l_i
    wl = w * loss
    if reduction == "none":
        return wl
    if reduction == "sum":
        return wl.sum()
    # Σ w_i l_i / Σ w_i
    return wl.sum() / w.sum()


def _check_same_shape(name: str, input: Tensor, target: Tensor) -> None:
    if input.shape != target.shape:
        raise ShapeError(
            f"{name} expects target of the input's shape {tuple(input.shape)}, "
            f"got {tuple(target.shape)}; reshape one of them (no broadcasting is done)"
        )


def l1_loss(
    input: Tensor, target: Tensor, reduction: str = "mean", mask: Tensor | None = None
) -> Tensor:
    r"""Mean absolute error (L1 loss) :math:`l_i = |\hat y_i - y_i|`.

    Args:
        input: predictions :math:`\hat y`.
        target: targets :math:`y`, same shape.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``. Default ``"mean"``.
        mask: optional per-element weights (see :func:`reduce_loss`).

    Shape:
        - ``input``, ``target``, ``mask``: ``(*)``. Output: scalar, or ``(*)`` for ``"none"``.

    Example:
        >>> l1_loss(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 1.0]))
        tensor(1.5000)

    Notes: B3.
    """
    _check_same_shape("l1_loss", input, target)
    # l_i = |ŷ_i - y_i|  (derivative sign(ŷ_i - y_i): 0 where prediction equals target, as torch)
    loss = (input - target).abs()
    return reduce_loss(loss, reduction, mask)


mae_loss = l1_loss


def mse_loss(
    input: Tensor, target: Tensor, reduction: str = "mean", mask: Tensor | None = None
) -> Tensor:
    r"""Mean squared error :math:`l_i = (\hat y_i - y_i)^2`.

    Args:
        input: predictions :math:`\hat y`.
        target: targets :math:`y`, same shape.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``. Default ``"mean"``.
        mask: optional per-element weights (see :func:`reduce_loss`).

    Shape:
        - ``input``, ``target``, ``mask``: ``(*)``. Output: scalar, or ``(*)`` for ``"none"``.

    Example:
        >>> mse_loss(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 1.0]))
        tensor(2.5000)

    Notes: B3.
    """
    _check_same_shape("mse_loss", input, target)
    d = input - target
    # l_i = (ŷ_i - y_i)²
    return reduce_loss(d * d, reduction, mask)


def _check_class_target(input: Tensor, target: Tensor, ignore_index: int) -> None:
    if input.dim() == 0:
        raise ShapeError(
            "cross_entropy expects logits of shape (C,), (N, C) or (N, C, d1, ...), got a scalar"
        )
    expected = tuple(input.shape[:1] + input.shape[2:]) if input.dim() > 1 else ()
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise InvalidTargetError(
            f"cross_entropy expects integer class indices as target, got dtype {target.dtype}; "
            f"use target.long() (probability targets are not supported)"
        )
    if tuple(target.shape) != expected:
        raise ShapeError(
            f"cross_entropy with logits of shape {tuple(input.shape)} (class dim 1) expects "
            f"target of shape {expected}, got {tuple(target.shape)}; for (N, T, C) logits pass "
            f"logits.transpose(1, 2)"
        )
    num_classes = input.shape[1] if input.dim() > 1 else input.shape[0]
    bad = (target != ignore_index) & ((target < 0) | (target >= num_classes))
    if bool(bad.any()):
        value = int(target[bad].flatten()[0])
        raise InvalidTargetError(
            f"cross_entropy target holds class index {value}, outside [0, {num_classes - 1}] "
            f"for {num_classes} classes; fix the labels or use ignore_index={ignore_index}"
        )


def cross_entropy(
    input: Tensor,
    target: Tensor,
    ignore_index: int = -100,
    mask: Tensor | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    r"""Cross-entropy between logits and class indices, via a stable log-softmax.

    .. math::
        l_i = -(1-\varepsilon)\,\log p_{i,y_i} - \frac{\varepsilon}{C}\sum_{c=1}^{C}\log p_{i,c},
        \qquad \log p_{i,\cdot} = \mathrm{log\_softmax}(x_{i,\cdot})

    With ``label_smoothing`` :math:`\varepsilon = 0` this is :math:`-\log p_{i,y_i}`, the
    negative log-likelihood of the one-hot label. Positions whose target equals
    ``ignore_index`` get loss 0 and weight 0, so ``"mean"`` averages over the other positions
    only (exactly as ``torch.nn.functional.cross_entropy``). With a ``mask`` :math:`w`,
    ``"mean"`` is :math:`\sum_i w_i l_i / \sum_{i \,\text{not ignored}} w_i`.

    The class dimension is dim 1, as in PyTorch: logits ``(N, C)`` or ``(N, C, d1, ...)``
    (e.g. a language model's ``(B, T, C)`` output must be passed as ``(B, C, T)``).

    Args:
        input: unnormalised scores (logits).
        target: class indices in ``[0, C)`` (or ``ignore_index``), an integer tensor.
        ignore_index: target value that is skipped. Default ``-100``.
        mask: optional float/bool weights of ``target``'s shape.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``. Default ``"mean"``.
        label_smoothing: :math:`\varepsilon \in [0, 1]`. Default ``0.0``.

    Shape:
        - ``input``: ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``.
        - ``target``, ``mask``: ``()``, ``(N,)`` or ``(N, d1, ...)``.
        - Output: scalar, or ``target``'s shape for ``"none"``.

    Example:
        >>> logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
        >>> cross_entropy(logits, torch.tensor([0, 1]))
        tensor(0.1269)

    Notes: B3, B7.
    """
    if not 0.0 <= label_smoothing <= 1.0:
        raise ConfigError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    if reduction not in _REDUCTIONS:
        raise ConfigError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    _check_class_target(input, target, ignore_index)
    if mask is not None and mask.shape != target.shape:
        raise ShapeError(
            f"cross_entropy mask must have target's shape {tuple(target.shape)}, "
            f"got {tuple(mask.shape)}; give one weight per target position"
        )
    if input.dim() == 1:  # unbatched: (C,) with a scalar target
        input, target = input.unsqueeze(0), target.unsqueeze(0)  # (1, C), (1,)
        mask = None if mask is None else mask.unsqueeze(0)  # (1,)
        squeeze = True
    else:
        squeeze = False
    num_classes = input.shape[1]
    # log p = log_softmax(x) over the class dim
    logp = log_softmax(input, dim=1)  # (N, C, d1, ...)
    keep = target != ignore_index  # (N, d1, ...)
    safe_target = torch.where(keep, target, torch.zeros_like(target))
    # nll_i = -log p_{i, y_i}
    nll = -logp.gather(1, safe_target.unsqueeze(1)).squeeze(1)  # (N, d1, ...)
    if label_smoothing > 0.0:
        # l_i = (1-ε)·nll_i - (ε/C)·Σ_c log p_{i,c}
        smooth = -logp.sum(dim=1)  # (N, d1, ...)
        loss = (1.0 - label_smoothing) * nll + (label_smoothing / num_classes) * smooth
    else:
        loss = nll
    # ignored positions: loss 0, weight 0
    weight = keep.to(loss.dtype) if mask is None else keep.to(loss.dtype) * mask.to(loss.dtype)
    loss = loss * weight
    if squeeze:
        loss, weight = loss.squeeze(0), weight.squeeze(0)  # (), ()
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    # Σ w_i l_i / Σ w_i
    return loss.sum() / weight.sum()


def _clamped_log(p: Tensor) -> Tensor:
    # max(log p, -100); log(0) is never evaluated, so the gradient stays finite at p = 0
    pos = p > 0
    logp = torch.log(torch.where(pos, p, torch.ones_like(p)))
    return torch.clamp(torch.where(pos, logp, torch.full_like(p, -100.0)), min=-100.0)


def binary_cross_entropy(
    input: Tensor, target: Tensor, reduction: str = "mean", mask: Tensor | None = None
) -> Tensor:
    r"""Binary cross-entropy between probabilities and targets in ``[0, 1]``.

    .. math::
        l_i = -\big[y_i \log p_i + (1 - y_i)\log(1 - p_i)\big]

    Each log is clamped at ``-100`` (as PyTorch does) so ``p = 0`` or ``1`` gives a finite loss.
    Prefer :func:`binary_cross_entropy_with_logits` when you have logits: it is more stable.

    Args:
        input: probabilities :math:`p \in [0, 1]`.
        target: targets :math:`y \in [0, 1]`, same shape.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``. Default ``"mean"``.
        mask: optional per-element weights (see :func:`reduce_loss`).

    Shape:
        - ``input``, ``target``, ``mask``: ``(*)``. Output: scalar, or ``(*)`` for ``"none"``.

    Example:
        >>> binary_cross_entropy(torch.tensor([0.5, 1.0]), torch.tensor([1.0, 0.0]))
        tensor(50.3466)

    Notes: B3.
    """
    _check_same_shape("binary_cross_entropy", input, target)
    if bool(((input < 0) | (input > 1)).any()):
        value = float(input[(input < 0) | (input > 1)].flatten()[0])
        raise InvalidTargetError(
            f"binary_cross_entropy expects probabilities in [0, 1] as input, got {value}; "
            f"apply a sigmoid first or use binary_cross_entropy_with_logits"
        )
    # log p and log(1 - p), each clamped at -100
    log_p = _clamped_log(input)
    log_1mp = _clamped_log(1.0 - input)
    # l_i = -[y log p + (1-y) log(1-p)]
    loss = -(target * log_p + (1.0 - target) * log_1mp)
    return reduce_loss(loss, reduction, mask)


def binary_cross_entropy_with_logits(
    input: Tensor, target: Tensor, reduction: str = "mean", mask: Tensor | None = None
) -> Tensor:
    r"""Binary cross-entropy on logits, in the stable form that never exponentiates a large number.

    .. math::
        l_i = -\big[y_i \log\sigma(x_i) + (1-y_i)\log(1-\sigma(x_i))\big]
            = \max(x_i, 0) - x_i y_i + \log\!\left(1 + e^{-|x_i|}\right)

    Args:
        input: logits :math:`x`.
        target: targets :math:`y \in [0, 1]`, same shape.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``. Default ``"mean"``.
        mask: optional per-element weights (see :func:`reduce_loss`).

    Shape:
        - ``input``, ``target``, ``mask``: ``(*)``. Output: scalar, or ``(*)`` for ``"none"``.

    Example:
        >>> binary_cross_entropy_with_logits(torch.tensor([0.0, 1000.0]), torch.tensor([1.0, 1.0]))
        tensor(0.3466)

    Notes: B3.
    """
    _check_same_shape("binary_cross_entropy_with_logits", input, target)
    pos = input >= 0
    # |x| and max(x, 0), branch-wise so the derivative at x = 0 is σ(0) - y
    abs_x = torch.where(pos, input, -input)
    relu_x = torch.where(pos, input, torch.zeros_like(input))
    # l_i = max(x, 0) - x·y + log(1 + e^{-|x|})
    loss = relu_x - input * target + torch.log1p(torch.exp(-abs_x))
    return reduce_loss(loss, reduction, mask)
