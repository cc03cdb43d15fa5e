"""The ``fused=True`` path (torch's fused kernels on our state) follows our readable loop.

float64: within 1e-12 of the loop over 20 steps and bit-identical to ``torch.optim.X(fused=True)``;
float32: within float32 rounding of the loop. The state keeps torch's names and the fused
layout (``step`` float32 on the parameter's device); a state from the loop resumes fused.
Notes: B4, O3, O4, O6, G4.
"""

from __future__ import annotations

import copy

import pytest
import torch

import deepnotes.optim as dn
from deepnotes.errors import ConfigError

from ._helpers import assert_same_params, batch, make_net, param_groups, train, twin_nets

STEPS = 20

# (name, our class, torch class, hyperparameters): the optimizers with a fused kernel
CASES = [
    ("sgd-plain", dn.SGD, torch.optim.SGD, dict(lr=0.1)),
    ("sgd-momentum-wd", dn.SGD, torch.optim.SGD,
     dict(lr=0.05, momentum=0.7, weight_decay=0.01, dampening=0.1)),
    ("sgd-nesterov-maximize", dn.SGD, torch.optim.SGD,
     dict(lr=0.01, momentum=0.9, nesterov=True, weight_decay=0.1, maximize=True)),
    ("adagrad-all", dn.Adagrad, torch.optim.Adagrad,
     dict(lr=0.1, lr_decay=0.01, weight_decay=0.02, initial_accumulator_value=0.3, eps=1e-6)),
    ("adagrad-maximize", dn.Adagrad, torch.optim.Adagrad, dict(lr=0.05, maximize=True)),
    ("adam-default", dn.Adam, torch.optim.Adam, dict(lr=0.01)),
    ("adam-all", dn.Adam, torch.optim.Adam,
     dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.05, amsgrad=True, maximize=True)),
    ("adamw-wd", dn.AdamW, torch.optim.AdamW, dict(lr=0.02, weight_decay=0.3, betas=(0.7, 0.95))),
    ("adamw-amsgrad", dn.AdamW, torch.optim.AdamW,
     dict(lr=0.02, weight_decay=0.1, amsgrad=True, maximize=True)),
]
IDS = [c[0] for c in CASES]


def _train(net: torch.nn.Module, opt: torch.optim.Optimizer, steps: int, dtype: torch.dtype):
    for k in range(steps):
        x, y = (t.to(dtype) for t in batch(k))
        opt.zero_grad()
        ((net(x) - y) ** 2).mean().backward()
        opt.step()


@pytest.mark.parametrize("groups", [False, True], ids=["one-group", "two-groups"])
@pytest.mark.parametrize("name, ours_cls, torch_cls, hyper", CASES, ids=IDS)
def test_fused_follows_the_loop_in_float64_and_equals_torch_fused(name, ours_cls, torch_cls,
                                                                  hyper, groups):
    fused_net, loop_net = twin_nets(seed=len(name))
    torch_net = copy.deepcopy(fused_net)
    fused = ours_cls(param_groups(fused_net, groups, hyper["lr"]), fused=True, **hyper)
    loop = ours_cls(param_groups(loop_net, groups, hyper["lr"]), foreach=False, **hyper)
    ref = torch_cls(param_groups(torch_net, groups, hyper["lr"]), fused=True, **hyper)
    for net, opt in ((fused_net, fused), (loop_net, loop), (torch_net, ref)):
        train(net, opt, STEPS)
    assert_same_params(fused_net, loop_net)
    for a, b in zip(fused_net.parameters(), torch_net.parameters()):
        assert torch.equal(a, b)  # the same kernel on the same state
    assert not torch.allclose(fused_net[0].weight, make_net(seed=len(name))[0].weight)


@pytest.mark.parametrize("name, ours_cls, torch_cls, hyper", CASES, ids=IDS)
def test_fused_follows_the_loop_in_float32(name, ours_cls, torch_cls, hyper):
    fused_net, loop_net = (net.float() for net in twin_nets(seed=3))
    fused = ours_cls(fused_net.parameters(), fused=True, **hyper)
    loop = ours_cls(loop_net.parameters(), **hyper)
    _train(fused_net, fused, STEPS, torch.float32)
    _train(loop_net, loop, STEPS, torch.float32)
    for a, b in zip(fused_net.parameters(), loop_net.parameters()):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, ours_cls, torch_cls, hyper", CASES[1::2], ids=IDS[1::2])
