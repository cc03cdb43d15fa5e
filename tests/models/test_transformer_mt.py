"""transformer-mt and transformer-nat (A11-A13): the seq2seq interface, cached decoding, masks,
fused == formula, learning a small task, the non-autoregressive decoder and its length."""

from __future__ import annotations

import doctest

import pytest
import torch

import deepnotes.models.transformer_mt as tmt
from deepnotes import models
from deepnotes.decoding import beam_search, greedy_search
from deepnotes.errors import ConfigError, ShapeError
from deepnotes.functional.sequence import masked_cross_entropy
from deepnotes.tasks.translation import Seq2SeqModel, teacher_forcing_inputs

f64 = torch.float64
SMALL = {"src_vocab_size": 11, "tgt_vocab_size": 13, "embed_dim": 8, "num_heads": 2,
         "ffn_hidden": 16, "dropout": 0.0}
PAD, BOS, EOS = 1, 2, 3


def _batch(seed=0, b=3, s=6, t=5):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, 11, (b, s), generator=g)
    src_len = torch.tensor([6, 4, 2][:b])
    src[src_len[:, None] <= torch.arange(s)] = PAD
    tgt = torch.randint(4, 13, (b, t), generator=g)
    return src, src_len, teacher_forcing_inputs(tgt, BOS), tgt


def _mt(**kw):
    torch.manual_seed(0)
    return models.create("transformer-mt", **{**SMALL, **kw})


def _nat(**kw):
    torch.manual_seed(0)
    return models.create("transformer-nat", **{**SMALL, "max_tgt_len": 6, **kw})


@pytest.mark.parametrize("name", ["transformer-mt", "transformer-nat"])
def test_interface_shapes_and_every_parameter_learns(name):
    model = _mt() if name == "transformer-mt" else _nat()
    assert isinstance(model, Seq2SeqModel)
    src, src_len, tgt_in, tgt = _batch()
    logits = model(src, src_len, tgt_in)
    assert logits.shape == (3, 5, 13) and torch.isfinite(logits).all()
    loss = (model.loss(src, src_len, tgt, torch.tensor([5, 3, 1])) if name == "transformer-nat"
            else masked_cross_entropy(logits, tgt, torch.tensor([5, 3, 1])))
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname
    again = models.from_info(models.model_info(model))
    again.load_state_dict(model.state_dict())
    model.eval(), again.eval()
    assert torch.equal(again(src, src_len, tgt_in), model(src, src_len, tgt_in))


@pytest.mark.parametrize("norm_first", [False, True])
def test_cached_steps_equal_the_teacher_forced_pass(norm_first):
    model = _mt(norm_first=norm_first).double().eval()
    src, src_len, tgt_in, _ = _batch()
    want = torch.log_softmax(model(src, src_len, tgt_in), dim=-1)  # (B, T, V)
    state = model.init_state(src, src_len)
    for t in range(1, tgt_in.shape[1] + 1):
        log_probs, state = model.step(tgt_in[:, :t], state)
        torch.testing.assert_close(log_probs, want[:, t - 1], atol=1e-12, rtol=1e-10)
    assert [c.shape[1] for c in state["cache"]] == [5, 5]
    with pytest.raises(ShapeError, match="already"):
        model.step(tgt_in[:, :3], state)


def test_greedy_and_beam_search_run_through_step():
    model = _mt().double().eval()
    src, src_len, _, _ = _batch()
    greedy = greedy_search(model.step, BOS, EOS, 7, state=model.init_state(src, src_len))
    beam1 = beam_search(model.step, BOS, EOS, 1, 7, 0.0, state=model.init_state(src, src_len))
    assert greedy.tokens == beam1.tokens  # beam of width 1 is greedy
    beam = beam_search(model.step, BOS, EOS, 4, 7, 0.0, state=model.init_state(src, src_len))
    assert (beam.log_probs >= greedy.log_probs - 1e-9).all()
    # the reported log P of a decoded sequence is the teacher-forced one
    for b, toks in enumerate(beam.tokens):
        tgt_in = torch.tensor([[BOS, *toks[:-1]]])
        lp = torch.log_softmax(model(src[b:b + 1], src_len[b:b + 1], tgt_in), -1)[0]
        total = lp.gather(1, torch.tensor(toks)[:, None]).sum()
        assert total.item() == pytest.approx(beam.log_probs[b].item(), abs=1e-9)


