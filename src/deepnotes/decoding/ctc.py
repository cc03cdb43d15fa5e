r"""Decoding CTC outputs: best path and prefix beam search.

The label error rate that scores them is :func:`deepnotes.metrics.label_error_rate`.

A CTC network gives per-frame probabilities :math:`y^t_c` over the labels and the blank. The
labelling we want is :math:`\arg\max_{\mathbf l} p(\mathbf l \mid x)` with
:math:`p(\mathbf l \mid x) = \sum_{\pi: \mathcal B(\pi) = \mathbf l} \prod_t y^t_{\pi_t}`
(:mod:`deepnotes.functional.ctc`). *Best path* takes the single most probable path and collapses
it; it can miss the most probable labelling when that labelling's probability is spread over many
paths. *Prefix beam search* keeps the ``beam_size`` (k) most probable label prefixes, each with the
probability of its paths ending in a blank and ending in a label, so that paths collapsing to the
same prefix are summed; with a beam wide enough to keep every prefix it is exact.

Notes: R10 (decoding).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.functional.ctc import ctc_collapse

__all__ = ["ctc_best_path", "ctc_prefix_beam_search"]

Labelling = tuple[int, ...]


def _batched(log_probs: Tensor, input_lengths: Tensor | Sequence[int] | None, blank: int
             ) -> tuple[Tensor, list[int], bool]:
    """``log_probs`` as ``(T, B, C)``, the frames used per sequence, and whether it was 2-D."""
    if log_probs.dim() not in (2, 3):
        raise ShapeError(f"log_probs must be (T, B, C) or (T, C), "
                         f"got shape {tuple(log_probs.shape)}")
    unbatched = log_probs.dim() == 2
    lp = log_probs.detach().unsqueeze(1) if unbatched else log_probs.detach()  # (T, B, C)
    T, B, C = lp.shape
    if not 0 <= blank < C:
        raise ConfigError(f"blank must be a class index in [0, {C}), got {blank}")
    if input_lengths is None:
        lengths = [T] * B
    else:
        lengths = [int(n) for n in torch.as_tensor(input_lengths).reshape(-1).tolist()]
        if len(lengths) != B or any(not 0 <= n <= T for n in lengths):
            raise ConfigError(f"input_lengths must give {B} lengths in [0, {T}], got {lengths}")
    return lp, lengths, unbatched


def ctc_best_path(log_probs: Tensor, input_lengths: Tensor | Sequence[int] | None = None,
                  blank: int = 0) -> list[Labelling] | Labelling:
    r"""Best-path (greedy) decoding: the most probable symbol per frame, then collapse.

    .. math::
        \hat\pi_t = \arg\max_c y^t_c, \qquad \hat{\mathbf l} = \mathcal B(\hat\pi)

    Args:
        log_probs: per-frame (log-)probabilities; only their order per frame matters.
        input_lengths: frames to use per sequence (default: all ``T``).
        blank: index of the blank. Default ``0``.

    Returns:
        one labelling (tuple) per sequence; a single tuple for an unbatched input.

    Shape:
        - ``log_probs``: :math:`(T, B, C)` or :math:`(T, C)`; ``input_lengths``: :math:`(B)`.

    Example:
        >>> lp = torch.tensor([[0.1, 0.9, 0.0], [0.2, 0.8, 0.0], [0.9, 0.1, 0.0],
        ...                    [0.1, 0.7, 0.2]]).log()
        >>> ctc_best_path(lp)
        (1, 1)

    Notes: R10.
    """
    lp, lengths, unbatched = _batched(log_probs, input_lengths, blank)
    best = lp.argmax(dim=2).T.tolist()  # (B, T)
    out = [ctc_collapse(path[:n], blank) for path, n in zip(best, lengths)]
    return out[0] if unbatched else out


def _log_add(a: float, b: float) -> float:
    # log(e^a + e^b), stable
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


def _prefix_beam(lp: list[list[float]], beam_size: int, blank: int, top_k: int
                 ) -> list[tuple[Labelling, float]]:
    # each prefix -> [log p_b, log p_nb]: paths so far that collapse to it and end in a blank /
    # in its last label (the split decides whether a repeated label merges or starts anew)
    beam: dict[Labelling, list[float]] = {(): [0.0, -math.inf]}
    for row in lp:
        nxt: dict[Labelling, list[float]] = {}
        for prefix, (pb, pnb) in beam.items():
            # p(prefix) = p_b + p_nb
            total = _log_add(pb, pnb)
            same = nxt.setdefault(prefix, [-math.inf, -math.inf])
            # a blank keeps the prefix: p_b'(l) += p(l) · y_∅
            same[0] = _log_add(same[0], total + row[blank])
            last = prefix[-1] if prefix else None
            for c, y in enumerate(row):
                if c == blank or y == -math.inf:
                    continue
                ext = nxt.setdefault(prefix + (c,), [-math.inf, -math.inf])
                if c == last:
                    # repeating the last label without a blank merges: p_nb'(l) += p_nb(l) · y_c
                    same[1] = _log_add(same[1], pnb + y)
                    # after a blank it is a new label: p_nb'(l+c) += p_b(l) · y_c
                    ext[1] = _log_add(ext[1], pb + y)
                else:
                    # p_nb'(l+c) += p(l) · y_c
                    ext[1] = _log_add(ext[1], total + y)
        # keep the beam_size most probable prefixes (ties: the smaller labelling first)
        # (prefixes no path reaches, with probability 0, are dropped)
        ranked = sorted(((p, v) for p, v in nxt.items() if _log_add(*v) > -math.inf),
                        key=lambda kv: (-_log_add(*kv[1]), kv[0]))
        beam = dict(ranked[:beam_size])
    ranked = sorted(((p, _log_add(*v)) for p, v in beam.items()), key=lambda pv: (-pv[1], pv[0]))
    return ranked[:top_k]


def ctc_prefix_beam_search(log_probs: Tensor, beam_size: int = 8,
                           input_lengths: Tensor | Sequence[int] | None = None, blank: int = 0,
                           top_k: int | None = None
                           ) -> list[list[tuple[Labelling, float]]] | list[tuple[Labelling, float]]:
    r"""CTC prefix beam search: the ``top_k`` most probable labellings with their log-probabilities.

    For every kept prefix :math:`\mathbf l`, :math:`p_b(\mathbf l)` and
    :math:`p_{nb}(\mathbf l)` are the probabilities of the paths so far that collapse to
    :math:`\mathbf l` and end in a blank / in a label. Reading frame :math:`t`:

    .. math::
        p_b'(\mathbf l) &\mathrel{+}= (p_b + p_{nb})(\mathbf l)\, y^t_\varnothing, \qquad
        p_{nb}'(\mathbf l) \mathrel{+}= p_{nb}(\mathbf l)\, y^t_{l_{last}}, \\
        p_{nb}'(\mathbf l c) &\mathrel{+}= \begin{cases} p_b(\mathbf l)\, y^t_c &
            c = l_{last} \\ (p_b + p_{nb})(\mathbf l)\, y^t_c & \text{otherwise,}\end{cases}

    then only the ``beam_size`` prefixes with the largest :math:`p_b + p_{nb}` are kept. At the
    end :math:`p(\mathbf l \mid x) = p_b + p_{nb}`; the scores are exact labelling
    probabilities for every prefix that was never pruned. Cost :math:`O(T \cdot k \cdot C)`.

    Args:
        log_probs: per-frame log-probabilities (blank included).
        beam_size: prefixes kept per frame, ``k >= 1``. Default ``8``.
        input_lengths: frames to use per sequence (default: all ``T``).
        blank: index of the blank. Default ``0``.
        top_k: labellings returned per sequence (default: ``beam_size``).

    Returns:
        per sequence, a list of at most ``top_k`` ``(labelling, log p)`` best first (labellings
        of probability zero left out); for an unbatched input just that list.

    Shape:
        - ``log_probs``: :math:`(T, B, C)` or :math:`(T, C)`; ``input_lengths``: :math:`(B)`.

    Example:
        >>> lp = torch.tensor([[0.6, 0.4], [0.6, 0.4]]).log()  # best path ∅∅ -> ()
        >>> [(l, round(math.exp(p), 2)) for l, p in ctc_prefix_beam_search(lp, beam_size=4)]
        [((1,), 0.64), ((), 0.36)]

    Notes: R10.
    """
    if not isinstance(beam_size, int) or beam_size < 1:
        raise ConfigError(f"beam_size must be a positive integer, got {beam_size!r}")
    top_k = beam_size if top_k is None else top_k
    if not isinstance(top_k, int) or not 1 <= top_k <= beam_size:
        raise ConfigError(f"top_k must be an integer in [1, beam_size = {beam_size}], "
                          f"got {top_k!r}")
    lp, lengths, unbatched = _batched(log_probs, input_lengths, blank)
    rows = lp.double().transpose(0, 1).tolist()  # (B, T, C) as Python floats
    out = [_prefix_beam(r[:n], beam_size, blank, top_k) for r, n in zip(rows, lengths)]
    return out[0] if unbatched else out
