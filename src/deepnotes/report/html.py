"""The report page: one self-contained HTML file (styles inline, figures as ``data:`` URIs,
curves as inline SVG, no script, no network) that opens from ``file://``.

Every piece of text that comes from a run folder (names, claims, config values, table cells,
column names, file names) goes through :func:`html.escape`, so a generated sample that reads
``<script>alert(1)</script>`` shows as those characters and never runs.
"""

from __future__ import annotations

import base64
import json
import math
import os
import tempfile
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

from deepnotes.errors import DeepnotesError
from deepnotes.report.compare import ABSENT, Comparison, compare, delta
from deepnotes.report.curves import charts
from deepnotes.report.runs import Run, key_metrics
from deepnotes.report.svg import line_chart

MAX_TABLE_ROWS = 30  # rows of a table shown in the page (the CSV keeps them all)
MAX_FIGURE_BYTES = 8_000_000  # a larger PNG is named, not embedded
LONG_TEXT = 40  # a string cell longer than this wraps, keeping its line breaks
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f;
       margin: 0 auto; padding: 16px 24px 48px; max-width: 1180px; background: #fafafa; }
h1 { margin: 8px 0 4px; }
h2 { border-bottom: 2px solid #ddd; padding-bottom: 4px; margin-top: 36px; }
h3 { margin: 26px 0 6px; } h4 { margin: 18px 0 6px; color: #444; } h5 { margin: 12px 0 4px; }
section.run, section.comparison { background: #fff; border: 1px solid #e2e2e2; border-radius: 6px;
       padding: 4px 18px 14px; margin: 16px 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 4px 0 8px; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f1f3f6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.text { white-space: pre-wrap; min-width: 16em; max-width: 60em; font-family: ui-monospace,
          "DejaVu Sans Mono", monospace; font-size: 12px; }
table.runs td.claim { max-width: 34em; }
.delta { color: #555; font-size: 12px; }
.muted { color: #666; }
pre { background: #f6f8fa; border: 1px solid #e2e2e2; padding: 8px; overflow-x: auto;
      white-space: pre-wrap; }
.charts { display: flex; flex-wrap: wrap; gap: 10px; }
svg.chart { border: 1px solid #e2e2e2; background: #fff; }
figure { margin: 8px 0 14px; } figure img { max-width: 100%; border: 1px solid #e2e2e2; }
figcaption { color: #666; font-size: 12px; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; margin: 6px 0; }
dl.meta dt { color: #666; } dl.meta dd { margin: 0; }
"""


# ----------------------------------------------------------------------------- text

def fmt(v: Any) -> str:
    """A value as plain text (not yet escaped): floats to 6 significant digits, lists and
    dicts as JSON, a missing value as an em dash."""
    if v is ABSENT:
        return "—"
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v, ensure_ascii=False, default=str)
    return str(v)


def cell(v: Any, tag: str = "td") -> str:
    """One escaped table cell; numbers align right, long text wraps and keeps line breaks."""
    text = escape(fmt(v))
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return f'<{tag} class="num">{text}</{tag}>'
    if isinstance(v, str) and (len(v) > LONG_TEXT or "\n" in v):
        return f'<{tag} class="text">{text}</{tag}>'
    return f"<{tag}>{text}</{tag}>"


def duration(seconds: float | None) -> str:
    """``0.04 s``, ``12.3 s``, ``4 min 05 s`` or ``1 h 02 min``."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def labels(runs: list[Run]) -> list[str]:
    """A short unique name per run: the folder's name, with as many parent folders as it
    takes to tell two runs apart."""
    parts = [r.path.resolve().parts for r in runs]
    out = []
    for p in parts:
        n = 1
        while n < len(p) and sum(q[-n:] == p[-n:] for q in parts) > 1:
            n += 1
        out.append("/".join(p[-n:]))
    return out


def table(rows: list[dict[str, Any]], limit: int = MAX_TABLE_ROWS) -> str:
    """``rows`` as an HTML table whose columns are every key of every row, in first-seen
    order; at most ``limit`` rows, with a note saying how many were left out."""
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    head = "".join(f"<th>{escape(str(k))}</th>" for k in keys)
    body = "\n".join("<tr>" + "".join(cell(r.get(k)) for k in keys) + "</tr>"
                     for r in rows[:limit])
    note = (f'<p class="muted">first {limit} of {len(rows)} rows shown</p>'
            if len(rows) > limit else "")
    return f'<div class="scroll"><table><tr>{head}</tr>\n{body}</table></div>{note}'


def key_value_table(items: list[tuple[str, Any]], head: tuple[str, str]) -> str:
    rows = "\n".join(f"<tr><th>{escape(str(k))}</th>{cell(v)}</tr>" for k, v in items)
    return (f'<div class="scroll"><table><tr><th>{escape(head[0])}</th>'
            f"<th>{escape(head[1])}</th></tr>\n{rows}</table></div>")


# ----------------------------------------------------------------------------- sections

def _kind_name(run: Run) -> str:
    return f"{'lesson' if run.kind == 'lesson' else 'model'} {run.name}"


def runs_table(runs: list[Run], names: list[str]) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("run", "lesson / model", "claim", "key metrics",
                                             "time", "date", "git"))
    rows = []
    for i, (r, label) in enumerate(zip(runs, names), 1):
        metrics = "<br>".join(f"{escape(k)} = {escape(fmt(v))}" for k, v in key_metrics(r))
        rows.append(
            f'<tr><td><a href="#run-{i}">{escape(label)}</a></td><td>{escape(_kind_name(r))}</td>'
            f'<td class="claim">{escape(r.claim)}</td><td>{metrics}</td>'
            f'<td class="num">{escape(duration(r.seconds))}</td>'
            f"<td>{escape(r.date.strftime('%Y-%m-%d %H:%M') if r.date else '—')}</td>"
            f"<td>{escape(r.git or '—')}</td></tr>")
    return f'<div class="scroll"><table class="runs"><tr>{head}</tr>\n' + "\n".join(rows) + \
        "</table></div>"


def comparison_section(c: Comparison, runs: list[Run], names: list[str]) -> str:
    index = {id(r): i for i, r in enumerate(runs)}
    cols = [(index[id(r)] + 1, names[index[id(r)]]) for r in c.runs]
    head = "".join(f'<th><a href="#run-{i}">{escape(n)}</a>{" (baseline)" if j == 0 else ""}</th>'
                   for j, (i, n) in enumerate(cols))
    out = [f'<section class="comparison"><h3>{escape(_kind_name(c.runs[0]))}: '
           f"{len(c.runs)} runs</h3>", "<h4>Config differences</h4>"]
    if c.config_rows:
        rows = "\n".join(f"<tr><th>{escape(k)}</th>" + "".join(cell(v) for v in values) + "</tr>"
                         for k, values in c.config_rows)
        out.append(f'<div class="scroll"><table><tr><th>field</th>{head}</tr>\n{rows}'
                   f"</table></div>")
    else:
        out.append('<p class="muted">The runs have the same config.</p>')
    out.append("<h4>Metrics (Δ against the baseline)</h4>")
    if c.metric_rows:
        rows = []
        for k, values in c.metric_rows:
            cells = [cell(values[0])]
            for v in values[1:]:
                d = delta(values[0], v)
                if d is None:
                    cells.append(cell(v))
                    continue
                rel = f", {d[1]:+.1%}" if d[1] is not None else ""
                cells.append(f'<td class="num">{escape(fmt(v))} <span class="delta">'
                             f"({escape(f'{d[0]:+.4g}{rel}')})</span></td>")
            rows.append(f"<tr><th>{escape(k)}</th>{''.join(cells)}</tr>")
        out.append(f'<div class="scroll"><table><tr><th>metric</th>{head}</tr>\n'
                   + "\n".join(rows) + "</table></div>")
    else:
        out.append('<p class="muted">The runs recorded no metrics.</p>')
    out.append("</section>")
    return "\n".join(out)


def figure(path: Path) -> str:
    name = escape(path.name)
    try:
        data = path.read_bytes() if path.stat().st_size <= MAX_FIGURE_BYTES else None
    except OSError as exc:
        return f'<p class="muted">{name}: cannot be read ({escape(str(exc))})</p>'
    if data is None:
        return f'<p class="muted">{name}: larger than {MAX_FIGURE_BYTES:,} bytes, not embedded</p>'
    if not data.startswith(PNG_SIGNATURE):
        return f'<p class="muted">{name}: not a PNG image, not embedded</p>'
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return f'<figure><img src="{uri}" alt="{name}"><figcaption>{name}</figcaption></figure>'


def run_section(run: Run, number: int, label: str) -> str:
    out = [f'<section class="run" id="run-{number}"><h3>{number}. {escape(label)} '
           f'<span class="muted">— {escape(_kind_name(run))}</span></h3>']
    if run.claim:
        out.append(f"<p><strong>{escape(run.claim)}</strong></p>")
    meta = [("folder", str(run.path)),
            ("finished", run.date.strftime("%Y-%m-%d %H:%M:%S") if run.date else "—"),
            ("time", duration(run.seconds)), ("git", run.git or "—")]
    others = ", ".join(f"{k} {v}" for k, v in run.versions.items() if k != "git")
    if others:
        meta.append(("versions", others))
    if run.concepts:
        meta.append(("notes' concepts", ", ".join(run.concepts)))
    out.append('<dl class="meta">' + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>"
                                             for k, v in meta) + "</dl>")
    if run.metrics:
        out += ["<h4>Metrics</h4>", key_value_table(list(run.metrics.items()),
                                                    ("metric", "value"))]
    out.append("<h4>Config</h4>")
    if run.config:
        out.append(key_value_table(list(run.config.items()), ("field", "value")))
    else:
        out.append('<p class="muted">no config.toml</p>')
    if run.config_text:
        out.append(f"<details><summary>config.toml</summary><pre>{escape(run.config_text)}"
                   f"</pre></details>")
    drawn = [line_chart(c.series, c.title, c.xlabel) for c in charts(run.history)]
    drawn = [d for d in drawn if d]
    if drawn:
        out += ["<h4>Curves <span class=\"muted\">(metrics.csv)</span></h4>",
                '<div class="charts">' + "\n".join(drawn) + "</div>"]
    if run.figures:
        out += ["<h4>Figures</h4>"] + [figure(p) for p in run.figures]
    if run.tables:
        out.append("<h4>Tables</h4>")
        for name, rows in run.tables.items():
            out.append(f"<h5>{escape(name)} <span class=\"muted\">({len(rows)} rows)</span></h5>")
            out.append(table(rows) if rows else '<p class="muted">empty</p>')
    out.append("</section>")
    return "\n".join(out)


# ----------------------------------------------------------------------------- the page

def render_report(runs: list[Run], title: str = "deepnotes report") -> str:
    """The whole page for ``runs``, as text."""
    import deepnotes

    names = labels(runs)
    comparisons = compare(runs)
    when = datetime.now().strftime("%Y-%m-%d %H:%M")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{escape(title)} — {len(runs)} runs</title>",
             f"<style>{STYLE}</style></head><body>",
             f"<h1>{escape(title)}</h1>",
             f'<p class="muted">{len(runs)} runs, written {escape(when)} by deepnotes '
             f"{escape(deepnotes.__version__)}.</p>",
             "<h2>Runs</h2>", runs_table(runs, names)]
    if comparisons:
        parts.append("<h2>Comparisons</h2>")
        parts += [comparison_section(c, runs, names) for c in comparisons]
    parts.append("<h2>Run details</h2>")
    parts += [run_section(r, i, n) for i, (r, n) in enumerate(zip(runs, names), 1)]
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_report(runs: list[Run], out: str | Path, title: str = "deepnotes report") -> Path:
    """Write the page for ``runs`` to ``out`` (atomically: a reader never sees half a page).

    Raises:
        DeepnotesError: ``out`` is a folder or cannot be written.
    """
    out = Path(out)
    if out.is_dir():
        raise DeepnotesError(f"--out {out} is a folder; give the path of an .html file")
    text = render_report(runs, title)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.chmod(tmp, 0o644)
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise DeepnotesError(f"cannot write the report {out} ({exc.strerror or exc}); "
                             f"choose another --out") from None
    return out


def sort_runs(runs: list[Run]) -> list[Run]:
    """Oldest first (the first run of a lesson is its comparison's baseline)."""
    return sorted(runs, key=lambda r: (r.date or datetime.min, str(r.path)))

