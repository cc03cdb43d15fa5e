"""Pre-tokenizers: split normalised text into the words a subword model then cuts into pieces.

- :class:`BertPreTokenizer` (BERT's basic tokenizer, second half): split at white space, and
  make every punctuation character a word of its own (``"world!"`` -> ``world``, ``!``).
  Punctuation is Unicode category P* plus all ASCII symbols (``$ + < = > ^ ` |`` ``~`` too).
- :class:`Whitespace`: runs of word characters, and runs of everything else but white space
  (HF's regex ``\\w+|[^\\w\\s]+``).
- :class:`WhitespaceSplit`: split at white space only.
- :class:`ByteLevel` (GPT-2): split with GPT-2's regex (contractions, letters, digits, other
  symbols, each run taking one leading space), then write each piece's UTF-8 *bytes* as
  printable characters with :func:`bytes_to_unicode`, so any string - emoji, NUL, any
  script - is spelled with 256 symbols and a byte-level BPE never needs an unknown token.
  :class:`ByteLevelDecoder` maps the symbols back to bytes and decodes UTF-8.

Each has ``split(text) -> list[str]`` and ``to_json()`` (the ``"pre_tokenizer"`` entry of HF's
``tokenizer.json``).

Notes: E5 (byte-level BPE), E6 (BERT's basic tokenizer).
"""

from __future__ import annotations

import string
import unicodedata
from abc import ABC, abstractmethod
from functools import lru_cache
from typing import Any

import regex

from deepnotes.text.normalizers import WHITESPACE, _LazyTable

__all__ = [
    "GPT2_PATTERN",
    "BertPreTokenizer",
    "ByteLevel",
    "ByteLevelDecoder",
    "PreTokenizer",
    "PreTokenizerSequence",
    "Whitespace",
    "WhitespaceSplit",
    "bytes_to_unicode",
]

