"""The language-model task (R3, R7, R8, O11): corpora, perplexity against a direct computation,
truncated-BPTT training on the Trainer, divergence, generation against step-by-step argmax,
checkpoints."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn as tnn

from deepnotes import models
from deepnotes.tasks.lm import (
    causal_perplexity,
    char_corpus,
    generate,
    load_lm,
    ngram_baseline,
    perplexity,
    save_lm,
    train_lm,
    word_corpus,
)

TEXT = "the time traveller for so it will be convenient to speak of him was expounding " * 6


def _lm(vocab, **kw):
    torch.manual_seed(0)
    return models.create("rnn-lm", vocab_size=len(vocab), hidden=kw.pop("hidden", 12), **kw)


# ---------------------------------------------------------------- shared LM code

def test_char_corpus_is_d2l_preprocessing_with_an_unk_only_vocabulary():
    ids, vocab, text = char_corpus("It's 1895, Mr. Wells!")
    assert text == "it s mr wells "
    assert vocab.idx_to_token[0] == "<unk>" and len(vocab) == 1 + len(set(text))
    assert "".join(vocab.to_tokens(ids.tolist())) == text


def test_uniform_model_has_perplexity_equal_to_the_vocabulary_size():
    ids, vocab, _ = char_corpus(TEXT)
    m = _lm(vocab)
    with torch.no_grad():  # zero output layer: every next token gets 1/V (R8)
        m.output.weight.zero_()
        m.output.bias.zero_()
    for carry in (True, False):
        assert perplexity(m, ids, num_steps=9, carry_state=carry) == pytest.approx(len(vocab), rel=1e-6)


def test_perplexity_is_exp_of_the_mean_cross_entropy():
    ids, vocab, _ = char_corpus(TEXT[:200])
    m = _lm(vocab, cell="lstm").eval()
    with torch.no_grad():
        logits, _ = m(ids[None, :-1])  # one row, whole text: full context everywhere
        nll = tnn.functional.cross_entropy(logits[0], ids[1:]).item()
        # d2l's validation: zero state in every window of 10
        w = (len(ids) - 1) // 10
        lw, _ = m(ids[:w * 10].reshape(w, 10))
        nll_w = tnn.functional.cross_entropy(lw.reshape(-1, len(vocab)), ids[1:w * 10 + 1]).item()
    assert perplexity(m, ids, num_steps=10, rows=1) == pytest.approx(math.exp(nll), rel=1e-5)
    assert perplexity(m, ids, num_steps=10, carry_state=False) == pytest.approx(math.exp(nll_w), rel=1e-5)
    # causal evaluation of a unidirectional model is the windowed one
    assert causal_perplexity(m, ids, num_steps=10) == pytest.approx(math.exp(nll_w), rel=1e-5)


def test_causal_perplexity_differs_for_a_bidirectional_model():
    ids, vocab, _ = char_corpus(TEXT[:200])
    m = _lm(vocab, cell="gru", bidirectional=True)
    assert causal_perplexity(m, ids, 10) != pytest.approx(perplexity(m, ids, 10, carry_state=False),
                                                          rel=1e-4)


@pytest.mark.parametrize("sampling", ["sequential", "random"])
def test_train_lm_learns_and_records_pre_clip_gradient_norms(sampling):
    ids, vocab, _ = char_corpus(TEXT)
    m = _lm(vocab, cell="gru", hidden=24)
    before = perplexity(m, ids, 20)
    run = train_lm(m, ids, ids, epochs=6, batch_size=4, num_steps=20, sampling=sampling,
                   lr=0.02, grad_clip=0.01, progress=False)
    assert run.val_ppl < before / 2 and not run.diverged
    assert run.steps == len(run.step_loss) == len(run.step_grad_norm) == 6 * 5
    # the recorded norms are the ones before clipping (clipping to 0.01 leaves them larger)
    assert min(run.step_grad_norm) > 0.01
    assert [r["epoch"] for r in run.history] == list(range(1, 7))


def test_train_lm_stops_and_reports_divergence():
    ids, vocab, _ = char_corpus(TEXT)
    m = _lm(vocab, cell="rnn")
    with torch.no_grad():
        m.output.bias[0] = float("nan")  # the loss is NaN from the first batch on
    run = train_lm(m, ids, ids, epochs=3, batch_size=4, num_steps=20, grad_clip=None,
                   progress=False)
    assert run.diverged and run.steps == 0 and len(run.step_loss) == 1
    assert math.isnan(run.step_loss[0]) and math.isnan(run.val_ppl)


def test_greedy_generation_is_argmax_step_by_step_and_sampling_is_seeded():
    ids, vocab, _ = char_corpus(TEXT)
    m = _lm(vocab, cell="lstm")
    train_lm(m, ids, None, epochs=2, batch_size=4, num_steps=20, lr=0.02, progress=False)
    out = generate(m, vocab, "The Time", num_tokens=12)
    # reference: feed the whole text each time and take the argmax of the last position
    text = "the time"
    with torch.no_grad():
        for _ in range(12):
            logits, _ = m(torch.tensor([vocab.to_indices(list(text))]))
            text += vocab.idx_to_token[int(logits[0, -1].argmax())]
    assert out == text
    a = generate(m, vocab, "the", 30, temperature=1.0, seed=3)
    assert a == generate(m, vocab, "the", 30, temperature=1.0, seed=3)
    assert a != generate(m, vocab, "the", 30, temperature=1.0, seed=4)
    # top_k=1 sampling is greedy whatever the temperature
    assert generate(m, vocab, "the", 20, temperature=5.0, top_k=1) == generate(m, vocab, "the", 20)


def test_generation_from_a_bidirectional_model_reads_only_the_past():
    _, vocab, _ = char_corpus(TEXT)
    m = _lm(vocab, cell="gru", bidirectional=True)
    for prefix in ("the", "t"):
        text = prefix
        with torch.no_grad():
            for _ in range(5):
                logits, _ = m(torch.tensor([vocab.to_indices(list(text))]))
                text += vocab.idx_to_token[int(logits[0, -1].argmax())]
        assert generate(m, vocab, prefix, 5) == text


def test_save_and_load_keep_model_and_vocabulary(tmp_path):
    _, vocab, _ = char_corpus(TEXT)
    m = _lm(vocab, cell="lstm", num_layers=2, embedding=5)
    path = save_lm(m, vocab, tmp_path / "lm")
    again, vocab2, info = load_lm(path)
    assert vocab2 == vocab and info["preprocess"] == "d2l" and again.config == m.config
    assert generate(again, vocab2, "time", 15) == generate(m, vocab, "time", 15)
    from deepnotes.errors import CheckpointError
    from deepnotes.models import model_info
    from deepnotes.train.checkpoint import save_checkpoint

    # a checkpoint without a vocabulary
    save_checkpoint(tmp_path / "plain" / "checkpoint", m, model_info=model_info(m))
    with pytest.raises(CheckpointError, match="vocabulary"):
        load_lm(tmp_path / "plain" / "checkpoint")


def test_ngram_baseline_orders():
    _, _, text = char_corpus(TEXT * 3)
    r = ngram_baseline(list(text[:1200]), list(text[1200:]))
    assert r["trigram_bigram_backoff_val_ppl"] < r["bigram_val_ppl"] < r["unigram_val_ppl"]


def test_word_corpus_maps_rare_words_to_unk_and_generate_reads_words(tmp_path):
    ids, vocab, tokens = word_corpus("The cat sat. The cat ran. A dog!", min_freq=2)
    assert tokens[:4] == ["the", "cat", "sat", "."]
    assert vocab.to_tokens(ids.tolist())[:4] == ["the", "cat", "<unk>", "."]  # "sat" once
    m = _lm(vocab, embedding=4)
    out = generate(m, vocab, "The cat", num_tokens=3, tokens="word")
    assert out.split()[:2] == ["the", "cat"] and len(out.split()) == 5
    path = save_lm(m, vocab, tmp_path / "ck", kind="none", tokens="word")
    again, v2, info = load_lm(path)
    assert info["tokens"] == "word" and v2.idx_to_token == vocab.idx_to_token
    assert generate(again, v2, "The cat", num_tokens=3, tokens="word") == out


def test_docstring_examples():
    import doctest

    import importlib

    from deepnotes.tasks import lm

    perplexity_module = importlib.import_module("deepnotes.metrics.perplexity")

    result = doctest.testmod(lm)
    assert result.failed == 0
    result = doctest.testmod(perplexity_module)
    assert result.attempted >= 2 and result.failed == 0
