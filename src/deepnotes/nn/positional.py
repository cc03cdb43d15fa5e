r"""Positional encodings: self-attention is blind to order, so each position adds its own vector.

Two kinds (notes A6): the fixed sinusoidal table of "Attention Is All You Need" and a learned
table (one trainable vector per position, as BERT and GPT-2).

Notes: A6.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.nn.dropout import Dropout

__all__ = ["sinusoidal_positions", "relative_shift_matrix", "PositionalEncoding",
           "LearnedPositionalEmbedding"]


def _frequencies(dim: int, base: float, dtype: torch.dtype) -> Tensor:
    # ω_j = 1 / base^{2j/d}, j = 0 .. ceil(d/2) - 1
    return 1.0 / base ** (torch.arange(0, dim, 2, dtype=dtype) / dim)  # (ceil(d/2),)


def sinusoidal_positions(num_positions: int, dim: int, base: float = 10000.0,
                         dtype: torch.dtype = torch.float32, offset: int = 0) -> Tensor:
    r"""The sinusoidal table: even columns sine, odd columns cosine, geometric frequencies.

    .. math::
        P_{i, 2j} = \sin\frac{i}{10000^{2j/d}}, \qquad P_{i, 2j+1} = \cos\frac{i}{10000^{2j/d}}

    Column pairs are clocks of decreasing speed (like the bits of a binary counter, but
    continuous). An odd ``d`` drops the last cosine.

    Args:
        num_positions: ``T``. dim: ``d``. base: ``10000``. offset: first position ``i``.

    Shape:
        - Output: ``(T, d)``.

    Example:
        >>> sinusoidal_positions(2, 4)
        tensor([[0.0000, 1.0000, 0.0000, 1.0000],
                [0.8415, 0.5403, 0.0100, 0.9999]])

    Notes: A6.
    """
    # compute in float64 and round once: positions up to 10^5 keep full float32 accuracy
    i = torch.arange(offset, offset + num_positions, dtype=torch.float64)[:, None]  # (T, 1)
    angle = i * _frequencies(dim, base, torch.float64)  # (T, ceil(d/2))
    table = torch.empty(num_positions, dim, dtype=torch.float64)
    # P[i, 2j] = sin(i ω_j), P[i, 2j+1] = cos(i ω_j)
    table[:, 0::2] = torch.sin(angle)
    table[:, 1::2] = torch.cos(angle[:, : dim // 2])
    return table.to(dtype)


def relative_shift_matrix(shift: int, dim: int, base: float = 10000.0,
                          dtype: torch.dtype = torch.float64) -> Tensor:
    r"""The linear map moving every sinusoidal code ``k`` positions on: :math:`P_{i+k} = M_k P_i`.

    For each pair of columns, shifting the position by ``k`` rotates the point
    :math:`(\sin i\omega_j, \cos i\omega_j)` by the angle :math:`k\omega_j`:

    .. math::
        \begin{bmatrix} \sin(i+k)\omega \\ \cos(i+k)\omega \end{bmatrix} =
        \begin{bmatrix} \cos k\omega & \sin k\omega \\ -\sin k\omega & \cos k\omega \end{bmatrix}
        \begin{bmatrix} \sin i\omega \\ \cos i\omega \end{bmatrix}

    ``M_k`` is block diagonal and does not depend on ``i``: relative positions are a fixed
    linear function of the codes, which attention can learn. (``d`` must be even.)

    Example:
        >>> P = sinusoidal_positions(10, 6, dtype=torch.float64)
        >>> torch.allclose(P[:7] @ relative_shift_matrix(3, 6).T, P[3:])
        True

    Notes: A6.
    """
    if dim % 2:
        raise ConfigError(f"relative_shift_matrix needs an even dim, got {dim}")
    theta = shift * _frequencies(dim, base, torch.float64)  # (d/2,)
    c, s = torch.cos(theta), torch.sin(theta)
    m = torch.zeros(dim, dim, dtype=torch.float64)
    j = torch.arange(0, dim, 2)
    m[j, j], m[j, j + 1] = c, s
    m[j + 1, j], m[j + 1, j + 1] = -s, c
    return m.to(dtype)


class PositionalEncoding(nn.Module):
    r"""Adds the sinusoidal table to the input, then dropout: :math:`Y = \mathrm{drop}(X + P_{:T})`.

    No parameters; the table is a non-persistent buffer (moves with ``.to()``, not saved).
    Sequences longer than ``max_len`` get their table computed on the fly.

    Args:
        embed_dim: ``d``. dropout: after the addition. Default ``0``.
        max_len: rows precomputed. Default ``1000``. base: ``10000``.
        fused: passed to :class:`deepnotes.nn.Dropout`. Default ``True``.

    Shape:
        - Input: ``(B, T, d)``; ``offset``: position of the first step (incremental decoding).
          Output: ``(B, T, d)``.

    Example:
        >>> pe = PositionalEncoding(4)
        >>> pe(torch.zeros(1, 2, 4))[0, 1]
        tensor([0.8415, 0.5403, 0.0100, 0.9999])

    Notes: A6.
    """

    def __init__(self, embed_dim: int, dropout: float = 0.0, max_len: int = 1000,
                 base: float = 10000.0, fused: bool = True) -> None:
        super().__init__()
        if int(embed_dim) < 1 or int(max_len) < 1:
            raise ConfigError(f"embed_dim and max_len must be >= 1, got {embed_dim}, {max_len}")
        self.embed_dim, self.max_len, self.base = int(embed_dim), int(max_len), float(base)
        self.dropout = Dropout(dropout, fused=fused)
        self.register_buffer("P", sinusoidal_positions(self.max_len, self.embed_dim, self.base),
                             persistent=False)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        if x.dim() != 3 or x.shape[-1] != self.embed_dim:
            raise ShapeError(f"PositionalEncoding({self.embed_dim}) expects (B, T, "
                             f"{self.embed_dim}), got {tuple(x.shape)}")
        t = x.shape[1]
        if offset + t <= self.max_len:
            p = self.P[offset:offset + t]  # (T, d)
        else:
            p = sinusoidal_positions(t, self.embed_dim, self.base, offset=offset).to(self.P)
        # Y = dropout(X + P)
        return self.dropout(x + p.to(x.dtype))

    def extra_repr(self) -> str:
        return f"{self.embed_dim}, max_len={self.max_len}, base={self.base:g}"


class LearnedPositionalEmbedding(nn.Module):
    r"""A trainable vector per position, added to the input: :math:`Y = \mathrm{drop}(X + E_{:T})`.

    ``weight`` is ``(max_len, d)``, the same tensor as ``nn.Embedding(max_len, d).weight``
    looked up at positions ``0 .. T-1`` (BERT's and GPT-2's position embeddings). It cannot
    say anything about positions it never saw, so ``T > max_len`` is an error.

    Args:
        max_len: number of positions. embed_dim: ``d``. dropout: after the addition.
        init_std: std of the normal initialisation. Default ``0.02`` (GPT-2, BERT).
        fused: passed to :class:`deepnotes.nn.Dropout`. Default ``True``.

    Shape:
        - Input: ``(B, T, d)``. Output: ``(B, T, d)``.

    Example:
        >>> pos = LearnedPositionalEmbedding(16, 8)
        >>> pos(torch.zeros(2, 5, 8)).shape
        torch.Size([2, 5, 8])

    Notes: A6.
    """

    def __init__(self, max_len: int, embed_dim: int, dropout: float = 0.0,
                 init_std: float = 0.02, fused: bool = True) -> None:
        super().__init__()
        if int(embed_dim) < 1 or int(max_len) < 1:
            raise ConfigError(f"embed_dim and max_len must be >= 1, got {embed_dim}, {max_len}")
        self.max_len, self.embed_dim, self.init_std = int(max_len), int(embed_dim), init_std
        self.weight = nn.Parameter(torch.empty(self.max_len, self.embed_dim))
        self.dropout = Dropout(dropout, fused=fused)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, std=self.init_std)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        if x.dim() != 3 or x.shape[-1] != self.embed_dim:
            raise ShapeError(f"LearnedPositionalEmbedding expects (B, T, {self.embed_dim}), "
                             f"got {tuple(x.shape)}")
        t = x.shape[1]
        if offset + t > self.max_len:
            raise ShapeError(f"sequence positions {offset}..{offset + t - 1} exceed max_len="
                             f"{self.max_len}; build the layer with max_len >= {offset + t}")
        # Y = dropout(X + E[offset : offset + T])
        return self.dropout(x + self.weight[offset:offset + t])

    def extra_repr(self) -> str:
        return f"{self.max_len}, {self.embed_dim}"
