"""Vocabulary: reserved tokens, ordering, min_freq, round trips, storage (R1)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deepnotes.errors import ConfigError
from deepnotes.text import RESERVED, Vocab

words = st.text(alphabet="abcdefgh", min_size=1, max_size=4)
corpora = st.lists(st.lists(words, max_size=8), min_size=1, max_size=8)


def test_reserved_tokens_then_frequency_then_alphabet():
    v = Vocab([["b", "a", "c", "a"], ["c", "d", "a"]])
    assert v.idx_to_token == ["<unk>", "<pad>", "<bos>", "<eos>", "a", "c", "b", "d"]
    assert (v.unk, v.pad, v.bos, v.eos) == (0, 1, 2, 3)
    assert v.token_freqs == [("a", 3), ("c", 2), ("b", 1), ("d", 1)]
    assert v["zebra"] == 0 and "zebra" not in v and "a" in v
    assert len(v) == 8


def test_min_freq_drops_rare_tokens_to_unk_but_keeps_their_counts():
    v = Vocab(["x", "x", "y", "z", "z", "z"], min_freq=2)
    assert v.idx_to_token[4:] == ["z", "x"]
    assert v["y"] == v.unk
    assert ("y", 1) in v.token_freqs  # statistics keep every counted token
    assert v.unknown_rate(["x", "y", "y", "q"]) == 0.75


def test_custom_reserved_and_reserved_tokens_in_text():
    v = Vocab(["<pad>", "a", "<mask>"], reserved=("<unk>", "<pad>", "<mask>"))
    assert v.idx_to_token == ["<unk>", "<pad>", "<mask>", "a"]
    with pytest.raises(ConfigError, match="<bos>"):
        _ = v.bos
    with pytest.raises(ConfigError, match="<unk>"):
        Vocab(["a"], reserved=("<pad>",))
    with pytest.raises(ConfigError, match="repeats"):
        Vocab(["a"], reserved=("<unk>", "<unk>"))
    with pytest.raises(ConfigError, match="min_freq"):
        Vocab(["a"], min_freq=0)
    with pytest.raises(ConfigError, match="not one str"):
        Vocab("abc")


def test_to_indices_and_to_tokens_structures():
    v = Vocab([["a", "b", "b"]])
    assert v.to_indices("b") == 4
    assert v.to_indices([["a", "b"], ["q"]]) == [[5, 4], [0]]
    assert v.to_tokens(5) == "a"
    assert v.to_tokens([4, 5]) == ["b", "a"]
    assert v.to_tokens(torch.tensor([[4, 5], [0, 3]])) == [["b", "a"], ["<unk>", "<eos>"]]
    assert v.to_tokens(torch.tensor(4)) == "b"
    with pytest.raises(ConfigError, match="outside"):
        v.to_tokens([99])
    with pytest.raises(ConfigError, match="integer tensor"):
        v.to_tokens(torch.zeros(2))


@settings(max_examples=60, deadline=None)
@given(corpora)
def test_round_trip_for_tokens_in_the_vocabulary(lines):
    v = Vocab(lines)
    assert v.to_tokens(v.to_indices(lines)) == lines
    ids = [i for line in v.to_indices(lines) for i in line]
    assert all(len(RESERVED) <= i < len(v) for i in ids)  # text never maps onto reserved tokens


@settings(max_examples=60, deadline=None)
@given(corpora, st.lists(st.text(alphabet="xyz", min_size=1, max_size=3), min_size=1, max_size=5))
def test_unknown_tokens_map_to_unk(lines, unknown):
    v = Vocab(lines)
    assert v.to_indices(unknown) == [v.unk] * len(unknown)
    assert v.to_tokens(v.to_indices(unknown)) == ["<unk>"] * len(unknown)


@settings(max_examples=60, deadline=None)
@given(corpora, st.integers(1, 4))
def test_order_is_by_count_then_alphabet_and_min_freq_holds(lines, min_freq):
    counts = Counter(t for line in lines for t in line)
    v = Vocab(lines, min_freq=min_freq)
    body = v.idx_to_token[len(RESERVED):]
    keys = [(-counts[t], t) for t in body]
    assert keys == sorted(keys)
    assert set(body) == {t for t, c in counts.items() if c >= min_freq}
    # a fresh build gives the same table (deterministic)
    assert Vocab(list(reversed(lines)), min_freq=min_freq).idx_to_token == v.idx_to_token


def test_save_load_and_state_dict(tmp_path):
    v = Vocab([["the", "cat", "sat"], ["the", "é", "猫"]], min_freq=1)
    path = v.save(tmp_path / "sub" / "vocab.json")
    w = Vocab.load(path)
    assert w == v and w.token_freqs == v.token_freqs and w.min_freq == 1
    assert w.to_indices(["猫", "dog"]) == v.to_indices(["猫", "dog"])
    state = json.loads(json.dumps(v.state_dict()))  # survives a JSON checkpoint
    assert Vocab.from_state_dict(state).idx_to_token == v.idx_to_token
    with pytest.raises(ConfigError, match="format"):
        Vocab.from_state_dict({"idx_to_token": ["a"]})
    with pytest.raises(ConfigError, match="no vocabulary file"):
        Vocab.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON"):
        Vocab.load(tmp_path / "bad.json")
