"""Denoising diffusion's formulas (N9; DDPM itself is beyond the notes): the schedule, the
forward process against the step-by-step Markov chain, one reverse step with the true noise
against Bayes' rule, the variance bookkeeping of the sampler, samplers that land on the data
when the model is the exact denoiser, reproducibility."""

from __future__ import annotations

import doctest
import math

import pytest
import torch

import deepnotes.functional.diffusion as D
from deepnotes.errors import ConfigError, ShapeError
from deepnotes.nn.positional import sinusoidal_positions

f64 = torch.float64


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _zero(x, t):
    return torch.zeros_like(x)


def test_n9_alphas_bar_is_the_cumulative_product_of_one_minus_beta():
    """(N9) ᾱ_t = Π_{s≤t} (1 − β_s), by a plain loop; DDPM's linear schedule ends near 0."""
    betas = D.linear_betas(1000)
    assert betas.shape == (1000,) and betas.dtype == f64
    assert float(betas[0]) == pytest.approx(1e-4) and float(betas[-1]) == pytest.approx(0.02)
    torch.testing.assert_close(betas.diff(), torch.full((999,), (0.02 - 1e-4) / 999, dtype=f64))
    ab = D.alphas_bar(betas)
    prod, want = 1.0, []
    for b in betas.tolist():
        prod *= 1 - b
        want.append(prod)
    torch.testing.assert_close(ab, torch.tensor(want, dtype=f64), rtol=1e-12, atol=0)
    assert 3e-5 < float(ab[-1]) < 5e-5  # x_T is noise to 4 decimals
    assert bool((ab.diff() < 0).all())
    # the cosine schedule: ᾱ_t = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s) · π/2)
    T, s = 50, 0.008
    cab = D.alphas_bar(D.cosine_betas(T, s=s, max_beta=0.999))
    t = torch.arange(1, T + 1, dtype=f64)
    f = torch.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    f0 = math.cos(s / (1 + s) * math.pi / 2) ** 2
    torch.testing.assert_close(cab[:-1], (f / f0)[:-1])  # the last β is capped at 0.999


def test_n9_q_sample_matches_the_markov_chain_and_the_closed_form_by_monte_carlo():
    """(N9) q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I): t steps of x ← √(1 − β) x + √β ε on
    200,000 chains have that mean and variance, and so do q_sample's one-shot draws."""
    betas = D.linear_betas(100, 1e-3, 0.05)
    ab = D.alphas_bar(betas)
    x0 = torch.tensor([-1.0, 0.25, 1.0], dtype=f64)
    n, t = 200_000, 40
    g = _gen(0)
    x = x0.expand(n, 3).clone()
    for s in range(t):  # the forward chain, one small step at a time
        x = (1 - betas[s]).sqrt() * x + betas[s].sqrt() * torch.randn(n, 3, dtype=f64,
                                                                        generator=g)
    one_shot = D.q_sample(x0.expand(n, 3), t, torch.randn(n, 3, dtype=f64, generator=g), ab)
    mean, var = ab[t - 1].sqrt() * x0, (1 - ab[t - 1]).expand(3)
    for draws in (x, one_shot):
        se_mean = (var / n).sqrt()
        assert bool(((draws.mean(0) - mean).abs() < 5 * se_mean).all())
        # the variance of a Gaussian sample has standard error var·√(2/(n − 1))
        assert bool(((draws.var(0) - var).abs() < 5 * var * math.sqrt(2 / (n - 1))).all())


def test_q_sample_exact_values_per_image_steps_and_t_zero():
    ab = D.alphas_bar(D.linear_betas(10))
    x0 = torch.randn(3, 1, 2, 2, generator=_gen(1))
    eps = torch.randn(3, 1, 2, 2, generator=_gen(2))
    t = torch.tensor([0, 4, 10])
    got = D.q_sample(x0, t, eps, ab)
    torch.testing.assert_close(got[0], x0[0])  # ᾱ_0 = 1: no noise
    for i in (1, 2):
        a = float(ab[int(t[i]) - 1])
        torch.testing.assert_close(got[i], math.sqrt(a) * x0[i] + math.sqrt(1 - a) * eps[i])
    with pytest.raises(ConfigError, match=r"\[0, 10\].*11"):
        D.q_sample(x0, 11, eps, ab)
    with pytest.raises(ShapeError, match="noise"):
        D.q_sample(x0, 1, eps[:2], ab)
    with pytest.raises(ShapeError, match=r"\(3,\)"):
        D.q_sample(x0, torch.tensor([1, 2]), eps, ab)


