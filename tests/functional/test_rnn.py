"""Recurrent cells and sequence loops: parity with torch's cells and RNN kernels in float64,
gradient checks, the notes' GRU variant, peepholes, the Jordan cell, and end-padded sequences
(``lengths``) against torch on a PackedSequence."""

from __future__ import annotations

import doctest

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import deepnotes.functional.rnn as rnn_module
from deepnotes import functional as F
from deepnotes.errors import ConfigError, ShapeError
from tests.functional._helpers import assert_parity

f64 = torch.float64
B, C, H = 3, 4, 5


def _randn(*shape, seed=0, scale=1.0):
    return scale * torch.randn(*shape, dtype=f64, generator=torch.Generator().manual_seed(seed))


def _cell_inputs(gates, bias=True, seed=0):
    x, h = _randn(B, C, seed=seed), _randn(B, H, seed=seed + 1)
    w_ih, w_hh = _randn(gates * H, C, seed=seed + 2, scale=0.5), _randn(gates * H, H,
                                                                        seed=seed + 3, scale=0.5)
    if not bias:
        return x, h, w_ih, w_hh
    return x, h, w_ih, w_hh, _randn(gates * H, seed=seed + 4), _randn(gates * H, seed=seed + 5)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("bias", [True, False])
def test_rnn_cell_matches_torch(nonlinearity, bias):
    ref = torch.rnn_tanh_cell if nonlinearity == "tanh" else torch.rnn_relu_cell
    assert_parity(lambda *a: F.rnn_cell(*a, nonlinearity=nonlinearity), ref,
                  *_cell_inputs(1, bias))


@pytest.mark.parametrize("bias", [True, False])
def test_gru_cell_matches_torch(bias):
    assert_parity(F.gru_cell, torch.gru_cell, *_cell_inputs(3, bias))


@pytest.mark.parametrize("bias", [True, False])
def test_lstm_cell_matches_torch(bias):
    x, h, *w = _cell_inputs(4, bias)
    c = _randn(B, H, seed=9)

    def ours(x, h, c, *w):
        return torch.cat(F.lstm_cell(x, (h, c), *w), dim=-1)  # (B, 2H): [h_t ; c_t]

    def ref(x, h, c, *w):
        return torch.cat(torch.lstm_cell(x, (h, c), *w), dim=-1)

    assert_parity(ours, ref, x, h, c, *w)


def _sigmoid(a):
    return 1 / (1 + torch.exp(-a))


def test_gru_cell_reset_before_matmul_is_the_notes_formula():
    x, h, w_ih, w_hh, b_ih, b_hh = _cell_inputs(3)
    # the notes / d2l, row-vector form: R = σ(X W_xr + H W_hr + b_r), Z likewise,
    # H̃ = tanh(X W_xh + (R ⊙ H) W_hh + b_h), H_t = Z ⊙ H + (1 − Z) ⊙ H̃
    W_xr, W_xz, W_xh = (w.T for w in w_ih.chunk(3))
    W_hr, W_hz, W_hh = (w.T for w in w_hh.chunk(3))
    b_r, b_z, b_h = (a + b for a, b in zip(b_ih.chunk(3), b_hh.chunk(3)))
    R = _sigmoid(x @ W_xr + h @ W_hr + b_r)
    Z = _sigmoid(x @ W_xz + h @ W_hz + b_z)
    H_tilde = torch.tanh(x @ W_xh + (R * h) @ W_hh + b_h)
    expected = Z * h + (1 - Z) * H_tilde
    got = F.gru_cell(x, h, w_ih, w_hh, b_ih, b_hh, reset_after=False)
    torch.testing.assert_close(got, expected, atol=1e-14, rtol=1e-12)
    # with b_hn ≠ 0 and r ≠ 1 torch's variant is a different function
    torch_variant = F.gru_cell(x, h, w_ih, w_hh, b_ih, b_hh, reset_after=True)
    assert (torch_variant - got).abs().max() > 1e-3


