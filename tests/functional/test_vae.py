"""The VAE's objective (N8, N9; the VAE itself is beyond the notes): the closed-form KL against
torch.distributions and a Monte-Carlo estimate, the reparameterised gradient against the
analytic one, the ELBO against torch's BCE and against log p(x) by quadrature, gradcheck."""

from __future__ import annotations

import doctest
import math

import pytest
import torch
import torch.nn.functional as TF
from torch.distributions import Normal, kl_divergence

import deepnotes.functional.vae as vae
from deepnotes.errors import ShapeError

f64 = torch.float64


def _gaussians(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, dtype=f64, generator=g), torch.randn(*shape, dtype=f64,
                                                                    generator=g)


def test_n9_gaussian_kl_equals_torch_distributions():
    """(N9) KL(N(μ, σ²) ‖ N(0, I)) in closed form = torch's, summed over every non-batch dim."""
    mu, logvar = _gaussians(5, 2, 3)
    want = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(dim=(1, 2))
    torch.testing.assert_close(vae.gaussian_kl(mu, logvar), want)
    # 0 at the prior; μ alone costs μ²/2
    assert vae.gaussian_kl(torch.zeros(2, 4), torch.zeros(2, 4)).eq(0).all()
    torch.testing.assert_close(vae.gaussian_kl(torch.full((1, 3), 2.0), torch.zeros(1, 3)),
                               torch.tensor([6.0]))


def test_n9_gaussian_kl_equals_a_monte_carlo_estimate():
    """(N9) KL = E_q[log q(z) − log p(z)], estimated from 200,000 draws of q."""
    mu = torch.tensor([[0.5, -1.0, 2.0]], dtype=f64)
    logvar = torch.tensor([[0.3, -1.5, 0.8]], dtype=f64)
    g = torch.Generator().manual_seed(1)
    k = 200_000
    z = vae.reparameterize(mu.expand(k, 3), logvar.expand(k, 3), generator=g)  # (K, 3)
    q, p = Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)
    terms = (q.log_prob(z) - p.log_prob(z)).sum(dim=1)  # (K,)
    se = terms.std() / math.sqrt(k)
    assert abs(float(terms.mean() - vae.gaussian_kl(mu, logvar)[0])) < 4 * float(se)


