"""The report page: escaping of everything a run folder holds, curves, comparisons, the
command line."""

import math
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from deepnotes.config import load_toml, save_toml
from deepnotes.errors import DeepnotesError
from deepnotes.report import compare, read_run, render_report, sort_runs, write_report
from deepnotes.report.compare import ABSENT, delta
from deepnotes.report.curves import charts
from deepnotes.report.html import cell, duration, fmt, labels, table
from deepnotes.report.svg import line_chart, nice_ticks
from tests.report._runfolders import SCRIPT, lesson_run, tiny_png, train_run

EVIL = '<img src=x onerror="alert(2)">'
FILE_EVIL = "<img src=x onerror=alert(3)>"  # markup that can be a file name (no "/")


class Page(HTMLParser):
    """Tags, attributes and text of a page, as a browser's tokenizer sees them."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.texts: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs

    def handle_data(self, data):
        self.texts.append(data)

    @property
    def text(self) -> str:
        return "".join(self.texts)


def evil_run(tmp_path):
    """A run whose every text field carries markup."""
    folder = lesson_run(
        tmp_path / "runs" / "evil<b>run", lesson="toy<i>", claim=f"claim {EVIL}",
        metrics={f"m{SCRIPT}": 1.0, "test_accuracy": 0.5},
        tables={"samples": [{"prefix": "a & b", "text": f"line one\n{SCRIPT}"}],
                f"t{FILE_EVIL}": [{f"col{SCRIPT}": f"{EVIL}"}]},
        history=[{"epoch": e, f"loss{SCRIPT}": 1.0 / e, "model": SCRIPT} for e in (1, 2)],
        figures=(f"fig{FILE_EVIL}.png",))
    config = load_toml(folder / "config.toml")
    config["config"]["note"] = EVIL
    save_toml(config, folder / "config.toml")
    return read_run(folder)


def test_every_text_from_a_run_is_escaped(tmp_path):
    run = evil_run(tmp_path)
    other = read_run(lesson_run(tmp_path / "runs" / "plain", lesson="toy<i>"))
    page_text = render_report([run, other], title=f"T{SCRIPT}")
    page = Page(page_text)
    assert "script" not in page.tags and page.tags.count("img") == 2  # two PNG figures
    assert not [a for a, _ in page.attrs if a.startswith("on")]  # no event handler attributes
    for shown in (SCRIPT, EVIL, "evil<b>run", "toy<i>", f"m{SCRIPT}", f"col{SCRIPT}",
                  f"t{FILE_EVIL}", f"fig{FILE_EVIL}.png", f"line one\n{SCRIPT}", "a & b",
                  f"T{SCRIPT}",
                  f"{SCRIPT} loss{SCRIPT}"):  # the last: a curve's legend (label + column)
        assert shown in page.text, shown
    assert "<script" not in page_text.lower() and "<b>" not in page_text
    # self-contained: nothing is fetched, nothing runs
    assert not re.search(r'(src|href)="(?!data:|#)', page_text)
    assert "url(" not in page_text and "<link" not in page_text


def test_page_lists_runs_and_compares_runs_of_one_lesson(tmp_path):
    a = read_run(lesson_run(tmp_path / "a", seed=0, lr=0.1))
    b = read_run(lesson_run(tmp_path / "b", seed=1, lr=0.1))
    t = read_run(train_run(tmp_path / "t"))
    page = Page(render_report([a, b, t]))
    text = page.text
    assert "lesson toy-lesson: 2 runs" in text and "model mlp: 2 runs" not in text
    assert text.count("a bigger lr converges faster") == 4  # runs table + run sections
    assert "mlp trained on digits" in text
    # config differences: only the seed; metric deltas against the first run
    (c,) = compare([a, b, t])
    assert c.config_rows == [("seed", [0, 1])]
    assert dict(c.metric_rows)["final_loss"] == [pytest.approx(0.3), pytest.approx(0.2)]
    assert "0.2 (-0.1, -33.3%)" in text
    assert page.tags.count("svg") == 2 + 2 + 3  # lessons: loss, accuracy; training: + lr
    assert ["run-1", "run-2", "run-3"] == [v for k, v in page.attrs if k == "id"]


def test_compare_marks_keys_one_run_lacks():
    from deepnotes.report.runs import Run

    r1 = Run(path=None, kind="lesson", name="x", claim="", metrics={"a": 1.0}, config={"k": 1})
    r2 = Run(path=None, kind="lesson", name="x", claim="", metrics={"b": 2.0}, config={"k": 1})
    (c,) = compare([r1, r2])
    assert c.config_rows == []
    assert c.metric_rows == [("a", [1.0, ABSENT]), ("b", [ABSENT, 2.0])]
    assert delta(0.5, 0.75) == (0.25, 0.5) and delta(0, 2) == (2, None)
    assert delta(1.0, ABSENT) is None and delta(1.0, math.inf) is None and delta("a", 1) is None


def test_curves_group_columns_and_split_labelled_rows():
    rows = [{"epoch": e, "step": 5 * e, "train_loss": 1 / e, "val_loss": None if e == 2 else 2 / e,
             "val_accuracy": 0.1 * e, "seconds": 1.0} for e in (1, 2, 3)]
    (loss, acc) = charts(rows)
    assert (loss.title, loss.xlabel) == ("loss", "epoch") and acc.title == "accuracy"
    assert loss.series["val_loss"] == ([1, 3], [2.0, 2 / 3])  # the empty cell is left out
    labelled = [{"model": m, "epoch": e, "val_ppl": e * k} for m, k in (("rnn", 1), ("gru", 2))
                for e in (1, 2)]
    (ppl,) = charts(labelled)
    assert ppl.series == {"rnn val_ppl": ([1, 2], [1, 2]), "gru val_ppl": ([1, 2], [2, 4])}
    restarted = [{"step": s, "mse": float(s)} for s in (0, 1, 2, 0, 1)]
    (mse,) = charts(restarted)
    assert list(mse.series) == ["part 1 mse", "part 2 mse"]
    assert charts([{"x_value": i, "y_value": 2.0 * i} for i in range(3)])[0].xlabel == "row"


def test_line_chart_escapes_and_picks_its_scale():
    svg = line_chart({SCRIPT: ([0, 1, 2], [1.0, 1e6, math.inf])}, f"t{SCRIPT}", "x<y")
    assert "<script" not in svg and "&lt;script&gt;" in svg and "x&lt;y" in svg
    assert "log scale" in svg and "1e6" in svg  # positive values over 3 decades: log10 axis
    plain = line_chart({"a": ([0, 1], [0.0, 1.0])}, "t", "x")
    assert "log scale" not in plain and plain.count("<polyline") == 1
    many = line_chart({"a": (list(range(1000)), [float(i) for i in range(1000)])}, "t", "x",
                      max_points=100)
    assert len(re.search(r'points="([^"]*)"', many).group(1).split()) <= 101
    assert line_chart({"a": ([0, 1], [math.nan, None])}, "t", "x") == ""
    assert nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(3, 97) == [20, 40, 60, 80]


def test_cells_tables_and_names():
    assert fmt(1 / 3) == "0.333333" and fmt(True) == "true" and fmt([1, "a"]) == '[1, "a"]'
    assert fmt(None) == "" and fmt(ABSENT) == "—"
    assert cell(2.5) == '<td class="num">2.5</td>'
    assert cell("x" * 50).startswith('<td class="text">') and cell("a<b") == "<td>a&lt;b</td>"
    html = table([{"a": i} for i in range(40)], limit=5)
    assert html.count("<tr>") == 6 and "first 5 of 40 rows shown" in html
    assert duration(0.043) == "0.04 s" and duration(75) == "1 min 15 s"
    assert duration(3725) == "1 h 02 min" and duration(None) == "—"


def test_labels_tell_runs_with_one_folder_name_apart(tmp_path):
    a = read_run(lesson_run(tmp_path / "x" / "mlp"))
    b = read_run(lesson_run(tmp_path / "y" / "mlp"))
    c = read_run(lesson_run(tmp_path / "y" / "other"))
    assert labels([a, b, c]) == ["x/mlp", "y/mlp", "other"]


def test_write_report_is_atomic_and_refuses_a_folder(tmp_path):
    runs = sort_runs([read_run(train_run(tmp_path / "t"))])
    out = write_report(runs, tmp_path / "deep" / "er" / "r.html")
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert [p.name for p in out.parent.iterdir()] == ["r.html"]  # no temporary file left
    with pytest.raises(DeepnotesError, match="is a folder"):
        write_report(runs, tmp_path)


def deepnotes(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "deepnotes.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def test_cli_report_writes_the_page_and_warns_of_unfinished_runs(tmp_path):
    lesson_run(tmp_path / "runs" / "a")
    train_run(tmp_path / "runs" / "b")
    (tmp_path / "runs" / "broken").mkdir()
    (tmp_path / "runs" / "broken" / "config.toml").write_text("x = 1\n")
    p = deepnotes("report", "--out", "out/report.html", cwd=tmp_path)  # default: runs/
    assert p.returncode == 0, p.stderr
    assert "report of 2 run(s): out/report.html" in p.stdout
    assert "left out 1 folder(s) without summary.json" in p.stderr and "broken" in p.stderr
    text = (tmp_path / "out" / "report.html").read_text()
    assert "toy-lesson" in text and "mlp trained on digits" in text


@pytest.mark.parametrize("setup, expect", [
    ("plain", "is not a run folder (it has no summary.json) and holds none"),
    ("missing", "does not exist"),
])
def test_cli_report_on_a_folder_without_runs_is_one_sentence(tmp_path, setup, expect):
    if setup == "plain":
        (tmp_path / "plain").mkdir()
        (tmp_path / "plain" / "x.png").write_bytes(tiny_png())
    p = deepnotes("report", setup, "--out", "r.html", cwd=tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and expect in lines[0] and lines[0].startswith("deepnotes: error:")
    assert not (tmp_path / "r.html").exists()
