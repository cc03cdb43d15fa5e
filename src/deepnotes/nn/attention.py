r"""Attention layers: additive, scaled dot-product and multi-head attention.

:class:`MultiHeadAttention` owns the parameters of :class:`torch.nn.MultiheadAttention` under
the same names (``in_proj_weight`` packed ``(3E, E)``, ``in_proj_bias``, ``out_proj.weight``,
``out_proj.bias``; ``q_proj_weight``/``k_proj_weight``/``v_proj_weight`` when ``kdim`` or
``vdim`` differ from ``E``), so state dicts load both ways. Its masks follow torch's module:
``key_padding_mask`` and a bool ``attn_mask`` are ``True`` where a key is **ignored**; float
masks are added to the scores. The d2l-style ``valid_lens`` and ``is_causal`` are there too.

Notes: A3, A4, A5.
"""

from __future__ import annotations

import torch
import torch.nn.functional as TF
from torch import Tensor, nn

from deepnotes import functional as F
from deepnotes.errors import ConfigError, ShapeError

__all__ = ["AdditiveAttention", "DotProductAttention", "MultiHeadAttention"]


def _check_p(p: float) -> float:
    if not 0.0 <= p <= 1.0:
        raise ConfigError(f"attention dropout must be in [0, 1], got {p}")
    return float(p)


def _attend(fused: bool, query: Tensor, key: Tensor, value: Tensor,
            **kwargs) -> tuple[Tensor, Tensor | None]:
    """Softmax attention pooling on one of the two paths: torch's fused kernel (no weights) or
    the formula (:func:`deepnotes.functional.scaled_dot_product_attention`, with weights)."""
    if fused:
        return F.fused_scaled_dot_product_attention(query, key, value, **kwargs), None
    return F.scaled_dot_product_attention(query, key, value, **kwargs)


