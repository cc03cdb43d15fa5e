"""n-gram language models with the notes' Laplace smoothing, perplexity, Zipf, stop words (R2, R8)."""

from __future__ import annotations

import math
from fractions import Fraction as F

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deepnotes.errors import ConfigError
from deepnotes.text import NGramLM, ngram_counts, rank_frequency, stop_word_stats, zipf_fit

TRAIN = ["a", "b", "a", "c", "b", "a", "a", "b", "c", "a", "b", "b", "a"]  # n = 13, distinct a b c (+ <unk>: m = 4)


def test_ngram_counts():
    assert ngram_counts(list("abab"), 2) == {("a", "b"): 2, ("b", "a"): 1}
    assert ngram_counts([list("ab"), list("ab")], 2) == {("a", "b"): 2}  # not across sequences
    assert sum(ngram_counts(TRAIN, 3).values()) == len(TRAIN) - 2
    with pytest.raises(ConfigError):
        ngram_counts(TRAIN, 0)


def test_hand_computed_probabilities():
    e1, e2, e3 = 2.0, 0.5, 3.0
    lm = NGramLM(TRAIN, order=3, eps=(e1, e2, e3))
    n, m = 13, 4
    n_a, n_b = 6, 5  # unigram counts
    # P(x) = (n(x) + ε1/m) / (n + ε1)
    p_a = (F(n_a) + F(e1) / m) / (n + F(e1))
    p_b = (F(n_b) + F(e1) / m) / (n + F(e1))
    p_unk = (F(e1) / m) / (n + F(e1))
    assert lm.prob("a") == pytest.approx(float(p_a), rel=1e-14)
    assert lm.prob("zzz") == pytest.approx(float(p_unk), rel=1e-14)
    # bigram counts after "a": a->b 3, a->c 1, a->a 1 (the last "a" has no successor): n(a) = 5
    p_b_a = (3 + F(e2) * p_b) / (5 + F(e2))
    assert lm.prob("b", ["a"]) == pytest.approx(float(p_b_a), rel=1e-14)
    # trigram (a, b) -> a 1, c 1, b 1: n(a, b) = 3; ε3 mixes the unigram P(x'') as in the notes
    p_c = (F(2) + F(e1) / m) / (n + F(e1))
    p_c_ab = (1 + F(e3) * p_c) / (3 + F(e3))
    assert lm.prob("c", ["b", "a", "b"]) == pytest.approx(float(p_c_ab), rel=1e-14)
    # the sequence probability is the cut chain rule
    seq = ["a", "b", "c"]
    expected = math.log(p_a) + math.log(p_b_a) + math.log(p_c_ab)
    assert lm.log_prob(seq) == pytest.approx(expected, rel=1e-13)
    assert lm.perplexity(seq) == pytest.approx(math.exp(-expected / 3), rel=1e-13)


def test_eps_zero_is_the_plain_count_ratio_and_unseen_gives_infinity():
    lm = NGramLM(TRAIN, order=2, eps=(0, 0, 0))
    assert lm.prob("b", ["a"]) == pytest.approx(3 / 5)
    assert lm.prob("c", ["c"]) == 0.0  # "c c" never seen
    assert lm.perplexity(["c", "c"]) == math.inf
    # a context never seen (here <unk>) with ε = 0: the lower order (the ε -> 0+ limit)
    assert lm.prob("a", ["zzz"]) == pytest.approx(6 / 13)
    # large ε: the bigram tends to the unigram distribution
    far = lm.with_eps((0, 1e12, 0))
    assert far.prob("c", ["a"]) == pytest.approx(lm.prob("c"), rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from("abcd"), min_size=3, max_size=30),
       st.lists(st.sampled_from("abcdz"), max_size=3),
       st.tuples(*[st.sampled_from([0.0, 0.1, 1.0, 7.0])] * 3),
       st.integers(1, 3), st.sampled_from(["unigram", "bigram"]))
