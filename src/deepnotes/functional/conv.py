r"""Convolution and pooling written from their formulas.

``corr2d`` is the notes' readable two-loop cross-correlation of one image with one kernel.
``conv2d``, ``max_pool2d`` and ``avg_pool2d`` do the same sums for whole batches with many
channels: ``torch.nn.functional.unfold`` (im2col) copies every receptive field into a column,
after which a convolution is one matrix product and a pooling is a max or a mean per column.

Notes: C2 (kernel, stride, padding, output size), C3 (cross-correlation, channels),
C4 (parameter sharing), C5 (pooling).
"""

from __future__ import annotations

import torch
import torch.nn.functional as TF
from torch import Tensor

from deepnotes.errors import ConfigError, ShapeError

__all__ = ["corr2d", "conv_output_size", "conv2d", "conv_transpose2d", "max_pool2d",
           "avg_pool2d"]


def _pair(value: int | tuple[int, int] | list[int], name: str, fn: str,
          minimum: int) -> tuple[int, int]:
    """``value`` as a (height, width) pair of ints ≥ ``minimum``; an int means both."""
    pair = (value, value) if isinstance(value, int) else value
    if (not isinstance(pair, (tuple, list)) or len(pair) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair)):
        raise ConfigError(f"{fn} {name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ConfigError(f"{fn} {name} must be >= {minimum}, got {value!r}")
    return (pair[0], pair[1])


def corr2d(X: Tensor, K: Tensor) -> Tensor:
    r"""Two-dimensional cross-correlation of one image with one kernel, as a readable loop.

    .. math::
        Y_{i,j} = \sum_{a=0}^{k_h-1}\sum_{b=0}^{k_w-1} X_{i+a,\,j+b}\,K_{a,b}

    The window slides left to right, top to bottom, without padding, so the output is
    :math:`(n_h - k_h + 1) \times (n_w - k_w + 1)`. Deep-learning "convolution" is this
    operation (the kernel is not flipped).

    Args:
        X: image ``(n_h, n_w)``.
        K: kernel ``(k_h, k_w)``, no larger than ``X``.

    Shape:
        - Output: ``(n_h - k_h + 1, n_w - k_w + 1)``.

    Example (the notes' worked example, 0·0 + 1·1 + 3·2 + 4·3 = 19):
        >>> corr2d(torch.arange(9.0).reshape(3, 3), torch.arange(4.0).reshape(2, 2))
        tensor([[19., 25.],
                [37., 43.]])

    Notes: C3.
    """
    if X.dim() != 2 or K.dim() != 2:
        raise ShapeError(
            f"corr2d expects a 2-D image and a 2-D kernel, got shapes {tuple(X.shape)} and "
            f"{tuple(K.shape)}; use conv2d for batches and channels"
        )
    kh, kw = K.shape
    if kh > X.shape[0] or kw > X.shape[1]:
        raise ShapeError(
            f"corr2d kernel {tuple(K.shape)} is larger than the image {tuple(X.shape)}"
        )
    rows = []
    for i in range(X.shape[0] - kh + 1):
        # Y[i, j] = Σ_a Σ_b X[i+a, j+b]·K[a, b]
        rows.append(torch.stack([(X[i:i + kh, j:j + kw] * K).sum()
                                 for j in range(X.shape[1] - kw + 1)]))
    return torch.stack(rows)  # (n_h - k_h + 1, n_w - k_w + 1)


def conv_output_size(n: int, k: int, padding: int = 0, stride: int = 1) -> int:
    r"""Length of a convolution's (or pooling's) output along one spatial dimension.

    .. math::
        n_{out} = \left\lfloor \frac{n - k + 2p}{s} \right\rfloor + 1

    with ``p`` zeros added on *each* side (the notes' :math:`p_h` counts both sides together:
    :math:`n - k + p_h + 1` for stride 1).

    Args:
        n: input length.
        k: kernel length.
        padding: ``p`` added on each side. Default ``0``.
        stride: ``s``. Default ``1``.

    Example:
        >>> conv_output_size(28, 5, padding=2), conv_output_size(28, 2, stride=2)
        (28, 14)

    Notes: C2.
    """
    if stride < 1 or k < 1 or padding < 0 or n < 1:
        raise ConfigError(
            f"conv_output_size needs n >= 1, k >= 1, padding >= 0 and stride >= 1, got "
            f"n={n}, k={k}, padding={padding}, stride={stride}"
        )
    if n + 2 * padding < k:
        raise ShapeError(f"kernel size {k} is larger than the padded input {n} + 2·{padding}")
    return (n - k + 2 * padding) // stride + 1


def _check_image(x: Tensor, fn: str) -> tuple[Tensor, bool]:
    """``(x as (N, C, H, W), whether a batch dimension was added)``."""
    if x.dim() == 3:
        return x.unsqueeze(0), True
    if x.dim() != 4:
        raise ShapeError(
            f"{fn} expects input of shape (N, C, H, W) or (C, H, W), got {tuple(x.shape)}"
        )
    return x, False


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None,
           stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0) -> Tensor:
    r"""2-D convolution (cross-correlation) with many input and output channels.

    .. math::
        Y_{n,o,i,j} = b_o + \sum_{c=0}^{C-1}\sum_{a=0}^{k_h-1}\sum_{b=0}^{k_w-1}
            X_{n,\,c,\; i s_h + a - p_h,\; j s_w + b - p_w}\; W_{o,c,a,b}

    where :math:`X` is zero outside the image (zero padding). Each output channel :math:`o`
    sums one :func:`corr2d` per input channel (the same kernel at every position: parameter
    sharing) and adds its bias.

    Computed as im2col: ``unfold`` gathers each receptive field into a column of length
    :math:`C k_h k_w`, and the weights, flattened to :math:`(O, C k_h k_w)`, multiply all
    columns at once.

    Args:
        x: input ``(N, C, H, W)`` or ``(C, H, W)``.
        weight: kernels ``(O, C, k_h, k_w)``.
        bias: ``(O,)`` or ``None``. Default ``None``.
        stride: :math:`s`, an int or ``(s_h, s_w)``. Default ``1``.
        padding: zeros :math:`p` on each side, an int or ``(p_h, p_w)``. Default ``0``.

    Shape:
        - Output: ``(N, O, H_out, W_out)`` (no ``N`` for unbatched input) with
          ``H_out = ⌊(H - k_h + 2 p_h) / s_h⌋ + 1`` (see :func:`conv_output_size`).

    Example:
        >>> x = torch.arange(9.0).reshape(1, 1, 3, 3)
        >>> conv2d(x, torch.arange(4.0).reshape(1, 1, 2, 2), torch.tensor([1.0]))
        tensor([[[[20., 26.],
                  [38., 44.]]]])

    Notes: C2, C3, C4.
    """
    x, unbatched = _check_image(x, "conv2d")
    if weight.dim() != 4:
        raise ShapeError(
            f"conv2d expects weight of shape (O, C, k_h, k_w), got {tuple(weight.shape)}"
        )
    n, c, h, w = x.shape
    out_ch, in_ch, kh, kw = weight.shape
    if c != in_ch:
        raise ShapeError(
            f"conv2d weight {tuple(weight.shape)} expects {in_ch} input channels, got input "
            f"{tuple(x.shape)} with {c}"
        )
    if bias is not None and tuple(bias.shape) != (out_ch,):
        raise ShapeError(f"conv2d expects bias of shape ({out_ch},), got {tuple(bias.shape)}")
    sh, sw = _pair(stride, "stride", "conv2d", 1)
    ph, pw = _pair(padding, "padding", "conv2d", 0)
    ho = conv_output_size(h, kh, ph, sh)
    wo = conv_output_size(w, kw, pw, sw)
    # im2col: every receptive field (zero padded) becomes one column
    cols = TF.unfold(x, (kh, kw), padding=(ph, pw), stride=(sh, sw))  # (N, C·kh·kw, L)
    # Y = W·cols: Σ over c, a, b for all positions at once
    y = weight.reshape(out_ch, -1) @ cols  # (N, O, L)
    if bias is not None:
        # + b_o
        y = y + bias.reshape(1, out_ch, 1)
    y = y.reshape(n, out_ch, ho, wo)  # (N, O, H_out, W_out)
    return y.squeeze(0) if unbatched else y


def conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                     output_padding: int | tuple[int, int] = 0) -> Tensor:
    r"""Transposed convolution: every input pixel stamps a weighted copy of the kernel onto the
    output, ``s`` pixels apart — the map whose matrix is the transpose of :func:`conv2d`'s, so
    it turns an ``H`` × ``W`` map into a larger one (a generator's upsampling layer).

    .. math::
        Y_{n,o,\; i s_h + a - p_h,\; j s_w + b - p_w} \mathrel{+}= X_{n,c,i,j}\, W_{c,o,a,b},
        \qquad Y_{n,o,\cdot,\cdot} \mathrel{+}= b_o

    Computed as an ordinary convolution: put :math:`s - 1` zeros between input pixels, pad
    :math:`k - 1 - p` zeros around (plus ``output_padding`` at the bottom and right), and
    convolve with stride 1 by the kernel flipped in both spatial axes, its two channel axes
    swapped.

    Args:
        x: input ``(N, C, H, W)`` or ``(C, H, W)``.
        weight: ``(C, O, k_h, k_w)`` — torch's layout for a transposed convolution.
        bias: ``(O,)`` or ``None``.
        stride, padding: of the convolution this one transposes.
        output_padding: extra rows and columns at the bottom and right (``< stride``).

    Shape:
        - Output: ``(N, O, H_out, W_out)``, ``H_out = (H - 1) s_h - 2 p_h + k_h + op_h``.

    Example:
        >>> x = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
        >>> conv_transpose2d(x, torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]]))  # d2l 13.10
        tensor([[[[ 0.,  0.,  1.],
                  [ 0.,  4.,  6.],
                  [ 4., 12.,  9.]]]])

    Notes: C2 (output size of the transposed convolution), C3.
    """
    x, unbatched = _check_image(x, "conv_transpose2d")
    if weight.dim() != 4 or weight.shape[0] != x.shape[1]:
        raise ShapeError(f"conv_transpose2d expects weight of shape (C={x.shape[1]}, O, k_h, "
                         f"k_w) for input {tuple(x.shape)}, got {tuple(weight.shape)}")
    sh, sw = _pair(stride, "stride", "conv_transpose2d", 1)
    ph, pw = _pair(padding, "padding", "conv_transpose2d", 0)
    oh, ow = _pair(output_padding, "output_padding", "conv_transpose2d", 0)
    _, _, kh, kw = weight.shape
    if oh >= sh or ow >= sw:
        raise ConfigError(f"conv_transpose2d needs output_padding < stride, got output_padding "
                          f"({oh}, {ow}) and stride ({sh}, {sw})")
    n, c, h, w = x.shape
    # s - 1 zeros between neighbouring input pixels
    z = x.new_zeros(n, c, (h - 1) * sh + 1, (w - 1) * sw + 1)
    z[:, :, ::sh, ::sw] = x  # (N, C, (H-1)s+1, (W-1)s+1)
    # k - 1 - p zeros around, output_padding more at the bottom and right (p > k - 1: a
    # negative pad crops)
    z = TF.pad(z, (kw - 1 - pw, kw - 1 - pw + ow, kh - 1 - ph, kh - 1 - ph + oh))
    # the kernel flipped in both axes, (C, O) swapped to (O, C)
    k = weight.flip(-2, -1).transpose(0, 1)  # (O, C, kh, kw)
    y = conv2d(z, k, bias)  # (N, O, H_out, W_out)
    return y.squeeze(0) if unbatched else y