# GPT-2's pre-tokenisation regex (HF ByteLevel uses it verbatim): contractions, an optional
# space then letters / digits / other symbols, white space not followed by a non-space (so
# that the last space of a run joins the next word), then any remaining white space
GPT2_PATTERN = (r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+")

# HF's Whitespace: Rust regex \w is Alphabetic, Mark, Decimal_Number, Connector_Punctuation and
# Join_Control; \s is White_Space (spelled out so that the regex module's classes match Rust's)
_W = r"\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}"
_WHITESPACE_PATTERN = rf"[{_W}]+|[^{_W}\p{{White_Space}}]+"


@lru_cache(maxsize=None)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's table from the 256 byte values to printable characters.

    The 188 printable Latin-1 bytes (``!``-``~``, ``¡``-``¬``, ``®``-``ÿ``) stand for
    themselves; the other 68 (controls, space, soft hyphen ...) are shifted to U+0100 upwards
    in byte order, so the space byte 0x20 is ``Ġ`` (U+0120) and the line feed 0x0A is ``Ċ``.

    Example:
        >>> table = bytes_to_unicode()
        >>> table[ord("A")], table[ord(" ")], table[ord("\\n")], len(set(table.values()))
        ('A', 'Ġ', 'Ċ', 256)
    """
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    table = {b: chr(b) for b in printable}
    shift = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + shift)
            shift += 1
    return table


class PreTokenizer(ABC):
    """Base class: ``split(text) -> words`` and the HF ``tokenizer.json`` entry."""

    @abstractmethod
    def split(self, text: str) -> list[str]:
        """``text`` cut into pre-tokens (words)."""

    @abstractmethod
    def to_json(self) -> dict[str, Any]:
        """The entry of a Hugging Face ``tokenizer.json`` for this step."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_json()})"


def _is_bert_punctuation(char: str) -> bool:
    return char in string.punctuation or unicodedata.category(char).startswith("P")


def _bert_rule(char: str) -> str:
    if char in WHITESPACE:
        return " "
    return f" {char} " if _is_bert_punctuation(char) else char


class BertPreTokenizer(PreTokenizer):
    """Split at white space and isolate each punctuation character (BERT).

    Example:
        >>> BertPreTokenizer().split("hello, world!! (it's 3.5)")
        ['hello', ',', 'world', '!', '!', '(', 'it', "'", 's', '3', '.', '5', ')']

    Notes: E6.
    """

    _table = _LazyTable(_bert_rule)

    def split(self, text: str) -> list[str]:
        # white space -> " ", punctuation -> " p ", then split at " " only (str.split() would
        # also split at U+001C-U+001F, which are not white space)
        return [w for w in text.translate(self._table).split(" ") if w]

    def to_json(self) -> dict[str, Any]:
        return {"type": "BertPreTokenizer"}


class Whitespace(PreTokenizer):
    """Runs of word characters and runs of other non-space characters (HF ``Whitespace``).

    Example:
        >>> Whitespace().split("Hello, world!! it's")
        ['Hello', ',', 'world', '!!', 'it', "'", 's']
    """

    _pattern = regex.compile(_WHITESPACE_PATTERN)

    def split(self, text: str) -> list[str]:
        return self._pattern.findall(text)

    def to_json(self) -> dict[str, Any]:
        return {"type": "Whitespace"}


class WhitespaceSplit(PreTokenizer):
    """Split at white space only (HF ``WhitespaceSplit``)."""

    _table = _LazyTable(lambda c: " " if c in WHITESPACE else c)

    def split(self, text: str) -> list[str]:
        return [w for w in text.translate(self._table).split(" ") if w]

    def to_json(self) -> dict[str, Any]:
        return {"type": "WhitespaceSplit"}


class ByteLevel(PreTokenizer):
    """GPT-2's pre-tokenizer: regex split, then each piece's UTF-8 bytes as printable symbols.

    Args:
        add_prefix_space: put a space before text that does not start with one, so that the
            first word is spelled like the others (``"Ġhello"``); default False, which keeps
            ``decode(encode(s)) == s`` for every string.
        use_regex: split with :data:`GPT2_PATTERN` (default True); False keeps the text whole.

    Example:
        >>> ByteLevel().split("Hello world's 3.5 😀")
        ['Hello', 'Ġworld', "'s", 'Ġ3', '.', '5', 'ĠðŁĺĢ']

    Notes: E5.
    """

    _pattern = regex.compile(GPT2_PATTERN)

    def __init__(self, add_prefix_space: bool = False, use_regex: bool = True,
                 trim_offsets: bool = True) -> None:
        self.add_prefix_space = add_prefix_space
        self.use_regex = use_regex
        self.trim_offsets = trim_offsets  # offsets only; kept so that the JSON round-trips
        table = bytes_to_unicode()
        self._byte_chars = [table[b] for b in range(256)]

    def split(self, text: str) -> list[str]:
        if self.add_prefix_space and not text.startswith(" "):
            text = " " + text
        pieces = self._pattern.findall(text) if self.use_regex else ([text] if text else [])
        chars = self._byte_chars
        out = []
        for piece in pieces:
            if piece.isascii() and piece.isprintable() and " " not in piece:
                out.append(piece)  # printable ASCII but space stands for itself
            else:
                out.append("".join([chars[b] for b in piece.encode("utf-8")]))
        return out

    def to_json(self) -> dict[str, Any]:
        return {"type": "ByteLevel", "add_prefix_space": self.add_prefix_space,
                "trim_offsets": self.trim_offsets, "use_regex": self.use_regex}


class ByteLevelDecoder:
    """Join the pieces, map the byte symbols back to bytes, decode UTF-8 (HF ``ByteLevel``).

    A piece holding a character outside the table (an added token such as ``<|endoftext|>``)
    contributes its own UTF-8 bytes; invalid UTF-8 becomes U+FFFD.

    Example:
        >>> ByteLevelDecoder().decode(["Hello", "Ġworld", "ĠðŁĺĢ"])
        'Hello world 😀'

    Notes: E5.
    """

    def __init__(self) -> None:
        self._byte_of = {c: b for b, c in bytes_to_unicode().items()}

    def decode(self, tokens: list[str]) -> str:
        byte_of = self._byte_of
        out = bytearray()
        for token in tokens:
            try:
                out.extend([byte_of[c] for c in token])
            except KeyError:
                out.extend(token.encode("utf-8"))
        return out.decode("utf-8", errors="replace")

    def to_json(self) -> dict[str, Any]:
        return {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                "use_regex": True}


class PreTokenizerSequence(PreTokenizer):
    """Several pre-tokenizers: each splits every word the previous one produced."""

    def __init__(self, pretokenizers: list[PreTokenizer]) -> None:
        self.pretokenizers = list(pretokenizers)

    def split(self, text: str) -> list[str]:
        words = [text]
        for p in self.pretokenizers:
            words = [piece for w in words for piece in p.split(w)]
        return words

    def to_json(self) -> dict[str, Any]:
        return {"type": "Sequence", "pretokenizers": [p.to_json() for p in self.pretokenizers]}
