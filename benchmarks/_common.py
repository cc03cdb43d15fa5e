"""Timing helpers every ``bench_*.py`` script shares: device sync, timed blocks, machine facts.

A benchmark compares two callables doing the same work in one process; ``compare`` alternates
their timed blocks so a busy machine slows both alike, and reports the medians.
"""

from __future__ import annotations

import platform
import statistics
import time
from typing import Any, Callable

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


def compare(ours: Callable[[], Any], ref: Callable[[], Any], device: torch.device,
            repeats: int, inner: int, warmup: int) -> tuple[float, float]:
    """Median seconds per call of ``ours`` and ``ref``, measured in alternating blocks."""
    for _ in range(warmup):
        ours()
        ref()
    a, b = [], []
    for _ in range(repeats):
        a.append(time_block(ours, inner, device))
        b.append(time_block(ref, inner, device))
    return statistics.median(a), statistics.median(b)


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
