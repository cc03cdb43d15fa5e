"""Benchmark: truncated self-attention in blocks (A7) against full attention with a window
mask, as the sequence grows.

All contenders compute the same numbers (checked first): each of ``n`` queries attends to the
keys within ``--window`` positions. Contenders, forward pass only, float32, batch x heads
sequences of ``n`` positions of width ``--dim``:

- **banded (ours)**: :func:`deepnotes.functional.banded_attention`, blocks of ``--block``
  queries against their ``block + 2w`` keys — work and memory grow as n·(block + 2w);
- **full, our formula**: :func:`deepnotes.functional.scaled_dot_product_attention` with
  :func:`~deepnotes.functional.window_mask` — all n² scores, most thrown away;
- **full, torch SDPA**: ``torch.nn.functional.scaled_dot_product_attention`` with the same
  boolean mask (torch's fused kernel; still n² on the CPU).

Reported: ms per call at each n and the ratios full / banded (above 1: banded is faster).

Usage::

    python benchmarks/bench_banded_attention.py                 # ~1 minute on 2 cores
    python benchmarks/bench_banded_attention.py --lengths 256,1024 --repeats 3
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import add_common_args, compare_many, describe, machine, markdown, prepare, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="256,512,1024,2048,4096",
                        help="sequence lengths, comma-separated")
    parser.add_argument("--window", type=int, default=32, help="w: keys within w positions")
    parser.add_argument("--block", type=int, default=64, help="queries per block")
    parser.add_argument("--batch", type=int, default=4, help="batch x heads sequences")
    parser.add_argument("--dim", type=int, default=64, help="query/key/value width")
    add_common_args(parser, repeats=5, inner=2, warmup=1, per="length and contender")
    args = parser.parse_args(argv)
    lengths = [int(x) for x in args.lengths.split(",") if x.strip()]
    if args.window < 0 or not lengths:
        print("--window must be >= 0 and --lengths must name at least one length.")
        return 2
    device = prepare(args, {"--block": args.block, "--batch": args.batch, "--dim": args.dim,
                            "--lengths": min(lengths)})
    if device is None:
        return 2
    from torch.nn import functional as TF

    from deepnotes.functional import banded_attention, scaled_dot_product_attention, window_mask

    t0 = time.perf_counter()
    g = torch.Generator().manual_seed(0)
    rows = []
    for n in lengths:
        q, k, v = (torch.randn(args.batch, n, args.dim, generator=g).to(device) for _ in range(3))
        keep = window_mask(n, args.window, device=device)
        fns = {
            "banded (ours)": lambda: banded_attention(q, k, v, args.window, block=args.block),
            "full, our formula": lambda: scaled_dot_product_attention(q, k, v,
                                                                      attn_mask=keep)[0],
            "full, torch SDPA": lambda: TF.scaled_dot_product_attention(q, k, v,
                                                                        attn_mask=keep),
        }
        with torch.no_grad():
            want = fns["full, torch SDPA"]()
            for name, fn in fns.items():
                if not torch.allclose(fn(), want, atol=1e-4):
                    print(f"{name} differs from torch SDPA at n={n}")
                    return 1
            med = compare_many(fns, device, args.repeats, args.inner, args.warmup)
        rows.append({"n": n, **{name: med[name] * 1e3 for name in fns},
                     "full_formula_over_banded": med["full, our formula"] / med["banded (ours)"],
                     "sdpa_over_banded": med["full, torch SDPA"] / med["banded (ours)"]})
    table = markdown(["n", "banded ms", "full (formula) ms", "full (SDPA) ms",
                      "formula / banded", "SDPA / banded"],
                     [[str(r["n"]), f"{r['banded (ours)']:.2f}", f"{r['full, our formula']:.2f}",
                       f"{r['full, torch SDPA']:.2f}", f"{r['full_formula_over_banded']:.1f}",
                       f"{r['sdpa_over_banded']:.1f}"] for r in rows])
    info = machine(device)
    report(f"windowed self-attention (w = {args.window}, block {args.block}), forward, "
           f"{args.batch} sequences x d {args.dim}, float32, {describe(device, info)}, torch "
           f"{info['torch']}, median of {args.repeats} blocks x {args.inner} calls", table, t0,
           args.json, {"benchmark": "banded-attention", "window": args.window,
                       "block": args.block, "machine": info, "results": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
