"""Minibatches (B8): every example once per epoch, reshuffled, deterministic, resumable."""

from __future__ import annotations

import pytest
import torch

from deepnotes.data import ArrayDataset, MiniBatches, data_iter, epoch_permutation
from deepnotes.errors import CheckpointError, ConfigError, ShapeError


def served(batches: MiniBatches) -> list[list[int]]:
    """One pass over MiniBatches of (arange(n), ...): the example ids of each batch."""
    return [b[0].tolist() for b in batches]


def flat(pass_: list[list[int]]) -> list[int]:
    return [i for batch in pass_ for i in batch]


def test_every_example_once_per_epoch_and_batch_sizes():
    n, bs = 23, 5
    batches = MiniBatches((torch.arange(n), 2 * torch.arange(n)), batch_size=bs, seed=4)
    assert len(batches) == 5
    for _ in range(3):
        pass_ = []
        for xb, yb in batches:
            assert torch.equal(yb, 2 * xb)  # inputs and targets stay paired
            pass_.append(xb.tolist())
        assert [len(b) for b in pass_] == [5, 5, 5, 5, 3]
        assert sorted(flat(pass_)) == list(range(n))


def test_reshuffled_every_epoch_and_deterministic_in_seed_and_epoch():
    n = 40
    a = MiniBatches(torch.arange(n), batch_size=8, seed=7)
    passes = [flat(served(a)) for _ in range(4)]
    assert len({tuple(p) for p in passes}) == 4  # a new order every epoch
    assert all(p != list(range(n)) for p in passes)
    # the order of epoch e is a pure function of (seed, e)
    for e, p in enumerate(passes):
        assert p == epoch_permutation(n, 7, e).tolist() == a.order(e).tolist()
    b = MiniBatches(torch.arange(n), batch_size=8, seed=7)
    b.set_epoch(2)
    assert flat(served(b)) == passes[2]
    assert flat(served(b)) == passes[3]  # and it keeps counting from there
    other_seed = MiniBatches(torch.arange(n), batch_size=8, seed=8)
    assert flat(served(other_seed)) != passes[0]


def test_shuffling_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    for _ in MiniBatches(torch.arange(30), batch_size=4, seed=1):
        pass
    assert torch.equal(torch.get_rng_state(), state)


def test_drop_last():
    batches = MiniBatches(torch.arange(23), batch_size=5, seed=2, drop_last=True)
    assert len(batches) == 4
    for e in range(2):
        pass_ = served(batches)
        assert [len(b) for b in pass_] == [5] * 4
        # the 20 served are the first 20 of the epoch's order; the other 3 wait for next time
        assert flat(pass_) == epoch_permutation(23, 2, e)[:20].tolist()
    exact = MiniBatches(torch.arange(20), batch_size=5, drop_last=True)
    assert len(exact) == 4 and len(served(exact)) == 4
    assert len(MiniBatches(torch.arange(3), batch_size=5, drop_last=True)) == 0


def test_no_shuffle_serves_views_in_order():
    x = torch.arange(10.0)
    batches = MiniBatches((x,), batch_size=4, shuffle=False)
    pass_ = list(batches)
    assert [b[0].tolist() for b in pass_] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert pass_[1][0].data_ptr() == x[4:].data_ptr()  # no copy
    assert [b[0].tolist() for b in batches] == [b[0].tolist() for b in pass_]


def test_accepts_a_dataset_or_one_tensor():
    ds = ArrayDataset(torch.randn(12, 3), torch.arange(12) % 2)
    xb, yb = next(iter(MiniBatches(ds, batch_size=5, shuffle=False)))
    assert torch.equal(xb, ds.x[:5]) and torch.equal(yb, ds.y[:5])
    (only,) = next(iter(MiniBatches(torch.zeros(7, 2), batch_size=3)))
    assert only.shape == (3, 2)


