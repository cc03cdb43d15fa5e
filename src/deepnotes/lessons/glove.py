"""GloVe vs skip-gram: counting co-occurrences vs predicting them, on the same corpus.

Claim (notes E3, E1, E7): GloVe first counts how often word j appears within 10 words of word
i (each co-occurrence weighted 1/distance), then fits :math:`\\mathbf w_i^\\top\\tilde{\\mathbf
w}_j + b_i + \\tilde b_j \\approx \\log X_{ij}` by weighted least squares with
:math:`f(x) = \\min(1, (x/x_{max})^{3/4})`, so frequent pairs count more without dominating and
the never-seen pairs (most of the V x V matrix) cost nothing. The fit is real: on the entries
with :math:`X_{ij} \\ge 1` the model's prediction correlates strongly with :math:`\\log X_{ij}`.
The two tables play the same role (the counts are symmetric), so the word vector is
:math:`\\mathbf w + \\tilde{\\mathbf w}`. The count-based vectors end up in a space that agrees
with skip-gram's prediction-based one: the cosine similarities the two give to the same word
pairs correlate and their nearest neighbours overlap far beyond chance. They are not equal:
on the 4M-token English corpus skip-gram answers more analogies and matches SimLex-999 better
(the lesson reports both), and the neighbours of GloVe's w + w̃ lean towards frequent words.

Data: full mode, the English corpus (Austen, the WEB and KJV Bibles, Shakespeare; about 3.3M
words); quick mode the first 20,000 lines of Austen, 32-dimensional vectors.

Notes: E3, E1, E7.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.metrics.embeddings import spearman
from deepnotes.tasks.embeddings import (build_corpus, cooccurrence, load_sentences,
                                        standard_scores, train_glove, train_word2vec)

NAME = "glove"
SUMMARY = "GloVe (counts, weighted least squares) vs skip-gram (prediction) on one corpus (E3)"
CONCEPTS = ("E3", "E1", "E7")


@dataclass
class Config(LessonConfig):
    QUICK = {"corpus": "austen", "max_sentences": 20000, "dim": 32, "glove_epochs": 15,
             "sg_lr": 0.05, "min_count": 3, "workers": 1,
             "neighbours": ("sister", "letter", "happy", "house")}  # (tests)

    corpus: str = "english"  # deepnotes.data.load_documents name
    max_sentences: int = 0  # keep the first N lines (0: all)
    min_count: int = 5  # rarer words are dropped
    dim: int = 100  # vector length of both models
    glove_window: int = 10  # GloVe's co-occurrence window (the paper's)
    x_max: float = 100.0  # f(x) = min(1, (x / x_max)^alpha)
    alpha: float = 0.75
    glove_epochs: int = 25  # AdaGrad passes over the non-zero counts
    glove_lr: float = 0.05  # AdaGrad's rate
    glove_batch: int = 4096  # entries per AdaGrad step
    sg_window: int = 5  # skip-gram: gensim's defaults
    sg_epochs: int = 5
    sg_lr: float = 0.025
    negative: int = 5
    workers: int = 0  # skip-gram's lock-free threads (0: torch's thread count)
    pairs: int = 20_000  # random pairs of frequent words whose cosines are compared
    frequent: int = 2000  # ... drawn from this many most frequent words
    neighbours: tuple[str, ...] = ("king", "love", "sister", "sword", "jerusalem", "happy")
    k: int = 10  # neighbours per word (and for the overlap)


def run(cfg: Config, out_dir: Path) -> LessonResult:
    corpus = build_corpus(load_sentences(cfg.corpus, cfg.max_sentences or None),
                          min_count=cfg.min_count)
    v = len(corpus.words)
    glove = train_glove(corpus, dim=cfg.dim, window=cfg.glove_window, x_max=cfg.x_max,
                        alpha=cfg.alpha, epochs=cfg.glove_epochs, lr=cfg.glove_lr,
                        batch_size=cfg.glove_batch, seed=cfg.seed)
    sg = train_word2vec(corpus, dim=cfg.dim, window=cfg.sg_window, negative=cfg.negative,
                        epochs=cfg.sg_epochs, lr=cfg.sg_lr, seed=cfg.seed,
                        workers=cfg.workers or max(1, torch.get_num_threads()))

    # how well GloVe fits log X, and how sparse X is
    rows, cols, counts = cooccurrence(corpus, cfg.glove_window)
    m = glove.model
    with torch.no_grad():
        pred = ((m.weight.weight[rows] * m.context_weight.weight[cols]).sum(1)
                + m.bias.weight[rows, 0] + m.context_bias.weight[cols, 0]).double()
    target = counts.log()
    big = counts >= 1
    fit_r = float(torch.corrcoef(torch.stack([pred[big], target[big]]))[0, 1])
    # the two tables: neighbours by w alone vs by w~ alone
    from deepnotes.text.vectors import WordVectors
    w_only = WordVectors(corpus.words, m.weight.weight.detach())
    c_only = WordVectors(corpus.words, m.context_weight.weight.detach())

    # agreement of the two spaces on random pairs of frequent words
    gen = torch.Generator().manual_seed(cfg.seed)
    top = min(cfg.frequent, v)
    a = torch.randint(0, top, (cfg.pairs,), generator=gen)
    b = torch.randint(0, top, (cfg.pairs,), generator=gen)
    keep = a != b
    a, b = a[keep], b[keep]

    def cosines(vectors) -> list[float]:
        u = vectors.unit_vectors()
        return (u[a] * u[b]).sum(1).tolist()

    agreement = spearman(cosines(glove.vectors), cosines(sg.vectors))
    tables_agreement = spearman(cosines(w_only), cosines(c_only))
    overlap = _neighbour_overlap(glove.vectors, sg.vectors, corpus.words[:top], cfg.k)
    chance = cfg.k / (v - 1)

    scores = {"glove": standard_scores(glove.vectors, ("add", "mul")),
              "skipgram": standard_scores(sg.vectors, ("add", "mul"))}
    metrics = {"vocab_size": float(v), "tokens": float(len(corpus)),
               "nonzero_counts": float(len(counts)), "matrix_density": len(counts) / v ** 2,
               "glove_fit_pearson_log_x": fit_r,
               "glove_first_loss": glove.history.column("train_loss")[0],
               "glove_final_loss": float(glove.history.last()["train_loss"]),
               "glove_seconds": glove.seconds, "skipgram_seconds": sg.seconds,
               "cosine_agreement_spearman": agreement,
               "w_vs_context_w_agreement_spearman": tables_agreement,
               "neighbour_overlap": overlap, "neighbour_overlap_chance": chance}
    for name, s in scores.items():
        for key in ("analogy_add", "analogy_mul", "wordsim353", "simlex999"):
            metrics[f"{name}_{key}"] = s[key]
    metrics["analogy_questions"] = scores["glove"]["analogy_questions"]

    table = [{"model": f"GloVe (window {cfg.glove_window}, {cfg.glove_epochs} AdaGrad epochs)",
              "seconds": round(glove.seconds, 1), **scores["glove"]},
             {"model": f"skip-gram NS (window {cfg.sg_window}, {cfg.sg_epochs} epochs)",
              "seconds": round(sg.seconds, 1), **scores["skipgram"]}]
    neighbours = []
    for word in cfg.neighbours:
        if word in glove.vectors:
            neighbours.append({"word": word, **{
                name: ", ".join(x for x, _ in vec.most_similar(word, k=8))
                for name, vec in (("glove", glove.vectors), ("glove_w", w_only),
                                  ("glove_context_w", c_only), ("skipgram", sg.vectors))}})
    glove.vectors.save_word2vec(out_dir / "vectors-glove.txt")
    figures = [_plot_fit(pred[big], target[big], fit_r, out_dir / "glove_fit.png"),
               _plot_agreement(cosines(glove.vectors), cosines(sg.vectors), agreement,
                               out_dir / "glove_vs_skipgram.png"),
               _plot_loss(glove, out_dir / "glove_loss.png")]
    claim = (f"GloVe on {len(counts):,} non-zero co-occurrence counts ({metrics['matrix_density']:.2%} "
             f"of the {v:,}² matrix) fits log X with Pearson r = {fit_r:.2f} (X >= 1); its "
             f"cosines agree with skip-gram's (Spearman {agreement:.2f} on {len(a):,} pairs of "
             f"frequent words) and its {cfg.k} nearest neighbours share {overlap:.0%} with "
             f"skip-gram's (chance {chance:.2%}); analogies {scores['glove']['analogy_add']:.1%} "
             f"vs {scores['skipgram']['analogy_add']:.1%}, WordSim-353 ρ "
             f"{scores['glove']['wordsim353']:.2f} vs {scores['skipgram']['wordsim353']:.2f}")
    return LessonResult(NAME, metrics, figures, claim=claim,
                        tables={"models": table, "neighbours": neighbours})


def _neighbour_overlap(x, y, words: list[str], k: int, n: int = 200) -> float:
    """Mean share of the k nearest neighbours two sets of vectors give the same word."""
    step = max(1, len(words) // n)
    shared = []
    for word in words[::step][:n]:
        a = {w for w, _ in x.most_similar(word, k=k)}
        b = {w for w, _ in y.most_similar(word, k=k)}
        shared.append(len(a & b) / k)
    return sum(shared) / len(shared)


def _plot_fit(pred, target, r: float, path: Path) -> str:
    fig, ax = subplots(figsize=(6, 5))
    idx = torch.randperm(len(pred), generator=torch.Generator().manual_seed(0))[:20_000]
    ax.scatter(target[idx].numpy(), pred[idx].numpy(), s=2, alpha=0.3)
    lo, hi = float(target.min()), float(target.max())
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set(xlabel="log X_ij (counted)", ylabel="w_i·w̃_j + b_i + b̃_j (fitted)",
           title=f"GloVe's fit of the log counts (r = {r:.2f})")
    return save_figure(fig, path)


def _plot_agreement(x: list[float], y: list[float], rho: float, path: Path) -> str:
    fig, ax = subplots(figsize=(6, 5))
    ax.scatter(x[:10_000], y[:10_000], s=2, alpha=0.3)
    ax.set(xlabel="cosine, GloVe", ylabel="cosine, skip-gram",
           title=f"Same word pairs, two models (Spearman {rho:.2f})")
    return save_figure(fig, path)


def _plot_loss(glove, path: Path) -> str:
    fig, ax = subplots(figsize=(6, 4))
    ax.plot([r["epoch"] for r in glove.history], [r["train_loss"] for r in glove.history], "o-")
    ax.set(xlabel="epoch", ylabel="weighted squared error per entry", title="GloVe training",
           yscale="log")
    return save_figure(fig, path)
