r"""GloVe: word vectors from a weighted least-squares fit to log co-occurrence counts.

:math:`X_{ij}` counts how often word j occurs near word i (each co-occurrence at distance d
adds 1/d). GloVe fits word vectors :math:`\mathbf w_i`, context vectors
:math:`\tilde{\mathbf w}_j` and biases so that their dot product predicts
:math:`\log X_{ij}` for every non-zero entry (E3):

.. math::
    J = \sum_{i,j:\,X_{ij}>0} f(X_{ij})\,\big(\mathbf w_i^\top\tilde{\mathbf w}_j + b_i +
        \tilde b_j - \log X_{ij}\big)^2, \qquad
    f(x) = \min\big(1, (x/x_{\max})^{\alpha}\big)

with :math:`x_{\max} = 100` and :math:`\alpha = 3/4`: rare pairs (noisy counts) weigh less,
frequent ones are capped. (glove.c minimises :math:`\tfrac12 J`.) The paper trains with AdaGrad
and keeps :math:`\mathbf w_i + \tilde{\mathbf w}_i` as the vector of word i.

Notes: E3.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.models import register_model

__all__ = ["GloVe", "GloVeConfig", "glove_weight"]


def glove_weight(x: Tensor, x_max: float = 100.0, alpha: float = 0.75) -> Tensor:
    r"""GloVe's weighting :math:`f(x) = \min(1, (x/x_{\max})^{\alpha})`.

    Example:
        >>> glove_weight(torch.tensor([0.0, 10.0, 100.0, 500.0])).tolist()
        [0.0, 0.17782..., 1.0, 1.0]

    Notes: E3.
    """
    return torch.clamp((x / x_max).pow(alpha), max=1.0)


@dataclass
class GloVeConfig:
    vocab_size: int = 10_000  # V: words (rows of each table)
    dim: int = 100  # D: vector length
    x_max: float = 100.0  # counts at or above x_max get weight 1
    alpha: float = 0.75  # exponent of the weighting below x_max
    sparse: bool = False  # sparse gradients (torch.optim.Adagrad/SGD/SparseAdam accept them)


@register_model("glove", GloVeConfig,
                summary="GloVe: weighted least squares on log co-occurrence counts (E3)",
                inputs="tokens")
class GloVe(nn.Module):
    r"""GloVe's four tables and its per-entry loss (module docstring).

    ``weight`` (:math:`\mathbf w`), ``context_weight`` (:math:`\tilde{\mathbf w}`), ``bias``
    and ``context_bias`` start uniform in :math:`\pm\frac{1}{2D}`, as in glove.c.

    Args:
        config: a :class:`GloVeConfig`.

    Shape:
        - rows ``(B,)`` word ids i, cols ``(B,)`` word ids j, counts ``(B,)`` :math:`X_{ij} > 0`.
        - Output ``(B,)``: :math:`f(X_{ij})(\mathbf w_i^\top\tilde{\mathbf w}_j + b_i +
          \tilde b_j - \log X_{ij})^2`.

    Example:
        >>> m = GloVe(GloVeConfig(vocab_size=5, dim=3))
        >>> m(torch.tensor([0, 1]), torch.tensor([2, 2]), torch.tensor([4.0, 1.5])).shape
        torch.Size([2])

    Notes: E3.
    """

    def __init__(self, config: GloVeConfig) -> None:
        super().__init__()
        if config.vocab_size < 1 or config.dim < 1:
            raise ConfigError(f"glove needs vocab_size >= 1 and dim >= 1, got "
                              f"{config.vocab_size} and {config.dim}")
        if config.x_max <= 0 or config.alpha <= 0:
            raise ConfigError(f"glove needs x_max > 0 and alpha > 0, got {config.x_max} and "
                              f"{config.alpha}")
        self.config = config
        v, d, sp = config.vocab_size, config.dim, config.sparse
        self.weight = nn.Embedding(v, d, sparse=sp)
        self.context_weight = nn.Embedding(v, d, sparse=sp)
        self.bias = nn.Embedding(v, 1, sparse=sp)
        self.context_bias = nn.Embedding(v, 1, sparse=sp)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        d = self.config.dim
        for table in (self.weight, self.context_weight, self.bias, self.context_bias):
            nn.init.uniform_(table.weight, -0.5 / d, 0.5 / d)  # glove.c: (rand - 0.5) / D

    def extra_repr(self) -> str:
        c = self.config
        return f"vocab_size={c.vocab_size}, dim={c.dim}, x_max={c.x_max}, alpha={c.alpha}"

    def forward(self, rows: Tensor, cols: Tensor, counts: Tensor) -> Tensor:
        if rows.dim() != 1 or rows.shape != cols.shape or rows.shape != counts.shape:
            raise ShapeError(f"glove expects rows, cols and counts of one shape (B,), got "
                             f"{tuple(rows.shape)}, {tuple(cols.shape)}, {tuple(counts.shape)}")
        # w_i · w̃_j + b_i + b̃_j - log X_ij
        dot = (self.weight(rows) * self.context_weight(cols)).sum(1)  # (B,)
        diff = dot + self.bias(rows).squeeze(1) + self.context_bias(cols).squeeze(1) \
            - counts.log()
        return glove_weight(counts, self.config.x_max, self.config.alpha) * diff.square()

    def word_vectors(self, words: list[str]):
        r"""The vectors :math:`\mathbf w_i + \tilde{\mathbf w}_i` as
        :class:`~deepnotes.text.vectors.WordVectors`."""
        from deepnotes.text.vectors import WordVectors

        if len(words) != self.config.vocab_size:
            raise ShapeError(f"got {len(words)} words for a vocabulary of "
                             f"{self.config.vocab_size}")
        return WordVectors(words, (self.weight.weight + self.context_weight.weight).detach())
