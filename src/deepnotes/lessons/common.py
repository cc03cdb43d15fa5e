"""What remains of the lessons' shared plumbing (being emptied into tasks/ and the harness)."""

from __future__ import annotations

import contextlib
from typing import Iterator

from deepnotes.runtime import torch_threads


@contextlib.contextmanager
def cpu_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads (``n <= 0``: leave the setting alone).

    Small convolutions split over threads on a busy machine can be many times slower than on
    one thread (every parallel region waits for the slowest, descheduled, thread): on a shared
    2-core machine a ResNet step took 1.33 s on two threads and 0.21 s on one, so the CNN
    lessons default to one thread.
    """
    if n <= 0:
        yield
        return
    with torch_threads(n):
        yield
