"""Tokenizers and word hashing (R1)."""

from __future__ import annotations

import zlib

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from deepnotes.errors import ConfigError
from deepnotes.text import hash_tokens, letter_ngrams, tokenize


def test_word_tokens_keep_punctuation_and_lower_case():
    assert tokenize("Hello, world!\nIt's Mr. Darcy's  ball.") == [
        ["hello", ",", "world", "!"],
        ["it's", "mr", ".", "darcy's", "ball", "."],
    ]
    assert tokenize(["Hello, World"], lower=False) == [["Hello", ",", "World"]]
    # curly apostrophes stay inside the word, dashes and quotes are tokens of their own
    assert tokenize("don\u2019t--\u201cgo\u201d") == [["don\u2019t", "-", "-", "\u201c", "go", "\u201d"]]


def test_empty_lines_are_kept_so_output_lines_up_with_input():
    assert tokenize(["a b", "", "c"]) == [["a", "b"], [], ["c"]]
    assert tokenize("") == []


def test_char_tokens_keep_spaces():
    assert tokenize(["Ab c"], kind="char") == [["a", "b", " ", "c"]]
    assert tokenize(["Ab c"], kind="char", lower=False) == [["A", "b", " ", "c"]]
    assert tokenize("天地\n玄", kind="char") == [["天", "地"], ["玄"]]


def test_bad_arguments():
    with pytest.raises(ConfigError, match="kind='word'"):
        tokenize("a", kind="bpe")
    with pytest.raises(ConfigError, match="line 1"):
        tokenize(["a", 3])  # type: ignore[list-item]


@given(st.lists(st.text(alphabet="abc ,.!'", max_size=20), max_size=5))
def test_word_tokens_cover_every_non_space_character(lines):
    # no character other than whitespace is lost or invented
    toks = tokenize(lines, kind="word", lower=False)
    for line, line_toks in zip(lines, toks):
        assert "".join(line_toks) == "".join(line.split())
        assert all(t.strip() == t and t for t in line_toks)


def test_letter_ngrams_as_in_the_lecture():
    assert letter_ngrams("apple") == ["app", "ppl", "ple"]
    assert letter_ngrams("apple", boundary="#") == ["#ap", "app", "ppl", "ple", "le#"]
    assert letter_ngrams("ab") == ["ab"]
    assert letter_ngrams("apple", n=2) == ["ap", "pp", "pl", "le"]
    with pytest.raises(ConfigError):
        letter_ngrams("a", n=0)


def test_hash_tokens_counts_hashed_trigrams():
    v = hash_tokens(["apple", "apple", "apples", "zzz"], num_buckets=97)
    assert v.shape == (4, 97)
    # one count per letter tri-gram of #apple# (5 of them), in the crc32 bucket
    assert v[0].sum() == 5
    expected = torch.zeros(97)
    for g in ["#ap", "app", "ppl", "ple", "le#"]:
        expected[zlib.crc32(g.encode()) % 97] += 1
    torch.testing.assert_close(v[0], expected)
    torch.testing.assert_close(v[0], v[1])
    # "apples" shares 4 of its 6 tri-grams with "apple": the vectors overlap strongly
    overlap = torch.minimum(v[0], v[2]).sum()
    assert overlap >= 4
    with pytest.raises(ConfigError):
        hash_tokens(["a"], num_buckets=0)
