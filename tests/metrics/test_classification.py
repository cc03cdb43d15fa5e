"""The accuracy metric against a manual count (ties included) and its errors."""

from __future__ import annotations

import math

import pytest
import torch

from deepnotes.errors import ShapeError
from deepnotes.metrics import accuracy


def manual_accuracy(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """Count by hand: class dim 1, the first of equal maxima wins (like argmax)."""
    scores = scores.movedim(1, -1).reshape(-1, scores.shape[1]).tolist()
    right = 0
    for row, t in zip(scores, targets.reshape(-1).tolist()):
        right += row.index(max(row)) == t
    return right / len(scores)


@pytest.mark.parametrize("shape", [(50, 4), (7, 5, 6), (3, 3, 2, 4)])
def test_accuracy_matches_a_manual_count(shape):
    g = torch.Generator().manual_seed(sum(shape))
    scores = torch.randint(0, 3, shape, generator=g).float()  # many ties on purpose
    targets = torch.randint(0, shape[1], (shape[0], *shape[2:]), generator=g)
    assert accuracy(scores, targets).item() == pytest.approx(manual_accuracy(scores, targets), abs=1e-7)


def test_accuracy_extremes_and_errors():
    scores = torch.eye(4)
    assert accuracy(scores, torch.arange(4)).item() == 1.0
    assert accuracy(scores, torch.tensor([1, 2, 3, 0])).item() == 0.0
    assert math.isnan(accuracy(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)).item())
    with pytest.raises(ShapeError, match=r"\(4,\)"):
        accuracy(torch.zeros(4), torch.zeros(4))
    with pytest.raises(ShapeError, match=r"expects targets of shape \(4,\), got \(4, 1\)"):
        accuracy(scores, torch.zeros(4, 1, dtype=torch.long))
