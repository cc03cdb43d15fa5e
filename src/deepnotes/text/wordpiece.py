"""WordPiece: BERT's subword tokenizer, greedy longest-match-first over a fixed vocabulary.

A word is cut left to right: at each position take the longest vocabulary entry that starts
there, written with the continuation prefix ``##`` unless it starts the word::

    "unaffable" -> una ##ffa ##ble        (MiniLM's uncased vocabulary)

If some position has no entry at all, or the word is longer than
``max_input_chars_per_word`` (100) characters, the whole word becomes ``[UNK]``. Before that,
BERT's basic tokenizer (:class:`~deepnotes.text.normalizers.BertNormalizer`, then
:class:`~deepnotes.text.pretokenizers.BertPreTokenizer`) lower-cases, strips accents, drops
control characters, spaces CJK ideographs and splits off punctuation; special tokens such as
``[MASK]`` are split out of the raw text first and kept whole. A single text becomes
``[CLS] A [SEP]``, a pair ``[CLS] A [SEP] B [SEP]`` with token type ids 0 for the first part
and 1 for ``B [SEP]``.

A BERT ``vocab.txt`` (one token per line, the line number is the id) is all it needs:
:meth:`WordPieceTokenizer.from_vocab`. It encodes as Hugging Face ``tokenizers`` does (the
tests check the MiniLM vocabulary on thousands of English, Spanish and Chinese sentences).

Notes: E6.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from collections.abc import Iterable

from deepnotes.errors import ConfigError, DataMissingError
from deepnotes.text.normalizers import BertNormalizer
from deepnotes.text.pretokenizers import BertPreTokenizer
from deepnotes.text.tokenizer import AddedToken, TemplateProcessing, Tokenizer, check_vocab

__all__ = ["BERT_SPECIAL_TOKENS", "WordPiece", "WordPieceDecoder", "WordPieceTokenizer",
           "read_vocab_txt"]

BERT_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_CACHE_SIZE = 100_000  # words whose pieces are remembered (a cache, like HF's)


class WordPiece:
    """The WordPiece model: one word -> the ids of its pieces, greedy longest match first.

    Args:
        vocab: token -> id (or the list of tokens, the id being the position).
        unk_token: the token of a word that cannot be covered (default ``"[UNK]"``).
        continuing_subword_prefix: marks a piece that continues a word (default ``"##"``).
        max_input_chars_per_word: a longer word is ``unk_token`` at once (default 100).

    Example:
        >>> wp = WordPiece(["[UNK]", "un", "##aff", "##able", "##a"])
        >>> [wp.id_to_token[i] for i in wp.tokenize_word("unaffable")]
        ['un', '##aff', '##able']
        >>> [wp.id_to_token[i] for i in wp.tokenize_word("unx")]
        ['[UNK]']

    Notes: E6.
    """

    def __init__(self, vocab: dict[str, int] | list[str], unk_token: str = "[UNK]",
                 continuing_subword_prefix: str = "##",
                 max_input_chars_per_word: int = 100) -> None:
        self.vocab = check_vocab(vocab, "WordPiece")
        if unk_token not in self.vocab:
            raise ConfigError(f"the WordPiece vocabulary has no unknown token {unk_token!r}; "
                              "add it to the vocabulary or pass unk_token=")
        if max_input_chars_per_word < 1:
            raise ConfigError(f"max_input_chars_per_word must be >= 1, got "
                              f"{max_input_chars_per_word}")
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        self.unk_token = unk_token
        self.unk_id = self.vocab[unk_token]
        self.continuing_subword_prefix = continuing_subword_prefix
        self.max_input_chars_per_word = max_input_chars_per_word
        self._cache: dict[str, list[int]] = {}

    def tokenize_word(self, word: str) -> list[int]:
        """The ids of ``word``'s pieces (cached)."""
        ids = self._cache.get(word)
        if ids is None:
            ids = self._greedy(word)
            if len(self._cache) < _CACHE_SIZE:
                self._cache[word] = ids
        return ids

    def _greedy(self, word: str) -> list[int]:
        if len(word) > self.max_input_chars_per_word:
            return [self.unk_id]
        vocab, prefix = self.vocab, self.continuing_subword_prefix
        ids, start, n = [], 0, len(word)
        while start < n:
            # the longest piece word[start:end] in the vocabulary, end = n, n-1, ..., start+1
            for end in range(n, start, -1):
                piece = word[start:end] if start == 0 else prefix + word[start:end]
                token_id = vocab.get(piece)
                if token_id is not None:
                    break
            else:
                return [self.unk_id]  # nothing starts here: the whole word is unknown
            ids.append(token_id)
            start = end
        return ids

    def to_json(self) -> dict[str, Any]:
        return {"type": "WordPiece", "unk_token": self.unk_token,
                "continuing_subword_prefix": self.continuing_subword_prefix,
                "max_input_chars_per_word": self.max_input_chars_per_word,
                "vocab": dict(sorted(self.vocab.items(), key=lambda kv: kv[1]))}


