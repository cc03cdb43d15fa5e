"""From a run's ``metrics.csv`` rows to the curves worth drawing.

The x axis is the first of ``epoch``, ``step``, ``iteration`` the rows have (else the row
number). Columns that measure the same quantity share a chart: ``train_loss`` and ``val_loss``
(both hold the word ``loss``), ``small_val_accuracy`` and ``large_val_accuracy``. A column of
text (``model``, ``run``) labels the rows instead: each of its values gets its own series. Rows
whose x goes back (several trainings written one after another, with no label) are split into
parts 1, 2, ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deepnotes.report.runs import is_number
from deepnotes.report.svg import Series

X_COLUMNS = ("epoch", "step", "iteration", "iter")
# bookkeeping columns that are not results
SKIP = {"seconds", "examples_per_sec", "time", "wall_seconds", "elapsed"}
# a column holding one of these words (split on "_") joins that word's chart
GROUP_WORDS = ("loss", "accuracy", "acc", "ppl", "perplexity", "bleu", "mse", "lr", "error",
               "norm", "f1", "rate")
MAX_CHARTS = 8


@dataclass
class Chart:
    title: str
    xlabel: str
    series: Series


def _group(column: str) -> str:
    words = column.lower().split("_")
    return next((w for w in GROUP_WORDS if w in words), column)


def charts(rows: list[dict[str, Any]], most: int = MAX_CHARTS) -> list[Chart]:
    """The charts for ``rows`` (see the module docstring), at most ``most`` of them."""
    if not rows:
        return []
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    texts = [c for c in columns
             if any(isinstance(r.get(c), str) for r in rows)]
    numeric = [c for c in columns if c not in texts
               and any(is_number(r.get(c)) for r in rows)]
    xcol = next((c for c in X_COLUMNS if c in numeric), None)
    label = texts[0] if texts else None
    # split the rows into named parts
    parts: dict[str, list[tuple[float, dict[str, Any]]]] = {}
    if label is not None:
        for i, r in enumerate(rows):
            x = r.get(xcol) if xcol else i + 1
            parts.setdefault(str(r.get(label) or "?"), []).append((x, r))
    else:
        k, prev = 1, None
        for i, r in enumerate(rows):
            x = r.get(xcol) if xcol else i + 1
            if is_number(x) and prev is not None and x < prev:
                k += 1
            prev = x if is_number(x) else prev
            parts.setdefault(f"part {k}", []).append((x, r))
        if len(parts) == 1:
            parts = {"": parts["part 1"]}
    ycols = [c for c in numeric if c != xcol and c not in SKIP
             and not (xcol == "epoch" and c == "step")]
    groups: dict[str, list[str]] = {}
    for c in ycols:
        groups.setdefault(_group(c), []).append(c)
    out = []
    for title, cols in list(groups.items())[:most]:
        series: Series = {}
        for part, pts in parts.items():
            for c in cols:
                kept = [(x, r[c]) for x, r in pts if is_number(x) and is_number(r.get(c))]
                if kept:
                    series[f"{part} {c}".strip()] = ([x for x, _ in kept], [y for _, y in kept])
        if series:
            out.append(Chart(title=title, xlabel=xcol or "row", series=series))
    return out
