r"""Two small image classifiers of similar size: a CNN and a ViT-style patch transformer.

``small-cnn``: two 3×3 conv + ReLU + 2×2 max-pool stages, then a linear classifier: each
output sees a fixed 3×3 neighbourhood, one kernel shared by all positions. ``small-vit``:
image patches as tokens, linear patch embedding + learned positions, pre-LN Transformer encoder
blocks, mean pooling, linear classifier: every patch attends to every other, so the receptive
field is learned, not fixed. Used by the ``cnn-vs-self-attention`` lesson.

Notes: A8 (CNN vs self-attention), C1, C4 (convolution, pooling), A4, A5, A6.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from deepnotes.errors import ConfigError
from deepnotes.models import register_model
from deepnotes.nn import Conv2d, LayerNorm, MaxPool2d, ReLU, TransformerEncoderBlock
from deepnotes.nn.positional import LearnedPositionalEmbedding

__all__ = ["SmallCNN", "SmallCNNConfig", "SmallViT", "SmallViTConfig"]


@dataclass
class SmallCNNConfig:
    channels: tuple[int, int] = (8, 16)  # output channels of the two 3×3 conv layers
    classes: int = 10  # outputs
    image: int = 28  # side of the square one-channel input (a multiple of 4: two 2×2 pools)


@register_model("small-cnn", SmallCNNConfig,
                summary="two conv+pool stages and a linear classifier (fixed receptive field, A8)",
                inputs="images")
class SmallCNN(nn.Module):
    """Two 3×3 conv + ReLU + 2×2 max-pool stages, then a linear classifier.

    Each output sees a fixed 3×3 neighbourhood, with one kernel shared by all positions.

    Shape:
        - Input: ``(B, 1, image, image)``. Output: ``(B, classes)``.

    Example:
        >>> import torch
        >>> SmallCNN(SmallCNNConfig())(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])

    Notes: C1, C4, A8.
    """

    def __init__(self, config: SmallCNNConfig) -> None:
        super().__init__()
        if len(config.channels) != 2 or config.image % 4:
            raise ConfigError(f"small-cnn needs two channel counts and an image side divisible "
                              f"by 4, got channels={config.channels}, image={config.image}")
        self.config = config
        c1, c2 = config.channels
        side = config.image // 4
        self.features = nn.Sequential(
            Conv2d(1, c1, 3, padding=1), ReLU(), MaxPool2d(2),  # (B, c1, image/2, image/2)
            Conv2d(c1, c2, 3, padding=1), ReLU(), MaxPool2d(2))  # (B, c2, image/4, image/4)
        self.fc = nn.Linear(c2 * side * side, config.classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x).flatten(1))  # (B, classes)


@dataclass
class SmallViTConfig:
    patch: int = 7  # patch side p (28 / 7 = 4 × 4 = 16 tokens); must divide ``image``
    embed_dim: int = 48  # width d of the tokens
    heads: int = 4  # attention heads per block
    layers: int = 2  # pre-LN encoder blocks (feed-forward width 2d)
    classes: int = 10  # outputs
    image: int = 28  # side of the square one-channel input


@register_model("small-vit", SmallViTConfig,
                summary="patches + self-attention, ViT-style (learned receptive field, A8)",
                inputs="images")
class SmallViT(nn.Module):
    r"""Patches as tokens: linear patch embedding + learned positions, pre-LN encoder blocks,
    mean pooling, linear classifier.

    .. math::
        z_i = W_p\,\mathrm{vec}(x_{\text{patch } i}) + b_p + e_i, \quad
        h = \mathrm{Enc}^{L}(z), \quad \hat y = W_c\,\mathrm{LN}(\tfrac{1}{N}\textstyle\sum_i h_i)

    Every patch attends to every other: the receptive field is learned, not fixed.

    Shape:
        - Input: ``(B, 1, image, image)``. Output: ``(B, classes)``.

    Example:
        >>> import torch
        >>> vit = SmallViT(SmallViTConfig(embed_dim=16, heads=2, layers=1))
        >>> vit(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])

    Notes: A8, A4, A5, A6.
    """

    def __init__(self, config: SmallViTConfig) -> None:
        super().__init__()
        if config.image % config.patch:
            raise ConfigError(f"patch ({config.patch}) must divide the image side ({config.image})")
        self.config = config
        self.patch = config.patch
        d, p = config.embed_dim, config.patch
        tokens = (config.image // p) ** 2
        self.embed = nn.Linear(p * p, d)  # W_p, b_p
        self.pos = LearnedPositionalEmbedding(tokens, d)  # e_i
        self.blocks = nn.ModuleList(
            TransformerEncoderBlock(d, config.heads, 2 * d, norm_first=True)
            for _ in range(config.layers))
        self.norm = LayerNorm(d)
        self.fc = nn.Linear(d, config.classes)

    def forward(self, x: Tensor) -> Tensor:
        b, p = x.shape[0], self.patch
        # cut (B, 1, H, W) into non-overlapping p×p patches, one row each
        patches = x.unfold(2, p, p).unfold(3, p, p)  # (B, 1, H/p, W/p, p, p)
        patches = patches.reshape(b, -1, p * p)  # (B, N, p²)
        h = self.pos(self.embed(patches))  # (B, N, d)
        for blk in self.blocks:
            h = blk(h)  # (B, N, d)
        return self.fc(self.norm(h.mean(dim=1)))  # (B, classes)
