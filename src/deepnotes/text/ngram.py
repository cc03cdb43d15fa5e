"""Counting language models: unigram, bigram and trigram with the notes' Laplace smoothing.

The chain rule P(x_1..x_T) = Π_t P(x_t | x_1..x_{t-1}) is cut to the last n-1 tokens:

    unigram   P(x_1..x_T) = Π P(x_t)
    bigram    P(x_1..x_T) = P(x_1) Π P(x_t | x_{t-1})
    trigram   P(x_1..x_T) = P(x_1) P(x_2 | x_1) Π P(x_t | x_{t-2}, x_{t-1})

and each factor is a smoothed relative frequency (n = training tokens, m = vocabulary size):

    P(x)         = (n(x) + ε1/m) / (n + ε1)
    P(x' | x)    = (n(x, x') + ε2 P(x')) / (n(x) + ε2)
    P(x''| x,x') = (n(x, x', x'') + ε3 P(x'')) / (n(x, x') + ε3)

ε = 0 is the plain count ratio (an unseen event gets probability 0, so a held-out text can get
perplexity ∞); ε -> ∞ gives the next lower-order distribution (for ε1: uniform 1/m).
In the denominators n(x) and n(x, x') count the context as it is followed by a next token
(the last token of the text has no successor), so every distribution sums to exactly 1.
When a context was never seen and ε = 0 the ratio is 0/0; we then use the lower-order
distribution (the limit ε -> 0+).

Also here: Zipf's law (frequency ∝ rank^-α; :func:`zipf_fit`) and stop-word statistics.

Notes: R2 (Laplace smoothing, unigram/bigram/trigram, stop words, Zipf), R8 (perplexity).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from deepnotes.errors import ConfigError
from deepnotes.text.vocab import Vocab

__all__ = ["NGramLM", "ngram_counts", "rank_frequency", "stop_word_stats", "zipf_fit"]


def _sequences(tokens: Sequence[Any]) -> list[list[Any]]:
    """A flat token list is one sequence; a list of lists is several (n-grams stay inside)."""
    if len(tokens) and isinstance(tokens[0], (list, tuple)):
        return [list(s) for s in tokens]
    return [list(tokens)]


def ngram_counts(tokens: Sequence[Any], n: int) -> Counter:
    """Count the n-grams (as tuples) of a token sequence or of each of several sequences.

    Example:
        >>> ngram_counts(["a", "b", "a", "b"], 2)
        Counter({('a', 'b'): 2, ('b', 'a'): 1})
    """
    if n < 1:
        raise ConfigError(f"n must be >= 1, got {n}.")
    counts: Counter = Counter()
    for seq in _sequences(tokens):
        counts.update(zip(*(seq[i:] for i in range(n))))
    return counts


class NGramLM:
    """Unigram, bigram or trigram language model with Laplace smoothing (ε1, ε2, ε3).

    Args:
        tokens: training tokens, a flat list of str or a list of token lists.
        order: 1, 2 or 3.
        eps: (ε1, ε2, ε3) smoothing strengths, each >= 0.
        vocab: vocabulary to use (default: built from ``tokens`` with ``min_freq``, with
            ``<unk>`` as its only reserved token, so m = distinct tokens + 1).
        min_freq: rarer training tokens become ``<unk>`` (when ``vocab`` is not given).
        trigram_backoff: what ε3 mixes in: ``"unigram"`` P(x'') as in the notes, or
            ``"bigram"`` P(x''|x'), the usual interpolated variant.

    Example:
        >>> lm = NGramLM("the cat sat on the mat".split(), order=2, eps=(1.0, 1.0, 1.0))
        >>> round(float(lm.distribution(["the"]).sum()), 12)
        1.0
        >>> lm.perplexity("the cat sat".split()) < lm.vocab_size
        True

    Notes: R2.
    """

    def __init__(self, tokens: Sequence[Any], order: int = 2,
                 eps: tuple[float, float, float] = (1.0, 1.0, 1.0), vocab: Vocab | None = None,
                 min_freq: int = 1, trigram_backoff: str = "unigram") -> None:
        if order not in (1, 2, 3):
            raise ConfigError(f"order must be 1, 2 or 3, got {order}.")
        if trigram_backoff not in ("unigram", "bigram"):
            raise ConfigError(f"trigram_backoff must be 'unigram' or 'bigram', got {trigram_backoff!r}.")
        self.order = order
        self.trigram_backoff = trigram_backoff
        self.eps = self._check_eps(eps)
        seqs = _sequences(tokens)
        self.vocab = vocab if vocab is not None else Vocab(seqs, min_freq=min_freq, reserved=("<unk>",))
        ids = [self.vocab.to_indices(s) for s in seqs]
        self.vocab_size = m = len(self.vocab)
        self.uni = np.bincount([i for s in ids for i in s], minlength=m).astype(np.float64)
        self.n = float(self.uni.sum())
        if self.n == 0:
            raise ConfigError("the training text has no tokens; pass a non-empty token list.")
        self.bi: Counter = ngram_counts(ids, 2) if order >= 2 else Counter()
        self.tri: Counter = ngram_counts(ids, 3) if order >= 3 else Counter()
        # context counts: how often x (or x, x') is followed by some next token
        self.bi_ctx: Counter = Counter()
        for (a, _), c in self.bi.items():
            self.bi_ctx[a] += c
        self.tri_ctx: Counter = Counter()
        for (a, b, _), c in self.tri.items():
            self.tri_ctx[(a, b)] += c
        # successors of each context, for whole distributions (sampling, checks)
        self._bi_next: dict[int, dict[int, int]] = {}
        for (a, b), c in self.bi.items():
            self._bi_next.setdefault(a, {})[b] = c
        self._tri_next: dict[tuple[int, int], dict[int, int]] = {}
        for (a, b, x), c in self.tri.items():
            self._tri_next.setdefault((a, b), {})[x] = c

    @staticmethod
    def _check_eps(eps: Iterable[float]) -> tuple[float, float, float]:
        eps = tuple(float(e) for e in eps)
        if len(eps) != 3 or any(not e >= 0 or math.isinf(e) for e in eps):
            raise ConfigError(f"eps must be three finite numbers >= 0 (ε1, ε2, ε3), got {eps}.")
        return eps  # type: ignore[return-value]

    def with_eps(self, eps: tuple[float, float, float], order: int | None = None,
                 trigram_backoff: str | None = None) -> NGramLM:
        """The same counts with other smoothing strengths (optionally a lower order or the other
        trigram fallback); nothing is counted again."""
        other = object.__new__(NGramLM)
        other.__dict__.update(self.__dict__)
        other.eps = self._check_eps(eps)
        if order is not None:
            if order not in (1, 2, 3) or order > self.order:
                raise ConfigError(f"order must be 1..{self.order} for these counts, got {order}.")
            other.order = order
        if trigram_backoff is not None:
            if trigram_backoff not in ("unigram", "bigram"):
                raise ConfigError(f"trigram_backoff must be 'unigram' or 'bigram', got {trigram_backoff!r}.")
            other.trigram_backoff = trigram_backoff
        return other

    # ---- probabilities -------------------------------------------------------------------
    def _unigram(self, x: np.ndarray | int) -> np.ndarray | float:
        e1, m = self.eps[0], self.vocab_size
        # P(x) = (n(x) + ε1/m) / (n + ε1)
        return (self.uni[x] + e1 / m) / (self.n + e1)

    def _bigram(self, a: int, x: int) -> float:
        e2 = self.eps[1]
        back = self._unigram(x)
        ctx = self.bi_ctx.get(a, 0)
        if ctx + e2 == 0:
            return back
        # P(x'|x) = (n(x,x') + ε2 P(x')) / (n(x) + ε2)
        return (self.bi.get((a, x), 0) + e2 * back) / (ctx + e2)

    def _trigram(self, a: int, b: int, x: int) -> float:
        e3 = self.eps[2]
        back = self._unigram(x) if self.trigram_backoff == "unigram" else self._bigram(b, x)
        ctx = self.tri_ctx.get((a, b), 0)
        if ctx + e3 == 0:
            return back
        # P(x''|x,x') = (n(x,x',x'') + ε3 P(x'')) / (n(x,x') + ε3)
        return (self.tri.get((a, b, x), 0) + e3 * back) / (ctx + e3)

    def prob(self, token: str, context: Sequence[str] = ()) -> float:
        """P(token | the last ``order - 1`` tokens of ``context``) (shorter context: lower order)."""
        ids = self.vocab.to_indices(list(context))
        return self._prob_ids(self.vocab[token], ids)

    def _prob_ids(self, x: int, ctx: Sequence[int]) -> float:
        k = min(self.order - 1, len(ctx))
        if k == 0:
            return float(self._unigram(x))
        if k == 1:
            return float(self._bigram(ctx[-1], x))
        return float(self._trigram(ctx[-2], ctx[-1], x))

    def distribution(self, context: Sequence[str] = ()) -> torch.Tensor:
        """P(· | context) over the whole vocabulary as a float64 tensor of shape (m,)."""
        ctx = self.vocab.to_indices(list(context))
        return torch.from_numpy(self._dist_ids(ctx))

    def _dist_ids(self, ctx: Sequence[int]) -> np.ndarray:
        _, e2, e3 = self.eps
        p = self._unigram(np.arange(self.vocab_size))
        k = min(self.order - 1, len(ctx))
        if k == 0:
            return p
        if k == 2 and self.trigram_backoff == "unigram":
            return self._mix(p, self._tri_next.get((ctx[-2], ctx[-1]), {}), e3)
        p2 = self._mix(p, self._bi_next.get(ctx[-1], {}), e2)
        if k == 1:
            return p2
        return self._mix(p2, self._tri_next.get((ctx[-2], ctx[-1]), {}), e3)

    @staticmethod
    def _mix(back: np.ndarray, nxt: dict[int, int], eps: float) -> np.ndarray:
        counts = np.zeros_like(back)
        if nxt:
            counts[list(nxt)] = list(nxt.values())
        total = counts.sum()
        if total + eps == 0:
            return back
        # (n(ctx, x) + ε P_back(x)) / (n(ctx) + ε)
        return (counts + eps * back) / (total + eps)

    # ---- sequences -----------------------------------------------------------------------
    def token_log_probs(self, tokens: Sequence[str]) -> np.ndarray:
        """log P(x_t | x_{t-order+1} .. x_{t-1}) for every t (unknown tokens count as ``<unk>``).

        Vectorised over t: the counts are looked up once, then the smoothing formulas are
        applied to whole arrays (the same numbers as :meth:`prob`, position by position).
        """
        x = np.asarray(self.vocab.to_indices(list(tokens)), dtype=np.int64)
        T = len(x)
        _, e2, e3 = self.eps
        p1 = self._unigram(x)  # (T,) P(x_t)
        p = p1.copy()
        if self.order >= 2 and T >= 2:
            a, b = x[:-1].tolist(), x[1:].tolist()
            n_ab = np.array([self.bi.get(k, 0) for k in zip(a, b)], dtype=np.float64)
            n_a = np.array([self.bi_ctx.get(k, 0) for k in a], dtype=np.float64)
            p2 = self._smooth(n_ab, n_a, e2, p1[1:])  # (T-1,) P(x_t | x_{t-1})
            p[1:] = p2
            if self.order == 3 and T >= 3:
                back = p1[2:] if self.trigram_backoff == "unigram" else p2[1:]
                keys = list(zip(a[:-1], a[1:], b[1:]))
                n_abc = np.array([self.tri.get(k, 0) for k in keys], dtype=np.float64)
                n_ab2 = np.array([self.tri_ctx.get(k[:2], 0) for k in keys], dtype=np.float64)
                p[2:] = self._smooth(n_abc, n_ab2, e3, back)  # P(x_t | x_{t-2}, x_{t-1})
        with np.errstate(divide="ignore"):
            return np.log(p)

    @staticmethod
    def _smooth(n_joint: np.ndarray, n_ctx: np.ndarray, eps: float, back: np.ndarray) -> np.ndarray:
        den = n_ctx + eps
        # (n(ctx, x) + ε P_back(x)) / (n(ctx) + ε); an unseen context with ε = 0 -> P_back(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(den > 0, (n_joint + eps * back) / np.where(den > 0, den, 1.0), back)

    def log_prob(self, tokens: Sequence[str]) -> float:
        """log P(x_1, ..., x_T) by the cut chain rule (natural log)."""
        return float(self.token_log_probs(tokens).sum())

    def perplexity(self, tokens: Sequence[str]) -> float:
        """exp(-(1/T) Σ_t log P(x_t | context)); ∞ when some token has probability 0."""
        lp = self.token_log_probs(tokens)
        if len(lp) == 0:
            raise ConfigError("perplexity needs at least one token.")
        # perplexity = exp(mean NLL)
        return float(np.exp(-lp.mean()))

    def sample(self, num_tokens: int, prefix: Sequence[str] = (), seed: int = 0) -> list[str]:
        """Draw ``num_tokens`` tokens after ``prefix`` from the model (seeded, reproducible)."""
        rng = np.random.default_rng(seed)
        ids = list(self.vocab.to_indices(list(prefix)))
        out = []
        for _ in range(num_tokens):
            p = self._dist_ids(ids[len(ids) - self.order + 1:] if self.order > 1 else [])
            x = int(rng.choice(len(p), p=p / p.sum()))
            ids.append(x)
            out.append(self.vocab.idx_to_token[x])
        return out

    def __repr__(self) -> str:
        return (f"NGramLM(order={self.order}, m={self.vocab_size}, n={int(self.n)}, "
                f"eps={self.eps})")


# ---- statistics of natural language ----------------------------------------------------------
def rank_frequency(counts: Counter | dict) -> np.ndarray:
    """Frequencies sorted from the most frequent (rank 1) down, as a float array."""
    return np.sort(np.asarray(list(counts.values()), dtype=np.float64))[::-1]


def zipf_fit(counts: Counter | dict | np.ndarray, min_rank: int = 1,
             max_rank: int | None = None) -> tuple[float, float]:
    """Fit Zipf's law n_i ∝ i^{-α}: least squares of log n_i = -α log i + c over a rank range.

    Args:
        counts: a Counter of tokens (or n-grams), or frequencies already sorted descending.
        min_rank, max_rank: ranks (1-based, inclusive) to fit; the head of the curve (stop words)
            and the tail of words seen once often bend away from the line.

    Returns:
        (α, c).

    Example:
        >>> alpha, c = zipf_fit(1000.0 / np.arange(1, 101) ** 1.5)
        >>> round(alpha, 6)
        1.5
    """
    f = counts if isinstance(counts, np.ndarray) else rank_frequency(counts)
    ranks = np.arange(1, len(f) + 1, dtype=np.float64)
    hi = len(f) if max_rank is None else min(max_rank, len(f))
    sel = slice(min_rank - 1, hi)
    if hi - (min_rank - 1) < 2:
        raise ConfigError(f"zipf_fit needs at least 2 ranks in [{min_rank}, {max_rank}], "
                          f"have {len(f)} frequencies.")
    # log n_i = -α log i + c
    slope, c = np.polyfit(np.log(ranks[sel]), np.log(f[sel]), 1)
    return float(-slope), float(c)


def stop_word_stats(tokens: Sequence[str] | Counter, k: int = 10) -> list[dict[str, Any]]:
    """The ``k`` most frequent tokens with their count, share and cumulative share of all tokens.

    Example:
        >>> [r["token"] for r in stop_word_stats("the cat and the dog".split(), k=2)]
        ['the', 'and']
    """
    counts = tokens if isinstance(tokens, Counter) else Counter(tokens)
    total = sum(counts.values())
    rows, cum = [], 0
    for tok, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]:
        cum += c
        rows.append({"token": tok, "count": c, "share": c / total, "cumulative": cum / total})
    return rows
