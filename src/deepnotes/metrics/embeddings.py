r"""Word-vector evaluation: cosine similarity, neighbours, analogies and word-pair similarity.

- :func:`cosine_similarity`, :func:`nearest_neighbors`: the geometry of a :class:`WordVectors`.
- :func:`analogy`: ``a : b :: c : ?`` by **3CosAdd** or **3CosMul** (Levy & Goldberg, 2014),
  with ``a``, ``b``, ``c`` themselves excluded from the answers.
- :func:`evaluate_analogies`: accuracy on the Google analogy set (``questions-words.txt``),
  per section and in total, computed as gensim's ``KeyedVectors.evaluate_word_analogies``
  computes it (same vocabulary cut, same case folding, same skipping of questions with unknown
  words, same five-candidate rule), so the two give the same numbers on the same vectors.
- :func:`evaluate_word_pairs`: Spearman and Pearson correlation with human similarity
  judgements (WordSim-353, SimLex-999) and the share of pairs skipped for unknown words, as
  gensim's ``evaluate_word_pairs``.

With unit vectors :math:`\hat{\mathbf x} = \mathbf x / \lVert\mathbf x\rVert` and
:math:`\cos'(\mathbf x, \mathbf y) = (1 + \cos(\mathbf x, \mathbf y)) / 2 \in [0, 1]`:

.. math::
    \text{3CosAdd:}\ \arg\max_{d \notin \{a, b, c\}}
        \cos(\mathbf d,\ \hat{\mathbf b} - \hat{\mathbf a} + \hat{\mathbf c})
    \qquad
    \text{3CosMul:}\ \arg\max_{d \notin \{a, b, c\}}
        \frac{\cos'(\mathbf d, \mathbf b)\,\cos'(\mathbf d, \mathbf c)}
             {\cos'(\mathbf d, \mathbf a) + \varepsilon}

3CosAdd ranks exactly as :math:`\cos(d, b) - \cos(d, a) + \cos(d, c)` does (the query's norm is
the same for every :math:`d`); it is what gensim's ``most_similar(positive=[b, c],
negative=[a])`` computes. 3CosMul (gensim's ``most_similar_cosmul``) keeps one large similarity
from dominating the sum. Levy & Goldberg use :math:`\varepsilon = 0.001` (our default); gensim
hard-codes :math:`10^{-6}` (pass ``eps=1e-6`` to reproduce it exactly).

Example:
    >>> import torch
    >>> from deepnotes.text.vectors import WordVectors
    >>> wv = WordVectors(["man", "woman", "king", "queen", "apple"],
    ...                  torch.tensor([[1., 0., 0.], [1., 1., 0.], [1., 0., 1.], [1., 1., 1.],
    ...                                [0., -1., 0.]]))
    >>> analogy(wv, "man", "king", "woman", k=1)[0][0]
    'queen'

Notes: E7 (word similarity and analogy evaluation).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from deepnotes.errors import ConfigError, DataMissingError, ShapeError
from deepnotes.text.vectors import WordVectors, cosine_scores

__all__ = [
    "sense_gap",
    "AnalogyResult",
    "AnalogySection",
    "WordPairsResult",
    "analogy",
    "analogy_scores",
    "average_ranks",
    "cosine_similarity",
    "evaluate_analogies",
    "evaluate_word_pairs",
    "nearest_neighbors",
    "pearson",
    "spearman",
]

METHODS = ("add", "mul")
LEVY_GOLDBERG_EPS = 0.001  # the epsilon of 3CosMul in Levy & Goldberg (2014)
GENSIM_TOPN = 5  # gensim's evaluate_word_analogies looks at the 5 best answers only


# ---- similarity and neighbours -------------------------------------------------------------
def cosine_similarity(a: Tensor, b: Tensor) -> Tensor:
    r"""Cosine similarity along the last dimension (broadcasting the others).

    .. math:: \cos(\mathbf a, \mathbf b) = \frac{\mathbf a^\top \mathbf b}
        {\lVert \mathbf a\rVert\,\lVert \mathbf b\rVert}

    A zero vector has similarity 0 with everything (instead of NaN).

    Example:
        >>> import torch
        >>> float(cosine_similarity(torch.tensor([1., 0.]), torch.tensor([1., 1.])))
        0.7071067690849304

    Notes: E7.
    """
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    if a.shape[-1:] != b.shape[-1:]:
        raise ShapeError(f"cosine similarity needs vectors of one length, got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    dots = (a * b).sum(-1)
    norms = a.norm(dim=-1) * b.norm(dim=-1)
    return torch.where(norms > 0, dots / norms.clamp_min(1e-30), torch.zeros_like(dots))


def nearest_neighbors(vectors: WordVectors, word_or_vector: str | Tensor, k: int = 10,
                      exclude: Iterable[str] = ()) -> list[tuple[str, float]]:
    r"""The ``k`` words closest to a word or a vector by cosine similarity (the query word and
    ``exclude`` left out): :meth:`WordVectors.most_similar`.

    Notes: E7.
    """
    return vectors.most_similar(word_or_vector, k=k, exclude=exclude)


# ---- analogies -------------------------------------------------------------------------------
def _unit(x: Tensor) -> Tensor:
    norms = x.norm(dim=-1, keepdim=True)
    return torch.where(norms > 0, x / norms.clamp_min(1e-30), torch.zeros_like(x))


def analogy_scores(unit: Tensor, a: Tensor, b: Tensor, c: Tensor, method: str = "add",
                   eps: float = LEVY_GOLDBERG_EPS) -> Tensor:
    r"""Scores of every candidate ``d`` (rows of ``unit``, (V, D), unit length) for a batch of
    analogies ``a : b :: c : ?`` (``a``, ``b``, ``c``: (B, D) vectors): a (B, V) tensor.

    ``"add"``: :math:`\cos(\mathbf d, \hat{\mathbf b} - \hat{\mathbf a} + \hat{\mathbf c})`;
    ``"mul"``: :math:`\cos'(\mathbf d,\mathbf b)\cos'(\mathbf d,\mathbf c) /
    (\cos'(\mathbf d,\mathbf a) + \varepsilon)` with :math:`\cos' = (1 + \cos)/2`.
    Nothing is excluded here (see :func:`analogy`).

    Notes: E7.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown analogy method {method!r}; choose 'add' (3CosAdd) or "
                          f"'mul' (3CosMul)")
    a, b, c = _unit(a), _unit(b), _unit(c)
    if method == "add":
        return _unit(b - a + c) @ unit.T
    n = a.shape[0]
    shifted = (torch.cat([a, b, c]) @ unit.T).add_(1).mul_(0.5)  # cos' of a, b, c: (3B, V)
    cos_a, cos_b, cos_c = shifted[:n], shifted[n:2 * n], shifted[2 * n:]
    return cos_b.mul_(cos_c).div_(cos_a.add_(eps))  # in place: V can be 400,000


