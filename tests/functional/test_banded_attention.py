"""Truncated self-attention computed in blocks (A7) equals masked full attention."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.functional import (
    banded_attention,
    causal_mask,
    scaled_dot_product_attention,
    window_mask,
)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 70), window=st.integers(0, 20), block=st.integers(1, 24),
       causal=st.booleans(), seed=st.integers(0, 1000))
def test_a7_banded_equals_masked_full_attention(n, window, block, causal, seed):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(2, 3, n, 8, generator=g, dtype=torch.float64)
    k = torch.randn(2, 3, n, 8, generator=g, dtype=torch.float64)
    v = torch.randn(2, 3, n, 5, generator=g, dtype=torch.float64)
    keep = window_mask(n, window)
    if causal:
        keep = keep & causal_mask(n)
    want, _ = scaled_dot_product_attention(q, k, v, attn_mask=keep)
    got = banded_attention(q, k, v, window, causal=causal, block=block)
    assert got.shape == want.shape
    assert torch.allclose(got, want, atol=1e-12)


def test_a7_gradients_flow_like_full_attention():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 30, 4, generator=g, dtype=torch.float64, requires_grad=True)
               for _ in range(3))
    banded_attention(q, k, v, 4).pow(2).sum().backward()
    grads = [t.grad.clone() for t in (q, k, v)]
    for t in (q, k, v):
        t.grad = None
    full, _ = scaled_dot_product_attention(q, k, v, attn_mask=window_mask(30, 4))
    full.pow(2).sum().backward()
    assert all(torch.allclose(a, t.grad, atol=1e-12) for a, t in zip(grads, (q, k, v)))


def test_a7_work_grows_with_n_times_window(monkeypatch):
    # the score tensor is n/B blocks of B x (B + 2w): count the elements through a hook on
    # torch.softmax's input size instead of timing
    seen = []
    real = torch.softmax

    def spy(x, dim):
        seen.append(x.numel())
        return real(x, dim=dim)

    monkeypatch.setattr(torch, "softmax", spy)
    for n in (256, 512, 1024):
        banded_attention(torch.randn(n, 8), torch.randn(n, 8), torch.randn(n, 8), 8, block=16)
    assert seen == [n * (16 + 16) for n in (256, 512, 1024)]  # linear in n, not n^2


def test_a7_bad_arguments():
    x = torch.randn(10, 4)
    with pytest.raises(ConfigError, match="window"):
        banded_attention(x, x, x, -1)
    with pytest.raises(ConfigError, match="block"):
        banded_attention(x, x, x, 2, block=0)
    with pytest.raises(ShapeError, match="one length"):
        banded_attention(x, torch.randn(9, 4), torch.randn(9, 4), 2)


def test_a7_edge_cases():
    x = torch.randn(2, 5, 4, dtype=torch.float64)
    full, _ = scaled_dot_product_attention(x, x, x)
    # a window wider than the sequence sees everything: full attention
    assert torch.allclose(banded_attention(x, x, x, 50, block=2), full, atol=1e-12)
    assert banded_attention(x[:, :0], x[:, :0], x[:, :0], 3).shape == (2, 0, 4)
    # padding queries never make NaN gradients (n = 5 with blocks of 4: 3 padding rows)
    q = x.clone().requires_grad_(True)
    banded_attention(q, q, q, 0, block=4).sum().backward()
    assert torch.isfinite(q.grad).all()
