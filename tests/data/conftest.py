"""Fixtures for tests/data: small Fashion-MNIST-shaped IDX files written to a temporary folder."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from deepnotes.data.fashion_mnist import FILES
from deepnotes.data.idx import encode_idx


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed when ``compress``)."""
    raw = encode_idx(array)
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)
    return path


def write_fashion_fixture(
    folder: Path, n_train: int = 300, n_test: int = 120, seed: int = 0, compress: bool = True
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Write random 28x28 uint8 images and labels 0..9 for both splits with proper IDX headers."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        images_stem, labels_stem = FILES[split]
        suffix = ".gz" if compress else ""
        write_idx(folder / (images_stem + suffix), images, compress)
        write_idx(folder / (labels_stem + suffix), labels, compress)
        arrays[split] = (images, labels)
    return arrays


@pytest.fixture(autouse=True)
def _empty_data_home(tmp_path_factory, monkeypatch):
    """Point $DEEPNOTES_DATA at an empty folder so a user's own data never leaks into tests."""
    monkeypatch.setenv("DEEPNOTES_DATA", str(tmp_path_factory.mktemp("data_home")))


@pytest.fixture(scope="module")
def fashion_fixture(tmp_path_factory):
    """(folder, arrays): a tiny Fashion-MNIST in IDX gzip files."""
    folder = tmp_path_factory.mktemp("fmnist")
    return folder, write_fashion_fixture(folder)