def analogy(vectors: WordVectors, a: str, b: str, c: str, k: int = 1, method: str = "add",
            eps: float = LEVY_GOLDBERG_EPS,
            restrict_vocab: int | None = None) -> list[tuple[str, float]]:
    r"""Answer ``a : b :: c : ?`` ("man is to king as woman is to ?"): the ``k`` best words
    with their scores, best first, ``a``, ``b`` and ``c`` excluded.

    Args:
        vectors: the word vectors (a fastText subclass also answers for words outside its
            vocabulary through :meth:`WordVectors.vector`).
        a, b, c: the three words of the question.
        k: how many answers.
        method: ``"add"`` (3CosAdd) or ``"mul"`` (3CosMul); see the module docstring.
        eps: the :math:`\varepsilon` of 3CosMul.
        restrict_vocab: search only the first ``restrict_vocab`` words (the frequent ones in a
            frequency-sorted vocabulary); default all.

    Raises:
        UnknownNameError: a word is not in the vocabulary (the message suggests close words).

    Notes: E7.
    """
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    va, vb, vc = (vectors.vector(w)[None] for w in (a, b, c))
    n = len(vectors) if restrict_vocab is None else min(restrict_vocab, len(vectors))
    unit = vectors.unit_vectors()[:n]
    scores = analogy_scores(unit, va.to(unit.dtype), vb.to(unit.dtype), vc.to(unit.dtype),
                            method, eps)[0].clone()
    rows = [vectors.index[w] for w in (a, b, c) if vectors.index.get(w, n) < n]
    scores[rows] = -torch.inf
    k = min(k, n - len(set(rows)))
    top = torch.topk(scores, k) if k > 0 else None
    if top is None:
        return []
    return [(vectors.words[i], float(s)) for s, i in zip(top.values.tolist(),
                                                         top.indices.tolist())]


