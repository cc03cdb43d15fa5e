"""Plumbing shared by the optimizers: argument checks, the ``step()`` loop, foreach choice.

Each optimizer module keeps its maths in two plain functions, a readable per-parameter loop
(``_single_tensor_*``) and a multi-tensor version built on ``torch._foreach_*`` ops
(``_multi_tensor_*``); :class:`FormulaOptimizer` only collects the parameters that have a
gradient, picks one of the two, and keeps the state in ``self.state`` under torch's key names.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from numbers import Real
from typing import Any, Callable

import torch
from torch import Tensor
from torch.optim import Optimizer

from deepnotes.errors import ConfigError


def check_number(owner: str, name: str, value: Any, *, low: float = 0.0,
                 high: float | None = None, high_open: bool = False) -> float:
    """Return ``value`` as a float after checking ``low <= value <= high`` (``< high`` if open).

    Raises:
        ConfigError: naming the owner, the argument and the bad value, and the allowed range.
    """
    upper = "" if high is None else (f" and < {high}" if high_open else f" and <= {high}")
    allowed = f"a finite number >= {low}{upper}"
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = value >= low and (high is None or (value < high if high_open else value <= high))
    if not ok:
        raise ConfigError(f"{owner}: invalid {name}={value!r}; use {allowed}.")
    return float(value)


def check_int(owner: str, name: str, value: Any, *, low: int = 1) -> int:
    """Return ``value`` after checking it is an integer ``>= low``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ConfigError(f"{owner}: invalid {name}={value!r}; use an integer >= {low}.")
    return value


def check_bool(owner: str, name: str, value: Any) -> bool:
    """Return ``value`` after checking it is ``True`` or ``False`` (not a string like "False")."""
    if not isinstance(value, bool):
        raise ConfigError(f"{owner}: invalid {name}={value!r}; use True or False.")
    return value


def check_foreach(owner: str, value: Any) -> bool | None:
    """``foreach`` is ``None`` (choose by device), ``True`` or ``False``."""
    if value is not None and not isinstance(value, bool):
        raise ConfigError(f"{owner}: invalid foreach={value!r}; use None, True or False.")
    return value


def use_foreach(foreach: bool | None, params: list[Tensor]) -> bool:
    """Resolve ``foreach=None``: the multi-tensor path when every parameter is on a GPU.

    On the CPU the ``_foreach_*`` ops run one tensor at a time anyway, so the readable loop is
    the default there; on CUDA the multi-tensor kernels launch far fewer kernels (the same rule
    as ``torch.optim``).
    """
    if foreach is not None:
        return foreach
    return all(p.device.type == "cuda" for p in params)


def scalar_step() -> Tensor:
    """A fresh ``step`` counter: a 0-d float tensor on the CPU, like ``torch.optim`` keeps it."""
    dtype = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
    return torch.tensor(0.0, dtype=dtype)


def as_real(tensors: list[Tensor]) -> list[Tensor]:
    """View complex tensors as real ``(..., 2)`` tensors so ``g ⊙ g`` means ``|g|²`` per part."""
    return [torch.view_as_real(t) if torch.is_complex(t) else t for t in tensors]


class FormulaOptimizer(Optimizer, ABC):
    """Base class: ``step()`` gathers the parameters with a gradient and calls ``_update_group``.

    Subclasses implement ``_update_group(group, params, foreach)`` which reads/creates the
    per-parameter state (torch's key names, so ``state_dict()`` looks like torch's) and calls
    their ``_single_tensor_*`` or ``_multi_tensor_*`` function.
    """

    @abstractmethod
    def _update_group(self, group: dict[str, Any], params: list[Tensor], foreach: bool) -> None:
        """Update ``params`` (those of ``group`` that have a gradient) in place."""

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One optimisation step; ``closure`` re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            for p in params:
                if p.grad.is_sparse:
                    raise ConfigError(
                        f"{type(self).__name__} got a sparse gradient for a parameter of shape "
                        f"{tuple(p.shape)}; build the layer with sparse=False.")
            self._update_group(group, params, use_foreach(group.get("foreach"), params))
        return loss
