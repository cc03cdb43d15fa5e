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
import sys
import time
from typing import Any

import torch
from _common import add_common_args, compare_many, describe, machine, markdown, prepare, report
from torch import nn as tnn

from deepnotes import nn
from deepnotes.functional import causal_mask


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
                med = compare_many({n: wrap(n) for n in modules}, device, repeats, inner, warmup)
                rows.append({"shape": f"B={batch} T={t} E={embed} H={heads}", "mask": masking,
                             "pass": what, "torch_s": med["torch"], "fused_s": med["fused"],
                             "scratch_s": med["scratch"],
                             "fused_over_torch": med["fused"] / med["torch"],
                             "scratch_over_torch": med["scratch"] / med["torch"],
                             "scratch_over_fused": med["scratch"] / med["fused"]})
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    header = ["shape", "mask", "pass", "torch (ms)", "fused (ms)", "scratch (ms)", "fused/torch",
              "scratch/torch", "scratch/fused"]
    return markdown(header, [[r["shape"], r["mask"], r["pass"],
                              *(f"{r[k] * 1e3:,.2f}" for k in ("torch_s", "fused_s", "scratch_s")),
                              *(f"{r[k]:.2f}" for k in ("fused_over_torch", "scratch_over_torch",
                                                        "scratch_over_fused"))] for r in rows],
                    text_columns=3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32, help="sequences per call (B)")
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 256],
                        help="sequence lengths T to measure")
    parser.add_argument("--embed", type=int, default=256, help="embedding size E")
    parser.add_argument("--heads", type=int, default=8, help="attention heads H")
    add_common_args(parser, repeats=5, inner=2, warmup=1, per="contender")
    args = parser.parse_args(argv)
    device = prepare(args, {"--batch": args.batch, "--lengths": min(args.lengths),
                            "--embed": args.embed, "--heads": args.heads})
    if device is None:
        return 2
    if args.embed % args.heads:
        print(f"--heads {args.heads} must divide --embed {args.embed}.", file=sys.stderr)
        return 2

    t0 = time.perf_counter()
    rows = attention_rows(device, args.batch, args.lengths, args.embed, args.heads,
                          args.repeats, args.inner, args.warmup)
    info = machine()
    report(f"multi-head self-attention, float32, {describe(device, info)}, torch "
           f"{info['torch']}, median of {args.repeats} blocks x {args.inner} calls",
           markdown_table(rows), t0,
           args.json, {"benchmark": "attention", "device": args.device, "batch": args.batch,
                      "lengths": args.lengths, "embed": args.embed, "heads": args.heads,
                      "repeats": args.repeats, "inner": args.inner, "warmup": args.warmup,
                      "machine": info, "results": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
