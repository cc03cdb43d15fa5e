r"""Normalisation layers: BatchNorm1d / BatchNorm2d (O9) and LayerNorm (O10).

Parameter and buffer names match ``torch.nn`` (``weight``, ``bias``, ``running_mean``,
``running_var``, ``num_batches_tracked``), so a state dict moves between ours and torch's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as TF
from torch import Tensor, nn

from deepnotes import functional as F
from deepnotes.errors import ConfigError, ShapeError

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm"]


class _BatchNorm(nn.Module):
    _dims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 fused: bool = True) -> None:
        super().__init__()
        if int(num_features) < 1:
            raise ConfigError(f"{type(self).__name__} needs num_features >= 1, got {num_features}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ConfigError(
                f"{type(self).__name__} momentum must be in [0, 1] or None, got {momentum}"
            )
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = affine
        self.track_running_stats = track_running_stats
        self.fused = fused
        if affine:
            self.weight = nn.Parameter(torch.ones(self.num_features))  # γ
            self.bias = nn.Parameter(torch.zeros(self.num_features))  # β
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(self.num_features))  # μ̂
            self.register_buffer("running_var", torch.ones(self.num_features))  # σ̂²
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def _check(self, x: Tensor) -> None:
        name = type(self).__name__
        if x.dim() not in self._dims or x.shape[1] != self.num_features:
            shapes = {2: "(N, {c})", 3: "(N, {c}, L)", 4: "(N, {c}, H, W)"}
            want = " or ".join(shapes[d].format(c=self.num_features) for d in self._dims)
            raise ShapeError(
                f"{name}({self.num_features}) expects input of shape {want}, got {tuple(x.shape)}"
            )

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        use_batch = self.training or not self.track_running_stats
        # m: the given momentum, or 1/t (a plain average of the t batches seen) when it is None
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked)
        if self.fused:
            return TF.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                 use_batch, momentum, self.eps)
        if use_batch:
            return F.batch_norm(x, self.running_mean if self.training else None,
                                self.running_var if self.training else None,
                                self.weight, self.bias, training=True, momentum=momentum,
                                eps=self.eps)
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=False, momentum=momentum, eps=self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}, "
                f"fused={self.fused}")


class BatchNorm1d(_BatchNorm):
    r"""Batch norm over a batch of vectors ``(N, C)`` or sequences ``(N, C, L)``.

    .. math::
        y = \gamma\,\frac{x - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}} + \beta

    with batch statistics while training (and running averages updated with momentum
    :math:`m`), running statistics :math:`\hat\mu, \hat\sigma^2` in ``eval()`` mode.
    See :func:`deepnotes.functional.batch_norm`.

    Args:
        num_features: ``C``.
        eps: :math:`\epsilon`. Default ``1e-5``.
        momentum: :math:`m`, or ``None`` for a cumulative average (:math:`m = 1/t` at the
            :math:`t`-th training batch). Default ``0.1``.
        affine: learn :math:`\gamma, \beta`. Default ``True``.
        track_running_stats: keep :math:`\hat\mu, \hat\sigma^2`. Default ``True``.
        fused: ``torch.nn.functional.batch_norm`` (``True``) or ours. Default ``True``.

    Example:
        >>> bn = BatchNorm1d(3, fused=False)
        >>> bn(torch.randn(8, 3)).shape
        torch.Size([8, 3])

    Notes: O9.
    """

    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    r"""Batch norm over images ``(N, C, H, W)``: statistics per channel over ``N, H, W``.

    Same formula and arguments as :class:`BatchNorm1d`.

    Example:
        >>> BatchNorm2d(4)(torch.randn(2, 4, 5, 5)).shape
        torch.Size([2, 4, 5, 5])

    Notes: O9.
    """

    _dims = (4,)


class LayerNorm(nn.Module):
    r"""Layer norm: normalise each example over its trailing ``normalized_shape`` dims.

    .. math::
        y = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}\,\gamma + \beta

    Args:
        normalized_shape: trailing shape (an int means the last dim).
        eps: :math:`\epsilon`. Default ``1e-5``.
        elementwise_affine: learn :math:`\gamma, \beta`. Default ``True``.
        fused: ``torch.nn.functional.layer_norm`` (``True``) or ours. Default ``True``.

    Example:
        >>> LayerNorm(4, fused=False)(torch.randn(2, 3, 4)).shape
        torch.Size([2, 3, 4])

    Notes: O10.
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, fused: bool = True) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        if not shape or any(int(s) < 1 for s in shape):
            raise ConfigError(f"LayerNorm needs a non-empty positive normalized_shape, got {shape}")
        self.normalized_shape = tuple(int(s) for s in shape)
        self.eps = float(eps)
        self.elementwise_affine = elementwise_affine
        self.fused = fused
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(self.normalized_shape))
            self.bias = nn.Parameter(torch.zeros(self.normalized_shape))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        k = len(self.normalized_shape)
        if x.dim() < k or tuple(x.shape[x.dim() - k:]) != self.normalized_shape:
            raise ShapeError(
                f"LayerNorm{self.normalized_shape} expects input ending in "
                f"{self.normalized_shape}, got {tuple(x.shape)}"
            )
        if self.fused:
            return TF.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, fused={self.fused}")
