"""The R9 lessons: many-to-one sentiment and sequence tagging (their quick claims) and the
many-to-one baseline model. The tasks they run on: tests/tasks/test_text_classification.py and
tests/tasks/test_tagging.py."""

from __future__ import annotations

import pytest
import torch

from deepnotes import lessons, models
from deepnotes.models.bag_of_tokens import BagOfTokens


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_bag_of_tokens_is_softmax_regression_on_counts():
    torch.manual_seed(0)
    model = models.create("bag-of-tokens", vocab_size=6, num_classes=3)
    assert isinstance(model, BagOfTokens)
    assert not model(torch.tensor([[2, 5]]), torch.tensor([2])).any()  # W = 0, b = 0 at first
    torch.nn.init.normal_(model.weight.weight)
    torch.nn.init.normal_(model.bias)
    tokens = torch.tensor([[2, 5, 2, 1], [4, 1, 1, 1]])  # padded with 1 after the lengths
    lengths = torch.tensor([3, 1])
    counts = torch.zeros(2, 6)
    for b, n in enumerate(lengths.tolist()):
        for t in tokens[b, :n].tolist():
            counts[b, t] += 1
    W = model.weight.weight.T  # (C, V)
    # o = W n(x) + b, with n(x) the count vector
    torch.testing.assert_close(model(tokens, lengths), counts @ W.T + model.bias)
    # order does not matter to it
    torch.testing.assert_close(model(tokens[:, [2, 0, 1, 3]], lengths)[0],
                               model(tokens, lengths)[0])
    # no lengths: every position counts
    torch.testing.assert_close(model(tokens[:1, :3]), model(tokens, lengths)[:1])


def test_many_to_one_quick(tmp_path):
    r = lessons.get("many-to-one").run(out_dir=tmp_path, quick=True)
    m = r.metrics
    n = lessons.get("many-to-one").configure(quick=True).reviews
    assert m["train_reviews"] + m["val_reviews"] + m["test_reviews"] == n
    assert m["test_reviews"] == n // 5 and m["val_reviews"] == (n - n // 5) // 10
    # the lesson's claim: the BiLSTM beats the bag of characters (which ignores the order) on
    # the test split, and both are far above the majority class
    assert m["test_accuracy"] > m["bag_of_chars_test_accuracy"] + 0.01
    assert m["bag_of_chars_test_accuracy"] > m["majority_test_accuracy"] + 0.1
    # each model's setting is the one with the best validation accuracy among its candidates
    # (quick mode: one BiLSTM setting, two for the bag)
    for model, candidates in (("LSTM", 1), ("bag", 2)):
        rows = [x for x in r.tables["selection"] if model in x["model"]]
        assert len(rows) == candidates and sum(x["chosen"] for x in rows) == 1
        chosen = next(x for x in rows if x["chosen"])
        assert chosen["val_accuracy"] == max(x["val_accuracy"] for x in rows)
    assert m["chosen_lr"] == next(x["lr"] for x in r.tables["selection"]
                                  if "LSTM" in x["model"] and x["chosen"])
    assert r.tables["models"][0]["model"] == "majority class"
    assert r.checkpoint and all(p.endswith(".png") for p in r.figures)


def test_sequence_tagging_quick(tmp_path):
    r = lessons.get("sequence-tagging").run(out_dir=tmp_path, quick=True)
    m = r.metrics
    # the claim: BiLSTM > left-to-right LSTM and > the most frequent tag of each word
    assert m["bilstm_accuracy"] > m["lstm_accuracy"] + 0.005
    assert m["bilstm_accuracy"] > m["most_frequent_tag_accuracy"] + 0.01
    # words never seen in training: context is all there is, and the BiLSTM uses it
    assert m["bilstm_unseen_accuracy"] > m["most_frequent_tag_unseen_accuracy"] + 0.1
    assert 0.0 < m["test_unseen_rate"] < m["test_unk_rate"] < 0.5
    assert len(r.tables["models"]) == 3 and r.checkpoint