@dataclass
class AnalogySection:
    """One section of an analogy set: its name and the questions answered right and wrong."""

    name: str
    correct: list[tuple[str, str, str, str]] = field(default_factory=list)
    incorrect: list[tuple[str, str, str, str]] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Questions evaluated (those with a word outside the vocabulary are not)."""
        return len(self.correct) + len(self.incorrect)

    @property
    def accuracy(self) -> float:
        """Share answered right; 0.0 when no question was evaluated (as gensim)."""
        return len(self.correct) / self.count if self.count else 0.0


@dataclass
class AnalogyResult:
    """What :func:`evaluate_analogies` returns.

    ``sections`` in file order; ``questions``: well-formed questions read; ``oov``: those
    skipped because a word is outside the (restricted) vocabulary.
    """

    method: str
    sections: list[AnalogySection]
    questions: int
    oov: int

    @property
    def correct(self) -> int:
        return sum(len(s.correct) for s in self.sections)

    @property
    def count(self) -> int:
        """Questions evaluated, all sections together."""
        return sum(s.count for s in self.sections)

    @property
    def accuracy(self) -> float:
        """Total accuracy: right answers over evaluated questions (0.0 when none)."""
        return self.correct / self.count if self.count else 0.0

    @property
    def oov_ratio(self) -> float:
        """Percentage of questions skipped for an unknown word (gensim logs the same number)."""
        return float(self.oov) / self.questions * 100 if self.questions else 0.0

    def summary(self) -> dict[str, object]:
        """Plain numbers: total accuracy and counts, and each section's accuracy and count."""
        return {"method": self.method, "accuracy": self.accuracy, "correct": self.correct,
                "count": self.count, "questions": self.questions, "oov": self.oov,
                "oov_ratio": self.oov_ratio,
                "sections": {s.name: {"accuracy": s.accuracy, "correct": len(s.correct),
                                      "count": s.count} for s in self.sections}}


def _ok_vocab(vectors: WordVectors, restrict_vocab: int | None,
              case_insensitive: bool) -> dict[str, int]:
    """gensim's ``ok_vocab``: the first ``restrict_vocab`` words -> their row; with
    ``case_insensitive``, upper-cased, and the first (most frequent) of several case variants
    wins."""
    words = vectors.words[:restrict_vocab]
    if not case_insensitive:
        return {w: i for i, w in enumerate(words)}
    ok: dict[str, int] = {}
    for i, w in enumerate(words):
        ok.setdefault(w.upper(), i)
    return ok


def _check_file(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DataMissingError(f"no {what} file at {path}; see "
                               f"deepnotes.data.embedding_eval_path for the standard sets")
    return path


def _read_analogies(path: Path, case_insensitive: bool
                    ) -> tuple[list[str], list[tuple[int, tuple[str, str, str, str]]]]:
    """Section names and (section index, question) pairs, read as gensim reads the file."""
    names: list[str] = []
    questions: list[tuple[int, tuple[str, str, str, str]]] = []
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f):
            line = raw.decode("utf-8")
            if line.startswith(": "):
                names.append(line.lstrip(": ").strip())
                continue
            if not names:
                raise ConfigError(f"{path} line {line_no + 1} comes before any ': section' "
                                  f"line; an analogy file starts with one")
            words = [w.upper() for w in line.split()] if case_insensitive else line.split()
            if len(words) != 4:
                continue  # gensim skips malformed lines (blank ones included)
            questions.append((len(names) - 1, (words[0], words[1], words[2], words[3])))
    return names, questions


