r"""Recurrent networks for whole sequences and for every token: many-to-one and many-to-many.

``lstm-classifier`` (many-to-one, e.g. sentiment): embedding → (Bi)LSTM → one vector per
sequence (the last valid state, the mean over valid steps, or the max over valid steps) →
dense class scores. ``bilstm-tagger`` (many-to-many, e.g. part-of-speech tags): embedding
(optionally with the word's first and last characters) → BiLSTM → dense tag scores per token.

Padding: a minibatch pads its sequences at the end to one length T, and ``lengths[b]`` counts
the real tokens of row b. A left-to-right LSTM never sees the padding before the last valid
step, but a bidirectional layer's backward direction would start on it. So the models pass
``lengths`` to :class:`deepnotes.nn.LSTM`, whose backward direction then reads every row from
its *own* last valid token (padded steps change no state and output zeros). The outputs at
valid positions do not depend on the padding at all: the same numbers as ``torch.nn.LSTM`` on
a ``PackedSequence`` (tests check both).

Notes: R9 (many-to-one and many-to-many uses of an RNN), R4 (bidirectional), R5 (LSTM).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from deepnotes import functional as F
from deepnotes.errors import ConfigError, ShapeError
from deepnotes.models import register_model
from deepnotes.nn import LSTM, Dropout

__all__ = [
    "BiLSTMTagger", "BiLSTMTaggerConfig", "LSTMClassifier", "LSTMClassifierConfig",
    "pool_states",
]

POOLINGS = ("last", "mean", "max")


def _check_lengths(lengths: Tensor | None, B: int, T: int) -> Tensor | None:
    if lengths is None:
        return None
    if tuple(lengths.shape) != (B,):
        raise ShapeError(f"lengths must have shape (B,) = ({B},), got {tuple(lengths.shape)}")
    if len(lengths) and (int(lengths.min()) < 1 or int(lengths.max()) > T):
        raise ShapeError(f"every length must be in [1, T={T}], got min {int(lengths.min())} "
                         f"and max {int(lengths.max())}; drop empty sequences first")
    return lengths


def pool_states(h: Tensor, lengths: Tensor | None, pooling: str, hidden: int,
                bidirectional: bool) -> Tensor:
    r"""One vector per sequence from the per-step outputs, using the valid steps only.

    .. math::
        \text{last: } [\overrightarrow{h}_{\ell-1}; \overleftarrow{h}_0], \quad
        \text{mean: } \frac{1}{\ell}\sum_{t<\ell} h_t, \quad
        \text{max: } \max_{t<\ell} h_t \ \text{(per unit)}

    (one direction: last is :math:`h_{\ell-1}`). ``lengths=None`` means every step is valid.

    Shape:
        - h: ``(B, T, D*H)``; lengths: ``(B,)``. Output: ``(B, D*H)``.

    Example:
        >>> h = torch.tensor([[[1.0], [3.0], [9.0]]])
        >>> [pool_states(h, torch.tensor([2]), p, 1, False).item() for p in POOLINGS]
        [3.0, 2.0, 3.0]
    """
    B, T, _ = h.shape
    if lengths is None:
        lengths = torch.full((B,), T, dtype=torch.long, device=h.device)
    lengths = lengths.to(h.device)
    if pooling == "last":
        rows = torch.arange(B, device=h.device)
        last = h[rows, lengths - 1]  # (B, D*H): the state after the last valid token
        if not bidirectional:
            return last
        # the backward direction ends (has read everything) at step 0
        return torch.cat([last[:, :hidden], h[:, 0, hidden:]], dim=-1)  # (B, 2H)
    mask = F.sequence_mask(lengths, T).unsqueeze(-1)  # (B, T, 1)
    if pooling == "mean":
        # mean = Σ_{t<ℓ} h_t / ℓ
        return (h * mask).sum(1) / lengths.unsqueeze(-1).to(h.dtype)  # (B, D*H)
    if pooling == "max":
        return h.masked_fill(~mask, float("-inf")).amax(dim=1)  # (B, D*H)
    raise ConfigError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")


def _check(config, name: str) -> None:
    for field in ("vocab_size", "embed_dim", "hidden", "num_layers"):
        if int(getattr(config, field)) < 1:
            raise ConfigError(f"{name} {field} must be >= 1, got {getattr(config, field)}")
    if not 0.0 <= config.dropout < 1.0:
        raise ConfigError(f"{name} dropout must be in [0, 1), got {config.dropout}")
    if not -1 <= config.padding_idx < config.vocab_size:
        raise ConfigError(f"{name} padding_idx must be -1 (none) or in [0, vocab_size="
                          f"{config.vocab_size}), got {config.padding_idx}")


def _tokens(x: Tensor, name: str, vocab_size: int) -> None:
    if x.dim() != 2 or x.is_floating_point():
        raise ShapeError(f"{name} expects integer token indices of shape (B, T), got "
                         f"{x.dtype} of shape {tuple(x.shape)}")
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= vocab_size):
        raise ShapeError(f"{name} token indices must be in [0, vocab_size={vocab_size}), got "
                         f"[{int(x.min())}, {int(x.max())}]; build the model with the "
                         f"vocabulary's size")


@dataclass
class LSTMClassifierConfig:
    vocab_size: int = 5000  # number of token indices (len(vocab))
    num_classes: int = 2  # output classes (2: negative / positive)
    embed_dim: int = 64  # token embedding width E
    hidden: int = 64  # LSTM hidden units H per direction
    num_layers: int = 1  # stacked LSTM layers
    bidirectional: bool = True  # BiLSTM (D = 2) or left-to-right only (D = 1)
    pooling: str = "max"  # last | mean | max over the valid steps
    dropout: float = 0.0  # dropout on the embeddings and on the pooled vector
    padding_idx: int = 1  # index of <pad> (deepnotes Vocab: 1); its embedding stays 0; -1: none
    fused: bool = True  # torch's LSTM/dropout kernels (False: our step-by-step formulas)


@register_model("lstm-classifier", LSTMClassifierConfig,
                summary="embedding -> (Bi)LSTM -> last/mean/max over valid steps -> dense (R9)",
                inputs="tokens")
class LSTMClassifier(nn.Module):
    r"""Many-to-one sequence classifier.

    .. math::
        e_t = E[x_t], \quad h_{1..\ell} = \mathrm{(Bi)LSTM}(e_{1..\ell}), \quad
        v = \mathrm{pool}(h_{1..\ell}), \quad o = W v + b

    where pool is the last valid state, the mean or the max over the :math:`\ell` valid steps
    (:func:`pool_states`). With ``lengths`` the scores do not depend on the padding.

    Args:
        config: :class:`LSTMClassifierConfig`.

    Shape:
        - tokens: ``(B, T)`` integer indices, padded at the end; lengths: ``(B,)`` or ``None``
          (every step valid).
        - Output: ``(B, num_classes)`` logits.

    Example:
        >>> m = LSTMClassifier(LSTMClassifierConfig(vocab_size=20, embed_dim=8, hidden=6))
        >>> m(torch.tensor([[4, 5, 6], [7, 1, 1]]), torch.tensor([3, 1])).shape
        torch.Size([2, 2])

    Notes: R9, R4, R5.
    """

    def __init__(self, config: LSTMClassifierConfig) -> None:
        super().__init__()
        _check(config, "lstm-classifier")
        if config.pooling not in POOLINGS:
            raise ConfigError(f"unknown pooling {config.pooling!r}; choose one of "
                              f"{', '.join(POOLINGS)}")
        if config.num_classes < 1:
            raise ConfigError(f"num_classes must be >= 1, got {config.num_classes}")
        self.config = config
        pad = config.padding_idx if config.padding_idx >= 0 else None
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=pad)
        self.rnn = LSTM(config.embed_dim, config.hidden, num_layers=config.num_layers,
                        bidirectional=config.bidirectional, batch_first=True,
                        dropout=config.dropout if config.num_layers > 1 else 0.0,
                        fused=config.fused)
        self.dropout = Dropout(config.dropout, fused=config.fused)
        D = 2 if config.bidirectional else 1
        self.head = nn.Linear(D * config.hidden, config.num_classes)

    def forward(self, tokens: Tensor, lengths: Tensor | None = None) -> Tensor:
        _tokens(tokens, "lstm-classifier", self.config.vocab_size)
        lengths = _check_lengths(lengths, *tokens.shape)
        e = self.dropout(self.embedding(tokens))  # (B, T, E)
        h, _ = self.rnn(e, lengths=lengths)  # (B, T, D*H), zeros at padding
        v = pool_states(h, lengths, self.config.pooling, self.config.hidden,
                        self.config.bidirectional)  # (B, D*H)
        return self.head(self.dropout(v))  # (B, num_classes)


@dataclass
class BiLSTMTaggerConfig:
    vocab_size: int = 20000  # number of word indices (len(vocab))
    num_tags: int = 44  # tag classes
    embed_dim: int = 64  # word embedding width E
    hidden: int = 64  # LSTM hidden units H per direction
    num_layers: int = 1  # stacked LSTM layers
    bidirectional: bool = True  # False: a left-to-right LSTM tagger (sees only the past)
    char_vocab_size: int = 0  # >0: add embeddings of each word's first and last character
    char_dim: int = 16  # width of each character embedding (when char_vocab_size > 0)
    dropout: float = 0.0  # dropout on the token vectors and on the LSTM outputs
    padding_idx: int = 1  # index of <pad> in both vocabularies (its embedding stays 0); -1: none
    fused: bool = True  # torch's LSTM/dropout kernels (False: our step-by-step formulas)


@register_model("bilstm-tagger", BiLSTMTaggerConfig,
                summary="embedding (+ first/last char) -> BiLSTM -> dense tag scores per token "
                        "(R9)", inputs="tokens")
class BiLSTMTagger(nn.Module):
    r"""Many-to-many sequence tagger: one tag distribution per input token.

    .. math::
        u_t = [E[w_t];\, C[\mathrm{first}(w_t)];\, C[\mathrm{last}(w_t)]], \quad
        h_t = [\overrightarrow{h}_t; \overleftarrow{h}_t], \quad o_t = W h_t + b

    (the character part only with ``char_vocab_size > 0``). Train it with
    :func:`deepnotes.functional.masked_cross_entropy` so the padding is left out of the loss.

    Args:
        config: :class:`BiLSTMTaggerConfig`.

    Shape:
        - words: ``(B, T)`` integer indices, padded at the end; lengths: ``(B,)`` or ``None``;
          chars: ``(B, T, 2)`` first/last character indices (needed iff ``char_vocab_size > 0``).
        - Output: ``(B, T, num_tags)`` logits; with ``lengths`` the valid positions do not
          depend on the padding.

    Example:
        >>> m = BiLSTMTagger(BiLSTMTaggerConfig(vocab_size=20, num_tags=5, embed_dim=8, hidden=6))
        >>> m(torch.tensor([[4, 5, 6], [7, 1, 1]]), torch.tensor([3, 1])).shape
        torch.Size([2, 3, 5])

    Notes: R9, R4, R5.
    """

    def __init__(self, config: BiLSTMTaggerConfig) -> None:
        super().__init__()
        _check(config, "bilstm-tagger")
        if config.num_tags < 1 or config.char_vocab_size < 0 or config.char_dim < 1:
            raise ConfigError(f"bilstm-tagger needs num_tags >= 1, char_vocab_size >= 0 and "
                              f"char_dim >= 1, got {config.num_tags}, {config.char_vocab_size} "
                              f"and {config.char_dim}")
        self.config = config
        pad = config.padding_idx if config.padding_idx >= 0 else None
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=pad)
        width = config.embed_dim
        if config.char_vocab_size > 0:
            cpad = pad if pad is not None and pad < config.char_vocab_size else None
            self.char_embedding = nn.Embedding(config.char_vocab_size, config.char_dim,
                                               padding_idx=cpad)
            width += 2 * config.char_dim
        self.rnn = LSTM(width, config.hidden, num_layers=config.num_layers,
                        bidirectional=config.bidirectional, batch_first=True,
                        dropout=config.dropout if config.num_layers > 1 else 0.0,
                        fused=config.fused)
        self.dropout = Dropout(config.dropout, fused=config.fused)
        D = 2 if config.bidirectional else 1
        self.head = nn.Linear(D * config.hidden, config.num_tags)

    def forward(self, words: Tensor, lengths: Tensor | None = None,
                chars: Tensor | None = None) -> Tensor:
        _tokens(words, "bilstm-tagger", self.config.vocab_size)
        B, T = words.shape
        lengths = _check_lengths(lengths, B, T)
        u = self.embedding(words)  # (B, T, E)
        if self.config.char_vocab_size > 0:
            if chars is None or tuple(chars.shape) != (B, T, 2):
                got = None if chars is None else tuple(chars.shape)
                raise ShapeError(f"this tagger (char_vocab_size={self.config.char_vocab_size}) "
                                 f"needs chars of shape (B, T, 2) = {(B, T, 2)}, got {got}")
            c = self.char_embedding(chars).flatten(2)  # (B, T, 2·char_dim)
            u = torch.cat([u, c], dim=-1)  # (B, T, E + 2·char_dim)
        h, _ = self.rnn(self.dropout(u), lengths=lengths)  # (B, T, D*H), zeros at padding
        return self.head(self.dropout(h))  # (B, T, num_tags)
