"""Multilayer perceptron: affine layers with a non-linearity (and optional dropout) between them.

Notes: B5 (stacking sigmoids/ReLUs gives a network), B6 (activations), G5 (dropout).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.models import register_model
from deepnotes.nn import Dropout
from deepnotes.nn.activation import activation_class


@dataclass
class MLPConfig:
    in_features: int = 784  # flattened input size
    hidden: tuple[int, ...] = (256,)  # width of each hidden layer (its length = depth)
    num_classes: int = 10  # outputs (1 for regression)
    activation: str = "relu"  # relu | sigmoid | tanh | gelu
    dropout: float = 0.0  # dropout probability after each hidden activation (G5)
    fused: bool = True  # torch kernels for activation/dropout (False: our functional code)


@register_model("mlp", MLPConfig,
                summary="multilayer perceptron, configurable depth/activation/dropout (B5, G5)",
                inputs="features")
class MLP(nn.Module):
    r"""MLP :math:`h_{l} = \mathrm{dropout}(\sigma(h_{l-1} W_l^\top + b_l))`, output
    :math:`o = h_L W_o^\top + b_o`.

    Shape:
        - Input: ``(N, *)`` flattened to ``(N, in_features)``.
        - Output: ``(N, num_classes)``.

    Example:
        >>> m = MLP(MLPConfig(in_features=4, hidden=(8, 8), num_classes=3, dropout=0.1))
        >>> m(torch.zeros(2, 4)).shape
        torch.Size([2, 3])

    Notes: B5, B6, G5.
    """

    def __init__(self, config: MLPConfig) -> None:
        super().__init__()
        act = activation_class(config.activation)  # ConfigError naming the choices
        if not 0.0 <= config.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {config.dropout}")
        if any(h < 1 for h in config.hidden):
            raise ConfigError(f"hidden widths must be positive, got {config.hidden}")
        self.config = config
        layers: list[nn.Module] = []
        width = config.in_features
        for h in config.hidden:
            layers.append(nn.Linear(width, h))
            layers.append(act(fused=config.fused))
            if config.dropout > 0:
                layers.append(Dropout(config.dropout, fused=config.fused))
            width = h
        layers.append(nn.Linear(width, config.num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)  # (N, d)
        if x.shape[1] != self.config.in_features:
            raise ShapeError(
                f"mlp expects {self.config.in_features} input features, got {x.shape[1]} "
                f"(set in_features to match your data)"
            )
        return self.net(x)  # (N, num_classes)