def test_lstm_cell_with_peepholes_follows_the_formula():
    x, h, w_ih, w_hh, b_ih, b_hh = _cell_inputs(4)
    c = _randn(B, H, seed=9)
    w_ci, w_cf, w_co = _randn(H, seed=10), _randn(H, seed=11), _randn(H, seed=12)
    # gates written out one by one, each with its own matrices (the notes' picture)
    W_i, W_f, W_g, W_o = w_ih.chunk(4)
    U_i, U_f, U_g, U_o = w_hh.chunk(4)
    b = [a + d for a, d in zip(b_ih.chunk(4), b_hh.chunk(4))]
    i = _sigmoid(x @ W_i.T + h @ U_i.T + b[0] + w_ci * c)
    f = _sigmoid(x @ W_f.T + h @ U_f.T + b[1] + w_cf * c)
    g = torch.tanh(x @ W_g.T + h @ U_g.T + b[2])
    c_new = f * c + i * g
    o = _sigmoid(x @ W_o.T + h @ U_o.T + b[3] + w_co * c_new)
    h_new = o * torch.tanh(c_new)
    got_h, got_c = F.lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh, w_ci, w_cf, w_co)
    torch.testing.assert_close(got_c, c_new, atol=1e-14, rtol=1e-12)
    torch.testing.assert_close(got_h, h_new, atol=1e-14, rtol=1e-12)
    # zero peepholes: the plain LSTM (torch's)
    z = torch.zeros(H, dtype=f64)
    plain = F.lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh, z, z, z)
    ref = torch.lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh)
    torch.testing.assert_close(plain, ref, atol=1e-14, rtol=1e-12)


def test_cells_pass_gradcheck():
    _, _, w_ih, w_hh, b_ih, b_hh = _cell_inputs(4)
    x, h = _randn(2, C, seed=20), _randn(2, H, seed=21)
    c = _randn(2, H, seed=22)
    peep = tuple(_randn(H, seed=s) for s in (23, 24, 25))
    args = [t.clone().requires_grad_() for t in (x, h, c, w_ih, w_hh, b_ih, b_hh, *peep)]

    def lstm(x, h, c, *w):
        return F.lstm_cell(x, (h, c), *w)

    assert torch.autograd.gradcheck(lstm, args)
    g = [t.clone().requires_grad_() for t in _cell_inputs(3, seed=30)]
    assert torch.autograd.gradcheck(lambda *a: F.gru_cell(*a, reset_after=False), g)
    j = [t.clone().requires_grad_() for t in (_randn(2, C, seed=40), _randn(2, 3, seed=41),
                                              _randn(H, C, seed=42), _randn(H, 3, seed=43),
                                              _randn(3, H, seed=44), _randn(H, seed=45),
                                              _randn(3, seed=46))]
    assert torch.autograd.gradcheck(
        lambda *a: F.jordan_cell(*a, output_nonlinearity="softmax"), j)


def test_jordan_cell_feeds_back_the_output():
    x, y = _randn(B, C, seed=1), _randn(B, 2, seed=2)
    w_ih, w_yh, w_ho = _randn(H, C, seed=3), _randn(H, 2, seed=4), _randn(2, H, seed=5)
    b_h, b_o = _randn(H, seed=6), _randn(2, seed=7)
    h, y_new = F.jordan_cell(x, y, w_ih, w_yh, w_ho, b_h, b_o, output_nonlinearity="sigmoid")
    # h_t = tanh(W_ih x + W_yh y_{t-1} + b_h), y_t = σ(W_ho h_t + b_o)
    h_ref = torch.tanh(x @ w_ih.T + y @ w_yh.T + b_h)
    torch.testing.assert_close(h, h_ref, atol=1e-14, rtol=1e-12)
    torch.testing.assert_close(y_new, _sigmoid(h_ref @ w_ho.T + b_o), atol=1e-14, rtol=1e-12)
    _, probs = F.jordan_cell(x, y, w_ih, w_yh, w_ho, output_nonlinearity="softmax")
    torch.testing.assert_close(probs.sum(-1), torch.ones(B, dtype=f64))


def _torch_layer_weights(module):
    """torch module's parameters as our per-(layer, direction) tuples."""
    return [tuple(getattr(module, n) for n in names) for names in module._all_weights]


