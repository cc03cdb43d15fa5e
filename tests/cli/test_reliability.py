"""The promises a user relies on: one sentence and exit status 2 for every mistake (no
traceback, no half-made run folder), warnings where a command works but not as expected, every
model × dataset pair of `deepnotes train` either training or saying why not, and runs that
repeat bit for bit from their seed."""

from __future__ import annotations

import csv
import math

import pytest
import torch
from safetensors.torch import load_file

from deepnotes import data as dn_data
from deepnotes import models
from deepnotes.cli import main
from deepnotes.errors import ConfigError, DeepnotesError
from deepnotes.tasks.lm import char_corpus, save_lm
from deepnotes.tasks.translation import load_translation_corpus, save_seq2seq, train_seq2seq
from deepnotes.train.job import TrainJob, build


def run(capsys, *args):
    """``deepnotes ARGS`` in this process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def one_sentence(capsys, *args) -> str:
    code, _, err = run(capsys, *args)
    assert code == 2, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("deepnotes: error: "), err
    return lines[0]


# ----------------------------------------------------------------------------- --out
@pytest.mark.parametrize("command", [
    ("run", "linear-regression", "--quick"),
    ("train", "softmax-regression", "--data", "digits", "--set", "epochs=1"),
])
def test_out_that_is_not_a_usable_folder_is_one_sentence(capsys, tmp_path, command):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    assert "is a file" in one_sentence(capsys, *command, "--out", a_file)
    assert "lies under" in one_sentence(capsys, *command, "--out", a_file / "run")
    # a folder that cannot be made (/proc takes no new folders, even for root)
    assert "cannot write the run folder" in one_sentence(capsys, *command, "--out",
                                                        "/proc/deepnotes-run")
    assert a_file.read_text() == "mine"


def test_a_failed_command_leaves_no_run_folder_and_keeps_config_toml(capsys, tmp_path):
    out = tmp_path / "new"
    one_sentence(capsys, "train", "mlp", "--data", "nosuchdata", "--out", out)
    one_sentence(capsys, "train", "mlp", "--data", "digits", "--set", "model.hidden",
                 "--out", out)
    assert not out.exists()
    kept = tmp_path / "kept"
    code, _, err = run(capsys, "train", "softmax-regression", "--data", "digits", "--set",
                       "epochs=1", "--out", kept)
    assert code == 0, err
    before = (kept / "config.toml").read_text()
    one_sentence(capsys, "train", "softmax-regression", "--data", "digits", "--set",
                 "epochs=zero", "--out", kept)
    one_sentence(capsys, "run", "linear-regression", "--quick", "--set", "steps=-5", "--out", kept)
    assert (kept / "config.toml").read_text() == before


# ----------------------------------------------------------------------------- train
@pytest.mark.parametrize("model", ["seq2seq-rnn", "transformer-mt", "transformer-nat",
                                   "bahdanau", "rnn-lm", "node-classifier"])
def test_models_that_do_not_read_arrays_are_refused(capsys, model):
    line = one_sentence(capsys, "train", model, "--data", "fashion-mnist")
    assert f"{model} reads" in line and "array datasets" in line


def test_set_model_field_without_a_value_is_one_sentence(capsys):
    assert "field=value" in one_sentence(capsys, "train", "mlp", "--data", "digits", "--set",
                                         "model.hidden")


def test_text_datasets_are_refused_by_train(capsys):
    assert "text dataset" in one_sentence(capsys, "train", "mlp", "--data", "austen")


ARRAY_SETS = [d.name for d in dn_data.entries() if d.kind in dn_data.ARRAY_KINDS]
# the pairs that must train: feature models on every array set, image models on image sets
MUST_TRAIN = {("mlp", d) for d in ARRAY_SETS}
MUST_TRAIN |= {("linear-regression", d) for d in ("diabetes", "sunspots", "co2",
                                                  "synthetic-linear", "synthetic-polynomial")}
MUST_TRAIN |= {("softmax-regression", d) for d in ("fashion-mnist", "digits")}
MUST_TRAIN |= {(m, "fashion-mnist") for m in ("lenet", "lenet-modern", "resnet", "small-cnn",
                                              "small-vit")}
MUST_TRAIN |= {("resnet", "digits"), ("small-cnn", "digits")}


@pytest.mark.parametrize("model", sorted(models.MODELS.names()))
def test_every_model_on_every_array_dataset_trains_one_step_or_says_why(tmp_path, model):
    small = {"resnet": {"channels": "4,8,8"}, "small-vit": {"embed_dim": "8"},
             "mlp": {"hidden": "8"}}.get(model, {})
    for data_name in ARRAY_SETS:
        job = TrainJob(epochs=1, max_steps=1, batch_size=16, limit=48, progress=False)
        try:
            trainer, _ = build(model, data_name, job, small, tmp_path / f"{model}-{data_name}")
            trainer.fit()
        except DeepnotesError as exc:
            assert (model, data_name) not in MUST_TRAIN, f"{model} on {data_name}: {exc}"
            assert "\n" not in str(exc)
            continue
        assert (model, data_name) in MUST_TRAIN, f"{model} trained on {data_name}: list it"
        assert trainer.step == 1 and math.isfinite(trainer.history.last()["train_loss"])


def test_regression_targets_of_either_shape_train_and_evaluate(capsys, tmp_path):
    for model, data_name in (("linear-regression", "diabetes"), ("mlp", "co2"),
                             ("linear-regression", "synthetic-linear")):
        out = tmp_path / f"{model}-{data_name}"
        code, stdout, err = run(capsys, "train", model, "--data", data_name, "--out", out,
                                "--set", "epochs=2", "--set", "lr=0.01")
        assert code == 0, err
        assert "test_loss" in stdout
        code, stdout, err = run(capsys, "eval", out / "checkpoint.safetensors")
        assert code == 0 and '"loss"' in stdout, err


def test_an_exploding_finite_loss_is_warned_about(capsys, tmp_path):
    code, _, err = run(capsys, "train", "softmax-regression", "--data", "digits", "--set",
                       "epochs=2", "--set", "optimizer=sgd", "--set", "lr=1e6",
                       "--out", tmp_path / "boom")
    assert code == 0 and "deepnotes: warning: the training loss grew" in err
    assert "Traceback" not in err and err.count("warning") == 1


# ----------------------------------------------------------------------------- reproducible
def _weights(folder):
    return load_file(str(folder / "checkpoint.safetensors"))


def test_two_identical_train_commands_give_bit_identical_weights(capsys, tmp_path):
    args = ("train", "mlp", "--data", "digits", "--set", "epochs=2", "--set", "seed=7",
            "--set", "model.dropout=0.3", "--set", "limit=600")
    for name in ("a", "b"):
        code, _, err = run(capsys, *args, "--out", tmp_path / name)
        assert code == 0, err
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    model_keys = [k for k in a if k.startswith("model.")]
    assert model_keys and all(torch.equal(a[k], b[k]) for k in model_keys)


def test_resuming_with_more_epochs_follows_the_longer_schedule(capsys, tmp_path):
    common = ("train", "softmax-regression", "--data", "digits", "--set", "schedule=cosine",
              "--set", "lr=0.1", "--set", "batch_size=128", "--set", "optimizer=sgd")
    code, _, err = run(capsys, *common, "--set", "epochs=4", "--out", tmp_path / "straight")
    assert code == 0, err
    code, _, err = run(capsys, *common, "--set", "epochs=2", "--out", tmp_path / "resumed")
    assert code == 0, err
    code, _, err = run(capsys, *common, "--set", "epochs=4", "--out", tmp_path / "resumed",
                       "--resume")
    assert code == 0, err

    def lrs(folder):
        with open(folder / "metrics.csv") as f:
            return [float(r["lr"]) for r in csv.DictReader(f)]

    straight, resumed = lrs(tmp_path / "straight"), lrs(tmp_path / "resumed")
    assert len(straight) == len(resumed) == 4
    # from the resume point on, the rate is the 4-epoch cosine's (not the 2-epoch one's, which
    # had decayed to ~0 and would have stayed there)
    assert resumed[2:] == pytest.approx(straight[2:], rel=1e-9)
    assert resumed[1] < 0.01 < resumed[2]


# ----------------------------------------------------------------------------- data
def test_data_get_dest_that_is_a_file_is_one_sentence(capsys, tmp_path):
    a_file = tmp_path / "x"
    a_file.write_text("")
    assert "is a file" in one_sentence(capsys, "data", "get", "fashion-mnist", "--dest", a_file)


# ----------------------------------------------------------------------------- translate
@pytest.fixture(scope="module")
def translator(tmp_path_factory):
    out = tmp_path_factory.mktemp("translator")
    data = load_translation_corpus("toy-en-es", batch_size=32, toy_pairs=160)
    torch.manual_seed(0)
    model = models.create("seq2seq-rnn", src_vocab_size=len(data.src_vocab),
                          tgt_vocab_size=len(data.tgt_vocab), embed_size=8, num_hiddens=8,
                          num_layers=1, dropout=0.0)
    train_seq2seq(model, data, epochs=1, lr=0.02, progress=False, validate=False)
    save_seq2seq(out, model, data.src_vocab, data.tgt_vocab, data.num_steps)
    return out


@pytest.mark.parametrize("sentence, expect", [
    ("", "is empty"),
    ("   ", "is empty"),
    ("我爱你", "no word the model knows"),
    ("🙂 🙃", "no word the model knows"),
])
def test_translate_refuses_input_it_cannot_read(capsys, translator, sentence, expect):
    assert expect in one_sentence(capsys, "translate", translator, sentence)


def test_translate_says_when_it_cuts_a_long_sentence(capsys, translator):
    code, out, err = run(capsys, "translate", translator, " ".join(["the cat"] * 1000))
    assert code == 0 and out.strip()
    assert "deepnotes: warning: sentence 1 has 2,000 tokens" in err


# ----------------------------------------------------------------------------- generate
@pytest.fixture(scope="module")
def lm_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("lm")
    _, vocab, _ = char_corpus("the cat sat on the mat ")
    torch.manual_seed(0)
    model = models.create("rnn-lm", vocab_size=len(vocab), hidden=8)
    save_lm(model, vocab, out / "checkpoint")
    return out


def test_generate_warns_about_characters_the_model_cannot_read(capsys, lm_folder):
    code, out, err = run(capsys, "generate", lm_folder, "the dog, 42", "--tokens", "5")
    assert code == 0 and out.startswith("the dog")
    assert "deepnotes: warning: the model cannot read" in err and "'d'" in err and "'4'" in err


def test_generate_caps_the_number_of_tokens(capsys, lm_folder):
    assert "--tokens must be between 1 and 100,000" in one_sentence(
        capsys, "generate", lm_folder, "the", "--tokens", "1000000000")


# ----------------------------------------------------------------------------- library
def test_decoders_refuse_an_eos_outside_the_vocabulary_and_infinite_temperature():
    from deepnotes.decoding import beam_search, greedy_search, sample

    table = torch.tensor([0.1, 0.6, 0.3]).log()

    def step(tokens, state):
        return table.expand(tokens.shape[0], 3), state

    for search in (lambda: beam_search(step, 0, 5, 2, 4), lambda: greedy_search(step, 0, 3, 4)):
        with pytest.raises(ConfigError, match="eos=.* is not a token"):
            search()
    for t in (math.inf, math.nan, -1.0):
        with pytest.raises(ConfigError, match="temperature"):
            sample(step, 0, 2, 4, temperature=t)


@pytest.mark.parametrize("damage", [
    lambda s: s.pop("idx_to_token"),
    lambda s: s.update(idx_to_token=[1, 2, 3]),
    lambda s: s.update(idx_to_token=None),
    lambda s: s.update(reserved=["<pad>"]),
    lambda s: s.update(idx_to_token=["a", "b"]),
    lambda s: s.update(token_freqs=[["a"]]),
    lambda s: s.update(min_freq="many"),
])
def test_a_damaged_vocabulary_state_is_one_error(damage):
    from deepnotes.text import Vocab

    state = Vocab([["a", "b", "a"]]).state_dict()
    damage(state)
    with pytest.raises(ConfigError, match="vocabulary"):
        Vocab.from_state_dict(state)


@pytest.mark.parametrize("model, lesson", [("dcgan-generator", "dcgan"), ("vae", "vae"),
                                           ("mlp-discriminator", "gan-toy")])
def test_generative_models_point_to_their_lessons(capsys, tmp_path, model, lesson):
    code, _, err = run(capsys, "train", model, "--data", "fashion-mnist", "--out",
                       tmp_path / "x")
    assert code == 2 and lesson in err and "deepnotes sample" in err
    assert not (tmp_path / "x").exists()
