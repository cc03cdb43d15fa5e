"""The text-classification task (R9 many-to-one, G3): seeded splits, padded batches of similar
lengths, choosing settings on validation only, probabilities."""

from __future__ import annotations

import pytest
import torch

from deepnotes import models
from deepnotes.errors import ConfigError
from deepnotes.tasks.text_classification import (
    choose_on_validation,
    predict_proba,
    split_indices,
    text_batches,
    tokenize_texts,
)


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_splits_are_seeded_disjoint_and_complete():
    train, test = split_indices(100, 0.2, seed=3)
    assert len(test) == 20 and sorted(train + test) == list(range(100))
    assert split_indices(100, 0.2, seed=3) == (train, test)
    assert split_indices(100, 0.2, seed=4) != (train, test)
    with pytest.raises(ConfigError, match="fraction"):
        split_indices(100, 1.0, seed=0)


def _toy_reviews(n: int, seed: int) -> tuple[list[list[int]], list[int]]:
    """Token 4 in a sequence means class 1, token 5 class 0; tokens 6-9 are noise."""
    g = torch.Generator().manual_seed(seed)
    ids, labels = [], []
    for _ in range(n):
        y = int(torch.randint(2, (1,), generator=g))
        noise = torch.randint(6, 10, (int(torch.randint(1, 6, (1,), generator=g)),), generator=g)
        ids.append([5 - y, *noise.tolist()])
        labels.append(y)
    return ids, labels


def test_choose_on_validation_keeps_the_best_validation_setting():
    train_ids, train_y = _toy_reviews(200, seed=0)
    val_ids, val_y = _toy_reviews(60, seed=1)
    train = text_batches(train_ids, train_y, pad=1, max_len=8, batch_size=16, shuffle=True)
    val = text_batches(val_ids, val_y, pad=1, max_len=8, batch_size=64)
    # lr = 0 leaves the zero-initialised bag at chance; lr = 0.1 learns the signal token
    fit, rows = choose_on_validation(lambda: models.create("bag-of-tokens", vocab_size=10),
                                     train, val, [{"lr": 0.0, "epochs": 2},
                                                  {"lr": 0.1, "epochs": 2}], seed=0)
    assert [r["chosen"] for r in rows] == [False, True]
    assert fit.setting["lr"] == 0.1 and rows[1]["val_accuracy"] == 1.0
    assert rows[0]["val_accuracy"] < 0.8
    # the row's validation accuracy is the chosen model's, measured on the validation batches
    assert fit.trainer.evaluate(val)["accuracy"] == pytest.approx(rows[1]["val_accuracy"])
    p = predict_proba(fit.model, [[4, 7], [5, 6, 6]], pad=1)  # (2, C)
    assert p.shape == (2, 2) and p[0, 1] > 0.75 and p[1, 0] > 0.75
    with pytest.raises(ConfigError, match="candidate"):
        choose_on_validation(lambda: models.create("bag-of-tokens", vocab_size=10), train, val, [])


def test_text_batches_pad_cut_and_keep_the_labels():
    ids = [[4, 5, 6, 7, 8], [9], [4, 4], [5, 6, 7]]
    batches = text_batches(ids, [1, 0, 1, 0], pad=1, max_len=3, batch_size=2)
    got = list(batches)
    assert len(batches) == 2 and len(got) == 2
    # evaluation batches come in length order: [9] and [4, 4] first
    tokens, lengths, y = got[0]
    assert tokens.tolist() == [[9, 1], [4, 4]] and lengths.tolist() == [1, 2]
    assert y.tolist() == [0, 1]
    tokens, lengths, y = got[1]
    # the 5-token text is cut to its first max_len = 3 tokens
    assert tokens.tolist() == [[4, 5, 6], [5, 6, 7]] and lengths.tolist() == [3, 3]
    assert y.tolist() == [1, 0]
    # training batches: every text once per epoch, reshuffled by the seed
    train = text_batches(ids, [1, 0, 1, 0], pad=1, max_len=3, batch_size=2, shuffle=True,
                         seed=0)
    assert sorted(i for b in train.batches(0) for i in b) == [0, 1, 2, 3]


def test_tokenize_texts_by_character():
    assert tokenize_texts(["好书", "不好"], "char") == [["好", "书"], ["不", "好"]]
    with pytest.raises(ConfigError, match="'char' or 'word'"):
        tokenize_texts(["好书"], "byte")
