r"""Convolution and pooling layers: Conv2d (C3, C4), MaxPool2d and AvgPool2d (C5).

``fused=True`` runs PyTorch's kernels (``torch.nn.functional.conv2d`` and the pools),
``fused=False`` runs :mod:`deepnotes.functional.conv` (im2col + matmul). Parameter names,
shapes and initialisation follow ``torch.nn.Conv2d``, so state dicts move both ways.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as TF
from torch import Tensor, nn

from deepnotes import functional as F
from deepnotes.errors import ConfigError, ShapeError
from deepnotes.functional.conv import _pair

__all__ = ["Conv2d", "MaxPool2d", "AvgPool2d"]


class Conv2d(nn.Module):
    r"""2-D convolution layer: learnable kernels shared over every position, plus a bias.

    .. math::
        Y_{n,o,i,j} = b_o + \sum_{c}\sum_{a}\sum_{b}
            X_{n,\,c,\; i s_h + a - p_h,\; j s_w + b - p_w}\; W_{o,c,a,b}

    (zero padding). See :func:`deepnotes.functional.conv2d`.

    Initialisation as ``torch.nn.Conv2d``: :math:`W, b \sim U(-1/\sqrt{f}, 1/\sqrt{f})` with
    fan-in :math:`f = C k_h k_w` (Kaiming-uniform with :math:`a = \sqrt 5`).

    Args:
        in_channels: ``C``.
        out_channels: ``O`` (number of kernels, i.e. feature maps).
        kernel_size: :math:`k`, an int or ``(k_h, k_w)``.
        stride: :math:`s`, an int or pair. Default ``1``.
        padding: zeros on each side, an int or pair. Default ``0``.
        bias: learn :math:`b`. Default ``True``.
        fused: ``torch.nn.functional.conv2d`` (``True``) or ours. Default ``True``.

    Shape:
        - Input: ``(N, C, H, W)`` or ``(C, H, W)``.
        - Output: ``(N, O, H_out, W_out)``, ``H_out = ⌊(H - k_h + 2 p_h) / s_h⌋ + 1``.

    Example:
        >>> Conv2d(1, 6, 5, padding=2, fused=False)(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 6, 28, 28])

    Notes: C3, C4.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                 bias: bool = True, fused: bool = True) -> None:
        super().__init__()
        if int(in_channels) < 1 or int(out_channels) < 1:
            raise ConfigError(
                f"Conv2d needs in_channels >= 1 and out_channels >= 1, got {in_channels} and "
                f"{out_channels}"
            )
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = _pair(kernel_size, "kernel_size", "Conv2d", 1)
        self.stride = _pair(stride, "stride", "Conv2d", 1)
        self.padding = _pair(padding, "padding", "Conv2d", 0)
        self.fused = fused
        self.weight = nn.Parameter(
            torch.empty(self.out_channels, self.in_channels, *self.kernel_size))  # (O, C, kh, kw)
        if bias:
            self.bias = nn.Parameter(torch.empty(self.out_channels))  # (O,)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # torch.nn.Conv2d's scheme: kaiming_uniform(a=√5) is U(-1/√fan_in, 1/√fan_in)
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
            bound = 1.0 / math.sqrt(fan_in)
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() not in (3, 4) or x.shape[-3] != self.in_channels:
            raise ShapeError(
                f"Conv2d({self.in_channels}, {self.out_channels}) expects input of shape "
                f"(N, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        if self.fused:
            return TF.conv2d(x, self.weight, self.bias, self.stride, self.padding)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}, padding={self.padding}")
        if self.bias is None:
            s += ", bias=False"
        return s + f", fused={self.fused}"