class AdditiveAttention(nn.Module):
    r"""Additive attention pooling (d2l's ``AdditiveAttention``); keys and queries may differ.

    .. math::
        a(q, k) = w_v^\top \tanh(W_q q + W_k k), \qquad
        f(q) = \sum_j \mathrm{softmax}_j\, a(q, k_j)\; v_j

    Args:
        key_size: ``Dk``. query_size: ``Dq``. num_hiddens: ``h``, rows of ``W_q``, ``W_k``.
        dropout: dropout on the attention weights. Default ``0``.

    The last weights are kept in ``attention_weights`` ``(B, Tq, Tk)`` (for heat maps).

    Shape:
        - queries ``(B, Tq, Dq)``, keys ``(B, Tk, Dk)``, values ``(B, Tk, Dv)``,
          valid_lens ``(B,)`` or ``(B, Tq)``. Output: ``(B, Tq, Dv)``.

    Example:
        >>> att = AdditiveAttention(key_size=2, query_size=20, num_hiddens=8)
        >>> att(torch.ones(2, 1, 20), torch.ones(2, 10, 2), torch.ones(2, 10, 4),
        ...     torch.tensor([2, 6])).shape
        torch.Size([2, 1, 4])

    Notes: A3.
    """

    def __init__(self, key_size: int, query_size: int, num_hiddens: int,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.W_k = nn.Linear(key_size, num_hiddens, bias=False)
        self.W_q = nn.Linear(query_size, num_hiddens, bias=False)
        self.w_v = nn.Linear(num_hiddens, 1, bias=False)
        self.dropout = _check_p(dropout)
        self.attention_weights: Tensor | None = None

    def forward(self, queries: Tensor, keys: Tensor, values: Tensor,
                valid_lens: Tensor | None = None) -> Tensor:
        p = self.dropout if self.training else 0.0
        out, w = F.additive_attention(queries, keys, values, self.W_q.weight, self.W_k.weight,
                                      self.w_v.weight, valid_lens, dropout_p=p)
        self.attention_weights = w.detach()
        return out


class DotProductAttention(nn.Module):
    r"""Scaled dot-product attention pooling (d2l's ``DotProductAttention``), no parameters.

    .. math::
        f(Q, K, V) = \mathrm{softmax}\!\left(\frac{Q K^\top}{\sqrt d}\right) V

    Args:
        dropout: dropout on the attention weights (training only). Default ``0``.
        fused: torch's kernel (:func:`deepnotes.functional.fused_scaled_dot_product_attention`,
            ``True``) or the formula (:func:`deepnotes.functional.scaled_dot_product_attention`).
            Default ``True``.
        need_weights: run the formula and keep the weights in ``attention_weights``.
            Default ``False``.

    Shape:
        - queries ``(B, Tq, D)``, keys ``(B, Tk, D)``, values ``(B, Tk, Dv)``; ``valid_lens``
          ``(B,)`` or ``(B, Tq)``; ``attn_mask`` bool keep mask (``True`` = may attend) or
          float, broadcastable to ``(B, Tq, Tk)``. Output: ``(B, Tq, Dv)``.

    Example:
        >>> att = DotProductAttention(need_weights=True)
        >>> out = att(torch.ones(2, 1, 2), torch.ones(2, 10, 2), torch.ones(2, 10, 4),
        ...           torch.tensor([2, 6]))
        >>> att.attention_weights[0, 0, :3]
        tensor([0.5000, 0.5000, 0.0000])

    Notes: A3, A4.
    """

    def __init__(self, dropout: float = 0.0, fused: bool = True,
                 need_weights: bool = False) -> None:
        super().__init__()
        self.dropout = _check_p(dropout)
        self.fused = fused
        self.need_weights = need_weights
        self.attention_weights: Tensor | None = None

    def forward(self, queries: Tensor, keys: Tensor, values: Tensor,
                valid_lens: Tensor | None = None, attn_mask: Tensor | None = None,
                causal: bool = False) -> Tensor:
        # the weights exist only on the formula path: need_weights runs it
        out, w = _attend(self.fused and not self.need_weights, queries, keys, values,
                         valid_lens=valid_lens, attn_mask=attn_mask, causal=causal,
                         dropout_p=self.dropout if self.training else 0.0)
        self.attention_weights = w.detach() if self.need_weights else None
        return out

    def extra_repr(self) -> str:
        return f"dropout={self.dropout}, fused={self.fused}, need_weights={self.need_weights}"


class MultiHeadAttention(nn.Module):
    r"""Multi-head attention: ``h`` heads attend in parallel in their own subspaces.

    .. math::
        \mathrm{head}_i = \mathrm{softmax}\!\left(\frac{(Q W^Q_i)(K W^K_i)^\top}{\sqrt{d}}
        + M\right) V W^V_i, \qquad
        \mathrm{MHA}(Q, K, V) = [\mathrm{head}_1, \dots, \mathrm{head}_h]\, W^O

    with :math:`d = E/h`. The per-head projections are the rows of one ``(3E, E)`` matrix
    (``in_proj_weight``: ``W^Q``, ``W^K``, ``W^V`` stacked), ``W^O`` is ``out_proj``.

    Args:
        embed_dim: ``E``. num_heads: ``h`` (must divide ``E``).
        dropout: dropout on the attention weights (training only). Default ``0``.
        bias: biases in the projections. Default ``True``.
        kdim, vdim: feature sizes of key and value (default ``E``).
        batch_first: inputs ``(B, T, E)`` (``True``) or ``(T, B, E)``. Default ``True``.
        fused: ``torch.nn.functional.scaled_dot_product_attention`` for the pooling
            (``True``) or the formula (``False``); weights are returned only by the formula,
            so ``need_weights=True`` runs it. Default ``True``.

    Forward args:
        key_padding_mask: ``(B, Tk)``, bool ``True`` = padding (ignored), or float (added).
        attn_mask: ``(Tq, Tk)``, ``(B·h, Tq, Tk)`` or ``(B, h|1, Tq, Tk)``; bool ``True`` =
            not allowed, or float (added).
        valid_lens: ``(B,)`` or ``(B, Tq)``: keys at positions ``>= len`` are ignored (d2l).
        need_weights: also return the weights. average_attn_weights: average them over heads.
        is_causal: query ``i`` sees keys ``j <= i`` only.

    Shape:
        - query ``(B, Tq, E)``, key ``(B, Tk, kdim)``, value ``(B, Tk, vdim)``.
        - Output: ``((B, Tq, E), weights (B, Tq, Tk) or (B, h, Tq, Tk) or None)``.

    Example:
        >>> mha = MultiHeadAttention(8, 2)
        >>> x = torch.randn(3, 5, 8)
        >>> out, w = mha(x, x, x, valid_lens=torch.tensor([5, 3, 1]), need_weights=True)
        >>> out.shape, w.shape, w[2, :, 1:].abs().max().item()
        (torch.Size([3, 5, 8]), torch.Size([3, 5, 5]), 0.0)

    Notes: A4, A5.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 kdim: int | None = None, vdim: int | None = None, batch_first: bool = True,
                 fused: bool = True, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if int(embed_dim) < 1 or int(num_heads) < 1 or embed_dim % num_heads:
            raise ConfigError(f"embed_dim ({embed_dim}) must be a positive multiple of "
                              f"num_heads ({num_heads})")
        kw = {"device": device, "dtype": dtype}
        self.embed_dim, self.num_heads = int(embed_dim), int(num_heads)
        self.head_dim = self.embed_dim // self.num_heads
        self.kdim = self.embed_dim if kdim is None else int(kdim)
        self.vdim = self.embed_dim if vdim is None else int(vdim)
        self._qkv_same_embed_dim = self.kdim == self.embed_dim and self.vdim == self.embed_dim
        self.dropout = _check_p(dropout)
        self.batch_first = batch_first
        self.fused = fused
        e = self.embed_dim
        if self._qkv_same_embed_dim:
            # W^Q, W^K, W^V stacked: (3E, E)
            self.in_proj_weight = nn.Parameter(torch.empty(3 * e, e, **kw))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = nn.Parameter(torch.empty(e, e, **kw))
            self.k_proj_weight = nn.Parameter(torch.empty(e, self.kdim, **kw))
            self.v_proj_weight = nn.Parameter(torch.empty(e, self.vdim, **kw))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = nn.Parameter(torch.empty(3 * e, **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = nn.Linear(e, e, bias=bias, **kw)  # W^O
        self.attention_weights: Tensor | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Torch's initialisation: Xavier-uniform projections, zero biases."""
        if self._qkv_same_embed_dim:
            nn.init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                nn.init.xavier_uniform_(w)
        self.out_proj.reset_parameters()
        if self.in_proj_bias is not None:
            nn.init.zeros_(self.in_proj_bias)
            nn.init.zeros_(self.out_proj.bias)

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        b = self.in_proj_bias
        if self._qkv_same_embed_dim and query is key and key is value:
            # self-attention: one matmul with the packed (3E, E) weight
            return TF.linear(query, self.in_proj_weight, b).chunk(3, dim=-1)  # 3 x (B, T, E)
        if self._qkv_same_embed_dim:
            w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        else:
            w_q, w_k, w_v = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        b_q, b_k, b_v = b.chunk(3) if b is not None else (None, None, None)
        return TF.linear(query, w_q, b_q), TF.linear(key, w_k, b_k), TF.linear(value, w_v, b_v)

    def _masks(self, b: int, tq: int, tk: int, key_padding_mask: Tensor | None,
               attn_mask: Tensor | None, dtype: torch.dtype) -> tuple[Tensor | None, Tensor | None]:
        """torch-style masks (True = ignore) -> (bool keep mask, float bias), (B|1, h|1, Tq, Tk)."""
        keep: Tensor | None = None
        bias: Tensor | None = None
        if key_padding_mask is not None:
            if key_padding_mask.shape != (b, tk):
                raise ShapeError(f"key_padding_mask must be (B, Tk) = ({b}, {tk}), got "
                                 f"{tuple(key_padding_mask.shape)}")
            m = key_padding_mask.view(b, 1, 1, tk)
            keep, bias = (~m, None) if m.dtype == torch.bool else (None, m.to(dtype))
        if attn_mask is not None:
            h = self.num_heads
            if attn_mask.dim() == 2 and attn_mask.shape == (tq, tk):
                m = attn_mask.view(1, 1, tq, tk)
            elif attn_mask.dim() == 3 and attn_mask.shape == (b * h, tq, tk):
                m = attn_mask.view(b, h, tq, tk)
            elif attn_mask.dim() == 4 and attn_mask.shape[-2:] == (tq, tk):
                m = attn_mask
            else:
                raise ShapeError(f"attn_mask must be (Tq, Tk) = ({tq}, {tk}), (B*h, Tq, Tk) = "
                                 f"({b * h}, {tq}, {tk}) or (B, h, Tq, Tk), got "
                                 f"{tuple(attn_mask.shape)}")
            if m.dtype == torch.bool:
                keep = ~m if keep is None else keep & ~m
            else:
                bias = m.to(dtype) if bias is None else bias + m.to(dtype)
        return keep, bias

    def forward(self, query: Tensor, key: Tensor, value: Tensor,
                key_padding_mask: Tensor | None = None, attn_mask: Tensor | None = None,
                valid_lens: Tensor | None = None, need_weights: bool = False,
                is_causal: bool = False,
                average_attn_weights: bool = True) -> tuple[Tensor, Tensor | None]:
        if query.dim() != 3 or key.dim() != 3 or value.dim() != 3:
            raise ShapeError(f"MultiHeadAttention expects 3-d query, key, value, got "
                             f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
        if not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        b, tq, e = query.shape
        tk = key.shape[1]
        if (e != self.embed_dim or key.shape[2] != self.kdim or value.shape[2] != self.vdim
                or key.shape[0] != b or value.shape[:2] != key.shape[:2]):
            raise ShapeError(f"expected query (B, Tq, {self.embed_dim}), key (B, Tk, "
                             f"{self.kdim}), value (B, Tk, {self.vdim}); got {tuple(query.shape)}"
                             f", {tuple(key.shape)}, {tuple(value.shape)} (batch first)")
        q, k, v = self._project(query, key, value)
        h, d = self.num_heads, self.head_dim
        q = q.view(b, tq, h, d).transpose(1, 2)  # (B, h, Tq, D)
        k = k.view(b, tk, h, d).transpose(1, 2)  # (B, h, Tk, D)
        v = v.view(b, tk, h, d).transpose(1, 2)  # (B, h, Tk, D)
        keep, bias = self._masks(b, tq, tk, key_padding_mask, attn_mask, q.dtype)
        # the weights exist only on the formula path: need_weights runs it
        out, w = _attend(self.fused and not need_weights, q, k, v, valid_lens=valid_lens,
                         attn_mask=keep, attn_bias=bias, causal=is_causal,
                         dropout_p=self.dropout if self.training else 0.0)
        # out (B, h, Tq, D); w (B, h, Tq, Tk) or None
        # concat the heads: [head_1, ..., head_h]
        out = out.transpose(1, 2).reshape(b, tq, e)  # (B, Tq, E)
        # ... W^O
        out = self.out_proj(out)
        if not self.batch_first:
            out = out.transpose(0, 1)  # (Tq, B, E)
        if not need_weights:
            self.attention_weights = None
            return out, None
        if average_attn_weights:
            w = w.mean(dim=1)  # (B, Tq, Tk)
        self.attention_weights = w.detach()
        return out, w

    def extra_repr(self) -> str:
        extra = "" if self._qkv_same_embed_dim else f", kdim={self.kdim}, vdim={self.vdim}"
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"dropout={self.dropout}{extra}, batch_first={self.batch_first}, "
                f"fused={self.fused}")
