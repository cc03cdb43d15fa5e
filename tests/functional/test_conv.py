"""corr2d, conv2d and pooling (C2, C3, C5) against torch.nn.functional in float64."""

from __future__ import annotations

import doctest
import itertools

import pytest
import torch
import torch.nn.functional as TF
from torch.autograd import gradcheck

import deepnotes.functional.conv as conv_module
from deepnotes import functional as F
from deepnotes.errors import ConfigError, ShapeError
from tests.functional._helpers import assert_parity

f64 = torch.float64


def _randn(*shape, seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=f64)


# ---------------------------------------------------------------- corr2d (C3)

def test_corr2d_golden_numbers_from_the_notes():
    # C3: the first output is 0·0 + 1·1 + 3·2 + 4·3 = 19
    X = torch.arange(9.0).reshape(3, 3)
    K = torch.arange(4.0).reshape(2, 2)
    Y = F.corr2d(X, K)
    assert Y.tolist() == [[19.0, 25.0], [37.0, 43.0]]


def test_corr2d_detects_vertical_edges():
    # d2l's edge detector: K = [1, -1] marks 1→0 edges with 1 and 0→1 edges with -1
    X = torch.ones(6, 8)
    X[:, 2:6] = 0
    Y = F.corr2d(X, torch.tensor([[1.0, -1.0]]))
    expected = torch.zeros(6, 7)
    expected[:, 1], expected[:, 5] = 1.0, -1.0
    assert torch.equal(Y, expected)


@pytest.mark.parametrize("xs,ks", [((5, 7), (3, 2)), ((4, 4), (4, 4)), ((6, 3), (1, 1))])
def test_corr2d_matches_torch_conv2d_values_and_grads(xs, ks):
    def ours(x, k):
        return F.corr2d(x, k)

    def ref(x, k):
        return TF.conv2d(x[None, None], k[None, None])[0, 0]

    assert_parity(ours, ref, _randn(*xs), _randn(*ks, seed=1))


def test_corr2d_rejects_wrong_shapes():
    with pytest.raises(ShapeError, match="2-D"):
        F.corr2d(torch.zeros(1, 3, 3), torch.zeros(2, 2))
    with pytest.raises(ShapeError, match="larger than the image"):
        F.corr2d(torch.zeros(3, 3), torch.zeros(4, 2))


# ---------------------------------------------------------------- output size (C2)

@pytest.mark.parametrize("n,k,p,s", [
    (n, k, p, s) for n, k, p, s in itertools.product((5, 8, 28), (1, 2, 3, 5), (0, 1, 2), (1, 2, 3))
    if n + 2 * p >= k
])
def test_conv_output_size_matches_torch_shapes(n, k, p, s):
    y = TF.conv2d(torch.zeros(1, 1, n, n + 1), torch.zeros(1, 1, k, k), stride=s, padding=p)
    assert y.shape[2] == F.conv_output_size(n, k, p, s)
    assert y.shape[3] == F.conv_output_size(n + 1, k, p, s)


def test_conv_output_size_lenet_and_errors():
    assert F.conv_output_size(28, 5, padding=2) == 28
    assert F.conv_output_size(10, 2, stride=2) == 5
    with pytest.raises(ConfigError, match="stride=0"):
        F.conv_output_size(8, 3, stride=0)
    with pytest.raises(ShapeError, match="larger than the padded input"):
        F.conv_output_size(3, 7, padding=1)


# ---------------------------------------------------------------- conv2d (C2, C3, C4)

