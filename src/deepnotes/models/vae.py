r"""The variational auto-encoder: an MLP encoder to a Gaussian code, an MLP decoder to
Bernoulli pixel logits (beyond the notes).

An auto-encoder (N8) squeezes an image through a low-dimensional code and rebuilds it. The VAE
(Kingma & Welling, 2014) makes both ends distributions (N9): the encoder gives
:math:`q(z|x) = \mathcal N(\mu(x), \mathrm{diag}\,\sigma^2(x))`, the decoder gives
:math:`p(x|z)`, one Bernoulli per pixel with logit :math:`\ell_i(z)`, and training
(:func:`deepnotes.functional.vae.elbo`) keeps the codes near the prior
:math:`\mathcal N(0, I)`, so the decoder alone is a generator: noise in, an image out.

Encoder: :math:`x \in \mathbb R^{D}` (the flattened image, :math:`D = 784`) :math:`\to`
hidden layers (ReLU) :math:`\to` one linear layer to :math:`2 d` numbers, split into
:math:`\mu` and :math:`\log\sigma^2` (:math:`d` = ``latent_dim``; predicting the log-variance
keeps :math:`\sigma^2 > 0` without a constraint). Decoder: :math:`z \in \mathbb R^d \to` the
hidden widths in reverse order (ReLU) :math:`\to D` logits.

Notes: N8 (encoder to a low-dimensional code, decoder back), N9 (the network outputs a
distribution; noise in, many right outputs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.functional.vae import reparameterize
from deepnotes.models import register_model

__all__ = ["VAE", "VAEConfig"]


@dataclass
class VAEConfig:
    image_shape: tuple[int, ...] = (1, 28, 28)  # one input's shape (flattened to D pixels)
    hidden: tuple[int, ...] = (512, 256)  # encoder widths (ReLU); the decoder mirrors them
    latent_dim: int = 16  # size d of the code z (μ and log σ² have d numbers each)


def _mlp(widths: list[int]) -> nn.Sequential:
    """Linear layers through ``widths`` with a ReLU after every one but the last."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


@register_model("vae", VAEConfig,
                summary="variational auto-encoder: MLP encoder to N(mu, sigma^2), MLP decoder to "
                        "Bernoulli pixel logits (N8, N9; beyond the notes)", inputs="images")
class VAE(nn.Module):
    r"""Variational auto-encoder with MLP encoder and decoder.

    :math:`(\mu, \log\sigma^2) = \mathrm{enc}(x)`, :math:`z = \mu + \sigma \odot
    \varepsilon` (training mode) or :math:`z = \mu` (eval mode: deterministic
    reconstructions, as dropout is off in eval mode), :math:`\ell = \mathrm{dec}(z)`.

    Shape:
        - Input: ``(N, *image_shape)``, values in [0, 1].
        - Output: ``(logits, mu, logvar)``: ``(N, *image_shape)``, ``(N, latent_dim)``,
          ``(N, latent_dim)``.

    Example:
        >>> vae = VAE(VAEConfig(image_shape=(1, 4, 4), hidden=(8,), latent_dim=2))
        >>> logits, mu, logvar = vae(torch.rand(3, 1, 4, 4))
        >>> logits.shape, mu.shape
        (torch.Size([3, 1, 4, 4]), torch.Size([3, 2]))
        >>> vae.sample(5, torch.Generator().manual_seed(0)).shape
        torch.Size([5, 1, 4, 4])

    Notes: N8, N9.
    """

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        if config.latent_dim < 1 or any(h < 1 for h in config.hidden):
            raise ConfigError(f"latent_dim and hidden widths must be >= 1, got "
                              f"{config.latent_dim} and {config.hidden}")
        if not config.image_shape or any(s < 1 for s in config.image_shape):
            raise ConfigError(f"image_shape must hold positive sizes, got {config.image_shape}")
        self.config = config
        d_in, hidden = math.prod(config.image_shape), list(config.hidden)
        # D → hidden → 2d: μ and log σ² from one layer
        self.encoder = _mlp([d_in, *hidden, 2 * config.latent_dim])
        # d → reversed hidden → D logits
        self.decoder = _mlp([config.latent_dim, *reversed(hidden), d_in])

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The parameters of :math:`q(z|x)`: ``(mu, logvar)``, each ``(N, latent_dim)``."""
        cfg = self.config
        if x.dim() < 2 or tuple(x.shape[1:]) != tuple(cfg.image_shape):
            raise ShapeError(f"vae expects images (N, {', '.join(map(str, cfg.image_shape))}), "
                             f"got {tuple(x.shape)}")
        h = self.encoder(x.reshape(x.shape[0], -1))  # (N, 2d)
        mu, logvar = h.chunk(2, dim=1)  # (N, d), (N, d)
        return mu, logvar

    def decode(self, z: Tensor) -> Tensor:
        """Pixel logits :math:`\\ell(z)` of :math:`p(x|z)`, ``(N, *image_shape)``
        (``torch.sigmoid`` gives the Bernoulli means, images in [0, 1])."""
        cfg = self.config
        if z.dim() != 2 or z.shape[1] != cfg.latent_dim:
            raise ShapeError(f"vae decoder expects codes (N, {cfg.latent_dim}), got "
                             f"{tuple(z.shape)}")
        return self.decoder(z).reshape(z.shape[0], *cfg.image_shape)  # (N, *image_shape)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        mu, logvar = self.encode(x)
        # training: z = μ + σ ⊙ ε (one sample of q(z|x)); eval: the posterior mean z = μ
        z = reparameterize(mu, logvar) if self.training else mu
        return self.decode(z), mu, logvar

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` new images: decoded prior draws :math:`z \\sim \\mathcal N(0, I)`, shown as the
        Bernoulli means :math:`\\sigma(\\ell(z))` (grey levels in [0, 1], not binary draws).

        ``z`` is drawn on the CPU from ``generator`` (reproducible on any device), then moved to
        the model's device and dtype. Shape: ``(n, *image_shape)``.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"n must be a positive integer, got {n!r}")
        weight = next(self.parameters())
        z = torch.randn(n, self.config.latent_dim, generator=generator)  # (n, d)
        return torch.sigmoid(self.decode(z.to(device=weight.device, dtype=weight.dtype)))
