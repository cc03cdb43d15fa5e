"""Benchmark: where ``precision="bf16"`` and ``compile=True`` pay, one training step at a time.

What it measures: the wall time of one training step (forward, cross-entropy, backward,
SGD-momentum step) of a registered image model on a fixed random batch of ``--batch``
Fashion-MNIST-sized images (1×28×28, 10 classes), in four settings: eager or
``torch.compile``-d, float32 or bfloat16 autocast around forward and loss. The step is the
Trainer's (:mod:`deepnotes.train.precision` supplies the autocast context and the compiled
model). The compiled model is compiled (and the first autocast step run) before the clock
starts; its compile time is reported on its own. Each timing is the median over
``--repeats`` blocks of ``--inner`` steps, the four settings' blocks alternating; the table
gives the speed-up over eager float32 (above 1: faster).

Usage::

    python benchmarks/bench_precision.py --threads 0          # CPU, all cores, ~3 min
    python benchmarks/bench_precision.py --device cuda --models resnet --batch 256
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
from _common import add_common_args, compare_many, describe, machine, markdown, prepare, report

from deepnotes import models
from deepnotes.optim import SGD
from deepnotes.train.precision import autocast, compile_model

SETTINGS = [("eager", "32"), ("eager", "bf16"), ("compiled", "32"), ("compiled", "bf16")]


def make_step(model: torch.nn.Module, forward: torch.nn.Module, precision: str,
              device: torch.device, batch: int) -> Any:
    """One Trainer-like step on a fixed batch (a closure over its own optimizer)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 1, 28, 28, generator=gen).to(device)
    y = torch.randint(0, 10, (batch,), generator=gen).to(device)
    opt = SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step() -> None:
        with autocast(precision, device):
            loss = torch.nn.functional.cross_entropy(forward(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def bench_model(name: str, device: torch.device, args: argparse.Namespace) -> list[dict]:
    steps, compile_s = {}, {}
    for mode, precision in SETTINGS:
        torch.manual_seed(0)
        model = models.create(name, in_channels=1, num_classes=10).to(device).train()
        forward = compile_model(model) if mode == "compiled" else model
        step = make_step(model, forward, precision, device, args.batch)
        t0 = time.perf_counter()
        step()  # eager: warm-up; compiled: traces and compiles (forward and backward)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        compile_s[(mode, precision)] = time.perf_counter() - t0
        steps[(mode, precision)] = step
    med = compare_many({f"{m}-{p}": fn for (m, p), fn in steps.items()}, device, args.repeats,
                       args.inner, args.warmup)
    base = med["eager-32"]
    return [{"model": name, "mode": m, "precision": p, "step_s": med[f"{m}-{p}"],
             "speedup": base / med[f"{m}-{p}"],
             "compile_s": compile_s[(m, p)] if m == "compiled" else None} for m, p in SETTINGS]


def markdown_table(rows: list[dict[str, Any]]) -> str:
    return markdown(["model", "mode", "precision", "ms/step", "vs eager fp32", "compile (s)"],
                    [[r["model"], r["mode"], "fp32" if r["precision"] == "32" else r["precision"],
                      f"{r['step_s'] * 1e3:,.1f}", f"{r['speedup']:.2f}",
                      f"{r['compile_s']:.1f}" if r["compile_s"] is not None else "–"]
                     for r in rows], text_columns=3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=["lenet-modern", "resnet"],
                        help="registered image models (default: lenet-modern resnet)")
    parser.add_argument("--batch", type=int, default=128, help="images per step")
    add_common_args(parser, repeats=5, inner=3, warmup=1, unit="steps",
                    per="model and setting")
    args = parser.parse_args(argv)
    device = prepare(args, {"--batch": args.batch})
    if device is None:
        return 2
    t0 = time.perf_counter()
    rows = [r for name in args.models for r in bench_model(name, device, args)]
    info = machine(device)
    report(f"training step (batch {args.batch}, 1x28x28, SGD momentum), "
           f"{describe(device, info)}, torch {info['torch']}, median of {args.repeats} blocks "
           f"x {args.inner} steps", markdown_table(rows), t0, args.json,
           {"benchmark": "precision-compile", "device": args.device, "batch": args.batch,
            "repeats": args.repeats, "inner": args.inner, "machine": info, "results": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
