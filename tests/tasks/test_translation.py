"""Training, scheduled sampling, decoding, BLEU and checkpoints of seq2seq translators
(S2, S3, S4, S5, A14), on a tiny fixture corpus."""

from __future__ import annotations

import itertools

import pytest
import sacrebleu
import torch

from deepnotes import models
from deepnotes.decoding import greedy_search
from deepnotes.errors import CheckpointError, ConfigError
from deepnotes.functional import masked_cross_entropy
from deepnotes.metrics import bleu
from deepnotes.tasks.translation import (
    ScheduledSampling,
    decode,
    detokenize,
    encode_sentences,
    evaluate_bleu,
    load_seq2seq,
    load_translation_corpus,
    save_seq2seq,
    scheduled_sampling_log_probs,
    seq2seq_loss,
    teacher_forcing_inputs,
    train_seq2seq,
    translate,
)
from deepnotes.text import tokenize
from deepnotes.train.checkpoint import save_checkpoint

TINY = {"embed_size": 16, "num_hiddens": 24, "num_layers": 1, "dropout": 0.0}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return load_translation_corpus("toy-en-es", batch_size=32, toy_pairs=160)


def _model(data, name="bahdanau", seed=0, **kw):
    torch.manual_seed(seed)
    return models.create(name, src_vocab_size=len(data.src_vocab),
                         tgt_vocab_size=len(data.tgt_vocab), **{**TINY, **kw})


@pytest.fixture(scope="module")
def trained(data):
    model = _model(data, "bahdanau")
    rows = train_seq2seq(model, data, epochs=4, lr=0.02, progress=False, seed=0)
    return model.eval(), rows


def test_teacher_forcing_shifts_targets_right():
    tgt = torch.tensor([[5, 6, 3, 1], [7, 3, 1, 1]])
    assert teacher_forcing_inputs(tgt, bos=2).tolist() == [[2, 5, 6, 3], [2, 7, 3, 1]]


def test_scheduled_sampling_probability_rises_over_epochs():
    lin = [ScheduledSampling(0.4).prob(e, 5) for e in range(5)]
    assert lin == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    inv = [ScheduledSampling(0.5, schedule="inverse_sigmoid", k=2).prob(e, 10) for e in range(10)]
    assert all(a < b for a, b in itertools.pairwise(inv)) and 0 < inv[0] and inv[-1] < 0.5
    # p_e = p_max (1 - k / (k + e^{e/k})) at e = 4, k = 2
    assert inv[4] == pytest.approx(0.5 * (1 - 2 / (2 + torch.e**2)))
    for bad in ({"max_prob": 1.5}, {"schedule": "cosine"}, {"mode": "beam"}, {"k": 0.0}):
        with pytest.raises(ConfigError):
            ScheduledSampling(**bad)


def test_scheduled_sampling_extremes_are_teacher_forcing_and_own_predictions(data):
    model = _model(data).double().eval()
    src, n, tgt, tgt_len = (t[:6] for t in data.test.tensors)
    tgt_in = teacher_forcing_inputs(tgt, data.tgt_vocab.bos)
    forced = torch.log_softmax(model(src, n, tgt_in), dim=-1)
    torch.testing.assert_close(scheduled_sampling_log_probs(model, src, n, tgt_in, 0.0), forced,
                               atol=1e-12, rtol=0)
    assert seq2seq_loss(model, (src, n, tgt, tgt_len), data.tgt_vocab.bos).item() == \
        pytest.approx(masked_cross_entropy(forced, tgt, tgt_len).item(), abs=1e-12)
    # p = 1: every input after <bos> is the model's previous argmax, i.e. greedy decoding
    own = scheduled_sampling_log_probs(model, src, n, tgt_in, 1.0).argmax(-1)  # (B, T)
    greedy = greedy_search(model.step, data.tgt_vocab.bos, data.tgt_vocab.eos, tgt.shape[1],
                           state=model.init_state(src, n))
    for row, toks in zip(own.tolist(), greedy.tokens):
        assert row[:len(toks)] == toks


def test_two_pass_mode_feeds_first_pass_predictions(data):
    model = _model(data).double().eval()
    batch = tuple(t[:6] for t in data.test.tensors)
    src, n, tgt, tgt_len = batch
    bos = data.tgt_vocab.bos
    mode = ScheduledSampling(mode="two_pass")
    seen = []
    hook = model.register_forward_pre_hook(lambda m, args: seen.append(args[2].clone()))
    loss = seq2seq_loss(model, batch, bos, 1.0, mode)
    hook.remove()
    first, second = seen  # pass 1 teacher forcing, pass 2 its predictions shifted right
    pred = model(src, n, first).argmax(-1)
    assert torch.equal(first, teacher_forcing_inputs(tgt, bos))
    assert torch.equal(second, teacher_forcing_inputs(pred, bos))
    expect = masked_cross_entropy(model(src, n, second), tgt, tgt_len)
    assert loss.item() == pytest.approx(expect.item(), abs=1e-12)


def test_training_lowers_the_loss_and_reports_throughput(trained, data):
    _, rows = trained
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert rows[-1]["train_loss"] < 0.6 * rows[0]["train_loss"]
    assert rows[-1]["val_loss"] < rows[0]["val_loss"]
    assert all(r["tokens_per_sec"] > 0 and r["sampling_prob"] == 0.0 for r in rows)


def test_scheduled_sampling_training_records_its_schedule(data):
    model = _model(data, "seq2seq-rnn")
    rows = train_seq2seq(model, data, epochs=3, lr=0.02, progress=False, validate=False,
                         scheduled_sampling=0.5)
    assert [r["sampling_prob"] for r in rows] == pytest.approx([0.0, 0.25, 0.5])
    assert all(torch.isfinite(torch.tensor(r["train_loss"])) for r in rows)
    with pytest.raises(ConfigError, match="seq2seq interface"):
        train_seq2seq(torch.nn.Linear(2, 2), data, epochs=1)


