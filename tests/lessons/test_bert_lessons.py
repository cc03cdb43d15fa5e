"""BERT lessons (P1-P5): quick runs assert each lesson's claim."""

from __future__ import annotations

from pathlib import Path

from deepnotes import lessons
from deepnotes.cli import main


def test_bert_chinese_pretrains_finetunes_and_its_checkpoints_work(tmp_path, capsys):
    r = lessons.get("bert-chinese").run(out_dir=tmp_path, quick=True)
    m = r.metrics
    # pre-training learns: the validation loss (MLM + SOP) falls, and the masked characters
    # are guessed better than by always answering the most frequent one (quick mode's 300
    # steps of a width-64 BERT reach that plateau; the full run's curve goes on to 0.27)
    assert r.history[-1]["val_loss"] < r.history[0]["val_loss"] - 0.1
    assert m["pretrain_val_mlm_accuracy"] > 1.1 * m["mlm_unigram_baseline"]
    # fine-tuned models classify reviews and tag words far above the majority answers
    for start in ("pretrained", "scratch"):
        assert m[f"reviews_{start}_test_accuracy"] > m["reviews_majority"] + 0.1
        assert m[f"pos_{start}_test_accuracy"] > m["pos_majority_tag"] + 0.2
    assert m["pos_test_words_scored"] == 1.0  # long sentences cut, no test word lost
    # the pre-training curve has its points; the classifier folder answers on the CLI
    assert len(r.history) == 3
    assert main(["classify", str(Path(tmp_path) / "reviews-classifier"), "质量很好，推荐购买"]) == 0
    assert capsys.readouterr().out.split("\t")[0] in ("positive", "negative")
    # the pre-trained folder is a BERT the contextual-embeddings lesson reads (the notes' 果)
    c = lessons.get("contextual-embeddings").run(out_dir=tmp_path / "ctx", quick=True,
                                                 model=str(Path(tmp_path) / "pretrained"),
                                                 words=("果",))
    assert c.metrics["果_is_unk"] == 0.0
    assert abs(c.metrics["果_sense_gap_last_layer"] - m["guo_sense_gap_last_layer"]) < 1e-5


def test_bert_english_reads_cloze_questions(tmp_path):
    r = lessons.get("bert-english").run(out_dir=tmp_path, quick=True)
    m = r.metrics
    # MiniLM (2 of its blocks, 400 questions, 3 epochs) has learnt to answer with a name of the
    # context (a span chosen blindly is rarely one), right about as often as a random name —
    # reading which name the question needs is shown in full mode (docs/results.md)
    assert m["qa_minilm_test_answer_is_a_name"] > 0.8
    assert m["qa_minilm_test_exact_match"] > 0.75 * m["qa_random_name_test_exact_match"]
    assert m["qa_minilm_test_f1"] >= m["qa_minilm_test_exact_match"]
    assert m["qa_test_answer_in_context"] == 1.0
    assert m["pairs_train"] == 300
    samples = r.tables["qa_minilm_samples"]
    assert sum(s["answer"].lower() == s["gold"].lower() for s in samples) >= 5


def test_elmo_features_trains_a_bilm_and_four_classifiers(tmp_path):
    r = lessons.get("elmo-features").run(out_dir=tmp_path, quick=True)
    m = r.metrics
    # the biLM learnt the text: far below its first perplexity and below the unigram's
    assert m["bilm_val_perplexity"] < 0.6 * m["unigram_val_perplexity"]
    assert m["bilm_val_perplexity"] < 0.5 * m["bilm_first_val_perplexity"]
    # every classifier beats the majority answer; the mix is a distribution over 3 layers
    for key in ("pretrained_frozen", "pretrained_finetuned", "random_frozen",
                "random_finetuned"):
        assert m[f"{key}_test_accuracy"] > m["majority"] + 0.05
    weights = [m[f"pretrained_frozen_layer{j}_weight"] for j in range(3)]
    assert abs(sum(weights) - 1) < 1e-6 and max(weights) > 0.4  # learnt, not the 1/3 start
