r"""Scores for generators: Fréchet distance (FID), a classifier's confidence and class spread
(and the Inception Score), mode coverage on 2-D mixtures, and the ROC AUC of anomaly scores.

- :func:`gaussian_stats`, :func:`frechet_distance`, :func:`fid`: fit a Gaussian to each set of
  features and measure the Fréchet (2-Wasserstein) distance between the two Gaussians
  (Heusel et al., 2017); the features are a classifier's penultimate activations
  (:mod:`deepnotes.tasks.image_features` for Fashion-MNIST).
- :func:`classifier_scores`, :func:`predicted_class_counts`: what a task classifier says about
  generated images: sure of each one (confidence), and spread over all classes (no mode
  collapse); their combination is the Inception Score (Salimans et al., 2016).
- :func:`mode_coverage`: how many modes of a known 2-D mixture (ring of 8, grid of 25;
  :func:`deepnotes.data.synthetic.gaussian_ring`) a generator reaches.
- :func:`auroc`: the area under the ROC curve of anomaly scores (auto-encoder reconstruction
  error, N8).

Notes: N5 (evaluating generators: confidence, class spread, mode collapse, FID), N8.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from deepnotes.errors import ConfigError, ShapeError

__all__ = [
    "auroc",
    "classifier_scores",
    "fid",
    "frechet_distance",
    "gaussian_stats",
    "mode_coverage",
    "predicted_class_counts",
    "sqrtm_psd",
]


def _f64(x: Any) -> Tensor:
    return torch.as_tensor(x).detach().to(device="cpu", dtype=torch.float64)


def gaussian_stats(features: Tensor) -> tuple[Tensor, Tensor]:
    r"""Mean and unbiased covariance of a set of feature vectors, in float64.

    .. math::
        \mu = \frac1N \sum_i x_i, \qquad
        \Sigma = \frac1{N-1} \sum_i (x_i - \mu)(x_i - \mu)^\top

    Args:
        features: ``(N, D)`` with ``N >= 2``.

    Shape:
        - Output: :math:`\mu` ``(D,)``, :math:`\Sigma` ``(D, D)``, float64.

    Example:
        >>> mu, sigma = gaussian_stats(torch.tensor([[0.0, 1.0], [2.0, 1.0]]))
        >>> mu.tolist(), sigma.tolist()
        ([1.0, 1.0], [[2.0, 0.0], [0.0, 0.0]])

    Notes: N5.
    """
    x = _f64(features)
    if x.dim() != 2 or x.shape[0] < 2:
        raise ShapeError(f"gaussian_stats expects features of shape (N, D) with N >= 2, "
                         f"got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ConfigError("gaussian_stats got non-finite features (NaN or inf)")
    mu = x.mean(dim=0)  # (D,)
    centred = x - mu  # (N, D)
    # Σ = (X - μ)ᵀ (X - μ) / (N - 1)
    sigma = centred.T @ centred / (x.shape[0] - 1)  # (D, D)
    return mu, sigma


def sqrtm_psd(a: Tensor) -> Tensor:
    r"""The symmetric positive semi-definite square root of a symmetric PSD matrix, by ``eigh``.

    .. math::
        A = V \operatorname{diag}(\lambda) V^\top \;\Rightarrow\;
        A^{1/2} = V \operatorname{diag}(\sqrt{\max(\lambda, 0)}) V^\top

    ``a`` is symmetrised first, and eigenvalues that rounding made slightly negative are set to
    0, so the result is real and symmetric (``scipy.linalg.sqrtm`` of a general matrix may
    return tiny imaginary parts instead).

    Args:
        a: symmetric PSD ``(D, D)``.

    Shape:
        - Output: ``(D, D)``, float64, with ``out @ out ≈ a``.

    Example:
        >>> sqrtm_psd(torch.tensor([[4.0, 0.0], [0.0, 9.0]])).tolist()
        [[2.0, 0.0], [0.0, 3.0]]

    Notes: N5.
    """
    m = _f64(a)
    if m.dim() != 2 or m.shape[0] != m.shape[1]:
        raise ShapeError(f"sqrtm_psd expects a square matrix (D, D), got {tuple(m.shape)}")
    m = (m + m.T) / 2
    eigvals, eigvecs = torch.linalg.eigh(m)  # (D,), (D, D)
    # A^{1/2} = V diag(√λ) Vᵀ
    return (eigvecs * eigvals.clamp(min=0).sqrt()) @ eigvecs.T  # (D, D)


def frechet_distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> float:
    r"""Fréchet distance between two Gaussians :math:`N(\mu_1, \Sigma_1)`, :math:`N(\mu_2, \Sigma_2)`.

    .. math::
        d^2 = \lVert \mu_1 - \mu_2 \rVert^2
              + \operatorname{Tr}\big(\Sigma_1 + \Sigma_2 - 2 (\Sigma_1 \Sigma_2)^{1/2}\big)

    :math:`\operatorname{Tr}((\Sigma_1\Sigma_2)^{1/2})` is computed stably as
    :math:`\sum_i \sqrt{\lambda_i}` over the eigenvalues (clamped at 0) of the symmetric PSD
    matrix :math:`M = \Sigma_1^{1/2} \Sigma_2 \Sigma_1^{1/2}`, which is similar to
    :math:`\Sigma_1\Sigma_2` (:math:`M = \Sigma_1^{-1/2} (\Sigma_1 \Sigma_2) \Sigma_1^{1/2}`
    when :math:`\Sigma_1` is invertible), so it has the same eigenvalues; unlike a general
    matrix square root of :math:`\Sigma_1\Sigma_2`, this never produces complex numbers, and
    it works for singular covariances (fewer samples than dimensions). Everything is float64.
    This is the squared 2-Wasserstein distance between the two Gaussians; FID reports
    :math:`d^2` itself (no square root).

    Args:
        mu1, mu2: means ``(D,)``.
        sigma1, sigma2: covariances ``(D, D)`` (symmetric PSD).

    Returns:
        :math:`d^2 \ge 0` as a float (a rounding residue below 0 is returned as 0).

    Example:
        >>> frechet_distance(torch.zeros(2), torch.eye(2), torch.ones(2), 4 * torch.eye(2))
        4.0

        (:math:`\lVert\mu_1-\mu_2\rVert^2 = 2`, trace :math:`2 + 8 - 2 \cdot 2 \cdot 2 = 2`.)

    Notes: N5 (FID).
    """
    m1, s1, m2, s2 = (_f64(t) for t in (mu1, sigma1, mu2, sigma2))
    for name, m in (("mu1", m1), ("mu2", m2)):
        if m.dim() != 1:
            raise ShapeError(f"frechet_distance: {name} must be a mean vector (D,), got "
                             f"{tuple(m.shape)}")
    d = m1.shape[0]
    if m2.shape[0] != d:
        raise ShapeError(f"frechet_distance: mu1 has D={d} but mu2 has D={m2.shape[0]}; the two "
                         f"feature sets must come from the same extractor")
    for name, s in (("sigma1", s1), ("sigma2", s2)):
        if tuple(s.shape) != (d, d):
            raise ShapeError(f"frechet_distance: {name} must be a covariance of shape ({d}, {d}) "
                             f"to match the means, got {tuple(s.shape)}")
    diff = m1 - m2  # (D,)
    s1_half = sqrtm_psd(s1)  # (D, D)
    # M = Σ1^{1/2} Σ2 Σ1^{1/2}: symmetric PSD, same eigenvalues as Σ1 Σ2
    m = s1_half @ s2 @ s1_half  # (D, D)
    m = (m + m.T) / 2
    # Tr((Σ1 Σ2)^{1/2}) = Σ_i √λ_i(M)
    tr_covmean = torch.linalg.eigvalsh(m).clamp(min=0).sqrt().sum()
    # d² = ‖μ1 − μ2‖² + Tr(Σ1) + Tr(Σ2) − 2 Tr((Σ1 Σ2)^{1/2})
    d2 = diff.dot(diff) + s1.trace() + s2.trace() - 2 * tr_covmean
    # only rounding can take d² below 0 (it is a squared distance)
    return max(float(d2), 0.0)


def fid(features1: Tensor, features2: Tensor) -> float:
    r"""Fréchet Inception Distance between two sets of features: :func:`frechet_distance` of
    their :func:`gaussian_stats`.

    .. math::
        \mathrm{FID} = \lVert \mu_1 - \mu_2 \rVert^2
              + \operatorname{Tr}\big(\Sigma_1 + \Sigma_2 - 2 (\Sigma_1 \Sigma_2)^{1/2}\big)

    Lower is better; 0 only when the two fitted Gaussians coincide. FID is biased upwards at
    small sample sizes, so compare values at the same N (and against the real-vs-real floor at
    that N, :func:`deepnotes.tasks.image_features.real_floor`), and only for one feature
    extractor: our numbers use our own Fashion-MNIST classifier, not Inception-v3, so they are
    not comparable with published FIDs.

    Args:
        features1: ``(N1, D)``.
        features2: ``(N2, D)``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> a, b = torch.randn(4000, 3, generator=g), torch.randn(4000, 3, generator=g)
        >>> fid(a, b) < 0.01, 2.8 < fid(a, b + 1.0) < 3.2  # shift 1 in 3 dims: ‖Δμ‖² = 3
        (True, True)

    Notes: N5 (FID: Fréchet distance of classifier features).
    """
    f1, f2 = _f64(features1), _f64(features2)
    if f1.dim() != 2 or f2.dim() != 2 or f1.shape[1] != f2.shape[1]:
        raise ShapeError(f"fid expects two feature sets (N1, D) and (N2, D) with one D, got "
                         f"{tuple(f1.shape)} and {tuple(f2.shape)}")
    return frechet_distance(*gaussian_stats(f1), *gaussian_stats(f2))


def _check_probs(probs: Tensor, name: str) -> Tensor:
    p = _f64(probs)
    if p.dim() != 2 or p.shape[0] < 1 or p.shape[1] < 2:
        raise ShapeError(f"{name} expects class probabilities of shape (N, C) with N >= 1, "
                         f"C >= 2, got {tuple(p.shape)}")
    if not torch.isfinite(p).all() or (p < 0).any():
        raise ConfigError(f"{name} expects probabilities >= 0 (apply softmax to logits); got "
                          f"min {float(p.min())}")
    worst = float((p.sum(dim=1) - 1).abs().max())
    if worst > 1e-3:
        raise ConfigError(f"{name} expects rows that sum to 1 (apply softmax to logits); a row "
                          f"is off by {worst:.3g}")
    return p


def classifier_scores(probs: Tensor) -> dict[str, float]:
    r"""What a task classifier says about a set of generated images.

    With :math:`p(y|x_i)` the classifier's class probabilities for sample :math:`i` and
    :math:`p(y) = \frac1N \sum_i p(y|x_i)` their mean:

    .. math::
        \text{confidence} = \frac1N \sum_i \max_y p(y|x_i), \qquad
        \text{class\_spread} = H(p(y)) = -\sum_y p(y) \log p(y),

        \mathrm{IS} = \exp\Big(\frac1N \sum_i \mathrm{KL}\big(p(y|x_i) \,\|\, p(y)\big)\Big)
                    = \exp\big(H(p(y)) - \tfrac1N \textstyle\sum_i H(p(y|x_i))\big).

    High confidence: each image looks clearly like one class (quality). High class spread (at
    most :math:`\log C`): the images together cover all classes (diversity; a collapsed
    generator has a low spread). The Inception Score combines the two and lies in
    :math:`[1, C]`: :math:`C` for confident one-hot predictions spread evenly over all classes,
    1 when every image gets the same distribution. (Salimans et al. used Inception-v3 on
    ImageNet classes; ours is a Fashion-MNIST classifier, so values compare only with ours.)

    Args:
        probs: ``(N, C)`` class probabilities (softmax of the logits), rows summing to 1.

    Returns:
        ``{"confidence", "class_spread", "mean_entropy", "inception_score"}`` (natural logs;
        ``mean_entropy`` is :math:`\frac1N\sum_i H(p(y|x_i))`). The class histogram is
        :func:`predicted_class_counts`.

    Example:
        >>> s = classifier_scores(torch.eye(4))
        >>> s["confidence"], round(s["class_spread"], 4), round(s["inception_score"], 4)
        (1.0, 1.3863, 4.0)

    Notes: N5 (a task classifier's confidence and class spread).
    """
    p = _check_probs(probs, "classifier_scores")
    marginal = p.mean(dim=0)  # (C,)  p(y)
    # H(p(y)) = −Σ_y p(y) log p(y), with 0 log 0 = 0
    spread = -torch.special.xlogy(marginal, marginal).sum()
    # H(p(y|x_i)) per sample, then its mean
    mean_entropy = -torch.special.xlogy(p, p).sum(dim=1).mean()
    # E_x KL(p(y|x) ‖ p(y)) = Σ_y E_x[p log p] − Σ_y p(y) log p(y) = H(p(y)) − E_x H(p(y|x))
    kl = (spread - mean_entropy).clamp(min=0)
    return {
        "confidence": float(p.max(dim=1).values.mean()),
        "class_spread": float(spread),
        "mean_entropy": float(mean_entropy),
        "inception_score": math.exp(float(kl)),
    }


def predicted_class_counts(probs: Tensor) -> Tensor:
    """How many samples the classifier puts in each class (argmax; ties to the lower class).

    Args:
        probs: ``(N, C)`` class probabilities or logits (only the argmax is used).

    Shape:
        - Output: ``(C,)`` int64 counts summing to N.

    Example:
        >>> predicted_class_counts(torch.tensor([[0.9, 0.1, 0.0], [0.8, 0.2, 0.0]])).tolist()
        [2, 0, 0]

    Notes: N5 (mode collapse shows as empty classes).
    """
    p = torch.as_tensor(probs).detach().cpu()
    if p.dim() != 2 or p.shape[1] < 1:
        raise ShapeError(f"predicted_class_counts expects scores of shape (N, C), got "
                         f"{tuple(p.shape)}")
    return torch.bincount(p.argmax(dim=1), minlength=p.shape[1])  # (C,)


def mode_coverage(samples: Tensor, centers: Tensor, std: float, threshold: float = 3.0,
                  min_count: int | None = None) -> dict[str, float]:
    r"""How many modes of a known Gaussian mixture a set of generated 2-D points reaches.

    Each sample goes to its nearest center :math:`k(x) = \arg\min_k \lVert x - c_k \rVert`; it
    is *high quality* when :math:`\lVert x - c_{k(x)} \rVert \le \text{threshold} \cdot
    \text{std}`. A mode is *covered* when it receives at least ``min_count`` high-quality
    samples. The 3-standard-deviation rule is the convention of VEEGAN (Srivastava et al.,
    2017) on the ring-of-8 and grid-of-25 benchmarks of the Unrolled GAN paper (Metz et al.,
    2017); how many high-quality samples make a mode count differs between papers.

    Default ``min_count``: :math:`\max(1, \lfloor N / (4K) \rfloor)`, a quarter of a mode's
    fair share. A perfect generator gives each mode :math:`\mathrm{Binomial}(N, 1/K)`
    samples, mean :math:`N/K`; for the usual :math:`N = 2500` (:math:`K = 8`: mean 312, sd 17;
    :math:`K = 25`: mean 100, sd 10) a quarter of the mean is more than 7 sd below it, so a
    perfect generator practically never misses a mode, while a collapsed generator that only
    leaks a few stray points onto a mode does not get it counted (with a threshold of 1, one
    stray point would count). For tiny N the rule falls back to 1.

    With :math:`q_k` the share of the high-quality samples that go to mode :math:`k`,
    ``kl_to_uniform`` is :math:`\mathrm{KL}(q \,\|\, U_K) = \sum_k q_k \log(K q_k) \in [0, \log
    K]`: 0 when the covered modes are hit evenly, :math:`\log K` when all go to one mode (NaN
    when there is no high-quality sample).

    Without the quality threshold, ``modes_visited`` counts the modes that are the nearest
    center of at least ``min_count`` samples and ``kl_nearest_to_uniform`` is the same KL for
    the nearest-center shares of all samples: a generator that spreads over every mode but
    draws blurred points scores well here and poorly above; a collapsed one scores poorly on
    both.

    Args:
        samples: generated points ``(N, 2)`` (any ``(N, D)`` works).
        centers: the mixture's means ``(K, D)``.
        std: the standard deviation of each mixture component (> 0).
        threshold: high quality within ``threshold · std`` of the nearest center. Default: 3.
        min_count: high-quality samples a mode needs to count as covered. Default: see above.

    Returns:
        ``{"modes_covered", "modes_visited", "kl_nearest_to_uniform", "modes_total",
        "high_quality_share", "kl_to_uniform", "min_count"}`` as floats.

    Example:
        >>> centers = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> samples = torch.tensor([[0.01, 0.0], [0.0, 0.02], [1.0, 0.01], [0.5, 0.5]])
        >>> r = mode_coverage(samples, centers, std=0.01)
        >>> r["modes_covered"], r["modes_total"], r["high_quality_share"]
        (2.0, 3.0, 0.75)

    Notes: N5 (mode collapse).
    """
    x, c = _f64(samples), _f64(centers)
    if x.dim() != 2 or c.dim() != 2 or x.shape[1] != c.shape[1] or x.shape[0] < 1:
        raise ShapeError(f"mode_coverage expects samples (N, D) and centers (K, D) with one D "
                         f"and N >= 1, got {tuple(x.shape)} and {tuple(c.shape)}")
    if c.shape[0] < 1:
        raise ShapeError("mode_coverage needs at least one center, got (0, D)")
    if not std > 0:
        raise ConfigError(f"mode_coverage: std must be > 0, got {std!r}")
    if not threshold > 0:
        raise ConfigError(f"mode_coverage: threshold must be > 0, got {threshold!r}")
    n, k = x.shape[0], c.shape[0]
    if min_count is None:
        # a quarter of a mode's fair share N/K (see the docstring), at least 1
        min_count = max(1, n // (4 * k))
    elif isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise ConfigError(f"mode_coverage: min_count must be a positive integer, got "
                          f"{min_count!r}")
    dist = torch.cdist(x, c)  # (N, K)
    nearest_dist, nearest = dist.min(dim=1)  # (N,), (N,)
    high = nearest_dist <= threshold * std  # (N,)
    counts = torch.bincount(nearest[high], minlength=k).to(torch.float64)  # (K,)
    n_high = float(counts.sum())
    if n_high > 0:
        q = counts / n_high  # (K,)
        # KL(q ‖ U_K) = Σ_k q_k log(K q_k)
        kl = float(torch.special.xlogy(q, q * k).sum())
    else:
        kl = float("nan")
    # the same without the quality threshold: where the samples go, sharp or not
    visits = torch.bincount(nearest, minlength=k).to(torch.float64)  # (K,)
    p = visits / n
    return {
        "modes_covered": float((counts >= min_count).sum()),
        "modes_visited": float((visits >= min_count).sum()),
        "kl_nearest_to_uniform": float(torch.special.xlogy(p, p * k).sum()),
        "modes_total": float(k),
        "high_quality_share": n_high / n,
        "kl_to_uniform": kl,
        "min_count": float(min_count),
    }


def auroc(scores: Tensor, labels: Tensor) -> float:
    r"""Area under the ROC curve, by the rank (Mann–Whitney U) formula, ties averaged.

    With :math:`R_i` the rank of score :math:`i` among all :math:`n = n_1 + n_0` scores
    (1 = lowest; tied scores share the mean of their ranks):

    .. math::
        \mathrm{AUC} = \frac{\sum_{i: y_i = 1} R_i - n_1 (n_1 + 1) / 2}{n_1 \, n_0}
                     = P(s^+ > s^-) + \tfrac12 P(s^+ = s^-)

    the probability that a random positive (label 1, e.g. an anomaly) scores above a random
    negative, ties counting one half; 0.5 is chance, 1 a perfect ranking. Equals
    ``sklearn.metrics.roc_auc_score``.

    Args:
        scores: ``(N,)`` higher = more likely positive (e.g. reconstruction error).
        labels: ``(N,)`` 0 or 1 (bool works), both present.

    Example:
        >>> auroc(torch.tensor([0.1, 0.4, 0.4, 0.8]), torch.tensor([0, 0, 1, 1]))
        0.875

    Notes: N5, N8 (anomaly detection by reconstruction error).
    """
    s = _f64(scores)
    y = torch.as_tensor(labels).detach().cpu()
    if s.dim() != 1 or tuple(y.shape) != tuple(s.shape):
        raise ShapeError(f"auroc expects scores (N,) and labels (N,), got {tuple(s.shape)} and "
                         f"{tuple(y.shape)}")
    if not torch.isfinite(s).all():
        raise ConfigError("auroc got non-finite scores (NaN or inf)")
    if y.dtype != torch.bool:
        bad = (y != 0) & (y != 1)
        if bad.any():
            raise ConfigError(f"auroc expects labels 0 or 1, got {y[bad][0].item()!r}")
    pos = y.bool()
    n1 = int(pos.sum())
    n0 = s.numel() - n1
    if n1 == 0 or n0 == 0:
        raise ConfigError(f"auroc needs both classes, got {n1} positives and {n0} negatives")
    _, inverse, counts = torch.unique(s, sorted=True, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).to(torch.float64)  # 1-based rank of each group's last member
    # a tie group holding ranks end−count+1 … end gets their mean: end − (count − 1)/2
    group_rank = ends - (counts.to(torch.float64) - 1) / 2  # (U,)
    ranks = group_rank[inverse]  # (N,)
    # U = Σ_{positives} R_i − n1 (n1 + 1)/2;  AUC = U / (n1 n0)
    u = ranks[pos].sum() - n1 * (n1 + 1) / 2
    return float(u / (n1 * n0))
