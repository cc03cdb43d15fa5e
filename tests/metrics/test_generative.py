"""Generator scores (N5): Fréchet distance against its closed form and scipy's sqrtm, FID on
samples, classifier confidence / class spread / Inception Score, mode coverage, and the ROC AUC
against scikit-learn (ties included)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.metrics import (
    auroc,
    classifier_scores,
    fid,
    frechet_distance,
    gaussian_stats,
    mode_coverage,
    predicted_class_counts,
    sqrtm_psd,
)


def random_spd(d: int, g: torch.Generator, rank: int | None = None) -> torch.Tensor:
    a = torch.randn(d, rank or d, generator=g, dtype=torch.float64)
    return a @ a.T + (1e-3 * torch.eye(d, dtype=torch.float64) if rank is None else 0)


def scipy_frechet(mu1, s1, mu2, s2) -> float:
    """pytorch-fid's formula: sqrtm of the product, real part."""
    mu1, s1, mu2, s2 = (t.numpy() for t in (mu1, s1, mu2, s2))
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean).real)


def test_gaussian_stats_match_numpy():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 4, generator=g)
    mu, sigma = gaussian_stats(x)
    assert mu.dtype == sigma.dtype == torch.float64
    np.testing.assert_allclose(mu.numpy(), x.double().numpy().mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma.numpy(), np.cov(x.double().numpy(), rowvar=False),
                               rtol=1e-10)
    with pytest.raises(ShapeError, match=r"\(1, 4\)"):
        gaussian_stats(x[:1])


def test_sqrtm_psd_squares_back_and_matches_scipy():
    g = torch.Generator().manual_seed(1)
    a = random_spd(6, g)
    r = sqrtm_psd(a)
    torch.testing.assert_close(r @ r, a)
    torch.testing.assert_close(r, r.T)
    np.testing.assert_allclose(r.numpy(), scipy.linalg.sqrtm(a.numpy()).real, atol=1e-8)


def test_frechet_distance_closed_form_for_diagonal_covariances():
    g = torch.Generator().manual_seed(2)
    mu1, mu2 = torch.randn(5, generator=g), torch.randn(5, generator=g)
    v1, v2 = torch.rand(5, generator=g) + 0.1, torch.rand(5, generator=g) + 0.1
    # diagonal: d² = ‖μ1 − μ2‖² + Σ_i (√v1_i − √v2_i)²
    expected = float(((mu1 - mu2) ** 2).sum() + ((v1.sqrt() - v2.sqrt()) ** 2).sum())
    got = frechet_distance(mu1, torch.diag(v1), mu2, torch.diag(v2))
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("d", [2, 7, 30])
def test_frechet_distance_matches_scipy_sqrtm_on_random_spd(d):
    g = torch.Generator().manual_seed(d)
    mu1, mu2 = (torch.randn(d, generator=g, dtype=torch.float64) for _ in range(2))
    s1, s2 = random_spd(d, g), random_spd(d, g)
    got = frechet_distance(mu1, s1, mu2, s2)
    assert got == pytest.approx(scipy_frechet(mu1, s1, mu2, s2), rel=1e-7, abs=1e-8)


def test_frechet_distance_is_zero_on_identical_stats_and_symmetric():
    g = torch.Generator().manual_seed(3)
    mu, s = torch.randn(8, generator=g), random_spd(8, g)
    assert frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-9)
    mu2, s2 = torch.randn(8, generator=g), random_spd(8, g)
    assert frechet_distance(mu, s, mu2, s2) == pytest.approx(
        frechet_distance(mu2, s2, mu, s), rel=1e-9)


def test_frechet_distance_with_singular_covariances():
    """Fewer samples than dimensions: rank-deficient Σ, still real, ≥ 0 and as scipy finds."""
    g = torch.Generator().manual_seed(4)
    s1, s2 = random_spd(10, g, rank=3), random_spd(10, g, rank=4)
    mu = torch.zeros(10, dtype=torch.float64)
    got = frechet_distance(mu, s1, mu, s2)
    assert got >= 0
    assert got == pytest.approx(scipy_frechet(mu, s1, mu, s2), rel=1e-5)


