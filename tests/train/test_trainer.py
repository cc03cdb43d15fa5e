"""The Trainer's loop: it learns, matches a hand-written loop, records, clips, schedules, stops."""

from __future__ import annotations

import csv
import math

import pytest
import torch
from torch import nn

from deepnotes.data import MiniBatches
from deepnotes.errors import ConfigError, NonFiniteLossError
from deepnotes.metrics import accuracy
from deepnotes.runtime import seed_everything
from deepnotes.train import (
    Callback,
    EarlyStopping,
    StepRecorder,
    TrainConfig,
    Trainer,
    peek_checkpoint,
)
from tests.train.helpers import (
    classification_data,
    classifier_trainer,
    dropout_mlp,
    params_equal,
    regression_data,
)


def mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((out.squeeze(1) - y) ** 2).mean()


def linear_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Linear(3, 1)


def regression_trainer(epochs: int, lr: float = 0.1, **config) -> Trainer:
    x, y = regression_data()
    model = linear_model()
    config.setdefault("progress", False)
    config.setdefault("device", "cpu")
    return Trainer(model, torch.optim.SGD(model.parameters(), lr=lr), mse,
                   MiniBatches((x, y), batch_size=16, seed=5),
                   MiniBatches((x[:24], y[:24]), batch_size=10, shuffle=False),
                   config=TrainConfig(epochs=epochs, **config))


