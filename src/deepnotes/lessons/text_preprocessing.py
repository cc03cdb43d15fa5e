"""Text preprocessing: from a novel to token indices, with a vocabulary and its unknown words.

Claim (notes R1, R2): the four steps (load text, tokenize, build a vocabulary, map tokens to
indices) turn text into numbers; a minimum frequency shrinks the vocabulary a lot while only a
little of held-out text falls to ``<unk>``, because word frequencies follow Zipf's law
(n_i ∝ i^-α with α ≈ 1): a handful of "stop words" make up a large share of all tokens and most
distinct words are rare (punctuation marks count as tokens too). Words never seen in training
still share most of their letter tri-grams with training words, which is why the notes describe
a word by its letters ("word hashing") rather than by one "other" dimension.

Data: full mode, the six Jane Austen novels (janeaustenr; ~4.0M characters), quick mode the
package's sample text (chapters 1-2 of Pride and Prejudice, 8.8 KB). The first 90% of lines are
the training text, the last 10% the held-out text.

Notes: R1, R2 (stop words, Zipf).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepnotes.data import load_corpus
from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.text import (
    Vocab,
    letter_ngrams,
    rank_frequency,
    stop_word_stats,
    tokenize,
    zipf_fit,
)

NAME = "text-preprocessing"
SUMMARY = ("tokenize a novel, vocab size and <unk> rate vs min_freq, stop words, Zipf, "
           "word hashing (R1)")
CONCEPTS = ("R1", "R2")


@dataclass
class Config(LessonConfig):
    QUICK = {"corpus": "sample"}  # the built-in 8.8 KB text (tests)

    corpus: str = "austen"  # deepnotes.data.load_corpus name ("sample": the built-in text)
    min_freqs: tuple[int, ...] = (1, 2, 3, 5, 10)  # min_freq values to compare
    held_out_fraction: float = 0.1  # last fraction of lines kept as held-out text
    top_k: int = 10  # how many of the most frequent words to list as stop words
    zipf_ranks: tuple[int, int] = (10, 1000)  # rank range for the Zipf fit (head and tail bend)


def run(cfg: Config, out_dir: Path) -> LessonResult:
    lines = load_corpus(cfg.corpus).split("\n")
    cut = int(len(lines) * (1 - cfg.held_out_fraction))
    train_words = tokenize(lines[:cut], kind="word")
    held_words = tokenize(lines[cut:], kind="word")
    train_chars = tokenize(lines[:cut], kind="char")
    flat = [t for line in train_words for t in line]
    flat_held = [t for line in held_words for t in line]

    # step 3: vocabularies for several minimum frequencies
    rows = []
    for mf in cfg.min_freqs:
        v = Vocab(train_words, min_freq=mf)
        rows.append({"min_freq": mf, "vocab_size": len(v), "train_unk_rate": v.unknown_rate(flat),
                     "held_out_unk_rate": v.unknown_rate(flat_held)})
    vocab = Vocab(train_words, min_freq=1)
    char_vocab = Vocab(train_chars)
    # step 4: indices, and back
    first = next(line for line in train_words if len(line) >= 5)
    ids = vocab.to_indices(first)
    assert vocab.to_tokens(ids) == first

    counts = Counter(flat)
    top = stop_word_stats(counts, k=cfg.top_k)
    freqs = rank_frequency(counts)
    lo, hi = cfg.zipf_ranks
    hi = min(hi, len(freqs))
    lo = min(lo, max(1, hi // 10))
    alpha, c = zipf_fit(freqs, min_rank=lo, max_rank=hi)
    singletons = float((freqs == 1).sum() / len(freqs))

    # word hashing: letter tri-grams of held-out words that the vocabulary never saw
    train_grams = {g for w in counts for g in letter_ngrams(w, 3, boundary="#")}
    unseen = sorted({w for w in flat_held if w not in counts and w.isalpha()})
    grams = [g for w in unseen for g in letter_ngrams(w, 3, boundary="#")]
    coverage = float(np.mean([g in train_grams for g in grams])) if grams else float("nan")

    figures = [_plot(freqs, alpha, c, lo, hi, rows, out_dir)]
    by_mf = {r["min_freq"]: r for r in rows}
    metrics = {
        "lines": float(len(lines)),
        "train_tokens": float(len(flat)),
        "held_out_tokens": float(len(flat_held)),
        "distinct_words": float(len(counts)),
        "vocab_size": float(len(vocab)),
        "char_vocab_size": float(len(char_vocab)),
        "zipf_alpha": alpha,
        "singleton_fraction": singletons,
        "top_k_share": top[-1]["cumulative"],
        "unseen_words_held_out": float(len(unseen)),
        "unseen_word_trigram_coverage": coverage,
    }
    for mf, r in by_mf.items():
        metrics[f"vocab_size_min{mf}"] = float(r["vocab_size"])
        metrics[f"held_out_unk_rate_min{mf}"] = r["held_out_unk_rate"]
    mf_lo, mf_hi = min(by_mf), max(by_mf)
    claim = (f"min_freq {mf_lo}->{mf_hi} shrinks the vocabulary {by_mf[mf_lo]['vocab_size']}->"
             f"{by_mf[mf_hi]['vocab_size']} while held-out <unk> goes "
             f"{by_mf[mf_lo]['held_out_unk_rate']:.1%}->{by_mf[mf_hi]['held_out_unk_rate']:.1%}; "
             f"the top {cfg.top_k} tokens (punctuation included) are "
             f"{top[-1]['cumulative']:.0%} of all; Zipf alpha = "
             f"{alpha:.2f}; {coverage:.0%} of unseen words' letter tri-grams were seen in "
             f"training.")
    return LessonResult(
        name=NAME, metrics=metrics, figures=figures, claim=claim,
        tables={"min_freq": rows, "stop_words": top,
                "unseen_words": [{"word": w} for w in unseen[:50]],
                "example": [{"tokens": " ".join(first), "indices": " ".join(map(str, ids))}]},
    )


def _plot(freqs: np.ndarray, alpha: float, c: float, lo: int, hi: int, rows: list[dict],
          out_dir: Path) -> str:
    fig, (ax1, ax2) = subplots(1, 2, figsize=(11, 4.2))
    ranks = np.arange(1, len(freqs) + 1)
    ax1.loglog(ranks, freqs, ".", ms=2, label="tokens")
    fit = np.arange(lo, hi + 1)
    ax1.loglog(fit, np.exp(c) * fit ** (-alpha), "r-", label=f"fit: n ∝ rank^-{alpha:.2f}")
    ax1.set_xlabel("rank")
    ax1.set_ylabel("frequency")
    ax1.set_title("Zipf's law")
    ax1.legend()
    mfs = [r["min_freq"] for r in rows]
    ax2.plot(mfs, [r["vocab_size"] for r in rows], "o-", label="vocabulary size")
    ax2.set_xlabel("min_freq")
    ax2.set_ylabel("vocabulary size")
    ax3 = ax2.twinx()
    ax3.plot(mfs, [100 * r["held_out_unk_rate"] for r in rows], "s--", color="C1",
             label="held-out <unk> %")
    ax3.set_ylabel("held-out <unk> (%)")
    ax2.set_title("vocabulary vs unknown words")
    handles = ax2.get_legend_handles_labels()[0] + ax3.get_legend_handles_labels()[0]
    ax2.legend(handles, [h.get_label() for h in handles], loc="center right", fontsize=8)
    return save_figure(fig, Path(out_dir) / "text_preprocessing.png")
