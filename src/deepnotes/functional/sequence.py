r"""Padded sequences: the valid-length mask and cross-entropy over valid tokens only.

A minibatch of target sentences is padded to one length T; ``valid_len[b]`` counts the real
tokens of row b (``<eos>`` included). The loss of a seq2seq model must ignore the padding:

.. math::
    m_{b,t} = [t < \text{valid\_len}_b], \qquad
    L = \frac{\sum_{b,t} m_{b,t}\, \ell_{b,t}}{\sum_{b,t} m_{b,t}}, \qquad
    \ell_{b,t} = -\log \mathrm{softmax}(z_{b,t})_{y_{b,t}}

The d2l package's ``MaskedSoftmaxCELoss`` zeroes the padded terms but then takes
``.mean(dim=1)``, i.e. divides by T instead of by the number of valid tokens, so short
sentences in a long-padded batch count for less. :func:`masked_cross_entropy` divides by
:math:`\sum m`, the true mean over valid tokens. :func:`fused_masked_cross_entropy` is the
same sum with torch's cross-entropy kernel for :math:`\ell`;
:class:`deepnotes.nn.MaskedCrossEntropyLoss` picks one of the two (``fused=``).

A bidirectional RNN over such a batch must read each row backwards from its *own* last valid
token, not from the padding: :func:`reverse_padded` reverses the valid part of every row.

Notes: S2 (masked cross-entropy), S1 (valid lengths), R4 (bidirectional RNN).
"""

from __future__ import annotations

import torch
import torch.nn.functional as TF
from torch import Tensor

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.functional.losses import cross_entropy

__all__ = ["fused_masked_cross_entropy", "masked_cross_entropy", "reverse_padded",
           "sequence_mask"]


def sequence_mask(valid_len: Tensor, max_len: int) -> Tensor:
    r"""Boolean mask of the valid positions of padded sequences.

    .. math::
        m_{b,t} = [\,t < \text{valid\_len}_b\,], \qquad t = 0, \dots, T-1

    Args:
        valid_len: number of valid tokens of each row (integers, may exceed ``max_len``).
        max_len: T, the padded length.

    Shape:
        - valid_len: :math:`(B,)`. Output: :math:`(B, T)` bool.

    Example:
        >>> sequence_mask(torch.tensor([1, 3, 0]), 3)
        tensor([[ True, False, False],
                [ True,  True,  True],
                [False, False, False]])

    Notes: S1, S2.
    """
    if valid_len.dim() != 1:
        raise ShapeError(f"valid_len must be a 1-D tensor (B,), got shape {tuple(valid_len.shape)}")
    if int(max_len) < 0:
        raise ConfigError(f"max_len must be >= 0, got {max_len}")
    steps = torch.arange(int(max_len), device=valid_len.device)  # (T,)
    # m[b, t] = t < valid_len[b]
    return steps[None, :] < valid_len[:, None]  # (B, T)


def reverse_padded(x: Tensor, lengths: Tensor) -> Tensor:
    r"""Reverse the first ``lengths[b]`` steps of every row; the padding stays where it is.

    .. math::
        y_{b,t} = x_{b,\,\ell_b - 1 - t} \ (t < \ell_b), \qquad y_{b,t} = x_{b,t} \ (t \ge \ell_b)

    A bidirectional RNN's backward direction must start at each row's own last valid step:
    reverse the valid part, run left to right, reverse back (:class:`deepnotes.nn.LSTM` does
    this with ``lengths=``). Applying it twice gives ``x`` back.

    Args:
        x: end-padded rows. lengths: valid steps per row, each in ``[0, T]``.

    Shape:
        - x: ``(B, T, *)``; lengths: ``(B,)``. Output: like ``x``.

    Example:
        >>> reverse_padded(torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]]), torch.tensor([3, 2]))
        tensor([[3, 2, 1, 0],
                [5, 4, 0, 0]])

    Notes: R4, S1.
    """
    if x.dim() < 2 or tuple(lengths.shape) != (x.shape[0],):
        raise ShapeError(f"reverse_padded needs x (B, T, *) and lengths (B,), got "
                         f"{tuple(x.shape)} and {tuple(lengths.shape)}")
    T = x.shape[1]
    t = torch.arange(T, device=x.device)[None, :]  # (1, T)
    n = lengths.to(x.device)[:, None]  # (B, 1)
    # source step: ℓ - 1 - t inside the row, t on the padding
    idx = torch.where(t < n, n - 1 - t, t)  # (B, T)
    idx = idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand_as(x)  # (B, T, *)
    return x.gather(1, idx)


