"""Minibatches: cut an in-memory dataset into batches, reshuffled every epoch.

Minibatch SGD (B8): one *epoch* sees every example once; it is cut into batches of
``batch_size`` examples, and each batch gives one gradient step. Shuffling before every epoch
makes the batches different each time.

:func:`data_iter` is the readable generator of the notes. :class:`MiniBatches` is the one to
train with: it indexes whole tensors at once (no per-example Python work or collate), its
shuffle is a deterministic function of ``(seed, epoch)``, and its ``state_dict`` lets a
resumed run see exactly the batches an uninterrupted run would have seen.

Data-parallel training (``torchrun``, :mod:`deepnotes.train.distributed`) shards a
:class:`MiniBatches` with ``rank``/``world_size``: every rank draws the same permutation and the
same global batches, and takes its own contiguous slice of each, so the ``W`` ranks together
see exactly the batches one process would (the per-rank batch is ``batch_size / W``).

Example:
    >>> import torch
    >>> batches = MiniBatches((torch.arange(10.0), torch.arange(10)), batch_size=4, seed=0)
    >>> len(batches), [len(xb) for xb, yb in batches]
    (3, [4, 4, 2])

Notes: B8.
"""

from __future__ import annotations

import random
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from deepnotes.data.datasets import ArrayDataset
from deepnotes.errors import CheckpointError, ConfigError, ShapeError
from deepnotes.runtime import resolve_device


def data_iter(
    batch_size: int, features: torch.Tensor, labels: torch.Tensor, seed: int | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield shuffled minibatches ``(features[batch], labels[batch])``: the notes' version.

    Args:
        batch_size: examples per batch (the last one may be smaller).
        features: :math:`(N, *)` inputs.
        labels: :math:`(N, *)` targets.
        seed: seed for the shuffle; None uses Python's global ``random``.

    Example:
        >>> X, y = torch.randn(10, 2), torch.randn(10, 1)
        >>> [len(xb) for xb, yb in data_iter(4, X, y, seed=0)]
        [4, 4, 2]

    Notes: B8.
    """
    _check_batch_size(batch_size)
    num_examples = len(features)
    indices = list(range(num_examples))
    # the examples are read in random order
    (random.Random(seed) if seed is not None else random).shuffle(indices)
    for i in range(0, num_examples, batch_size):
        batch_indices = torch.tensor(indices[i : min(i + batch_size, num_examples)])
        yield features[batch_indices], labels[batch_indices]


def _check_batch_size(batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled order of ``range(n)`` for ``(seed, epoch)``: same inputs, same order.

    The torch generator is seeded from NumPy's ``SeedSequence([seed, epoch])``, which mixes
    the two numbers so nearby (seed, epoch) pairs give unrelated orders.
    """
    mixed = int(np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0])
    gen = torch.Generator().manual_seed(mixed)
    return torch.randperm(n, generator=gen)


