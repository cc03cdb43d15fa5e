"""Transformer blocks (A11, A12) against torch.nn.TransformerEncoderLayer / DecoderLayer.

Weights are copied through the name table (every key and shape asserted); float64, dropout 0,
post-LN and pre-LN, padding masks given torch's way and d2l's way (valid lengths).
"""

from __future__ import annotations

import doctest

import pytest
import torch
from torch import nn as tnn

import deepnotes.nn.transformer as transformer_module
from deepnotes.errors import ConfigError, ShapeError
from deepnotes.nn import AddNorm, PositionWiseFFN, TransformerDecoderBlock, TransformerEncoderBlock
from deepnotes.nn.transformer import TORCH_DECODER_NAMES, TORCH_ENCODER_NAMES, load_torch_layer

f64 = torch.float64
E, H, F = 8, 2, 16
LENS = torch.tensor([5, 3, 1])  # source lengths of the 3 examples


def _padding(lens: torch.Tensor, t: int) -> torch.Tensor:
    return torch.arange(t)[None, :] >= lens[:, None]  # (B, T), True = padding


def _pair(kind: str, norm_first: bool, fused: bool, activation: str = "relu"):
    torch.manual_seed(0)
    cls_t = tnn.TransformerEncoderLayer if kind == "enc" else tnn.TransformerDecoderLayer
    cls_o = TransformerEncoderBlock if kind == "enc" else TransformerDecoderBlock
    ref = cls_t(E, H, F, dropout=0.0, activation=activation, batch_first=True,
                norm_first=norm_first, dtype=f64)
    with torch.no_grad():  # non-zero biases, so a swapped bias would show
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ours = cls_o(E, H, F, activation=activation, norm_first=norm_first, fused=fused).double()
    load_torch_layer(ours, ref)
    ref.train()  # train mode (dropout 0) keeps torch off its inference fast path
    return ours, ref


def _grads(out, params, inputs, seed=3):
    g = torch.randn(out.shape, dtype=out.dtype, generator=torch.Generator().manual_seed(seed))
    return torch.autograd.grad(out, [*inputs, *params], g)


def _mapped_params(ours, ref, table):
    """Our parameters and torch's, in the same order, paired by the name table."""
    theirs = dict(ref.named_parameters())
    pairs = []
    for name, p in ours.named_parameters():
        prefix = next(k for k in table if name.startswith(k))
        pairs.append((p, theirs[table[prefix] + name[len(prefix):]]))
    return [a for a, _ in pairs], [b for _, b in pairs]


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_block_matches_torch(norm_first, fused):
    ours, ref = _pair("enc", norm_first, fused)
    x = torch.randn(3, 5, E, dtype=f64, requires_grad=True)
    pad = _padding(LENS, 5)
    want = ref(x, src_key_padding_mask=pad)
    for got in (ours(x, key_padding_mask=pad), ours(x, valid_lens=LENS)):
        torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-10)
    p_ours, p_ref = _mapped_params(ours, ref, TORCH_ENCODER_NAMES)
    g_ours = _grads(ours(x, valid_lens=LENS), p_ours, [x])
    g_ref = _grads(want, p_ref, [x])
    for a, b in zip(g_ours, g_ref, strict=True):
        torch.testing.assert_close(a, b, atol=1e-11, rtol=1e-9)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_block_matches_torch(norm_first, fused):
    ours, ref = _pair("dec", norm_first, fused)
    mem = torch.randn(3, 5, E, dtype=f64, requires_grad=True)
    y = torch.randn(3, 4, E, dtype=f64, requires_grad=True)
    mem_pad = _padding(LENS, 5)
    tgt_pad = _padding(torch.tensor([4, 2, 3]), 4)
    causal = torch.ones(4, 4, dtype=torch.bool).triu(1)  # True = not allowed
    want = ref(y, mem, tgt_mask=causal, memory_key_padding_mask=mem_pad,
               tgt_key_padding_mask=tgt_pad)
    got = ours(y, mem, memory_key_padding_mask=mem_pad, tgt_key_padding_mask=tgt_pad)
    torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-10)
    got2 = ours(y, mem, memory_valid_lens=LENS, tgt_key_padding_mask=tgt_pad)
    torch.testing.assert_close(got2, want, atol=1e-12, rtol=1e-10)
    p_ours, p_ref = _mapped_params(ours, ref, TORCH_DECODER_NAMES)
    for a, b in zip(_grads(got, p_ours, [y, mem]), _grads(want, p_ref, [y, mem]), strict=True):
        torch.testing.assert_close(a, b, atol=1e-11, rtol=1e-9)
    # causal=False is torch's layer without tgt_mask
    torch.testing.assert_close(ours(y, mem, memory_valid_lens=LENS, causal=False),
                               ref(y, mem, memory_key_padding_mask=mem_pad),
                               atol=1e-12, rtol=1e-10)


