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
:math:`\sum m`, the true mean over valid tokens.

Notes: S2 (masked cross-entropy), S1 (valid lengths).
"""

from __future__ import annotations

import torch
from torch import Tensor

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.functional.losses import cross_entropy

__all__ = ["masked_cross_entropy", "sequence_mask"]


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


def masked_cross_entropy(logits: Tensor, target: Tensor, valid_len: Tensor,
                         label_smoothing: float = 0.0, reduction: str = "mean",
                         fused: bool = True) -> Tensor:
    r"""Cross-entropy of a padded batch of sequences, averaged over the valid tokens only.

    .. math::
        L = \frac{\sum_{b,t} m_{b,t}\,\ell_{b,t}}{\sum_{b,t} m_{b,t}}, \qquad
        \ell_{b,t} = -(1-\varepsilon)\log p_{b,t,y_{b,t}}
        - \frac{\varepsilon}{V}\sum_{v}\log p_{b,t,v}

    with :math:`m = ` :func:`sequence_mask` ``(valid_len, T)`` and
    :math:`p = \mathrm{softmax}(z)` over the vocabulary. Padded positions contribute neither
    to the sum nor to the count (the d2l package's loss divides by T; see the module docstring).

    Args:
        logits: unnormalised scores, class dimension **last** (a decoder's output).
        target: token indices; any value at padded positions (ignored).
        valid_len: valid tokens per row.
        label_smoothing: :math:`\varepsilon \in [0, 1]`. Default ``0``.
        reduction: ``"mean"`` (over valid tokens, default), ``"sum"`` (over valid tokens) or
            ``"none"`` (the :math:`(B, T)` per-token losses, zero at padding).
        fused: ``True`` (default) computes :math:`\ell` with torch's fused cross-entropy
            kernel; ``False`` with our :func:`~deepnotes.functional.cross_entropy` formula.

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
    mask = sequence_mask(valid_len.to(logits.device), T)  # (B, T)
    # padded targets may hold any index: point them at class 0 so the gather stays in range
    safe_target = torch.where(mask, target, torch.zeros_like(target))
    # ℓ[b, t] per token; the class dim moves to 1 as cross_entropy expects
    ce = torch.nn.functional.cross_entropy if fused else cross_entropy
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
