"""Suite-wide settings: one torch thread per test process; unexpected CLI errors raise; the
slow lesson tests are scheduled first.

The suite runs as two pytest-xdist workers on two cores; a second intra-op thread per worker
only makes the threads wait on each other (measured 6–19x slower conv steps on a busy
2-core machine).
"""

import os

import torch

torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """Lesson tests (the quick runs, up to two minutes each) first: the two workers then
    share them out early instead of one worker finishing a long one alone at the end."""
    items.sort(key=lambda item: 0 if "/lessons/" in str(item.path) else 1)
# an unexpected exception in `deepnotes ...` raises (with its traceback) instead of printing one
# sentence, so a bug fails the test that meets it
os.environ.setdefault("DEEPNOTES_DEBUG", "1")
