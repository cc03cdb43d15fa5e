"""Byte-pair encoding (E5): learning merges, encoding by rank, decoding, against Hugging Face
``tokenizers`` in both directions (our files in HF, HF's trained files in ours)."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from deepnotes.text import BPE, BPETokenizer, load_tokenizer, train_bpe
from deepnotes.text.pretokenizers import ByteLevel, Whitespace, bytes_to_unicode

from ._tokenizer_data import EDGE_CASES, chinese, english, real_sentences, spanish

VOCAB = 1500  # small enough for a test, large enough for multi-byte and whole-word merges


def test_e5_textbook_example():
    # Sennrich et al.'s word counts, characters + end-of-word marker
    vocab, merges = train_bpe({"low": 5, "lower": 2, "newest": 6, "widest": 3}, 18,
                              end_of_word_suffix="</w>")
    # e s (9) ties with s t</w> (9): the pair of smaller ids (e < s) goes first
    assert merges == [("e", "s"), ("es", "t</w>"), ("l", "o"), ("e", "w"), ("n", "ew")]
    assert len(vocab) == 18 and vocab["est</w>"] == 14
    bpe = BPE(vocab, merges, end_of_word_suffix="</w>")
    assert [bpe.id_to_token[i] for i in bpe.tokenize_word("lowest")] == ["lo", "w", "est</w>"]
    # min_frequency stops at the first pair rarer than it
    assert len(train_bpe({"low": 5, "lower": 2, "newest": 6, "widest": 3}, 100,
                         min_frequency=8, end_of_word_suffix="</w>")[1]) == 2  # l o: 7


@pytest.fixture(scope="module")
def lines():
    return list(english(1500))


@pytest.fixture(scope="module")
def hf_bytelevel(lines):
    tok = HFTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(lines, trainers.BpeTrainer(
        vocab_size=VOCAB, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    return tok


@pytest.fixture(scope="module")
def ours(lines):
    return BPETokenizer.train(lines, vocab_size=VOCAB)


def _test_texts() -> list[str]:
    return list(english()[::3]) + list(spanish()[::2]) + list(chinese()[::4]) + EDGE_CASES


def test_e5_our_trainer_learns_hf_trainers_merges(hf_bytelevel, ours):
    hf_json = json.loads(hf_bytelevel.to_str())["model"]
    hf_merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m)
                 for m in hf_json["merges"]]
    assert ours.model.merges == hf_merges
    assert ours.model.vocab == hf_json["vocab"]
    assert ours.vocab_size == VOCAB


def test_e5_our_saved_bpe_encodes_identically_in_hf(ours, tmp_path):
    path = ours.save(tmp_path / "bpe")
    hf = HFTokenizer.from_file(str(path))
    texts = _test_texts()
    assert [e.ids for e in hf.encode_batch(texts)] == [ours.encode(t) for t in texts]
    assert [hf.decode(ours.encode(t)) for t in texts] == texts  # byte level: exact round trip
    assert [ours.decode(ours.encode(t)) for t in texts] == texts


def test_e5_hf_trained_bytelevel_bpe_loads_and_encodes_identically(hf_bytelevel, tmp_path):
    hf_bytelevel.save(str(tmp_path / "tokenizer.json"))
    loaded = load_tokenizer(tmp_path)
    texts = _test_texts()
    assert [loaded.encode(t) for t in texts] == [e.ids for e in hf_bytelevel.encode_batch(texts)]


def test_e5_hf_trained_whitespace_bpe_with_end_of_word_marker(lines, tmp_path):
    # the notes' BPE: characters + </w>, words from the Whitespace pre-tokenizer, <unk> for
    # characters never seen (the Chinese lines)
    hf = HFTokenizer(models.BPE(unk_token="<unk>", end_of_word_suffix="</w>"))
    hf.pre_tokenizer = pre_tokenizers.Whitespace()
    hf.decoder = decoders.BPEDecoder(suffix="</w>")
    hf.train_from_iterator(lines, trainers.BpeTrainer(
        vocab_size=VOCAB, special_tokens=["<unk>"], end_of_word_suffix="</w>",
        show_progress=False))
    hf.save(str(tmp_path / "tokenizer.json"))
    loaded = load_tokenizer(tmp_path / "tokenizer.json")
    texts = _test_texts()
    expected = [e.ids for e in hf.encode_batch(texts)]
    assert [loaded.encode(t) for t in texts] == expected
    assert [loaded.decode(ids) for ids in expected[::4]] == \
        [hf.decode(ids) for ids in expected[::4]]
    assert loaded.tokenize("the end") == ["the</w>", "end</w>"]


def test_e5_our_char_level_bpe_in_hf(lines, tmp_path):
    ours = BPETokenizer.train(lines, vocab_size=600, byte_level=False)
    assert ours.model.end_of_word_suffix == "</w>" and ours.token_to_id("<unk>") == 0
    hf = HFTokenizer.from_file(str(ours.save(tmp_path / "chars.json")))
    texts = _test_texts()
    assert [e.ids for e in hf.encode_batch(texts)] == [ours.encode(t) for t in texts]
    assert ours.decode(ours.encode("It is a truth, universally acknowledged.")) == \
        "It is a truth , universally acknowledged ."


def test_e5_heap_encoding_agrees_with_the_readable_loop(ours):
    words = {w for t in real_sentences()["english"] for w in ByteLevel().split(t)}
    words |= {w for t in spanish()[:200] for w in ByteLevel().split(t)}
    for w in sorted(words):
        assert ours.model.tokenize_word(w) == ours.model.tokenize_word_naive(w), w
    # a vocabulary with competing merges: random words over a small alphabet
    rng = random.Random(0)
    counts = {"".join(rng.choice("abc") for _ in range(rng.randint(1, 12))): rng.randint(1, 9)
              for _ in range(300)}
    bpe = BPE(*train_bpe(counts, 60))
    for w in counts:
        assert bpe.tokenize_word(w) == bpe.tokenize_word_naive(w), w


@settings(max_examples=300, deadline=None)
@given(text=st.text())
def test_e5_byte_level_round_trip(ours, text):
    assert ours.decode(ours.encode(text)) == text


@settings(max_examples=150, deadline=None)
@given(text=st.text(st.characters(exclude_categories=["Cs", "Cn"]), max_size=30))
def test_e5_byte_level_pre_tokenizer_matches_hf(text):
    # GPT-2's regex through the regex module vs Oniguruma in HF (unassigned code points left
    # out: the two libraries carry different Unicode versions)
    hf = pre_tokenizers.ByteLevel(add_prefix_space=False)
    assert ByteLevel().split(text) == [w for w, _ in hf.pre_tokenize_str(text)]
    assert Whitespace().split(text) == [w for w, _ in pre_tokenizers.Whitespace()
                                        .pre_tokenize_str(text)]


@settings(max_examples=150, deadline=None)
@given(ids=st.lists(st.integers(0, VOCAB - 1), max_size=20))
def test_e5_decoding_any_ids_matches_hf(ours, hf_bytelevel, ids):
    # arbitrary ids can cut a character's bytes: invalid UTF-8 becomes U+FFFD in both
    assert ours.decode(ids) == hf_bytelevel.decode(ids)


def test_e5_byte_table():
    table = bytes_to_unicode()
    assert sorted(table) == list(range(256)) and len(set(table.values())) == 256
    assert table[0x20] == "Ġ" and table[0x0A] == "Ċ" and table[0xAD] == "\u0143"  # soft hyphen
    assert sorted(pre_tokenizers.ByteLevel.alphabet()) == sorted(table.values())