def test_frechet_distance_validates_shapes():
    with pytest.raises(ShapeError, match="D=3 but mu2 has D=4"):
        frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(4), torch.eye(4))
    with pytest.raises(ShapeError, match=r"sigma2 must be a covariance of shape \(3, 3\)"):
        frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(3), torch.eye(2))
    with pytest.raises(ShapeError, match="mu1 must be a mean vector"):
        frechet_distance(torch.zeros(3, 1), torch.eye(3), torch.zeros(3), torch.eye(3))


def test_fid_small_for_one_gaussian_large_for_a_shifted_one():
    g = torch.Generator().manual_seed(5)
    cov = random_spd(4, g).float()
    chol = torch.linalg.cholesky(cov)
    a = torch.randn(5000, 4, generator=g) @ chol.T
    b = torch.randn(5000, 4, generator=g) @ chol.T
    same, shifted = fid(a, b), fid(a, b + 1.0)
    assert same < 0.05 * float(cov.trace())
    assert shifted == pytest.approx(4.0 + same, abs=0.3)  # ‖Δμ‖² = 4
    with pytest.raises(ShapeError):
        fid(a, b[:, :3])


def test_classifier_scores_on_one_hot_uniform_classes():
    c = 10
    probs = torch.eye(c).repeat(7, 1)  # every class 7 times, each prediction sure
    s = classifier_scores(probs)
    assert s["confidence"] == pytest.approx(1.0)
    assert s["class_spread"] == pytest.approx(math.log(c))
    assert s["mean_entropy"] == pytest.approx(0.0)
    assert s["inception_score"] == pytest.approx(c)
    assert predicted_class_counts(probs).tolist() == [7] * c


def test_classifier_scores_on_identical_rows():
    probs = torch.tensor([[0.7, 0.2, 0.1]]).repeat(20, 1)
    s = classifier_scores(probs)
    assert s["inception_score"] == pytest.approx(1.0)
    assert s["confidence"] == pytest.approx(0.7)
    expected_h = -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1))
    assert s["class_spread"] == pytest.approx(expected_h)
    assert predicted_class_counts(probs).tolist() == [20, 0, 0]


def test_inception_score_matches_the_kl_definition():
    g = torch.Generator().manual_seed(6)
    p = torch.randn(30, 5, generator=g).mul(2).softmax(dim=1).double()
    py = p.mean(0)
    kl = (p * (p.log() - py.log())).sum(1).mean()
    assert classifier_scores(p)["inception_score"] == pytest.approx(float(kl.exp()), rel=1e-10)


def test_classifier_scores_reject_logits():
    with pytest.raises(ConfigError, match="softmax"):
        classifier_scores(torch.tensor([[2.0, -1.0], [0.5, 0.5]]))
    with pytest.raises(ShapeError):
        classifier_scores(torch.ones(4))


