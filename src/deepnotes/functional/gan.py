r"""GAN objectives: the minimax value and its JS link, the two generator losses, the
Wasserstein critic, weight clipping and the gradient penalty.

A discriminator :math:`D` outputs a logit :math:`s(x)`, :math:`D(x) = \sigma(s(x))`. The
minimax game of Goodfellow et al. (2014) is

.. math::
    \min_G \max_D V(G, D), \qquad
    V = \mathbb E_{x\sim P_{data}}[\log D(x)] + \mathbb E_{z}[\log(1 - D(G(z)))]

For a fixed :math:`G` the best discriminator is :math:`D^*(x) = p_{data}(x) / (p_{data}(x) +
p_G(x))` and then :math:`V(G, D^*) = -\log 4 + 2\,\mathrm{JS}(P_{data} \Vert P_G)`. When the two
distributions do not overlap, JS is :math:`\log 2` whatever :math:`G` does, so the
generator's loss is flat: the failure WGAN fixes. A WGAN critic :math:`f` (a score, no sigmoid)
estimates the Wasserstein-1 distance :math:`\mathbb E_{P_{data}} f - \mathbb E_{P_G} f` over
1-Lipschitz :math:`f`, kept Lipschitz by clipping its weights (WGAN), a gradient penalty
(WGAN-GP) or spectral normalisation (:mod:`deepnotes.nn.spectral`).

All losses are means over the batch, written with our stable
:func:`~deepnotes.functional.losses.binary_cross_entropy_with_logits`.

Notes: N1 (alternate D and G steps: real 1, fake 0), N2 (V(G, D), JS), N3 (WGAN critic,
weight clipping), N4 (gradient penalty).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor, nn

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.functional.losses import binary_cross_entropy_with_logits as bce_logits

__all__ = ["clip_weights_", "critic_loss", "discriminator_loss", "gan_value",
           "generator_loss", "gradient_penalty", "js_estimate", "wasserstein_estimate"]

GENERATOR_LOSSES = ("non-saturating", "minimax")


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    r"""The discriminator's loss: label real data 1 and generated data 0.

    .. math::
        L_D = -\mathbb E_x[\log D(x)] - \mathbb E_z[\log(1 - D(G(z)))] = -V(G, D)

    Example:
        >>> discriminator_loss(torch.zeros(4), torch.zeros(4))  # D = 1/2 everywhere: 2 log 2
        tensor(1.3863)

    Notes: N1, N2.
    """
    return bce_logits(real_logits, torch.ones_like(real_logits)) + \
        bce_logits(fake_logits, torch.zeros_like(fake_logits))


def gan_value(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    r"""The minimax value :math:`V(G, D) = \mathbb E[\log D(x)] + \mathbb E[\log(1 -
    D(G(z)))]` (:math:`= -L_D`).

    Notes: N2.
    """
    return -discriminator_loss(real_logits, fake_logits)


def js_estimate(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    r"""The Jensen–Shannon divergence the value implies for a (near-)optimal discriminator.

    .. math::
        \mathrm{JS}(P_{data} \Vert P_G) \approx \frac{V(G, D) + \log 4}{2}
        \in [0, \log 2]

    exact when :math:`D = D^*`; a weaker :math:`D` gives a lower bound in expectation (one
    batch's estimate from a poor :math:`D` can even be negative).

    Example:
        >>> js_estimate(torch.full((3,), 50.0), torch.full((3,), -50.0))  # D separates all
        tensor(0.6931)

    Notes: N2.
    """
    return (gan_value(real_logits, fake_logits) + math.log(4.0)) / 2


def generator_loss(fake_logits: Tensor, kind: str = "non-saturating") -> Tensor:
    r"""The generator's loss on its samples' logits.

    .. math::
        L_G^{\text{minimax}} = \mathbb E_z[\log(1 - D(G(z)))], \qquad
        L_G^{\text{non-sat}} = -\mathbb E_z[\log D(G(z))]

    Both push :math:`D(G(z))` up. The minimax form is the game's own, but its gradient with
    respect to the logit, :math:`-\sigma(s)`, vanishes exactly when the discriminator rejects
    the samples (:math:`D \to 0`, early in training); the non-saturating form's,
    :math:`-(1 - \sigma(s))`, is then largest (Goodfellow et al., 2014).

    Args:
        fake_logits: the discriminator's logits on generated samples.
        kind: ``"non-saturating"`` (default) or ``"minimax"``.

    Example:
        >>> s = torch.tensor([-8.0], requires_grad=True)  # D(G(z)) ≈ 0.0003
        >>> torch.autograd.grad(generator_loss(s, "minimax"), s)[0]  # vanishes
        tensor([-0.0003])
        >>> torch.autograd.grad(generator_loss(s), s)[0]  # does not
        tensor([-0.9997])

    Notes: N1, N2.
    """
    if kind == "non-saturating":
        return bce_logits(fake_logits, torch.ones_like(fake_logits))
    if kind == "minimax":
        return -bce_logits(fake_logits, torch.zeros_like(fake_logits))
    raise ConfigError(f"generator loss must be one of {GENERATOR_LOSSES}, got {kind!r}")


def wasserstein_estimate(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    r"""The critic's estimate of the Wasserstein-1 distance (Kantorovich–Rubinstein duality).

    .. math::
        W(P_{data}, P_G) = \sup_{\lVert f\rVert_L \le 1}
            \mathbb E_{x\sim P_{data}}[f(x)] - \mathbb E_{x\sim P_G}[f(x)]

    Notes: N3.
    """
    return real_scores.mean() - fake_scores.mean()


def critic_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    r"""The WGAN critic's loss :math:`\mathbb E[f(G(z))] - \mathbb E[f(x)]` (minimised, it
    maximises the Wasserstein estimate); the generator's is :math:`-\mathbb E[f(G(z))]`.

    Notes: N3.
    """
    return -wasserstein_estimate(real_scores, fake_scores)


@torch.no_grad()
def clip_weights_(module: nn.Module, c: float) -> None:
    r"""WGAN's Lipschitz constraint: clamp every parameter of the critic into
    :math:`[-c, c]` after each of its updates (Arjovsky et al., 2017: :math:`c = 0.01`).

    Notes: N3.
    """
    if c <= 0:
        raise ConfigError(f"clip value must be > 0, got {c}")
    for p in module.parameters():
        p.clamp_(-c, c)


def gradient_penalty(critic: Callable[..., Tensor], real: Tensor, fake: Tensor, *extra: Tensor,
                     generator: torch.Generator | None = None) -> Tensor:
    r"""WGAN-GP's penalty: the critic's gradient norm pulled to 1 on random interpolates.

    .. math::
        \hat x = \epsilon x + (1 - \epsilon)\tilde x,\quad \epsilon \sim U[0, 1],\qquad
        \mathrm{GP} = \mathbb E_{\hat x}\big[(\lVert\nabla_{\hat x} f(\hat x)\rVert_2 - 1)^2\big]

    (Gulrajani et al., 2017; added with weight λ = 10). The gradient is taken with
    ``create_graph=True`` so the penalty itself is differentiated in the critic's update.

    Args:
        critic: ``f(x, *extra) -> (N,)`` scores.
        real, fake: batches of the same shape ``(N, ...)``; ``fake`` is detached.
        extra: further critic inputs (a conditional critic's labels), passed unchanged.
        generator: draws :math:`\epsilon` (default: torch's global generator).

    Example:
        >>> w = torch.tensor([3.0, 4.0])  # a linear critic: its gradient is w, norm 5
        >>> gradient_penalty(lambda x: x @ w, torch.randn(8, 2), torch.randn(8, 2))
        tensor(16.)

    Notes: N4.
    """
    if real.shape != fake.shape:
        raise ShapeError(f"gradient_penalty needs real and fake batches of one shape, got "
                         f"{tuple(real.shape)} and {tuple(fake.shape)}")
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), generator=generator,
                     device=generator.device if generator is not None else real.device,
                     dtype=real.dtype).to(real.device)
    # x̂ = ε x + (1 - ε) x̃
    mixed = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(mixed, *extra)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    # (‖∇f(x̂)‖ - 1)², averaged
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
