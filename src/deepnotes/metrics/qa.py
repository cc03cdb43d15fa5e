r"""Extractive question answering: the best answer span, and SQuAD's exact match and F1.

**Best span** (P4): with start logits :math:`a_t` and end logits :math:`b_t` over the passage
tokens, the answer is the span :math:`(i, j)` maximising :math:`a_i + b_j` (the product of the
two softmax probabilities, in log space) under :math:`i \le j < i + L`.

**Scores** (SQuAD v1.1's evaluation): both answers are *normalised* — lower-cased, punctuation
removed, the articles *a*, *an*, *the* removed, whitespace collapsed — then

- exact match: 1 if the normalised strings are equal;
- F1: over the bags of normalised words, :math:`P = |\text{common}| / |\text{predicted}|`,
  :math:`R = |\text{common}| / |\text{gold}|`, :math:`F_1 = 2PR / (P + R)`;

each taking the best over the gold answers of a question, then averaged over questions.

Notes: P4.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

import torch
from torch import Tensor

from deepnotes.errors import ConfigError, ShapeError

__all__ = ["best_span", "exact_match", "normalize_answer", "qa_scores", "squad_f1"]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces.

    Example:
        >>> normalize_answer("The  Eiffel-Tower!")
        'eiffeltower'
    """
    text = "".join(c for c in text.lower() if c not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str | Sequence[str]) -> float:
    """1.0 if the normalised prediction equals a normalised gold answer, else 0.0."""
    golds = [gold] if isinstance(gold, str) else list(gold)
    return float(any(normalize_answer(prediction) == normalize_answer(g) for g in golds))


def squad_f1(prediction: str, gold: str | Sequence[str]) -> float:
    """The best word-overlap F1 of the prediction against the gold answers.

    Example:
        >>> round(squad_f1("in the garden of Eden", "the garden"), 3)  # P 1/4, R 1
        0.4
    """
    golds = [gold] if isinstance(gold, str) else list(gold)
    pred = normalize_answer(prediction).split()
    best = 0.0
    for g in golds:
        ref = normalize_answer(g).split()
        if not pred or not ref:  # SQuAD: both empty count as a match
            best = max(best, float(pred == ref))
            continue
        common = sum((Counter(pred) & Counter(ref)).values())
        if common:
            p, r = common / len(pred), common / len(ref)
            best = max(best, 2 * p * r / (p + r))
    return best


def qa_scores(predictions: Sequence[str], golds: Sequence[str | Sequence[str]]
              ) -> dict[str, float]:
    """Mean exact match and F1 (in percent, as SQuAD reports) over the questions."""
    if len(predictions) != len(golds):
        raise ShapeError(f"{len(predictions)} predictions for {len(golds)} questions")
    if not predictions:
        raise ConfigError("no questions to score")
    n = len(predictions)
    return {"exact_match": 100 * sum(map(exact_match, predictions, golds)) / n,
            "f1": 100 * sum(map(squad_f1, predictions, golds)) / n}


def best_span(start_logits: Tensor, end_logits: Tensor, max_answer_len: int = 30,
              allowed: Tensor | None = None) -> tuple[Tensor, Tensor]:
    r"""The span maximising :math:`a_i + b_j` with :math:`i \le j < i + L`, per example.

    Args:
        start_logits, end_logits: ``(B, T)``.
        max_answer_len: L, the longest answer in tokens.
        allowed: ``(B, T)`` bool, the positions an answer may use (the passage's tokens; not the
            question, ``[CLS]``, ``[SEP]`` or padding). Default: all.

    Returns:
        ``(start, end)`` indices, each ``(B,)`` long, end inclusive.

    Example:
        >>> best_span(torch.tensor([[0., 5., 1., 0.]]), torch.tensor([[1., 0., 2., 4.]]))
        (tensor([1]), tensor([3]))
    """
    if start_logits.shape != end_logits.shape or start_logits.dim() != 2:
        raise ShapeError(f"start and end logits must both be (B, T), got "
                         f"{tuple(start_logits.shape)} and {tuple(end_logits.shape)}")
    if max_answer_len < 1:
        raise ConfigError(f"max_answer_len must be >= 1, got {max_answer_len}")
    t = start_logits.shape[1]
    scores = start_logits.unsqueeze(2) + end_logits.unsqueeze(1)  # (B, T_i, T_j)
    i = torch.arange(t).unsqueeze(1)
    j = torch.arange(t).unsqueeze(0)
    ok = (j >= i) & (j < i + max_answer_len)
    ok = ok.unsqueeze(0).expand_as(scores)
    if allowed is not None:
        if allowed.shape != start_logits.shape:
            raise ShapeError("allowed must have the shape of the logits (B, T)")
        ok = ok & allowed.bool().unsqueeze(2) & allowed.bool().unsqueeze(1)
    scores = scores.masked_fill(~ok, float("-inf"))
    flat = scores.flatten(1).argmax(1)
    return flat // t, flat % t
