r"""Search for the output sequence: greedy, exhaustive and beam search.

Every decoder here is model-agnostic. It drives a ``step`` function::

    step(tokens, state) -> (log_probs, new_state)

- ``tokens``: LongTensor ``(N, t)``, the prefixes decoded so far, ``<bos>`` included;
- ``state``: anything the model carries between steps, as a pytree (tensor, tuple, list, dict or
  ``None``) whose tensors all have the N prefixes on dim 0;
- ``log_probs``: ``(N, V)``, :math:`\log P(y_t \mid y_{<t}, c)` for every next token.

When beam search keeps, drops or duplicates prefixes it reorders *every* tensor of the state
with ``index_select`` on dim 0, so an RNN decoder keeps its hidden state batch-first
``(N, L, H)`` (layers on dim 1, not torch's ``(L, N, H)``), and a Transformer decoder may ignore
``state`` and re-read the whole prefix. The initial ``state`` has one row per source (B rows);
beam search repeats it ``beam_size`` times (rows ``b·k .. b·k + k - 1`` belong to source b).

Every decoder returns a :class:`SearchResult`: per source, the generated tokens after
``<bos>`` (ending in ``<eos>`` unless ``max_len`` cut them), :math:`\log P`, and the score used
to rank them.

Notes: S3, S5, A12.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import Tensor

from deepnotes.errors import ConfigError, ShapeError

__all__ = [
    "Hypothesis",
    "SearchResult",
    "StepFn",
    "beam_search",
    "exhaustive_search",
    "greedy_search",
    "length_penalized",
    "map_state",
]

StepFn = Callable[[Tensor, Any], "tuple[Tensor, Any]"]


class Hypothesis(NamedTuple):
    """One decoded sequence: tokens after ``<bos>``, its log-probability and ranking score."""

    tokens: list[int]
    log_prob: float
    score: float
    finished: bool  # True when it ended with <eos>, False when max_len cut it


@dataclass
class SearchResult:
    """What a decoder returns for B sources."""

    tokens: list[list[int]]  # best sequence per source (after <bos>, <eos> kept if reached)
    log_probs: Tensor  # (B,) float64: Σ_t log P(y_t | y_<t) of each best sequence
    scores: Tensor  # (B,) float64: the ranking score (log P / L^α for beam/exhaustive)
    hypotheses: list[list[Hypothesis]] = field(default_factory=list)  # all kept, best first


def map_state(fn: Callable[[Tensor], Tensor], state: Any) -> Any:
    """Apply ``fn`` to every tensor in a pytree state (tuple, list, dict, tensor or None)."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return fn(state)
    if isinstance(state, tuple):
        mapped = [map_state(fn, s) for s in state]
        return type(state)(*mapped) if hasattr(state, "_fields") else tuple(mapped)
    if isinstance(state, list):
        return [map_state(fn, s) for s in state]
    if isinstance(state, dict):
        return {k: map_state(fn, v) for k, v in state.items()}
    raise ConfigError(
        f"decoder state must be a tensor, tuple, list, dict or None, got {type(state).__name__}"
    )


def _select(state: Any, index: Tensor) -> Any:
    """Rows ``index`` of every state tensor (dim 0): how beams are kept, dropped or copied."""
    return map_state(lambda t: t.index_select(0, index), state)


def _leaves(state: Any) -> list[Tensor]:
    out: list[Tensor] = []
    map_state(lambda t: out.append(t) or t, state)
    return out


def _batch_and_device(
    state: Any, batch_size: int | None, device: torch.device | str | None
) -> tuple[int, torch.device]:
    """B from ``batch_size`` or the state's dim 0 (else 1), checking every state tensor."""
    leaves = _leaves(state)
    if batch_size is None:
        batch_size = leaves[0].shape[0] if leaves else 1
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    for t in leaves:
        if t.dim() == 0 or t.shape[0] != batch_size:
            raise ShapeError(
                f"every state tensor needs the {batch_size} sources on dim 0, "
                f"got a tensor of shape {tuple(t.shape)}"
            )
    if device is None:
        device = leaves[0].device if leaves else torch.device("cpu")
    return batch_size, torch.device(device)


