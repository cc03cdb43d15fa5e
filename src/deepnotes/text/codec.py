"""How a translator cuts sentences into tokens and glues its output back into text.

A :class:`WordCodec` cuts lower-cased words and punctuation marks (d2l's preprocessing; words
seen too rarely become ``<unk>``); a :class:`SubwordCodec` cuts byte-level BPE pieces (E5), so
every word — a name never seen, a rare inflection — is spelt out of known pieces and nothing
becomes ``<unk>``. Both turn a sentence into a list of token strings (what
:class:`~deepnotes.text.Vocab` indexes) and a list back into text, and both are stored in a
translation checkpoint (``to_json``/``codec_from_json``) so ``deepnotes translate`` cuts new
sentences exactly as the training data was cut.

Example:
    >>> codec = SubwordCodec.train(["the cat sat", "the cats sat on the mat"], vocab_size=270)
    >>> pieces = codec.split("The cats")
    >>> codec.join(pieces)
    'the cats'

Notes: S1, E5.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from deepnotes.errors import ConfigError

__all__ = ["SubwordCodec", "WordCodec", "codec_from_json", "detokenize"]

_NO_SPACE_BEFORE = re.compile(r" ([,.;:!?)\]}”’»])")
_NO_SPACE_AFTER = re.compile(r"([¿¡(\[{“‘«]) ")


def detokenize(tokens: Sequence[str]) -> str:
    """Join word tokens into a sentence: no space before ``, . ; : ! ?`` or after ``¿ ¡``.

    Example:
        >>> detokenize(["¿", "dónde", "está", "?", "sí", ",", "aquí", "."])
        '¿dónde está? sí, aquí.'
    """
    text = " ".join(tokens)
    return _NO_SPACE_AFTER.sub(r"\1", _NO_SPACE_BEFORE.sub(r"\1", text))


class WordCodec:
    """Lower-cased words and punctuation marks (:func:`deepnotes.text.tokenize`)."""

    kind = "word"

    def split(self, sentence: str) -> list[str]:
        from deepnotes.text import tokenize

        return tokenize([sentence])[0]

    def split_many(self, sentences: Sequence[str]) -> list[list[str]]:
        from deepnotes.text import tokenize

        return tokenize(list(sentences))

    def join(self, tokens: Sequence[str]) -> str:
        return detokenize(tokens)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind}


class SubwordCodec:
    """Byte-level BPE pieces of the lower-cased sentence (one tokenizer for both languages when
    trained on both sides: a joint vocabulary, as subword translators usually have)."""

    kind = "bpe"

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 8000) -> SubwordCodec:
        """Learn a byte-level BPE of ``vocab_size`` tokens from ``texts`` (lower-cased)."""
        from deepnotes.text import BPETokenizer

        if vocab_size < 257:
            raise ConfigError(f"a byte-level BPE needs at least 257 tokens (256 bytes + merges), "
                              f"got vocab_size={vocab_size}")
        return cls(BPETokenizer.train((t.lower() for t in texts), vocab_size=vocab_size,
                                      byte_level=True))

    def split(self, sentence: str) -> list[str]:
        return self.tokenizer.tokenize(sentence.lower().strip())

    def split_many(self, sentences: Sequence[str]) -> list[list[str]]:
        return [self.split(s) for s in sentences]

    def join(self, tokens: Sequence[str]) -> str:
        return self.tokenizer.decoder.decode(list(tokens)).strip()

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "tokenizer": self.tokenizer.to_json()}


def codec_from_json(d: dict[str, Any] | None) -> WordCodec | SubwordCodec:
    """The codec :meth:`to_json` described (``None``: the word codec of older checkpoints)."""
    if d is None or d.get("kind") == "word":
        return WordCodec()
    if d.get("kind") == "bpe":
        from deepnotes.text.tokenizer_io import tokenizer_from_json

        return SubwordCodec(tokenizer_from_json(d["tokenizer"]))
    raise ConfigError(f"unknown token codec {d.get('kind')!r} in the checkpoint; expected 'word' "
                      "or 'bpe'")
