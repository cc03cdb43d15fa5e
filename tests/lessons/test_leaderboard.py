"""Quick run of the leaderboard lesson: choosing on the public half overfits it (G3)."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from deepnotes import lessons


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return lessons.get("leaderboard").run(out_dir=tmp_path_factory.mktemp("leaderboard"),
                                          quick=True)


def test_public_private_gap_grows_with_models_tried(result):
    """The best-on-public of N trained models: gap public − private grows with N (G3)."""
    m = result.metrics
    assert (m["models"], m["n_max"], m["public_images"]) == (20, 20, 500)  # Config.QUICK
    # N = 1 chooses nothing; mirrored leaderboards make both halves equal on average
    assert m["gap_at_n_min"] == pytest.approx(0.0, abs=1e-9)
    gaps = [row["gap"] for row in result.tables["models"]]
    assert all(b > a for a, b in pairwise(gaps)), gaps
    assert m["gap_at_n_max"] > 0.005
    # the public score of the pick rises more than its private score does
    assert m["public_gain"] > m["private_gain"] + 0.005
    assert m["private_at_n_max"] < m["public_at_n_max"]


def test_best_random_guesser_beats_chance_only_on_public(result):
    """The best of many random guessers looks better than chance on public only (G3)."""
    m = result.metrics
    assert m["guesser_best_public"] > 0.1 + 0.03
    assert m["guesser_best_private"] == pytest.approx(0.1, abs=0.005)
    gaps = [row["gap"] for row in result.tables["guessers"]]
    assert all(b > a for a, b in pairwise(gaps)), gaps
    assert all(Path(f).is_file() and Path(f).stat().st_size > 0 for f in result.figures)