def test_every_distribution_sums_to_one(train, context, eps, order, backoff):
    lm = NGramLM(train, order=order, eps=eps, trigram_backoff=backoff)
    p = lm.distribution(context)
    assert p.dtype == torch.float64 and p.shape == (lm.vocab_size,)
    assert (p >= 0).all()
    assert float(p.sum()) == pytest.approx(1.0, abs=1e-12)
    # distribution() and prob() agree entry by entry
    for tok in lm.vocab.idx_to_token:
        assert float(p[lm.vocab[tok]]) == pytest.approx(lm.prob(tok, context), rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("order,backoff", [(1, "unigram"), (2, "unigram"), (3, "unigram"), (3, "bigram")])
def test_perplexity_matches_torch_cross_entropy(order, backoff):
    # reference: exp of torch's mean NLL over the model's next-token distributions
    lm = NGramLM(TRAIN, order=order, eps=(0.5, 2.0, 1.5), trigram_backoff=backoff)
    test = ["b", "a", "c", "c", "a", "b", "q", "a"]
    dists = torch.stack([lm.distribution(test[max(0, t - order + 1):t]) for t in range(len(test))])
    targets = torch.tensor(lm.vocab.to_indices(test))
    ref = torch.exp(torch.nn.functional.nll_loss(dists.log(), targets))
    assert lm.perplexity(test) == pytest.approx(float(ref), rel=1e-12)


def test_uniform_model_has_perplexity_equal_to_vocabulary_size():
    # every token (<unk> included) counted once: P(x) = 1/m whatever ε1 is
    lm = NGramLM(["<unk>", "a", "b", "c", "d"], order=1, eps=(3.0, 0, 0))
    assert lm.vocab_size == 5
    assert lm.perplexity(["a", "q", "c", "d", "b", "b"]) == pytest.approx(5.0, rel=1e-13)
    # and ε1 -> ∞ makes any unigram uniform
    skew = NGramLM(TRAIN, order=1, eps=(1e13, 0, 0))
    assert skew.perplexity(TRAIN) == pytest.approx(skew.vocab_size, rel=1e-9)


def test_a_perfect_model_has_perplexity_one():
    lm = NGramLM(list("abcabcabc"), order=2, eps=(0, 0, 0))
    lp = lm.token_log_probs(list("abcab"))
    assert np.allclose(lp[1:], 0.0)


def test_sampling_is_seeded_and_follows_the_counts():
    lm = NGramLM(["x", "y", "z", "x", "y", "z", "x", "y", "z"], order=2, eps=(0, 0, 0))
    assert lm.sample(6, prefix=["x"], seed=3) == ["y", "z", "x", "y", "z", "x"]
    lm2 = NGramLM(TRAIN, order=3, eps=(1, 1, 1))
    assert lm2.sample(10, seed=7) == lm2.sample(10, seed=7)
    assert lm2.sample(30, seed=1) != lm2.sample(30, seed=2)


def test_min_freq_and_errors():
    lm = NGramLM(TRAIN, order=1, eps=(0, 0, 0), min_freq=3)
    # "c" (twice) becomes <unk>, which now has counts of its own
    assert lm.prob("c") == pytest.approx(2 / 13) and lm.prob("zzz") == pytest.approx(2 / 13)
    with pytest.raises(ConfigError):
        NGramLM(TRAIN, order=4)
    with pytest.raises(ConfigError):
        NGramLM(TRAIN, eps=(-1, 0, 0))
    with pytest.raises(ConfigError):
        NGramLM([], order=1)
    with pytest.raises(ConfigError):
        NGramLM(TRAIN, order=2).with_eps((1, 1, 1), order=3)


def test_zipf_fit_and_rank_frequency():
    freqs = 5000.0 * np.arange(1, 301) ** -1.1
    alpha, c = zipf_fit(freqs, min_rank=5, max_rank=200)
    assert alpha == pytest.approx(1.1, abs=1e-9) and c == pytest.approx(math.log(5000), abs=1e-9)
    assert list(rank_frequency({"a": 1, "b": 5, "c": 3})) == [5, 3, 1]
    with pytest.raises(ConfigError):
        zipf_fit(np.array([3.0]))


def test_stop_word_stats():
    rows = stop_word_stats(["the", "cat", "and", "the", "dog", "and", "the", "end"], k=3)
    assert [(r["token"], r["count"]) for r in rows] == [("the", 3), ("and", 2), ("cat", 1)]
    assert rows[-1]["cumulative"] == pytest.approx(6 / 8)


def test_with_eps_reuses_counts_and_matches_a_fresh_model():
    base = NGramLM(TRAIN, order=3, eps=(1, 1, 1))
    test = ["a", "c", "b", "q", "a", "b"]
    for order, backoff in ((1, "unigram"), (2, "unigram"), (3, "bigram")):
        shared = base.with_eps((0.5, 2.0, 1.5), order=order, trigram_backoff=backoff)
        fresh = NGramLM(TRAIN, order=order, eps=(0.5, 2.0, 1.5), trigram_backoff=backoff)
        assert shared.perplexity(test) == pytest.approx(fresh.perplexity(test), rel=1e-14)
    assert base.eps == (1.0, 1.0, 1.0) and base.order == 3 and base.trigram_backoff == "unigram"
    with pytest.raises(ConfigError, match="trigram_backoff"):
        base.with_eps((1, 1, 1), trigram_backoff="kneser-ney")
