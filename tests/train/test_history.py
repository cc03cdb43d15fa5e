"""History (best, column, CSV, curves) and the accuracy metric."""

from __future__ import annotations

import csv
import math

import pytest
import torch

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.train import History, accuracy

ROWS = [
    {"epoch": 1, "train_loss": 0.9, "val_loss": 1.0, "val_accuracy": 0.50},
    {"epoch": 2, "train_loss": 0.7, "val_loss": math.nan, "val_accuracy": 0.70},
    {"epoch": 3, "train_loss": 0.5, "val_loss": 0.6, "val_accuracy": 0.70, "grad_norm": 2.0},
    {"epoch": 4, "train_loss": 0.4, "val_loss": 0.8},
]


def test_best_column_last():
    h = History(ROWS, columns=["epoch", "train_loss", "val_loss"])
    assert len(h) == 4 and h.last()["epoch"] == 4
    assert h.best("val_loss")["epoch"] == 3  # NaN row skipped
    assert h.best("val_loss", mode="max")["epoch"] == 1
    assert h.best("val_accuracy", mode="max")["epoch"] == 2  # first of a tie; row 4 has none
    assert h.best("train_loss")["epoch"] == 4
    assert h.column("train_loss") == [0.9, 0.7, 0.5, 0.4]
    grad = h.column("grad_norm")
    assert math.isnan(grad[0]) and grad[2] == 2.0
    assert h.columns == ["epoch", "train_loss", "val_loss", "val_accuracy", "grad_norm"]
    assert h.metric_names() == ["accuracy"]


def test_history_copies_rows():
    row = {"epoch": 1, "train_loss": 1.0}
    h = History([row])
    row["train_loss"] = 5.0
    h.append(row)
    assert h.column("train_loss") == [1.0, 5.0]


def test_history_errors():
    with pytest.raises(ConfigError, match="empty"):
        History().last()
    h = History(ROWS)
    with pytest.raises(ConfigError, match="'val_los'"):
        h.column("val_los")
    with pytest.raises(ConfigError, match="'mean'"):
        h.best("val_loss", mode="mean")
    with pytest.raises(ConfigError, match="no values"):
        History([{"val_loss": math.nan}]).best("val_loss")


def test_to_csv_round_trip(tmp_path):
    h = History(ROWS, columns=["epoch", "train_loss", "val_loss"])
    path = h.to_csv(tmp_path / "deep" / "metrics.csv")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == h.columns
        table = list(reader)
    assert [float(r["train_loss"]) for r in table] == h.column("train_loss")
    assert table[1]["val_loss"] == "nan"
    assert table[0]["grad_norm"] == "" and table[3]["val_accuracy"] == ""  # missing: empty cell
    assert [p.name for p in path.parent.iterdir()] == ["metrics.csv"]


def test_plot_writes_one_png_per_quantity(tmp_path):
    paths = History(ROWS).plot(tmp_path)
    assert [p.name for p in paths] == ["loss.png", "accuracy.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)
    assert History().plot(tmp_path / "empty") == []


# ----------------------------------------------------------------------------- accuracy
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
