"""Run folders built by hand, shaped like those `deepnotes run` and `deepnotes train` write
(see src/deepnotes/cli.py cmd_run and src/deepnotes/train/job.py run_job)."""

from __future__ import annotations

import csv
import json
import struct
import zlib
from pathlib import Path
from typing import Any

from deepnotes.config import save_toml

SCRIPT = "<script>alert(1)</script>"


def tiny_png(width: int = 4, height: int = 3, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A valid RGB PNG of one colour (signature, IHDR, one zlib IDAT, IEND)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))  # filter 0 per row
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def lesson_run(folder: Path, *, lesson: str = "toy-lesson", seed: int = 0, lr: float = 0.1,
               claim: str = "a bigger lr converges faster", metrics: dict | None = None,
               tables: dict | None = None, history: list[dict] | None = None,
               git: str = "abc1234", seconds: float = 12.5,
               figures: tuple[str, ...] = ("curves.png",)) -> Path:
    """A finished `deepnotes run` folder."""
    folder.mkdir(parents=True, exist_ok=True)
    save_toml({"lesson": lesson,
               "config": {"quick": True, "seed": seed, "threads": 0, "lr": lr,
                          "hidden": [8, 4]},
               "versions": {"deepnotes": "0.1.0", "torch": "2.x", "git": git}},
              folder / "config.toml")
    history = history if history is not None else [
        {"epoch": e, "step": 10 * e, "train_loss": 1.0 / e + seed, "val_loss": 1.2 / e + seed,
         "val_accuracy": 0.5 + 0.1 * e, "seconds": 0.5} for e in range(1, 4)]
    if history:
        write_csv(history, folder / "metrics.csv")
    metrics = metrics if metrics is not None else {
        "test_accuracy": 0.8 + 0.01 * seed, "train_seconds": 3.0, "final_loss": 0.3 - 0.1 * seed}
    tables = tables if tables is not None else {
        "samples": [{"prefix": "the time", "text": "the time traveller said hello"}]}
    for name, rows in tables.items():
        write_csv(rows, folder / f"{name}.csv")
    for name in figures:
        (folder / name).write_bytes(tiny_png())
    summary = {"lesson": lesson, "claim": claim, "concepts": ["B2", "O9"], "metrics": metrics,
               "figures": [f"runs/elsewhere/{name}" for name in figures], "seconds": seconds,
               "tables": tables, "checkpoint": None}
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    return folder


def train_run(folder: Path, *, model: str = "mlp", data: str = "digits", epochs: int = 2) -> Path:
    """A finished `deepnotes train` folder."""
    folder.mkdir(parents=True, exist_ok=True)
    info = {"name": model, "config": {"in_features": 64, "hidden": [32], "num_classes": 10}}
    job = {"epochs": epochs, "batch_size": 64, "optimizer": "adam", "lr": 0.001, "seed": 0}
    save_toml({"model": info, "data": data, "job": job, "resumed": False}, folder / "config.toml")
    history = [{"epoch": e, "step": 6 * e, "train_loss": 2.0 / e, "train_accuracy": 0.3 * e,
                "val_loss": 2.1 / e, "val_accuracy": 0.28 * e, "lr": 0.001, "seconds": 0.25,
                "examples_per_sec": 1000.0} for e in range(1, epochs + 1)]
    write_csv(history, folder / "metrics.csv")
    (folder / "loss.png").write_bytes(tiny_png())
    summary = {"model": info, "data": data, "job": job, "final": history[-1],
               "test_loss": 1.1, "test_accuracy": 0.61}
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    return folder
