"""deepnotes.metrics: scores computed on model outputs (BLEU, ...).

Notes: S4.
"""

from deepnotes.metrics.bleu import (
    BLEUScore,
    bleu,
    corpus_bleu,
    ngram_matches,
    sentence_bleu,
    tokenize_13a,
)

__all__ = [
    # BLEU (S4)
    "BLEUScore",
    "bleu",
    "corpus_bleu",
    "ngram_matches",
    "sentence_bleu",
    "tokenize_13a",
]
