"""Quick modes of the translation lessons (seq2seq-rnn, bahdanau, beam-vs-greedy) and their claims,
on the built-in fixture corpus; beam-vs-greedy reuses the bahdanau lesson's checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
from deepnotes.data.toy_mt import toy_pairs

from deepnotes import lessons
from deepnotes.errors import ConfigError


def _run(name, out, **overrides):
    return lessons.get(name).run(out_dir=out, quick=True, **overrides)


@pytest.fixture(scope="module")
def bahdanau(tmp_path_factory):
    out = tmp_path_factory.mktemp("bahdanau")
    return _run("bahdanau", out), out


def _learns(m):
    # S2: the loss falls; S3/S4: greedy translations beat the untrained model and copying
    assert m["final_train_loss"] < 0.5 * m["first_epoch_train_loss"]
    assert m["test_bleu_greedy"] > 20
    assert m["test_bleu_greedy"] > 10 * max(m["untrained_test_bleu"], m["copy_source_test_bleu"])
    assert m["train_seconds"] > 0 and m["tokens_per_sec"] > 0


def test_fixture_corpus_is_reproducible_and_reorders_adjectives():
    pairs = toy_pairs(200, seed=0)
    assert pairs == toy_pairs(200, seed=0) and pairs != toy_pairs(200, seed=1)
    en, es = next((s, t) for s, t in pairs if s.startswith("the red car "))
    assert es.split()[:3] in (["el", "coche", "rojo"], ["el", "carro", "rojo"]), (en, es)


def test_seq2seq_rnn_learns_to_translate(tmp_path):
    r = _run("seq2seq-rnn", tmp_path)
    _learns(r.metrics)
    assert len(r.history) == 8 and len(r.tables["samples"]) == 8
    assert {row["decoding"] for row in r.tables["bleu"]} == {"greedy", "beam k=4 α=0.75"}
    assert Path(r.checkpoint).is_file() and all(Path(f).is_file() for f in r.figures)


def test_bahdanau_learns_and_attends_only_to_real_words(bahdanau):
    r, _ = bahdanau
    _learns(r.metrics)
    assert r.metrics["max_attention_on_padding"] == 0.0
    assert "rnn_test_bleu_greedy" not in r.metrics  # no comparison run in quick mode
    heat = [f for f in r.figures if "attention_" in f]
    assert len(heat) == 2 and all(Path(f).stat().st_size > 1000 for f in heat)


def test_beam_search_finds_more_probable_translations_than_greedy(bahdanau, tmp_path):
    trained, _ = bahdanau
    r = _run("beam-vs-greedy", tmp_path, checkpoint=trained.checkpoint)
    m = r.metrics
    # same model as the bahdanau lesson: greedy decoding gives the same BLEU
    assert m["test_bleu_greedy"] == pytest.approx(trained.metrics["test_bleu_greedy"])
    assert len(r.tables["decoding"]) == 1 + 3 * 2
    for k in (2, 4, 8):
        # S5: ranked by plain log P, beam's translations are at least as probable on average,
        # and on (almost) every sentence
        assert m[f"mean_log_prob_beam{k}_alpha0"] >= m["mean_log_prob_greedy"]
        assert m[f"share_beam_ge_greedy_beam{k}_alpha0"] >= 0.95
        assert m[f"test_bleu_beam{k}_alpha0.75"] > 10 * m["copy_source_test_bleu"]
    # the fixture's greedy trap: some sentence gets strictly more probable
    assert m["mean_log_prob_beam4_alpha0"] > m["mean_log_prob_greedy"] + 0.01
    with pytest.raises(ConfigError, match="vocabularies"):
        _run("beam-vs-greedy", tmp_path / "other", checkpoint=trained.checkpoint, seed=5)


def test_rl_bleu_chooses_on_validation_and_reports_test_bleu_and_length(tmp_path):
    """Self-critical REINFORCE after cross-entropy, quick mode (S6)."""
    from deepnotes.tasks.translation import load_seq2seq

    r = lessons.get("rl-bleu").run(out_dir=tmp_path, quick=True)
    m, rows = r.metrics, r.tables["bleu"]
    assert m["start_test_bleu"] > 30  # the toy corpus is learnt by cross-entropy first
    assert [row["model"] for row in rows] == ["cross-entropy (start)"] + \
        ["self-critical"] * 2 + ["more cross-entropy"] * 2
    for kind in ("self-critical", "more cross-entropy"):
        cands = [row for row in rows if row["model"] == kind]
        chosen = [row for row in cands if row.get("chosen")]
        # one learning rate per continuation, the best on validation; only it has a test score
        assert len(chosen) == 1 and chosen[0]["val_bleu"] == max(c["val_bleu"] for c in cands)
        assert all(("test_bleu" in c) == bool(c.get("chosen")) for c in cands)
    assert m["rl_gain_over_ce"] == pytest.approx(m["rl_test_bleu"] - m["ce_test_bleu"])
    assert 0 < m["rl_test_words"] and 0 < m["reference_test_words"]
    rewards = [h for h in r.history if h["run"].startswith("self-critical")]
    assert len(rewards) == 2 * 2 and all(0 <= h["sample_reward"] <= 1 for h in rewards)
    assert "RL " in r.claim and "BLEU over the control" in r.claim
    load_seq2seq(tmp_path / "checkpoint")  # the self-critical model is saved


def test_denoising_pretraining_helps_a_small_parallel_set(tmp_path):
    """BART-style pre-training on monolingual verses, quick mode (P6)."""
    r = lessons.get("denoising-pretraining").run(out_dir=tmp_path, quick=True)
    m = r.metrics
    # the denoiser learnt to restore text: its held-out loss fell
    assert m["pretrain_last_val_loss"] < m["pretrain_first_val_loss"] - 0.5
    # both languages pre-trained on, two corrupted copies of each verse (which verses: see
    # tests/tasks/test_denoising.py, the partition test)
    assert m["mono_english"] > 0 and m["mono_spanish"] > 0
    assert m["pretrain_pairs"] == 2 * (m["mono_english"] + m["mono_spanish"])
    # the claim: fine-tuned on 300 pairs, the pre-trained network translates better than the
    # same network from random weights (quick: 3.2 vs 0.2 BLEU at 2,000 verses)
    assert m["pretrained_test_bleu"] > m["scratch_test_bleu"] + 1.0
    assert sum(bool(row.get("chosen")) for row in r.tables["bleu"]) == 2