CONV_CASES = [
    # (N, C, H, W), O, kernel, stride, padding, bias
    ((2, 1, 7, 7), 3, 3, 1, 0, True),
    ((2, 3, 8, 6), 4, 3, 1, 1, True),
    ((1, 2, 9, 9), 2, 5, 2, 2, False),
    ((3, 4, 6, 7), 5, (3, 2), (2, 1), (1, 0), True),
    ((2, 2, 5, 5), 3, 1, 1, 0, True),
    ((2, 3, 10, 9), 2, 4, 3, 1, True),
    ((1, 1, 28, 28), 6, 5, 1, 2, True),  # LeNet's first layer
    ((2, 6, 14, 14), 16, 5, 1, 0, False),  # LeNet's second layer
    ((2, 4, 8, 8), 8, 1, 2, 0, False),  # a ResNet 1×1 shortcut
    ((1, 2, 4, 4), 3, 4, 1, 0, True),  # kernel as large as the image
    ((2, 2, 5, 6), 3, (1, 3), 1, (0, 1), True),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d_matches_torch_values_and_grads(case):
    shape, out_ch, k, s, p, with_bias = case
    kh, kw = (k, k) if isinstance(k, int) else k
    x = _randn(*shape)
    w = _randn(out_ch, shape[1], kh, kw, seed=1)
    inputs = (x, w, _randn(out_ch, seed=2)) if with_bias else (x, w)

    def ours(x, w, b=None):
        return F.conv2d(x, w, b, stride=s, padding=p)

    def ref(x, w, b=None):
        return TF.conv2d(x, w, b, stride=s, padding=p)

    assert_parity(ours, ref, *inputs)


def test_conv2d_follows_the_formula_elementwise():
    # Y[n,o,i,j] = b_o + Σ_c Σ_a Σ_b X[n, c, i·s+a-p, j·s+b-p]·W[o,c,a,b], X zero outside
    x, w, b = _randn(2, 3, 5, 4), _randn(2, 3, 3, 2, seed=1), _randn(2, seed=2)
    s, p = 2, 1
    y = F.conv2d(x, w, b, stride=s, padding=p)
    xp = TF.pad(x, (p, p, p, p))
    for n, o, i, j in itertools.product(range(2), range(2), range(y.shape[2]), range(y.shape[3])):
        window = xp[n, :, i * s:i * s + 3, j * s:j * s + 2]
        expected = b[o] + (window * w[o]).sum()
        torch.testing.assert_close(y[n, o, i, j], expected, atol=1e-12, rtol=0)


def test_conv2d_multi_channel_is_sum_of_corr2d():
    # C3: each output channel sums one corr2d per input channel, plus its bias
    x, w, b = _randn(1, 3, 6, 6), _randn(2, 3, 3, 3, seed=1), _randn(2, seed=2)
    y = F.conv2d(x, w, b)
    for o in range(2):
        expected = b[o] + sum(F.corr2d(x[0, c], w[o, c]) for c in range(3))
        torch.testing.assert_close(y[0, o], expected, atol=1e-12, rtol=0)


def test_conv2d_unbatched_input():
    x, w = _randn(3, 6, 5), _randn(4, 3, 3, 3, seed=1)
    y = F.conv2d(x, w, padding=1)
    assert y.shape == (4, 6, 5)
    torch.testing.assert_close(y, TF.conv2d(x, w, padding=1), atol=1e-12, rtol=1e-10)


def test_conv2d_float32_close_to_torch():
    x = torch.randn(4, 3, 12, 12)
    w = torch.randn(8, 3, 3, 3)
    torch.testing.assert_close(F.conv2d(x, w, stride=2, padding=1),
                               TF.conv2d(x, w, stride=2, padding=1), atol=1e-4, rtol=1e-4)


def test_conv2d_gradcheck():
    x = _randn(2, 2, 5, 4).requires_grad_()
    w = _randn(3, 2, 3, 2, seed=1).requires_grad_()
    b = _randn(3, seed=2).requires_grad_()
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1), (x, w, b))


def test_conv2d_rejects_bad_shapes_and_arguments():
    x = torch.zeros(2, 3, 8, 8)
    with pytest.raises(ShapeError, match="expects 2 input channels, got input"):
        F.conv2d(x, torch.zeros(4, 2, 3, 3))
    with pytest.raises(ShapeError, match=r"\(N, C, H, W\)"):
        F.conv2d(torch.zeros(8, 8), torch.zeros(4, 1, 3, 3))
    with pytest.raises(ShapeError, match="weight of shape"):
        F.conv2d(x, torch.zeros(4, 3, 3))
    with pytest.raises(ShapeError, match=r"bias of shape \(4,\)"):
        F.conv2d(x, torch.zeros(4, 3, 3, 3), torch.zeros(3))
    with pytest.raises(ShapeError, match="larger than the padded input"):
        F.conv2d(x, torch.zeros(4, 3, 9, 3))
    with pytest.raises(ConfigError, match="stride must be >= 1, got 0"):
        F.conv2d(x, torch.zeros(4, 3, 3, 3), stride=0)
    with pytest.raises(ConfigError, match="padding must be >= 0"):
        F.conv2d(x, torch.zeros(4, 3, 3, 3), padding=(1, -1))
    with pytest.raises(ConfigError, match="int or a pair"):
        F.conv2d(x, torch.zeros(4, 3, 3, 3), stride=(1, 2, 3))


