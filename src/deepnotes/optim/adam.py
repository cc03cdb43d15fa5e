"""Adam (RMSProp + momentum, with bias correction) and AdamW (decoupled weight decay).

Notes: O6 (Adam / AdamW), G4 (weight decay).
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch
from torch import Tensor

from deepnotes.errors import ConfigError
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


class Adam(FormulaOptimizer):
    r"""Adam, written from the update rule.

    .. math::
        g_t &\leftarrow g_t + \lambda w_{t-1}
            \qquad \text{(Adam: L2 coupled into the gradient)} \\
        w_{t-1} &\leftarrow (1 - \eta\lambda)\, w_{t-1}
            \qquad \text{(AdamW: decay applied to the weights)} \\
        m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\
        v_t &= \beta_2 v_{t-1} + (1-\beta_2)\, g_t \odot g_t \\
        \hat m_t &= m_t / (1-\beta_1^t), \qquad \hat v_t = v_t / (1-\beta_2^t) \\
        w_t &= w_{t-1} - \eta\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)

    :math:`m_t` is momentum (O3), :math:`v_t` is RMSProp's mean square (O5); both start at 0,
    so the bias corrections undo their pull towards 0 in the first steps. With
    ``amsgrad=True`` the denominator uses :math:`\max_{s \le t} v_s` so it never shrinks. Same
    semantics and state (``step``, ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``) as
    :class:`torch.optim.Adam`.

    Args:
        params: iterable of parameters or of dicts defining parameter groups.
        lr: learning rate :math:`\eta`. Default: ``1e-3``.
        betas: :math:`(\beta_1, \beta_2)`, each in ``[0, 1)``. Default: ``(0.9, 0.999)``.
        eps: :math:`\epsilon` added to the denominator. Default: ``1e-8``.
        weight_decay: weight decay :math:`\lambda`. Default: ``0`` (``1e-2`` for AdamW).
        amsgrad: use the AMSGrad maximum of :math:`v_t`. Default: ``False``.
        maximize: maximise the objective instead of minimising it. Default: ``False``.
        foreach: ``True`` multi-tensor path, ``False`` readable loop, ``None`` (default)
            multi-tensor only when all parameters are on CUDA.
        fused: ``True`` runs torch's fused kernel (``torch._fused_adam_``/``_fused_adamw_``:
            the whole update of a tensor in one pass; real floating-point parameters on the
            CPU or CUDA) on the same state. ``None``/``False`` (default, as in torch): off.

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = Adam([w], lr=0.1)
        >>> (w ** 2).sum().backward()
        >>> opt.step()  # after bias correction the first step is lr·sign(g)
        >>> w.detach()
        tensor([ 0.9000, -1.9000])

    Notes: O6, G4.
    """

    decoupled_weight_decay = False

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, fused: bool | None = None) -> None:
        name = type(self).__name__
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ConfigError(f"{name}: invalid betas={betas!r}; use a pair (beta1, beta2).")
        defaults = {
            "lr": check_number(name, "lr", lr),
            "betas": (check_number(name, "betas[0]", betas[0], high=1.0, high_open=True),
                      check_number(name, "betas[1]", betas[1], high=1.0, high_open=True)),
            "eps": check_number(name, "eps", eps),
            "weight_decay": check_number(name, "weight_decay", weight_decay),
            "amsgrad": check_bool(name, "amsgrad", amsgrad),
            "maximize": check_bool(name, "maximize", maximize),
            "foreach": check_foreach(name, foreach),
            "fused": check_fused(name, fused, foreach),
        }
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any], params: list[Tensor], foreach: bool) -> None:
        fused = bool(group.get("fused"))
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                state["step"] = fused_step(p) if fused else scalar_step()
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if group["amsgrad"]:
                    state["max_exp_avg_sq"] = torch.zeros_like(
                        p, memory_format=torch.preserve_format)
            elif fused and (state["step"].dtype != torch.float32
                            or state["step"].device != p.device):
                state["step"] = fused_step(p, state["step"])  # a count from the other paths
        states = [self.state[p] for p in params]
        beta1, beta2 = group["betas"]
        if fused:
            update = _fused_adam
        else:
            update = _multi_tensor_adam if foreach else _single_tensor_adam
        update(as_real(params), as_real([p.grad for p in params]),
               as_real([s["exp_avg"] for s in states]),
               as_real([s["exp_avg_sq"] for s in states]),
               as_real([s["max_exp_avg_sq"] for s in states]) if group["amsgrad"] else [],
               [s["step"] for s in states], lr=group["lr"], beta1=beta1, beta2=beta2,
               eps=group["eps"], weight_decay=group["weight_decay"], amsgrad=group["amsgrad"],
               maximize=group["maximize"], decoupled=self.decoupled_weight_decay)


class AdamW(Adam):
    r"""Adam with decoupled weight decay: :math:`w \leftarrow (1-\eta\lambda)\,w` before the step.

    Same update as :class:`Adam` except that the decay shrinks the weights directly instead of
    being added to the gradient (where Adam's :math:`1/\sqrt{\hat v_t}` scaling would weaken it
    for coordinates with large gradients). Same semantics as :class:`torch.optim.AdamW`.

    Args:
        params, lr, betas, eps, amsgrad, maximize, foreach, fused: as in :class:`Adam`.
        weight_decay: decoupled decay :math:`\lambda`. Default: ``1e-2``.

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = AdamW([w], lr=0.1, weight_decay=0.5)
        >>> (w ** 2).sum().backward()
        >>> opt.step()  # w·(1 − 0.05) − 0.1·sign(g)
        >>> w.detach()
        tensor([ 0.8500, -1.8000])

    Notes: O6, G4.
    """

    decoupled_weight_decay = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, fused: bool | None = None) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize, foreach=foreach, fused=fused)


def _single_tensor_adam(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
                        exp_avg_sqs: list[Tensor], max_exp_avg_sqs: list[Tensor],
                        state_steps: list[Tensor], *, lr: float, beta1: float, beta2: float,
                        eps: float, weight_decay: float, amsgrad: bool, maximize: bool,
                        decoupled: bool) -> None:
    """The readable loop: one parameter at a time."""
    for i, param in enumerate(params):
        exp_avg, exp_avg_sq = exp_avgs[i], exp_avg_sqs[i]
        # t ← t + 1
        state_steps[i] += 1
        step = state_steps[i].item()
        grad = -grads[i] if maximize else grads[i]
        if weight_decay != 0:
            if decoupled:
                # w_{t-1} ← (1 − ηλ)·w_{t-1}   (AdamW)
                param.mul_(1 - lr * weight_decay)
            else:
                # g_t ← g_t + λ·w_{t-1}   (Adam + L2)
                grad = grad.add(param, alpha=weight_decay)
        # m_t = β1·m_{t-1} + (1-β1)·g_t
        exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
        # v_t = β2·v_{t-1} + (1-β2)·g_t²
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        # bias corrections 1 − β1^t and 1 − β2^t
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        if amsgrad:
            # v_max_t = max(v_max_{t-1}, v_t)
            torch.maximum(max_exp_avg_sqs[i], exp_avg_sq, out=max_exp_avg_sqs[i])
            second_moment = max_exp_avg_sqs[i]
        else:
            second_moment = exp_avg_sq
        # √v̂_t + ε = √v_t / √(1 − β2^t) + ε
        denom = (second_moment.sqrt() / math.sqrt(bias_correction2)).add_(eps)
        # w_t = w_{t-1} − η·m̂_t / (√v̂_t + ε),   m̂_t = m_t / (1 − β1^t)
        param.addcdiv_(exp_avg, denom, value=-lr / bias_correction1)


def _multi_tensor_adam(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
                       exp_avg_sqs: list[Tensor], max_exp_avg_sqs: list[Tensor],
                       state_steps: list[Tensor], *, lr: float, beta1: float, beta2: float,
                       eps: float, weight_decay: float, amsgrad: bool, maximize: bool,
                       decoupled: bool) -> None:
    """The same update on whole lists of tensors with ``torch._foreach_*`` ops."""
    # t ← t + 1
    torch._foreach_add_(state_steps, 1.0)
    if maximize:
        grads = torch._foreach_neg(grads)
    if weight_decay != 0:
        if decoupled:
            # w_{t-1} ← (1 − ηλ)·w_{t-1}
            torch._foreach_mul_(params, 1 - lr * weight_decay)
        else:
            # g_t ← g_t + λ·w_{t-1}
            grads = torch._foreach_add(grads, params, alpha=weight_decay)
    # m_t = β1·m_{t-1} + (1-β1)·g_t
    torch._foreach_mul_(exp_avgs, beta1)
    torch._foreach_add_(exp_avgs, grads, alpha=1 - beta1)
    # v_t = β2·v_{t-1} + (1-β2)·g_t²
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1 - beta2)
    steps = [s.item() for s in state_steps]
    # −η / (1 − β1^t) and √(1 − β2^t), one number per tensor
    minus_step_size = [-lr / (1 - beta1**t) for t in steps]
    bias_correction2_sqrt = [math.sqrt(1 - beta2**t) for t in steps]
    if amsgrad:
        # v_max_t = max(v_max_{t-1}, v_t)
        torch._foreach_maximum_(max_exp_avg_sqs, exp_avg_sqs)
        second_moments = max_exp_avg_sqs
    else:
        second_moments = exp_avg_sqs
    # √v̂_t + ε = √v_t / √(1 − β2^t) + ε
    denom = torch._foreach_sqrt(second_moments)
    torch._foreach_div_(denom, bias_correction2_sqrt)
    torch._foreach_add_(denom, eps)
    # w_t = w_{t-1} − η·m̂_t / (√v̂_t + ε)
    torch._foreach_addcdiv_(params, exp_avgs, denom, minus_step_size)


def _fused_adam(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
                exp_avg_sqs: list[Tensor], max_exp_avg_sqs: list[Tensor],
                state_steps: list[Tensor], *, lr: float, beta1: float, beta2: float,
                eps: float, weight_decay: float, amsgrad: bool, maximize: bool,
                decoupled: bool) -> None:
    """The same update by torch's fused kernel: every formula of the loop above, for each
    tensor in one pass (one call per device and dtype; ``step`` is float32 on the device)."""
    kernel = torch._fused_adamw_ if decoupled else torch._fused_adam_
    for idx in by_device_and_dtype(params):
        steps = [state_steps[i] for i in idx]
        # t ← t + 1 (the kernel reads t for the bias corrections)
        torch._foreach_add_(steps, 1.0)
        kernel([params[i] for i in idx], [grads[i] for i in idx], [exp_avgs[i] for i in idx],
               [exp_avg_sqs[i] for i in idx],
               [max_exp_avg_sqs[i] for i in idx] if amsgrad else [], steps,
               lr=lr, beta1=beta1, beta2=beta2, weight_decay=weight_decay, eps=eps,
               amsgrad=amsgrad, maximize=maximize)
