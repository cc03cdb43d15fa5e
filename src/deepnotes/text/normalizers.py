"""Normalizers: the clean-up a subword tokenizer applies to text before splitting it into words.

:class:`BertNormalizer` is the first half of BERT's basic tokenizer, in the order Hugging Face
``tokenizers`` applies it:

1. clean: drop NUL, U+FFFD and control/format characters (categories Cc, Cf, Co, Cs; tab, line
   feed and carriage return count as white space), turn every white-space character into ``" "``;
2. CJK: put a space on each side of every CJK ideograph, so that each becomes a word of its own;
3. strip accents (by default when lower-casing, as the uncased BERT vocabularies expect):
   Unicode NFD, then drop the non-spacing marks (category Mn): ``"café"`` -> ``"cafe"``;
4. lower-case, one character at a time (so a final capital sigma gives ``σ``, as in HF, and not
   Python's context-dependent ``ς``).

The others are the small pieces a ``tokenizer.json`` may chain: :class:`Lowercase`,
:class:`UnicodeNormalizer` (NFC, NFD, NFKC, NFKD), :class:`StripAccents` and
:class:`NormalizerSequence`. Each has ``normalize(text) -> str`` and ``to_json()`` (the
``"normalizer"`` entry of HF's ``tokenizer.json``).

Character classes come from Python's :mod:`unicodedata` (Unicode 14 on Python 3.11); HF's Rust
tables are from Unicode 8, so about 500 characters assigned or re-classed since (new combining
marks and format characters of rare scripts such as U+07FD) are dropped here and kept by HF.
Every character of Unicode 8 is treated alike.

Notes: E6.
"""

from __future__ import annotations

import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

__all__ = [
    "BertNormalizer",
    "Lowercase",
    "Normalizer",
    "NormalizerSequence",
    "StripAccents",
    "UnicodeNormalizer",
    "WHITESPACE",
    "is_cjk",
    "lowercase",
    "strip_accents",
]

# Unicode White_Space (what Rust's char::is_whitespace tests), the split points of every
# pre-tokenizer; Python's str.isspace() also counts U+001C-U+001F, which are not white space
WHITESPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000")

