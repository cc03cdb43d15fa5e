"""BatchNorm1d/2d and LayerNorm: both paths agree, and torch.nn state dicts load both ways."""

from __future__ import annotations

import pytest
import torch
from torch import nn as tnn

from deepnotes import nn
from deepnotes.errors import ConfigError, ShapeError

f64 = torch.float64

BN_CASES = [
    ("BatchNorm1d", nn.BatchNorm1d, tnn.BatchNorm1d, (8, 3)),
    ("BatchNorm1d-seq", nn.BatchNorm1d, tnn.BatchNorm1d, (4, 3, 5)),
    ("BatchNorm2d", nn.BatchNorm2d, tnn.BatchNorm2d, (2, 3, 4, 5)),
]


def _batches(shape, steps=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [2.0 * torch.randn(shape, generator=g, dtype=f64) + 0.5 * k for k in range(steps)]


def _randomise(module: torch.nn.Module, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in module.parameters():
            t.copy_(torch.randn(t.shape, generator=g, dtype=t.dtype))


def _step(module, x):
    """Forward with a random upstream gradient; returns output and gradient wrt x and params."""
    x = x.detach().clone().requires_grad_(True)
    y = module(x)
    upstream = torch.randn(y.shape, dtype=y.dtype, generator=torch.Generator().manual_seed(7))
    grads = torch.autograd.grad(y, [x, *module.parameters()], upstream)
    return y.detach(), grads


def _assert_same_run(formula, fused, ref, batches):
    """Feed the same batches to the three modules (each once): the formula path must match
    the fused one to rounding, and the fused one must be torch's module exactly; so must the
    state dicts (running statistics, num_batches_tracked) afterwards."""
    for x in batches:
        y0, g0 = _step(formula, x)
        y1, g1 = _step(fused, x)
        y2, g2 = _step(ref, x)
        torch.testing.assert_close(y0, y1, atol=1e-11, rtol=1e-10)
        torch.testing.assert_close(y1, y2, atol=0, rtol=0)
        for u, v, w in zip(g0, g1, g2, strict=True):
            torch.testing.assert_close(u, v, atol=1e-11, rtol=1e-10)
            torch.testing.assert_close(v, w, atol=0, rtol=0)
    s0, s1, s2 = formula.state_dict(), fused.state_dict(), ref.state_dict()
    assert list(s0) == list(s1) == list(s2)
    for k in s0:
        torch.testing.assert_close(s0[k], s1[k], atol=1e-12, rtol=1e-12)
        torch.testing.assert_close(s1[k], s2[k], atol=0, rtol=0)


@pytest.mark.parametrize("case", BN_CASES, ids=lambda c: c[0])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("track", [True, False])
def test_batch_norm_paths_and_torch_agree_in_train_and_eval(case, affine, track):
    _, ours_cls, torch_cls, shape = case
    kw = dict(eps=1e-4, momentum=0.3, affine=affine, track_running_stats=track)
    fused = ours_cls(3, **kw, fused=True).double()
    formula = ours_cls(3, **kw, fused=False).double()
    ref = torch_cls(3, **kw).double()
    _randomise(ref)
    formula.load_state_dict(ref.state_dict())
    fused.load_state_dict(ref.state_dict())
    train, test = _batches(shape), _batches(shape, steps=2, seed=5)
    _assert_same_run(formula, fused, ref, train)
    for m in (formula, fused, ref):
        m.eval()
    _assert_same_run(formula, fused, ref, test)
    if track:
        assert formula.num_batches_tracked.item() == len(train)
        # eval uses the running statistics: y = γ (x - μ̂) / √(σ̂² + ε) + β
        x = test[0]
        bshape = (1, 3) + (1,) * (x.dim() - 2)
        mu, var = formula.running_mean.view(bshape), formula.running_var.view(bshape)
        expected = (x - mu) / torch.sqrt(var + 1e-4)
        if affine:
            expected = expected * formula.weight.view(bshape) + formula.bias.view(bshape)
        torch.testing.assert_close(formula(x), expected.detach(), atol=1e-12, rtol=1e-12)


def test_batch_norm_momentum_none_is_a_cumulative_average_as_in_torch():
    shape = (4, 3, 2, 2)
    fused = nn.BatchNorm2d(3, momentum=None).double()
    formula = nn.BatchNorm2d(3, momentum=None, fused=False).double()
    ref = tnn.BatchNorm2d(3, momentum=None).double()
    train = _batches(shape, steps=4, seed=12)
    _assert_same_run(formula, fused, ref, train)
    # μ̂ is the plain average of the batch means (starting from 0 with weight 1 on batch 1)
    means = torch.stack([x.mean(dim=(0, 2, 3)) for x in train])
    torch.testing.assert_close(formula.running_mean, means.mean(0))
    for m in (formula, fused, ref):
        m.eval()
    _assert_same_run(formula, fused, ref, _batches(shape, steps=1, seed=13))


@pytest.mark.parametrize("case", BN_CASES, ids=lambda c: c[0])
def test_batch_norm_state_dict_names_match_torch(case):
    _, ours_cls, torch_cls, _ = case
    ours, ref = ours_cls(3), torch_cls(3)
    assert list(ours.state_dict()) == list(ref.state_dict()) == [
        "weight", "bias", "running_mean", "running_var", "num_batches_tracked",
    ]
    for k, v in ref.state_dict().items():
        assert ours.state_dict()[k].shape == v.shape and ours.state_dict()[k].dtype == v.dtype
        torch.testing.assert_close(ours.state_dict()[k], v)  # same initial values
    assert [n for n, _ in ours.named_parameters()] == ["weight", "bias"]
    plain = ours_cls(3, affine=False, track_running_stats=False)
    assert list(plain.state_dict()) == list(
        torch_cls(3, affine=False, track_running_stats=False).state_dict()) == []


def test_batch_norm2d_trained_torch_weights_load_into_ours_and_back():
    torch.manual_seed(0)
    ref = tnn.BatchNorm2d(4).double()
    _randomise(ref, seed=3)
    for x in _batches((3, 4, 2, 2), steps=4, seed=9):  # give the running stats some history
        ref(x)
    assert ref.num_batches_tracked.item() == 4
    sd = ref.state_dict()
    for fused in (True, False):
        ours = nn.BatchNorm2d(4, fused=fused).double()
        ours.load_state_dict(sd)
        x = _batches((3, 4, 2, 2), steps=1, seed=11)[0]
        ours.eval(), ref.eval()
        torch.testing.assert_close(ours(x), ref(x), atol=1e-12, rtol=1e-12)
        ours.train(), ref.train()
        ref_copy = tnn.BatchNorm2d(4).double()
        ref_copy.load_state_dict(sd)
        torch.testing.assert_close(ours(x), ref_copy(x), atol=1e-12, rtol=1e-12)
        assert ours.num_batches_tracked.item() == 5
        # and our state dict loads back into torch's module (strict)
        back = tnn.BatchNorm2d(4).double()
        back.load_state_dict(ours.state_dict())
        for k, v in ours.state_dict().items():
            torch.testing.assert_close(back.state_dict()[k], v)


@pytest.mark.parametrize("fused", [True, False])
def test_batch_norm_float32_module_in_eval_matches_torch(fused):
    ref = tnn.BatchNorm1d(5)
    _randomise(ref, seed=4)
    for x in _batches((6, 5), steps=2, seed=2):
        ref(x.float())
    ours = nn.BatchNorm1d(5, fused=fused)
    ours.load_state_dict(ref.state_dict())
    ours.eval(), ref.eval()
    x = torch.randn(4, 5)
    torch.testing.assert_close(ours(x), ref(x))


@pytest.mark.parametrize("fused", [True, False])
def test_batch_norm_shape_errors(fused):
    with pytest.raises(ShapeError, match=r"BatchNorm1d\(3\).*\(N, 3\) or \(N, 3, L\).*\(4, 2\)"):
        nn.BatchNorm1d(3, fused=fused)(torch.zeros(4, 2))
    with pytest.raises(ShapeError, match=r"\(N, 3, H, W\)"):
        nn.BatchNorm2d(3, fused=fused)(torch.zeros(4, 3))
    with pytest.raises(ShapeError):
        nn.BatchNorm1d(3, fused=fused)(torch.zeros(2, 3, 4, 5))
    with pytest.raises(ValueError):  # one value per channel cannot be normalised in training
        nn.BatchNorm1d(3, fused=fused)(torch.zeros(1, 3))
    # but it can in eval mode
    out = nn.BatchNorm1d(3, fused=fused).eval()(torch.ones(1, 3))
    assert out.shape == (1, 3)


def test_batch_norm_config_errors_and_repr():
    with pytest.raises(ConfigError, match="num_features"):
        nn.BatchNorm1d(0)
    with pytest.raises(ConfigError, match="momentum"):
        nn.BatchNorm2d(3, momentum=2.0)
    assert "fused=False" in repr(nn.BatchNorm2d(3, fused=False))


# --- layer norm ---


@pytest.mark.parametrize("normalized_shape", [6, (6,), (4, 6)], ids=str)
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_paths_and_torch_agree(normalized_shape, affine):
    fused = nn.LayerNorm(normalized_shape, eps=1e-6, elementwise_affine=affine).double()
    formula = nn.LayerNorm(normalized_shape, eps=1e-6, elementwise_affine=affine,
                           fused=False).double()
    ref = tnn.LayerNorm(normalized_shape, eps=1e-6, elementwise_affine=affine).double()
    _randomise(ref, seed=6)
    assert list(fused.state_dict()) == list(ref.state_dict())
    fused.load_state_dict(ref.state_dict())
    formula.load_state_dict(ref.state_dict())
    batches = _batches((2, 3, 4, 6), steps=2, seed=8)
    _assert_same_run(formula, fused, ref, batches)
    # train and eval are the same for layer norm
    for m in (formula, fused, ref):
        m.eval()
    _assert_same_run(formula, fused, ref, batches)
    # and our weights load into torch's module
    back = tnn.LayerNorm(normalized_shape, eps=1e-6, elementwise_affine=affine).double()
    back.load_state_dict(formula.state_dict())
    _assert_same_run(formula, fused, back, batches)


def test_layer_norm_state_dict_names_and_init_match_torch():
    ours, ref = nn.LayerNorm((3, 4)), tnn.LayerNorm((3, 4))
    assert ours.normalized_shape == ref.normalized_shape == (3, 4)
    assert list(ours.state_dict()) == list(ref.state_dict()) == ["weight", "bias"]
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[k], v)


@pytest.mark.parametrize("fused", [True, False])
def test_layer_norm_errors(fused):
    with pytest.raises(ShapeError, match=r"\(5,\).*\(2, 4\)"):
        nn.LayerNorm(5, fused=fused)(torch.zeros(2, 4))
    with pytest.raises(ShapeError):
        nn.LayerNorm((2, 3), fused=fused)(torch.zeros(3))
    with pytest.raises(ConfigError):
        nn.LayerNorm((), fused=fused)
    with pytest.raises(ConfigError):
        nn.LayerNorm((3, 0), fused=fused)
    assert f"fused={fused}" in repr(nn.LayerNorm(3, fused=fused))