def test_n9_reparameterize_draws_from_q_and_repeats_with_a_generator():
    """(N9) z = μ + σ ⊙ ε: the draws have mean μ and variance σ²; one seed, one draw."""
    mu = torch.tensor([1.0, -2.0], dtype=f64).expand(100_000, 2)
    logvar = torch.tensor([0.0, math.log(0.25)], dtype=f64).expand(100_000, 2)
    z = vae.reparameterize(mu, logvar, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(z.mean(0), torch.tensor([1.0, -2.0], dtype=f64), atol=0.01,
                               rtol=0)
    torch.testing.assert_close(z.var(0), torch.tensor([1.0, 0.25], dtype=f64), atol=0.01, rtol=0)
    # exactly μ + exp(½ log σ²) · ε with ε from the same generator
    eps = torch.randn(mu.shape, dtype=f64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(z, mu + (0.5 * logvar).exp() * eps)


def test_n9_gradient_through_the_sample_is_the_analytic_one():
    """(N9) For E_q[z²] = μ² + σ² the reparameterised gradients are exact per draw
    (∂z²/∂μ = 2z, ∂z²/∂log σ² = zσε) and average to the analytic 2μ and σ²."""
    mu = torch.tensor([0.7], dtype=f64, requires_grad=True)
    logvar = torch.tensor([math.log(0.5)], dtype=f64, requires_grad=True)
    k = 200_000
    g = torch.Generator().manual_seed(2)
    z = vae.reparameterize(mu.expand(k), logvar.expand(k), generator=g)  # (K,)
    (z.pow(2).mean()).backward()
    eps = torch.randn(k, dtype=f64, generator=torch.Generator().manual_seed(2))
    sigma = math.sqrt(0.5)
    # per-draw derivatives, averaged: what autograd must give exactly
    torch.testing.assert_close(mu.grad, (2 * z).mean().detach().reshape(1))
    torch.testing.assert_close(logvar.grad, (z * sigma * eps).mean().detach().reshape(1))
    # ... and, in expectation, the gradient of μ² + σ²: (2μ, σ²)
    assert abs(mu.grad.item() - 2 * 0.7) < 0.02
    assert abs(logvar.grad.item() - 0.5) < 0.02


def test_n8_elbo_terms_equal_torch_bce_and_the_kl():
    """(N8) recon = Σ_pixels BCE(ℓ, x) per image, mean over images; −ELBO = recon + KL."""
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(4, 1, 5, 5, dtype=f64, generator=g) * 3
    x = torch.rand(4, 1, 5, 5, dtype=f64, generator=g)
    mu, logvar = _gaussians(4, 3, seed=4)
    loss, recon, kl = vae.elbo(logits, x, mu, logvar)
    torch.testing.assert_close(recon, TF.binary_cross_entropy_with_logits(logits, x,
                                                                          reduction="sum") / 4)
    torch.testing.assert_close(kl, vae.gaussian_kl(mu, logvar).mean())
    torch.testing.assert_close(loss, recon + kl)


def test_n9_elbo_is_log_evidence_minus_the_posterior_kl():
    """(N9) On a 1-D latent with a fixed Bernoulli decoder, log p(x) and the posterior come from
    quadrature; the ELBO estimate equals log p(x) − KL(q ‖ p(z|x)), below log p(x)."""
    w = torch.tensor([2.0, -1.5, 0.5], dtype=f64)
    b = torch.tensor([0.3, 0.0, -1.0], dtype=f64)
    x = torch.tensor([1.0, 0.0, 1.0], dtype=f64)

    def log_lik(z):  # log p(x|z), z (K,) -> (K,)
        logits = z[:, None] * w + b  # (K, 3)
        return -TF.binary_cross_entropy_with_logits(logits, x.expand_as(logits),
                                                    reduction="none").sum(1)

    grid = torch.linspace(-12, 12, 48_001, dtype=f64)
    dz = float(grid[1] - grid[0])
    log_joint = log_lik(grid) + Normal(0.0, 1.0).log_prob(grid)  # (G,)
    log_px = torch.logsumexp(log_joint, 0) + math.log(dz)
    log_post = log_joint - log_px
    k = 200_000
    for m, s in ((0.5, 0.6), (-1.0, 1.2)):
        q = Normal(m, s)
        post_kl = (q.log_prob(grid).exp() * (q.log_prob(grid) - log_post)).sum() * dz
        mu = torch.full((k, 1), m, dtype=f64)
        logvar = torch.full((k, 1), 2 * math.log(s), dtype=f64)
        z = vae.reparameterize(mu, logvar, generator=torch.Generator().manual_seed(5))
        loss, recon, kl = vae.elbo(z * w + b, x.expand(k, 3), mu, logvar)
        se = log_lik(z[:, 0]).std() / math.sqrt(k)
        assert abs(float(-loss - (log_px - post_kl))) < 4 * float(se)
        assert float(post_kl) > 0.01 and float(-loss) < float(log_px)


def test_gradcheck_in_float64():
    """(N9) Autograd's gradients of the KL, the sample and the ELBO = finite differences."""
    mu, logvar = _gaussians(3, 2, seed=6)
    logits = torch.randn(3, 4, dtype=f64, generator=torch.Generator().manual_seed(7))
    x = torch.rand(3, 4, dtype=f64, generator=torch.Generator().manual_seed(8))
    args = [t.clone().requires_grad_(True) for t in (logits, mu, logvar)]
    assert torch.autograd.gradcheck(lambda lg, m, lv: vae.elbo(lg, x, m, lv), args)
    assert torch.autograd.gradcheck(vae.gaussian_kl, args[1:])
    assert torch.autograd.gradcheck(
        lambda m, lv: vae.reparameterize(m, lv, generator=torch.Generator().manual_seed(0)),
        args[1:])


def test_shape_errors_name_the_shapes():
    with pytest.raises(ShapeError, match=r"\(2, 3\) and \(2, 4\)"):
        vae.gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ShapeError, match=r"\(2, 5\) and \(2, 4\)"):
        vae.elbo(torch.zeros(2, 5), torch.zeros(2, 4), torch.zeros(2, 1), torch.zeros(2, 1))
    with pytest.raises(ShapeError, match="one batch"):
        vae.elbo(torch.zeros(2, 4), torch.zeros(2, 4), torch.zeros(3, 1), torch.zeros(3, 1))
    with pytest.raises(ShapeError, match="scalar"):
        vae.reparameterize(torch.tensor(0.0), torch.tensor(0.0))


def test_docstring_examples():
    assert doctest.testmod(vae).failed == 0
