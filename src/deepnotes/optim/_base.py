"""Plumbing shared by the optimizers: argument checks, the ``step()`` loop, foreach choice.

Each optimizer module keeps its maths in two plain functions, a readable per-parameter loop
(``_single_tensor_*``) and a multi-tensor version built on ``torch._foreach_*`` ops
(``_multi_tensor_*``); :class:`FormulaOptimizer` only collects the parameters that have a
gradient, picks one of the two, and keeps the state in ``self.state`` under torch's key names.
SGD, Adagrad, Adam and AdamW have a third path, ``fused=True``: ``_fused_*`` hands the same
state tensors to torch's fused kernels (``torch._fused_sgd_``, ``_fused_adagrad_``,
``_fused_adam_``, ``_fused_adamw_``), which run the whole update of each tensor in one pass
(CPU, CUDA). As in ``torch.optim``, it is off unless asked for.
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


def check_fused(owner: str, fused: Any, foreach: Any) -> bool | None:
    """``fused`` is ``None`` (off, torch's default), ``True`` or ``False``; not with foreach."""
    if fused is not None and not isinstance(fused, bool):
        raise ConfigError(f"{owner}: invalid fused={fused!r}; use None, True or False.")
    if fused and foreach:
        raise ConfigError(f"{owner}: fused=True and foreach=True cannot be used together; "
                          f"choose one.")
    return fused


#: device types with torch's fused optimizer kernels that we use
FUSED_DEVICES = ("cpu", "cuda")


def check_fused_params(owner: str, params: list[Tensor]) -> None:
    """The fused kernels take real floating-point tensors on the CPU or CUDA only."""
    for p in params:
        if not p.is_floating_point() or p.device.type not in FUSED_DEVICES:
            raise ConfigError(
                f"{owner}: fused=True needs real floating-point parameters on "
                f"{' or '.join(FUSED_DEVICES)}, got a {p.dtype} parameter on {p.device.type}; "
                f"use fused=False.")


def fused_step(param: Tensor, step: Tensor | None = None) -> Tensor:
    """A ``step`` counter as the fused kernels read it: 0-d float32 on ``param``'s device
    (where ``torch.optim`` keeps it with ``fused=True``); ``step`` carries a count over."""
    if step is None:
        return torch.zeros((), dtype=torch.float32, device=param.device)
    return step.to(dtype=torch.float32, device=param.device)


def by_device_and_dtype(tensors: list[Tensor]) -> list[list[int]]:
    """Indices of ``tensors`` grouped by (device, dtype): one fused-kernel call per group."""
    groups: dict[tuple[torch.device, torch.dtype], list[int]] = {}
    for i, t in enumerate(tensors):
        groups.setdefault((t.device, t.dtype), []).append(i)
    return list(groups.values())


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

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group (``__init__`` adds the first ones); fused groups are checked here."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        if group.get("fused"):
            check_fused_params(type(self).__name__, group["params"])

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
