"""Trainer ``precision`` and ``compile`` options on the CPU (B11).

bfloat16 autocast trains (the loss falls) and ends near the float32 weights; ``compile=True``
ends where eager mode does (the tiny model compiles in about 17 s on the 2-core CPU box, train
and evaluation graphs together); the loss-scaling path (a GradScaler, CUDA's fp16 companion)
is run on the CPU with a power-of-two scale, where it must change nothing; fp16 on the CPU
is refused with one sentence.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from deepnotes.data import MiniBatches
from deepnotes.errors import ConfigError
from deepnotes.optim import SGD
from deepnotes.train import TrainConfig, Trainer, default_loss_step
from deepnotes.train import trainer as trainer_module
from tests.train.helpers import classification_data


def _trainer(seen_dtypes: list[torch.dtype] | None = None, **config) -> Trainer:
    x, y = classification_data(n=64)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3))

    def step(m, loss_fn, batch):
        loss, out, target = default_loss_step(m, loss_fn, batch)
        if seen_dtypes is not None:
            seen_dtypes.append(out.dtype)
        return loss, out, target

    config.setdefault("epochs", 3)
    return Trainer(model, SGD(model.parameters(), lr=0.2, momentum=0.9),
                   nn.functional.cross_entropy, MiniBatches((x, y), batch_size=16, seed=3),
                   MiniBatches((x[:20], y[:20]), batch_size=8, shuffle=False), loss_step=step,
                   config=TrainConfig(progress=False, device="cpu", **config))


def _flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.fixture(scope="module")
def fp32():
    trainer = _trainer()
    trainer.fit()
    return trainer


def test_bf16_trains_and_ends_near_fp32(fp32):
    dtypes: list[torch.dtype] = []
    bf16 = _trainer(dtypes, precision="bf16")
    bf16.fit()
    assert set(dtypes) == {torch.bfloat16}  # the forward pass ran under bf16 autocast
    losses = [r["train_loss"] for r in bf16.history.rows]
    assert losses[-1] < 0.75 * losses[0]
    assert all(p.dtype == torch.float32 for p in bf16.model.parameters())  # weights: float32
    w16, w32 = _flat(bf16.model), _flat(fp32.model)
    travelled = (w32 - _flat(_trainer().model)).norm()
    # 8 bits of mantissa in the forward pass: the bf16 run ends within 5 % of the distance
    # the weights travelled from the fp32 run's end point (2.3 % measured), but not on it
    assert 0 < (w16 - w32).norm() < 0.05 * travelled
    assert bf16.history.rows[-1]["val_loss"] == pytest.approx(
        fp32.history.rows[-1]["val_loss"], rel=2e-2)


def test_compiled_model_matches_eager(fp32):
    compiled = _trainer(compile=True)
    assert compiled._forward_model is not compiled.model  # the compiled wrapper runs the steps
    compiled.fit()
    for pc, pe in zip(compiled.model.parameters(), fp32.model.parameters()):
        torch.testing.assert_close(pc, pe, rtol=1e-5, atol=1e-6)
    for rc, re in zip(compiled.history.rows, fp32.history.rows, strict=True):
        assert rc["train_loss"] == pytest.approx(re["train_loss"], rel=1e-5)
        assert rc["val_loss"] == pytest.approx(re["val_loss"], rel=1e-5)
    # the checkpoint holds the model's own keys, not the compiled wrapper's
    assert all(not k.startswith("_orig_mod") for k in compiled.model.state_dict())


def test_loss_scaling_path_changes_nothing_and_resumes(monkeypatch, tmp_path):
    """fp16 on CUDA scales the loss by s and unscales the gradients; with s a power of two
    the float32 steps are the same numbers, through clipping and a resume from a checkpoint."""
    ref = _trainer(grad_clip=100.0)  # float32 on the CPU: no scaler
    assert ref._scaler is None
    ref.fit()
    monkeypatch.setattr(trainer_module, "grad_scaler",
                        lambda precision, device: torch.amp.GradScaler("cpu", init_scale=2.0**12,
                                                                       growth_interval=3))
    scaled = _trainer(grad_clip=100.0, epochs=2, out_dir=str(tmp_path))
    scaled.fit()  # 8 steps: the scale doubled twice
    assert scaled._scaler.get_scale() == 2.0**14
    resumed = _trainer(grad_clip=100.0, epochs=3, out_dir=str(tmp_path))
    resumed.fit(resume=True)  # 4 more steps from the saved scale and growth counter
    assert resumed._scaler.get_scale() == 2.0**16
    for pr, pe in zip(resumed.model.parameters(), ref.model.parameters()):
        torch.testing.assert_close(pr, pe, rtol=1e-6, atol=1e-7)
    assert resumed.history.rows[-1]["train_loss"] == pytest.approx(
        ref.history.rows[-1]["train_loss"], rel=1e-6)


def test_fp16_on_the_cpu_is_one_sentence():
    with pytest.raises(ConfigError, match="fp16.*needs a CUDA device.*bf16"):
        _trainer(precision="fp16")


@pytest.mark.parametrize("field, value, message", [
    ("precision", "16", "precision must be one of"),
    ("precision", 32, "precision must be one of"),
    ("compile", "yes", "compile must be True or False"),
])
def test_bad_values_are_refused(field, value, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**{field: value})
