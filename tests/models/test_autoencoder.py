"""The auto-encoders (N8): shapes, encode/decode round trip, the denoising noise only in
training, the linear configuration, fused == formula for the conv AE from one state dict."""

from __future__ import annotations

import doctest

import pytest
import torch

import deepnotes.models.autoencoder as ae_module
from deepnotes import models
from deepnotes.errors import ConfigError, ShapeError

f64 = torch.float64


def _images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name, kw", [("autoencoder", {"hidden": (16, 8), "code_dim": 3}),
                                      ("conv-autoencoder", {"width": 4, "code_dim": 3})])
def test_shapes_and_round_trip(name, kw):
    """encode gives (N, k), decode (N, 1, 28, 28) in (0, 1), forward = decode(encode) (N8)."""
    torch.manual_seed(0)
    model = models.create(name, **kw).eval()
    x = _images(5)
    z = model.encode(x)
    assert z.shape == (5, 3)
    out = model.decode(z)
    assert out.shape == x.shape
    assert ((out > 0) & (out < 1)).all()  # the sigmoid output for images in [0, 1]
    torch.testing.assert_close(model(x), out, atol=0, rtol=0)
    assert models.model_task(name) == "representation"


@pytest.mark.parametrize("name", ["autoencoder", "conv-autoencoder"])
def test_denoising_noise_only_in_training(name):
    """noise_std corrupts the input in training mode only, fresh each pass (N8)."""
    kw = {"code_dim": 2, "noise_std": 0.3}
    kw.update({"hidden": (8,)} if name == "autoencoder" else {"width": 2})
    model = models.create(name, **kw)
    x = _images(4)
    model.eval()
    torch.testing.assert_close(model(x), model.decode(model.encode(x)), atol=0, rtol=0)
    model.train()
    a, b = model(x), model(x)
    assert not torch.equal(a, b)  # a new draw each time
    torch.manual_seed(3)
    noisy = model(x)
    torch.manual_seed(3)
    # x̃ = x + σ ε with ε drawn from the global generator, as randn_like draws it
    expect = model.decode(model.encode(x + 0.3 * torch.randn_like(x)))
    torch.testing.assert_close(noisy, expect, atol=1e-6, rtol=1e-6)


def test_linear_autoencoder_is_affine_encoder_and_decoder():
    """hidden=(), output=linear: x̂ = W_d (W_e x + b_e) + b_d (N8, PCA's twin)."""
    model = models.create("autoencoder", in_shape=(6,), hidden=(), code_dim=2,
                          output="linear").double()
    enc, dec = model.encoder[0], model.decoder[0]
    assert len(model.encoder) == len(model.decoder) == 1
    x = torch.randn(5, 6, dtype=f64, generator=torch.Generator().manual_seed(1))
    expect = (x @ enc.weight.T + enc.bias) @ dec.weight.T + dec.bias
    torch.testing.assert_close(model(x), expect, atol=1e-12, rtol=1e-12)


def test_decoder_mirrors_the_encoder():
    model = models.create("autoencoder", hidden=(64, 16), code_dim=4)
    enc = [m.out_features for m in model.encoder if isinstance(m, torch.nn.Linear)]
    dec = [m.out_features for m in model.decoder if isinstance(m, torch.nn.Linear)]
    assert enc == [64, 16, 4] and dec == [16, 64, 784]


@pytest.mark.parametrize("noise", [0.0, 0.2])
def test_conv_autoencoder_fused_and_formula_agree_from_one_state_dict(noise):
    """fused=True (torch kernels) and fused=False (our conv formulas): same outputs and
    gradients from one state dict, in float64 (N8); in training the same noise draw."""
    torch.manual_seed(0)
    kw = {"width": 3, "code_dim": 4, "noise_std": noise}
    fused = models.create("conv-autoencoder", **kw, fused=True).double()
    formula = models.create("conv-autoencoder", **kw, fused=False).double()
    formula.load_state_dict(fused.state_dict())
    assert all(m.fused is False for m in formula.modules() if hasattr(m, "fused"))
    x = _images(3).double()
    for train in (True, False):
        fused.train(train), formula.train(train)
        outs = []
        for model in (fused, formula):
            model.zero_grad()
            torch.manual_seed(7)
            y = model(x)
            y.pow(2).sum().backward()
            outs.append((y.detach(), [p.grad.clone() for p in model.parameters()]))
        (y1, g1), (y0, g0) = outs
        torch.testing.assert_close(y0, y1, atol=1e-10, rtol=1e-9)
        for a, b in zip(g1, g0, strict=True):
            torch.testing.assert_close(b, a, atol=1e-10, rtol=1e-9)


def test_errors_name_the_bad_value():
    with pytest.raises(ConfigError, match="code_dim must be >= 1, got 0"):
        models.create("autoencoder", code_dim=0)
    with pytest.raises(ConfigError, match="'swish'"):
        models.create("conv-autoencoder", activation="swish")
    with pytest.raises(ConfigError, match="noise_std"):
        models.create("autoencoder", noise_std=-0.1)
    with pytest.raises(ConfigError, match="output"):
        models.create("autoencoder", output="softmax")
    with pytest.raises(ShapeError, match="784 features"):
        models.create("autoencoder")(torch.zeros(2, 10))
    with pytest.raises(ShapeError, match=r"\(N, 1, 28, 28\)"):
        models.create("conv-autoencoder")(torch.zeros(2, 1, 32, 32))
    with pytest.raises(ShapeError, match=r"codes \(N, 32\)"):
        models.create("autoencoder").decode(torch.zeros(2, 8))


def test_docstring_examples():
    result = doctest.testmod(ae_module)
    assert result.attempted >= 2 and result.failed == 0
