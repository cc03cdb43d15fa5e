"""Attention layers (A3-A5): MultiHeadAttention against torch.nn.MultiheadAttention (outputs,
weights, gradients, state dicts both ways, every mask, both paths); d2l-style layers."""

from __future__ import annotations

import doctest

import pytest
import torch
from torch import nn as tnn

from deepnotes import functional as F
from deepnotes import nn
from deepnotes.errors import ConfigError, ShapeError
from deepnotes.nn import attention as attention_module

f64 = torch.float64
B, TQ, TK, E, H = 3, 5, 4, 8, 2


def _randn(*shape, seed=0):
    return torch.randn(*shape, dtype=f64, generator=torch.Generator().manual_seed(seed))


def _pair(fused, seed=0, **kw):
    """A torch module with random parameters (biases too) and ours loaded from it: every key
    matched (strict), every tensor copied, and the two give the same output in eval mode."""
    torch.manual_seed(seed)
    ref = tnn.MultiheadAttention(E, H, batch_first=kw.pop("batch_first", True), **kw).double()
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(0.5 * torch.randn_like(p))
    ours = nn.MultiHeadAttention(E, H, fused=fused, batch_first=ref.batch_first,
                                 **kw).double()
    result = ours.load_state_dict(ref.state_dict(), strict=True)
    assert result.missing_keys == [] and result.unexpected_keys == []
    theirs = ref.state_dict()
    assert list(ours.state_dict()) == list(theirs)
    assert all(t.equal(theirs[n]) for n, t in ours.state_dict().items())
    # one forward pass without dropout (eval): the same numbers as torch
    shape = (B, TQ) if ref.batch_first else (TQ, B)
    q = _randn(*shape, E, seed=11)
    k = _randn(*shape, kw.get("kdim") or E, seed=12)
    v = _randn(*shape, kw.get("vdim") or E, seed=13)
    ours.eval(), ref.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(q, k, v)[0], ref(q, k, v, need_weights=False)[0],
                                   atol=1e-12, rtol=1e-10)
    ours.train(), ref.train()
    return ours, ref


def _run(module, q, k, v, self_attention=False, **kwargs):
    """Output, weights and gradients of inputs and parameters under a fixed upstream."""
    q = q.clone().requires_grad_()
    if self_attention:
        k = v = q
    else:
        k, v = k.clone().requires_grad_(), v.clone().requires_grad_()
    kwargs.setdefault("need_weights", False)  # torch's default is True
    out, w = module(q, k, v, **kwargs)
    upstream = _randn(*out.shape, seed=9)
    inputs = [q] if self_attention else [q, k, v]
    grads = torch.autograd.grad(out, [*inputs, *module.parameters()], upstream)
    return out.detach(), w, grads


def _assert_same(a, b, atol=1e-12, rtol=1e-10):
    (oa, wa, ga), (ob, wb, gb) = a, b
    torch.testing.assert_close(oa, ob, atol=atol, rtol=rtol)
    assert (wa is None) == (wb is None)
    if wb is not None:
        torch.testing.assert_close(wa, wb, atol=atol, rtol=rtol)
    assert len(ga) == len(gb)
    for x, y in zip(ga, gb):
        torch.testing.assert_close(x, y, atol=atol, rtol=rtol)


def _masks():
    g = torch.Generator().manual_seed(4)
    kpm = torch.tensor([[0, 0, 0, 1], [0, 0, 1, 1], [0, 0, 0, 0]], dtype=torch.bool)
    am = torch.rand(TQ, TK, generator=g) < 0.4
    am[:, 0] = False  # every query keeps a key
    am3 = torch.rand(B * H, TQ, TK, generator=g) < 0.4
    am3[..., 0] = False
    causal = ~F.causal_mask(TQ, TK)
    fmask = torch.randn(TQ, TK, generator=g, dtype=f64)
    fkpm = torch.randn(B, TK, generator=g, dtype=f64)
    # (our kwargs, torch's kwargs)
    return {
        "none": ({}, {}),
        "key_padding": ({"key_padding_mask": kpm}, {"key_padding_mask": kpm}),
        "key_padding-float": ({"key_padding_mask": fkpm}, {"key_padding_mask": fkpm}),
        "attn_mask-2d": ({"attn_mask": am}, {"attn_mask": am}),
        "attn_mask-3d": ({"attn_mask": am3}, {"attn_mask": am3}),
        "attn_mask-float": ({"attn_mask": fmask}, {"attn_mask": fmask}),
        "causal": ({"is_causal": True}, {"attn_mask": causal, "is_causal": True}),
        "causal+padding+float": (
            {"is_causal": True, "key_padding_mask": kpm, "attn_mask": fmask},
            {"attn_mask": fmask.masked_fill(causal, float("-inf")),
             "key_padding_mask": torch.zeros(B, TK, dtype=f64).masked_fill(kpm, float("-inf"))}),
    }


MASKS = list(_masks())


