"""Validation splits: hold out a part of the training data, or N-fold cross-validation.

The notes (G3): pick the model by its loss on data it was not trained on. A *holdout* split
keeps a fraction of the training set aside; *N-fold cross-validation* cuts the set into N
folds, trains N times, each time validating on one fold and training on the other N-1, and
averages the N validation losses. Every example is validated on exactly once.

Example:
    >>> train_idx, val_idx = holdout_split(10, val_fraction=0.2, seed=0)
    >>> len(train_idx), len(val_idx)
    (8, 2)
    >>> [len(v) for _, v in kfold_indices(10, k=3)]
    [4, 3, 3]

Notes: G3.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Iterator

import torch

from deepnotes.data.datasets import ArrayDataset
from deepnotes.errors import ConfigError, ShapeError


def _size_of(n_or_dataset: int | ArrayDataset) -> int:
    if isinstance(n_or_dataset, ArrayDataset):
        return len(n_or_dataset)
    if isinstance(n_or_dataset, bool) or not isinstance(n_or_dataset, int) or n_or_dataset < 0:
        raise ConfigError(f"expected a dataset or a number of examples >= 0, got {n_or_dataset!r}")
    return n_or_dataset


def _labels(n_or_dataset: int | ArrayDataset, stratify: Any, n: int) -> torch.Tensor | None:
    """The class labels to stratify by, or None for a plain random split."""
    if stratify is None or stratify is False:
        return None
    if stratify is True:
        if not isinstance(n_or_dataset, ArrayDataset) or n_or_dataset.task != "classification":
            raise ConfigError(
                "stratify=True needs a classification dataset; pass stratify=<labels> with a number"
            )
        labels = n_or_dataset.y
    else:
        labels = torch.as_tensor(stratify)
    if labels.dim() != 1 or labels.shape[0] != n:
        raise ShapeError(f"stratify labels must have shape ({n},), got {tuple(labels.shape)}")
    return labels


def _generator(seed: int) -> torch.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return torch.Generator().manual_seed(seed)


def _proportional(counts: list[int], total: int) -> list[int]:
    """Split ``total`` over groups in proportion to ``counts`` (largest-remainder rounding).

    quota_c = total · n_c / Σ n ; floor every quota, then give the leftover units to the
    largest fractional parts (ties: the earlier group).
    """
    n = sum(counts)
    quotas = [total * c / n for c in counts]
    alloc = [math.floor(q) for q in quotas]
    by_remainder = sorted(range(len(counts)), key=lambda i: (-(quotas[i] - alloc[i]), i))
    for i in by_remainder[: total - sum(alloc)]:
        alloc[i] += 1
    return alloc


def holdout_split(
    n_or_dataset: int | ArrayDataset,
    val_fraction: float = 0.2,
    seed: int = 0,
    stratify: Any = None,
) -> tuple[Any, Any]:
    """Hold out a random ``val_fraction`` of the examples for validation.

    :math:`n_{val} = \\mathrm{round}(n \\cdot f)`, :math:`n_{train} = n - n_{val}`. With
    stratification each class c gives :math:`\\approx n_c \\cdot f` examples (largest-remainder
    rounding, so the total is still :math:`n_{val}`) and class proportions are kept.

    Args:
        n_or_dataset: a number of examples ``n`` or an :class:`ArrayDataset`.
        val_fraction: fraction held out, in (0, 1). Default: 0.2.
        seed: the split is a deterministic function of the seed. Default: 0.
        stratify: None (plain), True (use the dataset's labels) or a 1-D tensor of labels.

    Returns:
        ``(train_idx, val_idx)``: sorted int64 tensors, disjoint, covering ``range(n)``; or
        ``(train_dataset, val_dataset)`` when given a dataset.

    Example:
        >>> tr, va = holdout_split(5, val_fraction=0.4, seed=1)
        >>> sorted(tr.tolist() + va.tolist())
        [0, 1, 2, 3, 4]

    Notes: G3.
    """
    n = _size_of(n_or_dataset)
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, numbers.Real) \
            or not 0.0 < float(val_fraction) < 1.0:
        raise ConfigError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction!r}")
    # n_val = round(n · f), half rounding up
    n_val = math.floor(n * val_fraction + 0.5)
    if n_val < 1 or n_val > n - 1:
        raise ConfigError(
            f"val_fraction={val_fraction} of {n} examples leaves {n_val} for validation and "
            f"{n - n_val} for training; both need at least one, use more data or another fraction"
        )
    gen = _generator(seed)
    labels = _labels(n_or_dataset, stratify, n)
    is_val = torch.zeros(n, dtype=torch.bool)
    if labels is None:
        is_val[torch.randperm(n, generator=gen)[:n_val]] = True
    else:
        classes, inverse = torch.unique(labels, return_inverse=True)
        members = [torch.nonzero(inverse == c).flatten() for c in range(len(classes))]
        for idx, take in zip(members, _proportional([len(m) for m in members], n_val)):
            is_val[idx[torch.randperm(len(idx), generator=gen)[:take]]] = True
    train_idx, val_idx = torch.nonzero(~is_val).flatten(), torch.nonzero(is_val).flatten()
    if isinstance(n_or_dataset, ArrayDataset):
        return n_or_dataset.subset(train_idx), n_or_dataset.subset(val_idx)
    return train_idx, val_idx


def kfold_indices(
    n_or_dataset: int | ArrayDataset,
    k: int,
    shuffle: bool = True,
    seed: int = 0,
    stratify: Any = None,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Cut ``range(n)`` into ``k`` folds; fold i is validation once, the rest train.

    Fold sizes differ by at most one (the first ``n mod k`` folds get one more). With
    stratification, examples are grouped by class and dealt round-robin to the folds, so
    every fold holds each class's count divided by k, give or take one.

    Args:
        n_or_dataset: number of examples ``n`` or an :class:`ArrayDataset`.
        k: number of folds, ``2 <= k <= n``.
        shuffle: shuffle before cutting (deterministic in ``seed``); False cuts in order.
        seed: random seed for the shuffle. Default: 0.
        stratify: None, True (use the dataset's labels) or a 1-D tensor of labels.

    Returns:
        ``k`` pairs ``(train_idx, val_idx)`` of sorted int64 tensors; the ``val_idx`` are
        disjoint and together cover every index exactly once.

    Example:
        >>> folds = kfold_indices(6, k=3, shuffle=False)
        >>> [v.tolist() for _, v in folds]
        [[0, 1], [2, 3], [4, 5]]

    Notes: G3.
    """
    n = _size_of(n_or_dataset)
    if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= n:
        raise ConfigError(
            f"k-fold cross-validation needs an integer k with 2 <= k <= n (n = {n} examples), "
            f"got k={k!r}"
        )
    gen = _generator(seed)
    order = torch.randperm(n, generator=gen) if shuffle else torch.arange(n)
    labels = _labels(n_or_dataset, stratify, n)
    fold_of = torch.empty(n, dtype=torch.int64)
    if labels is None:
        # sizes: first n mod k folds hold ⌊n/k⌋ + 1, the rest ⌊n/k⌋
        sizes = [n // k + (1 if f < n % k else 0) for f in range(k)]
        fold_of[order] = torch.repeat_interleave(torch.arange(k), torch.tensor(sizes))
    else:
        # group by class (stable, so the shuffled order survives inside each class), deal round-robin
        _, inverse = torch.unique(labels, return_inverse=True)
        grouped = order[torch.sort(inverse[order], stable=True).indices]
        fold_of[grouped] = torch.arange(n) % k
    folds = []
    for f in range(k):
        in_fold = fold_of == f
        folds.append((torch.nonzero(~in_fold).flatten(), torch.nonzero(in_fold).flatten()))
    return folds


def kfold_splits(
    dataset: ArrayDataset, k: int, shuffle: bool = True, seed: int = 0, stratify: Any = None
) -> Iterator[tuple[ArrayDataset, ArrayDataset]]:
    """Yield ``(train_dataset, val_dataset)`` for each of the ``k`` folds of ``dataset``.

    Example:
        >>> import torch
        >>> ds = ArrayDataset(torch.randn(9, 2), torch.arange(9) % 3)
        >>> [(len(t), len(v)) for t, v in kfold_splits(ds, k=3, stratify=True)]
        [(6, 3), (6, 3), (6, 3)]

    Notes: G3.
    """
    for train_idx, val_idx in kfold_indices(dataset, k, shuffle=shuffle, seed=seed, stratify=stratify):
        yield dataset.subset(train_idx), dataset.subset(val_idx)
