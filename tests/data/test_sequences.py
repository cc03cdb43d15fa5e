"""Language-model minibatches: random sampling and sequential partitioning (R3)."""

from __future__ import annotations

import itertools

import pytest
import torch

from deepnotes.data import SequenceBatches, seq_data_iter_random, seq_data_iter_sequential
from deepnotes.errors import ConfigError
from deepnotes.train import TrainConfig, Trainer

# corpus ids equal to their positions, so a value tells where a token came from
L = 103
CORPUS = list(range(L))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("B,T", [(2, 5), (3, 4), (4, 7)])
def test_random_sampling_coverage_and_shift(seed, B, T):
    batches = list(seq_data_iter_random(CORPUS, B, T, seed=seed))
    X = torch.cat([x for x, _ in batches])
    Y = torch.cat([y for _, y in batches])
    assert all(x.shape == (B, T) and x.dtype == torch.int64 for x, _ in batches)
    assert torch.equal(Y, X + 1)  # Y is X shifted by one token
    # each row is a contiguous stretch, all start on one grid offset in [0, T-1]
    assert torch.equal(X - X[:, :1], torch.arange(T).expand_as(X))
    offsets = set((X[:, 0] % T).tolist())
    assert len(offsets) == 1 and offsets.pop() < T
    # no position used twice in an epoch; d2l's count of batches
    assert X.flatten().unique().numel() == X.numel()
    off = int(X[:, 0].min()) % T
    assert len(batches) == ((L - off - 1) // T) // B


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("B,T", [(2, 5), (3, 4), (4, 7)])
def test_sequential_partitioning_adjacency_and_coverage(seed, B, T):
    batches = list(seq_data_iter_sequential(CORPUS, B, T, seed=seed))
    assert batches and all(x.shape == (B, T) for x, _ in batches)
    for (x0, _), (x1, _) in itertools.pairwise(batches):
        # row j of batch i+1 continues row j of batch i
        assert torch.equal(x1[:, 0], x0[:, -1] + 1)
    for x, y in batches:
        assert torch.equal(y, x + 1)
        assert torch.equal(x - x[:, :1], torch.arange(T).expand_as(x))
    X = torch.cat([x for x, _ in batches], dim=1)  # (B, num_batches*T)
    assert X.flatten().unique().numel() == X.numel()
    off = int(X[0, 0])
    assert 0 <= off <= T
    per_row = (L - off - 1) // B
    assert len(batches) == per_row // T
    assert torch.equal(X[:, 0], off + per_row * torch.arange(B))  # rows are consecutive stripes


def test_seeds_reproduce_and_differ():
    a = [x for x, _ in seq_data_iter_random(CORPUS, 2, 5, seed=1)]
    b = [x for x, _ in seq_data_iter_random(CORPUS, 2, 5, seed=1)]
    c = [x for x, _ in seq_data_iter_random(CORPUS, 2, 5, seed=2)]
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert not all(torch.equal(p, q) for p, q in zip(a, c))
    # a tensor corpus gives the same batches as a list
    t = [x for x, _ in seq_data_iter_random(torch.tensor(CORPUS), 2, 5, seed=1)]
    assert all(torch.equal(p, q) for p, q in zip(a, t))


@pytest.mark.parametrize("sampling", ["random", "sequential"])
def test_class_has_a_fixed_len_and_new_offsets_each_epoch(sampling):
    loader = SequenceBatches(CORPUS, batch_size=3, num_steps=4, sampling=sampling, seed=5)
    firsts = set()
    for _ in range(12):
        batches = list(loader)
        assert len(batches) == len(loader) > 0
        X = torch.cat([x for x, _ in batches])
        assert X.flatten().unique().numel() == X.numel()
        assert all(torch.equal(y, x + 1) for x, y in batches)
        firsts.add(int(X.min()))
    assert len(firsts) > 1  # the offset changes from epoch to epoch
    assert loader.sequential == (sampling == "sequential")
    # len is the smallest count over all offsets
    expected = (((L - 4 - 1) // 3) // 4) if sampling == "sequential" else (((L - 4) // 4) // 3)
    assert len(loader) == expected


@pytest.mark.parametrize("sampling", ["random", "sequential"])
def test_class_resumes_mid_epoch(sampling):
    full = SequenceBatches(CORPUS, 2, 5, sampling=sampling, seed=3)
    list(full)
    want = list(full)  # epoch 1
    cut = SequenceBatches(CORPUS, 2, 5, sampling=sampling, seed=3)
    list(cut)
    it = iter(cut)
    got = [next(it), next(it)]
    state = cut.state_dict()
    assert state == {"seed": 3, "epoch": 1, "batch": 2}
    fresh = SequenceBatches(CORPUS, 2, 5, sampling=sampling, seed=0)
    fresh.load_state_dict(state)
    got += list(fresh)
    assert len(got) == len(want)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(got, want))


def test_trainer_runs_on_sequence_batches():
    torch.manual_seed(0)
    V = 11
    ids = [i % V for i in range(400)]  # a periodic text: next token = this token + 1 (mod V)
    model = torch.nn.Sequential(torch.nn.Embedding(V, 16), torch.nn.Linear(16, V))

    def loss_fn(logits, y):  # logits (B, T, V), y (B, T)
        return torch.nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))

    loader = SequenceBatches(ids, batch_size=4, num_steps=8, seed=0)
    x, y = next(iter(SequenceBatches(ids, batch_size=4, num_steps=8, seed=1)))
    with torch.no_grad():
        assert loss_fn(model(x), y) > 2.0  # about log(11) before training
    trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=0.05), loss_fn, loader,
                      config=TrainConfig(epochs=4, progress=False))
    history = trainer.fit()
    assert len(history.rows) == 4 and history.last()["train_loss"] < 0.05


def test_bad_arguments():
    with pytest.raises(ConfigError, match="batch_size"):
        seq_data_iter_random(CORPUS, 0, 5)
    with pytest.raises(ConfigError, match="1-D"):
        seq_data_iter_sequential(torch.zeros(3, 3, dtype=torch.long), 2, 2)
    with pytest.raises(ConfigError, match="sampling"):
        SequenceBatches(CORPUS, 2, 5, sampling="shuffled")
    with pytest.raises(ConfigError, match="no batch"):
        SequenceBatches(list(range(10)), 4, 5)
