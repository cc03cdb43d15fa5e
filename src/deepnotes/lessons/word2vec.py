"""word2vec: skip-gram vs CBOW, each trained with negative sampling and hierarchical softmax.

Claim (notes E1, E2, E7): predicting a word's neighbours (skip-gram) or a word from its
neighbours (CBOW) gives vectors in which words that share contexts lie close together. A full
softmax would cost |V| dot products per training pair; the notes' two approximations cost
K + 1 (negative sampling: the true word and K noise words from unigram^0.75) and about
log2 |V| (hierarchical softmax: the inner nodes on the word's path in a Huffman tree, fewer
for frequent words). All four combinations learn: on the full English corpus each answers
about a tenth of Google's analogy questions (chance: one in |V|), correlates with human
similarity judgements (WordSim-353, SimLex-999) and gives sensible nearest neighbours. Skip-gram
makes one update per (centre, context) pair, CBOW one per centre, so CBOW processes more words
per second. The lesson also reports the mean cosine of words seen in one window against random
pairs of the same frequencies: in quick mode it is higher for all four; on the full corpus it
separates the pairs only slightly (CBOW with the hierarchical softmax not at all), which says
that raw cosine over all words is dominated by frequency effects, not that the vectors are
empty — the neighbours and analogies show otherwise.

Data: full mode, the English corpus (Austen, the WEB and KJV Bibles, Shakespeare; about 3.3M
words, lower-cased words and punctuation) with gensim's default settings; quick mode the first
20,000 lines of Austen, 32-dimensional vectors, lr 0.05, one thread.

Notes: E1, E2, E7.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.tasks.embeddings import (build_corpus, load_sentences, standard_scores,
                                        train_word2vec, window_pair_similarity)

NAME = "word2vec"
SUMMARY = "skip-gram vs CBOW x negative sampling vs hierarchical softmax: quality, cost (E1, E2)"
CONCEPTS = ("E1", "E2", "E7")

VARIANTS = {  # name -> (architecture, objective, label)
    "sg-ns": ("skipgram", "negative", "skip-gram, negative sampling"),
    "cbow-ns": ("cbow", "negative", "CBOW, negative sampling"),
    "sg-hs": ("skipgram", "hierarchical", "skip-gram, hierarchical softmax"),
    "cbow-hs": ("cbow", "hierarchical", "CBOW, hierarchical softmax"),
}

WORD_GROUPS = {  # words drawn in the 2-D projection (those in the vocabulary)
    "family": ("father", "mother", "brother", "sister", "son", "daughter", "husband", "wife"),
    "numbers": ("two", "three", "four", "five", "six", "seven", "ten", "twenty"),
    "body": ("hand", "eye", "eyes", "head", "heart", "face", "feet", "mouth"),
    "time": ("day", "night", "morning", "evening", "year", "week", "hour", "month"),
    "feelings": ("love", "joy", "fear", "anger", "grief", "hope", "pride", "shame"),
}


@dataclass
class Config(LessonConfig):
    QUICK = {"corpus": "austen", "max_sentences": 20000, "dim": 32, "lr": 0.05,
             "min_count": 3, "workers": 1,
             "neighbours": ("sister", "letter", "happy", "house")}  # (tests)

    corpus: str = "english"  # deepnotes.data.load_documents name
    max_sentences: int = 0  # keep the first N lines (0: all)
    variants: tuple[str, ...] = ("sg-ns", "cbow-ns", "sg-hs", "cbow-hs")  # from VARIANTS
    dim: int = 100  # vector length (gensim's vector_size)
    window: int = 5  # largest window radius
    negative: int = 5  # K noise words (negative sampling)
    sample: float = 1e-3  # subsampling threshold
    epochs: int = 5  # passes over the corpus
    min_count: int = 5  # rarer words are dropped
    lr: float = 0.025  # falls linearly to 1e-4 (gensim's alpha -> min_alpha)
    workers: int = 0  # lock-free training threads (0: torch's thread count; 1: reproducible)
    neighbours: tuple[str, ...] = ("king", "love", "sister", "sword", "jerusalem", "happy")
    k: int = 8  # neighbours listed per word


def run(cfg: Config, out_dir: Path) -> LessonResult:
    unknown = [v for v in cfg.variants if v not in VARIANTS]
    if unknown:
        from deepnotes.errors import ConfigError
        raise ConfigError(f"unknown variant(s) {', '.join(unknown)}; choose from "
                          f"{', '.join(VARIANTS)}")
    corpus = build_corpus(load_sentences(cfg.corpus, cfg.max_sentences or None),
                          min_count=cfg.min_count)
    v = len(corpus.words)
    p = corpus.counts.double() / corpus.counts.sum()
    workers = cfg.workers or max(1, torch.get_num_threads())

    rows, runs, metrics = [], {}, {"vocab_size": float(v), "tokens": float(len(corpus))}
    for name in cfg.variants:
        arch, objective, label = VARIANTS[name]
        run_ = train_word2vec(corpus, architecture=arch, objective=objective, dim=cfg.dim,
                              window=cfg.window, negative=cfg.negative, sample=cfg.sample,
                              epochs=cfg.epochs, lr=cfg.lr, seed=cfg.seed, workers=workers)
        runs[name] = run_
        if objective == "negative":
            dots = float(cfg.negative + 1)  # the word and K noise words
        else:  # the inner nodes on the word's path: count-weighted mean Huffman code length
            dots = float((p * run_.model.code_lengths.double()).sum())
        near, rand = window_pair_similarity(run_.vectors, corpus, seed=cfg.seed)
        row = {"variant": name, "model": label, "dot_products_per_pair": round(dots, 3),
               "seconds": round(run_.seconds, 1), "words_per_sec": round(run_.words_per_sec),
               "first_loss": run_.curve[0][1], "final_loss": run_.curve[-1][1],
               "window_pair_cosine": near, "random_pair_cosine": rand}
        row.update(standard_scores(run_.vectors, methods=("add", "mul")))
        rows.append(row)
        for key in ("dot_products_per_pair", "seconds", "words_per_sec", "first_loss",
                    "final_loss", "window_pair_cosine", "random_pair_cosine", "analogy_add",
                    "analogy_mul", "wordsim353", "simlex999"):
            metrics[f"{name}_{key}"] = float(row[key])
        metrics["analogy_questions"] = row["analogy_questions"]
    entropy = float(-(p * p.log2()).sum())
    metrics.update({"full_softmax_dot_products": float(v), "log2_vocab": math.log2(v),
                    "variants_window_pairs_closer": float(sum(
                        r["window_pair_cosine"] > r["random_pair_cosine"] for r in rows)),
                    "unigram_entropy_bits": entropy})

    first = runs[cfg.variants[0]]
    neighbours = []
    for word in cfg.neighbours:
        if word not in first.vectors:
            continue
        entry = {"word": word}
        for name, r in runs.items():
            entry[name] = ", ".join(w for w, _ in r.vectors.most_similar(word, k=cfg.k))
        neighbours.append(entry)
    first.vectors.save_word2vec(out_dir / f"vectors-{cfg.variants[0]}.txt")

    figures = [_plot_costs(rows, v, out_dir / "word2vec_cost_quality.png"),
               _plot_projection(first.vectors, cfg.variants[0], out_dir / "word2vec_pca.png"),
               _plot_curves(runs, out_dir / "word2vec_loss.png")]
    best = max(rows, key=lambda r: r["analogy_add"])
    fastest = max(rows, key=lambda r: r["words_per_sec"])
    closer = sum(r["window_pair_cosine"] > r["random_pair_cosine"] for r in rows)
    claim = (f"on {len(corpus):,} tokens (V = {v:,}) window pairs are closer than random ones "
             f"in {closer} of {len(rows)} variants (cosine "
             + ", ".join(f"{r['variant']} {r['window_pair_cosine']:.2f} vs "
                         f"{r['random_pair_cosine']:.2f}" for r in rows)
             + f"); a pair costs {cfg.negative + 1} dot products with negative sampling, "
             + ", ".join(f"{r['dot_products_per_pair']:.1f}" for r in rows
                         if VARIANTS[r['variant']][1] == 'hierarchical')
             + f" with the hierarchical softmax (log2 V = {math.log2(v):.1f}), {v:,} with a full "
             f"softmax; best analogy accuracy {best['analogy_add']:.1%} ({best['variant']}, "
             f"{int(best['analogy_questions']):,} questions), fastest {fastest['variant']} at "
             f"{fastest['words_per_sec']:,.0f} words/s")
    return LessonResult(NAME, metrics, figures, claim=claim,
                        tables={"variants": rows, "neighbours": neighbours})


def _plot_costs(rows: list[dict], v: int, path: Path) -> str:
    fig, (ax1, ax2) = subplots(1, 2, figsize=(11, 4))
    names = [r["variant"] for r in rows]
    x = range(len(rows))
    ax1.bar([i - 0.2 for i in x], [100 * r["analogy_add"] for r in rows], 0.4,
            label="analogy accuracy % (3CosAdd)")
    ax1.bar([i + 0.2 for i in x], [100 * r["wordsim353"] for r in rows], 0.4,
            label="WordSim-353 Spearman x 100")
    ax1.set_xticks(list(x), names)
    ax1.set(title="Quality")
    ax1.legend(fontsize=8)
    ax2.bar(list(x), [r["words_per_sec"] / 1000 for r in rows])
    ax2.set_xticks(list(x), names)
    for i, r in enumerate(rows):
        ax2.annotate(f"{r['dot_products_per_pair']:.1f} dots/pair", (i, 0), ha="center",
                     va="bottom", fontsize=8, xytext=(0, 3), textcoords="offset points")
    ax2.set(ylabel="thousand words / s", title=f"Speed (full softmax: {v:,} dots/pair)")
    return save_figure(fig, path)


def _plot_projection(vectors, variant: str, path: Path) -> str:
    words, groups = [], []
    for group, members in WORD_GROUPS.items():
        for w in members:
            if w in vectors:
                words.append(w)
                groups.append(group)
    fig, ax = subplots(figsize=(7, 6))
    if len(words) >= 3:
        x = torch.stack([vectors.vector(w) for w in words]).double()
        x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
        x = x - x.mean(0)
        _, _, vt = torch.linalg.svd(x, full_matrices=False)  # PCA: the top 2 directions
        xy = (x @ vt[:2].T).tolist()
        for group in WORD_GROUPS:
            pts = [(xy[i], words[i]) for i in range(len(words)) if groups[i] == group]
            if not pts:
                continue
            ax.scatter([p[0][0] for p in pts], [p[0][1] for p in pts], label=group)
            for (px, py), w in pts:
                ax.annotate(w, (px, py), fontsize=8, xytext=(3, 3), textcoords="offset points")
        ax.legend(fontsize=8)
    ax.set(title=f"{variant} vectors, first two principal components",
           xlabel="PC 1", ylabel="PC 2")
    return save_figure(fig, path)


def _plot_curves(runs: dict, path: Path) -> str:
    fig, ax = subplots(figsize=(7, 4))
    for name, r in runs.items():
        ax.plot([c[0] for c in r.curve], [c[1] for c in r.curve], label=name)
    ax.set(xlabel="words processed", ylabel="loss per pair", title="Training loss",
           yscale="log")
    ax.legend(fontsize=8)
    return save_figure(fig, path)
