"""seq2seq-rnn and bahdanau (S2, S3, A10): encoder parity with torch's packed GRU, step == forward,
padding and batch invariance, attention properties, fused == formula."""

from __future__ import annotations

import pytest
import torch
from torch import nn as tnn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from deepnotes import models
from deepnotes.errors import ConfigError, ShapeError
from deepnotes.tasks.translation import Seq2SeqModel

f64 = torch.float64
NAMES = ["seq2seq-rnn", "bahdanau"]
SMALL = {"src_vocab_size": 11, "tgt_vocab_size": 13, "embed_size": 6, "num_hiddens": 8,
         "num_layers": 2, "dropout": 0.0}


def _model(name, bidirectional=False, fused=True, seed=0, **kw):
    torch.manual_seed(seed)
    return models.create(name, **{**SMALL, **kw}, bidirectional=bidirectional,
                         fused=fused).double().eval()


def _batch(seed=1, B=3, S=6, T=5):
    g = torch.Generator().manual_seed(seed)
    valid = torch.tensor([S, 2, 4][:B])
    src = torch.randint(4, 11, (B, S), generator=g)
    src = src.masked_fill(torch.arange(S)[None] >= valid[:, None], 1)  # <pad> = 1
    tgt_in = torch.randint(4, 13, (B, T), generator=g)
    tgt_in[:, 0] = 2  # <bos>
    return src, valid, tgt_in


@pytest.mark.parametrize("bidirectional", [False, True])
def test_encoder_matches_torch_gru_on_packed_sequences(bidirectional):
    """Outputs at valid steps and final states equal torch.nn.GRU run on pack_padded_sequence."""
    model = _model("seq2seq-rnn", bidirectional)
    enc = model.encoder
    ref = tnn.GRU(6, 8, num_layers=2, batch_first=True, bidirectional=bidirectional).double()
    with torch.no_grad():
        for layer in range(2):
            for sfx, mods in (("", enc.forward_layers), ("_reverse", enc.backward_layers)):
                if mods is None:
                    continue
                for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    ours = getattr(mods[layer], f"{kind}_l0")
                    theirs = getattr(ref, f"{kind}_l{layer}{sfx}")
                    assert ours.shape == theirs.shape
                    theirs.copy_(ours)
    src, valid, _ = _batch()
    out, finals = enc(src, valid)
    emb = enc.embedding(src)
    packed = pack_padded_sequence(emb, valid, batch_first=True, enforce_sorted=False)
    ref_out, h_n = ref(packed)
    ref_out, _ = pad_packed_sequence(ref_out, batch_first=True, total_length=src.shape[1])
    mask = torch.arange(src.shape[1])[None] < valid[:, None]
    torch.testing.assert_close(out[mask], ref_out[mask], atol=1e-12, rtol=0)
    D = 2 if bidirectional else 1
    h_n = h_n.view(2, D, 3, 8).permute(0, 2, 1, 3).reshape(2, 3, D * 8)  # (L, B, D·H)
    torch.testing.assert_close(finals, h_n, atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_step_by_step_decoding_equals_teacher_forced_forward(name, bidirectional):
    model = _model(name, bidirectional)
    assert isinstance(model, Seq2SeqModel)
    src, valid, tgt_in = _batch()
    full = torch.log_softmax(model(src, valid, tgt_in), dim=-1)  # (B, T, V)
    state = model.init_state(src, valid)
    steps = []
    for t in range(tgt_in.shape[1]):
        log_probs, state = model.step(tgt_in[:, : t + 1], state)
        steps.append(log_probs)
    torch.testing.assert_close(torch.stack(steps, 1), full, atol=1e-12, rtol=0)
    assert state["h"].shape == (3, 2, 8)  # batch-first (N, L, H) for beam search


@pytest.mark.parametrize("name", NAMES)
def test_padding_and_batch_mates_do_not_change_a_translation(name):
    model = _model(name, bidirectional=True)
    src, valid, tgt_in = _batch()
    base = model(src, valid, tgt_in)
    # more padding, and junk tokens where the padding was
    longer = torch.cat([src, torch.full((3, 4), 1)], dim=1)
    junk = longer.masked_fill(torch.arange(10)[None] >= valid[:, None], 7)
    torch.testing.assert_close(model(junk, valid, tgt_in), base, atol=1e-12, rtol=0)
    # a sentence alone, cut to its own length, gives its row of the batch
    alone = model(src[1:2, :2], valid[1:2], tgt_in[1:2])
    torch.testing.assert_close(alone, base[1:2], atol=1e-12, rtol=0)


def test_bahdanau_attention_weights_are_a_masked_distribution_from_additive_attention():
    model = _model("bahdanau", bidirectional=True)
    src, valid, tgt_in = _batch()
    model(src, valid, tgt_in)
    w = model.attention_weights
    assert w.shape == (3, 5, 6)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 5, dtype=f64))
    assert (w[torch.arange(6)[None, None].expand(3, 5, 6) >= valid[:, None, None]] == 0).all()
    # the first step's weights are AdditiveAttention's for the query s_0 (top layer)
    state = model.init_state(src, valid)
    query = state["h"][:, -1:, :]  # (B, 1, H)
    model.attention(query, state["enc"], state["enc"], valid)
    torch.testing.assert_close(w[:, :1], model.attention.attention_weights, atol=1e-12, rtol=0)