def test_translate_sentences_tensors_and_beam_of_one(trained, data):
    model, _ = trained
    sents = list(data.test.src_text[:5])
    text = translate(model, sents, data.src_vocab, data.tgt_vocab)
    assert len(text) == 5 and all(isinstance(t, str) and t for t in text)
    src, n = encode_sentences(sents, data.src_vocab)
    assert translate(model, (src, n), data.src_vocab, data.tgt_vocab) == text
    assert translate(model, sents, data.src_vocab, data.tgt_vocab, method="beam",
                     beam_size=1) == text
    beam = decode(model, src, n, data.tgt_vocab.bos, data.tgt_vocab.eos, "beam", 4, 0.0)
    greedy = decode(model, src, n, data.tgt_vocab.bos, data.tgt_vocab.eos)
    assert (beam.log_probs >= greedy.log_probs - 1e-9).float().mean() >= 0.8
    with pytest.raises(ConfigError, match="method"):
        translate(model, sents, data.src_vocab, data.tgt_vocab, method="sampling")


def test_detokenize_follows_spanish_punctuation():
    assert detokenize(["¡", "hola", "!", "¿", "qué", "tal", "?"]) == "¡hola! ¿qué tal?"
    assert detokenize(["el", "gato", ",", "la", "casa", "."]) == "el gato, la casa."


def test_evaluate_bleu_is_sacrebleu_on_the_raw_references(trained, data):
    model, _ = trained
    r = evaluate_bleu(model, data.test, data.src_vocab, data.tgt_vocab)
    ref = sacrebleu.corpus_bleu(r["hypotheses"], [list(data.test.tgt_text)], lowercase=True)
    assert r["bleu"] == pytest.approx(ref.score, abs=1e-9)
    notes = [bleu(tokenize([h])[0], tokenize([t])[0]) for h, t in
             zip(r["hypotheses"], data.test.tgt_text)]
    assert r["notes_bleu"] == pytest.approx(sum(notes) / len(notes))
    assert r["mean_log_prob"] == pytest.approx(sum(r["log_probs"]) / len(r["log_probs"]))
    assert r["bleu"] > sacrebleu.corpus_bleu(list(data.test.src_text),
                                                 [list(data.test.tgt_text)]).score


def test_checkpoint_round_trip_rebuilds_model_and_vocabularies(trained, data, tmp_path):
    model, _ = trained
    path = save_seq2seq(tmp_path, model, data.src_vocab, data.tgt_vocab, data.num_steps)
    assert path.name == "checkpoint.safetensors"
    again, src_vocab, tgt_vocab, info = load_seq2seq(tmp_path)
    assert src_vocab == data.src_vocab and tgt_vocab == data.tgt_vocab
    assert info["name"] == "bahdanau" and info["num_steps"] == data.num_steps
    sents = list(data.test.src_text[:4])
    assert translate(again, sents, src_vocab, tgt_vocab, method="beam") == \
        translate(model, sents, data.src_vocab, data.tgt_vocab, method="beam")
    save_checkpoint(tmp_path / "plain", model, model_info=models.model_info(model))
    with pytest.raises(CheckpointError, match="no translation model"):
        load_seq2seq(tmp_path / "plain")
    with pytest.raises(CheckpointError, match="models.create"):
        save_seq2seq(tmp_path / "x", torch.nn.Linear(2, 2), data.src_vocab, data.tgt_vocab)


def test_train_out_dir_writes_a_translation_checkpoint(data, tmp_path):
    model = _model(data, "seq2seq-rnn")
    train_seq2seq(model, data, epochs=1, lr=0.01, progress=False, out_dir=tmp_path)
    again, src_vocab, tgt_vocab, _ = load_seq2seq(tmp_path)
    model.eval()
    sents = list(data.test.src_text[:3])
    assert translate(again, sents, src_vocab, tgt_vocab) == \
        translate(model, sents, data.src_vocab, data.tgt_vocab)


def test_docstring_examples_run():
    import doctest

    import deepnotes.data.toy_mt as toy
    import deepnotes.tasks.translation as module

    for mod in (module, toy):
        result = doctest.testmod(mod)
        assert result.attempted > 0 and result.failed == 0, mod.__name__


def _guided_on(model, data):
    """The guided-attention loss of ``model``'s attention on the training batches."""
    from deepnotes.functional.attention import guided_attention_loss

    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for src, src_len, tgt, tgt_len in data.batches("train"):
            model(src, src_len, teacher_forcing_inputs(tgt, data.tgt_vocab.bos))
            total += float(guided_attention_loss(model.attention_weights, tgt_len, src_len))
            n += 1
    return total / n


def test_a14_guided_attention_pulls_the_alignment_to_the_diagonal(data):
    """A14: the same training with a guided-attention term ends with attention much nearer
    the diagonal; a model without step-by-step attention is refused."""
    plain, guided = _model(data), _model(data)
    train_seq2seq(plain, data, epochs=3, lr=0.02, progress=False, seed=0, validate=False)
    train_seq2seq(guided, data, epochs=3, lr=0.02, progress=False, seed=0, validate=False,
                  guided_attention=5.0)
    assert _guided_on(guided, data) < 0.7 * _guided_on(plain, data)
    with pytest.raises(ConfigError, match="step-by-step attention"):
        train_seq2seq(_model(data, "seq2seq-rnn"), data, epochs=1, progress=False,
                      guided_attention=1.0)
