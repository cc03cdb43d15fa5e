"""GAN objectives (N1–N4): values against torch, the JS link at the optimal discriminator, the
vanishing minimax gradient, the Wasserstein estimate and the gradient penalty."""

from __future__ import annotations

import doctest
import math

import pytest
import torch
import torch.nn.functional as TF

import deepnotes.functional.gan as gan
from deepnotes.errors import ConfigError, ShapeError

f64 = torch.float64


def test_losses_equal_torch_bce_forms():
    g = torch.Generator().manual_seed(0)
    r, f = torch.randn(64, dtype=f64, generator=g) * 3, torch.randn(64, dtype=f64, generator=g) * 3
    want_d = (TF.binary_cross_entropy_with_logits(r, torch.ones_like(r))
              + TF.binary_cross_entropy_with_logits(f, torch.zeros_like(f)))
    torch.testing.assert_close(gan.discriminator_loss(r, f), want_d)
    # V = E log σ(r) + E log(1 - σ(f))
    v = torch.log(torch.sigmoid(r)).mean() + torch.log1p(-torch.sigmoid(f)).mean()
    torch.testing.assert_close(gan.gan_value(r, f), v)
    torch.testing.assert_close(gan.generator_loss(f), -torch.log(torch.sigmoid(f)).mean())
    torch.testing.assert_close(gan.generator_loss(f, "minimax"),
                               torch.log1p(-torch.sigmoid(f)).mean())
    with pytest.raises(ConfigError, match="non-saturating"):
        gan.generator_loss(f, "hinge")


def test_n2_optimal_discriminator_gives_js():
    """With D* = p / (p + q) on a discrete space, V(G, D*) = -log 4 + 2 JS(p ‖ q) exactly."""
    p = torch.tensor([0.4, 0.3, 0.2, 0.1], dtype=f64)
    q = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=f64)
    m = (p + q) / 2
    kl = lambda a, b: (a * torch.log(a / b)).sum()  # noqa: E731
    js = 0.5 * kl(p, m) + 0.5 * kl(q, m)
    # the logit of D* is log p - log q; expectations as weighted sums over the four points
    logit = torch.log(p) - torch.log(q)
    v = (p * TF.logsigmoid(logit)).sum() + (q * TF.logsigmoid(-logit)).sum()
    torch.testing.assert_close(v, -math.log(4) + 2 * js)
    # the batch estimator on samples in proportion to p and q gives the same number
    reals = torch.cat([logit[i].repeat(round(p[i].item() * 10)) for i in range(4)])
    fakes = torch.cat([logit[i].repeat(round(q[i].item() * 10)) for i in range(4)])
    torch.testing.assert_close(gan.js_estimate(reals, fakes), js)
    # disjoint supports: a perfect discriminator, JS = log 2
    torch.testing.assert_close(gan.js_estimate(torch.full((5,), 40.0, dtype=f64),
                                               torch.full((5,), -40.0, dtype=f64)),
                               torch.tensor(math.log(2), dtype=f64))


def test_minimax_generator_gradient_vanishes_where_non_saturating_does_not():
    s = torch.linspace(-12, 0, 7, dtype=f64, requires_grad=True)
    (g_mm,) = torch.autograd.grad(gan.generator_loss(s, "minimax") * 7, s)
    (g_ns,) = torch.autograd.grad(gan.generator_loss(s) * 7, s)
    torch.testing.assert_close(g_mm, -torch.sigmoid(s.detach()))
    torch.testing.assert_close(g_ns, -(1 - torch.sigmoid(s.detach())))
    assert g_mm[0].abs() < 1e-5 and g_ns[0].abs() > 0.999


def test_wasserstein_estimate_and_clipping():
    real, fake = torch.tensor([2.0, 4.0]), torch.tensor([1.0, -1.0])
    assert gan.wasserstein_estimate(real, fake).item() == 3.0
    assert gan.critic_loss(real, fake).item() == -3.0
    layer = torch.nn.Linear(3, 2)
    with torch.no_grad():
        layer.weight.fill_(0.5)
    gan.clip_weights_(layer, 0.01)
    assert layer.weight.abs().max().item() == pytest.approx(0.01)
    assert layer.bias.abs().max().item() <= 0.01
    with pytest.raises(ConfigError):
        gan.clip_weights_(layer, 0.0)


def test_gradient_penalty_is_the_gradient_norm_on_interpolates():
    g = torch.Generator().manual_seed(1)
    real = torch.randn(16, 1, 3, 3, dtype=f64, generator=g)
    fake = torch.randn(16, 1, 3, 3, dtype=f64, generator=g)
    # a quadratic critic f(x) = ½‖x‖²: ∇f(x̂) = x̂, so the penalty is mean (‖x̂‖ - 1)²
    crit = lambda x: 0.5 * (x.flatten(1) ** 2).sum(1)  # noqa: E731
    gp = gan.gradient_penalty(crit, real, fake, generator=torch.Generator().manual_seed(7))
    eps = torch.rand(16, 1, 1, 1, generator=torch.Generator().manual_seed(7), dtype=f64)
    x_hat = eps * real + (1 - eps) * fake
    torch.testing.assert_close(gp, ((x_hat.flatten(1).norm(dim=1) - 1) ** 2).mean())
    # differentiable in the critic's parameters (the critic's update needs it)
    w = torch.ones(9, dtype=f64, requires_grad=True)
    gp = gan.gradient_penalty(lambda x: x.flatten(1) @ w, real, fake)
    (dw,) = torch.autograd.grad(gp, w)
    torch.testing.assert_close(dw, 2 * (3 - 1) * w.detach() / 3)  # d(‖w‖-1)²/dw, ‖w‖ = 3
    # extra inputs go to the critic; shapes must agree
    labels = torch.arange(16)
    gan.gradient_penalty(lambda x, y: x.flatten(1).sum(1) * (y + 1), real, fake, labels)
    with pytest.raises(ShapeError):
        gan.gradient_penalty(crit, real, fake[:3])


def test_docstring_examples():
    assert doctest.testmod(gan).failed == 0
