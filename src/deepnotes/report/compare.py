"""Compare runs of the same lesson (or of the same model): what differs in their configs and
how far their metrics moved.

The first run of a group (the oldest) is the baseline; for a numeric metric every other run
gets ``Δ = value − baseline`` and, when the baseline is not 0, ``Δ / |baseline|``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deepnotes.report.runs import Run, is_number


class _Absent:
    """A key one run has and another lacks."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


@dataclass
class Comparison:
    """Runs of one lesson or model, side by side.

    Attributes:
        kind, name: what the runs share (``"lesson"``/``"model"`` and its name).
        runs: the runs, baseline first.
        config_rows: ``(key, values per run)`` for each config field whose values differ.
        metric_rows: ``(metric, values per run)`` for every metric any run has.
    """

    kind: str
    name: str
    runs: list[Run]
    config_rows: list[tuple[str, list[Any]]]
    metric_rows: list[tuple[str, list[Any]]]


def _union(dicts: list[dict[str, Any]]) -> list[str]:
    keys: list[str] = []
    for d in dicts:
        keys += [k for k in d if k not in keys]
    return keys


def compare(runs: list[Run]) -> list[Comparison]:
    """One :class:`Comparison` per lesson or model that has two runs or more, in the order
    their first run appears in ``runs``."""
    groups: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.kind, r.name), []).append(r)
    out = []
    for (kind, name), members in groups.items():
        if len(members) < 2:
            continue
        configs = [m.config for m in members]
        config_rows = []
        for key in _union(configs):
            values = [c.get(key, ABSENT) for c in configs]
            if any(v != values[0] for v in values[1:]):
                config_rows.append((key, values))
        metrics = [m.metrics for m in members]
        metric_rows = [(key, [m.get(key, ABSENT) for m in metrics]) for key in _union(metrics)]
        out.append(Comparison(kind, name, members, config_rows, metric_rows))
    return out


def delta(base: Any, value: Any) -> tuple[float, float | None] | None:
    """``(value − base, (value − base) / |base|)`` for two finite numbers (the relative change
    is None when ``base`` is 0); None when either is not a finite number.

    Example:
        >>> delta(0.5, 0.55)
        (0.050000000000000044, 0.10000000000000009)
    """
    if not (is_number(base) and is_number(value)):
        return None
    d = value - base
    return d, (d / abs(base) if base != 0 else None)
