r"""Node classifier on a graph: self-attention along the edges (a graph attention network).

An encoder, ``layers`` residual mixing blocks and a linear read-out over the nodes of one graph
(the graph is one "sequence" of N nodes). The mixing block decides what the model may look at:

- ``mode="graph"``: multi-head self-attention with the graph's keep mask (node i attends to its
  neighbours and itself: a graph neural network layer);
- ``mode="full"``: the same attention without a mask (every node sees every node);
- ``mode="mlp"``: a dense layer per node (the graph is never looked at).

.. math::
    h^{(0)} = \mathrm{ReLU}(x W_e + b_e), \quad
    h^{(l)} = h^{(l-1)} + \mathrm{ReLU}(\mathrm{mix}_l(h^{(l-1)})), \quad
    \hat y = h^{(L)} W_r + b_r

Used by the ``graph-attention`` lesson.

Notes: A9 (self-attention on graphs), A4, A5.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.models import register_model
from deepnotes.nn import MultiHeadAttention

__all__ = ["MODES", "NodeClassifier", "NodeClassifierConfig"]

MODES = ("mlp", "full", "graph")


@dataclass
class NodeClassifierConfig:
    feature_dim: int = 16  # input feature size F of a node
    hidden: int = 32  # width C of every layer
    heads: int = 2  # attention heads (modes "graph" and "full")
    layers: int = 2  # residual mixing blocks
    classes: int = 4  # output classes per node
    mode: str = "graph"  # graph: attend along edges | full: attend everywhere | mlp: no graph


@register_model("node-classifier", NodeClassifierConfig,
                summary="node classifier: attention along graph edges, to all nodes, or MLP (A9)",
                inputs="graph")
class NodeClassifier(nn.Module):
    """Encoder, ``layers`` residual mixing blocks, linear read-out (see the module docstring).

    ``forward(x, keep, need_weights)`` returns the logits and, for the attention modes, each
    layer's attention weights (averaged over heads when ``need_weights``, else ``None``).

    Shape:
        - x: ``(N, F)`` node features; keep: ``(N, N)`` bool, ``keep[i, j]``: node i may attend
          to node j (needed by ``mode="graph"``, ignored by the others).
        - Output: logits ``(N, classes)``, and a list of ``layers`` weights ``(1, N, N)``.

    Example:
        >>> m = NodeClassifier(NodeClassifierConfig(feature_dim=3, hidden=8, classes=2))
        >>> m(torch.zeros(5, 3), torch.eye(5, dtype=torch.bool))[0].shape
        torch.Size([5, 2])

    Notes: A9, A4, A5.
    """

    def __init__(self, config: NodeClassifierConfig) -> None:
        super().__init__()
        if config.mode not in MODES:
            raise ConfigError(f"unknown mode {config.mode!r}; choose one of {', '.join(MODES)}")
        self.config = config
        self.mode = config.mode
        self.encode = nn.Linear(config.feature_dim, config.hidden)
        if config.mode == "mlp":
            self.mix = nn.ModuleList(nn.Linear(config.hidden, config.hidden)
                                     for _ in range(config.layers))
        else:
            self.mix = nn.ModuleList(MultiHeadAttention(config.hidden, config.heads)
                                     for _ in range(config.layers))
        self.readout = nn.Linear(config.hidden, config.classes)

    def forward(self, x: Tensor, keep: Tensor | None = None,
                need_weights: bool = False) -> tuple[Tensor, list[Tensor]]:
        if self.mode == "graph" and keep is None:
            raise ShapeError("mode 'graph' needs the (N, N) keep mask of the graph "
                             "(deepnotes.functional.graph_mask)")
        h = torch.relu(self.encode(x)).unsqueeze(0)  # (1, N, C): the graph is one sequence
        weights = []
        for layer in self.mix:
            if self.mode == "mlp":
                out = layer(h)  # (1, N, C)
            else:
                # torch's convention: attn_mask True = may NOT attend
                mask = ~keep if self.mode == "graph" else None
                out, w = layer(h, h, h, attn_mask=mask, need_weights=need_weights)
                weights.append(w)
            # h <- h + ReLU(mix(h))
            h = h + torch.relu(out)  # (1, N, C)
        return self.readout(h[0]), weights  # (N, classes)
