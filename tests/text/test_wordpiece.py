"""WordPiece and BERT's basic tokenizer (E6) against Hugging Face ``tokenizers`` with the real
MiniLM-L6 vocabulary: ids on thousands of real sentences, pairs, truncation, padding."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer as HFTokenizer

from deepnotes.errors import ConfigError
from deepnotes.text import WordPiece, WordPieceTokenizer, load_tokenizer
from deepnotes.text.normalizers import BertNormalizer
from deepnotes.text.pretokenizers import BertPreTokenizer
from deepnotes.text.tokenizer import truncate_pair
from deepnotes.text.tokenizer_io import minilm_dir
from deepnotes.text.wordpiece import WordPieceDecoder

from ._tokenizer_data import EDGE_CASES, real_sentences


@pytest.fixture(scope="module")
def hf():
    tok = HFTokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
    tok.no_truncation()  # the file pads and truncates every text to 128
    tok.no_padding()
    return tok


@pytest.fixture(scope="module")
def ours():
    return load_tokenizer("minilm")


def test_e6_reference_numbers(ours):
    # DATA.md: known ids and pieces of the MiniLM (uncased BERT) vocabulary
    assert ours.encode("Hello, world!") == [101, 7592, 1010, 2088, 999, 102]
    assert ours.tokenize("unaffable") == ["una", "##ffa", "##ble"]
    assert ours.vocab_size == 30522
    assert ours.decode([101, 7592, 1010, 2088, 999, 102]) == "hello, world!"


def test_e6_ids_equal_hf_on_real_sentences(hf, ours):
    corpora = real_sentences()
    total = 0
    for name, texts in corpora.items():
        texts = list(texts)
        expected = [e.ids for e in hf.encode_batch(texts)]
        got = [ours.encode(t) for t in texts]
        bad = [t for t, e, g in zip(texts, expected, got) if e != g]
        assert not bad, f"{name}: {len(bad)} of {len(texts)} differ, e.g. {bad[0][:80]!r}"
        assert [ours.decode(ids) for ids in expected[::5]] == \
            [hf.decode(ids) for ids in expected[::5]]
        total += len(texts)
    assert total >= 3000
    # the edge cases: numbers, punctuation, special tokens, over-long words, controls, emoji
    for text in EDGE_CASES:
        assert ours.encode(text) == hf.encode(text).ids, text


def test_e6_vocab_txt_gives_the_same_tokenizer(ours):
    from_txt = WordPieceTokenizer.from_vocab(minilm_dir() / "vocab.txt")
    texts = list(real_sentences()["spanish"][:200]) + EDGE_CASES
    assert [from_txt.encode(t) for t in texts] == [ours.encode(t) for t in texts]
    assert from_txt.normalizer.lowercase  # decided from the vocabulary: uncased


def test_e6_basic_tokenizer_details(ours):
    # special tokens are split out of the raw text before lower-casing; [mask] is not special
    assert ours.tokenize("hello[MASK]world [mask]") == \
        ["hello", "[MASK]", "world", "[", "mask", "]"]
    # accents stripped (NFD, Mn dropped), CJK characters spaced, controls dropped
    assert ours.tokenize("Ñandú 中文\x00x") == ["nan", "##du", "中", "文", "x"]
    # a word of 100 characters is cut into pieces, 101 characters is [UNK]
    assert "[UNK]" not in ours.tokenize("a" * 100)
    assert ours.tokenize("a" * 101) == ["[UNK]"]
    # a word that cannot be covered is [UNK] as a whole
    wp = WordPiece(["[UNK]", "ab", "##c"])
    assert wp.tokenize_word("abc") == [1, 2]
    assert wp.tokenize_word("abd") == [0]
    assert BertNormalizer().normalize("ΟΔΟΣ") == "οδοσ"  # per character, no final ς (as HF)
    assert BertNormalizer(lowercase=False).normalize("Café") == "Café"
    assert BertPreTokenizer().split("a\x1cb c$d") == ["a\x1cb", "c", "$", "d"]


def test_e6_decoder_cleanup_matches_hf():
    from tokenizers import decoders

    tokens = ["[CLS]", "i", "do", "n", "'", "t", "know", ",", "it", "'", "s", "una", "##ffa",
              "##ble", "!", "do", "not", "?", "##x", "."]
    for cleanup in (True, False):
        assert WordPieceDecoder(cleanup=cleanup).decode(tokens) == \
            decoders.WordPiece(cleanup=cleanup).decode(tokens)


def _stable_blocks() -> list[int]:
    """Code points of blocks whose classes agree in Unicode 8 (HF) and 14 (Python): Latin,
    Greek, Cyrillic, Armenian, Hebrew, general punctuation and symbols, CJK, Hangul,
    compatibility forms, emoji."""
    ranges = [(0x0, 0x5FF), (0x2000, 0x2BFF), (0x3000, 0x9FFF), (0xAC00, 0xD7A3),
              (0xF900, 0xFFFF), (0x1F300, 0x1FAFF), (0x20000, 0x2A6DF)]
    return [cp for lo, hi in ranges for cp in range(lo, hi + 1)
            if not 0xD800 <= cp <= 0xDFFF]


def test_e6_every_character_of_common_blocks_is_normalised_and_split_as_hf():
    from tokenizers import normalizers, pre_tokenizers

    hf_norm = normalizers.BertNormalizer(lowercase=True)
    hf_pre = pre_tokenizers.BertPreTokenizer()
    norm, pre = BertNormalizer(), BertPreTokenizer()
    bad = []
    for cp in _stable_blocks():
        text = f"a{chr(cp)}B{chr(cp)}"
        if norm.normalize(text) != hf_norm.normalize_str(text) or \
                pre.split(text) != [w for w, _ in hf_pre.pre_tokenize_str(text)]:
            bad.append(hex(cp))
    assert not bad, f"{len(bad)} characters differ, e.g. {bad[:10]}"


# characters of the blocks above plus ASCII, white space and controls
STABLE_TEXT = st.text(st.sampled_from([chr(cp) for cp in _stable_blocks()[::7]]
                                      + list(" \t\n\r\x00.,!?'-#[]MASK")), max_size=40)


@settings(max_examples=150, deadline=None)
@given(text=STABLE_TEXT, pair=st.none() | STABLE_TEXT)
def test_e6_random_text_and_pairs_encode_as_hf(hf, ours, text, pair):
    expected = hf.encode(text, pair)
    ids, types = ours.encode_with_types(text, pair)
    assert ids == expected.ids
    assert types == expected.type_ids


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=60))
def test_e6_tokenize_never_crashes(ours, text):
    pieces = ours.tokenize(text)
    assert all(isinstance(p, str) and p for p in pieces)
    assert isinstance(ours.decode(ours.encode(text)), str)


@pytest.mark.parametrize("max_length", [3, 4, 5, 8, 13, 40])
def test_e6_pairs_truncate_longest_first_as_hf(ours, max_length):
    hf = HFTokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
    hf.no_padding()
    hf.enable_truncation(max_length, strategy="longest_first")
    texts = ["Short one.", "A much longer sentence that has many more words in it than the "
             "other.", "", "Two words"]
    for a in texts:
        for b in texts:
            e = hf.encode(a, b)
            assert ours.encode_with_types(a, b, max_length=max_length) == (e.ids, e.type_ids)
        assert ours.encode(a, max_length=max_length) == hf.encode(a).ids
    with pytest.raises(ConfigError, match="special tokens"):
        ours.encode("a", "b", max_length=2)


def test_truncate_pair_lengths():
    # HF's own cases (max_length 7): both parts fit, the longer is cut, both are cut
    cases = {(0, 8): (0, 7), (2, 8): (2, 5), (4, 4): (3, 4), (4, 8): (3, 4), (8, 4): (4, 3),
             (8, 2): (5, 2), (8, 8): (3, 4), (2, 2): (2, 2)}
    for (n1, n2), want in cases.items():
        assert truncate_pair(n1, n2, 7) == want


def test_e6_encode_batch_pads_as_hf(ours):
    hf = HFTokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
    hf.no_truncation()
    hf.enable_padding(pad_id=0, pad_token="[PAD]")
    texts = ["Hello, world!", "A longer sentence, with a comma.", "x"]
    pairs = ["Second.", "", "And a rather long second part of the pair."]
    for pair in (None, pairs):
        batch = ours.encode_batch(texts, pair=pair)
        want = hf.encode_batch(list(zip(texts, pairs)) if pair else texts)
        assert batch["input_ids"].tolist() == [e.ids for e in want]
        assert batch["token_type_ids"].tolist() == [e.type_ids for e in want]
        assert batch["attention_mask"].tolist() == [e.attention_mask for e in want]
        assert batch["input_ids"].dtype == torch.long
    fixed = ours.encode_batch(texts, max_length=6, padding="max_length")
    assert fixed["input_ids"].shape == (3, 6)
    assert fixed["input_ids"][0].tolist() == [101, 7592, 1010, 2088, 999, 102]
    assert fixed["attention_mask"][2].tolist() == [1, 1, 1, 0, 0, 0]
    with pytest.raises(ConfigError, match="one length"):
        ours.encode_batch(texts, padding=False)
    with pytest.raises(ConfigError, match="list of texts"):
        ours.encode_batch("one text")


# ---- training a vocabulary ------------------------------------------------------------------
def _hf_wordpiece(lines, vocab_size):
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import models, normalizers, pre_tokenizers, trainers

    hf = HFTokenizer(models.WordPiece(unk_token="[UNK]"))
    hf.normalizer = normalizers.BertNormalizer(lowercase=True)
    hf.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    hf.train_from_iterator(lines, trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=2, limit_alphabet=1000,
        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    return hf


def test_trained_vocabulary_is_close_to_hugging_face_wordpiece_trainer():
    from deepnotes.text import sample_text

    lines = [line for line in sample_text().split("\n") if line.strip()]
    ours = WordPieceTokenizer.train(lines, vocab_size=500)
    hf = _hf_wordpiece(lines, 500)
    assert ours.vocab_size == hf.get_vocab_size() == 500
    shared = set(ours.model.vocab) & set(hf.get_vocab())
    # the same algorithm; only ties between equally frequent pairs are broken differently
    assert len(shared) >= 0.95 * 500
    same = sum(ours.tokenize(line) == hf.encode(line, add_special_tokens=False).tokens
               for line in lines)
    assert same >= 0.7 * len(lines)


def test_trained_vocabulary_layout_and_coverage():
    texts = ["El principio crió Dios los cielos", "In the beginning God created the heavens",
             "Jesús dijo", "Jesus said"] * 3
    tok = WordPieceTokenizer.train(texts, vocab_size=120)
    vocab = tok.model.vocab
    assert [vocab[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")] == [0, 1, 2, 3, 4]
    assert len(vocab) <= 120
    # accents stripped with lower case (BERT uncased): Jesús and Jesus share their pieces
    assert tok.tokenize("Jesús") == tok.tokenize("jesus")
    # every training word is covered: no [UNK] on the training text
    assert all("[UNK]" not in tok.tokenize(t) for t in texts)
    cased = WordPieceTokenizer.train(texts, vocab_size=120, lowercase=False)
    assert cased.tokenize("Jesús") != cased.tokenize("jesus")


def test_training_merges_the_most_frequent_pair_first():
    # "##a" + "##b" occurs 5 times, "x" + "##a" 5 + 1 times: x + ##a -> "xa" is the first merge;
    # 5 special tokens + the alphabet a b x ##a ##b = 10 entries, room for one merge
    tok = WordPieceTokenizer.train(["xab"] * 5 + ["xa"], vocab_size=11, min_frequency=1)
    assert "xa" in tok.model.vocab and "##ab" not in tok.model.vocab
