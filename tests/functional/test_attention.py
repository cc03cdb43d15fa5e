"""Attention formulas (A2-A4, A7, A9): masks, masked softmax, additive and scaled dot-product
attention against torch's kernel, explicit loops and d2l's code, in float64 with gradients."""

from __future__ import annotations

import doctest
import math

import pytest
import torch
import torch.nn.functional as TF
from torch.autograd import gradcheck

from deepnotes import functional as F
from deepnotes.errors import ConfigError, ShapeError
from deepnotes.functional import attention as attention_module
from tests.functional._helpers import assert_parity

f64 = torch.float64


def _randn(*shape, seed=0, scale=1.0):
    return scale * torch.randn(*shape, dtype=f64, generator=torch.Generator().manual_seed(seed))


def _sdpa(fused, q, k, v, **kwargs):
    """(output, weights) of the formula, or (output, None) of the torch-kernel function."""
    if fused:
        return F.fused_scaled_dot_product_attention(q, k, v, **kwargs), None
    return F.scaled_dot_product_attention(q, k, v, **kwargs)


def _d2l_masked_softmax(x, valid_lens):
    """d2l 11.3's masked_softmax (fill -1e6, then softmax), written out as in the book."""
    if valid_lens is None:
        return torch.softmax(x, dim=-1)
    shape = x.shape
    if valid_lens.dim() == 1:
        valid_lens = torch.repeat_interleave(valid_lens, shape[1])
    else:
        valid_lens = valid_lens.reshape(-1)
    x = x.reshape(-1, shape[-1])
    mask = torch.arange(shape[-1])[None, :] < valid_lens[:, None]
    x = x.masked_fill(~mask, -1e6)
    return torch.softmax(x.reshape(shape), dim=-1)


# ---------------------------------------------------------------------------------- masks


def test_lengths_mask_per_example_and_per_query():
    m = F.lengths_mask(torch.tensor([0, 2]), 3, 4)
    assert m.shape == (2, 3, 4) and m.dtype == torch.bool
    assert not m[0].any()
    assert m[1].equal(torch.tensor([[1, 1, 0, 0]] * 3, dtype=torch.bool))
    m = F.lengths_mask(torch.tensor([[1, 2, 4]]), 3, 4)
    assert m[0].int().tolist() == [[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]]
    with pytest.raises(ShapeError, match="valid_lens"):
        F.lengths_mask(torch.tensor([[1, 2]]), 3, 4)


@pytest.mark.parametrize("tq,tk", [(5, 5), (3, 6), (6, 3)])
def test_causal_and_window_masks_match_their_definitions(tq, tk):
    c, w = F.causal_mask(tq, tk), F.window_mask(tq, 2, tk)
    for i in range(tq):
        for j in range(tk):
            assert c[i, j] == (j <= i)
            assert w[i, j] == (abs(i - j) <= 2)
    # the top-left causal convention is torch's is_causal=True
    q, k, v = _randn(1, tq, 4), _randn(1, tk, 4, seed=1), _randn(1, tk, 3, seed=2)
    torch.testing.assert_close(TF.scaled_dot_product_attention(q, k, v, attn_mask=c),
                               TF.scaled_dot_product_attention(q, k, v, is_causal=True))
    with pytest.raises(ConfigError, match="window"):
        F.window_mask(3, -1)


def test_graph_mask_from_edges_and_adjacency():
    edges = [(0, 1), (1, 2), (3, 1)]
    m = F.graph_mask(edges, 5)
    expected = torch.eye(5, dtype=torch.bool)
    for s, t in edges:
        expected[s, t] = expected[t, s] = True
    assert m.equal(expected)
    assert not m[4, :4].any()  # isolated node 4 sees only itself
    # (2, E) tensor and the adjacency matrix give the same mask
    assert F.graph_mask(torch.tensor(edges).t(), 5).equal(m)
    assert F.graph_mask(adjacency=expected.double()).equal(m)
    # directed, no self loops: edge s -> t lets t attend to s only
    d = F.graph_mask(edges, 5, directed=True, self_loops=False)
    assert d.sum() == len(edges) and d[1, 0] and not d[0, 1] and d[1, 3]
    assert F.graph_mask([(0, 1), (1, 2)]).shape == (3, 3)  # num_nodes inferred
    with pytest.raises(ConfigError, match="out of range"):
        F.graph_mask(edges, 3)
    with pytest.raises(ConfigError, match="exactly one"):
        F.graph_mask()
    with pytest.raises(ShapeError, match="square"):
        F.graph_mask(adjacency=torch.ones(2, 3))