def _bayes_posterior(x0, x_t, t, betas):
    """q(x_{t−1} | x_t, x_0) ∝ q(x_t | x_{t−1}) q(x_{t−1} | x_0): a product of two Gaussians
    in x_{t−1}, N(x_t; √α_t x_{t−1}, β_t) · N(x_{t−1}; √ᾱ_{t−1} x_0, 1 − ᾱ_{t−1}),
    combined by adding precisions."""
    ab = D.alphas_bar(betas)
    beta = float(betas[t - 1])
    alpha = 1 - beta
    ab_prev = 1.0 if t == 1 else float(ab[t - 2])
    if t == 1:  # q(x_0 | x_1, x_0) is the point x_0
        return x0.clone(), 0.0
    precision = alpha / beta + 1 / (1 - ab_prev)
    var = 1 / precision
    mean = var * (math.sqrt(alpha) / beta * x_t + math.sqrt(ab_prev) / (1 - ab_prev) * x0)
    return mean, var


@pytest.mark.parametrize("t", [1, 2, 17, 60])
def test_n9_one_reverse_step_with_the_true_noise_is_the_posterior_mean(t):
    """(N9) a model that returns the noise actually in x_t (an oracle that knows x_0) gives
    μ_θ = (x_t − β_t/√(1 − ᾱ_t) ε)/√α_t = the mean of q(x_{t−1} | x_t, x_0) by Bayes' rule;
    the ancestral step adds √β_t z (none at t = 1)."""
    betas = D.linear_betas(60, 1e-3, 0.1)
    ab = D.alphas_bar(betas)
    x0 = torch.rand(4, 1, 3, 3, dtype=f64, generator=_gen(0)) * 2 - 1
    eps = torch.randn(4, 1, 3, 3, dtype=f64, generator=_gen(1))
    x_t = D.q_sample(x0, t, eps, ab)

    def oracle(x, steps):
        assert steps.tolist() == [t] * 4
        a = ab[steps - 1].reshape(-1, 1, 1, 1)
        return (x - a.sqrt() * x0) / (1 - a).sqrt()  # the noise that makes x from x0

    want_mean, want_var = _bayes_posterior(x0, x_t, t, betas)
    torch.testing.assert_close(oracle(x_t, torch.full((4,), t)), eps)
    torch.testing.assert_close(D.p_mean(oracle, x_t, t, betas), want_mean)
    mean, var = D.q_posterior(x0, x_t, t, betas)
    torch.testing.assert_close(mean, want_mean)
    torch.testing.assert_close(var, torch.full((4, 1, 1, 1), want_var, dtype=f64))
    # the step: μ + σ_t z with σ_t² = β_t and z from the generator (z = 0 at t = 1)
    step = D.p_sample_step(oracle, x_t, t, betas, generator=_gen(5))
    z = torch.randn(x_t.shape, dtype=f64, generator=_gen(5))
    sigma = 0.0 if t == 1 else math.sqrt(float(betas[t - 1]))
    torch.testing.assert_close(step, want_mean + sigma * z)
    # the x̂_0 route (used with clipping) is the same mean when nothing is clipped
    torch.testing.assert_close(D.p_mean(oracle, x_t, t, betas, clip_x0=1e9), want_mean)


def test_n9_sampling_with_eps_zero_keeps_the_variance_bookkeeping():
    """(N9) with ε̂ = 0 each ancestral step is x_{t−1} = x_t/√α_t + √β_t z, so from
    Var x_T = 1 the variance follows v_{t−1} = v_t/α_t + β_t (no noise at t = 1): checked on
    100,000 draws, over all T steps and over a respaced schedule of 8."""
    T, n = 40, 100_000
    betas = D.linear_betas(T, 1e-3, 0.1)
    for steps in (None, 8):
        if steps is None:
            b = betas
        else:
            b = D.respace(D.alphas_bar(betas), steps)[1]
        v = 1.0
        for t in range(len(b), 0, -1):
            v = v / (1 - float(b[t - 1])) + (float(b[t - 1]) if t > 1 else 0.0)
        x = D.sample(_zero, n, (1,), betas=betas, steps=steps, generator=_gen(3), dtype=f64)
        assert x.shape == (n, 1)
        assert abs(float(x.mean())) < 5 * math.sqrt(v / n)
        assert abs(float(x.var()) - v) < 5 * v * math.sqrt(2 / (n - 1))
    # DDIM with ε̂ = 0: x_s = √ᾱ_s · x_t/√ᾱ_t, so x_0 = x_T/√ᾱ_T exactly
    x_T = torch.randn(5, 2, dtype=f64, generator=_gen(4))
    x = D.sample(_zero, 5, (2,), betas=betas, steps=7, method="ddim", x_T=x_T)
    torch.testing.assert_close(x, x_T / D.alphas_bar(betas)[-1].sqrt())


