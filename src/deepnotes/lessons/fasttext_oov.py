"""fastText: vectors for words never seen in training, where word2vec has nothing.

Claim (notes E4): fastText represents a word by the sum of its character n-grams (3 to 6
characters, the word wrapped in ``<`` and ``>``: "<wh", "whe", ..., "<where>"), hashed into a
fixed number of buckets, and trains them as a skip-gram. A word absent from the training text
still has n-grams, so it still gets a vector — the mean of its n-grams' rows — and that vector
is meaningful: a held-out inflection ("walked" when only "walk", "walking" were seen) lands next
to its stem, and a misspelling ("elizbeth") next to the word it misspells. word2vec (and GloVe)
keep one vector per vocabulary word and can say nothing about either.

Held-out words: rare inflections (a stem of at least 4 letters plus -s, -ed, -ing, -ly, -er,
-est, -ness, the stem itself frequent) drawn at random; every occurrence is deleted from the
training text, so both models train on the same text without them. Misspellings: frequent
words of at least 6 letters with one inner letter dropped or two inner letters swapped
(misspellings that are real words are skipped). Both measured by the rank of the stem / the
right word among the neighbours of the unseen word's vector.

Data: full mode, the English corpus (Austen, the WEB and KJV Bibles, Shakespeare; about 3.3M
words); quick mode the first 20,000 lines of Austen, 32-dimensional vectors.

Notes: E4, E1, E7.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.tasks.embeddings import (build_corpus, load_sentences, standard_scores,
                                        train_fasttext, train_word2vec)

NAME = "fasttext-oov"
SUMMARY = "fastText's character n-grams give unseen inflections and misspellings vectors (E4)"
CONCEPTS = ("E4", "E1", "E7")

SUFFIXES = ("s", "ed", "ing", "ly", "er", "est", "ness")


@dataclass
class Config(LessonConfig):
    QUICK = {"corpus": "austen", "max_sentences": 20000, "dim": 32, "lr": 0.05,
             "min_count": 3, "buckets": 200_000, "held_out": 40, "misspellings": 40,
             "stem_min_count": 10, "workers": 1,
             "examples": ("sister", "happy", "letter")}  # (tests)

    corpus: str = "english"  # deepnotes.data.load_documents name
    max_sentences: int = 0  # keep the first N lines (0: all)
    min_count: int = 5  # rarer words are dropped
    dim: int = 100  # vector length of both models
    window: int = 5
    negative: int = 5
    epochs: int = 5
    lr: float = 0.025
    buckets: int = 2_000_000  # hashed n-gram rows (fastText's default)
    min_n: int = 3  # n-gram lengths
    max_n: int = 6
    workers: int = 0  # lock-free threads (0: torch's thread count)
    held_out: int = 100  # inflected words removed from the training text
    inflection_max_count: int = 30  # ... each seen at most this often (rare inflections)
    stem_min_count: int = 20  # ... whose stem is seen at least this often
    misspellings: int = 100  # misspelled frequent words
    misspell_min_count: int = 50  # ... of words seen at least this often
    examples: tuple[str, ...] = ("king", "love", "sister", "jerusalem")  # misspelled in a table
    k: int = 10  # a hit: the right word among this many neighbours


def _held_out_words(counts: Counter, cfg: Config, rng: random.Random) -> list[tuple[str, str]]:
    pairs = []
    for word, n in counts.items():
        if not (cfg.min_count <= n <= cfg.inflection_max_count) or not word.isalpha():
            continue
        for suffix in SUFFIXES:
            stem = word[:-len(suffix)]
            if word.endswith(suffix) and len(stem) >= 4 and counts.get(stem, 0) >= \
                    cfg.stem_min_count:
                pairs.append((word, stem))
                break
    pairs.sort()
    rng.shuffle(pairs)
    chosen: list[tuple[str, str]] = []
    words: set[str] = set()
    stems: set[str] = set()
    for word, stem in pairs:  # a stem must stay in the text: never also a held-out word
        if len(chosen) < cfg.held_out and word not in stems and stem not in words:
            chosen.append((word, stem))
            words.add(word)
            stems.add(stem)
    return chosen


def _misspell(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 2)  # inner letters only
    if rng.random() < 0.5:
        return word[:i] + word[i + 1:]  # drop one
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]  # swap two


def _rank(vectors, query: torch.Tensor, target: str) -> int:
    """1-based rank of ``target`` among all vocabulary words by cosine to ``query``."""
    unit = vectors.unit_vectors()
    q = query / query.norm().clamp_min(1e-12)
    scores = unit @ q.to(unit.dtype)
    return int((scores > scores[vectors.index[target]]).sum()) + 1


def run(cfg: Config, out_dir: Path) -> LessonResult:
    rng = random.Random(cfg.seed)
    sentences = load_sentences(cfg.corpus, cfg.max_sentences or None)
    counts = Counter(w for s in sentences for w in s)
    held = _held_out_words(counts, cfg, rng)
    removed = {w for w, _ in held}
    train_sentences = [[w for w in s if w not in removed] for s in sentences]
    corpus = build_corpus(train_sentences, min_count=cfg.min_count)
    workers = cfg.workers or max(1, torch.get_num_threads())
    common = dict(dim=cfg.dim, window=cfg.window, negative=cfg.negative, epochs=cfg.epochs,
                  lr=cfg.lr, seed=cfg.seed, workers=workers)
    ft = train_fasttext(corpus, buckets=cfg.buckets, min_n=cfg.min_n, max_n=cfg.max_n, **common)
    w2v = train_word2vec(corpus, **common)
    fv, wv = ft.vectors, w2v.vectors

    # 1. held-out inflections: where does the stem rank among the neighbours?
    inflections, random_cos = [], []
    vocab = corpus.words
    for word, stem in held:
        vec = fv.vector(word)
        rank = _rank(fv, vec, stem)
        other = vocab[rng.randrange(len(vocab))]
        cos = float(torch.cosine_similarity(vec, fv.vector(stem), dim=0))
        random_cos.append(float(torch.cosine_similarity(vec, fv.vector(other), dim=0)))
        inflections.append({"word": word, "stem": stem, "training_count_before": counts[word],
                            "cosine_to_stem": round(cos, 3), "stem_rank": rank,
                            "fasttext_neighbours": ", ".join(
                                w for w, _ in fv.most_similar(vec, k=5)),
                            "word2vec": "in vocabulary" if word in wv else "no vector"})

    # 2. misspellings of frequent words
    frequent = [w for w, n in zip(corpus.words, corpus.counts.tolist())
                if n >= cfg.misspell_min_count and len(w) >= 6 and w.isalpha()]
    rng.shuffle(frequent)
    typos = []
    for word in frequent:
        if len(typos) >= cfg.misspellings:
            break
        typo = _misspell(word, rng)
        if typo in counts or typo == word:
            continue  # a real word of the text, not a misspelling
        typos.append((typo, word))
    extra = [w for w in cfg.examples if w in fv and len(w) >= 4]
    misspelled = []
    for typo, word in typos + [(_misspell(w, rng), w) for w in extra]:
        vec = fv.vector(typo)
        misspelled.append({"misspelling": typo, "word": word, "word_rank": _rank(fv, vec, word),
                           "cosine_to_word": round(float(torch.cosine_similarity(
                               vec, fv.vector(word), dim=0)), 3),
                           "fasttext_neighbours": ", ".join(
                               w for w, _ in fv.most_similar(vec, k=5)),
                           "word2vec": "in vocabulary" if typo in wv else "no vector"})
    scored = misspelled[:len(typos)]

    def share(rows: list[dict], key: str, k: int) -> float:
        return sum(r[key] <= k for r in rows) / max(len(rows), 1)

    metrics = {
        "vocab_size": float(len(vocab)), "tokens": float(len(corpus)),
        "held_out_words": float(len(held)),
        "held_out_tokens_removed": float(sum(counts[w] for w in removed)),
        "inflection_stem_hit1": share(inflections, "stem_rank", 1),
        "inflection_stem_hit10": share(inflections, "stem_rank", cfg.k),
        "inflection_cosine_to_stem": sum(r["cosine_to_stem"] for r in inflections)
        / max(len(inflections), 1),
        "inflection_cosine_to_random_word": sum(random_cos) / max(len(random_cos), 1),
        "misspellings": float(len(scored)),
        "misspelling_hit1": share(scored, "word_rank", 1),
        "misspelling_hit10": share(scored, "word_rank", cfg.k),
        "word2vec_coverage_held_out": sum(w in wv for w, _ in held) / max(len(held), 1),
        "word2vec_coverage_misspellings": sum(t in wv for t, _ in typos) / max(len(typos), 1),
        "fasttext_seconds": ft.seconds, "word2vec_seconds": w2v.seconds,
        "vocab_size_chance_hit10": cfg.k / len(vocab),
    }
    for name, vec in (("fasttext", fv), ("word2vec", wv)):
        for key, value in standard_scores(vec, ("add",)).items():
            metrics[f"{name}_{key}"] = value
    figures = [_plot_ranks(inflections, scored, cfg.k, out_dir / "fasttext_oov_ranks.png")]
    claim = (f"{len(held)} rare inflections deleted from the {len(corpus):,}-token training text "
             f"and {len(scored)} misspellings: word2vec has a vector for "
             f"{metrics['word2vec_coverage_held_out']:.0%} and "
             f"{metrics['word2vec_coverage_misspellings']:.0%} of them; fastText's n-gram "
             f"vectors put the stem among the {cfg.k} nearest of {len(vocab):,} words for "
             f"{metrics['inflection_stem_hit10']:.0%} of the inflections (cosine "
             f"{metrics['inflection_cosine_to_stem']:.2f} vs "
             f"{metrics['inflection_cosine_to_random_word']:.2f} to a random word) and the right "
             f"word for {metrics['misspelling_hit10']:.0%} of the misspellings "
             f"({metrics['misspelling_hit1']:.0%} first)")
    return LessonResult(NAME, metrics, figures, claim=claim,
                        tables={"inflections": inflections, "misspellings": misspelled})


def _plot_ranks(inflections: list[dict], typos: list[dict], k: int, path: Path) -> str:
    fig, ax = subplots(figsize=(7, 4))
    for rows, key, label in ((inflections, "stem_rank", "held-out inflection → its stem"),
                             (typos, "word_rank", "misspelling → the right word")):
        ranks = sorted(r[key] for r in rows)
        if ranks:
            ax.plot(ranks, [(i + 1) / len(ranks) for i in range(len(ranks))], label=label)
    ax.axvline(k, ls="--", color="gray", lw=1)
    ax.set(xscale="log", xlabel="rank of the right word among the neighbours",
           ylabel="share of unseen words", title="fastText vectors for words never seen")
    ax.legend(fontsize=8)
    return save_figure(fig, path)
