r"""How sharp a minimum is: the loss increase under random weight perturbations of a fixed size.

A flat minimum keeps its loss when the weights move a little, a sharp one does not (Keskar et
al., 2017: large-batch training tends to end in sharper minima, which generalise worse). With
:math:`\theta` the parameters and :math:`\delta_1, \ldots, \delta_n` random perturbations of
radius :math:`\rho`,

.. math::
    S_\rho(\theta) = \frac1n \sum_{i=1}^n \Big[\frac{L(\theta + \delta_i)
    + L(\theta - \delta_i)}{2} - L(\theta)\Big]
    \;\approx\; \frac12\,\overline{\delta^\top H \delta}
    \;=\; \frac{r^2}{2}\,\frac{\operatorname{tr} H}{P} \quad\text{in expectation}

(:math:`P` parameters, :math:`\|\delta_i\| = r`, directions uniform on the sphere). Each
direction is used both ways (antithetic pairs): the gradient term :math:`g^\top\delta` cancels
exactly, so :math:`S_\rho` measures curvature even where the gradient is not quite zero, and
with far less noise than one-sided samples (``antithetic=False``: :math:`L(\theta+\delta_i)`
only, the same expectation). So :math:`S_\rho` averages the curvature over all
directions where the top Hessian eigenvalue (:func:`deepnotes.analysis.extreme_eigenpairs`)
measures the single sharpest one. The radius is relative to the weights, because the loss of a
network with batch normalisation does not change when the weights feeding a BN layer are
scaled, so only a perturbation measured against the weights' own size means the same thing at
two minima:

- ``relative="layer"`` (default): every parameter tensor :math:`W_l` gets its own random
  direction with :math:`\|\delta_l\| = \rho\,\|W_l\|`;
- ``relative="global"``: one direction for the flat vector, :math:`\|\delta\| = \rho\,\|\theta\|`;
- ``relative="none"``: :math:`\|\delta\| = \rho`.

Example:
    >>> w = torch.tensor([3.0, 4.0], dtype=torch.float64, requires_grad=True)
    >>> bowl = lambda: 0.5 * 2.0 * ((w - torch.tensor([3.0, 4.0])) ** 2).sum()  # H = 2 I
    >>> s = perturbation_sharpness(bowl, [w], radius=0.1, num_samples=4, relative="global")
    >>> round(s.mean, 12)  # ½ · 2 · (0.1 · ‖w‖)² = 0.25 in every direction
    0.25

Notes: O2 (sharp vs flat minima).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch
from torch import Tensor, nn

from deepnotes.analysis.hessian import Closure, parameters_of
from deepnotes.errors import ConfigError

__all__ = ["PerturbationSharpness", "perturbation_sharpness"]

RELATIVE = ("layer", "global", "none")


@dataclass
class PerturbationSharpness:
    """What :func:`perturbation_sharpness` measured.

    Attributes:
        loss: :math:`L(\\theta)` at the unperturbed weights.
        increases: :math:`\\tfrac12[L(\\theta + \\delta_i) + L(\\theta - \\delta_i)] -
            L(\\theta)` (``antithetic=False``: :math:`L(\\theta + \\delta_i) - L(\\theta)`) for
            each sample, ``(n,)``.
        radius: :math:`\\rho`. relative: how the radius was scaled (see the module docstring).
    """

    loss: float
    increases: Tensor
    radius: float
    relative: str

    @property
    def mean(self) -> float:
        """:math:`S_\\rho`, the mean loss increase."""
        return float(self.increases.mean())

    @property
    def std(self) -> float:
        """Standard deviation of the increases over the samples (0 for one sample)."""
        return float(self.increases.std()) if self.increases.numel() > 1 else 0.0


def perturbation_sharpness(closure: Closure, params: Iterable[Tensor] | nn.Module,
                           radius: float, num_samples: int = 10, *, relative: str = "layer",
                           antithetic: bool = True, seed: int = 0) -> PerturbationSharpness:
    r"""Mean loss increase :math:`S_\rho` under random perturbations of radius ``radius``.

    .. math::
        S_\rho = \frac1n \sum_{i=1}^n \tfrac12\big[L(\theta + \delta_i)
        + L(\theta - \delta_i)\big] - L(\theta), \qquad
        \delta_{i,l} = \rho\,\|W_l\|\,\frac{u_{i,l}}{\|u_{i,l}\|},\quad u_{i,l} \sim
        \mathcal N(0, I)

    (``relative="layer"``; ``"global"`` draws one :math:`u_i` for all parameters and scales it
    to :math:`\rho\|\theta\|`, ``"none"`` to :math:`\rho`). The parameters are restored
    afterwards, also on an error. Evaluated without gradients: put a model in ``eval()`` mode
    first if it has dropout or batch normalisation.

    Args:
        closure: computes the loss from the current parameters (e.g.
            :func:`deepnotes.analysis.model_closure` on a fixed batch).
        params: the tensors to perturb, or an ``nn.Module`` (its parameters).
        radius: :math:`\rho > 0`.
        num_samples: :math:`n \ge 1` random directions. Default: ``10``.
        relative: ``"layer"`` (default), ``"global"`` or ``"none"``.
        antithetic: evaluate :math:`\pm\delta_i` and average (default ``True``; ``2n`` loss
            evaluations); ``False``: :math:`+\delta_i` only.
        seed: seed of the random directions (a private generator). Default: ``0``.

    Returns:
        a :class:`PerturbationSharpness` (``.mean`` is :math:`S_\rho`).

    Example:
        >>> a = torch.tensor([1.0, 1.0], requires_grad=True)
        >>> s = perturbation_sharpness(lambda: (a ** 2).sum(), [a], radius=1e-3, num_samples=3)
        >>> s.increases.shape, s.loss
        (torch.Size([3]), 2.0)

    Notes: O2.
    """
    if not radius > 0:
        raise ConfigError(f"radius must be > 0, got {radius}")
    if int(num_samples) < 1:
        raise ConfigError(f"num_samples must be >= 1, got {num_samples}")
    if relative not in RELATIVE:
        raise ConfigError(f"relative must be one of {', '.join(RELATIVE)}, got {relative!r}")
    ps = parameters_of(params)
    saved = [p.detach().clone() for p in ps]
    gen = torch.Generator().manual_seed(seed)
    increases = []
    try:
        with torch.no_grad():
            base = float(closure())
            theta_norm = torch.sqrt(sum((w.double() ** 2).sum() for w in saved))
            for _ in range(int(num_samples)):
                u = [torch.randn(w.shape, generator=gen, dtype=w.dtype).to(w.device)
                     for w in saved]
                if relative == "layer":
                    # δ_l = ρ ‖W_l‖ u_l / ‖u_l‖, one direction per tensor
                    deltas = [radius * w.norm() * d / d.norm().clamp_min(1e-30)
                              for w, d in zip(saved, u)]
                else:
                    u_norm = torch.sqrt(sum((d.double() ** 2).sum() for d in u))
                    # δ = r u / ‖u‖ with r = ρ‖θ‖ (global) or ρ (none)
                    r = radius * (theta_norm if relative == "global" else 1.0)
                    deltas = [(r / u_norm).to(d.dtype) * d for d in u]
                losses = []
                for sign in ((1.0, -1.0) if antithetic else (1.0,)):
                    for p, w, d in zip(ps, saved, deltas):
                        p.copy_(w + sign * d)
                    losses.append(float(closure()))
                # ½[L(θ+δ) + L(θ−δ)] − L(θ): the odd (gradient) terms cancel
                increases.append(sum(losses) / len(losses) - base)
    finally:
        with torch.no_grad():
            for p, w in zip(ps, saved):
                p.copy_(w)
    return PerturbationSharpness(base, torch.tensor(increases, dtype=torch.float64),
                                 float(radius), relative)