@pytest.mark.parametrize("kind", ["rnn_relu", "gru", "lstm"])
@pytest.mark.parametrize("batch_first", [True, False])
def test_sequences_match_torch_modules(kind, batch_first):
    torch.manual_seed(0)
    T = 4
    if kind == "lstm":
        ref = torch.nn.LSTM(C, H, 2, bidirectional=True, batch_first=batch_first).double()
    elif kind == "gru":
        ref = torch.nn.GRU(C, H, 2, bidirectional=True, batch_first=batch_first).double()
    else:
        ref = torch.nn.RNN(C, H, 2, nonlinearity="relu", bidirectional=True,
                           batch_first=batch_first).double()
    weights = _torch_layer_weights(ref)
    x = _randn(*((B, T, C) if batch_first else (T, B, C)), seed=3)
    h0 = _randn(4, B, H, seed=4)
    if kind == "lstm":
        hx = (h0, _randn(4, B, H, seed=5))
        out, (h, c) = F.lstm_sequence(x, hx, weights, 2, bidirectional=True,
                                      batch_first=batch_first)
        ref_out, (ref_h, ref_c) = ref(x, hx)
        torch.testing.assert_close(c, ref_c, atol=1e-13, rtol=1e-11)
    elif kind == "gru":
        out, h = F.gru_sequence(x, h0, weights, 2, bidirectional=True, batch_first=batch_first)
        ref_out, ref_h = ref(x, h0)
    else:
        out, h = F.rnn_sequence(x, h0, weights, 2, "relu", bidirectional=True,
                                batch_first=batch_first)
        ref_out, ref_h = ref(x, h0)
    assert out.shape == ref_out.shape == ((B, T, 2 * H) if batch_first else (T, B, 2 * H))
    torch.testing.assert_close(out, ref_out, atol=1e-13, rtol=1e-11)
    torch.testing.assert_close(h, ref_h, atol=1e-13, rtol=1e-11)


def _sequence(kind):
    return {"rnn_relu": lambda *a, **k: F.rnn_sequence(*a, nonlinearity="relu", **k),
            "gru": F.gru_sequence, "lstm": F.lstm_sequence}[kind]


