"""softmax, log_softmax and logsumexp (B7) against torch: any dim, big logits, gradients."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.autograd import gradcheck

from deepnotes import functional as F
from tests.functional._helpers import assert_parity

OPS = {
    "softmax": (F.softmax, torch.softmax),
    "log_softmax": (F.log_softmax, torch.log_softmax),
    "logsumexp": (F.logsumexp, torch.logsumexp),
}


def _logits(scale: float = 3.0, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(3, 4, 5, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("name", list(OPS))
@pytest.mark.parametrize("dim", [0, 1, 2, -1, -2])
def test_matches_torch_on_every_dim(name, dim):
    ours, ref = OPS[name]
    assert_parity(lambda x: ours(x, dim=dim), lambda x: ref(x, dim=dim), _logits())


@pytest.mark.parametrize("name", list(OPS))
@pytest.mark.parametrize("scale", [1e4, 1e6])
def test_big_logits_are_stable(name, scale):
    ours, ref = OPS[name]
    x = _logits(scale, seed=1)
    out, _ = assert_parity(lambda t: ours(t, dim=1), lambda t: ref(t, dim=1), x,
                           atol=1e-9, rtol=1e-12)
    assert torch.isfinite(out).all()


def test_big_logits_float32_give_no_nan():
    x = torch.tensor([[1e4, 0.0, -1e4], [1e4, 1e4, 1e4]], dtype=torch.float32)
    torch.testing.assert_close(F.softmax(x), torch.tensor([[1.0, 0, 0], [1 / 3, 1 / 3, 1 / 3]]))
    torch.testing.assert_close(F.log_softmax(x), torch.log_softmax(x, -1))
    torch.testing.assert_close(F.logsumexp(x), torch.tensor([1e4, 1e4 + math.log(3)]))


def test_logsumexp_keepdim():
    x = _logits()
    for dim in (0, 1, 2):
        assert_parity(lambda t: F.logsumexp(t, dim=dim, keepdim=True),
                      lambda t: torch.logsumexp(t, dim=dim, keepdim=True), x)


def test_logsumexp_with_infinities_matches_torch():
    inf = float("inf")
    x = torch.tensor([[inf, 1.0], [-inf, -inf], [-inf, 2.0], [3.0, 3.0]], dtype=torch.float64)
    torch.testing.assert_close(F.logsumexp(x), torch.logsumexp(x, dim=-1))
    assert F.logsumexp(x).tolist() == [inf, -inf, 2.0, 3.0 + math.log(2.0)]


def test_masked_entries_get_zero_probability():
    x = torch.tensor([[1.0, float("-inf"), 2.0]], dtype=torch.float64, requires_grad=True)
    p = F.softmax(x)
    assert p[0, 1].item() == 0.0
    (g,) = torch.autograd.grad(p[0, 0], x)
    assert torch.isfinite(g).all() and g[0, 1].item() == 0.0
    torch.testing.assert_close(F.log_softmax(x), torch.log_softmax(x, -1))


@pytest.mark.parametrize("name", list(OPS))
def test_gradcheck(name):
    ours, _ = OPS[name]
    x = _logits(seed=2)[:2, :3].clone().requires_grad_(True)
    assert gradcheck(lambda t: ours(t, dim=0), (x,))
    assert gradcheck(lambda t: ours(t, dim=-1), (x,))


# --- properties ---

_rows = st.lists(
    st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False),
    min_size=1, max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(_rows, st.floats(min_value=-1e3, max_value=1e3))
def test_softmax_sums_to_one_and_ignores_a_shift(row, shift):
    x = torch.tensor(row, dtype=torch.float64)
    p = F.softmax(x)
    assert (p >= 0).all() and (p <= 1).all()
    assert abs(p.sum().item() - 1.0) < 1e-12
    torch.testing.assert_close(F.softmax(x + shift), p, atol=1e-12, rtol=1e-9)
    torch.testing.assert_close(F.log_softmax(x + shift), F.log_softmax(x), atol=1e-9, rtol=1e-9)


@settings(max_examples=60, deadline=None)
@given(_rows)
def test_log_softmax_is_log_of_softmax(row):
    x = torch.tensor(row, dtype=torch.float64)
    p = F.softmax(x)
    lp = F.log_softmax(x)
    big = p > 1e-300  # log of an underflowed probability is -inf; log_softmax stays finite
    torch.testing.assert_close(lp[big], torch.log(p[big]), atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(lp, x - F.logsumexp(x), atol=1e-12, rtol=1e-12)
    # max ≤ logsumexp ≤ max + log n
    lse, m = F.logsumexp(x).item(), x.max().item()
    assert m - 1e-12 <= lse <= m + math.log(len(row)) + 1e-9
