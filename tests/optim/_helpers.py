"""Shared pieces for the optimizer tests: a tiny float64 net, its data, and a training loop."""

from __future__ import annotations

import copy
from typing import Any, Callable

import torch
from torch import nn

# relative / absolute tolerance for float64 parameter trajectories
RTOL = 1e-12
ATOL = 1e-14


def make_net(seed: int = 0) -> nn.Module:
    """A 5-8-3 tanh MLP in float64 (41 + 27 parameters, four tensors)."""
    gen = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * 0.5)
    return net


def batch(k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k-th mini-batch: a different, fixed (x, y) pair for every step."""
    gen = torch.Generator().manual_seed(1000 + k)
    x = torch.randn(16, 5, generator=gen, dtype=torch.float64)
    y = torch.randn(16, 3, generator=gen, dtype=torch.float64)
    return x, y


def train(net: nn.Module, opt: torch.optim.Optimizer, steps: int, start: int = 0) -> None:
    """``steps`` optimizer updates on an MSE loss, batches ``start .. start+steps-1``."""
    for k in range(start, start + steps):
        x, y = batch(k)
        opt.zero_grad()
        loss = ((net(x) - y) ** 2).mean()
        loss.backward()
        opt.step()


def param_groups(net: nn.Module, groups: bool, lr: float) -> Any:
    """All parameters in one group, or two groups (first layer with 3x the lr)."""
    if not groups:
        return net.parameters()
    return [{"params": net[0].parameters(), "lr": 3 * lr}, {"params": net[2].parameters()}]


def twin_nets(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    net = make_net(seed)
    return net, copy.deepcopy(net)


def assert_same_params(ours: nn.Module, ref: nn.Module) -> None:
    for (name, a), (_, b) in zip(ours.named_parameters(), ref.named_parameters()):
        torch.testing.assert_close(a, b, rtol=RTOL, atol=ATOL, msg=lambda m: f"{name}: {m}")


OptFactory = Callable[..., torch.optim.Optimizer]
