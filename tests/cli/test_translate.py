"""`deepnotes translate CHECKPOINT "sentence" [--beam K]` on a small trained translator."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from deepnotes import models
from deepnotes.cli import main
from deepnotes.tasks.translation import (
    load_translation_corpus,
    save_seq2seq,
    train_seq2seq,
    translate,
)
from deepnotes.train.checkpoint import save_checkpoint

SENTENCES = ["the red car sleeps.", "the girl sees the old dog."]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("translator")
    data = load_translation_corpus("toy-en-es", batch_size=32, toy_pairs=160)
    torch.manual_seed(0)
    model = models.create("seq2seq-rnn", src_vocab_size=len(data.src_vocab),
                          tgt_vocab_size=len(data.tgt_vocab), embed_size=16, num_hiddens=24,
                          num_layers=1, dropout=0.0)
    train_seq2seq(model, data, epochs=2, lr=0.02, progress=False, validate=False)
    save_seq2seq(out, model, data.src_vocab, data.tgt_vocab, data.num_steps)
    expect = {k: translate(model.eval(), SENTENCES, data.src_vocab, data.tgt_vocab,
                           method="greedy" if k == 1 else "beam", beam_size=k,
                           num_steps=data.num_steps) for k in (1, 3)}
    return out, expect


def test_translate_command_prints_one_translation_per_sentence(checkpoint):
    out, expect = checkpoint
    p = subprocess.run([sys.executable, "-m", "deepnotes.cli", "translate", str(out), *SENTENCES,
                        "--beam", "3"], capture_output=True, text=True, timeout=600, check=False)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == expect[3]


def test_greedy_by_default(checkpoint, capsys):
    out, expect = checkpoint
    assert main(["translate", str(out / "checkpoint.safetensors"), *SENTENCES]) == 0
    assert capsys.readouterr().out.splitlines() == expect[1]


def test_errors_are_one_sentence(checkpoint, tmp_path, capsys):
    out, _ = checkpoint
    save_checkpoint(tmp_path / "plain", torch.nn.Linear(2, 2))
    for argv, words in ((["translate", str(tmp_path / "plain"), "hi"], "no translation model"),
                        (["translate", str(tmp_path / "missing"), "hi"], "does not exist"),
                        (["translate", str(out), "hi", "--beam", "-2"], "--beam")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err
