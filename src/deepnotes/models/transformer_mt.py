r"""Transformer translators: the autoregressive encoder-decoder and a non-autoregressive variant.

``transformer-mt`` (notes A11, A12): token embeddings scaled by :math:`\sqrt{d}` plus the
sinusoidal positions feed ``N`` encoder blocks; the decoder reads the shifted target
(``<bos>`` first) through ``N`` decoder blocks (masked self-attention, cross-attention into the
encoder output) and a linear layer scores the target vocabulary:

.. math::
    H^{(0)} = \sqrt{d}\,E_{\text{src}}[x] + P, \quad
    M = \mathrm{Enc}^{N}(H^{(0)}), \quad
    P(y_t \mid y_{<t}, x) = \mathrm{softmax}\big(W_o\,\mathrm{Dec}^{N}(\sqrt{d}\,
    E_{\text{tgt}}[y_{<t}] + P, M)_t + b_o\big)

Decoding calls :meth:`TransformerMT.step` once per token; every decoder block caches the
inputs of the positions already decoded, so a step costs one position per layer, not the
whole prefix.

``transformer-nat`` (A13): the same encoder; a length predictor reads the encoder output;
the decoder gets position queries (no target tokens, no causal mask) and writes every target
token at once; the output is cut at the first ``<eos>``. One decoder pass instead of ``T``.

Both implement the seq2seq interface of :mod:`deepnotes.tasks.translation`:
``forward(src, src_valid_len, tgt_in) -> logits``, ``init_state``, ``step``.

Notes: A6, A11, A12, A13.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.functional.sequence import fused_masked_cross_entropy, sequence_mask
from deepnotes.models import register_model
from deepnotes.nn import (
    LayerNorm,
    PositionalEncoding,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
)

__all__ = ["TransformerMT", "TransformerMTConfig", "TransformerNAT", "TransformerNATConfig"]


@dataclass
class TransformerMTConfig:
    src_vocab_size: int = 1000  # source vocabulary size (set from the data's vocab)
    tgt_vocab_size: int = 1000  # target vocabulary size
    embed_dim: int = 64  # d: width of embeddings and of every block
    num_heads: int = 4  # h: attention heads (must divide embed_dim)
    ffn_hidden: int = 128  # hidden width of the position-wise FFN
    num_layers: int = 2  # N: encoder blocks = decoder blocks
    dropout: float = 0.1  # on embeddings+positions, attention weights, residual branches
    norm_first: bool = False  # pre-LN blocks (default post-LN as in the notes, A11)
    activation: str = "relu"  # FFN non-linearity: relu | gelu
    max_len: int = 256  # positions precomputed in the sinusoidal table
    pad: int = 1  # id of <pad> (deepnotes.text.Vocab's default layout)
    bos: int = 2  # id of <bos>
    eos: int = 3  # id of <eos>
    fused: bool = True  # torch kernels in every layer (False: our formulas), same parameters


def _check(cfg: Any) -> None:
    for name in ("src_vocab_size", "tgt_vocab_size", "embed_dim", "num_heads", "ffn_hidden",
                 "num_layers", "max_len"):
        if int(getattr(cfg, name)) < 1:
            raise ConfigError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    if cfg.embed_dim % cfg.num_heads:
        raise ConfigError(f"embed_dim ({cfg.embed_dim}) must be a multiple of num_heads "
                          f"({cfg.num_heads})")


class _Encoder(nn.Module):
    """Embedding × √d + sinusoidal positions, then ``N`` encoder blocks (+ a final LN if pre-LN)."""

    def __init__(self, cfg: Any) -> None:
        super().__init__()
        d = cfg.embed_dim
        self.scale = math.sqrt(d)
        self.embedding = nn.Embedding(cfg.src_vocab_size, d)
        self.pos = PositionalEncoding(d, cfg.dropout, max_len=cfg.max_len, fused=cfg.fused)
        self.blocks = nn.ModuleList(
            TransformerEncoderBlock(d, cfg.num_heads, cfg.ffn_hidden, cfg.dropout,
                                    cfg.activation, cfg.norm_first, fused=cfg.fused)
            for _ in range(cfg.num_layers))
        self.norm = LayerNorm(d, fused=cfg.fused) if cfg.norm_first else None
        # N(0, 1/d): after the √d scale the embeddings have unit variance, like the positions
        nn.init.normal_(self.embedding.weight, std=d**-0.5)

    def forward(self, src: Tensor, valid_len: Tensor, need_weights: bool = False) -> Tensor:
        # H0 = √d · E[x] + P
        h = self.pos(self.embedding(src) * self.scale)  # (B, S, E)
        for blk in self.blocks:
            h = blk(h, valid_lens=valid_len, need_weights=need_weights)
        return h if self.norm is None else self.norm(h)


def _check_batch(src: Tensor, src_valid_len: Tensor) -> None:
    if src.dim() != 2 or src_valid_len.shape != (src.shape[0],):
        raise ShapeError(f"src must be (B, S) and src_valid_len (B,), got {tuple(src.shape)} "
                         f"and {tuple(src_valid_len.shape)}")


@register_model("transformer-mt", TransformerMTConfig,
                summary="Transformer encoder-decoder translator, post-LN (pre-LN option) (A11, A12)",
                inputs="token-pairs")
class TransformerMT(nn.Module):
    r"""Transformer encoder-decoder for translation (module docstring for the formulas).

    Shape:
        - src ``(B, S)`` int, src_valid_len ``(B,)``, tgt_in ``(B, T)`` (``<bos>`` + target
          shifted right). Output: logits ``(B, T, V_tgt)``.

    Example:
        >>> m = TransformerMT(TransformerMTConfig(src_vocab_size=10, tgt_vocab_size=12,
        ...                   embed_dim=8, num_heads=2, ffn_hidden=16))
        >>> m(torch.ones(2, 5, dtype=torch.long), torch.tensor([5, 3]),
        ...   torch.ones(2, 4, dtype=torch.long)).shape
        torch.Size([2, 4, 12])

    Notes: A11, A12.
    """

    def __init__(self, config: TransformerMTConfig) -> None:
        super().__init__()
        _check(config)
        self.config = config
        d = config.embed_dim
        self.scale = math.sqrt(d)
        self.encoder = _Encoder(config)
        self.tgt_embedding = nn.Embedding(config.tgt_vocab_size, d)
        self.tgt_pos = PositionalEncoding(d, config.dropout, max_len=config.max_len,
                                          fused=config.fused)
        self.decoder = nn.ModuleList(
            TransformerDecoderBlock(d, config.num_heads, config.ffn_hidden, config.dropout,
                                    config.activation, config.norm_first, fused=config.fused)
            for _ in range(config.num_layers))
        self.decoder_norm = LayerNorm(d, fused=config.fused) if config.norm_first else None
        self.output = nn.Linear(d, config.tgt_vocab_size)  # W_o, b_o
        nn.init.normal_(self.tgt_embedding.weight, std=d**-0.5)

    # ---- teacher-forced training ---------------------------------------------------------------
    def encode(self, src: Tensor, src_valid_len: Tensor, need_weights: bool = False) -> Tensor:
        """Encoder output ``M`` ``(B, S, E)``."""
        _check_batch(src, src_valid_len)
        return self.encoder(src, src_valid_len, need_weights)

    def decode(self, tgt_in: Tensor, memory: Tensor, src_valid_len: Tensor,
               need_weights: bool = False) -> Tensor:
        """Logits ``(B, T, V)`` of every position of the shifted target (causal)."""
        # √d · E[y_<t] + P
        h = self.tgt_pos(self.tgt_embedding(tgt_in) * self.scale)  # (B, T, E)
        for blk in self.decoder:
            h = blk(h, memory, memory_valid_lens=src_valid_len, need_weights=need_weights)
        if self.decoder_norm is not None:
            h = self.decoder_norm(h)
        return self.output(h)  # (B, T, V)

    def forward(self, src: Tensor, src_valid_len: Tensor, tgt_in: Tensor) -> Tensor:
        return self.decode(tgt_in, self.encode(src, src_valid_len), src_valid_len)

    # ---- step-by-step decoding -----------------------------------------------------------------
    def init_state(self, src: Tensor, src_valid_len: Tensor) -> dict[str, Any]:
        """Encoder output, source lengths and an empty cache per decoder block (B rows each)."""
        memory = self.encode(src, src_valid_len)
        empty = memory.new_zeros(memory.shape[0], 0, memory.shape[2])  # (B, 0, E)
        return {"memory": memory, "src_valid_len": src_valid_len,
                "cache": [empty for _ in self.decoder]}

    def step(self, tokens: Tensor, state: dict[str, Any]) -> tuple[Tensor, dict[str, Any]]:
        """``log P(y_t | y_<t, x)`` ``(N, V)`` for the prefixes ``tokens`` ``(N, t)``.

        Only the positions after the cached ones go through the decoder; each block's input
        for them is appended to its cache.
        """
        done = state["cache"][0].shape[1] if state["cache"] else 0
        if tokens.shape[1] <= done:
            raise ShapeError(f"step got {tokens.shape[1]} tokens but {done} are already "
                             "decoded; pass the whole prefix, one token longer each call")
        new = tokens[:, done:]  # (N, t - done)
        h = self.tgt_pos(self.tgt_embedding(new) * self.scale, offset=done)  # (N, t', E)
        cache = []
        for blk, past in zip(self.decoder, state["cache"]):
            cache.append(torch.cat([past, h], dim=1))  # inputs of positions 0 .. t-1
            h = blk(h, state["memory"], memory_valid_lens=state["src_valid_len"], past=past)
        if self.decoder_norm is not None:
            h = self.decoder_norm(h)
        logits = self.output(h[:, -1])  # (N, V)
        return torch.log_softmax(logits, dim=-1), {**state, "cache": cache}

    @torch.no_grad()
    def attention_maps(self, src: Tensor, src_valid_len: Tensor,
                       tgt_in: Tensor) -> dict[str, list[Tensor]]:
        """Head-averaged weights of every layer: ``encoder`` ``(B, S, S)``, ``decoder_self``
        ``(B, T, T)``, ``cross`` ``(B, T, S)`` (for heat maps)."""
        memory = self.encode(src, src_valid_len, need_weights=True)
        self.decode(tgt_in, memory, src_valid_len, need_weights=True)
        return {"encoder": [b.attention_weights for b in self.encoder.blocks],
                "decoder_self": [b.self_attention_weights for b in self.decoder],
                "cross": [b.cross_attention_weights for b in self.decoder]}


@dataclass
class TransformerNATConfig(TransformerMTConfig):
    max_tgt_len: int = 16  # T: output positions (= num_steps of the data; lengths 1..T)
    length_mode: str = "predict"  # predict: length head masks the positions | max: cut at <eos>
    length_weight: float = 0.1  # weight of the length cross-entropy in loss()


@register_model("transformer-nat", TransformerNATConfig,
                summary="non-autoregressive Transformer: length predictor + parallel decoder (A13)",
                inputs="token-pairs")
class TransformerNAT(nn.Module):
    r"""Non-autoregressive Transformer translator (notes A13).

    .. math::
        \hat L = \operatorname*{argmax}_L\ \mathrm{softmax}(W_L\,\bar M + b_L), \quad
        Q_i = P_i + E^{\text{pos}}_i, \quad
        P(y_i \mid x) = \mathrm{softmax}(W_o\,\mathrm{Dec}^{N}(Q, M)_i + b_o)

    :math:`\bar M` is the mean of the encoder output over the source's valid positions. The
    decoder's self-attention has no causal mask; with ``length_mode="predict"`` positions
    ``>= L`` are hidden as keys (``L``: the true length when training, :math:`\hat L` when
    decoding), with ``"max"`` all ``T`` positions are used and the output is cut at the first
    ``<eos>``. All positions are decoded in one pass (they are independent given ``x``).

    ``forward(src, src_valid_len, tgt_in)`` returns ``(B, T, V)`` logits like
    :class:`TransformerMT` (only ``tgt_in``'s length ``T`` is read; the length mask comes
    from ``tgt_valid_len`` if given, else from the length head), so the same masked
    cross-entropy trains the token outputs; :meth:`loss` adds the length term. ``step``
    replays the one-pass output so the usual greedy/beam search functions work.

    Example:
        >>> m = TransformerNAT(TransformerNATConfig(src_vocab_size=10, tgt_vocab_size=12,
        ...                    embed_dim=8, num_heads=2, ffn_hidden=16, max_tgt_len=6))
        >>> m(torch.ones(2, 5, dtype=torch.long), torch.tensor([5, 3]),
        ...   torch.ones(2, 6, dtype=torch.long)).shape
        torch.Size([2, 6, 12])

    Notes: A13.
    """

    def __init__(self, config: TransformerNATConfig) -> None:
        super().__init__()
        _check(config)
        if config.length_mode not in ("predict", "max"):
            raise ConfigError(f"length_mode must be 'predict' or 'max', got "
                              f"{config.length_mode!r}")
        if int(config.max_tgt_len) < 1:
            raise ConfigError(f"max_tgt_len must be >= 1, got {config.max_tgt_len}")
        self.config = config
        d, t = config.embed_dim, config.max_tgt_len
        self.encoder = _Encoder(config)
        self.length_head = nn.Linear(d, t + 1)  # scores of lengths 0..T (0 is never right)
        self.queries = nn.Parameter(torch.randn(t, d) * d**-0.5)  # E^pos, learned
        self.query_pos = PositionalEncoding(d, config.dropout, max_len=t, fused=config.fused)
        self.decoder = nn.ModuleList(
            TransformerDecoderBlock(d, config.num_heads, config.ffn_hidden, config.dropout,
                                    config.activation, config.norm_first, fused=config.fused)
            for _ in range(config.num_layers))
        self.decoder_norm = LayerNorm(d, fused=config.fused) if config.norm_first else None
        self.output = nn.Linear(d, config.tgt_vocab_size)

    def length_logits(self, memory: Tensor, src_valid_len: Tensor) -> Tensor:
        """Scores ``(B, T+1)`` of every target length (``<eos>`` counted)."""
        m = sequence_mask(src_valid_len, memory.shape[1]).to(memory.dtype)  # (B, S)
        # M̄ = Σ_s m_s M_s / Σ_s m_s
        pooled = (memory * m[..., None]).sum(1) / m.sum(1, keepdim=True).clamp_min(1)  # (B, E)
        return self.length_head(pooled)

    def _decode(self, memory: Tensor, src_valid_len: Tensor, length: Tensor | None,
                num_positions: int, need_weights: bool = False) -> Tensor:
        if num_positions > self.config.max_tgt_len:
            raise ShapeError(f"{num_positions} target positions exceed max_tgt_len="
                             f"{self.config.max_tgt_len}; build the model with a larger one")
        b = memory.shape[0]
        # Q_i = P_i + E^pos_i, the same queries for every sentence
        q = self.query_pos(self.queries[:num_positions].expand(b, -1, -1))  # (B, T, E)
        pad = None
        if self.config.length_mode == "predict" and length is not None:
            pad = ~sequence_mask(length.clamp(1, num_positions), num_positions)  # (B, T)
        h = q
        for blk in self.decoder:
            h = blk(h, memory, memory_valid_lens=src_valid_len, tgt_key_padding_mask=pad,
                    causal=False, need_weights=need_weights)
        if self.decoder_norm is not None:
            h = self.decoder_norm(h)
        return self.output(h)  # (B, T, V)

    def forward(self, src: Tensor, src_valid_len: Tensor, tgt_in: Tensor,
                tgt_valid_len: Tensor | None = None) -> Tensor:
        _check_batch(src, src_valid_len)
        memory = self.encoder(src, src_valid_len)
        if tgt_valid_len is None:
            tgt_valid_len = self.length_logits(memory, src_valid_len).argmax(-1)
        return self._decode(memory, src_valid_len, tgt_valid_len, tgt_in.shape[1])

    def loss(self, src: Tensor, src_valid_len: Tensor, tgt: Tensor,
             tgt_valid_len: Tensor) -> Tensor:
        r"""Training loss: masked token cross-entropy + ``length_weight`` · length cross-entropy.

        .. math::
            \mathcal{L} = \mathrm{CE}_{\text{valid tokens}}(y) + \lambda\,\mathrm{CE}(L)
        """
        _check_batch(src, src_valid_len)
        memory = self.encoder(src, src_valid_len)
        logits = self._decode(memory, src_valid_len, tgt_valid_len, tgt.shape[1])
        token = fused_masked_cross_entropy(logits, tgt, tgt_valid_len)
        lengths = self.length_logits(memory, src_valid_len)
        target_len = tgt_valid_len.clamp(0, self.config.max_tgt_len)
        length = nn.functional.cross_entropy(lengths, target_len)
        return token + self.config.length_weight * length

    @torch.no_grad()
    def generate(self, src: Tensor, src_valid_len: Tensor) -> list[list[int]]:
        """All target tokens in one pass; each row cut after its first ``<eos>``."""
        log_probs = self._one_pass(src, src_valid_len)  # (B, T, V)
        out = []
        for row in log_probs.argmax(-1).tolist():
            cut = row.index(self.config.eos) + 1 if self.config.eos in row else len(row)
            out.append(row[:cut])
        return out

    def _one_pass(self, src: Tensor, src_valid_len: Tensor) -> Tensor:
        """Log-probabilities ``(B, T, V)``; positions past the predicted length give ``<eos>``."""
        _check_batch(src, src_valid_len)
        cfg = self.config
        memory = self.encoder(src, src_valid_len)
        length = self.length_logits(memory, src_valid_len).argmax(-1).clamp_min(1)  # (B,)
        logits = self._decode(memory, src_valid_len, length, cfg.max_tgt_len).float()
        # the decoder never has to write <pad> or <bos>
        logits[..., [cfg.pad, cfg.bos]] = float("-inf")
        log_probs = torch.log_softmax(logits, dim=-1)
        if cfg.length_mode == "predict":
            # position L-1 ends the sentence: <eos> there and after it
            pos = torch.arange(cfg.max_tgt_len, device=src.device)
            forced = pos[None, :] >= (length[:, None] - 1)  # (B, T)
            eos_only = torch.full_like(log_probs[0, 0], float("-inf"))
            eos_only[cfg.eos] = 0.0
            log_probs = torch.where(forced[..., None], eos_only, log_probs)
        return log_probs

    def init_state(self, src: Tensor, src_valid_len: Tensor) -> dict[str, Tensor]:
        """The one-pass log-probabilities ``(B, T, V)``: decoding only reads them back."""
        return {"log_probs": self._one_pass(src, src_valid_len)}

    def step(self, tokens: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """``log P(y_t | x)`` for position ``t`` = number of tokens after ``<bos>``; the
        prefix itself is ignored (positions are independent given the source)."""
        t = tokens.shape[1] - 1
        table = state["log_probs"]
        if t >= table.shape[1]:
            eos_only = torch.full_like(table[:, 0], float("-inf"))
            eos_only[:, self.config.eos] = 0.0
            return eos_only, state
        return table[:, t], state
