"""Our reverse-mode autodiff engine (B10) against ``torch.autograd`` in float64."""

from __future__ import annotations

import doctest

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import deepnotes.autodiff as ad
from deepnotes.autodiff import Node, cross_entropy, mlp_forward, topological_order
from deepnotes.errors import ConfigError

UNARY = ("tanh", "relu", "neg", "log_softmax")
BINARY = ("add", "mul", "sub", "matmul", "add_row")


def _apply(op: str, a, b, engine: str):
    """One operation on our nodes or on torch tensors (same semantics)."""
    if op == "tanh":
        return a.tanh() if engine == "ours" else torch.tanh(a)
    if op == "relu":
        return a.relu() if engine == "ours" else torch.relu(a)
    if op == "neg":
        return -a
    if op == "log_softmax":
        return a.log_softmax() if engine == "ours" else torch.log_softmax(a, -1)
    if op == "add":
        return a + b
    if op == "mul":
        return a * b
    if op == "sub":
        return a - b
    if op == "matmul":
        return a @ b
    raise AssertionError(op)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), steps=st.integers(1, 12))
def test_b10_gradients_equal_autograd_on_random_graphs(seed, steps):
    g = torch.Generator().manual_seed(seed)
    n = 3
    leaves = [torch.randn(n, n, generator=g, dtype=torch.float64) for _ in range(3)]
    row = torch.randn(1, n, generator=g, dtype=torch.float64)  # broadcast over rows
    ours = [Node(v) for v in leaves] + [Node(row)]
    theirs = [v.clone().requires_grad_(True) for v in [*leaves, row]]
    pool_o, pool_t = list(ours[:3]), list(theirs[:3])
    for _ in range(steps):
        i = int(torch.randint(len(pool_o), (1,), generator=g))
        j = int(torch.randint(len(pool_o), (1,), generator=g))  # may equal i: a shared node
        if torch.rand(1, generator=g) < 0.4:
            op = UNARY[int(torch.randint(len(UNARY), (1,), generator=g))]
            pool_o.append(_apply(op, pool_o[i], None, "ours"))
            pool_t.append(_apply(op, pool_t[i], None, "torch"))
        else:
            op = BINARY[int(torch.randint(len(BINARY), (1,), generator=g))]
            if op == "add_row":
                pool_o.append(pool_o[i] + ours[3])
                pool_t.append(pool_t[i] + theirs[3])
            else:
                pool_o.append(_apply(op, pool_o[i], pool_o[j], "ours"))
                pool_t.append(_apply(op, pool_t[i], pool_t[j], "torch"))
    # a scalar from every node made (so unused branches count too), as a weighted sum
    loss_o = sum((p * float(k + 1)).sum() for k, p in enumerate(pool_o[3:]))
    loss_t = sum((p * float(k + 1)).sum() for k, p in enumerate(pool_t[3:]))
    loss_o.backward()
    loss_t.backward()
    assert torch.allclose(loss_o.value, loss_t.detach())
    for o, t in zip(ours, theirs):
        want = t.grad if t.grad is not None else torch.zeros_like(t)
        got = o.grad if o.grad is not None else torch.zeros_like(o.value)
        assert torch.allclose(got, want, atol=1e-10, rtol=1e-9)


def test_b10_mlp_and_cross_entropy_gradients_equal_autograd():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (8,), generator=g)
    shapes = [(5, 7), (1, 7), (7, 3), (1, 3)]
    values = [torch.randn(*s, generator=g, dtype=torch.float64) * 0.5 for s in shapes]
    for act in ("tanh", "relu"):
        params = [Node(v) for v in values]
        loss = cross_entropy(mlp_forward(Node(x), params, act), y)
        loss.backward()
        ts = [v.clone().requires_grad_(True) for v in values]
        h = x @ ts[0] + ts[1]
        h = torch.tanh(h) if act == "tanh" else torch.relu(h)
        ref = torch.nn.functional.cross_entropy(h @ ts[2] + ts[3], y)
        ref.backward()
        assert torch.allclose(loss.value, ref.detach())
        for p, t in zip(params, ts):
            assert torch.allclose(p.grad, t.grad, atol=1e-12)


def test_shared_node_gradients_add_up_over_paths():
    a = Node(3.0)
    loss = a * a + a  # d/da = 2a + 1 = 7: two paths through the product, one direct
    loss.backward()
    assert float(a.grad) == 7.0


def test_topological_order_puts_parents_first_and_handles_deep_graphs():
    x = Node(1.0)
    h = x
    for _ in range(5000):  # deeper than Python's recursion limit
        h = h * 1.0001
    order = topological_order(h)
    assert order[-1] is h and any(n is x for n in order)
    pos = {id(n): i for i, n in enumerate(order)}
    assert all(pos[id(p)] < pos[id(n)] for n in order for p in n.parents)
    h.backward()
    assert abs(float(x.grad) - 1.0001 ** 5000) < 1e-9


def test_backward_is_repeatable_and_needs_a_scalar():
    w = Node([[1.0, 2.0]])
    loss = (w * w).sum()
    loss.backward()
    loss.backward()  # gradients are replaced, not accumulated twice
    assert w.grad.tolist() == [[2.0, 4.0]]
    with pytest.raises(ConfigError, match="scalar"):
        (w * w).backward()
    with pytest.raises(ConfigError, match="matmul"):
        w @ w


def test_docstring_examples():
    result = doctest.testmod(ad)
    assert result.attempted > 0 and result.failed == 0


def test_bad_inputs_are_clear_errors():
    logits = Node(torch.zeros(4, 3))
    with pytest.raises(ConfigError, match="N labels"):
        cross_entropy(logits, [0, 1])
    with pytest.raises(ConfigError, match="activation"):
        mlp_forward(Node(torch.zeros(2, 3)), [Node(torch.zeros(3, 2)), Node(torch.zeros(1, 2))],
                    activation="sigmoid")
