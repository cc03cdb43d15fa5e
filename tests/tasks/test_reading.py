"""Reading tasks made from novels (P4): sentence pairs, cloze questions, QA encoding and
training, span prediction."""

from __future__ import annotations

import pytest
import torch

from deepnotes.errors import ConfigError
from deepnotes.metrics import qa_scores
from deepnotes.models.bert import BertConfig, BertForQuestionAnswering
from deepnotes.tasks.bert import encode_qa, finetune, qa_batches, qa_loss_step, qa_predict
from deepnotes.tasks.reading import (
    book_sentences,
    cloze_questions,
    consecutive_pairs,
    find_names,
    heuristic_answers,
)
from deepnotes.text import WordPieceTokenizer

NAMES = ["Anne", "Emma", "Harriet", "Frank", "Jane", "Robert"]


def _novel(n_par: int = 60, seed: int = 0) -> list[list[str]]:
    g = torch.Generator().manual_seed(seed)
    paras = []
    for p in range(n_par):
        sents = []
        for s in range(4):
            who = NAMES[int(torch.randint(len(NAMES), (1,), generator=g))]
            sents.append(f"Then {who} walked to the house number {p} {s} with care.")
        paras.append(sents)
    return paras


def test_book_sentences_and_names():
    assert book_sentences(["He came.--She", "left! \"Why?\" he said.", "", "", "Next."]) == [
        ["He came.", "She left!", "\"Why?\" he said."], ["Next."]]
    flat = [s for p in _novel() for s in p] + ["Then the Mr left.", "the then"]
    names = find_names(flat)
    assert names == set(NAMES)  # "Then" is capitalised but also lower-case; Mr is a title


def test_P4_consecutive_pairs_are_neighbours_or_far_apart():
    paras = _novel()
    flat = [s for p in paras for s in p]
    pairs = consecutive_pairs(paras, 100, seed=1, min_gap=20)
    assert len(pairs) == 100 and sum(y for _, _, y in pairs) == 50
    for a, b, y in pairs:
        i, j = flat.index(a), flat.index(b)
        if y:
            assert j == i + 1 and i // 4 == j // 4  # the next sentence, same paragraph
        else:
            assert abs(j - i) >= 20
    with pytest.raises(ConfigError):
        consecutive_pairs(paras, 10_000)


def test_P4_cloze_questions_mask_a_name_the_context_mentions():
    paras = _novel()
    qs = cloze_questions(paras, set(NAMES), max_words=30, seed=0)
    assert len(qs) > 50
    for q in qs:
        assert q.question.count("[MASK]") == 1 and q.answer not in q.question
        assert q.answer in q.context.split() and q.answer == q.answer.capitalize()
        assert len(q.context.split()) <= 30
        assert set(q.candidates) <= set(NAMES) and q.answer in q.candidates
        # the context is the text right before the question
        flat = [s for p in paras for s in p]
        i = flat.index(q.question.replace("[MASK]", q.answer))
        assert q.context.endswith(flat[i - 1])
    rules = heuristic_answers(qs)
    assert set(rules) == {"last mentioned", "most frequent", "first mentioned"}
    assert all(len(v) == len(qs) for v in rules.values())
    # "last mentioned" is the name of the sentence right before the question
    assert all(r in qs[k].context.split(".")[-2] for k, r in enumerate(rules["last mentioned"]))


@pytest.fixture(scope="module")
def tok():
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "then", "walked", "to", "the",
             "house", "with", "care", ".", "an", "##ne", "emma", "##s"] + [str(i) for i in range(10)]
    return WordPieceTokenizer.from_vocab(words)


def test_P4_encode_qa_finds_the_last_whole_word_mention(tok):
    ids, types, s, e = encode_qa(tok, "[MASK] walked .", "anne walked . emma walked . anne .",
                                 "Anne")
    assert tok.decode(ids[s:e + 1]) == "anne" and types[s] == 1
    assert s == len(ids) - 4  # the second "anne" (pieces an ##ne), not the first
    # "emma" is not found inside "emmas", and no answer gives (0, 0)
    assert encode_qa(tok, "x", "emmas walked .", "Emma")[2:] == (0, 0)
    assert encode_qa(tok, "x", "emma walked .", None)[2:] == (0, 0)
    # cut away by max_length: not found
    assert encode_qa(tok, "walked", "the house . " * 20 + "emma .", "emma", max_length=16)[2:] \
        == (0, 0)


def test_P4_qa_loss_reads_only_context_positions_and_training_learns(tok):
    # the answer is the name right before "walked" in a context full of other words
    g = torch.Generator().manual_seed(0)
    examples, gold = [], []
    for k in range(160):
        name = ["anne", "emma"][k % 2]
        other = ["anne", "emma"][1 - k % 2]
        pos = int(torch.randint(4, (1,), generator=g))
        ctx = ["the house ."] * 4
        ctx[pos] = f"{name} walked ."
        ctx.insert((pos + 2) % 5, f"{other} with care .")
        examples.append(encode_qa(tok, "[MASK] walked", " ".join(ctx), name, 64))
        gold.append(name)
    batch = next(iter(qa_batches(examples[:4], 4, shuffle=False)))
    ids, attention, types, allowed, start, end = batch
    assert not allowed[:, 0].any() and (types[allowed] == 1).all()
    assert not allowed[torch.arange(4), attention.sum(1) - 1].any()  # the final [SEP]
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2,
                     num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(0)
    model = BertForQuestionAnswering(cfg)
    loss, (s, e), _ = qa_loss_step(model, None, batch)
    assert torch.isinf(s[~allowed & (torch.arange(s.shape[1]) != start.view(-1, 1))]).all()
    assert torch.isfinite(loss)
    fit = finetune(model, qa_batches(examples[:128], 16), qa_batches(examples[128:], 32,
                                                                      shuffle=False),
                   epochs=12, lr=2e-3, qa=True, seed=0)
    val = qa_batches(examples[128:], 32, shuffle=False)
    order = [i for b in val.batches(0) for i in b]
    answers = qa_predict(fit.model, tok, val)
    assert qa_scores(answers, [gold[128 + i] for i in order])["exact_match"] > 90
    assert fit.history.last()["val_accuracy"] > 0.9
