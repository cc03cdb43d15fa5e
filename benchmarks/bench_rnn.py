"""Benchmark: our step-by-step RNN/GRU/LSTM against torch's fused recurrent kernels.

What it measures, in float32, at a character-level language-model size (batch ``--batch`` = 32,
``--steps`` T = 35, input ``--input-size`` C = 28 one-hot characters, hidden ``--hidden`` H =
256, ``--layers`` 1):

1. ``fused=False`` (our readable per-time-step loop from ``deepnotes.functional.rnn``) against
   ``fused=True`` (the same parameters handed to torch's kernel), for ``RNN``, ``GRU`` and
   ``LSTM``: forward alone (no grad, as in generation) and forward + backward (gradients of
   every parameter under a fixed upstream gradient: one BPTT step without the optimizer);
2. our ``fused=True`` layer against ``torch.nn.RNN`` / ``GRU`` / ``LSTM`` holding the same
   weights (the price of our wrapper: argument checks, building the weight list).

Ours and the reference alternate block by block (so machine drift hits both alike); each
timing is a block of ``--inner`` calls divided by ``--inner``, the table gives the median of
``--repeats`` blocks and the ratio ours/reference (below 1: ours is faster). On CUDA the device
is synchronised around every block. CPU runs use ``--threads`` intra-op threads (default 1;
``--threads 0`` keeps torch's default).

Usage::

    python benchmarks/bench_rnn.py                        # CPU, about a minute
    python benchmarks/bench_rnn.py --device cuda --json rnn.json
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
from _common import add_common_args, compare, describe, machine, markdown, prepare, report

from deepnotes import nn

KINDS = {"RNN": (nn.RNN, torch.nn.RNN), "GRU": (nn.GRU, torch.nn.GRU),
         "LSTM": (nn.LSTM, torch.nn.LSTM)}


def _passes(module: torch.nn.Module, x: torch.Tensor, upstream: torch.Tensor):
    """(forward without grad, forward + backward to every parameter) for one module."""
    params = list(module.parameters())

    def forward():
        with torch.no_grad():
            module(x)

    def forward_backward():
        out, _ = module(x)
        torch.autograd.grad(out, params, upstream)

    return {"forward": forward, "forward+backward": forward_backward}


def rnn_rows(device: torch.device, batch: int, steps: int, input_size: int, hidden: int,
             layers: int, repeats: int, inner: int, warmup: int) -> list[dict[str, Any]]:
    gen = torch.Generator().manual_seed(0)
    # one-hot characters, as a char-level LM feeds them
    chars = torch.randint(0, input_size, (batch, steps), generator=gen)
    x = torch.nn.functional.one_hot(chars, input_size).float().to(device)  # (B, T, C)
    upstream = torch.randn(batch, steps, hidden, generator=gen).to(device)  # (B, T, H)
    shape = f"B={batch} T={steps} C={input_size} H={hidden} L={layers}"
    rows = []
    for kind, (ours_cls, ref_cls) in KINDS.items():
        torch.manual_seed(0)
        ref = ref_cls(input_size, hidden, layers, batch_first=True).to(device)
        fused = ours_cls(input_size, hidden, layers, fused=True).to(device)
        scratch = ours_cls(input_size, hidden, layers, fused=False).to(device)
        fused.load_state_dict(ref.state_dict())
        scratch.load_state_dict(ref.state_dict())
        # the same result from all three, so the timings compare the same work
        with torch.no_grad():
            expected = ref(x)[0]
            torch.testing.assert_close(fused(x)[0], expected, atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(scratch(x)[0], expected, atol=1e-4, rtol=1e-4)
        p_ref, p_fused, p_scratch = (_passes(m, x, upstream) for m in (ref, fused, scratch))
        for what in ("forward", "forward+backward"):
            ours_s, ref_s = compare(p_scratch[what], p_fused[what], device, repeats, inner,
                                    warmup)
            rows.append({"op": f"{kind} {shape}", "pass": what,
                         "compare": "scratch (fused=False) / fused", "ours_s": ours_s,
                         "ref_s": ref_s, "ratio": ours_s / ref_s})
            ours_s, ref_s = compare(p_fused[what], p_ref[what], device, repeats, inner, warmup)
            rows.append({"op": f"{kind} {shape}", "pass": what,
                         "compare": f"ours fused / torch.nn.{kind}", "ours_s": ours_s,
                         "ref_s": ref_s, "ratio": ours_s / ref_s})
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    return markdown(["layer", "pass", "ours / reference", "ours (ms)", "reference (ms)", "ratio"],
                    [[r["op"], r["pass"], r["compare"], f"{r['ours_s'] * 1e3:,.2f}",
                      f"{r['ref_s'] * 1e3:,.2f}", f"{r['ratio']:.2f}"] for r in rows],
                    text_columns=3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32, help="sequences per batch (B)")
    parser.add_argument("--steps", type=int, default=35, help="time steps per sequence (T)")
    parser.add_argument("--input-size", type=int, default=28,
                        help="input features (C): one-hot vocabulary or embedding size")
    parser.add_argument("--hidden", type=int, default=256, help="hidden units (H)")
    parser.add_argument("--layers", type=int, default=1, help="stacked layers (L)")
    add_common_args(parser, repeats=5, inner=2, warmup=1, per="layer and path")
    args = parser.parse_args(argv)
    device = prepare(args, {"--batch": args.batch, "--steps": args.steps,
                            "--input-size": args.input_size, "--hidden": args.hidden,
                            "--layers": args.layers})
    if device is None:
        return 2

    t0 = time.perf_counter()
    rows = rnn_rows(device, args.batch, args.steps, args.input_size, args.hidden, args.layers,
                    args.repeats, args.inner, args.warmup)
    info = machine()
    report(f"recurrent layers, float32, {describe(device, info)}, torch {info['torch']}, "
           f"median of {args.repeats} blocks x {args.inner} calls", markdown_table(rows), t0,
           args.json, {"benchmark": "rnn", "device": args.device, "batch": args.batch,
                      "steps": args.steps, "input_size": args.input_size,
                      "hidden": args.hidden, "layers": args.layers, "repeats": args.repeats,
                      "inner": args.inner, "warmup": args.warmup, "machine": info,
                      "results": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