def _pool_args(x: Tensor, kernel_size, stride, padding, fn: str):
    x, unbatched = _check_image(x, fn)
    kh, kw = _pair(kernel_size, "kernel_size", fn, 1)
    sh, sw = _pair(kernel_size if stride is None else stride, "stride", fn, 1)
    ph, pw = _pair(padding, "padding", fn, 0)
    if 2 * ph > kh or 2 * pw > kw:
        raise ConfigError(
            f"{fn} padding must be at most half the kernel size, got padding={padding!r} "
            f"for kernel_size={kernel_size!r}"
        )
    ho = conv_output_size(x.shape[2], kh, ph, sh)
    wo = conv_output_size(x.shape[3], kw, pw, sw)
    return x, unbatched, (kh, kw), (sh, sw), (ph, pw), (ho, wo)


def max_pool2d(x: Tensor, kernel_size: int | tuple[int, int],
               stride: int | tuple[int, int] | None = None,
               padding: int | tuple[int, int] = 0) -> Tensor:
    r"""Max pooling: the largest value of each window, channel by channel.

    .. math::
        Y_{n,c,i,j} = \max_{0 \le a < k_h,\; 0 \le b < k_w}
            X_{n,\,c,\; i s_h + a - p_h,\; j s_w + b - p_w}

    with :math:`X = -\infty` in the padding (so padding never wins). The gradient flows only to
    the element that was the maximum (the first one on ties).

    Args:
        x: input ``(N, C, H, W)`` or ``(C, H, W)``.
        kernel_size: window :math:`k`, an int or ``(k_h, k_w)``.
        stride: :math:`s`; ``None`` means ``kernel_size`` (non-overlapping windows).
        padding: :math:`p` on each side, at most half the kernel. Default ``0``.

    Shape:
        - Output: ``(N, C, H_out, W_out)``, ``H_out = ⌊(H - k_h + 2 p_h) / s_h⌋ + 1``.

    Example:
        >>> max_pool2d(torch.arange(16.0).reshape(1, 1, 4, 4), 2)
        tensor([[[[ 5.,  7.],
                  [13., 15.]]]])

    Notes: C5.
    """
    x, unbatched, k, s, p, (ho, wo) = _pool_args(x, kernel_size, stride, padding, "max_pool2d")
    n, c = x.shape[:2]
    if p != (0, 0):
        # pad with -inf on each side: (left, right, top, bottom)
        x = TF.pad(x, (p[1], p[1], p[0], p[0]), value=float("-inf"))
    cols = TF.unfold(x, k, stride=s)  # (N, C·kh·kw, L)
    cols = cols.reshape(n, c, k[0] * k[1], ho * wo)  # (N, C, kh·kw, L)
    # Y = max over the window
    y = cols.max(dim=2).values.reshape(n, c, ho, wo)  # (N, C, H_out, W_out)
    return y.squeeze(0) if unbatched else y