# BERT's CJK ideograph blocks as HF writes them (its fifth range starts at U+2B920, not at
# U+2B820 as in Google's BERT, so U+2B820-U+2B91F are not spaced: we follow HF)
_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
               (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def is_cjk(char: str) -> bool:
    """Whether ``char`` is a CJK ideograph in BERT's sense (the blocks of ``_CJK_RANGES``).

    Example:
        >>> is_cjk("中"), is_cjk("a"), is_cjk("。")
        (True, False, False)
    """
    cp = ord(char)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


class _LazyTable(dict):
    """A ``str.translate`` table that computes each character's replacement on first sight.

    ``rule(char)`` gives the replacement string, or None to delete the character. Text is
    mostly ASCII and a few thousand other characters, so the table stays small.
    """

    def __init__(self, rule: Callable[[str], str | None]) -> None:
        super().__init__()
        self.rule = rule

    def __missing__(self, cp: int) -> str | None:
        value = self.rule(chr(cp))
        self[cp] = value
        return value


def _drop_nonspacing(char: str) -> str | None:
    return None if unicodedata.category(char) == "Mn" else char


_STRIP_TABLE = _LazyTable(_drop_nonspacing)


def strip_accents(text: str) -> str:
    """NFD, then drop the non-spacing marks (category Mn).

    Example:
        >>> strip_accents("Ñandú café")
        'Nandu cafe'
    """
    if text.isascii():
        return text
    return unicodedata.normalize("NFD", text).translate(_STRIP_TABLE)


def lowercase(text: str) -> str:
    """Lower-case one character at a time, as HF does (no context-dependent final sigma).

    Example:
        >>> lowercase("ΟΔΟΣ Hello")
        'οδοσ hello'
    """
    if "\u03a3" not in text:  # str.lower() differs from per-character only at a capital sigma
        return text.lower()
    return "".join([c.lower() for c in text])


class Normalizer(ABC):
    """Base class: ``normalize(text) -> text`` and the HF ``tokenizer.json`` entry."""

    @abstractmethod
    def normalize(self, text: str) -> str:
        """``text`` normalised."""

    @abstractmethod
    def to_json(self) -> dict[str, Any]:
        """The entry of a Hugging Face ``tokenizer.json`` for this step."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_json()})"


class BertNormalizer(Normalizer):
    """BERT's text clean-up: control characters, white space, CJK spacing, accents, case.

    Args:
        clean_text: drop control characters, NUL and U+FFFD; every white space -> ``" "``
            (default True).
        handle_chinese_chars: put spaces around CJK ideographs (default True).
        strip_accents: NFD and drop non-spacing marks; None (default) follows ``lowercase``.
        lowercase: lower-case the text (default True, for the uncased vocabularies).

    Example:
        >>> BertNormalizer().normalize("Héllo,\\tWORLD\\x00 中文")
        'hello, world  中  文 '

    Notes: E6.
    """

    def __init__(self, clean_text: bool = True, handle_chinese_chars: bool = True,
                 strip_accents: bool | None = None, lowercase: bool = True) -> None:
        self.clean_text = clean_text
        self.handle_chinese_chars = handle_chinese_chars
        self.strip_accents = strip_accents
        self.lowercase = lowercase
        self._table = _LazyTable(self._rule)

    def _rule(self, char: str) -> str | None:
        if self.clean_text:
            if char in "\x00\ufffd":
                return None
            # controls go first: \x0b, \x0c and \x85 are white space but are dropped
            if char not in "\t\n\r" and unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs"):
                return None
            if char in WHITESPACE:
                return " "
        if self.handle_chinese_chars and is_cjk(char):
            return f" {char} "
        return char

    def normalize(self, text: str) -> str:
        if self.clean_text or self.handle_chinese_chars:
            text = text.translate(self._table)
        if self.lowercase if self.strip_accents is None else self.strip_accents:
            text = strip_accents(text)
        if self.lowercase:
            text = lowercase(text)
        return text

    def to_json(self) -> dict[str, Any]:
        return {"type": "BertNormalizer", "clean_text": self.clean_text,
                "handle_chinese_chars": self.handle_chinese_chars,
                "strip_accents": self.strip_accents, "lowercase": self.lowercase}


class Lowercase(Normalizer):
    """Lower-case every character (HF ``Lowercase``)."""

    def normalize(self, text: str) -> str:
        return lowercase(text)

    def to_json(self) -> dict[str, Any]:
        return {"type": "Lowercase"}


class StripAccents(Normalizer):
    """Drop non-spacing marks (HF ``StripAccents``; it expects NFD text before it)."""

    def normalize(self, text: str) -> str:
        return text if text.isascii() else text.translate(_STRIP_TABLE)

    def to_json(self) -> dict[str, Any]:
        return {"type": "StripAccents"}


class UnicodeNormalizer(Normalizer):
    """One of the Unicode normal forms ``"NFC"``, ``"NFD"``, ``"NFKC"``, ``"NFKD"``."""

    FORMS = ("NFC", "NFD", "NFKC", "NFKD")

    def __init__(self, form: str) -> None:
        if form not in self.FORMS:
            from deepnotes.errors import ConfigError

            raise ConfigError(f"Unknown Unicode normal form {form!r}; use one of {self.FORMS}.")
        self.form = form

    def normalize(self, text: str) -> str:
        return text if text.isascii() else unicodedata.normalize(self.form, text)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.form}


class NormalizerSequence(Normalizer):
    """Several normalizers, applied in order."""

    def __init__(self, normalizers: list[Normalizer]) -> None:
        self.normalizers = list(normalizers)

    def normalize(self, text: str) -> str:
        for n in self.normalizers:
            text = n.normalize(text)
        return text

    def to_json(self) -> dict[str, Any]:
        return {"type": "Sequence", "normalizers": [n.to_json() for n in self.normalizers]}
