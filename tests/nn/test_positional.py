"""Positional encodings (A6): the sinusoidal table's exact values, its rotation property, the
layers' shapes, offsets and limits."""

from __future__ import annotations

import doctest
import math

import pytest
import torch

from deepnotes import nn
from deepnotes.errors import ConfigError, ShapeError
from deepnotes.nn import positional as positional_module
from deepnotes.nn.positional import relative_shift_matrix, sinusoidal_positions

f64 = torch.float64


def _d2l_table(max_len, d):
    """d2l 11.6.3's PositionalEncoding table, written out as in the book."""
    P = torch.zeros((1, max_len, d), dtype=f64)
    X = torch.arange(max_len, dtype=f64).reshape(-1, 1) / torch.pow(
        10000, torch.arange(0, d, 2, dtype=f64) / d)
    P[:, :, 0::2] = torch.sin(X)
    P[:, :, 1::2] = torch.cos(X)
    return P[0]


@pytest.mark.parametrize("d", [2, 8, 32])
def test_table_values_are_the_formula(d):
    P = sinusoidal_positions(50, d, dtype=f64)
    for i in (0, 1, 7, 49):
        for j in range(d // 2):
            w = i / 10000 ** (2 * j / d)
            assert P[i, 2 * j].item() == pytest.approx(math.sin(w), abs=1e-13)
            assert P[i, 2 * j + 1].item() == pytest.approx(math.cos(w), abs=1e-13)
    torch.testing.assert_close(P, _d2l_table(50, d), atol=1e-13, rtol=0)
    # the default float32 table is the float64 one rounded once
    torch.testing.assert_close(sinusoidal_positions(50, d), P.float(), atol=0, rtol=0)


def test_odd_dim_drops_the_last_cosine():
    P = sinusoidal_positions(10, 5, dtype=f64)
    i = torch.arange(10.0, dtype=f64)
    assert P.shape == (10, 5)
    for j in range(3):  # sines in columns 0, 2, 4; cosines in 1, 3
        torch.testing.assert_close(P[:, 2 * j], torch.sin(i / 10000 ** (2 * j / 5)))
        if 2 * j + 1 < 5:
            torch.testing.assert_close(P[:, 2 * j + 1], torch.cos(i / 10000 ** (2 * j / 5)))


@pytest.mark.parametrize("k", [1, 3, 17])
def test_shift_by_k_is_a_rotation_independent_of_position(k):
    d, n = 16, 64
    P = sinusoidal_positions(n + k, d, dtype=f64)
    M = relative_shift_matrix(k, d)
    # P_{i+k} = M_k P_i for every i, with one matrix
    torch.testing.assert_close(P[:n] @ M.T, P[k:], atol=1e-12, rtol=0)
    # M_k is orthogonal (a rotation: det +1) and M_a M_b = M_{a+b}
    torch.testing.assert_close(M @ M.T, torch.eye(d, dtype=f64), atol=1e-14, rtol=0)
    assert torch.linalg.det(M).item() == pytest.approx(1.0)
    torch.testing.assert_close(relative_shift_matrix(2, d) @ M, relative_shift_matrix(k + 2, d),
                               atol=1e-13, rtol=0)
    # found again by least squares from a well-conditioned table alone (fast clocks)
    Q = sinusoidal_positions(n + k, 6, base=10.0, dtype=f64)
    fit = torch.linalg.lstsq(Q[:n], Q[k:]).solution.T
    torch.testing.assert_close(fit, relative_shift_matrix(k, 6, base=10.0), atol=1e-10, rtol=0)
    with pytest.raises(ConfigError, match="even"):
        relative_shift_matrix(k, 5)


def test_positional_encoding_layer():
    pe = nn.PositionalEncoding(8, dropout=0.5, max_len=20)
    assert dict(pe.state_dict()) == {}  # a fixed table: nothing to save
    x = torch.randn(3, 6, 8)
    pe.eval()
    torch.testing.assert_close(pe(x), x + sinusoidal_positions(6, 8))
    torch.testing.assert_close(pe(x, offset=4), x + sinusoidal_positions(10, 8)[4:])
    # beyond max_len the table is computed, not cut
    long = torch.zeros(1, 30, 8)
    torch.testing.assert_close(pe(long)[0], sinusoidal_positions(30, 8))
    pe.train()
    y = pe(torch.ones(200, 6, 8))
    assert 0.4 < (y == 0).float().mean() < 0.6  # dropout after the addition
    assert pe(x.double()).dtype == f64
    with pytest.raises(ShapeError, match=r"\(B, T, 8\)"):
        pe(torch.zeros(2, 6, 7))


def test_learned_positional_embedding():
    torch.manual_seed(0)
    pos = nn.LearnedPositionalEmbedding(10, 4)
    assert list(pos.state_dict()) == ["weight"] and pos.weight.shape == (10, 4)
    assert 0.01 < pos.weight.std().item() < 0.03
    x = torch.randn(2, 6, 4)
    emb = torch.nn.Embedding(10, 4)
    emb.weight.data.copy_(pos.weight.data)
    torch.testing.assert_close(pos(x), x + emb(torch.arange(6))[None])
    torch.testing.assert_close(pos(x, offset=4), x + emb(torch.arange(4, 10))[None])
    pos(x).sum().backward()
    assert pos.weight.grad[:6].eq(2).all() and pos.weight.grad[6:].eq(0).all()
    with pytest.raises(ShapeError, match="max_len=10"):
        pos(torch.zeros(1, 11, 4))
    with pytest.raises(ShapeError, match="max_len"):
        pos(x, offset=5)
    with pytest.raises(ConfigError):
        nn.LearnedPositionalEmbedding(0, 4)


def test_docstring_examples():
    result = doctest.testmod(positional_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
