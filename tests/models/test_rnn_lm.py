"""The rnn-lm model (R4-R8): torch parity, fused == scratch, state carrying, causality, learning."""

from __future__ import annotations

import doctest

import pytest
import torch
from torch import nn as tnn

import deepnotes.models.rnn_lm as rnn_lm_module
from deepnotes import models
from deepnotes.data import SequenceBatches
from deepnotes.errors import ConfigError, ShapeError

f64 = torch.float64
V = 7
TORCH = {"rnn": tnn.RNN, "gru": tnn.GRU, "lstm": tnn.LSTM}


def _tokens(B=3, T=6, seed=0):
    return torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(seed))


def _lm(**kw):
    torch.manual_seed(0)
    cfg = {"vocab_size": V, "hidden": 5}
    cfg.update(kw)
    return models.create("rnn-lm", **cfg).double()


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("layers, bi", [(1, False), (2, False), (2, True)])
def test_matches_torch_recurrent_layer_and_linear(cell, fused, layers, bi):
    m = _lm(cell=cell, num_layers=layers, bidirectional=bi, fused=fused)
    D = 2 if bi else 1
    ref = TORCH[cell](V, 5, num_layers=layers, bidirectional=bi, batch_first=True).double()
    ref.load_state_dict(m.rnn.state_dict())  # torch's names and shapes
    head = tnn.Linear(D * 5, V).double()
    head.load_state_dict(m.output.state_dict())
    X = _tokens()
    x = tnn.functional.one_hot(X, V).double()  # (B, T, V)
    g = torch.Generator().manual_seed(3)
    h0 = torch.randn(layers * D, 3, 5, generator=g, dtype=f64)
    state = (h0, torch.randn(layers * D, 3, 5, generator=g, dtype=f64)) if cell == "lstm" else h0
    out, s_ref = ref(x, state)
    logits, s = m(X, state)
    torch.testing.assert_close(logits, head(out), atol=1e-12, rtol=1e-10)
    for a, b in zip(s if cell == "lstm" else (s,), s_ref if cell == "lstm" else (s_ref,)):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10)
    assert logits.shape == (3, 6, V)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_fused_and_scratch_agree_in_value_and_gradient(cell):
    fused = _lm(cell=cell, num_layers=2, embedding=4, fused=True)
    scratch = _lm(cell=cell, num_layers=2, embedding=4, fused=False)
    scratch.load_state_dict(fused.state_dict())
    assert list(fused.state_dict()) == list(scratch.state_dict())
    X, Y = _tokens(seed=1), _tokens(seed=2)
    grads = []
    for m in (fused, scratch):
        logits, _ = m(X)
        loss = tnn.functional.cross_entropy(logits.reshape(-1, V), Y.reshape(-1))
        grads.append((logits.detach(), torch.autograd.grad(loss, list(m.parameters()))))
    torch.testing.assert_close(grads[0][0], grads[1][0], atol=1e-12, rtol=1e-10)
    for a, b in zip(grads[0][1], grads[1][1], strict=True):
        torch.testing.assert_close(a, b, atol=1e-11, rtol=1e-9)


def test_one_hot_input_is_an_identity_embedding():
    one_hot = _lm(cell="gru")
    emb = _lm(cell="gru", embedding=V)
    emb.load_state_dict({**one_hot.state_dict(), "embedding.weight": torch.eye(V, dtype=f64)})
    X = _tokens()
    torch.testing.assert_close(one_hot(X)[0], emb(X)[0], atol=1e-14, rtol=0)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_carrying_the_state_equals_reading_the_whole_sequence(cell):
    m = _lm(cell=cell, num_layers=2)
    X = _tokens(T=10)
    whole, s_whole = m(X)
    first, s = m(X[:, :4], m.begin_state(3))
    second, s = m(X[:, 4:], s)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(s if cell != "lstm" else s[1],
                               s_whole if cell != "lstm" else s_whole[1], atol=1e-12, rtol=1e-10)


def test_begin_state_shapes_and_zero_default():
    for cell, bi in (("gru", False), ("lstm", True)):
        m = _lm(cell=cell, num_layers=3, bidirectional=bi)
        s = m.begin_state(4)
        D = 2 if bi else 1
        for t in (s if cell == "lstm" else (s,)):
            assert t.shape == (3 * D, 4, 5) and t.dtype == f64 and not t.any()
        X = _tokens(B=4)
        torch.testing.assert_close(m(X, s)[0], m(X)[0], atol=0, rtol=0)