def _point_oracle(c, ab):
    """The exact denoiser of a point mass at c: ε = (x_t − √ᾱ_t c)/√(1 − ᾱ_t)."""
    def model(x, t):
        a = ab[t - 1].reshape(-1, *([1] * (x.dim() - 1)))
        return (x - a.sqrt() * c) / (1 - a).sqrt()
    return model


@pytest.mark.parametrize("method, steps", [("ddpm", None), ("ddpm", 9), ("ddim", 9),
                                           ("ddim", 1)])
def test_n9_every_sampler_lands_on_a_point_mass_with_its_exact_denoiser(method, steps):
    """(N9) data that is one image c: the Bayes-optimal ε̂ names the noise exactly, and every
    sampler, ancestral or DDIM, full or strided, ends on c whatever x_T was (the last DDPM step
    is the posterior mean with ᾱ_0 = 1, which is x_0 itself)."""
    betas = D.linear_betas(100, 1e-3, 0.05)
    ab = D.alphas_bar(betas)
    c = torch.tensor([[0.5, -0.75], [1.0, 0.0]], dtype=f64)
    x = D.sample(_point_oracle(c, ab), 6, (2, 2), betas=betas, steps=steps, method=method,
                 generator=_gen(7), dtype=f64)
    torch.testing.assert_close(x, c.expand(6, 2, 2), atol=1e-9, rtol=0)


def test_n9_samples_of_gaussian_data_with_the_exact_denoiser_have_its_mean_and_spread():
    """(N9) data N(m, s²): the optimal ε̂ is E[ε | x_t] = √(1 − ᾱ)(x_t − √ᾱ m)/(ᾱ s² + 1 − ᾱ).
    DDPM's ancestral sampler (all 1000 steps) turns N(0, 1) noise into draws with mean m and
    standard deviation s (within 2 %); DDIM keeps the mean at any stride, but a few big steps
    shrink the spread (measured: 0.36 at 10 steps, 0.47 at 50), which returns as the steps
    grow (within 1 % at 1000)."""
    betas = D.linear_betas(1000)
    ab = D.alphas_bar(betas)
    m, s, n = 0.3, 0.5, 40_000

    def model(x, t):
        a = ab[t - 1].reshape(-1, 1)
        return (1 - a).sqrt() * (x - a.sqrt() * m) / (a * s ** 2 + 1 - a)

    x = D.sample(model, n, (1,), betas=betas, generator=_gen(11), dtype=f64)
    assert abs(float(x.mean()) - m) < 0.02
    assert abs(float(x.std()) - s) < 0.02 * s
    spreads = []
    for steps in (10, 50, 200, 1000):
        x = D.sample(model, n, (1,), betas=betas, steps=steps, method="ddim",
                     generator=_gen(11), dtype=f64)
        assert abs(float(x.mean()) - m) < 0.01, steps
        spreads.append(float(x.std()))
    assert spreads == sorted(spreads) and spreads[0] < 0.8 * s
    assert abs(spreads[-1] - s) < 0.01 * s


def test_n9_ddpm_loss_is_the_noise_regression_and_repeats_with_a_generator():
    """(N9) L = mean (ε − ε_θ(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, t))², t ~ U{1..T}: the same draws by
    hand give the same number; ε̂ = 0 scores E ε² = 1."""
    ab = D.alphas_bar(D.linear_betas(30))
    x0 = torch.rand(8, 1, 4, 4, dtype=f64, generator=_gen(0))

    def model(x, t):
        return 0.3 * x + t.reshape(-1, 1, 1, 1) / 30

    loss = D.ddpm_loss(model, x0, ab, _gen(9))
    g = _gen(9)
    t = torch.randint(1, 31, (8,), generator=g)
    eps = torch.randn(x0.shape, dtype=f64, generator=g)
    a = ab[t - 1].reshape(-1, 1, 1, 1)
    x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
    torch.testing.assert_close(loss, (eps - model(x_t, t)).pow(2).mean())
    assert torch.equal(loss, D.ddpm_loss(model, x0, ab, _gen(9)))
    assert not torch.equal(loss, D.ddpm_loss(model, x0, ab, _gen(10)))
    big = torch.zeros(4000, 1, 4, 4, dtype=f64)
    assert float(D.ddpm_loss(_zero, big, ab, _gen(1))) == pytest.approx(1.0, abs=0.02)
    with pytest.raises(ShapeError, match="shape"):
        D.ddpm_loss(lambda x, t: x[:, :, :2], x0, ab)


