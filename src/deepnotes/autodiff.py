r"""A small reverse-mode automatic differentiation engine, to read next to the notes (B10).

Everything else in deepnotes differentiates with ``torch.autograd``; this module shows what
it does. A :class:`Node` holds a value (a float64 tensor, used only as an array: no torch
autograd is involved), the nodes it was computed from and, for each of them, how to pass a
gradient back — the *local* derivative of one operation:

=================== ====================== ==========================================
forward             ``out``                backward: add to each input's ``grad``
=================== ====================== ==========================================
``a + b``           :math:`a + b`          :math:`\bar o` (summed over broadcast axes)
``a * b``           :math:`a \odot b`      :math:`\bar o \odot b`, :math:`\bar o \odot a`
``a @ b``           :math:`AB`             :math:`\bar O B^\top`, :math:`A^\top \bar O`
``tanh(a)``         :math:`\tanh a`        :math:`\bar o \odot (1 - o^2)`
``relu(a)``         :math:`\max(a, 0)`     :math:`\bar o \odot [a > 0]`
``log_softmax(a)``  :math:`a - \log\sum e^a` :math:`\bar o - \text{softmax}(a)\sum_j \bar o_j`
``sum(a)``          :math:`\sum a`         :math:`\bar o` broadcast to ``a``'s shape
=================== ====================== ==========================================

(:math:`\bar x = \partial L / \partial x`, the gradient of the final scalar with respect to
``x``.) The *forward pass* evaluates the nodes in the order the program builds them and
records the graph. The *backward pass* (:meth:`Node.backward`) sorts the graph topologically —
every node after the nodes it was computed from — sets :math:`\bar L = 1` and visits the nodes
in reverse order, so that a node's gradient is complete (every path through it summed: the
chain rule's sum over paths) before it is passed on.

Example:
    >>> x, w = Node([[0.5, -1.0]]), Node([[1.0], [0.5]])
    >>> loss = (x @ w).tanh().sum()  # tanh(0.5 - 0.5) = 0, where tanh' = 1
    >>> loss.backward()
    >>> w.grad.flatten().tolist(), x.grad.flatten().tolist()  # x^T and w^T times 1
    ([0.5, -1.0], [1.0, 0.5])

Notes: B10 (forward pass, backward pass, computation graph, automatic differentiation).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor

from deepnotes.errors import ConfigError

__all__ = ["Node", "cross_entropy", "mlp_forward", "topological_order"]


def _sum_to(grad: Tensor, shape: torch.Size) -> Tensor:
    """Undo broadcasting: sum ``grad`` over the axes that broadcasting added or stretched."""
    while grad.dim() > len(shape):
        grad = grad.sum(0)
    for axis, n in enumerate(shape):
        if n == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis, keepdim=True)
    return grad


class Node:
    """One value in a computation graph, with its gradient once :meth:`backward` has run.

    Args:
        value: a number, nested lists or a tensor (stored as float64).
        parents: the nodes ``value`` was computed from (empty for inputs and parameters).
        backward: given this node's gradient, the gradient contributions of each parent.
        op: the operation's name, for drawing the graph.
        name: a label for inputs and parameters (``"W1"``), for drawing.
    """

    def __init__(self, value, parents: Sequence[Node] = (),
                 backward: Callable[[Tensor], Sequence[Tensor]] | None = None, op: str = "",
                 name: str = "") -> None:
        self.value = torch.as_tensor(value, dtype=torch.float64).detach()
        self.parents = tuple(parents)
        self._backward = backward
        self.op, self.name = op, name
        self.grad: Tensor | None = None

    @property
    def shape(self) -> torch.Size:
        return self.value.shape

    def __repr__(self) -> str:
        label = self.name or self.op or "input"
        return f"Node({label}, shape={tuple(self.shape)})"

    # ---- operations: each returns a new node that knows its local derivative
    def __add__(self, other: Node | float) -> Node:
        other = other if isinstance(other, Node) else Node(other)
        a, b = self, other
        return Node(a.value + b.value, (a, b),
                    lambda g: (_sum_to(g, a.shape), _sum_to(g, b.shape)), "+")

    __radd__ = __add__

    def __neg__(self) -> Node:
        return Node(-self.value, (self,), lambda g: (-g,), "neg")

    def __sub__(self, other: Node | float) -> Node:
        return self + (-(other if isinstance(other, Node) else Node(other)))

    def __mul__(self, other: Node | float) -> Node:
        other = other if isinstance(other, Node) else Node(other)
        a, b = self, other
        return Node(a.value * b.value, (a, b),
                    lambda g: (_sum_to(g * b.value, a.shape), _sum_to(g * a.value, b.shape)),
                    "×")

    __rmul__ = __mul__

    def __matmul__(self, other: Node) -> Node:
        a, b = self, other
        if a.value.dim() != 2 or b.value.dim() != 2 or a.shape[1] != b.shape[0]:
            raise ConfigError(f"matmul needs (n, k) @ (k, m) matrices, got {tuple(a.shape)} @ "
                              f"{tuple(b.shape)}")
        return Node(a.value @ b.value, (a, b),
                    lambda g: (g @ b.value.T, a.value.T @ g), "matmul")

    def tanh(self) -> Node:
        out = torch.tanh(self.value)
        return Node(out, (self,), lambda g: (g * (1 - out * out),), "tanh")

    def relu(self) -> Node:
        positive = self.value > 0
        return Node(self.value * positive, (self,), lambda g: (g * positive,), "relu")

    def log_softmax(self) -> Node:
        """Along the last axis: :math:`a_i - \\log \\sum_j e^{a_j}` (max subtracted first)."""
        shifted = self.value - self.value.max(-1, keepdim=True).values
        out = shifted - shifted.exp().sum(-1, keepdim=True).log()
        p = out.exp()
        return Node(out, (self,), lambda g: (g - p * g.sum(-1, keepdim=True),), "log_softmax")

    def sum(self) -> Node:
        shape = self.shape
        return Node(self.value.sum(), (self,), lambda g: (g.expand(shape).clone(),), "sum")

    def mean(self) -> Node:
        return self.sum() * (1.0 / self.value.numel())

    # ---- the backward pass
    def backward(self) -> None:
        """Fill ``grad`` of every node this scalar depends on: :math:`\\partial self /
        \\partial node` (inputs and parameters included). Earlier gradients are replaced."""
        if self.value.numel() != 1:
            raise ConfigError(f"backward() starts from a scalar (the loss), got shape "
                              f"{tuple(self.shape)}; reduce it with .sum() or .mean() first")
        order = topological_order(self)
        for node in order:
            node.grad = None
        self.grad = torch.ones_like(self.value)
        for node in reversed(order):
            if node._backward is None or node.grad is None:
                continue
            for parent, g in zip(node.parents, node._backward(node.grad)):
                parent.grad = g if parent.grad is None else parent.grad + g


def topological_order(root: Node) -> list[Node]:
    """The nodes ``root`` depends on (itself included), each after all of its parents
    (depth-first post-order, without recursion so that deep graphs do not overflow)."""
    order: list[Node] = []
    seen: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((p, False) for p in node.parents if id(p) not in seen)
    return order


def cross_entropy(logits: Node, labels: Sequence[int] | Tensor) -> Node:
    """Mean negative log-likelihood of ``labels`` under ``log_softmax(logits)``: the one-hot
    mask picks :math:`\\log p_{y_n}` of each row (a product, so the graph stays small)."""
    labels = torch.as_tensor(labels, dtype=torch.long)
    if logits.value.dim() != 2 or labels.shape != (logits.shape[0],):
        raise ConfigError(f"cross_entropy needs logits (N, C) and N labels, got logits "
                          f"{tuple(logits.shape)} and labels {tuple(labels.shape)}")
    onehot = torch.zeros(logits.shape, dtype=torch.float64)
    onehot[torch.arange(len(labels)), labels] = 1.0
    return -(logits.log_softmax() * Node(onehot, name="one-hot y")).sum() \
        * (1.0 / len(labels))


def mlp_forward(x: Node, params: Iterable[Node], activation: str = "tanh") -> Node:
    """Logits of an MLP ``x @ W1 + b1 → act → ... → @ Wk + bk`` (params in that order)."""
    params = list(params)
    if activation not in ("tanh", "relu"):
        raise ConfigError(f"activation must be 'tanh' or 'relu', got {activation!r}")
    if len(params) % 2:
        raise ConfigError("params must alternate weight, bias, weight, bias, ...")
    h = x
    for k in range(0, len(params), 2):
        h = h @ params[k] + params[k + 1]
        if k + 2 < len(params):
            h = h.tanh() if activation == "tanh" else h.relu()
    return h
