"""Training word embeddings (E1-E4): corpus ids, subsampling, dynamic windows, noise sampling,
co-occurrence counts, the hand-written step against autograd over whole runs, and planted
structure recovered by word2vec, fastText and GloVe on tiny corpora."""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict

import pytest
import torch

from deepnotes.errors import ConfigError
from deepnotes.models.fasttext import FastTextVectors
from deepnotes.tasks.embeddings import (
    AliasSampler,
    EmbeddingCorpus,
    build_corpus,
    cooccurrence,
    keep_probabilities,
    noise_distribution,
    train_fasttext,
    train_glove,
    train_word2vec,
    window_contexts,
)

f64 = torch.float64


def _planted(n_sentences: int = 240, length: int = 10, seed: int = 0):
    """Sentences drawn from one of three groups of 8 words: words co-occur within a group."""
    rng = random.Random(seed)
    groups = [[f"{g}{i}" for i in range(8)] for g in "abc"]
    return [[rng.choice(groups[k % 3]) for _ in range(length)] for k in range(n_sentences)], groups


def _group_recovery(vectors, groups) -> tuple[float, float]:
    """(share of words whose nearest neighbour is in their group, mean cos within - across)."""
    hits, within, across = 0, [], []
    words = [w for g in groups for w in g]
    for gi, group in enumerate(groups):
        for w in group:
            hits += vectors.most_similar(w, k=1)[0][0] in group
            for u in words:
                if u != w:
                    (within if u in group else across).append(vectors.similarity(w, u))
    return hits / len(words), sum(within) / len(within) - sum(across) / len(across)


# ---------------------------------------------------------------- corpus and sampling

def test_E1_build_corpus_sorts_by_count_and_drops_rare_words():
    sents = [["b", "a", "rare", "a"], [], ["c", "b", "a", "c"], ["c"]]
    c = build_corpus(sents, min_count=2)
    assert c.words == ["a", "c", "b"]  # counts 3, 3, 2: ties in order of first appearance
    assert c.counts.tolist() == [3, 3, 2]
    assert c.ids.tolist() == [2, 0, 0, 1, 2, 0, 1, 1]
    assert c.sentences.tolist() == [0, 0, 0, 2, 2, 2, 2, 3]
    assert c.dropped == 1 and len(c) == 8
    assert build_corpus(sents, min_count=1, max_vocab=3).words == ["a", "c", "b"]
    with pytest.raises(ConfigError, match="min_count"):
        build_corpus(sents, min_count=0)
    with pytest.raises(ConfigError, match="at least min_count"):
        build_corpus([["x", "y"]], min_count=2)


def test_E1_subsampling_keeps_word2vec_c_share():
    counts = torch.tensor([5000, 400, 30, 1])
    t = 1e-3
    total = counts.sum().item()
    expected = [min(1.0, math.sqrt(t * total / c) + t * total / c) for c in counts.tolist()]
    assert keep_probabilities(counts, t).tolist() == pytest.approx(expected, rel=1e-12)
    assert keep_probabilities(counts, 0.0).tolist() == [1.0] * 4
    # the paper's discard probability 1 - sqrt(t/f) keeps a little less than the code
    f = counts[0].item() / total
    assert expected[0] > math.sqrt(t / f)
    with pytest.raises(ConfigError, match="sample"):
        keep_probabilities(counts, -1.0)


def test_E2_noise_distribution_and_alias_sampler():
    counts = torch.tensor([81, 16, 1, 0])
    p = noise_distribution(counts)
    raw = [81 ** 0.75, 16 ** 0.75, 1.0, 0.0]
    assert p.tolist() == pytest.approx([x / sum(raw) for x in raw], rel=1e-12)
    sampler = AliasSampler(p)
    draws = sampler.sample((200_000,), torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=4).double() / len(draws)
    torch.testing.assert_close(freq, p, atol=4e-3, rtol=0)
    assert freq[3] == 0  # never a word of probability 0
    again = sampler.sample((200_000,), torch.Generator().manual_seed(0))
    assert torch.equal(draws, again)


def test_E1_window_contexts_match_a_loop():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 50, (40,), generator=g)
    sent = torch.tensor([0] * 7 + [1] * 3 + [2] * 20 + [4] * 10)
    radius = torch.randint(1, 4, (40,), generator=g)
    got = window_contexts(ids, sent, 5, 33, radius[5:33], 3)
    for row, i in enumerate(range(5, 33)):
        expected = []
        for off in [-3, -2, -1, 1, 2, 3]:
            j = i + off
            ok = abs(off) <= radius[i] and 0 <= j < 40 and sent[j] == sent[i]
            expected.append(int(ids[j]) if ok else -1)
        assert got[row].tolist() == expected


