"""Language-model lessons (R4-R8, O11): each lesson's quick run asserts its claim on the numbers
it returns (the LM task itself is tested in tests/tasks/test_lm.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepnotes import lessons
from deepnotes.tasks.lm import generate, load_lm

# ---------------------------------------------------------------- lessons (quick mode)


def _run(name, tmp_path, **overrides):
    return lessons.get(name).run(out_dir=tmp_path, quick=True, **overrides)


def test_rnn_lm_lesson_beats_count_models_and_saves_a_generator(tmp_path):
    r = _run("rnn-lm", tmp_path)
    m = r.metrics
    for name in ("rnn", "gru", "lstm", "gru_2layer"):
        # R8: every neural LM is far better than a uniform guess and than unigram counts
        assert m[f"{name}_val_ppl"] < m["unigram_val_ppl"] < m["vocab_size"]
        assert m[f"{name}_train_ppl"] < m[f"{name}_val_ppl"] + 1.0
    assert min(m[f"{n}_val_ppl"] for n in ("gru", "lstm", "gru_2layer")) < m["bigram_val_ppl"]
    assert {row["model"] for row in r.tables["perplexity"]} >= {"RNN", "GRU", "LSTM", "2-layer GRU"}
    model, vocab, _ = load_lm(r.checkpoint)
    assert generate(model, vocab, "it is", 10).startswith("it is")
    assert all(Path(f).is_file() for f in r.figures)


def test_gru_vs_lstm_lesson_gates_remember_the_plain_rnn_does_not(tmp_path):
    m = _run("gru-vs-lstm", tmp_path).metrics
    assert m["gru_steps"] == m["lstm_steps"] == m["rnn_steps"] > 0  # the same budget
    # R5/R6: a key recalled across 15 random symbols (chance 0.25)
    assert m["gru_recall"] > 0.9 and m["lstm_open_forget_recall"] > 0.9
    assert m["rnn_recall"] < 0.4
    # GRU: 3 gate blocks, LSTM: 4 -> 3/4 of the recurrent parameters
    assert m["gru_recurrent_params"] / m["lstm_recurrent_params"] == pytest.approx(0.75)
    for cell in ("rnn", "gru", "lstm"):
        assert 1 < m[f"{cell}_val_ppl"] < 12  # all learn the text (uniform: 28)


def test_gradient_clipping_lesson_spikes_only_without_clipping(tmp_path):
    m = _run("gradient-clipping", tmp_path).metrics
    # R7/O11: same start, same batches, same lr: only the unclipped run spikes ...
    assert m["no_clip_loss_spikes"] >= 1 and m["clip_loss_spikes"] == 0
    assert m["no_clip_max_grad_norm"] > 10 * m["clip_max_update_norm"]
    # ... far above the uniform guess, while the clipped loss never exceeds its start by much
    assert m["no_clip_max_loss"] > m["uniform_loss"] + 1
    assert m["clip_max_loss"] < m["uniform_loss"] + 0.5
    assert m["clip_final_val_ppl"] < m["no_clip_final_val_ppl"]


def test_bidirectional_lesson_birnn_cheats(tmp_path):
    m = _run("bidirectional", tmp_path).metrics
    # seeing the next token makes training (and future-visible validation) almost perfect ...
    assert m["bi_train_ppl"] < 1.5 and m["bi_val_ppl"] < 1.5
    assert m["bi_train_ppl"] < 0.5 * m["uni_train_ppl"]
    # ... but scored from the past only it is clearly worse than the unidirectional LM
    assert m["bi_causal_val_ppl"] > 1.3 * m["uni_causal_val_ppl"]
    assert m["uni_causal_val_ppl"] == pytest.approx(m["uni_val_ppl"], rel=1e-6)


# ---------------------------------------------------------------- word level

def test_word_lm_beats_every_smoothed_ngram(tmp_path):
    r = lessons.get("word-lm").run(out_dir=tmp_path, quick=True)
    m = r.metrics
    # the lesson's claim: the LSTM's validation perplexity is below the BEST Laplace-smoothed
    # word n-gram's (each order's ε tuned on the validation text, which flatters the n-grams);
    # quick mode, 27,000 training words: seeds 0 and 1 gave 93.8 and 95.1 against 110.9
    assert m["val_ppl"] < 0.95 * m["best_ngram_val_ppl"]
    assert m["best_ngram_val_ppl"] == min(m[f"{n}_val_ppl"] for n in (
        "unigram", "bigram", "trigram", "trigram_bigram_backoff"))
    assert m["train_ppl"] < m["val_ppl"]
    assert {row["temperature"] for row in r.tables["samples"]} == {0.0, 0.8}
    assert r.tables["samples"][0]["text"].startswith("it is a truth universally acknowledged ")
    assert Path(r.checkpoint).with_suffix(".json").is_file() or Path(r.checkpoint).is_file()


def test_gpt_char_writes_below_letter_pair_counts_and_its_checkpoint_generates(tmp_path, capsys):
    """Character GPT on Shakespeare, quick mode (P7): below the bigram, samples, folders."""
    import torch
    import transformers

    from deepnotes.cli import main
    from deepnotes.models.gpt import load_hf
    from deepnotes.tasks.lm import load_lm

    r = lessons.get("gpt-char").run(out_dir=tmp_path, quick=True)
    m = r.metrics
    # 600 updates of a 2-layer width-64 GPT read context beyond the previous letter: its
    # test loss is below what letter-pair counts give (quick: 2.38 vs 2.53 nats)
    assert m["test_loss"] < m["bigram_test_loss"] - 0.05 < m["unigram_test_loss"]
    assert m["val_loss"] < r.history[0]["val_loss"]
    assert [h["iter"] for h in r.history] == [200, 400, 600]
    assert all(s["text"].startswith("ROMEO:") for s in r.tables["samples"])
    assert (tmp_path / "samples.txt").read_text().count("--- temperature") == 2
    # the checkpoint continues a prompt from the command line, with nucleus sampling
    assert main(["generate", str(tmp_path / "checkpoint"), "JULIET:", "--tokens", "30",
                 "--temperature", "0.8", "--top-p", "0.9"]) == 0
    out = capsys.readouterr().out[:-1]  # print's newline
    assert out.startswith("JULIET:") and len(out) == len("JULIET:") + 30
    model, vocab, _ = load_lm(tmp_path / "checkpoint")
    # the Hugging Face folder opens in transformers with the same logits
    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "hf").eval()
    x = torch.tensor([vocab.to_indices(list("ROMEO: O, she doth"))])
    with torch.no_grad():
        assert torch.allclose(hf(x).logits, model(x), atol=1e-5)
        assert torch.allclose(load_hf(tmp_path / "hf")(x), model(x), atol=1e-6)


def test_gpt_vs_lstm_gives_both_the_same_time_and_scores_both_ways(tmp_path):
    """GPT vs LSTM at an equal time budget, quick mode (P7, R6)."""
    r = lessons.get("gpt-vs-lstm").run(out_dir=tmp_path, quick=True)
    m = r.metrics
    # both learn the text: below a uniform guess over the 28 symbols
    for name in ("lstm_ppl", "lstm_ppl_windowed", "gpt_ppl", "gpt_ppl_windowed"):
        assert 1 < m[name] < 28, name
    # each model's number of updates was set from its own measured speed to fill the same
    # time: the two training times agree within a factor of 4 (loose: the suite shares cores)
    assert 0.25 < m["gpt_seconds"] / m["lstm_seconds"] < 4
    assert m["gpt_updates"] != m["lstm_updates"]  # two speeds, two counts
    # 80/10/10: each model kept the weights of its best validation point
    assert m["train_chars"] > 7 * m["val_chars"] and m["val_chars"] == m["test_chars"]
    assert 1 <= m["lstm_best_epoch"] <= m["lstm_epochs"]
    assert 1 <= m["gpt_best_update"] <= m["gpt_updates"]
    assert [row["model"][:4] for row in r.tables["perplexity"]] == ["LSTM", "GPT "]


def test_gpt_bpe_reads_more_text_per_window_and_scores_in_bits_per_byte(tmp_path, capsys):
    """GPT on byte-level BPE vs characters, quick mode (P7, E5)."""
    import math

    from deepnotes.cli import main

    r = lessons.get("gpt-bpe").run(out_dir=tmp_path, quick=True)
    m = r.metrics
    # a piece of the 500-piece vocabulary holds more than one byte: the window reads more
    assert m["bytes_per_piece"] > 1.5
    assert m["bpe_window_bytes"] > 1.5 * m["char_window_bytes"]
    assert abs(m["char_window_bytes"] - 32) < 0.5  # Shakespeare: about one byte a character
    # both learnt the text: below letter counts, in bits per byte of the same test text
    assert m["char_test_bits_per_byte"] < m["unigram_test_bits_per_byte"] - 0.5
    assert m["bpe_test_bits_per_byte"] < m["unigram_test_bits_per_byte"] - 0.5
    for kind in ("char", "bpe"):  # every byte of the test text counted, once
        assert m[f"{kind}_test_bytes_counted"] == m["test_bytes"]
    for kind in ("char", "bpe"):  # the same loss, two units: nats per token and bits per byte
        per_byte = m[f"{kind}_test_loss_per_token"] / math.log(2) * 32 / m[f"{kind}_window_bytes"]
        assert abs(per_byte - m[f"{kind}_test_bits_per_byte"]) < 0.05 * per_byte
    # the saved folder continues a prompt from the command line
    assert main(["generate", str(tmp_path / "hf"), "ROMEO:", "--tokens", "10",
                 "--temperature", "0.9", "--top-k", "50"]) == 0
    assert capsys.readouterr().out.startswith("ROMEO:")