def test_decoder_is_causal_and_ignores_source_padding():
    model = _mt().double().eval()
    src, src_len, tgt_in, _ = _batch()
    out = model(src, src_len, tgt_in)
    tgt2, src2 = tgt_in.clone(), src.clone()
    tgt2[:, 3:] = 5
    src2[2, 2:] = 9  # example 2 has 2 valid source tokens
    out2 = model(src2, src_len, tgt2)
    torch.testing.assert_close(out2[:, :3], out[:, :3], atol=1e-12, rtol=0)
    torch.testing.assert_close(out2[2], model(src, src_len, tgt2)[2], atol=1e-12, rtol=0)


def test_embeddings_are_scaled_and_positions_added():
    model = _mt().double().eval()
    src = torch.tensor([[4, 5, 6]])
    h0 = model.encoder.pos(model.encoder.embedding(src) * 8 ** 0.5)
    from deepnotes.nn.positional import sinusoidal_positions
    want = model.encoder.embedding.weight[src[0]] * 8 ** 0.5 + sinusoidal_positions(3, 8, dtype=f64)
    torch.testing.assert_close(h0[0], want)


@pytest.mark.parametrize("name", ["transformer-mt", "transformer-nat"])
def test_fused_and_formula_models_agree(name):
    make = _mt if name == "transformer-mt" else _nat
    fused, formula = make(fused=True).double(), make(fused=False).double()
    formula.load_state_dict(fused.state_dict())
    src, src_len, tgt_in, _ = _batch()
    a, b = fused(src, src_len, tgt_in), formula(src, src_len, tgt_in)
    torch.testing.assert_close(a, b, atol=1e-11, rtol=1e-9)
    if name == "transformer-nat":  # the loss also trains the length head
        lens = torch.tensor([5, 3, 1])
        la, lb = fused.loss(src, src_len, tgt_in, lens), formula.loss(src, src_len, tgt_in, lens)
    else:
        la, lb = a.square().sum(), b.square().sum()
    ga = torch.autograd.grad(la, list(fused.parameters()))
    gb = torch.autograd.grad(lb, list(formula.parameters()))
    for x, y in zip(ga, gb, strict=True):
        torch.testing.assert_close(x, y, atol=1e-10, rtol=1e-8)
    assert all(not m.fused for m in formula.modules() if hasattr(m, "fused"))


def test_attention_maps_for_heat_maps():
    model = _mt().eval()
    src, src_len, tgt_in, _ = _batch()
    maps = model.attention_maps(src, src_len, tgt_in)
    assert [w.shape for w in maps["cross"]] == [(3, 5, 6)] * 2
    assert [w.shape for w in maps["encoder"]] == [(3, 6, 6)] * 2
    cross = maps["cross"][-1]
    torch.testing.assert_close(cross.sum(-1), torch.ones(3, 5))
    assert cross[2, :, 2:].abs().max() == 0  # padded source positions get no weight
    assert maps["decoder_self"][0][0].triu(1).abs().max() == 0  # causal


