"""BLEU: the notes' formula against a literal loop, standard BLEU against sacrebleu (S4)."""

from __future__ import annotations

import math
from collections import defaultdict

import pytest
import sacrebleu
from hypothesis import given, settings
from hypothesis import strategies as st
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

from deepnotes.errors import ConfigError
from deepnotes.metrics import bleu, corpus_bleu, ngram_matches, sentence_bleu, tokenize_13a

# --- the notes' formula ------------------------------------------------------------------------


def notes_bleu_loop(pred: list[str], label: list[str], k: int) -> float:
    """The notes' description done by hand: match each predicted n-gram against a pool of label
    n-grams that shrinks as it is used, multiply p_n^(1/2^n) for n up to min(k, len_pred)."""
    score = math.exp(min(0.0, 1.0 - len(label) / len(pred)))
    for n in range(1, min(k, len(pred)) + 1):
        pool: dict[str, int] = defaultdict(int)
        for i in range(len(label) - n + 1):
            pool["\x00".join(label[i : i + n])] += 1
        matches = 0
        for i in range(len(pred) - n + 1):
            key = "\x00".join(pred[i : i + n])
            if pool[key] > 0:
                matches += 1
                pool[key] -= 1
        score *= (matches / (len(pred) - n + 1)) ** (0.5**n)
    return score


