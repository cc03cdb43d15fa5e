r"""A small ResNet for 28×28 images in d2l's style: residual blocks of two 3×3 convolutions.

A residual block learns :math:`f(x) = g(x) + x`: its two convolutions only have to model the
*residual* :math:`g(x) = f(x) - x`, and the identity path lets gradients skip the block.

Notes: C6 (a modern CNN: BN, ReLU, residual connections), O9 (batch norm).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.models import register_model
from deepnotes.nn import BatchNorm2d, Conv2d, MaxPool2d, ReLU


class Residual(nn.Module):
    r"""d2l's residual block.

    .. math::
        y = \mathrm{ReLU}\big(\mathrm{BN}(\mathrm{conv}_{3\times3}(
            \mathrm{ReLU}(\mathrm{BN}(\mathrm{conv}_{3\times3, s}(x))))) + \mathrm{sc}(x)\big)

    where the shortcut :math:`\mathrm{sc}` is the identity, or a 1×1 convolution with stride
    :math:`s` when the block changes the number of channels or the resolution.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        stride: stride of the first 3×3 conv (and of the shortcut). Default ``1``.
        fused: torch kernels (``True``) or our formulas, for every layer. Default ``True``.

    Shape:
        - Input: ``(N, in_channels, H, W)``.
        - Output: ``(N, out_channels, ⌊(H - 1) / s⌋ + 1, ⌊(W - 1) / s⌋ + 1)``.

    Example:
        >>> Residual(3, 6, stride=2)(torch.zeros(4, 3, 6, 6)).shape
        torch.Size([4, 6, 3, 3])

    Notes: C6.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 fused: bool = True) -> None:
        super().__init__()
        self.conv1 = Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, fused=fused)
        self.bn1 = BatchNorm2d(out_channels, fused=fused)
        self.conv2 = Conv2d(out_channels, out_channels, 3, padding=1, fused=fused)
        self.bn2 = BatchNorm2d(out_channels, fused=fused)
        if stride != 1 or in_channels != out_channels:
            self.conv3 = Conv2d(in_channels, out_channels, 1, stride=stride, fused=fused)
        else:
            self.conv3 = None
        self.relu = ReLU(fused=fused)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # g(x) = BN(conv(ReLU(BN(conv(x)))))
        y = self.relu(self.bn1(self.conv1(x)))  # (N, O, H', W')
        y = self.bn2(self.conv2(y))  # (N, O, H', W')
        shortcut = x if self.conv3 is None else self.conv3(x)  # (N, O, H', W')
        # f(x) = ReLU(g(x) + x)
        return self.relu(y + shortcut)


@dataclass
class ResNetConfig:
    in_channels: int = 1  # image channels (1 for Fashion-MNIST)
    num_classes: int = 10  # outputs (logits)
    # width of each stage; every stage after the first halves H and W
    channels: tuple[int, ...] = (32, 64, 128)
    blocks_per_stage: int = 1  # residual blocks per stage
    stem_pool: bool = False  # d2l's 3×3 stride-2 max pool after the stem (28 → 14 pixels)
    fused: bool = True  # torch kernels for conv/BN/ReLU (False: our formulas)


@register_model("resnet", ResNetConfig,
                summary="small ResNet for 28x28 images: 3x3 stem, residual stages (C6)",
                inputs="images")
class ResNet(nn.Module):
    r"""Stem ``conv 3×3 → BN → ReLU`` at full resolution (then, with ``stem_pool``, d2l's
    ``max pool 3×3, stride 2``), one stage per entry of ``channels`` (``blocks_per_stage``
    :class:`Residual` blocks; every stage after the first starts with a stride-2 block), global
    average pooling and a dense layer.

    For 28×28 inputs and three stages the stages see 28×28, 14×14 and 7×7 feature maps (the
    default, used by the ``resnet`` lesson), or 14×14, 7×7 and 4×4 with ``stem_pool`` at about
    0.4 times the CPU time.

    Args:
        config: :class:`ResNetConfig`.

    Shape:
        - Input: ``(N, in_channels, H, W)``.
        - Output: ``(N, num_classes)`` logits.

    Example:
        >>> m = ResNet(ResNetConfig(channels=(8, 16), blocks_per_stage=1))
        >>> m(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])

    Notes: C6, O9.
    """

    def __init__(self, config: ResNetConfig) -> None:
        super().__init__()
        if not config.channels or any(c < 1 for c in config.channels):
            raise ConfigError(f"resnet channels must be a non-empty tuple of positive widths, "
                              f"got {config.channels}")
        if config.blocks_per_stage < 1:
            raise ConfigError(
                f"resnet blocks_per_stage must be >= 1, got {config.blocks_per_stage}"
            )
        self.config = config
        fused = config.fused
        width = config.channels[0]
        stem: list[nn.Module] = [
            Conv2d(config.in_channels, width, 3, padding=1, fused=fused),  # (N, C0, H, W)
            BatchNorm2d(width, fused=fused),
            ReLU(fused=fused),
        ]
        if config.stem_pool:
            stem.append(MaxPool2d(3, stride=2, padding=1, fused=fused))  # (N, C0, H/2, W/2)
        self.stem = nn.Sequential(*stem)
        blocks: list[nn.Module] = []
        for i, out in enumerate(config.channels):
            for j in range(config.blocks_per_stage):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(Residual(width, out, stride=stride, fused=fused))
                width = out
        self.stages = nn.Sequential(*blocks)
        self.fc = nn.Linear(width, config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.config.in_channels:
            raise ShapeError(
                f"resnet expects input of shape (N, {self.config.in_channels}, H, W), got "
                f"{tuple(x.shape)} (set in_channels to match your data)"
            )
        y = self.stages(self.stem(x))  # (N, C_last, H', W')
        # global average pooling: one number per channel
        y = y.mean(dim=(2, 3))  # (N, C_last)
        return self.fc(y)  # (N, num_classes)
