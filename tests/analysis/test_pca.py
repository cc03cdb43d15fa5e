"""PCA from the formula (N8): against scikit-learn (same subspace, same reconstruction error),
the Eckart–Young error, and the linear auto-encoder that reaches PCA's error."""

from __future__ import annotations

import doctest

import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

import deepnotes.analysis.pca as pca_module
from deepnotes import models
from deepnotes.analysis.pca import pca_decode, pca_encode, pca_fit, pca_reconstruct
from deepnotes.errors import ConfigError, ShapeError

f64 = torch.float64


def _data(n: int = 300, d: int = 8, seed: int = 0, scales: torch.Tensor | None = None
          ) -> torch.Tensor:
    """Correlated Gaussian data with distinct variances along random directions, off-centre."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=f64))
    scales = torch.linspace(3.0, 0.2, d, dtype=f64) if scales is None else scales
    return (torch.randn(n, d, generator=g, dtype=f64) * scales) @ q.T + 2.0


def _projector(components: torch.Tensor) -> torch.Tensor:
    return components.T @ components  # (D, D), the orthogonal projection on the span


@pytest.fixture(scope="module")
def digits():
    return load_digits().data  # (1797, 64)


@pytest.mark.parametrize("k", [1, 5, 20])
def test_matches_sklearn_pca_on_digits(digits, k):
    """Same mean, same components (sign included), same subspace, same reconstructions as
    sklearn.decomposition.PCA on the 8×8 digits (N8)."""
    x_np = digits
    x = torch.tensor(x_np, dtype=f64)
    mean, comps = pca_fit(x, k)
    ref = PCA(n_components=k, svd_solver="full").fit(x_np)
    torch.testing.assert_close(mean, torch.tensor(ref.mean_), atol=1e-10, rtol=0)
    torch.testing.assert_close(_projector(comps), _projector(torch.tensor(ref.components_)),
                               atol=1e-8, rtol=0)
    # the sign convention: largest-magnitude entry positive, as sklearn's svd_flip on Vᵀ
    torch.testing.assert_close(comps, torch.tensor(ref.components_), atol=1e-8, rtol=0)
    ours = pca_reconstruct(x, mean, comps)
    theirs = torch.tensor(ref.inverse_transform(ref.transform(x_np)))
    torch.testing.assert_close(ours, theirs, atol=1e-8, rtol=0)
    torch.testing.assert_close(pca_encode(x, mean, comps).abs(),
                               torch.tensor(ref.transform(x_np)).abs(), atol=1e-8, rtol=0)


def test_eckart_young_error_and_orthonormal_nested_components():
    """Training error Σ_i ‖x_i − x̂_i‖² = Σ_{j>k} s_j² (N8); components orthonormal, nested."""
    x = _data()
    s = torch.linalg.svdvals(x - x.mean(0))
    mean, comps = pca_fit(x, 3)
    err = (x - pca_reconstruct(x, mean, comps)).pow(2).sum()
    torch.testing.assert_close(err, s[3:].pow(2).sum(), atol=1e-9, rtol=1e-10)
    torch.testing.assert_close(comps @ comps.T, torch.eye(3, dtype=f64), atol=1e-12, rtol=0)
    _, more = pca_fit(x, 6)
    torch.testing.assert_close(more[:3], comps, atol=1e-10, rtol=0)
    # encode then decode is reconstruct; images keep their shape
    z = pca_encode(x, mean, comps)
    torch.testing.assert_close(pca_decode(z, mean, comps), pca_reconstruct(x, mean, comps))
    imgs = x[:, :4].reshape(-1, 1, 2, 2)
    m2, c2 = pca_fit(imgs, 2)
    assert pca_reconstruct(imgs, m2, c2).shape == imgs.shape


def test_linear_autoencoder_trained_with_mse_reaches_pca_error():
    """A linear auto-encoder (x̂ = W_d(W_e x + b_e) + b_d) trained on the squared error ends at
    PCA's reconstruction error and spans PCA's subspace (Baldi & Hornik, 1989) (N8)."""
    # a clear gap after the 2nd direction, so the subspace is well defined
    scales = torch.tensor([3.0, 2.5, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2], dtype=f64)
    x, k = _data(n=256, d=8, seed=1, scales=scales), 2
    mean, comps = pca_fit(x, k)
    pca_mse = (x - pca_reconstruct(x, mean, comps)).pow(2).mean()
    torch.manual_seed(0)
    ae = models.create("autoencoder", in_shape=(8,), hidden=(), code_dim=k,
                       output="linear").double()
    opt = torch.optim.LBFGS(ae.parameters(), lr=1.0, max_iter=100, tolerance_grad=1e-12,
                            tolerance_change=1e-15, history_size=20,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = (ae(x) - x).pow(2).mean()
        loss.backward()
        return loss

    for _ in range(4):
        opt.step(closure)
    ae_mse = (ae(x) - x).pow(2).mean().detach()
    assert ae_mse >= pca_mse * (1 - 1e-9)  # PCA is the best rank-k affine reconstruction
    assert ae_mse <= pca_mse * (1 + 1e-6)  # ... and the linear AE gets there
    # the decoder's columns span PCA's top-k subspace
    q, _ = torch.linalg.qr(ae.decoder[0].weight.detach())  # (D, k)
    torch.testing.assert_close(q @ q.T, _projector(comps), atol=1e-4, rtol=0)


def test_errors_name_the_bad_value():
    x = _data(n=10, d=4)
    with pytest.raises(ConfigError, match=r"\[1, 4\], got 5"):
        pca_fit(x, 5)
    with pytest.raises(ConfigError, match="got 0"):
        pca_fit(x, 0)
    with pytest.raises(ShapeError, match="examples"):
        pca_fit(torch.zeros(5), 1)
    mean, comps = pca_fit(x, 2)
    with pytest.raises(ShapeError, match="D = 4 features, the input 3"):
        pca_encode(torch.zeros(2, 3, dtype=f64), mean, comps)
    with pytest.raises(ShapeError, match=r"codes \(N, 2\)"):
        pca_decode(torch.zeros(2, 3, dtype=f64), mean, comps)


def test_docstring_examples():
    result = doctest.testmod(pca_module)
    assert result.attempted >= 4 and result.failed == 0
