"""History (best, column, CSV, curves)."""

from __future__ import annotations

import csv
import math

import pytest

from deepnotes.errors import ConfigError
from deepnotes.train import History

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