def test_fused_state_has_torch_fused_layout(name, ours_cls, torch_cls, hyper):
    ours_net, ref_net = twin_nets(seed=4)
    ours = ours_cls(ours_net.parameters(), fused=True, **hyper)
    ref = torch_cls(ref_net.parameters(), fused=True, **hyper)
    train(ours_net, ours, 3)
    train(ref_net, ref, 3)
    ours_sd, ref_sd = ours.state_dict(), ref.state_dict()
    for idx, state in ref_sd["state"].items():
        assert sorted(ours_sd["state"][idx]) == sorted(state)
        for key, expected in state.items():
            value = ours_sd["state"][idx][key]
            assert (value.dtype, value.device) == (expected.dtype, expected.device), key
            assert torch.equal(value, expected), key
    assert ours_sd["param_groups"][0]["fused"] is True


@pytest.mark.parametrize("name, ours_cls, torch_cls, hyper", CASES[1::2], ids=IDS[1::2])
def test_loop_state_resumes_on_the_fused_path(name, ours_cls, torch_cls, hyper):
    """Train 6 loop steps, load the state into a fused optimizer, go on: as 12 loop steps."""
    net = make_net(seed=6)
    loop = ours_cls(net.parameters(), **hyper)
    train(net, loop, 6)
    saved_net, saved_opt = copy.deepcopy(net.state_dict()), copy.deepcopy(loop.state_dict())
    train(net, loop, 6, start=6)
    resumed = make_net(seed=7)
    resumed.load_state_dict(saved_net)
    fused = ours_cls(resumed.parameters(), fused=True, **hyper)
    fused.load_state_dict(saved_opt)
    for group in fused.param_groups:
        group["fused"] = True  # load_state_dict brought the saved run's switches
    train(resumed, fused, 6, start=6)
    assert_same_params(resumed, net)


def test_sgd_buffers_start_for_parameters_that_join_later():
    """A parameter whose first gradient arrives at step 3 starts its momentum buffer at
    b_1 = g_1 while the others go on: the kernel's first-step mode per tensor."""
    fused_net, loop_net = twin_nets(seed=8)
    opts = [dn.SGD(n.parameters(), lr=0.05, momentum=0.9, fused=f)
            for n, f in ((fused_net, True), (loop_net, False))]
    for net, opt in zip((fused_net, loop_net), opts):
        for k in range(6):
            x, y = batch(k)
            opt.zero_grad()
            ((net(x) - y) ** 2).mean().backward()
            if k < 2:
                net[2].bias.grad = None  # no gradient yet: skipped by the step
            opt.step()
    assert_same_params(fused_net, loop_net)


@pytest.mark.parametrize("cls", [dn.SGD, dn.Adagrad, dn.Adam, dn.AdamW])
def test_fused_is_off_unless_asked_for(cls):
    opt = cls(make_net().parameters(), lr=0.1)
    assert opt.defaults["fused"] is None  # torch's default: the kernel only on request


def test_fused_refuses_what_the_kernels_cannot_do():
    w = torch.nn.Parameter(torch.zeros(3))
    with pytest.raises(ConfigError, match="fused=True and foreach=True"):
        dn.Adam([w], fused=True, foreach=True)
    with pytest.raises(ConfigError, match="invalid fused='yes'"):
        dn.SGD([w], lr=0.1, fused="yes")
    with pytest.raises(ConfigError, match="real floating-point.*complex128"):
        dn.Adagrad([torch.nn.Parameter(torch.zeros(2, dtype=torch.complex128))], fused=True)
    opt = dn.AdamW([w], fused=True)
    with pytest.raises(ConfigError, match="real floating-point"):
        opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(2, dtype=torch.cfloat))]})
    with pytest.raises(ConfigError, match="RMSprop"):
        dn.create_optimizer("rmsprop", [w], fused=True)  # torch has no fused RMSprop kernel
