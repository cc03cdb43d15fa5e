"""Adagrad: divide each coordinate's step by the root of the sum of all its past squared gradients.

Notes: O4 (Adagrad), G4 (weight decay).
"""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import Tensor

from deepnotes.optim._base import (
    FormulaOptimizer,
    as_real,
    by_device_and_dtype,
    check_bool,
    check_foreach,
    check_fused,
    check_number,
    fused_step,
    scalar_step,
)


class Adagrad(FormulaOptimizer):
    r"""Adagrad, written from the update rule.

    .. math::
        g_t &\leftarrow g_t + \lambda w_{t-1} \\
        \eta_t &= \eta / (1 + (t-1)\,\text{lr\_decay}) \\
        G_t &= G_{t-1} + g_t \odot g_t, \qquad G_0 = \text{initial\_accumulator\_value} \\
        w_t &= w_{t-1} - \eta_t\, g_t / (\sqrt{G_t} + \epsilon)

    Each coordinate gets its own step size :math:`\eta/\sqrt{G_t}`: steep directions slow down,
    flat ones speed up. Because :math:`G_t` only grows, the step keeps shrinking (and after a
    long flat stretch it is huge), which RMSProp fixes. Same semantics and state (``step``,
    ``sum``) as :class:`torch.optim.Adagrad`.

    Args:
        params: iterable of parameters or of dicts defining parameter groups.
        lr: learning rate :math:`\eta`. Default: ``1e-2``.
        lr_decay: learning-rate decay per step. Default: ``0``.
        weight_decay: L2 penalty :math:`\lambda` added to the gradient. Default: ``0``.
        initial_accumulator_value: start value :math:`G_0` of the sum. Default: ``0``.
        eps: :math:`\epsilon` added to the denominator. Default: ``1e-10``.
        maximize: maximise the objective instead of minimising it. Default: ``False``.
        foreach: ``True`` multi-tensor path, ``False`` readable loop, ``None`` (default)
            multi-tensor only when all parameters are on CUDA.
        fused: ``True`` runs torch's fused kernel (``torch._fused_adagrad_``: the whole update
            of a tensor in one pass; real floating-point parameters on the CPU or CUDA) on the
            same state. ``None``/``False`` (default, as in torch): off.

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = Adagrad([w], lr=0.5)
        >>> (w ** 2).sum().backward()
        >>> opt.step()  # the first step moves every coordinate by lr·sign(g)
        >>> w.detach()
        tensor([ 0.5000, -1.5000])

    Notes: O4, G4.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, *, maximize: bool = False,
                 foreach: bool | None = None, fused: bool | None = None) -> None:
        name = type(self).__name__
        defaults = {
            "lr": check_number(name, "lr", lr),
            "lr_decay": check_number(name, "lr_decay", lr_decay),
            "weight_decay": check_number(name, "weight_decay", weight_decay),
            "initial_accumulator_value": check_number(
                name, "initial_accumulator_value", initial_accumulator_value),
            "eps": check_number(name, "eps", eps),
            "maximize": check_bool(name, "maximize", maximize),
            "foreach": check_foreach(name, foreach),
            "fused": check_fused(name, fused, foreach),
        }
        super().__init__(params, defaults)
        # like torch.optim.Adagrad, every parameter gets its state at once (so the state dict
        # has the same entries as torch's even before the first step)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(group, p)

    def _init_state(self, group: dict[str, Any], p: Tensor) -> None:
        """``step = 0`` and ``G_0`` = the group's ``initial_accumulator_value`` (if not set yet)."""
        state = self.state[p]
        if len(state) == 0:
            g0 = group["initial_accumulator_value"]
            state["step"] = fused_step(p) if group.get("fused") else scalar_step()
            # a complex weight is two real ones: both parts start their sum at G_0
            state["sum"] = torch.full_like(p, complex(g0, g0) if torch.is_complex(p) else g0,
                                           memory_format=torch.preserve_format)

    def _update_group(self, group: dict[str, Any], params: list[Tensor], foreach: bool) -> None:
        fused = bool(group.get("fused"))
        for p in params:
            # parameters added later with add_param_group get their state here
            self._init_state(group, p)
            step = self.state[p]["step"]
            if fused and (step.dtype != torch.float32 or step.device != p.device):
                self.state[p]["step"] = fused_step(p, step)  # a count from the other paths
        if fused:
            update = _fused_adagrad
        else:
            update = _multi_tensor_adagrad if foreach else _single_tensor_adagrad
        update(as_real(params), as_real([p.grad for p in params]),
               as_real([self.state[p]["sum"] for p in params]),
               [self.state[p]["step"] for p in params], lr=group["lr"],
               lr_decay=group["lr_decay"], weight_decay=group["weight_decay"], eps=group["eps"],
               maximize=group["maximize"])