tokens = st.lists(st.sampled_from("ABCDE"), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(pred=tokens, label=tokens, k=st.integers(1, 5))
def test_notes_bleu_matches_the_loop(pred, label, k):
    # S4: same number as the notes' counting loop, for token lists and space-joined strings
    want = notes_bleu_loop(pred, label, k)
    assert bleu(pred, label, k) == pytest.approx(want, rel=1e-12, abs=0)
    assert bleu(" ".join(pred), " ".join(label), k) == pytest.approx(want, rel=1e-12, abs=0)
    assert 0.0 <= bleu(pred, label, k) <= 1.0


@settings(max_examples=50, deadline=None)
@given(seq=tokens, k=st.integers(1, 5))
def test_notes_bleu_is_one_for_a_perfect_prediction(seq, k):
    assert bleu(seq, seq, k) == pytest.approx(1.0)


def test_notes_bleu_penalises_short_predictions_and_rejects_bad_k():
    # S4: a prediction that is a correct prefix still loses exp(1 - len_label/len_pred)
    assert bleu("A B C", "A B C D E F", 3) == pytest.approx(math.exp(1 - 6 / 3))
    assert bleu("", "A B", 2) == 0.0
    assert ngram_matches("A A A", "A", 1) == (1, 3)  # clipped by the label count
    with pytest.raises(ConfigError, match="k=0"):
        bleu("A", "A", 0)


# --- standard corpus BLEU vs sacrebleu --------------------------------------------------------

# fmt: off
WORDS = [
    "the", "The", "cat", "sat", "on", "mat", "a", "dog", "barked", "It", "costs", "$3.50",
    "3.5", "1,000", "5-6", "well-known", "(about)", '"quoted"', "don't", "U.S.", "end.",
    "&amp;", "&lt;b&gt;", "e-mail", "x,y", "--", "...", "!?", "€", "naïve", "[x]", "{y}",
    "a/b", "50%", "#1", "C++", "yes;", "no:", "<skipped>", "hyphen-\nated", "line\nbreak",
]
# fmt: on
OTHER = ["zebra", "quux", "frob", "blorp"]  # never in a reference: zero-match hypotheses

sentence = st.lists(st.sampled_from(WORDS), min_size=0, max_size=14).map(" ".join)
unrelated = st.lists(st.sampled_from(OTHER), min_size=0, max_size=6).map(" ".join)


@st.composite
def corpora(draw):
    n = draw(st.integers(1, 6))
    n_refs = draw(st.integers(1, 3))
    hyps = [draw(st.one_of(sentence, unrelated)) for _ in range(n)]
    refs = [[draw(sentence) for _ in range(n)]]
    for _ in range(n_refs - 1):  # extra streams may miss some references
        refs.append([draw(st.one_of(sentence, st.none())) for _ in range(n)])
    return hyps, refs


@settings(max_examples=300, deadline=None)
@given(
    corpus=corpora(),
    tokenize=st.sampled_from(["13a", "none"]),
    lowercase=st.booleans(),
    smooth=st.sampled_from(["exp", "exp", "none", "floor", "add-k"]),
    effective_order=st.booleans(),
)
def test_corpus_bleu_matches_sacrebleu(corpus, tokenize, lowercase, smooth, effective_order):
    # S4: score and every sufficient statistic equal sacrebleu's
    hyps, refs = corpus
    ours = corpus_bleu(
        hyps,
        refs,
        tokenize=tokenize,
        lowercase=lowercase,
        smooth_method=smooth,
        effective_order=effective_order,
    )
    ref = sacrebleu.corpus_bleu(
        hyps,
        refs,
        tokenize=tokenize,
        lowercase=lowercase,
        smooth_method=smooth,
        use_effective_order=effective_order,
    )
    assert ours.score == pytest.approx(ref.score, abs=1e-6)
    assert (ours.sys_len, ours.ref_len) == (ref.sys_len, ref.ref_len)
    if smooth != "add-k":  # sacrebleu's add-k reports counts with k already added
        assert ours.counts == list(ref.counts) and ours.totals == list(ref.totals)
    assert ours.bp == pytest.approx(ref.bp, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(hyp=st.one_of(sentence, unrelated), refs=st.lists(sentence, min_size=1, max_size=3))
def test_sentence_bleu_matches_sacrebleu(hyp, refs):
    assert sentence_bleu(hyp, refs).score == pytest.approx(
        sacrebleu.sentence_bleu(hyp, refs).score, abs=1e-6
    )


PIECES = list("ab1 9.,-&;:!?$%()[]{}<>/\\'\"`~^_|@#*+=\n\té") + [
    "&amp;",
    "&quot;",
    "&lt;",
    "&gt;",
    "<skipped>",
    "-\n",
]


@settings(max_examples=300, deadline=None)
@given(text=st.lists(st.sampled_from(PIECES), max_size=30).map("".join))
def test_tokenize_13a_matches_sacrebleu(text):
    assert tokenize_13a(text) == Tokenizer13a()(text).split()


def test_bleu_golden_corpus_and_edge_cases():
    hyps = ["The cat sat on the mat.", "A dog barked."]
    refs = [["The cat sat on a mat.", "The dog barked loudly."]]
    s = corpus_bleu(hyps, refs)
    # counts by hand: 13a splits the final periods; 1-grams: 6/7 + 3/4 ("A" misses)
    assert s.counts[0] == 9 and s.totals[0] == 11
    assert s.score == pytest.approx(sacrebleu.corpus_bleu(hyps, refs).score, abs=1e-9)
    # perfect match is 100, nothing in common is 0
    assert corpus_bleu(["a b c d e"], [["a b c d e"]]).score == pytest.approx(100.0)
    assert corpus_bleu(["x y z w"], [["a b c d"]]).score == 0.0
    # pre-tokenised input skips tokenisation
    pre = corpus_bleu([["a", "b.", "c", "d"]], [[["a", "b.", "c", "e"]]])
    assert pre.counts == corpus_bleu(["a b. c d"], [["a b. c e"]], tokenize="none").counts
    assert pre.counts != corpus_bleu(["a b. c d"], [["a b. c e"]]).counts  # 13a splits "b."
    tok = corpus_bleu([["The", "cat", "."]], [[["The", "cat", "."]]], effective_order=True)
    assert tok.score == pytest.approx(100.0)
    assert corpus_bleu(["The cat."], [["The cat."]], effective_order=True).score == tok.score
    # multiple references: the closest length is r, ties go to the shorter one
    two = corpus_bleu(["a b c d"], [["a b c"], ["a b c d e"]])
    assert two.ref_len == 3


def test_bleu_argument_errors():
    with pytest.raises(ConfigError, match="reference stream 0 has 1"):
        corpus_bleu(["a", "b"], [["a"]])
    with pytest.raises(ConfigError, match="wrap"):
        corpus_bleu("a b", [["a b"]])
    with pytest.raises(ConfigError, match="tokenize='moses'"):
        corpus_bleu(["a"], [["a"]], tokenize="moses")
    with pytest.raises(ConfigError, match="smooth_method='lin'"):
        corpus_bleu(["a"], [["a"]], smooth_method="lin")
