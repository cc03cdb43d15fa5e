"""deepnotes.metrics: the one home of every score computed on model outputs.

- classification: :func:`accuracy` (B7);
- language models: :func:`perplexity`, :func:`causal_perplexity`, :func:`perplexity_from_nll` (R8);
- sequence labelling: :func:`edit_distance`, :func:`label_error_rate` (R10);
- translation: BLEU as in the notes and sacrebleu-compatible corpus BLEU (S4).

Notes: B7, R8, R10, S4.
"""

from deepnotes.metrics.bleu import (
    BLEUScore,
    bleu,
    corpus_bleu,
    ngram_matches,
    sentence_bleu,
    tokenize_13a,
)
from deepnotes.metrics.classification import accuracy
from deepnotes.metrics.edit_distance import edit_distance, label_error_rate
from deepnotes.metrics.perplexity import causal_perplexity, perplexity, perplexity_from_nll

__all__ = [
    # classification (B7)
    "accuracy",
    # language models (R8)
    "causal_perplexity",
    "perplexity",
    "perplexity_from_nll",
    # sequence labelling (R10)
    "edit_distance",
    "label_error_rate",
    # BLEU (S4)
    "BLEUScore",
    "bleu",
    "corpus_bleu",
    "ngram_matches",
    "sentence_bleu",
    "tokenize_13a",
]
