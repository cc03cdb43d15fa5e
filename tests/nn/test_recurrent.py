"""RNN, GRU, LSTM and JordanRNN layers: both paths agree with torch.nn.RNN/GRU/LSTM in float64
(outputs, final states, input/state/parameter gradients), state dicts load both ways, peepholes,
dropout between layers, BPTT with gradient clipping, and end-padded batches (``lengths``) against
torch on a PackedSequence and against each row run alone."""

from __future__ import annotations

import doctest

import pytest
import torch
from torch import nn as tnn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import deepnotes.nn.recurrent as recurrent_module
from deepnotes import functional as F
from deepnotes import nn
from deepnotes.errors import ConfigError, ShapeError

f64 = torch.float64
C, H, B, T = 3, 4, 2, 5

KINDS = {
    # name: (ours, torch's, extra kwargs)
    "rnn_tanh": (nn.RNN, tnn.RNN, {}),
    "rnn_relu": (nn.RNN, tnn.RNN, {"nonlinearity": "relu"}),
    "gru": (nn.GRU, tnn.GRU, {}),
    "lstm": (nn.LSTM, tnn.LSTM, {}),
}


def _randn(*shape, seed=0):
    return torch.randn(*shape, dtype=f64, generator=torch.Generator().manual_seed(seed))


def _pair(kind, fused, seed=0, **kw):
    ours_cls, ref_cls, extra = KINDS[kind]
    kw.setdefault("batch_first", True)  # ours defaults to batch first, torch does not
    torch.manual_seed(seed)
    ref = ref_cls(C, H, **extra, **kw).double()
    ours = ours_cls(C, H, **extra, **kw, fused=fused).double()
    ours.load_state_dict(ref.state_dict())
    return ours, ref