def _check_args(bos: int, eos: int | None, max_len: int) -> None:
    if max_len < 1:
        raise ConfigError(f"max_len must be >= 1 (tokens to generate), got {max_len}")
    if bos < 0 or (eos is not None and eos < 0):
        raise ConfigError(f"bos and eos must be token ids >= 0, got bos={bos}, eos={eos}")


def _call(step: StepFn, tokens: Tensor, state: Any, eos: int | None = None) -> tuple[Tensor, Any]:
    log_probs, state = step(tokens, state)
    if log_probs.dim() != 2 or log_probs.shape[0] != tokens.shape[0]:
        raise ShapeError(
            f"step must return log_probs of shape (N, V) with N={tokens.shape[0]}, "
            f"got {tuple(log_probs.shape)}"
        )
    if eos is not None and eos >= log_probs.shape[1]:
        raise ConfigError(f"eos={eos} is not a token of the model's vocabulary (V = "
                          f"{log_probs.shape[1]}); pass the vocabulary's <eos> id")
    return log_probs, state


def length_penalized(log_prob: float, length: int, alpha: float) -> float:
    r"""Beam-search ranking score :math:`\frac{1}{L^\alpha}\log P(y_1,\dots,y_L)`.

    ``L`` counts every scored token, ``<eos>`` included (the sum over :math:`t'=1..L`
    has one term per generated token). ``alpha=0`` ranks by plain log-probability; larger
    ``alpha`` favours longer sequences (the notes use 0.75).

    Example:
        >>> round(length_penalized(-2.0, 4, 0.5), 4)
        -1.0

    Notes: S5.
    """
    # score = log P / L^α
    return log_prob / (length**alpha)


def _rows_to_result(tokens: Tensor, logp: Tensor, eos: int | None) -> SearchResult:
    """Cut each row of generated tokens after its first <eos>."""
    out: list[list[int]] = []
    for row in tokens.tolist():
        out.append(row[: row.index(eos) + 1] if eos in row else row)
    lp = logp.detach().to(torch.float64).cpu()
    hyps = [[Hypothesis(t, float(s), float(s), bool(t) and t[-1] == eos)] for t, s in zip(out, lp)]
    return SearchResult(out, lp, lp.clone(), hyps)


@torch.no_grad()
def greedy_search(
    step: StepFn,
    bos: int,
    eos: int | None,
    max_len: int,
    *,
    state: Any = None,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
) -> SearchResult:
    r"""Greedy decoding: take the most probable token at every step.

    .. math::
        y_{t'} = \operatorname*{argmax}_{y \in \mathcal{Y}} P(y \mid y_1, \ldots, y_{t'-1}, c)

    A sequence stops at ``<eos>`` or after ``max_len`` generated tokens. Finished rows keep
    being fed ``<eos>`` (their outputs are ignored) so every step sees all B rows.

    Args:
        step: ``step(tokens (B, t), state) -> (log_probs (B, V), state)`` (module docstring).
        bos: id of ``<bos>``, the first input token.
        eos: id of ``<eos>``.
        max_len: most tokens to generate, ``<eos>`` included (T').
        state: initial decoder state, tensors with B rows on dim 0, or ``None``.
        batch_size: B when ``state`` is ``None`` (default 1).
        device: where the token tensor lives (default: the state's device, else CPU).

    Returns:
        :class:`SearchResult`; ``scores`` equal ``log_probs``.

    Example:
        >>> table = torch.tensor([0.1, 0.6, 0.3]).log()  # same distribution at every step
        >>> greedy_search(lambda tok, s: (table.expand(tok.shape[0], 3), s), 0, 2, 3).tokens
        [[1, 1, 1]]

    Notes: S3, S5.
    """
    # y_t = argmax_y log P(y | y_<t)
    return token_by_token(step, bos, eos, max_len, lambda log_probs: log_probs.argmax(dim=-1),
                          state=state, batch_size=batch_size, device=device)


