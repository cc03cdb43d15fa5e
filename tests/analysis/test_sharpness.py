"""perturbation_sharpness on quadratics whose answer is known in closed form (Notes: O2)."""

from __future__ import annotations

import doctest

import pytest
import torch
from torch import nn

import deepnotes.analysis.sharpness as sharpness_module
from deepnotes.analysis import extreme_eigenpairs, model_closure
from deepnotes.analysis.sharpness import perturbation_sharpness
from deepnotes.errors import ConfigError

F64 = torch.float64


def _bowl(w: torch.Tensor, centre: torch.Tensor, curvature: torch.Tensor):
    """L(w) = ½ (w - c)ᵀ diag(a) (w - c): minimum at c, Hessian diag(a)."""
    return lambda: 0.5 * (curvature * (w - centre) ** 2).sum()


@pytest.mark.parametrize("relative", ["layer", "global", "none"])
def test_isotropic_bowl_rises_by_half_a_r_squared_in_every_direction(relative):
    centre = torch.tensor([1.0, -2.0, 2.0, 4.0], dtype=F64)  # ‖c‖ = 5
    w = centre.clone().requires_grad_(True)
    a, rho = 3.0, 0.05
    s = perturbation_sharpness(_bowl(w, centre, torch.full((4,), a, dtype=F64)), [w], rho, 7,
                               relative=relative)
    r = rho * (1.0 if relative == "none" else 5.0)
    # H = a I: L(c + δ) - L(c) = ½ a ‖δ‖² = ½ a r² for every δ of norm r
    torch.testing.assert_close(s.increases, torch.full((7,), 0.5 * a * r * r, dtype=F64))
    assert s.loss == 0.0 and s.std < 1e-12 and s.radius == rho and s.relative == relative
    torch.testing.assert_close(w.detach(), centre, rtol=0, atol=0)  # restored


def test_antithetic_pairs_cancel_the_gradient_term_away_from_the_minimum():
    centre = torch.zeros(3, dtype=F64)
    w = torch.tensor([1.0, 2.0, 2.0], dtype=F64, requires_grad=True)  # ‖w‖ = 3, g = a w ≠ 0
    a, rho = 2.0, 0.1
    loss = _bowl(w, centre, torch.full((3,), a, dtype=F64))
    both = perturbation_sharpness(loss, [w], rho, 6, relative="none")
    # ½[L(w+δ) + L(w−δ)] − L(w) = ½ a ‖δ‖² exactly; one side adds a wᵀδ, which varies
    torch.testing.assert_close(both.increases, torch.full((6,), 0.5 * a * rho ** 2, dtype=F64))
    one = perturbation_sharpness(loss, [w], rho, 6, relative="none", antithetic=False)
    assert one.std > 0.05 and not torch.allclose(one.increases, both.increases)


def test_anisotropic_bowl_averages_the_curvature_trace_over_p():
    curvature = torch.tensor([0.1, 1.0, 4.0, 10.0, 25.0], dtype=F64)
    centre = torch.zeros(5, dtype=F64)
    w = centre.clone().requires_grad_(True)
    rho = 0.2
    s = perturbation_sharpness(_bowl(w, centre, curvature), [w], rho, 4000, relative="none",
                               seed=3)
    # E[uᵀ H u] = tr H / P for u uniform on the unit sphere
    expected = 0.5 * rho ** 2 * float(curvature.sum()) / 5
    assert s.mean == pytest.approx(expected, rel=0.03)
    # every sample lies between the flattest and the sharpest direction
    assert float(s.increases.min()) >= 0.5 * rho ** 2 * 0.1 - 1e-15
    assert float(s.increases.max()) <= 0.5 * rho ** 2 * 25.0 + 1e-15


def test_layer_mode_scales_each_tensor_by_its_own_norm():
    c1 = torch.tensor([3.0, 4.0], dtype=F64)  # ‖c1‖ = 5
    c2 = torch.tensor([[0.0, 0.0], [0.0, 0.5]], dtype=F64)  # ‖c2‖ = 0.5
    x, y = c1.clone().requires_grad_(True), c2.clone().requires_grad_(True)
    a, b, rho = 2.0, 8.0, 0.1

    def loss():
        return 0.5 * a * ((x - c1) ** 2).sum() + 0.5 * b * ((y - c2) ** 2).sum()

    s = perturbation_sharpness(loss, [x, y], rho, 5, relative="layer")
    # ½ a (ρ‖c1‖)² + ½ b (ρ‖c2‖)², the same for every draw
    want = 0.5 * a * (rho * 5.0) ** 2 + 0.5 * b * (rho * 0.5) ** 2
    torch.testing.assert_close(s.increases, torch.full((5,), want, dtype=F64))
    g = perturbation_sharpness(loss, [x, y], rho, 5, relative="global")
    assert not torch.allclose(g.increases, s.increases)  # one direction: a mix of the two


def test_sharper_bowl_scores_higher_and_matches_the_hessian_on_a_model():
    torch.manual_seed(0)
    x = torch.randn(64, 3, dtype=F64)
    y = torch.randn(64, 1, dtype=F64)
    model = nn.Linear(3, 1).to(F64)
    # least squares: the minimum in closed form, the Hessian 2/N XᵀX (constant)
    X1 = torch.cat([x, torch.ones(64, 1, dtype=F64)], dim=1)
    sol = torch.linalg.lstsq(X1, y).solution
    with torch.no_grad():
        model.weight.copy_(sol[:3].T)
        model.bias.copy_(sol[3])
    loss = model_closure(model, lambda out, t: ((out - t) ** 2).mean(), x, y)
    s = perturbation_sharpness(loss, model, 1e-2, 2000, relative="none", seed=1)
    H = 2 * X1.T @ X1 / 64
    assert s.mean == pytest.approx(0.5 * 1e-4 * float(torch.trace(H)) / 4, rel=0.05)
    top = float(extreme_eigenpairs(loss, model, num_iters=4).values[-1])
    assert top == pytest.approx(float(torch.linalg.eigvalsh(H)[-1]), rel=1e-8)
    # scaling the loss by 10 scales both measures by 10
    s10 = perturbation_sharpness(lambda: 10 * loss(), model, 1e-2, 2000, relative="none", seed=1)
    torch.testing.assert_close(s10.increases, 10 * s.increases)


def test_same_seed_same_numbers_and_parameters_restored_after_an_error():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    f = lambda: (w ** 4).sum()  # noqa: E731
    a = perturbation_sharpness(f, [w], 0.1, 3, seed=5)
    b = perturbation_sharpness(f, [w], 0.1, 3, seed=5)
    assert torch.equal(a.increases, b.increases)
    calls = []

    def failing():
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return (w ** 2).sum()

    with pytest.raises(RuntimeError, match="boom"):
        perturbation_sharpness(failing, [w], 0.5, 3)
    assert w.tolist() == [1.0, 2.0]


@pytest.mark.parametrize("kwargs, match", [
    ({"radius": 0.0}, "radius must be > 0"),
    ({"radius": 0.1, "num_samples": 0}, "num_samples must be >= 1"),
    ({"radius": 0.1, "relative": "filter"}, "relative must be one of"),
])
def test_bad_arguments_name_the_value(kwargs, match):
    w = torch.ones(2, requires_grad=True)
    with pytest.raises(ConfigError, match=match):
        perturbation_sharpness(lambda: w.sum(), [w], **kwargs)


def test_doctests():
    result = doctest.testmod(sharpness_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
