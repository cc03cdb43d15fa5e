"""Image augmentation on tensors: random flips, rotations, crops, colour, noise, blur, erasing.

Data augmentation (G6) trains on label-preserving random edits of each image, so the model sees a
new version of every example each epoch and cannot memorise the pixels. Every transform here
acts on a float batch :math:`(N, C, H, W)` (or one image :math:`(C, H, W)`), draws its random
numbers *per example* from an optional ``torch.Generator`` (same generator state, same output),
and has a strength at which it is exactly the identity (``p=0``, ``degrees=0``, ``std=0`` ...).
The random numbers are drawn whatever the strength, so turning one transform of a
:class:`Compose` off does not change the draws of the others.

:class:`AugmentedBatches` is a :class:`~deepnotes.data.MiniBatches` whose training inputs pass
through a transform; the draws of batch ``b`` of epoch ``e`` come from a generator seeded by
``(seed, e, b)``, so a resumed run sees exactly the augmented batches of an uninterrupted one.

Example:
    >>> import torch
    >>> aug = Compose([RandomHorizontalFlip(0.5), RandomCrop(28, padding=2)])
    >>> x = torch.rand(8, 1, 28, 28)
    >>> y1 = aug(x, generator=torch.Generator().manual_seed(0))
    >>> y2 = aug(x, generator=torch.Generator().manual_seed(0))
    >>> y1.shape, torch.equal(y1, y2)
    (torch.Size([8, 1, 28, 28]), True)

Notes: G6.
"""

from __future__ import annotations

import abc
import math
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from deepnotes.data.loader import MiniBatches
from deepnotes.errors import ConfigError, ShapeError
from deepnotes.functional.dropout import gaussian_noise

__all__ = [
    "AugmentedBatches", "ColorJitter", "Compose", "GaussianBlur", "RandomAffine", "RandomCrop",
    "RandomErasing", "RandomGaussianNoise", "RandomHorizontalFlip", "RandomRotation",
    "RandomScale", "Transform", "augmentation_generator", "gaussian_kernel1d", "shift_images",
]