def test_E3_cooccurrence_matches_a_loop():
    rng = random.Random(2)
    sents = [[rng.choice("abcdef") for _ in range(rng.randint(1, 9))] for _ in range(30)]
    corpus = build_corpus(sents, min_count=1)
    for symmetric in (True, False):
        expected: dict[tuple[int, int], float] = defaultdict(float)
        index = {w: i for i, w in enumerate(corpus.words)}
        for s in sents:
            for a in range(len(s)):
                for d in range(1, 4):
                    if a + d < len(s):
                        i, j = index[s[a]], index[s[a + d]]
                        expected[(i, j)] += 1 / d
                        if symmetric:
                            expected[(j, i)] += 1 / d
        rows, cols, values = cooccurrence(corpus, window=3, symmetric=symmetric)
        got = {(int(i), int(j)): float(v) for i, j, v in zip(rows, cols, values)}
        assert got.keys() == expected.keys()
        for key, value in expected.items():
            assert got[key] == pytest.approx(value, rel=1e-12)
        keys = (rows * 100 + cols).tolist()
        assert keys == sorted(keys)


# ---------------------------------------------------------------- fast step == autograd

@pytest.mark.parametrize("architecture,objective", [("skipgram", "negative"),
                                                    ("cbow", "negative"),
                                                    ("skipgram", "hierarchical"),
                                                    ("cbow", "hierarchical")])
def test_E1_E2_hand_written_training_equals_autograd_training(architecture, objective):
    sents, _ = _planted(30)
    corpus = build_corpus(sents, min_count=1)
    kw = dict(architecture=architecture, objective=objective, dim=6, window=3, negative=3,
              sample=1e-2, epochs=2, lr=0.05, batch_size=16, seed=3, progress=False, dtype=f64)
    runs = {}
    for cap in (None, 3.0):  # plain steps, and steps of frequent rows capped (they are)
        fast = train_word2vec(corpus, fast=True, max_row_steps=cap, **kw)
        slow = train_word2vec(corpus, fast=False, max_row_steps=cap, **kw)
        torch.testing.assert_close(fast.vectors.vectors, slow.vectors.vectors, atol=1e-10,
                                   rtol=1e-8)
        assert fast.history.column("train_loss") == pytest.approx(
            slow.history.column("train_loss"), rel=1e-9)
        runs[cap] = fast.vectors.vectors
    assert not torch.allclose(runs[None], runs[3.0])  # the cap changed the steps
    start = train_word2vec(corpus, fast=True, **{**kw, "epochs": 1, "lr": 1e-12, "min_lr": 0})
    assert not torch.allclose(runs[None], start.vectors.vectors)  # it did train


def test_E4_fasttext_hand_written_training_equals_autograd_training():
    sents, _ = _planted(20)
    corpus = build_corpus(sents, min_count=1)
    kw = dict(dim=5, window=2, negative=2, buckets=50, epochs=1, batch_size=8, seed=1,
              progress=False, dtype=f64)
    for cap in (None, 2.0):
        fast = train_fasttext(corpus, fast=True, max_row_steps=cap, **kw)
        slow = train_fasttext(corpus, fast=False, max_row_steps=cap, **kw)
        torch.testing.assert_close(fast.vectors.vectors, slow.vectors.vectors, atol=1e-10,
                                   rtol=1e-8)
        torch.testing.assert_close(fast.vectors.ngram_vectors, slow.vectors.ngram_vectors,
                                   atol=1e-10, rtol=1e-8)


# ---------------------------------------------------------------- planted structure

@pytest.mark.parametrize("architecture,objective", [("skipgram", "negative"),
                                                    ("cbow", "negative"),
                                                    ("skipgram", "hierarchical"),
                                                    ("cbow", "hierarchical")])
def test_E1_E2_word2vec_recovers_planted_groups(architecture, objective):
    sents, groups = _planted()
    corpus = build_corpus(sents, min_count=1)
    run = train_word2vec(corpus, architecture=architecture, objective=objective, dim=16,
                         window=4, sample=0.0, epochs=10, lr=0.05, batch_size=32, seed=0,
                         progress=False)
    nearest, gap = _group_recovery(run.vectors, groups)
    assert nearest == 1.0 and gap > 0.3, (nearest, gap)
    losses = run.history.column("train_loss")
    assert losses[-1] < losses[0]
    row = run.history.last()
    assert row["words_per_sec"] > 0 and row["seconds"] > 0 and row["pairs"] > 0
    assert len(run.curve) >= 10 and run.words_per_sec > 0
    assert [d for d, _ in run.curve] == sorted(d for d, _ in run.curve)


