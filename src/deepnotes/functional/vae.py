r"""The variational auto-encoder's objective: the ELBO, its closed-form KL term and the
reparameterisation trick.

A VAE (Kingma & Welling, 2014) is an auto-encoder whose code is a distribution. The encoder
maps an input :math:`x` to a Gaussian :math:`q(z|x) = \mathcal N(\mu(x), \mathrm{diag}\,
\sigma^2(x))`; the decoder maps a code :math:`z` to a distribution :math:`p(x|z)` over inputs
(here a Bernoulli per pixel, given by its logits); the prior is :math:`p(z) = \mathcal N(0, I)`.
Training maximises the evidence lower bound

.. math::
    \log p(x) \;\ge\; \mathrm{ELBO}(x)
    = \mathbb E_{q(z|x)}[\log p(x|z)] - \mathrm{KL}\big(q(z|x) \,\|\, p(z)\big)

(the gap is :math:`\mathrm{KL}(q(z|x) \,\|\, p(z|x)) \ge 0`). The first term asks the decoder to
reconstruct :math:`x` from a noisy code, the second keeps the codes close to the prior, so
that decoded prior draws :math:`z \sim \mathcal N(0, I)` look like data. The expectation is
estimated with one sample :math:`z = \mu + \sigma \odot \varepsilon`,
:math:`\varepsilon \sim \mathcal N(0, I)`, which is a differentiable function of
:math:`(\mu, \sigma)`: gradients reach the encoder through the sample (the reparameterisation
trick), where a sample drawn directly from :math:`\mathcal N(\mu, \sigma^2)` would stop them.

Everything is in nats; the per-sample sums run over every non-batch dimension.

Notes: N8 (an auto-encoder: encoder to a low-dimensional code, decoder back), N9 (the decoder
outputs a distribution, its input is noise). The VAE itself goes beyond the notes.
"""

from __future__ import annotations

import torch
from torch import Tensor

from deepnotes.errors import ShapeError
from deepnotes.functional.losses import binary_cross_entropy_with_logits as bce_logits

__all__ = ["elbo", "gaussian_kl", "reparameterize"]


def _check_gaussian(mu: Tensor, logvar: Tensor, who: str) -> None:
    if mu.shape != logvar.shape:
        raise ShapeError(f"{who}: mu and logvar must have one shape, got {tuple(mu.shape)} and "
                         f"{tuple(logvar.shape)}")
    if mu.dim() < 1:
        raise ShapeError(f"{who}: expects a batch (N, ...) of Gaussian parameters, got a scalar")


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    r"""KL divergence of a diagonal Gaussian from the standard normal, per sample, in closed form.

    .. math::
        \mathrm{KL}\big(\mathcal N(\mu, \mathrm{diag}\,\sigma^2) \,\|\, \mathcal N(0, I)\big)
        = \frac12 \sum_j \big(\mu_j^2 + \sigma_j^2 - \log \sigma_j^2 - 1\big)

    0 exactly when :math:`\mu = 0, \sigma = 1`; each dimension costs at least
    :math:`\mu_j^2 / 2` and grows without bound as :math:`\sigma_j \to 0` (a code that is
    too precise is expensive).

    Args:
        mu: means :math:`\mu`.
        logvar: log-variances :math:`\log \sigma^2` (the encoder's output: any real number).

    Shape:
        - ``mu``, ``logvar``: ``(N, *)``. Output: ``(N,)``, summed over every other dimension.

    Example:
        >>> gaussian_kl(torch.tensor([[0.0, 2.0]]), torch.tensor([[0.0, 0.0]]))  # ½·2² = 2
        tensor([2.])

    Notes: N9 (beyond the notes: the VAE's KL term).
    """
    _check_gaussian(mu, logvar, "gaussian_kl")
    # ½ Σ_j (μ² + σ² − log σ² − 1), σ² = exp(log σ²)
    per_dim = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0)  # (N, *)
    return per_dim.reshape(per_dim.shape[0], -1).sum(dim=1)  # (N,)


