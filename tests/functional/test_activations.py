"""Activations (B5, B6) against torch in float64: values, gradients, extreme inputs."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as TF
from torch.autograd import gradcheck

from deepnotes import functional as F
from deepnotes.errors import ConfigError
from tests.functional._helpers import assert_finite_with_grad, assert_parity

PAIRS = {
    "sigmoid": (F.sigmoid, torch.sigmoid),
    "tanh": (F.tanh, torch.tanh),
    "relu": (F.relu, torch.relu),
    "gelu": (F.gelu, TF.gelu),
    "gelu_tanh": (
        functools.partial(F.gelu, approximate="tanh"),
        functools.partial(TF.gelu, approximate="tanh"),
    ),
}

EXTREMES = [-1e3, -700.0, -50.0, -20.0, -1.0, -1e-8, 0.0, 1e-8, 1.0, 20.0, 50.0, 700.0, 1e3]


def _inputs() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = 4.0 * torch.randn(171, generator=g, dtype=torch.float64)
    return torch.cat([x, torch.tensor(EXTREMES, dtype=torch.float64)]).reshape(8, 23)


@pytest.mark.parametrize("name", list(PAIRS))
def test_matches_torch_values_and_gradients(name):
    ours, ref = PAIRS[name]
    # torch's sigmoid backward is y(1-y), which rounds to 0 once y == 1 (x ≳ 37); ours keeps
    # e^{-x}/(1+e^{-x})² ≈ 1e-22 at x = 50, so the absolute tolerance covers that. In the tanh
    # GELU's tails both sides lose a few ulps to 1 - tanh², checked against mpmath (|x| = 6:
    # ours -7.70997601272e-10, torch -7.70997601283e-10, exact -7.70997393095e-10).
    atol = 1e-13 if name == "gelu_tanh" else 1e-15
    assert_parity(ours, ref, _inputs(), atol=atol, rtol=1e-12)


@pytest.mark.parametrize("name", list(PAIRS))
def test_gradcheck(name):
    ours, _ = PAIRS[name]
    g = torch.Generator().manual_seed(1)
    x = torch.randn(20, generator=g, dtype=torch.float64)
    x = (x + 0.1 * torch.sign(x)).requires_grad_(True)  # keep relu away from its kink
    assert gradcheck(ours, (x,))


@pytest.mark.parametrize("name", list(PAIRS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_extreme_inputs_are_finite(name, dtype):
    ours, ref = PAIRS[name]
    x = torch.tensor([-1e4, -1e3, -100.0, 100.0, 1e3, 1e4], dtype=dtype)
    g = assert_finite_with_grad(ours, x)
    # atol: ours keeps sigmoid(-100) = 3.8e-44 (a float32 subnormal) where torch gives 0
    torch.testing.assert_close(ours(x), ref(x), atol=1e-40, rtol=1e-6)
    # far from 0 every one of them is flat or has slope 1
    torch.testing.assert_close(g.abs(), ref(x).abs().div(x.abs()).round(), atol=1e-6, rtol=0)


def test_sigmoid_and_tanh_saturate_exactly():
    x = torch.tensor([-1000.0, 0.0, 1000.0], dtype=torch.float64)
    assert F.sigmoid(x).tolist() == [0.0, 0.5, 1.0]
    assert F.tanh(x).tolist() == [-1.0, 0.0, 1.0]


def test_tanh_keeps_relative_precision_near_zero():
    x = torch.logspace(-300, 0, 61, dtype=torch.float64)
    x = torch.cat([-x, x])
    torch.testing.assert_close(F.tanh(x), torch.tanh(x), atol=0.0, rtol=1e-14)
    # sigmoid ≈ 1/2 there, so it can only be right to one ulp of 1/2
    torch.testing.assert_close(F.sigmoid(x), torch.sigmoid(x), atol=1.2e-16, rtol=1e-15)


def test_relu_derivative_at_zero_is_zero():
    x = torch.tensor([-1.0, 0.0, 2.0], dtype=torch.float64, requires_grad=True)
    F.relu(x).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 1.0]


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ConfigError, match="'sigmoid'"):
        F.gelu(torch.zeros(2), approximate="sigmoid")


# --- hard sigmoid (B5): c·[ReLU(b + w x) - ReLU(b + w x - 1)] = c·clamp(b + w x, 0, 1) ---


def _away_from_kinks(x: torch.Tensor, b: float, w: float) -> torch.Tensor:
    # nudge points where b + w x lands within 1e-3 of 0 or 1 (subgradient conventions differ)
    z = b + w * x
    near = ((z.abs() < 1e-3) | ((z - 1).abs() < 1e-3))
    return torch.where(near, x + 1e-2 / w, x)


@pytest.mark.parametrize("c,b,w", [(1.0, 0.0, 1.0), (2.5, -0.3, 4.0), (-1.5, 2.0, -0.7)])
def test_hard_sigmoid_matches_its_formula(c, b, w):
    g = torch.Generator().manual_seed(2)
    x = _away_from_kinks(3.0 * torch.randn(200, generator=g, dtype=torch.float64), b, w)

    def formula(x):
        return c * torch.clamp(b + w * x, 0.0, 1.0)

    assert_parity(lambda x: F.hard_sigmoid(x, c=c, b=b, w=w), formula, x)


def test_hard_sigmoid_is_two_relus_and_has_ramp_shape():
    x = torch.tensor([-1.0, 0.0, 0.25, 0.5, 1.0, 2.0], dtype=torch.float64)
    y = F.hard_sigmoid(x, c=2.0)
    assert y.tolist() == [0.0, 0.0, 0.5, 1.0, 2.0, 2.0]
    torch.testing.assert_close(y, 2.0 * (torch.relu(x) - torch.relu(x - 1.0)), atol=0, rtol=0)


def test_hard_sigmoid_equals_torch_hardsigmoid_with_matching_parameters():
    # torch: ReLU6(x + 3)/6 = clamp(x/6 + 1/2, 0, 1), i.e. c = 1, b = 1/2, w = 1/6
    x = torch.linspace(-5, 5, 101, dtype=torch.float64)
    y = F.hard_sigmoid(x, c=1.0, b=0.5, w=1.0 / 6.0)
    torch.testing.assert_close(y, TF.hardsigmoid(x), atol=1e-15, rtol=0)
    # gradients agree wherever the function is differentiable (|x| != 3); torch's float64
    # backward uses a float32 1/6 (0.1666666716...), hence the 1e-7 relative tolerance
    xs = x[(x.abs() - 3).abs() > 1e-9]
    assert_parity(lambda t: F.hard_sigmoid(t, 1.0, 0.5, 1.0 / 6.0), TF.hardsigmoid, xs,
                  atol=1e-15, rtol=1e-7)


def test_hard_sigmoid_learnable_parameters_gradcheck():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(4, 5, generator=g, dtype=torch.float64)
    c = torch.randn(5, generator=g, dtype=torch.float64).requires_grad_(True)
    b = (0.5 + 0.1 * torch.randn(5, generator=g, dtype=torch.float64)).requires_grad_(True)
    w = (0.3 * torch.randn(5, generator=g, dtype=torch.float64)).requires_grad_(True)
    z = b.detach() + w.detach() * x
    # keep every b + w x clear of the kinks at 0 and 1 for the finite differences
    assert ((z.abs() > 1e-3) & ((z - 1).abs() > 1e-3)).all()
    assert gradcheck(lambda c, b, w: F.hard_sigmoid(x, c, b, w), (c, b, w))
    out = F.hard_sigmoid(x, c, b, w)
    assert out.shape == (4, 5)


# ------------------------------------------------------------- the name -> function table


def test_activation_table_names_and_functions():
    x = 3.0 * torch.randn(4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    expected = {"identity": x, "sigmoid": torch.sigmoid(x), "tanh": torch.tanh(x),
                "relu": torch.relu(x), "gelu": TF.gelu(x), "softmax": torch.softmax(x, -1)}
    assert set(F.ACTIVATION_FUNCTIONS) == set(expected)
    for name, want in expected.items():
        assert torch.equal(F.activation_function(name)(x), want), name
        # torch's op, the reference of the formula of the same name where there is one
        if name in PAIRS:
            torch.testing.assert_close(PAIRS[name][0](x), want, atol=1e-15, rtol=1e-14)


def test_activation_function_errors_list_the_choices():
    with pytest.raises(ConfigError, match=r"nonlinearity must be one of \['relu', 'tanh'\], "
                                          r"got 'gelu'"):
        F.activation_function("gelu", ("tanh", "relu"), "nonlinearity")
    with pytest.raises(ConfigError, match=r"activation must be one of \[.*'softmax'.*\], got 'x'"):
        F.activation_function("x")