def _check_masked_ce(logits: Tensor, target: Tensor, valid_len: Tensor, reduction: str) -> None:
    if logits.dim() != 3:
        raise ShapeError(f"logits must be (B, T, V), got shape {tuple(logits.shape)}")
    B, T, _ = logits.shape
    if tuple(target.shape) != (B, T):
        raise ShapeError(f"target must be (B, T) = {(B, T)} to match logits, got "
                         f"{tuple(target.shape)}")
    if tuple(valid_len.shape) != (B,):
        raise ShapeError(f"valid_len must be (B,) = ({B},), got {tuple(valid_len.shape)}")
    if reduction not in ("mean", "sum", "none"):
        raise ConfigError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _masked_mean(ce, logits: Tensor, target: Tensor, valid_len: Tensor, label_smoothing: float,
                 reduction: str) -> Tensor:
    """Σ m ℓ / Σ m with the per-token cross-entropy ``ce`` (ours or torch's)."""
    _check_masked_ce(logits, target, valid_len, reduction)
    mask = sequence_mask(valid_len.to(logits.device), logits.shape[1])  # (B, T)
    # padded targets may hold any index: point them at class 0 so the gather stays in range
    safe_target = torch.where(mask, target, torch.zeros_like(target))
    # ℓ[b, t] per token; the class dim moves to 1 as cross_entropy expects
    per_token = ce(logits.transpose(1, 2), safe_target, reduction="none",
                   label_smoothing=label_smoothing)  # (B, T)
    # m ⊙ ℓ: padding contributes nothing
    per_token = per_token * mask.to(per_token.dtype)
    if reduction == "none":
        return per_token
    total = per_token.sum()
    if reduction == "sum":
        return total
    # L = Σ m ℓ / Σ m (at least one token, so an all-padding batch gives 0, not NaN)
    return total / mask.sum().clamp(min=1).to(per_token.dtype)


def masked_cross_entropy(logits: Tensor, target: Tensor, valid_len: Tensor,
                         label_smoothing: float = 0.0, reduction: str = "mean") -> Tensor:
    r"""Cross-entropy of a padded batch of sequences, averaged over the valid tokens only.

    .. math::
        L = \frac{\sum_{b,t} m_{b,t}\,\ell_{b,t}}{\sum_{b,t} m_{b,t}}, \qquad
        \ell_{b,t} = -(1-\varepsilon)\log p_{b,t,y_{b,t}}
        - \frac{\varepsilon}{V}\sum_{v}\log p_{b,t,v}

    with :math:`m = ` :func:`sequence_mask` ``(valid_len, T)`` and
    :math:`p = \mathrm{softmax}(z)` over the vocabulary. Padded positions contribute neither
    to the sum nor to the count (the d2l package's loss divides by T; see the module docstring).
    :math:`\ell` is our :func:`~deepnotes.functional.cross_entropy` formula;
    :func:`fused_masked_cross_entropy` computes it with torch's kernel.

    Args:
        logits: unnormalised scores, class dimension **last** (a decoder's output).
        target: token indices; any value at padded positions (ignored).
        valid_len: valid tokens per row.
        label_smoothing: :math:`\varepsilon \in [0, 1]`. Default ``0``.
        reduction: ``"mean"`` (over valid tokens, default), ``"sum"`` (over valid tokens) or
            ``"none"`` (the :math:`(B, T)` per-token losses, zero at padding).

    Shape:
        - logits :math:`(B, T, V)`, target :math:`(B, T)`, valid_len :math:`(B,)`.
        - Output: scalar, or :math:`(B, T)` for ``"none"``.

    Example:
        >>> logits = torch.zeros(2, 3, 4)  # uniform over V = 4: every token costs log 4
        >>> loss = masked_cross_entropy(logits, torch.zeros(2, 3, dtype=torch.long),
        ...                             torch.tensor([1, 2]))
        >>> round(loss.item(), 4)  # log 4, whatever the padding
        1.3863

    Notes: S2.
    """
    return _masked_mean(cross_entropy, logits, target, valid_len, label_smoothing, reduction)


def fused_masked_cross_entropy(logits: Tensor, target: Tensor, valid_len: Tensor,
                               label_smoothing: float = 0.0, reduction: str = "mean") -> Tensor:
    r""":func:`masked_cross_entropy` with :math:`\ell` from torch's fused cross-entropy kernel.

    The same masked mean :math:`\sum m\,\ell / \sum m`, arguments and shapes; only the
    per-token cross-entropy is ``torch.nn.functional.cross_entropy``.

    Example:
        >>> loss = fused_masked_cross_entropy(torch.zeros(2, 3, 4),
        ...                                   torch.zeros(2, 3, dtype=torch.long),
        ...                                   torch.tensor([1, 2]))
        >>> round(loss.item(), 4)
        1.3863

    Notes: S2.
    """
    return _masked_mean(TF.cross_entropy, logits, target, valid_len, label_smoothing, reduction)