def _run(module, x, state, seed=7, lengths=None):
    """Output, final state and the gradients of x, the initial state and every parameter under
    random upstream gradients on the output and on every final state. With ``lengths``, a torch
    module runs on the PackedSequence and its output is padded back with zeros."""
    x = x.detach().clone().requires_grad_()
    state = tuple(s.detach().clone().requires_grad_() for s in state)
    hx = state if len(state) == 2 else state[0]
    if lengths is None:
        out, final = module(x, hx)
    elif isinstance(module, tnn.RNNBase):
        bf = module.batch_first
        packed = pack_padded_sequence(x, lengths, batch_first=bf, enforce_sorted=False)
        out, final = module(packed, hx)
        out, _ = pad_packed_sequence(out, batch_first=bf, total_length=x.shape[1 if bf else 0])
    else:
        out, final = module(x, hx, lengths=lengths)
    final = final if isinstance(final, tuple) else (final,)
    gen = torch.Generator().manual_seed(seed)
    loss = sum((t * torch.randn(t.shape, dtype=f64, generator=gen)).sum() for t in (out, *final))
    grads = torch.autograd.grad(loss, [x, *state, *module.parameters()])
    return out.detach(), [s.detach() for s in final], grads


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "scratch"])
@pytest.mark.parametrize("batch_first", [True, False], ids=["bf", "tf"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kind", list(KINDS))
def test_matches_torch_module(kind, num_layers, bidirectional, batch_first, fused):
    ours, ref = _pair(kind, fused, num_layers=num_layers, bidirectional=bidirectional,
                      batch_first=batch_first)
    L = num_layers * (2 if bidirectional else 1)
    x = _randn(*((B, T, C) if batch_first else (T, B, C)), seed=1)
    state = (_randn(L, B, H, seed=2),) + ((_randn(L, B, H, seed=3),) if kind == "lstm" else ())
    out, final, grads = _run(ours, x, state)
    ref_out, ref_final, ref_grads = _run(ref, x, state)
    D = 2 if bidirectional else 1
    assert out.shape == ((B, T, D * H) if batch_first else (T, B, D * H))
    tol = {"atol": 0, "rtol": 0} if fused else {"atol": 1e-13, "rtol": 1e-11}
    torch.testing.assert_close(out, ref_out, **tol)
    for a, b in zip(final, ref_final, strict=True):
        assert a.shape == (L, B, H)
        torch.testing.assert_close(a, b, **tol)
    names = ["x"] + [f"state{i}" for i in range(len(state))] + [n for n, _ in
                                                               ours.named_parameters()]
    assert len(grads) == len(ref_grads) == len(names)
    for name, a, b in zip(names, grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, **tol, msg=lambda m, name=name: f"grad {name}: {m}")


@pytest.mark.parametrize("kind", list(KINDS))
def test_without_bias_matches_torch(kind):
    for fused in (True, False):
        ours, ref = _pair(kind, fused, bias=False, num_layers=2)
        assert not any("bias" in n for n in ours.state_dict())
        x = _randn(B, T, C, seed=4)
        zeros = torch.zeros(2, B, H, dtype=f64)
        state = (zeros, zeros) if kind == "lstm" else (zeros,)
        out, final, grads = _run(ours, x, state)
        ref_out, ref_final, ref_grads = _run(ref.train(), x, state)
        torch.testing.assert_close(out, ref_out, atol=1e-13, rtol=1e-11)
        torch.testing.assert_close(final, ref_final, atol=1e-13, rtol=1e-11)
        for a, b in zip(grads, ref_grads, strict=True):
            torch.testing.assert_close(a, b, atol=1e-13, rtol=1e-11)


@pytest.mark.parametrize("kind", list(KINDS))
def test_state_dict_names_shapes_and_init_are_torchs(kind):
    ours_cls, ref_cls, extra = KINDS[kind]
    torch.manual_seed(5)
    ref = ref_cls(C, H, num_layers=2, bidirectional=True, **extra)
    torch.manual_seed(5)
    ours = ours_cls(C, H, num_layers=2, bidirectional=True, **extra)
    sd_ref, sd_ours = ref.state_dict(), ours.state_dict()
    assert list(sd_ours) == list(sd_ref)
    assert "weight_hh_l1_reverse" in sd_ours
    for k in sd_ref:
        # same scheme U(-1/√H, 1/√H), same draws in the same order: identical numbers
        assert torch.equal(sd_ours[k], sd_ref[k]), k
    # and back: a trained deepnotes layer loads into torch's
    with torch.no_grad():
        for p in ours.parameters():
            p.add_(1.0)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(B, T, C)
    ref.batch_first = True
    torch.testing.assert_close(ref(x)[0], ours(x)[0], atol=0, rtol=0)


@pytest.mark.parametrize("kind", list(KINDS))
def test_fused_and_scratch_agree_in_float32(kind):
    ours_cls, _, extra = KINDS[kind]
    torch.manual_seed(6)
    m = ours_cls(C, 8, num_layers=2, bidirectional=True, **extra)
    x = torch.randn(B, 7, C, requires_grad=True)
    results = []
    for fused in (True, False):
        m.fused = fused  # the same parameters, two paths
        out, _ = m(x)
        (gx,) = torch.autograd.grad(out.square().sum(), x)
        results.append((out, gx))
    torch.testing.assert_close(results[1][0], results[0][0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(results[1][1], results[0][1], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("fused", [True, False])
def test_unbatched_input(fused):
    ours, ref = _pair("lstm", fused, num_layers=2)
    x, h, c = _randn(T, C, seed=1), _randn(2, H, seed=2), _randn(2, H, seed=3)
    out, (h1, c1) = ours(x, (h, c))
    ref_out, (ref_h, ref_c) = ref(x, (h, c))
    assert out.shape == (T, H) and h1.shape == (2, H)
    torch.testing.assert_close(out, ref_out, atol=1e-13, rtol=1e-11)
    torch.testing.assert_close(h1, ref_h, atol=1e-13, rtol=1e-11)
    torch.testing.assert_close(c1, ref_c, atol=1e-13, rtol=1e-11)


def test_peephole_lstm_parameters_gradients_and_fused_error():
    m = nn.LSTM(C, H, num_layers=2, bidirectional=True, peephole=True, fused=False).double()
    ref = tnn.LSTM(C, H, num_layers=2, bidirectional=True, batch_first=True).double()
    extra = [k for k in m.state_dict() if k not in ref.state_dict()]
    assert list(m.state_dict())[: len(ref.state_dict())] == list(ref.state_dict())
    assert extra == [f"weight_{g}_l{k}{s}" for k in (0, 1) for s in ("", "_reverse")
                     for g in ("ci", "cf", "co")]
    assert all(m.state_dict()[k].shape == (H,) for k in extra)
    x = _randn(B, T, C, seed=1)
    out, (h, c) = m(x)
    assert out.shape == (B, T, 2 * H) and h.shape == c.shape == (4, B, H)
    grads = torch.autograd.grad(out.sum() + c.sum(), list(m.parameters()))
    assert all(bool(g.abs().sum() > 0) for g in grads), "every parameter gets a gradient"
    # zero peepholes: exactly torch's LSTM
    m.load_state_dict(ref.state_dict(), strict=False)
    with torch.no_grad():
        for k in extra:
            getattr(m, k).zero_()
    torch.testing.assert_close(m(x)[0], ref(x)[0], atol=1e-13, rtol=1e-11)
    with pytest.raises(ConfigError, match="peephole=True.*fused=False"):
        nn.LSTM(C, H, peephole=True)
    m.fused = True
    with pytest.raises(ConfigError, match="no fused kernel"):
        m(x)


def test_gru_reset_after_false_is_scratch_only():
    with pytest.raises(ConfigError, match="reset_after=False.*fused=False"):
        nn.GRU(C, H, reset_after=False)
    torch.manual_seed(0)
    m = nn.GRU(C, H, reset_after=False, fused=False)
    x = torch.randn(B, T, C)
    out, _ = m(x)
    ref = F.gru_sequence(x, None, m._layer_weights(), reset_after=False)[0]
    torch.testing.assert_close(out, ref, atol=0, rtol=0)
    m.reset_after = True
    assert (m(x)[0] - out).abs().max() > 1e-4


@pytest.mark.parametrize("kind", list(KINDS))
def test_dropout_between_layers(kind):
    for fused in (True, False):
        ours, ref = _pair(kind, fused, num_layers=2, dropout=0.5, batch_first=True)
        x = _randn(B, T, C, seed=1)
        # eval: dropout off, both equal torch's eval output
        ours.eval(), ref.eval()
        eval_out = ours(x)[0]
        torch.testing.assert_close(eval_out, ref(x)[0], atol=1e-13, rtol=1e-11)
        # training: the second layer sees a dropped-out first layer
        ours.train()
        assert (ours(x)[0] - eval_out).abs().max() > 1e-6
        # p = 1 drops the whole first-layer output: deterministic, so all three agree
        ours.dropout = ref.dropout = 1.0
        ref.train()
        torch.testing.assert_close(ours(x)[0], ref(x)[0], atol=1e-13, rtol=1e-11)
    # no dropout after the last layer: one layer trains like it evaluates
    ours_cls, _, extra = KINDS[kind]
    one = ours_cls(C, H, **extra, dropout=0.5, fused=False).double()
    torch.testing.assert_close(one.train()(x)[0], one.eval()(x)[0], atol=0, rtol=0)


# ------------------------------------------------------------- end-padded batches (lengths)

LENGTHS = torch.tensor([5, 1, 3])  # B = 3 rows of T = 5 steps: full, one step, three steps


def _padded(batch_first=True, seed=1):
    return _randn(*((3, T, C) if batch_first else (T, 3, C)), seed=seed)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "scratch"])
@pytest.mark.parametrize("batch_first", [True, False], ids=["bf", "tf"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kind", list(KINDS))
def test_lengths_match_torch_on_packed_sequences(kind, num_layers, bidirectional, batch_first,
                                                 fused):
    """Outputs (zeros at padding), final states (after each row's last valid step) and every
    gradient equal torch's module on the PackedSequence."""
    ours, ref = _pair(kind, fused, num_layers=num_layers, bidirectional=bidirectional,
                      batch_first=batch_first)
    L = num_layers * (2 if bidirectional else 1)
    x = _padded(batch_first)
    state = (_randn(L, 3, H, seed=2),) + ((_randn(L, 3, H, seed=3),) if kind == "lstm" else ())
    out, final, grads = _run(ours, x, state, lengths=LENGTHS)
    ref_out, ref_final, ref_grads = _run(ref, x, state, lengths=LENGTHS)
    tol = {"atol": 1e-13, "rtol": 1e-11}
    torch.testing.assert_close(out, ref_out, **tol)
    pad = torch.arange(T)[None] >= LENGTHS[:, None]  # (B, T)
    assert (out if batch_first else out.transpose(0, 1))[pad].eq(0).all()
    for a, b in zip(final, ref_final, strict=True):
        torch.testing.assert_close(a, b, **tol)
    names = ["x"] + [f"state{i}" for i in range(len(state))] + [n for n, _ in
                                                               ours.named_parameters()]
    for name, a, b in zip(names, grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, **tol, msg=lambda m, name=name: f"grad {name}: {m}")


def test_lengths_fused_and_formula_paths_agree():
    """One set of LSTM parameters, both paths, float64: outputs, states and gradients."""
    fused, _ = _pair("lstm", True, num_layers=2, bidirectional=True)
    formula = nn.LSTM(C, H, num_layers=2, bidirectional=True, fused=False).double()
    formula.load_state_dict(fused.state_dict())
    x = _padded()
    state = (_randn(4, 3, H, seed=2), _randn(4, 3, H, seed=3))
    a, b = (_run(m, x, state, lengths=LENGTHS) for m in (fused, formula))
    torch.testing.assert_close(a[0], b[0], atol=1e-13, rtol=1e-11)
    for u, v in zip(a[1] + list(a[2]), b[1] + list(b[2]), strict=True):
        torch.testing.assert_close(u, v, atol=1e-13, rtol=1e-11)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "scratch"])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_lengths_equal_each_row_run_alone_unpadded(kind, fused):
    ours, _ = _pair(kind, fused, num_layers=2, bidirectional=True)
    x = _padded()
    lengths = torch.tensor([5, 1, 3])
    out, final = ours(x, lengths=lengths)
    final = final if isinstance(final, tuple) else (final,)
    for b, n in enumerate(lengths.tolist()):
        alone, alone_final = ours(x[b:b + 1, :n])
        alone_final = alone_final if isinstance(alone_final, tuple) else (alone_final,)
        torch.testing.assert_close(out[b, :n], alone[0], atol=1e-13, rtol=1e-11)
        assert out[b, n:].eq(0).all()
        for s, sa in zip(final, alone_final, strict=True):
            torch.testing.assert_close(s[:, b], sa[:, 0], atol=1e-13, rtol=1e-11)
    # whatever the padding holds (and however long it is), the same numbers
    junk = torch.cat([x, _randn(3, 4, C, seed=8)], dim=1)  # (B, T + 4, C)
    for b, n in enumerate(lengths.tolist()):
        junk[b, n:T] = 1e3
    out2, final2 = ours(junk, lengths=lengths)
    final2 = final2 if isinstance(final2, tuple) else (final2,)
    torch.testing.assert_close(out2[:, :T], out, atol=1e-13, rtol=1e-11)
    assert out2[:, T:].eq(0).all()
    for s, s2 in zip(final, final2, strict=True):
        torch.testing.assert_close(s2, s, atol=1e-13, rtol=1e-11)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "scratch"])
def test_lengths_zero_rows_keep_their_initial_state(fused):
    ours, _ = _pair("lstm", fused, bidirectional=True)
    x = _padded()
    h0, c0 = _randn(2, 3, H, seed=2), _randn(2, 3, H, seed=3)
    out, (h, c) = ours(x, (h0, c0), lengths=torch.tensor([0, 2, 0]))
    assert out[0].eq(0).all() and out[2].eq(0).all() and out[1, 2:].eq(0).all()
    assert torch.equal(h[:, 0], h0[:, 0]) and torch.equal(c[:, 2], c0[:, 2])
    assert not torch.equal(h[:, 1], h0[:, 1])
    out, (h, c) = ours(x, (h0, c0), lengths=torch.zeros(3, dtype=torch.long))
    assert out.shape == (3, T, 2 * H) and out.eq(0).all()
    assert torch.equal(h, h0) and torch.equal(c, c0)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "scratch"])
