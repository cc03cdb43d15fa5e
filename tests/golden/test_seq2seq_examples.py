"""Golden numbers worked in the notes: BLEU (S4) and greedy vs beam search (S5).

S4: label A B C D E F, prediction A B B C D gives p1 = 4/5, p2 = 3/4, p3 = 1/3, p4 = 0.

S5: the notes show d2l's figures 9.8.1 / 9.8.2 as images. Their conditional-probability tables
over Y = {A, B, C, <eos>} are reproduced below (read from d2l's img/s2s-prob1.svg and
img/s2s-prob2.svg); only the greedy and beam products (0.048, 0.054) are in the notes' text.
Prefixes the figures do not show get a uniform row (our choice; none is on greedy's path or
among the k = 2 beams, and none beats the answers below).
"""

from __future__ import annotations

import math

import pytest
import torch

from deepnotes.decoding import beam_search, exhaustive_search, greedy_search
from deepnotes.metrics import bleu, ngram_matches

# --- S4 ----------------------------------------------------------------------------------------

LABEL, PRED = "A B C D E F", "A B B C D"


def test_s4_ngram_precisions_of_the_worked_example():
    got = [ngram_matches(PRED, LABEL, n) for n in (1, 2, 3, 4)]
    assert [m / t for m, t in got] == [4 / 5, 3 / 4, 1 / 3, 0.0]


def test_s4_bleu_of_the_worked_example():
    # BP = exp(min(0, 1 - 6/5)) = exp(-0.2)
    bp = math.exp(-0.2)
    assert bleu(PRED, LABEL, k=1) == pytest.approx(bp * (4 / 5) ** (1 / 2))
    assert bleu(PRED, LABEL, k=2) == pytest.approx(bp * (4 / 5) ** (1 / 2) * (3 / 4) ** (1 / 4))
    k3 = bp * (4 / 5) ** (1 / 2) * (3 / 4) ** (1 / 4) * (1 / 3) ** (1 / 8)
    assert bleu(PRED, LABEL, k=3) == pytest.approx(k3)
    assert round(k3, 4) == 0.594
    assert bleu(PRED, LABEL, k=4) == 0.0  # p4 = 0 zeroes the product


# --- S5 ----------------------------------------------------------------------------------------

A, B, C, EOS, BOS = 0, 1, 2, 3, 4
#            P(A | prefix), P(B | ·), P(C | ·), P(<eos> | ·)
TABLE = {
    (): [0.5, 0.2, 0.2, 0.1],  # time step 1 (both figures)
    (A,): [0.1, 0.4, 0.3, 0.2],  # time step 2 (both figures)
    (A, B): [0.2, 0.2, 0.4, 0.2],  # figure 9.8.1, time step 3
    (A, B, C): [0.0, 0.2, 0.2, 0.6],  # figure 9.8.1, time step 4
    (A, C): [0.1, 0.6, 0.2, 0.1],  # figure 9.8.2, time step 3
    (A, C, B): [0.1, 0.2, 0.1, 0.6],  # figure 9.8.2, time step 4
}


def d2l_step(tokens, state):
    rows = [TABLE.get(tuple(r[1:]), [0.25] * 4) for r in tokens.tolist()]
    return torch.tensor(rows, dtype=torch.float64).log(), state


def test_s5_tables_are_distributions_and_search_gives_the_notes_products():
    # exhaustive search lists every output of at most 4 tokens (ended by <eos> or cut): their
    # probabilities sum to 1 exactly when every row the search reads is a distribution
    every = exhaustive_search(d2l_step, BOS, EOS, max_len=4)
    assert sum(math.exp(h.log_prob) for h in every.hypotheses[0]) == pytest.approx(1.0, abs=1e-12)
    # the notes' products, read off the searches: greedy's A B C <eos> is 0.5·0.4·0.4·0.6,
    # beam (k = 2) and exhaustive search (α = 0.75) find A C B <eos>, 0.5·0.3·0.6·0.6
    greedy = greedy_search(d2l_step, BOS, EOS, max_len=4)
    beam = beam_search(d2l_step, BOS, EOS, beam_size=2, max_len=4)
    best = exhaustive_search(d2l_step, BOS, EOS, max_len=4, alpha=0.75)
    assert greedy.tokens == [[A, B, C, EOS]] and beam.tokens == best.tokens == [[A, C, B, EOS]]
    assert greedy.log_probs.exp().item() == pytest.approx(0.048, abs=1e-12)
    for res in (beam, best):
        assert res.log_probs.exp().item() == pytest.approx(0.054, abs=1e-12)


def test_s5_greedy_search_gives_abc_eos_with_probability_0_048():
    res = greedy_search(d2l_step, BOS, EOS, max_len=4)
    assert res.tokens == [[A, B, C, EOS]]
    assert res.log_probs.exp().item() == pytest.approx(0.048, abs=1e-12)


@pytest.mark.parametrize("alpha", [0.0, 0.75])
def test_s5_beam_search_k2_finds_acb_eos_with_probability_0_054(alpha):
    res = beam_search(d2l_step, BOS, EOS, beam_size=2, max_len=4, alpha=alpha)
    assert res.tokens == [[A, C, B, EOS]]
    assert res.log_probs.exp().item() == pytest.approx(0.054, abs=1e-12)
    # the runner-up is greedy's answer: beam search beats greedy here, 0.054 > 0.048
    runner_up = res.hypotheses[0][1]
    assert runner_up.tokens == [A, B, C, EOS]
    assert math.exp(runner_up.log_prob) == pytest.approx(0.048, abs=1e-12)
    # both have L = 4, so the score is log P / 4^α
    assert res.scores.item() == pytest.approx(math.log(0.054) / 4**alpha)


def test_s5_exhaustive_search_with_the_length_penalty_agrees_with_beam_search():
    # with α = 0.75, no sequence of ≤ 4 tokens scores better than A C B <eos>
    res = exhaustive_search(d2l_step, BOS, EOS, max_len=4, alpha=0.75)
    assert res.tokens == [[A, C, B, EOS]]
    # without it, plain probability prefers stopping early: P(<eos>) = P(A, <eos>) = 0.1 > 0.054
    plain = exhaustive_search(d2l_step, BOS, EOS, max_len=4, alpha=0.0)
    assert plain.log_probs.exp().item() == pytest.approx(0.1)
    assert sorted(h.tokens for h in plain.hypotheses[0][:2]) == [[A, EOS], [EOS]]
