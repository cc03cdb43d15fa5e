"""Stochastic gradient descent with optional (Nesterov) momentum and coupled weight decay.

Notes: B4 (gradient descent), O3 (momentum), G4 (weight decay / L2).
"""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import Tensor

from deepnotes.errors import ConfigError
from deepnotes.optim._base import (
    FormulaOptimizer,
    by_device_and_dtype,
    check_bool,
    check_foreach,
    check_fused,
    check_number,
)


class SGD(FormulaOptimizer):
    r"""Gradient descent, optionally with momentum, written from the update rule.

    With gradient :math:`g_t = \nabla_w L(w_{t-1})`, learning rate :math:`\eta`, weight decay
    :math:`\lambda`, momentum :math:`\mu` and dampening :math:`\tau`:

    .. math::
        g_t &\leftarrow g_t + \lambda w_{t-1}                     && \text{(L2, G4)} \\
        b_1 &= g_1, \quad b_t = \mu b_{t-1} + (1-\tau) g_t        && \text{(momentum, O3)} \\
        d_t &= g_t + \mu b_t \ \text{(Nesterov)} \quad\text{or}\quad d_t = b_t \\
        w_t &= w_{t-1} - \eta d_t

    Without momentum this is plain gradient descent ``w ← w − η·g`` (B4), and with weight decay
    ``w ← (1 − ηλ)·w − η·g`` (G4). ``maximize=True`` ascends instead (``g ← −g``). Same
    semantics and state (``momentum_buffer``) as :class:`torch.optim.SGD`.

    Args:
        params: iterable of parameters or of dicts defining parameter groups.
        lr: learning rate :math:`\eta`. Default: ``1e-3``.
        momentum: momentum factor :math:`\mu`. Default: ``0``.
        dampening: dampening :math:`\tau` for the momentum. Default: ``0``.
        weight_decay: L2 penalty :math:`\lambda`. Default: ``0``.
        nesterov: use Nesterov momentum (needs ``momentum > 0`` and ``dampening = 0``).
        maximize: maximise the objective instead of minimising it. Default: ``False``.
        foreach: ``True`` = multi-tensor ``torch._foreach_*`` path, ``False`` = readable
            per-parameter loop, ``None`` (default) = multi-tensor only when all parameters are
            on CUDA.
        fused: ``True`` runs torch's fused kernel (``torch._fused_sgd_``: the whole update of a
            tensor in one pass; real floating-point parameters on the CPU or CUDA) on the same
            state. ``None``/``False`` (default, as in torch): off.

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = SGD([w], lr=0.1, momentum=0.9)
        >>> (w ** 2).sum().backward()
        >>> opt.step()
        >>> w.detach()
        tensor([ 0.8000, -1.6000])

    Notes: B4, O3, G4.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 *, maximize: bool = False, foreach: bool | None = None,
                 fused: bool | None = None) -> None:
        name = type(self).__name__
        defaults = {
            "lr": check_number(name, "lr", lr),
            "momentum": check_number(name, "momentum", momentum),
            "dampening": check_number(name, "dampening", dampening, high=1.0),
            "weight_decay": check_number(name, "weight_decay", weight_decay),
            "nesterov": check_bool(name, "nesterov", nesterov),
            "maximize": check_bool(name, "maximize", maximize),
            "foreach": check_foreach(name, foreach),
            "fused": check_fused(name, fused, foreach),
        }
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ConfigError(
                f"{name}: nesterov=True needs momentum > 0 and dampening = 0, got "
                f"momentum={momentum!r} and dampening={dampening!r}.")
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any], params: list[Tensor], foreach: bool) -> None:
        use_momentum = group["momentum"] != 0
        buffers = [self.state[p].get("momentum_buffer") for p in params] if use_momentum else []
        if group.get("fused"):
            update = _fused_sgd
        else:
            update = _multi_tensor_sgd if foreach else _single_tensor_sgd
        update(params, [p.grad for p in params], buffers, lr=group["lr"],
               momentum=group["momentum"], dampening=group["dampening"],
               weight_decay=group["weight_decay"], nesterov=group["nesterov"],
               maximize=group["maximize"])
        # the first step creates the buffers: keep them for the next step
        for p, buf in zip(params, buffers):
            self.state[p]["momentum_buffer"] = buf


def _single_tensor_sgd(params: list[Tensor], grads: list[Tensor],
                       momentum_buffers: list[Tensor | None], *, lr: float, momentum: float,
                       dampening: float, weight_decay: float, nesterov: bool,
                       maximize: bool) -> None:
    """The readable loop: one parameter at a time (fills ``momentum_buffers`` in place)."""
    for i, param in enumerate(params):
        # g ← −g when maximising (gradient ascent)
        grad = -grads[i] if maximize else grads[i]
        if weight_decay != 0:
            # g ← g + λ·w   (gradient of the L2 penalty λ/2·‖w‖², G4)
            grad = grad.add(param, alpha=weight_decay)
        if momentum != 0:
            buf = momentum_buffers[i]
            if buf is None:
                # b_1 = g_1
                buf = grad.detach().clone()
                momentum_buffers[i] = buf
            else:
                # b_t = μ·b_{t-1} + (1-τ)·g_t
                buf.mul_(momentum).add_(grad, alpha=1 - dampening)
            # Nesterov: d_t = g_t + μ·b_t (look ahead); classical: d_t = b_t
            grad = grad.add(buf, alpha=momentum) if nesterov else buf
        # w_t = w_{t-1} − η·d_t
        param.add_(grad, alpha=-lr)


def _multi_tensor_sgd(params: list[Tensor], grads: list[Tensor],
                      momentum_buffers: list[Tensor | None], *, lr: float, momentum: float,
                      dampening: float, weight_decay: float, nesterov: bool,
                      maximize: bool) -> None:
    """The same update on whole lists of tensors with ``torch._foreach_*`` ops."""
    # g ← −g when maximising
    if maximize:
        grads = torch._foreach_neg(grads)
    if weight_decay != 0:
        # g ← g + λ·w
        grads = torch._foreach_add(grads, params, alpha=weight_decay)
    if momentum != 0:
        old = [i for i, buf in enumerate(momentum_buffers) if buf is not None]
        if old:
            bufs = [momentum_buffers[i] for i in old]
            # b_t = μ·b_{t-1} + (1-τ)·g_t
            torch._foreach_mul_(bufs, momentum)
            torch._foreach_add_(bufs, [grads[i] for i in old], alpha=1 - dampening)
        for i, buf in enumerate(momentum_buffers):
            if buf is None:
                # b_1 = g_1
                momentum_buffers[i] = grads[i].detach().clone()
        # Nesterov: d_t = g_t + μ·b_t; classical: d_t = b_t
        if nesterov:
            grads = torch._foreach_add(grads, momentum_buffers, alpha=momentum)
        else:
            grads = momentum_buffers
    # w_t = w_{t-1} − η·d_t
    torch._foreach_add_(params, grads, alpha=-lr)


def _fused_sgd(params: list[Tensor], grads: list[Tensor],
               momentum_buffers: list[Tensor | None], *, lr: float, momentum: float,
               dampening: float, weight_decay: float, nesterov: bool, maximize: bool) -> None:
    """The same update by torch's fused kernel, one call per device and dtype (fills new
    ``momentum_buffers`` in place). With ``is_first_step`` the kernel starts the buffers at
    b_1 = g_1; otherwise it updates them, so tensors with and without a buffer go separately."""
    new = [i for i, buf in enumerate(momentum_buffers) if buf is None] if momentum != 0 else []
    old = sorted(set(range(len(params))) - set(new))
    for i in new:
        momentum_buffers[i] = torch.empty_like(grads[i])  # b_1 = g_1, written by the kernel
    for first, part in ((True, new), (False, old)):
        for group in by_device_and_dtype([params[i] for i in part]):
            idx = [part[j] for j in group]
            torch._fused_sgd_([params[i] for i in idx], [grads[i] for i in idx],
                              [momentum_buffers[i] for i in idx] if momentum != 0 else [],
                              weight_decay=weight_decay, momentum=momentum, lr=lr,
                              dampening=dampening, nesterov=nesterov, maximize=maximize,
                              is_first_step=first)
