"""Holdout and N-fold splits (G3): disjoint, complete, the right sizes, seeded."""

from __future__ import annotations

import math

import pytest
import torch

from deepnotes.data import ArrayDataset, holdout_split, kfold_indices, kfold_splits
from deepnotes.errors import ConfigError, ShapeError


def as_set(t: torch.Tensor) -> set[int]:
    return set(t.tolist())


def assert_sorted_int64(t: torch.Tensor) -> None:
    assert t.dtype == torch.int64
    assert torch.equal(t, torch.sort(t).values)


# ----------------------------------------------------------------------------- holdout
@pytest.mark.parametrize("n, fraction", [(10, 0.2), (101, 0.25), (7, 0.5), (1000, 0.1), (3, 0.34)])
def test_holdout_disjoint_complete_sizes(n, fraction):
    train, val = holdout_split(n, val_fraction=fraction, seed=1)
    assert_sorted_int64(train)
    assert_sorted_int64(val)
    assert as_set(train).isdisjoint(as_set(val))
    assert as_set(train) | as_set(val) == set(range(n))
    assert len(val) == math.floor(n * fraction + 0.5)  # round half up
    assert len(train) == n - len(val)


def test_holdout_is_seeded():
    a = holdout_split(50, 0.3, seed=5)
    b = holdout_split(50, 0.3, seed=5)
    c = holdout_split(50, 0.3, seed=6)
    assert torch.equal(a[1], b[1]) and not torch.equal(a[1], c[1])
    assert not torch.equal(a[1], torch.arange(35, 50))  # random, not the tail


def test_holdout_stratified_keeps_class_shares():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    labels = labels[torch.randperm(100, generator=torch.Generator().manual_seed(0))]
    train, val = holdout_split(100, val_fraction=0.2, seed=3, stratify=labels)
    assert len(val) == 20 and as_set(train) | as_set(val) == set(range(100))
    assert torch.bincount(labels[val], minlength=3).tolist() == [10, 6, 4]
    # n_val = 6 of 15; quotas 7·6/15 = 2.8, 5·6/15 = 2.0, 3·6/15 = 1.2: floors 2, 2, 1 and the
    # one left over goes to the largest remainder (class 0)
    labels = torch.tensor([0] * 7 + [1] * 5 + [2] * 3)
    _, val = holdout_split(15, val_fraction=0.4, seed=0, stratify=labels)
    assert torch.bincount(labels[val], minlength=3).tolist() == [3, 2, 1]


def test_holdout_on_a_dataset_returns_subsets():
    ds = ArrayDataset(torch.arange(40.0).unsqueeze(1), torch.arange(40) % 4, name="toy")
    train, val = holdout_split(ds, val_fraction=0.25, seed=2, stratify=True)
    assert (len(train), len(val)) == (30, 10)
    ids = set(train.x.squeeze(1).long().tolist()) | set(val.x.squeeze(1).long().tolist())
    assert ids == set(range(40))
    assert torch.equal(val.y, val.x.squeeze(1).long() % 4)  # rows stay paired
    # quotas of 2.5 each: floors of 2, the two leftover go to the earliest classes on a tie
    assert torch.bincount(val.y, minlength=4).tolist() == [3, 3, 2, 2]


@pytest.mark.parametrize("args, kwargs, error, words", [
    ((10,), {"val_fraction": 0.0}, ConfigError, "val_fraction"),
    ((10,), {"val_fraction": 1.0}, ConfigError, "val_fraction"),
    ((10,), {"val_fraction": 1.5}, ConfigError, "val_fraction"),
    ((10,), {"val_fraction": None}, ConfigError, "val_fraction"),
    ((10,), {"val_fraction": "0.2"}, ConfigError, "val_fraction"),
    ((1,), {"val_fraction": 0.5}, ConfigError, "at least one"),
    ((10,), {"val_fraction": 0.01}, ConfigError, "at least one"),
    ((-3,), {}, ConfigError, "-3"),
    ((10.0,), {}, ConfigError, "10.0"),
    ((10,), {"seed": -1}, ConfigError, "seed"),
    ((10,), {"stratify": True}, ConfigError, "classification"),
    ((10,), {"stratify": torch.zeros(9)}, ShapeError, r"\(10,\)"),
])
def test_holdout_bad_arguments(args, kwargs, error, words):
    with pytest.raises(error, match=words):
        holdout_split(*args, **kwargs)


# ----------------------------------------------------------------------------- k-fold
@pytest.mark.parametrize("n, k", [(10, 3), (12, 4), (7, 7), (23, 5), (5, 2)])
def test_kfold_partitions(n, k):
    folds = kfold_indices(n, k=k, seed=9)
    assert len(folds) == k
    vals = [v for _, v in folds]
    for train, val in folds:
        assert_sorted_int64(train)
        assert_sorted_int64(val)
        assert as_set(train) == set(range(n)) - as_set(val)
    # every example is validated on exactly once
    assert sorted(i for v in vals for i in v.tolist()) == list(range(n))
    # the first n mod k folds are one larger
    assert [len(v) for v in vals] == [n // k + (f < n % k) for f in range(k)]


def test_kfold_without_shuffle_cuts_in_order():
    folds = kfold_indices(7, k=3, shuffle=False)
    assert [v.tolist() for _, v in folds] == [[0, 1, 2], [3, 4], [5, 6]]


def test_kfold_is_seeded():
    a = [v.tolist() for _, v in kfold_indices(30, k=3, seed=1)]
    b = [v.tolist() for _, v in kfold_indices(30, k=3, seed=1)]
    c = [v.tolist() for _, v in kfold_indices(30, k=3, seed=2)]
    assert a == b and a != c
    assert a != [v.tolist() for _, v in kfold_indices(30, k=3, shuffle=False)]


def test_kfold_stratified_balances_classes():
    labels = torch.tensor([0] * 10 + [1] * 7 + [2] * 5)
    labels = labels[torch.randperm(22, generator=torch.Generator().manual_seed(4))]
    folds = kfold_indices(22, k=3, seed=0, stratify=labels)
    assert sorted(i for _, v in folds for i in v.tolist()) == list(range(22))
    for _, val in folds:
        counts = torch.bincount(labels[val], minlength=3).tolist()
        for c, total in enumerate([10, 7, 5]):
            assert abs(counts[c] - total / 3) < 1, (counts, c)


def test_kfold_splits_yields_datasets():
    ds = ArrayDataset(torch.arange(9.0).unsqueeze(1), torch.arange(9) % 3)
    splits = list(kfold_splits(ds, k=3, stratify=True, seed=1))
    assert [(len(t), len(v)) for t, v in splits] == [(6, 3)] * 3
    seen = []
    for (train, val), (ti, vi) in zip(splits, kfold_indices(ds, k=3, stratify=True, seed=1)):
        assert torch.equal(val.x.squeeze(1).long(), vi)
        assert torch.equal(train.x.squeeze(1).long(), ti)
        assert sorted(val.y.tolist()) == [0, 1, 2]
        seen += vi.tolist()
    assert sorted(seen) == list(range(9))


@pytest.mark.parametrize("n, k", [(10, 1), (10, 11), (10, 2.0), (10, True), (0, 2)])
def test_kfold_bad_k(n, k):
    with pytest.raises(ConfigError, match="k"):
        kfold_indices(n, k=k)


def test_kfold_bad_seed_and_labels():
    with pytest.raises(ConfigError, match="seed"):
        kfold_indices(10, k=2, seed=-2)
    with pytest.raises(ShapeError):
        kfold_indices(10, k=2, stratify=torch.zeros(10, 2))
