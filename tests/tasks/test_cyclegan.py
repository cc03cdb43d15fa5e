"""CycleGAN losses and training (N7): the terms equal hand computations, the cycle term
vanishes when F∘G is the identity, training lowers it, one seed gives one history."""

from __future__ import annotations

import doctest

import pytest
import torch

import deepnotes.tasks.cyclegan as cyclegan_module
from deepnotes.errors import ConfigError, ShapeError
from deepnotes.models import create
from deepnotes.tasks.cyclegan import (
    cycle_losses,
    discriminator_losses,
    lsgan_discriminator_loss,
    lsgan_generator_loss,
    train_cyclegan,
)

# tiny domains of 2-pixel "images": X has two, Y one (unpaired, different sizes)
X = torch.tensor([[0.5, -0.5], [1.0, 0.0]])
Y = torch.tensor([[0.0, 1.0]])


def G(t):  # X → Y
    return 2 * t


def F(t):  # Y → X
    return t - 0.5


def D_x(t):
    return t.mean(1)


def D_y(t):
    return t.sum(1)


def test_n7_generator_terms_equal_the_hand_computation():
    """(N7) G(x) = [[1, -1], [2, 0]]: D_Y scores 0 and 2, adv_g = ((0-1)² + (2-1)²)/2 = 1;
    F(y) = [[-.5, .5]]: D_X scores 0, adv_f = 1; F(G(x)) - x = [[0, -1], [.5, -.5]] (mean
    |·| .5) and G(F(y)) - y = [[-1, 0]] (.5): cycle 1; G(y) - y = [[0, 1]] (.5) and
    F(x) - x = -.5 everywhere (.5): identity 1."""
    out = cycle_losses(G, F, D_x, D_y, X, Y)
    for key, want in (("adv_g", 1.0), ("adv_f", 1.0), ("cycle", 1.0), ("identity", 1.0),
                      ("total", 1 + 1 + 10 * 1 + 5 * 1)):
        assert float(out[key]) == pytest.approx(want), key
    torch.testing.assert_close(out["fake_y"], G(X))
    torch.testing.assert_close(out["fake_x"], F(Y))
    # the weights scale their terms only
    out = cycle_losses(G, F, D_x, D_y, X, Y, lambda_cycle=2.0, lambda_identity=3.0)
    assert float(out["total"]) == pytest.approx(1 + 1 + 2 + 3)
    out = cycle_losses(G, F, D_x, D_y, X, Y, lambda_identity=0.0)
    assert float(out["total"]) == pytest.approx(12.0) and float(out["identity"]) == 0.0


def test_n7_discriminator_terms_equal_the_hand_computation():
    """(N7) D_Y: real y scores 1 (error 0), G(x) scores 0 and 2 (mean square 2): ½(0 + 2) = 1;
    D_X: real x scores 0 and .5 (mean (1 + .25)/2 = .625), F(y) scores 0: ½·.625."""
    fake = cycle_losses(G, F, D_x, D_y, X, Y)
    d = discriminator_losses(D_x, D_y, X, Y, fake["fake_x"], fake["fake_y"])
    assert float(d["d_y"]) == pytest.approx(1.0)
    assert float(d["d_x"]) == pytest.approx(0.3125)
    assert float(d["total"]) == pytest.approx(1.3125)
    # the least-squares losses as torch's mse_loss writes them
    s, t = torch.randn(7), torch.randn(5)
    mse = torch.nn.functional.mse_loss
    torch.testing.assert_close(lsgan_generator_loss(s), mse(s, torch.ones(7)))
    torch.testing.assert_close(lsgan_discriminator_loss(s, t),
                               0.5 * (mse(s, torch.ones(7)) + mse(t, torch.zeros(5))))


def test_n7_discriminator_losses_do_not_reach_the_generators():
    """(N7) the discriminators' step treats the translations as fixed inputs."""
    g = create("cyclegan-generator", width=3, blocks=1)
    d = create("dcgan-discriminator", width=3, norm="none")
    x = torch.rand(2, 1, 28, 28) * 2 - 1
    out = discriminator_losses(d, d, x, x, g(x), g(x))
    out["total"].backward()
    assert all(p.grad is None for p in g.parameters())
    assert all(p.grad is not None for p in d.parameters())