def test_the_context_matters_for_both_models():
    for name in NAMES:
        model = _model(name)
        src, valid, tgt_in = _batch()
        other = src.clone()
        other[0, 0] = 4 if src[0, 0] != 4 else 5
        assert not torch.allclose(model(src, valid, tgt_in)[0], model(other, valid, tgt_in)[0])


@pytest.mark.parametrize("name", NAMES)
def test_fused_and_formula_paths_agree_from_one_state_dict(name):
    fused = _model(name, bidirectional=True, fused=True).train()
    formula = _model(name, bidirectional=True, fused=False, seed=3).train()
    assert list(fused.state_dict()) == list(formula.state_dict())
    formula.load_state_dict(fused.state_dict())
    src, valid, tgt_in = _batch()
    up = torch.randn(3, 5, 13, dtype=f64, generator=torch.Generator().manual_seed(2))
    outs, grads = [], []
    for m in (fused, formula):
        out = m(src, valid, tgt_in)
        outs.append(out)
        grads.append(torch.autograd.grad((out * up).sum(), list(m.parameters())))
    torch.testing.assert_close(outs[0], outs[1], atol=1e-10, rtol=1e-9)
    for (pname, _), a, b in zip(fused.named_parameters(), *grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-9, msg=pname)


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_gets_a_gradient_and_info_round_trips(name):
    model = _model(name, bidirectional=True).train()
    src, valid, tgt_in = _batch()
    model(src, valid, tgt_in).pow(2).sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname
    again = models.from_info(models.model_info(model)).double().eval()
    assert again.config == model.config
    again.load_state_dict(model.state_dict())
    model.eval()
    assert torch.equal(again(src, valid, tgt_in), model(src, valid, tgt_in))


def test_bidirectional_bridge_and_attention_width():
    m = models.create("bahdanau", **SMALL, bidirectional=True, attention_hiddens=5)
    assert m.bridge.weight.shape == (8, 16) and m.attention.W_k.weight.shape == (5, 16)
    assert m.rnn.input_size == 6 + 16  # [e(y); c]
    assert models.create("seq2seq-rnn", **SMALL).bridge is None


def test_errors_name_the_bad_value():
    with pytest.raises(ConfigError, match="num_hiddens"):
        models.create("seq2seq-rnn", num_hiddens=0)
    with pytest.raises(ConfigError, match="dropout"):
        models.create("bahdanau", dropout=1.0)
    model = _model("seq2seq-rnn")
    src, valid, tgt_in = _batch()
    with pytest.raises(ShapeError, match="tgt_in"):
        model(src, valid, tgt_in[0])
    with pytest.raises(ShapeError, match="src_valid_len"):
        model(src, valid[:2], tgt_in)


def test_docstring_examples_run():
    import doctest

    import deepnotes.models.seq2seq_rnn as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
