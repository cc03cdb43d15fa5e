"""Mixed precision and compilation for the Trainer: ``precision`` and ``compile`` options.

Mixed precision runs the forward pass and the loss under :func:`torch.autocast`: matrix
products and convolutions compute in a 16-bit float, reductions and the loss stay in float32,
and the weights, gradients and optimizer state stay float32. Two 16-bit formats:

- ``"bf16"`` (bfloat16): float32's 8 exponent bits, 7 mantissa bits. Same range as float32,
  so gradients do not underflow and no loss scaling is needed. Works on the CPU and on
  recent GPUs (compute capability 8.0+).
- ``"fp16"`` (float16): 5 exponent bits, 10 mantissa bits. Small gradients underflow to 0, so
  the loss is multiplied by a scale :math:`s` before the backward pass and the gradients
  divided by :math:`s` before the step (:class:`torch.amp.GradScaler`; a step whose scaled
  gradients overflow is skipped and :math:`s` halved, and :math:`s` doubles after 2000 good
  steps). CUDA only here: CPU autocast to float16 is slow or unsupported on most CPUs, so
  ``fp16`` on the CPU is a :class:`~deepnotes.errors.ConfigError` that points at ``bf16``.

``compile=True`` runs the model through :func:`torch.compile` (TorchInductor): the first
step traces and compiles the model (tens of seconds on a CPU, longer for big models), the
switch to evaluation mode and a new batch shape (the last, smaller batch) compile again; later
steps run the generated kernels. The weights stay in the original module, so checkpoints are
the same as without compiling.

Example:
    >>> import torch
    >>> with autocast("bf16", torch.device("cpu")):
    ...     (torch.ones(2, 3) @ torch.ones(3, 2)).dtype
    torch.bfloat16
    >>> grad_scaler("32", torch.device("cpu")) is None
    True

Notes: B11 (devices).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from deepnotes.errors import ConfigError

__all__ = ["PRECISIONS", "autocast", "check_precision", "compile_model", "grad_scaler"]

#: precision name -> the autocast dtype (None: plain float32, no autocast)
PRECISIONS: dict[str, torch.dtype | None] = {"32": None, "bf16": torch.bfloat16,
                                             "fp16": torch.float16}


def check_precision(precision: str, device: torch.device) -> None:
    """Raise :class:`ConfigError` unless ``precision`` is known and runs on ``device``."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(map(repr, PRECISIONS))}, "
                          f"got {precision!r}")
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError(f"precision='fp16' needs a CUDA device (float16 autocast on the "
                          f"{device.type} is slow or unsupported, and its loss scaling is "
                          f"for GPUs); use precision='bf16' on the CPU")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError(f"precision='bf16' needs a GPU with bfloat16 support (compute "
                          f"capability 8.0+), not {torch.cuda.get_device_name(device)}; "
                          f"use precision='fp16'")


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """The context to run the forward pass and loss in: ``torch.autocast`` at the precision's
    dtype, or nothing for ``"32"``."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    """A :class:`torch.amp.GradScaler` for ``fp16`` on CUDA; None otherwise (nothing to scale)."""
    if precision == "fp16" and device.type == "cuda":
        return torch.amp.GradScaler("cuda")
    return None


def compile_model(model: nn.Module) -> nn.Module:
    """``torch.compile(model)``: a wrapper that runs compiled code and shares ``model``'s
    parameters (keep saving ``model`` itself; the wrapper's state-dict keys gain a prefix)."""
    return torch.compile(model)