def test_n7_cycle_term_is_zero_when_f_after_g_is_the_identity():
    """(N7) both identity maps, and a pair of inverse maps: ‖F(G(x)) - x‖₁ = ‖G(F(y)) - y‖₁
    = 0, so the objective is the adversarial terms plus the identity term alone."""
    torch.manual_seed(0)
    d_x = create("dcgan-discriminator", width=3, norm="none")
    d_y = create("dcgan-discriminator", width=3, norm="none")
    x, y = torch.rand(4, 1, 28, 28) * 2 - 1, torch.rand(3, 1, 28, 28) * 2 - 1
    for g, f in ((lambda t: t, lambda t: t), (lambda t: 2 * t, lambda t: t / 2)):
        out = cycle_losses(g, f, d_x, d_y, x, y)
        assert float(out["cycle"]) == 0.0
        rest = out["adv_g"] + out["adv_f"] + 5.0 * out["identity"]
        torch.testing.assert_close(out["total"], rest)
    # the identity maps also leave the identity term at zero
    assert float(cycle_losses(lambda t: t, lambda t: t, d_x, d_y, x, y)["identity"]) == 0.0


def _nets(seed=0):
    torch.manual_seed(seed)
    return (create("cyclegan-generator", width=4, blocks=1),
            create("cyclegan-generator", width=4, blocks=1),
            create("dcgan-discriminator", width=4, norm="none"),
            create("dcgan-discriminator", width=4, norm="none"))


def _domains():
    """Two toy domains: bright squares top-left, bright squares bottom-right, on noise."""
    g = torch.Generator().manual_seed(0)
    xs = torch.rand(48, 1, 28, 28, generator=g) * 0.4 - 1
    ys = torch.rand(40, 1, 28, 28, generator=g) * 0.4 - 1
    xs[:, :, 4:12, 4:12] = 0.8
    ys[:, :, 16:24, 16:24] = 0.8
    return xs, ys


def test_n7_a_few_dozen_updates_lower_the_cycle_loss():
    """(N7) 40 updates on tiny unpaired data: the cycle term falls well below its start."""
    r = train_cyclegan(*_nets(), *_domains(), updates=40, batch_size=8, lr=2e-3, seed=0,
                       log_every=10, progress=False)
    assert [h["update"] for h in r.history] == [10, 20, 30, 40] and r.updates == 40
    assert r.history[-1]["cycle"] < 0.6 * r.history[0]["cycle"]
    for key in ("g_loss", "adv_g", "adv_f", "identity", "d_x", "d_y", "seconds"):
        assert key in r.history[-1]


def test_n7_same_seed_same_history():
    """(N7) the batch order comes from the seed and the weights from the caller: same both,
    same history; another seed draws other batches."""
    def history(seed):
        r = train_cyclegan(*_nets(), *_domains(), updates=6, batch_size=8, seed=seed,
                           log_every=2, progress=False)
        return [{k: v for k, v in h.items() if k != "seconds"} for h in r.history]

    assert history(0) == history(0)
    assert history(0) != history(1)


def test_bad_arguments_are_refused():
    nets, (xs, ys) = _nets(), _domains()
    with pytest.raises(ConfigError, match="updates"):
        train_cyclegan(*nets, xs, ys, updates=0)
    with pytest.raises(ConfigError, match="betas"):
        train_cyclegan(*nets, xs, ys, updates=1, betas=(0.5, 1.0))
    with pytest.raises(ConfigError, match="batch_size 64"):
        train_cyclegan(*nets, xs, ys, updates=1, batch_size=64, progress=False)
    with pytest.raises(ShapeError, match="one shape"):
        train_cyclegan(*nets, xs, ys[:, :, :14], updates=1)
    with pytest.raises(ConfigError, match="lambda"):
        cycle_losses(G, F, D_x, D_y, X, Y, lambda_cycle=-1.0)


def test_docstring_examples():
    result = doctest.testmod(cyclegan_module)
    assert result.attempted >= 3 and result.failed == 0
