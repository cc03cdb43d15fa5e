"""Loss modules: CrossEntropyLoss, MSELoss, L1Loss, BCEWithLogitsLoss, each with a ``fused`` path.

Every ``forward(input, target, mask=None)`` accepts an optional ``mask`` of per-position
weights (float or bool). Both paths honour it: the fused path asks torch for the unreduced loss
and reduces it with :func:`deepnotes.functional.reduce_loss` (weighted mean
:math:`\\sum_i w_i l_i / \\sum_i w_i`).

Notes: B3 (losses), B7 (cross-entropy).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as TF
from torch import nn

from deepnotes import functional as F
from deepnotes.errors import ConfigError, ShapeError

__all__ = ["CrossEntropyLoss", "MSELoss", "L1Loss", "BCEWithLogitsLoss",
           "MaskedCrossEntropyLoss"]

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str) -> str:
    if reduction not in _REDUCTIONS:
        raise ConfigError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def _check_same_shape(name: str, input: torch.Tensor, target: torch.Tensor) -> None:
    if input.shape != target.shape:
        raise ShapeError(
            f"{name} expects target of the input's shape {tuple(input.shape)}, "
            f"got {tuple(target.shape)}; reshape one of them (no broadcasting is done)"
        )


class _ElementwiseLoss(nn.Module):
    """Shared body of the losses whose target has the input's shape.

    Subclasses name the torch op (``_torch_fn``) and our functional (``_our_fn``); both take
    ``(input, target, reduction=...)`` and ours also ``mask=...``.
    """

    _name: str
    _torch_fn: Callable[..., torch.Tensor]
    _our_fn: Callable[..., torch.Tensor]

    def __init__(self, reduction: str = "mean", fused: bool = True) -> None:
        super().__init__()
        self.reduction = _check_reduction(reduction)
        self.fused = fused

    def forward(self, input: torch.Tensor, target: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        if not self.fused:
            return self._our_fn(input, target, reduction=self.reduction, mask=mask)
        _check_same_shape(self._name, input, target)
        if mask is None:
            return self._torch_fn(input, target, reduction=self.reduction)
        loss = self._torch_fn(input, target, reduction="none")
        return F.reduce_loss(loss, self.reduction, mask)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, fused={self.fused}"


class MSELoss(_ElementwiseLoss):
    r"""Mean squared error :math:`l_i = (\hat y_i - y_i)^2`, reduced by mean, sum or not at all.

    Args:
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``. Default ``"mean"``.
        fused: use ``torch.nn.functional.mse_loss`` (``True``) or
            :func:`deepnotes.functional.mse_loss`. Default ``True``.

    Shape:
        - ``input``, ``target``, ``mask``: ``(*)``. Output: scalar, or ``(*)`` for ``"none"``.

    Example:
        >>> MSELoss(fused=False)(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 1.0]))
        tensor(2.5000)

    Notes: B3.
    """

    _name = "MSELoss"

    _torch_fn = staticmethod(TF.mse_loss)
    _our_fn = staticmethod(F.mse_loss)


class L1Loss(_ElementwiseLoss):
    r"""Mean absolute error :math:`l_i = |\hat y_i - y_i|`, reduced by mean, sum or not at all.

    Args:
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``. Default ``"mean"``.
        fused: use ``torch.nn.functional.l1_loss`` (``True``) or
            :func:`deepnotes.functional.l1_loss`. Default ``True``.

    Shape:
        - ``input``, ``target``, ``mask``: ``(*)``. Output: scalar, or ``(*)`` for ``"none"``.

    Example:
        >>> L1Loss(fused=False)(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 1.0]))
        tensor(1.5000)

    Notes: B3.
    """

    _name = "L1Loss"

    _torch_fn = staticmethod(TF.l1_loss)
    _our_fn = staticmethod(F.l1_loss)


class BCEWithLogitsLoss(_ElementwiseLoss):
    r"""Binary cross-entropy on logits, :math:`l_i = \max(x_i,0) - x_i y_i + \log(1 + e^{-|x_i|})`.

    Args:
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``. Default ``"mean"``.
        fused: use ``torch.nn.functional.binary_cross_entropy_with_logits`` (``True``) or
            :func:`deepnotes.functional.binary_cross_entropy_with_logits`. Default ``True``.

    Shape:
        - ``input``, ``target``, ``mask``: ``(*)``. Output: scalar, or ``(*)`` for ``"none"``.

    Example:
        >>> BCEWithLogitsLoss(fused=False)(torch.zeros(2), torch.ones(2))
        tensor(0.6931)

    Notes: B3.
    """

    _name = "BCEWithLogitsLoss"

    _torch_fn = staticmethod(TF.binary_cross_entropy_with_logits)
    _our_fn = staticmethod(F.binary_cross_entropy_with_logits)


class CrossEntropyLoss(nn.Module):
    r"""Cross-entropy from logits and class indices (class dim 1), with ignore_index and smoothing.

    .. math::
        l_i = -(1-\varepsilon)\log\mathrm{softmax}(x_i)_{y_i}
              - \frac{\varepsilon}{C}\sum_c \log\mathrm{softmax}(x_i)_c

    Targets equal to ``ignore_index`` are skipped (loss 0, left out of the mean). With a
    ``mask`` :math:`w`, ``"mean"`` is :math:`\sum_i w_i l_i / \sum_{i\ \text{kept}} w_i`.

    Args:
        ignore_index: target value to skip. Default ``-100``.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``. Default ``"mean"``.
        label_smoothing: :math:`\varepsilon \in [0, 1]`. Default ``0.0``.
        fused: use ``torch.nn.functional.cross_entropy`` (``True``) or
            :func:`deepnotes.functional.cross_entropy`. Default ``True``.

    Shape:
        - ``input``: ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``; a ``(B, T, C)`` sequence
          output goes in as ``logits.transpose(1, 2)``.
        - ``target``, ``mask``: ``()``, ``(N,)`` or ``(N, d1, ...)``.
        - Output: scalar, or ``target``'s shape for ``"none"``.

    Example:
        >>> loss = CrossEntropyLoss(fused=False)
        >>> loss(torch.tensor([[2.0, 0.0], [0.0, 2.0]]), torch.tensor([0, 1]))
        tensor(0.1269)

    Notes: B3, B7.
    """

    def __init__(self, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0, fused: bool = True) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing <= 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
        self.ignore_index = int(ignore_index)
        self.reduction = _check_reduction(reduction)
        self.label_smoothing = float(label_smoothing)
        self.fused = fused

    def forward(self, input: torch.Tensor, target: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        if not self.fused:
            return F.cross_entropy(input, target, ignore_index=self.ignore_index, mask=mask,
                                   reduction=self.reduction, label_smoothing=self.label_smoothing)
        expected = tuple(input.shape[:1] + input.shape[2:]) if input.dim() > 1 else ()
        if input.dim() == 0 or tuple(target.shape) != expected:
            raise ShapeError(
                f"CrossEntropyLoss with logits of shape {tuple(input.shape)} (class dim 1) expects "
                f"target of shape {expected}, got {tuple(target.shape)}; for (N, T, C) logits "
                f"pass logits.transpose(1, 2)"
            )
        kwargs = dict(ignore_index=self.ignore_index, label_smoothing=self.label_smoothing)
        if mask is None:
            return TF.cross_entropy(input, target, reduction=self.reduction, **kwargs)
        if mask.shape != target.shape:
            raise ShapeError(
                f"CrossEntropyLoss mask must have target's shape {tuple(target.shape)}, "
                f"got {tuple(mask.shape)}; give one weight per target position"
            )
        loss = TF.cross_entropy(input, target, reduction="none", **kwargs)
        # w_i = mask_i · [y_i ≠ ignore_index]
        weight = mask.to(loss.dtype) * (target != self.ignore_index).to(loss.dtype)
        return F.reduce_loss(loss, self.reduction, weight)

    def extra_repr(self) -> str:
        return (f"ignore_index={self.ignore_index}, reduction={self.reduction!r}, "
                f"label_smoothing={self.label_smoothing}, fused={self.fused}")


class MaskedCrossEntropyLoss(nn.Module):
    r"""Cross-entropy of a padded batch of sequences, averaged over the valid tokens only.

    .. math::
        L = \frac{\sum_{b,t} m_{b,t}\,\ell_{b,t}}{\sum_{b,t} m_{b,t}}, \qquad
        m_{b,t} = [t < \text{valid\_len}_b]

    with :math:`\ell` the (label-smoothed) token cross-entropy; see
    :func:`deepnotes.functional.masked_cross_entropy`.

    Args:
        label_smoothing: :math:`\varepsilon \in [0, 1]`. Default ``0.0``.
        reduction: ``"mean"`` (over valid tokens) | ``"sum"`` | ``"none"``. Default ``"mean"``.
        fused: :math:`\ell` from torch's cross-entropy kernel
            (:func:`deepnotes.functional.fused_masked_cross_entropy`, ``True``) or our formula
            (:func:`deepnotes.functional.masked_cross_entropy`). Default ``True``.

    Shape:
        - logits ``(B, T, V)`` (class dim **last**), target ``(B, T)``, valid_len ``(B,)``.
        - Output: scalar, or ``(B, T)`` for ``"none"``.

    Example:
        >>> loss = MaskedCrossEntropyLoss(fused=False)
        >>> round(loss(torch.zeros(2, 3, 4), torch.zeros(2, 3, dtype=torch.long),
        ...            torch.tensor([1, 2])).item(), 4)  # log 4, whatever the padding
        1.3863

    Notes: S2.
    """

    def __init__(self, label_smoothing: float = 0.0, reduction: str = "mean",
                 fused: bool = True) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing <= 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)
        self.reduction = _check_reduction(reduction)
        self.fused = fused

    def forward(self, logits: torch.Tensor, target: torch.Tensor,
                valid_len: torch.Tensor) -> torch.Tensor:
        loss = F.fused_masked_cross_entropy if self.fused else F.masked_cross_entropy
        return loss(logits, target, valid_len, self.label_smoothing, self.reduction)

    def extra_repr(self) -> str:
        return (f"label_smoothing={self.label_smoothing}, reduction={self.reduction!r}, "
                f"fused={self.fused}")