@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("need_weights", [False, True])
def test_matches_torch_multihead_attention(mask, fused, need_weights):
    ours, ref = _pair(fused)
    q, k, v = _randn(B, TQ, E, seed=1), _randn(B, TK, E, seed=2), _randn(B, TK, E, seed=3)
    ok, tk = _masks()[mask]
    a = _run(ours, q, k, v, need_weights=need_weights, **ok)
    b = _run(ref, q, k, v, need_weights=need_weights, **tk)
    _assert_same(a, b)
    assert (a[1] is None) == (not need_weights)
    if need_weights:
        assert a[1].shape == (B, TQ, TK)


@pytest.mark.parametrize("fused", [True, False])
def test_self_attention_per_head_weights_and_sequence_first(fused):
    x = _randn(TQ, B, E, seed=1)  # (T, B, E)
    ours, ref = _pair(fused, batch_first=False)
    kpm = torch.zeros(B, TQ, dtype=torch.bool)
    kpm[1, 3:] = True
    kw = {"key_padding_mask": kpm, "need_weights": True, "average_attn_weights": False}
    a = _run(ours, x, x, x, self_attention=True, **kw)
    b = _run(ref, x, x, x, self_attention=True, **kw)
    _assert_same(a, b)
    assert a[0].shape == (TQ, B, E) and a[1].shape == (B, H, TQ, TQ)
    assert a[1][1, :, :, 3:].eq(0).all()


@pytest.mark.parametrize("fused", [True, False])
def test_no_bias_and_different_key_value_sizes(fused):
    ours, ref = _pair(fused, bias=False)
    assert ours.in_proj_bias is None and ours.out_proj.bias is None
    q, k, v = _randn(B, TQ, E, seed=1), _randn(B, TK, E, seed=2), _randn(B, TK, E, seed=3)
    _assert_same(_run(ours, q, k, v), _run(ref, q, k, v))
    ours, ref = _pair(fused, kdim=6, vdim=3)
    assert ours.in_proj_weight is None and ours.k_proj_weight.shape == (E, 6)
    q, k, v = _randn(B, TQ, E, seed=1), _randn(B, TK, 6, seed=2), _randn(B, TK, 3, seed=3)
    _assert_same(_run(ours, q, k, v, need_weights=True), _run(ref, q, k, v, need_weights=True))


@pytest.mark.parametrize("kw", [{}, {"bias": False}, {"kdim": 6, "vdim": 3}], ids=str)
def test_state_dicts_load_both_ways(kw):
    ours = nn.MultiHeadAttention(E, H, **kw)
    ref = tnn.MultiheadAttention(E, H, batch_first=True, **kw)
    so, sr = ours.state_dict(), ref.state_dict()
    assert list(so) == list(sr)
    assert all(so[n].shape == sr[n].shape for n in so)
    ref.load_state_dict(so)  # ours -> torch
    for n, t in ref.state_dict().items():
        assert t.equal(so[n])
    ref2 = tnn.MultiheadAttention(E, H, batch_first=True, **kw)
    ours.load_state_dict(ref2.state_dict())  # torch -> ours
    for n, t in ours.state_dict().items():
        assert t.equal(ref2.state_dict()[n])


def test_initialisation_is_torchs():
    torch.manual_seed(0)
    ours = nn.MultiHeadAttention(64, 4)
    bound = (6 / (64 + 3 * 64)) ** 0.5  # Xavier-uniform on the (3E, E) matrix
    assert ours.in_proj_weight.abs().max() <= bound
    assert ours.in_proj_weight.abs().max() > 0.9 * bound
    assert ours.in_proj_bias.eq(0).all() and ours.out_proj.bias.eq(0).all()


def test_fused_and_formula_paths_share_parameters_and_agree():
    fused, _ = _pair(True)
    formula = nn.MultiHeadAttention(E, H, fused=False).double()
    formula.load_state_dict(fused.state_dict())
    x = _randn(B, TQ, E, seed=5)
    lens = torch.tensor([5, 2, 3])
    for kw in ({}, {"valid_lens": lens}, {"is_causal": True, "valid_lens": lens}):
        _assert_same(_run(fused, x, x, x, self_attention=True, **kw),
                     _run(formula, x, x, x, self_attention=True, **kw))


@pytest.mark.parametrize("fused", [True, False])
def test_valid_lens_equal_the_torch_masks(fused):
    ours, ref = _pair(fused)
    q, k, v = _randn(B, TQ, E, seed=1), _randn(B, TK, E, seed=2), _randn(B, TK, E, seed=3)
    lens = torch.tensor([4, 1, 2])
    kpm = ~F.lengths_mask(lens, 1, TK)[:, 0]  # True = padding
    _assert_same(_run(ours, q, k, v, valid_lens=lens), _run(ref, q, k, v, key_padding_mask=kpm))
    # one length per query (d2l's decoder training) is a per-example attention mask
    qlens = torch.tensor([[1, 2, 3, 4, 4], [4, 3, 2, 1, 1], [2, 2, 2, 2, 2]])
    am = (~F.lengths_mask(qlens, TQ, TK)).repeat_interleave(H, dim=0)  # (B*H, Tq, Tk)
    _assert_same(_run(ours, q, k, v, valid_lens=qlens), _run(ref, q, k, v, attn_mask=am))


