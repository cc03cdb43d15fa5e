"""BERT pre-training data (P1, P3): NSP/SOP pairs built inside documents, padded and masked."""

from __future__ import annotations

import pytest
import torch

from deepnotes.errors import ConfigError
from deepnotes.tasks.bert import build_sentence_pairs, pretraining_batch
from deepnotes.text import load_tokenizer

DOCS = [[f"doc{d} sentence number {s} here ." for s in range(6)] for d in range(30)]


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer("minilm")


def _sides(tok, pair):
    sep = tok.token_to_id("[SEP]")
    first = pair.ids.index(sep)
    return tok.decode(pair.ids[1:first]), tok.decode(pair.ids[first + 1:-1])


def test_P3_nsp_negatives_come_from_other_documents_and_positives_are_next(tok):
    pairs = build_sentence_pairs(DOCS, tok, "nsp", max_length=64, seed=0)
    assert len(pairs) == 30 * 5
    assert 0.4 < sum(p.label for p in pairs) / len(pairs) < 0.6
    for p in pairs:
        a, b = _sides(tok, p)
        da, sa = a.split()[0], int(a.split()[3])
        db, sb = b.split()[0], int(b.split()[3])
        if p.label == 0:
            assert (db, sb) == (da, sa + 1)  # the real next sentence
        else:
            assert db != da  # a random sentence of another document
        # [CLS] A [SEP] B [SEP], type ids 0 for A and its [SEP], 1 for B
        first = p.ids.index(tok.token_to_id("[SEP]"))
        assert p.ids[0] == tok.token_to_id("[CLS]") and p.ids[-1] == tok.token_to_id("[SEP]")
        assert p.type_ids == [0] * (first + 1) + [1] * (len(p.ids) - first - 1)


def test_P3_sop_swaps_neighbours_of_one_document(tok):
    pairs = build_sentence_pairs(DOCS, tok, "sop", max_length=64, seed=1)
    assert 0.4 < sum(p.label for p in pairs) / len(pairs) < 0.6
    for p in pairs:
        a, b = _sides(tok, p)
        assert a.split()[0] == b.split()[0]  # one document
        sa, sb = int(a.split()[3]), int(b.split()[3])
        assert sb - sa == (-1 if p.label else 1)


def test_P1_batch_pads_masks_and_keeps_labels(tok):
    pairs = build_sentence_pairs(DOCS, tok, "nsp", max_length=12, seed=2)
    assert max(len(p.ids) for p in pairs) <= 12  # cut longest-first
    specials = [tok.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]")]
    batch = pretraining_batch(pairs, tok.token_to_id("[MASK]"), tok.vocab_size, specials,
                              first_regular_id=999, generator=torch.Generator().manual_seed(0))
    x, y, att = batch["input_ids"], batch["mlm_labels"], batch["attention_mask"]
    assert x.shape == y.shape == att.shape == batch["token_type_ids"].shape
    chosen = y != -100
    # no loss on special tokens or padding; about 15 % of the other tokens
    assert not chosen[att == 0].any()
    assert not torch.isin(y[chosen], torch.tensor(specials)).any()
    regular = (att == 1).sum() - 3 * len(pairs)
    assert 0.08 < chosen.sum() / regular < 0.22
    assert batch["pair_labels"].tolist() == [p.label for p in pairs]


def test_errors(tok):
    with pytest.raises(ConfigError, match="objective"):
        build_sentence_pairs(DOCS, tok, "mlm")
    with pytest.raises(ConfigError, match="at least 2"):
        build_sentence_pairs(DOCS[:1], tok, "nsp")
    with pytest.raises(ConfigError, match="no sentence pairs"):
        pretraining_batch([], 103, 30522, [101, 102])
