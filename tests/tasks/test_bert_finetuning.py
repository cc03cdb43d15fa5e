"""BERT pre-training loop and fine-tuning (P1, P3, P4): vocabulary, batches, losses, the loop
learns, fine-tuned classifiers saved as Hugging Face folders that HF and the CLI read."""

from __future__ import annotations

import pytest
import torch
import transformers

from deepnotes.cli import main
from deepnotes.errors import ConfigError, DataMissingError, ShapeError
from deepnotes.models.bert import (
    BertConfig,
    BertForPreTraining,
    BertForSequenceClassification,
    BertForTokenClassification,
    load_pretrained_bert,
    save_pretrained,
)
from deepnotes.tasks.bert import (
    Rounds,
    build_sentence_pairs,
    char_vocab,
    choose_finetune,
    classification_batches,
    classify,
    encode_tagged,
    finetune,
    load_classifier,
    pair_batches,
    predict,
    pretrain,
    pretraining_loss_step,
    save_classifier,
    split_sentences,
    tagging_batches,
    token_accuracy,
    token_loss,
)
from deepnotes.text import WordPieceTokenizer

# a toy "language": documents are runs of counting sentences, each in one of two moods
GOOD = ["很好", "不错", "喜欢", "满意", "推荐"]
BAD = ["很差", "失望", "难用", "退货", "垃圾"]


def _reviews(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    texts, labels = [], []
    for _ in range(n):
        y = int(torch.randint(2, (1,), generator=g))
        words = GOOD if y else BAD
        k = torch.randint(2, 5, (1,), generator=g).item()
        picks = torch.randint(len(words), (k,), generator=g).tolist()
        texts.append("，".join("东西" + words[i] for i in picks) + "。")
        labels.append(y)
    return texts, labels


@pytest.fixture(scope="module")
def tok():
    texts, _ = _reviews(200)
    return WordPieceTokenizer.from_vocab(char_vocab(texts + ["abc123"] * 2), lowercase=True)


def _config(tok, **kw):
    return BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2,
                      num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                      **kw)


def test_P2_char_vocab_orders_by_frequency_and_splits_latin_runs(tok):
    vocab = char_vocab(["东东东西西南", "ABc"], min_freq=1)
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert vocab[5:10] == ["东", "西", "a", "b", "c"]  # by count, then by code point
    assert vocab[10] == "南"
    assert "##b" in vocab and "##东" not in vocab and "A" not in vocab  # lower-cased
    assert char_vocab(["东东西"], min_freq=2) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
                                                   "东"]
    assert tok.tokenize("东西ABC123好") == ["东", "西", "a", "##b", "##c", "##1", "##2", "##3",
                                           "好"]
    with pytest.raises(ConfigError):
        char_vocab(["x"], min_freq=0)


def test_split_sentences():
    assert split_sentences("一二。三四！\n五六") == ["一二。", "三四！", "五六"]
    assert split_sentences("一二。三四！\n五") == ["一二。", "三四！五"]  # too short: joined
    assert split_sentences("好的，很好。", punctuation="，。") == ["好的，", "很好。"]
    assert split_sentences("") == []


def test_P1_rounds_serve_steps_and_restart():
    r = Rounds([1, 2, 3], steps=2)
    assert len(r) == 2
    assert [list(r) for _ in range(3)] == [[1, 2], [3, 1], [2, 3]]
    with pytest.raises(ConfigError):
        Rounds([1], steps=0)


def test_P1_training_masks_are_fresh_evaluation_masks_fixed(tok):
    texts, _ = _reviews(40)
    pairs = build_sentence_pairs([split_sentences(t, punctuation="，。") for t in texts], tok,
                                 "sop", max_length=32)
    train = pair_batches(pairs, tok, 8, shuffle=True, seed=0)
    a, b = next(iter(train)), None
    train.epoch = 0  # the same order again: the masks must differ (dynamic masking)
    b = next(iter(train))
    assert torch.equal(a[2], b[2]) and not torch.equal(a[3], b[3])
    val = pair_batches(pairs, tok, 8, shuffle=False, seed=0)
    first, second = list(val), list(val)
    assert all(torch.equal(x[3], y[3]) for x, y in zip(first, second))
    assert sum(int((x[3] != -100).sum()) for x in first) > 0


