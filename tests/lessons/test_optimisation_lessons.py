"""Quick runs of the optimisation lessons assert their claims (Notes: O1, O4–O8)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from deepnotes import lessons
from deepnotes.lessons import mse_vs_ce


@pytest.fixture(scope="module")
def critical(tmp_path_factory):
    return lessons.get("critical-points").run(out_dir=tmp_path_factory.mktemp("cp"), quick=True)


@pytest.fixture(scope="module")
def mse_ce(tmp_path_factory):
    return lessons.get("mse-vs-ce").run(out_dir=tmp_path_factory.mktemp("mc"), quick=True)


@pytest.fixture(scope="module")
def adaptive(tmp_path_factory):
    return lessons.get("adaptive-lr").run(out_dir=tmp_path_factory.mktemp("alr"), quick=True)


# ------------------------------------------------------------------ O1 critical points

def test_critical_points_finds_saddles_where_the_gradient_vanishes(critical):
    m, rows = critical.metrics, critical.tables["points"]
    assert m["nets"] == 6 and len(rows) == 6
    # exact critical points: ‖∇L‖ ≤ 1e-10, and among them both kinds occur
    assert m["critical_points"] >= 3
    assert m["max_grad_norm_critical"] <= 1e-10
    assert m["critical_saddles"] >= 1 and m["critical_minima"] >= 1
    # the kind agrees with the eigenvalues and the minimum ratio
    for r in rows:
        if r["kind"] == "saddle point":
            assert r["lambda_min"] < 0 < r["lambda_max"] and r["minimum_ratio"] < 1
            assert r["negative_eigenvalues"] >= 1
        if r["kind"] == "local minimum":
            assert r["lambda_min"] > 0 and r["minimum_ratio"] == 1.0
    # short training stops nearer saddles than long training
    assert m["mean_minimum_ratio_after_100_steps"] < m["mean_minimum_ratio_after_1000_steps"]
    assert m["all_ratio_below_1"] >= 2
    assert all(Path(f).is_file() for f in critical.figures)


def test_critical_points_escape_along_the_negative_eigenvector(critical):
    m = critical.metrics
    assert m["escape_found_saddle"] == 1 and m["escape_from_critical"] == 1
    assert m["escape_lambda_min"] < 0
    # L(θ + αu) ≈ L(θ) + ½α²λ for small α, and the best step on the line lowers the loss
    assert m["escape_quadratic_ratio"] == pytest.approx(1.0, abs=0.1)
    assert m["escape_drop"] > 0
    # gradient descent started on the saddle does not move; started at θ + αu it goes on down
    assert abs(m["escape_gd_from_saddle_loss"] - m["escape_saddle_loss"]) < 1e-9
    assert m["escape_gd_from_step_loss"] < m["escape_saddle_loss"] - m["escape_drop"]


# ------------------------------------------------------------------- O8 MSE vs CE

def test_toy_losses_equal_the_softmax_formulas():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(50, generator=g, dtype=torch.float64)
    y = (torch.rand(50, generator=g) > 0.5).long()
    for w, b in [(-6.0, 3.0), (0.5, -0.2), (9.0, 9.0)]:
        z = w * s + b
        logits = torch.stack([torch.zeros_like(z), z], dim=1)  # (N, 2)
        toy = mse_vs_ce._toy_losses(torch.tensor(w, dtype=torch.float64),
                                    torch.tensor(b, dtype=torch.float64), s, y)
        ref_ce = torch.nn.functional.cross_entropy(logits, y)
        p = torch.softmax(logits, dim=1)
        ref_mse = ((p - torch.nn.functional.one_hot(y, 2)) ** 2).sum(1).mean()
        torch.testing.assert_close(toy["ce"], ref_ce, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(toy["mse"], ref_mse, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(mse_vs_ce.softmax_mse(logits, y), ref_mse)
        torch.testing.assert_close(mse_vs_ce.cross_entropy(logits, y), ref_ce)
        assert float(toy["accuracy"]) == float(((z > 0).long() == y).double().mean())


def test_mse_is_flat_where_cross_entropy_is_steep(mse_ce):
    m = mse_ce.metrics
    assert (m["epochs"], m["train_examples"]) == (2, 4000)  # Config.QUICK
    # the start is confidently wrong
    assert m["toy_start_train_accuracy"] < 0.3 and m["linear_start_train_accuracy"] < 0.3
    # far from the optimum MSE's slope is a small fraction of CE's
    assert m["toy_ce_start_grad_norm"] > 5 * m["toy_mse_start_grad_norm"]
    assert m["toy_ce_median_slope_wrong_region"] > 5 * m["toy_mse_median_slope_wrong_region"]
    assert m["linear_ce_start_grad_norm"] > 5 * m["linear_mse_start_grad_norm"]
    # same start, optimizer and steps: CE gets out, MSE does not
    assert m["toy_ce_final_test_accuracy"] > 0.85 > 0.6 > m["toy_mse_final_test_accuracy"]
    assert m["toy_ce_distance_moved"] > m["toy_mse_distance_moved"]
    assert m["linear_ce_test_accuracy"] > m["linear_mse_test_accuracy"] + 0.2
    assert m["linear_ce_test_accuracy"] > 0.8
    # from a good start both losses train fine: the problem is the flat region
    assert m["linear_zero_start_mse_test_accuracy"] > 0.8
    assert m["linear_zero_start_ce_test_accuracy"] > 0.8
    assert len(mse_ce.figures) == 2 and all(Path(f).is_file() for f in mse_ce.figures)


# ---------------------------------------------------------- O4–O7 adaptive learning rates

def test_rmsprop_and_adam_beat_adagrad_on_the_flat_valley(adaptive):
    m = adaptive.metrics
    assert m["rmsprop_distance"] < 0.1 * m["adagrad_distance"]
    assert m["adam_distance"] < 0.1 * m["adagrad_distance"]
    assert m["adagrad_distance"] > 5  # Adagrad is still far from the minimum (start: 10)
    # Adagrad's σ along the flat direction only grows, so its effective step only shrinks
    assert m["adagrad_sigma_x_nondecreasing"] == 1
    assert m["adagrad_sigma_x_growth"] > 5
    assert m["adagrad_effective_lr_x_last"] < 0.2 * m["adagrad_effective_lr_x_first"]
    assert m["adagrad_step_x_last"] < 0.1 * m["adagrad_step_x_first"]
    # RMSProp's exponential average forgets: its σ_x falls far below its peak
    assert m["rmsprop_sigma_x_last"] < 0.01 * m["rmsprop_sigma_x_max"]


def test_gradient_descent_bounces_across_the_valley(adaptive):
    m, steps = adaptive.metrics, adaptive.metrics["steps"]
    assert m["gd_large_y_sign_changes"] >= 0.9 * steps  # wall to wall at every step
    assert m["gd_small_y_sign_changes"] == 0
    # neither GD run gets near the minimum in the steps the adaptive methods needed
    assert min(m["gd_large_distance"], m["gd_small_distance"]) > 10 * m["adam_distance"]
    # history has one row per step with every method's position
    assert len(adaptive.history) == steps + 1
    assert adaptive.history[0]["adagrad_x"] == -10.0


def test_constant_lr_rmsprop_jitters_and_decay_settles_it(adaptive):
    m = adaptive.metrics
    assert m["rmsprop_y_sign_changes"] > 50
    assert m["rmsprop_cosine_final_abs_y"] < 1e-3 * m["rmsprop_final_abs_y"]
    assert m["rmsprop_cosine_final_loss"] < m["rmsprop_final_loss"]


def test_warmup_keeps_rmsprops_first_steps_small(adaptive):
    m = adaptive.metrics
    # σ from one gradient: v₁ = (1 − α)g², so the first step is η/√(1 − α) = 10η per coordinate
    assert m["warmup_rmsprop_first_step_over_lr"] == pytest.approx(10.0, rel=1e-4)
    assert m["warmup_rmsprop_warmup_max_step_early"] < 0.2 * m["warmup_rmsprop_max_step_early"]
    # Adam's bias correction: the first step is η per coordinate
    assert m["warmup_adam_first_step"] == pytest.approx(0.1 * math.sqrt(2), rel=1e-4)


def test_schedules_have_the_stated_shapes(adaptive):
    m, rows = adaptive.metrics, adaptive.tables["schedules"]
    wc = [r["warm-up + cosine"] for r in rows]
    inv = [r["inverse sqrt (Transformer)"] for r in rows]
    lin = [r["linear warm-up, then constant"] for r in rows]
    step = [r["step decay (γ=0.5 every T/4)"] for r in rows]
    expo = [r["exponential (γ=0.98)"] for r in rows]
    cos = [r["cosine annealing"] for r in rows]
    w, T = 20, len(rows) - 1
    # warm-up + cosine: rises linearly from 0 to the peak at w, then falls to 0 at T
    assert wc[0] == 0 and m["warmup_cosine_peak_step"] == w and wc[w] == pytest.approx(1.0)
    assert all(b > a for a, b in zip(wc[:w], wc[1:w + 1]))
    assert all(b < a for a, b in zip(wc[w:T], wc[w + 1:]))
    assert wc[T] == pytest.approx(0.0, abs=1e-12)
    assert wc[w + (T - w) // 2] == pytest.approx(0.5)
    # linear warm-up then constant
    assert lin[w // 2] == pytest.approx(0.5) and all(v == pytest.approx(1.0) for v in lin[w:])
    # inverse square root: peak at update s = w, then ∝ 1/√s
    assert m["inverse_sqrt_peak_step"] == w - 1
    assert m["inverse_sqrt_ratio_4x"] == pytest.approx(0.5)
    assert inv[T] == pytest.approx(math.sqrt(w / (T + 1)))
    # step decay is piecewise constant, exponential is geometric, cosine halves at T/2
    assert step[T // 4 - 1] == 1.0 and step[T // 4] == 0.5 and step[T // 2] == 0.25
    assert expo[10] == pytest.approx(0.98 ** 10)
    assert cos[T // 2] == pytest.approx(0.5) and cos[T] == pytest.approx(0.0, abs=1e-12)
    assert all(Path(f).is_file() for f in adaptive.figures)
