"""grad_norm and clip_grad_norm_ (O11) against torch.nn.utils.clip_grad_norm_ in float64."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from deepnotes import functional as F
from deepnotes.errors import ConfigError, NonFiniteLossError

f64 = torch.float64
NORM_TYPES = [0.5, 1.0, 2.0, 3.5, float("inf"), "inf"]


def _params(seed: int = 0, scale: float = 1.0) -> list[torch.Tensor]:
    """Parameters with gradients of several shapes, plus one without a gradient."""
    g = torch.Generator().manual_seed(seed)
    shapes = [(3, 4), (5,), (2, 2, 2), ()]
    params = []
    for s in shapes:
        p = torch.randn(s, generator=g, dtype=f64).requires_grad_(True)
        p.grad = scale * torch.randn(s, generator=g, dtype=f64)
        params.append(p)
    params.append(torch.zeros(3, dtype=f64, requires_grad=True))  # .grad is None: skipped
    return params


def _clone(params: list[torch.Tensor]) -> list[torch.Tensor]:
    out = []
    for p in params:
        q = p.detach().clone().requires_grad_(True)
        q.grad = None if p.grad is None else p.grad.clone()
        out.append(q)
    return out


@pytest.mark.parametrize("norm_type", NORM_TYPES)
def test_grad_norm_matches_torch(norm_type):
    params = _params()
    expected = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None],
                                             norm_type)
    torch.testing.assert_close(F.grad_norm(params, norm_type), expected)
    # it is the norm of all gradients concatenated
    flat = torch.cat([p.grad.flatten() for p in params if p.grad is not None])
    torch.testing.assert_close(F.grad_norm(params, norm_type),
                               torch.linalg.vector_norm(flat, float(norm_type)))


@pytest.mark.parametrize("norm_type", NORM_TYPES)
@pytest.mark.parametrize("max_norm", [0.3, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ours, ref = _params(1, scale=2.0), _params(1, scale=2.0)
    total = F.clip_grad_norm_(ours, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(ref, max_norm, norm_type)
    torch.testing.assert_close(total, expected)
    for p, q in zip(ours, ref):
        if q.grad is None:
            assert p.grad is None
        else:
            torch.testing.assert_close(p.grad, q.grad, atol=1e-15, rtol=1e-13)
    after = F.grad_norm(ours, norm_type)
    if max_norm < total:
        # clipped down to max_norm (the 1e-6 in the denominator leaves it a hair below)
        assert after.item() == pytest.approx(max_norm, rel=1e-5) and after <= max_norm
    else:
        torch.testing.assert_close(after, total)


def test_clip_keeps_the_direction():
    params = _params(2)
    before = torch.cat([p.grad.flatten() for p in params if p.grad is not None])
    F.clip_grad_norm_(params, 0.1)
    after = torch.cat([p.grad.flatten() for p in params if p.grad is not None])
    cos = torch.dot(before, after) / (before.norm() * after.norm())
    assert cos.item() == pytest.approx(1.0, abs=1e-14)


def test_clip_accepts_a_tensor_a_generator_and_a_module():
    w = torch.zeros(2, requires_grad=True)
    w.grad = torch.tensor([3.0, 4.0])
    assert F.clip_grad_norm_(w, max_norm=1.0).item() == pytest.approx(5.0)
    torch.testing.assert_close(w.grad, torch.tensor([0.6, 0.8]), atol=1e-6, rtol=0)

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)).double()
    ref = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)).double()
    ref.load_state_dict(model.state_dict())
    x = torch.randn(5, 4, dtype=f64)
    for m in (model, ref):
        (10 * m(x)).pow(2).sum().backward()
    total = F.clip_grad_norm_(model.parameters(), 0.5)  # a generator, consumed once
    expected = torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.5)
    torch.testing.assert_close(total, expected)
    for p, q in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, q.grad)


def test_no_gradients_gives_zero():
    p = torch.zeros(3, requires_grad=True)
    assert F.grad_norm([p]).item() == 0.0
    assert F.clip_grad_norm_([p], 1.0).item() == 0.0
    assert p.grad is None
    assert torch.nn.utils.clip_grad_norm_([p], 1.0).item() == 0.0


def test_non_finite_norm():
    ours, ref = _params(3), _params(3)
    for params in (ours, ref):
        params[1].grad[2] = float("nan")
    with pytest.raises(NonFiniteLossError, match="nan"):
        F.clip_grad_norm_(_clone(ours), 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_(_clone(ref), 1.0, error_if_nonfinite=True)
    # without the check, nan spreads just as in torch
    total = F.clip_grad_norm_(ours, 1.0)
    expected = torch.nn.utils.clip_grad_norm_(ref, 1.0)
    assert torch.isnan(total) and torch.isnan(expected)
    for p, q in zip(ours, ref):
        if q.grad is not None:
            torch.testing.assert_close(p.grad, q.grad, equal_nan=True)
    inf_params = _params(4)
    inf_params[0].grad[0, 0] = float("inf")
    with pytest.raises(NonFiniteLossError, match="inf"):
        F.clip_grad_norm_(inf_params, 1.0, error_if_nonfinite=True)


@pytest.mark.parametrize("norm_type", [0.0, -2.0, float("nan")])
def test_bad_norm_type(norm_type):
    with pytest.raises(ConfigError, match="norm_type"):
        F.grad_norm(_params(), norm_type)
