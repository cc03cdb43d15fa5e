"""`deepnotes train MODEL --data PATH` on your own files: a table, an image folder, a text file,
a pairs file; then eval / generate / translate on the run folder; every mistake one sentence."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

from deepnotes.cli import main
from deepnotes.text import Vocab
from deepnotes.train.checkpoint import peek_checkpoint
from deepnotes.train.job import TrainJob, resolve_data

FAST = ["--threads", "1", "--set", "progress=false"]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Run in a temporary folder: a command without --out makes its runs/ folder there."""
    monkeypatch.chdir(tmp_path)


def run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def ok(capsys, *args) -> str:
    code, out, err = run(capsys, *args)
    assert code == 0, err
    return out


def one_sentence(capsys, *args) -> str:
    code, _, err = run(capsys, *args)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("deepnotes: error: "), err
    return lines[0]


@pytest.fixture
def pets(tmp_path):
    """weight,height,kind: 40 animals, cats small and dogs big (separable), a word label."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        dog = i % 2
        rows.append(f"{rng.normal(30 if dog else 4):.2f},{rng.normal(60 if dog else 25):.2f},"
                    f"{'dog' if dog else 'cat'}")
    path = tmp_path / "pets.csv"
    path.write_text("weight,height,kind\n" + "\n".join(rows) + "\n")
    return path


def images(root, classes=("dark", "light"), per_class=6, size=(12, 12), seed=0):
    rng = np.random.default_rng(seed)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            arr = (rng.integers(0, 60, (size[1], size[0])) + 180 * c).astype(np.uint8)
            Image.fromarray(arr).save(root / name / f"{i}.png")
    return root


# ----------------------------------------------------------------------------- tables
def test_a_csv_with_word_labels_trains_and_eval_reads_its_test_split_again(capsys, tmp_path,
                                                                           pets):
    out = tmp_path / "run"
    printed = ok(capsys, "train", "mlp", "--data", pets, "--out", out, "--set", "epochs=20",
                 "--set", "lr=0.05", "--set", "batch_size=8", "--set", "model.hidden=8", *FAST)
    assert "test_accuracy" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["data_source"]["classes"] == ["cat", "dog"]
    assert summary["train_examples"] == 32 and summary["test_accuracy"] == 1.0
    info = peek_checkpoint(out)["model_info"]
    assert info["data"] == str(pets.resolve()) and info["data_source"]["target"] == "kind"

    result = json.loads(ok(capsys, "eval", out))
    assert result["split"] == "test" and result["examples"] == 8
    assert result["accuracy"] == summary["test_accuracy"]
    assert result["loss"] == pytest.approx(summary["test_loss"], rel=1e-5)

    # another file of the same columns (in another order): all of it by default
    new = tmp_path / "new.csv"
    new.write_text("kind,height,weight\ndog,61,29\ncat,24,5\ncat,26,3\n")
    result = json.loads(ok(capsys, "eval", out, "--data", new))
    assert (result["split"], result["examples"], result["accuracy"]) == ("all", 3, 1.0)
    new.write_text("kind,height,weight\nbird,61,29\n")
    line = one_sentence(capsys, "eval", out, "--data", new)
    assert "new.csv, line 2" in line and "'bird'" in line
    assert "trained on your file" in one_sentence(capsys, "eval", out, "--data", "digits")


def test_a_regression_tsv_trains_linear_regression_and_evaluates(capsys, tmp_path):
    rng = np.random.default_rng(1)
    rows = [f"{r}\t{a:.1f}\t{0.5 * r + 0.01 * a + 1:.3f}"
            for r, a in zip(rng.integers(1, 6, 30), rng.uniform(30, 200, 30))]
    path = tmp_path / "house.tsv"
    path.write_text("rooms\tarea\tprice\n" + "\n".join(rows) + "\n")
    out = tmp_path / "reg"
    printed = ok(capsys, "train", "linear-regression", "--data", path, "--out", out,
                 "--set", "epochs=30", "--set", "lr=0.1", "--set", "batch_size=8", *FAST)
    assert "test_loss" in printed and "accuracy" not in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["data_source"]["task"] == "regression"
    assert summary["test_loss"] < 0.05  # the target is linear in the standardised features
    result = json.loads(ok(capsys, "eval", out))
    assert result["loss"] == pytest.approx(summary["test_loss"], rel=1e-5)
    moved = path.rename(tmp_path / "moved.tsv")
    line = one_sentence(capsys, "eval", out)
    assert "house.tsv, which is no longer there" in line and "--data" in line
    result = json.loads(ok(capsys, "eval", out, "--data", moved, "--split", "test"))
    assert result["loss"] == pytest.approx(summary["test_loss"], rel=1e-5)
    line = one_sentence(capsys, "train", "mlp", "--data", moved, "--set", "image_size=8")
    assert "image_size applies to an image folder, but" in line


def test_target_and_task_settings(capsys, tmp_path):
    path = tmp_path / "grades.csv"
    path.write_text("grade,hours,age\n" + "".join(f"{i % 3},{i},{20 + i % 7}\n"
                                                  for i in range(30)))
    out = tmp_path / "g"
    ok(capsys, "train", "softmax-regression", "--data", path, "--out", out, "--set",
       "target=grade", "--set", "epochs=1", *FAST)
    info = peek_checkpoint(out)["model_info"]
    assert info["data_source"]["classes"] == ["0", "1", "2"]
    assert info["config"]["num_classes"] == 3 and info["config"]["in_features"] == 2
    ok(capsys, "train", "mlp", "--data", path, "--out", tmp_path / "r", "--set", "target=grade",
       "--set", "task=regression", "--set", "epochs=1", "--set", "model.hidden=4", *FAST)
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["data_source"]["task"] \
        == "regression"
    line = one_sentence(capsys, "train", "mlp", "--data", path, "--set", "target=score",
                        "--out", tmp_path / "x")
    assert "grades.csv has no column 'score'" in line and "line 1" in line
    assert not (tmp_path / "x").exists()
    line = one_sentence(capsys, "train", "softmax-regression", "--data", path, "--out",
                        tmp_path / "y", "--set", "target=hours")
    assert "regression set" in line  # 30 distinct integers: a numeric target


def test_table_errors_are_one_sentence_naming_file_and_line(capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,y\n1,2,x\n3,4\n")
    line = one_sentence(capsys, "train", "mlp", "--data", bad, "--out", tmp_path / "o")
    assert "bad.csv, line 3 has 2 values but line 1 names 3 columns" in line
    bad.write_text("a,b,y\n1,2,x\n3,,y\n")
    line = one_sentence(capsys, "train", "mlp", "--data", bad, "--out", tmp_path / "o")
    assert "bad.csv, line 3, column 'b' has a missing value" in line
    bad.write_text("a,b,y\n1,2,x\n3,red,y\n")
    line = one_sentence(capsys, "train", "mlp", "--data", bad, "--out", tmp_path / "o")
    assert "bad.csv, line 3, column 'b' holds 'red', not a number" in line
    line = one_sentence(capsys, "train", "mlp", "--data", tmp_path / "nothing.csv")
    assert "no file or folder at" in line and "nothing.csv" in line
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- images
def test_an_image_folder_trains_lenet_and_eval_reads_its_test_split(capsys, tmp_path):
    folder = images(tmp_path / "imgs")
    out = tmp_path / "cnn"
    printed = ok(capsys, "train", "lenet", "--data", folder, "--out", out, "--set", "epochs=1",
                 *FAST)
    assert "test_accuracy" in printed
    info = peek_checkpoint(out)["model_info"]
    assert info["config"]["image_size"] == 12 and info["config"]["in_channels"] == 1
    assert info["data_source"]["shape"] == [1, 12, 12]
    summary = json.loads((out / "summary.json").read_text())
    result = json.loads(ok(capsys, "eval", out))
    assert (result["split"], result["examples"]) == ("test", 2)  # round(20% of 12)
    assert result["loss"] == pytest.approx(summary["test_loss"], rel=1e-5)
    # resized: mlp on 6 x 6 versions
    ok(capsys, "train", "mlp", "--data", folder, "--out", tmp_path / "m", "--set",
       "image_size=6", "--set", "max_steps=1", "--set", "model.hidden=4", *FAST)
    assert peek_checkpoint(tmp_path / "m")["model_info"]["config"]["in_features"] == 36


def test_image_folder_errors_are_one_sentence(capsys, tmp_path):
    folder = images(tmp_path / "mixed", classes=("a",), size=(12, 12))
    images(folder, classes=("b",), size=(14, 12))
    line = one_sentence(capsys, "train", "mlp", "--data", folder, "--out", tmp_path / "o")
    assert "b/0.png is 14x12 pixels" in line and "image_size=N" in line
    line = one_sentence(capsys, "train", "lenet", "--data", folder, "--out", tmp_path / "o")
    assert "14x12" in line
    (tmp_path / "empty").mkdir()
    line = one_sentence(capsys, "train", "mlp", "--data", tmp_path / "empty")
    assert "empty has no class subfolders" in line
    folder = images(tmp_path / "hole")
    (folder / "zebra").mkdir()
    assert "zebra holds no PNG or JPEG images" in one_sentence(capsys, "train", "mlp", "--data",
                                                               folder)
    wide = images(tmp_path / "wide", size=(16, 12))
    line = one_sentence(capsys, "train", "lenet", "--data", wide, "--out", tmp_path / "o")
    assert "square images" in line and "image_size=N" in line
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- text
def test_a_text_file_trains_a_character_lm_that_generate_continues(capsys, tmp_path):
    text = tmp_path / "my.txt"
    text.write_text("the cat sat on the mat. " * 60)
    out = tmp_path / "lm"
    printed = ok(capsys, "train", "rnn-lm", "--data", text, "--out", out, "--set", "epochs=3",
                 "--set", "batch_size=4", "--set", "num_steps=10", "--set", "lr=0.02",
                 "--set", "model.hidden=16", *FAST)
    assert "val_ppl" in printed and "deepnotes generate" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "language model" and summary["vocab_size"] == 12  # 11 + <unk>
    assert summary["job"]["lr"] == 0.02 and summary["job"]["grad_clip"] == 1.0  # text default
    assert (out / "metrics.csv").is_file() and (out / "config.toml").is_file()
    generated = ok(capsys, "generate", out, "the c", "--tokens", "12").rstrip("\n")
    assert generated.startswith("the c") and len(generated) == 5 + 12
    assert set(generated) <= set("the cat sat on the mat. ")
    line = one_sentence(capsys, "eval", out)
    assert "holds a language model" in line and "deepnotes generate" in line


def test_text_file_mistakes(capsys, tmp_path):
    text = tmp_path / "short.txt"
    text.write_text("tiny text")
    line = one_sentence(capsys, "train", "rnn-lm", "--data", text, "--out", tmp_path / "o")
    assert "short.txt gives" in line and "batch_size" in line
    (tmp_path / "bin.txt").write_bytes(b"abc\n\xff\n")
    line = one_sentence(capsys, "train", "rnn-lm", "--data", tmp_path / "bin.txt")
    assert "bin.txt, line 2 is not UTF-8" in line
    text.write_text("enough text " * 100)
    line = one_sentence(capsys, "train", "rnn-lm", "--data", text, "--set", "target=x")
    assert "target applies to a table" in line
    line = one_sentence(capsys, "train", "rnn-lm", "--data", text, "--resume", "--out",
                        tmp_path / "o")
    assert "--resume" in line
    line = one_sentence(capsys, "train", "rnn-lm", "--data", text, "--set", "model.vocab_size=5")
    assert "model.vocab_size is set from the data" in line
    line = one_sentence(capsys, "train", "rnn-lm", "--data", tmp_path)
    assert "is a folder" in line
    line = one_sentence(capsys, "train", "mlp", "--data", text, "--set", "num_steps=10")
    assert "num_steps applies to a text file" in line
    line = one_sentence(capsys, "train", "lstm-classifier", "--data", text)
    assert "lstm-classifier reads" in line and "lessons" in line
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- pairs
def test_a_pairs_file_trains_a_translator_that_translate_uses(capsys, tmp_path):
    pairs = tmp_path / "pairs.tsv"
    words = ["one", "two", "three", "four", "five", "six"]
    spanish = ["uno", "dos", "tres", "cuatro", "cinco", "seis"]
    pairs.write_text("".join(f"{a} {b} .\t{x} {y} .\n" for a, x in zip(words, spanish)
                             for b, y in zip(words, spanish)))
    out = tmp_path / "mt"
    printed = ok(capsys, "train", "seq2seq-rnn", "--data", pairs, "--out", out, "--set",
                 "epochs=1", "--set", "model.num_hiddens=16", "--set", "model.embed_size=8",
                 *FAST)
    assert "train_loss" in printed and "deepnotes translate" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "translation" and sum(summary["pairs"].values()) == 36
    info = peek_checkpoint(out)["model_info"]
    tgt = Vocab.from_state_dict(info["tgt_vocab"])
    translated = ok(capsys, "translate", out, "one two .", "six six .").splitlines()
    assert len(translated) == 2
    assert all(tok in tgt for line in translated for tok in line.replace(".", " .").split())
    assert "holds a translator" in one_sentence(capsys, "eval", out)
    bad = tmp_path / "bad.tsv"
    bad.write_text("one .\tuno .\ntwo . dos .\n")
    line = one_sentence(capsys, "train", "bahdanau", "--data", bad)
    assert "bad.tsv, line 2 has no tab" in line
    line = one_sentence(capsys, "train", "seq2seq-rnn", "--data", pairs, "--set", "max_steps=2")
    assert "max_steps applies to" in line and "a pairs file" in line


# ----------------------------------------------------------------------------- the rest
def test_registered_names_win_and_unknown_names_suggest(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "digits").mkdir()  # a folder named like a dataset: the dataset wins
    assert resolve_data("mlp", "digits") == ("registered", None)
    assert resolve_data("mlp", "./digits")[0] == "images"
    assert "did you mean 'digits'" in one_sentence(capsys, "train", "mlp", "--data",
                                                    "digitz").lower()


def test_train_help_lists_every_job_field_and_model_fields(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for f in dataclasses.fields(TrainJob):
        assert f"\n  {f.name}=" in text, f.name
    for word in ("TABLE.csv", "FOLDER", "TEXT.txt", "PAIRS.tsv", "model.FIELD=VALUE",
                 "20 distinct", "test_fraction", "image_size=N"):
        assert word in text, word
    for name, field in (("mlp", "hidden=256"), ("rnn-lm", "cell=gru"),
                        ("seq2seq-rnn", "num_hiddens=128")):
        line = next(ln for ln in text.splitlines() if ln.startswith(f"  {name}: "))
        assert field in line and "in_features" not in line
