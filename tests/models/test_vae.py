"""The VAE model (N8, N9; beyond the notes): shapes, encode/decode, the sampled vs the mean code,
samples in [0, 1]; the VAE task's loss step, best-epoch weights and evaluation."""

from __future__ import annotations

import doctest
import math

import pytest
import torch

import deepnotes.models.vae as vae_module
from deepnotes import models
from deepnotes.errors import ConfigError, ShapeError
from deepnotes.functional.vae import elbo, gaussian_kl
from deepnotes.tasks.vae import elbo_step, evaluate_vae, fit_vae

SMALL = {"image_shape": (1, 6, 6), "hidden": (16, 8), "latent_dim": 3}


def _vae(**kw):
    torch.manual_seed(0)
    return models.create("vae", **{**SMALL, **kw})


def _images(n, seed=0):
    return torch.rand(n, 1, 6, 6, generator=torch.Generator().manual_seed(seed))


def test_n8_encode_decode_forward_shapes():
    """(N8) encoder 36 → 16 → 8 → (μ, log σ²) of 3 each; decoder 3 → 8 → 16 → 36 logits."""
    m = _vae()
    x = _images(5)
    mu, logvar = m.encode(x)
    assert mu.shape == logvar.shape == (5, 3)
    assert m.decode(mu).shape == (5, 1, 6, 6)
    logits, mu2, logvar2 = m(x)
    assert logits.shape == (5, 1, 6, 6)
    torch.testing.assert_close(mu2, mu)
    torch.testing.assert_close(logvar2, logvar)
    widths = [(lin.in_features, lin.out_features) for lin in m.modules()
              if isinstance(lin, torch.nn.Linear)]
    assert widths == [(36, 16), (16, 8), (8, 6), (3, 8), (8, 16), (16, 36)]
    # the default: Fashion-MNIST, 784 → 512 → 256 → 2·16
    default = models.create("vae")
    assert default.encode(torch.rand(2, 1, 28, 28))[0].shape == (2, 16)


def test_n9_training_samples_the_code_eval_uses_the_mean():
    """(N9) training: z = μ + σε (two calls differ); eval: z = μ, so logits = dec(μ)."""
    m = _vae()
    x = _images(4)
    a, b = m(x)[0], m(x)[0]
    assert not torch.equal(a, b)
    m.eval()
    with torch.no_grad():
        torch.testing.assert_close(m(x)[0], m.decode(m.encode(x)[0]))
        assert torch.equal(m(x)[0], m(x)[0])


def test_n9_samples_are_images_in_the_unit_interval_and_repeat_with_a_seed():
    """(N9) decoded prior draws σ(dec(z)), z ~ N(0, I): shape, range, one seed one sample."""
    m = _vae()
    s = m.sample(7, torch.Generator().manual_seed(1))
    assert s.shape == (7, 1, 6, 6) and not s.requires_grad
    assert float(s.min()) >= 0.0 and float(s.max()) <= 1.0
    assert torch.equal(s, m.sample(7, torch.Generator().manual_seed(1)))
    z = torch.randn(7, 3, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(s, torch.sigmoid(m.decode(z)).detach())
    assert m.double().sample(2).dtype == torch.float64


def test_config_and_shape_errors():
    with pytest.raises(ConfigError, match="latent_dim"):
        models.create("vae", latent_dim=0)
    with pytest.raises(ConfigError, match="image_shape"):
        models.create("vae", image_shape=(1, 0, 4))
    m = _vae()
    with pytest.raises(ShapeError, match=r"\(N, 1, 6, 6\).*\(2, 1, 28, 28\)"):
        m.encode(torch.zeros(2, 1, 28, 28))
    with pytest.raises(ShapeError, match=r"\(N, 3\)"):
        m.decode(torch.zeros(2, 4))
    with pytest.raises(ConfigError, match="positive integer"):
        m.sample(0)
    assert models.model_task("vae") == "generation"


def test_n9_the_loss_step_is_the_one_sample_elbo():
    """(N9) the Trainer's step: −ELBO of one sampled code, its terms, the images as targets."""
    m = _vae()
    x = _images(6)
    torch.manual_seed(3)
    loss, (recon, kl), target = elbo_step(m, elbo, (x, torch.zeros(6)))
    torch.manual_seed(3)
    mu, logvar = m.encode(x)
    z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape)
    torch.testing.assert_close(loss, elbo(m.decode(z), x, mu, logvar)[0])
    torch.testing.assert_close(loss, recon + kl)
    assert target is x


def test_n8_fit_lowers_the_elbo_and_keeps_the_best_epoch():
    """(N8, N9) a few epochs lower the held-out −ELBO; the kept weights are the best epoch's."""
    m = _vae()
    train, val = (_images(256, 1), torch.zeros(256)), (_images(64, 2), torch.zeros(64))
    before = evaluate_vae(m, val[0], torch.Generator().manual_seed(0))
    fit, best = fit_vae(m, train, val, epochs=4, lr=3e-3, batch_size=32, progress=False,
                        device="cpu")
    val_losses = fit.history.column("val_loss")
    assert best == 1 + min(range(len(val_losses)), key=val_losses.__getitem__)
    assert fit.test["loss"] == min(val_losses)
    after = evaluate_vae(m, val[0], torch.Generator().manual_seed(0))
    assert after["neg_elbo"] < before["neg_elbo"]
    for key in ("neg_elbo", "recon", "kl", "mse"):
        assert math.isfinite(after[key])


def test_evaluate_vae_repeats_and_its_mse_is_the_mean_code_reconstruction():
    m = _vae()
    x = _images(10)
    a = evaluate_vae(m, x, torch.Generator().manual_seed(0), batch_size=3)
    b = evaluate_vae(m, x, torch.Generator().manual_seed(0), batch_size=3)
    assert a == b and m.training  # mode restored
    with torch.no_grad():
        mu, logvar = m.encode(x)
        mse = (torch.sigmoid(m.decode(mu)) - x).pow(2).mean()
        kl = gaussian_kl(mu, logvar).mean()
    assert a["mse"] == pytest.approx(float(mse), rel=1e-5)
    assert a["kl"] == pytest.approx(float(kl), rel=1e-5)
    assert a["neg_elbo"] == pytest.approx(a["recon"] + a["kl"], rel=1e-5)
    assert 0 <= a["active_units"] <= 3


def test_docstring_examples():
    result = doctest.testmod(vae_module)
    assert result.attempted >= 3 and result.failed == 0
