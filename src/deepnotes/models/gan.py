r"""GAN generators and discriminators: MLPs (any sample shape, e.g. 2-D points) and DCGAN's
convolutional pair for 28 × 28 images, each optionally conditioned on a class label.

A generator maps noise :math:`z \sim \mathcal N(0, I)` (and a label :math:`c`) to a sample: one
input, many outputs, so it can represent a distribution rather than one answer. A
discriminator (or WGAN critic) maps a sample (and its label) to one score per sample: a logit
for the GAN losses, a plain score for a critic (:mod:`deepnotes.functional.gan`).

Conditioning (cGAN): the generator reads :math:`[z; \mathrm{onehot}(c)]`; the MLP
discriminator reads :math:`[x; \mathrm{onehot}(c)]`; the DCGAN discriminator adds the
projection term :math:`e_c^\top h(x)` to its score (Miyato & Koyama, 2018), so the score
depends on whether image and label fit together, and real images paired with a wrong label
can serve as negatives.

DCGAN (Radford et al., 2016) for 28 × 28: the generator projects :math:`z` to a 7 × 7 map with
``2·width`` channels (then 14 × 14 with ``width``) and doubles the size twice with stride-2 transposed convolutions (batch
norm and ReLU between, tanh out, images in :math:`[-1, 1]`); the discriminator halves it twice
with stride-2 convolutions and leaky ReLU. ``norm`` chooses the discriminator's normalisation:
batch norm for the GAN loss; none (or layer norm) for WGAN-GP, whose per-sample gradient
penalty batch norm would mix; ``spectral_norm`` wraps every discriminator layer (SNGAN).

Notes: N1 (generator and discriminator), N6 (conditional GAN), N9 (noise in, a distribution
out), N4 (spectral normalisation of the discriminator).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as TF
from torch import Tensor, nn

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.models import register_model
from deepnotes.nn import BatchNorm1d, BatchNorm2d, Conv2d, ConvTranspose2d, LayerNorm
from deepnotes.nn.spectral import spectral_norm

__all__ = ["DCGANDiscriminator", "DCGANDiscriminatorConfig", "DCGANGenerator",
           "DCGANGeneratorConfig", "MLPDiscriminator", "MLPDiscriminatorConfig",
           "MLPGenerator", "MLPGeneratorConfig", "sample_noise"]

_LEAK = 0.2  # leaky ReLU slope of every discriminator (DCGAN's choice)


def sample_noise(n: int, latent_dim: int, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> Tensor:
    """``n`` draws of :math:`z \\sim \\mathcal N(0, I_{latent})`, ``(n, latent_dim)``; drawn on
    the CPU from ``generator`` (reproducible on any device), then moved to ``device``."""
    return torch.randn(n, latent_dim, generator=generator).to(device)


def _check_labels(y: Tensor | None, n: int, num_classes: int, who: str) -> None:
    if num_classes and y is None:
        raise ShapeError(f"{who} is conditional ({num_classes} classes): pass labels y (N,)")
    if not num_classes and y is not None:
        raise ShapeError(f"{who} is not conditional (num_classes = 0) but got labels")
    if y is not None and (y.shape != (n,) or int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ShapeError(f"{who} expects labels (N={n},) in [0, {num_classes}), got shape "
                         f"{tuple(y.shape)}")


def _with_label(h: Tensor, y: Tensor | None, num_classes: int) -> Tensor:
    if not num_classes:
        return h
    return torch.cat([h, TF.one_hot(y, num_classes).to(h.dtype)], dim=1)  # (N, d + classes)


def _maybe_sn(layer: nn.Module, on: bool) -> nn.Module:
    return spectral_norm(layer) if on else layer


@dataclass
class MLPGeneratorConfig:
    latent_dim: int = 64  # size of the noise z ~ N(0, I)
    out_shape: tuple[int, ...] = (1, 28, 28)  # one sample's shape: (2,) for points
    hidden: tuple[int, ...] = (256, 256)  # hidden widths (ReLU between)
    num_classes: int = 0  # > 0: conditional, one-hot label appended to z
    batch_norm: bool = False  # batch norm before each hidden ReLU
    output: str = "tanh"  # tanh (images in [-1, 1]) | linear (unbounded, e.g. points)


@register_model("mlp-generator", MLPGeneratorConfig,
                summary="GAN generator: MLP from noise (and a label) to a sample (N1, N6, N9)",
                inputs="noise")
class MLPGenerator(nn.Module):
    r"""MLP generator :math:`G([z; c]) = \mathrm{out}(W_L \,\mathrm{relu}(\cdots) + b_L)`.

    Shape:
        - Input: ``z (N, latent_dim)`` and labels ``(N,)`` when conditional.
        - Output: ``(N, *out_shape)``.

    Example:
        >>> g = MLPGenerator(MLPGeneratorConfig(latent_dim=2, out_shape=(2,), hidden=(8,)))
        >>> g(torch.zeros(5, 2)).shape
        torch.Size([5, 2])

    Notes: N1, N6, N9.
    """

    def __init__(self, config: MLPGeneratorConfig) -> None:
        super().__init__()
        if config.output not in ("tanh", "linear"):
            raise ConfigError(f"output must be tanh or linear, got {config.output!r}")
        if config.latent_dim < 1 or any(h < 1 for h in config.hidden):
            raise ConfigError(f"latent_dim and hidden widths must be >= 1, got "
                              f"{config.latent_dim} and {config.hidden}")
        self.config = config
        layers: list[nn.Module] = []
        width = config.latent_dim + config.num_classes
        for h in config.hidden:
            layers.append(nn.Linear(width, h))
            if config.batch_norm:
                layers.append(BatchNorm1d(h))
            layers.append(nn.ReLU())
            width = h
        layers.append(nn.Linear(width, math.prod(config.out_shape)))
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        cfg = self.config
        if z.dim() != 2 or z.shape[1] != cfg.latent_dim:
            raise ShapeError(f"generator expects noise (N, {cfg.latent_dim}), got "
                             f"{tuple(z.shape)}")
        _check_labels(y, z.shape[0], cfg.num_classes, "generator")
        out = self.net(_with_label(z, y, cfg.num_classes))  # (N, prod(out_shape))
        if cfg.output == "tanh":
            out = torch.tanh(out)
        return out.reshape(z.shape[0], *cfg.out_shape)


@dataclass
class MLPDiscriminatorConfig:
    in_shape: tuple[int, ...] = (1, 28, 28)  # one sample's shape: (2,) for points
    hidden: tuple[int, ...] = (256, 256)  # hidden widths (leaky ReLU between)
    num_classes: int = 0  # > 0: conditional, one-hot label appended to the input
    spectral_norm: bool = False  # spectral normalisation of every layer (SNGAN)


@register_model("mlp-discriminator", MLPDiscriminatorConfig,
                summary="GAN discriminator / WGAN critic: MLP from a sample (and a label) to "
                        "a score (N1, N3, N4, N6)", inputs="features")
class MLPDiscriminator(nn.Module):
    r"""MLP discriminator :math:`s([x; c])`: one logit (GAN) or score (WGAN critic) per sample.

    Shape:
        - Input: ``(N, *in_shape)`` and labels ``(N,)`` when conditional.
        - Output: ``(N,)``.

    Example:
        >>> d = MLPDiscriminator(MLPDiscriminatorConfig(in_shape=(2,), hidden=(8,)))
        >>> d(torch.zeros(5, 2)).shape
        torch.Size([5])

    Notes: N1, N3, N4, N6.
    """

    def __init__(self, config: MLPDiscriminatorConfig) -> None:
        super().__init__()
        if any(h < 1 for h in config.hidden):
            raise ConfigError(f"hidden widths must be >= 1, got {config.hidden}")
        self.config = config
        layers: list[nn.Module] = []
        width = math.prod(config.in_shape) + config.num_classes
        for h in config.hidden:
            layers += [_maybe_sn(nn.Linear(width, h), config.spectral_norm),
                       nn.LeakyReLU(_LEAK)]
            width = h
        layers.append(_maybe_sn(nn.Linear(width, 1), config.spectral_norm))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        cfg = self.config
        if tuple(x.shape[1:]) != tuple(cfg.in_shape):
            raise ShapeError(f"discriminator expects samples (N, {', '.join(map(str, cfg.in_shape))})"
                             f", got {tuple(x.shape)}")
        _check_labels(y, x.shape[0], cfg.num_classes, "discriminator")
        h = _with_label(x.reshape(x.shape[0], -1), y, cfg.num_classes)
        return self.net(h).squeeze(1)  # (N,)


@dataclass
class DCGANGeneratorConfig:
    latent_dim: int = 64  # size of the noise z ~ N(0, I)
    width: int = 64  # channels of the 14x14 map (the 7x7 map has 2·width)
    channels: int = 1  # image channels
    num_classes: int = 0  # > 0: conditional, one-hot label appended to z
    fused: bool = True  # torch's convolution kernels (False: our formulas)


@register_model("dcgan-generator", DCGANGeneratorConfig,
                summary="DCGAN generator for 28x28 images: noise -> 7x7 -> 14x14 -> 28x28 "
                        "(N1, N6)", inputs="noise")
class DCGANGenerator(nn.Module):
    r"""DCGAN generator for 28 × 28 images.

    :math:`[z; c] \to` linear :math:`\to (2w, 7, 7) \to` BN, ReLU :math:`\to` ConvT 4/2/1
    :math:`\to (w, 14, 14) \to` BN, ReLU :math:`\to` ConvT 4/2/1 :math:`\to (C, 28, 28) \to
    \tanh`.

    Shape:
        - Input: ``z (N, latent_dim)`` and labels ``(N,)`` when conditional.
        - Output: ``(N, channels, 28, 28)`` in :math:`[-1, 1]`.

    Example:
        >>> g = DCGANGenerator(DCGANGeneratorConfig(latent_dim=8, width=4))
        >>> g(torch.zeros(3, 8)).shape
        torch.Size([3, 1, 28, 28])

    Notes: N1, N6.
    """

    def __init__(self, config: DCGANGeneratorConfig) -> None:
        super().__init__()
        if config.width < 1 or config.latent_dim < 1:
            raise ConfigError(f"width and latent_dim must be >= 1, got {config.width} and "
                              f"{config.latent_dim}")
        self.config = config
        w = config.width
        self.project = nn.Linear(config.latent_dim + config.num_classes, 2 * w * 7 * 7,
                                 bias=False)
        self.bn0 = BatchNorm2d(2 * w, fused=config.fused)
        self.up1 = ConvTranspose2d(2 * w, w, 4, stride=2, padding=1, bias=False,
                                   fused=config.fused)
        self.bn1 = BatchNorm2d(w, fused=config.fused)
        self.up2 = ConvTranspose2d(w, config.channels, 4, stride=2, padding=1,
                                   fused=config.fused)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        cfg = self.config
        if z.dim() != 2 or z.shape[1] != cfg.latent_dim:
            raise ShapeError(f"generator expects noise (N, {cfg.latent_dim}), got "
                             f"{tuple(z.shape)}")
        _check_labels(y, z.shape[0], cfg.num_classes, "generator")
        h = self.project(_with_label(z, y, cfg.num_classes))  # (N, 2w·49)
        h = h.reshape(z.shape[0], 2 * cfg.width, 7, 7)  # (N, 2w, 7, 7)
        h = TF.relu(self.bn0(h))
        h = TF.relu(self.bn1(self.up1(h)))  # (N, w, 14, 14)
        return torch.tanh(self.up2(h))  # (N, C, 28, 28)


@dataclass
class DCGANDiscriminatorConfig:
    width: int = 64  # channels after the first convolution (then 2·width)
    channels: int = 1  # image channels
    num_classes: int = 0  # > 0: conditional, projection of the label embedding
    norm: str = "batch"  # batch | layer | none: after the second convolution
    spectral_norm: bool = False  # spectral normalisation of every layer (SNGAN)
    fused: bool = True  # torch's convolution kernels (False: our formulas)


@register_model("dcgan-discriminator", DCGANDiscriminatorConfig,
                summary="DCGAN discriminator / critic for 28x28 images, optional projection "
                        "label and spectral norm (N1, N4, N6)", inputs="images")
class DCGANDiscriminator(nn.Module):
    r"""DCGAN discriminator for 28 × 28 images.

    :math:`x \to` Conv 4/2/1 :math:`\to (w, 14, 14) \to` lReLU :math:`\to` Conv 4/2/1
    :math:`\to (2w, 7, 7) \to` norm, lReLU :math:`\to h \in \mathbb R^{2w\cdot 49}`, score
    :math:`s = v^\top h + b \,(+\, e_c^\top h)`.

    Shape:
        - Input: ``(N, channels, 28, 28)`` and labels ``(N,)`` when conditional.
        - Output: ``(N,)``.

    Example:
        >>> d = DCGANDiscriminator(DCGANDiscriminatorConfig(width=4, num_classes=10))
        >>> d(torch.zeros(3, 1, 28, 28), torch.tensor([0, 4, 9])).shape
        torch.Size([3])

    Notes: N1, N4, N6.
    """

    def __init__(self, config: DCGANDiscriminatorConfig) -> None:
        super().__init__()
        if config.norm not in ("batch", "layer", "none"):
            raise ConfigError(f"norm must be batch, layer or none, got {config.norm!r}")
        if config.width < 1:
            raise ConfigError(f"width must be >= 1, got {config.width}")
        self.config = config
        w, sn = config.width, config.spectral_norm
        self.conv1 = _maybe_sn(Conv2d(config.channels, w, 4, stride=2, padding=1,
                                      fused=config.fused), sn)
        self.conv2 = _maybe_sn(Conv2d(w, 2 * w, 4, stride=2, padding=1,
                                      bias=config.norm == "none", fused=config.fused), sn)
        self.norm = (BatchNorm2d(2 * w, fused=config.fused) if config.norm == "batch" else
                     LayerNorm([2 * w, 7, 7], fused=config.fused) if config.norm == "layer"
                     else nn.Identity())
        self.out = _maybe_sn(nn.Linear(2 * w * 7 * 7, 1), sn)
        self.embed = (_maybe_sn(nn.Embedding(config.num_classes, 2 * w * 7 * 7), sn)
                      if config.num_classes else None)

    def features(self, x: Tensor) -> Tensor:
        """The last hidden layer :math:`h(x)`, ``(N, 2·width·49)``."""
        cfg = self.config
        if x.dim() != 4 or tuple(x.shape[1:]) != (cfg.channels, 28, 28):
            raise ShapeError(f"discriminator expects images (N, {cfg.channels}, 28, 28), got "
                             f"{tuple(x.shape)}")
        h = TF.leaky_relu(self.conv1(x), _LEAK)  # (N, w, 14, 14)
        h = TF.leaky_relu(self.norm(self.conv2(h)), _LEAK)  # (N, 2w, 7, 7)
        return h.flatten(1)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        _check_labels(y, x.shape[0], self.config.num_classes, "discriminator")
        h = self.features(x)
        score = self.out(h).squeeze(1)  # (N,)
        if self.embed is not None:
            # projection: + e_cᵀ h, the label's fit with the image
            score = score + (self.embed(y) * h).sum(1)
        return score
