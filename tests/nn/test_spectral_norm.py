"""Spectral normalisation by power iteration (N4) against torch's parametrisation."""

from __future__ import annotations

import doctest

import pytest
import torch
from torch import nn as tnn
from torch.nn.utils.parametrizations import spectral_norm as torch_sn

import deepnotes.nn.spectral as sn_module
from deepnotes import nn
from deepnotes.errors import ConfigError

f64 = torch.float64


def _pair(make, seed=0, **kw):
    torch.manual_seed(seed)
    ours = nn.spectral_norm(make().double(), **kw)
    torch.manual_seed(seed)
    ref = torch_sn(make().double(), **kw)
    return ours, ref


@pytest.mark.parametrize("make, shape, dim", [
    (lambda: tnn.Linear(7, 5), (4, 7), None),
    (lambda: nn.Conv2d(3, 6, 3, padding=1), (2, 3, 6, 6), None),
    # torch does not know our transposed convolution: tell it the output dimension (ours
    # finds it alone: see the next test)
    (lambda: nn.ConvTranspose2d(6, 3, 4, stride=2, padding=1), (2, 6, 5, 5), 1),
    (lambda: tnn.ConvTranspose2d(6, 3, 4, stride=2, padding=1), (2, 6, 5, 5), None),
], ids=["linear", "conv", "our-transposed", "torch-transposed"])
def test_same_sigma_outputs_and_gradients_as_torch_over_training_steps(make, shape, dim):
    ours, ref = _pair(make, dim=dim)
    assert list(ours.state_dict()) == list(ref.state_dict())  # same names: loads both ways
    g = torch.Generator().manual_seed(1)
    for step in range(4):  # each training forward runs one power step on both
        x = torch.randn(shape, dtype=f64, generator=g)
        y_ours, y_ref = ours(x), ref(x)
        torch.testing.assert_close(y_ours, y_ref, rtol=1e-12, atol=1e-12)
        up = torch.randn(y_ref.shape, dtype=f64, generator=g)
        g_ours = torch.autograd.grad(y_ours, list(ours.parameters()), up)
        g_ref = torch.autograd.grad(y_ref, list(ref.parameters()), up)
        for a, b in zip(g_ours, g_ref, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
        with torch.no_grad():  # a gradient step between forwards: σ must track a moving W
            for p, q, gp in zip(ours.parameters(), ref.parameters(), g_ours, strict=True):
                p.sub_(0.1 * gp)
                q.copy_(p)
    # σ matches the exact largest singular value after the power steps
    sigma = nn.spectral_norm_sigma(ours)
    raw = ours.parametrizations.weight.original.detach()
    dim = 1 if "Transpose" in type(ours).__name__ else 0
    mat = raw.transpose(0, dim).flatten(1) if dim else raw.flatten(1)
    exact = torch.linalg.matrix_norm(mat, 2).item()
    assert abs(sigma - exact) / exact < 0.05  # one power step per forward lags a moving W


def test_eval_mode_keeps_u_v_and_the_normalised_weight_has_norm_one():
    layer = nn.spectral_norm(tnn.Linear(30, 20).double(), n_power_iterations=5)
    for _ in range(20):
        layer(torch.zeros(1, 30, dtype=f64))
    w = layer.weight.detach()
    assert abs(torch.linalg.matrix_norm(w, 2).item() - 1) < 1e-6
    layer.eval()
    u = layer.parametrizations.weight[0]._u.clone()
    layer(torch.zeros(1, 30, dtype=f64))
    assert torch.equal(u, layer.parametrizations.weight[0]._u)


def test_bad_arguments_are_refused_and_doctest_runs():
    with pytest.raises(ConfigError, match="no parameter or buffer 'kernel'"):
        nn.spectral_norm(tnn.Linear(2, 2), name="kernel")
    with pytest.raises(ConfigError, match="n_power_iterations"):
        nn.spectral_norm(tnn.Linear(2, 2), n_power_iterations=0)
    assert doctest.testmod(sn_module).failed == 0


def test_our_transposed_convolution_normalises_its_output_dimension_by_default():
    torch.manual_seed(0)
    ours = nn.spectral_norm(nn.ConvTranspose2d(6, 3, 4, stride=2, padding=1).double())
    torch.manual_seed(0)
    ref = torch_sn(nn.ConvTranspose2d(6, 3, 4, stride=2, padding=1).double(), dim=1)
    x = torch.randn(2, 6, 5, 5, dtype=f64)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-12, atol=1e-12)