def test_sampling_repeats_with_a_generator():
    """One seed, one set of samples (ancestral noise included); another seed, others."""
    ab = D.alphas_bar(D.linear_betas(20))

    def model(x, t):
        return 0.5 * x

    for method in ("ddpm", "ddim"):
        a = D.sample(model, 3, (1, 2, 2), T=20, generator=_gen(1), method=method, steps=5)
        b = D.sample(model, 3, (1, 2, 2), T=20, generator=_gen(1), method=method, steps=5)
        c = D.sample(model, 3, (1, 2, 2), T=20, generator=_gen(2), method=method, steps=5)
        assert torch.equal(a, b) and not torch.equal(a, c)
    seen = []
    D.sample(model, 2, (3,), T=20, steps=4, generator=_gen(0),
             callback=lambda t, x: seen.append(t))
    assert seen == [20] + D.respace(ab, 4)[0].flip(0).tolist()[1:] + [0]


def test_respace_keeps_alpha_bar_on_the_kept_steps():
    """ᾱ' of the respaced betas equals ᾱ at τ_i; S = T gives back the original schedule."""
    betas = D.linear_betas(100)
    ab = D.alphas_bar(betas)
    tau, b = D.respace(ab, 7)
    assert tau[0] == 1 and tau[-1] == 100 and bool((tau.diff() > 0).all())
    torch.testing.assert_close(D.alphas_bar(b), ab[tau - 1])
    tau_all, b_all = D.respace(ab, 100)
    assert tau_all.tolist() == list(range(1, 101))
    torch.testing.assert_close(b_all, betas)
    tau1, b1 = D.respace(ab, 1)
    assert tau1.tolist() == [100] and float(b1[0]) == pytest.approx(1 - float(ab[-1]))
    for bad in (0, 101, 2.5):
        with pytest.raises(ConfigError, match="steps"):
            D.respace(ab, bad)


def test_timestep_embedding_is_the_sinusoidal_table_row_t():
    """(N9, A6) e(t) is row t of the Transformer's sinusoidal positions."""
    t = torch.tensor([0, 3, 999, 17])
    torch.testing.assert_close(D.timestep_embedding(t, 10), sinusoidal_positions(1000, 10)[t])
    assert D.timestep_embedding(t.double(), 6).dtype == f64
    with pytest.raises(ShapeError):
        D.timestep_embedding(torch.zeros(2, 2), 4)


def test_ddim_with_eta_one_draws_the_posterior_variance():
    """DDIM's σ at η = 1 is √β̃ of the respaced step: for a one-step jump t → t − 1 the noise
    added is the posterior's, √((1 − ᾱ_{t−1})/(1 − ᾱ_t) β_t)."""
    betas = D.linear_betas(10, 0.01, 0.2)
    ab = D.alphas_bar(betas)
    x = torch.randn(4, 3, dtype=f64, generator=_gen(0))
    det = D.ddim_step(_zero, x, 5, 4, ab, eta=0.0)
    noisy = D.ddim_step(_zero, x, 5, 4, ab, eta=1.0, generator=_gen(1))
    z = torch.randn(4, 3, dtype=f64, generator=_gen(1))
    var = float((1 - ab[3]) / (1 - ab[4]) * betas[4])
    torch.testing.assert_close(noisy - det, math.sqrt(var) * z)
    with pytest.raises(ConfigError, match="t_prev"):
        D.ddim_step(_zero, x, 4, 4, ab)


def test_argument_errors_name_the_bad_value():
    with pytest.raises(ConfigError, match="T must be a positive integer.*0"):
        D.linear_betas(0)
    with pytest.raises(ConfigError, match="beta1"):
        D.linear_betas(10, 0.3, 0.2)
    with pytest.raises(ShapeError, match="schedule"):
        D.alphas_bar(torch.ones(2, 2))
    with pytest.raises(ConfigError, match="method.*'euler'"):
        D.sample(_zero, 2, (1,), T=5, method="euler")
    with pytest.raises(ConfigError, match=r"integer steps.*float"):
        D.p_mean(_zero, torch.zeros(2, 1), torch.tensor([1.0, 2.0]), D.linear_betas(5))
    with pytest.raises(ShapeError, match="x_T"):
        D.sample(_zero, 2, (3,), T=5, x_T=torch.zeros(2, 4))


def test_docstring_examples():
    result = doctest.testmod(D)
    assert result.attempted >= 9 and result.failed == 0
