r"""A recurrent network that reads a series and predicts its next value at every step.

``rnn-regressor`` is a latent autoregressive model: rather than the fixed window of the last τ
values that a lag-feature model sees, it keeps a hidden state :math:`h_t` that summarises the
whole past and predicts the next value from it,

.. math::
    h_t = \mathrm{RNN}(x_t, h_{t-1}), \qquad \hat x_{t+1} = W h_t + b,

with the RNN a :class:`deepnotes.nn.RNN`, :class:`~deepnotes.nn.GRU` or
:class:`~deepnotes.nn.LSTM`. It is trained with teacher forcing (the observed :math:`x_t` as
input, :math:`x_{t+1}` as target at every step); to forecast further ahead the caller feeds
the prediction back in as the next input, carrying the state (the ``time-series`` lesson).

Notes: B9 (latent autoregressive model), R4 (RNN), R5 (LSTM), R6 (GRU).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.models import register_model
from deepnotes.nn import GRU, LSTM, RNN

__all__ = ["RNNRegressor", "RNNRegressorConfig"]

CELLS = {"rnn": RNN, "gru": GRU, "lstm": LSTM}
State = Tensor | tuple[Tensor, Tensor]


@dataclass
class RNNRegressorConfig:
    in_features: int = 1  # C: values read per step (1 for a univariate series)
    out_features: int = 1  # O: values predicted per step (the next x_{t+1}: O = C)
    cell: str = "gru"  # recurrent layer: rnn (Elman, tanh) | gru | lstm
    hidden: int = 32  # H: hidden units per layer (the size of the latent state h_t)
    num_layers: int = 1  # stacked recurrent layers
    dropout: float = 0.0  # dropout between stacked recurrent layers (training only)
    fused: bool = True  # torch's recurrent kernel (False: our step-by-step loop), same parameters


@register_model("rnn-regressor", RNNRegressorConfig,
                summary="latent autoregressive model: RNN/GRU/LSTM state -> next value (B9)",
                inputs="frames")
class RNNRegressor(nn.Module):
    r"""Next-value regression from a recurrent state: :math:`\hat x_{t+1} = W h_t + b`.

    ``h_t`` is the top layer's output of the recurrent layer chosen by ``cell`` after reading
    :math:`x_1, \ldots, x_t` (from ``state``, or zeros). Unlike a window of τ lag features the
    state can, in principle, remember arbitrarily far back.

    Args:
        config: an :class:`RNNRegressorConfig`.

    Shape:
        - Input: ``x`` ``(B, T, C)``; ``state`` ``(L, B, H)`` (a pair for LSTM) or ``None``.
        - Output: predictions ``(B, T, O)`` (step t predicts step t + 1) and the last state
          ``(L, B, H)`` (a pair for LSTM).

    Example:
        >>> import torch
        >>> m = RNNRegressor(RNNRegressorConfig(hidden=8, num_layers=2))
        >>> pred, h = m(torch.zeros(3, 5, 1))
        >>> pred.shape, h.shape
        (torch.Size([3, 5, 1]), torch.Size([2, 3, 8]))
        >>> nxt, h = m(pred[:, -1:], h)  # feed the last prediction back, carrying the state
        >>> nxt.shape
        torch.Size([3, 1, 1])

    Notes: B9.
    """

    def __init__(self, config: RNNRegressorConfig) -> None:
        super().__init__()
        c = config
        if c.cell not in CELLS:
            raise ConfigError(f"unknown cell {c.cell!r}; choose one of {', '.join(CELLS)}")
        for name in ("in_features", "out_features", "hidden", "num_layers"):
            if int(getattr(c, name)) < 1:
                raise ConfigError(f"rnn-regressor {name} must be >= 1, got {getattr(c, name)}")
        if not 0.0 <= c.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {c.dropout}")
        self.config = c
        self.rnn = CELLS[c.cell](c.in_features, c.hidden, num_layers=c.num_layers,
                                 dropout=c.dropout, batch_first=True, fused=c.fused)
        self.head = nn.Linear(c.hidden, c.out_features)

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        if x.dim() != 3 or x.shape[-1] != self.config.in_features:
            raise ShapeError(f"rnn-regressor expects a series of shape (B, T, "
                             f"{self.config.in_features}), got {tuple(x.shape)}")
        h, state = self.rnn(x, state)  # (B, T, H)
        # x̂_{t+1} = W h_t + b
        return self.head(h), state  # (B, T, O)

    def extra_repr(self) -> str:
        c = self.config
        return (f"cell={c.cell!r}, in_features={c.in_features}, hidden={c.hidden}, "
                f"num_layers={c.num_layers}, out_features={c.out_features}, fused={c.fused}")
