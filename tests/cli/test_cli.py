"""The command line, through a subprocess as a user runs it."""

import json
import subprocess
import sys

import pytest


def deepnotes(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "deepnotes.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


def _one_clean_line(p):
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, p.stderr
    return lines[0]


def test_list_shows_models_datasets_lessons():
    p = deepnotes("list")
    assert p.returncode == 0, p.stderr
    for word in ("models — regression", "mlp", "datasets:", "fashion-mnist", "lessons:",
                 "k-fold"):
        assert word in p.stdout


def test_b1_list_models_groups_them_by_task():
    from deepnotes.models import MODELS, TASK_OF, TASKS

    # every built-in model has a kind of task, and the listing shows each under it
    assert {e.name for e in MODELS.entries()} <= set(TASK_OF)
    assert set(TASK_OF.values()) == set(TASKS)
    p = deepnotes("list", "models")
    assert p.returncode == 0, p.stderr
    heads = [ln for ln in p.stdout.splitlines() if ln.startswith("models — ")]
    assert [h.split(" — ")[1].split(":")[0] for h in heads] == list(TASKS)
    section = p.stdout.split("models — structured output")[1].split("models — ")[0]
    assert "transformer-mt" in section and "lenet " not in section


def test_run_quick_writes_a_run_folder(tmp_path):
    out = tmp_path / "run"
    p = deepnotes("run", "linear-regression", "--quick", "--set", "seed=1", "--out", str(out))
    assert p.returncode == 0, p.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["lesson"] == "linear-regression"
    assert summary["metrics"]["closed_form_mse"] > 0
    assert "seed = 1" in (out / "config.toml").read_text()
    assert (out / "metrics.csv").read_text().startswith("step,")
    assert (out / "lr_curves.png").stat().st_size > 1000


def test_unknown_lesson_is_one_sentence_with_a_suggestion():
    line = _one_clean_line(deepnotes("run", "softmax-regresion"))
    assert "unknown lesson 'softmax-regresion'" in line and "softmax-regression" in line


@pytest.mark.parametrize("bad, expect", [
    ("epochs=many", "not an integer"),
    ("nosuchfield=1", "unknown setting 'nosuchfield'"),
    ("epochs", "field=value"),
])
def test_bad_set_values_are_one_sentence(bad, expect):
    line = _one_clean_line(deepnotes("run", "mlp", "--set", bad))
    assert expect in line


def test_train_eval_resume_on_digits(tmp_path):
    out = tmp_path / "job"
    p = deepnotes("train", "softmax-regression", "--data", "digits", "--out", str(out),
                  "--set", "epochs=3", "--set", "lr=0.05", "--set", "batch_size=64")
    assert p.returncode == 0, p.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["final"]["epoch"] == 3
    assert (out / "checkpoint.safetensors").is_file() and (out / "metrics.csv").is_file()

    p = deepnotes("eval", str(out / "checkpoint.safetensors"), "--split", "train")
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout)
    assert result["accuracy"] > 0.8

    p = deepnotes("train", "softmax-regression", "--data", "digits", "--out", str(out), "--resume",
                  "--set", "epochs=5", "--set", "lr=0.05", "--set", "batch_size=64")
    assert p.returncode == 0, p.stderr
    assert json.loads((out / "summary.json").read_text())["final"]["epoch"] == 5


def test_train_model_config_override_and_unknown_data(tmp_path):
    p = deepnotes("train", "mlp", "--data", "digits", "--out", str(tmp_path / "m"),
                  "--set", "epochs=1", "--set", "model.hidden=16,8")
    assert p.returncode == 0, p.stderr
    assert json.loads((tmp_path / "m" / "summary.json").read_text())["model"]["config"]["hidden"] == [16, 8]
    line = _one_clean_line(deepnotes("train", "mlp", "--data", "fashion-mnsit"))
    assert "fashion-mnist" in line


def test_corrupted_checkpoint_is_one_sentence(tmp_path):
    out = tmp_path / "job"
    assert deepnotes("train", "softmax-regression", "--data", "digits", "--out", str(out),
                     "--set", "epochs=1").returncode == 0
    ck = out / "checkpoint.safetensors"
    ck.write_bytes(ck.read_bytes()[:100])
    line = _one_clean_line(deepnotes("eval", str(ck)))
    assert "checkpoint" in line


def _dataset_kinds():
    from deepnotes import data

    return {info.name: info.kind for info in data.entries()}


def test_data_status_lists_every_dataset():
    p = deepnotes("data", "status")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    kinds = _dataset_kinds()
    assert len(lines) == len(kinds)
    for line, (name, kind) in zip(lines, sorted(kinds.items())):
        mark, shown, shown_kind, where = line.split(maxsplit=3)
        assert (mark in ("ok", "--"), shown, shown_kind) == (True, name, kind)
        assert mark == "ok" or where.startswith("missing: ")
    for name in ("austen", "reviews-zh", "pos-zh", "bible-en-es", "toy-en-es", "sample"):
        assert name in kinds


def test_list_datasets_shows_every_dataset_with_its_kind():
    p = deepnotes("list", "datasets")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "datasets:"
    shown = {line.split()[0]: line.split()[1] for line in lines[1:]}
    assert shown == _dataset_kinds()
    assert shown["austen"] == "text" and shown["toy-en-es"] == "parallel"


def test_data_get_every_kind_of_source():
    # none of these downloads anything or runs an external tool
    for name, said in (("sample", "sample ships with deepnotes; nothing to download."),
                       ("toy-en-es", "toy-en-es is generated from a seed when loaded; "
                                     "nothing to download."),
                       ("synthetic-linear", "synthetic-linear is generated from a seed when "
                                            "loaded; nothing to download.")):
        p = deepnotes("data", "get", name)
        assert (p.returncode, p.stdout.strip()) == (0, said), p.stderr
    p = deepnotes("data", "get", "digits")
    assert p.returncode == 0 and "ships with scikit-learn" in p.stdout, p.stderr
    p = deepnotes("data", "get", "fortunes")  # Debian package: where it is, or the apt command
    assert p.returncode == 0, p.stderr
    assert ("load_corpus('fortunes')" in p.stdout
            or "`sudo apt-get install -y --no-install-recommends fortunes fortunes-min`"
            in p.stdout)
    line = _one_clean_line(deepnotes("data", "get", "smaple"))
    assert "Did you mean 'sample'?" in line


def test_b1_readme_task_table_names_real_lessons():
    import re
    from pathlib import Path

    from deepnotes.lessons import LESSONS

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Kinds of task")[1].split("\n## ")[0]
    named = re.findall(r"`([a-z0-9-]+)`", table.split("|---|---|---|")[1])
    assert len(named) >= 15
    known = {e.name for e in LESSONS.entries()}
    assert [n for n in named if n not in known] == []