def test_E3_glove_recovers_planted_groups():
    sents, groups = _planted()
    corpus = build_corpus(sents, min_count=1)
    run = train_glove(corpus, dim=8, window=4, x_max=10.0, epochs=40, lr=0.1, batch_size=64,
                      progress=False)
    nearest, gap = _group_recovery(run.vectors, groups)
    assert nearest == 1.0 and gap > 0.3, (nearest, gap)
    losses = run.history.column("train_loss")
    assert losses[-1] < 0.2 * losses[0]


def _inflections(seed: int = 0):
    """Stems with -s/-ed/-ing forms; sentences mix one stem's forms with its topic words."""
    rng = random.Random(seed)
    stems = {"walk": "park", "paint": "wall", "jump": "fence", "cook": "food"}
    sents = []
    for _ in range(400):
        stem, topic = rng.choice(list(stems.items()))
        forms = [stem, stem + "s", stem + "ed"]  # "-ing" is never seen
        sents.append([rng.choice(forms + [topic, topic + "s"]) for _ in range(8)])
    return sents, stems


def test_E4_fasttext_gives_unseen_inflections_vectors_near_their_stem():
    sents, stems = _inflections()
    corpus = build_corpus(sents, min_count=1)
    run = train_fasttext(corpus, dim=16, window=3, sample=0.0, buckets=5000, epochs=5,
                         lr=0.05, batch_size=32, seed=0, progress=False)
    wv = run.vectors
    assert isinstance(wv, FastTextVectors)
    for stem in stems:
        unseen = stem + "ing"
        assert unseen not in wv
        others = [s + "ed" for s in stems if s != stem]
        own = wv.similarity(unseen, stem + "ed")
        assert own > max(wv.similarity(unseen, o) for o in others), stem
        # its nearest vocabulary word is one of its forms or its topic
        nearest = wv.most_similar(unseen, k=1)[0][0]
        assert nearest.startswith(stem) or nearest.startswith(stems[stem]), (unseen, nearest)


def test_subsampling_keeps_the_expected_share_each_epoch():
    sents, _ = _planted(300)
    corpus = build_corpus(sents, min_count=1)
    run = train_word2vec(corpus, dim=4, sample=1e-2, epochs=2, progress=False)
    expected = float(keep_probabilities(corpus.counts, 1e-2)[corpus.ids].sum())
    for row in run.history:
        assert row["kept_words"] == pytest.approx(expected, rel=0.05)


def test_two_workers_train_too():
    sents, groups = _planted()
    corpus = build_corpus(sents, min_count=1)
    run = train_word2vec(corpus, dim=16, window=4, sample=0.0, epochs=10, lr=0.05,
                         batch_size=32, workers=2, progress=False)
    assert torch.isfinite(run.vectors.vectors).all()
    nearest, gap = _group_recovery(run.vectors, groups)
    assert nearest == 1.0 and gap > 0.3
    assert torch.get_num_threads() >= 1  # restored after training


def test_progress_bar_reports_words(capsys):
    corpus = build_corpus(_planted(30)[0], min_count=1)
    train_word2vec(corpus, dim=4, epochs=1, progress=True)
    assert "word" in capsys.readouterr().err


def test_training_errors():
    corpus = EmbeddingCorpus(["a", "b"], torch.tensor([2, 1]), torch.tensor([0, 1, 0]),
                             torch.tensor([0, 0, 0]))
    for bad, match in [({"window": 0}, "window"), ({"negative": -1}, "negative"),
                       ({"epochs": 0}, "epochs"), ({"lr": 0.0}, "lr"),
                       ({"batch_size": 0}, "batch_size"), ({"workers": 0}, "workers"),
                       ({"workers": 2, "fast": False}, "one worker"),
                       ({"max_row_steps": 0.0}, "max_row_steps")]:
        with pytest.raises(ConfigError, match=match):
            train_word2vec(corpus, progress=False, **bad)
    with pytest.raises(ConfigError, match="architecture"):
        train_word2vec(corpus, architecture="bag", progress=False)
    with pytest.raises(ConfigError, match="window"):
        cooccurrence(corpus, window=0)


def test_counts_of_the_corpus_are_the_token_counts():
    sents, _ = _planted(50)
    corpus = build_corpus(sents, min_count=1)
    counts = Counter(w for s in sents for w in s)
    assert corpus.counts.tolist() == [counts[w] for w in corpus.words]
    assert torch.bincount(corpus.ids).tolist() == corpus.counts.tolist()
