"""Parity helpers shared by the functional and nn tests: ours vs a torch reference in float64."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

# float64 tolerances: the formulas and torch's kernels may round differently, nothing more
ATOL = 1e-12
RTOL = 1e-10


def _leaves(inputs: Sequence[Tensor]) -> list[Tensor]:
    # fresh float leaves that ask for a gradient; integer inputs (class indices) pass through
    return [
        x.detach().clone().requires_grad_(True) if x.is_floating_point() else x.clone()
        for x in inputs
    ]


def assert_parity(
    ours: Callable[..., Tensor],
    ref: Callable[..., Tensor],
    *inputs: Tensor,
    atol: float = ATOL,
    rtol: float = RTOL,
    grad: bool = True,
    seed: int = 0,
) -> tuple[Tensor, Tensor]:
    """Assert ``ours(*inputs)`` equals ``ref(*inputs)`` and so do the gradients of every float
    input, under a random upstream gradient (so every output element is weighted differently).

    Returns both outputs (detached).
    """
    a, b = _leaves(inputs), _leaves(inputs)
    out, expected = ours(*a), ref(*b)
    assert out.shape == expected.shape, f"shape {tuple(out.shape)} != {tuple(expected.shape)}"
    assert out.dtype == expected.dtype
    torch.testing.assert_close(out, expected, atol=atol, rtol=rtol, equal_nan=True)
    if grad:
        ga = [x for x in a if x.requires_grad]
        gb = [x for x in b if x.requires_grad]
        upstream = torch.randn(out.shape, dtype=out.dtype,
                               generator=torch.Generator().manual_seed(seed))
        da = torch.autograd.grad(out, ga, upstream, allow_unused=True)
        db = torch.autograd.grad(expected, gb, upstream, allow_unused=True)
        for i, (x, y) in enumerate(zip(da, db)):
            x = torch.zeros_like(ga[i]) if x is None else x
            y = torch.zeros_like(gb[i]) if y is None else y
            torch.testing.assert_close(x, y, atol=atol, rtol=rtol,
                                       msg=lambda m, i=i: f"gradient of input {i}: {m}")
    return out.detach(), expected.detach()


def assert_finite_with_grad(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """``fn(x)`` and d(sum fn(x))/dx are free of nan and inf; returns the gradient."""
    x = x.detach().clone().requires_grad_(True)
    y = fn(x)
    assert torch.isfinite(y).all(), f"non-finite output {y}"
    (g,) = torch.autograd.grad(y.sum(), x)
    assert torch.isfinite(g).all(), f"non-finite gradient {g}"
    return g
