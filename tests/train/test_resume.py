"""Stop, build everything anew, resume: the result is bit-identical to never stopping (B11)."""

from __future__ import annotations

import csv

import pytest
import torch

from deepnotes import optim as dn_optim
from deepnotes.errors import CheckpointError
from deepnotes.train import StepRecorder
from tests.train.helpers import classifier_trainer, params_equal

# (optimizer factory, schedule factory, scheduler_interval): momentum and Adam state, torch's
# and our optimizers, torch's recursive schedule and our closed-form ones, per step and per epoch.
SETUPS = {
    "torch-sgd-momentum-steplr": (
        lambda m: torch.optim.SGD(m.parameters(), lr=0.2, momentum=0.9, weight_decay=1e-3),
        lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.7), "step"),
    "torch-adam-exponential-epoch": (
        lambda m: torch.optim.Adam(m.parameters(), lr=0.01),
        lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.8), "epoch"),
    "ours-adam-warmup-cosine": (
        lambda m: dn_optim.Adam(m.parameters(), lr=0.01, betas=(0.8, 0.99)),
        lambda o: dn_optim.warmup_cosine(o, warmup_steps=4, total_steps=20), "step"),
    "ours-momentum-no-schedule": (
        lambda m: dn_optim.SGD(m.parameters(), lr=0.1, momentum=0.9, nesterov=True),
        None, "step"),
}
COMPARED = ["epoch", "step", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"]


def make(name, **config):
    opt, sched, interval = SETUPS[name]
    return classifier_trainer(opt, sched, scheduler_interval=interval, **config)


def same_rows(a, b):
    assert len(a) == len(b)
    for ra, rb in zip(a.rows, b.rows):
        assert {k: ra[k] for k in COMPARED} == {k: rb[k] for k in COMPARED}
        assert "partial" not in rb


@pytest.fixture(scope="module")
def uninterrupted():
    """Run A of every setup: 4 epochs (5 batches each) without stopping."""
    runs = {}
    for name in SETUPS:
        trainer = make(name, epochs=4)
        recorder = StepRecorder()
        trainer.callbacks.append(recorder)
        trainer.fit()
        runs[name] = (trainer, recorder)
    return runs


@pytest.mark.parametrize("name", list(SETUPS))
def test_resume_after_an_epoch_is_bit_identical(tmp_path, uninterrupted, name):
    a, a_steps = uninterrupted[name]
    first = make(name, epochs=2, out_dir=str(tmp_path))
    first.fit()
    assert first.epoch == 2 and not params_equal(first.model, a.model)

    second = make(name, epochs=4)  # new model, optimizer, schedule and loaders
    recorder = StepRecorder()
    second.callbacks.append(recorder)
    second.fit(resume=tmp_path)
    assert params_equal(second.model, a.model)
    assert second.step == a.step == 20
    same_rows(a.history, second.history)
    assert recorder.losses == a_steps.losses[10:]
    assert recorder.lrs == a_steps.lrs[10:]
    # optimizer state (momentum buffers, Adam moments and step counts) matches too
    sa, sb = a.optimizer.state_dict()["state"], second.optimizer.state_dict()["state"]
    for i in sa:
        for key, value in sa[i].items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(sb[i][key])), (i, key)