def manual_regression_run(epochs: int, lr: float = 0.1, max_steps: int | None = None):
    """The same training written as a plain loop: (model, per-step losses, rows)."""
    x, y = regression_data()
    model = linear_model()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loader = MiniBatches((x, y), batch_size=16, seed=5)
    seed_everything(0)
    losses, rows = [], []
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        total, n = 0.0, 0
        for xb, yb in loader:
            if max_steps is not None and len(losses) == max_steps:
                break
            loss = mse(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            total += loss.item() * len(xb)
            n += len(xb)
        with torch.no_grad():
            val = mse(model(x[:24]), y[:24]).item()
        rows.append({"train_loss": total / n, "val_loss": val})
    return model, losses, rows


# ----------------------------------------------------------------------------- learning
def test_fit_learns_and_equals_a_plain_loop():
    trainer = regression_trainer(epochs=15)
    recorder = StepRecorder()
    trainer.callbacks.append(recorder)
    history = trainer.fit()
    model, losses, rows = manual_regression_run(epochs=15)

    assert params_equal(trainer.model, model)
    assert recorder.losses == losses  # every step, in order, same numbers
    assert len(recorder.losses) == 15 * 4 == trainer.step
    for got, want in zip(history.rows, rows):
        assert got["train_loss"] == pytest.approx(want["train_loss"], rel=1e-6)
        assert got["val_loss"] == pytest.approx(want["val_loss"], rel=1e-5)
    train = history.column("train_loss")
    assert train[-1] < train[0] / 100  # it learned the line
    assert [r["epoch"] for r in history] == list(range(1, 16))
    assert [r["step"] for r in history] == [4 * e for e in range(1, 16)]


def test_rows_hold_train_and_val_loss_and_metrics():
    trainer = classifier_trainer(lambda m: torch.optim.SGD(m.parameters(), lr=0.2), epochs=3)
    history = trainer.fit()
    assert len(history) == 3
    for row in history:
        for key in ("epoch", "step", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
                    "lr", "seconds", "examples_per_sec"):
            assert key in row, key
        assert 0.0 <= row["train_accuracy"] <= 1.0 and 0.0 <= row["val_accuracy"] <= 1.0
        assert row["seconds"] > 0 and row["examples_per_sec"] > 0
    # the validation numbers are those of evaluate() on the final model
    x, y = classification_data()
    trainer.model.eval()
    with torch.no_grad():
        out = trainer.model(x[:16])
    last = history.last()
    want = nn.functional.cross_entropy(out, y[:16]).item()
    assert last["val_loss"] == pytest.approx(want, rel=1e-6)
    assert last["val_accuracy"] == (out.argmax(1) == y[:16]).sum().item() / 16


def test_out_dir_gets_csv_curves_and_checkpoint_pair(tmp_path):
    trainer = classifier_trainer(lambda m: torch.optim.SGD(m.parameters(), lr=0.2), epochs=3,
                                 out_dir=str(tmp_path))
    history = trainer.fit()
    with open(tmp_path / "metrics.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 3
    assert [float(r["train_loss"]) for r in table] == history.column("train_loss")
    assert [float(r["val_accuracy"]) for r in table] == history.column("val_accuracy")
    for name in ("loss.png", "accuracy.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "checkpoint.safetensors").is_file()
    assert (tmp_path / "checkpoint.json").is_file()
    assert peek_checkpoint(tmp_path)["trainer_state"]["epoch"] == 3
    # nothing else: no temporary files, no pickles
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "accuracy.png", "checkpoint.json", "checkpoint.safetensors", "loss.png", "metrics.csv"]


def test_no_metric_means_no_metric_curve(tmp_path):
    trainer = regression_trainer(epochs=2, out_dir=str(tmp_path))
    trainer.fit()
    assert (tmp_path / "loss.png").is_file()
    assert not list(tmp_path.glob("accuracy.png"))


@pytest.mark.parametrize("every, saved_at", [(2, [2, 4, 5]), (0, [5]), (1, [1, 2, 3, 4, 5])])
def test_checkpoint_every(tmp_path, every, saved_at):
    trainer = regression_trainer(epochs=5, out_dir=str(tmp_path), checkpoint_every=every)
    seen = []
    original = trainer.save_checkpoint
    trainer.save_checkpoint = lambda *a, **k: seen.append(trainer.epoch) or original(*a, **k)
    trainer.fit()
    assert seen == saved_at


def test_eval_every_skips_validation_but_not_on_the_last_epoch():
    trainer = regression_trainer(epochs=5, eval_every=2)
    history = trainer.fit()
    has_val = [not math.isnan(v) for v in history.column("val_loss")]
    assert has_val == [False, True, False, True, True]


# ----------------------------------------------------------------------------- clipping, schedules
def test_grad_clip_caps_the_norm_and_reports_the_norm_before_clipping():
    clip = 0.05

    class PostClipNorm(Callback):
        def __init__(self):
            self.norms: list[float] = []

        def on_step_end(self, trainer, step, loss):
            # the gradients the optimizer used are still there until the next zero_grad
            grads = [p.grad.detach().flatten() for p in trainer.model.parameters()]
            self.norms.append(torch.cat(grads).norm().item())

    trainer = regression_trainer(epochs=2, lr=0.05, grad_clip=clip)
    post = PostClipNorm()
    trainer.callbacks.append(post)
    history = trainer.fit()
    assert len(post.norms) == 8
    assert max(post.norms) <= clip * (1 + 1e-5)

    # the row's grad_norm is the mean pre-clip norm of the epoch: redo the run by hand
    x, y = regression_data()
    model = linear_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    loader = MiniBatches((x, y), batch_size=16, seed=5)
    seed_everything(0)
    means = []
    for epoch in range(2):
        loader.set_epoch(epoch)
        norms = []
        for xb, yb in loader:
            opt.zero_grad()
            mse(model(xb), yb).backward()
            norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), clip)))
            opt.step()
        means.append(sum(norms) / len(norms))
    assert history.column("grad_norm") == pytest.approx(means, rel=1e-5)
    assert min(history.column("grad_norm")) > clip  # so the clipping did act
    for p, q in zip(trainer.model.parameters(), model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_no_grad_clip_no_grad_norm_column():
    history = regression_trainer(epochs=1).fit()
    assert "grad_norm" not in history.last()


@pytest.mark.parametrize("interval", ["step", "epoch"])
def test_scheduler_interval(interval):
    x, y = regression_data()
    model = linear_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    recorder = StepRecorder()
    trainer = Trainer(model, opt, mse, MiniBatches((x, y), batch_size=16, seed=5), scheduler=sched,
                      callbacks=[recorder],
                      config=TrainConfig(epochs=3, scheduler_interval=interval, progress=False,
                                         device="cpu"))
    history = trainer.fit()
    steps = range(12)  # 4 batches x 3 epochs
    if interval == "step":
        # step t (from 0) runs with lr0·γ^t
        assert recorder.lrs == [0.1 * 0.5**t for t in steps]
        assert history.column("lr") == [0.1 * 0.5**t for t in (3, 7, 11)]
        assert opt.param_groups[0]["lr"] == 0.1 * 0.5**12
    else:
        # every step of epoch e runs with lr0·γ^e
        assert recorder.lrs == [0.1 * 0.5 ** (t // 4) for t in steps]
        assert history.column("lr") == [0.1, 0.05, 0.025]
        assert opt.param_groups[0]["lr"] == 0.1 * 0.5**3


# ----------------------------------------------------------------------------- callbacks
def test_early_stopping_stops_when_the_monitor_stalls(tmp_path):
    # lr = 0: the validation loss never improves after the first epoch
    trainer = regression_trainer(epochs=20, lr=0.0, out_dir=str(tmp_path))
    stop = EarlyStopping("val_loss", patience=2)
    trainer.callbacks.append(stop)
    history = trainer.fit()
    assert len(history) == 3 and trainer.epoch == 3
    assert stop.best_epoch == 1 and stop.bad_epochs == 2
    assert peek_checkpoint(tmp_path)["trainer_state"]["epoch"] == 3  # the stop is checkpointed


def test_early_stopping_lets_an_improving_run_finish():
    trainer = regression_trainer(epochs=6)
    stop = EarlyStopping("val_loss", patience=1)
    trainer.callbacks.append(stop)
    assert len(trainer.fit()) == 6
    assert stop.best_epoch == 6


def test_early_stopping_max_mode_and_min_delta():
    stop = EarlyStopping("val_accuracy", patience=2, mode="max", min_delta=0.05)

    class Fake:
        should_stop = False

    fake = Fake()
    for epoch, acc in enumerate([0.5, 0.6, 0.62, 0.64], start=1):  # +0.02 steps are too small
        stop.on_epoch_end(fake, {"epoch": epoch, "val_accuracy": acc})
    assert stop.best == 0.6 and stop.best_epoch == 2 and fake.should_stop


def test_early_stopping_bad_arguments():
    with pytest.raises(ConfigError, match="'median'"):
        EarlyStopping(mode="median")
    with pytest.raises(ConfigError, match="patience"):
        EarlyStopping(patience=0)
    trainer = regression_trainer(epochs=2)
    trainer.callbacks.append(EarlyStopping("val_accuracy"))
    with pytest.raises(ConfigError, match="val_accuracy"):
        trainer.fit()


def test_callback_hooks_run_in_order():
    events = []

    class Log(Callback):
        def on_fit_start(self, trainer):
            events.append("start")

        def on_step_end(self, trainer, step, loss):
            events.append(step)

        def on_epoch_end(self, trainer, row):
            events.append(f"epoch{row['epoch']}")
            assert trainer.history.last() is not None

        def on_fit_end(self, trainer):
            events.append("end")

    trainer = regression_trainer(epochs=2)
    trainer.callbacks.append(Log())
    trainer.fit()
    assert events == ["start", 1, 2, 3, 4, "epoch1", 5, 6, 7, 8, "epoch2", "end"]


# ----------------------------------------------------------------------------- evaluate
def test_evaluate_leaves_the_training_loader_and_the_run_alone():
    trainer = classifier_trainer(lambda m: torch.optim.SGD(m.parameters(), lr=0.1), epochs=2)
    trainer.fit()
    loader = trainer.train_data
    before = (loader.epoch, loader.state_dict())
    result = trainer.evaluate(loader)
    assert (loader.epoch, loader.state_dict()) == before
    assert trainer.model.training  # evaluate restores the mode it found
    # mean over all 40 examples in eval mode (dropout off)
    x, y = classification_data()
    trainer.model.eval()
    with torch.no_grad():
        out = trainer.model(x)
    assert result["loss"] == pytest.approx(nn.functional.cross_entropy(out, y).item(), rel=1e-6)
    assert result["accuracy"] == (out.argmax(1) == y).sum().item() / 40

    # evaluating the training data after every epoch does not change what training computes
    class EvalEachEpoch(Callback):
        def on_epoch_end(self, trainer, row):
            trainer.evaluate(trainer.train_data)

    plain = classifier_trainer(lambda m: torch.optim.SGD(m.parameters(), lr=0.1), epochs=3)
    probed = classifier_trainer(lambda m: torch.optim.SGD(m.parameters(), lr=0.1), epochs=3)
    probed.callbacks.append(EvalEachEpoch())
    plain.fit()
    probed.fit()
    assert params_equal(plain.model, probed.model)
    assert plain.history.column("train_loss") == probed.history.column("train_loss")


def test_evaluate_only_trainer_and_plain_iterables():
    x, y = classification_data()
    model = dropout_mlp()
    trainer = Trainer(model, None, nn.functional.cross_entropy, None,
                      metrics={"accuracy": accuracy},
                      config=TrainConfig(device="cpu", progress=False))
    batches = [(x[i:i + 7], y[i:i + 7]) for i in range(0, 40, 7)]  # 6 batches, last one of 5
    result = trainer.evaluate(batches)
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert result["loss"] == pytest.approx(nn.functional.cross_entropy(out, y).item(), rel=1e-6)
    assert result["accuracy"] == pytest.approx((out.argmax(1) == y).float().mean().item())
    with pytest.raises(ConfigError, match="optimizer"):
        trainer.fit()


def test_plain_list_of_batches_and_multi_input_models():
    class Sum2(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 1), nn.Linear(3, 1)

        def forward(self, u, v):
            return self.a(u) + self.b(v)

    x, y = regression_data()
    torch.manual_seed(0)
    model = Sum2()
    batches = [(x[i:i + 16], x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.05), mse, batches,
                      config=TrainConfig(epochs=10, progress=False, device="cpu"))
    history = trainer.fit()
    assert trainer.step == 40
    assert history.last()["train_loss"] < history.rows[0]["train_loss"] / 10


# ----------------------------------------------------------------------------- failures
def test_nan_loss_names_the_step_and_stops_before_updating():
    calls = []

    def loss_fn(out, y):
        calls.append(1)
        loss = mse(out, y)
        return loss * float("nan") if len(calls) == 6 else loss

    x, y = regression_data()
    model = linear_model()
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), loss_fn,
                      MiniBatches((x, y), batch_size=16, seed=5),
                      config=TrainConfig(epochs=3, progress=False, device="cpu"))
    with pytest.raises(NonFiniteLossError, match=r"step 6 \(epoch 2, batch 2\)"):
        trainer.fit()
    assert trainer.step == 5
    # the parameters are those after 5 steps: the NaN step changed nothing
    reference, _, _ = manual_regression_run(epochs=2, max_steps=5)
    assert params_equal(trainer.model, reference)
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_inf_loss_is_caught_too():
    x, y = regression_data()
    model = linear_model()
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1),
                      lambda out, t: mse(out, t) + float("inf"),
                      MiniBatches((x, y), batch_size=16),
                      config=TrainConfig(epochs=1, progress=False, device="cpu"))
    with pytest.raises(NonFiniteLossError, match="inf at step 1"):
        trainer.fit()


