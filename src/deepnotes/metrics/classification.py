"""Classification metrics on a batch: each returns the batch *mean* so the Trainer can weight by size.

Notes: B7 (softmax regression is scored by accuracy)."""

from __future__ import annotations

import torch
from torch import Tensor

from deepnotes.errors import ShapeError

__all__ = ["accuracy"]


def accuracy(outputs: Tensor, targets: Tensor) -> Tensor:
    r"""Share of examples whose highest score is the true class.

    .. math::
        \mathrm{acc} = \frac1N \sum_i [\arg\max_c o_{ic} = y_i]

    Args:
        outputs: scores ``(N, C)`` or ``(N, C, d1, ...)`` (class dim 1, like cross-entropy).
        targets: class indices ``(N,)`` or ``(N, d1, ...)``.

    Example:
        >>> accuracy(torch.tensor([[2.0, 1.0], [0.0, 3.0]]), torch.tensor([0, 0]))
        tensor(0.5000)
    """
    if outputs.dim() < 2:
        raise ShapeError(f"accuracy expects scores of shape (N, C, ...), got {tuple(outputs.shape)}")
    expected = tuple(outputs.shape[:1] + outputs.shape[2:])
    if tuple(targets.shape) != expected:
        raise ShapeError(
            f"accuracy with scores of shape {tuple(outputs.shape)} expects targets of shape "
            f"{expected}, got {tuple(targets.shape)}"
        )
    if targets.numel() == 0:
        return torch.tensor(float("nan"))
    return (outputs.argmax(dim=1) == targets).float().mean()
