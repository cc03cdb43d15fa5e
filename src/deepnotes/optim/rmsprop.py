"""RMSProp: divide the step by an exponentially weighted root mean square of recent gradients.

Notes: O5 (RMSProp), O3 (momentum), G4 (weight decay).
"""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import Tensor

from deepnotes.optim._base import (
    FormulaOptimizer,
    as_real,
    check_bool,
    check_foreach,
    check_number,
    scalar_step,
)


class RMSprop(FormulaOptimizer):
    r"""RMSProp, written from the update rule.

    .. math::
        g_t &\leftarrow g_t + \lambda w_{t-1} \\
        v_t &= \alpha v_{t-1} + (1-\alpha)\, g_t \odot g_t \\
        \bar g_t &= \alpha \bar g_{t-1} + (1-\alpha)\, g_t
            \quad\text{and}\quad \sigma_t = \sqrt{v_t - \bar g_t^2} + \epsilon
            \qquad \text{(centered)} \\
        \sigma_t &= \sqrt{v_t} + \epsilon \qquad \text{(otherwise)} \\
        b_t &= \mu b_{t-1} + g_t / \sigma_t, \quad w_t = w_{t-1} - \eta b_t
            \qquad (\mu > 0) \\
        w_t &= w_{t-1} - \eta\, g_t / \sigma_t \qquad (\mu = 0)

    Unlike Adagrad's ever-growing sum, :math:`v_t` forgets old gradients at rate
    :math:`\alpha`, so the step size recovers after the error surface changes. Same semantics
    and state (``step``, ``square_avg``, ``momentum_buffer``, ``grad_avg``) as
    :class:`torch.optim.RMSprop`.

    Args:
        params: iterable of parameters or of dicts defining parameter groups.
        lr: learning rate :math:`\eta`. Default: ``1e-2``.
        alpha: smoothing constant :math:`\alpha` in ``[0, 1]``. Default: ``0.99``.
        eps: :math:`\epsilon` added to the denominator. Default: ``1e-8``.
        weight_decay: L2 penalty :math:`\lambda` added to the gradient. Default: ``0``.
        momentum: momentum factor :math:`\mu`. Default: ``0``.
        centered: normalise by an estimate of the gradient's variance. Default: ``False``.
        maximize: maximise the objective instead of minimising it. Default: ``False``.
        foreach: ``True`` multi-tensor path, ``False`` readable loop, ``None`` (default)
            multi-tensor only when all parameters are on CUDA.

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = RMSprop([w], lr=0.01, alpha=0.99, eps=0.0)
        >>> (w ** 2).sum().backward()
        >>> opt.step()  # the first step is lr·g/√(0.01·g²) = 10·lr·sign(g)
        >>> w.detach()
        tensor([ 0.9000, -1.9000])

    Notes: O5, O3, G4.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None) -> None:
        name = type(self).__name__
        defaults = {
            "lr": check_number(name, "lr", lr),
            "alpha": check_number(name, "alpha", alpha, high=1.0),
            "eps": check_number(name, "eps", eps),
            "weight_decay": check_number(name, "weight_decay", weight_decay),
            "momentum": check_number(name, "momentum", momentum),
            "centered": check_bool(name, "centered", centered),
            "maximize": check_bool(name, "maximize", maximize),
            "foreach": check_foreach(name, foreach),
        }
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any], params: list[Tensor], foreach: bool) -> None:
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                state["step"] = scalar_step()
                state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if group["momentum"] > 0:
                    state["momentum_buffer"] = torch.zeros_like(
                        p, memory_format=torch.preserve_format)
                if group["centered"]:
                    state["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        states = [self.state[p] for p in params]
        update = _multi_tensor_rmsprop if foreach else _single_tensor_rmsprop
        update(as_real(params), as_real([p.grad for p in params]),
               as_real([s["square_avg"] for s in states]),
               as_real([s["grad_avg"] for s in states]) if group["centered"] else [],
               as_real([s["momentum_buffer"] for s in states]) if group["momentum"] > 0 else [],
               [s["step"] for s in states], lr=group["lr"], alpha=group["alpha"],
               eps=group["eps"], weight_decay=group["weight_decay"], momentum=group["momentum"],
               centered=group["centered"], maximize=group["maximize"])


def _single_tensor_rmsprop(params: list[Tensor], grads: list[Tensor], square_avgs: list[Tensor],
                           grad_avgs: list[Tensor], momentum_buffers: list[Tensor],
                           state_steps: list[Tensor], *, lr: float, alpha: float, eps: float,
                           weight_decay: float, momentum: float, centered: bool,
                           maximize: bool) -> None:
    """The readable loop: one parameter at a time."""
    for i, param in enumerate(params):
        # t ← t + 1
        state_steps[i] += 1
        grad = -grads[i] if maximize else grads[i]
        if weight_decay != 0:
            # g_t ← g_t + λ·w_{t-1}
            grad = grad.add(param, alpha=weight_decay)
        square_avg = square_avgs[i]
        # v_t = α·v_{t-1} + (1-α)·g_t²
        square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
        if centered:
            grad_avg = grad_avgs[i]
            # ḡ_t = α·ḡ_{t-1} + (1-α)·g_t
            grad_avg.mul_(alpha).add_(grad, alpha=1 - alpha)
            # σ_t = √(v_t − ḡ_t²) + ε
            avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_().add_(eps)
        else:
            # σ_t = √v_t + ε
            avg = square_avg.sqrt().add_(eps)
        if momentum > 0:
            buf = momentum_buffers[i]
            # b_t = μ·b_{t-1} + g_t / σ_t
            buf.mul_(momentum).addcdiv_(grad, avg)
            # w_t = w_{t-1} − η·b_t
            param.add_(buf, alpha=-lr)
        else:
            # w_t = w_{t-1} − η·g_t / σ_t
            param.addcdiv_(grad, avg, value=-lr)


def _multi_tensor_rmsprop(params: list[Tensor], grads: list[Tensor], square_avgs: list[Tensor],
                          grad_avgs: list[Tensor], momentum_buffers: list[Tensor],
                          state_steps: list[Tensor], *, lr: float, alpha: float, eps: float,
                          weight_decay: float, momentum: float, centered: bool,
                          maximize: bool) -> None:
    """The same update on whole lists of tensors with ``torch._foreach_*`` ops."""
    # t ← t + 1
    torch._foreach_add_(state_steps, 1.0)
    if maximize:
        grads = torch._foreach_neg(grads)
    if weight_decay != 0:
        # g_t ← g_t + λ·w_{t-1}
        grads = torch._foreach_add(grads, params, alpha=weight_decay)
    # v_t = α·v_{t-1} + (1-α)·g_t²
    torch._foreach_mul_(square_avgs, alpha)
    torch._foreach_addcmul_(square_avgs, grads, grads, value=1 - alpha)
    if centered:
        # ḡ_t = α·ḡ_{t-1} + (1-α)·g_t
        torch._foreach_mul_(grad_avgs, alpha)
        torch._foreach_add_(grad_avgs, grads, alpha=1 - alpha)
        # σ_t = √(v_t − ḡ_t²) + ε
        avg = torch._foreach_addcmul(square_avgs, grad_avgs, grad_avgs, value=-1)
        torch._foreach_sqrt_(avg)
    else:
        # σ_t = √v_t + ε
        avg = torch._foreach_sqrt(square_avgs)
    torch._foreach_add_(avg, eps)
    if momentum > 0:
        # b_t = μ·b_{t-1} + g_t / σ_t
        torch._foreach_mul_(momentum_buffers, momentum)
        torch._foreach_addcdiv_(momentum_buffers, grads, avg)
        # w_t = w_{t-1} − η·b_t
        torch._foreach_add_(params, momentum_buffers, alpha=-lr)
    else:
        # w_t = w_{t-1} − η·g_t / σ_t
        torch._foreach_addcdiv_(params, grads, avg, value=-lr)