def evaluate_analogies(vectors: WordVectors, path: str | os.PathLike, method: str = "add",
                       restrict_vocab: int | None = 300_000, case_insensitive: bool = True,
                       eps: float = LEVY_GOLDBERG_EPS, batch_size: int = 128) -> AnalogyResult:
    r"""Accuracy on an analogy test set in the Google format (``: section`` lines, then
    ``a b c d`` lines meaning ``a : b :: c : d``), computed as gensim computes it.

    As in gensim's ``KeyedVectors.evaluate_word_analogies`` (its defaults are ours):

    - only the first ``restrict_vocab`` words count: a question with a word outside them is
      skipped (counted in ``oov``, not evaluated) and answers are searched among them;
    - ``case_insensitive``: question and vocabulary words are compared upper-cased, a word's
      vector being that of its first (most frequent) case variant;
    - the answer is the best of the first five candidates (``a``, ``b``, ``c`` left out) that
      is not ``a``, ``b`` or ``c`` in another case; right when it equals ``d``.

    ``method="mul"`` applies the same rules with 3CosMul (gensim's evaluation has 3CosAdd only;
    its ``most_similar_cosmul`` in the same loop gives our numbers with ``eps=1e-6``, when the
    vocabulary has at most ``restrict_vocab`` words: ``most_similar_cosmul`` ignores
    ``restrict_vocab`` and searches every word, where we search the same words as 3CosAdd).

    Returns:
        :class:`AnalogyResult`: per-section and total accuracy, counts, skipped questions.

    Notes: E7.
    """
    path = _check_file(path, "analogy")
    if method not in METHODS:
        raise ConfigError(f"unknown analogy method {method!r}; choose 'add' (3CosAdd) or "
                          f"'mul' (3CosMul)")
    ok = _ok_vocab(vectors, restrict_vocab, case_insensitive)
    names, questions = _read_analogies(path, case_insensitive)
    sections = [AnalogySection(name) for name in names]
    todo = [(s, q) for s, q in questions if all(w in ok for w in q)]
    n = len(vectors) if restrict_vocab is None else min(restrict_vocab, len(vectors))
    unit = vectors.unit_vectors()[:n]
    fold = (lambda w: w.upper()) if case_insensitive else (lambda w: w)
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        rows = torch.tensor([[ok[q[0]], ok[q[1]], ok[q[2]]] for _, q in batch])
        scores = analogy_scores(unit, unit[rows[:, 0]], unit[rows[:, 1]], unit[rows[:, 2]],
                                method, eps)
        scores.scatter_(1, rows, -torch.inf)  # gensim leaves the three rows out
        top = torch.topk(scores, min(GENSIM_TOPN + 3, n), dim=1).indices.tolist()
        for (s, q), left_out, candidates in zip(batch, rows.tolist(), top):
            ignore = set(q[:3])
            predicted = None
            for i in [i for i in candidates if i not in left_out][:GENSIM_TOPN]:
                predicted = fold(vectors.words[i])
                if predicted not in ignore:
                    break
            (sections[s].correct if predicted == q[3] else sections[s].incorrect).append(q)
    return AnalogyResult(method, sections, len(questions), len(questions) - len(todo))