@pytest.mark.parametrize("max_steps", [7, 10, 13])
def test_resume_mid_epoch_after_max_steps(tmp_path, uninterrupted, max_steps):
    name = "torch-sgd-momentum-steplr"
    a, a_steps = uninterrupted[name]
    first = make(name, epochs=4, max_steps=max_steps, out_dir=str(tmp_path))
    history = first.fit()
    assert first.step == max_steps
    if max_steps % 5:  # stopped inside an epoch: a partial row is shown and checkpointed
        assert history.last()["partial"] is True
        assert len(history) == max_steps // 5 + 1

    second = make(name, epochs=4, out_dir=str(tmp_path))  # same folder: resume=True finds it
    recorder = StepRecorder()
    second.callbacks.append(recorder)
    second.fit(resume=True)
    assert params_equal(second.model, a.model)
    assert recorder.losses == a_steps.losses[max_steps:]
    same_rows(a.history, second.history)
    with open(tmp_path / "metrics.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [float(r["train_loss"]) for r in table] == a.history.column("train_loss")


def test_dropout_rng_is_restored(tmp_path, uninterrupted):
    """Without restoring the RNG the dropout masks after the resume differ (the test can fail)."""
    name = "torch-adam-exponential-epoch"
    a, _ = uninterrupted[name]
    make(name, epochs=2, out_dir=str(tmp_path)).fit()
    second = make(name, epochs=4)
    second.load_checkpoint(tmp_path, restore_rng=False)
    torch.manual_seed(12345)
    second.fit()  # not a resume: continues this trainer's epochs with another RNG stream
    assert second.epoch == 4
    assert not params_equal(second.model, a.model)


def test_second_fit_in_the_same_process_continues_exactly(uninterrupted):
    name = "ours-adam-warmup-cosine"
    a, _ = uninterrupted[name]
    trainer = make(name, epochs=4, max_steps=8)
    trainer.fit()
    assert trainer.step == 8
    trainer.config.max_steps = None
    trainer.fit()
    assert params_equal(trainer.model, a.model)
    same_rows(a.history, trainer.history)


def test_resume_from_a_missing_checkpoint(tmp_path):
    trainer = make("torch-sgd-momentum-steplr", epochs=2)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        trainer.fit(resume=tmp_path / "nowhere")


def test_resume_into_another_architecture_names_the_key(tmp_path):
    make("torch-sgd-momentum-steplr", epochs=1, out_dir=str(tmp_path)).fit()
    trainer = make("torch-sgd-momentum-steplr", epochs=2)
    trainer.model[3] = torch.nn.Linear(16, 4)  # 4 classes instead of 3
    with pytest.raises(CheckpointError, match=r"'3\.weight'.*\(3, 16\).*\(4, 16\)"):
        trainer.fit(resume=tmp_path)


def test_resume_with_another_optimizer_or_schedule_fails_clearly(tmp_path):
    make("torch-sgd-momentum-steplr", epochs=1, out_dir=str(tmp_path / "sgd")).fit()
    with pytest.raises(CheckpointError, match="SGD.*Adam"):
        make("torch-adam-exponential-epoch", epochs=2).fit(resume=tmp_path / "sgd")

    make("torch-adam-exponential-epoch", epochs=1, out_dir=str(tmp_path / "adam")).fit()
    trainer = make("torch-adam-exponential-epoch", epochs=2)
    trainer.scheduler = torch.optim.lr_scheduler.StepLR(trainer.optimizer, step_size=2)
    with pytest.raises(CheckpointError, match="ExponentialLR.*StepLR"):
        trainer.fit(resume=tmp_path / "adam")

    make("ours-momentum-no-schedule", epochs=1, out_dir=str(tmp_path / "plain")).fit()
    trainer = make("ours-momentum-no-schedule", epochs=2)
    trainer.scheduler = torch.optim.lr_scheduler.StepLR(trainer.optimizer, step_size=2)
    with pytest.raises(CheckpointError, match="no scheduler state"):
        trainer.fit(resume=tmp_path / "plain")


def test_resume_keeps_early_stopping_patience(tmp_path):
    """EarlyStopping's count of bad epochs survives a stop: the resumed run stops where the
    uninterrupted one did (lr = 0: the validation loss never improves after epoch 1)."""
    from deepnotes.train import EarlyStopping
    from tests.train.test_trainer import regression_trainer

    whole = regression_trainer(epochs=20, lr=0.0)
    whole.callbacks.append(EarlyStopping("val_loss", patience=3))
    assert len(whole.fit()) == 4

    first = regression_trainer(epochs=2, lr=0.0, out_dir=str(tmp_path))
    first.callbacks.append(EarlyStopping("val_loss", patience=3))
    first.fit()
    resumed = regression_trainer(epochs=20, lr=0.0, out_dir=str(tmp_path))
    stop = EarlyStopping("val_loss", patience=3)
    resumed.callbacks.append(stop)
    resumed.load_checkpoint(tmp_path)
    assert (stop.best_epoch, stop.bad_epochs) == (1, 1)
    assert len(resumed.fit()) == 4 and resumed.epoch == 4