def _reverse_task(n=24, seed=0):
    """Targets: the source reversed, then <eos> (needs attention across positions)."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, 11, (n, 4), generator=g)
    tgt = torch.cat([src.flip(1), torch.full((n, 1), EOS)], dim=1)
    return src, torch.full((n,), 4), tgt, torch.full((n,), 5)


def test_transformer_mt_learns_to_reverse():
    model = models.create("transformer-mt", **{**SMALL, "embed_dim": 32, "ffn_hidden": 64,
                                               "tgt_vocab_size": 11})
    src, src_len, tgt, tgt_len = _reverse_task()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(100):
        loss = masked_cross_entropy(model(src, src_len, teacher_forcing_inputs(tgt, BOS)), tgt,
                                    tgt_len)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    out = greedy_search(model.step, BOS, EOS, 6, state=model.init_state(src, src_len))
    assert out.tokens == tgt.tolist()


def test_nat_decodes_in_one_pass_and_learns_lengths():
    torch.manual_seed(0)
    model = models.create("transformer-nat", **{**SMALL, "embed_dim": 32, "ffn_hidden": 64,
                                                "tgt_vocab_size": 11, "max_tgt_len": 6})
    # copy task with lengths 2..5 (+ <eos>): the length head must read the source length
    g = torch.Generator().manual_seed(1)
    n = 32
    lens = torch.randint(2, 6, (n,), generator=g)
    src = torch.randint(4, 11, (n, 6), generator=g)
    src[lens[:, None] <= torch.arange(6)] = PAD
    tgt = src.clone()
    tgt[torch.arange(n), lens] = EOS
    tgt_len = lens + 1
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(150):
        loss = model.loss(src, lens, tgt, tgt_len)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    memory = model.encoder(src, lens)
    assert torch.equal(model.length_logits(memory, lens).argmax(-1), tgt_len)
    out = model.generate(src, lens)
    want = [row[: int(k)] for row, k in zip(tgt.tolist(), tgt_len)]
    assert out == want and all(o[-1] == EOS for o in out)
    # the generic search over the replayed one-pass output gives the same sequences
    assert greedy_search(model.step, BOS, EOS, 8, state=model.init_state(src, lens)).tokens == want


def test_nat_has_no_causal_mask_and_ignores_target_tokens():
    model = _nat().double().eval()
    src, src_len, tgt_in, _ = _batch(t=6)
    lens = torch.tensor([6, 4, 3])
    out = model(src, src_len, tgt_in, tgt_valid_len=lens)
    # target tokens are never read: only their count
    torch.testing.assert_close(model(src, src_len, torch.zeros_like(tgt_in), lens), out)
    # early positions see later ones (no causal mask): a longer length changes position 0
    assert (model(src, src_len, tgt_in, torch.tensor([6, 5, 3]))[1, 0] - out[1, 0]).abs().max() \
        > 1e-6
    # predicted-length mode forces <eos> at position L-1 and after
    log_probs = model._one_pass(src, src_len)
    length = model.length_logits(model.encoder(src, src_len), src_len).argmax(-1).clamp_min(1)
    for b in range(3):
        assert (log_probs[b, int(length[b]) - 1:].argmax(-1) == EOS).all()
    assert torch.isinf(log_probs[..., [PAD, BOS]]).all()


def test_nat_max_mode_cuts_at_eos():
    model = _nat(length_mode="max").eval()
    src, src_len, _, _ = _batch()
    for row in model.generate(src, src_len):
        assert EOS not in row[:-1] and (row[-1] == EOS or len(row) == 6)


def test_config_errors():
    with pytest.raises(ConfigError, match="num_heads"):
        models.create("transformer-mt", embed_dim=10, num_heads=4)
    with pytest.raises(ConfigError, match="'best'"):
        models.create("transformer-nat", length_mode="best")
    with pytest.raises(ShapeError, match="max_tgt_len=6"):
        _nat()(*_batch(t=8)[:3])
    with pytest.raises(ShapeError, match="src_valid_len"):
        _mt()(torch.ones(2, 3, dtype=torch.long), torch.tensor([3]),
              torch.ones(2, 2, dtype=torch.long))


def test_docstring_examples():
    result = doctest.testmod(tmt, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 2 and result.failed == 0
