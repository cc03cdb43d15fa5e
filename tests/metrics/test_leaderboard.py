"""Leaderboard picks (G3) against brute force over every draw of N candidates, ties included."""

from __future__ import annotations

import itertools
import math
from statistics import mean

import pytest
import torch

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.metrics.leaderboard import best_of_n_weights, leaderboard_pick, split_accuracy


def brute_force_pick(public: list[float], private: list[float], n: int) -> tuple[float, float]:
    """Average over every n-subset; within a subset, every candidate tied for the best public
    score is picked equally often (a uniformly random tie-break)."""
    pubs, privs = [], []
    for subset in itertools.combinations(range(len(public)), n):
        best = max(public[i] for i in subset)
        tied = [i for i in subset if public[i] == best]
        pubs.append(best)
        privs.append(mean(private[i] for i in tied))
    return mean(pubs), mean(privs)


def test_best_of_n_weights_match_binomials():
    """w_i = C(m-i, n-1) / C(m, n), summing to 1 (G3)."""
    for m in range(1, 9):
        for n in range(1, m + 1):
            w = best_of_n_weights(m, n)
            ref = [math.comb(m - i, n - 1) / math.comb(m, n) for i in range(1, m + 1)]
            torch.testing.assert_close(w, torch.tensor(ref, dtype=torch.float64))
            assert w.sum().item() == pytest.approx(1.0)
    w = best_of_n_weights(1000, 10)  # large m: no overflow, still a distribution
    assert torch.isfinite(w).all() and w.sum().item() == pytest.approx(1.0)


@pytest.mark.parametrize("m", [1, 2, 5, 8])
def test_leaderboard_pick_matches_brute_force(m):
    """The exact expectation equals the average over all draws of N candidates (G3)."""
    g = torch.Generator().manual_seed(m)
    public = torch.randint(0, 4, (m,), generator=g).double() / 4  # few values: many ties
    private = torch.rand(m, generator=g, dtype=torch.float64)
    for n in range(1, m + 1):
        got = leaderboard_pick(public, private, n)
        ref = brute_force_pick(public.tolist(), private.tolist(), n)
        assert got == pytest.approx(ref, abs=1e-12), n


def test_leaderboard_pick_extremes():
    """N = 1 is the plain mean; N = m is the best on public (G3)."""
    public = torch.tensor([0.5, 0.9, 0.7])
    private = torch.tensor([0.4, 0.6, 0.8])
    assert leaderboard_pick(public, private, 1) == pytest.approx((0.7, 0.6))
    assert leaderboard_pick(public, private, 3) == pytest.approx((0.9, 0.6))


def test_split_accuracy_against_a_manual_count():
    """Each model's accuracy on the public and on the private examples (G3)."""
    g = torch.Generator().manual_seed(0)
    correct = torch.rand(6, 11, generator=g) < 0.6
    public = torch.rand(11, generator=g) < 0.5
    pub, priv = split_accuracy(correct, public)
    for k in range(6):
        row = correct[k].tolist()
        on = [c for c, p in zip(row, public.tolist()) if p]
        off = [c for c, p in zip(row, public.tolist()) if not p]
        assert pub[k].item() == pytest.approx(sum(on) / len(on))
        assert priv[k].item() == pytest.approx(sum(off) / len(off))


def test_errors_name_the_bad_value():
    with pytest.raises(ConfigError, match="got n = 4"):
        best_of_n_weights(3, 4)
    with pytest.raises(ConfigError, match="got 0"):
        best_of_n_weights(0, 1)
    with pytest.raises(ShapeError, match=r"\(3,\) and \(2,\)"):
        leaderboard_pick(torch.zeros(3), torch.zeros(2), 1)
    with pytest.raises(ConfigError, match="got 0"):
        split_accuracy(torch.ones(2, 3, dtype=torch.bool), torch.zeros(3, dtype=torch.bool))
    with pytest.raises(ShapeError, match=r"\(2, 3\) and \(4,\)"):
        split_accuracy(torch.ones(2, 3), torch.ones(4, dtype=torch.bool))
