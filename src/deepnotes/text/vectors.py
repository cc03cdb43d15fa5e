r"""Word vectors: a vocabulary with one row of a (V, D) matrix per word.

:class:`WordVectors` is what every embedding model (word2vec, GloVe, fastText) turns its trained
weights into, and what the pretrained GloVe loader returns. It looks words up, finds nearest
neighbours by cosine similarity, and reads and writes the word2vec **text** format::

    V D
    word1 v11 v12 ... v1D
    word2 v21 v22 ... v2D

(one header line with the vocabulary size and the dimension, then one line per word, fields
separated by single spaces), which gensim's ``KeyedVectors.load_word2vec_format(path)`` reads and
``save_word2vec_format(path)`` writes.

Example:
    >>> import torch
    >>> wv = WordVectors(["king", "queen", "apple"], torch.tensor([[1., 0.], [.9, .1], [0., 1.]]))
    >>> "king" in wv, len(wv), wv.dim
    (True, 3, 2)
    >>> [w for w, _ in wv.most_similar("king", k=2)]
    ['queen', 'apple']

Notes: E7 (word similarity and analogy evaluation).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from deepnotes.errors import ConfigError, DataMissingError, ShapeError, UnknownNameError

__all__ = ["WordVectors", "cosine_scores", "suggest_words"]


def cosine_scores(matrix: Tensor, query: Tensor) -> Tensor:
    r"""Cosine similarity of every row of ``matrix`` (V, D) with ``query`` (D,): a (V,) tensor.

    .. math:: \cos(\mathbf w, \mathbf q) = \frac{\mathbf w^\top \mathbf q}
        {\lVert \mathbf w\rVert\,\lVert \mathbf q\rVert}

    A zero row (or a zero query) scores 0 instead of NaN.

    Notes: E7.
    """
    norms = matrix.norm(dim=1) * query.norm()
    dots = matrix @ query
    return torch.where(norms > 0, dots / norms.clamp_min(torch.finfo(matrix.dtype).tiny),
                       torch.zeros_like(dots))


def _edit_distance_at_most(a: str, b: str, limit: int) -> int:
    """Levenshtein distance of ``a`` and ``b``, or ``limit + 1`` as soon as it must exceed it."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        cur = [i]
        for j, y in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        if min(cur) > limit:
            return limit + 1
        prev = cur
    return prev[-1]


def suggest_words(word: str, words: Sequence[str], n: int = 5, max_distance: int = 2,
                  search: int = 100_000) -> list[str]:
    """Up to ``n`` words of ``words`` close to ``word``: same word in another case, then words
    within ``max_distance`` edits, then words that start with ``word``.

    Only the first ``search`` words are looked at (pretrained vocabularies are sorted by
    frequency, so these are the common ones), which keeps a 400,000-word GloVe lookup fast.

    Example:
        >>> suggest_words("kng", ["the", "king", "kingdom", "queen"])
        ['king']
    """
    if not word:
        return []
    lowered = word.lower()
    head = words[:search]
    found: list[tuple[int, int, str]] = []  # (rank, distance, word)
    for w in head:
        if w == word:
            continue
        if w.lower() == lowered:
            found.append((0, 0, w))
            continue
        d = _edit_distance_at_most(lowered, w.lower(), max_distance)
        if d <= max_distance:
            found.append((1, d, w))
        elif len(word) >= 3 and w.lower().startswith(lowered):
            found.append((2, len(w) - len(word), w))
    found.sort(key=lambda t: (t[0], t[1]))  # stable: keeps frequency order among ties
    return [w for _, _, w in found[:n]]


