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


def test_multilingual_bert_pretrains_on_two_languages_and_tests_zero_shot(tmp_path):
    """Multilingual pre-training and zero-shot transfer, quick mode (P8)."""
    r = lessons.get("multilingual-bert").run(out_dir=tmp_path, quick=True)
    m = r.metrics
    # pre-training on the mixed English + Spanish text learns (validation loss falls); the
    # shared WordPiece vocabulary holds pieces of both languages, many used by both
    assert m["pretrain_last_val_loss"] < m["pretrain_first_val_loss"] - 0.1
    assert m["pretrain_characters_en"] > 0 and m["pretrain_characters_es"] > 0
    assert 0.1 < m["vocab_shared_share"] < 0.9
    # the English classifiers read the verses: above the most frequent part (quick mode's
    # 1,500 verses and 2-layer BERT; zero-shot transfer is the full run's, docs/results.md)
    assert max(m["pretrained_en_test_en_accuracy"], m["scratch_en_test_en_accuracy"]) \
        > m["chance"] + 0.03
    for key in ("pretrained_en_test_es_accuracy", "scratch_en_test_es_accuracy",
                "pretrained_es_test_es_accuracy", "retrieval_pretrained", "retrieval_random"):
        assert 0.0 <= m[key] <= 1.0
    assert m["train_verses"] == 1500
    # every test verse counted once in the zero-shot confusion table
    assert sum(v for row in r.tables["zero_shot_confusion"] for k, v in row.items()
               if k != "gold") == m["test_verses"]
    assert (Path(tmp_path) / "pretrained" / "vocab.txt").is_file()


def test_glue_offline_scores_four_tasks_and_averages_them(tmp_path):
    """A GLUE-style suite, quick mode (P9)."""
    r = lessons.get("glue-offline").run(out_dir=tmp_path, quick=True)
    m = r.metrics
    tasks = ("verses", "fortunes", "cloze")  # quick mode's three of the four
    # one benchmark score per model: the unweighted mean of its task scores (0-100)
    for model in ("minilm", "floor"):
        assert abs(m[f"{model}_average"] - sum(m[f"{model}_{t}"] for t in tasks) / 3) < 1e-9
        assert all(0 <= m[f"{model}_{t}"] <= 100 for t in tasks)
    assert [row["model"] for row in r.tables["scores"]] == ["floor (no reading)", "minilm"]
    # MiniLM (2 blocks, 300 examples per task) reads the single texts: well above the most
    # frequent label; the cloze task needs the full run (docs/results.md)
    assert m["minilm_verses"] > m["floor_verses"] + 10
    assert m["minilm_fortunes"] > m["floor_fortunes"] + 10
    assert "minilm_next_sentence" not in m  # a task left out is not averaged
    assert m["verses_train_examples"] == m["fortunes_train_examples"] == 300


def test_glue_offline_refuses_an_unknown_model(tmp_path):
    import pytest

    from deepnotes.errors import ConfigError

    glue = lessons.get("glue-offline")
    with pytest.raises(ConfigError, match="folder"):
        glue.run(out_dir=tmp_path, quick=True, models=("no-such-model",))
    with pytest.raises(ConfigError, match="row name"):
        glue.run(out_dir=tmp_path, quick=True, models=("minilm", "minilm"))
    # a folder pre-trained on the training chapters of another Bible split is refused
    folder = tmp_path / "other" / "pretrained"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"deepnotes_bible_split_seed": 1}')
    with pytest.raises(ConfigError, match="split_seed=1"):
        glue.run(out_dir=tmp_path, quick=True, models=(str(folder),))


def test_bert_pretraining_learns_english_and_writes_a_folder_transformers_loads(tmp_path):
    """English MLM + NSP pre-training (P1, P3) and its Hugging Face folder."""
    import torch
    import transformers

    from deepnotes.models.bert import load_pretrained_bert
    from deepnotes.text import load_tokenizer

    r = lessons.get("bert-pretraining").run(out_dir=tmp_path, quick=True)
    m = r.metrics
    # the text supervises itself: the loss falls and masked pieces are guessed better than by
    # always answering the most frequent piece (quick: 600 updates of a width-64 BERT)
    assert m["last_val_loss"] < m["first_val_loss"] - 0.1
    assert m["val_mlm_accuracy"] > 1.1 * m["mlm_unigram_baseline"]
    assert len(r.history) == 3 and m["documents"] == 300
    # the validation and test novels of the reading tasks are not in the pre-training text
    assert m["corpus_characters_austen"] < 3.2e6  # four of the six novels (4.0M chars)
    # the folder is a BERT that transformers and our loader read alike
    folder = Path(tmp_path) / "pretrained"
    hf = transformers.BertModel.from_pretrained(folder).eval()
    ours = load_pretrained_bert(folder).eval()
    tok = load_tokenizer(folder)
    enc = tok.encode_batch(["It is a truth universally acknowledged.", "Thou art a villain."])
    with torch.no_grad():
        want = hf(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                  token_type_ids=enc["token_type_ids"]).last_hidden_state
        got, _ = ours(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
    keep = enc["attention_mask"].bool()
    assert torch.allclose(got[keep], want[keep], atol=1e-5)


def test_glue_offline_model_names():
    from deepnotes.lessons.glue_offline import _folder, _label

    assert _folder("scratch") == "minilm" and _folder("minilm") == "minilm"
    assert _folder("scratch:runs/x/pretrained") == "runs/x/pretrained"
    assert _label("runs/full/bert-pretraining/pretrained") == "bert-pretraining"
    assert _label("scratch:runs/full/bert-pretraining/pretrained") == "scratch:bert-pretraining"
    assert _label("scratch") == "scratch"
