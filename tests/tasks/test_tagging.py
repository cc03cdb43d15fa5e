"""The tagging task (R9 many-to-many): the most-frequent-tag baseline, tagged-sentence batches,
predictions put back in sentence order."""

from __future__ import annotations

import pytest
from torch import nn

from deepnotes.errors import ConfigError
from deepnotes.tasks.tagging import TaggedSentences, most_frequent_tags, predict_tags
from deepnotes.text import Vocab


class _EchoTagger(nn.Module):
    """Tags every word with the tag whose index is (word index mod K): a known answer."""

    def __init__(self, num_tags: int) -> None:
        super().__init__()
        self.num_tags = num_tags

    def forward(self, words, lengths, chars):
        return nn.functional.one_hot(words % self.num_tags, self.num_tags).float()  # (B, T, K)


def test_predict_tags_returns_sentences_in_their_own_order():
    sents = [(["a"] * n, ["x"] * n) for n in (3, 1, 4, 2, 5)]
    sents[2] = (["b", "a", "c", "b"], ["y", "x", "x", "y"])
    words = Vocab([w for w, _ in sents])
    chars = Vocab([[c for w in ws for c in (w[0], w[-1])] for ws, _ in sents])
    tags = Vocab([t for _, t in sents], reserved=("<unk>",))
    data = TaggedSentences(sents, words, chars, tags)
    batches = data.batches(batch_size=2)  # length order, not sentence order
    acc, preds = predict_tags(_EchoTagger(len(tags)), batches, tags)
    expected = [tags.to_tokens([words[w] % len(tags) for w in ws]) for ws, _ in sents]
    assert preds == expected and [len(p) for p in preds] == [3, 1, 4, 2, 5]
    gold = [t for _, ts in sents for t in ts]
    assert acc == pytest.approx(sum(p == g for p, g in zip(sum(preds, []), gold)) / len(gold))
    with pytest.raises(ConfigError, match="shuffle"):
        predict_tags(_EchoTagger(len(tags)), data.batches(2, shuffle=True), tags)


def test_most_frequent_tags_breaks_ties_alphabetically():
    table, default = most_frequent_tags([(["a", "b", "a"], ["x", "y", "z"]),
                                         (["a", "b"], ["x", "y"])])
    assert table == {"a": "x", "b": "y"}
    assert default == "x"  # x and y are both seen twice: the alphabetically first wins
    table, _ = most_frequent_tags([(["c", "c"], ["q", "p"])])
    assert table == {"c": "p"}


def test_tagged_sentences_collate_words_first_last_characters_and_tags():
    sents = [(["我们", "研究"], ["r", "v"]), (["书"], ["n"])]
    words = Vocab([w for w, _ in sents])
    chars = Vocab([[c for w in ws for c in (w[0], w[-1])] for ws, _ in sents])
    tags = Vocab([t for _, t in sents], reserved=("<unk>",))
    w, lengths, c, y = TaggedSentences(sents, words, chars, tags).collate([0, 1])
    assert w.shape == (2, 2) and lengths.tolist() == [2, 1] and c.shape == (2, 2, 2)
    assert words.to_tokens(w[0].tolist()) == ["我们", "研究"] and int(w[1, 1]) == words.pad
    assert chars.to_tokens(c[0, 0].tolist()) == ["我", "们"]
    assert chars.to_tokens(c[1, 0].tolist()) == ["书", "书"]  # one character: first = last
    assert tags.to_tokens(y[0].tolist()) == ["r", "v"] and tags.to_tokens([int(y[1, 0])]) == ["n"]