def test_lengths_with_dropout_between_layers(fused):
    """p = 1 drops the whole first-layer output: deterministic, so ours equals torch's packed
    run; below 1 the training output differs from eval, and the padding still outputs zeros."""
    ours, ref = _pair("lstm", fused, num_layers=2, bidirectional=True, dropout=1.0)
    ours.train(), ref.train()
    x = _padded()
    zeros = torch.zeros(4, 3, H, dtype=f64)
    a = _run(ours, x, (zeros, zeros), lengths=LENGTHS)
    b = _run(ref, x, (zeros, zeros), lengths=LENGTHS)
    torch.testing.assert_close(a[0], b[0], atol=1e-13, rtol=1e-11)
    ours.dropout = 0.5
    train_out, _ = ours(x, lengths=LENGTHS)
    eval_out, _ = ours.eval()(x, lengths=LENGTHS)
    assert (train_out - eval_out).abs().max() > 1e-6
    assert train_out[torch.arange(T)[None] >= LENGTHS[:, None]].eq(0).all()


def test_lengths_peephole_lstm_rows_alone():
    m = nn.LSTM(C, H, num_layers=2, bidirectional=True, peephole=True, fused=False).double()
    x = _padded()
    out, (h, c) = m(x, lengths=LENGTHS)
    for b, n in enumerate(LENGTHS.tolist()):
        alone, (ha, ca) = m(x[b:b + 1, :n])
        torch.testing.assert_close(out[b, :n], alone[0], atol=1e-13, rtol=1e-11)
        torch.testing.assert_close(c[:, b], ca[:, 0], atol=1e-13, rtol=1e-11)