def test_gelu_blocks_match_torch():
    ours, ref = _pair("enc", False, True, activation="gelu")
    x = torch.randn(2, 4, E, dtype=f64)
    torch.testing.assert_close(ours(x), ref(x), atol=1e-12, rtol=1e-10)


def test_name_tables_cover_every_parameter_both_ways():
    for kind, table in (("enc", TORCH_ENCODER_NAMES), ("dec", TORCH_DECODER_NAMES)):
        ours, ref = _pair(kind, False, True)
        mapped = set()
        for name, p in ours.state_dict().items():
            prefix = next(k for k in table if name.startswith(k))
            tname = table[prefix] + name[len(prefix):]
            assert ref.state_dict()[tname].shape == p.shape
            assert torch.equal(ref.state_dict()[tname], p)
            mapped.add(tname)
        assert mapped == set(ref.state_dict())


def test_load_torch_layer_refuses_mismatches():
    enc = tnn.TransformerEncoderLayer(E, H, F, batch_first=True)
    dec = tnn.TransformerDecoderLayer(E, H, F, batch_first=True)
    with pytest.raises(ConfigError, match="multihead_attn|unmatched"):
        load_torch_layer(TransformerEncoderBlock(E, H, F), dec)
    with pytest.raises(ConfigError, match="multihead_attn"):
        load_torch_layer(TransformerDecoderBlock(E, H, F), enc)
    with pytest.raises(ShapeError, match="linear1"):
        load_torch_layer(TransformerEncoderBlock(E, H, 2 * F), enc)
    with pytest.raises(ConfigError, match="Transformer block"):
        load_torch_layer(tnn.Linear(2, 2), enc)


