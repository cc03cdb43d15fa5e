"""Vocabulary: a fixed table between tokens and integer indices.

Order of the table: the reserved tokens first, in the order given (by default ``<unk>`` = 0,
``<pad>`` = 1, ``<bos>`` = 2, ``<eos>`` = 3), then every token counted at least ``min_freq``
times, most frequent first, ties broken alphabetically (so the same text always gives the same
table). Any other token maps to ``<unk>``.

Notes: R1.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from deepnotes.errors import ConfigError

__all__ = ["RESERVED", "Vocab", "count_tokens"]

RESERVED = ("<unk>", "<pad>", "<bos>", "<eos>")
_FORMAT = "deepnotes-vocab"


def _flatten(tokens: Any) -> Iterable[str]:
    for item in tokens:
        if isinstance(item, str):
            yield item
        else:
            yield from _flatten(item)


def count_tokens(tokens: Any) -> Counter:
    """Count the tokens of a flat or nested list of strings.

    Example:
        >>> count_tokens([["a", "b"], ["a"]])["a"]
        2
    """
    if isinstance(tokens, str):
        raise ConfigError("count_tokens expects a list of tokens, not one str; "
                          "tokenize the text first (deepnotes.text.tokenize).")
    return Counter(_flatten(tokens))


class Vocab:
    """Token <-> index table with reserved tokens and a minimum frequency.

    Args:
        tokens: the training tokens, a flat or nested list of str (e.g. ``tokenize(...)``).
        min_freq: tokens counted fewer times than this are left out (they become ``<unk>``).
        reserved: tokens that take the first indices, in this order; must contain ``"<unk>"``.

    Attributes:
        idx_to_token: list, index -> token.
        token_to_idx: dict, token -> index.
        token_freqs: every counted token with its count (dropped ones included), most frequent
            first, ties alphabetical; the input of Zipf's-law statistics.

    Example:
        >>> v = Vocab([["the", "cat"], ["the", "dog", "the"]], min_freq=1)
        >>> len(v), v["the"], v["bird"] == v.unk, v.to_tokens([5, 6])
        (7, 4, True, ['cat', 'dog'])
        >>> v.to_indices([["the", "cat"], ["zebra"]])
        [[4, 5], [0]]

    Notes: R1.
    """

    def __init__(self, tokens: Any = (), min_freq: int = 1,
                 reserved: Sequence[str] = RESERVED) -> None:
        reserved = tuple(reserved)
        if "<unk>" not in reserved:
            raise ConfigError(f"reserved={reserved!r} has no '<unk>'; unknown tokens need it, "
                              "e.g. reserved=('<unk>', '<pad>', '<bos>', '<eos>').")
        if len(set(reserved)) != len(reserved):
            raise ConfigError(f"reserved={reserved!r} repeats a token; list each once.")
        if int(min_freq) < 1:
            raise ConfigError(f"min_freq must be >= 1, got {min_freq}.")
        counts = count_tokens(tokens)
        # most frequent first; equal counts in alphabetical order (deterministic)
        freqs = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        kept = [t for t, c in freqs if c >= min_freq and t not in reserved]
        self._init_table(list(reserved) + kept, reserved, int(min_freq), freqs)

    def _init_table(self, idx_to_token: list[str], reserved: tuple[str, ...], min_freq: int,
                    token_freqs: list[tuple[str, int]]) -> None:
        self.idx_to_token = idx_to_token
        self.token_to_idx = {t: i for i, t in enumerate(idx_to_token)}
        if len(self.token_to_idx) != len(idx_to_token):
            raise ConfigError("the vocabulary lists a token twice; rebuild it from tokens.")
        self.reserved = reserved
        self.min_freq = min_freq
        self.token_freqs = token_freqs
        self._unk = self.token_to_idx["<unk>"]

    # ---- lookups -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.idx_to_token)

    def __contains__(self, token: object) -> bool:
        return token in self.token_to_idx

    def __iter__(self):
        return iter(self.idx_to_token)

    def __getitem__(self, token: str) -> int:
        return self.token_to_idx.get(token, self._unk)

    def _special(self, token: str) -> int:
        if token not in self.token_to_idx:
            raise ConfigError(f"this vocabulary has no {token!r} token; build it with "
                              f"reserved=('<unk>', '<pad>', '<bos>', '<eos>').")
        return self.token_to_idx[token]

    @property
    def unk(self) -> int:
        """Index of ``<unk>``."""
        return self._unk

    @property
    def pad(self) -> int:
        """Index of ``<pad>``."""
        return self._special("<pad>")

    @property
    def bos(self) -> int:
        """Index of ``<bos>``."""
        return self._special("<bos>")

    @property
    def eos(self) -> int:
        """Index of ``<eos>``."""
        return self._special("<eos>")

    def to_indices(self, tokens: Any) -> Any:
        """Map a token, or a (nested) list of tokens, to indices of the same structure."""
        if isinstance(tokens, str):
            return self[tokens]
        return [self.to_indices(t) for t in tokens]

    def to_tokens(self, indices: Any) -> Any:
        """Map an index, a (nested) list of indices or a 0/1/2-D integer tensor to tokens."""
        if isinstance(indices, torch.Tensor):
            if indices.ndim > 2 or indices.is_floating_point():
                raise ConfigError(f"to_tokens takes an integer tensor of 0-2 dims, got "
                                  f"{indices.dtype} with shape {tuple(indices.shape)}.")
            indices = indices.tolist()
        elif hasattr(indices, "tolist") and not isinstance(indices, (list, tuple)):
            indices = indices.tolist()  # numpy arrays and scalars
        if isinstance(indices, (list, tuple)):
            return [self.to_tokens(i) for i in indices]
        i = int(indices)
        if not 0 <= i < len(self.idx_to_token):
            raise ConfigError(f"index {i} is outside this vocabulary of {len(self)} tokens; "
                              "decode with the vocabulary that encoded it.")
        return self.idx_to_token[i]

    def unknown_rate(self, tokens: Any) -> float:
        """Fraction of the (nested) tokens that are not in the table (would become ``<unk>``)."""
        flat = list(_flatten([tokens] if isinstance(tokens, str) else tokens))
        if not flat:
            return 0.0
        return sum(t not in self.token_to_idx for t in flat) / len(flat)

    # ---- storage ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """A JSON-ready dict that rebuilds this vocabulary (see :meth:`from_state_dict`)."""
        return {
            "format": _FORMAT,
            "version": 1,
            "idx_to_token": list(self.idx_to_token),
            "reserved": list(self.reserved),
            "min_freq": self.min_freq,
            "token_freqs": [[t, c] for t, c in self.token_freqs],
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> Vocab:
        """Rebuild a vocabulary from :meth:`state_dict` output (indices are kept exactly)."""
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise ConfigError("this is not a deepnotes vocabulary state (format != "
                              f"{_FORMAT!r}); save one with Vocab.state_dict().")
        v = cls.__new__(cls)
        try:
            reserved = tuple(state["reserved"])
            idx_to_token = list(state["idx_to_token"])
            min_freq = int(state.get("min_freq", 1))
            token_freqs = [(t, int(c)) for t, c in state.get("token_freqs", [])]
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"the stored vocabulary is damaged ({type(exc).__name__}: {exc}); "
                              "rebuild it from the training tokens.") from None
        bad = [t for t in (*reserved, *idx_to_token) if not isinstance(t, str)]
        if bad or any(not isinstance(t, str) for t, _ in token_freqs):
            raise ConfigError(f"the stored vocabulary is damaged: tokens must be strings, found "
                              f"{bad[:3]!r}; rebuild it from the training tokens.")
        if "<unk>" not in reserved or "<unk>" not in idx_to_token:
            raise ConfigError("the stored vocabulary has no '<unk>' among its reserved tokens.")
        missing = [t for t in reserved if t not in idx_to_token]
        if missing:
            raise ConfigError(f"the stored vocabulary is damaged: reserved token(s) {missing} are "
                              "not in its token list; rebuild it from the training tokens.")
        v._init_table(idx_to_token, reserved, min_freq, token_freqs)
        return v

    def save(self, path: str | os.PathLike) -> Path:
        """Write the vocabulary as JSON (UTF-8) and return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.state_dict(), ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)  # atomic: a crash never leaves half a file
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocab:
        """Read a vocabulary written by :meth:`save`."""
        path = Path(path)
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"no vocabulary file at {path}; write one with Vocab.save().") from None
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path} is not valid JSON ({err.msg}); re-save the vocabulary.") from None
        return cls.from_state_dict(state)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.idx_to_token == other.idx_to_token

    def __repr__(self) -> str:
        head = ", ".join(self.idx_to_token[len(self.reserved):len(self.reserved) + 5])
        return f"Vocab(size={len(self)}, min_freq={self.min_freq}, first=[{head}])"
