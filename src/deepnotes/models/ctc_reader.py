r"""A BiLSTM that emits one symbol distribution per input frame, for training with CTC.

``ctc-reader`` standardises each frame, runs a bidirectional LSTM over the frames and maps every
step to log-probabilities over the blank and the labels; :func:`deepnotes.functional.ctc_loss`
then sums over all alignments of the label sequence, so the frame-to-label alignment is never
given (the ``ctc`` lesson reads strings of handwritten digits column by column).

Notes: R10 (CTC), R4 (bidirectional), R5 (LSTM).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.functional import log_softmax
from deepnotes.models import register_model
from deepnotes.nn import LSTM

__all__ = ["CTCReader", "CTCReaderConfig"]


@dataclass
class CTCReaderConfig:
    in_features: int = 8  # values per frame F (8: one column of an 8x8 digit image)
    hidden: int = 64  # LSTM hidden units per direction
    num_classes: int = 11  # blank + labels (11: the blank and the digits 0-9)
    layers: int = 1  # stacked BiLSTM layers
    fused: bool = True  # torch's LSTM kernel (False: our step-by-step formulas)


@register_model("ctc-reader", CTCReaderConfig,
                summary="standardised frames -> BiLSTM -> per-frame log-softmax for CTC (R10)",
                inputs="frames")
class CTCReader(nn.Module):
    r"""Standardise the frames, a BiLSTM over them, then linear + log-softmax per frame.

    .. math::
        \log y^t = \mathrm{log\_softmax}\big(W [\overrightarrow{h}_t; \overleftarrow{h}_t] + b\big)

    over the blank and the labels, with the LSTM reading :math:`(x_t - \mu) / \sigma`
    (:math:`\mu, \sigma`: buffers ``mean`` and ``std``, set by the caller from the training
    frames and saved with the weights; without them the LSTM sat on the all-blank plateau far
    longer). The padding after a short sequence is read like any frame; the CTC loss ignores
    the outputs there.

    Args:
        config: :class:`CTCReaderConfig`.

    Shape:
        - Input: ``(B, T, F)`` frames. Output: per-frame log-probabilities ``(B, T, C)``.

    Example:
        >>> m = CTCReader(CTCReaderConfig(in_features=8, hidden=5, num_classes=11))
        >>> m(torch.zeros(2, 7, 8)).shape
        torch.Size([2, 7, 11])

    Notes: R10, R4, R5.
    """

    def __init__(self, config: CTCReaderConfig) -> None:
        super().__init__()
        for name in ("in_features", "hidden", "layers"):
            if int(getattr(config, name)) < 1:
                raise ConfigError(f"ctc-reader {name} must be >= 1, got {getattr(config, name)}")
        if config.num_classes < 2:
            raise ConfigError(f"ctc-reader needs num_classes >= 2 (the blank and a label), got "
                              f"{config.num_classes}")
        self.config = config
        self.register_buffer("mean", torch.zeros(config.in_features))
        self.register_buffer("std", torch.ones(config.in_features))
        self.rnn = LSTM(config.in_features, config.hidden, num_layers=config.layers,
                        bidirectional=True, batch_first=True, fused=config.fused)
        self.head = nn.Linear(2 * config.hidden, config.num_classes)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or x.shape[-1] != self.config.in_features:
            raise ShapeError(f"ctc-reader expects frames (B, T, {self.config.in_features}), got "
                             f"shape {tuple(x.shape)}")
        h, _ = self.rnn((x - self.mean) / self.std)  # (B, T, 2H)
        return log_softmax(self.head(h), dim=-1)  # (B, T, C)
