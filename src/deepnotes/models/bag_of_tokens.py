r"""Softmax regression on token counts: a text classifier that ignores the order of the tokens.

``bag-of-tokens`` is the baseline of the many-to-one lesson: it sees which tokens occur in a
sequence and how often, but not where, so an RNN that beats it must be using the order.

Notes: B7 (softmax regression), R9 (its many-to-one baseline).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.functional import sequence_mask
from deepnotes.models import register_model

__all__ = ["BagOfTokens", "BagOfTokensConfig"]


@dataclass
class BagOfTokensConfig:
    vocab_size: int = 5000  # number of token indices (len(vocab))
    num_classes: int = 2  # output classes (2: negative / positive)


@register_model("bag-of-tokens", BagOfTokensConfig,
                summary="softmax regression on token counts, o = W n(x) + b (B7)", inputs="tokens")
class BagOfTokens(nn.Module):
    r"""Softmax regression on token counts: :math:`o = W n(x) + b`.

    :math:`n(x)_v` counts token v among the valid tokens of the sequence, so
    :math:`W n(x) = \sum_{t<\ell} W_{:, x_t}`: the columns of W of the valid tokens are summed
    (no count vector is ever built). The order of the tokens plays no part. W and b start at 0.

    Args:
        config: :class:`BagOfTokensConfig`.

    Shape:
        - tokens ``(B, T)`` integer indices padded at the end; lengths ``(B,)`` valid tokens
          per row (``None``: every position is valid). Output ``(B, C)`` logits.

    Example:
        >>> m = BagOfTokens(BagOfTokensConfig(vocab_size=10, num_classes=3))
        >>> m(torch.tensor([[4, 5, 1], [7, 1, 1]]), torch.tensor([2, 1])).shape
        torch.Size([2, 3])

    Notes: B7.
    """

    def __init__(self, config: BagOfTokensConfig) -> None:
        super().__init__()
        if config.vocab_size < 1 or config.num_classes < 1:
            raise ConfigError(f"bag-of-tokens needs vocab_size >= 1 and num_classes >= 1, got "
                              f"{config.vocab_size} and {config.num_classes}")
        self.config = config
        self.weight = nn.Embedding(config.vocab_size, config.num_classes)  # row v = column v of W
        self.bias = nn.Parameter(torch.zeros(config.num_classes))
        nn.init.zeros_(self.weight.weight)

    def forward(self, tokens: Tensor, lengths: Tensor | None = None) -> Tensor:
        if tokens.dim() != 2 or tokens.is_floating_point():
            raise ShapeError(f"bag-of-tokens expects integer token indices of shape (B, T), got "
                             f"{tokens.dtype} of shape {tuple(tokens.shape)}")
        if lengths is None:
            lengths = torch.full((tokens.shape[0],), tokens.shape[1], device=tokens.device)
        mask = sequence_mask(lengths, tokens.shape[1]).unsqueeze(-1)  # (B, T, 1)
        # o = Σ_{t<ℓ} W[:, x_t] + b
        return (self.weight(tokens) * mask).sum(1) + self.bias  # (B, C)
