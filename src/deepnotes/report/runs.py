"""Read run folders: what ``deepnotes run`` and ``deepnotes train`` leave behind.

A run folder holds ``summary.json`` (the marker: a folder without it is not a finished run),
``config.toml``, ``metrics.csv`` (one row per epoch or step), more ``*.csv`` tables and ``*.png``
figures. A lesson run's summary has ``lesson``, ``claim``, ``metrics``, ``figures``, ``tables``
and ``seconds``; a training run's has ``model``, ``data``, ``job``, ``final`` and ``test_*``.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

from deepnotes.errors import DeepnotesError

SUMMARY = "summary.json"
HISTORY = "metrics.csv"
# files a run writes before it finishes: a folder with one of them but no summary.json is a
# run that failed or is still going
PARTIAL_MARKERS = ("config.toml", HISTORY, "checkpoint.safetensors")
MAX_DEPTH = 3  # how deep below a folder argument run folders are looked for

HOW = ("give run folders written by `deepnotes run` or `deepnotes train`, or a folder such as "
       "runs/ that holds them")


@dataclass
class Run:
    """One run folder, read.

    Attributes:
        path: the run folder.
        kind: ``"lesson"`` (``deepnotes run``) or ``"model"`` (``deepnotes train``).
        name: the lesson's name, or the trained model's.
        claim: the lesson's claim in one sentence (for a training run: model and data).
        metrics: the scalar results, in the order the run wrote them.
        config: the configuration, flattened to ``"field"`` / ``"model.field"`` keys.
        versions: library versions and ``git`` revision recorded by the run (may be empty).
        history: ``metrics.csv`` rows, numbers parsed (``None`` for an empty cell).
        tables: name -> rows, from ``summary.json`` and the folder's other ``*.csv`` files.
        figures: the folder's PNG files, the summary's figures first.
        seconds: wall time of the run, when known.
        date: when the run finished (``summary.json``'s modification time, local time).
        concepts: the notes' concept IDs the lesson covers.
        config_text: ``config.toml`` as written (empty when there is none).
    """

    path: Path
    kind: str
    name: str
    claim: str
    metrics: dict[str, Any]
    config: dict[str, Any]
    versions: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)
    seconds: float | None = None
    date: datetime | None = None
    concepts: list[str] = field(default_factory=list)
    config_text: str = ""

    @property
    def git(self) -> str:
        return str(self.versions.get("git", ""))


def is_run_folder(path: Path) -> bool:
    return (path / SUMMARY).is_file()


def _looks_unfinished(path: Path) -> bool:
    return any((path / m).exists() for m in PARTIAL_MARKERS)


def find_runs(args: Iterable[str | Path]) -> tuple[list[Path], list[Path]]:
    """Expand the command's arguments into run folders.

    A run folder stands for itself; any other folder stands for the run folders found below
    it (up to ``MAX_DEPTH`` levels, hidden folders skipped). Returns ``(runs, unfinished)``:
    the run folders in order, each once, and the folders met on the way that look like runs
    that never finished (a ``config.toml`` or ``metrics.csv`` but no ``summary.json``).

    Raises:
        DeepnotesError: an argument does not exist, is a file, or holds no run folder.
    """
    runs: list[Path] = []
    unfinished: list[Path] = []
    seen: set[Path] = set()

    def add(p: Path, into: list[Path]) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            into.append(p)

    for arg in args:
        p = Path(arg)
        if not p.exists():
            raise DeepnotesError(f"{arg} does not exist; {HOW}")
        if not p.is_dir():
            raise DeepnotesError(f"{arg} is a file, not a run folder; {HOW}")
        if is_run_folder(p):
            add(p, runs)
            continue
        found, partial = _walk(p, MAX_DEPTH)
        if not found:
            why = ("it has no summary.json: a run that failed or has not finished"
                   if _looks_unfinished(p) else "it has no summary.json")
            raise DeepnotesError(f"{arg} is not a run folder ({why}) and holds none; {HOW}")
        for q in found:
            add(q, runs)
        for q in partial:
            add(q, unfinished)
    return runs, unfinished


def _walk(folder: Path, depth: int) -> tuple[list[Path], list[Path]]:
    found: list[Path] = []
    partial: list[Path] = []
    if depth <= 0:
        return found, partial
    try:
        children = sorted(c for c in folder.iterdir() if c.is_dir() and not c.name.startswith("."))
    except OSError:
        return found, partial
    for child in children:
        if is_run_folder(child):
            found.append(child)
            continue
        if _looks_unfinished(child):
            partial.append(child)
        sub_found, sub_partial = _walk(child, depth - 1)
        found += sub_found
        partial += sub_partial
    return found, partial


def parse_cell(text: str) -> Any:
    """A CSV cell as the value it was: ``None`` (empty), int, float or the string itself."""
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def read_csv(path: Path) -> list[dict[str, Any]]:
    """The rows of a CSV file with a header line, numbers parsed."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            return [{k: parse_cell(v) for k, v in row.items() if k is not None}
                    for row in csv.DictReader(f)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DeepnotesError(f"cannot read {path} as a CSV table ({exc}); "
                             f"rewrite the run or remove the file") from None


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested tables as one level of dotted keys: ``{"model": {"hidden": 3}}`` ->
    ``{"model.hidden": 3}``. Lists stay values."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def read_run(path: str | Path) -> Run:
    """Read the run folder ``path`` (see the module docstring for what it holds).

    Raises:
        DeepnotesError: ``summary.json`` is missing, is not JSON, or was not written by
            ``deepnotes run`` / ``deepnotes train``; a table or ``config.toml`` cannot be read.
    """
    path = Path(path)
    summary_path = path / SUMMARY
    if not summary_path.is_file():
        raise DeepnotesError(f"{path} is not a run folder (it has no {SUMMARY}); {HOW}")
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DeepnotesError(f"{summary_path} is not valid JSON ({exc}); rerun that run or "
                             f"leave its folder out") from None
    if not isinstance(summary, dict) or not ("lesson" in summary or "job" in summary):
        raise DeepnotesError(f"{summary_path} was not written by `deepnotes run` or "
                             f"`deepnotes train` (no 'lesson' or 'job' key); leave it out")

    config_text, config_data = _read_config(path)
    history = read_csv(path / HISTORY) if (path / HISTORY).is_file() else []
    date = datetime.fromtimestamp(summary_path.stat().st_mtime)
    versions = config_data.pop("versions", {}) if isinstance(config_data.get("versions"),
                                                              dict) else {}
    if "lesson" in summary:
        config_data.pop("lesson", None)
        config = flatten(config_data.get("config", config_data))
        run = Run(path=path, kind="lesson", name=str(summary["lesson"]),
                  claim=str(summary.get("claim") or ""), metrics=dict(summary.get("metrics") or {}),
                  config=config, versions=versions, history=history,
                  seconds=_number(summary.get("seconds")), date=date,
                  concepts=[str(c) for c in summary.get("concepts") or []],
                  config_text=config_text)
        tables = summary.get("tables") or {}
        run.tables = {str(k): list(v) for k, v in tables.items()
                      if isinstance(v, list) and all(isinstance(r, dict) for r in v)}
    else:
        model = summary.get("model") or {}
        name = str(model.get("name", "model")) if isinstance(model, dict) else str(model)
        data = summary.get("data", "?")
        final = summary.get("final") or {}
        metrics: dict[str, Any] = {}
        if "epoch" in final:
            metrics["epochs"] = final["epoch"]
        metrics.update({k: v for k, v in final.items() if k.startswith(("train_", "val_"))})
        metrics.update({k: v for k, v in summary.items() if k.startswith("test_")})
        seconds = [r.get("seconds") for r in history]
        total = sum(s for s in seconds if isinstance(s, (int, float)))
        config = flatten(config_data) if config_data else flatten(
            {"data": data, "model": model, "job": summary.get("job") or {}})
        config.pop("model.name", None)
        run = Run(path=path, kind="model", name=name, claim=f"{name} trained on {data}",
                  metrics=metrics, config=config, versions=versions, history=history,
                  seconds=total if history and any(s is not None for s in seconds) else None,
                  date=date, config_text=config_text)
    for csv_path in sorted(path.glob("*.csv")):
        if csv_path.name != HISTORY and csv_path.stem not in run.tables:
            run.tables[csv_path.stem] = read_csv(csv_path)
    run.figures = _figures(path, summary.get("figures") or [])
    return run


def _read_config(path: Path) -> tuple[str, dict[str, Any]]:
    from deepnotes.config import load_toml

    p = path / "config.toml"
    if not p.is_file():
        return "", {}
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DeepnotesError(f"cannot read {p} ({exc}); rerun that run or leave it out") from None
    return text, load_toml(p)


def _figures(path: Path, named: list[Any]) -> list[Path]:
    """The folder's PNG files: those the summary names first (in its order), then the rest.
    The summary's paths were written relative to where the run was started, so they are
    matched by file name inside the folder."""
    pngs = {p.name: p for p in sorted(path.glob("*.png")) if p.is_file()}
    order = [os.path.basename(str(f)) for f in named]
    first = [pngs[n] for n in dict.fromkeys(order) if n in pngs]
    return first + [p for n, p in pngs.items() if p not in first]


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# words that mark a metric as a result worth a place in the table of runs
KEY_WORDS = ("accuracy", "acc", "ppl", "perplexity", "bleu", "mse", "loss", "error", "gain", "f1",
             "rate", "gap", "ratio", "speedup")
NOT_KEY = ("seconds", "params", "parameters", "examples", "epochs", "steps", "tokens", "chars",
           "size", "threads")


def key_metrics(run: Run, n: int = 4) -> list[tuple[str, Any]]:
    """Up to ``n`` metrics for the table of runs: test results first, then named results
    (accuracy, perplexity, BLEU, loss, ...), then the rest, each group in the run's order."""
    def rank(item: tuple[int, str]) -> tuple[int, int]:
        i, name = item
        words = name.lower().split("_")
        if any(w in NOT_KEY for w in words):
            return 3, i
        if name.startswith("test_"):
            return 0, i
        return (1 if any(w in KEY_WORDS for w in words) else 2), i

    names = [name for _, name in sorted(enumerate(run.metrics), key=rank)]
    return [(k, run.metrics[k]) for k in names[:n]]
