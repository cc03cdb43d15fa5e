r"""Recurrent cells and the loop that runs them over a sequence: Elman RNN, GRU, LSTM, Jordan.

A cell maps one time step's input and the previous state to the new state. The sequence
functions :func:`rnn_sequence`, :func:`gru_sequence` and :func:`lstm_sequence` stack cells
into layers (deep RNN), optionally run a second copy over the reversed sequence
(bidirectional), and back-propagate through time by ordinary autograd over the unrolled loop
(BPTT). They take the same weights,
in the same layout and gate order, as ``torch.nn.RNN`` / ``GRU`` / ``LSTM``.

One speed-up keeps the maths unchanged: the input part of every gate, :math:`W_{i\cdot} x_t +
b_{i\cdot}`, does not depend on the state, so a layer computes it for all time steps with
one matmul before the loop; only the :math:`W_{h\cdot} h_{t-1}` part runs step by step.

End-padded batches: with ``lengths`` (valid steps per row, :math:`\ell_b`), a step
:math:`t \ge \ell_b` leaves row b's state unchanged and outputs zeros,

.. math::
    h_t = m_t\, f(x_t, h_{t-1}) + (1 - m_t)\, h_{t-1}, \qquad
    o_t = m_t\, h_t, \qquad m_t = [t < \ell_b],

so the forward direction ends on the state after the last valid step, and the backward
direction, which runs from :math:`T-1` down to 0, keeps its initial state through the padding
and starts reading at :math:`\ell_b - 1`, each row's own last valid step. These are the
numbers of ``torch.nn.LSTM`` on a ``PackedSequence``.

Notes: R4, R5, R6, R7.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as TF
from torch import Tensor

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.functional.activations import activation_function
from deepnotes.functional.dropout import dropout as _dropout

__all__ = [
    "gru_cell",
    "gru_sequence",
    "jordan_cell",
    "lstm_cell",
    "lstm_sequence",
    "rnn_cell",
    "rnn_sequence",
]

State = Tensor | tuple[Tensor, Tensor]
# (w_ih, w_hh, b_ih, b_hh) or, for a peephole LSTM, (w_ih, w_hh, b_ih, b_hh, w_ci, w_cf, w_co)
LayerWeights = Sequence[Tensor | None]

# the names each argument accepts, looked up in functional.activations' one table
NONLINEARITIES = ("tanh", "relu")  # an RNN's φ (torch's two)
OUTPUT_NONLINEARITIES = ("identity", "tanh", "sigmoid", "softmax")  # a Jordan network's ψ


# --- one time step, given the input part gx = W_ih x + b_ih of the gates -------------------

def _rnn_step(gx: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None,
              act: Callable[[Tensor], Tensor]) -> Tensor:
    # h_t = φ(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
    return act(gx + TF.linear(h, w_hh, b_hh))  # (B, H)


def _gru_step(gx: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None,
              reset_after: bool) -> Tensor:
    gx_r, gx_z, gx_n = gx.chunk(3, dim=-1)  # 3 x (B, H)
    if reset_after:
        # W_hr h + b_hr, W_hz h + b_hz, W_hn h + b_hn in one matmul
        gh_r, gh_z, gh_n = TF.linear(h, w_hh, b_hh).chunk(3, dim=-1)  # 3 x (B, H)
    else:
        # only the r and z rows can see h before r is known
        H = h.shape[-1]
        gh_r, gh_z = TF.linear(h, w_hh[: 2 * H],
                               None if b_hh is None else b_hh[: 2 * H]).chunk(2, dim=-1)
    # r = σ(W_ir x + b_ir + W_hr h + b_hr),  z = σ(W_iz x + b_iz + W_hz h + b_hz)
    r = torch.sigmoid(gx_r + gh_r)
    z = torch.sigmoid(gx_z + gh_z)
    if reset_after:
        # n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))          (torch, cuDNN)
        n = torch.tanh(gx_n + r * gh_n)
    else:
        # n = tanh(W_in x + b_in + W_hn (r ⊙ h) + b_hn)          (the notes, d2l, Cho et al.)
        n = torch.tanh(gx_n + TF.linear(r * h, w_hh[2 * H:],
                                        None if b_hh is None else b_hh[2 * H:]))
    # h_t = z ⊙ h_{t-1} + (1 - z) ⊙ n
    return z * h + (1.0 - z) * n  # (B, H)


def _lstm_step(gx: Tensor, state: tuple[Tensor, Tensor], w_hh: Tensor, b_hh: Tensor | None,
               peep: tuple[Tensor, Tensor, Tensor] | None) -> tuple[Tensor, Tensor]:
    h, c = state
    # all four gates' pre-activations at once, in torch's order i, f, g, o
    gates = gx + TF.linear(h, w_hh, b_hh)  # (B, 4H)
    a_i, a_f, a_g, a_o = gates.chunk(4, dim=-1)  # 4 x (B, H)
    if peep is not None:
        w_ci, w_cf, _ = peep
        # peepholes: the input and forget gates also look at c_{t-1}
        a_i = a_i + w_ci * c
        a_f = a_f + w_cf * c
    # i = σ(a_i), f = σ(a_f), g = tanh(a_g)  (candidate cell)
    i, f, g = torch.sigmoid(a_i), torch.sigmoid(a_f), torch.tanh(a_g)
    # c_t = f ⊙ c_{t-1} + i ⊙ g
    c = f * c + i * g
    if peep is not None:
        # the output gate looks at the new cell c_t
        a_o = a_o + peep[2] * c
    # h_t = o ⊙ tanh(c_t),  o = σ(a_o)
    h = torch.sigmoid(a_o) * torch.tanh(c)
    return h, c


# --- cells: one time step from the raw input ----------------------------------------------

def rnn_cell(x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
             b_hh: Tensor | None = None, nonlinearity: str = "tanh") -> Tensor:
    r"""One step of the Elman RNN: the new hidden state from the input and the old one.

    .. math::
        h_t = \phi(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}),\quad \phi\in\{\tanh,
        \mathrm{ReLU}\}

    Args:
        x: input :math:`x_t`. h: previous state :math:`h_{t-1}`.
        w_ih: ``(H, C)``. w_hh: ``(H, H)``. b_ih, b_hh: ``(H,)`` or ``None``.
        nonlinearity: ``"tanh"`` (default) or ``"relu"``.

    Shape:
        - x: ``(B, C)``, h: ``(B, H)``. Output: ``(B, H)``.

    Example:
        >>> rnn_cell(torch.ones(2, 3), torch.zeros(2, 4), torch.zeros(4, 3), torch.zeros(4, 4))
        tensor([[0., 0., 0., 0.],
                [0., 0., 0., 0.]])

    Notes: R4.
    """
    act = activation_function(nonlinearity, NONLINEARITIES, "nonlinearity")
    return _rnn_step(TF.linear(x, w_ih, b_ih), h, w_hh, b_hh, act)


def gru_cell(x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
             b_hh: Tensor | None = None, reset_after: bool = True) -> Tensor:
    r"""One step of the gated recurrent unit (reset gate :math:`r`, update gate :math:`z`).

    .. math::
        r &= \sigma(W_{ir} x + b_{ir} + W_{hr} h + b_{hr}) \\
        z &= \sigma(W_{iz} x + b_{iz} + W_{hz} h + b_{hz}) \\
        n &= \tanh(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn})) \\
        h_t &= z \odot h_{t-1} + (1 - z) \odot n

    With ``reset_after=False`` the reset gate is applied *before* the matmul, as in the notes,
    d2l and Cho et al. (2014): :math:`n = \tanh(W_{in} x + b_{in} + W_{hn}(r \odot h) +
    b_{hn})`. The default (``True``) is torch's and cuDNN's variant, the one the fused path
    computes; the two differ whenever :math:`r` is not all ones.

    Args:
        x, h: input and previous state.
        w_ih: ``(3H, C)``, w_hh: ``(3H, H)``, rows in the gate order r, z, n (torch's).
        b_ih, b_hh: ``(3H,)`` or ``None``.
        reset_after: where the reset gate acts (see above). Default ``True``.

    Shape:
        - x: ``(B, C)``, h: ``(B, H)``. Output: ``(B, H)``.

    Example:
        >>> h = torch.ones(1, 2)
        >>> gru_cell(torch.ones(1, 3), h, torch.zeros(6, 3), torch.zeros(6, 2))  # z = 0.5, n = 0
        tensor([[0.5000, 0.5000]])

    Notes: R6.
    """
    return _gru_step(TF.linear(x, w_ih, b_ih), h, w_hh, b_hh, reset_after)


def lstm_cell(x: Tensor, state: tuple[Tensor, Tensor], w_ih: Tensor, w_hh: Tensor,
              b_ih: Tensor | None = None, b_hh: Tensor | None = None,
              w_ci: Tensor | None = None, w_cf: Tensor | None = None,
              w_co: Tensor | None = None) -> tuple[Tensor, Tensor]:
    r"""One step of the long short-term memory cell, optionally with peephole connections.

    .. math::
        i &= \sigma(W_{ii} x + b_{ii} + W_{hi} h_{t-1} + b_{hi} + w_{ci} \odot c_{t-1}) \\
        f &= \sigma(W_{if} x + b_{if} + W_{hf} h_{t-1} + b_{hf} + w_{cf} \odot c_{t-1}) \\
        g &= \tanh(W_{ig} x + b_{ig} + W_{hg} h_{t-1} + b_{hg}) \\
        c_t &= f \odot c_{t-1} + i \odot g \\
        o &= \sigma(W_{io} x + b_{io} + W_{ho} h_{t-1} + b_{ho} + w_{co} \odot c_t) \\
        h_t &= o \odot \tanh(c_t)

    :math:`i, f, o` are the input, forget and output gates, :math:`g` the candidate cell. The
    peephole terms (Gers & Schmidhuber, 2000) let the gates see the memory cell itself; their
    weights are diagonal (one per unit) and are left out when ``w_ci``, ``w_cf``, ``w_co`` are
    ``None`` (torch's LSTM has none).

    Args:
        x: input :math:`x_t`. state: ``(h_{t-1}, c_{t-1})``.
        w_ih: ``(4H, C)``, w_hh: ``(4H, H)``, rows in torch's gate order i, f, g, o.
        b_ih, b_hh: ``(4H,)`` or ``None``.
        w_ci, w_cf, w_co: peephole weights ``(H,)``, all three or none.

    Shape:
        - x: ``(B, C)``, h and c: ``(B, H)``. Output: ``(h_t, c_t)``, each ``(B, H)``.

    Example:
        >>> h, c = lstm_cell(torch.ones(1, 3), (torch.zeros(1, 2), torch.ones(1, 2)),
        ...                  torch.zeros(8, 3), torch.zeros(8, 2))  # every gate 0.5, g = 0
        >>> c
        tensor([[0.5000, 0.5000]])

    Notes: R5.
    """
    peep = _peephole(w_ci, w_cf, w_co)
    return _lstm_step(TF.linear(x, w_ih, b_ih), state, w_hh, b_hh, peep)


def _peephole(w_ci, w_cf, w_co) -> tuple[Tensor, Tensor, Tensor] | None:
    given = [w is not None for w in (w_ci, w_cf, w_co)]
    if any(given) and not all(given):
        raise ConfigError(f"peephole weights w_ci, w_cf, w_co must be given all together or not "
                          f"at all, got {given.count(True)} of 3")
    return (w_ci, w_cf, w_co) if all(given) else None


def jordan_cell(x: Tensor, y: Tensor, w_ih: Tensor, w_yh: Tensor, w_ho: Tensor,
                b_h: Tensor | None = None, b_o: Tensor | None = None,
                nonlinearity: str = "tanh",
                output_nonlinearity: str = "identity") -> tuple[Tensor, Tensor]:
    r"""One step of a Jordan network: the last step's *output*, not the hidden state, is fed back.

    .. math::
        h_t = \phi(W_{ih} x_t + W_{yh} y_{t-1} + b_h), \qquad y_t = \psi(W_{ho} h_t + b_o)

    An Elman RNN remembers :math:`h_{t-1}`; a Jordan network remembers :math:`y_{t-1}`, which
    has a target, so what the memory holds is clearer (the notes' remark).

    Args:
        x: input :math:`x_t`. y: previous output :math:`y_{t-1}`.
        w_ih: ``(H, C)``, w_yh: ``(H, O)``, w_ho: ``(O, H)``; b_h ``(H,)``, b_o ``(O,)`` or None.
        nonlinearity: :math:`\phi`, ``"tanh"`` (default) or ``"relu"``.
        output_nonlinearity: :math:`\psi`: ``"identity"`` (default), ``"tanh"``, ``"sigmoid"``
            or ``"softmax"`` (feeds back class probabilities).

    Shape:
        - x: ``(B, C)``, y: ``(B, O)``. Output: ``(h_t, y_t)``: ``(B, H)``, ``(B, O)``.

    Example:
        >>> h, y = jordan_cell(torch.ones(1, 3), torch.zeros(1, 2), torch.zeros(4, 3),
        ...                    torch.zeros(4, 2), torch.ones(2, 4))
        >>> y
        tensor([[0., 0.]])

    Notes: R4.
    """
    act = activation_function(nonlinearity, NONLINEARITIES, "nonlinearity")
    out_act = activation_function(output_nonlinearity, OUTPUT_NONLINEARITIES,
                                  "output_nonlinearity")
    # h_t = φ(W_ih x_t + W_yh y_{t-1} + b_h)
    h = act(TF.linear(x, w_ih, b_h) + TF.linear(y, w_yh))  # (B, H)
    # y_t = ψ(W_ho h_t + b_o)
    return h, out_act(TF.linear(h, w_ho, b_o))  # (B, O)


# --- whole sequences: layers x directions x time ------------------------------------------

def _keep_old(valid: Tensor, new: State, old: State) -> State:
    """The new state where the step is valid, the old one on padding."""
    if isinstance(new, tuple):
        return tuple(torch.where(valid, a, b) for a, b in zip(new, old))
    return torch.where(valid, new, old)


def _scan(step: Callable[[Tensor, State], tuple[Tensor, State]], gx: Tensor, state: State,
          reverse: bool, valid: Tensor | None = None) -> tuple[Tensor, State]:
    """Run ``step`` over time (backwards when ``reverse``); gx is (T, B, G), valid (T, B, 1)."""
    # unbind, not gx[t]: one backward node for all steps instead of T full-size zero-fills
    gx_t = gx.unbind(0)  # T x (B, G)
    valid_t = None if valid is None else valid.unbind(0)  # T x (B, 1)
    outs: list[Tensor] = [gx.new_empty(0)] * len(gx_t)
    for t in (reversed(range(len(gx_t))) if reverse else range(len(gx_t))):
        out, new = step(gx_t[t], state)
        if valid_t is not None:
            # a padded step outputs 0 and leaves the state as it was: o = m h, h = m h' + (1-m) h
            out = torch.where(valid_t[t], out, 0.0)
            new = _keep_old(valid_t[t], new, state)
        outs[t], state = out, new
    return torch.stack(outs), state  # (T, B, H)


def _check_lengths(lengths: Tensor, B: int, T: int, device: torch.device) -> Tensor:
    """``lengths`` as a long (B,) tensor on ``device``, each in [0, T]; ShapeError otherwise."""
    if tuple(lengths.shape) != (B,) or lengths.is_floating_point() or lengths.is_complex():
        raise ShapeError(f"lengths must be integer valid-step counts of shape (B,) = ({B},), "
                         f"got {lengths.dtype} of shape {tuple(lengths.shape)}")
    if B and (int(lengths.min()) < 0 or int(lengths.max()) > T):
        raise ShapeError(f"every length must be in [0, T={T}], got min {int(lengths.min())} "
                         f"and max {int(lengths.max())}")
    return lengths.to(device=device, dtype=torch.long)


def _stacked(mode: str, x: Tensor, hx: State | None, weights: Sequence[LayerWeights],
             num_layers: int, dropout: float, training: bool, bidirectional: bool,
             batch_first: bool, extra: object,
             lengths: Tensor | None = None) -> tuple[Tensor, State]:
    D = 2 if bidirectional else 1
    if x.dim() != 3:
        raise ShapeError(f"{mode} expects a 3-D input (B, T, C) or (T, B, C), got "
                         f"{tuple(x.shape)}")
    if len(weights) != num_layers * D:
        raise ConfigError(f"{mode} needs num_layers * directions = {num_layers * D} weight "
                          f"tuples, got {len(weights)}")
    sizes = (4, 7) if mode == "lstm" else (4,)
    for w in weights:
        if len(w) not in sizes:
            raise ConfigError(f"a {mode} weight tuple has {' or '.join(map(str, sizes))} "
                              f"entries (w_ih, w_hh, b_ih, b_hh[, w_ci, w_cf, w_co]), got "
                              f"{len(w)}")
    if batch_first:
        x = x.transpose(0, 1)  # (T, B, C)
    if x.shape[0] == 0:
        raise ShapeError(f"{mode} needs at least one time step, got an input of shape "
                         f"{tuple(x.transpose(0, 1).shape if batch_first else x.shape)}")
    H = weights[0][1].shape[1]
    expected = (num_layers * D, x.shape[1], H)
    if hx is None:
        zeros = x.new_zeros(expected)  # (L*D, B, H)
        hx = (zeros, zeros) if mode == "lstm" else zeros
    for s in (hx if mode == "lstm" else (hx,)):
        if tuple(s.shape) != expected:
            raise ShapeError(f"{mode} expects an initial state of shape (L*D, B, H) = "
                             f"{expected}, got {tuple(s.shape)}")
    valid = None
    T = x.shape[0]
    if lengths is not None:
        n = _check_lengths(lengths, x.shape[1], T, x.device)
        steps = int(n.max()) if len(n) else 0
        if steps == 0:  # no row has a valid step: zero outputs, the state unchanged
            out = x.new_zeros(T, x.shape[1], D * H)  # (T, B, D·H)
            return (out.transpose(0, 1) if batch_first else out), hx
        # steps past the longest row change nothing: skip them, pad the output with zeros
        x = x[:steps]  # (T', B, C)
        valid = (torch.arange(steps, device=x.device)[:, None] < n[None, :]).unsqueeze(-1)
    h_n: list[Tensor] = []
    c_n: list[Tensor] = []
    layer_in = x
    for layer in range(num_layers):
        if layer > 0:
            # dropout between layers, on every layer's output but the last (as torch)
            layer_in = _dropout(layer_in, dropout, training)
        outs = []
        for d in range(D):
            k = layer * D + d
            w_ih, w_hh, b_ih, b_hh, *peep = weights[k]
            # the input part of the gates for all steps at once: W_ih x_t + b_ih
            gx = TF.linear(layer_in, w_ih, b_ih)  # (T, B, G·H)
            if mode == "lstm":
                peeps = tuple(peep) if peep else None

                def step(g, s, w_hh=w_hh, b_hh=b_hh, peeps=peeps):
                    h, c = _lstm_step(g, s, w_hh, b_hh, peeps)
                    return h, (h, c)
                out, (h, c) = _scan(step, gx, (hx[0][k], hx[1][k]), d == 1, valid)
                c_n.append(c)
            elif mode == "gru":
                def step(g, s, w_hh=w_hh, b_hh=b_hh):
                    h = _gru_step(g, s, w_hh, b_hh, extra)
                    return h, h
                out, h = _scan(step, gx, hx[k], d == 1, valid)
            else:
                def step(g, s, w_hh=w_hh, b_hh=b_hh):
                    h = _rnn_step(g, s, w_hh, b_hh, extra)
                    return h, h
                out, h = _scan(step, gx, hx[k], d == 1, valid)
            outs.append(out)
            h_n.append(h)
        # both directions side by side: [→h_t ; ←h_t]
        layer_in = torch.cat(outs, dim=-1) if D == 2 else outs[0]  # (T, B, D·H)
    if layer_in.shape[0] < T:
        layer_in = TF.pad(layer_in, (0, 0, 0, 0, 0, T - layer_in.shape[0]))  # zeros to T
    out = layer_in.transpose(0, 1) if batch_first else layer_in
    state: State = torch.stack(h_n)  # (L*D, B, H)
    if mode == "lstm":
        state = (state, torch.stack(c_n))
    return out, state


def rnn_sequence(x: Tensor, hx: Tensor | None, weights: Sequence[LayerWeights],
                 num_layers: int = 1, nonlinearity: str = "tanh", dropout: float = 0.0,
                 training: bool = False, bidirectional: bool = False,
                 batch_first: bool = True,
                 lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
    r"""A deep (and optionally bidirectional) Elman RNN over a whole sequence, step by step.

    Layer :math:`l` at step :math:`t`, with :math:`h^{(0)}_t = x_t`:

    .. math::
        h^{(l)}_t = \phi(W^{(l)}_{ih} h^{(l-1)}_t + b^{(l)}_{ih} + W^{(l)}_{hh} h^{(l)}_{t-1}
        + b^{(l)}_{hh})

    A bidirectional layer also runs :math:`\overleftarrow h_t = \phi(\ldots
    \overleftarrow h_{t+1})` from the last step to the first, and outputs
    :math:`[\overrightarrow h_t; \overleftarrow h_t]`. The output is the last layer's
    :math:`h_t` at every step; the state is every layer's (and direction's) last :math:`h`.

    Args:
        x: the sequence. hx: initial state ``(L*D, B, H)``, or ``None`` for zeros.
        weights: ``L*D`` tuples ``(w_ih, w_hh, b_ih, b_hh)`` (biases may be ``None``), layer by
            layer, forward direction first: torch's ``weight_ih_l{k}``, ``..._reverse``.
        num_layers: ``L``. nonlinearity: ``"tanh"`` or ``"relu"``.
        dropout: drop probability on each layer's output except the last, when ``training``.
        bidirectional: ``D = 2`` when ``True``. batch_first: ``x`` is ``(B, T, C)`` (default)
            rather than ``(T, B, C)``.
        lengths: ``(B,)`` valid steps of each end-padded row, each in ``[0, T]``, or ``None``
            (all ``T``): padded steps leave the state unchanged and output zeros, and the
            backward direction starts at each row's last valid step (see the module docstring).

    Shape:
        - Output: ``(B, T, D*H)`` (batch first) and the state ``(L*D, B, H)``.

    Example:
        >>> w = (torch.zeros(4, 3), torch.zeros(4, 4), None, None)
        >>> out, h = rnn_sequence(torch.ones(2, 5, 3), None, [w])
        >>> out.shape, h.shape
        (torch.Size([2, 5, 4]), torch.Size([1, 2, 4]))

    Notes: R4, R7.
    """
    act = activation_function(nonlinearity, NONLINEARITIES, "nonlinearity")
    return _stacked("rnn", x, hx, weights, num_layers, dropout, training, bidirectional,
                    batch_first, act, lengths)


def gru_sequence(x: Tensor, hx: Tensor | None, weights: Sequence[LayerWeights],
                 num_layers: int = 1, dropout: float = 0.0, training: bool = False,
                 bidirectional: bool = False, batch_first: bool = True,
                 reset_after: bool = True,
                 lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
    r"""A deep, optionally bidirectional GRU over a sequence: :func:`gru_cell` at every step.

    Layers, directions, dropout, ``lengths``, arguments and shapes as :func:`rnn_sequence`;
    ``w_ih`` is ``(3H, C)`` and ``w_hh`` ``(3H, H)`` (gates r, z, n). ``reset_after`` as in
    :func:`gru_cell`.

    Example:
        >>> w = (torch.zeros(6, 3), torch.zeros(6, 2), None, None)
        >>> gru_sequence(torch.ones(1, 4, 3), None, [w])[0].shape
        torch.Size([1, 4, 2])

    Notes: R6, R7.
    """
    return _stacked("gru", x, hx, weights, num_layers, dropout, training, bidirectional,
                    batch_first, reset_after, lengths)


def lstm_sequence(x: Tensor, hx: tuple[Tensor, Tensor] | None,
                  weights: Sequence[LayerWeights], num_layers: int = 1, dropout: float = 0.0,
                  training: bool = False, bidirectional: bool = False,
                  batch_first: bool = True,
                  lengths: Tensor | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    r"""A deep, optionally bidirectional LSTM over a sequence: :func:`lstm_cell` at every step.

    Layers, directions, dropout, ``lengths``, arguments and shapes as :func:`rnn_sequence`;
    ``w_ih`` is ``(4H, C)`` and ``w_hh`` ``(4H, H)`` (gates i, f, g, o). A weight tuple with
    seven entries ``(w_ih, w_hh, b_ih, b_hh, w_ci, w_cf, w_co)`` adds peephole connections.
    The state is ``(h, c)``, each ``(L*D, B, H)``.

    Example:
        >>> w = (torch.zeros(8, 3), torch.zeros(8, 2), None, None)
        >>> out, (h, c) = lstm_sequence(torch.ones(1, 4, 3), None, [w])
        >>> out.shape, c.shape
        (torch.Size([1, 4, 2]), torch.Size([1, 1, 2]))

    Notes: R5, R7.
    """
    return _stacked("lstm", x, hx, weights, num_layers, dropout, training, bidirectional,
                    batch_first, None, lengths)
