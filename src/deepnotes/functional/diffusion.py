r"""Denoising diffusion (DDPM, Ho et al., 2020): the noise schedule, the forward process in
closed form, the ε-prediction loss and the reverse (sampling) steps.

The forward process adds Gaussian noise in :math:`T` small steps,

.. math::
    q(x_t \mid x_{t-1}) = \mathcal N\big(\sqrt{1-\beta_t}\, x_{t-1},\ \beta_t I\big),
    \qquad t = 1, \dots, T,

and because Gaussians compose, any :math:`x_t` can be drawn from :math:`x_0` in one go:
:math:`q(x_t \mid x_0) = \mathcal N(\sqrt{\bar\alpha_t}\, x_0, (1-\bar\alpha_t) I)` with
:math:`\alpha_t = 1 - \beta_t` and :math:`\bar\alpha_t = \prod_{s \le t} \alpha_s`. With
:math:`\bar\alpha_T \approx 0`, :math:`x_T` is pure noise. A network :math:`\varepsilon_\theta(x_t,
t)` learns to predict the noise that was added (:func:`ddpm_loss`); the reverse process then
walks from :math:`x_T \sim \mathcal N(0, I)` back to an image, one denoising step at a time
(:func:`p_sample_step`, :func:`sample`). Noise in, an image out: a generator whose output is a
distribution (N9); the model itself goes beyond the notes.

Steps count from 1 to :math:`T` as in the paper; a schedule tensor holds :math:`T` numbers, its
entry ``t - 1`` belonging to step :math:`t`, and :math:`\bar\alpha_0 = 1` (no noise yet). The
schedules are float64; each formula casts its coefficients to the images' dtype. A model is
called as ``model(x_t, t)`` with ``t`` a ``(B,)`` tensor of integer steps and returns
:math:`\hat\varepsilon` of ``x_t``'s shape.

Fewer sampling steps (:func:`respace`): a subsequence :math:`1 = \tau_1 < \dots < \tau_S = T`
of the training steps with the betas that chain the same :math:`\bar\alpha` (Nichol &
Dhariwal, 2021) runs DDPM's ancestral sampler in :math:`S` steps; :func:`ddim_step` is the
deterministic DDIM sampler (Song et al., 2021) on the same subsequence.

Notes: N9 (a generator whose input is noise and whose output is a distribution); DDPM itself
is beyond the notes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from deepnotes.errors import ConfigError, ShapeError

__all__ = ["alphas_bar", "cosine_betas", "ddim_step", "ddpm_loss", "linear_betas", "p_mean",
           "p_sample_step", "q_posterior", "q_sample", "respace", "sample", "timestep_embedding"]

#: a model ε_θ(x_t, t): images (B, C, H, W) and integer steps (B,) -> predicted noise
EpsModel = Callable[[Tensor, Tensor], Tensor]


def _check_T(T: Any, who: str) -> int:
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ConfigError(f"{who}: T must be a positive integer (the number of steps), got {T!r}")
    return T


def linear_betas(T: int = 1000, beta1: float = 1e-4, betaT: float = 0.02) -> Tensor:
    r"""DDPM's linear noise schedule: :math:`\beta_1, \dots, \beta_T` evenly spaced.

    .. math::
        \beta_t = \beta_1 + \frac{t - 1}{T - 1} (\beta_T - \beta_1)

    Ho et al. used :math:`T = 1000`, :math:`\beta_1 = 10^{-4}`, :math:`\beta_T = 0.02`, so
    :math:`\bar\alpha_T \approx 4 \cdot 10^{-5}`: :math:`x_T` is noise to 4 decimals.

    Args:
        T: number of steps. Default: ``1000``.
        beta1: :math:`\beta_1`. Default: ``1e-4``.
        betaT: :math:`\beta_T`. Default: ``0.02``.

    Shape:
        - Output: ``(T,)`` float64.

    Example:
        >>> linear_betas(3, 0.1, 0.3)
        tensor([0.1000, 0.2000, 0.3000], dtype=torch.float64)

    Notes: N9 (beyond the notes: DDPM).
    """
    _check_T(T, "linear_betas")
    if not 0.0 < beta1 <= betaT < 1.0:
        raise ConfigError(f"linear_betas needs 0 < beta1 <= betaT < 1, got beta1={beta1!r}, "
                          f"betaT={betaT!r}")
    if T == 1:
        return torch.tensor([float(betaT)], dtype=torch.float64)
    # β_t = β_1 + (t − 1)/(T − 1) · (β_T − β_1)
    return torch.linspace(beta1, betaT, T, dtype=torch.float64)


def cosine_betas(T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> Tensor:
    r"""The cosine schedule of Nichol & Dhariwal (2021): :math:`\bar\alpha_t` falls like a
    squared cosine, so less of the schedule is spent on nearly pure noise.

    .. math::
        \bar\alpha_t = \frac{f(t)}{f(0)}, \quad f(t) = \cos^2\Big(\frac{t/T + s}{1 + s}
        \cdot \frac\pi2\Big), \qquad \beta_t = \min\Big(1 - \frac{\bar\alpha_t}
        {\bar\alpha_{t-1}},\ \beta_{\max}\Big)

    Args:
        T: number of steps. Default: ``1000``.
        s: small offset that keeps :math:`\beta_1` from vanishing. Default: ``0.008``.
        max_beta: cap on :math:`\beta_t` (the last steps would reach 1). Default: ``0.999``.

    Shape:
        - Output: ``(T,)`` float64.

    Example:
        >>> b = cosine_betas(1000)
        >>> float(b[0]) < 1e-4, float(b[-1])
        (True, 0.999)

    Notes: N9 (beyond the notes: DDPM).
    """
    _check_T(T, "cosine_betas")
    if not s >= 0 or not 0.0 < max_beta < 1.0:
        raise ConfigError(f"cosine_betas needs s >= 0 and 0 < max_beta < 1, got s={s!r}, "
                          f"max_beta={max_beta!r}")
    t = torch.arange(T + 1, dtype=torch.float64)  # 0 .. T
    # f(t) = cos²((t/T + s)/(1 + s) · π/2)
    f = torch.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2  # (T + 1,)
    # β_t = 1 − ᾱ_t/ᾱ_{t−1} = 1 − f(t)/f(t − 1), capped
    return (1 - f[1:] / f[:-1]).clamp(max=max_beta)


def alphas_bar(betas: Tensor) -> Tensor:
    r"""The cumulative signal fraction :math:`\bar\alpha_t = \prod_{s=1}^{t} (1 - \beta_s)`.

    Shape:
        - ``betas``: ``(T,)``. Output: ``(T,)``, same dtype.

    Example:
        >>> alphas_bar(torch.tensor([0.5, 0.5, 0.5], dtype=torch.float64))
        tensor([0.5000, 0.2500, 0.1250], dtype=torch.float64)

    Notes: N9 (beyond the notes: DDPM).
    """
    _check_schedule(betas, "alphas_bar", "betas")
    # ᾱ_t = Π_{s≤t} α_s, α_s = 1 − β_s
    return torch.cumprod(1 - betas, dim=0)


def _check_schedule(values: Tensor, who: str, name: str) -> None:
    if not isinstance(values, Tensor) or values.dim() != 1 or values.numel() < 1:
        got = tuple(values.shape) if isinstance(values, Tensor) else type(values).__name__
        raise ShapeError(f"{who}: {name} must be a schedule (T,) with T >= 1, got {got}")
    if not bool(((values > 0) & (values <= 1)).all()):
        raise ConfigError(f"{who}: {name} must lie in (0, 1], got min {float(values.min())!r} "
                          f"and max {float(values.max())!r}")


def _steps(t: int | Tensor, x: Tensor, T: int, who: str, lowest: int = 1) -> Tensor:
    """``t`` as a ``(B,)`` long tensor on ``x``'s device, every step in ``[lowest, T]``."""
    steps = torch.as_tensor(t, device=x.device)
    if steps.is_floating_point() or steps.dtype == torch.bool:
        raise ConfigError(f"{who}: t must hold integer steps, got dtype {steps.dtype}")
    if steps.dim() == 0:
        steps = steps.expand(x.shape[0])
    if steps.shape != (x.shape[0],):
        raise ShapeError(f"{who}: t must be one step or one per image ({x.shape[0]},), got "
                         f"{tuple(steps.shape)}")
    lo, hi = int(steps.min()), int(steps.max())
    if lo < lowest or hi > T:
        raise ConfigError(f"{who}: steps must lie in [{lowest}, {T}], got {lo}..{hi}")
    return steps.long()


