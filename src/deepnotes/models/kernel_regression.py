r"""Nadaraya–Watson kernel regression: attention pooling with one learnable Gaussian width.

The prediction at a query :math:`x` is a weighted average of the training targets (values)
:math:`y_i`, weighted by how close :math:`x` is to each training input (key) :math:`x_i`:

.. math::
    f(x) = \sum_i \mathrm{softmax}_i\!\left(-\tfrac12((x - x_i)\,w)^2\right) y_i

With :math:`w = 1` this is the non-parametric Gaussian kernel; learning :math:`w` makes it
parametric (d2l 11.2). Used by the ``nadaraya-watson`` lesson.

Notes: A2 (attention pooling as kernel regression), A3 (attention scores).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from deepnotes import functional as F
from deepnotes.models import register_model

__all__ = ["NWKernelRegression", "NWKernelRegressionConfig", "gaussian_scores"]


def gaussian_scores(queries: Tensor, keys: Tensor, w: Tensor | float = 1.0) -> Tensor:
    """Attention scores of the Gaussian kernel: :math:`-((x - x_i)\\,w)^2 / 2`.

    Shape:
        - queries ``(Q,)``, keys ``(n,)`` or ``(Q, n)``. Output: ``(Q, n)``.

    Example:
        >>> gaussian_scores(torch.tensor([1.0]), torch.tensor([0.0, 2.0, 3.0]))
        tensor([[-0.5000, -0.5000, -2.0000]])
    """
    keys = keys if keys.dim() == 2 else keys.expand(queries.shape[0], -1)
    # a(x, x_i) = -((x - x_i) w)^2 / 2
    return -(((queries[:, None] - keys) * w) ** 2) / 2  # (Q, n)


@dataclass
class NWKernelRegressionConfig:
    w0: float = 1.0  # initial kernel width w (1: the plain Gaussian kernel; d2l draws U[0, 1))


@register_model("nw-kernel-regression", NWKernelRegressionConfig,
                summary="Nadaraya–Watson attention pooling with a learnable kernel width (A2)",
                inputs="points")
class NWKernelRegression(nn.Module):
    """Parametric Nadaraya–Watson regression: one learnable kernel width ``w``.

    :math:`f(x) = \\sum_i \\mathrm{softmax}_i(-((x - x_i) w)^2/2)\\, y_i`, computed as a batch
    matrix product of the weights ``(Q, 1, n)`` with the values ``(Q, n, 1)``. The last
    forward's weights are kept in ``attention_weights`` ``(Q, n)``.

    Shape:
        - queries ``(Q,)``; keys, values ``(n,)`` (shared by every query) or ``(Q, n)``;
          mask (optional, True = may attend) ``(Q, n)``.
        - Output: ``(Q,)``.

    Example:
        >>> m = NWKernelRegression(NWKernelRegressionConfig(w0=2.0))
        >>> m(torch.tensor([0.5, 2.5]), torch.tensor([0.0, 1.0, 3.0]),
        ...   torch.tensor([1.0, 2.0, 5.0])).shape
        torch.Size([2])

    Notes: A2, A3.
    """

    def __init__(self, config: NWKernelRegressionConfig) -> None:
        super().__init__()
        self.config = config
        self.w = nn.Parameter(torch.tensor([float(config.w0)]))
        self.attention_weights: Tensor | None = None

    def forward(self, queries: Tensor, keys: Tensor, values: Tensor,
                mask: Tensor | None = None) -> Tensor:
        # α(x, x_i) = softmax_i(-((x - x_i) w)^2 / 2), masked keys at 0
        alpha = F.masked_softmax(gaussian_scores(queries, keys, self.w), mask=mask)  # (Q, n)
        self.attention_weights = alpha.detach()
        values = values if values.dim() == 2 else values.expand(queries.shape[0], -1)
        # f(x) = Σ_i α(x, x_i) y_i, as a batch matmul
        return torch.bmm(alpha.unsqueeze(1), values.unsqueeze(-1)).reshape(-1)  # (Q,)