def test_lengths_errors():
    m = nn.LSTM(C, H)
    with pytest.raises(ShapeError, match="batched input"):
        m(torch.zeros(T, C), lengths=torch.tensor([T]))
    with pytest.raises(ShapeError, match=r"\(B,\) = \(2,\)"):
        m(torch.zeros(2, T, C), lengths=torch.tensor([T]))
    with pytest.raises(ShapeError, match=r"\[0, T=5\]"):
        m(torch.zeros(2, T, C), lengths=torch.tensor([T + 1, 1]))
    with pytest.raises(ShapeError, match="integer"):
        m(torch.zeros(2, T, C), lengths=torch.tensor([2.0, 1.0]))


def test_bptt_gradient_explodes_with_length_and_clipping_bounds_it():
    # a ReLU RNN with W_hh = 1.3·I: h_t grows like 1.3^t, so do the BPTT gradients
    m = nn.RNN(2, H, nonlinearity="relu", fused=False).double()
    with torch.no_grad():
        m.weight_ih_l0.fill_(0.5)
        m.weight_hh_l0.copy_(1.3 * torch.eye(H, dtype=f64))
        m.bias_ih_l0.fill_(0.1)
        m.bias_hh_l0.zero_()

    def grads(steps):
        m.zero_grad()
        out, _ = m(torch.ones(1, steps, 2, dtype=f64))
        out[:, -1].sum().backward()
        return [p.grad.clone() for p in m.parameters()]

    short, long = grads(5), grads(40)
    norm = F.grad_norm(m.parameters())
    assert norm > 1e4 * torch.linalg.vector_norm(torch.cat([g.flatten() for g in short]))
    # clip: returns the norm before, leaves a gradient of norm ≤ max_norm, same direction
    before = F.clip_grad_norm_(m.parameters(), max_norm=1.0)
    torch.testing.assert_close(before, norm)
    assert F.grad_norm(m.parameters()) <= 1.0 + 1e-9
    flat_long = torch.cat([g.flatten() for g in long])
    flat_clipped = torch.cat([p.grad.flatten() for p in m.parameters()])
    cos = flat_long @ flat_clipped / (flat_long.norm() * flat_clipped.norm())
    torch.testing.assert_close(cos, torch.tensor(1.0, dtype=f64))
    # and the fused kernel back-propagates the same long chain
    m.fused = True
    fused_long = grads(40)
    for a, b in zip(fused_long, long, strict=True):
        torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-10)