def test_unidirectional_is_causal_bidirectional_is_not():
    X = _tokens(T=8)
    X2 = X.clone()
    X2[:, 5] = (X2[:, 5] + 1) % V  # change the token at t = 5
    for bi in (False, True):
        m = _lm(cell="lstm", bidirectional=bi)
        a, b = m(X)[0], m(X2)[0]
        past_moved = (a[:, :5] - b[:, :5]).abs().max().item()
        assert (past_moved > 1e-6) == bi  # a BiRNN's earlier outputs read the future
        assert (a[:, 5:] - b[:, 5:]).abs().max() > 1e-6


def test_can_overfit_a_short_text_with_sequence_batches():
    torch.manual_seed(0)
    ids = torch.tensor([0, 1, 2, 3, 4, 5, 6] * 30)  # period-7 text: next token is certain
    m = models.create("rnn-lm", vocab_size=V, cell="gru", hidden=16, embedding=8)
    opt = torch.optim.Adam(m.parameters(), lr=0.03)
    loader = SequenceBatches(ids, batch_size=4, num_steps=10, sampling="sequential", seed=0)
    for _ in range(15):
        state = None
        for X, Y in loader:
            logits, state = m(X, state)
            state = state.detach()
            loss = tnn.functional.cross_entropy(logits.reshape(-1, V), Y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert torch.exp(loss).item() < 1.05  # perplexity -> 1 (R8: 1 is perfect)


def test_every_parameter_gets_a_gradient_and_dropout_acts_in_training_only():
    m = _lm(cell="lstm", num_layers=2, embedding=3, dropout=0.5, bidirectional=True)
    X = _tokens()
    logits, _ = m(X)
    logits.sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    torch.manual_seed(1)
    a = m(X)[0]
    torch.manual_seed(2)
    assert not torch.equal(a, m(X)[0])  # dropout draws differ in training
    m.eval()
    assert torch.equal(m(X)[0], m(X)[0])


def test_model_info_round_trip_and_fused_flag():
    m = models.create("rnn-lm", vocab_size=V, cell="lstm", hidden=6, num_layers=2, fused=False)
    again = models.from_info(models.model_info(m))
    assert again.config == m.config and again.rnn.fused is False
    again.load_state_dict(m.state_dict())
    X = _tokens()
    m.eval(), again.eval()
    assert torch.equal(m(X)[0], again(X)[0])
    assert "rnn-lm" in models.MODELS.names()


def test_forget_bias_opens_only_the_lstm_forget_gate():
    torch.manual_seed(0)
    plain = models.create("rnn-lm", vocab_size=V, cell="lstm", hidden=4, num_layers=2)
    torch.manual_seed(0)
    opened = models.create("rnn-lm", vocab_size=V, cell="lstm", hidden=4, num_layers=2,
                           forget_bias=2.0)
    for (name, a), b in zip(plain.named_parameters(), opened.parameters()):
        delta = (b - a).detach()
        if name.startswith("rnn.bias_ih"):  # gate blocks i, f, g, o: only f moves, by 2
            torch.testing.assert_close(delta, torch.tensor([0.0] * 4 + [2.0] * 4 + [0.0] * 8))
        else:
            assert not delta.any(), name
    with pytest.raises(ConfigError, match="forget_bias"):
        models.create("rnn-lm", cell="gru", forget_bias=1.0)


def test_errors_name_the_bad_value():
    with pytest.raises(ConfigError, match="'transformer'"):
        models.create("rnn-lm", cell="transformer")
    with pytest.raises(ConfigError, match="dropout"):
        models.create("rnn-lm", dropout=1.0)
    with pytest.raises(ConfigError, match="hidden"):
        models.create("rnn-lm", hidden=0)
    m = models.create("rnn-lm", vocab_size=V, hidden=4)
    with pytest.raises(ShapeError, match=r"\[0, 7\)"):
        m(torch.tensor([[1, 7]]))
    with pytest.raises(ShapeError, match=r"\(B, T\)"):
        m(torch.zeros(2, 3, 4))


def test_docstring_examples():
    result = doctest.testmod(rnn_lm_module)
    assert result.attempted >= 2 and result.failed == 0