def test_mode_coverage_on_hand_made_samples():
    centers = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    std = 0.1
    samples = torch.cat([
        torch.tensor([[0.05, 0.0]]).repeat(6, 1),   # mode 0: 6 high-quality
        torch.tensor([[10.0, 0.2]]).repeat(3, 1),   # mode 1: 3 high-quality (0.2 ≤ 0.3)
        torch.tensor([[0.0, 10.5]]).repeat(3, 1),   # near mode 2 but 0.5 > 3σ: low quality
        torch.tensor([[9.95, 10.0]]).repeat(1, 1),  # mode 3: one stray high-quality point
    ])
    r = mode_coverage(samples, centers, std=std, min_count=2)
    assert r["modes_total"] == 4.0
    assert r["modes_covered"] == 2.0  # modes 0 and 1; mode 3 has only 1 < 2
    assert r["high_quality_share"] == pytest.approx(10 / 13)
    q = torch.tensor([6, 3, 0, 1], dtype=torch.float64) / 10
    kl = float((q[q > 0] * (q[q > 0] * 4).log()).sum())
    assert r["kl_to_uniform"] == pytest.approx(kl)
    # without the quality threshold the three points near mode 2 visit it: 4 modes, shares
    # 6, 3, 3, 1 of 13
    assert r["modes_visited"] == 3.0  # mode 3's single point is below min_count 2
    p = torch.tensor([6, 3, 3, 1], dtype=torch.float64) / 13
    assert r["kl_nearest_to_uniform"] == pytest.approx(float((p * (p * 4).log()).sum()))
    # with min_count 1 the stray point counts; the default is max(1, 13 // 16) = 1
    assert mode_coverage(samples, centers, std=std, min_count=1)["modes_covered"] == 3.0
    assert mode_coverage(samples, centers, std=std)["min_count"] == 1.0
    # a wider threshold lets the points near mode 2 in
    assert mode_coverage(samples, centers, std=std, threshold=6.0)["modes_covered"] == 4.0


def test_mode_coverage_default_threshold_on_perfect_and_collapsed_samples():
    from deepnotes.data.synthetic import gaussian_ring

    g = torch.Generator().manual_seed(7)
    x, centers = gaussian_ring(2500, generator=g)
    perfect = mode_coverage(x, centers, std=0.02)
    assert perfect["min_count"] == 2500 // 32
    assert perfect["modes_covered"] == 8.0
    assert perfect["high_quality_share"] > 0.98  # P(‖ε‖ ≤ 3σ) in 2-D is 1 − e^{−4.5} ≈ 0.989
    assert perfect["kl_to_uniform"] < 0.01
    # collapse onto two modes, with 5 stray points on a third: two covered
    collapsed = torch.cat([x[:1000] * 0 + centers[0], x[:1000] * 0 + centers[3], centers[5:6]
                           .repeat(5, 1)]) + 0.02 * torch.randn(2005, 2, generator=g)
    c = mode_coverage(collapsed, centers, std=0.02)
    assert c["modes_covered"] == 2.0
    assert c["kl_to_uniform"] > math.log(8) - math.log(2) - 0.05
    with pytest.raises(ConfigError, match="std"):
        mode_coverage(x, centers, std=0.0)
    with pytest.raises(ShapeError):
        mode_coverage(x, centers[:, :1], std=0.02)


def test_auroc_matches_sklearn_with_ties():
    g = torch.Generator().manual_seed(8)
    scores = torch.randint(0, 5, (200,), generator=g).float()  # many ties
    labels = torch.randint(0, 2, (200,), generator=g)
    assert auroc(scores, labels) == pytest.approx(roc_auc_score(labels.numpy(), scores.numpy()),
                                                  rel=1e-12)
    assert auroc(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0, 1, 1])) == 1.0
    assert auroc(torch.tensor([3.0, 2.0, 1.0]), torch.tensor([0, 1, 1])) == 0.0
    assert auroc(torch.ones(4), torch.tensor([0, 1, 0, 1])) == 0.5
    assert auroc(torch.tensor([0.2, 0.9]), torch.tensor([False, True])) == 1.0


def test_auroc_errors():
    with pytest.raises(ConfigError, match="both classes"):
        auroc(torch.rand(5), torch.ones(5))
    with pytest.raises(ConfigError, match="0 or 1"):
        auroc(torch.rand(3), torch.tensor([0, 1, 2]))
    with pytest.raises(ShapeError):
        auroc(torch.rand(3), torch.tensor([0, 1]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.booleans()), min_size=2, max_size=40))
def test_auroc_property_matches_sklearn(pairs):
    scores = [float(s) for s, _ in pairs]
    labels = [int(b) for _, b in pairs]
    if len(set(labels)) < 2:
        labels[0] = 1 - labels[0]
    expected = roc_auc_score(labels, scores)
    assert auroc(torch.tensor(scores), torch.tensor(labels)) == pytest.approx(expected, rel=1e-12)
