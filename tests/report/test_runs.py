"""Reading run folders: what `deepnotes run` / `deepnotes train` leave behind, and which
folders count as runs."""

import json

import pytest

from deepnotes.errors import DeepnotesError
from deepnotes.report import find_runs, key_metrics, read_run
from deepnotes.report.runs import flatten, parse_cell
from tests.report._runfolders import lesson_run, tiny_png, train_run


def test_lesson_run_is_read_whole(tmp_path):
    folder = lesson_run(tmp_path / "run", seed=1, git="deadbee")
    (folder / "extra.png").write_bytes(tiny_png())
    (folder / "aaa.png").write_bytes(tiny_png())
    (folder / "extra_table.csv").write_text("k,v\nx,1\ny,2.5\n")
    run = read_run(folder)
    assert (run.kind, run.name) == ("lesson", "toy-lesson")
    assert run.claim == "a bigger lr converges faster"
    assert run.metrics == {"test_accuracy": 0.81, "train_seconds": 3.0,
                           "final_loss": pytest.approx(0.2)}
    # config.toml's [config] table, without the lesson name and versions
    assert run.config == {"quick": True, "seed": 1, "threads": 0, "lr": 0.1, "hidden": [8, 4]}
    assert run.git == "deadbee" and run.versions["torch"] == "2.x"
    assert run.seconds == 12.5 and run.concepts == ["B2", "O9"] and run.date is not None
    assert "[config]" in run.config_text
    # metrics.csv, numbers parsed
    assert run.history[0] == {"epoch": 1, "step": 10, "train_loss": 2.0, "val_loss": 2.2,
                              "val_accuracy": 0.6, "seconds": 0.5}
    # the summary's tables first, then the folder's other CSV files, never metrics.csv
    assert list(run.tables) == ["samples", "extra_table"]
    assert run.tables["extra_table"] == [{"k": "x", "v": 1}, {"k": "y", "v": 2.5}]
    # figures: the summary names them with the path of the run's start; matched by file name
    assert [p.name for p in run.figures] == ["curves.png", "aaa.png", "extra.png"]


def test_train_run_is_read_whole(tmp_path):
    run = read_run(train_run(tmp_path / "job", epochs=3))
    assert (run.kind, run.name) == ("model", "mlp")
    assert run.claim == "mlp trained on digits"
    assert run.metrics["epochs"] == 3
    assert run.metrics["test_accuracy"] == 0.61 and run.metrics["val_loss"] == pytest.approx(0.7)
    assert "lr" not in run.metrics and "seconds" not in run.metrics
    assert run.config["job.epochs"] == 3 and run.config["model.config.hidden"] == [32]
    assert run.config["data"] == "digits" and "model.name" not in run.config
    assert run.seconds == pytest.approx(0.75)  # the epochs' seconds added up
    assert run.git == "" and [p.name for p in run.figures] == ["loss.png"]


def test_key_metrics_put_results_before_bookkeeping(tmp_path):
    run = read_run(lesson_run(tmp_path / "r", metrics={
        "train_seconds": 3.0, "parameters": 10.0, "val_ppl": 5.0, "width": 4.0,
        "test_accuracy": 0.9, "bleu": 0.3}))
    assert [k for k, _ in key_metrics(run)] == ["test_accuracy", "val_ppl", "bleu", "width"]
    assert key_metrics(run, n=1) == [("test_accuracy", 0.9)]


def test_find_runs_expands_folders_and_lists_unfinished_runs(tmp_path):
    runs = tmp_path / "runs"
    a = lesson_run(runs / "a")
    b = train_run(runs / "sweep" / "b")
    lesson_run(runs / ".hidden" / "c")
    (runs / "empty").mkdir()
    (runs / "crashed").mkdir()
    (runs / "crashed" / "config.toml").write_text('lesson = "x"\n')
    (runs / "notes.txt").write_text("not a folder")
    found, unfinished = find_runs([runs])
    assert found == [a, b]
    assert unfinished == [runs / "crashed"]
    # a run folder stands for itself; the same folder twice is read once
    assert find_runs([a, runs / "a", runs]) == ([a, b], [runs / "crashed"])


@pytest.mark.parametrize("what, expect", [
    ("missing", "does not exist"),
    ("file", "is a file, not a run folder"),
    ("plain", "is not a run folder (it has no summary.json) and holds none"),
    ("crashed", "a run that failed or has not finished"),
])
def test_find_runs_refuses_what_is_not_a_run(tmp_path, what, expect):
    (tmp_path / "file").write_text("x")
    (tmp_path / "plain" / "sub").mkdir(parents=True)
    (tmp_path / "crashed").mkdir()
    (tmp_path / "crashed" / "metrics.csv").write_text("epoch\n1\n")
    with pytest.raises(DeepnotesError) as err:
        find_runs([tmp_path / what])
    assert expect in str(err.value) and "deepnotes run" in str(err.value)


def test_a_broken_summary_is_one_clear_error(tmp_path):
    folder = lesson_run(tmp_path / "r")
    (folder / "summary.json").write_text("{not json")
    with pytest.raises(DeepnotesError, match="summary.json is not valid JSON"):
        read_run(folder)
    (folder / "summary.json").write_text(json.dumps({"something": "else"}))
    with pytest.raises(DeepnotesError, match="was not written by `deepnotes run`"):
        read_run(folder)
    (folder / "summary.json").unlink()
    with pytest.raises(DeepnotesError, match="is not a run folder"):
        read_run(folder)


def test_a_run_without_config_or_history_still_reads(tmp_path):
    folder = lesson_run(tmp_path / "r", history=[], tables={}, figures=())
    (folder / "config.toml").unlink()
    run = read_run(folder)
    assert run.config == {} and run.history == [] and run.tables == {} and run.figures == []
    assert run.config_text == "" and run.git == ""


def test_cells_and_nested_tables():
    assert [parse_cell(t) for t in ("", "3", "-2.5e-3", "nan", "abc")][:3] == [None, 3, -0.0025]
    assert parse_cell("abc") == "abc" and parse_cell("nan") != parse_cell("nan")  # NaN is a float
    assert flatten({"a": 1, "m": {"c": {"h": [1, 2]}, "d": "x"}}) == {
        "a": 1, "m.c.h": [1, 2], "m.d": "x"}
