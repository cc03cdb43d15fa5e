"""Per-epoch training records: a list of rows with CSV export and loss/metric curves.

Notes: B2 (training loss vs validation loss), G1 (the gap between them).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from deepnotes.errors import ConfigError


class History:
    """Rows of ``{"epoch", "step", "train_loss", "val_loss", ..., "lr", "seconds", ...}``.

    Args:
        rows: initial rows (default: empty).
        columns: preferred column order for CSV; keys seen in rows but not listed are appended.

    Example:
        >>> h = History([{"epoch": 1, "val_loss": 0.5}, {"epoch": 2, "val_loss": 0.3}])
        >>> h.best("val_loss")["epoch"], h.column("val_loss")
        (2, [0.5, 0.3])
    """

    def __init__(self, rows: Sequence[dict[str, Any]] | None = None,
                 columns: Sequence[str] | None = None) -> None:
        self.rows: list[dict[str, Any]] = [dict(r) for r in rows or ()]
        self._columns = list(columns or ())

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __repr__(self) -> str:
        return f"History({len(self.rows)} rows, columns={self.columns})"

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(dict(row))

    @property
    def columns(self) -> list[str]:
        """Declared columns first, then any other key in the rows, in first-seen order."""
        cols = list(self._columns)
        for row in self.rows:
            cols.extend(k for k in row if k not in cols)
        return cols

    def last(self) -> dict[str, Any]:
        """The most recent row."""
        if not self.rows:
            raise ConfigError("the history is empty: no epoch has finished yet (call fit() first)")
        return self.rows[-1]

    def column(self, name: str) -> list[float]:
        """Values of ``name`` per row (NaN where a row has none, e.g. an epoch without validation)."""
        if name not in self.columns:
            raise ConfigError(f"no column {name!r} in the history; columns are {', '.join(self.columns)}")
        return [row.get(name, math.nan) for row in self.rows]

    def best(self, key: str, mode: str = "min") -> dict[str, Any]:
        """The row where ``key`` is smallest (``mode="min"``) or largest (``"max"``); NaN rows skipped."""
        if mode not in ("min", "max"):
            raise ConfigError(f"mode must be 'min' or 'max', got {mode!r}")
        values = [(v, i) for i, v in enumerate(self.column(key))
                  if v is not None and not (isinstance(v, float) and math.isnan(v))]
        if not values:
            raise ConfigError(f"column {key!r} has no values yet")
        pick = min if mode == "min" else max
        return self.rows[pick(values, key=lambda vi: vi[0])[1]]

    def to_csv(self, path: str | Path) -> Path:
        """Write all rows with a header line; rows missing a column leave the cell empty."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns, restval="")
            writer.writeheader()
            writer.writerows(self.rows)
        tmp.replace(path)
        return path

    def metric_names(self) -> list[str]:
        """Names ``m`` that appear as ``train_m``/``val_m`` columns other than the loss."""
        names: list[str] = []
        for col in self.columns:
            for prefix in ("train_", "val_"):
                if col.startswith(prefix) and col[len(prefix):] != "loss":
                    name = col[len(prefix):]
                    if name not in names:
                        names.append(name)
        return names

    def plot(self, out_dir: str | Path) -> list[Path]:
        """Save ``loss.png`` (train and validation loss per epoch) and one ``<metric>.png`` each.

        Uses matplotlib's Agg canvas directly, so no display and no pyplot global state.
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        if not self.rows:
            return []
        epochs = [row.get("epoch", i + 1) for i, row in enumerate(self.rows)]
        paths = []
        for name in ["loss", *self.metric_names()]:
            cols = [c for c in (f"train_{name}", f"val_{name}") if c in self.columns]
            if not cols:
                continue
            fig = Figure(figsize=(5, 3.5))
            FigureCanvasAgg(fig)
            ax = fig.add_subplot()
            for col in cols:
                ax.plot(epochs, self.column(col), marker="o", markersize=3,
                        label=col.replace("_", " ", 1))
            ax.set_xlabel("epoch")
            ax.set_ylabel(name)
            ax.grid(alpha=0.3)
            ax.legend()
            fig.tight_layout()
            path = out_dir / f"{name}.png"
            fig.savefig(path, dpi=100)
            paths.append(path)
        return paths


__all__ = ["History"]
