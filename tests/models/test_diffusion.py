"""The DDPM noise predictor (N9; DDPM beyond the notes): the U-Net's shapes and sizes, the step
changes its answer, fused = formula from one state dict; the training task: the loss falls, the
EMA, the time budget, samples in [0, 1] that repeat with a seed."""

from __future__ import annotations

import copy
import doctest
import math

import pytest
import torch

import deepnotes.models.diffusion as diffusion_module
import deepnotes.tasks.diffusion as task_module
from deepnotes import models
from deepnotes.errors import ConfigError, ShapeError
from deepnotes.functional.diffusion import alphas_bar, linear_betas, sample
from deepnotes.tasks.diffusion import draw_ddpm, ema_update, evaluate_ddpm, train_ddpm

SMALL = {"image_size": 8, "channels": (4, 8), "time_dim": 8, "groups": 2}
f64 = torch.float64


def _net(**kw):
    torch.manual_seed(0)
    return models.create("ddpm-unet", **{**SMALL, **kw})


def _images(n, seed=0, side=8):
    return torch.rand(n, 1, side, side, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_n9_unet_maps_a_noisy_image_to_noise_of_its_shape_through_28_14_7():
    """(N9) ε̂ has x_t's shape; the encoder halves 28 → 14 → 7 and the decoder doubles back."""
    torch.manual_seed(0)
    net = models.create("ddpm-unet")
    sizes = {}
    for name in ("stem", "pool1", "pool2", "mid", "dec2", "dec1"):
        getattr(net, name).register_forward_hook(
            lambda m, i, o, name=name: sizes.__setitem__(name, tuple(o.shape[1:])))
    x = torch.randn(2, 1, 28, 28)
    out = net(x, torch.tensor([1, 1000]))
    assert out.shape == (2, 1, 28, 28) and torch.isfinite(out).all()
    assert sizes == {"stem": (32, 28, 28), "pool1": (32, 14, 14), "pool2": (64, 7, 7),
                     "mid": (64, 7, 7), "dec2": (64, 14, 14), "dec1": (32, 28, 28)}
    # one step for the whole batch broadcasts
    net.eval()
    with torch.no_grad():
        torch.testing.assert_close(net(x, torch.tensor(5)), net(x, torch.tensor([5, 5])))
    assert models.model_task("ddpm-unet") == "generation"
    assert models.model_inputs("ddpm-unet") == "images"


def test_n9_the_step_changes_the_output():
    """(N9) one image, different t: different noise guesses (the embedding reaches the
    blocks); the same t: the same guess."""
    net = _net().eval()
    x = _images(1).expand(3, 1, 8, 8)
    with torch.no_grad():
        out = net(x, torch.tensor([1, 500, 1000]))
        again = net(x, torch.tensor([1, 500, 1000]))
    assert torch.equal(out, again)
    for i, j in ((0, 1), (1, 2), (0, 2)):
        assert (out[i] - out[j]).abs().max() > 1e-4, (i, j)
    # every block reads the embedding: zero one block's time layer and the output moves
    with torch.no_grad():
        net.mid.time.weight.zero_()
        net.mid.time.bias.zero_()
        assert not torch.allclose(net(x, torch.tensor([1, 500, 1000])), out)


def test_fused_and_formula_paths_agree_from_one_state_dict():
    """Our im2col convolutions and torch's give the same ε̂ and gradients (float64)."""
    fused = _net(fused=True).double()
    formula = models.create("ddpm-unet", **SMALL, fused=False).double()
    formula.load_state_dict(fused.state_dict())
    x = _images(3).double().requires_grad_(True)
    t = torch.tensor([1, 40, 900])
    y1, y0 = fused(x, t), formula(x, t)
    torch.testing.assert_close(y0, y1, atol=1e-10, rtol=1e-9)
    up = torch.randn(y1.shape, dtype=f64, generator=torch.Generator().manual_seed(1))
    g1 = torch.autograd.grad(y1, [x, *fused.parameters()], up)
    g0 = torch.autograd.grad(y0, [x, *formula.parameters()], up)
    for a, b in zip(g1, g0, strict=True):
        torch.testing.assert_close(b, a, atol=1e-10, rtol=1e-9)
    assert all(m.fused is False for m in formula.modules() if hasattr(m, "fused"))


def test_config_and_shape_errors():
    with pytest.raises(ConfigError, match="channels"):
        models.create("ddpm-unet", channels=(8,))
    with pytest.raises(ConfigError, match="multiple of 4.*30"):
        models.create("ddpm-unet", image_size=30)
    with pytest.raises(ConfigError, match="groups.*3"):
        models.create("ddpm-unet", groups=3)
    net = _net()
    with pytest.raises(ShapeError, match=r"\(B, 1, 8, 8\).*\(2, 1, 28, 28\)"):
        net(torch.zeros(2, 1, 28, 28), torch.tensor([1, 2]))
    with pytest.raises(ShapeError, match=r"\(2,\)"):
        net(torch.zeros(2, 1, 8, 8), torch.tensor([1, 2, 3]))


def test_n9_training_lowers_the_noise_error_and_keeps_an_ema():
    """(N9) a few dozen Adam updates on DDPM's loss bring the held-out noise error well
    below the untrained network's; the EMA copy is a different, also better, set of weights."""
    net = _net()
    train, test = _images(256, 1), _images(128, 2)
    before = evaluate_ddpm(net, test, T=100)
    r = train_ddpm(net, train, updates=60, batch_size=32, lr=3e-3, T=100, warmup=5,
                   log_every=10, ema_decay=0.9)
    assert r.updates == 60 and [h["update"] for h in r.history] == [10, 20, 30, 40, 50, 60]
    assert r.history[-1]["loss"] < r.history[0]["loss"]
    assert all(math.isfinite(h["loss"]) for h in r.history)
    after, ema_after = evaluate_ddpm(net, test, T=100), evaluate_ddpm(r.ema, test, T=100)
    assert after < 0.8 * before and ema_after < 0.8 * before
    assert not net.training and not r.ema.training
    assert not torch.equal(r.ema.out.weight, net.out.weight)
    assert all(not p.requires_grad for p in r.ema.parameters())
    # the same seed, the same losses
    again = train_ddpm(_net(), train, updates=20, batch_size=32, lr=3e-3, T=100, warmup=5,
                       log_every=10, ema_decay=0)
    twice = train_ddpm(_net(), train, updates=20, batch_size=32, lr=3e-3, T=100, warmup=5,
                       log_every=10, ema_decay=0)
    assert again.history[-1]["loss"] == twice.history[-1]["loss"] and again.ema is None


def test_ema_update_is_the_moving_average_and_the_warmup_ramp():
    net = _net()
    ema = copy.deepcopy(net)
    target = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    ema_update(ema, net, 0.75)
    for k, v in ema.state_dict().items():
        # θ_EMA ← 0.75 θ_EMA + 0.25 (θ_EMA + 1)
        torch.testing.assert_close(v, target[k] + 0.25)
    with pytest.raises(ConfigError, match="decay"):
        ema_update(ema, net, 1.5)


def test_the_time_budget_stops_training_and_arguments_are_checked():
    r = train_ddpm(_net(), _images(64), updates=1000, max_seconds=0.0, batch_size=16, T=50)
    assert r.updates == 1 and len(r.history) == 1
    with pytest.raises(ConfigError, match=r"\[-1, 1\]"):
        train_ddpm(_net(), _images(64) + 1.5, updates=1, batch_size=16)
    with pytest.raises(ShapeError, match="batch_size"):
        train_ddpm(_net(), _images(8), updates=1, batch_size=16)
    with pytest.raises(ConfigError, match="updates.*0"):
        train_ddpm(_net(), _images(64), updates=0)
    with pytest.raises(ConfigError, match="ema_decay"):
        train_ddpm(_net(), _images(64), updates=1, batch_size=16, ema_decay=1.0)


def test_n9_draw_gives_images_in_the_unit_interval_that_repeat_with_a_seed():
    """(N9) noise in, images in [0, 1] out; DDIM samples do not depend on the batch size, and
    equal (x + 1)/2 of the functional sampler from the same x_T; the callback sees the first
    batch's reverse process from t = T down to 0."""
    net = _net()
    betas = linear_betas(100)
    seen = []
    a = draw_ddpm(net, 7, T=100, seed=3, batch_size=3, steps=5,
                  callback=lambda t, x: seen.append((t, x.shape[0])))
    b = draw_ddpm(net, 7, T=100, seed=3, batch_size=7, steps=5)
    assert a.shape == (7, 1, 8, 8) and float(a.min()) >= 0 and float(a.max()) <= 1
    torch.testing.assert_close(a, b)
    assert net.training  # the mode is restored
    assert seen[0][0] == 100 and seen[-1] == (0, 3) and len(seen) == 6
    x_T = torch.randn(7, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        x0 = sample(net.eval(), 7, (1, 8, 8), betas=betas, steps=5, method="ddim",
                    clip_x0=1.0, x_T=x_T)
    torch.testing.assert_close(a, ((x0 + 1) / 2).clamp(0, 1))
    c = draw_ddpm(net, 4, T=100, seed=3, steps=5, method="ddpm")
    d = draw_ddpm(net, 4, T=100, seed=3, steps=5, method="ddpm")
    assert torch.equal(c, d) and not torch.equal(c, draw_ddpm(net, 4, T=100, seed=4, steps=5,
                                                               method="ddpm"))
    with pytest.raises(ConfigError, match="n must"):
        draw_ddpm(net, 0)


def test_evaluate_ddpm_is_the_loss_of_the_same_draws():
    net = _net()
    x = _images(10)
    a = evaluate_ddpm(net, x, T=50, seed=2, batch_size=3)
    assert a == evaluate_ddpm(net, x, T=50, seed=2, batch_size=3)
    zero = evaluate_ddpm(_Zero(), _images(2000, side=4), T=50)
    assert zero == pytest.approx(1.0, abs=0.02)
    assert alphas_bar(linear_betas(50)).shape == (50,)


class _Zero(torch.nn.Module):
    """ε̂ = 0 (scores E ε² = 1)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, t):
        return self.w * x


@pytest.mark.parametrize("module", [diffusion_module, task_module],
                         ids=["model", "task"])
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.attempted >= 2 and result.failed == 0