def test_jordan_rnn_equals_elman_when_the_output_is_the_hidden_state():
    torch.manual_seed(0)
    j = nn.JordanRNN(C, H, H).double()
    ref = tnn.RNN(C, H, batch_first=True).double()
    with torch.no_grad():
        # y_t = I·h_t + 0 with ψ = identity: feeding back y_{t-1} is feeding back h_{t-1}
        j.weight_ho.copy_(torch.eye(H, dtype=f64))
        j.bias_o.zero_()
        ref.weight_ih_l0.copy_(j.weight_ih)
        ref.weight_hh_l0.copy_(j.weight_yh)
        ref.bias_ih_l0.copy_(j.bias_h)
        ref.bias_hh_l0.zero_()
    x, y0 = _randn(B, T, C, seed=1), _randn(1, B, H, seed=2)
    out, last = j(x, y0)
    ref_out, ref_h = ref(x, y0)
    torch.testing.assert_close(out, ref_out, atol=1e-13, rtol=1e-11)
    torch.testing.assert_close(last, ref_h, atol=1e-13, rtol=1e-11)


def test_jordan_rnn_without_feedback_is_a_per_step_mlp_and_learns_gradients():
    torch.manual_seed(1)
    j = nn.JordanRNN(C, 6, 2, output_nonlinearity="tanh", batch_first=False).double()
    x = _randn(T, B, C, seed=3)
    out, last = j(x)
    assert out.shape == (T, B, 2) and last.shape == (1, B, 2)
    grads = torch.autograd.grad(out.sum(), list(j.parameters()))
    assert all(bool(g.abs().sum() > 0) for g in grads)
    with torch.no_grad():
        j.weight_yh.zero_()
    mlp = torch.tanh(torch.tanh(x @ j.weight_ih.T + j.bias_h) @ j.weight_ho.T + j.bias_o)
    torch.testing.assert_close(j(x)[0], mlp, atol=1e-14, rtol=1e-12)


