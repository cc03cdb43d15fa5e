r"""CycleGAN's generator for 28 × 28 images: an image in, an image of the other domain out.

CycleGAN (Zhu et al., 2017) learns two maps between image domains :math:`X` and :math:`Y` from
unpaired examples, :math:`G: X \to Y` and :math:`F: Y \to X`, each an encoder–decoder like
this one (the losses that tie them together: :mod:`deepnotes.tasks.cyclegan`). The paper's
generator (Johnson et al., 2016) downsamples twice with stride-2 convolutions, runs residual
blocks at the low resolution and upsamples twice with stride-2 transposed convolutions; this
is that shape scaled to Fashion-MNIST: 28 → 14 → 7, ``blocks`` residual blocks at 7 × 7,
7 → 14 → 28, tanh out (images in :math:`[-1, 1]`).

The paper normalises with instance norm (statistics of one image, so an image's translation
does not depend on the rest of its batch); ``norm="layer"`` is our per-image normalisation
(:class:`~deepnotes.nn.LayerNorm` over channels and positions), ``"none"`` leaves it out.
The discriminators of a CycleGAN can be the ``dcgan-discriminator`` (one score per image).

Notes: N7 (CycleGAN: two generators, unpaired translation).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.models import register_model
from deepnotes.nn import Conv2d, ConvTranspose2d, LayerNorm, ReLU, Tanh

__all__ = ["CycleGANGenerator", "CycleGANGeneratorConfig", "ResidualBlock"]

NORMS = ("layer", "none")


def _norm(kind: str, shape: tuple[int, int, int], fused: bool) -> nn.Module:
    return LayerNorm(list(shape), fused=fused) if kind == "layer" else nn.Identity()


class ResidualBlock(nn.Module):
    r"""CycleGAN's residual block at one resolution: two 3 × 3 convolutions and a skip.

    .. math::
        h' = h + \mathrm{norm}(\mathrm{conv}(\mathrm{relu}(\mathrm{norm}(\mathrm{conv}(h)))))

    (no activation after the sum, as in the paper's ResnetBlock).

    Shape:
        - Input and output: ``(N, C, S, S)``.

    Example:
        >>> import torch
        >>> ResidualBlock(4, 7, "layer", fused=False)(torch.zeros(2, 4, 7, 7)).shape
        torch.Size([2, 4, 7, 7])

    Notes: N7.
    """

    def __init__(self, channels: int, side: int, norm: str = "layer", fused: bool = True) -> None:
        super().__init__()
        shape = (channels, side, side)
        bias = norm == "none"  # a per-position norm's own β subsumes a conv bias
        self.conv1 = Conv2d(channels, channels, 3, padding=1, bias=bias, fused=fused)
        self.norm1 = _norm(norm, shape, fused)
        self.act = ReLU(fused=fused)
        self.conv2 = Conv2d(channels, channels, 3, padding=1, bias=bias, fused=fused)
        self.norm2 = _norm(norm, shape, fused)

    def forward(self, h: Tensor) -> Tensor:
        # h + norm(conv(relu(norm(conv(h)))))
        return h + self.norm2(self.conv2(self.act(self.norm1(self.conv1(h)))))  # (N, C, S, S)


@dataclass
class CycleGANGeneratorConfig:
    channels: int = 1  # image channels C (images are C × 28 × 28, values in [-1, 1])
    width: int = 32  # channels after the first convolution (2·width at 7 × 7)
    blocks: int = 2  # residual blocks at 7 × 7 (the paper: 6 or 9 at 64 × 64 or 256 × 256)
    norm: str = "layer"  # layer (per image, the role of the paper's instance norm) | none
    fused: bool = True  # torch's kernels for convolutions, norms, ReLU, tanh (False: ours)


@register_model("cyclegan-generator", CycleGANGeneratorConfig,
                summary="CycleGAN generator for 28x28 images: image -> image of the other "
                        "domain, conv down to 7x7, residual blocks, transposed conv up (N7)",
                inputs="images")
class CycleGANGenerator(nn.Module):
    r"""CycleGAN generator for 28 × 28 images (one of the pair :math:`G: X \to Y`,
    :math:`F: Y \to X`).

    .. math::
        x &\to \text{Conv 4/2/1} \to (w, 14, 14) \to \text{norm, relu}
          \to \text{Conv 4/2/1} \to (2w, 7, 7) \to \text{norm, relu} \\
          &\to \text{ResBlock}^{\,b} \to \text{ConvT 4/2/1} \to (w, 14, 14)
          \to \text{norm, relu} \to \text{ConvT 4/2/1} \to (C, 28, 28) \to \tanh

    Args:
        config: :class:`CycleGANGeneratorConfig`; ``fused`` reaches every layer that has one.

    Shape:
        - Input: ``(N, channels, 28, 28)`` in :math:`[-1, 1]`.
        - Output: ``(N, channels, 28, 28)`` in :math:`(-1, 1)`.

    Example:
        >>> import torch
        >>> g = CycleGANGenerator(CycleGANGeneratorConfig(width=4, blocks=1))
        >>> g(torch.zeros(3, 1, 28, 28)).shape
        torch.Size([3, 1, 28, 28])

    Notes: N7.
    """

    def __init__(self, config: CycleGANGeneratorConfig) -> None:
        super().__init__()
        if config.norm not in NORMS:
            raise ConfigError(f"norm must be one of {', '.join(NORMS)}, got {config.norm!r}")
        for name, value, least in (("channels", config.channels, 1),
                                   ("width", config.width, 1), ("blocks", config.blocks, 0)):
            if value < least:
                raise ConfigError(f"{name} must be >= {least}, got {value}")
        self.config = config
        c, w, fused, norm = config.channels, config.width, config.fused, config.norm
        bias = norm == "none"
        self.down = nn.Sequential(
            Conv2d(c, w, 4, stride=2, padding=1, bias=bias, fused=fused),  # (N, w, 14, 14)
            _norm(norm, (w, 14, 14), fused), ReLU(fused=fused),
            Conv2d(w, 2 * w, 4, stride=2, padding=1, bias=bias, fused=fused),  # (N, 2w, 7, 7)
            _norm(norm, (2 * w, 7, 7), fused), ReLU(fused=fused))
        self.blocks = nn.Sequential(*(ResidualBlock(2 * w, 7, norm, fused)
                                      for _ in range(config.blocks)))  # (N, 2w, 7, 7)
        self.up = nn.Sequential(
            ConvTranspose2d(2 * w, w, 4, stride=2, padding=1, bias=bias,
                            fused=fused),  # (N, w, 14, 14)
            _norm(norm, (w, 14, 14), fused), ReLU(fused=fused),
            ConvTranspose2d(w, c, 4, stride=2, padding=1, fused=fused),  # (N, C, 28, 28)
            Tanh(fused=fused))

    def forward(self, x: Tensor) -> Tensor:
        cfg = self.config
        if x.dim() != 4 or tuple(x.shape[1:]) != (cfg.channels, 28, 28):
            raise ShapeError(f"cyclegan-generator expects images (N, {cfg.channels}, 28, 28), "
                             f"got {tuple(x.shape)}")
        return self.up(self.blocks(self.down(x)))  # (N, C, 28, 28)

    def extra_repr(self) -> str:
        return f"width={self.config.width}, blocks={self.config.blocks}, norm={self.config.norm}"
