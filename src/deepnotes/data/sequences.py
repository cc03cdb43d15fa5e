"""Minibatches of subsequences cut from one long token sequence (for language models).

A corpus of L token ids is too long to feed at once, so it is cut into subsequences of
``num_steps`` (T) tokens; the target Y of an input X is X shifted by one token
(X = x_i .. x_{i+T-1}, Y = x_{i+1} .. x_{i+T}). Where the cuts fall depends on a random
offset drawn at the start of every epoch, so all positions get to start a subsequence.

Random sampling: after the offset, the corpus is cut into ⌊(L - off - 1) / T⌋ subsequences which
are shuffled; a batch takes B of them, so neighbouring batches are not neighbours in the text.

Sequential partitioning: after the offset, the usable tokens are laid out as B rows of
contiguous text and each batch is the next T columns, so row j of batch i+1 continues row j of
batch i exactly (a recurrent network may carry its hidden state across batches).

The functions follow d2l's ``seq_data_iter_random`` / ``seq_data_iter_sequential`` (offset in
[0, T-1] for random sampling, [0, T] for sequential partitioning); :class:`SequenceBatches`
wraps them for the Trainer: a fresh offset per epoch from ``(seed, epoch)``, a fixed ``len``,
and ``state_dict`` resume like :class:`~deepnotes.data.loader.MiniBatches`.

Notes: R3.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from deepnotes.data.loader import MiniBatches
from deepnotes.errors import ConfigError

__all__ = ["SequenceBatches", "seq_data_iter_random", "seq_data_iter_sequential"]

Batch = tuple[torch.Tensor, torch.Tensor]


def _as_ids(corpus_ids: Sequence[int] | torch.Tensor | np.ndarray) -> torch.Tensor:
    if isinstance(corpus_ids, (list, tuple)):
        corpus_ids = np.asarray(corpus_ids, dtype=np.int64)
    ids = torch.as_tensor(corpus_ids)
    if ids.dim() != 1 or ids.is_floating_point():
        raise ConfigError(f"corpus_ids must be a 1-D sequence of integer token ids, got "
                          f"{ids.dtype} with shape {tuple(ids.shape)}.")
    return ids.long()


def _check(batch_size: int, num_steps: int) -> None:
    for name, v in (("batch_size", batch_size), ("num_steps", num_steps)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"{name} must be a positive integer, got {v!r}.")


def _random_batches(ids: torch.Tensor, batch_size: int, num_steps: int,
                    rng: np.random.Generator, max_batches: int | None = None) -> Iterator[Batch]:
    T = num_steps
    # a random offset in [0, T-1] so every position can start a subsequence
    ids = ids[int(rng.integers(0, T)):]
    # one token is kept back as the last target
    num_subseqs = (len(ids) - 1) // T
    starts = np.arange(0, num_subseqs * T, T)
    rng.shuffle(starts)
    num_batches = num_subseqs // batch_size
    if max_batches is not None:
        num_batches = min(num_batches, max_batches)
    for b in range(num_batches):
        s = torch.as_tensor(starts[b * batch_size:(b + 1) * batch_size])
        # index[r, t] = start_r + t
        index = s[:, None] + torch.arange(T)[None, :]  # (B, T)
        yield ids[index], ids[index + 1]


def _sequential_batches(ids: torch.Tensor, batch_size: int, num_steps: int,
                        rng: np.random.Generator, max_batches: int | None = None) -> Iterator[Batch]:
    T, B = num_steps, batch_size
    offset = int(rng.integers(0, T + 1))
    num_tokens = ((len(ids) - offset - 1) // B) * B
    Xs = ids[offset:offset + num_tokens].reshape(B, -1)  # (B, L')
    Ys = ids[offset + 1:offset + 1 + num_tokens].reshape(B, -1)  # (B, L')
    num_batches = Xs.shape[1] // T
    if max_batches is not None:
        num_batches = min(num_batches, max_batches)
    for b in range(num_batches):
        yield Xs[:, b * T:(b + 1) * T], Ys[:, b * T:(b + 1) * T]  # (B, T) each


def seq_data_iter_random(corpus_ids: Sequence[int] | torch.Tensor, batch_size: int,
                         num_steps: int, seed: int | None = None) -> Iterator[Batch]:
    """One epoch of random-sampling minibatches (X, Y), Y = X shifted by one token.

    Args:
        corpus_ids: the whole corpus as token ids (list or 1-D tensor).
        batch_size: subsequences per batch (B).
        num_steps: tokens per subsequence (T).
        seed: seeds the offset and the shuffle (``None``: fresh randomness).

    Shape:
        X, Y: (B, T), int64.

    Example:
        >>> X, Y = next(seq_data_iter_random(list(range(35)), batch_size=2, num_steps=5, seed=0))
        >>> X.shape, bool((Y == X + 1).all())
        (torch.Size([2, 5]), True)

    Notes: R3.
    """
    _check(batch_size, num_steps)
    return _random_batches(_as_ids(corpus_ids), batch_size, num_steps, np.random.default_rng(seed))


def seq_data_iter_sequential(corpus_ids: Sequence[int] | torch.Tensor, batch_size: int,
                             num_steps: int, seed: int | None = None) -> Iterator[Batch]:
    """One epoch of sequential-partitioning minibatches (X, Y), Y = X shifted by one token.

    Row j of batch i+1 starts where row j of batch i ended.

    Args:
        corpus_ids: the whole corpus as token ids (list or 1-D tensor).
        batch_size: rows per batch (B).
        num_steps: tokens per row and batch (T).
        seed: seeds the offset (``None``: fresh randomness).

    Shape:
        X, Y: (B, T), int64.

    Example:
        >>> batches = list(seq_data_iter_sequential(list(range(35)), 2, 5, seed=0))
        >>> bool((batches[1][0][:, 0] == batches[0][0][:, -1] + 1).all())
        True

    Notes: R3.
    """
    _check(batch_size, num_steps)
    return _sequential_batches(_as_ids(corpus_ids), batch_size, num_steps,
                               np.random.default_rng(seed))


class SequenceBatches(MiniBatches):
    """Language-model minibatches for the Trainer: an iterable of (X, Y) with a fixed ``len``.

    Every pass is one epoch; epoch ``e`` draws its offset (and, for random sampling, its
    shuffle) from ``(seed, e)``, so runs are reproducible and resumable (``state_dict`` /
    ``load_state_dict`` / ``set_epoch`` as in :class:`MiniBatches`, which this class extends so
    the Trainer treats it the same way). ``len`` is the number of batches of the least
    favourable offset, and every epoch yields exactly that many (at most one batch fewer than
    the plain functions give for some offsets).

    Args:
        corpus_ids: the corpus as token ids.
        batch_size: B.
        num_steps: T.
        sampling: ``"random"`` or ``"sequential"``.
        seed: base seed.

    Attributes:
        sequential: True for sequential partitioning (hidden state may flow between batches).

    Example:
        >>> loader = SequenceBatches(list(range(100)), batch_size=4, num_steps=5, sampling="sequential")
        >>> len(loader), [tuple(x.shape) for x, y in loader][:1]
        (4, [(4, 5)])

    Notes: R3.
    """

    def __init__(self, corpus_ids: Sequence[int] | torch.Tensor, batch_size: int, num_steps: int,
                 sampling: str = "random", seed: int = 0) -> None:
        # MiniBatches.__init__ is not called: this class holds one long sequence, not a tensor
        # dataset; it sets the attributes MiniBatches' epoch/state methods use.
        _check(batch_size, num_steps)
        if sampling not in ("random", "sequential"):
            raise ConfigError(f"sampling must be 'random' or 'sequential', got {sampling!r}.")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
        self.ids = _as_ids(corpus_ids)
        self.batch_size, self.num_steps, self.sampling, self.seed = batch_size, num_steps, sampling, seed
        self.sequential = sampling == "sequential"
        self.n = len(self.ids)
        self.shuffle = not self.sequential
        self.drop_last = True
        self.epoch, self._resume_batch, self._progress = 0, 0, None
        if len(self) == 0:
            raise ConfigError(f"a corpus of {self.n} tokens gives no batch of {batch_size} x "
                              f"{num_steps}; use a longer corpus or smaller batch_size/num_steps.")

    def __len__(self) -> int:
        L, B, T = self.n, self.batch_size, self.num_steps
        if self.sequential:
            # worst offset T: ⌊⌊(L - T - 1) / B⌋ / T⌋ batches
            return max(0, (L - T - 1) // B) // T
        # worst offset T-1: ⌊⌊(L - T) / T⌋ / B⌋ batches
        return max(0, (L - T) // T) // B

    def _rng(self, epoch: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, epoch]))

    def batches(self, epoch: int) -> Iterator[Batch]:
        """All batches of epoch ``epoch`` (without touching the epoch counter)."""
        make = _sequential_batches if self.sequential else _random_batches
        return make(self.ids, self.batch_size, self.num_steps, self._rng(epoch), max_batches=len(self))

    def order(self, epoch: int) -> torch.Tensor:  # MiniBatches API: not meaningful here
        raise ConfigError("SequenceBatches has no example order (its batches are windows of one "
                          "token stream); use batches(epoch) instead")

    def __iter__(self) -> Iterator[Batch]:
        epoch, start = self.epoch, self._resume_batch
        self.epoch, self._resume_batch = epoch + 1, 0
        self._progress = (epoch, start)
        for b, batch in enumerate(self.batches(epoch)):
            if b < start:
                continue
            self._progress = (epoch, b + 1)
            yield batch

    def __repr__(self) -> str:
        return (f"SequenceBatches(tokens={self.n}, batch_size={self.batch_size}, "
                f"num_steps={self.num_steps}, sampling={self.sampling!r}, seed={self.seed}, "
                f"epoch={self.epoch})")
