"""Benchmark: the Trainer's overhead per epoch against a plain PyTorch training loop.

What it measures: seconds per epoch of minibatch training of an MLP 784-256-256-10 (ReLU,
float32) on Fashion-MNIST (``--limit`` training images, batch 256, cross-entropy,
``torch.optim.Adam`` in both, so only the loop differs), once with
``deepnotes.train.Trainer`` (over ``MiniBatches``, no validation, no metrics, no progress bar,
no output folder) and once with the loop one writes by hand::

    for epoch ...:
        perm = randperm(n)                      # same seeded order as MiniBatches
        for i in range(0, n, B):
            idx = perm[i:i + B]; xb, yb = x[idx], y[idx]
            loss = cross_entropy(model(xb), yb)
            opt.zero_grad(); loss.backward(); opt.step()
            total += loss.detach() * len(idx)   # the epoch's mean loss, read once per epoch

Both start from the same weights and see the same batches in the same order, so they do the
same arithmetic; the script reports the largest weight difference at the end as a check (0 on
the CPU). Epochs alternate (plain, Trainer, plain, ...) so a busy machine slows both alike; a
Trainer epoch is one ``fit()`` call that continues the previous one. After ``--warmup`` epochs
each, the table gives the median seconds per epoch, examples per second and the ratio
Trainer/plain (1.00 = no overhead). On CUDA the data sit on the GPU and the device is
synchronised at the end of every timed epoch. CPU runs use ``--threads`` intra-op threads
(default 1: on a shared machine several OpenMP threads waiting on each other make timings swing).

Usage::

    python benchmarks/bench_trainer.py                         # CPU, ~15 s
    python benchmarks/bench_trainer.py --device cuda --limit 60000 --epochs 10 --json t.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

import torch
from _common import add_common_args, describe, machine, markdown, prepare, report, time_block
from torch import nn

from deepnotes import data as dn_data
from deepnotes.data import MiniBatches, epoch_permutation
from deepnotes.errors import DeepnotesError
from deepnotes.train import TrainConfig, Trainer

LAYERS = (784, 256, 256, 10)
SEED = 0


def make_mlp(device: torch.device) -> nn.Module:
    torch.manual_seed(SEED)
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(LAYERS[:-1], LAYERS[1:])):
        if i:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(fan_in, fan_out))
    return nn.Sequential(*layers).to(device)


class PlainLoop:
    """The hand-written loop; ``epoch()`` runs one epoch and returns its mean loss."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, lr: float,
                 device: torch.device) -> None:
        self.x, self.y, self.batch_size, self.device = x, y, batch_size, device
        self.model = make_mlp(device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.loss_fn = nn.CrossEntropyLoss()
        self.epochs_done = 0

    def epoch(self) -> float:
        n, bs = len(self.x), self.batch_size
        perm = epoch_permutation(n, SEED, self.epochs_done).to(self.device)
        self.model.train()
        total = torch.zeros((), device=self.device)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            xb, yb = self.x[idx], self.y[idx]
            loss = self.loss_fn(self.model(xb), yb)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            total += loss.detach() * len(idx)
        self.epochs_done += 1
        return float(total) / n


def make_trainer(x: torch.Tensor, y: torch.Tensor, batch_size: int, lr: float,
                 device: torch.device) -> Trainer:
    model = make_mlp(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    cfg = TrainConfig(epochs=1, device=str(device), seed=SEED, progress=False, out_dir=None)
    return Trainer(model, opt, nn.CrossEntropyLoss(), MiniBatches((x, y), batch_size, seed=SEED),
                   config=cfg)


def run(x: torch.Tensor, y: torch.Tensor, device: torch.device, epochs: int, warmup: int,
        batch_size: int, lr: float) -> dict[str, Any]:
    plain = PlainLoop(x, y, batch_size, lr, device)
    trainer = make_trainer(x, y, batch_size, lr, device)
    plain_s, trainer_s, plain_loss = [], [], []
    for e in range(warmup + epochs):
        tp = time_block(lambda: plain_loss.append(plain.epoch()), 1, device)
        trainer.config.epochs = e + 1  # the next fit() trains exactly one more epoch
        tt = time_block(trainer.fit, 1, device)
        if e >= warmup:
            plain_s.append(tp)
            trainer_s.append(tt)
    diff = max((a - b).abs().max().item() for a, b in
               zip(plain.model.state_dict().values(), trainer.model.state_dict().values()))
    n = len(x)
    p, t = statistics.median(plain_s), statistics.median(trainer_s)
    return {
        "plain_s": p, "trainer_s": t, "ratio": t / p,
        "plain_examples_per_s": n / p, "trainer_examples_per_s": n / t,
        "plain_epochs_s": plain_s, "trainer_epochs_s": trainer_s,
        "final_loss_plain": plain_loss[-1],
        "final_loss_trainer": trainer.history.last()["train_loss"],
        "max_weight_diff": diff,
    }


def markdown_table(r: dict[str, Any], n: int, batch_size: int) -> str:
    batches = -(-n // batch_size)
    overhead_ms = (r["trainer_s"] - r["plain_s"]) / batches * 1e3
    table = markdown(["loop", "s/epoch (median)", "examples/s", "Trainer/plain"], [
        ["plain PyTorch", f"{r['plain_s']:.3f}", f"{r['plain_examples_per_s']:,.0f}", "1.00"],
        ["deepnotes Trainer", f"{r['trainer_s']:.3f}", f"{r['trainer_examples_per_s']:,.0f}",
         f"{r['ratio']:.3f}"],
    ])
    return (f"{table}\n\noverhead per step: {overhead_ms:+.3f} ms ({batches} steps/epoch); final "
            f"train loss plain {r['final_loss_plain']:.5f}, Trainer {r['final_loss_trainer']:.5f}; "
            f"largest weight difference {r['max_weight_diff']:.2e}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=20000,
                        help="Fashion-MNIST training images to use (default 20000)")
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per loop (median)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    add_common_args(parser, repeats=None, inner=None, warmup=1, unit="epochs per loop")
    args = parser.parse_args(argv)
    device = prepare(args, {"--limit": args.limit, "--epochs": args.epochs,
                            "--batch-size": args.batch_size})
    if device is None:
        return 2
    try:
        ds = dn_data.load("fashion-mnist", split="train", limit=args.limit, flatten=True)
    except DeepnotesError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    x, y = ds.x.to(device), ds.y.to(device)

    t0 = time.perf_counter()
    result = run(x, y, device, args.epochs, args.warmup, args.batch_size, args.lr)
    info = machine(device)
    report(f"Trainer vs plain loop: MLP {'-'.join(map(str, LAYERS))} on Fashion-MNIST "
           f"({len(x)} images, batch {args.batch_size}, torch.optim.Adam), "
           f"{describe(device, info)}, torch {info['torch']}, median of {args.epochs} "
           f"epochs after {args.warmup} warm-up",
           markdown_table(result, len(x), args.batch_size), t0,
           args.json, {"benchmark": "trainer-epoch", "device": args.device, "layers": LAYERS,
                      "limit": len(x), "batch_size": args.batch_size, "epochs": args.epochs,
                      "warmup": args.warmup, "machine": info, "results": result})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