@pytest.mark.parametrize("stop_after", [0, 1, 3, 5])
def test_state_dict_resumes_mid_epoch(stop_after):
    n, bs = 27, 5  # 6 batches per epoch, the last one of 2
    reference = MiniBatches(torch.arange(n), batch_size=bs, seed=11)
    ref_passes = [served(reference) for _ in range(3)]

    first = MiniBatches(torch.arange(n), batch_size=bs, seed=11)
    served(first)  # epoch 0
    it = iter(first)  # epoch 1, interrupted after `stop_after` batches
    seen = [next(it)[0].tolist() for _ in range(stop_after)]
    state = first.state_dict()
    assert state == {"seed": 11, "epoch": 1, "batch": stop_after}

    second = MiniBatches(torch.arange(n), batch_size=bs, seed=0)  # seed comes from the state
    second.load_state_dict(state)
    assert second.state_dict() == state
    rest = served(second)
    assert seen + rest == ref_passes[1]
    assert served(second) == ref_passes[2]


def test_state_dict_while_a_batch_is_in_use_and_after_a_pass():
    batches = MiniBatches(torch.arange(10), batch_size=4, seed=0)
    it = iter(batches)
    next(it)
    # the batch handed out counts as consumed: a checkpoint now resumes at the next one
    assert batches.state_dict() == {"seed": 0, "epoch": 0, "batch": 1}
    list(it)
    assert batches.state_dict() == {"seed": 0, "epoch": 1, "batch": 0}


def test_bad_state_is_refused():
    batches = MiniBatches(torch.arange(10), batch_size=4)
    with pytest.raises(CheckpointError, match="missing key"):
        batches.load_state_dict({"epoch": 0, "batch": 0})
    with pytest.raises(CheckpointError, match="3 batches"):
        batches.load_state_dict({"seed": 0, "epoch": 0, "batch": 4})
    with pytest.raises(CheckpointError):
        batches.load_state_dict({"seed": 0, "epoch": -1, "batch": 0})


@pytest.mark.parametrize("kwargs, error, words", [
    ({"batch_size": 0}, ConfigError, "batch_size"),
    ({"batch_size": -3}, ConfigError, "batch_size"),
    ({"batch_size": 2.0}, ConfigError, "batch_size"),
    ({"batch_size": True}, ConfigError, "batch_size"),
    ({"batch_size": 2, "seed": -1}, ConfigError, "seed"),
    ({"batch_size": 2, "device": "tpu9"}, ConfigError, "tpu9"),
])
def test_bad_arguments(kwargs, error, words):
    with pytest.raises(error, match=words):
        MiniBatches(torch.arange(4), **kwargs)


def test_bad_data():
    with pytest.raises(ShapeError, match=r"\[4, 5\]"):
        MiniBatches((torch.zeros(4), torch.zeros(5)), batch_size=2)
    with pytest.raises(ConfigError):
        MiniBatches((), batch_size=2)
    with pytest.raises(ConfigError):
        MiniBatches(torch.tensor(3.0), batch_size=2)
    with pytest.raises(ConfigError, match="epoch"):
        MiniBatches(torch.arange(4), batch_size=2).set_epoch(-1)


# ----------------------------------------------------------------------------- data_iter
def test_data_iter_covers_everything_paired_and_seeded():
    x = torch.arange(23.0).unsqueeze(1)
    y = 10 * torch.arange(23)
    batches = list(data_iter(5, x, y, seed=3))
    assert [len(xb) for xb, _ in batches] == [5, 5, 5, 5, 3]
    assert sorted(int(v) for xb, _ in batches for v in xb) == list(range(23))
    assert all(torch.equal(yb, 10 * xb.squeeze(1).long()) for xb, yb in batches)
    again = list(data_iter(5, x, y, seed=3))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, again))
    other = list(data_iter(5, x, y, seed=4))
    assert any(not torch.equal(a[0], b[0]) for a, b in zip(batches, other))
    with pytest.raises(ConfigError, match="batch_size"):
        next(data_iter(0, x, y))