def test_loss_must_be_a_scalar_and_batches_need_targets():
    x, y = regression_data()
    model = linear_model()
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1),
                      lambda out, t: (out.squeeze(1) - t) ** 2, MiniBatches((x, y), batch_size=16),
                      config=TrainConfig(epochs=1, progress=False, device="cpu"))
    with pytest.raises(ConfigError, match=r"scalar.*\(16,\)"):
        trainer.fit()
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), mse,
                      MiniBatches(x, batch_size=16),
                      config=TrainConfig(epochs=1, progress=False, device="cpu"))
    with pytest.raises(ConfigError, match="inputs and targets"):
        trainer.fit()
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), mse, [],
                      config=TrainConfig(epochs=1, progress=False, device="cpu"))
    with pytest.raises(ConfigError, match="no batches"):
        trainer.fit()


@pytest.mark.parametrize("field, value", [
    ("epochs", 0), ("epochs", 2.5), ("max_steps", 0), ("grad_clip", 0.0),
    ("grad_clip", float("inf")), ("scheduler_interval", "batch"), ("checkpoint_every", -1),
    ("eval_every", 0),
])
def test_bad_config_values(field, value):
    with pytest.raises(ConfigError, match=field):
        TrainConfig(**{field: value})


def test_trainer_checks_its_arguments():
    model = linear_model()
    with pytest.raises(ConfigError, match="nn.Module"):
        Trainer(lambda x: x, None, mse, None)
    with pytest.raises(ConfigError, match="Optimizer"):
        Trainer(model, "sgd", mse, None)
    with pytest.raises(ConfigError, match="out_dir"):
        regression_trainer(epochs=1).fit(resume=True)


