"""The R9 lessons: many-to-one sentiment and sequence tagging; their helpers and quick claims."""

from __future__ import annotations

import pytest
import torch

from deepnotes import lessons
from deepnotes.errors import ConfigError
from deepnotes.lessons.sentiment import BagOfTokens, split_indices
from deepnotes.lessons.sequence_tagging import most_frequent_tags, split_sentences


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_bag_of_tokens_is_softmax_regression_on_counts():
    torch.manual_seed(0)
    model = BagOfTokens(6, 3)
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


def test_splits_are_seeded_disjoint_and_complete():
    for split in (split_indices, split_sentences):
        train, test = split(100, 0.2, seed=3)
        assert len(test) == 20 and sorted(train + test) == list(range(100))
        assert split(100, 0.2, seed=3) == (train, test)
        assert split(100, 0.2, seed=4) != (train, test)
        with pytest.raises(ConfigError, match="test_fraction"):
            split(100, 1.0, seed=0)


def test_most_frequent_tags_breaks_ties_alphabetically():
    table, default = most_frequent_tags([(["a", "b", "a"], ["x", "y", "z"]),
                                         (["a", "b"], ["x", "y"])])
    assert table == {"a": "x", "b": "y"}
    assert default == "x"  # x and y are both seen twice: the alphabetically first wins
    table, _ = most_frequent_tags([(["c", "c"], ["q", "p"])])
    assert table == {"c": "p"}


def test_many_to_one_quick(tmp_path):
    r = lessons.get("many-to-one").run(out_dir=tmp_path, quick=True)
    m = r.metrics
    assert m["train_reviews"] == 800 and m["test_reviews"] == 200
    # the LSTM (and the bag-of-characters baseline) are far above the majority class even
    # on 800 reviews; the LSTM only overtakes the baseline with the full data (full mode)
    assert m["test_accuracy"] > m["majority_test_accuracy"] + 0.1
    assert m["bag_of_chars_test_accuracy"] > m["majority_test_accuracy"] + 0.1
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
