"""Benchmark: a DCGAN training update through our GAN loop vs a plain PyTorch loop, and our
spectral normalisation vs torch's.

One update is a discriminator step on a real and a generated batch (non-saturating GAN loss)
followed by a generator step, both with Adam (2e-4, β = (0.5, 0.999)). Contenders on the same
architecture, batch and initial weights:

- **ours (fused)**: :func:`deepnotes.tasks.gan.gan_step` on our DCGAN models (torch's
  convolution and batch-norm kernels), our Adam, our losses;
- **ours (formula)**: the same with ``fused=False`` (our im2col convolutions, our transposed
  convolution, our batch norm);
- **plain PyTorch**: ``torch.nn`` layers of the same shapes, ``torch.optim.Adam``,
  ``F.binary_cross_entropy_with_logits``, the loop written out by hand.

Our step also does work the plain loop skips — noise drawn on the CPU from its own generator
(reproducible on any device), the JS estimate, the generator's gradient norm and six scalars
read back for the log — so "time / plain" charges that bookkeeping to our loop.

Spectral norm: forward + backward through a spectrally normalised 3×3 convolution (one power
step per call) with :func:`deepnotes.nn.spectral_norm` vs
``torch.nn.utils.parametrizations.spectral_norm``.

Usage::

    python benchmarks/bench_gan.py
    python benchmarks/bench_gan.py --batch 128 --width 64 --device cuda
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import add_common_args, compare_many, describe, machine, markdown, prepare, report
from torch import nn
from torch.nn import functional as F


def _plain_pair(latent: int, w: int) -> tuple[nn.Module, nn.Module]:
    """The DCGAN generator and discriminator of deepnotes.models.gan in plain torch.nn."""

    class Gen(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.project = nn.Linear(latent, 2 * w * 49, bias=False)
            self.bn0 = nn.BatchNorm2d(2 * w)
            self.up1 = nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(w)
            self.up2 = nn.ConvTranspose2d(w, 1, 4, 2, 1)

        def forward(self, z):
            h = F.relu(self.bn0(self.project(z).view(-1, 2 * w, 7, 7)))
            return torch.tanh(self.up2(F.relu(self.bn1(self.up1(h)))))

    class Disc(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(1, w, 4, 2, 1)
            self.conv2 = nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False)
            self.norm = nn.BatchNorm2d(2 * w)
            self.out = nn.Linear(2 * w * 49, 1)

        def forward(self, x):
            h = F.leaky_relu(self.conv1(x), 0.2)
            h = F.leaky_relu(self.norm(self.conv2(h)), 0.2)
            return self.out(h.flatten(1)).squeeze(1)

    return Gen(), Disc()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64, help="real images per update")
    parser.add_argument("--width", type=int, default=32, help="DCGAN channel base")
    parser.add_argument("--latent", type=int, default=64, help="noise size")
    add_common_args(parser, repeats=5, inner=10, warmup=3, unit="updates", per="contender")
    args = parser.parse_args(argv)
    device = prepare(args, {"--batch": args.batch, "--width": args.width,
                            "--latent": args.latent})
    if device is None:
        return 2
    from deepnotes.models import create
    from deepnotes.nn import spectral_norm
    from deepnotes.tasks.gan import gan_step, make_state

    t0 = time.perf_counter()
    real = (torch.rand(args.batch, 1, 28, 28) * 2 - 1).to(device)
    fns = {}
    for fused in (True, False):
        torch.manual_seed(0)
        g = create("dcgan-generator", latent_dim=args.latent, width=args.width, fused=fused)
        d = create("dcgan-discriminator", width=args.width, fused=fused)
        state = make_state(g.to(device), d.to(device), method="gan")
        fns[f"ours ({'fused' if fused else 'formula'})"] = (
            lambda state=state: gan_step(state, lambda: (real, None)))
    torch.manual_seed(0)
    pg, pd = (m.to(device) for m in _plain_pair(args.latent, args.width))
    og = torch.optim.Adam(pg.parameters(), lr=2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(pd.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def plain() -> None:
        z = torch.randn(args.batch, args.latent, device=device)
        with torch.no_grad():
            fake = pg(z)
        rs, fs = pd(real), pd(fake)
        loss_d = (F.binary_cross_entropy_with_logits(rs, torch.ones_like(rs))
                  + F.binary_cross_entropy_with_logits(fs, torch.zeros_like(fs)))
        od.zero_grad(set_to_none=True)
        loss_d.backward()
        od.step()
        fs = pd(pg(torch.randn(args.batch, args.latent, device=device)))
        loss_g = F.binary_cross_entropy_with_logits(fs, torch.ones_like(fs))
        og.zero_grad(set_to_none=True)
        pd.zero_grad(set_to_none=True)
        loss_g.backward()
        og.step()
        float(loss_g.detach())  # our step reads its losses back too

    fns["plain PyTorch"] = plain
    med = compare_many(fns, device, args.repeats, args.inner, args.warmup)
    base = med["plain PyTorch"]
    rows = [[name, f"{s * 1e3:,.2f}", f"{args.batch / s:,.0f}", f"{s / base:.2f}"]
            for name, s in med.items()]
    table = markdown(["contender", "ms / update", "real images / s", "time / plain"], rows)

    # spectral norm: forward + backward of a normalised conv, one power step each
    x = torch.randn(args.batch, args.width, 14, 14, device=device)
    torch.manual_seed(1)
    ours = spectral_norm(nn.Conv2d(args.width, 2 * args.width, 3, padding=1)).to(device)
    torch.manual_seed(1)
    ref = torch.nn.utils.parametrizations.spectral_norm(
        nn.Conv2d(args.width, 2 * args.width, 3, padding=1)).to(device)
    same = torch.allclose(ours(x), ref(x), atol=1e-5)

    def step(m):
        return lambda: m(x).square().mean().backward()

    smed = compare_many({"ours": step(ours), "torch": step(ref)}, device, args.repeats,
                        args.inner, args.warmup)
    srows = [[n, f"{s * 1e3:,.3f}", f"{s / smed['torch']:.2f}"] for n, s in smed.items()]
    stable = markdown(["spectral norm", "ms / forward+backward", "time / torch"], srows)
    info = machine(device)
    report(f"DCGAN update (G and D, width {args.width}, batch {args.batch}, latent "
           f"{args.latent}, float32, {describe(device, info)}, torch {info['torch']}), median of "
           f"{args.repeats} blocks x {args.inner} updates.\n\n{table}\n\nSpectral normalisation "
           f"of a 3x3 conv {args.width} -> {2 * args.width} on ({args.batch}, {args.width}, 14, "
           f"14), same outputs as torch: {same}", stable, t0, args.json,
           {"benchmark": "gan", "batch": args.batch, "width": args.width, "machine": info,
            "update_seconds": med, "spectral_norm_seconds": smed, "same_sn_outputs": same})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
