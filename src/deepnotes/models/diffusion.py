r"""A small U-Net that predicts the noise in a noisy image: DDPM's
:math:`\varepsilon_\theta(x_t, t)` for 28 × 28 grey images (beyond the notes).

A denoising diffusion model (:mod:`deepnotes.functional.diffusion`) needs one network that,
shown an image :math:`x_t` at any noise level :math:`t`, returns the noise
:math:`\hat\varepsilon` it holds: same shape in as out, like an auto-encoder, but told the
step. Ho et al. (2020) used a U-Net (Ronneberger et al., 2015): an encoder that halves the
image twice, a decoder that doubles it back, and skip connections that hand each decoder stage
the encoder's features at its size, so fine detail need not squeeze through the 7 × 7 middle.

Layout for ``channels = (C1, C2)`` and a 28 × 28 input (the names are the attributes)::

    stem   conv 3×3                                  C1 × 28 × 28
    down1  res-block(C1 → C1)               → s1     C1 × 28 × 28
    pool1  conv 3×3, stride 2                        C1 × 14 × 14
    down2  res-block(C1 → C2)               → s2     C2 × 14 × 14
    pool2  conv 3×3, stride 2                        C2 × 7 × 7
    mid    res-block(C2 → C2)                        C2 × 7 × 7
    up2    transposed conv 4×4, stride 2             C2 × 14 × 14
    dec2   res-block on [· ; s2], 2 C2 → C2          C2 × 14 × 14
    up1    transposed conv 4×4, stride 2             C2 × 28 × 28
    dec1   res-block on [· ; s1], C2 + C1 → C1       C1 × 28 × 28
    out    group norm, SiLU, conv 3×3                1 × 28 × 28 = ε̂

A res-block is DDPM's: :math:`h = \mathrm{conv}(\mathrm{SiLU}(\mathrm{GN}(x)))`, plus a
per-channel shift from the time embedding, :math:`h \leftarrow h + W e(t)`, then
:math:`\mathrm{conv}(\mathrm{SiLU}(\mathrm{GN}(h)))` added to :math:`x` (a 1 × 1 conv on
:math:`x` when the widths differ). The step enters every block: :math:`e(t)` is the
sinusoidal table of :func:`deepnotes.functional.diffusion.timestep_embedding` through a small
MLP (Linear, SiLU, Linear). Upsampling is a transposed convolution, cheaper on a CPU than
DDPM's nearest-neighbour doubling followed by a 3 × 3 conv at the doubled size.

Convolutions are our :class:`~deepnotes.nn.Conv2d` and :class:`~deepnotes.nn.ConvTranspose2d`
with the ``fused`` switch. ``deepnotes.nn`` has no group norm, no SiLU and no linear layer,
so those are torch's (``torch.nn.GroupNorm``, ``torch.nn.functional.silu``,
``torch.nn.Linear``), the same on both paths. Group norm (Wu & He, 2018) normalises each
image over groups of channels: unlike batch norm it does not mix the images of a batch, which
carry different noise levels.

Notes: N9 (a generator: noise in, a distribution out); the DDPM itself is beyond the notes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as TF
from torch import Tensor, nn

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.functional.diffusion import timestep_embedding
from deepnotes.models import register_model
from deepnotes.nn import Conv2d, ConvTranspose2d

__all__ = ["DDPMUNet", "DDPMUNetConfig", "ResBlock"]


@dataclass
class DDPMUNetConfig:
    in_channels: int = 1  # image channels (Fashion-MNIST: 1); ε̂ has as many
    image_size: int = 28  # height = width, divisible by 4 (halved twice: 28 → 14 → 7)
    channels: tuple[int, ...] = (32, 64)  # widths C1 (full size) and C2 (half size, middle)
    time_dim: int = 128  # width of the time embedding after its MLP (sinusoid: C1 numbers)
    groups: int = 8  # group norm groups (a divisor of C1 and C2)
    fused: bool = True  # convolutions: torch's kernels (True) or our im2col + matmul (False)


class ResBlock(nn.Module):
    r"""DDPM's residual block with the step added in.

    .. math::
        h = \mathrm{conv}_1(\mathrm{SiLU}(\mathrm{GN}_1(x))) + W\, \mathrm{SiLU}(e), \qquad
        y = \mathrm{skip}(x) + \mathrm{conv}_2(\mathrm{SiLU}(\mathrm{GN}_2(h)))

    (:math:`W e` is one number per channel, broadcast over the positions; skip is the identity
    or a 1 × 1 conv when the widths differ).

    Shape:
        - Input: ``x`` ``(B, C_in, H, W)``, ``emb`` ``(B, time_dim)``.
        - Output: ``(B, C_out, H, W)``.

    Example:
        >>> ResBlock(4, 6, 8, groups=2)(torch.zeros(2, 4, 5, 5), torch.zeros(2, 8)).shape
        torch.Size([2, 6, 5, 5])
    """

    def __init__(self, in_channels: int, out_channels: int, time_dim: int, groups: int = 8,
                 fused: bool = True) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels)
        self.conv1 = Conv2d(in_channels, out_channels, 3, padding=1, fused=fused)
        self.time = nn.Linear(time_dim, out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels)
        self.conv2 = Conv2d(out_channels, out_channels, 3, padding=1, fused=fused)
        self.skip = (Conv2d(in_channels, out_channels, 1, fused=fused)
                     if in_channels != out_channels else nn.Identity())

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(TF.silu(self.norm1(x)))  # (B, O, H, W)
        # the step: one shift per channel, W·SiLU(e)
        h = h + self.time(TF.silu(emb))[:, :, None, None]  # (B, O, H, W)
        h = self.conv2(TF.silu(self.norm2(h)))  # (B, O, H, W)
        return self.skip(x) + h


@register_model("ddpm-unet", DDPMUNetConfig,
                summary="small U-Net eps_theta(x_t, t) of a denoising diffusion model, 28x28 "
                        "(N9; DDPM beyond the notes)", inputs="images")
class DDPMUNet(nn.Module):
    r"""The noise predictor :math:`\varepsilon_\theta(x_t, t)` of DDPM: a two-level U-Net with
    residual blocks and a sinusoidal time embedding (see the module docstring for the layout).

    Args:
        config: :class:`DDPMUNetConfig`.

    Shape:
        - Input: ``x_t`` ``(B, in_channels, S, S)``, ``t`` ``(B,)`` integer (or real) steps.
        - Output: :math:`\hat\varepsilon` ``(B, in_channels, S, S)``.

    Example:
        >>> net = DDPMUNet(DDPMUNetConfig(image_size=8, channels=(4, 8), time_dim=8, groups=2))
        >>> net(torch.zeros(3, 1, 8, 8), torch.tensor([1, 50, 1000])).shape
        torch.Size([3, 1, 8, 8])

    Notes: N9; DDPM beyond the notes.
    """

    def __init__(self, config: DDPMUNetConfig) -> None:
        super().__init__()
        cfg = config
        if len(cfg.channels) != 2 or any(int(c) < 1 for c in cfg.channels):
            raise ConfigError(f"ddpm-unet: channels must be two positive widths (C1, C2), got "
                              f"{cfg.channels!r}")
        if cfg.image_size < 4 or cfg.image_size % 4:
            raise ConfigError(f"ddpm-unet: image_size must be a multiple of 4 (halved twice), "
                              f"got {cfg.image_size}")
        if cfg.in_channels < 1 or cfg.time_dim < 1:
            raise ConfigError(f"ddpm-unet: in_channels and time_dim must be >= 1, got "
                              f"{cfg.in_channels} and {cfg.time_dim}")
        c1, c2 = (int(c) for c in cfg.channels)
        if cfg.groups < 1 or c1 % cfg.groups or c2 % cfg.groups:
            raise ConfigError(f"ddpm-unet: groups must divide both widths {cfg.channels}, got "
                              f"{cfg.groups}")
        self.config = cfg
        g, f, d = cfg.groups, cfg.fused, cfg.time_dim
        # e(t): sinusoid (C1) → Linear → SiLU → Linear
        self.time_mlp = nn.Sequential(nn.Linear(c1, d), nn.SiLU(), nn.Linear(d, d))
        self.stem = Conv2d(cfg.in_channels, c1, 3, padding=1, fused=f)
        self.down1 = ResBlock(c1, c1, d, g, f)
        self.pool1 = Conv2d(c1, c1, 3, stride=2, padding=1, fused=f)
        self.down2 = ResBlock(c1, c2, d, g, f)
        self.pool2 = Conv2d(c2, c2, 3, stride=2, padding=1, fused=f)
        self.mid = ResBlock(c2, c2, d, g, f)
        self.up2 = ConvTranspose2d(c2, c2, 4, stride=2, padding=1, fused=f)
        self.dec2 = ResBlock(2 * c2, c2, d, g, f)
        self.up1 = ConvTranspose2d(c2, c2, 4, stride=2, padding=1, fused=f)
        self.dec1 = ResBlock(c2 + c1, c1, d, g, f)
        self.out_norm = nn.GroupNorm(g, c1)
        self.out = Conv2d(c1, cfg.in_channels, 3, padding=1, fused=f)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        cfg = self.config
        shape = (cfg.in_channels, cfg.image_size, cfg.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != shape:
            raise ShapeError(f"ddpm-unet expects images (B, {', '.join(map(str, shape))}), got "
                             f"{tuple(x.shape)}")
        t = torch.as_tensor(t, device=x.device)
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        if t.shape != (x.shape[0],):
            raise ShapeError(f"ddpm-unet expects one step per image ({x.shape[0]},), got "
                             f"{tuple(t.shape)}")
        c1 = cfg.channels[0]
        emb = self.time_mlp(timestep_embedding(t, c1).to(x.dtype))  # (B, D)
        h = self.stem(x)  # (B, C1, S, S)
        s1 = self.down1(h, emb)  # (B, C1, S, S)
        s2 = self.down2(self.pool1(s1), emb)  # (B, C2, S/2, S/2)
        h = self.mid(self.pool2(s2), emb)  # (B, C2, S/4, S/4)
        h = self.dec2(torch.cat([self.up2(h), s2], dim=1), emb)  # (B, C2, S/2, S/2)
        h = self.dec1(torch.cat([self.up1(h), s1], dim=1), emb)  # (B, C1, S, S)
        return self.out(TF.silu(self.out_norm(h)))  # (B, in_channels, S, S)
