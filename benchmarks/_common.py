"""Helpers every ``bench_*.py`` script shares: timing, machine facts, options, output.

A benchmark compares callables doing the same work in one process; ``compare_many`` alternates
their timed blocks so a busy machine slows all of them alike, and reports the medians
(``compare`` is the two-way case). ``add_common_args``, ``prepare``, ``describe``,
``markdown`` and ``report`` (``print_report`` + ``write_json``) are the command-line plumbing
around that: the shared options, their checks, the one-line device description, the table,
the printed report and the JSON file.
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


def sync(device: torch.device) -> None:
    """Wait for queued GPU work (a no-op on the CPU), so a timer sees the real end."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_block(fn: Callable[[], Any], inner: int, device: torch.device) -> float:
    """Seconds per call of ``fn``, averaged over ``inner`` back-to-back calls."""
    sync(device)
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    sync(device)
    return (time.perf_counter() - start) / inner


def compare_many(fns: dict[str, Callable[[], Any]], device: torch.device, repeats: int,
                 inner: int, warmup: int) -> dict[str, float]:
    """Median seconds per call of each function in ``fns``, measured in alternating blocks.

    After ``warmup`` untimed rounds (each function once, in order), every one of the
    ``repeats`` rounds times one block of ``inner`` calls of each function in turn.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(time_block(fn, inner, device))
    return {name: statistics.median(t) for name, t in times.items()}


def compare(ours: Callable[[], Any], ref: Callable[[], Any], device: torch.device,
            repeats: int, inner: int, warmup: int) -> tuple[float, float]:
    """Median seconds per call of ``ours`` and ``ref``, measured in alternating blocks."""
    med = compare_many({"ours": ours, "ref": ref}, device, repeats, inner, warmup)
    return med["ours"], med["ref"]


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (``platform.processor()`` is often empty)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine(device: torch.device | None = None) -> dict[str, Any]:
    """Facts a benchmark table must carry: Python, torch, platform, CPU, threads, GPU."""
    info = {"python": platform.python_version(), "torch": torch.__version__,
            "platform": platform.platform(), "processor": cpu_name(),
            "threads": torch.get_num_threads()}
    if (device is None or device.type == "cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(device if device is not None else 0)
    return info


def add_common_args(parser: argparse.ArgumentParser, *, repeats: int | None = 5,
                    inner: int | None = 2, warmup: int | None = 1, unit: str = "calls",
                    per: str = "op and library") -> None:
    """Add ``--device``, ``--repeats``, ``--inner``, ``--warmup``, ``--threads`` and ``--json``.

    ``repeats``, ``inner`` and ``warmup`` are the defaults (``None`` leaves that option out);
    ``unit`` names what is timed (``"steps"``, ``"epochs per loop"``) and ``per`` what gets
    its own timed blocks, both only for the help text.
    """
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    if repeats is not None:
        parser.add_argument("--repeats", type=int, default=repeats,
                            help=f"timed blocks per {per} (median is reported)")
    if inner is not None:
        parser.add_argument("--inner", type=int, default=inner, help=f"{unit} per timed block")
    if warmup is not None:
        parser.add_argument("--warmup", type=int, default=warmup, help=f"untimed {unit} first")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads on the CPU (default 1; 0 keeps torch's "
                             "default)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")


def check_sizes(sizes: dict[str, int]) -> bool:
    """True when every value is >= 1; otherwise say which option is not, on stderr."""
    for option, value in sizes.items():
        if value < 1:
            print(f"{option} must be >= 1, got {value}.", file=sys.stderr)
            return False
    return True


def prepare(args: argparse.Namespace, sizes: dict[str, int]) -> torch.device | None:
    """Check the options and set up torch; the device to run on, or None after an error.

    ``sizes`` maps the script's own option names (``"--batch"``) to values that must be >= 1;
    ``--repeats`` and ``--inner`` must be too, ``--warmup`` and ``--threads`` >= 0 (each where
    the parser has it). A CPU run then uses ``--threads`` intra-op threads (0 keeps torch's
    default). Errors go to stderr; the caller exits with 2.
    """
    if args.device == "cuda" and not torch.cuda.is_available():
        print("--device cuda asked for, but torch sees no CUDA device; use --device cpu.",
              file=sys.stderr)
        return None
    counts = {f"--{name}": getattr(args, name) for name in ("repeats", "inner")
              if hasattr(args, name)}
    if not check_sizes({**sizes, **counts}):
        return None
    for option in ("warmup", "threads"):
        value = getattr(args, option, 0)
        if value < 0:
            print(f"--{option} must be >= 0, got {value}.", file=sys.stderr)
            return None
    device = torch.device(args.device)
    if device.type == "cpu" and getattr(args, "threads", 0):
        torch.set_num_threads(args.threads)
    return device


def describe(device: torch.device, info: dict[str, Any]) -> str:
    """Where it ran, for a table's title: ``"cpu (1 thread)"`` or ``"cuda (<GPU name>)"``."""
    if device.type == "cuda":
        return f"cuda ({info.get('gpu', '?')})"
    threads = info["threads"]
    return f"cpu ({threads} thread{'s' if threads != 1 else ''})"


def markdown(header: list[str], rows: list[list[str]], text_columns: int = 1) -> str:
    """A markdown table of cells already formatted as text.

    The first ``text_columns`` columns are left-aligned, the rest (numbers) right-aligned.
    """
    align = ["---"] * text_columns + ["---:"] * (len(header) - text_columns)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def print_report(title: str, table: str, start: float) -> None:
    """Print the title line, the markdown table and the seconds since ``start``."""
    print(title)
    print()
    print(table)
    print(f"\n({time.perf_counter() - start:.1f} s)")


def write_json(path: str | None, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented JSON to ``path`` (nothing when ``path`` is empty)."""
    if path:
        with open(path, "w") as f:
            json.dump(payload, f, indent=2)


def report(title: str, table: str, start: float, json_path: str | None,
           payload: dict[str, Any]) -> None:
    """``print_report`` the results, then ``write_json`` them when a path was given."""
    print_report(title, table, start)
    write_json(json_path, payload)


def import_transformers() -> Any:
    """The ``transformers`` module, or ``None`` after saying on stderr how to install it."""
    try:
        import transformers
    except ImportError:
        print("this benchmark needs transformers: pip install transformers", file=sys.stderr)
        return None
    return transformers