@pytest.mark.parametrize("kind", ["enc", "dec"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_fused_and_formula_paths_agree(kind, norm_first):
    fused, _ = _pair(kind, norm_first, True)
    formula, _ = _pair(kind, norm_first, False)
    assert list(fused.state_dict()) == list(formula.state_dict())
    formula.load_state_dict(fused.state_dict())
    x = torch.randn(3, 5, E, dtype=f64, requires_grad=True)
    mem = torch.randn(3, 6, E, dtype=f64, requires_grad=True)
    outs, grads = [], []
    for blk in (fused, formula):
        out = blk(x, valid_lens=LENS) if kind == "enc" else blk(x, mem, LENS)
        outs.append(out)
        grads.append(_grads(out, list(blk.parameters()), [x, mem] if kind == "dec" else [x]))
    torch.testing.assert_close(outs[0], outs[1], atol=1e-12, rtol=1e-10)
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-11, rtol=1e-9)
    flags = [m.fused for m in formula.modules() if hasattr(m, "fused")]
    assert flags and not any(flags)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_cache_equals_the_full_causal_pass(norm_first):
    blk, _ = _pair("dec", norm_first, True)
    y = torch.randn(3, 5, E, dtype=f64)
    mem = torch.randn(3, 6, E, dtype=f64)
    full = blk(y, mem, LENS)
    one_by_one = torch.cat([blk(y[:, t:t + 1], mem, LENS, past=y[:, :t]) for t in range(5)], 1)
    torch.testing.assert_close(one_by_one, full, atol=1e-12, rtol=1e-10)
    # two new positions at once after a cached prefix: the offset causal mask
    chunk = blk(y[:, 2:], mem, LENS, past=y[:, :2])
    torch.testing.assert_close(chunk, full[:, 2:], atol=1e-12, rtol=1e-10)


def test_causal_decoder_never_looks_ahead_and_padding_is_invisible():
    blk, _ = _pair("dec", False, True)
    y = torch.randn(2, 5, E, dtype=f64)
    mem = torch.randn(2, 6, E, dtype=f64)
    lens = torch.tensor([6, 3])
    out = blk(y, mem, lens)
    y2, mem2 = y.clone(), mem.clone()
    y2[:, 3:] += 1.0  # change the future targets
    mem2[1, 3:] = 7.0  # change padded encoder positions of example 1
    out2 = blk(y2, mem2, lens)
    torch.testing.assert_close(out2[:, :3], out[:, :3], atol=1e-12, rtol=0)
    assert (out2[:, 3:] - out[:, 3:]).abs().max() > 1e-3
    # without the causal mask the early positions see the change
    assert (blk(y2, mem, lens, causal=False)[:, :3] - blk(y, mem, lens, causal=False)[:, :3]
            ).abs().max() > 1e-3
    enc, _ = _pair("enc", False, True)
    x = torch.randn(2, 5, E, dtype=f64)
    x2 = x.clone()
    x2[1, 2:] = 3.0
    lens = torch.tensor([5, 2])
    torch.testing.assert_close(enc(x2, valid_lens=lens)[1, :2], enc(x, valid_lens=lens)[1, :2],
                               atol=1e-12, rtol=0)


def test_attention_weights_are_kept_on_request():
    enc, _ = _pair("enc", False, True)
    x = torch.randn(3, 5, E, dtype=f64)
    enc(x, valid_lens=LENS)
    assert enc.attention_weights is None
    enc(x, valid_lens=LENS, need_weights=True)
    w = enc.attention_weights
    assert w.shape == (3, 5, 5)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 5, dtype=f64))
    assert w[2, :, 1:].abs().max() == 0  # example 2 has one valid key
    dec, _ = _pair("dec", False, True)
    dec(torch.randn(3, 4, E, dtype=f64), x, LENS, need_weights=True)
    assert dec.self_attention_weights.shape == (3, 4, 4)
    assert torch.equal(dec.self_attention_weights.triu(1), torch.zeros(3, 4, 4, dtype=f64))
    assert dec.cross_attention_weights.shape == (3, 4, 5)
    assert dec.cross_attention_weights[1, :, 3:].abs().max() == 0


def test_ffn_and_addnorm_are_their_formulas():
    torch.manual_seed(1)
    ffn = PositionWiseFFN(4, 6).double()
    x = torch.randn(2, 3, 4, dtype=f64)
    want = torch.relu(x @ ffn.dense1.weight.T + ffn.dense1.bias) @ ffn.dense2.weight.T \
        + ffn.dense2.bias
    torch.testing.assert_close(ffn(x), want)
    # position-wise: each position alone gives the same output
    torch.testing.assert_close(ffn(x[:, 1:2]), ffn(x)[:, 1:2])
    an = AddNorm(4).double()
    y = torch.randn(2, 3, 4, dtype=f64)
    s = x + y
    want = (s - s.mean(-1, keepdim=True)) / torch.sqrt(s.var(-1, unbiased=False, keepdim=True)
                                                       + 1e-5)
    torch.testing.assert_close(an(x, y), want)
    torch.testing.assert_close(an.pre_norm(x, lambda h: 2 * h), x + 2 * an.norm(x))


def test_errors_name_the_bad_value():
    with pytest.raises(ConfigError, match="swish"):
        PositionWiseFFN(4, 8, activation="swish")
    with pytest.raises(ConfigError, match="1.5"):
        TransformerEncoderBlock(8, 2, 16, dropout=1.5)
    with pytest.raises(ConfigError, match="num_heads"):
        TransformerEncoderBlock(8, 3, 16)
    with pytest.raises(ShapeError, match=r"\(2, 3, 4\)"):
        AddNorm(4)(torch.zeros(2, 3, 4), torch.zeros(2, 1, 4))
    with pytest.raises(ShapeError, match="memory"):
        TransformerDecoderBlock(8, 2, 16)(torch.zeros(2, 3, 8), torch.zeros(3, 3, 8))
    with pytest.raises(ShapeError, match=r"\(B, T, E\)"):
        TransformerEncoderBlock(8, 2, 16)(torch.zeros(3, 8))


def test_docstring_examples():
    result = doctest.testmod(transformer_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0