def token_by_token(step: StepFn, bos: int, eos: int | None, max_len: int,
                   choose: Callable[[Tensor], Tensor], *, state: Any = None,
                   batch_size: int | None = None,
                   device: torch.device | str | None = None) -> SearchResult:
    r"""One token per step for every row: ``choose(log_probs (B, V)) -> next tokens (B,)``.

    The loop greedy search and sampling share: rows that produced ``<eos>`` keep being fed
    ``<eos>`` (their outputs ignored), and each row's log-probability sums the model's
    :math:`\log P(y_t \mid y_{<t})` of the tokens it kept. ``eos=None``: there is no end
    token (a language model continuing a text), every row runs ``max_len`` steps.
    """
    _check_args(bos, eos, max_len)
    B, device = _batch_and_device(state, batch_size, device)
    tokens = torch.full((B, 1), bos, dtype=torch.long, device=device)
    logp = torch.zeros(B, dtype=torch.float64, device=device)
    done = torch.zeros(B, dtype=torch.bool, device=device)
    for _ in range(max_len):
        log_probs, state = _call(step, tokens, state, eos)
        nxt = choose(log_probs)
        if eos is not None:
            nxt = torch.where(done, torch.full_like(nxt, eos), nxt)
        # log P(y_1..y_t) = log P(y_1..y_{t-1}) + log P(y_t | y_<t)
        gain = log_probs.gather(1, nxt[:, None]).squeeze(1).to(torch.float64)
        logp = logp + torch.where(done, torch.zeros_like(gain), gain)
        tokens = torch.cat([tokens, nxt[:, None]], dim=1)  # (B, t + 1)
        if eos is None:
            continue
        done = done | (nxt == eos)
        if bool(done.all()):
            break
    return _rows_to_result(tokens[:, 1:], logp, eos)