# ---------------------------------------------------------------------------- masked softmax


@pytest.mark.parametrize("lens", [torch.tensor([2, 4, 1]), torch.tensor([[1, 2], [4, 3], [2, 2]])],
                         ids=["per-example", "per-query"])
def test_masked_softmax_matches_d2l_and_torch(lens):
    x = _randn(3, 2, 4, scale=3.0)
    assert_parity(lambda t: F.masked_softmax(t, lens), lambda t: _d2l_masked_softmax(t, lens), x,
                  atol=1e-12, rtol=1e-10)
    keep = F.lengths_mask(lens, 2, 4)
    out = F.masked_softmax(x, lens)
    assert out[~keep].eq(0).all()  # exactly 0, not just small
    torch.testing.assert_close(out.sum(-1), torch.ones(3, 2, dtype=f64))
    # a bool keep mask does the same job
    torch.testing.assert_close(F.masked_softmax(x, mask=keep), out, atol=0, rtol=0)
    torch.testing.assert_close(F.masked_softmax(x), torch.softmax(x, -1))


def test_masked_softmax_extra_dims_and_fully_masked_rows():
    x = _randn(2, 3, 2, 5)  # (B, H, Tq, Tk): lengths broadcast over the heads
    lens = torch.tensor([0, 3])
    out = F.masked_softmax(x, lens)
    assert out[0].eq(0).all()  # no key left: zeros, not NaN (d2l would give 1/5 each)
    torch.testing.assert_close(out[1], _d2l_masked_softmax(x[1], torch.tensor([3, 3, 3])))
    xs = x.clone().requires_grad_()
    (g,) = torch.autograd.grad((F.masked_softmax(xs, lens) * x).sum(), xs)
    assert torch.isfinite(g).all() and g[0].eq(0).all()
    with pytest.raises(ConfigError, match="bool"):
        F.masked_softmax(x, mask=torch.ones(2, 5))


def test_masked_softmax_float32_big_scores():
    x = torch.tensor([[[3e4, -3e4, 1e4, 0.0]]])
    out = F.masked_softmax(x, torch.tensor([3]))
    torch.testing.assert_close(out, torch.tensor([[[1.0, 0.0, 0.0, 0.0]]]))


# ----------------------------------------------------------------- scaled dot-product attention


def _qkv(b=2, h=3, tq=4, tk=5, d=6, dv=7):
    return _randn(b, h, tq, d), _randn(b, h, tk, d, seed=1), _randn(b, h, tk, dv, seed=2)


def _mask_cases(b, h, tq, tk):
    g = torch.Generator().manual_seed(3)
    rand_keep = torch.rand(b, 1, tq, tk, generator=g) > 0.3
    rand_keep[..., 0] = True  # every query keeps a key
    bias = torch.randn(b, h, tq, tk, generator=g, dtype=f64)
    lens = torch.tensor([tk, 2])
    q_lens = torch.tensor([[1, 2, 3, 4], [5, 1, 2, 3]])
    return {
        "none": ({}, None),
        "valid_lens": ({"valid_lens": lens}, F.lengths_mask(lens, tq, tk)[:, None]),
        "valid_lens-per-query": ({"valid_lens": q_lens}, F.lengths_mask(q_lens, tq, tk)[:, None]),
        "bool": ({"attn_mask": rand_keep}, rand_keep),
        "float": ({"attn_mask": bias}, bias),
        "causal": ({"causal": True}, F.causal_mask(tq, tk)),
        "window": ({"attn_mask": F.window_mask(tq, 1, tk)}, F.window_mask(tq, 1, tk)),
        "lens+bias-(Tq,Tk)": ({"valid_lens": lens, "attn_bias": bias[0, 0]},
                              bias[0, 0].masked_fill(~F.lengths_mask(lens, tq, tk)[:, None],
                                                     float("-inf"))),
        "causal+lens+bias": ({"causal": True, "valid_lens": lens, "attn_bias": bias},
                             bias.masked_fill(~(F.causal_mask(tq, tk)
                                                & F.lengths_mask(lens, tq, tk)[:, None]),
                                              float("-inf"))),
    }


