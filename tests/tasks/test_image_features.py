"""Our FID feature extractor for Fashion-MNIST (N5): a small classifier trained on 2,000 images
for one epoch beats chance, its penultimate features save and load exactly, and FID tells real
images from noise by a wide margin."""

from __future__ import annotations

import pytest
import torch

from deepnotes.data import load
from deepnotes.errors import ConfigError, ShapeError
from deepnotes.metrics import classifier_scores
from deepnotes.tasks.image_features import (
    _head,
    classifier_accuracy,
    default_path,
    feature_classifier,
    fid_images,
    image_features,
    image_probs,
    real_floor,
)
from deepnotes.train.checkpoint import peek_checkpoint

N = 2000


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("fid") / "clf.safetensors"
    torch.manual_seed(123)
    model = feature_classifier(path, epochs=1, limit=N, progress=False, device="cpu")
    drawn = torch.rand(3)
    torch.manual_seed(123)
    # training on its own seed left the caller's random stream where it was
    assert torch.equal(drawn, torch.rand(3))
    yield path, model
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def real():
    return (load("fashion-mnist", split="train", limit=N).x,
            load("fashion-mnist", split="test", limit=N))


def test_classifier_beats_chance_and_records_its_training(trained):
    path, model = trained
    assert not model.training
    acc = classifier_accuracy(model, limit=N)
    assert acc > 0.4  # chance is 0.1
    state = peek_checkpoint(path)["trainer_state"]
    assert state["test_accuracy"] == pytest.approx(acc, abs=1e-6)
    assert state["train_images"] == N and state["epochs"] == 1
    assert path.with_suffix(".json").is_file()


def test_features_shape_and_exact_reload(trained, real):
    path, model = trained
    x = real[1].x[:300]
    feats = image_features(model, x, batch_size=128)
    assert feats.shape == (300, 84) and feats.dtype == torch.float32
    assert not _head(model)._forward_pre_hooks  # the hook is gone after the call
    loaded = feature_classifier(path, epochs=1, limit=N)  # the file exists: no training
    assert type(loaded) is type(model)
    assert torch.equal(image_features(loaded, x), feats)
    probs = image_probs(loaded, x)
    assert probs.shape == (300, 10)
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(300))
    scores = classifier_scores(probs)  # (one epoch on 2,000 images: still unsure of itself)
    assert 1.0 < scores["inception_score"] <= 10.0 and scores["confidence"] > 0.1


def test_fid_real_vs_real_far_below_real_vs_noise(trained, real):
    _, model = trained
    train_x, test = real
    noise = torch.rand(N, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    real_real = fid_images(model, train_x, test.x)
    real_noise = fid_images(model, train_x, noise)
    assert real_real * 20 < real_noise
    floor = real_floor(model, n=1000, seed=0)
    assert 0 < floor < real_noise / 10


def test_input_checks(trained):
    _, model = trained
    with pytest.raises(ConfigError, match=r"\(x \+ 1\) / 2"):
        image_features(model, torch.rand(4, 1, 28, 28) * 2 - 1)
    with pytest.raises(ShapeError, match=r"\(N, 1, 28, 28\)"):
        image_probs(model, torch.rand(4, 784))
    model.train()
    image_features(model, torch.rand(2, 1, 28, 28))
    assert model.training  # eval only during the call
    model.eval()
    with pytest.raises(ConfigError, match="n must be"):
        real_floor(model, n=20_000)


def test_default_path_lives_under_the_data_home(monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPNOTES_DATA", str(tmp_path))
    p = default_path(epochs=5, seed=0)
    assert p == tmp_path / "fid" / "fid-classifier-lenet-modern-e5-s0.safetensors"
    assert default_path(epochs=1, seed=2, limit=N).name.endswith("-e1-s2-n2000.safetensors")