class WordPieceDecoder:
    """Pieces back to text: ``##`` pieces join the previous one, the others follow a space.

    With ``cleanup`` (default) a piece that is one of ``. ? ! ,`` or a contraction such as
    ``n't``, ``'s``, ``'re`` is attached to the previous word, as HF's ``WordPiece`` decoder
    does (piece by piece).

    Example:
        >>> WordPieceDecoder().decode(["hello", ",", "una", "##ffa", "##ble", "world", "!"])
        'hello, unaffable world!'

    Notes: E6.
    """

    _CLEANUP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"),
                (" n't", "n't"), (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"),
                (" 've", "'ve"), (" 're", "'re"))

    def __init__(self, prefix: str = "##", cleanup: bool = True) -> None:
        self.prefix = prefix
        self.cleanup = cleanup

    def decode(self, tokens: list[str]) -> str:
        out = []
        for i, token in enumerate(tokens):
            if i:
                token = token[len(self.prefix):] if token.startswith(self.prefix) else " " + token
            if self.cleanup:
                for dirty, clean in self._CLEANUP:
                    token = token.replace(dirty, clean)
            out.append(token)
        return "".join(out)

    def to_json(self) -> dict[str, Any]:
        return {"type": "WordPiece", "prefix": self.prefix, "cleanup": self.cleanup}


def read_vocab_txt(path: str | os.PathLike) -> list[str]:
    """The tokens of a BERT ``vocab.txt``, one per line (the line number is the id).

    Raises:
        DataMissingError: no such file.
        ConfigError: the file is empty or holds a token twice.
    """
    path = Path(path)
    if not path.is_file():
        raise DataMissingError(f"no vocabulary file at {path}; pass a BERT vocab.txt (one "
                               "token per line)")
    tokens = path.read_text(encoding="utf-8").split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()  # the final line break
    tokens = [t.rstrip("\r") for t in tokens]
    if not tokens:
        raise ConfigError(f"the vocabulary file {path} is empty; a vocab.txt has one token per "
                          "line")
    check_vocab(tokens, f"vocabulary file {path}")
    return tokens


