r"""Recurrent layers: RNN (Elman), GRU, LSTM (deep, bidirectional, peephole) and JordanRNN.

``fused=True`` hands our parameters to PyTorch's recurrent kernel (``torch.rnn_tanh``,
``torch.gru``, ``torch.lstm``: the very call ``torch.nn.LSTM.forward`` makes, so oneDNN or
cuDNN does the work); ``fused=False`` runs the readable step-by-step loop of
:mod:`deepnotes.functional.rnn`. Parameter names, shapes, gate order and initialisation are
``torch.nn.RNN`` / ``GRU`` / ``LSTM``'s, so ``load_state_dict`` works both ways with them.

End-padded batches: ``forward(x, state, lengths)`` takes each row's number of valid steps.
Padded steps then leave the state unchanged and output zeros, and a bidirectional layer reads
every row backwards from its own last valid step: the numbers of ``torch.nn.LSTM`` on a
``PackedSequence``. The scratch path masks its loop (:func:`deepnotes.functional.lstm_sequence`
with ``lengths``); the fused path runs torch's kernel one layer and direction at a time on the
padded tensor, the backward direction on each row's valid part reversed
(:func:`deepnotes.functional.reverse_padded`), split into pieces that end where rows end so
that every row's final state is caught after its last valid step (one piece, the plain kernel
call, when every row has the same length; dropout between layers is
:func:`deepnotes.functional.dropout` there). torch's own ``PackedSequence`` kernel computes
the same, but on a CPU it is several times slower than the padded oneDNN kernel.

Notes: R4, R5, R6, R7.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as TF
from torch import Tensor, nn

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.functional import rnn as R
from deepnotes.functional.activations import activation_function
from deepnotes.functional.dropout import dropout as _dropout
from deepnotes.functional.sequence import reverse_padded, sequence_mask

__all__ = ["GRU", "LSTM", "RNN", "JordanRNN"]

State = Tensor | tuple[Tensor, Tensor]


class _RecurrentBase(nn.Module):
    """Parameters in torch's layout, argument checks, and the dispatch to one of the two paths.

    Subclasses provide ``_fused_forward`` (torch's multi-layer kernel), ``_scratch_forward``
    (our loop) and ``_kernel(x, hx, weights)``: torch's kernel for one layer and direction over
    batch-first ``x`` from ``hx`` (a tuple of ``(1, B, H)`` tensors), returning the outputs and
    the final state tuple (the fused path with ``lengths`` runs it piece by piece).
    """

    _gates = 1  # gate blocks stacked in weight_ih / weight_hh (RNN 1, GRU 3, LSTM 4)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = True, dropout: float = 0.0,
                 bidirectional: bool = False, fused: bool = True) -> None:
        super().__init__()
        name = type(self).__name__
        if int(input_size) < 1 or int(hidden_size) < 1 or int(num_layers) < 1:
            raise ConfigError(f"{name} needs input_size, hidden_size and num_layers >= 1, got "
                              f"{input_size}, {hidden_size} and {num_layers}")
        if not 0.0 <= float(dropout) <= 1.0:
            raise ConfigError(f"{name} dropout must be a probability in [0, 1], got {dropout}")
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.num_layers, self.bias = int(num_layers), bool(bias)
        self.batch_first, self.dropout = bool(batch_first), float(dropout)
        self.bidirectional, self.fused = bool(bidirectional), bool(fused)
        D, H, G = self.num_directions, self.hidden_size, self._gates
        # torch's order: per layer, per direction: weight_ih, weight_hh, bias_ih, bias_hh
        self._weight_names: list[list[str]] = []
        for layer in range(self.num_layers):
            c_in = self.input_size if layer == 0 else D * H
            for d in range(D):
                sfx = f"l{layer}" + ("_reverse" if d == 1 else "")
                names = [f"weight_ih_{sfx}", f"weight_hh_{sfx}"]
                setattr(self, names[0], nn.Parameter(torch.empty(G * H, c_in)))  # (G·H, C)
                setattr(self, names[1], nn.Parameter(torch.empty(G * H, H)))  # (G·H, H)
                if self.bias:
                    names += [f"bias_ih_{sfx}", f"bias_hh_{sfx}"]
                    setattr(self, names[2], nn.Parameter(torch.empty(G * H)))  # (G·H,)
                    setattr(self, names[3], nn.Parameter(torch.empty(G * H)))  # (G·H,)
                self._weight_names.append(names)

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def reset_parameters(self) -> None:
        # torch's scheme for every weight and bias: U(-1/√H, 1/√H)
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _layer_weights(self) -> list[tuple[Tensor | None, ...]]:
        """One tuple (w_ih, w_hh, b_ih, b_hh) per layer and direction, for the scratch path."""
        out = []
        for names in self._weight_names:
            w = [getattr(self, n) for n in names]
            out.append(tuple(w) if self.bias else (w[0], w[1], None, None))
        return out

    def _flat_weights(self) -> list[Tensor]:
        """torch's flat weight list (the order its kernels expect)."""
        return [getattr(self, n) for names in self._weight_names for n in names]

    def _check_fused(self) -> None:
        """Subclasses raise ConfigError here for options torch's kernel lacks."""

    def _fused_lengths(self, x: Tensor, state: State, lengths: Tensor) -> tuple[Tensor, State]:
        """The fused path over end-padded rows (see the module docstring)."""
        if not self.batch_first:
            x = x.transpose(0, 1)  # (B, T, C)
        B, T, _ = x.shape
        D = self.num_directions
        hx = state if isinstance(state, tuple) else (state,)
        # the pieces end where some row ends, so its state can be caught there
        ends = sorted(set(lengths.tolist()) - {0})
        if not ends:  # no row has a valid step: zero outputs, the state unchanged
            out = x.new_zeros(B, T, D * self.hidden_size)  # (B, T, D·H)
            return (out if self.batch_first else out.transpose(0, 1)), state
        steps = ends[-1]  # steps past the longest row change nothing: skip them
        valid = sequence_mask(lengths, steps).unsqueeze(-1)  # (B, T', 1)
        finals: list[list[Tensor]] = [[] for _ in hx]
        layer_in = x[:, :steps]  # (B, T', C)
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0:
                # dropout between layers, on every layer's output but the last (as torch)
                layer_in = _dropout(layer_in, self.dropout, self.training)
            outs = []
            for d in range(D):
                k = layer * D + d
                # backward: each row's valid part reversed, run left to right, reversed back
                seq = layer_in if d == 0 else reverse_padded(layer_in, lengths)
                out, last = self._pieces(seq, tuple(s[k:k + 1] for s in hx), k, ends, lengths)
                outs.append(out if d == 0 else reverse_padded(out, lengths))
                for f, s in zip(finals, last):
                    f.append(s)
            layer_in = torch.cat(outs, dim=-1) if D == 2 else outs[0]  # (B, T', D·H)
            # padded steps output zeros: o_t = m_t h_t
            layer_in = layer_in.masked_fill(~valid, 0.0)
        out = TF.pad(layer_in, (0, 0, 0, T - steps))  # (B, T, D·H), zeros past the longest
        final = tuple(torch.cat(f, dim=0) for f in finals)  # each (L*D, B, H)
        return ((out if self.batch_first else out.transpose(0, 1)),
                final if isinstance(state, tuple) else final[0])

    def _pieces(self, x: Tensor, hx: tuple[Tensor, ...], k: int, ends: list[int],
                lengths: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        """Layer-direction ``k`` over ``x`` (B, T', C) in pieces ``[0, e_1), [e_1, e_2), ...``;
        the state passes from piece to piece, and a row whose last valid step is ``e - 1``
        keeps the state at ``e``."""
        weights = [getattr(self, n) for n in self._weight_names[k]]
        outs, last, start = [], hx, 0
        for end in ends:
            out, hx = self._kernel(x[:, start:end], hx, weights)  # (B, end - start, H)
            outs.append(out)
            done = (lengths == end)[None, :, None]  # (1, B, 1)
            last = tuple(torch.where(done, s, old) for s, old in zip(hx, last))
            start = end
        return (outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)), last

    def forward(self, x: Tensor, state: State | None = None,
                lengths: Tensor | None = None) -> tuple[Tensor, State]:
        name = type(self).__name__
        if x.dim() not in (2, 3) or x.shape[-1] != self.input_size:
            raise ShapeError(f"{name}(input_size={self.input_size}) expects input of shape "
                             f"{'(B, T, C)' if self.batch_first else '(T, B, C)'} or (T, C) "
                             f"with C = {self.input_size}, got {tuple(x.shape)}")
        batched = x.dim() == 3
        if not batched:
            # one unbatched sequence (T, C): a batch of one
            x = x.unsqueeze(0 if self.batch_first else 1)
            if state is not None:
                state = tuple(s.unsqueeze(1) for s in state) if isinstance(state, tuple) \
                    else state.unsqueeze(1)
        B = x.shape[0 if self.batch_first else 1]
        if lengths is not None:
            if not batched:
                raise ShapeError(f"{name} takes lengths with a batched input only, got "
                                 f"{tuple(x.shape[1:] if self.batch_first else x.shape[::2])}")
            lengths = R._check_lengths(lengths, B, x.shape[1 if self.batch_first else 0],
                                       x.device)
        expected = (self.num_layers * self.num_directions, B, self.hidden_size)
        if state is None:
            zeros = x.new_zeros(expected)  # (L*D, B, H)
            state = (zeros, zeros) if self._gates == 4 else zeros
        for s in (state if isinstance(state, tuple) else (state,)):
            if tuple(s.shape) != expected:
                raise ShapeError(f"{name} expects a state of shape (L*D, B, H) = {expected}, "
                                 f"got {tuple(s.shape)}")
        if self.fused:
            self._check_fused()
            out, state = (self._fused_forward(x, state) if lengths is None
                          else self._fused_lengths(x, state, lengths))
        else:
            out, state = self._scratch_forward(x, state, lengths)
        if not batched:
            out = out.squeeze(0 if self.batch_first else 1)
            state = tuple(s.squeeze(1) for s in state) if isinstance(state, tuple) \
                else state.squeeze(1)
        return out, state

    def _args(self) -> tuple:
        return (self.num_layers, self.dropout, self.training, self.bidirectional,
                self.batch_first)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        s += f", batch_first={self.batch_first}"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s + f", fused={self.fused}"


class RNN(_RecurrentBase):
    r"""Elman RNN, deep and optionally bidirectional: the hidden state is the memory.

    .. math::
        h^{(l)}_t = \phi\big(W^{(l)}_{ih} h^{(l-1)}_t + b^{(l)}_{ih} + W^{(l)}_{hh}
        h^{(l)}_{t-1} + b^{(l)}_{hh}\big), \qquad h^{(0)}_t = x_t

    with :math:`\phi = \tanh` or ReLU. See :func:`deepnotes.functional.rnn_sequence`.

    Args:
        input_size: ``C``. hidden_size: ``H``. num_layers: ``L`` stacked layers. Default 1.
        nonlinearity: ``"tanh"`` (default) or ``"relu"``.
        bias: learn ``b_ih`` and ``b_hh``. Default ``True``.
        batch_first: input and output are ``(B, T, ·)`` (default ``True``; torch's default is
            ``False``) rather than ``(T, B, ·)``.
        dropout: drop probability on every layer's output but the last, in training.
        bidirectional: add a layer that reads the sequence backwards (``D = 2``).
        fused: torch's kernel (``True``, default) or our step-by-step loop.

    Forward args:
        x, state (default zeros), lengths: ``(B,)`` valid steps of each end-padded row, each in
        ``[0, T]``, or ``None`` (every step valid). With ``lengths`` a padded step leaves the
        state unchanged and outputs zeros, and the backward direction starts at each row's
        last valid step (the numbers of ``torch.nn.RNN`` on a ``PackedSequence``).

    Shape:
        - Input: ``(B, T, C)`` (or ``(T, B, C)``, or ``(T, C)`` unbatched); state ``(L*D, B, H)``.
        - Output: ``(B, T, D*H)``, the last layer at every step; state ``(L*D, B, H)``.

    Example:
        >>> m = RNN(3, 4, num_layers=2, bidirectional=True, fused=False)
        >>> out, h = m(torch.zeros(2, 5, 3))
        >>> out.shape, h.shape
        (torch.Size([2, 5, 8]), torch.Size([4, 2, 4]))

    Notes: R4, R7.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = True,
                 dropout: float = 0.0, bidirectional: bool = False, fused: bool = True) -> None:
        activation_function(nonlinearity, R.NONLINEARITIES, "RNN nonlinearity")  # check the name
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, fused)
        self.nonlinearity = nonlinearity
        self.reset_parameters()

    def _fused_forward(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        kernel = torch.rnn_tanh if self.nonlinearity == "tanh" else torch.rnn_relu
        out, h = kernel(x, h, self._flat_weights(), self.bias, *self._args())
        return out, h

    def _kernel(self, x, hx, weights):
        kernel = torch.rnn_tanh if self.nonlinearity == "tanh" else torch.rnn_relu
        out, h = kernel(x, hx[0], weights, self.bias, 1, 0.0, self.training, False, True)
        return out, (h,)

    def _scratch_forward(self, x: Tensor, h: Tensor,
                         lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        L, p, train, bi, bf = self._args()
        return R.rnn_sequence(x, h, self._layer_weights(), L, self.nonlinearity, p, train, bi, bf,
                              lengths)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + ", nonlinearity='relu'"


class GRU(_RecurrentBase):
    r"""Gated recurrent unit layers: a reset gate and an update gate decide what to keep.

    .. math::
        r_t &= \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) \\
        z_t &= \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) \\
        n_t &= \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})) \\
        h_t &= z_t \odot h_{t-1} + (1 - z_t) \odot n_t

    ``weight_ih_l{k}`` stacks :math:`W_{ir}, W_{iz}, W_{in}` (``(3H, C)``), as torch does.
    ``reset_after=False`` (scratch path only) uses the notes' / d2l's candidate
    :math:`n_t = \tanh(W_{in} x_t + b_{in} + W_{hn}(r_t \odot h_{t-1}) + b_{hn})`; see
    :func:`deepnotes.functional.gru_cell`.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, fused:
            as :class:`RNN`.
        reset_after: torch's variant (``True``, default) or the notes' (``False``, needs
            ``fused=False``).

    Forward args:
        As :class:`RNN`: ``forward(x, state=None, lengths=None)``.

    Shape:
        As :class:`RNN`.

    Example:
        >>> out, h = GRU(3, 4, fused=False)(torch.zeros(2, 5, 3))
        >>> out.shape, h.shape
        (torch.Size([2, 5, 4]), torch.Size([1, 2, 4]))

    Notes: R6, R7.
    """

    _gates = 3

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = True, dropout: float = 0.0,
                 bidirectional: bool = False, fused: bool = True,
                 reset_after: bool = True) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, fused)
        self.reset_after = bool(reset_after)
        self.reset_parameters()
        if fused:
            self._check_fused()

    def _check_fused(self) -> None:
        if not self.reset_after:
            raise ConfigError("GRU(reset_after=False) has no fused kernel (torch's GRU applies "
                              "the reset gate after the matmul); pass fused=False")

    def _fused_forward(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        out, h = torch.gru(x, h, self._flat_weights(), self.bias, *self._args())
        return out, h

    def _kernel(self, x, hx, weights):
        out, h = torch.gru(x, hx[0], weights, self.bias, 1, 0.0, self.training, False, True)
        return out, (h,)

    def _scratch_forward(self, x: Tensor, h: Tensor,
                         lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        L, p, train, bi, bf = self._args()
        return R.gru_sequence(x, h, self._layer_weights(), L, p, train, bi, bf, self.reset_after,
                              lengths)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.reset_after else s + ", reset_after=False"


class LSTM(_RecurrentBase):
    r"""Long short-term memory layers: a memory cell guarded by input, forget and output gates.

    .. math::
        i_t &= \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}
               \;[+\, w_{ci} \odot c_{t-1}]) \\
        f_t &= \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}
               \;[+\, w_{cf} \odot c_{t-1}]) \\
        g_t &= \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
        o_t &= \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}
               \;[+\, w_{co} \odot c_t]) \\
        h_t &= o_t \odot \tanh(c_t)

    The bracketed peephole terms exist only with ``peephole=True``, which adds the per-unit
    weights ``weight_ci_l{k}``, ``weight_cf_l{k}``, ``weight_co_l{k}`` (``(H,)`` each, plus
    ``_reverse``) after torch's parameters; torch has no peephole kernel, so it needs
    ``fused=False``. Gate order in ``weight_ih_l{k}`` (``(4H, C)``) is torch's: i, f, g, o.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, fused:
            as :class:`RNN`.
        peephole: add peephole connections (scratch path only). Default ``False``.

    Forward args:
        As :class:`RNN`: ``forward(x, state=None, lengths=None)``.

    Shape:
        As :class:`RNN`, with the state a pair ``(h, c)``, each ``(L*D, B, H)``.

    Example:
        >>> out, (h, c) = LSTM(3, 4, num_layers=2, fused=False)(torch.zeros(2, 5, 3))
        >>> out.shape, h.shape, c.shape
        (torch.Size([2, 5, 4]), torch.Size([2, 2, 4]), torch.Size([2, 2, 4]))
        >>> lstm = LSTM(3, 4, bidirectional=True)
        >>> out, _ = lstm(torch.ones(2, 5, 3), lengths=torch.tensor([5, 2]))
        >>> out.shape, out[1, 2:].abs().max().item()  # zeros after row 1's two valid steps
        (torch.Size([2, 5, 8]), 0.0)

    Notes: R5, R7.
    """

    _gates = 4

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = True, dropout: float = 0.0,
                 bidirectional: bool = False, fused: bool = True,
                 peephole: bool = False) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, fused)
        self.peephole = bool(peephole)
        if self.peephole:
            # registered after torch's parameters, so those draw the same numbers as torch
            for names in self._weight_names:
                sfx = names[0][len("weight_ih_"):]
                for gate in ("ci", "cf", "co"):
                    setattr(self, f"weight_{gate}_{sfx}",
                            nn.Parameter(torch.empty(self.hidden_size)))  # (H,)
        self.reset_parameters()
        if fused:
            self._check_fused()

    def _check_fused(self) -> None:
        if self.peephole:
            raise ConfigError("LSTM(peephole=True) has no fused kernel (torch's LSTM has no "
                              "peephole connections); pass fused=False")

    def _layer_weights(self) -> list[tuple[Tensor | None, ...]]:
        weights = super()._layer_weights()
        if not self.peephole:
            return weights
        out = []
        for w, names in zip(weights, self._weight_names):
            sfx = names[0][len("weight_ih_"):]
            peep = tuple(getattr(self, f"weight_{g}_{sfx}") for g in ("ci", "cf", "co"))
            out.append(w + peep)
        return out

    def _fused_forward(self, x: Tensor, state: tuple[Tensor, Tensor]):
        out, h, c = torch.lstm(x, state, self._flat_weights(), self.bias, *self._args())
        return out, (h, c)

    def _kernel(self, x, hx, weights):
        out, h, c = torch.lstm(x, hx, weights, self.bias, 1, 0.0, self.training, False, True)
        return out, (h, c)

    def _scratch_forward(self, x: Tensor, state: tuple[Tensor, Tensor],
                         lengths: Tensor | None = None):
        L, p, train, bi, bf = self._args()
        return R.lstm_sequence(x, state, self._layer_weights(), L, p, train, bi, bf, lengths)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + ", peephole=True" if self.peephole else s


class JordanRNN(nn.Module):
    r"""Jordan network: the previous *output* :math:`y_{t-1}`, not :math:`h_{t-1}`, is fed back.

    .. math::
        h_t = \phi(W_{ih} x_t + W_{yh} y_{t-1} + b_h), \qquad y_t = \psi(W_{ho} h_t + b_o)

    starting from :math:`y_0` (zeros by default). See :func:`deepnotes.functional.jordan_cell`.
    Parameters: ``weight_ih`` ``(H, C)``, ``weight_yh`` ``(H, O)``, ``bias_h`` ``(H,)``,
    ``weight_ho`` ``(O, H)``, ``bias_o`` ``(O,)``, all :math:`U(-1/\sqrt H, 1/\sqrt H)`.
    Scratch only (torch has no such kernel).

    Args:
        input_size: ``C``. hidden_size: ``H``. output_size: ``O``.
        nonlinearity: :math:`\phi`, ``"tanh"`` (default) or ``"relu"``.
        output_nonlinearity: :math:`\psi`, ``"identity"`` (default), ``"tanh"``, ``"sigmoid"``
            or ``"softmax"``.
        bias: learn :math:`b_h, b_o`. Default ``True``.
        batch_first: ``(B, T, ·)`` (default) rather than ``(T, B, ·)``.

    Shape:
        - Input: ``(B, T, C)`` (``(T, B, C)`` when not batch first); optional ``y0``:
          ``(1, B, O)``.
        - Output: ``y`` at every step, ``(B, T, O)`` (or ``(T, B, O)``), and the last
          :math:`y_T` as ``(1, B, O)``.

    Example:
        >>> y, y_last = JordanRNN(3, 8, 2)(torch.zeros(4, 5, 3))
        >>> y.shape, y_last.shape
        (torch.Size([4, 5, 2]), torch.Size([1, 4, 2]))

    Notes: R4.
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int,
                 nonlinearity: str = "tanh", output_nonlinearity: str = "identity",
                 bias: bool = True, batch_first: bool = True) -> None:
        super().__init__()
        if min(int(input_size), int(hidden_size), int(output_size)) < 1:
            raise ConfigError(f"JordanRNN needs input_size, hidden_size and output_size >= 1, "
                              f"got {input_size}, {hidden_size} and {output_size}")
        # check the names now (one sentence naming the choices) rather than at the first step
        activation_function(nonlinearity, R.NONLINEARITIES, "nonlinearity")
        activation_function(output_nonlinearity, R.OUTPUT_NONLINEARITIES, "output_nonlinearity")
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.output_size, self.batch_first = int(output_size), bool(batch_first)
        self.nonlinearity, self.output_nonlinearity = nonlinearity, output_nonlinearity
        C, H, Y = self.input_size, self.hidden_size, self.output_size  # Y: output size O
        self.weight_ih = nn.Parameter(torch.empty(H, C))  # (H, C)
        self.weight_yh = nn.Parameter(torch.empty(H, Y))  # (H, O)
        self.weight_ho = nn.Parameter(torch.empty(Y, H))  # (O, H)
        self.register_parameter("bias_h", nn.Parameter(torch.empty(H)) if bias else None)
        self.register_parameter("bias_o", nn.Parameter(torch.empty(Y)) if bias else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: Tensor, y0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ShapeError(f"JordanRNN(input_size={self.input_size}) expects input of shape "
                             f"(B, T, {self.input_size}), got {tuple(x.shape)}")
        if not self.batch_first:
            x = x.transpose(0, 1)  # (B, T, C)
        B, T, _ = x.shape
        if y0 is None:
            y0 = x.new_zeros(1, B, self.output_size)  # (1, B, O)
        if tuple(y0.shape) != (1, B, self.output_size):
            raise ShapeError(f"JordanRNN expects y0 of shape (1, B, O) = "
                             f"{(1, B, self.output_size)}, got {tuple(y0.shape)}")
        y, ys = y0[0], []
        for t in range(T):
            _, y = R.jordan_cell(x[:, t], y, self.weight_ih, self.weight_yh, self.weight_ho,
                                 self.bias_h, self.bias_o, self.nonlinearity,
                                 self.output_nonlinearity)  # (B, O)
            ys.append(y)
        out = torch.stack(ys, dim=1)  # (B, T, O)
        return (out if self.batch_first else out.transpose(0, 1)), y.unsqueeze(0)

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, {self.output_size}, "
                f"nonlinearity={self.nonlinearity!r}, "
                f"output_nonlinearity={self.output_nonlinearity!r}")
