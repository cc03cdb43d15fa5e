"""fastText (E4): the notes' n-grams of "where", fastText's FNV-1a hash and buckets (checked
against gensim's port and a reference written here), bag vectors, and vectors for unseen words."""

from __future__ import annotations

import doctest
import math

import pytest
import torch

import deepnotes.models.fasttext as ft_module
from deepnotes import models
from deepnotes.errors import ConfigError, ShapeError, UnknownNameError
from deepnotes.models.fasttext import (
    FastText,
    FastTextConfig,
    FastTextVectors,
    char_ngrams,
    fnv1a_32,
    ngram_buckets,
)

f64 = torch.float64
WORDS = ["where", "cat", "cats", "naïve", "a", "dog", "東京"]


def test_E4_the_notes_ngrams_of_where():
    assert char_ngrams("where", 3, 3) == ["<wh", "whe", "her", "ere", "re>"]
    grams = char_ngrams("where")  # lengths 3..6
    assert grams[:5] == ["<wh", "whe", "her", "ere", "re>"]
    assert "<where" in grams and "where>" in grams and "<where>" not in grams  # 7 letters
    assert len(grams) == 5 + 4 + 3 + 2
    # the whole word in its marks is the word's own vector (or an n-gram when short enough)
    assert "<where>" in char_ngrams("where", 3, 7)
    assert char_ngrams("a") == ["<a>"]


def test_E4_ngrams_equal_gensims():
    from gensim.models.fasttext_inner import compute_ngrams

    for w in WORDS:
        assert char_ngrams(w, 3, 6) == compute_ngrams(w, 3, 6), w
        assert char_ngrams(w, 2, 4) == compute_ngrams(w, 2, 4), w


def _fasttext_hash(s: str) -> int:
    """fastText's Dictionary::hash, line by line: h = 2166136261; for each byte (a signed
    char, so bytes >= 128 are negative): h = h ^ uint32(int8(byte)); h = h * 16777619."""
    h = 2166136261
    for byte in s.encode("utf-8"):
        signed = byte - 256 if byte >= 128 else byte  # int8_t
        h = (h ^ (signed % 2**32)) % 2**32  # uint32_t(int8_t)
        h = (h * 16777619) % 2**32
    return h


def _textbook_fnv1a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) % 2**32
    return h


def test_E4_fnv1a_known_values_and_fasttexts_signed_bytes():
    # the FNV specification's test vectors (ASCII: fastText = textbook FNV-1a)
    assert fnv1a_32("") == 0x811C9DC5
    assert fnv1a_32("a") == 0xE40C292C
    assert fnv1a_32("foobar") == 0xBF9CF968
    for w in WORDS + [g for w in WORDS for g in char_ngrams(w)]:
        assert fnv1a_32(w) == _fasttext_hash(w), w
    # non-ASCII bytes are read as signed chars: not the textbook value
    assert fnv1a_32("naïve") != _textbook_fnv1a("naïve".encode())
    assert fnv1a_32("where") == _textbook_fnv1a(b"where")


def test_E4_hash_and_buckets_equal_gensims_fasttext_port():
    from gensim.models.fasttext import ft_ngram_hashes
    from gensim.models.fasttext_inner import ft_hash_bytes

    for w in WORDS:
        assert fnv1a_32(w) == ft_hash_bytes(w.encode("utf-8"))
        # same buckets (gensim lists them by start position, we by length)
        assert sorted(ngram_buckets(w, 2_000_000)) == sorted(ft_ngram_hashes(w, 3, 6, 2_000_000))
        assert sorted(ngram_buckets(w, 1000, 2, 5)) == sorted(ft_ngram_hashes(w, 2, 5, 1000))


def _model(seed=0, buckets=40):
    torch.manual_seed(seed)
    return FastText(FastTextConfig(vocab_size=len(WORDS), dim=4, buckets=buckets,
                                   zero_output=False), WORDS).double()


def test_E4_each_word_is_a_bag_of_itself_and_its_ngram_buckets():
    m = _model()
    for w, word in enumerate(WORDS):
        bag = [int(i) for i in m.subwords[w] if i >= 0]
        assert bag == [w] + [len(WORDS) + b for b in ngram_buckets(word, 40)]
    assert m.input_embedding.weight.shape == (len(WORDS) + 40, 4)
    assert m.output_embedding.weight.shape == (len(WORDS), 4)


def _sig(x):
    return 1 / (1 + math.exp(-x))