def avg_pool2d(x: Tensor, kernel_size: int | tuple[int, int],
               stride: int | tuple[int, int] | None = None,
               padding: int | tuple[int, int] = 0) -> Tensor:
    r"""Average pooling: the mean of each window, channel by channel.

    .. math::
        Y_{n,c,i,j} = \frac{1}{k_h k_w} \sum_{a=0}^{k_h-1}\sum_{b=0}^{k_w-1}
            X_{n,\,c,\; i s_h + a - p_h,\; j s_w + b - p_w}

    with :math:`X = 0` in the padding, and padded zeros counted in the mean (PyTorch's default,
    ``count_include_pad=True``).

    Args:
        x: input ``(N, C, H, W)`` or ``(C, H, W)``.
        kernel_size: window :math:`k`, an int or ``(k_h, k_w)``.
        stride: :math:`s`; ``None`` means ``kernel_size``.
        padding: :math:`p` on each side, at most half the kernel. Default ``0``.

    Shape:
        - Output: ``(N, C, H_out, W_out)``, ``H_out = ⌊(H - k_h + 2 p_h) / s_h⌋ + 1``.

    Example:
        >>> avg_pool2d(torch.arange(16.0).reshape(1, 1, 4, 4), 2)
        tensor([[[[ 2.5000,  4.5000],
                  [10.5000, 12.5000]]]])

    Notes: C5.
    """
    x, unbatched, k, s, p, (ho, wo) = _pool_args(x, kernel_size, stride, padding, "avg_pool2d")
    n, c = x.shape[:2]
    cols = TF.unfold(x, k, padding=p, stride=s)  # (N, C·kh·kw, L), zeros in the padding
    cols = cols.reshape(n, c, k[0] * k[1], ho * wo)  # (N, C, kh·kw, L)
    # Y = (1 / (kh·kw)) Σ over the window
    y = cols.mean(dim=2).reshape(n, c, ho, wo)  # (N, C, H_out, W_out)
    return y.squeeze(0) if unbatched else y
