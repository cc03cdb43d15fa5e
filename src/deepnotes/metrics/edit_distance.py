r"""Edit distance and the label error rate of a sequence labeller (CTC, tagging, speech).

Notes: R10.
"""

from __future__ import annotations

from collections.abc import Sequence

from deepnotes.errors import ConfigError

__all__ = ["edit_distance", "label_error_rate"]


def edit_distance(a: Sequence, b: Sequence) -> int:
    r"""Levenshtein distance: fewest insertions, deletions, substitutions turning ``a`` into ``b``.

    .. math::
        D_{i,j} = \min\big(D_{i-1,j} + 1,\ D_{i,j-1} + 1,\ D_{i-1,j-1} + [a_i \ne b_j]\big),
        \qquad D_{i,0} = i,\ D_{0,j} = j

    Example:
        >>> edit_distance("kitten", "sitting")
        3

    Notes: R10 (label error rate).
    """
    a, b = list(a), list(b)
    prev = list(range(len(b) + 1))  # D_{0, j} = j
    for i, x in enumerate(a, start=1):
        cur = [i]  # D_{i, 0} = i
        for j, y in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def label_error_rate(hypotheses: Sequence[Sequence], references: Sequence[Sequence]) -> float:
    r"""Label error rate: total edit distance over total reference length.

    .. math::
        \text{LER} = \frac{\sum_n \mathrm{ED}(\hat{\mathbf l}_n, \mathbf l_n)}{\sum_n |\mathbf l_n|}

    Predicting nothing scores 1.0; wrong insertions can push it above 1.

    Example:
        >>> label_error_rate([(1, 2), ()], [(1, 3), (4,)])
        0.6666666666666666

    Notes: R10.
    """
    if len(hypotheses) != len(references):
        raise ConfigError(f"need one hypothesis per reference, got {len(hypotheses)} and "
                          f"{len(references)}")
    total = sum(len(r) for r in references)
    if total == 0:
        raise ConfigError("the references hold no labels; the label error rate is undefined")
    return sum(edit_distance(h, r) for h, r in zip(hypotheses, references)) / total
