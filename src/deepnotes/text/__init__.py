"""Text: tokenizers (words, characters, BPE, WordPiece), the vocabulary, n-gram language models.

Example:
    >>> from deepnotes.text import Vocab, tokenize
    >>> lines = tokenize("The cat sat.\\nThe dog sat!")
    >>> v = Vocab(lines)
    >>> v.to_tokens(v.to_indices(lines[0]))
    ['the', 'cat', 'sat', '.']

Subword tokenizers share one interface (:class:`Tokenizer`: ``encode``, ``decode``, ``tokenize``,
``vocab_size``, ``encode_batch``, ``save`` as a Hugging Face ``tokenizer.json``):

    >>> from deepnotes.text import BPETokenizer
    >>> bpe = BPETokenizer.train(["a rose is a rose is a rose"], vocab_size=262)
    >>> bpe.tokenize("a rose")
    ['a', 'Ġrose']

``load_tokenizer(path)`` reads a ``tokenizer.json``, a BERT ``vocab.txt`` or ``"minilm"``.

Notes: R1 (tokenize, Vocab, word hashing), R2 (n-gram LMs, Zipf, stop words), E5 (BPE),
E6 (WordPiece).
"""

from __future__ import annotations

from deepnotes.text.bpe import BPE, BPETokenizer, train_bpe
from deepnotes.text.ngram import NGramLM, ngram_counts, rank_frequency, stop_word_stats, zipf_fit
from deepnotes.text.tokenize import hash_tokens, letter_ngrams, tokenize
from deepnotes.text.tokenizer import Tokenizer
from deepnotes.text.tokenizer_io import load_tokenizer
from deepnotes.text.vocab import RESERVED, Vocab, count_tokens
from deepnotes.text.wordpiece import WordPiece, WordPieceTokenizer

__all__ = [
    "BPE",
    "RESERVED",
    "BPETokenizer",
    "NGramLM",
    "Tokenizer",
    "Vocab",
    "WordPiece",
    "WordPieceTokenizer",
    "count_tokens",
    "hash_tokens",
    "letter_ngrams",
    "load_tokenizer",
    "ngram_counts",
    "rank_frequency",
    "sample_text",
    "stop_word_stats",
    "tokenize",
    "train_bpe",
    "zipf_fit",
]


def sample_text() -> str:
    """The English sample shipped with the package (chapters 1-2 of Pride and Prejudice, 8.8 KB).

    Public domain (Jane Austen, 1813); used by quick modes and tests that must not depend on
    installed corpora.
    """
    from importlib.resources import files

    return files("deepnotes.text").joinpath("sample_en.txt").read_text(encoding="utf-8")