def test_P1_masked_positions_only_equals_the_full_head(tok):
    torch.manual_seed(0)
    model = BertForPreTraining(_config(tok)).eval()
    ids = torch.randint(5, tok.vocab_size, (3, 10))
    chosen = torch.rand(3, 10) < 0.3
    full, pair_full = model(ids)
    part, pair_part = model(ids, predict=chosen)
    assert torch.allclose(part, full[chosen], atol=1e-5) and torch.allclose(pair_part, pair_full)
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    loss, _, (targets, _) = pretraining_loss_step(
        model, None, (ids, torch.zeros_like(ids), torch.ones_like(ids), labels,
                      torch.tensor([0, 1, 0])))
    expected = (torch.nn.functional.cross_entropy(full.flatten(0, 1), labels.flatten())
                + torch.nn.functional.cross_entropy(pair_full, torch.tensor([0, 1, 0])))
    assert torch.allclose(loss, expected, atol=1e-5) and torch.equal(targets, ids[chosen])
    with pytest.raises(ShapeError):
        model(ids, predict=chosen[:, :5])


def test_P1_P3_pretraining_learns_the_toy_language(tok):
    texts, _ = _reviews(300)
    docs = [split_sentences(t, punctuation="，。") for t in texts]
    pairs = build_sentence_pairs(docs, tok, "sop", max_length=32, seed=0)
    torch.manual_seed(0)
    model = BertForPreTraining(_config(tok))
    fit = pretrain(model, pairs[:-100], pairs[-100:], tok, steps=150, rounds=3, batch_size=16,
                   lr=3e-3, seed=0)
    rows = fit.history.rows
    assert len(rows) == 3 and rows[-1]["step"] == 150
    assert rows[-1]["val_loss"] < rows[0]["val_loss"]
    # 东 and 西 are fixed in every clause: an MLM that learnt anything gets them
    assert rows[-1]["val_mlm_accuracy"] > 0.3
    with pytest.raises(ConfigError):
        pretrain(model, pairs, pairs, tok, steps=2, rounds=3)


def test_P4_tagging_labels_the_first_piece_of_each_word(tok):
    ids, labels = encode_tagged(tok, ["东西", "abc", "好"], [3, 4, 5])
    assert tok.decode(ids, skip_special_tokens=False).startswith("[CLS]")
    assert labels == [-100, 3, -100, 4, -100, -100, 5, -100]
    assert len(ids) == len(labels) == 8
    ids, labels = encode_tagged(tok, ["东西", "abc", "好"], [3, 4, 5], max_length=5)
    assert labels == [-100, 3, -100, -100]  # "abc" (3 pieces) no longer fits: cut at words
    batch = next(iter(tagging_batches([encode_tagged(tok, ["东"], [1]),
                                       encode_tagged(tok, ["东西", "好"], [2, 0])], 2,
                                      shuffle=False)))
    ids, attention, types, y = batch
    assert y.tolist() == [[-100, 1, -100, -100, -100], [-100, 2, -100, 0, -100]]
    assert attention.tolist()[0] == [1, 1, 1, 0, 0] and int(types.sum()) == 0
    logits = torch.zeros(2, 5, 3)
    logits[0, 1, 1] = logits[1, 1, 2] = logits[1, 3, 1] = 1.0
    assert float(token_accuracy(logits, y)) == pytest.approx(2 / 3)
    assert float(token_loss(logits, y)) == pytest.approx(
        float(torch.nn.functional.cross_entropy(logits[y != -100], y[y != -100])))


def test_P4_finetuning_a_classifier_and_a_tagger_learns(tok):
    texts, labels = _reviews(240, seed=1)
    train = classification_batches(tok, texts[:200], labels[:200], 16, 32, seed=0)
    val = classification_batches(tok, texts[200:], labels[200:], 64, 32, shuffle=False)
    fit, rows = choose_finetune(lambda: BertForSequenceClassification(_config(tok)), train, val,
                                [{"lr": 1e-5}, {"lr": 3e-3}], epochs=3, seed=0)
    assert [r["chosen"] for r in rows] == [False, True]  # the tiny lr cannot learn in 3 epochs
    logits, y = predict(fit.model, val)
    assert float((logits.argmax(-1) == y).float().mean()) > 0.9
    # tagging: is the character a "mood" character (好 很 差 ...) or not
    mood = set("".join(GOOD + BAD))
    enc = [encode_tagged(tok, list(t), [int(c in mood) for c in t]) for t in texts]
    tfit = finetune(BertForTokenClassification(_config(tok)), tagging_batches(enc[:200], 16),
                    tagging_batches(enc[200:], 64, shuffle=False), epochs=3, lr=3e-3,
                    tagging=True)
    assert tfit.history.last()["val_accuracy"] > 0.95
    with pytest.raises(ConfigError):
        classification_batches(tok, texts, labels[:3], 4)
    with pytest.raises(ConfigError):
        choose_finetune(lambda: None, train, val, [])


