"""The subword tokenizer pipeline every model shares (BPE, WordPiece), in Hugging Face's shape.

Encoding one text runs five stages, as Hugging Face ``tokenizers`` does, so that a
``tokenizer.json`` written by either library means the same thing to both::

    raw text -> split out added tokens ([MASK], <|endoftext|>: kept whole, never normalised)
             -> normalizer     (BertNormalizer: clean, lower-case, strip accents ...)
             -> pre-tokenizer  (words: BertPreTokenizer, ByteLevel, Whitespace ...)
             -> model          (each word -> piece ids: WordPiece or BPE, cached per word)
             -> post-processor ([CLS] A [SEP] B [SEP] and token type ids)

and decoding maps ids back to pieces (special tokens skipped) and joins them with the decoder
(``##`` continuations, GPT-2's byte symbols, an end-of-word marker). :class:`Tokenizer` is the
common interface: ``encode``, ``decode``, ``tokenize``, ``vocab_size``, ``encode_batch``
(padded tensors) and ``save`` (a ``tokenizer.json`` that ``tokenizers.Tokenizer.from_file``
loads and that encodes identically).

Truncation (``max_length``) counts the special tokens and is longest-first for a pair: only
the longer part is cut when that is enough, otherwise both get half (the second part the odd
token), exactly as HF truncates.

Notes: E5, E6.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepnotes.errors import ConfigError

__all__ = ["AddedToken", "TemplateProcessing", "Tokenizer", "check_vocab", "truncate_pair"]


def check_vocab(vocab: dict[str, int] | list[str], what: str) -> dict[str, int]:
    """``vocab`` as token -> id, checked: not empty, no token or id twice, ids >= 0."""
    if isinstance(vocab, dict):
        out = dict(vocab)
    else:
        out = {}
        for i, token in enumerate(vocab):
            if token in out:
                raise ConfigError(f"the {what} holds the token {token!r} twice (ids "
                                  f"{out[token]} and {i}); each token must appear once")
            out[token] = i
    if not out:
        raise ConfigError(f"the {what} is empty; a tokenizer needs at least one token")
    ids = list(out.values())
    if any(not isinstance(i, int) or isinstance(i, bool) or i < 0 for i in ids):
        bad = next(i for i in ids if not isinstance(i, int) or isinstance(i, bool) or i < 0)
        raise ConfigError(f"the {what} has the id {bad!r}; ids are integers >= 0")
    if len(set(ids)) != len(ids):
        raise ConfigError(f"the {what} gives one id to two tokens; ids must be distinct")
    return out


@dataclass
class AddedToken:
    """A token matched in the text before anything else and kept whole (HF ``added_tokens``).

    ``normalized=False`` (special tokens) matches the raw text; ``True`` matches the text after
    the normalizer. ``special`` tokens are skipped by ``decode``.
    """

    content: str
    id: int
    special: bool = True
    normalized: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "content": self.content, "single_word": False, "lstrip": False,
                "rstrip": False, "normalized": self.normalized, "special": self.special}


class TemplateProcessing:
    """Special tokens around one text or a pair, with token type ids (HF ``TemplateProcessing``).

    ``single`` and ``pair`` are lists of items ``("A", type_id)`` / ``("B", type_id)`` for the
    texts and ``(token, type_id)`` for a special token; ``special_tokens`` maps each such token
    to its ids.

    Example:
        >>> post = TemplateProcessing.bert(cls_id=101, sep_id=102)
        >>> post.apply([7592], [2088])
        ([101, 7592, 102, 2088, 102], [0, 0, 0, 1, 1])
    """

    def __init__(self, single: list[tuple[str, int]], pair: list[tuple[str, int]],
                 special_tokens: dict[str, list[int]]) -> None:
        for name, _ in single + pair:
            if name not in ("A", "B") and name not in special_tokens:
                raise ConfigError(f"the template names the special token {name!r} but does not "
                                  "give its id")
        self.single, self.pair, self.special_tokens = single, pair, special_tokens

    @classmethod
    def bert(cls, cls_id: int, sep_id: int, cls_token: str = "[CLS]",
             sep_token: str = "[SEP]") -> TemplateProcessing:
        """``[CLS] A [SEP]`` and ``[CLS] A [SEP] B [SEP]`` (type ids 0 ... 0 1 ... 1)."""
        return cls([(cls_token, 0), ("A", 0), (sep_token, 0)],
                   [(cls_token, 0), ("A", 0), (sep_token, 0), ("B", 1), (sep_token, 1)],
                   {cls_token: [cls_id], sep_token: [sep_id]})

    def num_special(self, is_pair: bool) -> int:
        """How many ids the template adds to one text (``is_pair=False``) or a pair."""
        return sum(len(self.special_tokens[name]) for name, _ in
                   (self.pair if is_pair else self.single) if name not in ("A", "B"))

    def apply(self, a: list[int], b: list[int] | None) -> tuple[list[int], list[int]]:
        """The ids and token type ids of the template filled with ``a`` (and ``b``)."""
        ids: list[int] = []
        types: list[int] = []
        for name, type_id in (self.single if b is None else self.pair):
            part = a if name == "A" else b if name == "B" else self.special_tokens[name]
            ids += part
            types += [type_id] * len(part)
        return ids, types

    def to_json(self) -> dict[str, Any]:
        def items(template):
            return [{"Sequence": {"id": n, "type_id": t}} if n in ("A", "B")
                    else {"SpecialToken": {"id": n, "type_id": t}} for n, t in template]

        return {"type": "TemplateProcessing", "single": items(self.single),
                "pair": items(self.pair),
                "special_tokens": {n: {"id": n, "ids": ids, "tokens": [n] * len(ids)}
                                   for n, ids in self.special_tokens.items()}}


def truncate_pair(n1: int, n2: int, max_length: int) -> tuple[int, int]:
    """Lengths to keep of two parts so that ``n1 + n2 <= max_length``, longest first (HF).

    Only the longer part is cut when that is enough; otherwise each keeps ``max_length // 2``
    and the longer one (the second, when they are equal) the odd token.

    Example:
        >>> truncate_pair(2, 8, 7), truncate_pair(8, 8, 7), truncate_pair(8, 4, 7)
        ((2, 5), (3, 4), (4, 3))
    """
    if n1 + n2 <= max_length:
        return n1, n2
    short, long_ = sorted((n1, n2))
    if short <= max_length // 2:
        long_ = max_length - short  # cutting the longer part is enough
    else:
        short, long_ = max_length // 2, max_length // 2 + max_length % 2  # both are cut
    return (short, long_) if n1 <= n2 else (long_, short)


def _alternation(tokens: list[str]) -> re.Pattern | None:
    """A regex finding any of ``tokens``, the longest first at each place (None: no tokens)."""
    tokens = sorted({t for t in tokens if t}, key=len, reverse=True)
    return re.compile("(" + "|".join(map(re.escape, tokens)) + ")") if tokens else None


class Tokenizer:
    """A subword tokenizer: added tokens, normalizer, pre-tokenizer, model, post-processor.

    Args:
        model: the subword model (:class:`~deepnotes.text.bpe.BPE` or
            :class:`~deepnotes.text.wordpiece.WordPiece`): ``vocab``, ``id_to_token``,
            ``tokenize_word(word) -> ids``.
        normalizer, pre_tokenizer, post_processor, decoder: the stages (None: skip it;
            without a decoder the pieces are joined by spaces).
        added_tokens: tokens found in the raw text first and kept whole.

    Example:
        >>> from deepnotes.text.pretokenizers import WhitespaceSplit
        >>> from deepnotes.text.wordpiece import WordPiece
        >>> tok = Tokenizer(WordPiece(["[UNK]", "un", "##able", "able"]),
        ...                 pre_tokenizer=WhitespaceSplit())
        >>> tok.encode("unable able"), tok.tokenize("unable"), tok.vocab_size
        ([1, 2, 3], ['un', '##able'], 4)

    Notes: E5, E6.
    """

    def __init__(self, model: Any, normalizer: Any = None, pre_tokenizer: Any = None,
                 post_processor: TemplateProcessing | None = None, decoder: Any = None,
                 added_tokens: list[AddedToken] | tuple = ()) -> None:
        self.model = model
        self.normalizer = normalizer
        self.pre_tokenizer = pre_tokenizer
        self.post_processor = post_processor
        self.decoder = decoder
        self.added_tokens = list(added_tokens)
        self._id_to_token = dict(model.id_to_token)
        for t in self.added_tokens:
            if self._id_to_token.get(t.id, t.content) != t.content:
                raise ConfigError(f"the added token {t.content!r} has id {t.id}, which the "
                                  f"vocabulary gives to {self._id_to_token[t.id]!r}")
            self._id_to_token[t.id] = t.content
        self._token_to_id = {tok: i for i, tok in self._id_to_token.items()}
        self._special_ids = {t.id for t in self.added_tokens if t.special}
        raw = [t for t in self.added_tokens if not t.normalized]
        norm = [t for t in self.added_tokens if t.normalized]
        self._raw_ids = {t.content: t.id for t in raw}
        self._raw_split = _alternation(list(self._raw_ids))
        self._norm_ids = {self._normalize(t.content): t.id for t in norm}
        self._norm_split = _alternation(list(self._norm_ids))
        pad = next((t for t in ("[PAD]", "<pad>", "<|padding|>") if t in self._token_to_id), None)
        self.pad_token = pad
        self.pad_id = self._token_to_id[pad] if pad is not None else 0

    # ---- vocabulary ------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """Number of distinct ids: the model's vocabulary and the added tokens."""
        return len(self._id_to_token)

    def token_to_id(self, token: str) -> int | None:
        """The id of ``token`` (None when it is not in the vocabulary)."""
        return self._token_to_id.get(token)

    def id_to_token(self, token_id: int) -> str:
        """The token of ``token_id``."""
        try:
            return self._id_to_token[token_id]
        except (KeyError, TypeError):
            raise ConfigError(f"id {token_id!r} is not in the vocabulary (ids 0 to "
                              f"{max(self._id_to_token)})") from None

    # ---- encoding --------------------------------------------------------------------------
    def _normalize(self, text: str) -> str:
        return self.normalizer.normalize(text) if self.normalizer is not None else text

    def _words(self, text: str) -> list[str]:
        if self.pre_tokenizer is not None:
            return self.pre_tokenizer.split(text)
        return [text] if text else []

    def _encode_text(self, text: str) -> list[int]:
        """The piece ids of one text, without the post-processor's special tokens."""
        if not isinstance(text, str):
            raise ConfigError(f"a tokenizer encodes text (str), got {type(text).__name__}")
        ids: list[int] = []
        tokenize_word = self.model.tokenize_word
        segments = self._raw_split.split(text) if self._raw_split is not None else [text]
        for k, segment in enumerate(segments):
            if k % 2:  # odd positions of re.split with a group: the added tokens themselves
                ids.append(self._raw_ids[segment])
                continue
            segment = self._normalize(segment)
            inner = self._norm_split.split(segment) if self._norm_split is not None else [segment]
            for j, part in enumerate(inner):
                if j % 2:
                    ids.append(self._norm_ids[part])
                    continue
                for word in self._words(part):
                    ids += tokenize_word(word)
        return ids

    def tokenize(self, text: str) -> list[str]:
        """The pieces of ``text`` (no ``[CLS]``/``[SEP]``), e.g. ``['una', '##ffa', '##ble']``."""
        return [self._id_to_token[i] for i in self._encode_text(text)]

    def encode_with_types(self, text: str, pair: str | None = None,
                          add_special_tokens: bool = True,
                          max_length: int | None = None) -> tuple[list[int], list[int]]:
        """The ids and token type ids of ``text`` (and ``pair``), truncated to ``max_length``."""
        a = self._encode_text(text)
        b = self._encode_text(pair) if pair is not None else None
        post = self.post_processor if add_special_tokens else None
        if max_length is not None:
            extra = post.num_special(b is not None) if post is not None else 0
            if max_length < extra:
                raise ConfigError(f"max_length must leave room for the {extra} special tokens, "
                                  f"got {max_length}")
            n1, n2 = truncate_pair(len(a), len(b) if b is not None else 0, max_length - extra)
            a = a[:n1]
            b = b[:n2] if b is not None else None
        if post is not None:
            return post.apply(a, b)
        return a + (b or []), [0] * len(a) + [1] * len(b or [])

    def encode(self, text: str, pair: str | None = None, add_special_tokens: bool = True,
               max_length: int | None = None) -> list[int]:
        """The ids of ``text`` (and of the second text ``pair``), with the special tokens."""
        return self.encode_with_types(text, pair, add_special_tokens, max_length)[0]

    def encode_batch(self, texts: list[str], pair: list[str] | None = None,
                     max_length: int | None = None, padding: bool | str = True,
                     add_special_tokens: bool = True) -> dict[str, Any]:
        """Encode several texts (or pairs) into padded tensors.

        Args:
            texts: the texts; pair: the second texts, one per text (or None).
            max_length: truncate each encoding to this many ids (longest first for pairs).
            padding: True / ``"longest"`` pads to the longest encoding, ``"max_length"`` to
                ``max_length``, False requires equal lengths.

        Returns:
            ``input_ids``, ``token_type_ids``, ``attention_mask`` (1 on real tokens, 0 on
            padding), each a long tensor of shape (B, T).
        """
        import torch

        if isinstance(texts, str):
            raise ConfigError("encode_batch takes a list of texts; use encode for one text")
        if pair is not None and len(pair) != len(texts):
            raise ConfigError(f"pair must hold one text per text: {len(texts)} texts, "
                              f"{len(pair)} pairs")
        if padding not in (True, False, "longest", "max_length"):
            raise ConfigError(f"padding must be True, False, 'longest' or 'max_length', got "
                              f"{padding!r}")
        if padding == "max_length" and max_length is None:
            raise ConfigError("padding='max_length' needs max_length")
        rows = [self.encode_with_types(t, pair[i] if pair is not None else None,
                                       add_special_tokens, max_length)
                for i, t in enumerate(texts)]
        lengths = [len(ids) for ids, _ in rows]
        T = max_length if padding == "max_length" else max(lengths, default=0)
        if padding is False and len(set(lengths)) > 1:
            raise ConfigError(f"padding=False needs encodings of one length, got lengths from "
                              f"{min(lengths)} to {max(lengths)}; pass padding=True")
        input_ids = torch.full((len(rows), T), self.pad_id, dtype=torch.long)  # (B, T)
        token_type_ids = torch.zeros((len(rows), T), dtype=torch.long)  # (B, T)
        attention_mask = torch.zeros((len(rows), T), dtype=torch.long)  # (B, T)
        for r, (ids, types) in enumerate(rows):
            input_ids[r, :len(ids)] = torch.tensor(ids, dtype=torch.long)
            token_type_ids[r, :len(ids)] = torch.tensor(types, dtype=torch.long)
            attention_mask[r, :len(ids)] = 1
        return {"input_ids": input_ids, "token_type_ids": token_type_ids,
                "attention_mask": attention_mask}

    # ---- decoding --------------------------------------------------------------------------
    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        """Text from ids: special tokens dropped (by default), pieces joined by the decoder."""
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        tokens = [self.id_to_token(i) for i in ids
                  if not (skip_special_tokens and i in self._special_ids)]
        if self.decoder is None:
            return " ".join(tokens)
        return self.decoder.decode(tokens)

    # ---- saving ----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The tokenizer as Hugging Face's ``tokenizer.json`` dictionary."""

        def part(x):
            return x.to_json() if x is not None else None

        return {"version": "1.0", "truncation": None, "padding": None,
                "added_tokens": [t.to_json() for t in self.added_tokens],
                "normalizer": part(self.normalizer), "pre_tokenizer": part(self.pre_tokenizer),
                "post_processor": part(self.post_processor), "decoder": part(self.decoder),
                "model": self.model.to_json()}

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``tokenizer.json`` (``path`` is the file when it ends in .json, else a folder).

        ``tokenizers.Tokenizer.from_file`` loads it and encodes identically;
        :func:`deepnotes.text.load_tokenizer` reads it back.
        """
        path = Path(path)
        if path.suffix != ".json":
            path = path / "tokenizer.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, path)
        return path

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(model={type(self.model).__name__}, "
                f"vocab_size={self.vocab_size}, normalizer={self.normalizer!r}, "
                f"pre_tokenizer={self.pre_tokenizer!r})")
