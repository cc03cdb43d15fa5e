"""Data-parallel training (B8, B11): two CPU processes (gloo) take the steps one process takes.

Two processes with a global batch of 8 (4 per rank) end with the weights of one process with
batch 8; a 2-process run stopped mid-epoch and resumed in fresh processes ends where the
uninterrupted 2-process run does (dropout on, so every rank's generators must be restored).
The processes are started with ``torch.multiprocessing`` and join the group the way
``torchrun`` makes them: from ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``/``MASTER_PORT``.
"""

from __future__ import annotations

import csv
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import multiprocessing as mp
from torch import nn

from deepnotes.data import MiniBatches
from deepnotes.errors import ConfigError
from deepnotes.metrics import accuracy
from deepnotes.optim import SGD
from deepnotes.train import TrainConfig, Trainer, default_loss_step
from deepnotes.train import distributed as dist_utils
from tests.train.helpers import classification_data

N, BATCH, EPOCHS = 41, 8, 3  # 6 batches an epoch, the last of 1 example (a stand-in on rank 0)
TIMEOUT_S = 120


def _model(dropout: float) -> nn.Module:
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Linear(5, 16), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(16, 3))


def _trainer(dropout: float, out_dir: Path | None = None, seen: list[int] | None = None,
             **config: Any) -> Trainer:
    """SGD with momentum on the blob problem; ``seen`` collects this rank's batch sizes."""
    x, y = classification_data(n=N)
    model = _model(dropout)

    def counting_step(m, loss_fn, batch):
        if seen is not None:
            seen.append(len(batch[0]))
        return default_loss_step(m, loss_fn, batch)

    config.setdefault("epochs", EPOCHS)
    return Trainer(model, SGD(model.parameters(), lr=0.2, momentum=0.9),
                   nn.functional.cross_entropy, MiniBatches((x, y), batch_size=BATCH, seed=3),
                   MiniBatches((x[:21], y[:21]), batch_size=8, shuffle=False),
                   metrics={"accuracy": accuracy}, loss_step=counting_step,
                   config=TrainConfig(progress=False, device="cpu",
                                      out_dir=str(out_dir) if out_dir else None, **config))