CASES = list(_mask_cases(2, 3, 4, 5))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("fused", [False, True])
def test_sdpa_matches_torch_kernel(case, fused):
    q, k, v = _qkv()
    kwargs, torch_mask = _mask_cases(2, 3, 4, 5)[case]

    def ours(q, k, v):
        return _sdpa(fused, q, k, v, **kwargs)[0]

    def ref(q, k, v):
        return TF.scaled_dot_product_attention(q, k, v, attn_mask=torch_mask)

    assert_parity(ours, ref, q, k, v, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("case", CASES)
def test_sdpa_weights_are_the_formula(case):
    q, k, v = _qkv()
    kwargs, m = _mask_cases(2, 3, 4, 5)[case]
    out, w = F.scaled_dot_product_attention(q, k, v, **kwargs)
    # the formula, element by element: A'_ij = exp(s_ij) / sum_j' exp(s_ij'), O = A' V
    s = torch.einsum("bhid,bhjd->bhij", q, k) / math.sqrt(q.shape[-1])
    if m is not None:
        s = s + m if m.is_floating_point() else s.masked_fill(~m, float("-inf"))
    e = torch.exp(s - s.amax(-1, keepdim=True))
    expected = e / e.sum(-1, keepdim=True)
    torch.testing.assert_close(w, expected, atol=1e-13, rtol=1e-12)
    torch.testing.assert_close(out, torch.einsum("bhij,bhjv->bhiv", expected, v),
                               atol=1e-13, rtol=1e-12)
    fused = F.fused_scaled_dot_product_attention(q, k, v, **kwargs)  # the output alone
    torch.testing.assert_close(fused, out, atol=1e-13, rtol=1e-12)


def test_sdpa_fully_masked_queries_give_zeros_on_both_paths():
    q, k, v = _qkv(b=2, h=1)
    lens = torch.tensor([0, 3])
    keep = torch.ones(4, 5, dtype=torch.bool)
    keep[2] = False  # query 2 may see nothing
    outs = []
    for fused in (False, True):
        qs, ks, vs = (t.clone().requires_grad_() for t in (q, k, v))
        out, _ = _sdpa(fused, qs, ks, vs, valid_lens=lens, attn_mask=keep)
        assert out[0].eq(0).all() and out[:, :, 2].eq(0).all()
        grads = torch.autograd.grad(out.sum(), (qs, ks, vs))
        assert all(torch.isfinite(g).all() for g in grads)
        outs.append((out.detach(), grads))
    torch.testing.assert_close(outs[0][0], outs[1][0], atol=1e-13, rtol=1e-12)
    for a, b in zip(outs[0][1], outs[1][1]):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10)


def test_sdpa_three_dim_inputs_and_scale():
    q, k, v = _randn(2, 3, 4), _randn(2, 5, 4, seed=1), _randn(2, 5, 2, seed=2)
    for fused in (False, True):
        out, _ = _sdpa(fused, q, k, v, scale=0.3)
        torch.testing.assert_close(out, TF.scaled_dot_product_attention(q, k, v, scale=0.3))


def test_sdpa_gradcheck_formula_path():
    q, k, v = (_randn(1, 2, 3, 2, seed=s).requires_grad_() for s in range(3))
    lens = torch.tensor([2])

    def fn(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, valid_lens=lens, causal=True)[0]

    assert gradcheck(fn, (q, k, v))


def test_relu_weights_variant():
    q, k, v = _qkv(b=1, h=1)
    lens = torch.tensor([3])
    out, w = F.scaled_dot_product_attention(q, k, v, valid_lens=lens, activation="relu")
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    expected = torch.relu(s)
    expected[..., 3:] = 0
    # not normalised: rows need not sum to 1
    torch.testing.assert_close(w, expected, atol=1e-15, rtol=1e-14)
    torch.testing.assert_close(out, expected @ v)
    assert (w >= 0).all() and not torch.allclose(w.sum(-1), torch.ones(1, 1, 4, dtype=f64))


def test_dropout_on_the_weights():
    q, k, v = _qkv(b=4, h=2, tq=8, tk=8)
    _, w = F.scaled_dot_product_attention(q, k, v)
    _, wd = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5,
                                           generator=torch.Generator().manual_seed(0))
    kept = wd != 0
    assert 0.3 < kept.double().mean() < 0.7
    torch.testing.assert_close(wd[kept], 2 * w[kept])  # survivors scaled by 1/(1-p)
    assert F.fused_scaled_dot_product_attention(q, k, v, dropout_p=1.0).eq(0).all()


