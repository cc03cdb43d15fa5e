"""Benchmark: the cost of one ``optimizer.step()``, deepnotes.optim against torch.optim.

What it measures: the wall time of ``step()`` alone (no forward or backward pass) on the
parameters of an MLP 784-256-256-10 in float32 (six tensors, 269,322 weights) whose ``.grad``
holds fixed random numbers. For each optimizer (sgd, momentum, adagrad, rmsprop, adam, adamw)
and each code path (``loop``: ``foreach=False``, one tensor at a time; ``foreach``: the
``torch._foreach_*`` multi-tensor ops; ``fused``: ``fused=True``, torch's fused kernels, for
all but rmsprop, which has none), ours and torch's run with the same hyperparameters and the
same path. After a warm-up, each timing is a block of ``--inner`` steps divided by
``--inner``; ours and torch's blocks alternate so drift hits both alike, and the table reports
the median over ``--repeats`` blocks, the ratio ours/torch (below 1: ours is faster) and our
path's speed-up over our own loop (``our loop/ours``). On CUDA the device is synchronised
around every block. CPU runs use ``--threads`` intra-op threads (default 1: on a shared or
busy machine, several OpenMP threads waiting on each other make the timings of these small,
memory-bound updates swing by 100x).

Usage::

    python benchmarks/bench_optim.py                       # CPU, ~10 s
    python benchmarks/bench_optim.py --device cuda --repeats 50 --json optim.json
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
from _common import add_common_args, compare, describe, machine, markdown, prepare, report

import deepnotes.optim as dn

# name -> (our class, torch's class, hyperparameters shared by both)
OPTIMIZERS: dict[str, tuple[type, type, dict[str, Any]]] = {
    "sgd": (dn.SGD, torch.optim.SGD, dict(lr=0.01)),
    "momentum": (dn.SGD, torch.optim.SGD, dict(lr=0.01, momentum=0.9)),
    "adagrad": (dn.Adagrad, torch.optim.Adagrad, dict(lr=0.01)),
    "rmsprop": (dn.RMSprop, torch.optim.RMSprop, dict(lr=0.001)),
    "adam": (dn.Adam, torch.optim.Adam, dict(lr=0.001)),
    "adamw": (dn.AdamW, torch.optim.AdamW, dict(lr=0.001, weight_decay=0.01)),
}

LAYERS = (784, 256, 256, 10)
#: code path -> the keyword arguments that pick it
PATHS: dict[str, dict[str, bool]] = {"loop": {"foreach": False}, "foreach": {"foreach": True},
                                     "fused": {"fused": True}}
#: optimizers without a fused kernel in torch
NO_FUSED = {"rmsprop"}


def mlp_params(device: torch.device, seed: int = 0) -> list[torch.nn.Parameter]:
    """The weights and biases of an MLP 784-256-256-10 (float32), each with a random ``.grad``."""
    gen = torch.Generator().manual_seed(seed)
    params = []
    for fan_in, fan_out in zip(LAYERS[:-1], LAYERS[1:]):
        for shape in ((fan_out, fan_in), (fan_out,)):
            p = torch.nn.Parameter(torch.randn(shape, generator=gen).mul_(0.05).to(device))
            p.grad = torch.randn(shape, generator=gen).mul_(0.01).to(device)
            params.append(p)
    return params


def bench_one(name: str, path: str, device: torch.device, repeats: int, inner: int,
              warmup: int) -> dict[str, Any]:
    """Median seconds per ``step()`` for ours and torch's on the same work and path."""
    ours_cls, torch_cls, hyper = OPTIMIZERS[name]
    ours = ours_cls(mlp_params(device), **PATHS[path], **hyper)
    ref = torch_cls(mlp_params(device), **PATHS[path], **hyper)
    ours_s, ref_s = compare(ours.step, ref.step, device, repeats, inner, warmup)
    return {"optimizer": name, "path": path, "ours_s": ours_s, "torch_s": ref_s,
            "ratio": ours_s / ref_s}


def markdown_table(rows: list[dict[str, Any]]) -> str:
    loop = {r["optimizer"]: r["ours_s"] for r in rows if r["path"] == "loop"}

    def speedup(r: dict[str, Any]) -> str:
        return f"{loop[r['optimizer']] / r['ours_s']:.2f}" if r["optimizer"] in loop else "–"

    return markdown(["optimizer", "path", "ours (µs/step)", "torch (µs/step)", "ours/torch",
                     "our loop/ours"],
                    [[r["optimizer"], r["path"], f"{r['ours_s'] * 1e6:,.1f}",
                      f"{r['torch_s'] * 1e6:,.1f}", f"{r['ratio']:.2f}", speedup(r)]
                     for r in rows], text_columns=2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=list(OPTIMIZERS), default=list(OPTIMIZERS),
                        help="optimizers to run (default: all)")
    parser.add_argument("--paths", nargs="*", choices=list(PATHS), default=list(PATHS),
                        help="code paths to run (default: all; fused is skipped for rmsprop)")
    add_common_args(parser, repeats=30, inner=10, warmup=10, unit="steps",
                    per="optimizer and library")
    args = parser.parse_args(argv)
    device = prepare(args, {})
    if device is None:
        return 2

    t0 = time.perf_counter()
    rows = [bench_one(name, path, device, args.repeats, args.inner, args.warmup)
            for name in args.only for path in args.paths
            if not (path == "fused" and name in NO_FUSED)]
    info = machine()
    report(f"optimizer.step() on MLP {'-'.join(map(str, LAYERS))} float32, "
           f"{describe(device, info)}, torch {info['torch']}, median of {args.repeats} "
           f"blocks x {args.inner} steps", markdown_table(rows), t0,
           args.json, {"benchmark": "optim-step", "device": args.device, "layers": LAYERS,
                      "repeats": args.repeats, "inner": args.inner, "warmup": args.warmup,
                      "machine": info, "results": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
