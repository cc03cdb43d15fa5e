"""Inverted dropout and Gaussian noise injection: regularisers perturbing activations in training.

Notes: G5.
"""

from __future__ import annotations

import torch
from torch import Tensor

from deepnotes.errors import ConfigError

__all__ = ["dropout", "gaussian_noise"]


def dropout(
    x: Tensor, p: float = 0.5, training: bool = True, generator: torch.Generator | None = None
) -> Tensor:
    r"""Inverted dropout: zero each element with probability ``p`` and rescale the survivors.

    .. math::
        x'_i = \frac{m_i\, x_i}{1 - p}, \qquad m_i \sim \mathrm{Bernoulli}(1 - p)

    so :math:`\mathbb{E}[x'_i] = x_i` and nothing needs to change at test time: in evaluation
    (``training=False``) dropout is the identity. ``p = 1`` drops everything (returns zeros).

    Args:
        x: input of any shape.
        p: probability of zeroing an element, in ``[0, 1]``. Default ``0.5``.
        training: apply dropout (``True``) or return ``x`` unchanged (``False``). Default ``True``.
        generator: optional ``torch.Generator`` (on ``x``'s device) for reproducible masks.

    Shape:
        - Input: ``(*)``. Output: ``(*)``, same shape.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> y = dropout(torch.ones(1000), p=0.2, generator=g)
        >>> sorted(set(y.tolist()))
        [0.0, 1.25]

    Notes: G5.
    """
    if not 0.0 <= p <= 1.0:
        raise ConfigError(f"dropout probability must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        # every element dropped: 0·x keeps the graph (gradient 0)
        return x * 0.0
    # m_i ~ Bernoulli(1 - p): keep where u_i ≥ p, u_i ~ U[0, 1)
    u = torch.rand(x.shape, generator=generator, device=x.device)
    keep = (u >= p).to(x.dtype)
    # x' = m·x / (1 - p)
    return x * keep * (1.0 / (1.0 - p))


def gaussian_noise(
    x: Tensor, std: float, training: bool = True, generator: torch.Generator | None = None
) -> Tensor:
    r"""Noise injection: add zero-mean Gaussian noise while training.

    .. math::
        x' = x + \epsilon, \qquad \epsilon \sim \mathcal{N}(0, \sigma^2 I)

    Identity in evaluation (``training=False``) or when ``std = 0``.

    Args:
        x: input of any shape (floating point).
        std: standard deviation :math:`\sigma \ge 0` of the noise.
        training: add noise (``True``) or return ``x`` unchanged (``False``). Default ``True``.
        generator: optional ``torch.Generator`` for reproducible noise; the noise is drawn on
            its device and moved to ``x``'s (a CPU generator works for a CUDA ``x``).

    Shape:
        - Input: ``(*)``. Output: ``(*)``, same shape.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> gaussian_noise(torch.zeros(3), std=0.0, generator=g)
        tensor([0., 0., 0.])

    Notes: G5.
    """
    if not std >= 0.0:
        raise ConfigError(f"gaussian_noise std must be a non-negative number, got {std}")
    if not training or std == 0.0:
        return x
    # ε ~ N(0, σ²)
    device = generator.device if generator is not None else x.device
    eps = std * torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype).to(x.device)
    # x' = x + ε
    return x + eps
