"""The 2-D Gaussian mixtures of the mode-collapse benchmarks (N5): ring of 8, grid of 25."""

from __future__ import annotations

import math

import pytest
import torch

from deepnotes.data.synthetic import gaussian_grid, gaussian_ring
from deepnotes.errors import ConfigError


def nearest(x: torch.Tensor, centers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    d, k = torch.cdist(x, centers).min(dim=1)
    return d, k


def test_ring_shapes_centers_and_modes():
    x, centers = gaussian_ring(4000, generator=torch.Generator().manual_seed(0))
    assert x.shape == (4000, 2) and centers.shape == (8, 2)
    assert x.dtype == centers.dtype == torch.float32
    torch.testing.assert_close(centers.norm(dim=1), torch.full((8,), 2.0))
    angles = torch.atan2(centers[:, 1], centers[:, 0]) % (2 * math.pi)
    torch.testing.assert_close(angles, torch.arange(8) * (2 * math.pi / 8), atol=1e-6, rtol=0)
    dist, k = nearest(x, centers)
    counts = torch.bincount(k, minlength=8)
    assert (counts > 400).all()  # 500 expected per mode
    # std 0.02 per coordinate: E‖ε‖² = 2 σ²
    assert (dist.pow(2).mean().sqrt().item()) == pytest.approx(0.02 * math.sqrt(2), rel=0.05)


def test_grid_shapes_centers_and_modes():
    x, centers = gaussian_grid(5000, generator=torch.Generator().manual_seed(1))
    assert x.shape == (5000, 2) and centers.shape == (25, 2)
    assert sorted(set(centers[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    torch.testing.assert_close(centers.mean(dim=0), torch.zeros(2))
    dist, k = nearest(x, centers)
    assert (torch.bincount(k, minlength=25) > 120).all()  # 200 expected per mode
    assert (dist < 0.5).all()
    assert dist.pow(2).mean().sqrt().item() == pytest.approx(0.05 * math.sqrt(2), rel=0.05)
    _, c3 = gaussian_grid(10, side=3, spacing=1.0)
    assert sorted(set(c3[:, 1].tolist())) == [-1.0, 0.0, 1.0]


@pytest.mark.parametrize("make", [gaussian_ring, gaussian_grid])
def test_generator_makes_draws_reproducible(make):
    a, ca = make(300, generator=torch.Generator().manual_seed(3))
    b, cb = make(300, generator=torch.Generator().manual_seed(3))
    c, _ = make(300, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and torch.equal(ca, cb)
    assert not torch.equal(a, c)
    # no generator: torch's global one, seeded by torch.manual_seed
    torch.manual_seed(11)
    d, _ = make(50)
    torch.manual_seed(11)
    e, _ = make(50)
    assert torch.equal(d, e)


def test_mixture_argument_errors():
    with pytest.raises(ConfigError, match="modes"):
        gaussian_ring(10, modes=0)
    with pytest.raises(ConfigError, match="side"):
        gaussian_grid(10, side=0)
    with pytest.raises(ConfigError, match="std"):
        gaussian_ring(10, std=-1.0)
    with pytest.raises(ConfigError, match="n"):
        gaussian_grid(0)
