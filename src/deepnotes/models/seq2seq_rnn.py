r"""RNN encoder-decoder translators: ``seq2seq-rnn`` (fixed context) and ``bahdanau`` (attention).

Both follow :class:`deepnotes.tasks.translation.Seq2SeqModel`: ``forward`` (teacher forcing),
``init_state`` and ``step`` (one decoding step for :mod:`deepnotes.decoding`).

**Encoder** (S2): embedding, then L GRU layers, optionally bidirectional. It respects the
valid lengths: a row's forward direction stops at its last real token and the backward direction
starts there (each row is reversed within its valid length), so the context does not depend on
how much padding follows a sentence:

.. math::
    h_t = \mathrm{GRU}(x_t, h_{t-1}), \qquad c = h_{S_b} \;(\text{the state after the last
    valid token; } [\overrightarrow{h}_{S_b}; \overleftarrow{h}_1] \text{ when bidirectional})

**seq2seq-rnn decoder** (S2, S3): the decoder's state starts at the encoder's final state
(through :math:`\tanh(W_b [\overrightarrow{h}; \overleftarrow{h}])` when bidirectional) and every
step reads the previous token and the fixed context:
:math:`s_{t'} = \mathrm{GRU}([e(y_{t'-1}); c], s_{t'-1})`,
:math:`P(y_{t'} \mid \cdot) = \mathrm{softmax}(W_o s_{t'} + b_o)`.

**bahdanau decoder** (A10): the context changes every step; it is additive attention of the
previous top-layer state over all encoder outputs (padding masked):

.. math::
    c_{t'} = \sum_{t=1}^{S} \alpha(s_{t'-1}, h_t)\, h_t, \qquad
    \alpha = \mathrm{softmax}_t\big(w_v^\top \tanh(W_q s_{t'-1} + W_k h_t)\big), \qquad
    s_{t'} = \mathrm{GRU}([e(y_{t'-1}); c_{t'}], s_{t'-1})

The last weights stay in ``attention_weights`` ``(B, T, S)`` for heat maps.

Decoder states are batch-first pytrees, ``{"h": (N, L, H), ...}``, so beam search can reorder
them along dim 0.

Notes: S2, S3, A10.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.functional.attention import masked_softmax
from deepnotes.functional.sequence import reverse_padded
from deepnotes.models import register_model
from deepnotes.nn import GRU, AdditiveAttention, Dropout

__all__ = ["Bahdanau", "BahdanauConfig", "RNNEncoder", "Seq2SeqRNN", "Seq2SeqRNNConfig"]


@dataclass
class Seq2SeqRNNConfig:
    src_vocab_size: int = 1000  # source vocabulary size (len(data.src_vocab))
    tgt_vocab_size: int = 1000  # target vocabulary size (len(data.tgt_vocab))
    embed_size: int = 64  # word embedding width (encoder and decoder)
    num_hiddens: int = 128  # GRU hidden size H (per direction in the encoder)
    num_layers: int = 2  # stacked GRU layers L (encoder and decoder)
    dropout: float = 0.1  # dropout on embeddings and between GRU layers
    bidirectional: bool = False  # bidirectional encoder (S2)
    fused: bool = True  # torch's GRU kernel (False: our step-by-step GRU formula)


@dataclass
class BahdanauConfig(Seq2SeqRNNConfig):
    attention_hiddens: int = 0  # width of W_q, W_k in additive attention (0: num_hiddens)
    copy: bool = False  # pointer-generator: mix copying attended source tokens into P(y) (A14)


def _check_config(cfg: Seq2SeqRNNConfig) -> None:
    for name in ("src_vocab_size", "tgt_vocab_size", "embed_size", "num_hiddens", "num_layers"):
        if int(getattr(cfg, name)) < 1:
            raise ConfigError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    if not 0.0 <= cfg.dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {cfg.dropout}")


class RNNEncoder(nn.Module):
    r"""Embedding + L GRU layers (optionally bidirectional) that stop at each row's valid length.

    Shape:
        - src ``(B, S)``, src_valid_len ``(B,)``.
        - Output: outputs ``(B, S, D·H)`` (padding positions hold junk: mask them) and final
          states ``(L, B, D·H)``, :math:`[\overrightarrow{h}_{S_b}; \overleftarrow{h}_1]` per layer.

    Notes: S2, R4, R6.
    """

    def __init__(self, cfg: Seq2SeqRNNConfig) -> None:
        super().__init__()
        H, D = cfg.num_hiddens, 2 if cfg.bidirectional else 1
        self.embedding = nn.Embedding(cfg.src_vocab_size, cfg.embed_size)
        self.drop = Dropout(cfg.dropout, fused=cfg.fused)
        sizes = [cfg.embed_size] + [D * H] * (cfg.num_layers - 1)
        self.forward_layers = nn.ModuleList(GRU(c, H, fused=cfg.fused) for c in sizes)
        self.backward_layers = nn.ModuleList(GRU(c, H, fused=cfg.fused) for c in sizes) \
            if cfg.bidirectional else None

    def forward(self, src: Tensor, src_valid_len: Tensor) -> tuple[Tensor, Tensor]:
        if src.dim() != 2 or src_valid_len.shape != src.shape[:1]:
            raise ShapeError(f"encoder expects src (B, S) and src_valid_len (B,), got "
                             f"{tuple(src.shape)} and {tuple(src_valid_len.shape)}")
        B = src.shape[0]
        n = src_valid_len.clamp(min=1, max=src.shape[1])
        rows = torch.arange(B, device=src.device)
        x = self.drop(self.embedding(src))  # (B, S, E)
        finals = []
        for layer, fwd in enumerate(self.forward_layers):
            if layer:
                x = self.drop(x)
            out, _ = fwd(x)  # (B, S, H)
            final = out[rows, n - 1]  # (B, H): the state after the last valid token
            if self.backward_layers is not None:
                # read each row from its last valid token back to its first
                back, _ = self.backward_layers[layer](reverse_padded(x, n))  # (B, S, H)
                back = reverse_padded(back, n)  # (B, S, H), step t aligned with x_t
                out = torch.cat([out, back], dim=-1)  # (B, S, 2H)
                final = torch.cat([final, back[:, 0]], dim=-1)  # (B, 2H)
            finals.append(final)
            x = out
        return x, torch.stack(finals)  # (B, S, D·H), (L, B, D·H)


class _DecoderBase(nn.Module):
    """Shared parts: config checks, encoder, target embedding, bridge, output layer."""

    def __init__(self, cfg: Seq2SeqRNNConfig) -> None:
        super().__init__()
        _check_config(cfg)
        self.config = cfg
        H, D = cfg.num_hiddens, 2 if cfg.bidirectional else 1
        self.encoder = RNNEncoder(cfg)
        self.embedding = nn.Embedding(cfg.tgt_vocab_size, cfg.embed_size)
        self.drop = Dropout(cfg.dropout, fused=cfg.fused)
        # s_0 = tanh(W_b [h_fwd; h_bwd] + b_b) when bidirectional, else s_0 = h_S
        self.bridge = nn.Linear(D * H, H) if cfg.bidirectional else None
        self.rnn = GRU(cfg.embed_size + D * H, H, num_layers=cfg.num_layers,
                       dropout=cfg.dropout, fused=cfg.fused)
        self.dense = nn.Linear(H, cfg.tgt_vocab_size)

    def _initial_hidden(self, finals: Tensor) -> Tensor:
        h = finals if self.bridge is None else torch.tanh(self.bridge(finals))  # (L, B, H)
        return h.transpose(0, 1).contiguous()  # (B, L, H): batch-first for the decoders

    @staticmethod
    def _check(src: Tensor, src_valid_len: Tensor, tgt_in: Tensor) -> None:
        if tgt_in.dim() != 2 or tgt_in.shape[0] != src.shape[0]:
            raise ShapeError(f"tgt_in must be (B, T) with B = {src.shape[0]}, got "
                             f"{tuple(tgt_in.shape)}")

    def step(self, tokens: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """One decoding step from the last token of each prefix: ``(log_probs (N, V), state)``."""
        logits, state = self._decode(tokens[:, -1:], state)  # (N, 1, V)
        return torch.log_softmax(logits[:, 0], dim=-1), state


@register_model("seq2seq-rnn", Seq2SeqRNNConfig,
                summary="GRU encoder-decoder translator, fixed context c = h_S (S2, S3)",
                inputs="token-pairs")
class Seq2SeqRNN(_DecoderBase):
    r"""GRU encoder-decoder with a fixed context vector (d2l's ``Seq2Seq``, padding-aware).

    Shape:
        - forward: src ``(B, S)``, src_valid_len ``(B,)``, tgt_in ``(B, T)`` -> ``(B, T, V)``.

    Example:
        >>> m = Seq2SeqRNN(Seq2SeqRNNConfig(src_vocab_size=10, tgt_vocab_size=12, embed_size=4,
        ...                num_hiddens=8, num_layers=1))
        >>> src, n = torch.tensor([[4, 5, 3]]), torch.tensor([3])
        >>> m(src, n, torch.tensor([[2, 6]])).shape
        torch.Size([1, 2, 12])
        >>> log_probs, state = m.step(torch.tensor([[2]]), m.init_state(src, n))
        >>> log_probs.shape, state["h"].shape
        (torch.Size([1, 12]), torch.Size([1, 1, 8]))

    Notes: S2, S3.
    """

    def init_state(self, src: Tensor, src_valid_len: Tensor) -> dict[str, Tensor]:
        _, finals = self.encoder(src, src_valid_len)  # (L, B, D·H)
        # c = the top layer's final state, read at every decoder step
        return {"h": self._initial_hidden(finals), "context": finals[-1]}

    def _decode(self, tgt_in: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        B, T = tgt_in.shape
        emb = self.drop(self.embedding(tgt_in))  # (B, T, E)
        ctx = state["context"][:, None, :].expand(B, T, -1)  # (B, T, D·H)
        # s_t = GRU([e(y_{t-1}); c], s_{t-1})
        out, h = self.rnn(torch.cat([emb, ctx], dim=-1), state["h"].transpose(0, 1).contiguous())
        # P(y_t | ...) = softmax(W_o s_t + b_o)
        logits = self.dense(out)  # (B, T, V)
        return logits, {"h": h.transpose(0, 1), "context": state["context"]}

    def forward(self, src: Tensor, src_valid_len: Tensor, tgt_in: Tensor) -> Tensor:
        self._check(src, src_valid_len, tgt_in)
        return self._decode(tgt_in, self.init_state(src, src_valid_len))[0]


@register_model("bahdanau", BahdanauConfig,
                summary="GRU encoder-decoder with Bahdanau (additive) attention (A10)",
                inputs="token-pairs")
class Bahdanau(_DecoderBase):
    r"""GRU encoder-decoder whose decoder attends over the encoder outputs at every step (A10).

    ``attention.W_q``, ``attention.W_k``, ``attention.w_v`` are an
    :class:`~deepnotes.nn.AdditiveAttention`'s parameters; the keys :math:`W_k h_t` are computed
    once per source and kept in the decoder state.

    Shape:
        - forward: src ``(B, S)``, src_valid_len ``(B,)``, tgt_in ``(B, T)`` -> ``(B, T, V)``;
          afterwards ``attention_weights`` is ``(B, T, S)``.

    Example:
        >>> m = Bahdanau(BahdanauConfig(src_vocab_size=10, tgt_vocab_size=12, embed_size=4,
        ...              num_hiddens=8, num_layers=1))
        >>> m(torch.tensor([[4, 5, 3, 1]]), torch.tensor([3]), torch.tensor([[2, 6]])).shape
        torch.Size([1, 2, 12])
        >>> m.attention_weights[0, :, 3]  # the padded position gets no weight
        tensor([0., 0.])

    Notes: A10, A3, S2.
    """

    def __init__(self, cfg: BahdanauConfig) -> None:
        super().__init__(cfg)
        H, D = cfg.num_hiddens, 2 if cfg.bidirectional else 1
        A = cfg.attention_hiddens or H
        self.attention = AdditiveAttention(key_size=D * H, query_size=H, num_hiddens=A)
        self.attention_weights: Tensor | None = None
        self.attention_live: Tensor | None = None
        if cfg.copy:
            # p_gen = σ(w_c·c_t + w_s·s_t + w_x·e(y_{t-1}) + b)
            self.p_gen = nn.Linear(D * H + H + cfg.embed_size, 1)
            # source id -> the target id of the same token (-1: none); see set_copy_map
            self.register_buffer("copy_map", torch.full((cfg.src_vocab_size,), -1,
                                                        dtype=torch.long))

    def set_copy_map(self, copy_map: Tensor) -> None:
        """Which target token copying source token ``i`` writes: ``copy_map[i]`` (-1: none),
        e.g. from :func:`deepnotes.tasks.translation.copy_map`."""
        if not self.config.copy:
            raise ConfigError("set_copy_map needs a bahdanau model built with copy=True")
        if copy_map.shape != self.copy_map.shape or int(copy_map.max()) >= \
                self.config.tgt_vocab_size:
            raise ShapeError(f"copy_map must be ({self.config.src_vocab_size},) of target ids "
                             f"< {self.config.tgt_vocab_size} or -1, got {tuple(copy_map.shape)}")
        self.copy_map.copy_(copy_map)

    def init_state(self, src: Tensor, src_valid_len: Tensor) -> dict[str, Tensor]:
        enc, finals = self.encoder(src, src_valid_len)  # (B, S, D·H), (L, B, D·H)
        keys = self.attention.W_k(enc)  # (B, S, A): W_k h_t, once per source
        state = {"h": self._initial_hidden(finals), "enc": enc, "keys": keys,
                 "valid_len": src_valid_len.clamp(min=1)}
        if self.config.copy:
            state["copy_ids"] = self.copy_map[src]  # (B, S): target id of each source token
        return state

    def _decode(self, tgt_in: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        emb = self.drop(self.embedding(tgt_in))  # (B, T, E)
        h = state["h"].transpose(0, 1).contiguous()  # (L, B, H)
        w_v = self.attention.w_v.weight.reshape(-1)  # (A,)
        outs, weights, contexts = [], [], []
        for t in range(tgt_in.shape[1]):
            query = self.attention.W_q(h[-1])  # (B, A): W_q s_{t-1}, the top layer
            # a(s, h_j) = w_v^T tanh(W_q s + W_k h_j)
            scores = torch.tanh(query[:, None, :] + state["keys"]) @ w_v  # (B, S)
            alpha = masked_softmax(scores[:, None, :], state["valid_len"])  # (B, 1, S)
            # c_t = Σ_j α_j h_j
            context = alpha @ state["enc"]  # (B, 1, D·H)
            # s_t = GRU([e(y_{t-1}); c_t], s_{t-1})
            out, h = self.rnn(torch.cat([emb[:, t:t + 1], context], dim=-1), h)  # (B, 1, H)
            outs.append(out)
            weights.append(alpha)
            contexts.append(context)
        alphas = torch.cat(weights, dim=1)  # (B, T, S)
        self.attention_weights = alphas.detach()
        # kept with its graph while training, for a loss on the attention (guided attention)
        self.attention_live = alphas if torch.is_grad_enabled() else None
        outs_t = torch.cat(outs, dim=1)  # (B, T, H)
        logits = self.dense(outs_t)  # (B, T, V)
        if self.config.copy:
            logits = self._copy_mix(logits, alphas, torch.cat(contexts, dim=1), outs_t, emb,
                                    state["copy_ids"])
        return logits, {**state, "h": h.transpose(0, 1)}

    def _copy_mix(self, logits: Tensor, alphas: Tensor, contexts: Tensor, outs: Tensor,
                  emb: Tensor, copy_ids: Tensor) -> Tensor:
        r"""The pointer-generator's output as log-probabilities (See et al., 2017):

        .. math::
            P(w) = \frac{p_{gen} P_{vocab}(w) + (1 - p_{gen}) \sum_{j: m(x_j) = w}
            \alpha_{t,j}}{p_{gen} + (1 - p_{gen}) \sum_{j: m(x_j) \ne -1} \alpha_{t,j}}

        with :math:`m` the copy map (source tokens without a target twin are not copied; the
        denominator renormalises, and is 1 when every source token has one). Log-probabilities
        go through the usual log-softmax unchanged, so losses and decoders need no change.
        """
        # p_gen = σ(w·[c_t; s_t; e(y_{t-1})] + b)
        p = torch.sigmoid(self.p_gen(torch.cat([contexts, outs, emb], dim=-1)))  # (B, T, 1)
        valid = (copy_ids >= 0)[:, None, :].to(alphas.dtype)  # (B, 1, S)
        a = alphas * valid  # (B, T, S): attention on copyable tokens
        # Σ_{j: m(x_j) = w} α_{t,j}, scattered onto the target vocabulary
        index = copy_ids.clamp(min=0)[:, None, :].expand_as(a)  # (B, T, S)
        copied = logits.new_zeros(logits.shape).scatter_add(-1, index, a)  # (B, T, V)
        mixed = p * torch.softmax(logits, dim=-1) + (1 - p) * copied  # (B, T, V)
        z = p + (1 - p) * a.sum(-1, keepdim=True)  # (B, T, 1)
        return torch.log(mixed / z)

    def forward(self, src: Tensor, src_valid_len: Tensor, tgt_in: Tensor) -> Tensor:
        self._check(src, src_valid_len, tgt_in)
        return self._decode(tgt_in, self.init_state(src, src_valid_len))[0]