def _single_tensor_adagrad(params: list[Tensor], grads: list[Tensor], state_sums: list[Tensor],
                           state_steps: list[Tensor], *, lr: float, lr_decay: float,
                           weight_decay: float, eps: float, maximize: bool) -> None:
    """The readable loop: one parameter at a time."""
    for param, grad, state_sum, step_t in zip(params, grads, state_sums, state_steps):
        # t ← t + 1
        step_t += 1
        step = step_t.item()
        grad = -grad if maximize else grad
        if weight_decay != 0:
            # g_t ← g_t + λ·w_{t-1}
            grad = grad.add(param, alpha=weight_decay)
        # η_t = η / (1 + (t-1)·lr_decay)
        clr = lr / (1 + (step - 1) * lr_decay)
        # G_t = G_{t-1} + g_t ⊙ g_t
        state_sum.addcmul_(grad, grad, value=1)
        # σ_t = √G_t + ε
        std = state_sum.sqrt().add_(eps)
        # w_t = w_{t-1} − η_t·g_t / σ_t
        param.addcdiv_(grad, std, value=-clr)


def _multi_tensor_adagrad(params: list[Tensor], grads: list[Tensor], state_sums: list[Tensor],
                          state_steps: list[Tensor], *, lr: float, lr_decay: float,
                          weight_decay: float, eps: float, maximize: bool) -> None:
    """The same update on whole lists of tensors with ``torch._foreach_*`` ops."""
    # t ← t + 1
    torch._foreach_add_(state_steps, 1.0)
    if maximize:
        grads = torch._foreach_neg(grads)
    if weight_decay != 0:
        # g_t ← g_t + λ·w_{t-1}
        grads = torch._foreach_add(grads, params, alpha=weight_decay)
    # −η_t = −η / (1 + (t-1)·lr_decay), one number per tensor
    minus_clr = [-lr / (1 + (step.item() - 1) * lr_decay) for step in state_steps]
    # G_t = G_{t-1} + g_t ⊙ g_t
    torch._foreach_addcmul_(state_sums, grads, grads, value=1)
    # σ_t = √G_t + ε
    std = torch._foreach_sqrt(state_sums)
    torch._foreach_add_(std, eps)
    # w_t = w_{t-1} − η_t·g_t / σ_t
    torch._foreach_addcdiv_(params, grads, std, minus_clr)


def _fused_adagrad(params: list[Tensor], grads: list[Tensor], state_sums: list[Tensor],
                   state_steps: list[Tensor], *, lr: float, lr_decay: float,
                   weight_decay: float, eps: float, maximize: bool) -> None:
    """The same update by torch's fused kernel, one call per device and dtype (``step`` is
    float32 on the device)."""
    for idx in by_device_and_dtype(params):
        steps = [state_steps[i] for i in idx]
        # t ← t + 1 (the kernel reads t for η_t)
        torch._foreach_add_(steps, 1.0)
        torch._fused_adagrad_([params[i] for i in idx], [grads[i] for i in idx],
                              [state_sums[i] for i in idx], steps, lr=lr, lr_decay=lr_decay,
                              weight_decay=weight_decay, eps=eps, maximize=maximize)
