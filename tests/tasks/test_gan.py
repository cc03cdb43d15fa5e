"""GAN training (N1, N3, N4, N6): every method moves a generator onto the data; conditional
discriminators learn to reject wrong labels; bad settings are refused."""

from __future__ import annotations

import pytest
import torch

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.models import create
from deepnotes.tasks.gan import make_state, train_gan


def _pair(sn=False, classes=0, dim=2):
    torch.manual_seed(0)
    g = create("mlp-generator", latent_dim=2, out_shape=(dim,), hidden=(16,), output="linear",
               num_classes=classes)
    d = create("mlp-discriminator", in_shape=(dim,), hidden=(32,), spectral_norm=sn,
               num_classes=classes)
    return g, d


# 2-D data: in one dimension a gradient-penalised critic whose slope has the wrong sign
# cannot turn it round without passing |f'| = 0, which the penalty forbids; in two it can
MEAN = torch.tensor([3.0, -2.0])


def _data(n=2048, seed=0):
    return MEAN + 0.5 * torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("method, updates, lr", [
    ("gan", 400, 5e-3), ("minimax", 400, 5e-3), ("wgan-gp", 300, 5e-3), ("sngan", 400, 5e-3),
    ("wgan", 300, 5e-3)])
def test_every_method_moves_the_generator_onto_the_data(method, updates, lr):
    g, d = _pair(sn=method == "sngan")
    before = (g(torch.randn(1000, 2)).mean(0) - MEAN).norm().item()
    r = train_gan(g, d, _data(), method=method, updates=updates, batch_size=128, lr_g=lr,
                  lr_d=lr, log_every=100, progress=False)
    with torch.no_grad():
        after = (g(torch.randn(4000, 2)).mean(0) - MEAN).norm().item()
    assert before > 3.0
    assert after < 0.5, (method, after)
    assert [h["update"] for h in r.history] == list(range(100, updates + 1, 100))
    key = "wasserstein" if method.startswith("wgan") else "js"
    assert key in r.history[-1] and r.updates == updates
    if method == "wgan":  # weights stay clipped
        assert max(p.abs().max().item() for p in d.parameters()) <= 0.01 + 1e-7


def test_same_seed_same_history_and_the_callback_runs():
    def run():
        g, d = _pair()
        seen = []
        r = train_gan(g, d, _data(), updates=40, batch_size=64, log_every=20, eval_every=20,
                      callback=lambda u: seen.append(u) or {"mean": g(torch.zeros(1, 2)).sum().item()},
                      progress=False, seed=3)
        return r, seen

    (r1, s1), (r2, s2) = run(), run()
    strip = lambda h: [{k: v for k, v in row.items() if k != "seconds"} for row in h]  # noqa: E731
    assert strip(r1.history) == strip(r2.history)
    assert s1 == s2 == [20, 40] and [e["update"] for e in r1.evaluations] == [20, 40]
    assert r1.evaluations[0]["mean"] == r2.evaluations[0]["mean"]


def test_n6_conditional_discriminator_learns_to_reject_wrong_labels():
    """Two classes at -2 and +2; with real images under wrong labels as negatives the
    discriminator scores a real sample lower under the wrong label than under its own."""
    g, d = _pair(classes=2, dim=1)
    y = torch.arange(2048) % 2
    x = (y.float() * 4 - 2).unsqueeze(1) + 0.3 * torch.randn(2048, 1)
    train_gan(g, d, x, y, updates=300, batch_size=128, lr_g=3e-3, lr_d=3e-3,
              wrong_label_weight=1.0, progress=False)
    with torch.no_grad():
        right, wrong = d(x, y), d(x, 1 - y)
        fake0 = g(torch.randn(1000, 2), torch.zeros(1000, dtype=torch.long)).mean().item()
        fake1 = g(torch.randn(1000, 2), torch.ones(1000, dtype=torch.long)).mean().item()
    assert fake0 < -1.0 and fake1 > 1.0  # the generator follows the label
    # the control: the same training without the negatives separates the labels far less
    g0, d0 = _pair(classes=2, dim=1)
    train_gan(g0, d0, x, y, updates=300, batch_size=128, lr_g=3e-3, lr_d=3e-3, progress=False)
    with torch.no_grad():
        gap0 = (d0(x, y) - d0(x, 1 - y)).mean()
    gap = (right - wrong).mean()
    assert gap > 1.0 and gap > 2 * gap0, (gap, gap0)


def test_a_time_budget_stops_after_the_update_that_spends_it():
    g, d = _pair()
    seen = []
    r = train_gan(g, d, _data(), updates=10**6, batch_size=64, max_seconds=0.0,
                  callback=lambda u: seen.append(u), eval_every=0, progress=False)
    assert r.updates == 1 and seen == [1] and len(r.history) == 1


def test_bad_settings_are_refused():
    g, d = _pair()
    with pytest.raises(ConfigError, match="one of gan, minimax"):
        make_state(g, d, method="lsgan")
    with pytest.raises(ConfigError, match="spectral_norm=True"):
        make_state(g, d, method="sngan")
    with pytest.raises(ConfigError, match="wrong_label_weight"):
        make_state(g, d, method="wgan-gp", wrong_label_weight=1.0)
    bn = create("dcgan-discriminator", width=3)  # batch norm: mixes the penalised samples
    with pytest.raises(ConfigError, match="norm='layer'"):
        make_state(create("dcgan-generator", latent_dim=4, width=3), bn, method="wgan-gp")
    with pytest.raises(ConfigError, match="n_critic must be >= 1"):
        make_state(g, d, n_critic=-1)
    with pytest.raises(ConfigError, match="at least 2 classes"):
        make_state(g, d, wrong_label_weight=1.0)
    with pytest.raises(ConfigError, match="log_every"):
        train_gan(g, d, _data(), log_every=0, progress=False)
    with pytest.raises(ShapeError, match="class indices"):
        train_gan(g, d, _data(64), torch.zeros(64), progress=False)
    with pytest.raises(ConfigError, match="batch_size"):
        train_gan(g, d, _data(16), batch_size=32, progress=False)
    with pytest.raises(ConfigError, match="non-finite"):
        train_gan(g, d, _data(256), updates=50, batch_size=64, lr_g=1e9, lr_d=1e9,
                  method="wgan-gp", progress=False)
