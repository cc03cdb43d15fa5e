"""Data-parallel training across processes: DistributedDataParallel under ``torchrun``.

Every process (a *rank*) holds a full copy of the model. Each optimizer step, the global
minibatch :math:`\\mathcal B` is cut into one slice :math:`\\mathcal B_r` per rank; rank
:math:`r` computes the gradient of its slice, and DDP averages the gradients of the
:math:`W` ranks (an all-reduce) before every rank takes the same step. Scaling rank
:math:`r`'s mean loss by :math:`W |\\mathcal B_r| / |\\mathcal B|` makes that average the
gradient of the global batch even when the slices differ in size (the last batch):

.. math::
    \\frac{1}{W}\\sum_{r=1}^{W} \\frac{W|\\mathcal B_r|}{|\\mathcal B|}\\,
    \\frac{1}{|\\mathcal B_r|}\\sum_{i\\in\\mathcal B_r}\\nabla\\ell_i
    = \\frac{1}{|\\mathcal B|}\\sum_{i\\in\\mathcal B}\\nabla\\ell_i

so ``W`` processes with a global batch of ``B`` take the steps one process takes with batch
``B`` (up to float rounding). Nothing here does anything in a single process: the helpers
answer rank 0 of a world of 1 and reduce nothing.

``torchrun`` starts the processes and sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``; :func:`init_from_env` joins the group from them (gloo on
the CPU, NCCL on CUDA, where rank ``r`` of a node uses ``cuda:LOCAL_RANK``).

Example (one process: a world of one):
    >>> world_size(), rank(), is_main()
    (1, 0, True)
    >>> all_reduce_sum([2.0, 3.0])
    [2.0, 3.0]

Notes: B8 (minibatch SGD), B11 (devices).
"""

from __future__ import annotations

import atexit
import os
from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn
from torch import distributed as dist

from deepnotes.errors import ConfigError

__all__ = [
    "StepModule",
    "all_gather_objects",
    "all_reduce_sum",
    "barrier",
    "env_world_size",
    "init_from_env",
    "is_distributed",
    "is_main",
    "local_rank",
    "rank",
    "rank_device",
    "teardown",
    "world_size",
    "wrap_model",
]


def env_world_size() -> int:
    """``WORLD_SIZE`` from the environment (``torchrun`` sets it; 1 when absent)."""
    value = os.environ.get("WORLD_SIZE", "1")
    try:
        size = int(value)
    except ValueError:
        raise ConfigError(f"WORLD_SIZE must be a positive integer, got {value!r}") from None
    if size < 1:
        raise ConfigError(f"WORLD_SIZE must be a positive integer, got {value!r}")
    return size


def is_distributed() -> bool:
    """True inside a process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """Number of processes training together (1 without a process group)."""
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    """This process's rank in ``0 .. world_size() - 1`` (0 without a process group)."""
    return dist.get_rank() if is_distributed() else 0


def local_rank() -> int:
    """This process's index on its node (``LOCAL_RANK``; 0 without ``torchrun``)."""
    return int(os.environ.get("LOCAL_RANK", "0")) if is_distributed() else 0


def is_main() -> bool:
    """True on rank 0, the process that writes files (checkpoints, metrics, figures)."""
    return rank() == 0


def teardown() -> None:
    """Leave the process group (nothing when there is none)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def init_from_env(device: torch.device) -> bool:
    """Join the process group ``torchrun`` describes when ``WORLD_SIZE > 1``; True if joined.

    The backend follows the device: NCCL for CUDA, gloo for the CPU. A group that is already
    initialised (by the caller) is used as it is. The group is left at interpreter exit.

    Raises:
        ConfigError: ``WORLD_SIZE > 1`` but this torch build has no ``torch.distributed``,
            or ``RANK``/``MASTER_ADDR``/``MASTER_PORT`` are missing (not started by torchrun).
    """
    if env_world_size() == 1:
        return is_distributed()
    if not dist.is_available():
        raise ConfigError("WORLD_SIZE > 1 but this torch build has no torch.distributed; "
                          "train in one process")
    if dist.is_initialized():
        return is_distributed()
    missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise ConfigError(f"WORLD_SIZE={os.environ['WORLD_SIZE']} but {', '.join(missing)} "
                          f"not set; start the processes with torchrun")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    atexit.register(teardown)
    return True


def rank_device(device: torch.device) -> torch.device:
    """The device this rank trains on: ``cuda`` without an index becomes ``cuda:LOCAL_RANK``."""
    if device.type == "cuda" and device.index is None and is_distributed():
        device = torch.device("cuda", local_rank())
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)
    return device


def _reduce_device() -> torch.device:
    """Where collectives run: the current GPU for NCCL, the CPU for gloo."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(values: Sequence[float | Tensor]) -> list[float]:
    """Sum each number over all ranks (one all-reduce of a float64 vector); as given in one
    process. Tensors are read as Python numbers first."""
    plain = [float(v) for v in values]
    if not is_distributed():
        return plain
    buf = torch.tensor(plain, dtype=torch.float64, device=_reduce_device())
    dist.all_reduce(buf, op=dist.ReduceOp.SUM)
    return buf.tolist()


def all_gather_objects(obj: Any) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` (picklable objects; ``[obj]`` in one process)."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    """Wait until every rank gets here (nothing in one process)."""
    if is_distributed():
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


class StepModule(nn.Module):
    """The training step as a module: ``forward(batch) = loss_step(model, loss_fn, batch)``.

    DDP synchronises gradients only for work done inside its own ``forward``; a loss step
    that calls a model method (``model.loss(...)``) or runs the model twice would bypass a
    DDP wrapper around the bare model. Wrapping this module instead puts the whole step
    inside DDP's forward, whatever the loss step does. Its parameters are the model's.
    """

    def __init__(self, model: nn.Module, loss_step: Callable[..., Any],
                 loss_fn: Callable[..., Tensor]) -> None:
        super().__init__()
        self.model = model
        self._fns = (loss_step, loss_fn)  # a tuple: a loss that is a Module is not registered

    def forward(self, batch: Sequence[Any]) -> Any:
        loss_step, loss_fn = self._fns
        return loss_step(self.model, loss_fn, batch)


def wrap_model(module: nn.Module, device: torch.device) -> nn.Module:
    """``DistributedDataParallel(module)`` on ``device`` (rank 0's weights and buffers are
    broadcast to every rank here); ``module`` itself in one process."""
    if not is_distributed():
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids, output_device=ids[0] if ids else None)