def _reference(m, centre, context, negatives):
    """Skip-gram negative sampling on bag means; every row of a bag gets the whole error."""
    z = m.input_embedding.weight.detach()
    u = m.output_embedding.weight.detach()
    g_in, g_out, losses = torch.zeros_like(z), torch.zeros_like(u), []
    for b in range(len(centre)):
        c = int(centre[b])
        rows = [(c, 1)] + [(int(k), 0) for k in negatives[b] if int(k) != c]
        loss = 0.0
        for o in (int(x) for x in context[b] if x >= 0):
            bag = [int(i) for i in m.subwords[o] if i >= 0]
            v = sum(z[i] for i in bag) / len(bag)
            for t, y in rows:
                s = float(u[t] @ v)
                loss -= math.log(_sig(s) if y else _sig(-s))
                g_out[t] += (_sig(s) - y) * v
                for i in bag:
                    g_in[i] += (_sig(s) - y) * u[t]
        losses.append(loss)
    return torch.tensor(losses, dtype=f64), g_in, g_out


def test_E4_loss_gradients_and_sgd_step_equal_the_reference():
    m = _model()
    centre = torch.tensor([0, 2, 5])
    context = torch.tensor([[1, 2, -1], [3, 3, 6], [4, -1, -1]])
    negatives = torch.tensor([[0, 4], [1, 5], [5, 6]])
    loss_ref, g_in, g_out = _reference(m, centre, context, negatives)
    loss = m(centre, context, negatives)
    torch.testing.assert_close(loss.detach(), loss_ref, atol=1e-12, rtol=1e-10)
    loss.sum().backward()
    torch.testing.assert_close(m.input_embedding.weight.grad, g_in, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(m.output_embedding.weight.grad, g_out, atol=1e-12, rtol=1e-10)
    z = m.input_embedding.weight.detach().clone()
    u = m.output_embedding.weight.detach().clone()
    value = m.sgd_step(centre, context, negatives, lr=0.2)
    assert float(value) == pytest.approx(float(loss_ref.sum()), rel=1e-12)
    torch.testing.assert_close(m.input_embedding.weight.detach(), z - 0.2 * g_in)
    torch.testing.assert_close(m.output_embedding.weight.detach(), u - 0.2 * g_out)


def test_E4_vectors_for_any_word():
    m = _model()
    wv = m.word_vectors(WORDS)
    assert isinstance(wv, FastTextVectors)
    z = m.input_embedding.weight.detach()
    # a vocabulary word: the mean of its bag
    bag = [int(i) for i in m.subwords[2] if i >= 0]
    torch.testing.assert_close(wv.vector("cats"), z[bag].mean(0))
    # an unseen word: the mean of its n-gram rows
    rows = [len(WORDS) + b for b in ngram_buckets("catty", 40)]
    torch.testing.assert_close(wv.vector("catty"), z[rows].mean(0))
    assert "catty" not in wv and "cats" in wv
    assert wv.most_similar("catty", k=2)[0][0] in WORDS
    with pytest.raises(UnknownNameError, match="empty"):
        wv.vector("")
    with pytest.raises(ShapeError, match="ngram_vectors"):
        FastTextVectors(["a"], torch.zeros(1, 3), torch.zeros(5, 2))


def test_fasttext_vectors_save_the_vocabulary_and_load_back_as_plain_vectors(tmp_path):
    from deepnotes.text.vectors import WordVectors

    wv = _model().word_vectors(WORDS)
    path = wv.save_word2vec(tmp_path / "ft.txt")
    back = FastTextVectors.load_word2vec(path)  # the file has no n-grams: plain WordVectors
    assert type(back) is WordVectors and back.words == list(WORDS)
    torch.testing.assert_close(back.vectors, wv.vectors.float())


def test_fasttext_without_words_is_word2vec_skipgram():
    m = models.create("fasttext", vocab_size=6, dim=3, buckets=10, zero_output=False)
    assert m.subwords.tolist() == [[i] for i in range(6)]
    ref = models.create("word2vec", vocab_size=6, dim=3, zero_output=False)
    with torch.no_grad():
        ref.input_embedding.weight.copy_(m.input_embedding.weight[:6])
        ref.output_embedding.weight.copy_(m.output_embedding.weight)
    args = (torch.tensor([1, 4]), torch.tensor([[2, 3], [0, -1]]), torch.tensor([[5], [2]]))
    torch.testing.assert_close(m(*args), ref(*args))


def test_fasttext_errors():
    with pytest.raises(ConfigError, match="min_n"):
        models.create("fasttext", min_n=4, max_n=3)
    with pytest.raises(ConfigError, match="buckets"):
        models.create("fasttext", buckets=0)
    with pytest.raises(ShapeError, match="vocabulary of 7"):
        _model().set_words(["a", "b"])
    with pytest.raises(ConfigError, match="min_n"):
        char_ngrams("x", 0, 3)


def test_docstring_examples():
    result = doctest.testmod(ft_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 4 and result.failed == 0
