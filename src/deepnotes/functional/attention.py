r"""Attention as formulas: masks, masked softmax, additive and scaled dot-product attention.

A query :math:`q` scores every key :math:`k_j`; the scores become weights :math:`\alpha_j`
(softmax, or ReLU) and the output is the weighted sum of the values,
:math:`\sum_j \alpha(q, k_j)\, v_j` (attention pooling). Masks say which keys a query may see.

Mask convention (as :func:`torch.nn.functional.scaled_dot_product_attention`): a boolean mask
is ``True`` where a query **may attend** (keep); a float mask is added to the scores. Every
builder here (:func:`lengths_mask`, :func:`causal_mask`, :func:`window_mask`,
:func:`graph_mask`) returns such a keep mask. A query that may attend to nothing gets all-zero
weights and a zero output (never NaN).

Notes: A2, A3, A4, A7, A9.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as TF
from torch import Tensor

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.functional.dropout import dropout
from deepnotes.functional.softmax import softmax

__all__ = [
    "guided_attention_loss",
    "lengths_mask", "causal_mask", "window_mask", "banded_attention", "graph_mask",
    "masked_softmax",
    "additive_scores", "additive_attention", "scaled_dot_product_attention",
    "fused_scaled_dot_product_attention",
]


def lengths_mask(valid_lens: Tensor, num_queries: int, num_keys: int) -> Tensor:
    r"""Keep mask from valid lengths: query ``i`` of example ``b`` sees keys ``j < len``.

    .. math::
        \mathrm{keep}[b, i, j] = [\, j < \ell_b \,] \ \text{or}\ [\, j < \ell_{b,i} \,]

    Args:
        valid_lens: ``(B,)`` one length per example, or ``(B, Tq)`` one per query.
        num_queries: ``Tq``. num_keys: ``Tk``.

    Shape:
        - Output: ``(B, Tq, Tk)`` bool.

    Example:
        >>> lengths_mask(torch.tensor([1, 3]), 1, 3).int()
        tensor([[[1, 0, 0]],
        <BLANKLINE>
                [[1, 1, 1]]], dtype=torch.int32)

    Notes: A3.
    """
    if valid_lens.dim() == 1:
        lens = valid_lens[:, None, None]  # (B, 1, 1)
    elif valid_lens.dim() == 2 and valid_lens.shape[1] == num_queries:
        lens = valid_lens[:, :, None]  # (B, Tq, 1)
    else:
        raise ShapeError(f"valid_lens must have shape (B,) or (B, Tq={num_queries}), "
                         f"got {tuple(valid_lens.shape)}")
    j = torch.arange(num_keys, device=valid_lens.device)
    return (j < lens).expand(-1, num_queries, -1)  # (B, Tq, Tk)


def causal_mask(num_queries: int, num_keys: int | None = None,
                device: torch.device | str | None = None) -> Tensor:
    r"""Keep mask of masked self-attention: query ``i`` sees keys ``j <= i`` (no peeking ahead).

    Aligned top-left, as ``is_causal=True`` in torch: ``keep = tril(ones(Tq, Tk))``.

    Example:
        >>> causal_mask(3).int()
        tensor([[1, 0, 0],
                [1, 1, 0],
                [1, 1, 1]], dtype=torch.int32)

    Notes: A12.
    """
    num_keys = num_queries if num_keys is None else num_keys
    return torch.ones(num_queries, num_keys, dtype=torch.bool, device=device).tril()  # (Tq, Tk)


def window_mask(num_queries: int, window: int, num_keys: int | None = None,
                device: torch.device | str | None = None) -> Tensor:
    r"""Keep mask of truncated self-attention: position ``i`` sees ``j`` with :math:`|i-j| \le w`.

    Long sequences (speech) only need a neighbourhood; the cost falls from :math:`T^2` useful
    scores to :math:`T(2w+1)`. ``window=0`` sees only itself.

    Example:
        >>> window_mask(4, 1).int()
        tensor([[1, 1, 0, 0],
                [1, 1, 1, 0],
                [0, 1, 1, 1],
                [0, 0, 1, 1]], dtype=torch.int32)

    Notes: A7.
    """
    if int(window) < 0:
        raise ConfigError(f"window must be >= 0, got {window}")
    num_keys = num_queries if num_keys is None else num_keys
    i = torch.arange(num_queries, device=device)[:, None]
    j = torch.arange(num_keys, device=device)[None, :]
    # keep_ij = |i - j| <= w
    return (i - j).abs() <= int(window)  # (Tq, Tk)


def banded_attention(query: Tensor, key: Tensor, value: Tensor, window: int,
                     causal: bool = False, block: int | None = None,
                     scale: float | None = None) -> Tensor:
    r"""Truncated self-attention computed in blocks, so that time and memory grow as
    :math:`n \cdot w`, not :math:`n^2` (A7).

    Query :math:`i` attends to the keys :math:`j` with :math:`|i - j| \le w` (``causal``:
    :math:`i - w \le j \le i`):

    .. math:: o_i = \sum_{j \in N(i)} \frac{\exp(q_i \cdot k_j / \sqrt d)}
              {\sum_{j' \in N(i)} \exp(q_i \cdot k_{j'} / \sqrt d)}\, v_j

    — the same numbers as full attention with :func:`window_mask`, which computes all
    :math:`n^2` scores and throws most away. Here the queries are cut into blocks of ``block``
    positions (default :math:`\max(w, 16)`); block :math:`b` needs only the keys from
    :math:`bB - w` to :math:`(b+1)B - 1 + w`, a slice of :math:`B + 2w` keys (taken for all
    blocks at once with ``unfold`` from keys padded by :math:`w` on each side). The scores are
    :math:`n/B \times B \times (B + 2w)`, i.e. :math:`n(B + 2w)` instead of :math:`n^2`.

    Args:
        query, key, value: ``(..., n, d)``, ``(..., n, d)``, ``(..., n, dv)`` (self-attention:
            one sequence length).
        window: :math:`w \ge 0`.
        causal: only keys at or before the query.
        block: queries per block.
        scale: default :math:`1/\sqrt d`.

    Returns:
        ``(..., n, dv)``.

    Example:
        >>> q = torch.randn(2, 50, 8)
        >>> full, _ = scaled_dot_product_attention(q, q, q, attn_mask=window_mask(50, 3))
        >>> torch.allclose(banded_attention(q, q, q, window=3), full, atol=1e-6)
        True

    Notes: A7.
    """
    if int(window) < 0:
        raise ConfigError(f"window must be >= 0, got {window}")
    if query.shape[-2] != key.shape[-2] or key.shape[-2] != value.shape[-2]:
        raise ShapeError(f"banded attention is self-attention: query, key and value need one "
                         f"length, got {query.shape[-2]}, {key.shape[-2]}, {value.shape[-2]}")
    n = query.shape[-2]
    if n == 0:
        return value.new_zeros(*query.shape[:-1], value.shape[-1])
    w = min(int(window), n - 1)  # a wider window sees the same keys: all of them
    b = int(block) if block is not None else max(w, 16)
    if b < 1:
        raise ConfigError(f"block must be >= 1, got {block}")
    scale = query.shape[-1] ** -0.5 if scale is None else scale
    nb = -(-n // b)  # blocks
    pad_q = nb * b - n
    lead = query.shape[:-2]
    q = torch.nn.functional.pad(query, (0, 0, 0, pad_q))  # (..., nb*B, d)
    q = q.reshape(*lead, nb, b, query.shape[-1])  # (..., nb, B, d)
    span = b + 2 * w
    # keys padded by w in front and w + pad_q behind: block k reads rows [kB, kB + B + 2w)
    kp = torch.nn.functional.pad(key, (0, 0, w, w + pad_q))
    vp = torch.nn.functional.pad(value, (0, 0, w, w + pad_q))
    ks = kp.unfold(-2, span, b).transpose(-1, -2)  # (..., nb, B + 2w, d)
    vs = vp.unfold(-2, span, b).transpose(-1, -2)  # (..., nb, B + 2w, dv)
    scores = (q @ ks.transpose(-1, -2)) * scale  # (..., nb, B, B + 2w)
    # position of query (k, r): i = kB + r; of key slot s: j = kB - w + s
    r = torch.arange(b, device=query.device)[:, None]
    slot = torch.arange(span, device=query.device)[None, :]
    rel = slot - w - r  # j - i
    keep = (rel >= -w) & ((rel <= 0) if causal else (rel <= w))  # (B, B + 2w)
    start = torch.arange(nb, device=query.device)[:, None, None] * b
    j = start + slot[None] - w  # (nb, 1, B + 2w)
    keep = keep[None] & (j >= 0) & (j < n)  # (nb, B, B + 2w): no padded keys
    # padding queries (i >= n, cut off below) see every slot, so that no row is all -inf
    # (a NaN there would reach the gradients of the real keys through 0 · NaN)
    keep = keep | (start + r[None] >= n)
    scores = scores.masked_fill(~keep, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    out = weights @ vs  # (..., nb, B, dv)
    return out.reshape(*lead, nb * b, value.shape[-1])[..., :n, :]


def graph_mask(edges: Tensor | Sequence[tuple[int, int]] | None = None,
               num_nodes: int | None = None, *, adjacency: Tensor | None = None,
               self_loops: bool = True, directed: bool = False) -> Tensor:
    r"""Keep mask of self-attention on a graph: node ``i`` attends only to its neighbours ``j``.

    The edges already say which nodes are related, so only scores along edges are kept
    (a graph neural network layer). An edge ``(s, t)`` lets ``t`` attend to ``s``; unless
    ``directed``, also ``s`` to ``t``.

    Args:
        edges: ``(2, E)`` tensor of (source, target) rows, or a list of ``(s, t)`` pairs.
        num_nodes: ``N`` (default: largest node index + 1).
        adjacency: instead of ``edges``, an ``(N, N)`` matrix; nonzero ``A[i, j]``: ``i``
            sees ``j``.
        self_loops: every node also attends to itself. Default ``True``.
        directed: keep edges one way only. Default ``False``.

    Shape:
        - Output: ``(N, N)`` bool, ``keep[i, j]``: query node ``i`` may attend to node ``j``.

    Example:
        >>> graph_mask([(0, 1), (1, 2)], 4).int()
        tensor([[1, 1, 0, 0],
                [1, 1, 1, 0],
                [0, 1, 1, 0],
                [0, 0, 0, 1]], dtype=torch.int32)

    Notes: A9.
    """
    if (edges is None) == (adjacency is None):
        raise ConfigError("graph_mask needs exactly one of edges= or adjacency=")
    if adjacency is not None:
        if adjacency.dim() != 2 or adjacency.shape[0] != adjacency.shape[1]:
            raise ShapeError(f"adjacency must be square (N, N), got {tuple(adjacency.shape)}")
        keep = adjacency != 0
    else:
        e = torch.as_tensor(edges, dtype=torch.long)
        if e.numel() == 0:
            e = e.reshape(2, 0)
        elif e.dim() == 2 and e.shape[1] == 2 and e.shape[0] != 2:
            e = e.t()
        elif e.dim() == 2 and e.shape == (2, 2) and not isinstance(edges, Tensor):
            e = e.t()  # a list of two (s, t) pairs
        if e.dim() != 2 or e.shape[0] != 2:
            raise ShapeError(f"edges must be (2, E) or a list of (s, t) pairs, got "
                             f"{tuple(e.shape)}")
        n = int(e.max()) + 1 if num_nodes is None and e.numel() else int(num_nodes or 0)
        if e.numel() and (int(e.min()) < 0 or int(e.max()) >= n):
            raise ConfigError(f"edge node index out of range [0, {n}): min {int(e.min())}, "
                              f"max {int(e.max())}; pass the right num_nodes")
        keep = torch.zeros(n, n, dtype=torch.bool, device=e.device)
        # edge s -> t: query t may attend to key s
        keep[e[1], e[0]] = True
    if not directed:
        keep = keep | keep.t()
    if self_loops:
        keep = keep | torch.eye(keep.shape[0], dtype=torch.bool, device=keep.device)
    return keep  # (N, N)


def masked_softmax(scores: Tensor, valid_lens: Tensor | None = None,
                   mask: Tensor | None = None) -> Tensor:
    r"""Softmax over the last dim that gives masked keys weight exactly 0.

    .. math::
        \alpha_{ij} = \frac{\mathrm{keep}_{ij}\, e^{s_{ij}}}
                          {\sum_{j'} \mathrm{keep}_{ij'}\, e^{s_{ij'}}}

    Masked scores are set to :math:`-\infty` before the softmax, so their weights are exactly
    0; a row with no key left (e.g. ``valid_len = 0``) is all zeros instead of NaN (d2l's
    version, which fills with -1e6, gives it uniform weights).

    Args:
        scores: ``(B, ..., Tq, Tk)``.
        valid_lens: ``(B,)`` or ``(B, Tq)`` numbers of keys each example / query may see.
        mask: bool keep mask broadcastable to ``scores``.

    Example:
        >>> masked_softmax(torch.zeros(2, 1, 3), torch.tensor([2, 0]))
        tensor([[[0.5000, 0.5000, 0.0000]],
        <BLANKLINE>
                [[0.0000, 0.0000, 0.0000]]])

    Notes: A3.
    """
    keep = _combine_keep(scores.shape, scores.device, valid_lens, mask, causal=False)
    if keep is None:
        return softmax(scores, dim=-1)
    return _softmax_keep(scores, keep)


def _softmax_keep(scores: Tensor, keep: Tensor | None) -> Tensor:
    # s_ij -> -inf where masked, so e^{s_ij - m} = 0 there (exp(-inf) is also the fast case)
    filled = scores if keep is None else scores.masked_fill(~keep, float("-inf"))
    # m = max over the kept keys; 0 for a row with none (avoids -inf - (-inf) = nan)
    m = filled.amax(dim=-1, keepdim=True).detach()
    m = torch.where(torch.isinf(m), torch.zeros_like(m), m)
    e = torch.exp(filled - m)
    # α_ij = e_ij / Σ_j e_ij; a row with no key has Σ = 0 and gets 0 / tiny = 0, not nan
    return e / e.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(e.dtype).tiny)


def _combine_keep(shape: torch.Size, device: torch.device, valid_lens: Tensor | None,
                  mask: Tensor | None, causal: bool) -> Tensor | None:
    """AND of the keep masks (lengths, boolean mask, causal), shaped to broadcast on scores
    of ``shape`` ``(B, ..., Tq, Tk)``; ``None`` when nothing is masked."""
    tq, tk = shape[-2], shape[-1]
    keep = None
    if valid_lens is not None:
        if len(shape) < 3:
            raise ShapeError(f"valid_lens needs batched scores (B, ..., Tq, Tk), got "
                             f"{tuple(shape)}")
        lm = lengths_mask(valid_lens.to(device), tq, tk)  # (B, Tq, Tk)
        keep = lm.reshape(lm.shape[0], *([1] * (len(shape) - 3)), tq, tk)
    if mask is not None:
        if mask.dtype != torch.bool:
            raise ConfigError(f"a keep mask must be bool (True = attend), got {mask.dtype}")
        keep = mask if keep is None else keep & mask
    if causal:
        cm = causal_mask(tq, tk, device=device)
        keep = cm if keep is None else keep & cm
    return keep


def additive_scores(query: Tensor, key: Tensor, w_q: Tensor, w_k: Tensor, w_v: Tensor) -> Tensor:
    r"""Additive attention scores, for queries and keys of different sizes.

    .. math::
        a(q, k) = w_v^\top \tanh(W_q q + W_k k) \in \mathbb{R}

    Args:
        query: ``(B, Tq, Dq)``. key: ``(B, Tk, Dk)``.
        w_q: ``(h, Dq)``. w_k: ``(h, Dk)``. w_v: ``(h,)`` or ``(1, h)``.

    Shape:
        - Output: ``(B, Tq, Tk)``.

    Example:
        >>> additive_scores(torch.ones(1, 2, 3), torch.ones(1, 4, 5), torch.zeros(8, 3),
        ...                 torch.zeros(8, 5), torch.ones(8)).shape
        torch.Size([1, 2, 4])

    Notes: A3.
    """
    qh = query @ w_q.t()  # (B, Tq, h)
    kh = key @ w_k.t()  # (B, Tk, h)
    # tanh(W_q q_i + W_k k_j) for every pair (i, j)
    feat = torch.tanh(qh.unsqueeze(-2) + kh.unsqueeze(-3))  # (B, Tq, Tk, h)
    # w_v^T tanh(...)
    return feat @ w_v.reshape(-1)  # (B, Tq, Tk)


def additive_attention(query: Tensor, key: Tensor, value: Tensor, w_q: Tensor, w_k: Tensor,
                       w_v: Tensor, valid_lens: Tensor | None = None, dropout_p: float = 0.0,
                       generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    r"""Additive attention pooling :math:`\sum_j \mathrm{softmax}_j(a(q, k_j))\, v_j`.

    See :func:`additive_scores` (``a``) and :func:`masked_softmax`. Dropout, if any, acts on
    the weights. Returns ``(output (B, Tq, Dv), weights (B, Tq, Tk))``.

    Example:
        >>> out, w = additive_attention(torch.ones(1, 1, 2), torch.ones(1, 3, 2),
        ...     torch.arange(3.).reshape(1, 3, 1), torch.ones(4, 2), torch.ones(4, 2),
        ...     torch.ones(4), valid_lens=torch.tensor([2]))
        >>> out
        tensor([[[0.5000]]])

    Notes: A3.
    """
    w = masked_softmax(additive_scores(query, key, w_q, w_k, w_v), valid_lens)
    w = dropout(w, dropout_p, training=dropout_p > 0, generator=generator)
    return w @ value, w  # (B, Tq, Dv), (B, Tq, Tk)


def _check_sdpa(query: Tensor, key: Tensor, value: Tensor, dropout_p: float) -> None:
    if not 0.0 <= dropout_p <= 1.0:
        raise ConfigError(f"dropout_p must be in [0, 1], got {dropout_p}")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ShapeError(f"query (.., Tq, D) and key (.., Tk, D) must share D and key/value "
                         f"(.., Tk, ..) Tk; got {tuple(query.shape)}, {tuple(key.shape)}, "
                         f"{tuple(value.shape)}")


def _split_mask(attn_mask: Tensor | None,
                attn_bias: Tensor | None) -> tuple[Tensor | None, Tensor | None]:
    """A float ``attn_mask`` is a bias: fold it into ``attn_bias``; a bool one is a keep mask."""
    if attn_mask is not None and attn_mask.dtype != torch.bool:
        return None, attn_mask if attn_bias is None else attn_bias + attn_mask
    return attn_mask, attn_bias


def scaled_dot_product_attention(
    query: Tensor, key: Tensor, value: Tensor, valid_lens: Tensor | None = None,
    attn_mask: Tensor | None = None, causal: bool = False, dropout_p: float = 0.0,
    scale: float | None = None, activation: str = "softmax",
    attn_bias: Tensor | None = None, generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    r"""Scaled dot-product attention, the matrix form of self-attention, from its formula.

    .. math::
        A' = \mathrm{softmax}\!\left(\frac{Q K^\top}{\sqrt d} + M\right), \qquad O = A' V

    The :math:`1/\sqrt d` keeps the scores' variance at 1 when the entries of ``q`` and ``k``
    are independent with unit variance (the dot product of two such ``d``-vectors has
    variance ``d``). ``M`` is the mask: ``-inf`` where a key is masked, the float
    ``attn_mask``/``attn_bias`` where given. With ``activation="relu"`` the weights are
    :math:`\mathrm{ReLU}(QK^\top/\sqrt d)` on kept entries, not normalised (the notes: softmax
    "or another activation such as ReLU"). :func:`fused_scaled_dot_product_attention` is the
    same softmax attention on torch's kernel (no weights); the attention layers of
    :mod:`deepnotes.nn` pick one of the two (``fused=``).

    Args:
        query: ``(B, ..., Tq, D)``. key: ``(B, ..., Tk, D)``. value: ``(B, ..., Tk, Dv)``.
        valid_lens: ``(B,)`` or ``(B, Tq)``: keys at positions ``>= len`` are masked.
        attn_mask: bool keep mask (``True`` = may attend) or a float mask added to the scores,
            broadcastable to ``(B, ..., Tq, Tk)``.
        causal: query ``i`` sees keys ``j <= i`` only (top-left aligned).
        dropout_p: dropout on the weights (applied whenever ``> 0``). Default ``0``.
        scale: default :math:`1/\sqrt{D}`.
        activation: ``"softmax"`` or ``"relu"``.
        attn_bias: a float mask added to the scores, besides a bool ``attn_mask``.
        generator: for the dropout.

    Returns:
        ``(output (B, ..., Tq, Dv), weights (B, ..., Tq, Tk))``.

    Example:
        >>> q = k = torch.eye(3).unsqueeze(0)
        >>> out, w = scaled_dot_product_attention(q, k, torch.eye(3)[None], causal=True)
        >>> w[0, 1]
        tensor([0.3595, 0.6405, 0.0000])

    Notes: A3, A4.
    """
    _check_sdpa(query, key, value, dropout_p)
    if activation not in ("softmax", "relu"):
        raise ConfigError(f"activation must be 'softmax' or 'relu', got {activation!r}")
    attn_mask, bias = _split_mask(attn_mask, attn_bias)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    # S = Q K^T / sqrt(d)
    scores = (query @ key.transpose(-2, -1)) * scale  # (B, ..., Tq, Tk)
    if bias is not None:
        scores = scores + bias
    keep = _combine_keep(scores.shape, scores.device, valid_lens, attn_mask, causal)
    if activation == "relu":
        # A' = ReLU(S) on the kept entries
        weights = torch.relu(scores) if keep is None else torch.relu(scores) * keep
    else:
        # A' = softmax(S) over the keys, masked keys at 0
        weights = (softmax(scores, dim=-1) if keep is None and bias is None
                   else _softmax_keep(scores, keep))
    weights = dropout(weights, dropout_p, training=dropout_p > 0, generator=generator)
    # O = A' V
    return weights @ value, weights  # (B, ..., Tq, Dv), (B, ..., Tq, Tk)


def fused_scaled_dot_product_attention(
    query: Tensor, key: Tensor, value: Tensor, valid_lens: Tensor | None = None,
    attn_mask: Tensor | None = None, causal: bool = False, dropout_p: float = 0.0,
    scale: float | None = None, attn_bias: Tensor | None = None,
) -> Tensor:
    r""":func:`scaled_dot_product_attention` (softmax) on ``torch.nn.functional``'s fused kernel.

    The same :math:`O = \mathrm{softmax}(QK^\top/\sqrt d + M)\,V`, arguments and mask
    conventions (lengths, bool keep mask, float bias, causal), computed by
    ``torch.nn.functional.scaled_dot_product_attention`` (flash / memory-efficient / math
    backends), which returns no weights. A query that may attend to no key gets a zero output,
    as on the formula path (torch's kernel alone would give NaN).

    Returns:
        the output ``(B, ..., Tq, Dv)``.

    Example:
        >>> q = k = torch.eye(3).unsqueeze(0)
        >>> fused_scaled_dot_product_attention(q, k, torch.eye(3)[None], causal=True)[0, 1]
        tensor([0.3595, 0.6405, 0.0000])

    Notes: A3, A4.
    """
    _check_sdpa(query, key, value, dropout_p)
    attn_mask, bias = _split_mask(attn_mask, attn_bias)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    # the scores' shape (B, ..., Tq, Tk)
    score_shape = torch.Size((*query.shape[:-2], query.shape[-2], key.shape[-2]))
    only_causal = causal and valid_lens is None and attn_mask is None and bias is None
    keep = None if only_causal else _combine_keep(score_shape, query.device, valid_lens,
                                                  attn_mask, causal)
    dead = None
    if keep is not None:
        # a query that sees no key: give it every key, then zero its output
        dead = ~keep.any(dim=-1, keepdim=True)  # (..., Tq, 1)
        keep = keep | dead
    mask = keep
    if bias is not None:
        bias = bias.to(query.dtype)
        mask = bias if keep is None else torch.where(keep, bias, float("-inf"))
    out = TF.scaled_dot_product_attention(query, key, value, attn_mask=mask,
                                          dropout_p=dropout_p, is_causal=only_causal,
                                          scale=scale)
    if dead is not None:
        out = out.masked_fill(dead, 0.0)
    return out  # (B, ..., Tq, Dv)


def guided_attention_loss(weights: Tensor, tgt_valid_len: Tensor, src_valid_len: Tensor,
                          g: float = 0.2) -> Tensor:
    r"""Guided (near-diagonal) attention: a penalty on attention far from a monotonic alignment.

    For a target of :math:`T_b` tokens and a source of :math:`S_b`, output step :math:`t`
    should look near source position :math:`s \approx t\, S_b / T_b`; the weight
    :math:`\alpha_{t,s}` pays

    .. math::
        W_{t,s} = 1 - \exp\Big(-\frac{(s / S_b - t / T_b)^2}{2 g^2}\Big), \qquad
        L = \frac{1}{\sum_b T_b} \sum_b \sum_{t < T_b} \sum_{s < S_b} \alpha_{t,s} W_{t,s}

    (Tachibana et al., 2018, for text-to-speech; the notes' A14 lists guided attention among the
    training tips for sequence generation). Each term is in :math:`[0, 1)`: 0 when every step
    attends on the diagonal, near 1 when it attends far from it. Padded positions are left out.

    Args:
        weights: attention weights ``(B, T, S)`` (rows sum to 1 over the valid source).
        tgt_valid_len, src_valid_len: ``(B,)`` real lengths.
        g: the width of the allowed band, as a fraction of the length. Default ``0.2``.

    Example:
        >>> eye = torch.eye(4).unsqueeze(0)  # step t attends to position t
        >>> n = torch.tensor([4])
        >>> float(guided_attention_loss(eye, n, n)) == 0.0
        True
        >>> float(guided_attention_loss(eye.flip(-1), n, n)) > 0.5  # the reverse order
        True

    Notes: A14 (guided attention).
    """
    if weights.dim() != 3:
        raise ShapeError(f"guided_attention_loss expects weights (B, T, S), got "
                         f"{tuple(weights.shape)}")
    if not g > 0:
        raise ConfigError(f"guided_attention_loss: g must be > 0, got {g!r}")
    B, T, S = weights.shape
    tl = tgt_valid_len.to(weights.device).clamp(min=1).to(weights.dtype)[:, None, None]
    sl = src_valid_len.to(weights.device).clamp(min=1).to(weights.dtype)[:, None, None]
    t = torch.arange(T, device=weights.device, dtype=weights.dtype)[None, :, None]
    s = torch.arange(S, device=weights.device, dtype=weights.dtype)[None, None, :]
    # W_{t,s} = 1 - exp(-(s/S_b - t/T_b)² / 2g²)
    penalty = 1 - torch.exp(-((s / sl - t / tl) ** 2) / (2 * g * g))  # (B, T, S)
    keep = (t < tl) & (s < sl)  # (B, T, S): real target steps and source tokens
    return (weights * penalty * keep).sum() / tl.sum()
