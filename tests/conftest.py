"""Suite-wide settings: one torch thread per test process; unexpected CLI errors raise.

The suite runs as two pytest-xdist workers on two cores; a second intra-op thread per worker
only makes the threads wait on each other (measured 6–19x slower conv steps on a busy
2-core machine).
"""

import os

import torch

torch.set_num_threads(1)
# an unexpected exception in `deepnotes ...` raises (with its traceback) instead of printing one
# sentence, so a bug fails the test that meets it
os.environ.setdefault("DEEPNOTES_DEBUG", "1")