class ConvTranspose2d(nn.Module):
    r"""Transposed 2-D convolution layer (a learnable upsampling, e.g. in a DCGAN generator).

    .. math::
        Y_{n,o,\; i s + a - p,\; j s + b - p} \mathrel{+}= X_{n,c,i,j}\, W_{c,o,a,b}

    See :func:`deepnotes.functional.conv_transpose2d`. Parameters and initialisation as
    ``torch.nn.ConvTranspose2d`` (``weight`` of shape ``(C, O, k_h, k_w)``, uniform bounds from
    the fan-in ``O k_h k_w``), so state dicts load both ways.

    Args:
        in_channels, out_channels, kernel_size, stride, padding: as :class:`Conv2d`.
        output_padding: extra rows/columns at the bottom and right. Default ``0``.
        bias: learn :math:`b`. Default ``True``.
        fused: ``torch.nn.functional.conv_transpose2d`` (``True``) or ours. Default ``True``.

    Shape:
        - Output: ``(N, O, H_out, W_out)``, ``H_out = (H - 1) s - 2 p + k + output_padding``.

    Example:
        >>> ConvTranspose2d(8, 4, 4, stride=2, padding=1)(torch.zeros(2, 8, 7, 7)).shape
        torch.Size([2, 4, 14, 14])

    Notes: C2, C3.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                 output_padding: int | tuple[int, int] = 0, bias: bool = True,
                 fused: bool = True) -> None:
        super().__init__()
        if int(in_channels) < 1 or int(out_channels) < 1:
            raise ConfigError(f"ConvTranspose2d needs in_channels >= 1 and out_channels >= 1, "
                              f"got {in_channels} and {out_channels}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _pair(kernel_size, "kernel_size", "ConvTranspose2d", 1)
        self.stride = _pair(stride, "stride", "ConvTranspose2d", 1)
        self.padding = _pair(padding, "padding", "ConvTranspose2d", 0)
        self.output_padding = _pair(output_padding, "output_padding", "ConvTranspose2d", 0)
        if any(o >= st for o, st in zip(self.output_padding, self.stride)):
            raise ConfigError(f"ConvTranspose2d needs output_padding < stride, got "
                              f"{self.output_padding} and {self.stride}")
        self.fused = fused
        self.weight = nn.Parameter(
            torch.empty(self.in_channels, self.out_channels, *self.kernel_size))  # (C, O, kh, kw)
        if bias:
            self.bias = nn.Parameter(torch.empty(self.out_channels))  # (O,)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # torch's scheme; for this weight layout the fan-in is O·kh·kw
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.out_channels * self.kernel_size[0] * self.kernel_size[1]
            bound = 1.0 / math.sqrt(fan_in)
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() not in (3, 4) or x.shape[-3] != self.in_channels:
            raise ShapeError(f"ConvTranspose2d({self.in_channels}, {self.out_channels}) expects "
                             f"input of shape (N, {self.in_channels}, H, W), got "
                             f"{tuple(x.shape)}")
        if self.fused:
            return TF.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                       self.output_padding)
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self.output_padding)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, "
                f"output_padding={self.output_padding}, bias={self.bias is not None}, "
                f"fused={self.fused}")


class _Pool2d(nn.Module):
    _name = ""

    def __init__(self, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] | None = None,
                 padding: int | tuple[int, int] = 0, fused: bool = True) -> None:
        super().__init__()
        cls = type(self).__name__
        self.kernel_size = _pair(kernel_size, "kernel_size", cls, 1)
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride", cls, 1)
        self.padding = _pair(padding, "padding", cls, 0)
        if 2 * self.padding[0] > self.kernel_size[0] or 2 * self.padding[1] > self.kernel_size[1]:
            raise ConfigError(
                f"{cls} padding must be at most half the kernel size, got padding={padding!r} "
                f"for kernel_size={kernel_size!r}"
            )
        self.fused = fused

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, fused={self.fused}")


class MaxPool2d(_Pool2d):
    r"""Max pooling over :math:`k_h \times k_w` windows, channel by channel.

    .. math::
        Y_{n,c,i,j} = \max_{a,b} X_{n,\,c,\; i s_h + a - p_h,\; j s_w + b - p_w}

    (padding counts as :math:`-\infty`). See :func:`deepnotes.functional.max_pool2d`.

    Args:
        kernel_size: an int or pair.
        stride: an int or pair; ``None`` (default) means ``kernel_size``.
        padding: on each side, at most half the kernel. Default ``0``.
        fused: ``torch.nn.functional.max_pool2d`` (``True``) or ours. Default ``True``.

    Example:
        >>> MaxPool2d(2, fused=False)(torch.zeros(2, 6, 28, 28)).shape
        torch.Size([2, 6, 14, 14])

    Notes: C5.
    """

    def forward(self, x: Tensor) -> Tensor:
        if self.fused:
            return TF.max_pool2d(x, self.kernel_size, self.stride, self.padding)
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool2d):
    r"""Average pooling over :math:`k_h \times k_w` windows, channel by channel.

    .. math::
        Y_{n,c,i,j} = \frac{1}{k_h k_w}\sum_{a,b} X_{n,\,c,\; i s_h + a - p_h,\; j s_w + b - p_w}

    (padding counts as zeros and is included in the mean, as torch's default).
    See :func:`deepnotes.functional.avg_pool2d`.

    Args:
        kernel_size: an int or pair.
        stride: an int or pair; ``None`` (default) means ``kernel_size``.
        padding: on each side, at most half the kernel. Default ``0``.
        fused: ``torch.nn.functional.avg_pool2d`` (``True``) or ours. Default ``True``.

    Example:
        >>> AvgPool2d(2, fused=False)(torch.zeros(2, 6, 28, 28)).shape
        torch.Size([2, 6, 14, 14])

    Notes: C5.
    """

    def forward(self, x: Tensor) -> Tensor:
        if self.fused:
            return TF.avg_pool2d(x, self.kernel_size, self.stride, self.padding)
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)