def test_sdpa_validates_arguments():
    q, k, v = _qkv()
    with pytest.raises(ConfigError, match="dropout_p"):
        F.scaled_dot_product_attention(q, k, v, dropout_p=1.5)
    with pytest.raises(ConfigError, match="activation"):
        F.scaled_dot_product_attention(q, k, v, activation="sigmoid")
    for sdpa in (F.scaled_dot_product_attention, F.fused_scaled_dot_product_attention):
        with pytest.raises(ConfigError, match="dropout_p"):
            sdpa(q, k, v, dropout_p=-0.1)
        with pytest.raises(ShapeError, match="share D"):
            sdpa(q, k[..., :3], v)


# ------------------------------------------------------------------------- additive attention


def test_additive_scores_are_the_formula():
    qs, ks = _randn(2, 3, 4), _randn(2, 5, 6, seed=1)
    w_q, w_k, w_v = _randn(7, 4, seed=2), _randn(7, 6, seed=3), _randn(7, seed=4)
    s = F.additive_scores(qs, ks, w_q, w_k, w_v)
    assert s.shape == (2, 3, 5)
    for b in range(2):
        for i in range(3):
            for j in range(5):
                # a(q, k) = w_v^T tanh(W_q q + W_k k)
                ref = w_v @ torch.tanh(w_q @ qs[b, i] + w_k @ ks[b, j])
                torch.testing.assert_close(s[b, i, j], ref, atol=1e-14, rtol=1e-13)
    torch.testing.assert_close(F.additive_scores(qs, ks, w_q, w_k, w_v[None]), s)


def test_additive_attention_matches_d2l_formulation():
    qs, ks, vs = _randn(2, 1, 20), _randn(2, 10, 2, seed=1), _randn(2, 10, 4, seed=2)
    w_q, w_k, w_v = _randn(8, 20, seed=3), _randn(8, 2, seed=4), _randn(1, 8, seed=5)
    lens = torch.tensor([2, 6])

    def ours(qs, ks, vs, w_q, w_k, w_v):
        return F.additive_attention(qs, ks, vs, w_q, w_k, w_v, lens)[0]

    def d2l(qs, ks, vs, w_q, w_k, w_v):
        # d2l 11.3.2: features = q.unsqueeze(2) + k.unsqueeze(1); scores = w_v(tanh(features))
        feats = torch.tanh((qs @ w_q.T).unsqueeze(2) + (ks @ w_k.T).unsqueeze(1))
        scores = (feats @ w_v.T).squeeze(-1)
        return torch.bmm(_d2l_masked_softmax(scores, lens), vs)

    assert_parity(ours, d2l, qs, ks, vs, w_q, w_k, w_v, atol=1e-12, rtol=1e-10)
    _, w = F.additive_attention(qs, ks, vs, w_q, w_k, w_v, lens)
    assert w[0, 0, 2:].eq(0).all() and w[1, 0, 6:].eq(0).all()


def test_docstring_examples():
    result = doctest.testmod(attention_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_a14_guided_attention_loss_by_hand():
    """A14: W = 1 - exp(-(s/S - t/T)² / 2g²), summed over valid cells, per valid target step."""
    import math

    from deepnotes.functional.attention import guided_attention_loss

    g = torch.Generator().manual_seed(0)
    w = torch.softmax(torch.randn(2, 3, 4, generator=g, dtype=torch.float64), -1)
    tl, sl = torch.tensor([3, 2]), torch.tensor([4, 3])
    want = 0.0
    for b in range(2):
        for t in range(int(tl[b])):
            for s in range(int(sl[b])):
                pen = 1 - math.exp(-((s / int(sl[b]) - t / int(tl[b])) ** 2) / (2 * 0.3 ** 2))
                want += float(w[b, t, s]) * float(pen)
    got = guided_attention_loss(w, tl, sl, g=0.3)
    assert abs(float(got) - want / 5) < 1e-12
    w.requires_grad_(True)
    guided_attention_loss(w, tl, sl).backward()
    assert w.grad[1, 2].abs().sum() == 0  # padded target step: no gradient
