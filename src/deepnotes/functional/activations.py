"""Activation functions written from their formulas: sigmoid, tanh, ReLU, hard sigmoid, GELU.

Formulas that take an activation *by name* (an RNN's nonlinearity, a Jordan network's output)
look it up in :data:`ACTIVATION_FUNCTIONS` through :func:`activation_function`, the one
name -> function table of :mod:`deepnotes.functional` (the layers' table, name -> module, is
:data:`deepnotes.nn.activation.ACTIVATIONS`).

Notes: B5 (hard sigmoid from two ReLUs), B6 (activations).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as TF
from torch import Tensor

from deepnotes.errors import ConfigError

__all__ = ["sigmoid", "tanh", "relu", "hard_sigmoid", "gelu", "ACTIVATION_FUNCTIONS",
           "activation_function"]


def _abs(x: Tensor) -> Tensor:
    # |x| with derivative +1 at x = 0, so the branch formulas below stay differentiable there
    return torch.where(x >= 0, x, -x)


def sigmoid(x: Tensor) -> Tensor:
    r"""Logistic sigmoid, stable for large :math:`|x|`.

    .. math::
        \sigma(x) = \frac{1}{1 + e^{-x}} =
        \begin{cases} \frac{1}{1 + e^{-|x|}} & x \ge 0 \\
                      \frac{e^{-|x|}}{1 + e^{-|x|}} & x < 0 \end{cases}

    Only :math:`e^{-|x|} \in (0, 1]` is ever computed, so nothing overflows (``x = -1000``
    gives ``0``, not ``nan``).

    Args:
        x: input of any shape.

    Shape:
        - Input: ``(*)``. Output: ``(*)``, same shape.

    Example:
        >>> sigmoid(torch.tensor([-1000.0, 0.0, 1000.0]))
        tensor([0.0000, 0.5000, 1.0000])

    Notes: B6.
    """
    # z = e^{-|x|}
    z = torch.exp(-_abs(x))
    # σ(x) = 1/(1+z) for x ≥ 0,  z/(1+z) for x < 0
    return torch.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


def tanh(x: Tensor) -> Tensor:
    r"""Hyperbolic tangent from exponentials, stable for large :math:`|x|`.

    .. math::
        \tanh(x) = \frac{e^{x} - e^{-x}}{e^{x} + e^{-x}}
                 = \operatorname{sign}(x)\,\frac{1 - e^{-2|x|}}{1 + e^{-2|x|}}

    ``1 - e^{-2|x|}`` is computed as ``-expm1(-2|x|)`` so small inputs keep full precision.

    Args:
        x: input of any shape.

    Shape:
        - Input: ``(*)``. Output: ``(*)``, same shape.

    Example:
        >>> tanh(torch.tensor([-1000.0, 0.0, 1000.0]))
        tensor([-1.,  0.,  1.])

    Notes: B6.
    """
    # e = e^{-2|x|} - 1  (expm1 keeps precision near 0)
    e = torch.expm1(-2.0 * _abs(x))
    # tanh|x| = (1 - e^{-2|x|}) / (1 + e^{-2|x|}) = -e / (2 + e)
    t = -e / (2.0 + e)
    # tanh(x) = sign(x) · tanh|x|
    return torch.where(x >= 0, t, -t)


def relu(x: Tensor) -> Tensor:
    r"""Rectified linear unit :math:`\mathrm{ReLU}(x) = \max(x, 0)`.

    The derivative is taken as 0 at ``x = 0`` (as in PyTorch).

    Args:
        x: input of any shape.

    Shape:
        - Input: ``(*)``. Output: ``(*)``, same shape.

    Example:
        >>> relu(torch.tensor([-2.0, 0.0, 3.0]))
        tensor([0., 0., 3.])

    Notes: B6.
    """
    # ReLU(x) = max(x, 0)
    return torch.where(x > 0, x, torch.zeros_like(x))


def hard_sigmoid(
    x: Tensor, c: float | Tensor = 1.0, b: float | Tensor = 0.0, w: float | Tensor = 1.0
) -> Tensor:
    r"""Hard sigmoid built from two ReLUs, as in the notes ("两个 relu 合成一个 hard sigmoid").

    .. math::
        \mathrm{hard\_sigmoid}(x) = c\,\big[\mathrm{ReLU}(b + w x) - \mathrm{ReLU}(b + w x - 1)\big]
                                  = c \cdot \min(\max(b + w x,\ 0),\ 1)

    i.e. a ramp that is ``0`` while ``b + w x <= 0``, rises linearly with slope ``c·w`` and
    stays at ``c`` once ``b + w x >= 1``. Summing many of them (plus a constant) approximates
    any piecewise-linear curve; this is the notes' path from sigmoids to a network.

    Args:
        x: input of any shape.
        c: height of the plateau (default ``1.0``). A float or a tensor that broadcasts with ``x``
            (so a model may learn it).
        b: bias of the ramp (default ``0.0``).
        w: slope of the ramp (default ``1.0``).

    Shape:
        - Input: ``(*)``. Output: ``(*)`` broadcast with ``c``, ``b``, ``w``.

    Example:
        >>> hard_sigmoid(torch.tensor([-1.0, 0.25, 0.5, 2.0]), c=2.0)
        tensor([0.0000, 0.5000, 1.0000, 2.0000])

    Notes: B5.
    """
    # z = b + w·x
    z = b + w * x
    # c·[ReLU(z) - ReLU(z - 1)]
    return c * (relu(z) - relu(z - 1.0))


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    r"""Gaussian error linear unit, exact (erf) or tanh approximation, as torch's ``gelu``.

    .. math::
        \mathrm{GELU}(x) = x\,\Phi(x) = \tfrac12 x\left(1 + \operatorname{erf}(x/\sqrt2)\right)

        \mathrm{GELU}_{\tanh}(x) = \tfrac12 x\left(1 + \tanh\!\left(\sqrt{2/\pi}\,
                                   (x + 0.044715\,x^3)\right)\right)

    Args:
        x: input of any shape.
        approximate: ``"none"`` (erf form, BERT) or ``"tanh"`` (GPT-2). Default ``"none"``.

    Shape:
        - Input: ``(*)``. Output: ``(*)``, same shape.

    Example:
        >>> gelu(torch.tensor([0.0, 1.0]))
        tensor([0.0000, 0.8413])

    Notes: B6.
    """
    if approximate == "none":
        # ½·x·(1 + erf(x/√2))
        return 0.5 * x * (1.0 + torch.erf(x * (1.0 / math.sqrt(2.0))))
    if approximate == "tanh":
        # ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
        return 0.5 * x * (1.0 + tanh(inner))
    raise ConfigError(f"gelu approximate must be 'none' or 'tanh', got {approximate!r}")


def _identity(x: Tensor) -> Tensor:
    return x


def _softmax_last(x: Tensor) -> Tensor:
    return torch.softmax(x, dim=-1)


# name -> element-wise map, for formulas that take their activation by name. These are torch's
# ops (the primitives the recurrent cells are built from, like the gates' σ and tanh), so a
# formula keeps torch's numbers; the from-formula versions above are tested against them.
ACTIVATION_FUNCTIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "identity": _identity,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "gelu": TF.gelu,
    "softmax": _softmax_last,  # over the last dim (a distribution per row)
}


def activation_function(name: str, choices: Sequence[str] | None = None,
                        what: str = "activation") -> Callable[[Tensor], Tensor]:
    """The function called ``name`` in :data:`ACTIVATION_FUNCTIONS`.

    Args:
        name: a key of :data:`ACTIVATION_FUNCTIONS`.
        choices: the names the caller accepts (default: all).
        what: the argument's name, for the error message.

    Raises:
        ConfigError: naming the argument, the valid choices and the bad value.

    Example:
        >>> activation_function("tanh", ("tanh", "relu"))(torch.zeros(2))
        tensor([0., 0.])

    Notes: B6.
    """
    allowed = sorted(ACTIVATION_FUNCTIONS if choices is None else choices)
    if name not in allowed or name not in ACTIVATION_FUNCTIONS:
        raise ConfigError(f"{what} must be one of {allowed}, got {name!r}")
    return ACTIVATION_FUNCTIONS[name]
