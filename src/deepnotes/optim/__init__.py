"""deepnotes.optim: optimizers and learning-rate schedules written from their update formulas.

The optimizers subclass ``torch.optim.Optimizer`` and keep torch's state names, so they drop
into any PyTorch loop; the schedules subclass ``torch.optim.lr_scheduler.LRScheduler``.
By name (for configs and the CLI)::

    >>> import torch
    >>> from deepnotes.optim import create_optimizer, create_schedule
    >>> opt = create_optimizer("momentum", [torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    >>> opt.defaults["momentum"]
    0.9
    >>> sched = create_schedule("cosine", opt, T_max=10)

Notes: B4, O3 (momentum), O4 (Adagrad), O5 (RMSProp), O6 (Adam), O7 (schedules), G4 (AdamW).
"""

from __future__ import annotations

from typing import Any, Iterable

from torch.optim import Optimizer

from deepnotes.errors import ConfigError
from deepnotes.optim.adagrad import Adagrad
from deepnotes.optim.adam import Adam, AdamW
from deepnotes.optim.rmsprop import RMSprop
from deepnotes.optim.schedules import (
    CosineAnnealingLR,
    ExponentialLR,
    InverseSqrtLR,
    LinearWarmup,
    Schedule,
    SequentialSchedule,
    StepLR,
    warmup_cosine,
)
from deepnotes.optim.sgd import SGD
from deepnotes.registry import Registry

__all__ = [
    "SGD", "Adagrad", "RMSprop", "Adam", "AdamW",
    "Schedule", "StepLR", "ExponentialLR", "CosineAnnealingLR", "InverseSqrtLR", "LinearWarmup",
    "SequentialSchedule", "warmup_cosine",
    "OPTIMIZERS", "SCHEDULES", "create_optimizer", "create_schedule",
]

OPTIMIZERS = Registry("optimizer")
#: name -> (class, default keyword arguments the name implies)
_OPT_DEFAULTS: dict[str, dict[str, Any]] = {}


def _opt(name: str, cls: type, summary: str, **defaults: Any) -> None:
    OPTIMIZERS.add(name, cls, summary)
    _OPT_DEFAULTS[name] = defaults


_opt("sgd", SGD, "plain (minibatch) gradient descent w <- w - lr*g (B4)")
_opt("momentum", SGD, "SGD with momentum 0.9: b <- 0.9b + g, w <- w - lr*b (O3)", momentum=0.9)
_opt("nesterov", SGD, "SGD with Nesterov momentum 0.9 (O3)", momentum=0.9, nesterov=True)
_opt("adagrad", Adagrad, "Adagrad: lr / sqrt(sum of squared gradients) per weight (O4)")
_opt("rmsprop", RMSprop, "RMSProp: lr / sqrt(running mean of squared gradients) (O5)")
_opt("adam", Adam, "Adam: momentum + RMSProp with bias correction (O6)")
_opt("adamw", AdamW, "AdamW: Adam with decoupled weight decay (O6, G4)")

SCHEDULES = Registry("schedule")
SCHEDULES.add("step", StepLR, "multiply lr by gamma every step_size steps")
SCHEDULES.add("exponential", ExponentialLR, "multiply lr by gamma every step")
SCHEDULES.add("cosine", CosineAnnealingLR, "cosine from lr down to eta_min over T_max steps")
SCHEDULES.add("inverse-sqrt", InverseSqrtLR, "Transformer schedule: warm-up then 1/sqrt(step)")
SCHEDULES.add("warmup", LinearWarmup, "linear warm-up over warmup_steps, then an optional `after`")


def create_optimizer(name: str, params: Iterable[Any], **kwargs: Any) -> Optimizer:
    """Build the optimizer registered as ``name`` (``deepnotes list optimizers``).

    The name's own defaults (``momentum=0.9`` for ``"momentum"``) apply unless ``kwargs``
    override them.

    Raises:
        UnknownNameError: no optimizer of that name (close matches are suggested).
        ConfigError: an argument the optimizer does not take, or a bad value.
    """
    cls = OPTIMIZERS.get(name)
    merged = {**_OPT_DEFAULTS[name], **kwargs}
    try:
        return cls(params, **merged)
    except TypeError as exc:
        raise ConfigError(f"optimizer {name!r} ({cls.__name__}) cannot take these arguments "
                          f"{sorted(merged)}: {exc}") from None


def create_schedule(name: str, optimizer: Optimizer, **kwargs: Any) -> Schedule:
    """Build the schedule registered as ``name`` on ``optimizer``.

    Raises:
        UnknownNameError: no schedule of that name.
        ConfigError: a missing or bad argument (e.g. ``T_max`` for ``"cosine"``).
    """
    cls = SCHEDULES.get(name)
    try:
        return cls(optimizer, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"schedule {name!r} ({cls.__name__}) cannot be built with arguments "
                          f"{sorted(kwargs)}: {exc}") from None