# ----------------------------------------------------------------------------- output, devices
def test_progress_false_prints_nothing(capsys):
    regression_trainer(epochs=2, progress=False).fit()
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_progress_true_reports_each_epoch(capsys):
    regression_trainer(epochs=2, progress=True).fit()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "epoch 1/2:" in captured.err and "epoch 2/2:" in captured.err


def test_cuda_asked_for_without_a_device_is_a_config_error(monkeypatch):
    # runs everywhere: the machine is made to look as if it had no CUDA device
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="no CUDA device"):
        regression_trainer(epochs=1, device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_device(tmp_path):
    def make(**config):
        return classifier_trainer(lambda m: torch.optim.Adam(m.parameters(), lr=0.01),
                                  lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.5),
                                  device="cuda", **config)

    whole = make(epochs=4)
    history = whole.fit()
    assert all(p.device.type == "cuda" for p in whole.model.parameters())
    assert history.last()["train_loss"] < history.rows[0]["train_loss"]
    assert 0.0 <= history.last()["val_accuracy"] <= 1.0
    # resuming on the GPU restores the CUDA generator (dropout masks) too
    make(epochs=4, max_steps=7, out_dir=str(tmp_path)).fit()
    resumed = make(epochs=4)
    resumed.fit(resume=tmp_path)
    assert params_equal(resumed.model, whole.model)
    assert resumed.history.column("train_loss") == history.column("train_loss")


def test_tensorboard_logger_writes_the_epoch_rows(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from deepnotes.train import TensorBoardLogger

    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    y = x @ torch.tensor([1.0, -2.0, 0.5])
    model = nn.Linear(3, 1)
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1),
                      lambda out, t: ((out.squeeze(1) - t) ** 2).mean(),
                      MiniBatches((x, y), batch_size=16), config=TrainConfig(epochs=3),
                      callbacks=[TensorBoardLogger(tmp_path / "tb", every_steps=2)])
    history = trainer.fit()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    losses = [e.value for e in events.Scalars("epoch/train_loss")]
    assert losses == pytest.approx(history.column("train_loss"), rel=1e-6)
    assert [e.step for e in events.Scalars("step/loss")] == [2, 4, 6, 8, 10, 12]


def test_tensorboard_logger_without_the_package_says_how_to_get_it(monkeypatch):
    import builtins

    from deepnotes.train import TensorBoardLogger

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("no tensorboard")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(ConfigError, match="pip install tensorboard"):
        TensorBoardLogger("anywhere")
