"""Synthetic data with a known answer: a noisy line, a noisy polynomial, and 2-D Gaussian
mixtures (a ring of 8, a grid of 25) whose modes a GAN should all reach.

Linear (d2l ``synthetic_data``): :math:`y = Xw + b + \\epsilon`, :math:`X \\sim N(0, 1)`,
:math:`\\epsilon \\sim N(0, \\text{noise}^2)`; training should recover ``w`` and ``b``.

Polynomial (d2l's under/over-fitting experiment): :math:`y = \\sum_i w_i x^i / i! + \\epsilon`
with features :math:`x^i / i!` for :math:`i < \\text{max\\_degree}`; only the first few
:math:`w_i` are non-zero, so fitting all of them shows over-fitting.

Example:
    >>> X, y = linear_regression_data(1000, w=[2.0, -3.4], b=4.2, noise=0.01, seed=0)
    >>> X.shape, y.shape
    (torch.Size([1000, 2]), torch.Size([1000, 1]))

Notes: B8 (the data the notes' minibatch SGD linear regression is trained on), G3, N5 (the
2-D mixtures: :func:`gaussian_ring`, :func:`gaussian_grid`).
"""

from __future__ import annotations

import math
import os
from typing import Sequence

import torch

from deepnotes.data.datasets import ArrayDataset
from deepnotes.errors import ConfigError

SPLITS = ("train", "test")


def _gen(seed: int, stream: int = 0) -> torch.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    # train and test draw from disjoint seeds: 2·seed and 2·seed + 1
    return torch.Generator().manual_seed(2 * seed + stream)


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"number of examples n must be a positive integer, got {n!r}")