def _at(values: Tensor, t: Tensor, x: Tensor, first: float | None = None) -> Tensor:
    """Step ``t``'s entry of a schedule (entry ``t − 1``; ``first`` at ``t = 0``), shaped
    ``(B, 1, …, 1)`` to broadcast over ``x``, in ``x``'s dtype."""
    if first is not None:
        values = torch.cat([values.new_full((1,), first), values])  # (T + 1,): index t
    else:
        t = t - 1
    out = values.to(x.device)[t].to(x.dtype)  # (B,)
    return out.reshape(-1, *([1] * (x.dim() - 1)))  # (B, 1, …, 1)


def _randn_like(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard normal noise of ``x``'s shape, drawn on the generator's device (a seeded CPU
    generator gives the same draws on any device), then moved to ``x``'s."""
    device = generator.device if generator is not None else x.device
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=device).to(x.device)


def timestep_embedding(t: Tensor, dim: int, base: float = 10000.0) -> Tensor:
    r"""The step :math:`t` as a vector: the sinusoidal table of the Transformer (A6), read at
    position :math:`t`, so a network can tell the noise levels apart.

    .. math::
        e_{2j} = \sin\frac{t}{10000^{2j/d}}, \qquad e_{2j+1} = \cos\frac{t}{10000^{2j/d}}

    (row :math:`t` of :func:`deepnotes.nn.positional.sinusoidal_positions`; ``t`` may be
    fractional).

    Shape:
        - ``t``: ``(B,)``. Output: ``(B, dim)`` float32 (float64 for float64 ``t``).

    Example:
        >>> timestep_embedding(torch.tensor([0, 1]), 4)
        tensor([[0.0000, 1.0000, 0.0000, 1.0000],
                [0.8415, 0.5403, 0.0100, 0.9999]])

    Notes: N9 (beyond the notes: DDPM), A6 (sinusoidal positions).
    """
    if t.dim() != 1:
        raise ShapeError(f"timestep_embedding expects steps (B,), got {tuple(t.shape)}")
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ConfigError(f"timestep_embedding: dim must be a positive integer, got {dim!r}")
    dtype = torch.float64 if t.dtype == torch.float64 else torch.float32
    # ω_j = 1 / base^{2j/d}, j = 0 .. ⌈d/2⌉ − 1
    omega = 1.0 / base ** (torch.arange(0, dim, 2, dtype=torch.float64, device=t.device) / dim)
    angle = t.to(torch.float64)[:, None] * omega  # (B, ⌈d/2⌉)
    emb = torch.empty(t.shape[0], dim, dtype=torch.float64, device=t.device)
    # e_{2j} = sin(t ω_j), e_{2j+1} = cos(t ω_j)
    emb[:, 0::2] = torch.sin(angle)
    emb[:, 1::2] = torch.cos(angle[:, : dim // 2])
    return emb.to(dtype)


def q_sample(x0: Tensor, t: int | Tensor, noise: Tensor, alphas_bar: Tensor) -> Tensor:
    r"""A draw of :math:`x_t \sim q(x_t \mid x_0)`, the forward process in one step.

    .. math::
        x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \varepsilon,
        \qquad \varepsilon \sim \mathcal N(0, I)

    Args:
        x0: clean images :math:`x_0`.
        t: steps in ``[0, T]``, one for all images or one per image ``(B,)``
            (:math:`t = 0` gives :math:`x_0`).
        noise: :math:`\varepsilon`, same shape as ``x0``.
        alphas_bar: :math:`\bar\alpha` ``(T,)`` (:func:`alphas_bar`).

    Shape:
        - ``x0``, ``noise``: ``(B, *)``. Output: same.

    Example:
        >>> ab = torch.tensor([0.25], dtype=torch.float64)
        >>> q_sample(torch.ones(1, 2), 1, torch.ones(1, 2), ab)  # √¼ + √¾
        tensor([[1.3660, 1.3660]])

    Notes: N9 (beyond the notes: DDPM).
    """
    _check_schedule(alphas_bar, "q_sample", "alphas_bar")
    if noise.shape != x0.shape:
        raise ShapeError(f"q_sample: noise must have x0's shape {tuple(x0.shape)}, got "
                         f"{tuple(noise.shape)}")
    steps = _steps(t, x0, alphas_bar.numel(), "q_sample", lowest=0)
    ab = _at(alphas_bar, steps, x0, first=1.0)  # (B, 1, …, 1)
    # x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


def ddpm_loss(model: EpsModel, x0: Tensor, alphas_bar: Tensor,
              generator: torch.Generator | None = None) -> Tensor:
    r"""DDPM's simplified training loss: how well the model finds the noise in :math:`x_t`.

    .. math::
        L = \mathbb E_{t \sim U\{1..T\},\ \varepsilon \sim \mathcal N(0, I)}
        \big\lVert \varepsilon - \varepsilon_\theta\big(\sqrt{\bar\alpha_t}\, x_0 +
        \sqrt{1 - \bar\alpha_t}\, \varepsilon,\ t\big) \big\rVert^2

    estimated with one :math:`(t, \varepsilon)` per image and averaged over images *and
    pixels* (the mean squared error: :math:`\lVert\cdot\rVert^2 / D`, the same minimiser).
    A model that always answers :math:`\hat\varepsilon = 0` scores 1.

    Args:
        model: :math:`\varepsilon_\theta`, called as ``model(x_t, t)``.
        x0: a batch of clean images :math:`x_0` ``(B, *)`` (DDPM scales them to :math:`[-1, 1]`).
        alphas_bar: :math:`\bar\alpha` ``(T,)``.
        generator: draws :math:`t` and :math:`\varepsilon` (reproducible losses). Default:
            torch's global generator.

    Returns:
        The scalar loss.

    Example:
        >>> ab = alphas_bar(linear_betas(10))
        >>> zero = lambda x, t: torch.zeros_like(x)
        >>> round(float(ddpm_loss(zero, torch.zeros(256, 1, 4, 4), ab,
        ...                       torch.Generator().manual_seed(0))), 1)
        1.0

    Notes: N9 (beyond the notes: DDPM).
    """
    _check_schedule(alphas_bar, "ddpm_loss", "alphas_bar")
    T = alphas_bar.numel()
    device = generator.device if generator is not None else x0.device
    # t ~ U{1, …, T}, one per image
    t = torch.randint(1, T + 1, (x0.shape[0],), generator=generator, device=device)
    t = t.to(x0.device)  # (B,)
    noise = _randn_like(x0, generator)  # ε, (B, *)
    x_t = q_sample(x0, t, noise, alphas_bar)  # (B, *)
    eps = model(x_t, t)  # ε̂, (B, *)
    if eps.shape != x0.shape:
        raise ShapeError(f"ddpm_loss: the model must return noise of the images' shape "
                         f"{tuple(x0.shape)}, got {tuple(eps.shape)}")
    # L = mean over images and pixels of (ε − ε̂)²
    return (noise - eps).pow(2).mean()


def q_posterior(x0: Tensor, x_t: Tensor, t: int | Tensor, betas: Tensor
                ) -> tuple[Tensor, Tensor]:
    r"""The forward process run backwards when :math:`x_0` is known: the Gaussian
    :math:`q(x_{t-1} \mid x_t, x_0) = \mathcal N(\tilde\mu_t, \tilde\beta_t I)`.

    .. math::
        \tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1 - \bar\alpha_t}\, x_0
        + \frac{\sqrt{\alpha_t}\,(1 - \bar\alpha_{t-1})}{1 - \bar\alpha_t}\, x_t,
        \qquad \tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\, \beta_t

    The reverse step the network learns imitates it with :math:`x_0` unknown
    (:func:`p_mean`). At :math:`t = 1`, :math:`\tilde\mu_1 = x_0` and :math:`\tilde\beta_1 = 0`.

    Args:
        x0: clean images; x_t: their noisy versions at step ``t``; t: steps in ``[1, T]``.
        betas: :math:`\beta` ``(T,)``.

    Returns:
        ``(mean, variance)``: :math:`\tilde\mu_t` of ``x_t``'s shape, :math:`\tilde\beta_t`
        ``(B, 1, …, 1)``.

    Notes: N9 (beyond the notes: DDPM).
    """
    _check_schedule(betas, "q_posterior", "betas")
    if x0.shape != x_t.shape:
        raise ShapeError(f"q_posterior: x0 and x_t must have one shape, got {tuple(x0.shape)} "
                         f"and {tuple(x_t.shape)}")
    steps = _steps(t, x_t, betas.numel(), "q_posterior")
    ab_all = alphas_bar(betas)
    beta = _at(betas, steps, x_t)  # β_t, (B, 1, …, 1)
    ab = _at(ab_all, steps, x_t, first=1.0)  # ᾱ_t
    ab_prev = _at(ab_all, steps - 1, x_t, first=1.0)  # ᾱ_{t−1}
    # μ̃_t = √ᾱ_{t−1} β_t/(1 − ᾱ_t) x_0 + √α_t (1 − ᾱ_{t−1})/(1 − ᾱ_t) x_t
    mean = (ab_prev.sqrt() * beta / (1 - ab)) * x0 \
        + ((1 - beta).sqrt() * (1 - ab_prev) / (1 - ab)) * x_t
    # β̃_t = (1 − ᾱ_{t−1})/(1 − ᾱ_t) β_t
    return mean, (1 - ab_prev) / (1 - ab) * beta


def _eps(model: EpsModel, x_t: Tensor, model_t: Tensor) -> Tensor:
    eps = model(x_t, model_t)
    if eps.shape != x_t.shape:
        raise ShapeError(f"the model must return noise of the images' shape {tuple(x_t.shape)}, "
                         f"got {tuple(eps.shape)}")
    return eps


def p_mean(model: EpsModel, x_t: Tensor, t: int | Tensor, betas: Tensor,
           model_t: int | Tensor | None = None, clip_x0: float | None = None) -> Tensor:
    r"""The mean of the learnt reverse step :math:`p_\theta(x_{t-1} \mid x_t)`: the noise the
    model sees, taken out, rescaled.

    .. math::
        \mu_\theta(x_t, t) = \frac{1}{\sqrt{\alpha_t}} \Big(x_t -
        \frac{\beta_t}{\sqrt{1 - \bar\alpha_t}}\, \varepsilon_\theta(x_t, t)\Big)

    which is the posterior mean :math:`\tilde\mu_t` (:func:`q_posterior`) at the model's
    guess :math:`\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\varepsilon_\theta) /
    \sqrt{\bar\alpha_t}`; a model that returns the true noise gives exactly :math:`\tilde\mu_t`.
    With ``clip_x0 = c`` the guess is clipped to :math:`[-c, c]` first (the data's range;
    Ho et al.'s sampler does this) and the mean is :math:`\tilde\mu_t(\mathrm{clip}(\hat x_0),
    x_t)`.

    Args:
        model: :math:`\varepsilon_\theta`. x_t: ``(B, *)``. t: steps in ``[1, T]``.
        betas: :math:`\beta` ``(T,)`` (a :func:`respace`\ d schedule works too).
        model_t: the steps the model is told (default ``t``; on a respaced schedule, the
            original steps :math:`\tau_t`).
        clip_x0: clip :math:`\hat x_0` to ``[-clip_x0, clip_x0]``. Default: ``None`` (no clip).

    Notes: N9 (beyond the notes: DDPM).
    """
    _check_schedule(betas, "p_mean", "betas")
    steps = _steps(t, x_t, betas.numel(), "p_mean")
    told = steps if model_t is None else torch.as_tensor(model_t, device=x_t.device).long()
    if told.dim() == 0:
        told = told.expand(x_t.shape[0])
    eps = _eps(model, x_t, told)  # ε̂, (B, *)
    beta = _at(betas, steps, x_t)  # β_t, (B, 1, …, 1)
    ab = _at(alphas_bar(betas), steps, x_t)  # ᾱ_t
    if clip_x0 is None:
        # μ_θ = (x_t − β_t/√(1 − ᾱ_t) ε̂)/√α_t
        return (x_t - beta / (1 - ab).sqrt() * eps) / (1 - beta).sqrt()
    # x̂_0 = (x_t − √(1 − ᾱ_t) ε̂)/√ᾱ_t, clipped to the data's range
    x0_hat = ((x_t - (1 - ab).sqrt() * eps) / ab.sqrt()).clamp(-clip_x0, clip_x0)
    return q_posterior(x0_hat, x_t, steps, betas)[0]


def p_sample_step(model: EpsModel, x_t: Tensor, t: int, betas: Tensor,
                  generator: torch.Generator | None = None, model_t: int | None = None,
                  clip_x0: float | None = None) -> Tensor:
    r"""One ancestral step of DDPM's sampler (Algorithm 2): :math:`x_{t-1}` from :math:`x_t`.

    .. math::
        x_{t-1} = \mu_\theta(x_t, t) + \sigma_t z, \qquad \sigma_t^2 = \beta_t, \qquad
        z \sim \mathcal N(0, I) \text{ for } t > 1,\ z = 0 \text{ for } t = 1

    (:math:`\sigma_t^2 = \beta_t` is one of Ho et al.'s two choices; the other,
    :math:`\tilde\beta_t`, gave them similar samples.) Args as :func:`p_mean`; ``t`` is one
    step for the whole batch; ``generator`` draws :math:`z`.

    Example:
        >>> b = linear_betas(2, 0.19, 0.36)
        >>> zero = lambda x, t: torch.zeros_like(x)  # ε̂ = 0: x_{t−1} = x_t/√α_t + σ_t z
        >>> p_sample_step(zero, torch.ones(1, 1), 1, b)  # t = 1: no noise; 1/√(1 − 0.19) = 1/0.9
        tensor([[1.1111]])

    Notes: N9 (beyond the notes: DDPM).
    """
    if isinstance(t, bool) or not isinstance(t, int):
        raise ConfigError(f"p_sample_step: t must be one integer step, got {t!r}")
    mean = p_mean(model, x_t, t, betas, model_t=model_t, clip_x0=clip_x0)
    if t == 1:  # the last step returns the mean: no noise on the final image
        return mean
    sigma = math.sqrt(float(betas[t - 1]))
    # x_{t−1} = μ_θ + σ_t z, σ_t² = β_t
    return mean + sigma * _randn_like(x_t, generator)


def respace(alphas_bar: Tensor, steps: int) -> tuple[Tensor, Tensor]:
    r"""A shorter schedule for sampling: ``steps`` of the :math:`T` training steps, and the
    betas that chain the same :math:`\bar\alpha` across them.

    .. math::
        \tau_i = \mathrm{round}\Big(1 + (i - 1)\frac{T - 1}{S - 1}\Big),\ i = 1..S, \qquad
        \beta'_i = 1 - \frac{\bar\alpha_{\tau_i}}{\bar\alpha_{\tau_{i-1}}}\ (\tau_0 = 0,\
        \bar\alpha_0 = 1)

    so :math:`\prod_{j \le i} (1 - \beta'_j) = \bar\alpha_{\tau_i}`: the respaced forward
    process reaches every kept step with the noise level of the original, and a model trained
    on the :math:`T` steps serves unchanged (told :math:`\tau_i`). With ``steps = T`` it
    returns the original schedule. (Nichol & Dhariwal, 2021; "DDPM with respaced betas".)

    Args:
        alphas_bar: :math:`\bar\alpha` ``(T,)``. steps: :math:`S`, in ``[1, T]``.

    Returns:
        ``(timesteps, betas)``: :math:`\tau` ``(S,)`` int64 (increasing, :math:`\tau_S = T`)
        and :math:`\beta'` ``(S,)`` float64.

    Example:
        >>> tau, b = respace(alphas_bar(linear_betas(1000)), 5)
        >>> tau.tolist()
        [1, 251, 500, 750, 1000]

    Notes: N9 (beyond the notes: faster DDPM sampling).
    """
    _check_schedule(alphas_bar, "respace", "alphas_bar")
    T = alphas_bar.numel()
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= T:
        raise ConfigError(f"respace: steps must be an integer in [1, {T}], got {steps!r}")
    if steps == 1:
        tau = torch.tensor([T])
    else:
        # τ_i = round(1 + (i − 1)(T − 1)/(S − 1))
        tau = torch.linspace(1, T, steps, dtype=torch.float64).round().long()  # (S,)
    ab = alphas_bar.to(torch.float64)[tau - 1]  # ᾱ_{τ_i}, (S,)
    ab_prev = torch.cat([ab.new_ones(1), ab[:-1]])  # ᾱ_{τ_{i−1}}, ᾱ_0 = 1
    # β'_i = 1 − ᾱ_{τ_i}/ᾱ_{τ_{i−1}}
    return tau, 1 - ab / ab_prev


def ddim_step(model: EpsModel, x_t: Tensor, t: int, t_prev: int, alphas_bar: Tensor,
              eta: float = 0.0, generator: torch.Generator | None = None,
              clip_x0: float | None = None) -> Tensor:
    r"""One DDIM step (Song et al., 2021) from step :math:`t` to an earlier step
    :math:`s = t_{\text{prev}}` (any :math:`0 \le s < t`): guess :math:`x_0`, then re-noise it
    to level :math:`s` with the predicted noise.

    .. math::
        \hat x_0 = \frac{x_t - \sqrt{1 - \bar\alpha_t}\,\hat\varepsilon}{\sqrt{\bar\alpha_t}},
        \qquad \sigma = \eta \sqrt{\frac{1 - \bar\alpha_s}{1 - \bar\alpha_t}}
        \sqrt{1 - \frac{\bar\alpha_t}{\bar\alpha_s}},

        x_s = \sqrt{\bar\alpha_s}\, \hat x_0 + \sqrt{1 - \bar\alpha_s - \sigma^2}\,
        \hat\varepsilon + \sigma z

    :math:`\eta = 0` is deterministic (the same noise :math:`x_T`, the same image);
    :math:`\eta = 1` is the ancestral sampler with :math:`\sigma^2 = \tilde\beta` on the
    respaced schedule.

    Args:
        model: :math:`\varepsilon_\theta`. x_t: ``(B, *)``. t: step in ``[1, T]``.
        t_prev: :math:`s \in [0, t)`. alphas_bar: :math:`\bar\alpha` ``(T,)``.
        eta: :math:`\eta \ge 0`. Default ``0``. generator: draws :math:`z` when
            :math:`\eta > 0`. clip_x0: clip :math:`\hat x_0` as :func:`p_mean`.

    Notes: N9 (beyond the notes: DDIM sampling).
    """
    _check_schedule(alphas_bar, "ddim_step", "alphas_bar")
    T = alphas_bar.numel()
    if not (isinstance(t, int) and isinstance(t_prev, int) and 0 <= t_prev < t <= T):
        raise ConfigError(f"ddim_step needs integer steps 0 <= t_prev < t <= {T}, got t={t!r}, "
                          f"t_prev={t_prev!r}")
    if not eta >= 0:
        raise ConfigError(f"ddim_step: eta must be >= 0, got {eta!r}")
    steps = _steps(t, x_t, T, "ddim_step")
    eps = _eps(model, x_t, steps)  # ε̂, (B, *)
    ab = float(alphas_bar[t - 1])  # ᾱ_t
    ab_prev = 1.0 if t_prev == 0 else float(alphas_bar[t_prev - 1])  # ᾱ_s
    # x̂_0 = (x_t − √(1 − ᾱ_t) ε̂)/√ᾱ_t
    x0_hat = (x_t - math.sqrt(1 - ab) * eps) / math.sqrt(ab)
    if clip_x0 is not None:
        x0_hat = x0_hat.clamp(-clip_x0, clip_x0)
        # the noise that goes with the clipped guess: ε̂ = (x_t − √ᾱ_t x̂_0)/√(1 − ᾱ_t)
        eps = (x_t - math.sqrt(ab) * x0_hat) / math.sqrt(1 - ab)
    # σ = η √((1 − ᾱ_s)/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_s)
    sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab)) * math.sqrt(1 - ab / ab_prev)
    # x_s = √ᾱ_s x̂_0 + √(1 − ᾱ_s − σ²) ε̂ + σ z
    out = math.sqrt(ab_prev) * x0_hat + math.sqrt(max(1 - ab_prev - sigma ** 2, 0.0)) * eps
    if sigma > 0:
        out = out + sigma * _randn_like(x_t, generator)
    return out


