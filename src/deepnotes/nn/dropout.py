"""Dropout and Gaussian-noise layers: active in ``train()`` mode, the identity in ``eval()`` mode.

Notes: G5.
"""

from __future__ import annotations

import torch
import torch.nn.functional as TF
from torch import nn

from deepnotes import functional as F
from deepnotes.errors import ConfigError

__all__ = ["Dropout", "GaussianNoise"]


class Dropout(nn.Module):
    r"""Inverted dropout: while training zero each element with probability ``p``, scale by 1/(1-p).

    .. math::
        y_i = \frac{m_i x_i}{1 - p}, \quad m_i \sim \mathrm{Bernoulli}(1 - p)
        \ \text{(train)}, \qquad y = x \ \text{(eval)}

    Args:
        p: drop probability in ``[0, 1]``. Default ``0.5``.
        fused: use ``torch.nn.functional.dropout`` (``True``) or
            :func:`deepnotes.functional.dropout`. Default ``True``.

    Shape:
        - Input: ``(*)``. Output: ``(*)``, same shape.

    Example:
        >>> m = Dropout(0.3, fused=False).eval()
        >>> m(torch.ones(3))
        tensor([1., 1., 1.])

    Notes: G5.
    """

    def __init__(self, p: float = 0.5, fused: bool = True) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"dropout probability must be in [0, 1], got {p}")
        self.p = float(p)
        self.fused = fused

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return TF.dropout(x, p=self.p, training=self.training)
        return F.dropout(x, p=self.p, training=self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, fused={self.fused}"


class GaussianNoise(nn.Module):
    r"""Noise injection: add Gaussian noise while training, the identity in ``eval()`` mode.

    .. math::
        y = x + \epsilon, \qquad \epsilon \sim \mathcal N(0, \sigma^2)

    The formula is :func:`deepnotes.functional.gaussian_noise` (the image augmentation
    :class:`deepnotes.data.augment.RandomGaussianNoise` uses it too). PyTorch has no such layer,
    so there is no fused path.

    Args:
        std: noise standard deviation :math:`\sigma \ge 0`.

    Shape:
        - Input: ``(*)``. Output: ``(*)``, same shape.

    Example:
        >>> GaussianNoise(0.1).eval()(torch.ones(2))
        tensor([1., 1.])

    Notes: G5.
    """

    def __init__(self, std: float) -> None:
        super().__init__()
        if not std >= 0.0:
            raise ConfigError(f"GaussianNoise std must be a non-negative number, got {std}")
        self.std = float(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gaussian_noise(x, std=self.std, training=self.training)

    def extra_repr(self) -> str:
        return f"std={self.std}"