@torch.no_grad()
def exhaustive_search(
    step: StepFn,
    bos: int,
    eos: int,
    max_len: int,
    *,
    alpha: float = 0.0,
    state: Any = None,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
    max_sequences: int = 1_000_000,
) -> SearchResult:
    r"""Score every possible output and keep the best (only for tiny vocabularies).

    The candidates are all sequences that end with ``<eos>`` within ``max_len`` tokens, plus
    the :math:`(|\mathcal{Y}|-1)^{T'}` sequences that ``max_len`` cuts before any ``<eos>``
    (the same set greedy and beam search choose from). Each is ranked by
    :func:`length_penalized`; with ``alpha=0`` (default) that is the sequence of highest
    conditional probability :math:`\prod_{t'} P(y_{t'} \mid y_{<t'}, c)`. Cost
    :math:`O(|\mathcal{Y}|^{T'})` step rows.

    Args:
        step, bos, eos, max_len, state, batch_size, device: as in :func:`greedy_search`.
        alpha: length-penalty exponent α. Default ``0``.
        max_sequences: refuse vocabularies/lengths that would enumerate more candidates.

    Returns:
        :class:`SearchResult`; ``hypotheses[b]`` lists every candidate, best first.

    Example:
        >>> table = torch.tensor([0.0, 0.6, 0.4]).log()  # token 0 is <bos>, 2 is <eos>
        >>> exhaustive_search(lambda tok, s: (table.expand(tok.shape[0], 3), s), 0, 2, 3).tokens
        [[2]]

    Notes: S5.
    """
    _check_args(bos, eos, max_len)
    B, device = _batch_and_device(state, batch_size, device)
    all_hyps: list[list[Hypothesis]] = []
    for b in range(B):
        index = torch.tensor([b], device=device)
        st = _select(state, index)
        prefixes = torch.full((1, 1), bos, dtype=torch.long, device=device)
        logp = torch.zeros(1, dtype=torch.float64, device=device)
        hyps: list[Hypothesis] = []
        for t in range(1, max_len + 1):
            log_probs, st = _call(step, prefixes, st, eos)
            V = log_probs.shape[1]
            if t == 1 and sum((V - 1) ** i for i in range(max_len)) + (V - 1) ** max_len > (
                max_sequences
            ):
                raise ConfigError(
                    f"exhaustive search over V={V} tokens and max_len={max_len} exceeds "
                    f"max_sequences={max_sequences}; use beam_search or a shorter max_len"
                )
            # log P(prefix + y) for every prefix and every y
            ext = logp[:, None] + log_probs.to(torch.float64)  # (N, V)
            for i, lp in enumerate(ext[:, eos].tolist()):
                if lp != float("-inf"):  # sequences of probability 0 are no candidates
                    seq = prefixes[i, 1:].tolist() + [eos]
                    hyps.append(Hypothesis(seq, lp, length_penalized(lp, t, alpha), True))
            # every prefix grows by every token but <eos> (impossible ones are dropped)
            ext[:, eos] = float("-inf")
            src, ys = torch.nonzero(ext > float("-inf"), as_tuple=True)
            prefixes = torch.cat([prefixes[src], ys[:, None]], dim=1)  # (N', t + 1)
            logp = ext[src, ys]
            st = _select(st, src)
            if src.numel() == 0:
                break
        if prefixes.shape[1] == max_len + 1:  # cut by max_len before any <eos>
            for i, lp in enumerate(logp.tolist()):
                seq = prefixes[i, 1:].tolist()
                hyps.append(Hypothesis(seq, lp, length_penalized(lp, max_len, alpha), False))
        if not hyps:
            raise ConfigError(
                f"exhaustive search found no sequence of finite probability for source {b}; "
                "check that step returns log-probabilities"
            )
        hyps.sort(key=lambda h: h.score, reverse=True)
        all_hyps.append(hyps)
    return _best(all_hyps)


def _best(all_hyps: list[list[Hypothesis]]) -> SearchResult:
    best = [h[0] for h in all_hyps]
    return SearchResult(
        [h.tokens for h in best],
        torch.tensor([h.log_prob for h in best], dtype=torch.float64),
        torch.tensor([h.score for h in best], dtype=torch.float64),
        all_hyps,
    )