@torch.no_grad()
def sample(model: EpsModel, n: int, shape: Sequence[int], T: int = 1000,
           generator: torch.Generator | None = None, *, betas: Tensor | None = None,
           steps: int | None = None, method: str = "ddpm", eta: float = 0.0,
           clip_x0: float | None = None, x_T: Tensor | None = None,
           callback: Callable[[int, Tensor], None] | None = None,
           dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> Tensor:
    r"""Draw ``n`` samples: start from noise :math:`x_T \sim \mathcal N(0, I)` and denoise
    step by step down to :math:`x_0`.

    - ``method="ddpm"``: the ancestral sampler (:func:`p_sample_step`, :math:`\sigma_t^2 =
      \beta_t`), over all :math:`T` steps, or over ``steps`` of them with respaced betas
      (:func:`respace`);
    - ``method="ddim"``: :func:`ddim_step` over the same ``steps`` (deterministic for
      ``eta = 0``).

    Args:
        model: :math:`\varepsilon_\theta`, in the mode it should sample in (eval).
        n: number of samples. shape: one sample's shape, e.g. ``(1, 28, 28)``.
        T: training steps; the schedule is :func:`linear_betas` ``(T)`` unless ``betas``.
        generator: draws :math:`x_T` and every :math:`z` (same seed, same samples).
        betas: the training schedule ``(T,)`` (then ``T`` is its length).
        steps: sampling steps :math:`S \le T`. Default: ``T``.
        method: ``"ddpm"`` or ``"ddim"``. eta: DDIM's :math:`\eta`. clip_x0: see :func:`p_mean`.
        x_T: start from this noise instead of drawing it.
        callback: ``callback(t, x_t)`` with :math:`x_T` first and after every step (the last
            call has ``t = 0``: the sample).
        dtype, device: of :math:`x_T`; default: ``x_T``'s when given, else the model's first
            parameter's, else float32 on the CPU.

    Shape:
        - Output: ``(n, *shape)``.

    Example:
        >>> x = sample(lambda x, t: torch.zeros_like(x), 3, (2,), T=10,
        ...            generator=torch.Generator().manual_seed(0))
        >>> x.shape
        torch.Size([3, 2])

    Notes: N9 (beyond the notes: DDPM and DDIM sampling).
    """
    if betas is None:
        betas = linear_betas(_check_T(T, "sample"))
    _check_schedule(betas, "sample", "betas")
    T = betas.numel()
    if method not in ("ddpm", "ddim"):
        raise ConfigError(f"sample: method must be 'ddpm' or 'ddim', got {method!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"sample: n must be a positive integer, got {n!r}")
    if x_T is not None:
        dtype, device = dtype or x_T.dtype, device or x_T.device
    if dtype is None or device is None:
        params = list(model.parameters()) if hasattr(model, "parameters") else []
        dtype = dtype or (params[0].dtype if params else torch.float32)
        device = device or (params[0].device if params else torch.device("cpu"))
    if x_T is None:
        g_device = generator.device if generator is not None else device
        x = torch.randn(n, *shape, generator=generator, dtype=dtype, device=g_device)
        x = x.to(device)  # (n, *shape)
    else:
        if tuple(x_T.shape) != (n, *shape):
            raise ShapeError(f"sample: x_T must have shape {(n, *shape)}, got "
                             f"{tuple(x_T.shape)}")
        x = x_T.to(device=device, dtype=dtype)
    ab = alphas_bar(betas)
    tau, betas_s = respace(ab, T if steps is None else steps)  # (S,), (S,)
    if callback is not None:
        callback(T, x)
    S = tau.numel()
    for i in range(S, 0, -1):  # i = S … 1 on the respaced schedule
        t, t_prev = int(tau[i - 1]), (int(tau[i - 2]) if i > 1 else 0)
        if method == "ddpm":
            x = p_sample_step(model, x, i, betas_s, generator, model_t=t, clip_x0=clip_x0)
        else:
            x = ddim_step(model, x, t, t_prev, ab, eta=eta, generator=generator,
                          clip_x0=clip_x0)
        if callback is not None:
            callback(t_prev, x)
    return x
