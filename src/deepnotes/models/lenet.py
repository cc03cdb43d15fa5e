"""LeNet-5: two convolution + pooling stages, then three dense layers (d2l's version).

``lenet`` is the classic network (sigmoid, average pooling); ``lenet-modern`` is the same
network with the modern choices (ReLU, batch norm, max pooling) as its defaults.

Notes: C5 (pooling, flatten → dense → softmax), C6 (a classic CNN and a modern one), O9 (BN).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.functional import conv_output_size
from deepnotes.models import register_model
from deepnotes.nn import AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, MaxPool2d
from deepnotes.nn.activation import activation_class

POOLS = {"avg": AvgPool2d, "max": MaxPool2d}


@dataclass
class LeNetConfig:
    in_channels: int = 1  # image channels (1 for Fashion-MNIST)
    image_size: int = 28  # height = width of the input images
    num_classes: int = 10  # outputs (logits)
    activation: str = "sigmoid"  # sigmoid | relu | tanh | gelu, after every conv/dense layer
    pool: str = "avg"  # avg | max: the 2×2, stride-2 subsampling after each conv
    batch_norm: bool = False  # BatchNorm after each conv/hidden dense layer, before activation
    fused: bool = True  # torch kernels for conv/pool/BN/activation (False: our formulas)


@dataclass
class LeNetModernConfig(LeNetConfig):
    activation: str = "relu"  # sigmoid | relu | tanh | gelu, after every conv/dense layer
    pool: str = "max"  # avg | max: the 2×2, stride-2 subsampling after each conv
    batch_norm: bool = True  # BatchNorm after each conv/hidden dense layer, before activation


@register_model("lenet", LeNetConfig,
                summary="LeNet-5: conv 6@5x5, pool, conv 16@5x5, pool, dense 120-84 (C5, C6)",
                inputs="images")
class LeNet(nn.Module):
    r"""LeNet-5 as in d2l (padding 2 on the first conv so 28×28 inputs work).

    ``conv(6, 5×5, pad 2) → act → pool(2, 2) → conv(16, 5×5) → act → pool(2, 2) → flatten →
    dense 120 → act → dense 84 → act → dense num_classes``, with an optional BatchNorm before
    each activation. For 28×28 inputs the flattened size is 16·5·5 = 400.

    Args:
        config: :class:`LeNetConfig`.

    Shape:
        - Input: ``(N, in_channels, image_size, image_size)``.
        - Output: ``(N, num_classes)`` logits.

    Example:
        >>> m = LeNet(LeNetConfig())
        >>> m(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])

    Notes: C5, C6.
    """

    def __init__(self, config: LeNetConfig) -> None:
        super().__init__()
        act = activation_class(config.activation)  # ConfigError naming the choices
        if config.pool not in POOLS:
            raise ConfigError(f"unknown pool {config.pool!r}; choose one of {', '.join(POOLS)}")
        if config.image_size < 12:
            raise ConfigError(f"lenet needs image_size >= 12, got {config.image_size}")
        self.config = config
        fused = config.fused
        pool = POOLS[config.pool]

        def norm(cls, width):
            return [cls(width, fused=fused)] if config.batch_norm else []

        # spatial size: conv 5 pad 2 keeps it, pool halves it, conv 5 takes 4, pool halves it
        side = conv_output_size(config.image_size, 5, padding=2)
        side = conv_output_size(side, 2, stride=2)
        side = conv_output_size(side, 5)
        side = conv_output_size(side, 2, stride=2)
        self.flat_features = 16 * side * side
        self.net = nn.Sequential(
            Conv2d(config.in_channels, 6, 5, padding=2, fused=fused),  # (N, 6, 28, 28)
            *norm(BatchNorm2d, 6), act(fused=fused),
            pool(2, 2, fused=fused),  # (N, 6, 14, 14)
            Conv2d(6, 16, 5, fused=fused),  # (N, 16, 10, 10)
            *norm(BatchNorm2d, 16), act(fused=fused),
            pool(2, 2, fused=fused),  # (N, 16, 5, 5)
            nn.Flatten(),  # (N, 400)
            nn.Linear(self.flat_features, 120), *norm(BatchNorm1d, 120), act(fused=fused),
            nn.Linear(120, 84), *norm(BatchNorm1d, 84), act(fused=fused),
            nn.Linear(84, config.num_classes),  # (N, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c, s = self.config.in_channels, self.config.image_size
        if x.dim() != 4 or tuple(x.shape[1:]) != (c, s, s):
            raise ShapeError(
                f"lenet expects input of shape (N, {c}, {s}, {s}), got {tuple(x.shape)} "
                f"(set in_channels/image_size to match your data)"
            )
        return self.net(x)


@register_model("lenet-modern", LeNetModernConfig,
                summary="LeNet-5 with ReLU, batch norm and max pooling (C6, O9)", inputs="images")
class LeNetModern(LeNet):
    """:class:`LeNet` whose defaults are ReLU, BatchNorm and max pooling
    (:class:`LeNetModernConfig`); every field can still be overridden.

    Example:
        >>> LeNetModern(LeNetModernConfig())(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])

    Notes: C6, O9.
    """
