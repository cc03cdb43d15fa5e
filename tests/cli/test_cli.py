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
    for word in ("models:", "mlp", "datasets:", "fashion-mnist", "lessons:", "k-fold"):
        assert word in p.stdout


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


def test_data_status_lists_every_dataset():
    p = deepnotes("data", "status")
    assert p.returncode == 0, p.stderr
    assert "fashion-mnist" in p.stdout and "digits" in p.stdout
