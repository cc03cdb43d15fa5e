"""GloVe (E3): the weighting f, the loss against a direct computation, gradients, vectors W + W̃."""

from __future__ import annotations

import doctest
import math

import pytest
import torch

import deepnotes.models.glove as glove_module
from deepnotes import models
from deepnotes.errors import ConfigError, ShapeError
from deepnotes.models.glove import glove_weight

f64 = torch.float64


def test_E3_weighting_is_capped_power():
    x = torch.tensor([0.5, 1.0, 10.0, 99.0, 100.0, 1e4], dtype=f64)
    expected = [min(1.0, (v / 100) ** 0.75) for v in x.tolist()]
    assert glove_weight(x).tolist() == pytest.approx(expected, rel=1e-12)
    assert glove_weight(torch.tensor([5.0]), x_max=10, alpha=1.0).item() == 0.5


def test_E3_loss_matches_a_direct_computation():
    torch.manual_seed(0)
    m = models.create("glove", vocab_size=6, dim=3, x_max=10.0).double()
    rows, cols = torch.tensor([0, 1, 5, 2, 2]), torch.tensor([1, 0, 5, 4, 3])
    x = torch.tensor([3.0, 3.0, 40.0, 0.25, 1.0], dtype=f64)
    w, wc = m.weight.weight.detach(), m.context_weight.weight.detach()
    b, bc = m.bias.weight.detach()[:, 0], m.context_bias.weight.detach()[:, 0]
    expected = []
    for i, j, xij in zip(rows.tolist(), cols.tolist(), x.tolist()):
        f = min(1.0, (xij / 10.0) ** 0.75)
        dot = sum(w[i, k].item() * wc[j, k].item() for k in range(3))
        expected.append(f * (dot + b[i].item() + bc[j].item() - math.log(xij)) ** 2)
    out = m(rows, cols, x)
    assert out.tolist() == pytest.approx(expected, rel=1e-12)
    # J's gradient: ∂J/∂w_i = 2 f (w_i·w̃_j + b_i + b̃_j - log X_ij) w̃_j, summed over entries
    out.sum().backward()
    g = torch.zeros_like(w)
    for (i, j, xij), e in zip(zip(rows.tolist(), cols.tolist(), x.tolist()), expected):
        f = min(1.0, (xij / 10.0) ** 0.75)
        diff = float(w[i] @ wc[j]) + b[i].item() + bc[j].item() - math.log(xij)
        g[i] += 2 * f * diff * wc[j]
    torch.testing.assert_close(m.weight.weight.grad, g, atol=1e-12, rtol=1e-10)


def test_E3_vectors_are_w_plus_w_tilde():
    m = models.create("glove", vocab_size=3, dim=2)
    wv = m.word_vectors(["x", "y", "z"])
    torch.testing.assert_close(wv.vector("z"), (m.weight.weight + m.context_weight.weight)[2]
                               .detach())
    with pytest.raises(ShapeError, match="vocabulary of 3"):
        m.word_vectors(["x"])


def test_glove_errors():
    with pytest.raises(ConfigError, match="x_max"):
        models.create("glove", x_max=0.0)
    with pytest.raises(ConfigError, match="vocab_size"):
        models.create("glove", vocab_size=0)
    m = models.create("glove", vocab_size=4, dim=2)
    with pytest.raises(ShapeError, match="one shape"):
        m(torch.tensor([0, 1]), torch.tensor([1]), torch.tensor([2.0, 1.0]))


def test_docstring_examples():
    result = doctest.testmod(glove_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 2 and result.failed == 0
