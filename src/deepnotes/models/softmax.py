"""Softmax regression: one linear layer producing class scores (logits).

Notes: B7 (softmax regression; the softmax itself lives in the cross-entropy loss, applied to
logits for numerical stability).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from deepnotes.errors import ShapeError
from deepnotes.models import register_model


@dataclass
class SoftmaxRegressionConfig:
    in_features: int = 784  # flattened input size (28·28 for Fashion-MNIST)
    num_classes: int = 10  # number of classes q


@register_model("softmax-regression", SoftmaxRegressionConfig,
                summary="o = W x + b, class probabilities softmax(o) (B7)", inputs="features")
class SoftmaxRegression(nn.Module):
    r"""Softmax regression :math:`o = xW^\top + b,\ \hat y = \mathrm{softmax}(o)`.

    ``forward`` returns the logits ``o``; the loss applies a stable log-softmax.

    Shape:
        - Input: ``(N, *)`` with ``prod(*) == in_features``.
        - Output: ``(N, num_classes)`` logits.

    Example:
        >>> m = SoftmaxRegression(SoftmaxRegressionConfig(in_features=4, num_classes=3))
        >>> m(torch.zeros(2, 4)).shape
        torch.Size([2, 3])

    Notes: B7.
    """

    def __init__(self, config: SoftmaxRegressionConfig) -> None:
        super().__init__()
        self.config = config
        self.linear = nn.Linear(config.in_features, config.num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.linear.weight, std=0.01)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)  # (N, d)
        if x.shape[1] != self.config.in_features:
            raise ShapeError(
                f"softmax-regression expects {self.config.in_features} input features, got "
                f"{x.shape[1]} (set in_features to match your data)"
            )
        return self.linear(x)  # (N, q)
