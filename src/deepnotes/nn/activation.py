"""Activation layers: Sigmoid, Tanh, ReLU, GELU (each with a ``fused`` torch path) and HardSigmoid.

Models choose their activation by name: :data:`ACTIVATIONS` is the one name -> layer table,
:func:`make_activation` builds a layer from a name and :func:`activation_class` gives its class
(an unknown name is a ConfigError that lists the choices).

Notes: B5 (hard sigmoid from two ReLUs), B6 (activations).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as TF
from torch import Tensor, nn

from deepnotes import functional as F
from deepnotes.errors import ConfigError

__all__ = ["ACTIVATIONS", "GELU", "HardSigmoid", "ReLU", "Sigmoid", "Tanh",
           "activation_class", "make_activation"]


class Sigmoid(nn.Module):
    r"""Applies :math:`\sigma(x) = 1 / (1 + e^{-x})` element-wise.

    Args:
        fused: use ``torch.sigmoid`` (``True``) or :func:`deepnotes.functional.sigmoid`.
            Default ``True``.

    Shape:
        - Input: ``(*)``. Output: ``(*)``, same shape.

    Example:
        >>> Sigmoid(fused=False)(torch.zeros(2))
        tensor([0.5000, 0.5000])

    Notes: B6.
    """

    def __init__(self, fused: bool = True) -> None:
        super().__init__()
        self.fused = fused

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(x) if self.fused else F.sigmoid(x)

    def extra_repr(self) -> str:
        return f"fused={self.fused}"


class Tanh(nn.Module):
    r"""Applies :math:`\tanh(x) = (e^x - e^{-x}) / (e^x + e^{-x})` element-wise.

    Args:
        fused: use ``torch.tanh`` (``True``) or :func:`deepnotes.functional.tanh`.
            Default ``True``.

    Shape:
        - Input: ``(*)``. Output: ``(*)``, same shape.

    Example:
        >>> Tanh(fused=False)(torch.zeros(2))
        tensor([0., 0.])

    Notes: B6.
    """

    def __init__(self, fused: bool = True) -> None:
        super().__init__()
        self.fused = fused

    def forward(self, x: Tensor) -> Tensor:
        return torch.tanh(x) if self.fused else F.tanh(x)

    def extra_repr(self) -> str:
        return f"fused={self.fused}"


class ReLU(nn.Module):
    r"""Applies :math:`\mathrm{ReLU}(x) = \max(x, 0)` element-wise.

    Args:
        fused: use ``torch.relu`` (``True``) or :func:`deepnotes.functional.relu`.
            Default ``True``.

    Shape:
        - Input: ``(*)``. Output: ``(*)``, same shape.

    Example:
        >>> ReLU(fused=False)(torch.tensor([-1.0, 2.0]))
        tensor([0., 2.])

    Notes: B6.
    """

    def __init__(self, fused: bool = True) -> None:
        super().__init__()
        self.fused = fused

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(x) if self.fused else F.relu(x)

    def extra_repr(self) -> str:
        return f"fused={self.fused}"


class GELU(nn.Module):
    r"""Applies :math:`\mathrm{GELU}(x) = x\,\Phi(x)` element-wise (erf form or tanh approximation).

    Args:
        approximate: ``"none"`` (erf) or ``"tanh"``. Default ``"none"``.
        fused: use ``torch.nn.functional.gelu`` (``True``) or
            :func:`deepnotes.functional.gelu`. Default ``True``.

    Shape:
        - Input: ``(*)``. Output: ``(*)``, same shape.

    Example:
        >>> GELU(approximate="tanh", fused=False)(torch.zeros(2))
        tensor([0., 0.])

    Notes: B6.
    """

    def __init__(self, approximate: str = "none", fused: bool = True) -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ConfigError(f"GELU approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate
        self.fused = fused

    def forward(self, x: Tensor) -> Tensor:
        if self.fused:
            return TF.gelu(x, approximate=self.approximate)
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}, fused={self.fused}"


class HardSigmoid(nn.Module):
    r"""The notes' hard sigmoid, built from two ReLUs: a ramp from 0 up to ``c``.

    .. math::
        y = c\,\big[\mathrm{ReLU}(b + w x) - \mathrm{ReLU}(b + w x - 1)\big]

    This is not ``torch.nn.Hardsigmoid`` (which is :math:`\mathrm{ReLU6}(x + 3)/6`), so there is
    no fused path. ``c``, ``b`` and ``w`` are fixed numbers here; a model that learns them calls
    :func:`deepnotes.functional.hard_sigmoid` with its own parameters.

    Args:
        c: plateau height. Default ``1.0``.
        b: ramp bias. Default ``0.0``.
        w: ramp slope. Default ``1.0``.

    Shape:
        - Input: ``(*)``. Output: ``(*)``, same shape.

    Example:
        >>> HardSigmoid(c=2.0)(torch.tensor([-1.0, 0.5, 3.0]))
        tensor([0., 1., 2.])

    Notes: B5.
    """

    def __init__(self, c: float = 1.0, b: float = 0.0, w: float = 1.0) -> None:
        super().__init__()
        self.c, self.b, self.w = float(c), float(b), float(w)

    def forward(self, x: Tensor) -> Tensor:
        return F.hard_sigmoid(x, c=self.c, b=self.b, w=self.w)

    def extra_repr(self) -> str:
        return f"c={self.c}, b={self.b}, w={self.w}"


# name -> activation layer (each takes fused=); the one table every model reads
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "gelu": GELU,
}


def activation_class(name: str, choices: Sequence[str] | None = None) -> type[nn.Module]:
    """The layer class called ``name`` in :data:`ACTIVATIONS` (build it with ``cls(fused=...)``).

    Args:
        name: ``"relu"``, ``"sigmoid"``, ``"tanh"`` or ``"gelu"``.
        choices: the names a caller accepts (a subset of :data:`ACTIVATIONS`; default all).

    Raises:
        ConfigError: naming the bad value and the valid choices.

    Example:
        >>> activation_class("relu")
        <class 'deepnotes.nn.activation.ReLU'>

    Notes: B6.
    """
    allowed = tuple(ACTIVATIONS) if choices is None else tuple(choices)
    if name not in allowed or name not in ACTIVATIONS:
        raise ConfigError(f"unknown activation {name!r}; choose one of {', '.join(allowed)}")
    return ACTIVATIONS[name]


def make_activation(name: str, fused: bool = True,
                    choices: Sequence[str] | None = None) -> nn.Module:
    """The activation layer called ``name`` (a key of :data:`ACTIVATIONS`), on the given path.

    Args:
        name, choices: as :func:`activation_class`.
        fused: torch's kernel (``True``, default) or our formula.

    Example:
        >>> make_activation("tanh", fused=False)
        Tanh(fused=False)

    Notes: B6.
    """
    return activation_class(name, choices)(fused=fused)