def test_argument_errors():
    with pytest.raises(ConfigError, match="nonlinearity"):
        nn.RNN(C, H, nonlinearity="sigmoid")
    with pytest.raises(ConfigError, match="dropout"):
        nn.LSTM(C, H, dropout=1.5)
    with pytest.raises(ConfigError, match="hidden_size"):
        nn.GRU(C, 0)
    with pytest.raises(ConfigError, match="output_nonlinearity"):
        nn.JordanRNN(C, H, 2, output_nonlinearity="gelu")
    m = nn.LSTM(C, H, num_layers=2)
    with pytest.raises(ShapeError, match=r"C = 3"):
        m(torch.zeros(B, T, C + 1))
    with pytest.raises(ShapeError, match=r"\(2, 2, 4\)"):
        m(torch.zeros(B, T, C), (torch.zeros(1, B, H), torch.zeros(1, B, H)))
    with pytest.raises(ShapeError, match="y0"):
        nn.JordanRNN(C, H, 2)(torch.zeros(B, T, C), torch.zeros(B, 2))


def test_repr_and_docstring_examples():
    assert repr(nn.LSTM(3, 4, 2, bidirectional=True, peephole=True, fused=False)) == (
        "LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True, fused=False, "
        "peephole=True)")
    result = doctest.testmod(recurrent_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 4
    assert result.failed == 0
