"""Extractive QA (P4): the best span by brute force, SQuAD's normalisation, EM and F1."""

from __future__ import annotations

import doctest

import pytest
import torch

import deepnotes.metrics.qa as qa
from deepnotes.errors import ConfigError, ShapeError
from deepnotes.metrics import best_span, exact_match, normalize_answer, qa_scores, squad_f1


def test_P4_best_span_equals_brute_force_under_the_length_and_mask_limits():
    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        t = int(torch.randint(1, 12, (), generator=g))
        a, b = torch.randn(2, t, generator=g), torch.randn(2, t, generator=g)
        allowed = torch.rand(2, t, generator=g) < 0.7
        allowed[:, 0] = True
        length = int(torch.randint(1, 5, (), generator=g))
        s, e = best_span(a, b, length, allowed)
        for k in range(2):
            cands = [(a[k, i] + b[k, j], i, j) for i in range(t) for j in range(i, min(t, i + length))
                     if allowed[k, i] and allowed[k, j]]
            _, i, j = max(cands, key=lambda c: float(c[0]))
            assert (int(s[k]), int(e[k])) == (i, j)
            assert s[k] <= e[k] < s[k] + length


def test_P4_squad_normalisation_and_scores():
    # SQuAD's rules: case, punctuation, articles and spaces do not count
    assert normalize_answer("  The Quick, brown fox. ") == "quick brown fox"
    assert exact_match("the Nile", ["Nile river", "nile"]) == 1.0
    assert exact_match("Nile river", "Amazon") == 0.0
    # F1 on word bags: "garden of eden" vs "the garden of Eden east": P 3/3, R 3/4
    assert squad_f1("garden of eden", "the garden of Eden east") == pytest.approx(2 * 0.75 / 1.75)
    assert squad_f1("a", "the") == 1.0  # both empty after normalisation
    assert squad_f1("x", "y z") == 0.0
    s = qa_scores(["Nile", "a cat"], [["the Nile"], ["dog", "cat"]])
    assert s == {"exact_match": 100.0, "f1": 100.0}
    with pytest.raises(ShapeError):
        qa_scores(["a"], [])
    with pytest.raises(ConfigError):
        qa_scores([], [])
    with pytest.raises(ConfigError):
        best_span(torch.zeros(1, 3), torch.zeros(1, 3), 0)


def test_docstring_examples():
    assert doctest.testmod(qa).failed == 0
