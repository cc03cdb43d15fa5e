r"""Connectionist temporal classification (CTC): the loss by the forward algorithm, and the
brute-force enumeration of alignments it sums over.

An input of :math:`T` frames is read as one symbol per frame from the labels plus a *blank*
:math:`\varnothing` ("nothing here"). A frame-level path :math:`\pi` of length :math:`T`
*collapses* to a labelling :math:`\mathcal B(\pi)` by merging repeated symbols and then dropping
blanks (``a a ∅ a b b`` → ``a a b``: the blank is what lets a label repeat). The labelling's
probability sums over every path (alignment) that collapses to it,

.. math::
    p(\mathbf l \mid x) = \sum_{\pi:\ \mathcal B(\pi) = \mathbf l}\ \prod_{t=1}^{T} y^t_{\pi_t},

and the forward algorithm computes this sum in :math:`O(T \cdot |\mathbf l|)` instead of
enumerating the paths (:func:`ctc_alignments` enumerates them, for tests on tiny cases).

Notes: R10 (blank symbol, all alignments, collapse repeats).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from deepnotes.errors import ConfigError, ShapeError

__all__ = ["ctc_alignments", "ctc_brute_force_log_prob", "ctc_collapse", "ctc_loss"]

_REDUCTIONS = ("mean", "sum", "none")


def _log_add(a: Tensor, b: Tensor) -> Tensor:
    r""":math:`a \oplus b = \log(e^a + e^b) = \max(a, b) + \log(1 + e^{-|a - b|})`, elementwise."""
    return torch.logaddexp(a, b)


def _lengths(name: str, value: Tensor | Sequence[int] | int, batch: int, unbatched: bool) -> Tensor:
    t = torch.as_tensor(value)
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise ConfigError(f"{name} must hold integers, got dtype {t.dtype}")
    t = t.to(torch.long).reshape(-1) if (unbatched and t.dim() == 0) else t.to(torch.long)
    if t.shape != (batch,):
        raise ShapeError(f"{name} must have shape ({batch},), one length per sequence, "
                         f"got {tuple(t.shape)}")
    if batch and int(t.min()) < 0:
        raise ConfigError(f"{name} must be >= 0, got {t.tolist()}")
    return t.cpu()


def _padded_targets(targets: Tensor, tg_len: Tensor, batch: int, blank: int,
                    num_classes: int) -> Tensor:
    """Targets as a ``(B, S)`` long tensor whose padding holds ``blank``."""
    if targets.is_floating_point() or targets.dtype == torch.bool:
        raise ConfigError(f"targets must hold integer class indices, got dtype {targets.dtype}")
    targets = targets.to(torch.long).cpu()
    S = int(tg_len.max()) if batch else 0
    # position j of sequence b is a real label when j < S_b
    valid = torch.arange(S).unsqueeze(0) < tg_len.unsqueeze(1)  # (B, S)
    if targets.dim() == 1:
        # concatenated labels of all sequences, one after the other
        if targets.numel() != int(tg_len.sum()):
            raise ShapeError(f"concatenated targets must hold sum(target_lengths) = "
                             f"{int(tg_len.sum())} labels, got {targets.numel()}")
        padded = torch.full((batch, S), blank, dtype=torch.long)
        padded[valid] = targets
    elif targets.dim() == 2:
        if targets.shape[0] != batch or targets.shape[1] < S:
            raise ShapeError(f"padded targets must have shape ({batch}, S) with S >= max target "
                             f"length {S}, got {tuple(targets.shape)}")
        padded = torch.where(valid, targets[:, :S], torch.full_like(targets[:, :S], blank))
    else:
        raise ShapeError(f"targets must be (B, S) padded or 1-D concatenated, "
                         f"got shape {tuple(targets.shape)}")
    labels = padded[valid]
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ConfigError(f"target labels must lie in [0, {num_classes}), got values from "
                          f"{int(labels.min())} to {int(labels.max())}")
    if bool((labels == blank).any()):
        raise ConfigError(f"targets contain the blank index {blank}; CTC targets hold labels only "
                          f"(pick another blank or remove it from the targets)")
    return padded


def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths: Tensor | Sequence[int],
             target_lengths: Tensor | Sequence[int], blank: int = 0, reduction: str = "mean",
             zero_infinity: bool = False) -> Tensor:
    r"""CTC loss :math:`-\log p(\mathbf l \mid x)` by the forward algorithm in log space.

    With the extended label sequence :math:`\mathbf l' = (\varnothing, l_1, \varnothing, l_2,
    \ldots, l_S, \varnothing)` of length :math:`S' = 2S + 1` and
    :math:`\alpha_t(s) = \log \sum` (probability of all path prefixes of length :math:`t+1`
    that end in state :math:`s`), with :math:`\oplus` the log-sum-exp:

    .. math::
        \alpha_0(0) = \log y^0_{\varnothing}, \quad \alpha_0(1) = \log y^0_{l_1}, \\
        \alpha_t(s) = \big(\alpha_{t-1}(s) \oplus \alpha_{t-1}(s-1)
                      \oplus [\text{skip}_s]\,\alpha_{t-1}(s-2)\big) + \log y^t_{l'_s}, \\
        \text{skip}_s = (l'_s \ne \varnothing) \wedge (l'_s \ne l'_{s-2}), \qquad
        \mathcal L = -\big(\alpha_{T-1}(S'-1) \oplus \alpha_{T-1}(S'-2)\big).

    Jumping over a blank is allowed only between different labels: between equal labels the
    blank is what separates them. The loop runs over time only; batch and :math:`S'` are
    vectorised, and gradients come from autograd through the recursion.

    Same signature and results as ``torch.nn.functional.ctc_loss``. Its gradient with respect to
    ``log_probs`` is the true one, :math:`-\gamma_t(c)` (posterior occupancy); torch's kernel
    returns :math:`y^t_c - \gamma_t(c)`, which agrees once it flows through a ``log_softmax``.
    An infeasible sample (fewer frames than labels plus repeats) has loss ``inf`` and a zero
    gradient (torch: ``nan`` at its first frame). Inside the recursion "log 0" is the finite
    :math:`-10^{30}` so that unreached states never make ``nan`` gradients; half-precision
    inputs are therefore computed in float32 (the result has the input's dtype).

    Args:
        log_probs: log-probabilities over the ``C`` classes (blank included) per frame.
        targets: labels, padded ``(B, S)`` (padding ignored) or concatenated
            ``(sum(target_lengths),)``; never the blank.
        input_lengths: frames used per sequence, each ``<= T``.
        target_lengths: labels per sequence.
        blank: index of the blank class. Default ``0``.
        reduction: ``"mean"`` (each loss divided by its target length, then the batch mean),
            ``"sum"`` or ``"none"``. Default ``"mean"``.
        zero_infinity: replace infinite losses (and their gradients) by zero. Default ``False``.

    Shape:
        - ``log_probs``: :math:`(T, B, C)` or unbatched :math:`(T, C)`.
        - ``targets``: :math:`(B, S)` or :math:`(\sum_b S_b)`; unbatched :math:`(S)`.
        - ``input_lengths``, ``target_lengths``: :math:`(B)` (unbatched: a scalar).
        - Output: scalar, or :math:`(B)` for ``"none"`` (unbatched: a scalar).

    Example:
        >>> lp = torch.randn(6, 2, 4).log_softmax(2)
        >>> loss = ctc_loss(lp, torch.tensor([[1, 2], [3, 3]]), [6, 5], [2, 2])
        >>> bool(torch.isclose(loss, torch.nn.functional.ctc_loss(
        ...     lp, torch.tensor([[1, 2], [3, 3]]), [6, 5], [2, 2])))
        True

    Notes: R10.
    """
    if reduction not in _REDUCTIONS:
        raise ConfigError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if log_probs.dim() not in (2, 3):
        raise ShapeError(f"log_probs must be (T, B, C) or (T, C), "
                         f"got shape {tuple(log_probs.shape)}")
    unbatched = log_probs.dim() == 2
    if unbatched:
        log_probs = log_probs.unsqueeze(1)  # (T, 1, C)
        if targets.dim() == 1:
            targets = targets.unsqueeze(0)  # (1, S)
    out_dtype = log_probs.dtype
    if log_probs.dtype in (torch.float16, torch.bfloat16):
        log_probs = log_probs.float()  # -1e30 ("log 0" below) does not fit in half precision
    T, B, C = log_probs.shape
    if not 0 <= blank < C:
        raise ConfigError(f"blank must be a class index in [0, {C}), got {blank}")
    in_len = _lengths("input_lengths", input_lengths, B, unbatched)
    tg_len = _lengths("target_lengths", target_lengths, B, unbatched)
    if B and int(in_len.max()) > T:
        raise ConfigError(f"input_lengths must be at most T = {T}, got {in_len.tolist()}")
    padded = _padded_targets(targets, tg_len, B, blank, C).to(log_probs.device)  # (B, S)
    in_len, tg_len = in_len.to(log_probs.device), tg_len.to(log_probs.device)
    S = padded.shape[1]
    S_ext = 2 * S + 1

    # extended labels l' = (∅, l1, ∅, l2, ..., lS, ∅)
    ext = torch.full((B, S_ext), blank, dtype=torch.long, device=log_probs.device)
    ext[:, 1::2] = padded  # (B, S')
    # skip_s = (l'_s ≠ ∅) ∧ (l'_s ≠ l'_{s-2}): only label states s = 3, 5, ... can be skipped into
    skip = torch.zeros(B, S_ext, dtype=torch.bool, device=log_probs.device)
    skip[:, 3::2] = padded[:, 1:] != padded[:, :-1]
    # log y^t_{l'_s} for every frame and state
    emit = log_probs.gather(2, ext.unsqueeze(0).expand(T, B, S_ext))  # (T, B, S')

    # "log 0" is a large finite negative number during the recursion: an all-(-inf) ⊕ would
    # give nan gradients (states no path reaches yet are everywhere in α); -inf log-probabilities
    # are floored to it too. A final value that low means no alignment exists (loss inf).
    low = -1e30
    emit = emit.clamp_min(low)
    # 0 where s may be entered from s - 2, "log 0" where not
    skip_add = torch.where(skip, 0.0, low).to(log_probs.dtype)  # (B, S')
    pad = torch.full((B, 2), low, dtype=log_probs.dtype, device=log_probs.device)
    # α before the first frame: all mass on a virtual start that feeds states 0 and 1 at t = 0
    alpha = torch.cat([torch.zeros_like(pad[:, :1]), pad[:, :1].expand(B, S_ext - 1)], dim=1)
    alphas = [alpha]
    for t in range(T):
        shifted = torch.cat([pad, alpha], dim=1)  # (B, S' + 2): α_{t-1}(s - 2) at index s
        # α_t(s) = (α_{t-1}(s) ⊕ α_{t-1}(s-1) ⊕ [skip_s] α_{t-1}(s-2)) + log y^t_{l'_s}
        alpha = _log_add(_log_add(alpha, shifted[:, 1:-1]), shifted[:, :-2] + skip_add) + emit[t]
        alphas.append(alpha)
    # each sequence's α at its own last frame (input length 0: the start state)
    alphas = torch.stack(alphas)  # (T + 1, B, S'): before the first frame, after each frame
    alpha = alphas.gather(0, in_len.view(1, B, 1).expand(1, B, S_ext)).squeeze(0)  # (B, S')

    # log p(l|x) = α_{T-1}(S'-1) ⊕ α_{T-1}(S'-2): end on the last blank or on the last label
    last_blank = alpha.gather(1, (2 * tg_len).unsqueeze(1)).squeeze(1)  # (B,)
    last_label = alpha.gather(1, (2 * tg_len - 1).clamp_min(0).unsqueeze(1)).squeeze(1)  # (B,)
    last_label = torch.where(tg_len > 0, last_label, low)
    log_p = _log_add(last_blank, last_label)  # (B,)
    # no alignment reaches the end: p = 0 (the where also gives such a sample zero gradient)
    log_p = torch.where(log_p > low / 2, log_p, -math.inf)
    # L = -log p(l|x)
    loss = -log_p
    if zero_infinity:
        loss = torch.where(torch.isinf(loss), torch.zeros_like(loss), loss)
    if reduction == "mean":
        # each loss per label, then the batch mean (as torch)
        loss = (loss / tg_len.clamp_min(1).to(loss.dtype)).mean()
    elif reduction == "sum":
        loss = loss.sum()
    elif unbatched:
        loss = loss.squeeze(0)
    return loss.to(out_dtype)


def ctc_collapse(path: Sequence[int] | Tensor, blank: int = 0) -> tuple[int, ...]:
    r"""The CTC many-to-one map :math:`\mathcal B`: merge repeated symbols, then drop blanks.

    Args:
        path: one symbol per frame.
        blank: index of the blank. Default ``0``.

    Returns:
        the labelling as a tuple.

    Example:
        >>> ctc_collapse([1, 1, 0, 1, 2, 2, 0], blank=0)
        (1, 1, 2)

    Notes: R10.
    """
    seq = path.tolist() if isinstance(path, Tensor) else list(path)
    # merge repeats: keep a symbol only when it differs from the previous frame's
    merged = [s for i, s in enumerate(seq) if i == 0 or s != seq[i - 1]]
    return tuple(int(s) for s in merged if s != blank)


def ctc_alignments(target: Sequence[int], num_frames: int, blank: int = 0) -> list[tuple[int, ...]]:
    r"""Every frame-level path of length ``num_frames`` that collapses to ``target`` (brute force).

    Enumerates all :math:`(|\text{distinct labels}| + 1)^T` paths over the blank and the target's
    labels and keeps those with :math:`\mathcal B(\pi) = \mathbf l`; only for tiny ``T``.

    Args:
        target: the labelling (no blanks).
        num_frames: path length :math:`T` (at most 12).
        blank: index of the blank. Default ``0``.

    Returns:
        the paths, in lexicographic order (empty when ``T`` is too short for the target).

    Example:
        >>> ctc_alignments([1], 2)
        [(0, 1), (1, 0), (1, 1)]

    Notes: R10 (all alignments).
    """
    target = tuple(int(s) for s in target)
    if blank in target:
        raise ConfigError(f"target {list(target)} contains the blank {blank}; give labels only")
    if not 0 <= num_frames <= 12:
        raise ConfigError(f"num_frames must be in [0, 12] for brute-force enumeration, "
                          f"got {num_frames}")
    symbols = sorted({blank, *target})
    return [p for p in itertools.product(symbols, repeat=num_frames)
            if ctc_collapse(p, blank) == target]


def ctc_brute_force_log_prob(log_probs: Tensor, target: Sequence[int], blank: int = 0) -> Tensor:
    r""":math:`\log p(\mathbf l \mid x)` by summing over every enumerated alignment.

    .. math::
        \log p(\mathbf l \mid x) = \log \sum_{\pi \in \mathcal B^{-1}(\mathbf l)}
                                   \exp \sum_t \log y^t_{\pi_t}

    The slow definition the forward algorithm must equal; ``-inf`` when no alignment exists.

    Args:
        log_probs: per-frame log-probabilities of one sequence.
        target: the labelling.
        blank: index of the blank. Default ``0``.

    Shape:
        - ``log_probs``: :math:`(T, C)`. Output: scalar.

    Example:
        >>> lp = torch.tensor([[0.6, 0.4], [0.6, 0.4]]).log()
        >>> ctc_brute_force_log_prob(lp, [1]).exp()  # aa + a∅ + ∅a
        tensor(0.6400)

    Notes: R10.
    """
    if log_probs.dim() != 2:
        raise ShapeError(f"log_probs must be (T, C) for one sequence, got {tuple(log_probs.shape)}")
    paths = ctc_alignments(target, log_probs.shape[0], blank)
    if not paths:
        return torch.tensor(-math.inf, dtype=log_probs.dtype)
    idx = torch.tensor(paths, dtype=torch.long)  # (P, T)
    frames = torch.arange(log_probs.shape[0])
    # Σ_t log y^t_{π_t} for each path, then log Σ over paths
    return torch.logsumexp(log_probs[frames, idx].sum(dim=1), dim=0)