class WordVectors:
    r"""A vocabulary ``words`` (V distinct strings) and their vectors ``vectors`` (V, D).

    Attributes: ``words`` (list, row order), ``vectors`` (float tensor (V, D)), ``index``
    (word -> row). ``word in wv`` tests the vocabulary; :meth:`vector` returns a word's row
    (subclasses such as fastText's may build vectors for words outside the vocabulary).

    Args:
        words: the words, one per row, no duplicates.
        vectors: a (V, D) tensor or array; stored as a float32 tensor unless already float64.

    Raises:
        ShapeError: ``vectors`` is not 2-D or its row count differs from ``len(words)``.
        ConfigError: a word is repeated or is not a string.

    Notes: E7.
    """

    def __init__(self, words: Sequence[str], vectors: Tensor | np.ndarray | Sequence) -> None:
        words = list(words)
        if not isinstance(vectors, Tensor):
            vectors = torch.as_tensor(np.asarray(vectors))
        vectors = vectors.detach()
        if not vectors.is_floating_point():
            vectors = vectors.float()
        elif vectors.dtype not in (torch.float32, torch.float64):
            vectors = vectors.float()
        if vectors.dim() != 2:
            raise ShapeError(f"word vectors must be a (V, D) matrix, got shape "
                             f"{tuple(vectors.shape)}")
        if vectors.shape[0] != len(words):
            raise ShapeError(f"got {len(words)} words but {vectors.shape[0]} vectors; "
                             f"give one row per word")
        index: dict[str, int] = {}
        for i, w in enumerate(words):
            if not isinstance(w, str):
                raise ConfigError(f"word {i} is {w!r}, not a string")
            if w in index:
                raise ConfigError(f"the word {w!r} appears twice (rows {index[w]} and {i}); "
                                  f"each word needs exactly one vector")
            index[w] = i
        self.words: list[str] = words
        self.vectors: Tensor = vectors
        self.index: dict[str, int] = index
        self._unit: tuple[tuple[int, int], Tensor] | None = None  # (key of vectors, unit rows)

    # -- lookup ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} words, dim {self.dim})"

    @property
    def dim(self) -> int:
        """D, the length of each vector."""
        return int(self.vectors.shape[1])

    def vector(self, word: str) -> Tensor:
        """The (D,) vector of ``word``.

        Raises:
            UnknownNameError: ``word`` is not in the vocabulary (the message suggests close
                words).
        """
        row = self.index.get(word)
        if row is None:
            raise self.unknown_word(word)
        return self.vectors[row]

    def unknown_word(self, word: str) -> UnknownNameError:
        """The error for a word outside the vocabulary, naming close words if there are any."""
        if not word:
            return UnknownNameError("the word is empty; give a non-empty word")
        close = suggest_words(word, self.words)
        hint = f"; did you mean {', '.join(repr(w) for w in close)}?" if close else ""
        return UnknownNameError(f"{word!r} is not among the {len(self):,} words of these "
                                f"vectors{hint}")

    def unit_vectors(self) -> Tensor:
        r"""The rows scaled to length 1, :math:`\mathbf w / \lVert\mathbf w\rVert` (zero rows stay
        zero); cached until ``vectors`` is replaced or changed in place."""
        key = (id(self.vectors), self.vectors._version)
        if self._unit is None or self._unit[0] != key:
            norms = self.vectors.norm(dim=1, keepdim=True)
            unit = torch.where(norms > 0, self.vectors / norms.clamp_min(1e-30),
                               torch.zeros_like(self.vectors))
            self._unit = (key, unit)
        return self._unit[1]

    # -- similarity -----------------------------------------------------------------------
    def similarity(self, a: str, b: str) -> float:
        r"""Cosine similarity of two words' vectors."""
        va, vb = self.vector(a), self.vector(b)
        return float(cosine_scores(va[None], vb)[0])

    def most_similar(self, word_or_vector: str | Tensor, k: int = 10,
                     exclude: Iterable[str] = ()) -> list[tuple[str, float]]:
        r"""The ``k`` vocabulary words of highest cosine similarity with a word or a vector.

        .. math:: \operatorname{top-}k_{w \notin \text{exclude}}\ \cos(\mathbf w, \mathbf q)

        A query word is excluded from its own neighbours (as gensim's ``most_similar`` does);
        words in ``exclude`` are left out too. Ties keep vocabulary order.

        Returns:
            ``[(word, cosine), ...]``, best first.
        """
        if k < 1:
            raise ConfigError(f"k must be at least 1, got {k}")
        excluded = set(exclude)
        if isinstance(word_or_vector, str):
            query = self.vector(word_or_vector)
            excluded.add(word_or_vector)
        else:
            query = torch.as_tensor(word_or_vector, dtype=self.vectors.dtype)
            if query.shape != (self.dim,):
                raise ShapeError(f"the query vector must have shape ({self.dim},), got "
                                 f"{tuple(query.shape)}")
        scores = self.unit_vectors() @ query
        qn = query.norm()
        scores = scores / qn if qn > 0 else torch.zeros_like(scores)
        rows = [self.index[w] for w in excluded if w in self.index]
        if rows:
            scores = scores.clone()
            scores[rows] = -torch.inf
        k = min(k, len(self) - len(rows))
        if k <= 0:
            return []
        top = torch.topk(scores, k)
        return [(self.words[i], float(s)) for s, i in zip(top.values.tolist(),
                                                          top.indices.tolist())]

    # -- word2vec text format -------------------------------------------------------------
    def save_word2vec(self, path: str | os.PathLike) -> Path:
        """Write the word2vec text format (``V D`` header, then ``word v1 ... vD`` lines).

        Values are written with 9 significant digits (17 for float64 vectors), so float32
        vectors read back exactly (:meth:`load_word2vec` reads float32, as gensim does).

        Raises:
            ConfigError: a word is empty or contains whitespace (the format cannot hold it).
        """
        path = Path(path)
        for w in self.words:
            if not w or any(c.isspace() for c in w):
                raise ConfigError(f"the word {w!r} is empty or contains whitespace, which the "
                                  f"word2vec text format cannot store")
        values = self.vectors.detach().cpu().numpy()
        digits = 17 if self.vectors.dtype == torch.float64 else 9  # enough to read back exactly
        fmt = " ".join([f"%.{digits}g"] * self.dim)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(f"{len(self)} {self.dim}\n")
            for w, row in zip(self.words, values.tolist()):
                f.write(f"{w} {fmt % tuple(row)}\n" if self.dim else f"{w}\n")
        return path

    @classmethod
    def load_word2vec(cls, path: str | os.PathLike) -> WordVectors:
        """Read a word2vec text file (as written by :meth:`save_word2vec` or gensim's
        ``save_word2vec_format(path, binary=False)``).

        Raises:
            DataMissingError: no such file.
            ConfigError: the file is not in the word2vec text format (names the line).
        """
        path = Path(path)
        if not path.is_file():
            raise DataMissingError(f"no word-vector file at {path}; save one with "
                                   f"WordVectors.save_word2vec or give the right path")
        try:
            return cls._read_word2vec(path)
        except UnicodeDecodeError:
            raise ConfigError(f"{path} is not UTF-8 text: give a word2vec text file (the binary "
                              f"word2vec format is not read)") from None

    @classmethod
    def _read_word2vec(cls, path: Path) -> WordVectors:
        with open(path, encoding="utf-8", errors="strict") as f:
            header = f.readline().split()
            if len(header) != 2 or not all(h.isdigit() for h in header):
                raise ConfigError(f"{path} is not a word2vec text file: its first line must be "
                                  f"'VOCAB_SIZE DIM', got {' '.join(header)[:60]!r}")
            n, dim = int(header[0]), int(header[1])
            words: list[str] = []
            values = np.empty((n, dim), dtype=np.float32)
            for lineno, line in enumerate(f, start=2):
                parts = line.rstrip("\r\n").rstrip(" ").split(" ")
                if len(parts) == 1 and not parts[0]:
                    continue  # blank line (e.g. at the end)
                if len(words) >= n:
                    raise ConfigError(f"{path} holds more than the {n} words its header "
                                      f"announces (line {lineno})")
                if len(parts) != dim + 1:
                    raise ConfigError(f"{path} line {lineno} has {len(parts) - 1} numbers, "
                                      f"the header says {dim}")
                try:
                    values[len(words)] = [float(x) for x in parts[1:]]
                except ValueError:
                    raise ConfigError(f"{path} line {lineno} holds a value that is not a "
                                      f"number") from None
                words.append(parts[0])
        if len(words) != n:
            raise ConfigError(f"{path} holds {len(words)} words but its header announces {n}")
        # plain WordVectors even when called on a subclass (a fastText file holds no n-grams)
        return WordVectors(words, torch.from_numpy(values))
