"""Inverted dropout and Gaussian noise (G5): scaling, identity cases, reproducibility."""

from __future__ import annotations

import math

import pytest
import torch

from deepnotes import functional as F
from deepnotes.errors import ConfigError

f64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_zeroes_or_scales_each_entry(p):
    x = torch.randn(50_000, generator=_gen(0), dtype=f64)
    y = F.dropout(x, p=p, generator=_gen(1))
    kept = y != 0
    # kept entries are x / (1 - p); the others are exactly 0
    torch.testing.assert_close(y[kept], x[kept] / (1 - p), atol=0, rtol=1e-15)
    # the dropped fraction is p, within 5 binomial standard deviations
    n = x.numel()
    assert abs((~kept).sum().item() - p * n) < 5 * math.sqrt(n * p * (1 - p))


@pytest.mark.parametrize("p", [0.2, 0.7])
def test_dropout_preserves_the_mean(p):
    # E[x'] = x: the average over many draws of one input is the input
    x = torch.tensor([1.0, -2.0, 3.0], dtype=f64)
    draws = F.dropout(x.expand(40_000, 3), p=p, generator=_gen(2))
    # standard error of each column mean is |x|·√(p/(1-p)) / √n
    se = x.abs() * math.sqrt(p / (1 - p)) / math.sqrt(draws.shape[0])
    assert ((draws.mean(0) - x).abs() < 5 * se).all()


def test_dropout_gradient_is_the_mask_over_keep_probability():
    p = 0.3
    x = torch.randn(1000, generator=_gen(3), dtype=f64, requires_grad=True)
    y = F.dropout(x, p=p, generator=_gen(4))
    (g,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(g, (y != 0).to(f64) / (1 - p), atol=0, rtol=1e-15)


def test_dropout_identity_cases():
    x = torch.randn(4, 5, generator=_gen(5))
    assert torch.equal(F.dropout(x, p=0.0), x)
    assert torch.equal(F.dropout(x, p=0.5, training=False), x)
    assert torch.equal(F.dropout(x, p=1.0, training=False), x)


def test_dropout_p_one_gives_zeros_and_zero_gradient():
    x = torch.randn(4, 5, generator=_gen(6), requires_grad=True)
    y = F.dropout(x, p=1.0)
    assert torch.equal(y, torch.zeros_like(x))
    y.sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


def test_dropout_is_reproducible_with_a_seed():
    x = torch.ones(200)
    a = F.dropout(x, 0.5, generator=_gen(7))
    b = F.dropout(x, 0.5, generator=_gen(7))
    c = F.dropout(x, 0.5, generator=_gen(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    torch.manual_seed(9)
    d = F.dropout(x, 0.5)
    torch.manual_seed(9)
    assert torch.equal(d, F.dropout(x, 0.5))


def test_dropout_keeps_dtype_and_shape():
    for dtype in (torch.float32, f64, torch.bfloat16):
        x = torch.ones(3, 4, 5, dtype=dtype)
        y = F.dropout(x, 0.5, generator=_gen(10))
        assert y.dtype == dtype and y.shape == x.shape
        assert set(y.unique().tolist()) <= {0.0, 2.0}


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(ConfigError, match="dropout probability"):
        F.dropout(torch.ones(3), p=p)


def test_gaussian_noise_statistics_and_identity():
    x = torch.full((100_000,), 2.0, dtype=f64)
    y = F.gaussian_noise(x, std=0.5, generator=_gen(11))
    assert y.dtype == f64
    noise = y - x
    n = x.numel()
    assert abs(noise.mean().item()) < 5 * 0.5 / math.sqrt(n)
    assert abs(noise.std().item() - 0.5) < 0.01
    assert torch.equal(F.gaussian_noise(x, std=0.5, training=False), x)
    assert torch.equal(F.gaussian_noise(x, std=0.0), x)


def test_gaussian_noise_reproducible_and_gradient_is_identity():
    x = torch.randn(10, generator=_gen(12), requires_grad=True)
    a = F.gaussian_noise(x, 1.0, generator=_gen(13))
    b = F.gaussian_noise(x, 1.0, generator=_gen(13))
    assert torch.equal(a, b)
    assert not torch.equal(a, F.gaussian_noise(x, 1.0, generator=_gen(14)))
    a.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))


@pytest.mark.parametrize("std", [-1.0, float("nan")])
def test_gaussian_noise_rejects_bad_std(std):
    with pytest.raises(ConfigError, match="std"):
        F.gaussian_noise(torch.ones(3), std=std)
