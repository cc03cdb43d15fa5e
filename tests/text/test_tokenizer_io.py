"""Loading and saving tokenizers (E5, E6): HF ``tokenizer.json`` files, BERT ``vocab.txt``,
``minilm``, our own files back in; bad files give one of our errors; ``deepnotes tokenize``."""

from __future__ import annotations

import doctest
import importlib
import json
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer as HFTokenizer

from deepnotes.cli import main
from deepnotes.errors import ConfigError, DataMissingError, DeepnotesError
from deepnotes.text import BPETokenizer, Tokenizer, WordPieceTokenizer, load_tokenizer
from deepnotes.text.tokenizer_io import minilm_dir, tokenizer_from_json

from ._tokenizer_data import EDGE_CASES, spanish

TEXTS = ["Hello, world!", "It is a truth universally acknowledged.", *EDGE_CASES]


@pytest.fixture(scope="module")
def minilm():
    return load_tokenizer("minilm")


@pytest.fixture(scope="module")
def small_bpe():
    return BPETokenizer.train(list(spanish()[:300]), vocab_size=400,
                              special_tokens=["<|endoftext|>"])


def test_every_way_to_name_the_minilm_tokenizer_agrees(minilm, tmp_path):
    folder = minilm_dir()
    shutil.copy(folder / "vocab.txt", tmp_path / "vocab.txt")  # a folder with vocab.txt only
    others = [load_tokenizer(folder / "tokenizer.json"), load_tokenizer(folder),
              load_tokenizer(folder / "vocab.txt"), load_tokenizer(str(tmp_path))]
    for tok in others:
        assert isinstance(tok, WordPieceTokenizer)
        assert [tok.encode(t) for t in TEXTS] == [minilm.encode(t) for t in TEXTS]


@pytest.mark.parametrize("which", ["minilm", "bpe"])
def test_saved_file_loads_back_and_in_hf(which, minilm, small_bpe, tmp_path):
    tok: Tokenizer = minilm if which == "minilm" else small_bpe
    path = tok.save(tmp_path / "out.json")
    again = load_tokenizer(path)
    assert type(again) is type(tok)
    assert again.to_json() == tok.to_json()
    hf = HFTokenizer.from_file(str(path))
    for text in TEXTS + ["x <|endoftext|> y"]:
        assert again.encode(text) == tok.encode(text) == hf.encode(text).ids, text
        assert again.decode(tok.encode(text)) == hf.decode(hf.encode(text).ids)
    assert hf.get_vocab_size() == tok.vocab_size


def test_added_special_token_is_kept_whole_and_skipped_by_decode(small_bpe):
    eot = small_bpe.token_to_id("<|endoftext|>")
    assert eot == 0
    ids = small_bpe.encode("fin<|endoftext|>Y")
    assert eot in ids
    assert small_bpe.decode(ids) == "finY"
    assert small_bpe.decode(ids, skip_special_tokens=False) == "fin<|endoftext|>Y"


def _wordpiece_json(**model) -> dict:
    d = json.loads((minilm_dir() / "tokenizer.json").read_text(encoding="utf-8"))
    d["model"].update(model)
    return d


def test_bad_files_give_our_errors(tmp_path):
    with pytest.raises(DataMissingError, match="no tokenizer at"):
        load_tokenizer(tmp_path / "missing.json")
    with pytest.raises(DataMissingError, match="holds no tokenizer.json"):
        load_tokenizer(tmp_path)
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_tokenizer(tmp_path / "broken.json")
    unigram = {"model": {"type": "Unigram", "vocab": [["a", 0.0]], "unk_id": 0}}
    with pytest.raises(ConfigError, match="'Unigram' is not supported"):
        tokenizer_from_json(unigram)
    with pytest.raises(ConfigError, match="normalizer 'Precompiled' is not supported"):
        tokenizer_from_json({**_wordpiece_json(), "normalizer": {"type": "Precompiled"}})
    with pytest.raises(ConfigError, match="empty"):
        tokenizer_from_json(_wordpiece_json(vocab={}))
    with pytest.raises(ConfigError, match="no unknown token"):
        tokenizer_from_json(_wordpiece_json(unk_token="<nope>"))
    with pytest.raises(ConfigError, match="not in the vocabulary"):
        tokenizer_from_json({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}})
    with pytest.raises(ConfigError, match="malformed"):
        tokenizer_from_json({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
                             "added_tokens": [{"id": 0}]})
    (tmp_path / "vocab.txt").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="empty"):
        load_tokenizer(tmp_path / "vocab.txt")
    (tmp_path / "vocab.txt").write_text("[UNK]\na\na\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="twice"):
        load_tokenizer(tmp_path / "vocab.txt")
    with pytest.raises(ConfigError, match="encodes text"):
        load_tokenizer("minilm").encode(None)
    with pytest.raises(ConfigError, match="not in the vocabulary"):
        load_tokenizer("minilm").decode([10**6])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(part=st.sampled_from(["model", "normalizer", "pre_tokenizer", "post_processor",
                             "decoder", "added_tokens"]),
       value=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=6),
                          lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.sampled_from(["type", "vocab", "merges", "id",
                                                             "content", "single", "ids"]),
                                            inner, max_size=3), max_leaves=8))
def test_hand_edited_files_give_a_tokenizer_or_our_error(part, value):
    d = {"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}}
    d[part] = value
    try:
        tok = tokenizer_from_json(d)
    except DeepnotesError:
        return
    assert isinstance(tok.encode("ab ba"), list)


def test_cli_tokenize_prints_pieces_and_ids(capsys, small_bpe, tmp_path):
    assert main(["tokenize", "minilm", "Hello, world!"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "pieces  [CLS] hello , world ! [SEP]"
    assert out[2] == "ids     101 7592 1010 2088 999 102"
    assert main(["tokenize", "minilm", "unaffable", "--pair", "Hi!"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "pieces  [CLS] una ##ffa ##ble [SEP] hi ! [SEP]"
    assert out[3] == "types   0 0 0 0 0 1 1 1"
    path = small_bpe.save(tmp_path / "bpe")
    assert main(["tokenize", str(path.parent), "el cielo\n"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[2] == "ids     " + " ".join(map(str, small_bpe.encode("el cielo\n")))


@pytest.mark.parametrize("args, expect", [
    (["minilm", ""], "the text to tokenize is empty"),
    (["minilm", "a", "--pair", ""], "the --pair text to tokenize is empty"),
    (["no/such/tokenizer.json", "a"], "no tokenizer at no/such/tokenizer.json"),
])
def test_cli_tokenize_mistakes_are_one_sentence(capsys, args, expect):
    assert main(["tokenize", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expect in err[0]


@pytest.mark.parametrize("name", ["bpe", "wordpiece", "tokenizer", "tokenizer_io", "normalizers",
                                  "pretokenizers"])
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(f"deepnotes.text.{name}"))
    assert result.attempted > 0
    assert result.failed == 0