def linear_regression_data(
    n: int = 1000,
    w: Sequence[float] | torch.Tensor = (2.0, -3.4),
    b: float = 4.2,
    noise: float = 0.01,
    seed: int = 0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` examples of a noisy linear model: :math:`y = Xw + b + \\epsilon`.

    Args:
        n: number of examples. Default: 1000.
        w: true weight vector of length D. Default: ``(2, -3.4)`` as in the notes.
        b: true bias. Default: 4.2.
        noise: standard deviation of :math:`\\epsilon`. Default: 0.01.
        seed: random seed (ignored when ``generator`` is given). Default: 0.
        generator: draw from this generator instead.

    Shape:
        - X: :math:`(n, D)`, y: :math:`(n, 1)`, float32.

    Example:
        >>> X, y = linear_regression_data(5, w=[1.0], b=0.0, noise=0.0)
        >>> bool(torch.equal(y, X))
        True

    Notes: B8.
    """
    _check_n(n)
    if noise < 0:
        raise ConfigError(f"noise must be a standard deviation >= 0, got {noise!r}")
    weight = torch.as_tensor(w, dtype=torch.float32).reshape(-1)  # (D,)
    gen = generator if generator is not None else _gen(seed)
    X = torch.randn(n, weight.numel(), generator=gen)  # (n, D)
    # y = X w + b + ε,  ε ~ N(0, noise²)
    y = X @ weight + b + noise * torch.randn(n, generator=gen)  # (n,)
    return X, y.reshape(-1, 1)  # (n, 1)


def polynomial_data(
    n: int = 100,
    w: Sequence[float] = (5.0, 1.2, -3.4, 5.6),
    max_degree: int = 20,
    noise: float = 0.1,
    seed: int = 0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` examples of a noisy polynomial with features :math:`x^i / i!`.

    :math:`y = \\sum_{i<\\text{max\\_degree}} w_i \\, x^i / i! + \\epsilon`, :math:`x \\sim N(0,1)`,
    with :math:`w_i = 0` beyond the given ``w``.

    Args:
        n: number of examples. Default: 100.
        w: the non-zero leading coefficients. Default: ``(5, 1.2, -3.4, 5.6)`` (d2l).
        max_degree: number of polynomial features (degrees 0 .. max_degree-1). Default: 20.
        noise: standard deviation of :math:`\\epsilon`. Default: 0.1.
        seed: random seed (ignored when ``generator`` is given). Default: 0.
        generator: draw from this generator instead.

    Shape:
        - features: :math:`(n, \\text{max\\_degree})`, y: :math:`(n, 1)`, float32.

    Example:
        >>> F, y = polynomial_data(3, max_degree=4)
        >>> F[:, 0].tolist()
        [1.0, 1.0, 1.0]

    Notes: G3 (model complexity; select the degree on validation data).
    """
    _check_n(n)
    if len(w) > max_degree:
        raise ConfigError(f"max_degree={max_degree} is smaller than the {len(w)} coefficients in w")
    gen = generator if generator is not None else _gen(seed)
    true_w = torch.zeros(max_degree, dtype=torch.float64)
    true_w[: len(w)] = torch.as_tensor(w, dtype=torch.float64)
    x = torch.randn(n, 1, generator=gen, dtype=torch.float64)  # (n, 1)
    degrees = torch.arange(max_degree, dtype=torch.float64)
    factorials = torch.tensor([math.factorial(i) for i in range(max_degree)], dtype=torch.float64)
    # feature_i = x^i / i!
    features = x.pow(degrees) / factorials  # (n, max_degree)
    # y = Σ_i w_i · feature_i + ε
    y = features @ true_w + noise * torch.randn(n, generator=gen, dtype=torch.float64)  # (n,)
    return features.float(), y.float().reshape(-1, 1)  # (n, max_degree), (n, 1)


def _check_split(name: str, split: str, root: str | os.PathLike | None) -> int:
    if split not in SPLITS:
        raise ConfigError(f"{name} split must be one of {SPLITS}, got {split!r}")
    if root is not None:
        raise ConfigError(f"{name} is generated from a seed and reads no files; drop root={root!r}")
    return SPLITS.index(split)


def load_synthetic_linear(
    split: str = "train",
    root: str | os.PathLike | None = None,
    n: int = 1000,
    w: Sequence[float] = (2.0, -3.4),
    b: float = 4.2,
    noise: float = 0.01,
    seed: int = 0,
) -> ArrayDataset:
    """The notes' linear-regression data as a dataset; ``"test"`` is a fresh draw of the same line.

    The true parameters are kept in ``dataset.meta["weight"]`` and ``meta["bias"]``.

    Example:
        >>> ds = load_synthetic_linear("train", n=10)
        >>> ds.task, ds.x.shape, ds.meta["bias"]
        ('regression', torch.Size([10, 2]), 4.2)

    Notes: B8.
    """
    stream = _check_split("synthetic-linear", split, root)
    X, y = linear_regression_data(n, w, b, noise, generator=_gen(seed, stream))
    meta = {"weight": [float(v) for v in w], "bias": float(b), "noise": float(noise)}
    return ArrayDataset(X, y, name="synthetic-linear", task="regression", split=split, meta=meta)


def load_synthetic_polynomial(
    split: str = "train",
    root: str | os.PathLike | None = None,
    n: int = 100,
    w: Sequence[float] = (5.0, 1.2, -3.4, 5.6),
    max_degree: int = 20,
    noise: float = 0.1,
    seed: int = 0,
) -> ArrayDataset:
    """d2l's polynomial data (features :math:`x^i/i!`) as a dataset; ``"test"`` is a fresh draw.

    Example:
        >>> load_synthetic_polynomial("test", n=8).x.shape
        torch.Size([8, 20])

    Notes: G3.
    """
    stream = _check_split("synthetic-polynomial", split, root)
    features, y = polynomial_data(n, w, max_degree, noise, generator=_gen(seed, stream))
    meta = {"weight": [float(v) for v in w], "max_degree": max_degree, "noise": float(noise)}
    return ArrayDataset(
        features, y, name="synthetic-polynomial", task="regression", split=split, meta=meta
    )


# ----------------------------------------------------------------------------- 2-D mixtures
def _mixture(n: int, centers: torch.Tensor, std: float,
             generator: torch.Generator | None) -> torch.Tensor:
    """``n`` draws of the equal-weight mixture :math:`\\frac1K \\sum_k N(c_k, \\text{std}^2 I)`."""
    _check_n(n)
    if not std >= 0:
        raise ConfigError(f"std must be a standard deviation >= 0, got {std!r}")
    # k ~ Uniform{0..K-1},  x = c_k + std · ε,  ε ~ N(0, I)
    k = torch.randint(centers.shape[0], (n,), generator=generator)  # (n,)
    noise = torch.randn(n, centers.shape[1], generator=generator)  # (n, 2)
    return centers[k] + std * noise  # (n, 2)


def gaussian_ring(
    n: int,
    modes: int = 8,
    radius: float = 2.0,
    std: float = 0.02,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` points from ``modes`` equal-weight 2-D Gaussians evenly spaced on a circle.

    Centers :math:`c_k = r(\\cos(2\\pi k/K), \\sin(2\\pi k/K))`; each point picks a mode
    uniformly and adds :math:`N(0, \\text{std}^2 I)`. The defaults are the mode-collapse
    benchmark of the Unrolled GAN paper (Metz et al., 2017: 8 modes, radius 2, std 0.02), also
    used by VEEGAN and PacGAN; score a generator on it with
    :func:`deepnotes.metrics.mode_coverage` (``std`` as here).

    Args:
        n: number of points.
        modes: number of Gaussians K. Default: 8.
        radius: radius of the circle of centers. Default: 2.
        std: standard deviation of each Gaussian. Default: 0.02.
        generator: draw from this generator; None uses torch's global generator (seeded by
            ``torch.manual_seed``), so repeated calls give fresh batches.

    Shape:
        - points: :math:`(n, 2)`, centers: :math:`(K, 2)`, float32.

    Example:
        >>> x, centers = gaussian_ring(1000, generator=torch.Generator().manual_seed(0))
        >>> x.shape, centers.shape, centers[0].tolist()
        (torch.Size([1000, 2]), torch.Size([8, 2]), [2.0, 0.0])

    Notes: N5 (mode collapse).
    """
    if isinstance(modes, bool) or not isinstance(modes, int) or modes < 1:
        raise ConfigError(f"modes must be a positive integer, got {modes!r}")
    angles = 2 * math.pi * torch.arange(modes, dtype=torch.float64) / modes  # (K,)
    # c_k = r (cos θ_k, sin θ_k)
    centers = (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()  # (K, 2)
    return _mixture(n, centers, std, generator), centers


def gaussian_grid(
    n: int,
    side: int = 5,
    spacing: float = 2.0,
    std: float = 0.05,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` points from ``side²`` equal-weight 2-D Gaussians on a square grid centred at 0.

    Centers :math:`((i - \\frac{s-1}2) d, (j - \\frac{s-1}2) d)` for :math:`i, j < s`: with
    the defaults the 25 points of :math:`\\{-4, -2, 0, 2, 4\\}^2`, std 0.05 (the grid-of-25
    benchmark of VEEGAN and PacGAN, after the Unrolled GAN paper's mixtures).

    Args:
        n: number of points.
        side: Gaussians per row and column (K = side²). Default: 5.
        spacing: distance d between neighbouring centers. Default: 2.
        std: standard deviation of each Gaussian. Default: 0.05.
        generator: draw from this generator; None uses torch's global generator.

    Shape:
        - points: :math:`(n, 2)`, centers: :math:`(\\text{side}^2, 2)`, float32.

    Example:
        >>> x, centers = gaussian_grid(500, generator=torch.Generator().manual_seed(0))
        >>> x.shape, centers.shape, centers[0].tolist(), centers[12].tolist()
        (torch.Size([500, 2]), torch.Size([25, 2]), [-4.0, -4.0], [0.0, 0.0])

    Notes: N5 (mode collapse).
    """
    if isinstance(side, bool) or not isinstance(side, int) or side < 1:
        raise ConfigError(f"side must be a positive integer, got {side!r}")
    coords = (torch.arange(side, dtype=torch.float64) - (side - 1) / 2) * spacing  # (side,)
    gx, gy = torch.meshgrid(coords, coords, indexing="ij")  # (side, side) each
    centers = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1).float()  # (side², 2)
    return _mixture(n, centers, std, generator), centers