# ---------------------------------------------------------------------------- argument checks
def _number(name: str, value: Any, low: float = -math.inf, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high \
            or math.isnan(value):
        raise ConfigError(f"{name} must be a number in [{low}, {high}], got {value!r}")
    return float(value)


def _interval(name: str, value: Any, low: float = -math.inf, high: float = math.inf,
              symmetric: bool = False) -> tuple[float, float]:
    """``a`` -> ``(-a, a)`` (symmetric) or ``(a, a)``; ``(lo, hi)`` is checked and kept."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        v = _number(name, value, 0.0 if symmetric else low, high)
        return (-v, v) if symmetric else (v, v)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ConfigError(f"{name} must be a number or a (min, max) pair, got {value!r}")
    lo, hi = (_number(name, v, low, high) for v in value)
    if lo > hi:
        raise ConfigError(f"{name} must have min <= max, got {value!r}")
    return lo, hi


def _pair_int(name: str, value: Any, low: int = 1) -> tuple[int, int]:
    pair = (value, value) if not isinstance(value, (tuple, list)) else tuple(value)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < low
                             for v in pair):
        raise ConfigError(f"{name} must be an integer >= {low} or a pair of them, got {value!r}")
    return pair  # type: ignore[return-value]


# ---------------------------------------------------------------------------- random draws
def _uniform(n: int, lo: float, hi: float, gen: torch.Generator | None, like: Tensor) -> Tensor:
    """``n`` draws of U[lo, hi] on ``like``'s device and dtype (drawn on the generator's device)."""
    u = _rand((n,), gen, like)
    # u ~ U[0, 1) → lo + (hi − lo)·u
    return lo + (hi - lo) * u


def _rand(shape: tuple[int, ...], gen: torch.Generator | None, like: Tensor) -> Tensor:
    """U[0, 1) draws of ``shape`` on ``like``'s device and dtype (drawn on the generator's)."""
    dtype = like.dtype if like.dtype in (torch.float32, torch.float64) else torch.float32
    device = gen.device if gen is not None else like.device
    return torch.rand(shape, generator=gen, device=device, dtype=dtype).to(like.device, like.dtype)


def _randint(high: Tensor, gen: torch.Generator | None, like: Tensor) -> Tensor:
    """One integer in ``{0, ..., high_i}`` per entry of ``high`` (an integer tensor)."""
    u = _rand(tuple(high.shape), gen, torch.empty(0, dtype=torch.float64, device=like.device))
    return torch.minimum((u * (high + 1)).floor().long(), high)


def augmentation_generator(seed: int, epoch: int, batch: int) -> torch.Generator:
    """A CPU generator seeded by ``(seed, epoch, batch)`` (mixed by NumPy's ``SeedSequence``)."""
    mixed = np.random.SeedSequence([seed, epoch, batch, 0x6A06]).generate_state(1, dtype=np.uint64)
    return torch.Generator().manual_seed(int(mixed[0]))


# ---------------------------------------------------------------------------- base classes
def shift_images(x: Tensor, dy: int, dx: int) -> Tensor:
    """Images ``(..., H, W)`` moved ``dy`` pixels down and ``dx`` right (negative: up, left),
    the uncovered border filled with 0 and what leaves the frame dropped (C4).

    Example:
        >>> shift_images(torch.arange(1., 10).reshape(3, 3), 1, -1)
        tensor([[0., 0., 0.],
                [2., 3., 0.],
                [5., 6., 0.]])
    """
    h, w = x.shape[-2:]
    out = torch.zeros_like(x)
    if abs(dy) >= h or abs(dx) >= w:
        return out
    src_y, dst_y = slice(max(0, -dy), h - max(0, dy)), slice(max(0, dy), h - max(0, -dy))
    src_x, dst_x = slice(max(0, -dx), w - max(0, dx)), slice(max(0, dx), w - max(0, -dx))
    out[..., dst_y, dst_x] = x[..., src_y, src_x]
    return out


class Transform(abc.ABC):
    """A random image transform: ``t(x, generator=None)``, ``x`` of shape (N, C, H, W) or (C, H, W).

    Subclasses implement ``_apply(x, gen)`` on a 4-d float batch and draw their random numbers
    per example through ``gen`` (None: torch's global generator).
    """

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if not isinstance(x, Tensor):
            raise ConfigError(f"{type(self).__name__} expects a tensor, got {type(x).__name__}")
        if x.dim() not in (3, 4):
            raise ShapeError(f"{type(self).__name__} expects an image batch (N, C, H, W) or one "
                             f"image (C, H, W), got shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ConfigError(f"{type(self).__name__} expects a floating-point tensor, got "
                              f"{x.dtype}; convert with x.float() (e.g. uint8 pixels / 255)")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ConfigError("generator must be a torch.Generator or None, got "
                              f"{type(generator).__name__}")
        single = x.dim() == 3
        out = self._apply(x.unsqueeze(0) if single else x, generator)
        return out.squeeze(0) if single else out

    @abc.abstractmethod
    def _apply(self, x: Tensor, gen: torch.Generator | None) -> Tensor:
        """The transform on a batch ``(N, C, H, W)``, drawing its randomness from ``gen``."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Compose(Transform):
    """Apply ``transforms`` one after the other, all drawing from the same generator.

    .. math:: T(x) = T_k(\\cdots T_2(T_1(x)))

    Example:
        >>> t = Compose([RandomHorizontalFlip(0.5), RandomGaussianNoise(0.0)])
        >>> t(torch.zeros(2, 1, 4, 4)).shape
        torch.Size([2, 1, 4, 4])
    """

    def __init__(self, transforms: Sequence[Transform]) -> None:
        transforms = list(transforms)
        bad = [t for t in transforms if not callable(t)]
        if bad:
            raise ConfigError(f"Compose takes callables such as RandomCrop(...), got {bad!r}")
        self.transforms = transforms

    def _apply(self, x: Tensor, gen: torch.Generator | None) -> Tensor:
        for t in self.transforms:
            x = t(x, generator=gen)
        return x


# ---------------------------------------------------------------------------- geometry
class RandomHorizontalFlip(Transform):
    """Mirror each image left-right with probability ``p``.

    .. math:: x'_{n,c,i,j} = x_{n,c,i,W-1-j} \\text{ if } u_n < p \\text{ else } x_{n,c,i,j},
        \\quad u_n \\sim U[0, 1)

    Args:
        p: probability of flipping an image (0: identity, 1: always). Default: 0.5.
    """

    def __init__(self, p: float = 0.5) -> None:
        self.p = _number("p", p, 0.0, 1.0)

    def _apply(self, x: Tensor, gen: torch.Generator | None) -> Tensor:
        flip = _rand((x.shape[0],), gen, x) < self.p  # (N,)
        return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


class RandomAffine(Transform):
    """Rotate by :math:`\\theta`, scale by :math:`s` and shift by :math:`t` about the image centre.

    Output pixel :math:`p` (pixel coordinates from the centre) is read from the input at

    .. math:: p_{\\text{in}} = \\frac{1}{s} R(\\theta)^{-1} (p - t), \\qquad
        R(\\theta) = \\begin{pmatrix}\\cos\\theta & -\\sin\\theta\\\\
        \\sin\\theta & \\cos\\theta\\end{pmatrix}

    with bilinear interpolation and zeros outside the image (``affine_grid`` + ``grid_sample``).
    Positive :math:`\\theta` turns the picture counter-clockwise, as ``torch.rot90`` does.
    Per example :math:`\\theta \\sim U[\\text{degrees}]`, :math:`s \\sim U[\\text{scale}]`,
    :math:`t \\sim U[-\\text{translate}\\cdot(W, H), +\\text{translate}\\cdot(W, H)]`.

    Args:
        degrees: ``a`` for :math:`U[-a, a]` or ``(min, max)``, in degrees. Default: 0.
        scale: ``(min, max)`` zoom factors (> 0; >1 zooms in) or one factor. Default: 1.
        translate: largest shift as a fraction of ``(width, height)``, or one fraction for both.
            Default: 0.

    At ``degrees=0, scale=1, translate=0`` the input is returned unchanged.
    """

    def __init__(self, degrees: Any = 0.0, scale: Any = 1.0, translate: Any = 0.0) -> None:
        self.degrees = _interval("degrees", degrees, -360.0, 360.0, symmetric=True)
        self.scale = _interval("scale", scale, 1e-3, 1e3)
        t = (translate, translate) if not isinstance(translate, (tuple, list)) else tuple(translate)
        if len(t) != 2:
            raise ConfigError(f"translate must be a fraction or a (x, y) pair, got {translate!r}")
        self.translate = tuple(_number("translate", v, 0.0, 1.0) for v in t)

    def _identity(self) -> bool:
        return (self.degrees == (0.0, 0.0) and self.scale == (1.0, 1.0)
                and self.translate == (0.0, 0.0))

    def _apply(self, x: Tensor, gen: torch.Generator | None) -> Tensor:
        N, C, H, W = x.shape
        angle = torch.deg2rad(_uniform(N, *self.degrees, gen, x))  # (N,)
        s = _uniform(N, *self.scale, gen, x)  # (N,)
        tx = _uniform(N, -self.translate[0], self.translate[0], gen, x) * 2  # normalised units
        ty = _uniform(N, -self.translate[1], self.translate[1], gen, x) * 2
        if self._identity():
            return x
        cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
        # R(θ)⁻¹/s in pixel coordinates (x right, y down: counter-clockwise on screen is -θ),
        # moved to affine_grid's [-1, 1] coordinates by D⁻¹ M D with D = diag(W/2, H/2)
        a, b = cos, -sin * (H / W)
        c, d = sin * (W / H), cos
        theta = torch.stack([torch.stack([a, b, -(a * tx + b * ty)], -1),
                             torch.stack([c, d, -(c * tx + d * ty)], -1)], 1)  # (N, 2, 3)
        grid = F.affine_grid(theta, [N, C, H, W], align_corners=False)  # (N, H, W, 2)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class RandomRotation(RandomAffine):
    """Rotate each image by :math:`\\theta \\sim U[-\\text{degrees}, \\text{degrees}]`
    (see RandomAffine)."""

    def __init__(self, degrees: Any) -> None:
        super().__init__(degrees=degrees)


class RandomScale(RandomAffine):
    """Zoom each image by :math:`s \\sim U[\\text{scale}]` about its centre (see RandomAffine)."""

    def __init__(self, scale: Any) -> None:
        super().__init__(scale=scale)


class RandomCrop(Transform):
    """Pad with zeros, then cut a ``size`` window at a random place (a random shift).

    .. math:: x' = \\mathrm{pad}(x, P)[:, :, i_n : i_n + h,\\ j_n : j_n + w], \\quad
        i_n \\sim U\\{0..H+2P-h\\},\\ j_n \\sim U\\{0..W+2P-w\\}

    Args:
        size: output ``(h, w)`` or one side for a square; None keeps the input size. Default: None.
        padding: zeros added on every side first (``P``). Default: 0.

    With ``padding=0`` and ``size`` equal to the input size, the input is returned unchanged.
    """

    def __init__(self, size: Any = None, padding: int = 0) -> None:
        self.size = _pair_int("size", size) if size is not None else None
        self.padding = _pair_int("padding", padding, low=0)[0]

    def _apply(self, x: Tensor, gen: torch.Generator | None) -> Tensor:
        N, C, H, W = x.shape
        P = self.padding
        h, w = self.size if self.size is not None else (H, W)
        if h > H + 2 * P or w > W + 2 * P:
            raise ShapeError(f"RandomCrop size {(h, w)} is larger than the padded image "
                             f"{(H + 2 * P, W + 2 * P)}")
        top = _randint(torch.full((N,), H + 2 * P - h, device=x.device), gen, x)  # (N,)
        left = _randint(torch.full((N,), W + 2 * P - w, device=x.device), gen, x)  # (N,)
        padded = F.pad(x, (P, P, P, P)) if P else x  # (N, C, H+2P, W+2P)
        rows = (top[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (N, 1, h, 1)
        cols = (left[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (N, 1, 1, w)
        n = torch.arange(N, device=x.device)[:, None, None, None]
        ch = torch.arange(C, device=x.device)[None, :, None, None]
        return padded[n, ch, rows, cols]  # (N, C, h, w)


# ---------------------------------------------------------------------------- photometric
class ColorJitter(Transform):
    """Random brightness, then contrast, then a clamp to ``value_range``.

    .. math:: x' = b_n x, \\qquad x'' = \\mu_n + c_n (x' - \\mu_n), \\qquad
        b_n \\sim U[1-\\beta, 1+\\beta],\\ c_n \\sim U[1-\\gamma, 1+\\gamma]

    where :math:`\\mu_n` is the mean of image :math:`n` over channels and pixels.

    Args:
        brightness: :math:`\\beta \\in [0, 1]`. Default: 0.
        contrast: :math:`\\gamma \\in [0, 1]`. Default: 0.
        value_range: ``(lo, hi)`` the result is clamped to; None: no clamp. Default: (0, 1).

    At ``brightness=0, contrast=0`` the input is returned unchanged (no clamp either).
    """

    def __init__(self, brightness: float = 0.0, contrast: float = 0.0,
                 value_range: tuple[float, float] | None = (0.0, 1.0)) -> None:
        self.brightness = _number("brightness", brightness, 0.0, 1.0)
        self.contrast = _number("contrast", contrast, 0.0, 1.0)
        self.value_range = None if value_range is None else _interval("value_range", value_range)

    def _apply(self, x: Tensor, gen: torch.Generator | None) -> Tensor:
        N = x.shape[0]
        b = _uniform(N, 1 - self.brightness, 1 + self.brightness, gen, x).view(N, 1, 1, 1)
        c = _uniform(N, 1 - self.contrast, 1 + self.contrast, gen, x).view(N, 1, 1, 1)
        if self.brightness == 0 and self.contrast == 0:
            return x
        if self.brightness > 0:
            x = b * x
        if self.contrast > 0:
            mu = x.mean(dim=(1, 2, 3), keepdim=True)  # (N, 1, 1, 1)
            x = mu + c * (x - mu)
        return x.clamp(*self.value_range) if self.value_range is not None else x


class RandomGaussianNoise(Transform):
    """Add white noise to the pixels: :math:`x' = x + \\varepsilon`,
    :math:`\\varepsilon \\sim N(0, \\sigma^2 I)`, then clamp to ``value_range`` if given.

    The noise is :func:`deepnotes.functional.gaussian_noise`, the formula of the
    :class:`deepnotes.nn.GaussianNoise` layer (G5), applied to the input images instead of to
    hidden activations.

    Args:
        std: :math:`\\sigma \\ge 0` (0: identity). Default: 0.1.
        value_range: ``(lo, hi)`` to clamp the result to, or None (no clamp). Default: None.
    """

    def __init__(self, std: float = 0.1, value_range: tuple[float, float] | None = None) -> None:
        self.std = _number("std", std, 0.0)
        self.value_range = None if value_range is None else _interval("value_range", value_range)

    def _apply(self, x: Tensor, gen: torch.Generator | None) -> Tensor:
        if self.std == 0:
            # identity, but draw (and discard) the same noise as std > 0 would, so that the
            # transforms after this one in a Compose see the same generator state
            gaussian_noise(x, 1.0, generator=gen)
            return x
        out = gaussian_noise(x, self.std, generator=gen)
        return out.clamp(*self.value_range) if self.value_range is not None else out


def gaussian_kernel1d(kernel_size: int, sigma: Tensor) -> Tensor:
    """Normalised 1-d Gaussian weights, one row per :math:`\\sigma` (a 0-d or 1-d tensor).

    .. math:: g_k = \\frac{\\exp(-k^2 / 2\\sigma^2)}{\\sum_{j=-r}^{r} \\exp(-j^2 / 2\\sigma^2)},
        \\quad k = -r, \\dots, r,\\ r = \\lfloor \\text{kernel\\_size}/2 \\rfloor

    :math:`\\sigma = 0` gives the unit impulse (no blur). Returns ``(len(sigma), kernel_size)``.
    """
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 \
            or kernel_size % 2 == 0:
        raise ConfigError(f"kernel_size must be a positive odd integer, got {kernel_size!r}")
    sigma = torch.as_tensor(sigma).reshape(-1, 1)  # (S, 1)
    r = kernel_size // 2
    k = torch.arange(-r, r + 1, dtype=sigma.dtype, device=sigma.device)  # (K,)
    # exp(−k²/2σ²); σ → 0 leaves only k = 0
    logits = -(k**2) / (2 * sigma.clamp_min(1e-12) ** 2)  # (S, K)
    return torch.softmax(logits, dim=-1)  # (S, K), each row sums to 1


class GaussianBlur(Transform):
    """Blur with a separable Gaussian kernel (rows, then columns), edges replicated.

    .. math:: x' = g_\\sigma * (g_\\sigma^\\top * x), \\qquad
        \\sigma_n \\sim U[\\sigma_{min}, \\sigma_{max}]

    with :math:`g_\\sigma` from :func:`gaussian_kernel1d`; replicated edges keep a constant
    image constant.

    Args:
        kernel_size: odd kernel width. Default: 3.
        sigma: one :math:`\\sigma \\ge 0` or a ``(min, max)`` range drawn per image (0: identity).
            Default: (0.1, 1.0).
    """

    def __init__(self, kernel_size: int = 3, sigma: Any = (0.1, 1.0)) -> None:
        gaussian_kernel1d(kernel_size, torch.ones(1))  # validates kernel_size
        self.kernel_size = kernel_size
        self.sigma = _interval("sigma", sigma, 0.0, 1e3)

    def _apply(self, x: Tensor, gen: torch.Generator | None) -> Tensor:
        N, C, H, W = x.shape
        sigma = _uniform(N, *self.sigma, gen, x)  # (N,)
        if self.sigma == (0.0, 0.0):
            return x
        K, r = self.kernel_size, self.kernel_size // 2
        g = gaussian_kernel1d(K, sigma).to(x.dtype)  # (N, K)
        g = g.repeat_interleave(C, dim=0)  # (N·C, K): one kernel per (image, channel)
        flat = x.reshape(1, N * C, H, W)  # each (image, channel) its own conv group
        flat = F.pad(flat, (r, r, r, r), mode="replicate")  # (1, N·C, H+2r, W+2r)
        flat = F.conv2d(flat, g.view(N * C, 1, 1, K), groups=N * C)  # along rows: (1, N·C, H+2r, W)
        flat = F.conv2d(flat, g.view(N * C, 1, K, 1), groups=N * C)  # along columns: (1, N·C, H, W)
        return flat.view(N, C, H, W)


class RandomErasing(Transform):
    """With probability ``p``, fill a random rectangle of each image with ``value`` (cutout).

    The rectangle has area fraction :math:`a \\sim U[\\text{scale}]` and aspect ratio
    :math:`\\rho = h/w` with :math:`\\log\\rho \\sim U[\\log\\text{ratio}]`:

    .. math:: h = \\mathrm{round}\\sqrt{aHW\\rho},\\ w = \\mathrm{round}\\sqrt{aHW/\\rho}
        \\text{ (clipped to } [1, H] \\times [1, W]),\\quad
        \\text{top-left uniform inside the image}

    Args:
        p: probability of erasing an image (0: identity). Default: 0.5.
        scale: range of the erased area fraction, in (0, 1]. Default: (0.02, 0.33).
        ratio: range of the aspect ratio h/w (> 0). Default: (0.3, 3.3).
        value: the fill value. Default: 0.
    """

    def __init__(self, p: float = 0.5, scale: Any = (0.02, 0.33), ratio: Any = (0.3, 3.3),
                 value: float = 0.0) -> None:
        self.p = _number("p", p, 0.0, 1.0)
        self.scale = _interval("scale", scale, 1e-6, 1.0)
        self.ratio = _interval("ratio", ratio, 1e-3, 1e3)
        self.value = _number("value", value)

    def _apply(self, x: Tensor, gen: torch.Generator | None) -> Tensor:
        N, C, H, W = x.shape
        f64 = torch.empty(0, dtype=torch.float64, device=x.device)
        erase = _rand((N,), gen, f64) < self.p  # (N,)
        area = _uniform(N, *self.scale, gen, f64) * H * W
        rho = torch.exp(_uniform(N, *(math.log(r) for r in self.ratio), gen, f64))
        h = torch.sqrt(area * rho).round().long().clamp(1, H)  # (N,)
        w = torch.sqrt(area / rho).round().long().clamp(1, W)
        top, left = _randint(H - h, gen, x), _randint(W - w, gen, x)  # (N,)
        i = torch.arange(H, device=x.device)
        j = torch.arange(W, device=x.device)
        in_rows = (i >= top[:, None]) & (i < (top + h)[:, None])  # (N, H)
        in_cols = (j >= left[:, None]) & (j < (left + w)[:, None])  # (N, W)
        mask = in_rows[:, :, None] & in_cols[:, None, :] & erase[:, None, None]  # (N, H, W)
        return torch.where(mask[:, None], torch.full_like(x, self.value), x)


# ---------------------------------------------------------------------------- training batches
class AugmentedBatches(MiniBatches):
    """:class:`MiniBatches` whose first tensor (the inputs) passes through ``transform``.

    Batch ``b`` of epoch ``e`` is transformed with :func:`augmentation_generator` ``(seed, e, b)``,
    so the augmentation, like the shuffle, is a pure function of where the batch sits:
    ``state_dict``/``load_state_dict``/``set_epoch``/``len`` are MiniBatches' own and a resumed
    run sees exactly the batches an uninterrupted run would have seen. Because it *is* a
    MiniBatches, the Trainer saves and restores its position, and ``Trainer.evaluate`` reads the
    stored (un-augmented) tensors, so "train accuracy" there is measured on the clean images.

    Args:
        data, batch_size, shuffle, seed, drop_last, device: as for :class:`MiniBatches`.
        transform: a callable ``transform(x, generator=...)`` such as :class:`Compose`.

    Example:
        >>> x, y = torch.rand(10, 1, 8, 8), torch.arange(10)
        >>> batches = AugmentedBatches((x, y), batch_size=4, transform=RandomHorizontalFlip(0.5))
        >>> [tuple(xb.shape) for xb, yb in batches][-1]
        (2, 1, 8, 8)

    Notes: G6, B8.
    """

    def __init__(self, data: Any, batch_size: int, transform: Any, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False, device: str | torch.device | None = None
                 ) -> None:
        if not callable(transform):
            raise ConfigError("transform must be callable (e.g. Compose([...])), got "
                              f"{transform!r}")
        super().__init__(data, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last,
                         device=device)
        self.transform = transform

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        for batch in super().__iter__():
            epoch, consumed = self._progress  # set by MiniBatches just before the yield
            gen = augmentation_generator(self.seed, epoch, consumed - 1)
            with torch.no_grad():
                xb = self.transform(batch[0], generator=gen)
            yield (xb, *batch[1:])

    def __repr__(self) -> str:
        return super().__repr__().replace("MiniBatches(", "AugmentedBatches(", 1)[:-1] + \
            f", transform={self.transform!r})"
