"""Check that deepnotes runs on a device (B11): every registered model, the Trainer and one
lesson, each compared with the same computation on the CPU.

Usage (from the repository root; run it on a machine with a GPU)::

    python scripts/device_check.py            # the first CUDA device (or the CPU if none)
    python scripts/device_check.py --device cuda:1
    python scripts/device_check.py --device cpu   # a dry run: CPU against CPU

Three checks, each printed as one line with the largest difference seen:

1. **models** — every model of the registry (the small configs of
   ``tests/models/test_all_models.py``), built once with seed 0 and copied to the device:
   outputs and every parameter's gradient equal the CPU's (float32; relative tolerance 1e-3,
   as kernels sum in another order).
2. **trainer** — one epoch of an MLP through :class:`~deepnotes.train.Trainer` on synthetic
   data, same initial weights and batches: the loss of each step equals the CPU's.
3. **lesson** — ``mlp`` in quick mode with ``device=...``: its test accuracy within 0.01 of the
   CPU run.

Exit status 0 when every check passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _to(x, device):
    if isinstance(x, tuple):
        return tuple(t.to(device) for t in x)
    return x.to(device)


def check_models(device: torch.device) -> tuple[bool, str]:
    sys.path.insert(0, str(ROOT))
    from tests.models.test_all_models import SMALL, _call, _input

    from deepnotes import models

    worst, failed = 0.0, []
    for name in sorted(SMALL):
        torch.manual_seed(0)
        cpu = models.create(name, **SMALL[name][0])
        dev = copy.deepcopy(cpu).to(device)
        x = _input(name)
        outs = []
        for model, inp in ((cpu, x), (dev, _to(x, device))):
            model.train(False)
            out = _call(model, inp)
            (out.float() * torch.linspace(-1, 1, out.numel(), device=out.device)
             .reshape(out.shape)).sum().backward()
            outs.append(out.detach().cpu())
        pairs = [(outs[0], outs[1])] + [
            (p.grad, q.grad.cpu()) for p, q in zip(cpu.parameters(), dev.parameters())
            if p.grad is not None and q.grad is not None]
        for a, b in pairs:
            scale = max(1.0, float(a.abs().max()))
            diff = float((a - b).abs().max()) / scale
            worst = max(worst, diff)
            if diff > 1e-3:
                failed.append(name)
                break
    ok = not failed
    return ok, (f"models: {len(SMALL)} checked, largest relative difference {worst:.1e}"
                + ("" if ok else f"; differ: {', '.join(failed)}"))


def check_trainer(device: torch.device) -> tuple[bool, str]:
    from deepnotes import data, models, optim
    from deepnotes.nn import CrossEntropyLoss
    from deepnotes.train import Trainer, TrainConfig
    from deepnotes.train.callbacks import Callback

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(512, 20, generator=g), torch.randint(0, 4, (512,), generator=g)
    losses = {}
    for key, where in (("reference", "cpu"), ("device", str(device))):
        torch.manual_seed(0)
        model = models.create("mlp", in_features=20, hidden=(32,), num_classes=4, dropout=0.0)
        opt = optim.create_optimizer("sgd", model.parameters(), lr=0.1)
        batches = data.MiniBatches(data.ArrayDataset(x, y), batch_size=64, shuffle=True,
                                   seed=0)
        steps: list[float] = []

        class Record(Callback):
            def on_step_end(self, trainer, step, loss):
                steps.append(float(loss))

        trainer = Trainer(model, opt, CrossEntropyLoss(), batches,
                          config=TrainConfig(epochs=1, device=where, progress=False),
                          callbacks=[Record()])
        trainer.fit()
        losses[key] = steps
    a, b = losses["reference"], losses["device"]
    diff = max((abs(p - q) for p, q in zip(a, b)), default=float("inf"))
    ok = len(a) == len(b) > 0 and diff < 1e-4
    return ok, f"trainer: {len(a)} steps, largest loss difference {diff:.1e}"


def check_lesson(device: torch.device) -> tuple[bool, str]:
    import tempfile

    from deepnotes import lessons

    acc, secs = {}, {}
    for key, where in (("reference", "cpu"), ("device", str(device))):
        t0 = time.perf_counter()
        r = lessons.get("mlp").run(out_dir=tempfile.mkdtemp(), quick=True, device=where,
                                   progress=False)
        secs[key] = time.perf_counter() - t0
        acc[key] = r.metrics["test_accuracy"]
    diff = abs(acc["reference"] - acc["device"])
    return diff <= 0.01, (f"lesson mlp (quick): test accuracy {acc['reference']:.4f} on cpu, "
                          f"{acc['device']:.4f} on {device} ({secs['reference']:.1f} s vs "
                          f"{secs['device']:.1f} s)")


def main(argv: list[str] | None = None) -> int:
    from deepnotes.runtime import device_count, resolve_device

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--skip-lesson", action="store_true", help="models and trainer only")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    print(f"torch {torch.__version__}; CUDA devices: {device_count()}; checking on {device}")
    checks = [check_models, check_trainer] + ([] if args.skip_lesson else [check_lesson])
    ok = True
    for check in checks:
        passed, line = check(device)
        ok &= passed
        print(("ok    " if passed else "FAIL  ") + line, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