def test_fully_masked_queries_are_zero_attention_on_both_paths():
    results = []
    for fused in (True, False):
        ours, _ = _pair(fused)
        x = _randn(B, TQ, E, seed=1)
        r = _run(ours, x, x, x, self_attention=True, valid_lens=torch.tensor([0, 5, 2]))
        assert all(torch.isfinite(g).all() for g in r[2])
        # no key to read: attention output 0, so the layer gives W^O 0 + b = out_proj.bias
        torch.testing.assert_close(r[0][0], ours.out_proj.bias.detach().expand(TQ, E))
        results.append(r)
    _assert_same(*results)


@pytest.mark.parametrize("fused", [True, False])
def test_dropout_train_and_eval(fused):
    ours, _ = _pair(fused, dropout=1.0)
    x = _randn(B, TQ, E, seed=1)
    # p = 1 drops every weight: the output is the output bias alone
    out, _ = ours(x, x, x)
    torch.testing.assert_close(out, ours.out_proj.bias.detach().expand(B, TQ, E))
    ours.eval()
    plain, _ = _pair(fused)
    torch.testing.assert_close(ours(x, x, x)[0], plain(x, x, x)[0])
    ours.train()
    ours.dropout = 0.5
    torch.manual_seed(0)
    out, w = ours(x, x, x, need_weights=True, average_attn_weights=False)
    assert ((w == 0).double().mean() - 0.5).abs() < 0.2


def test_need_weights_keeps_the_last_weights():
    ours, _ = _pair(True)
    x = _randn(B, TQ, E, seed=1)
    _, w = ours(x, x, x, need_weights=True)
    assert ours.attention_weights is not None and ours.attention_weights.equal(w.detach())
    _, w = ours(x, x, x)
    assert w is None and ours.attention_weights is None


def test_errors_name_the_bad_value():
    with pytest.raises(ConfigError, match="multiple of num_heads"):
        nn.MultiHeadAttention(10, 3)
    with pytest.raises(ConfigError, match="dropout"):
        nn.MultiHeadAttention(8, 2, dropout=2.0)
    m = nn.MultiHeadAttention(E, H)
    x = torch.randn(B, TQ, E)
    with pytest.raises(ShapeError, match="3-d"):
        m(x[0], x[0], x[0])
    with pytest.raises(ShapeError, match="expected query"):
        m(x, x[..., :4], x)
    with pytest.raises(ShapeError, match="key_padding_mask"):
        m(x, x, x, key_padding_mask=torch.zeros(B, TQ + 1, dtype=torch.bool))
    with pytest.raises(ShapeError, match="attn_mask"):
        m(x, x, x, attn_mask=torch.zeros(TQ, TQ + 1, dtype=torch.bool))


# ---------------------------------------------------------------------- d2l-style layers


def test_additive_attention_layer():
    att = nn.AdditiveAttention(key_size=2, query_size=20, num_hiddens=8).double()
    assert sorted(att.state_dict()) == ["W_k.weight", "W_q.weight", "w_v.weight"]  # d2l's names
    qs, ks, vs = _randn(2, 1, 20), _randn(2, 10, 2, seed=1), _randn(2, 10, 4, seed=2)
    lens = torch.tensor([2, 6])
    out = att(qs, ks, vs, lens)
    # the formula with the layer's weights, one query/key pair at a time
    for b, n in enumerate(lens.tolist()):
        s = torch.stack([att.w_v.weight[0] @ torch.tanh(att.W_q.weight @ qs[b, 0]
                                                          + att.W_k.weight @ ks[b, j])
                         for j in range(n)])
        a = torch.softmax(s, 0)
        torch.testing.assert_close(att.attention_weights[b, 0, :n], a.detach())
        torch.testing.assert_close(out[b, 0], a @ vs[b, :n])
    assert att.attention_weights[0, 0, 2:].eq(0).all()
    out.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in att.parameters())


@pytest.mark.parametrize("fused", [True, False])
def test_dot_product_attention_layer(fused):
    qs, ks, vs = _randn(2, 3, 4), _randn(2, 6, 4, seed=1), _randn(2, 6, 5, seed=2)
    lens = torch.tensor([2, 6])
    att = nn.DotProductAttention(fused=fused)
    out = att(qs, ks, vs, lens)
    assert att.attention_weights is None
    ref = torch.bmm(torch.softmax((qs @ ks.transpose(1, 2) / 2).masked_fill(
        ~F.lengths_mask(lens, 3, 6), float("-inf")), -1), vs)
    torch.testing.assert_close(out, ref)
    keep = nn.DotProductAttention(fused=fused, need_weights=True)
    torch.testing.assert_close(keep(qs, ks, vs, lens), ref)
    assert keep.attention_weights.shape == (2, 3, 6)
    assert keep.attention_weights[0, :, 2:].eq(0).all()
    causal = att(qs, ks, vs, causal=True)
    torch.testing.assert_close(causal[:, 0], vs[:, 0])  # the first query sees only key 0


@pytest.mark.parametrize("module", [attention_module])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
