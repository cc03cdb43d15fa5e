"""Image generation helpers (N5): data in the generators' range, reproducible draws, loading a
saved generator, sample pictures and the errors a user meets."""

from __future__ import annotations

import pytest
import torch

from deepnotes.errors import ConfigError
from deepnotes.models import create
from deepnotes.tasks.image_generation import draw, load_generator, load_images, sample_figure
from deepnotes.train.checkpoint import save_model


def test_load_images_scales_to_the_tanh_range_and_filters_classes():
    x, y = load_images("test", limit=300)
    assert x.shape == (300, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    assert x.min() == -1 and y.dtype == torch.long
    x2, y2 = load_images("test", limit=300, classes=(7, 9))
    assert set(y2.tolist()) == {7, 9} and len(x2) == int(((y == 7) | (y == 9)).sum())


def test_draw_is_reproducible_in_range_and_follows_labels(tmp_path):
    torch.manual_seed(0)
    g = create("dcgan-generator", latent_dim=4, width=3, num_classes=10)
    labels = torch.arange(10).repeat(3)
    a = draw(g, 30, labels, seed=5, batch_size=7)  # batches of 7 give the same draws
    b = draw(g, 30, labels, seed=5)
    assert a.shape == (30, 1, 28, 28) and a.min() >= 0 and a.max() <= 1
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, draw(g, 30, labels, seed=6))


def test_load_generator_and_sample_figures(tmp_path):
    torch.manual_seed(0)
    cond = create("dcgan-generator", latent_dim=4, width=3, num_classes=10)
    save_model(cond, tmp_path / "run" / "generators" / "cgan")
    points = create("mlp-generator", latent_dim=2, out_shape=(2,), hidden=(4,), output="linear")
    save_model(points, tmp_path / "points")
    g = load_generator(tmp_path / "run" / "generators" / "cgan")
    assert not g.training and g.config.num_classes == 10
    for kw in ({}, {"label": 3}):
        p = sample_figure(g, tmp_path / f"grid{len(kw)}.png", n=20, **kw)
        assert (tmp_path / f"grid{len(kw)}.png").stat().st_size > 1000 and p.endswith(".png")
    assert sample_figure(load_generator(tmp_path / "points"), tmp_path / "pts.png", n=50)
    with pytest.raises(ConfigError, match="generators: .*cgan"):
        load_generator(tmp_path / "run")  # a run folder: the error names what it holds
    with pytest.raises(ConfigError, match="0..9"):
        sample_figure(g, tmp_path / "x.png", label=10)
    with pytest.raises(ConfigError, match="not conditional"):
        sample_figure(load_generator(tmp_path / "points"), tmp_path / "x.png", label=1)
    clf = create("lenet")
    save_model(clf, tmp_path / "clf")
    with pytest.raises(ConfigError, match="not a generator"):
        load_generator(tmp_path / "clf")