# ---------------------------------------------------------------- pooling (C5)

POOL_CASES = [
    # (N, C, H, W), kernel, stride, padding
    ((2, 3, 8, 8), 2, None, 0),
    ((2, 3, 8, 8), 2, 2, 0),
    ((1, 2, 7, 9), 3, 1, 1),
    ((2, 2, 9, 7), 3, 2, 1),
    ((1, 3, 6, 6), (2, 3), (1, 2), (1, 1)),
    ((2, 1, 5, 5), 5, None, 2),
    ((1, 2, 28, 28), 2, 2, 0),
    ((2, 2, 7, 7), 1, 2, 0),
    ((1, 2, 10, 11), 4, 3, 2),
]


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_matches_torch_values_and_grads(case, kind):
    shape, k, s, p = case
    ours_fn = F.max_pool2d if kind == "max" else F.avg_pool2d
    ref_fn = TF.max_pool2d if kind == "max" else TF.avg_pool2d
    # ref: torch's default (stride=None means kernel_size, count_include_pad=True)
    assert_parity(lambda x: ours_fn(x, k, s, p), lambda x: ref_fn(x, k, s, p), _randn(*shape))


def test_max_pool_padding_never_wins():
    # all inputs negative: zero padding would give 0 at the borders, -inf padding does not
    x = -1.0 - torch.rand(1, 1, 4, 4, dtype=f64)
    y = F.max_pool2d(x, 3, stride=1, padding=1)
    assert (y < -1.0).all()
    torch.testing.assert_close(y, TF.max_pool2d(x, 3, 1, 1), atol=0, rtol=0)


def test_avg_pool_counts_padding_zeros():
    y = F.avg_pool2d(torch.ones(1, 1, 2, 2, dtype=f64), 2, stride=1, padding=1)
    # corner windows hold one 1 and three padded zeros
    assert y[0, 0, 0, 0].item() == 0.25
    assert y[0, 0, 1, 1].item() == 1.0


def test_max_pool_gradient_goes_to_the_maximum_only():
    x = torch.tensor([[[[1.0, 5.0], [3.0, 2.0]]]], dtype=f64, requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    assert x.grad.tolist() == [[[[0.0, 1.0], [0.0, 0.0]]]]


@pytest.mark.parametrize("fn", [F.max_pool2d, F.avg_pool2d], ids=["max", "avg"])
def test_pooling_gradcheck_and_unbatched(fn):
    x = _randn(2, 2, 5, 6).requires_grad_()
    assert gradcheck(lambda x: fn(x, (3, 2), (2, 1), 1), (x,))
    u = _randn(3, 6, 6)
    torch.testing.assert_close(fn(u, 2), fn(u[None], 2)[0], atol=0, rtol=0)
    assert fn(u, 2).shape == (3, 3, 3)


@pytest.mark.parametrize("fn", [F.max_pool2d, F.avg_pool2d], ids=["max", "avg"])
def test_pooling_rejects_bad_arguments(fn):
    with pytest.raises(ShapeError, match=r"\(N, C, H, W\)"):
        fn(torch.zeros(4, 4), 2)
    with pytest.raises(ConfigError, match="at most half the kernel size"):
        fn(torch.zeros(1, 1, 6, 6), 2, padding=2)
    with pytest.raises(ConfigError, match="kernel_size must be >= 1"):
        fn(torch.zeros(1, 1, 6, 6), 0)
    with pytest.raises(ShapeError, match="larger than the padded input"):
        fn(torch.zeros(1, 1, 3, 3), 4)


def test_docstring_examples():
    result = doctest.testmod(conv_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 6
    assert result.failed == 0