def _worker(rank: int, world: int, port: int, tmp: str, phase: str) -> None:
    """One rank: join the group from the environment (as under torchrun) and train."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    out, tmp_path = {}, Path(tmp)
    if phase == "first":
        seen: list[int] = []
        plain = _trainer(0.0, seen=seen)  # no dropout: comparable with one process
        plain.fit()
        out["plain"] = {"state": plain.model.state_dict(), "rows": plain.history.rows,
                        "seen": seen, "world": dist_utils.world_size()}
        whole = _trainer(0.3, tmp_path / "whole", epochs=4)
        whole.fit()
        out["whole"] = {"state": whole.model.state_dict(), "rows": whole.history.rows}
        cut = _trainer(0.3, tmp_path / "cut", epochs=4, max_steps=9)  # stops inside epoch 2
        cut.fit()
    else:  # fresh processes resume the cut run
        resumed = _trainer(0.3, tmp_path / "cut", epochs=4)
        resumed.fit(resume=True)
        out["resumed"] = {"state": resumed.model.state_dict(), "rows": resumed.history.rows}
    torch.save(out, tmp_path / f"{phase}-rank{rank}.pt")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawn(tmp: Path, phase: str, world: int = 2) -> list[dict[str, Any]]:
    ctx = mp.start_processes(_worker, args=(world, _free_port(), str(tmp), phase), nprocs=world,
                             join=False, start_method="spawn")
    deadline = time.monotonic() + TIMEOUT_S
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail(f"the {world} training processes did not finish in {TIMEOUT_S} s")
    return [torch.load(tmp / f"{phase}-rank{r}.pt") for r in range(world)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    first = _spawn(tmp, "first")
    second = _spawn(tmp, "second")
    return tmp, first, second


def _assert_states(a: dict, b: dict, exact: bool) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if exact:
            assert torch.equal(a[k], b[k]), k
        else:
            torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)


def test_two_processes_take_the_steps_of_one(runs):
    _, first, _ = runs
    single = _trainer(0.0)
    single.fit()
    ranks = [r["plain"] for r in first]
    assert [r["world"] for r in ranks] == [2, 2]
    # every rank ends with the same weights, and they are one process's weights
    _assert_states(ranks[0]["state"], ranks[1]["state"], exact=True)
    _assert_states(ranks[0]["state"], single.model.state_dict(), exact=False)
    assert not torch.equal(ranks[0]["state"]["0.weight"], _model(0.0).state_dict()["0.weight"])
    # each rank saw its half of every global batch of 8 (the last global batch holds one
    # example: rank 1 trains on it, rank 0 on a stand-in with weight 0), then its half of
    # the 21 validation examples
    assert ranks[0]["seen"] == [4, 4, 4, 4, 4, 1, 10] * EPOCHS
    assert ranks[1]["seen"] == [4, 4, 4, 4, 4, 1, 11] * EPOCHS
    # losses and metrics summed over the ranks: the one-process epoch means
    keys = ("step", "train_loss", "train_accuracy", "val_loss", "val_accuracy")
    for row2, row1 in zip(ranks[0]["rows"], single.history.rows, strict=True):
        for key in keys:
            assert row2[key] == pytest.approx(row1[key], rel=1e-5, abs=1e-6), key
    # and every rank computed the same rows (callbacks decide alike on every rank)
    assert ([{k: r[k] for k in keys} for r in ranks[1]["rows"]]
            == [{k: r[k] for k in keys} for r in ranks[0]["rows"]])


def test_resumed_two_process_run_equals_the_uninterrupted_one(runs):
    tmp, first, second = runs
    for r in range(2):
        _assert_states(second[r]["resumed"]["state"], first[r]["whole"]["state"], exact=True)
    keys = ("epoch", "step", "train_loss", "train_accuracy", "val_loss", "val_accuracy")
    whole, resumed = first[0]["whole"]["rows"], second[0]["resumed"]["rows"]
    assert [{k: r[k] for k in keys} for r in resumed] == [{k: r[k] for k in keys} for r in whole]
    # rank 0 wrote the run folder: four epochs in metrics.csv, a checkpoint that names 2 ranks
    with open(tmp / "cut" / "metrics.csv") as f:
        assert [int(row["epoch"]) for row in csv.DictReader(f)] == [1, 2, 3, 4]
    assert (tmp / "cut" / "checkpoint.safetensors").is_file()


def test_dropout_masks_differ_between_ranks(runs):
    """Ranks seed with seed + rank: a rank-0 checkpoint alone could not resume rank 1."""
    tmp, first, _ = runs
    from deepnotes.train.checkpoint import load_checkpoint

    state = load_checkpoint(tmp / "whole", restore_rng=False)["trainer_state"]
    saved = state["ranks_rng"]
    assert len(saved) == 2
    assert not torch.equal(saved[0]["tensors"]["rng.torch"], saved[1]["tensors"]["rng.torch"])


def test_shards_cover_every_global_batch_once():
    x = torch.arange(23.0)
    whole = MiniBatches(x, batch_size=6, seed=1)
    parts = [MiniBatches(x, batch_size=6, seed=1, rank=r, world_size=3) for r in range(3)]
    for batch, *slices in zip(whole, *parts, strict=True):
        shares = []
        for part, (xs,) in zip(parts, slices):
            share, total = part.last_share
            assert total == len(batch[0])
            shares.append(xs[:share])
        assert torch.equal(torch.cat(shares), batch[0])
    assert [len(p) for p in parts] == [len(whole)] * 3
    assert parts[1].state_dict() == whole.state_dict()


def test_shard_rejects_bad_ranks_and_tiny_batches():
    x = torch.arange(10.0)
    with pytest.raises(ConfigError, match="rank"):
        MiniBatches(x, batch_size=4, rank=2, world_size=2)
    with pytest.raises(ConfigError, match="smaller than the 4 processes"):
        MiniBatches(x, batch_size=2, rank=0, world_size=4)


def test_one_process_is_a_world_of_one(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert dist_utils.init_from_env(torch.device("cpu")) is False
    assert (dist_utils.world_size(), dist_utils.rank(), dist_utils.is_main()) == (1, 0, True)
    assert dist_utils.all_reduce_sum([1.5, torch.tensor(2.0)]) == [1.5, 2.0]
    model = nn.Linear(2, 2)
    assert dist_utils.wrap_model(model, torch.device("cpu")) is model


def test_world_size_without_torchrun_is_one_sentence(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    for key in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(ConfigError, match="start the processes with torchrun"):
        dist_utils.init_from_env(torch.device("cpu"))
