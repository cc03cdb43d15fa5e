"""Benchmark: our MultiHeadAttention (fused and formula paths) against torch.nn.MultiheadAttention.

What it measures, in float32, for self-attention on a batch ``(B, T, E)`` with ``H`` heads
(default shapes: B=32, E=256, H=8 and T=64, T=256), without a mask and with a causal mask:

- forward + backward (gradients of the input and of every parameter) in ``train()`` mode;
- forward alone under ``torch.no_grad()`` in ``eval()`` mode (where torch may take its native
  fused inference kernel).

Three contenders share the same weights (ours load torch's state dict): ``torch`` =
``torch.nn.MultiheadAttention(need_weights=False)``, ``fused`` = ours with ``fused=True``
(``scaled_dot_product_attention``), ``scratch`` = ours with ``fused=False`` (softmax(QKᵀ/√d)V
written out). They alternate block by block (so machine drift hits all alike); each timing is
a block of ``--inner`` calls divided by ``--inner``, the table gives the median of
``--repeats`` blocks and the ratios fused/torch, scratch/torch, scratch/fused (below 1: the
first is faster). CPU runs use ``--threads`` intra-op threads (default 1).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_attention.py          # CPU, about 2 min
    python benchmarks/bench_attention.py --device cuda --json attention.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn as tnn

from deepnotes import nn
from deepnotes.functional import causal_mask


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_block(fn: Callable[[], Any], inner: int, device: torch.device) -> float:
    """Seconds per call of ``fn``, averaged over ``inner`` back-to-back calls."""
    _sync(device)
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / inner


def compare(fns: dict[str, Callable[[], Any]], device: torch.device, repeats: int, inner: int,
            warmup: int) -> dict[str, float]:
    """Median seconds per call of each function, measured in alternating blocks."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(time_block(fn, inner, device))
    return {name: statistics.median(t) for name, t in times.items()}


def attention_rows(device: torch.device, batch: int, lengths: list[int], embed: int, heads: int,
                   repeats: int, inner: int, warmup: int) -> list[dict[str, Any]]:
    rows = []
    for t in lengths:
        torch.manual_seed(0)
        modules = {"torch": tnn.MultiheadAttention(embed, heads, batch_first=True)}
        for fused in (True, False):
            m = nn.MultiHeadAttention(embed, heads, fused=fused)
            m.load_state_dict(modules["torch"].state_dict())
            modules["fused" if fused else "scratch"] = m
        for m in modules.values():
            m.to(device)
        gen = torch.Generator().manual_seed(1)
        x = torch.randn(batch, t, embed, generator=gen).to(device).requires_grad_()
        upstream = torch.randn(batch, t, embed, generator=gen).to(device)
        disallowed = ~causal_mask(t, device=device)  # torch's convention: True = masked out
        for masking in ("none", "causal"):
            def call(name, masking=masking, x=x, modules=modules, disallowed=disallowed):
                m = modules[name]
                if name == "torch" and masking == "causal":
                    return m(x, x, x, need_weights=False, attn_mask=disallowed, is_causal=True)[0]
                return m(x, x, x, need_weights=False, is_causal=masking == "causal")[0]

            # the same numbers from all three, so the timings compare the same work
            ref = call("torch")
            for name in ("fused", "scratch"):
                torch.testing.assert_close(call(name), ref, atol=1e-4, rtol=1e-4)

            def fwd_bwd(name, call=call, x=x, upstream=upstream, modules=modules):
                params = list(modules[name].parameters())
                return lambda: torch.autograd.grad(call(name), [x, *params], upstream)

            def fwd(name, call=call):
                def run():
                    with torch.no_grad():
                        call(name)
                return run

            for what, wrap, train in (("forward+backward", fwd_bwd, True),
                                      ("forward (eval, no_grad)", fwd, False)):
                for m in modules.values():
                    m.train(train)
                med = compare({n: wrap(n) for n in modules}, device, repeats, inner, warmup)
                rows.append({"shape": f"B={batch} T={t} E={embed} H={heads}", "mask": masking,
                             "pass": what, "torch_s": med["torch"], "fused_s": med["fused"],
                             "scratch_s": med["scratch"],
                             "fused_over_torch": med["fused"] / med["torch"],
                             "scratch_over_torch": med["scratch"] / med["torch"],
                             "scratch_over_fused": med["scratch"] / med["fused"]})
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    header = ("| shape | mask | pass | torch (ms) | fused (ms) | scratch (ms) | fused/torch | "
              "scratch/torch | scratch/fused |")
    lines = [header, "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['shape']} | {r['mask']} | {r['pass']} | {r['torch_s'] * 1e3:,.2f} | "
                     f"{r['fused_s'] * 1e3:,.2f} | {r['scratch_s'] * 1e3:,.2f} | "
                     f"{r['fused_over_torch']:.2f} | {r['scratch_over_torch']:.2f} | "
                     f"{r['scratch_over_fused']:.2f} |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    info = {"python": platform.python_version(), "torch": torch.__version__,
            "platform": platform.platform(), "processor": platform.processor() or "unknown",
            "threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--batch", type=int, default=32, help="sequences per call (B)")
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 256],
                        help="sequence lengths T to measure")
    parser.add_argument("--embed", type=int, default=256, help="embedding size E")
    parser.add_argument("--heads", type=int, default=8, help="attention heads H")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed blocks per contender (median is reported)")
    parser.add_argument("--inner", type=int, default=2, help="calls per timed block")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls first")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (default 1; 0 keeps torch's default)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("--device cuda asked for, but torch sees no CUDA device; use --device cpu.",
              file=sys.stderr)
        return 2
    if min(args.repeats, args.inner, args.batch, args.embed, args.heads, *args.lengths) < 1 \
            or min(args.warmup, args.threads) < 0 or args.embed % args.heads:
        print("--repeats, --inner, --batch, --embed, --heads and --lengths must be >= 1 (heads "
              "dividing embed), --warmup and --threads >= 0.", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    t0 = time.perf_counter()
    rows = attention_rows(device, args.batch, args.lengths, args.embed, args.heads,
                          args.repeats, args.inner, args.warmup)
    info = machine()
    where = (f"cuda ({info.get('gpu', '?')})" if device.type == "cuda"
             else f"cpu ({info['threads']} thread{'s' if info['threads'] != 1 else ''})")
    print(f"multi-head self-attention, float32, {where}, torch {info['torch']}, median of "
          f"{args.repeats} blocks x {args.inner} calls")
    print()
    print(markdown_table(rows))
    print(f"\n({time.perf_counter() - t0:.1f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "attention", "device": args.device, "batch": args.batch,
                       "lengths": args.lengths, "embed": args.embed, "heads": args.heads,
                       "repeats": args.repeats, "inner": args.inner, "warmup": args.warmup,
                       "machine": info, "results": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
