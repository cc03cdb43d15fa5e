"""Subword vocabularies: BPE size against sequence length and ``<unk>``; BPE next to WordPiece.

Claim (notes E5, E6, R1, R2): a word vocabulary of size V leaves every rarer word ``<unk>``;
on held-out text a share of the words is always unknown, and it shrinks slowly as V grows
(Zipf: the tail of rare words is long). A BPE vocabulary of the same size cuts the unknown
words into known pieces instead — the notes' algorithm: start from characters (with an
end-of-word marker), merge the most frequent adjacent pair again and again — so its ``<unk>``
rate is that of unseen *characters*, near zero at every size. The price is length: at a small
V a sentence takes several pieces per word, falling towards one piece per word as V grows. The
pieces follow Zipf's law too (on Austen, 16,000 pieces: the words' exponent). WordPiece
(BERT's tokenizer, here the MiniLM vocabulary of 30,522 pieces) segments the same way with
``##`` continuations, greedily longest-first; byte-level BPE (GPT-2) never needs ``<unk>``.

Data: full mode, the six Jane Austen novels (the last 10 % of the lines held out); quick mode
the built-in sample text with smaller vocabularies.

Notes: E5, E6, R1, R2.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepnotes.data import load_corpus
from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.text import BPETokenizer, load_tokenizer, rank_frequency, tokenize, zipf_fit

NAME = "subword-vocab"
SUMMARY = "BPE vocabulary size vs pieces per word vs <unk>; BPE next to WordPiece; Zipf (E5, E6)"
CONCEPTS = ("E5", "E6", "R1", "R2")


@dataclass
class Config(LessonConfig):
    QUICK = {"corpus": "sample", "sizes": (100, 200, 400), "byte_level_size": 400}  # (tests)

    corpus: str = "austen"  # deepnotes.data.load_corpus name ("sample": the built-in text)
    held_out_fraction: float = 0.1  # the last fraction of the lines is held out
    sizes: tuple[int, ...] = (500, 1000, 2000, 4000, 8000, 16000)  # vocabulary sizes compared
    byte_level_size: int = 8000  # size of the byte-level (GPT-2) BPE shown beside WordPiece
    examples: tuple[str, ...] = (
        "It is a truth universally acknowledged, that a single man in possession of a good "
        "fortune, must be in want of a wife.",
        "Unaffable Mr. Darcy's disagreeableness was unmistakable.",
        "The tokenization of unbelievably long words: antidisestablishmentarianism.",
    )  # sentences segmented by every tokenizer


def _lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip()]


def run(cfg: Config, out_dir: Path) -> LessonResult:
    lines = _lines(load_corpus(cfg.corpus))
    cut = int(len(lines) * (1 - cfg.held_out_fraction))
    train, held = lines[:cut], lines[cut:]
    train_words = [w for line in tokenize(train) for w in line]
    held_words = [w for line in tokenize(held) for w in line]
    word_counts = Counter(train_words)
    n_sentences = len(held)

    rows, tokenizers = [], {}
    for size in cfg.sizes:
        t0 = time.perf_counter()
        bpe = BPETokenizer.train([line.lower() for line in train], vocab_size=size,
                                 byte_level=False)
        seconds = time.perf_counter() - t0
        tokenizers[size] = bpe
        pieces = [p for line in held for p in bpe.tokenize(line.lower())]
        bpe_unk = sum(p == "<unk>" for p in pieces)
        # the word vocabulary of the same size: the `size` most frequent training words
        known = {w for w, _ in word_counts.most_common(size)}
        word_unk = sum(w not in known for w in held_words)
        rows.append({"vocab_size": size, "bpe_pieces_per_sentence": len(pieces) / n_sentences,
                     "bpe_pieces_per_word": len(pieces) / len(held_words),
                     "bpe_unk_rate": bpe_unk / len(pieces),
                     "word_tokens_per_sentence": len(held_words) / n_sentences,
                     "word_unk_rate": word_unk / len(held_words),
                     "bpe_train_seconds": round(seconds, 2)})

    # Zipf of the largest BPE's pieces against words, on the training text
    largest = tokenizers[max(cfg.sizes)]
    piece_counts = Counter(p for line in train for p in largest.tokenize(line.lower()))
    f_pieces, f_words = rank_frequency(piece_counts), rank_frequency(word_counts)
    hi = min(1000, len(f_pieces), len(f_words))
    alpha_pieces = zipf_fit(f_pieces, min_rank=10, max_rank=hi)[0]
    alpha_words = zipf_fit(f_words, min_rank=10, max_rank=hi)[0]

    # one sentence, every tokenizer
    wordpiece = load_tokenizer("minilm")
    byte_bpe = BPETokenizer.train(train, vocab_size=cfg.byte_level_size, byte_level=True)
    side = []
    for sentence in cfg.examples:
        side.append({"sentence": sentence,
                     "words": " ".join(tokenize([sentence])[0]),
                     f"bpe_{max(cfg.sizes)}": " ".join(largest.tokenize(sentence.lower())),
                     f"bpe_{min(cfg.sizes)}": " ".join(tokenizers[min(cfg.sizes)]
                                                       .tokenize(sentence.lower())),
                     "wordpiece_minilm": " ".join(wordpiece.tokenize(sentence)),
                     f"byte_level_bpe_{cfg.byte_level_size}": " ".join(byte_bpe.tokenize(sentence))})

    first, last = rows[0], rows[-1]
    metrics: dict[str, float] = {"train_lines": float(len(train)), "held_out_lines": float(len(held)),
                                 "held_out_words": float(len(held_words)),
                                 "distinct_train_words": float(len(word_counts)),
                                 "zipf_alpha_pieces": float(alpha_pieces),
                                 "zipf_alpha_words": float(alpha_words)}
    for r in rows:
        v = r["vocab_size"]
        metrics[f"bpe{v}_pieces_per_word"] = r["bpe_pieces_per_word"]
        metrics[f"bpe{v}_unk_rate"] = r["bpe_unk_rate"]
        metrics[f"words{v}_unk_rate"] = r["word_unk_rate"]
    figures = [_plot(rows, out_dir / "subword_vocab.png"),
               _plot_zipf(f_pieces, f_words, alpha_pieces, alpha_words, max(cfg.sizes),
                          out_dir / "subword_zipf.png")]
    claim = (f"on held-out {cfg.corpus} text a word vocabulary of {first['vocab_size']:,} "
             f"leaves {first['word_unk_rate']:.1%} of the words <unk> "
             f"({last['word_unk_rate']:.1%} at {last['vocab_size']:,}); BPE vocabularies of the "
             f"same sizes leave {max(r['bpe_unk_rate'] for r in rows):.2%} at most, at "
             f"{first['bpe_pieces_per_word']:.2f} → {last['bpe_pieces_per_word']:.2f} pieces per "
             f"word; Zipf exponent of pieces {alpha_pieces:.2f} vs words {alpha_words:.2f}")
    return LessonResult(NAME, metrics, figures, claim=claim,
                        tables={"sizes": rows, "segmentations": side})


def _plot(rows: list[dict], path: Path) -> str:
    sizes = [r["vocab_size"] for r in rows]
    fig, (ax1, ax2) = subplots(1, 2, figsize=(11, 4))
    ax1.plot(sizes, [r["bpe_pieces_per_word"] for r in rows], "o-", label="BPE pieces per word")
    ax1.axhline(1.0, ls="--", color="gray", lw=1, label="words: 1 per word")
    ax1.set(xscale="log", xlabel="vocabulary size", ylabel="tokens per held-out word",
            title="Sequence length")
    ax2.plot(sizes, [100 * r["word_unk_rate"] for r in rows], "o-", label="word vocabulary")
    ax2.plot(sizes, [100 * r["bpe_unk_rate"] for r in rows], "s-", label="BPE")
    ax2.set(xscale="log", xlabel="vocabulary size", ylabel="% <unk> on held-out text",
            title="Unknown tokens")
    for ax in (ax1, ax2):
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def _plot_zipf(f_pieces: np.ndarray, f_words: np.ndarray, a_pieces: float, a_words: float,
               size: int, path: Path) -> str:
    fig, ax = subplots(figsize=(6.5, 4.2))
    ax.loglog(np.arange(1, len(f_words) + 1), f_words, label=f"words (α = {a_words:.2f})")
    ax.loglog(np.arange(1, len(f_pieces) + 1), f_pieces,
              label=f"BPE-{size:,} pieces (α = {a_pieces:.2f})")
    ax.set(xlabel="rank", ylabel="frequency", title="Zipf's law for words and subwords")
    ax.legend()
    return save_figure(fig, path)
