"""The static HTML report over run folders (``deepnotes report runs/ --out report.html``).

``find_runs`` expands folder arguments into run folders, ``read_run`` reads one
(:mod:`deepnotes.report.runs`), ``compare`` lines up runs of the same lesson
(:mod:`deepnotes.report.compare`), and ``write_report`` writes one self-contained page — curves
drawn as inline SVG (:mod:`deepnotes.report.svg`), figures embedded as ``data:`` URIs, every
text escaped, no script and no network (:mod:`deepnotes.report.html`).

Example:
    >>> from deepnotes.report import find_runs, read_run, sort_runs, write_report
    >>> folders, unfinished = find_runs(["runs"])  # doctest: +SKIP
    >>> write_report(sort_runs([read_run(p) for p in folders]), "report.html")  # doctest: +SKIP
"""

from deepnotes.report.compare import Comparison, compare
from deepnotes.report.html import render_report, sort_runs, write_report
from deepnotes.report.runs import Run, find_runs, key_metrics, read_run

__all__ = ["Comparison", "Run", "compare", "find_runs", "key_metrics", "read_run",
           "render_report", "sort_runs", "write_report"]
