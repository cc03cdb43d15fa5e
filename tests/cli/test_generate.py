"""`deepnotes generate CHECKPOINT "prefix"`, through a subprocess as a user runs it (R8)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from deepnotes.tasks.lm import char_corpus, generate, save_lm, train_lm

from deepnotes import models
from deepnotes.cli import main
from deepnotes.train.checkpoint import save_model

TEXT = "abcd efgh " * 40  # a period-10 text: a trained model continues it exactly


def deepnotes(*args):
    return subprocess.run([sys.executable, "-m", "deepnotes.cli", *args], capture_output=True,
                          text=True, timeout=600, check=False)


def in_process(capsys, *args):
    """``deepnotes.cli.main`` in this process (fast): exit code, stdout, stderr."""
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("lm")
    ids, vocab, _ = char_corpus(TEXT)
    torch.manual_seed(0)
    model = models.create("rnn-lm", vocab_size=len(vocab), cell="gru", hidden=24, embedding=8)
    train_lm(model, ids, None, epochs=12, batch_size=4, num_steps=20, lr=0.03, progress=False)
    save_lm(model, vocab, out / "checkpoint")
    save_model(model, out / "plain")  # the same model without a vocabulary
    return out, model, vocab


def test_greedy_generation_continues_the_prefix(run_dir):
    out, model, vocab = run_dir
    p = deepnotes("generate", str(out), "ABCD E", "--tokens", "14")
    assert p.returncode == 0, p.stderr
    text = p.stdout.strip("\n")
    assert text == "abcd efgh abcd efgh" + " "  # prefix preprocessed like the training text
    assert text == generate(model, vocab, "ABCD E", 14)


def test_sampling_is_seeded_and_matches_the_library(run_dir, capsys):
    out, model, vocab = run_dir
    args = ("generate", str(out / "checkpoint.safetensors"), "ab", "--tokens", "30",
            "--temperature", "3", "--top-k", "4", "--seed")
    code_a, a, _ = in_process(capsys, *args, "7")
    code_b, b, _ = in_process(capsys, *args, "8")
    assert code_a == code_b == 0
    assert a.strip("\n") == generate(model, vocab, "ab", 30, temperature=3.0, top_k=4, seed=7)
    assert a != b  # τ = 3 flattens the distribution: the seed shows


@pytest.mark.parametrize("where, args, expect", [
    ("missing", (), "does not exist"),
    ("plain", (), "vocabulary"),
    ("ok", ("--temperature", "-1"), "temperature"),
    ("ok", ("--tokens", "0"), "--tokens"),
])
def test_errors_are_one_sentence(run_dir, capsys, where, args, expect):
    out = run_dir[0]
    path = {"missing": out / "nothing", "plain": out / "plain" / "checkpoint", "ok": out}[where]
    code, _, err = in_process(capsys, "generate", str(path), "ab", *args)
    assert code == 2 and "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and expect in lines[0], err
