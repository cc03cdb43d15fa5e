"""Text: tokenizers, the vocabulary, and n-gram language models.

Example:
    >>> from deepnotes.text import Vocab, tokenize
    >>> lines = tokenize("The cat sat.\\nThe dog sat!")
    >>> v = Vocab(lines)
    >>> v.to_tokens(v.to_indices(lines[0]))
    ['the', 'cat', 'sat', '.']

Notes: R1 (tokenize, Vocab, word hashing), R2 (n-gram LMs, Zipf, stop words).
"""

from __future__ import annotations

from deepnotes.text.ngram import NGramLM, ngram_counts, rank_frequency, stop_word_stats, zipf_fit
from deepnotes.text.tokenize import hash_tokens, letter_ngrams, tokenize
from deepnotes.text.vocab import RESERVED, Vocab, count_tokens

__all__ = [
    "RESERVED",
    "NGramLM",
    "Vocab",
    "count_tokens",
    "hash_tokens",
    "letter_ngrams",
    "ngram_counts",
    "rank_frequency",
    "sample_text",
    "stop_word_stats",
    "tokenize",
    "zipf_fit",
]


def sample_text() -> str:
    """The English sample shipped with the package (chapters 1-2 of Pride and Prejudice, 8.8 KB).

    Public domain (Jane Austen, 1813); used by quick modes and tests that must not depend on
    installed corpora.
    """
    from importlib.resources import files

    return files("deepnotes.text").joinpath("sample_en.txt").read_text(encoding="utf-8")
