"""Suite-wide settings: one torch thread per test process.

The suite runs as two pytest-xdist workers on two cores; a second intra-op thread per worker
only makes the threads wait on each other (measured 6–19x slower conv steps on a busy
2-core machine).
"""

import torch

torch.set_num_threads(1)
