r"""Transformer blocks: position-wise FFN, add & norm, encoder block, decoder block.

An encoder block (notes A11) is multi-head self-attention, then add & LayerNorm, then a
position-wise feed-forward network, then add & LayerNorm again ("post-LN", as in the notes and
the original paper). A decoder block (A12) puts masked self-attention (no peeking at later
target tokens) and cross-attention (queries from the decoder, keys and values from the encoder
output) before its FFN. ``norm_first=True`` moves each LayerNorm in front of its sub-layer
("pre-LN", :math:`x + \mathrm{sub}(\mathrm{LN}(x))`), which trains deep stacks without warm-up.

Parameter names follow d2l (``attention``, ``addnorm1.norm``, ``ffn.dense1``, ...);
:data:`TORCH_ENCODER_NAMES` / :data:`TORCH_DECODER_NAMES` map them to
:class:`torch.nn.TransformerEncoderLayer` / :class:`torch.nn.TransformerDecoderLayer` and
:func:`load_torch_layer` copies such a layer's weights in, asserting every key and shape.

Notes: A11, A12.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.nn.activation import make_activation
from deepnotes.nn.attention import MultiHeadAttention
from deepnotes.nn.dropout import Dropout
from deepnotes.nn.norms import LayerNorm

__all__ = [
    "TORCH_DECODER_NAMES",
    "TORCH_ENCODER_NAMES",
    "AddNorm",
    "PositionWiseFFN",
    "TransformerDecoderBlock",
    "TransformerEncoderBlock",
    "load_torch_layer",
]

# our prefix -> torch's prefix, for every parameter of a block
TORCH_ENCODER_NAMES = {
    "attention.": "self_attn.",
    "addnorm1.norm.": "norm1.",
    "ffn.dense1.": "linear1.",
    "ffn.dense2.": "linear2.",
    "addnorm2.norm.": "norm2.",
}
TORCH_DECODER_NAMES = {
    "self_attention.": "self_attn.",
    "addnorm1.norm.": "norm1.",
    "cross_attention.": "multihead_attn.",
    "addnorm2.norm.": "norm2.",
    "ffn.dense1.": "linear1.",
    "ffn.dense2.": "linear2.",
    "addnorm3.norm.": "norm3.",
}
# the FFN activations torch.nn.TransformerEncoderLayer also offers
_FFN_ACTIVATIONS = ("relu", "gelu")


def _check_dropout(p: float) -> float:
    if not 0.0 <= p < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {p}")
    return float(p)


class PositionWiseFFN(nn.Module):
    r"""The same two-layer MLP applied to every position on its own.

    .. math::
        \mathrm{FFN}(x) = W_2\, \mathrm{drop}(\sigma(W_1 x + b_1)) + b_2

    Args:
        embed_dim: ``E``, input and output width. ffn_hidden: width of the hidden layer.
        dropout: after the activation (as torch's layers). Default ``0``.
        activation: ``"relu"`` or ``"gelu"``. Default ``"relu"``.
        fused: torch's kernels for activation and dropout. Default ``True``.

    Shape:
        - Input: ``(B, T, E)``. Output: ``(B, T, E)``.

    Example:
        >>> PositionWiseFFN(4, 8)(torch.ones(2, 3, 4)).shape
        torch.Size([2, 3, 4])

    Notes: A11.
    """

    def __init__(self, embed_dim: int, ffn_hidden: int, dropout: float = 0.0,
                 activation: str = "relu", fused: bool = True) -> None:
        super().__init__()
        act = make_activation(activation, fused, _FFN_ACTIVATIONS)  # ConfigError naming them
        if int(embed_dim) < 1 or int(ffn_hidden) < 1:
            raise ConfigError(f"embed_dim and ffn_hidden must be >= 1, got {embed_dim}, "
                              f"{ffn_hidden}")
        self.dense1 = nn.Linear(embed_dim, ffn_hidden)  # W_1, b_1
        self.activation = act
        self.dropout = Dropout(_check_dropout(dropout), fused=fused)
        self.dense2 = nn.Linear(ffn_hidden, embed_dim)  # W_2, b_2

    def forward(self, x: Tensor) -> Tensor:
        # W_2 drop(σ(W_1 x + b_1)) + b_2, position by position
        return self.dense2(self.dropout(self.activation(self.dense1(x))))


class AddNorm(nn.Module):
    r"""Residual connection, then layer normalisation: :math:`\mathrm{LN}(x + \mathrm{drop}(y))`.

    ``y`` is the sub-layer's output on ``x``. :meth:`pre_norm` gives the pre-LN form
    :math:`x + \mathrm{drop}(\mathrm{sub}(\mathrm{LN}(x)))` with the same parameters.

    Args:
        normalized_shape: ``E``. dropout: on ``y`` before the addition. Default ``0``.
        eps: LayerNorm's :math:`\epsilon`. Default ``1e-5``. fused: torch's kernels.

    Shape:
        - x, y: ``(B, T, E)``. Output: ``(B, T, E)``.

    Example:
        >>> an = AddNorm(4)
        >>> an(torch.ones(2, 3, 4), torch.randn(2, 3, 4)).shape
        torch.Size([2, 3, 4])

    Notes: A11.
    """

    def __init__(self, normalized_shape: int, dropout: float = 0.0, eps: float = 1e-5,
                 fused: bool = True) -> None:
        super().__init__()
        self.dropout = Dropout(_check_dropout(dropout), fused=fused)
        self.norm = LayerNorm(normalized_shape, eps=eps, fused=fused)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        if x.shape != y.shape:
            raise ShapeError(f"AddNorm needs x and y of one shape, got {tuple(x.shape)} and "
                             f"{tuple(y.shape)}")
        # LN(x + dropout(y))
        return self.norm(x + self.dropout(y))

    def pre_norm(self, x: Tensor, sublayer) -> Tensor:
        """Pre-LN residual step: ``x + dropout(sublayer(LN(x)))``."""
        return x + self.dropout(sublayer(self.norm(x)))


class TransformerEncoderBlock(nn.Module):
    r"""Transformer encoder block (post-LN by default).

    .. math::
        Y = \mathrm{LN}(X + \mathrm{MHA}(X, X, X)), \qquad
        Z = \mathrm{LN}(Y + \mathrm{FFN}(Y))

    With ``norm_first=True`` (pre-LN): :math:`Y = X + \mathrm{MHA}(\mathrm{LN}(X))`,
    :math:`Z = Y + \mathrm{FFN}(\mathrm{LN}(Y))`.

    Args:
        embed_dim: ``E``. num_heads: ``h``. ffn_hidden: FFN width.
        dropout: on the attention weights, inside the FFN and on each residual branch.
            Default ``0``.
        activation: ``"relu"`` or ``"gelu"``. norm_first: pre-LN. Default ``False``.
        eps: LayerNorm's :math:`\epsilon`. fused: torch's kernels everywhere. Default ``True``.

    Forward args:
        valid_lens: ``(B,)`` keys at positions ``>= len`` are ignored (d2l style), or
        key_padding_mask: ``(B, T)`` bool, ``True`` = padding (torch style).
        need_weights: keep the (head-averaged) attention weights in ``attention_weights``.

    Shape:
        - Input: ``(B, T, E)``. Output: ``(B, T, E)``.

    Example:
        >>> blk = TransformerEncoderBlock(8, 2, 16)
        >>> blk(torch.ones(2, 5, 8), valid_lens=torch.tensor([3, 5])).shape
        torch.Size([2, 5, 8])

    Notes: A11.
    """

    def __init__(self, embed_dim: int, num_heads: int, ffn_hidden: int, dropout: float = 0.0,
                 activation: str = "relu", norm_first: bool = False, eps: float = 1e-5,
                 bias: bool = True, fused: bool = True) -> None:
        super().__init__()
        p = _check_dropout(dropout)
        self.norm_first = norm_first
        self.attention = MultiHeadAttention(embed_dim, num_heads, dropout=p, bias=bias,
                                            fused=fused)
        self.addnorm1 = AddNorm(embed_dim, p, eps, fused=fused)
        self.ffn = PositionWiseFFN(embed_dim, ffn_hidden, p, activation, fused=fused)
        self.addnorm2 = AddNorm(embed_dim, p, eps, fused=fused)
        self.attention_weights: Tensor | None = None

    def forward(self, x: Tensor, valid_lens: Tensor | None = None,
                key_padding_mask: Tensor | None = None, attn_mask: Tensor | None = None,
                need_weights: bool = False) -> Tensor:
        if x.dim() != 3:
            raise ShapeError(f"TransformerEncoderBlock expects (B, T, E), got {tuple(x.shape)}")

        def self_attention(h: Tensor) -> Tensor:
            out, w = self.attention(h, h, h, key_padding_mask=key_padding_mask,
                                    attn_mask=attn_mask, valid_lens=valid_lens,
                                    need_weights=need_weights)
            self.attention_weights = None if w is None else w.detach()  # (B, T, T)
            return out

        if self.norm_first:
            # Y = X + MHA(LN(X)); Z = Y + FFN(LN(Y))
            y = self.addnorm1.pre_norm(x, self_attention)
            return self.addnorm2.pre_norm(y, self.ffn)
        # Y = LN(X + MHA(X)); Z = LN(Y + FFN(Y))
        y = self.addnorm1(x, self_attention(x))
        return self.addnorm2(y, self.ffn(y))

    def extra_repr(self) -> str:
        return f"norm_first={self.norm_first}"


class TransformerDecoderBlock(nn.Module):
    r"""Transformer decoder block: masked self-attention, cross-attention, FFN (post-LN by default).

    .. math::
        Y = \mathrm{LN}(X + \mathrm{MHA}_{\text{causal}}(X, X, X)), \quad
        Z = \mathrm{LN}(Y + \mathrm{MHA}(Y, M, M)), \quad
        O = \mathrm{LN}(Z + \mathrm{FFN}(Z))

    ``M`` is the encoder output (memory). Query ``i`` of the self-attention sees target
    positions ``j <= i`` only, so training with the whole shifted target (teacher forcing)
    computes what step-by-step decoding computes. For decoding, ``past`` holds the inputs
    ``X`` of the positions decoded before (a cache): the new positions attend to
    ``[past; X]`` and nothing is recomputed for the old ones. ``causal=False`` lets every
    position see every other (the non-autoregressive decoder, A13).

    Args:
        embed_dim, num_heads, ffn_hidden, dropout, activation, norm_first, eps, bias, fused:
            as :class:`TransformerEncoderBlock`.

    Forward args:
        memory: ``(B, S, E)``. memory_valid_lens: ``(B,)``, or memory_key_padding_mask:
        ``(B, S)`` bool ``True`` = padding. tgt_key_padding_mask: ``(B, T)``.
        past: ``(B, P, E)`` inputs of earlier positions (or ``None``).
        causal: mask later positions. Default ``True``.
        need_weights: keep ``self_attention_weights`` ``(B, T, P+T)`` and
        ``cross_attention_weights`` ``(B, T, S)`` (head averages).

    Shape:
        - x: ``(B, T, E)``. Output: ``(B, T, E)``.

    Example:
        >>> blk = TransformerDecoderBlock(8, 2, 16)
        >>> blk(torch.ones(2, 4, 8), torch.ones(2, 6, 8), torch.tensor([6, 2])).shape
        torch.Size([2, 4, 8])

    Notes: A12, A13.
    """

    def __init__(self, embed_dim: int, num_heads: int, ffn_hidden: int, dropout: float = 0.0,
                 activation: str = "relu", norm_first: bool = False, eps: float = 1e-5,
                 bias: bool = True, fused: bool = True) -> None:
        super().__init__()
        p = _check_dropout(dropout)
        self.norm_first = norm_first
        self.self_attention = MultiHeadAttention(embed_dim, num_heads, dropout=p, bias=bias,
                                                 fused=fused)
        self.addnorm1 = AddNorm(embed_dim, p, eps, fused=fused)
        self.cross_attention = MultiHeadAttention(embed_dim, num_heads, dropout=p, bias=bias,
                                                  fused=fused)
        self.addnorm2 = AddNorm(embed_dim, p, eps, fused=fused)
        self.ffn = PositionWiseFFN(embed_dim, ffn_hidden, p, activation, fused=fused)
        self.addnorm3 = AddNorm(embed_dim, p, eps, fused=fused)
        self.self_attention_weights: Tensor | None = None
        self.cross_attention_weights: Tensor | None = None

    def _self_mask(self, t: int, p: int, causal: bool, device: torch.device) -> Tensor | None:
        """torch-style (``True`` = not allowed) mask ``(T, P+T)``: query ``i`` is position
        ``P + i`` and may see keys ``j <= P + i``."""
        if not causal or t == 1:
            return None
        i = torch.arange(t, device=device)[:, None]
        j = torch.arange(p + t, device=device)[None, :]
        return j > p + i  # (T, P+T)

    def forward(self, x: Tensor, memory: Tensor, memory_valid_lens: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None,
                tgt_key_padding_mask: Tensor | None = None, past: Tensor | None = None,
                causal: bool = True, need_weights: bool = False) -> Tensor:
        if x.dim() != 3 or memory.dim() != 3 or memory.shape[0] != x.shape[0]:
            raise ShapeError(f"TransformerDecoderBlock expects x (B, T, E) and memory (B, S, E), "
                             f"got {tuple(x.shape)} and {tuple(memory.shape)}")
        if past is not None and tgt_key_padding_mask is not None:
            raise ConfigError("tgt_key_padding_mask cannot be combined with a past cache")
        p = 0 if past is None else past.shape[1]
        mask = self._self_mask(x.shape[1], p, causal, x.device)

        def self_attention(h: Tensor) -> Tensor:
            if past is None:
                kv = h
            else:
                # keys/values: every earlier position and the new ones, [past; X]
                kv = torch.cat([self.addnorm1.norm(past) if self.norm_first else past, h],
                               dim=1)  # (B, P+T, E)
            out, w = self.self_attention(h, kv, kv, key_padding_mask=tgt_key_padding_mask,
                                         attn_mask=mask, need_weights=need_weights)
            self.self_attention_weights = None if w is None else w.detach()
            return out

        def cross_attention(h: Tensor) -> Tensor:
            # queries from the decoder, keys and values from the encoder output
            out, w = self.cross_attention(h, memory, memory,
                                          key_padding_mask=memory_key_padding_mask,
                                          valid_lens=memory_valid_lens,
                                          need_weights=need_weights)
            self.cross_attention_weights = None if w is None else w.detach()  # (B, T, S)
            return out

        if self.norm_first:
            y = self.addnorm1.pre_norm(x, self_attention)
            z = self.addnorm2.pre_norm(y, cross_attention)
            return self.addnorm3.pre_norm(z, self.ffn)
        # Y = LN(X + masked-MHA(X)); Z = LN(Y + MHA(Y, M, M)); O = LN(Z + FFN(Z))
        y = self.addnorm1(x, self_attention(x))
        z = self.addnorm2(y, cross_attention(y))
        return self.addnorm3(z, self.ffn(z))

    def extra_repr(self) -> str:
        return f"norm_first={self.norm_first}"


def load_torch_layer(block: nn.Module, layer: nn.Module) -> None:
    """Copy a ``torch.nn.TransformerEncoderLayer``/``DecoderLayer``'s weights into ``block``.

    Every key of both state dicts must be matched through the name table and have the same
    shape; anything else is an error (so a silent half-load cannot happen).

    Example:
        >>> t = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
        >>> b = TransformerEncoderBlock(8, 2, 16)
        >>> load_torch_layer(b, t)
        >>> torch.equal(b.ffn.dense1.weight, t.linear1.weight)
        True

    Notes: A11, A12.
    """
    if isinstance(block, TransformerEncoderBlock):
        table = TORCH_ENCODER_NAMES
    elif isinstance(block, TransformerDecoderBlock):
        table = TORCH_DECODER_NAMES
    else:
        raise ConfigError(f"load_torch_layer needs a Transformer block, got {type(block).__name__}")
    theirs = layer.state_dict()
    ours = block.state_dict()
    mapped: dict[str, Tensor] = {}
    used: set[str] = set()
    for key in ours:
        prefix = next((p for p in table if key.startswith(p)), None)
        if prefix is None:
            raise ConfigError(f"no torch name for parameter {key!r}")
        tkey = table[prefix] + key[len(prefix):]
        if tkey not in theirs:
            raise ConfigError(f"torch layer has no {tkey!r} (for our {key!r}); is it the "
                              f"matching layer type?")
        if theirs[tkey].shape != ours[key].shape:
            raise ShapeError(f"{key}: ours {tuple(ours[key].shape)} vs torch {tkey} "
                             f"{tuple(theirs[tkey].shape)}")
        mapped[key] = theirs[tkey]
        used.add(tkey)
    if set(theirs) - used:
        raise ConfigError(f"torch parameters left unmatched: {sorted(set(theirs) - used)}")
    block.load_state_dict(mapped)
