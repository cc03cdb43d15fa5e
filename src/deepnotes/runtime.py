"""Seeds and devices: one ``seed`` controls every random number generator; code runs on CPU or CUDA.

Notes: B11 (devices: cpu / cuda:i / device count).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from deepnotes.errors import ConfigError


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and all CUDA devices); return a fresh torch Generator.

    The same seed on the same machine gives the same numbers.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def device_count() -> int:
    """Number of CUDA devices (0 on a CPU-only machine)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/None -> ``cuda`` when available else ``cpu``; validate explicit names.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(
            f"unknown device {device!r}: use 'auto', 'cpu', 'cuda' or 'cuda:N'"
        ) from exc
    if dev.type == "cuda":
        n = device_count()
        if n == 0:
            raise ConfigError(f"device {device!r} asked for but no CUDA device is available; use 'cpu'")
        if dev.index is not None and dev.index >= n:
            raise ConfigError(f"device {device!r} does not exist: this machine has {n} CUDA device(s)")
    return dev


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the previous count.

    ``n = 0`` leaves torch's count as it is (torch's default uses every core, the right choice
    on your own machine). On a shared or busy CPU the threads of one process wait on each
    other while another job holds a core, which can make small operations many times slower:
    there ``n = 1`` (``--threads 1``) is the setting to use.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ConfigError(f"thread count must be an integer >= 0 (0: torch's default), got {n!r}")
    if n == 0:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def is_main_process() -> bool:
    """False on every rank but 0 of a ``torch.distributed`` process group (``torchrun``): only
    the main process writes run files (figures, checkpoints, summaries)."""
    dist = torch.distributed
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0