@pytest.mark.parametrize("kind", ["rnn_relu", "gru", "lstm"])
@pytest.mark.parametrize("batch_first", [True, False])
def test_lengths_match_torch_on_packed_sequences(kind, batch_first):
    """Padded steps change no state and output zeros; the backward direction starts at each
    row's last valid step: torch's numbers on a PackedSequence, final states included."""
    torch.manual_seed(0)
    cls = {"rnn_relu": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[kind]
    extra = {"nonlinearity": "relu"} if kind == "rnn_relu" else {}
    ref = cls(C, H, 2, bidirectional=True, batch_first=batch_first, **extra).double()
    T, lengths = 6, torch.tensor([6, 1, 4])
    x = _randn(*((B, T, C) if batch_first else (T, B, C)), seed=3)
    h0 = _randn(4, B, H, seed=4)
    hx = (h0, _randn(4, B, H, seed=5)) if kind == "lstm" else h0
    out, state = _sequence(kind)(x, hx, _torch_layer_weights(ref), 2, bidirectional=True,
                                 batch_first=batch_first, lengths=lengths)
    packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    ref_out, ref_state = ref(packed, hx)
    ref_out, _ = pad_packed_sequence(ref_out, batch_first=batch_first, total_length=T)
    torch.testing.assert_close(out, ref_out, atol=1e-13, rtol=1e-11)  # zeros at padding too
    for s, r in zip(*(t if isinstance(t, tuple) else (t,) for t in (state, ref_state)),
                    strict=True):
        torch.testing.assert_close(s, r, atol=1e-13, rtol=1e-11)


def test_lengths_rows_alone_zero_lengths_and_errors():
    torch.manual_seed(2)
    ref = torch.nn.LSTM(C, H, bidirectional=True, batch_first=True).double()
    weights = _torch_layer_weights(ref)
    x = _randn(B, 5, C, seed=6)
    lengths = torch.tensor([5, 0, 3])
    out, (h, c) = F.lstm_sequence(x, None, weights, bidirectional=True, lengths=lengths)
    for b, n in enumerate(lengths.tolist()):
        if n == 0:  # no valid step: zero outputs, the initial (zero) state
            assert out[b].eq(0).all() and h[:, b].eq(0).all() and c[:, b].eq(0).all()
            continue
        alone, (ha, ca) = F.lstm_sequence(x[b:b + 1, :n], None, weights, bidirectional=True)
        torch.testing.assert_close(out[b, :n], alone[0], atol=1e-14, rtol=1e-12)
        torch.testing.assert_close(h[:, b], ha[:, 0], atol=1e-14, rtol=1e-12)
        torch.testing.assert_close(c[:, b], ca[:, 0], atol=1e-14, rtol=1e-12)
        assert out[b, n:].eq(0).all()
    # no row with a valid step at all: zeros and the given state back
    h0 = (_randn(2, B, H, seed=7), _randn(2, B, H, seed=8))
    out, (h, c) = F.lstm_sequence(x, h0, weights, bidirectional=True,
                                  lengths=torch.zeros(B, dtype=torch.long))
    assert out.shape == (B, 5, 2 * H) and out.eq(0).all()
    assert torch.equal(h, h0[0]) and torch.equal(c, h0[1])
    with pytest.raises(ShapeError, match=r"\[0, T=5\]"):
        F.lstm_sequence(x, None, weights, bidirectional=True, lengths=torch.tensor([6, 1, 1]))
    with pytest.raises(ShapeError, match=r"\(B,\) = \(3,\)"):
        F.lstm_sequence(x, None, weights, bidirectional=True, lengths=torch.tensor([5, 1]))
    with pytest.raises(ShapeError, match="integer"):
        F.lstm_sequence(x, None, weights, bidirectional=True, lengths=torch.ones(3))


def test_lengths_gradcheck():
    w = tuple(_randn(*s, seed=i, scale=0.5).requires_grad_()
              for i, s in enumerate([(3 * H, C), (3 * H, H), (3 * H,), (3 * H,)]))
    x = _randn(2, 4, C, seed=9).requires_grad_()

    def fn(x, *w):
        out, h = F.gru_sequence(x, None, [w, w], bidirectional=True, lengths=torch.tensor([4, 2]))
        return out, h

    assert torch.autograd.gradcheck(fn, (x, *w))


def test_bidirectional_reverse_half_is_the_forward_run_on_the_reversed_sequence():
    torch.manual_seed(1)
    ref = torch.nn.GRU(C, H, bidirectional=True, batch_first=True).double()
    fwd, bwd = _torch_layer_weights(ref)
    x = _randn(B, 6, C, seed=2)
    out, h = F.gru_sequence(x, None, [fwd, bwd], bidirectional=True)
    rev_out, rev_h = F.gru_sequence(x.flip(1), None, [bwd])
    # ←h_t is the reverse weights' forward pass over x_T … x_1, read back to front
    torch.testing.assert_close(out[..., H:], rev_out.flip(1), atol=1e-14, rtol=1e-12)
    torch.testing.assert_close(h[1], rev_h[0], atol=1e-14, rtol=1e-12)


def test_sequence_argument_errors():
    w = (torch.zeros(4, 3), torch.zeros(4, 4), None, None)
    x = torch.zeros(2, 5, 3)
    with pytest.raises(ShapeError, match=r"3-D input"):
        F.rnn_sequence(torch.zeros(5, 3), None, [w])
    with pytest.raises(ShapeError, match="at least one time step"):
        F.rnn_sequence(torch.zeros(2, 0, 3), None, [w])
    with pytest.raises(ConfigError, match="2 weight tuples"):
        F.rnn_sequence(x, None, [w], bidirectional=True)
    with pytest.raises(ShapeError, match=r"\(1, 2, 4\)"):
        F.rnn_sequence(x, torch.zeros(1, 3, 4), [w])
    with pytest.raises(ConfigError, match="nonlinearity"):
        F.rnn_sequence(x, None, [w], nonlinearity="sigmoid")
    with pytest.raises(ConfigError, match="4 entries"):
        F.gru_sequence(x, None, [w[:3]])
    with pytest.raises(ConfigError, match="all together"):
        F.lstm_cell(torch.zeros(1, 3), (torch.zeros(1, 2),) * 2, torch.zeros(8, 3),
                    torch.zeros(8, 2), w_ci=torch.zeros(2))
    with pytest.raises(ConfigError, match="output_nonlinearity"):
        F.jordan_cell(torch.zeros(1, 3), torch.zeros(1, 2), torch.zeros(4, 3),
                      torch.zeros(4, 2), torch.zeros(2, 4), output_nonlinearity="relu6")


def test_docstring_examples():
    result = doctest.testmod(rnn_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 7
    assert result.failed == 0
