r"""Sampling decoders: draw each token from the (sharpened or cut) model distribution.

Greedy and beam search always return the same, most probable output; sampling adds the
randomness the notes recommend at generation time for open-ended tasks (stories, dialogue),
where the most probable sentence is often dull or repetitive. It uses the same ``step``
interface as :mod:`deepnotes.decoding.search`.

Notes: A14, S3.
"""

from __future__ import annotations

import math

from typing import Any

import torch
from torch import Tensor

from deepnotes.decoding.search import SearchResult, StepFn, _check_args, token_by_token
from deepnotes.errors import ConfigError
from deepnotes.functional.softmax import softmax

__all__ = ["sample", "sampling_distribution"]


def sampling_distribution(
    log_probs: Tensor, temperature: float = 1.0, top_k: int | None = None,
    top_p: float | None = None,
) -> Tensor:
    r"""The distribution a sampler draws from: temperature, then top-k, then top-p, softmax.

    .. math::
        q(y) = \frac{\exp(\log P(y) / \tau)\,[y \in S]}
                    {\sum_{y' \in S} \exp(\log P(y') / \tau)}

    :math:`\tau < 1` sharpens the distribution (:math:`\tau \to 0` is greedy), :math:`\tau > 1`
    flattens it; top-k keeps in :math:`S` only the k most probable tokens (``top_k=1`` is
    greedy); top-p (nucleus sampling) then keeps the smallest set of most probable tokens
    whose probability (after τ and top-k) reaches p: a token stays when the tokens more
    probable than it hold less than p.

    Args:
        log_probs: ``(N, V)`` log-probabilities (or any logits).
        temperature: τ > 0. Default ``1``.
        top_k: keep this many tokens per row; ``None`` keeps all.
        top_p: ``0 < p <= 1``; ``None`` (or 1) keeps all.

    Shape:
        - Input: ``(N, V)``. Output: ``(N, V)``, rows summing to one.

    Example:
        >>> sampling_distribution(torch.tensor([[0.0, 1.0, 2.0]]), top_k=2)
        tensor([[0.0000, 0.2689, 0.7311]])

    Notes: A14.
    """
    if not (temperature > 0 and math.isfinite(temperature)):
        raise ConfigError(f"temperature must be a finite number > 0 (use greedy_search for 0), "
                          f"got {temperature}")
    # log P(y) / τ, shifted by the row's largest log-probability first (softmax is blind to the
    # shift): a tiny τ then gives 0 for the best token and -inf for the rest, never inf - inf
    top = log_probs.amax(dim=-1, keepdim=True)
    diff = log_probs - torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    # (the best token's 0 stays 0 even where τ rounds to 0 in the tensor's precision)
    logits = torch.where(diff == 0, torch.zeros_like(diff), diff / temperature)
    if top_k is not None:
        if top_k < 1:
            raise ConfigError(f"top_k must be >= 1 or None, got {top_k}")
        if top_k < logits.shape[-1]:
            kth = logits.topk(top_k, dim=-1).values[..., -1:]  # (N, 1) k-th largest
            logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        if not (0 < top_p <= 1):
            raise ConfigError(f"top_p must be in (0, 1] or None, got {top_p}")
        if top_p < 1:
            probs, order = softmax(logits, dim=-1).sort(dim=-1, descending=True)
            # mass of the tokens more probable than each one: keep it while that is < p
            before = probs.cumsum(dim=-1) - probs
            drop = torch.zeros_like(before, dtype=torch.bool).scatter(-1, order, before >= top_p)
            logits = logits.masked_fill(drop, float("-inf"))
    return softmax(logits, dim=-1)


@torch.no_grad()
def sample(
    step: StepFn,
    bos: int,
    eos: int | None,
    max_len: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    state: Any = None,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
) -> SearchResult:
    r"""Generate by drawing :math:`y_t \sim q(\cdot \mid y_{<t})` until ``<eos>`` or ``max_len``.

    ``q`` is :func:`sampling_distribution` of the step's log-probabilities. ``temperature=0``
    means greedy (argmax). The returned ``log_probs`` (and ``scores``) are the *model's*
    :math:`\sum_t \log P(y_t \mid y_{<t})` of the drawn sequence, before temperature/top-k.

    Args:
        step, bos, eos, max_len, state, batch_size, device: as in
            :func:`~deepnotes.decoding.search.greedy_search`.
        temperature: τ ≥ 0. Default ``1``.
        top_k: sample only among the k most probable tokens. Default ``None`` (all).
        top_p: sample only from the nucleus: the most probable tokens holding p of the
            probability. Default ``None`` (all).
        generator: a seeded ``torch.Generator`` for reproducible draws.

    Returns:
        :class:`~deepnotes.decoding.search.SearchResult`.

    Example:
        >>> table = torch.tensor([0.0, 0.6, 0.4]).log()  # token 0 is <bos>, 2 is <eos>
        >>> step = lambda tok, s: (table.expand(tok.shape[0], 3), s)
        >>> g = torch.Generator().manual_seed(0)
        >>> len(sample(step, 0, 2, max_len=5, generator=g, batch_size=4).tokens)
        4

    Notes: A14, S3.
    """
    _check_args(bos, eos, max_len)
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature)
            and temperature >= 0):
        raise ConfigError(f"temperature must be a finite number >= 0 (0: greedy), got "
                          f"{temperature}")

    if top_p is not None and not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        raise ConfigError(f"top_p must be in (0, 1] or None, got {top_p}")

    def choose(log_probs: Tensor) -> Tensor:
        if temperature == 0:
            return log_probs.argmax(dim=-1)
        q = sampling_distribution(log_probs.to(torch.float64), temperature, top_k, top_p)
        # y_t ~ q(· | y_<t), drawn where the generator lives (a CPU generator for a CUDA
        # model: the same draws on either device)
        where = generator.device if generator is not None else q.device
        return torch.multinomial(q.to(where), 1, generator=generator).squeeze(1).to(q.device)

    return token_by_token(step, bos, eos, max_len, choose, state=state, batch_size=batch_size,
                          device=device)
