r"""Batch normalisation (per feature, over the batch) and layer normalisation (per example).

Notes: O9 (batch norm), O10 (layer norm).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from deepnotes.errors import ConfigError, ShapeError

__all__ = ["batch_norm", "layer_norm"]


def _check_channel_vector(name: str, t: Tensor | None, num_channels: int, fn: str) -> None:
    if t is not None and tuple(t.shape) != (num_channels,):
        raise ShapeError(
            f"{fn} expects {name} of shape ({num_channels},) for {num_channels} channels, "
            f"got {tuple(t.shape)}"
        )


def batch_norm(
    x: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    r"""Batch normalisation: normalise each channel with statistics over the batch (and space).

    .. math::
        \hat x = \frac{x - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}}, \qquad y = \gamma\,\hat x + \beta

    where :math:`\mu_B` and the *biased* variance :math:`\sigma_B^2` are taken per channel
    over every dimension except dim 1 (:math:`n` values each). In training the running
    statistics are updated in place with the *unbiased* variance (PyTorch's convention):

    .. math::
        \hat\mu \leftarrow (1 - m)\,\hat\mu + m\,\mu_B, \qquad
        \hat\sigma^2 \leftarrow (1 - m)\,\hat\sigma^2 + m\,\tfrac{n}{n-1}\,\sigma_B^2

    In evaluation (``training=False``) :math:`\hat\mu, \hat\sigma^2` replace the batch statistics.

    Args:
        x: input with channels in dim 1.
        running_mean: running mean :math:`\hat\mu` ``(C,)``, updated in place when training
            (``None``: not tracked).
        running_var: running variance :math:`\hat\sigma^2` ``(C,)``, updated in place when
            training (``None``: not tracked).
        weight: scale :math:`\gamma` ``(C,)`` or ``None`` (1). Default ``None``.
        bias: shift :math:`\beta` ``(C,)`` or ``None`` (0). Default ``None``.
        training: use batch statistics and update the running ones. Default ``True``.
        momentum: :math:`m` of the running-average update. Default ``0.1``.
        eps: :math:`\epsilon` added to the variance. Default ``1e-5``.

    Shape:
        - Input: ``(N, C)`` or ``(N, C, *)``. Output: same shape.

    Example:
        >>> x = torch.tensor([[1.0, 10.0], [3.0, 30.0]])
        >>> batch_norm(x, torch.zeros(2), torch.ones(2), eps=0.0)
        tensor([[-1., -1.],
                [ 1.,  1.]])

    Notes: O9.
    """
    if x.dim() < 2:
        raise ShapeError(
            f"batch_norm expects input of shape (N, C) or (N, C, *), got {tuple(x.shape)}; "
            f"add a batch dimension with x.unsqueeze(0)"
        )
    if not 0.0 <= momentum <= 1.0:
        raise ConfigError(f"batch_norm momentum must be in [0, 1], got {momentum}")
    num_channels = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        _check_channel_vector(name, t, num_channels, "batch_norm")
    dims = [0, *range(2, x.dim())]  # every dim but the channel dim
    bshape = [1, num_channels] + [1] * (x.dim() - 2)  # (1, C, 1, ...) for broadcasting
    if training:
        n = x.numel() // num_channels
        if n <= 1:
            raise ShapeError(
                f"batch_norm needs more than 1 value per channel when training, got input of "
                f"shape {tuple(x.shape)}; use a batch larger than 1 or call it in eval mode"
            )
        # μ_B = mean over the batch (and space), per channel
        mean = x.mean(dim=dims, keepdim=True)  # (1, C, 1, ...)
        # σ²_B = mean((x - μ_B)²)  (biased)
        var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)  # (1, C, 1, ...)
        with torch.no_grad():
            if running_mean is not None:
                # μ̂ ← (1 - m)·μ̂ + m·μ_B
                running_mean.mul_(1.0 - momentum).add_(mean.reshape(-1).to(running_mean.dtype),
                                                       alpha=momentum)
            if running_var is not None:
                # σ̂² ← (1 - m)·σ̂² + m·n/(n-1)·σ²_B  (unbiased)
                unbiased = var.reshape(-1) * (n / (n - 1))
                running_var.mul_(1.0 - momentum).add_(unbiased.to(running_var.dtype),
                                                      alpha=momentum)
    else:
        if running_mean is None or running_var is None:
            raise ConfigError(
                "batch_norm in eval mode (training=False) needs running_mean and running_var; "
                "pass them or use training=True"
            )
        mean = running_mean.reshape(bshape).to(x.dtype)  # (1, C, 1, ...)
        var = running_var.reshape(bshape).to(x.dtype)  # (1, C, 1, ...)
    # x̂ = (x - μ) / √(σ² + ε)
    y = (x - mean) * torch.rsqrt(var + eps)
    if weight is not None:
        # y = γ·x̂
        y = y * weight.reshape(bshape)
    if bias is not None:
        # y = γ·x̂ + β
        y = y + bias.reshape(bshape)
    return y


def layer_norm(
    x: Tensor,
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    r"""Layer normalisation: normalise each example over its last ``len(normalized_shape)`` dims.

    .. math::
        \mu = \frac1D\sum_{j} x_j, \qquad \sigma^2 = \frac1D\sum_j (x_j - \mu)^2, \qquad
        y = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}\,\gamma + \beta

    The sums run over the trailing ``normalized_shape`` (``D`` elements); unlike batch norm the
    statistics never mix examples, so training and evaluation behave the same.

    Args:
        x: input whose trailing dims equal ``normalized_shape``.
        normalized_shape: trailing shape to normalise over (an int means one dim).
        weight: scale :math:`\gamma` of shape ``normalized_shape`` or ``None`` (1).
        bias: shift :math:`\beta` of shape ``normalized_shape`` or ``None`` (0).
        eps: :math:`\epsilon` added to the variance. Default ``1e-5``.

    Shape:
        - Input: ``(*, *normalized_shape)``. Output: same shape.

    Example:
        >>> layer_norm(torch.tensor([[1.0, 3.0], [10.0, 30.0]]), 2, eps=0.0)
        tensor([[-1.,  1.],
                [-1.,  1.]])

    Notes: O10.
    """
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or x.dim() < k or tuple(x.shape[x.dim() - k:]) != shape:
        raise ShapeError(
            f"layer_norm expects input ending in normalized_shape {shape}, got {tuple(x.shape)}; "
            f"normalized_shape must equal the input's trailing dims"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise ShapeError(f"layer_norm expects {name} of shape {shape}, got {tuple(t.shape)}")
    dims = tuple(range(x.dim() - k, x.dim()))  # the trailing normalised dims
    # μ = mean over the normalised dims
    mean = x.mean(dim=dims, keepdim=True)  # (*, 1, ..., 1)
    # σ² = mean((x - μ)²)  (biased)
    var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)  # (*, 1, ..., 1)
    # x̂ = (x - μ) / √(σ² + ε)
    y = (x - mean) * torch.rsqrt(var + eps)
    if weight is not None:
        # y = γ·x̂
        y = y * weight
    if bias is not None:
        # y = γ·x̂ + β
        y = y + bias
    return y