# ---- word-pair similarity --------------------------------------------------------------------
def average_ranks(x: Sequence[float]) -> list[float]:
    """Ranks 1..n of ``x``, ties sharing the mean of their ranks (scipy's ``rankdata``).

    Example:
        >>> average_ranks([10, 20, 10, 30])
        [1.5, 3.0, 1.5, 4.0]
    """
    order = sorted(range(len(x)), key=lambda i: x[i])
    ranks = [0.0] * len(x)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and x[order[j + 1]] == x[order[i]]:
            j += 1
        for t in range(i, j + 1):
            ranks[order[t]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    r"""Pearson correlation :math:`r = \frac{\sum_i (x_i-\bar x)(y_i-\bar y)}
    {\sqrt{\sum_i (x_i-\bar x)^2 \sum_i (y_i-\bar y)^2}}` (NaN when either is constant).

    Notes: E7.
    """
    if len(x) != len(y) or len(x) < 2:
        raise ConfigError(f"correlation needs two equally long lists of at least 2 numbers, got "
                          f"{len(x)} and {len(y)}")
    mx, my = math.fsum(x) / len(x), math.fsum(y) / len(y)
    dx = [v - mx for v in x]
    dy = [v - my for v in y]
    den = math.sqrt(math.fsum(v * v for v in dx) * math.fsum(v * v for v in dy))
    return math.fsum(u * v for u, v in zip(dx, dy)) / den if den > 0 else math.nan


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    r"""Spearman rank correlation: Pearson's :math:`r` of the average ranks of ``x`` and ``y``.

    Notes: E7.
    """
    return pearson(average_ranks(x), average_ranks(y))


@dataclass
class WordPairsResult:
    """What :func:`evaluate_word_pairs` returns (``oov_ratio`` in percent, as gensim)."""

    spearman: float
    pearson: float
    oov_ratio: float
    pairs: int  # pairs evaluated
    oov: int  # pairs skipped for an unknown word

    def summary(self) -> dict[str, float]:
        return {"spearman": self.spearman, "pearson": self.pearson, "oov_ratio": self.oov_ratio,
                "pairs": self.pairs, "oov": self.oov}


def evaluate_word_pairs(vectors: WordVectors, path: str | os.PathLike, delimiter: str = "\t",
                        restrict_vocab: int | None = 300_000,
                        case_insensitive: bool = True) -> WordPairsResult:
    r"""Correlation of the vectors' cosine similarities with human judgements of word pairs.

    The file has one ``word1<TAB>word2<TAB>score`` line per pair (``#`` lines are comments;
    malformed lines are skipped), as ``wordsim353.tsv`` and ``simlex999.txt``. As gensim's
    ``evaluate_word_pairs``: only the first ``restrict_vocab`` words count, compared
    upper-cased with ``case_insensitive``; a pair with a word outside them is skipped, and
    ``oov_ratio`` = skipped / (evaluated + skipped) × 100.

    Returns:
        :class:`WordPairsResult`: Spearman's :math:`\rho` (the usual headline number),
        Pearson's :math:`r`, the OOV percentage and the counts.

    Raises:
        ConfigError: no pair could be evaluated.

    Notes: E7.
    """
    path = _check_file(path, "word-pair")
    ok = _ok_vocab(vectors, restrict_vocab, case_insensitive)
    gold: list[float] = []
    model: list[float] = []
    oov = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line or line.startswith("#"):
                continue
            parts = line.split(delimiter)
            if len(parts) != 3:
                continue
            a, b, score = (p.upper() for p in parts) if case_insensitive else parts
            try:
                value = float(score)
            except ValueError:
                continue
            if a not in ok or b not in ok:
                oov += 1
                continue
            gold.append(value)
            model.append(float(cosine_scores(vectors.vectors[ok[a]][None],
                                             vectors.vectors[ok[b]])[0]))
    if not gold:
        raise ConfigError(f"no pair of {path} could be evaluated: the file is not in the "
                          f"'word1<TAB>word2<TAB>score' format or all its words are unknown")
    return WordPairsResult(spearman(gold, model), pearson(gold, model),
                           float(oov) / (len(gold) + oov) * 100, len(gold), oov)


def sense_gap(vectors: Tensor, n_a: int) -> tuple[Tensor, float, float]:
    r"""How well vectors of one word in two groups of contexts (senses) separate (P5).

    ``vectors`` (N, d): rows ``0..n_a-1`` are sense A, the rest sense B. Returns the cosine
    matrix (N, N), the mean cosine of distinct same-sense pairs and the mean cosine of
    cross-sense pairs; their difference is the *sense gap* (0 for a static embedding, which
    gives every context the same vector).

    Example:
        >>> _, same, other = sense_gap(torch.tensor([[1.0, 0], [1, 0.1], [0, 1]]), 2)
        >>> round(same, 3), round(other, 3)
        (0.995, 0.05)

    Notes: P5.
    """
    u = torch.nn.functional.normalize(vectors, dim=1)
    sim = u @ u.T
    n = len(u)
    if not 2 <= n_a <= n - 1:
        raise ConfigError(f"need at least 2 vectors of sense A and 1 of sense B, got n_a={n_a} "
                          f"of {n}")
    same = torch.zeros(n, n, dtype=torch.bool)
    same[:n_a, :n_a] = True
    same[n_a:, n_a:] = True
    off = ~torch.eye(n, dtype=torch.bool)
    return sim, float(sim[same & off].mean()), float(sim[~same].mean())
