"""Benchmark: our im2col conv2d and pooling against torch's kernels, and LeNet's training step.

What it measures, in float32:

1. ``deepnotes.functional.conv2d`` (``unfold`` + matmul) against ``torch.nn.functional.conv2d``
   on layer shapes from LeNet and from the small ResNet (batch ``--batch``), forward alone and
   forward + backward (gradients of input, weight and bias); also ``max_pool2d`` /
   ``avg_pool2d`` (unfold + max/mean) against torch's on LeNet's pooling shape;
2. one training step (forward, cross-entropy, backward, Adam step) of ``lenet`` and
   ``lenet-modern`` on a batch of 28×28 images with ``fused=True`` (torch kernels) and
   ``fused=False`` (our formulas for every conv, pool, norm and activation).

Ours and the reference alternate block by block (so machine drift hits both alike); each
timing is a block of ``--inner`` calls divided by ``--inner``, the table gives the median of
``--repeats`` blocks and the ratio ours/reference (below 1: ours is faster). On CUDA the device
is synchronised around every block. CPU runs use ``--threads`` intra-op threads (default 1:
on a shared or busy machine, OpenMP threads waiting on each other make ``unfold`` and the small
kernels swing by 10x; ``--threads 0`` keeps torch's default).

Usage::

    python benchmarks/bench_conv.py                        # CPU, < 60 s
    python benchmarks/bench_conv.py --device cuda --json conv.json
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
import torch.nn.functional as TF
from _common import add_common_args, compare, describe, machine, markdown, prepare, report

from deepnotes import functional as F
from deepnotes import models

# name -> (input (C, H, W), out channels, kernel, stride, padding)
CONV_SHAPES: dict[str, tuple[tuple[int, int, int], int, int, int, int]] = {
    "lenet conv1 1→6 5x5 p2 @28": ((1, 28, 28), 6, 5, 1, 2),
    "lenet conv2 6→16 5x5 @14": ((6, 14, 14), 16, 5, 1, 0),
    "resnet 32→32 3x3 p1 @28": ((32, 28, 28), 32, 3, 1, 1),
    "resnet 32→64 3x3 s2 p1 @28": ((32, 28, 28), 64, 3, 2, 1),
    "resnet 64→128 1x1 s2 @14": ((64, 14, 14), 128, 1, 2, 0),
}


def conv_rows(device: torch.device, batch: int, repeats: int, inner: int,
              warmup: int) -> list[dict[str, Any]]:
    rows = []
    gen = torch.Generator().manual_seed(0)
    for name, ((c, h, w), o, k, s, p) in CONV_SHAPES.items():
        x = torch.randn(batch, c, h, w, generator=gen).to(device).requires_grad_()
        weight = (0.1 * torch.randn(o, c, k, k, generator=gen)).to(device).requires_grad_()
        bias = torch.randn(o, generator=gen).to(device).requires_grad_()
        # the same result from both, so the timings compare the same work
        torch.testing.assert_close(F.conv2d(x, weight, bias, s, p),
                                   TF.conv2d(x, weight, bias, s, p), atol=1e-3, rtol=1e-3)
        upstream = torch.randn_like(TF.conv2d(x, weight, bias, s, p))

        def fwd(fn):
            def run():
                with torch.no_grad():
                    fn(x, weight, bias, s, p)
            return run

        def fwd_bwd(fn):
            return lambda: torch.autograd.grad(fn(x, weight, bias, s, p), (x, weight, bias),
                                               upstream)

        for what, wrap in (("forward", fwd), ("forward+backward", fwd_bwd)):
            ours_s, ref_s = compare(wrap(F.conv2d), wrap(TF.conv2d), device, repeats, inner,
                                    warmup)
            rows.append({"op": f"conv2d {name}", "pass": what, "ours_s": ours_s,
                         "ref_s": ref_s, "ratio": ours_s / ref_s})
    x = torch.randn(batch, 6, 28, 28, generator=gen).to(device).requires_grad_()
    upstream = torch.randn(batch, 6, 14, 14, generator=gen).to(device)
    for pool, ours_fn, ref_fn in (("max_pool2d", F.max_pool2d, TF.max_pool2d),
                                  ("avg_pool2d", F.avg_pool2d, TF.avg_pool2d)):
        ours_s, ref_s = compare(lambda: torch.autograd.grad(ours_fn(x, 2, 2), x, upstream),
                                lambda: torch.autograd.grad(ref_fn(x, 2, 2), x, upstream),
                                device, repeats, inner, warmup)
        rows.append({"op": f"{pool} 2x2 s2, 6@28", "pass": "forward+backward",
                     "ours_s": ours_s, "ref_s": ref_s, "ratio": ours_s / ref_s})
    return rows


def lenet_rows(device: torch.device, batch: int, repeats: int, inner: int,
               warmup: int) -> list[dict[str, Any]]:
    """One Adam training step, fused=False ("ours") against fused=True ("ref")."""
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(batch, 1, 28, 28, generator=gen).to(device)
    y = torch.randint(0, 10, (batch,), generator=gen).to(device)
    rows = []
    for name in ("lenet", "lenet-modern"):
        steps = {}
        for fused in (False, True):
            torch.manual_seed(0)
            model = models.create(name, fused=fused).to(device)
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)

            def step(model=model, opt=opt):
                loss = TF.cross_entropy(model(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

            steps[fused] = step
        ours_s, ref_s = compare(steps[False], steps[True], device, repeats, inner, warmup)
        rows.append({"op": f"{name} train step (batch {batch}, Adam)",
                     "pass": "fused=False vs fused=True", "ours_s": ours_s, "ref_s": ref_s,
                     "ratio": ours_s / ref_s})
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    return markdown(["op", "pass", "ours (ms)", "torch (ms)", "ours/torch"],
                    [[r["op"], r["pass"], f"{r['ours_s'] * 1e3:,.2f}", f"{r['ref_s'] * 1e3:,.2f}",
                      f"{r['ratio']:.2f}"] for r in rows], text_columns=2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32, help="images per conv/pool call")
    parser.add_argument("--train-batch", type=int, default=128, help="images per LeNet step")
    add_common_args(parser, repeats=5, inner=2, warmup=1)
    args = parser.parse_args(argv)
    device = prepare(args, {"--batch": args.batch, "--train-batch": args.train_batch})
    if device is None:
        return 2

    t0 = time.perf_counter()
    rows = conv_rows(device, args.batch, args.repeats, args.inner, args.warmup)
    rows += lenet_rows(device, args.train_batch, args.repeats, args.inner, args.warmup)
    info = machine()
    report(f"conv2d/pooling (batch {args.batch}) and LeNet steps (batch {args.train_batch}), "
           f"float32, {describe(device, info)}, torch {info['torch']}, median of "
           f"{args.repeats} blocks x {args.inner} calls", markdown_table(rows), t0,
           args.json, {"benchmark": "conv", "device": args.device, "batch": args.batch,
                      "train_batch": args.train_batch, "repeats": args.repeats,
                      "inner": args.inner, "warmup": args.warmup, "machine": info,
                      "results": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