def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None
                   ) -> Tensor:
    r"""A draw :math:`z \sim \mathcal N(\mu, \mathrm{diag}\,\sigma^2)` written as a
    differentiable function of :math:`(\mu, \log\sigma^2)`.

    .. math::
        z = \mu + \sigma \odot \varepsilon, \qquad \sigma = \exp(\tfrac12 \log\sigma^2),
        \qquad \varepsilon \sim \mathcal N(0, I)

    so :math:`\partial z / \partial \mu = 1` and :math:`\partial z / \partial \log\sigma^2 =
    \tfrac12 \sigma \varepsilon`: the noise is an input, not a node gradients must cross.

    Args:
        mu: means :math:`\mu`.
        logvar: log-variances :math:`\log \sigma^2`, same shape.
        generator: draws :math:`\varepsilon` on the generator's device (then moves it to
            ``mu``'s), so a seeded CPU generator gives the same draws on any device. Default:
            torch's global generator on ``mu``'s device.

    Shape:
        - ``mu``, ``logvar``: ``(N, *)``. Output: same shape.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> z = reparameterize(torch.zeros(2, 3), torch.full((2, 3), -1e4), generator=g)
        >>> z.abs().max() < 1e-6  # σ ≈ 0: z = μ
        tensor(True)

    Notes: N9 (beyond the notes: the reparameterisation trick).
    """
    _check_gaussian(mu, logvar, "reparameterize")
    device = generator.device if generator is not None else mu.device
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=device)
    # z = μ + σ ⊙ ε, σ = exp(½ log σ²)
    return mu + torch.exp(0.5 * logvar) * eps.to(mu.device)


def elbo(recon_logits: Tensor, x: Tensor, mu: Tensor, logvar: Tensor
         ) -> tuple[Tensor, Tensor, Tensor]:
    r"""The negative ELBO of a Bernoulli decoder and a Gaussian encoder, and its two terms.

    With one reparameterised sample :math:`z = \mu + \sigma \odot \varepsilon` decoded to
    logits :math:`\ell = \mathrm{dec}(z)`, :math:`p(x_i|z) = \mathrm{Bernoulli}(\sigma(\ell_i))`
    per pixel, the loss per image is

    .. math::
        -\mathrm{ELBO}(x) \approx
        \underbrace{\sum_i \mathrm{BCE}(\ell_i, x_i)}_{-\log p(x|z)\ \text{(reconstruction)}}
        + \underbrace{\tfrac12 \textstyle\sum_j (\mu_j^2 + \sigma_j^2 - \log\sigma_j^2 - 1)}_{
        \mathrm{KL}(q(z|x)\,\|\,\mathcal N(0, I))}

    with :math:`\mathrm{BCE}(\ell, x) = -x \log\sigma(\ell) - (1 - x)\log(1 - \sigma(\ell))`
    (:func:`~deepnotes.functional.losses.binary_cross_entropy_with_logits`), an unbiased
    one-sample estimate of :math:`-\mathrm{ELBO}`, whose gradient is an unbiased estimate of
    the ELBO's. Pixel intensities :math:`x_i \in [0, 1]` (grey levels, as Fashion-MNIST
    gives) are used as soft targets, the usual practice; then the reconstruction term cannot
    fall below the pixels' entropy :math:`\sum_i H(x_i)`, and the number is a bound on a
    Bernoulli likelihood only for binary pixels.

    Args:
        recon_logits: the decoder's logits :math:`\ell` for the sample :math:`z`.
        x: the inputs, values in :math:`[0, 1]`, same shape as ``recon_logits``.
        mu: the encoder's means :math:`\mu`.
        logvar: the encoder's log-variances :math:`\log\sigma^2`.

    Shape:
        - ``recon_logits``, ``x``: ``(N, *)``; ``mu``, ``logvar``: ``(N, *)`` (the code).
        - Output: three scalars.

    Returns:
        ``(neg_elbo, recon, kl)``: each the mean over the batch of its per-image value, in
        nats per image; ``neg_elbo = recon + kl``.

    Example:
        >>> x = torch.ones(1, 4)  # logits 0: each pixel costs log 2
        >>> loss, recon, kl = elbo(torch.zeros(1, 4), x, torch.zeros(1, 2), torch.zeros(1, 2))
        >>> round(recon.item(), 4), kl.item()  # 4 log 2, KL 0 at the prior
        (2.7726, 0.0)

    Notes: N8 (reconstruction), N9 (the decoder's output is a distribution).
    """
    if recon_logits.shape != x.shape:
        raise ShapeError(f"elbo: recon_logits and x must have one shape, got "
                         f"{tuple(recon_logits.shape)} and {tuple(x.shape)}")
    _check_gaussian(mu, logvar, "elbo")
    if recon_logits.dim() < 1 or mu.shape[0] != x.shape[0]:
        raise ShapeError(f"elbo: x and mu must hold one batch (N, ...), got {tuple(x.shape)} and "
                         f"{tuple(mu.shape)}")
    n = x.shape[0]
    # −log p(x|z) = Σ_i BCE(ℓ_i, x_i), per image
    recon = bce_logits(recon_logits, x.to(recon_logits.dtype), reduction="none")
    recon = recon.reshape(n, -1).sum(dim=1)  # (N,)
    kl = gaussian_kl(mu, logvar)  # (N,)
    # −ELBO = E[−log p(x|z)] + KL(q(z|x) ‖ p(z)), averaged over the batch
    return (recon + kl).mean(), recon.mean(), kl.mean()
