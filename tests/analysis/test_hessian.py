"""Hessian tools vs known functions and torch.autograd.functional.hessian (Notes: O1)."""

from __future__ import annotations

import doctest
import importlib

import pytest
import torch
from torch import nn
from torch.func import functional_call

from deepnotes.analysis import (
    analyse_critical_point,
    classify_critical_point,
    escape_direction,
    extreme_eigenpairs,
    flat_gradient,
    flatten,
    get_flat_params,
    gradient_norm,
    hessian,
    hessian_operator,
    hvp,
    lanczos,
    loss_along,
    loss_plane,
    minimum_ratio,
    model_closure,
    set_flat_params,
    taylor_quadratic,
    unflatten,
)
from deepnotes.errors import ConfigError, ShapeError

F64 = torch.float64


def _tiny_net(seed: int, d_in: int = 5, hidden: int = 6, d_out: int = 2) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d_in, hidden), nn.Tanh(), nn.Linear(hidden, d_out)).to(F64)


def _data(seed: int, n: int = 40, d_in: int = 5, d_out: int = 2):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d_in, generator=g, dtype=F64), torch.randn(n, d_out, generator=g,
                                                                     dtype=F64)


def _mse(out, y):
    return ((out - y) ** 2).mean()


def _reference_hessian(model: nn.Module, x, y) -> torch.Tensor:
    """torch.autograd.functional.hessian of θ ↦ L(θ) over the flat parameter vector."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    theta0 = flatten(p.detach() for p in model.parameters())

    def f(theta):
        chunks = theta.split([s.numel() for s in shapes])
        params = {n: c.view(s) for n, c, s in zip(names, chunks, shapes)}
        return _mse(functional_call(model, params, (x,)), y)

    return torch.autograd.functional.hessian(f, theta0)


# ---------------------------------------------------------------------------- known functions

def test_saddle_x2_minus_y2():
    p = torch.zeros(2, dtype=F64, requires_grad=True)
    f = lambda: p[0] ** 2 - p[1] ** 2  # noqa: E731
    assert gradient_norm(f, [p]) == 0.0
    H = hessian(f, [p])
    torch.testing.assert_close(H, torch.diag(torch.tensor([2.0, -2.0], dtype=F64)),
                               rtol=0, atol=0)
    point = analyse_critical_point(f, [p])
    assert point.kind == "saddle point" and point.minimum_ratio == 0.5
    lam, u = escape_direction(point.eigenvalues, point.eigenvectors)
    assert lam == -2.0
    torch.testing.assert_close(u.abs(), torch.tensor([0.0, 1.0], dtype=F64))
    alphas = torch.linspace(-1, 1, 5, dtype=F64)
    # L(θ + αu) = L(θ) + ½α²λ exactly for a quadratic
    torch.testing.assert_close(loss_along(f, [p], u, alphas), 0.5 * alphas ** 2 * lam)
    assert p.detach().abs().sum() == 0  # parameters restored


def test_quadratic_has_known_hessian_and_kind():
    g = torch.Generator().manual_seed(0)
    M = torch.randn(7, 7, generator=g, dtype=F64)
    A = M @ M.T + 0.5 * torch.eye(7, dtype=F64)  # positive definite
    b = torch.randn(7, generator=g, dtype=F64)
    w = torch.randn(7, generator=g, dtype=F64).requires_grad_()
    f = lambda: 0.5 * w @ A @ w + b @ w  # noqa: E731
    torch.testing.assert_close(hessian(f, [w]), A, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(flat_gradient(f, [w]), A @ w.detach() + b)
    with torch.no_grad():
        w.copy_(-torch.linalg.solve(A, b))  # the minimum
    assert gradient_norm(f, [w]) < 1e-12
    point = analyse_critical_point(f, [w])
    assert point.kind == "local minimum" and point.minimum_ratio == 1.0
    assert escape_direction(point.eigenvalues, point.eigenvectors) is None
    # −f has a maximum there; a rank-deficient A is degenerate
    assert analyse_critical_point(lambda: -f(), [w]).kind == "local maximum"
    A0 = A.clone()
    A0[:, 0] = 0
    A0[0, :] = 0
    assert analyse_critical_point(lambda: 0.5 * w @ A0 @ w, [w]).kind == "degenerate"
    # the second-order Taylor expansion is exact for a quadratic
    delta = torch.randn(3, 7, generator=g, dtype=F64)
    expected = torch.stack([0.5 * (w.detach() + d) @ A @ (w.detach() + d) + b @ (w.detach() + d)
                            for d in delta])
    torch.testing.assert_close(
        taylor_quadratic(float(f().detach()), flat_gradient(f, [w]), A, delta), expected)


def test_classify_and_minimum_ratio_rules():
    assert classify_critical_point([1.0, 2.0, 3.0]) == "local minimum"
    assert classify_critical_point([-1.0, -2.0]) == "local maximum"
    assert classify_critical_point([-1.0, 0.0, 2.0]) == "saddle point"
    assert classify_critical_point([0.0, 2.0]) == "degenerate"
    assert classify_critical_point([1e-9, 2.0], tol=1e-6) == "degenerate"
    assert classify_critical_point([-1e-9, 2.0], tol=1e-6) == "degenerate"
    assert classify_critical_point([-1e-3, 2.0], tol=1e-6) == "saddle point"
    assert minimum_ratio([1.0, -1.0, 2.0, 3.0]) == 0.75
    assert minimum_ratio([1e-9, -1.0, 2.0, 3.0], tol=1e-6) == 0.5
    with pytest.raises(ConfigError):
        classify_critical_point([1.0], tol=-1.0)
    with pytest.raises(ShapeError):
        minimum_ratio([])


# ------------------------------------------------------------------------------ on networks

@pytest.mark.parametrize("vectorize", [True, False])
def test_exact_hessian_matches_torch_functional_hessian(vectorize):
    model = _tiny_net(1)
    x, y = _data(2)
    closure = model_closure(model, _mse, x, y)
    H = hessian(closure, model, vectorize=vectorize)
    P = sum(p.numel() for p in model.parameters())
    assert H.shape == (P, P) == (50, 50)
    torch.testing.assert_close(H, _reference_hessian(model, x, y), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(H, H.T, rtol=1e-10, atol=1e-12)


def test_hvp_equals_hessian_times_vector():
    model = _tiny_net(3)
    x, y = _data(4)
    closure = model_closure(model, _mse, x, y)
    H = hessian(closure, model)
    g = torch.Generator().manual_seed(5)
    op = hessian_operator(closure, model)
    for _ in range(3):
        v = torch.randn(H.shape[0], generator=g, dtype=F64)
        torch.testing.assert_close(op(v), H @ v, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(hvp(closure, model, v), H @ v, rtol=1e-10, atol=1e-12)
    with pytest.raises(ShapeError):
        op(torch.zeros(3, dtype=F64))


def test_lanczos_extreme_eigenvalues_match_eigvalsh_on_a_200_parameter_net():
    model = _tiny_net(6, d_in=8, hidden=20, d_out=2)  # 8·20+20+20·2+2 = 222 parameters
    x, y = _data(7, n=60, d_in=8)
    closure = model_closure(model, _mse, x, y)
    exact = torch.linalg.eigvalsh(hessian(closure, model))
    assert exact.numel() == 222 and exact[0] < 0 < exact[-1]  # an indefinite Hessian
    scale = float(exact.abs().max())
    r = extreme_eigenpairs(closure, model, num_iters=90)
    assert r.iterations == 90
    # both ends converge first: the two smallest and two largest eigenvalues
    torch.testing.assert_close(r.values[:2], exact[:2], rtol=0, atol=1e-9 * scale)
    torch.testing.assert_close(r.values[-2:], exact[-2:], rtol=0, atol=1e-9 * scale)
    # Ritz vectors are eigenvectors: ‖H y − θ y‖ small, as the residual estimate says
    op = hessian_operator(closure, model)
    for i in (0, -1):
        yv = r.vectors[:, i]
        true_res = float((op(yv) - r.values[i] * yv).norm())
        assert true_res < 1e-6 * scale
        assert abs(true_res - float(r.residuals[i])) < 1e-8 * scale
    # the basis stays orthonormal (full re-orthogonalisation): Ritz vectors are orthonormal
    V = r.vectors
    torch.testing.assert_close(V.T @ V, torch.eye(V.shape[1], dtype=F64), rtol=0, atol=1e-10)


def test_lanczos_with_dim_iterations_finds_every_eigenvalue_and_stops_on_breakdown():
    g = torch.Generator().manual_seed(8)
    Qm, _ = torch.linalg.qr(torch.randn(30, 30, generator=g, dtype=F64))
    lam = torch.linspace(-3, 5, 30, dtype=F64)
    A = Qm @ torch.diag(lam) @ Qm.T
    r = lanczos(lambda v: A @ v, 30, num_iters=100)
    assert r.iterations == 30
    torch.testing.assert_close(r.values, lam, rtol=0, atol=1e-10)
    # only 3 distinct eigenvalues: the Krylov space is 3-dimensional and Lanczos stops there
    B = Qm @ torch.diag(torch.tensor([1.0] * 10 + [2.0] * 10 + [-4.0] * 10, dtype=F64)) @ Qm.T
    rb = lanczos(lambda v: B @ v, 30, num_iters=20)
    assert rb.iterations == 3
    torch.testing.assert_close(rb.values, torch.tensor([-4.0, 1.0, 2.0], dtype=F64),
                               rtol=0, atol=1e-12)
    with pytest.raises(ConfigError):
        lanczos(lambda v: v, 0)


def test_escape_from_a_network_saddle_lowers_the_loss():
    # all weights 0 and output bias = mean(y) is a critical point of a tanh net's MSE
    model = _tiny_net(9, d_in=3, hidden=4, d_out=1)
    x, y = _data(10, n=50, d_in=3, d_out=1)
    y = y + x[:, :1]  # a target the net can learn
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model[2].bias.fill_(float(y.mean()))
    closure = model_closure(model, _mse, x, y)
    point = analyse_critical_point(closure, model)
    assert point.grad_norm < 1e-14
    assert point.kind == "saddle point" and 0 < point.minimum_ratio < 1
    lam, u = escape_direction(point.eigenvalues, point.eigenvectors)
    assert lam < 0
    alphas = torch.tensor([-1e-2, -1e-3, 1e-3, 1e-2], dtype=F64)
    along = loss_along(closure, model, u, alphas)
    assert torch.all(along < point.loss)  # both ±u go down
    predicted = point.loss + 0.5 * alphas ** 2 * lam
    # the error of the quadratic model is third order: tiny next to the ½α²λ drop
    assert torch.all((along - predicted).abs() < 1e-3 * (0.5 * alphas ** 2 * abs(lam)))


def test_unused_parameters_and_linear_losses_give_zero_rows():
    w = torch.tensor([1.0, 2.0], dtype=F64, requires_grad=True)
    unused = torch.tensor([3.0], dtype=F64, requires_grad=True)
    for vectorize in (True, False):
        H = hessian(lambda: (w ** 3).sum(), [w, unused], vectorize=vectorize)
        torch.testing.assert_close(H, torch.diag(torch.tensor([6.0, 12.0, 0.0], dtype=F64)))
    torch.testing.assert_close(hessian(lambda: 3 * w.sum(), [w]), torch.zeros(2, 2, dtype=F64))
    constant = lambda: torch.tensor(1.0, dtype=F64)  # noqa: E731
    assert gradient_norm(constant, [w]) == 0.0
    torch.testing.assert_close(hessian(constant, [w]), torch.zeros(2, 2, dtype=F64))


def test_flatten_unflatten_and_set_params_round_trip():
    model = _tiny_net(11)
    theta = get_flat_params(model)
    parts = unflatten(theta, model.parameters())
    for a, b in zip(parts, model.parameters()):
        assert a.shape == b.shape and torch.equal(a, b.detach())
    set_flat_params(model, theta * 2)
    torch.testing.assert_close(get_flat_params(model), theta * 2)
    with pytest.raises(ShapeError):
        unflatten(theta[:-1], model.parameters())
    with pytest.raises(ConfigError):
        hessian(lambda: torch.zeros(()), [torch.zeros(2)])  # no requires_grad
    with pytest.raises(ShapeError):
        gradient_norm(lambda: model(torch.zeros(2, 5, dtype=F64)), model)  # not a scalar


def test_loss_plane_matches_pointwise_evaluation_and_restores_params():
    model = _tiny_net(12)
    x, y = _data(13)
    closure = model_closure(model, _mse, x, y)
    theta = get_flat_params(model)
    g = torch.Generator().manual_seed(14)
    d1, d2 = torch.randn(2, theta.numel(), generator=g, dtype=F64)
    grid = loss_plane(closure, model, d1, d2, [0.0, 0.5], [-1.0, 1.0])
    assert grid.shape == (2, 2)
    set_flat_params(model, theta + 0.5 * d1 + 1.0 * d2)
    expected = float(closure().detach())
    set_flat_params(model, theta)
    assert float(grid[1, 1]) == pytest.approx(expected, rel=1e-14)
    # α = 0 is the line θ + βd₂
    assert float(grid[0, 0]) == pytest.approx(float(loss_along(closure, model, d2, [-1.0])[0]),
                                              rel=1e-14)
    torch.testing.assert_close(get_flat_params(model), theta, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["deepnotes.analysis", "deepnotes.analysis.hessian",
                                  "deepnotes.analysis.landscape", "deepnotes.analysis.critical"])
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
