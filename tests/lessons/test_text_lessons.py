"""Quick runs of the text-preprocessing and ngram-lm lessons on the shipped sample text.

Notes: R1 (tokenize, vocabulary, unknown words, word hashing), R2 (Laplace smoothing, Zipf,
stop words), R8 (perplexity).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

from deepnotes import lessons
from deepnotes.text import sample_text


def _run(name, tmp_path, **overrides):
    return lessons.get(name).run(out_dir=tmp_path, quick=True, **overrides)


def _figures_exist(result):
    assert result.figures
    assert all(Path(f).is_file() and Path(f).stat().st_size > 0 for f in result.figures)


def test_sample_text_is_shipped():
    text = sample_text()
    assert text.startswith("It is a truth universally acknowledged") and 5_000 < len(text) < 12_000


def test_quick_mode_reads_the_sample_text_through_the_config():
    for name in ("text-preprocessing", "ngram-lm"):
        lesson = lessons.get(name)
        assert lesson.configure().corpus == "austen"
        assert lesson.configure(quick=True).corpus == "sample"
        # a corpus the user names wins over the quick value
        assert lesson.configure(quick=True, corpus="my_novel.txt").corpus == "my_novel.txt"


def test_text_preprocessing_claims(tmp_path):
    r = _run("text-preprocessing", tmp_path)
    m = r.metrics
    _figures_exist(r)
    sizes = [m[f"vocab_size_min{k}"] for k in (1, 2, 3, 5, 10)]
    unk = [m[f"held_out_unk_rate_min{k}"] for k in (1, 2, 3, 5, 10)]
    # a higher min_freq: a smaller vocabulary, more held-out <unk>
    assert all(a > b for a, b in itertools.pairwise(sizes))
    assert all(a <= b for a, b in itertools.pairwise(unk)) and unk[-1] > unk[0]
    # the vocabulary shrinks by far more than the unknown rate grows
    assert sizes[-1] / sizes[0] < 0.2 and unk[-1] < 0.6
    # Zipf: most distinct words are rare, a few frequent tokens cover a large share
    assert 0.7 < m["zipf_alpha"] < 1.5
    assert m["singleton_fraction"] > 0.4 and m["top_k_share"] > 0.2
    # word hashing: unseen words are mostly made of letter tri-grams seen in training
    assert m["unseen_words_held_out"] > 0 and m["unseen_word_trigram_coverage"] > 0.6
    assert m["vocab_size"] == m["distinct_words"] + 4  # + <unk> <pad> <bos> <eos>
    ex = r.tables["example"][0]
    assert len(ex["tokens"].split()) == len(ex["indices"].split())


def test_ngram_lm_claims(tmp_path):
    r = _run("ngram-lm", tmp_path)
    m = r.metrics
    _figures_exist(r)
    # without smoothing, unseen pairs make the held-out perplexity infinite
    assert math.isinf(m["bigram_eps0_test_ppl"]) and math.isinf(m["trigram_eps0_test_ppl"])
    assert math.isfinite(m["unigram_eps0_test_ppl"])  # <unk> has counts (min_freq=2)
    # smoothed: finite, and the bigram context beats the unigram
    assert m["bigram_test_ppl"] < 0.8 * m["unigram_test_ppl"]
    assert m["bigram_test_ppl"] < m["vocab_size"]  # better than uniform
    # the notes' trigram (ε3 mixes the unigram) loses to the bigram on sparse counts; mixing the
    # bigram instead does not
    assert m["trigram_test_ppl"] > m["bigram_test_ppl"]
    assert m["trigram_bigram_backoff_test_ppl"] <= m["bigram_test_ppl"] * 1.001
    # on training text the perplexity falls with the order (memorising)
    assert m["trigram_train_ppl"] < m["bigram_train_ppl"] < m["unigram_train_ppl"]
    # sparse n-grams: most held-out trigrams are new, and Zipf exponents shrink with n
    assert m["held_out_unseen_trigram_fraction"] > 0.5
    assert m["zipf_alpha_1gram"] > m["zipf_alpha_2gram"] > m["zipf_alpha_3gram"]
    # characters: longer contexts help
    assert (m["char_trigram_test_ppl"] < m["char_bigram_test_ppl"]
            < m["char_unigram_test_ppl"])
    assert m["char_unigram_test_ppl"] < 28  # d2l-style characters: 26 letters, space, <unk>
    samples = r.tables["samples"]
    assert len(samples) == 4 and all(s["sample"].startswith("it is a") for s in samples)
    # reproducible: the same seed gives the same samples
    again = _run("ngram-lm", tmp_path / "again")
    assert again.tables["samples"] == r.tables["samples"]
