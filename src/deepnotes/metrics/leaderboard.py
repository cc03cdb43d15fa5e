r"""Public/private leaderboard scores of a model chosen by its public score.

A test set split into a *public* half (scores seen while choosing) and a *private* half (scores
seen only after). Choosing the best of many models on the public half overfits it: the pick's
public score is biased upwards, its private score is not, and the gap grows with the number of
models tried.

- :func:`split_accuracy`: each model's accuracy on the public and the private examples;
- :func:`best_of_n_weights`: the chance that the model ranked ``i`` on public is the best of
  ``n`` drawn at random;
- :func:`leaderboard_pick`: the expected public and private score of the best-on-public of
  ``n`` models drawn at random, computed exactly (no sampling).

Notes: G3 (a test split used to choose is a validation split: public vs private leaderboard).
"""

from __future__ import annotations

import torch
from torch import Tensor

from deepnotes.errors import ConfigError, ShapeError

__all__ = ["best_of_n_weights", "leaderboard_pick", "split_accuracy"]


def split_accuracy(correct: Tensor, public: Tensor) -> tuple[Tensor, Tensor]:
    r"""Each model's accuracy on the public and on the private examples.

    .. math::
        \mathrm{pub}_k = \frac{1}{|P|}\sum_{t \in P} c_{kt}, \qquad
        \mathrm{priv}_k = \frac{1}{|Q|}\sum_{t \notin P} c_{kt}

    Args:
        correct: ``c_{kt}``, whether model ``k`` got test example ``t`` right.
        public: boolean mask of the public examples ``P`` (the rest, ``Q``, are private).

    Shape:
        - correct: ``(M, T)`` bool or {0, 1}.
        - public: ``(T,)`` bool.
        - Output: two ``(M,)`` float64 tensors.

    Example:
        >>> c = torch.tensor([[1, 1, 0, 0], [1, 0, 1, 1]])
        >>> split_accuracy(c, torch.tensor([True, True, False, False]))
        (tensor([1.0000, 0.5000], dtype=torch.float64), tensor([0., 1.], dtype=torch.float64))

    Notes: G3.
    """
    if correct.dim() != 2 or public.shape != correct.shape[1:]:
        raise ShapeError(f"split_accuracy expects correct (M, T) and public (T,), got "
                         f"{tuple(correct.shape)} and {tuple(public.shape)}")
    public = public.bool()
    n_pub = int(public.sum())
    if n_pub in (0, public.numel()):
        raise ConfigError(f"public must hold some but not all of the {public.numel()} examples, "
                          f"got {n_pub}")
    c = correct.to(torch.float64)
    # (M, T) -> (M,) each
    return c[:, public].mean(dim=1), c[:, ~public].mean(dim=1)


def best_of_n_weights(m: int, n: int) -> Tensor:
    r"""``w_i``: the chance that the model ranked ``i`` (1 = best) is the best of ``n`` of ``m``.

    ``n`` models are drawn uniformly without replacement from ``m`` ranked ones; the one at rank
    ``i`` is the best drawn iff it is drawn along with ``n-1`` of the ``m-i`` below it:

    .. math::
        w_i = \binom{m-i}{n-1} \Big/ \binom{m}{n}, \qquad
        w_1 = \frac{n}{m}, \quad \frac{w_{i+1}}{w_i} = \frac{m-i-n+1}{m-i}

    Args:
        m: models to draw from (``m >= 1``).
        n: models drawn (``1 <= n <= m``).

    Shape:
        - Output: ``(m,)`` float64, summing to 1; zero from rank ``m-n+2`` on.

    Example:
        >>> best_of_n_weights(4, 2)
        tensor([0.5000, 0.3333, 0.1667, 0.0000], dtype=torch.float64)

    Notes: G3.
    """
    if m < 1:
        raise ConfigError(f"best_of_n_weights needs m >= 1 models, got {m}")
    if not 1 <= n <= m:
        raise ConfigError(f"best_of_n_weights needs 1 <= n <= m = {m}, got n = {n}")
    i = torch.arange(1, m, dtype=torch.float64)  # ranks 1 .. m-1
    # w_{i+1} / w_i = (m-i-n+1) / (m-i), zero once i reaches m-n+1
    ratios = ((m - i - n + 1) / (m - i)).clamp_min(0.0)
    # w_1 = n/m, w_{i+1} = w_1 · Π_{j<=i} ratio_j
    return torch.cat([torch.ones(1, dtype=torch.float64), ratios]).cumprod(0) * (n / m)


def leaderboard_pick(public: Tensor, private: Tensor, n: int) -> tuple[float, float]:
    r"""Expected public and private score of the best-on-public of ``n`` random candidates.

    ``n`` of the ``m`` candidates are drawn uniformly without replacement; the one with the
    highest public score is picked, ties broken uniformly at random. With the candidates sorted
    by public score, :math:`s_{(1)} \ge \dots \ge s_{(m)}`, and :math:`w_i` from
    :func:`best_of_n_weights`:

    .. math::
        \mathbb{E}[\mathrm{pub}] = \sum_i w_i\, s_{(i)}, \qquad
        \mathbb{E}[\mathrm{priv}] = \sum_i w_i\, \bar p_{(i)}

    where :math:`\bar p_{(i)}` is the mean private score of the candidates whose public score
    equals :math:`s_{(i)}` (a random tie-break puts each of them at rank ``i`` equally often).
    With ``n = 1`` both are plain means over the candidates; with ``n = m`` it is the best.

    Args:
        public: each candidate's public score (higher is better).
        private: each candidate's private score.
        n: candidates drawn (``1 <= n <= m``).

    Shape:
        - public, private: ``(m,)``.

    Returns:
        ``(expected public score of the pick, expected private score of the pick)``.

    Example:
        >>> pub = torch.tensor([0.9, 0.8, 0.8, 0.5], dtype=torch.float64)
        >>> priv = torch.tensor([0.6, 0.7, 0.9, 0.7], dtype=torch.float64)
        >>> leaderboard_pick(pub, priv, 4)  # the best on public is candidate 0
        (0.9, 0.6)
        >>> [round(v, 4) for v in leaderboard_pick(pub, priv, 2)]  # w = (1/2, 1/3, 1/6, 0)
        [0.85, 0.7]

    Notes: G3 (public vs private leaderboard).
    """
    if public.dim() != 1 or public.shape != private.shape:
        raise ShapeError(f"leaderboard_pick expects public and private of shape (m,), got "
                         f"{tuple(public.shape)} and {tuple(private.shape)}")
    m = public.numel()
    w = best_of_n_weights(m, n)  # (m,)
    pub = public.to(torch.float64)
    order = torch.argsort(pub, descending=True, stable=True)
    s = pub[order]  # (m,) public scores, best first
    p = private.to(torch.float64)[order]  # (m,)
    # p̄: the mean private score over each run of equal public scores (a tie group)
    _, group, counts = torch.unique_consecutive(s, return_inverse=True, return_counts=True)
    sums = torch.zeros(len(counts), dtype=torch.float64).index_add_(0, group, p)
    p_bar = (sums / counts)[group]  # (m,)
    # E[pub] = Σ_i w_i s_(i),  E[priv] = Σ_i w_i p̄_(i)
    return float(w @ s), float(w @ p_bar)