@torch.no_grad()
def beam_search(
    step: StepFn,
    bos: int,
    eos: int,
    beam_size: int,
    max_len: int,
    alpha: float = 0.75,
    *,
    state: Any = None,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
) -> SearchResult:
    r"""Beam search: keep the ``beam_size`` (k) most probable prefixes at every step.

    At step 1 the k most probable first tokens start k beams. At each later step the
    :math:`k|\mathcal{Y}|` one-token extensions of the live beams are ranked by
    :math:`\log P` and

    - each extension ending in ``<eos>`` that ranks among the top k is *finished*: set aside as
      a candidate with score :math:`\frac{1}{L^\alpha}\log P` (:func:`length_penalized`,
      L = generated tokens including ``<eos>``);
    - the k best extensions *not* ending in ``<eos>`` become the next live beams.

    A source is done when k of its hypotheses have finished (all its k beams have ended) or
    after ``max_len`` tokens; then its live beams join the candidates as cut sequences
    (L = ``max_len``). The answer is the candidate of highest score. Cost
    :math:`O(k|\mathcal{Y}|T')` scores. ``beam_size=1`` is greedy search; a ``beam_size`` at
    least the number of possible prefixes (:math:`|\mathcal{Y}|^{T'}`) is exhaustive search.

    B sources are decoded together as B·k rows; the state is repeated k times per source and
    reordered with ``index_select(0, ·)`` after each step (see the module docstring).

    Args:
        step, bos, eos, max_len, state, batch_size, device: as in :func:`greedy_search`.
        beam_size: k, the beams kept per source (``>= 1``).
        alpha: length-penalty exponent α. Default ``0.75`` (the notes' value).

    Returns:
        :class:`SearchResult`; ``hypotheses[b]`` lists source b's candidates, best first.

    Example:
        >>> table = torch.tensor([0.0, 0.6, 0.4]).log()  # token 0 is <bos>, 2 is <eos>
        >>> step = lambda tok, s: (table.expand(tok.shape[0], 3), s)
        >>> beam_search(step, bos=0, eos=2, beam_size=2, max_len=3, alpha=0.0).tokens
        [[2]]

    Notes: S5.
    """
    _check_args(bos, eos, max_len)
    if beam_size < 1:
        raise ConfigError(f"beam_size must be >= 1, got {beam_size}")
    B, device = _batch_and_device(state, batch_size, device)
    k = beam_size  # the notes' symbol
    N = B * k
    # rows b·k .. b·k + k - 1 are source b's beams
    state = map_state(lambda t: t.repeat_interleave(k, dim=0), state)
    tokens = torch.full((N, 1), bos, dtype=torch.long, device=device)
    # only beam 0 is alive at the start, so step 1 picks k distinct first tokens
    beam_logp = torch.full((B, k), float("-inf"), dtype=torch.float64, device=device)
    beam_logp[:, 0] = 0.0
    hyps: list[list[Hypothesis]] = [[] for _ in range(B)]
    n_done = [0] * B
    done = [False] * B
    base = (torch.arange(B, device=device) * k)[:, None]  # (B, 1) first row of each source
    for t in range(1, max_len + 1):
        log_probs, state = _call(step, tokens, state, eos)
        V = log_probs.shape[1]
        # log P(beam + y) = log P(beam) + log P(y | beam)
        cand = beam_logp[:, :, None] + log_probs.to(torch.float64).reshape(B, k, V)  # (B, k, V)
        flat = cand.view(B, k * V)
        # finished: <eos> extensions among the k best of all k|Y| extensions
        top_lp, top_idx = flat.topk(k, dim=1)  # (B, k)
        for b, (lps, idxs) in enumerate(zip(top_lp.tolist(), top_idx.tolist())):
            if done[b]:
                continue
            for lp, idx in zip(lps, idxs):
                if idx % V == eos and lp != float("-inf"):
                    seq = tokens[b * k + idx // V, 1:].tolist() + [eos]
                    hyps[b].append(Hypothesis(seq, lp, length_penalized(lp, t, alpha), True))
                    n_done[b] += 1
        # live: the k best extensions that do not end in <eos>
        cand[:, :, eos] = float("-inf")
        beam_logp, live_idx = cand.view(B, k * V).topk(k, dim=1)  # (B, k)
        rows = (base + live_idx // V).view(N)  # which old row each new beam extends
        tokens = torch.cat([tokens[rows], (live_idx % V).view(N, 1)], dim=1)  # (N, t + 1)
        state = _select(state, rows)
        for b in range(B):
            if not done[b] and (n_done[b] >= k or beam_logp[b, 0].item() == float("-inf")):
                done[b] = True
        if all(done):
            break
    for b in range(B):
        if done[b]:
            continue
        for j, lp in enumerate(beam_logp[b].tolist()):  # cut by max_len before <eos>
            if lp != float("-inf"):
                seq = tokens[b * k + j, 1:].tolist()
                hyps[b].append(Hypothesis(seq, lp, length_penalized(lp, max_len, alpha), False))
    for b in range(B):
        if not hyps[b]:
            raise ConfigError(
                f"beam search found no sequence of finite probability for source {b}; "
                "check that step returns log-probabilities"
            )
        hyps[b].sort(key=lambda h: h.score, reverse=True)
    return _best(hyps)
