"""Split text into tokens (words or characters), and letter n-grams for unseen words.

Word tokens: a run of letters/digits (an inner apostrophe keeps "don't" and "Elizabeth's" in one
piece) or one punctuation character on its own. Punctuation is kept as tokens so that sentence
marks survive for translation (``"Hello, world!"`` -> ``hello , world !``). Words are lower-cased
by default (``lower=True``), as d2l does for its corpora; pass ``lower=False`` to keep case.

Char tokens: every character of the line, spaces included (the line break is not a token because
lines are split first), lower-cased by default as well.

The notes (R1) also suggest describing a word by its letters, so that a word never seen in
training still gets a vector: :func:`letter_ngrams` lists a word's letter tri-grams
("apple" -> app, ppl, ple) and :func:`hash_tokens` turns words into bag-of-letter-n-gram count
vectors of a fixed size ("word hashing").

Notes: R1.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable

import torch

from deepnotes.errors import ConfigError

__all__ = ["WORD_PATTERN", "hash_tokens", "letter_ngrams", "tokenize"]

# a word (letters/digits/underscore, with inner apostrophes) or one non-space symbol
WORD_PATTERN = re.compile(r"\w+(?:['\u2019]\w+)*|[^\w\s]")


def _as_lines(lines: str | Iterable[str]) -> list[str]:
    if isinstance(lines, str):
        return lines.splitlines()
    out = list(lines)
    for i, line in enumerate(out):
        if not isinstance(line, str):
            raise ConfigError(f"tokenize expects strings, but line {i} is {type(line).__name__}; "
                              "pass a str or a list of str.")
    return out


def tokenize(lines: str | Iterable[str], kind: str = "word", lower: bool = True) -> list[list[str]]:
    """Split each line into word or character tokens.

    Args:
        lines: one string (split into lines at line breaks) or a list of lines.
        kind: ``"word"`` (words and punctuation marks) or ``"char"`` (every character).
        lower: lower-case the text first (default ``True``).

    Returns:
        one list of tokens per line (an empty line gives an empty list, so the output lines up
        with the input).

    Example:
        >>> tokenize("Hello, world!\\nIt's me.")
        [['hello', ',', 'world', '!'], ["it's", 'me', '.']]
        >>> tokenize(["ab c"], kind="char", lower=False)
        [['a', 'b', ' ', 'c']]

    Notes: R1.
    """
    text_lines = _as_lines(lines)
    if lower:
        text_lines = [line.lower() for line in text_lines]
    if kind == "word":
        return [WORD_PATTERN.findall(line) for line in text_lines]
    if kind == "char":
        return [list(line) for line in text_lines]
    raise ConfigError(f"Unknown token kind {kind!r}; use kind='word' or kind='char'.")


def letter_ngrams(word: str, n: int = 3, boundary: str = "") -> list[str]:
    """The letter n-grams of ``word``, left to right (with repeats).

    With ``boundary="#"`` the word is first written ``#word#`` (as in DSSM word hashing), so that
    the first and last letters get n-grams of their own; a word shorter than ``n`` (after adding
    the boundary marks) gives itself as its only n-gram.

    Args:
        word: the word.
        n: n-gram length (default 3: letter tri-grams, 26^3 possible over a-z).
        boundary: mark put before and after the word (default: none, as in the lecture).

    Example:
        >>> letter_ngrams("apple")
        ['app', 'ppl', 'ple']
        >>> letter_ngrams("ox", boundary="#")
        ['#ox', 'ox#']

    Notes: R1 ("use the letters of a word to build its vector").
    """
    if n < 1:
        raise ConfigError(f"n must be >= 1, got {n}; use n=3 for letter tri-grams.")
    s = f"{boundary}{word}{boundary}"
    if len(s) <= n:
        return [s] if s else []
    return [s[i:i + n] for i in range(len(s) - n + 1)]


def hash_tokens(words: Iterable[str], num_buckets: int = 2 ** 14, n: int = 3,
                boundary: str = "#") -> torch.Tensor:
    """Word hashing: each word becomes a count vector over hashed letter n-grams.

    v[w, b] = #{ g in letter_ngrams(w) : crc32(g) mod num_buckets = b }

    Two words share a bucket only when they share letter n-grams (or, rarely, by a hash
    collision), so an unseen word still lands near the seen words that it is spelled like,
    instead of on the single "other" dimension.

    Args:
        words: the words to encode.
        num_buckets: length of each vector (the hashed dimension).
        n: letter n-gram length.
        boundary: mark put around each word before taking n-grams.

    Shape:
        output: (N, num_buckets), float32, N = number of words.

    Example:
        >>> v = hash_tokens(["apple", "apples"], num_buckets=64)
        >>> v.shape, float(v[0].sum())
        (torch.Size([2, 64]), 5.0)

    Notes: R1.
    """
    if num_buckets < 1:
        raise ConfigError(f"num_buckets must be >= 1, got {num_buckets}.")
    words = list(words)
    out = torch.zeros(len(words), num_buckets)
    for i, word in enumerate(words):
        for gram in letter_ngrams(word, n=n, boundary=boundary):
            # crc32 is stable across processes (Python's hash() is salted per run)
            out[i, zlib.crc32(gram.encode("utf-8")) % num_buckets] += 1.0
    return out
