r"""Spectral normalisation (SNGAN): divide a weight by its largest singular value.

A discriminator whose dense layers each have spectral norm at most 1 is 1-Lipschitz (for
1-Lipschitz activations), the constraint WGAN needs, without clipping weights and without a
gradient penalty. (For a convolution, σ of the reshaped kernel matrix can understate the
layer's Lipschitz constant by up to about √(k_h k_w): SNGAN's bound is approximate there.) The largest singular value :math:`\sigma(W)` is estimated by power
iteration, one step per training forward, carrying the vectors :math:`u, v` over from step to
step (Miyato et al., 2018):

.. math::
    u \leftarrow \frac{W v}{\lVert W v\rVert},\qquad
    v \leftarrow \frac{W^\top u}{\lVert W^\top u\rVert},\qquad
    \sigma(W) \approx u^\top W v,\qquad \bar W = W / \sigma(W)

The weight is reshaped to a matrix with the output dimension as rows (dimension 1 for a
transposed convolution, whose weight is ``(C_in, C_out, k, k)``). Registered as a
``torch.nn.utils.parametrize`` parametrisation with torch's buffer names (``_u``, ``_v``) and
torch's order of random draws and iterations, so a model built with ours and one built with
``torch.nn.utils.parametrizations.spectral_norm`` from the same seed compute the same σ and
outputs, and their state dicts load into each other.

Notes: N4 (spectral normalisation).
"""

from __future__ import annotations

import torch
import torch.nn.functional as TF
from torch import Tensor, nn
from torch.nn.utils import parametrize

from deepnotes.errors import ConfigError

__all__ = ["SpectralNorm", "spectral_norm", "spectral_norm_sigma"]


class SpectralNorm(nn.Module):
    r"""The parametrisation :math:`W \mapsto W / \sigma(W)`, σ by power iteration.

    Args:
        weight: the weight it will normalise (for the shapes of ``u`` and ``v``).
        n_power_iterations: power steps per training forward. Default ``1``.
        dim: the output dimension (rows of the matrix). Default ``0``.
        eps: added to norms before dividing. Default ``1e-12``.

    At construction ``u, v`` are random unit vectors refined by 15 power steps (as torch).
    In ``eval()`` mode σ is computed from the stored ``u, v`` without updating them.

    Notes: N4.
    """

    def __init__(self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0,
                 eps: float = 1e-12) -> None:
        super().__init__()
        if n_power_iterations < 1:
            raise ConfigError(f"n_power_iterations must be >= 1, got {n_power_iterations}")
        self.dim = dim if dim >= 0 else dim + weight.ndim
        self.eps = eps
        self.n_power_iterations = n_power_iterations
        if weight.ndim > 1:
            mat = self._matrix(weight)  # (rows, cols)
            h, w = mat.shape
            u = mat.new_empty(h).normal_(0, 1)
            v = mat.new_empty(w).normal_(0, 1)
            self.register_buffer("_u", TF.normalize(u, dim=0, eps=eps))  # (rows,)
            self.register_buffer("_v", TF.normalize(v, dim=0, eps=eps))  # (cols,)
            self._power_method(mat, 15)

    def _matrix(self, weight: Tensor) -> Tensor:
        """The weight as a matrix whose rows index dimension ``dim``."""
        if self.dim != 0:
            weight = weight.permute(self.dim, *(d for d in range(weight.ndim) if d != self.dim))
        return weight.flatten(1)

    @torch.no_grad()
    def _power_method(self, mat: Tensor, steps: int) -> None:
        for _ in range(steps):
            # u ← W v / ‖W v‖, then v ← Wᵀu / ‖Wᵀu‖ (in place: the buffers carry over)
            self._u = TF.normalize(mat @ self._v, dim=0, eps=self.eps, out=self._u)
            self._v = TF.normalize(mat.mH @ self._u, dim=0, eps=self.eps, out=self._v)

    def forward(self, weight: Tensor) -> Tensor:
        if weight.ndim == 1:  # a vector's only singular value is its norm
            return TF.normalize(weight, dim=0, eps=self.eps)
        mat = self._matrix(weight)
        if self.training:
            self._power_method(mat, self.n_power_iterations)
        # copies, so autograd sees constants even if the buffers change in place later
        u = self._u.clone(memory_format=torch.contiguous_format)
        v = self._v.clone(memory_format=torch.contiguous_format)
        # σ(W) ≈ uᵀ W v
        sigma = torch.vdot(u, mat @ v)
        return weight / sigma


def spectral_norm(module: nn.Module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim: int | None = None) -> nn.Module:
    """Register :class:`SpectralNorm` on ``module.<name>`` and return ``module``.

    ``dim`` defaults to 1 for transposed convolutions (ours and torch's) and 0 otherwise; the
    raw weight is kept as ``module.parametrizations.<name>.original``.

    Example:
        >>> layer = spectral_norm(nn.Linear(20, 10))
        >>> w = layer.weight  # normalised on every access
        >>> bool(abs(torch.linalg.matrix_norm(w.detach(), 2) - 1) < 0.05)
        True

    Notes: N4.
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ConfigError(f"module {type(module).__name__} has no parameter or buffer {name!r}")
    if dim is None:
        from deepnotes.nn.conv import ConvTranspose2d

        transposed = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d, ConvTranspose2d)
        dim = 1 if isinstance(module, transposed) else 0
    parametrize.register_parametrization(module, name,
                                         SpectralNorm(weight, n_power_iterations, dim, eps))
    return module


def spectral_norm_sigma(module: nn.Module, name: str = "weight") -> float:
    """The current σ estimate ``uᵀ W v`` of a module normalised by :func:`spectral_norm`."""
    sn = getattr(module.parametrizations, name)[0]
    raw = getattr(module.parametrizations, name).original
    with torch.no_grad():
        return float(torch.vdot(sn._u, sn._matrix(raw) @ sn._v))
