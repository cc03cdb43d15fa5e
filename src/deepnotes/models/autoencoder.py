r"""Auto-encoders: an encoder maps an input to a low-dimensional code, a decoder maps it back.

.. math::
    z = f_\phi(x) \in \mathbb R^{k}, \qquad \hat x = g_\theta(z), \qquad
    \min_{\phi, \theta} \frac1N \sum_i \lVert g_\theta(f_\phi(x_i)) - x_i \rVert^2

With :math:`k` smaller than the input size the code is a compression: the pair can only
reconstruct well what is typical of the training data, so the code is a learnt representation
and the reconstruction error flags inputs unlike the training data (anomaly detection). A
*denoising* auto-encoder (Vincent et al., 2008) reads a corrupted input
:math:`\tilde x = x + \sigma\varepsilon`, :math:`\varepsilon \sim \mathcal N(0, I)`, and is
trained to reconstruct the clean :math:`x`; the noise is drawn afresh in every training
forward pass (``noise_std``) and never in evaluation, like dropout.

A *linear* auto-encoder (no hidden layer, linear output) trained with the squared error spans
the same subspace as PCA's top-:math:`k` components and reaches PCA's reconstruction error
(Baldi & Hornik, 1989; :mod:`deepnotes.analysis.pca`); the non-linear layers are what can do
better than PCA at equal code size.

``autoencoder`` is an MLP (any input shape, flattened); ``conv-autoencoder`` a small
convolutional pair for 28 × 28 images (two stride-2 convolutions down to 7 × 7, two stride-2
transposed convolutions back). Both end in a sigmoid for images in :math:`[0, 1]`.

Notes: N8 (code, reconstruction, denoising, anomaly detection).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.models import register_model
from deepnotes.nn import Conv2d, ConvTranspose2d
from deepnotes.nn.activation import Sigmoid, activation_class

__all__ = ["Autoencoder", "AutoencoderConfig", "ConvAutoencoder", "ConvAutoencoderConfig"]

_ACTIVATIONS = ("relu", "sigmoid", "tanh", "gelu", "linear")


def _activation(name: str, fused: bool) -> nn.Module:
    if name == "linear":
        return nn.Identity()
    return activation_class(name, _ACTIVATIONS[:-1])(fused=fused)


def _check_common(code_dim: int, activation: str, noise_std: float) -> None:
    if code_dim < 1:
        raise ConfigError(f"code_dim must be >= 1, got {code_dim}")
    if activation not in _ACTIVATIONS:
        raise ConfigError(f"unknown activation {activation!r}; choose one of "
                          f"{', '.join(_ACTIVATIONS)}")
    if not noise_std >= 0:
        raise ConfigError(f"noise_std must be >= 0, got {noise_std}")


def _corrupt(x: Tensor, noise_std: float, training: bool) -> Tensor:
    if not training or noise_std == 0:
        return x
    # x̃ = x + σ·ε, ε ~ N(0, I): a fresh draw in every training forward pass
    return x + noise_std * torch.randn_like(x)


@dataclass
class AutoencoderConfig:
    in_shape: tuple[int, ...] = (1, 28, 28)  # one input's shape (flattened to D = its product)
    hidden: tuple[int, ...] = (256,)  # encoder widths; the decoder mirrors them ((): linear)
    code_dim: int = 32  # k, the size of the code z
    activation: str = "relu"  # relu | sigmoid | tanh | gelu | linear (no non-linearity)
    output: str = "sigmoid"  # sigmoid (images in [0, 1]) | linear (unbounded)
    noise_std: float = 0.0  # σ of the Gaussian noise added to training inputs (denoising AE)
    fused: bool = True  # torch kernels for the activations (False: our formulas)


@register_model("autoencoder", AutoencoderConfig,
                summary="MLP auto-encoder: input -> hidden -> code -> hidden -> reconstruction, "
                        "optionally denoising (N8)", inputs="features")
class Autoencoder(nn.Module):
    r"""MLP auto-encoder.

    .. math::
        z = W_e^{(L)} \sigma(\cdots \sigma(W_e^{(1)} x + b_e^{(1)}) \cdots) + b_e^{(L)}, \qquad
        \hat x = \mathrm{sigmoid}(W_d^{(L)} \sigma(\cdots \sigma(W_d^{(1)} z + b_d^{(1)})
        \cdots) + b_d^{(L)})

    The code layer is linear; the decoder's widths are the encoder's in reverse order.
    ``hidden=()``, ``output="linear"`` is the linear auto-encoder
    :math:`\hat x = W_d (W_e x + b_e) + b_d`, PCA's neural twin.

    Args:
        config: :class:`AutoencoderConfig`.

    Shape:
        - Input: ``(N, *in_shape)`` (or anything with ``prod(in_shape)`` features per row).
        - Output: ``(N, *in_shape)``, the reconstruction; :meth:`encode` gives ``(N, code_dim)``.

    Example:
        >>> ae = Autoencoder(AutoencoderConfig(in_shape=(1, 4, 4), hidden=(8,), code_dim=2))
        >>> ae.encode(torch.zeros(3, 1, 4, 4)).shape, ae(torch.zeros(3, 1, 4, 4)).shape
        (torch.Size([3, 2]), torch.Size([3, 1, 4, 4]))

    Notes: N8.
    """

    def __init__(self, config: AutoencoderConfig) -> None:
        super().__init__()
        _check_common(config.code_dim, config.activation, config.noise_std)
        if config.output not in ("sigmoid", "linear"):
            raise ConfigError(f"output must be sigmoid or linear, got {config.output!r}")
        if any(h < 1 for h in config.hidden) or any(s < 1 for s in config.in_shape):
            raise ConfigError(f"hidden widths and in_shape must be positive, got "
                              f"{config.hidden} and {config.in_shape}")
        self.config = config
        self.in_features = math.prod(config.in_shape)
        widths = (self.in_features, *config.hidden)
        enc: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            enc += [nn.Linear(a, b), _activation(config.activation, config.fused)]
        enc.append(nn.Linear(widths[-1], config.code_dim))  # the code: linear
        self.encoder = nn.Sequential(*enc)
        back = (config.code_dim, *reversed(config.hidden))
        dec: list[nn.Module] = []
        for a, b in zip(back[:-1], back[1:]):
            dec += [nn.Linear(a, b), _activation(config.activation, config.fused)]
        dec.append(nn.Linear(back[-1], self.in_features))
        if config.output == "sigmoid":
            dec.append(Sigmoid(fused=config.fused))
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: Tensor) -> Tensor:
        """The code :math:`z = f(x)`, ``(N, code_dim)`` (no noise: the clean encoder)."""
        x = x.reshape(x.shape[0], -1)  # (N, D)
        if x.shape[1] != self.in_features:
            raise ShapeError(f"autoencoder expects {self.in_features} features per input "
                             f"(in_shape {self.config.in_shape}), got {x.shape[1]}")
        return self.encoder(x)  # (N, k)

    def decode(self, code: Tensor) -> Tensor:
        """The reconstruction :math:`\\hat x = g(z)`, ``(N, *in_shape)``."""
        if code.dim() != 2 or code.shape[1] != self.config.code_dim:
            raise ShapeError(f"decode expects codes (N, {self.config.code_dim}), got "
                             f"{tuple(code.shape)}")
        return self.decoder(code).reshape(code.shape[0], *self.config.in_shape)

    def forward(self, x: Tensor) -> Tensor:
        # x̂ = g(f(x̃)), x̃ = x + σε in training (σ = noise_std), x̃ = x in evaluation
        return self.decode(self.encode(_corrupt(x, self.config.noise_std, self.training)))

    def extra_repr(self) -> str:
        return f"code_dim={self.config.code_dim}, noise_std={self.config.noise_std}"


@dataclass
class ConvAutoencoderConfig:
    channels: int = 1  # image channels C (images are C × 28 × 28)
    width: int = 16  # channels after the first convolution (2·width after the second)
    code_dim: int = 32  # k, the size of the code z
    activation: str = "relu"  # relu | sigmoid | tanh | gelu | linear (no non-linearity)
    noise_std: float = 0.0  # σ of the Gaussian noise added to training inputs (denoising AE)
    fused: bool = True  # torch's convolution and activation kernels (False: our formulas)


@register_model("conv-autoencoder", ConvAutoencoderConfig,
                summary="convolutional auto-encoder for 28x28 images: 28 -> 14 -> 7 -> code "
                        "-> 7 -> 14 -> 28 (N8)", inputs="images")
class ConvAutoencoder(nn.Module):
    r"""Convolutional auto-encoder for 28 × 28 images.

    Encoder: :math:`x \to` Conv 3/2/1 :math:`\to (w, 14, 14) \to \sigma \to` Conv 3/2/1
    :math:`\to (2w, 7, 7) \to \sigma \to` linear :math:`\to z \in \mathbb R^k`.
    Decoder: :math:`z \to` linear :math:`\to (2w, 7, 7) \to \sigma \to` ConvT 4/2/1
    :math:`\to (w, 14, 14) \to \sigma \to` ConvT 4/2/1 :math:`\to (C, 28, 28) \to`
    sigmoid.

    Args:
        config: :class:`ConvAutoencoderConfig`; ``fused`` reaches every convolution and
            activation.

    Shape:
        - Input: ``(N, channels, 28, 28)``.
        - Output: ``(N, channels, 28, 28)`` in :math:`(0, 1)`; :meth:`encode` gives
          ``(N, code_dim)``.

    Example:
        >>> ae = ConvAutoencoder(ConvAutoencoderConfig(width=4, code_dim=3))
        >>> ae.encode(torch.zeros(2, 1, 28, 28)).shape, ae(torch.zeros(2, 1, 28, 28)).shape
        (torch.Size([2, 3]), torch.Size([2, 1, 28, 28]))

    Notes: N8.
    """

    def __init__(self, config: ConvAutoencoderConfig) -> None:
        super().__init__()
        _check_common(config.code_dim, config.activation, config.noise_std)
        if config.width < 1 or config.channels < 1:
            raise ConfigError(f"width and channels must be >= 1, got {config.width} and "
                              f"{config.channels}")
        self.config = config
        c, w, fused = config.channels, config.width, config.fused
        self.encoder = nn.Sequential(
            Conv2d(c, w, 3, stride=2, padding=1, fused=fused),  # (N, w, 14, 14)
            _activation(config.activation, fused),
            Conv2d(w, 2 * w, 3, stride=2, padding=1, fused=fused),  # (N, 2w, 7, 7)
            _activation(config.activation, fused),
            nn.Flatten(),  # (N, 2w·49)
            nn.Linear(2 * w * 7 * 7, config.code_dim))  # (N, k)
        self.project = nn.Sequential(nn.Linear(config.code_dim, 2 * w * 7 * 7),
                                     _activation(config.activation, fused))
        self.decoder = nn.Sequential(
            ConvTranspose2d(2 * w, w, 4, stride=2, padding=1, fused=fused),  # (N, w, 14, 14)
            _activation(config.activation, fused),
            ConvTranspose2d(w, c, 4, stride=2, padding=1, fused=fused),  # (N, C, 28, 28)
            Sigmoid(fused=fused))

    def encode(self, x: Tensor) -> Tensor:
        """The code :math:`z = f(x)`, ``(N, code_dim)`` (no noise: the clean encoder)."""
        cfg = self.config
        if x.dim() != 4 or tuple(x.shape[1:]) != (cfg.channels, 28, 28):
            raise ShapeError(f"conv-autoencoder expects images (N, {cfg.channels}, 28, 28), "
                             f"got {tuple(x.shape)}")
        return self.encoder(x)  # (N, k)

    def decode(self, code: Tensor) -> Tensor:
        """The reconstruction :math:`\\hat x = g(z)`, ``(N, channels, 28, 28)``."""
        cfg = self.config
        if code.dim() != 2 or code.shape[1] != cfg.code_dim:
            raise ShapeError(f"decode expects codes (N, {cfg.code_dim}), got "
                             f"{tuple(code.shape)}")
        h = self.project(code).reshape(code.shape[0], 2 * cfg.width, 7, 7)  # (N, 2w, 7, 7)
        return self.decoder(h)  # (N, C, 28, 28)

    def forward(self, x: Tensor) -> Tensor:
        # x̂ = g(f(x̃)), x̃ = x + σε in training (σ = noise_std), x̃ = x in evaluation
        return self.decode(self.encode(_corrupt(x, self.config.noise_std, self.training)))

    def extra_repr(self) -> str:
        return f"code_dim={self.config.code_dim}, noise_std={self.config.noise_std}"
