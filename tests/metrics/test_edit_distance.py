"""Edit distance and label error rate (R10) against a memoised recursion of the definition."""

from __future__ import annotations

import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepnotes.errors import ConfigError
from deepnotes.metrics import edit_distance, label_error_rate


def _reference_edit(a, b):
    @functools.cache
    def d(i, j):
        if i == 0 or j == 0:
            return i + j
        return min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] != b[j - 1]))

    return d(len(a), len(b))


def test_edit_distance_examples():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance([], [1, 2, 3]) == 3
    assert edit_distance((1, 2, 3), (1, 2, 3)) == 0
    assert edit_distance([1, 2, 3, 4], [2, 3, 4, 5]) == 2


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 3), max_size=8), st.lists(st.integers(0, 3), max_size=8))
def test_edit_distance_matches_recursion(a, b):
    d = edit_distance(a, b)
    assert d == _reference_edit(tuple(a), tuple(b)) == edit_distance(b, a)
    assert abs(len(a) - len(b)) <= d <= max(len(a), len(b))


def test_label_error_rate():
    assert label_error_rate([(1, 2), ()], [(1, 3), (4,)]) == pytest.approx(2 / 3)
    assert label_error_rate([()] * 3, [(1,), (2, 3), (4, 5, 6)]) == 1.0
    assert label_error_rate([(1, 2, 3)], [(1, 2, 3)]) == 0.0
    with pytest.raises(ConfigError, match="one hypothesis per reference"):
        label_error_rate([(1,)], [(1,), (2,)])
    with pytest.raises(ConfigError, match="no labels"):
        label_error_rate([(1,)], [()])