def test_P4_classifier_folder_loads_back_in_hf_and_in_the_cli(tok, tmp_path, capsys):
    torch.manual_seed(0)
    model = BertForSequenceClassification(_config(tok, num_labels=3)).eval()
    folder = save_classifier(model, tok, ["bad", "ok", "good"], tmp_path / "clf", max_length=48)
    again, tok2, labels, max_length = load_classifier(folder)
    assert labels == ["bad", "ok", "good"] and max_length == 48
    texts = ["东西很好。", "东西很差，退货。"]
    p = classify(model, tok, texts)
    assert torch.allclose(classify(again, tok2, texts), p, atol=1e-6)
    hf = transformers.BertForSequenceClassification.from_pretrained(str(folder)).eval()
    enc = tok.encode_batch(texts)
    with torch.no_grad():
        hf_p = torch.softmax(hf(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                                token_type_ids=enc["token_type_ids"]).logits, -1)
    assert torch.allclose(hf_p, p, atol=1e-5)
    assert hf.config.id2label == {0: "bad", 1: "ok", 2: "good"}
    assert main(["classify", str(folder), *texts, "--top", "3"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2 and out[0].endswith(texts[0])
    best = labels[int(p[0].argmax())]
    assert out[0].split("\t")[0] == best and out[0].count(" 0.") + out[0].count(" 1.") == 3
    # a text the vocabulary cannot read at all is flagged
    assert main(["classify", str(folder), "ЖЖЖ"]) == 0
    assert "[UNK]" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        save_classifier(model, tok, ["a", "b"], tmp_path / "bad")
    with pytest.raises(DataMissingError):
        load_classifier(tmp_path / "nothing")
    assert main(["classify", str(tmp_path / "nothing"), "x"]) != 0
    assert main(["classify", str(folder), " "]) != 0


def test_P2_pretraining_folder_loads_in_hf_and_as_our_encoder(tok, tmp_path):
    torch.manual_seed(0)
    model = BertForPreTraining(_config(tok)).eval()
    folder = save_pretrained(model, tmp_path / "pre", tok)
    assert {p.name for p in folder.iterdir()} == {"config.json", "model.safetensors",
                                                  "tokenizer.json", "vocab.txt"}
    ids = torch.randint(5, tok.vocab_size, (2, 9))
    hf = transformers.BertForPreTraining.from_pretrained(str(folder)).eval()
    mlm, pair = model(ids)
    with torch.no_grad():
        out = hf(input_ids=ids)
    assert torch.allclose(out.prediction_logits, mlm, atol=1e-5)
    assert torch.allclose(out.seq_relationship_logits, pair, atol=1e-5)
    encoder = load_pretrained_bert(folder)
    assert torch.allclose(encoder(ids)[0], model.bert(ids)[0], atol=1e-6)


def test_P5_word_vectors_by_layer_and_sense_gap(tok):
    from deepnotes.metrics import sense_gap
    from deepnotes.models.bert import BertModel, word_vectors_by_layer

    torch.manual_seed(0)
    model = BertModel(_config(tok))
    sents = ["东西很好。", "很好的东西。", "东西很差。"]
    layers = word_vectors_by_layer(model, tok, sents, "东西")
    assert len(layers) == 3 and all(x.shape == (3, 32) for x in layers)
    # layer 0 is the embedding sum: the same pieces at the same positions give the same vector
    assert torch.allclose(layers[0][0], layers[0][2])
    h = model(tok.encode_batch(sents)["input_ids"])[0]
    assert torch.allclose(layers[-1][1], h[1, 4:6].mean(0), atol=1e-5)  # 东西 at pieces 4-5
    sim, same, other = sense_gap(torch.tensor([[1.0, 0], [2, 0], [0, 1], [0, 3]]), 2)
    assert (same, other) == (1.0, 0.0) and sim.shape == (4, 4)
    with pytest.raises(ConfigError):
        sense_gap(torch.ones(3, 2), 1)
    with pytest.raises(ConfigError):
        word_vectors_by_layer(model, tok, ["很好。"], "东西")