class WordPieceTokenizer(Tokenizer):
    """BERT's tokenizer: basic tokenizer + WordPiece + ``[CLS] A [SEP] B [SEP]``.

    Build it from a vocabulary with :meth:`from_vocab`, or load a ``tokenizer.json`` with
    :func:`deepnotes.text.load_tokenizer`; the interface is :class:`Tokenizer`'s.

    Example:
        >>> tok = WordPieceTokenizer.from_vocab(
        ...     ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", ",", "world", "!"])
        >>> tok.encode("Hello, WORLD!")
        [2, 5, 6, 7, 8, 3]
        >>> tok.tokenize("hello [MASK] planet")
        ['hello', '[MASK]', '[UNK]']
        >>> tok.decode(tok.encode("Hello, WORLD!"))
        'hello, world!'

    Notes: E6.
    """

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 8000, lowercase: bool = True,
              strip_accents: bool | None = None, min_frequency: int = 2,
              limit_alphabet: int | None = 1000) -> WordPieceTokenizer:
        r"""Learn a WordPiece vocabulary from ``texts``, as Hugging Face's ``WordPieceTrainer``.

        The text goes through BERT's basic tokenizer (normaliser and pre-tokenizer, as when
        encoding); each word starts as its characters, every one after the first written
        ``##c``; then the most frequent adjacent pair is merged again and again
        (:func:`~deepnotes.text.bpe.train_bpe` with ``continuing_subword_prefix="##"``:
        ``a`` + ``##b`` → ``ab``, ``##a`` + ``##b`` → ``##ab``) until the vocabulary — the five
        special tokens ``[PAD] [UNK] [CLS] [SEP] [MASK]`` (ids 0–4), the alphabet and the merged
        pieces — has ``vocab_size`` entries. Encoding then cuts words greedily longest-first
        over that vocabulary (:class:`WordPiece`), not by replaying merges.

        Args:
            texts: training text (lines, documents; a single string is one text).
            vocab_size: entries to reach (default 8,000).
            lowercase, strip_accents: BERT's normaliser (uncased by default; accents follow
                ``lowercase`` unless given).
            min_frequency: stop merging when the best pair occurs fewer times.
            limit_alphabet: keep only this many of the most frequent characters (None: all).

        Example:
            >>> texts = ["low lower lowest"] * 3
            >>> WordPieceTokenizer.train(texts, vocab_size=20).tokenize("lowest slow")
            ['low', '##e', '##s', '##t', '[UNK]']
            >>> WordPieceTokenizer.train(texts, vocab_size=24).tokenize("lowest slow")
            ['lowest', '[UNK]']

        ("slow" is ``[UNK]``: "s" is a piece, but no training word has an "l" after its first
        letter, so there is no ``##l`` and the word cannot be cut.)

        Notes: E6.
        """
        from collections import Counter

        from deepnotes.text.bpe import train_bpe

        if isinstance(texts, str):
            texts = [texts]
        norm = BertNormalizer(True, True, strip_accents, lowercase)
        pre = BertPreTokenizer()
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(pre.split(norm.normalize(text)))
        vocab, _ = train_bpe(counts, vocab_size, min_frequency, BERT_SPECIAL_TOKENS,
                             limit_alphabet=limit_alphabet, continuing_subword_prefix="##")
        return cls.from_vocab(vocab, lowercase=lowercase, strip_accents=strip_accents)

    @classmethod
    def from_vocab(cls, vocab: dict[str, int] | list[str] | str | os.PathLike,
                   lowercase: bool | None = None, strip_accents: bool | None = None,
                   unk_token: str = "[UNK]", max_input_chars_per_word: int = 100,
                   handle_chinese_chars: bool = True) -> WordPieceTokenizer:
        """A BERT tokenizer over ``vocab`` (a ``vocab.txt`` path, a token list or a dict).

        Args:
            lowercase: lower-case the text (uncased vocabularies); None (default) decides from
                the vocabulary: cased when some token outside brackets has a capital letter.
            strip_accents: None (default) follows ``lowercase``, as in BERT.
            unk_token, max_input_chars_per_word: see :class:`WordPiece`.
            handle_chinese_chars: space CJK ideographs (default True).
        """
        if isinstance(vocab, (str, os.PathLike)):
            vocab = read_vocab_txt(vocab)
        model = WordPiece(vocab, unk_token=unk_token,
                          max_input_chars_per_word=max_input_chars_per_word)
        if lowercase is None:
            lowercase = not any(t != t.lower() for t in model.vocab
                                if not (t.startswith("[") and t.endswith("]")))
        special = [AddedToken(t, model.vocab[t]) for t in BERT_SPECIAL_TOKENS if t in model.vocab]
        post = None
        if "[CLS]" in model.vocab and "[SEP]" in model.vocab:
            post = TemplateProcessing.bert(model.vocab["[CLS]"], model.vocab["[SEP]"])
        return cls(model, normalizer=BertNormalizer(True, handle_chinese_chars, strip_accents,
                                                    lowercase),
                   pre_tokenizer=BertPreTokenizer(), post_processor=post,
                   decoder=WordPieceDecoder(), added_tokens=special)
