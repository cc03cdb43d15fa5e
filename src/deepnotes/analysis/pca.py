r"""Principal component analysis from the formula: the linear baseline of an auto-encoder.

With the data :math:`X \in \mathbb R^{N \times D}` (one example per row), its mean
:math:`\mu = \frac1N \sum_i x_i` and the centred data :math:`X_c = X - \mathbf 1 \mu^\top`,
the thin SVD :math:`X_c = U S V^\top` orders the directions by the variance they carry
(:math:`s_j^2 / N`). PCA with :math:`k` components keeps the top-:math:`k` right singular
vectors :math:`V_k \in \mathbb R^{D \times k}`:

.. math::
    z = V_k^\top (x - \mu) \in \mathbb R^k, \qquad \hat x = \mu + V_k z
      = \mu + V_k V_k^\top (x - \mu)

Among all rank-:math:`k` affine reconstructions of the training data this one has the lowest
squared error (Eckart–Young), :math:`\sum_i \lVert x_i - \hat x_i \rVert^2 = \sum_{j > k}
s_j^2`. It is the encoder :math:`z = V_k^\top(x - \mu)` and decoder :math:`\hat x = \mu +
V_k z` of a linear auto-encoder, which is why a linear auto-encoder trained on the squared
error ends at PCA's reconstruction error (Baldi & Hornik, 1989); a non-linear auto-encoder
can do better at the same code size :math:`k`.

Notes: N8 (PCA, the linear auto-encoder).
"""

from __future__ import annotations

import torch
from torch import Tensor

from deepnotes.errors import ConfigError, ShapeError

__all__ = ["pca_decode", "pca_encode", "pca_fit", "pca_reconstruct"]


def _rows(x: Tensor, who: str) -> Tensor:
    x = torch.as_tensor(x)
    if x.dim() < 2 or x.shape[0] < 1:
        raise ShapeError(f"{who} expects examples (N, ...) with N >= 1, got {tuple(x.shape)}")
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    return x.reshape(x.shape[0], -1)  # (N, D)


def pca_fit(x: Tensor, k: int) -> tuple[Tensor, Tensor]:
    r"""The mean and the top-:math:`k` principal directions of ``x``.

    .. math::
        \mu = \tfrac1N \textstyle\sum_i x_i, \qquad X - \mathbf 1\mu^\top = U S V^\top, \qquad
        \text{components} = V_k^\top \text{ (the first } k \text{ rows of } V^\top)

    Each component's sign is fixed so that its entry of largest magnitude is positive (SVD
    leaves the sign open; scikit-learn's ``svd_flip`` decides it the same way from
    :math:`V^\top`).

    Args:
        x: ``(N, ...)`` examples; each is flattened to ``D`` features.
        k: components kept, ``1 <= k <= min(N, D)``.

    Returns:
        ``(mean, components)``: ``(D,)`` and ``(k, D)`` with orthonormal rows, in the dtype of
        ``x``, ordered by decreasing variance.

    Example:
        >>> x = torch.tensor([[0.0, 0.0], [2.0, 2.0], [1.0, 1.0]])
        >>> mean, comps = pca_fit(x, 1)
        >>> mean.tolist(), [round(c, 4) for c in comps[0].tolist()]
        ([1.0, 1.0], [0.7071, 0.7071])

    Notes: N8.
    """
    xs = _rows(x, "pca_fit")
    n, d = xs.shape
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= min(n, d):
        raise ConfigError(f"pca_fit: k must be an integer in [1, min(N, D)] = [1, {min(n, d)}], "
                          f"got {k!r}")
    # μ = (1/N) Σ_i x_i
    mean = xs.mean(dim=0)  # (D,)
    # X_c = X − 1μᵀ = U S Vᵀ  (thin SVD)
    _, _, vh = torch.linalg.svd(xs - mean, full_matrices=False)  # Vᵀ: (min(N, D), D)
    comps = vh[:k]  # (k, D)
    # the sign: the largest-|·| entry of each component is positive
    pivot = comps.gather(1, comps.abs().argmax(dim=1, keepdim=True))  # (k, 1)
    comps = comps * torch.where(pivot < 0, -1.0, 1.0).to(comps.dtype)
    return mean, comps


def _check_fit(mean: Tensor, components: Tensor, d: int, who: str) -> None:
    if mean.shape != (components.shape[-1],) or components.dim() != 2:
        raise ShapeError(f"{who}: mean (D,) and components (k, D) must share D, got "
                         f"{tuple(mean.shape)} and {tuple(components.shape)}")
    if d != mean.shape[0]:
        raise ShapeError(f"{who}: the fit has D = {mean.shape[0]} features, the input {d}")


def pca_encode(x: Tensor, mean: Tensor, components: Tensor) -> Tensor:
    r"""The code :math:`z = V_k^\top (x - \mu)`, ``(N, k)``.

    Example:
        >>> pca_encode(torch.tensor([[3.0, 3.0]]), torch.ones(2), torch.tensor([[0.6, 0.8]]))
        tensor([[2.8000]])

    Notes: N8.
    """
    xs = _rows(x, "pca_encode")
    _check_fit(mean, components, xs.shape[1], "pca_encode")
    # z = V_kᵀ (x − μ)
    return (xs - mean) @ components.T  # (N, k)


def pca_decode(code: Tensor, mean: Tensor, components: Tensor) -> Tensor:
    r"""The reconstruction :math:`\hat x = \mu + V_k z`, ``(N, D)``.

    Example:
        >>> pca_decode(torch.tensor([[2.0]]), torch.ones(2), torch.tensor([[0.6, 0.8]]))
        tensor([[2.2000, 2.6000]])

    Notes: N8.
    """
    if code.dim() != 2 or code.shape[1] != components.shape[0]:
        raise ShapeError(f"pca_decode expects codes (N, {components.shape[0]}), got "
                         f"{tuple(code.shape)}")
    # x̂ = μ + V_k z
    return code @ components + mean  # (N, D)


def pca_reconstruct(x: Tensor, mean: Tensor, components: Tensor) -> Tensor:
    r""":math:`\hat x = \mu + V_k V_k^\top (x - \mu)` in the shape of ``x``.

    Use the first ``j`` rows of ``components`` for PCA with :math:`j \le k` components: the
    top-:math:`j` directions are the same for every :math:`k \ge j`.

    Example:
        >>> x = torch.tensor([[0.0, 0.0], [2.0, 2.0], [1.0, 1.0], [2.0, 0.0]])
        >>> mean, comps = pca_fit(x, 1)
        >>> mean.tolist()  # the first direction is (1, 1)/√2
        [1.25, 0.75]
        >>> pca_reconstruct(torch.tensor([[3.0, 1.0]]), mean, comps)  # μ + (1, 1)
        tensor([[2.2500, 1.7500]])

    Notes: N8.
    """
    return pca_decode(pca_encode(x, mean, components), mean, components).reshape(x.shape)
