"""batch_norm (O9) and layer_norm (O10) against torch.nn.functional in float64."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as TF
from torch.autograd import gradcheck

from deepnotes import functional as F
from deepnotes.errors import ConfigError, ShapeError
from tests.functional._helpers import assert_parity

f64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


BN_SHAPES = [(8, 3), (4, 3, 5), (2, 3, 4, 5)]


def _bn_inputs(shape, seed=0):
    g = _gen(seed)
    c = shape[1]
    x = 3.0 * torch.randn(shape, generator=g, dtype=f64) + 1.5
    weight = torch.randn(c, generator=g, dtype=f64)
    bias = torch.randn(c, generator=g, dtype=f64)
    mean = torch.randn(c, generator=g, dtype=f64)
    var = torch.rand(c, generator=g, dtype=f64) + 0.5
    return x, weight, bias, mean, var


@pytest.mark.parametrize("shape", BN_SHAPES, ids=str)
@pytest.mark.parametrize("momentum", [0.1, 0.0, 0.7, 1.0])
def test_batch_norm_training_output_and_running_stats(shape, momentum):
    x, weight, bias, mean, var = _bn_inputs(shape)
    rm_ours, rv_ours = mean.clone(), var.clone()
    rm_ref, rv_ref = mean.clone(), var.clone()
    assert_parity(
        lambda x, w, b: F.batch_norm(x, rm_ours, rv_ours, w, b, True, momentum, 1e-5),
        lambda x, w, b: TF.batch_norm(x, rm_ref, rv_ref, w, b, True, momentum, 1e-5),
        x, weight, bias, atol=1e-11,
    )
    # running statistics updated in place, with the unbiased variance
    torch.testing.assert_close(rm_ours, rm_ref, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(rv_ours, rv_ref, atol=1e-12, rtol=1e-12)
    if momentum > 0:
        assert not torch.equal(rm_ours, mean)


@pytest.mark.parametrize("shape", BN_SHAPES, ids=str)
def test_batch_norm_eval_uses_running_stats(shape):
    x, weight, bias, mean, var = _bn_inputs(shape, seed=1)
    rm, rv = mean.clone(), var.clone()
    assert_parity(
        lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False, eps=1e-3),
        lambda x, w, b: TF.batch_norm(x, mean, var, w, b, False, 0.1, 1e-3),
        x, weight, bias,
    )
    # eval never touches the running statistics
    assert torch.equal(rm, mean) and torch.equal(rv, var)


@pytest.mark.parametrize("shape", BN_SHAPES, ids=str)
def test_batch_norm_without_affine_or_running_stats(shape):
    x, *_ = _bn_inputs(shape, seed=2)
    assert_parity(lambda x: F.batch_norm(x, None, None),
                  lambda x: TF.batch_norm(x, None, None, training=True), x, atol=1e-11)
    # normalised output: zero mean and unit (biased) variance per channel, up to ε
    y = F.batch_norm(x, None, None, eps=0.0)
    dims = [0, *range(2, x.dim())]
    torch.testing.assert_close(y.mean(dims), torch.zeros(shape[1], dtype=f64), atol=1e-12, rtol=0)
    torch.testing.assert_close(y.var(dims, unbiased=False), torch.ones(shape[1], dtype=f64))


def test_batch_norm_repeated_updates_follow_torch():
    rm, rv = torch.zeros(3, dtype=f64), torch.ones(3, dtype=f64)
    rm_ref, rv_ref = rm.clone(), rv.clone()
    for step in range(5):
        x, *_ = _bn_inputs((6, 3, 2), seed=10 + step)
        F.batch_norm(x, rm, rv, momentum=0.2)
        TF.batch_norm(x, rm_ref, rv_ref, training=True, momentum=0.2)
    torch.testing.assert_close(rm, rm_ref)
    torch.testing.assert_close(rv, rv_ref)


def test_batch_norm_float32_running_stats_with_float64_input():
    # running buffers keep their own dtype; the variance they track is the unbiased one
    x, *_ = _bn_inputs((5, 2))
    rm, rv = torch.zeros(2), torch.ones(2)
    F.batch_norm(x, rm, rv)
    assert rm.dtype == torch.float32 and rv.dtype == torch.float32
    torch.testing.assert_close(rm, (0.1 * x.mean(0)).float())
    torch.testing.assert_close(rv, (0.9 + 0.1 * x.var(0, unbiased=True)).float())


def test_batch_norm_gradcheck():
    x, weight, bias, *_ = _bn_inputs((4, 2, 3), seed=3)
    inputs = tuple(t.requires_grad_(True) for t in (x, weight, bias))
    assert gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b), inputs)
    rm, rv = torch.zeros(2, dtype=f64), torch.ones(2, dtype=f64) * 2
    assert gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False), inputs)


def test_batch_norm_errors():
    with pytest.raises(ShapeError, match=r"\(5,\)"):
        F.batch_norm(torch.zeros(5), None, None)
    with pytest.raises(ShapeError, match="more than 1 value"):
        F.batch_norm(torch.zeros(1, 3), None, None)
    with pytest.raises(ShapeError, match="weight of shape \\(3,\\)"):
        F.batch_norm(torch.zeros(4, 3), None, None, weight=torch.ones(4))
    with pytest.raises(ShapeError, match="running_mean"):
        F.batch_norm(torch.zeros(4, 3), torch.zeros(2), torch.ones(3))
    with pytest.raises(ConfigError, match="running_mean and running_var"):
        F.batch_norm(torch.zeros(4, 3), None, None, training=False)
    with pytest.raises(ConfigError, match="momentum"):
        F.batch_norm(torch.zeros(4, 3), None, None, momentum=1.5)
    # a single example is fine in eval mode
    out = F.batch_norm(torch.ones(1, 3), torch.zeros(3), torch.ones(3), training=False, eps=0.0)
    torch.testing.assert_close(out, torch.ones(1, 3))


# --- layer norm ---

LN_CASES = [((4, 6), 6), ((2, 3, 5), (5,)), ((2, 3, 4, 5), (4, 5)), ((7,), 7)]


@pytest.mark.parametrize("shape,normalized", LN_CASES, ids=str)
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_matches_torch(shape, normalized, affine):
    g = _gen(4)
    ns = (normalized,) if isinstance(normalized, int) else normalized
    x = 2.0 * torch.randn(shape, generator=g, dtype=f64) - 1.0
    params = [torch.randn(ns, generator=g, dtype=f64) for _ in range(2)] if affine else []

    def ours(x, *wb):
        return F.layer_norm(x, normalized, *wb, eps=1e-5)

    def ref(x, *wb):
        return TF.layer_norm(x, ns, *wb, eps=1e-5)

    assert_parity(ours, ref, x, *params, atol=1e-11)


def test_layer_norm_normalises_each_example_on_its_own():
    g = _gen(5)
    scale = torch.tensor([[1.0], [100.0], [1e-3]], dtype=f64)
    x = torch.randn(3, 8, generator=g, dtype=f64) * scale
    y = F.layer_norm(x, 8, eps=0.0)
    torch.testing.assert_close(y.mean(-1), torch.zeros(3, dtype=f64), atol=1e-12, rtol=0)
    torch.testing.assert_close(y.var(-1, unbiased=False), torch.ones(3, dtype=f64))
    # each row is independent of the others
    torch.testing.assert_close(F.layer_norm(x[1:2], 8, eps=0.0), y[1:2])


def test_layer_norm_gradcheck():
    g = _gen(6)
    x = torch.randn(2, 3, 4, generator=g, dtype=f64, requires_grad=True)
    w = torch.randn(3, 4, generator=g, dtype=f64, requires_grad=True)
    b = torch.randn(3, 4, generator=g, dtype=f64, requires_grad=True)
    assert gradcheck(lambda x, w, b: F.layer_norm(x, (3, 4), w, b), (x, w, b))


def test_layer_norm_errors():
    with pytest.raises(ShapeError, match=r"\(4,\).*\(2, 3\)"):
        F.layer_norm(torch.zeros(2, 3), 4)
    with pytest.raises(ShapeError):
        F.layer_norm(torch.zeros(3), (2, 3))
    with pytest.raises(ShapeError):
        F.layer_norm(torch.zeros(2, 3), ())
    with pytest.raises(ShapeError, match="weight"):
        F.layer_norm(torch.zeros(2, 3), 3, weight=torch.ones(2))
    with pytest.raises(ShapeError, match="bias"):
        F.layer_norm(torch.zeros(2, 3), 3, bias=torch.ones(3, 1))
