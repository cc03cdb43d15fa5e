"""Conv2d, MaxPool2d and AvgPool2d: both paths agree with each other and with torch.nn."""

from __future__ import annotations

import doctest

import pytest
import torch
from torch import nn as tnn

import deepnotes.nn.conv as conv_module
from deepnotes import nn
from deepnotes.errors import ConfigError, ShapeError

f64 = torch.float64


def _step(module, x, seed=7):
    """Output and gradients wrt the input and every parameter under a random upstream grad."""
    x = x.detach().clone().requires_grad_(True)
    y = module(x)
    upstream = torch.randn(y.shape, dtype=y.dtype, generator=torch.Generator().manual_seed(seed))
    grads = torch.autograd.grad(y, [x, *module.parameters()], upstream)
    return y.detach(), grads


CONV_CASES = [
    # in, out, kernel, stride, padding, bias, input shape
    (1, 6, 5, 1, 2, True, (2, 1, 12, 12)),
    (6, 16, 5, 1, 0, True, (2, 6, 9, 9)),
    (3, 4, 3, 2, 1, False, (3, 3, 7, 8)),
    (4, 8, 1, 2, 0, True, (2, 4, 6, 6)),
    (2, 3, (3, 1), (1, 2), (1, 0), True, (2, 2, 5, 7)),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d_both_paths_match_torch_module(case):
    cin, cout, k, s, p, bias, shape = case
    ref = tnn.Conv2d(cin, cout, k, stride=s, padding=p, bias=bias).double()
    fused = nn.Conv2d(cin, cout, k, stride=s, padding=p, bias=bias, fused=True).double()
    formula = nn.Conv2d(cin, cout, k, stride=s, padding=p, bias=bias, fused=False).double()
    # a torch state dict loads into both paths (same names and shapes)
    fused.load_state_dict(ref.state_dict())
    formula.load_state_dict(ref.state_dict())
    x = torch.randn(shape, dtype=f64, generator=torch.Generator().manual_seed(3))
    y_ref, g_ref = _step(ref, x)
    y_fused, g_fused = _step(fused, x)
    y_formula, g_formula = _step(formula, x)
    torch.testing.assert_close(y_fused, y_ref, atol=0, rtol=0)
    torch.testing.assert_close(y_formula, y_ref, atol=1e-12, rtol=1e-10)
    assert len(g_ref) == len(g_fused) == len(g_formula) == (3 if bias else 2)
    for a, b, c in zip(g_ref, g_fused, g_formula, strict=True):
        torch.testing.assert_close(b, a, atol=0, rtol=0)
        torch.testing.assert_close(c, a, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_initialisation_and_state_dict_match_torch(bias):
    torch.manual_seed(11)
    ref = tnn.Conv2d(3, 5, (3, 2), bias=bias)
    torch.manual_seed(11)
    ours = nn.Conv2d(3, 5, (3, 2), bias=bias, fused=False)
    sd_ref, sd_ours = ref.state_dict(), ours.state_dict()
    assert list(sd_ref) == list(sd_ours) == (["weight", "bias"] if bias else ["weight"])
    for k in sd_ref:
        # same scheme and same random draws: identical numbers
        assert torch.equal(sd_ref[k], sd_ours[k]), k
    # the bound is 1/√fan_in with fan_in = 3·3·2
    bound = 1 / 18 ** 0.5
    assert ours.weight.abs().max() <= bound
    # and ours loads back into torch's
    ref2 = tnn.Conv2d(3, 5, (3, 2), bias=bias)
    ref2.load_state_dict(ours.state_dict())


def test_conv2d_reset_parameters_redraws():
    m = nn.Conv2d(2, 3, 3)
    before = m.weight.detach().clone()
    m.reset_parameters()
    assert not torch.equal(before, m.weight)


def test_conv2d_switching_paths_keeps_parameters_and_outputs():
    m = nn.Conv2d(2, 4, 3, padding=1).double()
    x = torch.randn(2, 2, 6, 6, dtype=f64)
    y1 = m(x)
    m.fused = False
    torch.testing.assert_close(m(x), y1, atol=1e-12, rtol=1e-10)


POOL_CASES = [
    # kernel, stride, padding, input shape
    (2, None, 0, (2, 3, 8, 8)),
    (3, 2, 1, (2, 2, 9, 7)),
    ((2, 3), (1, 2), (1, 1), (1, 2, 6, 7)),
    (2, 2, 0, (3, 16, 10, 10)),
]


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pools_both_paths_match_torch_module(case, kind):
    k, s, p, shape = case
    ours_cls = nn.MaxPool2d if kind == "max" else nn.AvgPool2d
    ref_cls = tnn.MaxPool2d if kind == "max" else tnn.AvgPool2d
    ref = ref_cls(k, s, p)
    x = torch.randn(shape, dtype=f64, generator=torch.Generator().manual_seed(4))
    y_ref, (g_ref,) = _step(ref, x)
    for fused in (True, False):
        y, (g,) = _step(ours_cls(k, s, p, fused=fused), x)
        tol = 0 if fused else 1e-12
        torch.testing.assert_close(y, y_ref, atol=tol, rtol=tol)
        torch.testing.assert_close(g, g_ref, atol=tol, rtol=tol)


def test_pool_stride_defaults_to_kernel_and_repr_names_the_path():
    m = nn.MaxPool2d(3, fused=False)
    assert m.stride == (3, 3)
    assert "fused=False" in repr(m)
    assert "fused=True" in repr(nn.Conv2d(1, 2, 3))
    assert "bias=False" in repr(nn.Conv2d(1, 2, 3, bias=False))
    assert list(nn.AvgPool2d(2).state_dict()) == []


def test_layers_reject_bad_arguments_and_inputs():
    with pytest.raises(ShapeError, match=r"Conv2d\(3, 4\) expects input of shape \(N, 3, H, W\)"):
        nn.Conv2d(3, 4, 3)(torch.zeros(2, 1, 8, 8))
    with pytest.raises(ShapeError, match="expects input"):
        nn.Conv2d(3, 4, 3, fused=False)(torch.zeros(8, 8))
    with pytest.raises(ConfigError, match="out_channels >= 1"):
        nn.Conv2d(3, 0, 3)
    with pytest.raises(ConfigError, match="kernel_size must be >= 1, got 0"):
        nn.Conv2d(3, 4, 0)
    with pytest.raises(ConfigError, match="stride must be an int or a pair"):
        nn.Conv2d(3, 4, 3, stride=1.5)
    with pytest.raises(ConfigError, match="at most half the kernel size"):
        nn.MaxPool2d(2, padding=2)
    with pytest.raises(ShapeError, match=r"\(N, C, H, W\)"):
        nn.AvgPool2d(2, fused=False)(torch.zeros(4, 4))


def test_docstring_examples():
    result = doctest.testmod(conv_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 3
    assert result.failed == 0


TCONV_CASES = [
    # in, out, kernel, stride, padding, output_padding, bias, input shape
    (8, 4, 4, 2, 1, 0, True, (2, 8, 7, 7)),  # DCGAN's 7 -> 14
    (3, 2, 3, 2, 1, 1, False, (2, 3, 5, 6)),
    (2, 3, (4, 3), (2, 1), (1, 0), (1, 0), True, (1, 2, 4, 5)),
    (5, 1, 1, 1, 0, 0, True, (3, 5, 4, 4)),
]


@pytest.mark.parametrize("case", TCONV_CASES, ids=str)
def test_conv_transpose2d_both_paths_match_torch_module(case):
    """ConvTranspose2d (C2, C3): values and gradients of both paths equal torch's module's."""
    cin, cout, k, s, p, op, bias, shape = case
    torch.manual_seed(5)
    ref = tnn.ConvTranspose2d(cin, cout, k, s, p, op, bias=bias).double()
    torch.manual_seed(5)
    fused = nn.ConvTranspose2d(cin, cout, k, s, p, op, bias=bias).double()
    formula = nn.ConvTranspose2d(cin, cout, k, s, p, op, bias=bias, fused=False).double()
    # the same initial draws as torch's module, and its state dict loads into ours
    for key, value in ref.state_dict().items():
        assert torch.equal(fused.state_dict()[key], value), key
    formula.load_state_dict(ref.state_dict())
    x = torch.randn(shape, dtype=f64, generator=torch.Generator().manual_seed(3))
    y_ref, g_ref = _step(ref, x)
    y_fused, g_fused = _step(fused, x)
    y_formula, g_formula = _step(formula, x)
    torch.testing.assert_close(y_fused, y_ref, atol=0, rtol=0)
    torch.testing.assert_close(y_formula, y_ref, atol=1e-12, rtol=1e-10)
    for a, b, c in zip(g_ref, g_fused, g_formula, strict=True):
        torch.testing.assert_close(b, a, atol=0, rtol=0)
        torch.testing.assert_close(c, a, atol=1e-12, rtol=1e-10)


def test_conv_transpose2d_is_the_transpose_of_conv2d():
    """<conv(x), y> = <x, conv_transpose(y)> with the same kernel: the adjoint map (C3)."""
    from deepnotes import functional as F

    g = torch.Generator().manual_seed(0)
    w = torch.randn(4, 3, 3, 3, dtype=f64, generator=g)  # conv: 3 -> 4 channels
    x = torch.randn(2, 3, 9, 9, dtype=f64, generator=g)
    y = torch.randn(2, 4, 5, 5, dtype=f64, generator=g)  # conv output size, stride 2, pad 1
    lhs = (F.conv2d(x, w, stride=2, padding=1) * y).sum()
    rhs = (x * F.conv_transpose2d(y, w, stride=2, padding=1)).sum()
    torch.testing.assert_close(lhs, rhs)


def test_conv_transpose2d_rejects_bad_arguments():
    from deepnotes import functional as F

    with pytest.raises(ShapeError, match="weight of shape"):
        F.conv_transpose2d(torch.zeros(1, 2, 3, 3), torch.zeros(3, 1, 2, 2))
    with pytest.raises(ConfigError, match="output_padding < stride"):
        F.conv_transpose2d(torch.zeros(1, 2, 3, 3), torch.zeros(2, 1, 2, 2), stride=1,
                           output_padding=1)
    with pytest.raises(ShapeError, match="expects input"):
        nn.ConvTranspose2d(2, 3, 2)(torch.zeros(1, 4, 3, 3))
