"""find_critical_point lands on critical points of any kind, or says it stalled (Notes: O1)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from deepnotes.analysis import (
    analyse_critical_point,
    find_critical_point,
    get_flat_params,
    gradient_norm,
    set_flat_params,
)
from deepnotes.errors import ConfigError

F64 = torch.float64


@pytest.mark.parametrize("start, expected, kind", [
    ((-0.7, 0.4), (-1.0, 0.0), "saddle point"),
    ((0.6, -0.5), (1.0, 0.0), "local minimum"),
    ((-1.3, 0.0), (-1.0, 0.0), "saddle point"),
])
def test_converges_to_the_nearby_critical_point_of_any_kind(start, expected, kind):
    # f = x³ − 3x + y²: ∇f = (3x² − 3, 2y) vanishes at (±1, 0)
    p = torch.tensor(start, dtype=F64, requires_grad=True)
    f = lambda: p[0] ** 3 - 3 * p[0] + p[1] ** 2  # noqa: E731
    result = find_critical_point(f, [p], tol=1e-12)
    assert result.converged and result.reason == "converged"
    assert result.grad_norm <= 1e-12 < result.start_grad_norm
    torch.testing.assert_close(p.detach(), torch.tensor(expected, dtype=F64), rtol=0, atol=1e-12)
    assert analyse_critical_point(f, [p]).kind == kind


def test_finds_a_saddle_of_a_network_that_gradient_descent_would_leave():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)).to(F64)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(30, 2, generator=g, dtype=F64)
    y = torch.sin(x[:, :1]) + 0.1 * torch.randn(30, 1, generator=g, dtype=F64)
    # the all-zero-weights point with output bias mean(y) is a saddle; start near it
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net[2].bias.fill_(float(y.mean()))
    saddle = get_flat_params(net)
    set_flat_params(net, saddle + 1e-3 * torch.randn(saddle.numel(), generator=g, dtype=F64))

    def closure():
        return ((net(x) - y) ** 2).mean()

    assert gradient_norm(closure, net) > 1e-5
    result = find_critical_point(closure, net, tol=1e-11, max_iters=40)
    assert result.converged
    point = analyse_critical_point(closure, net)
    assert point.grad_norm <= 1e-11
    assert point.kind == "saddle point" and point.minimum_ratio < 1


def test_reports_stalled_where_the_gradient_norm_has_a_nonzero_minimum():
    # f = x³/3 + x: f' = x² + 1 ≥ 1 never vanishes; ‖f'‖² is smallest at x = 0, where f'' = 0
    p = torch.tensor([0.3], dtype=F64, requires_grad=True)
    result = find_critical_point(lambda: p[0] ** 3 / 3 + p[0], [p], max_iters=30)
    assert not result.converged and result.reason in ("stalled", "max_iters")
    assert 1.0 <= result.grad_norm < result.start_grad_norm
    assert abs(float(p.detach())) < 0.05  # it went to the minimum of ‖f'‖², as close as it could


def test_bad_arguments():
    p = torch.zeros(1, dtype=F64, requires_grad=True)
    with pytest.raises(ConfigError):
        find_critical_point(lambda: p.sum(), [p], tol=-1.0)
    with pytest.raises(ConfigError):
        find_critical_point(lambda: p.sum(), [p], max_iters=0)
