r"""Recurrent language model: tokens -> (one-hot or embedding) -> RNN/GRU/LSTM -> vocabulary scores.

At every step the network reads token :math:`x_t`, updates its hidden state and scores every
vocabulary entry as the next token:

.. math::
    e_t = E[x_t] \;\text{(or one-hot } x_t), \qquad
    h_t = \mathrm{RNN}(e_t, h_{t-1}), \qquad
    o_t = W_{hq} h_t + b_q, \qquad
    P(x_{t+1} \mid x_{\le t}) = \mathrm{softmax}(o_t)

Training minimises the cross-entropy over time (the mean of :math:`-\log P(x_{t+1} \mid
x_{\le t})` over all positions); its exponential is the perplexity (R8).

Notes: R4, R5, R6, R7, R8, A1 (one-hot or learned embedding input).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.models import register_model
from deepnotes.nn import GRU, LSTM, RNN, Dropout

__all__ = ["RNNLM", "RNNLMConfig"]

CELLS = {"rnn": RNN, "gru": GRU, "lstm": LSTM}
State = Tensor | tuple[Tensor, Tensor]


@dataclass
class RNNLMConfig:
    vocab_size: int = 28  # V: scores per step (d2l's character vocabulary has 28 tokens)
    cell: str = "gru"  # recurrent layer: rnn (Elman, tanh) | gru | lstm
    hidden: int = 256  # H: hidden units per layer and direction
    num_layers: int = 1  # stacked recurrent layers (deep RNN, R4)
    embedding: int = 0  # embedding width; 0 feeds one-hot vectors of length V (as d2l does)
    dropout: float = 0.0  # dropout between recurrent layers and before the output layer
    bidirectional: bool = False  # add a backward-reading direction (R4; NOT causal: sees the future)
    forget_bias: float = 0.0  # lstm only: added to the forget-gate biases at init (opens the gate)
    fused: bool = True  # torch's recurrent kernel (False: our step-by-step loop), same parameters


@register_model("rnn-lm", RNNLMConfig,
                summary="RNN/GRU/LSTM language model, one-hot or embedding input (R4-R8)",
                inputs="tokens")
class RNNLM(nn.Module):
    r"""Language model :math:`P(x_{t+1} \mid x_{\le t}) = \mathrm{softmax}(W_{hq} h_t + b_q)`.

    ``h_t`` is the top layer's output of :class:`deepnotes.nn.RNN`, :class:`~deepnotes.nn.GRU`
    or :class:`~deepnotes.nn.LSTM` (``cell``), fed with one-hot vectors (``embedding=0``) or
    a learned embedding. With ``bidirectional=True`` the output layer reads
    :math:`[\overrightarrow{h}_t; \overleftarrow{h}_t]`, where the backward half has read
    :math:`x_T, \dots, x_t` — including the token it should predict, so such a model cannot
    be used to generate (see the ``bidirectional`` lesson). ``forget_bias`` > 0 starts an LSTM
    with its forget gate open, :math:`f_t \approx \sigma(\text{forget\_bias})`, so memory lasts
    from the first step (torch's initialisation gives :math:`f_t \approx 0.5`).

    Args:
        config: an :class:`RNNLMConfig`.

    Shape:
        - Input: ``X`` ``(B, T)`` token ids; ``state`` as :meth:`begin_state` or ``None``.
        - Output: logits ``(B, T, V)`` and the last state, ``(L*D, B, H)`` (a pair for LSTM).

    Example:
        >>> m = RNNLM(RNNLMConfig(vocab_size=10, cell="lstm", hidden=8, num_layers=2))
        >>> logits, (h, c) = m(torch.zeros(3, 5, dtype=torch.long))
        >>> logits.shape, h.shape
        (torch.Size([3, 5, 10]), torch.Size([2, 3, 8]))

    Notes: R4, R5, R6, R8.
    """

    def __init__(self, config: RNNLMConfig) -> None:
        super().__init__()
        c = config
        if c.cell not in CELLS:
            raise ConfigError(f"unknown cell {c.cell!r}; choose one of {', '.join(CELLS)}")
        if c.vocab_size < 1 or c.hidden < 1 or c.num_layers < 1 or c.embedding < 0:
            raise ConfigError(f"rnn-lm needs vocab_size, hidden, num_layers >= 1 and embedding >= 0, "
                              f"got {c.vocab_size}, {c.hidden}, {c.num_layers} and {c.embedding}")
        if not 0.0 <= c.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {c.dropout}")
        if c.forget_bias and c.cell != "lstm":
            raise ConfigError(f"forget_bias={c.forget_bias} needs cell='lstm' (only the LSTM has a "
                              f"forget gate), got cell={c.cell!r}")
        self.config = c
        self.vocab_size = c.vocab_size
        self.embedding = nn.Embedding(c.vocab_size, c.embedding) if c.embedding else None
        width = c.embedding or c.vocab_size
        self.rnn = CELLS[c.cell](width, c.hidden, num_layers=c.num_layers, dropout=c.dropout,
                                 bidirectional=c.bidirectional, batch_first=True, fused=c.fused)
        self.drop = Dropout(c.dropout, fused=c.fused) if c.dropout > 0 else None
        self.output = nn.Linear(self.rnn.num_directions * c.hidden, c.vocab_size)
        if c.forget_bias:
            with torch.no_grad():
                for name, p in self.rnn.named_parameters():
                    if name.startswith("bias_ih"):
                        # gate blocks i, f, g, o: f_t = σ(... + b_if + b_hf) starts near σ(bias)
                        p[c.hidden:2 * c.hidden] += c.forget_bias

    @property
    def bidirectional(self) -> bool:
        return self.config.bidirectional

    def begin_state(self, batch_size: int, device: torch.device | str | None = None,
                    dtype: torch.dtype | None = None) -> State:
        """Zero initial state: ``(L*D, B, H)`` (a pair ``(h, c)`` for LSTM)."""
        w = self.output.weight
        shape = (self.config.num_layers * self.rnn.num_directions, batch_size, self.config.hidden)
        h = torch.zeros(shape, device=device or w.device, dtype=dtype or w.dtype)  # (L*D, B, H)
        return (h, h.clone()) if self.config.cell == "lstm" else h

    def inputs(self, X: Tensor) -> Tensor:
        """The recurrent layer's input: one-hot rows or embeddings, ``(B, T) -> (B, T, C)``."""
        if self.embedding is not None:
            return self.embedding(X)  # (B, T, C)
        # one-hot: e_t[k] = 1 if k == x_t
        return nn.functional.one_hot(X, self.vocab_size).to(self.output.weight.dtype)  # (B, T, V)

    def forward(self, X: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        if X.dim() != 2 or X.is_floating_point():
            raise ShapeError(f"rnn-lm expects token ids of shape (B, T), got {X.dtype} with "
                             f"shape {tuple(X.shape)}")
        if X.numel():
            lo, hi = (int(v) for v in torch.aminmax(X))
            if lo < 0 or hi >= self.vocab_size:
                raise ShapeError(f"rnn-lm token ids must lie in [0, {self.vocab_size}), got "
                                 f"[{lo}, {hi}]; encode with the model's vocabulary")
        out, state = self.rnn(self.inputs(X), state)  # (B, T, D*H)
        if self.drop is not None:
            out = self.drop(out)
        # o_t = W_hq h_t + b_q
        return self.output(out), state  # (B, T, V)

    def extra_repr(self) -> str:
        c = self.config
        return (f"cell={c.cell!r}, vocab_size={c.vocab_size}, hidden={c.hidden}, "
                f"num_layers={c.num_layers}, embedding={c.embedding}, "
                f"bidirectional={c.bidirectional}, fused={c.fused}")