class MiniBatches:
    """An iterable of minibatches over in-memory tensors, freshly shuffled every epoch.

    Each pass (``for xb, yb in batches``) is one epoch. The order of epoch ``e`` is
    :func:`epoch_permutation` ``(n, seed, e)``. Iterating advances the epoch counter by itself;
    ``set_epoch(e)`` sets it explicitly. ``state_dict()`` taken between batches records the
    epoch and how many of its batches were consumed, and ``load_state_dict`` resumes there.

    Args:
        data: an :class:`ArrayDataset`, a tuple of tensors with the same first dimension,
            or one tensor.
        batch_size: examples per batch (>= 1).
        shuffle: reshuffle every epoch (False: the stored order, batches are views).
        seed: seed of the shuffles. Default: 0.
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        device: move the tensors there once, up front (``"auto"``, ``"cpu"``, ``"cuda"``);
            None leaves them where they are.
        rank, world_size: serve only rank ``rank``'s slice of every global batch (see
            :meth:`shard`). Default: ``0`` of ``1``, the whole batch.

    Attributes:
        last_share: ``(examples of this rank, examples of the global batch)`` of the batch
            served last; a rank whose slice of a tiny last batch is empty gets one stand-in
            example and a share of ``0`` (weight it by the share, never by its length).

    Shape:
        - yields a tuple with one :math:`(B, *)` tensor per input tensor (B <= batch_size).

    Example:
        >>> x, y = torch.randn(100, 3), torch.randint(0, 2, (100,))
        >>> batches = MiniBatches((x, y), batch_size=32, drop_last=True)
        >>> len(batches), next(iter(batches))[0].shape
        (3, torch.Size([32, 3]))

    Notes: B8.
    """

    def __init__(
        self,
        data: ArrayDataset | Sequence[torch.Tensor] | torch.Tensor,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        device: str | torch.device | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        _check_batch_size(batch_size)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
        if isinstance(data, ArrayDataset):
            tensors = data.tensors
        elif isinstance(data, torch.Tensor):
            tensors = (data,)
        else:
            tensors = tuple(data)
        if not tensors or not all(isinstance(t, torch.Tensor) and t.dim() >= 1 for t in tensors):
            raise ConfigError("data must be an ArrayDataset, a tensor, or a tuple of tensors with a batch dimension")
        sizes = [t.shape[0] for t in tensors]
        if len(set(sizes)) != 1:
            raise ShapeError(f"all tensors must share the first (example) dimension, got sizes {sizes}")
        if device is not None:
            dev = resolve_device(device)
            tensors = tuple(t.to(dev) for t in tensors)
        self.tensors: tuple[torch.Tensor, ...] = tensors
        self.n = sizes[0]
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0  # the epoch the next fresh pass will use
        self._resume_batch = 0  # batches to skip at the start of the next pass (after a resume)
        self._progress: tuple[int, int] | None = None  # (epoch, batches consumed) of the pass underway
        self.rank, self.world_size = 0, 1
        self.last_share: tuple[int, int] = (0, 0)
        self.shard(rank, world_size)

    def __len__(self) -> int:
        # batches per epoch = ⌊n / B⌋ with drop_last, else ⌈n / B⌉
        if self.drop_last:
            return self.n // self.batch_size
        return (self.n + self.batch_size - 1) // self.batch_size

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass epoch ``epoch`` (from its first batch)."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ConfigError(f"epoch must be a non-negative integer, got {epoch!r}")
        self.epoch = epoch
        self._resume_batch = 0
        self._progress = None

    def shard(self, rank: int, world_size: int) -> None:
        """Serve rank ``rank``'s slice of every global batch of ``batch_size`` examples.

        A global batch of :math:`m` examples gives rank :math:`r` the examples
        :math:`\\lfloor rm/W \\rfloor .. \\lfloor (r+1)m/W \\rfloor - 1` of it, so the slices
        differ by at most one example and cover the batch. The order, the number of batches
        per epoch and :meth:`state_dict` do not depend on the shard: every rank steps in
        lockstep, and a checkpoint resumes with any number of ranks.
        """
        if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
            raise ConfigError(f"world_size must be a positive integer, got {world_size!r}")
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < world_size:
            raise ConfigError(f"rank must be an integer in [0, {world_size}), got {rank!r}")
        if self.batch_size < world_size:
            raise ConfigError(f"batch_size {self.batch_size} is smaller than the {world_size} "
                              f"processes; use a global batch of at least one example per rank")
        self.rank, self.world_size = rank, world_size

    def order(self, epoch: int) -> torch.Tensor:
        """Example indices of epoch ``epoch`` in the order they are served."""
        if not self.shuffle:
            return torch.arange(self.n)
        return epoch_permutation(self.n, self.seed, epoch)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        epoch, start = self.epoch, self._resume_batch
        self.epoch, self._resume_batch = epoch + 1, 0
        num_batches = len(self)
        self._progress = (epoch, start)
        order = self.order(epoch).to(self.tensors[0].device) if self.shuffle else None
        for b in range(start, num_batches):
            lo, hi = b * self.batch_size, min((b + 1) * self.batch_size, self.n)
            m = share = hi - lo
            if self.world_size > 1:
                # this rank's slice [⌊r·m/W⌋, ⌊(r+1)·m/W⌋) of the global batch [lo, hi)
                r, w = self.rank, self.world_size
                lo, hi = lo + r * m // w, lo + (r + 1) * m // w
                share = hi - lo
                if share == 0:  # fewer examples than ranks: a stand-in example, weight 0
                    hi = lo + 1
            self.last_share = (share, m)
            if order is None:
                batch = tuple(t[lo:hi] for t in self.tensors)  # views, no copy
            else:
                idx = order[lo:hi]
                batch = tuple(t.index_select(0, idx) for t in self.tensors)
            # count the batch as consumed before handing it out, so a state_dict taken while
            # the caller trains on it resumes at the next one
            self._progress = (epoch, b + 1)
            yield batch

    def state_dict(self) -> dict[str, int]:
        """``{"seed", "epoch", "batch"}``: resume at batch ``batch`` of epoch ``epoch``."""
        if self._progress is not None and self._progress[1] < len(self):
            epoch, batch = self._progress
        else:
            epoch, batch = self.epoch, self._resume_batch
        return {"seed": self.seed, "epoch": epoch, "batch": batch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict`: the next pass continues that epoch at that batch."""
        missing = [k for k in ("seed", "epoch", "batch") if k not in state]
        if missing:
            raise CheckpointError(f"MiniBatches state is missing key(s) {missing}; got keys {sorted(state)}")
        epoch, batch, seed = (int(state[k]) for k in ("epoch", "batch", "seed"))
        if epoch < 0 or seed < 0 or not 0 <= batch <= len(self):
            raise CheckpointError(
                f"MiniBatches state {dict(state)} does not fit {len(self)} batches per epoch"
            )
        self.seed, self.epoch, self._resume_batch = seed, epoch, batch
        self._progress = None

    def __repr__(self) -> str:
        return (
            f"MiniBatches(n={self.n}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"seed={self.seed}, drop_last={self.drop_last}, epoch={self.epoch})"
        )
