"""Dropout and GaussianNoise layers: train vs eval, both Dropout paths scale the same way."""

from __future__ import annotations

import math

import pytest
import torch

from deepnotes import functional as F
from deepnotes import nn
from deepnotes.errors import ConfigError


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("p", [0.25, 0.6])
def test_dropout_train_mode(fused, p):
    torch.manual_seed(0)
    layer = nn.Dropout(p, fused=fused)
    assert layer.training
    x = torch.randn(40_000, dtype=torch.float64, requires_grad=True)
    y = layer(x)
    kept = y != 0
    torch.testing.assert_close(y[kept], x[kept] / (1 - p), atol=0, rtol=1e-15)
    n = x.numel()
    assert abs((~kept).sum().item() - p * n) < 5 * math.sqrt(n * p * (1 - p))
    y.sum().backward()
    torch.testing.assert_close(x.grad, kept.double() / (1 - p), atol=0, rtol=1e-15)


@pytest.mark.parametrize("fused", [True, False])
def test_dropout_paths_share_the_expected_value(fused):
    torch.manual_seed(1)
    layer = nn.Dropout(0.5, fused=fused)
    x = torch.tensor([2.0, -1.0], dtype=torch.float64)
    draws = layer(x.expand(40_000, 2))
    se = x.abs() / math.sqrt(draws.shape[0])  # √(p/(1-p)) = 1 at p = 0.5
    assert ((draws.mean(0) - x).abs() < 5 * se).all()


@pytest.mark.parametrize("fused", [True, False])
def test_dropout_eval_and_edge_probabilities(fused):
    x = torch.randn(3, 4)
    layer = nn.Dropout(0.5, fused=fused).eval()
    assert torch.equal(layer(x), x)
    assert torch.equal(nn.Dropout(0.0, fused=fused)(x), x)
    assert torch.equal(nn.Dropout(1.0, fused=fused)(x), torch.zeros_like(x))
    assert torch.equal(nn.Dropout(1.0, fused=fused).eval()(x), x)
    # train() switches it back on
    layer.train()
    assert (layer(torch.ones(1000)) == 0).any()


def test_dropout_formula_path_is_reproducible_under_the_global_seed():
    layer = nn.Dropout(0.5, fused=False)
    torch.manual_seed(3)
    a = layer(torch.ones(100))
    torch.manual_seed(3)
    assert torch.equal(a, layer(torch.ones(100)))


def test_dropout_config():
    with pytest.raises(ConfigError, match="1.2"):
        nn.Dropout(1.2)
    assert repr(nn.Dropout(0.1, fused=False)) == "Dropout(p=0.1, fused=False)"
    assert list(nn.Dropout().state_dict()) == []


def test_gaussian_noise_layer():
    layer = nn.GaussianNoise(0.3)
    x = torch.zeros(50_000, dtype=torch.float64)
    torch.manual_seed(4)
    y = layer(x)
    assert abs(y.std().item() - 0.3) < 0.01 and abs(y.mean().item()) < 5 * 0.3 / math.sqrt(5e4)
    # the layer is deepnotes.functional.gaussian_noise (the formula the augmentation uses too)
    torch.manual_seed(4)
    assert torch.equal(y, F.gaussian_noise(x, 0.3))
    assert torch.equal(layer.eval()(x), x)
    assert repr(layer) == "GaussianNoise(std=0.3)"
    with pytest.raises(ConfigError, match="std"):
        nn.GaussianNoise(-0.1)
