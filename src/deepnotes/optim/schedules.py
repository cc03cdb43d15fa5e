"""Learning-rate schedules written as closed-form functions of the step ``t``.

Each schedule is a :class:`torch.optim.lr_scheduler.LRScheduler` (``step()``,
``get_last_lr()``, ``last_epoch``) whose learning rate at step ``t`` is
``base_lr · factor(t)`` computed directly from ``t`` (no recursion), so any step can be jumped
to and resuming is exact. The factors are also plain functions for plots. ``state_dict()`` is
a JSON-serialisable dict of numbers (a warm-up's ``after`` schedule is nested in it).

Notes: O7 (step decay, exponential decay, inverse square root, cosine annealing, warm-up).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from bisect import bisect_right
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from deepnotes.errors import CheckpointError, ConfigError
from deepnotes.optim._base import check_int, check_number


def step_factor(t: int, step_size: int, gamma: float = 0.1) -> float:
    """Step decay: ``γ^⌊t / step_size⌋`` (multiply by γ every ``step_size`` steps)."""
    return gamma ** (t // step_size)


def exponential_factor(t: int, gamma: float) -> float:
    """Exponential decay: ``γ^t``."""
    return gamma**t


def inverse_sqrt_factor(step: int, warmup_steps: int) -> float:
    """Noam schedule normalised to peak at 1: ``min(step / w, √(w / step))``, ``step >= 1``.

    This is the Transformer's ``d^-0.5 · min(step^-0.5, step · w^-1.5)`` divided by its peak
    value ``(d·w)^-0.5``: a linear warm-up to 1 at ``step = w``, then ``∝ 1/√step``.
    """
    return min(step / warmup_steps, math.sqrt(warmup_steps / step))


def linear_warmup_factor(t: int, warmup_steps: int, start_factor: float = 0.0) -> float:
    """Linear warm-up: ``s + (1 − s)·min(t, w) / w``, from ``s`` at ``t = 0`` to 1 at ``t = w``."""
    return start_factor + (1 - start_factor) * min(t, warmup_steps) / warmup_steps


class Schedule(LRScheduler, ABC):
    """Base class: group ``i`` gets ``lrs_at(t)[i] = base_lrs[i] · factor(t)`` at step ``t``.

    Subclasses set their hyperparameters (named in ``_hyper``) before calling
    ``super().__init__`` and define :meth:`factor` (or :meth:`lrs_at`).
    """

    _hyper: tuple[str, ...] = ()

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise ConfigError(f"{type(self).__name__}: optimizer={optimizer!r} is not a "
                              f"torch.optim.Optimizer; pass the optimizer to schedule.")
        check_int(type(self).__name__, "last_epoch", last_epoch, low=-1)
        super().__init__(optimizer, last_epoch)

    @abstractmethod
    def factor(self, t: int) -> float:
        """The multiplier of the base learning rate at step ``t``."""

    def lrs_at(self, t: int) -> list[float]:
        """The learning rate of every parameter group at step ``t``."""
        return [float(base) * self.factor(t) for base in self.base_lrs]

    def get_lr(self) -> list[float]:
        """The learning rates for the current ``last_epoch`` (closed form)."""
        return self.lrs_at(self.last_epoch)

    def _get_closed_form_lr(self) -> list[float]:
        return self.lrs_at(self.last_epoch)

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state: the step counters, the base lrs and the hyperparameters."""
        state: dict[str, Any] = {
            "schedule": type(self).__name__,
            "last_epoch": self.last_epoch,
            "_step_count": self._step_count,
            "base_lrs": [float(lr) for lr in self.base_lrs],
            "_last_lr": [float(lr) for lr in self._last_lr],
        }
        state.update({key: getattr(self, key) for key in self._hyper})
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (the optimizer's lrs come from its state)."""
        name = type(self).__name__
        if state_dict.get("schedule") != name:
            raise CheckpointError(f"schedule state is for {state_dict.get('schedule')!r}, not "
                                  f"{name!r}; create the same schedule before loading it.")
        for key in ("last_epoch", "_step_count", "base_lrs", "_last_lr", *self._hyper):
            if key not in state_dict:
                raise CheckpointError(f"{name} state has no key {key!r}; save it with "
                                      f"{name}.state_dict().")
            setattr(self, key, list(state_dict[key]) if key in ("base_lrs", "_last_lr")
                    else state_dict[key])


class StepLR(Schedule):
    r"""Step decay: :math:`\eta_t = \eta_0\,\gamma^{\lfloor t/\text{step\_size}\rfloor}`.

    Args:
        optimizer: the optimizer whose ``lr`` is scheduled.
        step_size: steps between two decays.
        gamma: decay factor. Default: ``0.1``.
        last_epoch: index of the last step taken (``-1`` to start). Default: ``-1``.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> sched = StepLR(opt, step_size=2, gamma=0.5)
        >>> [round(sched.lrs_at(t)[0], 3) for t in range(5)]
        [1.0, 1.0, 0.5, 0.5, 0.25]

    Notes: O7.
    """

    _hyper = ("step_size", "gamma")

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.step_size = check_int("StepLR", "step_size", step_size)
        self.gamma = check_number("StepLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def factor(self, t: int) -> float:
        return step_factor(t, self.step_size, self.gamma)


class ExponentialLR(Schedule):
    r"""Exponential decay: :math:`\eta_t = \eta_0\,\gamma^t`.

    Args:
        optimizer: the optimizer whose ``lr`` is scheduled.
        gamma: decay factor per step.
        last_epoch: index of the last step taken (``-1`` to start). Default: ``-1``.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> [round(ExponentialLR(opt, gamma=0.9).lrs_at(t)[0], 3) for t in range(3)]
        [1.0, 0.9, 0.81]

    Notes: O7.
    """

    _hyper = ("gamma",)

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = check_number("ExponentialLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def factor(self, t: int) -> float:
        return exponential_factor(t, self.gamma)


class CosineAnnealingLR(Schedule):
    r"""Cosine annealing: :math:`\eta_t = \eta_{min} + (\eta_0-\eta_{min})(1+\cos(\pi t/T))/2`.

    Args:
        optimizer: the optimizer whose ``lr`` is scheduled.
        T_max: steps from the base lr down to ``eta_min`` (past it the cosine rises again).
        eta_min: the lowest learning rate. Default: ``0``.
        last_epoch: index of the last step taken (``-1`` to start). Default: ``-1``.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> [round(CosineAnnealingLR(opt, T_max=4).lrs_at(t)[0], 3) for t in range(5)]
        [1.0, 0.854, 0.5, 0.146, 0.0]

    Notes: O7.
    """

    _hyper = ("T_max", "eta_min")

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        self.T_max = check_int("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = check_number("CosineAnnealingLR", "eta_min", eta_min)
        super().__init__(optimizer, last_epoch)

    def factor(self, t: int) -> float:
        """The factor of the first group (``eta_min`` is an absolute lr, so groups differ)."""
        return self.lrs_at(t)[0] / float(self.base_lrs[0]) if self.base_lrs[0] else 0.0

    def lrs_at(self, t: int) -> list[float]:
        # η_t = η_min + (η_0 − η_min)·(1 + cos(π·t/T)) / 2
        cos_part = (1 + math.cos(math.pi * t / self.T_max)) / 2
        return [self.eta_min + (float(base) - self.eta_min) * cos_part for base in self.base_lrs]


class InverseSqrtLR(Schedule):
    r"""Transformer (Noam) schedule scaled to peak at the base lr: linear warm-up, then 1/√step.

    .. math::
        \eta_t = \eta_0 \min\!\left(\frac{s}{w}, \sqrt{\frac{w}{s}}\right), \qquad s = t + 1

    ``s`` counts optimizer updates from 1 as in the paper (the first update uses ``s = 1``), so
    the peak ``η_0`` is reached on update ``s = w`` (``last_epoch = w − 1``).

    Args:
        optimizer: the optimizer whose ``lr`` is scheduled.
        warmup_steps: ``w``, the update at which the lr peaks.
        last_epoch: index of the last step taken (``-1`` to start). Default: ``-1``.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> [round(InverseSqrtLR(opt, warmup_steps=4).lrs_at(t)[0], 3) for t in (0, 3, 15)]
        [0.25, 1.0, 0.5]

    Notes: O7.
    """

    _hyper = ("warmup_steps",)

    def __init__(self, optimizer: Optimizer, warmup_steps: int, last_epoch: int = -1) -> None:
        self.warmup_steps = check_int("InverseSqrtLR", "warmup_steps", warmup_steps)
        super().__init__(optimizer, last_epoch)

    def factor(self, t: int) -> float:
        return inverse_sqrt_factor(t + 1, self.warmup_steps)


class LinearWarmup(Schedule):
    r"""Linear warm-up from ``start_factor·lr`` to ``lr`` over ``warmup_steps``, then ``after``.

    .. math::
        \eta_t = \eta_0\,(s + (1-s)\,t/w) \quad (t < w), \qquad
        \eta_t = \text{after}(t - w) \quad (t \ge w)

    Without ``after`` the lr stays at ``η_0`` once warmed up. Warm-up keeps the first steps
    small while Adam-type optimizers' :math:`\sqrt{\hat v_t}` estimates are still noisy.
    ``after`` must be built on the same optimizer *before* the warm-up, and only the warm-up
    is stepped: its counter drives ``after`` (whose ``last_epoch`` is kept at ``t − w``).

    Args:
        optimizer: the optimizer whose ``lr`` is scheduled.
        warmup_steps: ``w``, the steps the ramp takes.
        after: a :class:`Schedule` on the same optimizer to follow, or ``None``.
        start_factor: ``s``, the fraction of the lr at ``t = 0``, in ``[0, 1]``. Default: ``0``.
        last_epoch: index of the last step taken (``-1`` to start). Default: ``-1``.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> sched = LinearWarmup(opt, 2, after=CosineAnnealingLR(opt, T_max=2))
        >>> [round(sched.lrs_at(t)[0], 3) for t in range(5)]
        [0.0, 0.5, 1.0, 0.5, 0.0]

    Notes: O7.
    """

    _hyper = ("warmup_steps", "start_factor")

    def __init__(self, optimizer: Optimizer, warmup_steps: int, after: Schedule | None = None,
                 start_factor: float = 0.0, last_epoch: int = -1) -> None:
        self.warmup_steps = check_int("LinearWarmup", "warmup_steps", warmup_steps)
        self.start_factor = check_number("LinearWarmup", "start_factor", start_factor, high=1.0)
        if after is not None and not (isinstance(after, Schedule)
                                      and after.optimizer is optimizer):
            raise ConfigError(f"LinearWarmup: after={after!r} must be a deepnotes Schedule "
                              f"built on the same optimizer as the warm-up.")
        self.after = after
        super().__init__(optimizer, last_epoch)

    def factor(self, t: int) -> float:
        """The warm-up ramp (``1`` once ``t >= warmup_steps``; ``after`` then takes over)."""
        return linear_warmup_factor(t, self.warmup_steps, self.start_factor)

    def lrs_at(self, t: int) -> list[float]:
        if self.after is None or t < self.warmup_steps:
            return super().lrs_at(t)
        return self.after.lrs_at(t - self.warmup_steps)

    def get_lr(self) -> list[float]:
        lrs = self.lrs_at(self.last_epoch)
        if self.after is not None and self.last_epoch >= self.warmup_steps:
            self.after.last_epoch = self.last_epoch - self.warmup_steps
            self.after._last_lr = list(lrs)
        return lrs

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["after"] = None if self.after is None else self.after.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        nested = state_dict.get("after")
        if (nested is None) != (self.after is None):
            raise CheckpointError(f"LinearWarmup state has after={nested!r} but this warm-up has "
                                  f"after={self.after!r}; build it the way it was saved.")
        if self.after is not None:
            self.after.load_state_dict(nested)


class SequentialSchedule(Schedule):
    """Run ``schedules[i]`` between ``milestones[i-1]`` and ``milestones[i]``, each from its t=0.

    Like :class:`torch.optim.lr_scheduler.SequentialLR`, in closed form: at step ``t`` with
    ``m = milestones[i-1] <= t < milestones[i]`` the lrs are ``schedules[i].lrs_at(t − m)``.
    Build the parts on the same optimizer first and step only this schedule.

    Args:
        optimizer: the optimizer whose ``lr`` is scheduled.
        schedules: the :class:`Schedule` parts, in order.
        milestones: ``len(schedules) − 1`` increasing steps where the next part starts.
        last_epoch: index of the last step taken (``-1`` to start). Default: ``-1``.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> parts = [ExponentialLR(opt, gamma=0.5), StepLR(opt, step_size=1, gamma=0.1)]
        >>> sched = SequentialSchedule(opt, parts, milestones=[2])
        >>> [round(sched.lrs_at(t)[0], 3) for t in range(4)]
        [1.0, 0.5, 1.0, 0.1]

    Notes: O7.
    """

    _hyper = ("milestones",)

    def __init__(self, optimizer: Optimizer, schedules: list[Schedule], milestones: list[int],
                 last_epoch: int = -1) -> None:
        schedules, milestones = list(schedules), list(milestones)
        if not schedules or any(not isinstance(s, Schedule) or s.optimizer is not optimizer
                                for s in schedules):
            raise ConfigError(f"SequentialSchedule: schedules={schedules!r} must be a non-empty "
                              f"list of deepnotes Schedules built on this optimizer.")
        if len(milestones) != len(schedules) - 1 or any(
                not isinstance(m, int) or m < 1 for m in milestones) or milestones != sorted(
                set(milestones)):
            raise ConfigError(f"SequentialSchedule: invalid milestones={milestones!r}; use "
                              f"{len(schedules) - 1} increasing integers >= 1.")
        self.schedules = schedules
        self.milestones = milestones
        super().__init__(optimizer, last_epoch)

    def factor(self, t: int) -> float:
        """The factor of the first group at step ``t``."""
        return self.lrs_at(t)[0] / float(self.base_lrs[0]) if self.base_lrs[0] else 0.0

    def lrs_at(self, t: int) -> list[float]:
        i = bisect_right(self.milestones, t)
        start = self.milestones[i - 1] if i > 0 else 0
        return self.schedules[i].lrs_at(t - start)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["schedules"] = [s.state_dict() for s in self.schedules]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        nested = state_dict.get("schedules")
        if not isinstance(nested, list) or len(nested) != len(self.schedules):
            raise CheckpointError(f"SequentialSchedule state has schedules={nested!r}; expected "
                                  f"{len(self.schedules)} nested schedule states.")
        for schedule, state in zip(self.schedules, nested):
            schedule.load_state_dict(state)


def warmup_cosine(optimizer: Optimizer, warmup_steps: int, total_steps: int,
                  eta_min: float = 0.0, start_factor: float = 0.0) -> LinearWarmup:
    """Linear warm-up for ``warmup_steps``, then cosine down to ``eta_min`` at ``total_steps``.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> sched = warmup_cosine(opt, warmup_steps=10, total_steps=100)
        >>> round(sched.lrs_at(10)[0], 3), round(sched.lrs_at(100)[0], 3)
        (1.0, 0.0)

    Notes: O7.
    """
    warmup_steps = check_int("warmup_cosine", "warmup_steps", warmup_steps)
    total_steps = check_int("warmup_cosine", "total_steps", total_steps)
    if total_steps <= warmup_steps:
        raise ConfigError(f"warmup_cosine: total_steps={total_steps} must be larger than "
                          f"warmup_steps={warmup_steps}.")
    cosine = CosineAnnealingLR(optimizer, T_max=total_steps - warmup_steps, eta_min=eta_min)
    return LinearWarmup(optimizer, warmup_steps, after=cosine, start_factor=start_factor)
