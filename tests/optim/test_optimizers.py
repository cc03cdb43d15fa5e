"""Our optimizers follow torch.optim step for step (float64, rtol 1e-12), on both code paths.

Each case trains two copies of a small net on the same batches for 20 steps, one with
``deepnotes.optim.X`` and one with ``torch.optim.X`` (same hyperparameters, same ``foreach``),
and compares every parameter after the run. Notes: B4, O3, O4, O5, O6, G4.
"""

from __future__ import annotations

import copy

import pytest
import torch

import deepnotes.optim as dn
from deepnotes.optim import adagrad as dn_adagrad
from deepnotes.optim import adam as dn_adam
from deepnotes.optim import rmsprop as dn_rmsprop
from deepnotes.optim import sgd as dn_sgd

from ._helpers import assert_same_params, batch, make_net, param_groups, train, twin_nets

STEPS = 20

# (name, our class, torch class, hyperparameters)
CASES = [
    ("sgd-plain", dn.SGD, torch.optim.SGD, dict(lr=0.1)),
    ("sgd-momentum", dn.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9)),
    ("sgd-dampening", dn.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.8, dampening=0.3)),
    ("sgd-nesterov", dn.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("sgd-wd", dn.SGD, torch.optim.SGD, dict(lr=0.1, weight_decay=0.05)),
    ("sgd-momentum-wd", dn.SGD, torch.optim.SGD,
     dict(lr=0.05, momentum=0.7, weight_decay=0.01, dampening=0.1)),
    ("sgd-maximize", dn.SGD, torch.optim.SGD,
     dict(lr=0.01, momentum=0.9, nesterov=True, weight_decay=0.1, maximize=True)),
    ("adagrad-default", dn.Adagrad, torch.optim.Adagrad, dict(lr=0.1)),
    ("adagrad-lr-decay", dn.Adagrad, torch.optim.Adagrad, dict(lr=0.2, lr_decay=0.05)),
    ("adagrad-wd-init", dn.Adagrad, torch.optim.Adagrad,
     dict(lr=0.1, weight_decay=0.02, initial_accumulator_value=0.3, eps=1e-6)),
    ("adagrad-maximize", dn.Adagrad, torch.optim.Adagrad,
     dict(lr=0.05, lr_decay=0.01, maximize=True)),
    ("rmsprop-default", dn.RMSprop, torch.optim.RMSprop, dict(lr=0.01)),
    ("rmsprop-alpha", dn.RMSprop, torch.optim.RMSprop, dict(lr=0.01, alpha=0.9, eps=1e-6)),
    ("rmsprop-momentum", dn.RMSprop, torch.optim.RMSprop,
     dict(lr=0.005, alpha=0.95, momentum=0.8)),
    ("rmsprop-centered", dn.RMSprop, torch.optim.RMSprop,
     dict(lr=0.005, centered=True, weight_decay=0.01)),
    ("rmsprop-all", dn.RMSprop, torch.optim.RMSprop,
     dict(lr=0.003, alpha=0.8, momentum=0.5, centered=True, weight_decay=0.1, maximize=True)),
    ("adam-default", dn.Adam, torch.optim.Adam, dict(lr=0.01)),
    ("adam-betas", dn.Adam, torch.optim.Adam, dict(lr=0.02, betas=(0.5, 0.9), eps=1e-6)),
    ("adam-amsgrad", dn.Adam, torch.optim.Adam, dict(lr=0.02, amsgrad=True)),
    ("adam-wd", dn.Adam, torch.optim.Adam, dict(lr=0.01, weight_decay=0.1)),
    ("adam-all", dn.Adam, torch.optim.Adam,
     dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.05, amsgrad=True, maximize=True)),
    ("adamw-default", dn.AdamW, torch.optim.AdamW, dict(lr=0.01)),
    ("adamw-wd", dn.AdamW, torch.optim.AdamW, dict(lr=0.02, weight_decay=0.3, betas=(0.7, 0.95))),
    ("adamw-amsgrad", dn.AdamW, torch.optim.AdamW,
     dict(lr=0.02, weight_decay=0.1, amsgrad=True, maximize=True)),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("foreach", [False, True], ids=["loop", "foreach"])
@pytest.mark.parametrize("name, ours_cls, torch_cls, hyper", CASES, ids=IDS)
def test_trajectory_matches_torch(name, ours_cls, torch_cls, hyper, foreach):
    ours_net, ref_net = twin_nets(seed=len(name))
    ours = ours_cls(ours_net.parameters(), foreach=foreach, **hyper)
    ref = torch_cls(ref_net.parameters(), foreach=foreach, **hyper)
    train(ours_net, ours, STEPS)
    train(ref_net, ref, STEPS)
    assert_same_params(ours_net, ref_net)
    # the run really moved the weights (a no-op optimizer would "match" an untouched copy)
    assert not torch.allclose(ours_net[0].weight, make_net(seed=len(name))[0].weight)


@pytest.mark.parametrize("foreach", [False, True], ids=["loop", "foreach"])
@pytest.mark.parametrize("name, ours_cls, torch_cls, hyper",
                         [CASES[i] for i in (1, 3, 8, 14, 18, 22)],
                         ids=[IDS[i] for i in (1, 3, 8, 14, 18, 22)])
def test_param_groups_with_different_lrs(name, ours_cls, torch_cls, hyper, foreach):
    ours_net, ref_net = twin_nets(seed=7)
    ours = ours_cls(param_groups(ours_net, True, hyper["lr"]), foreach=foreach, **hyper)
    ref = torch_cls(param_groups(ref_net, True, hyper["lr"]), foreach=foreach, **hyper)
    assert [g["lr"] for g in ours.param_groups] == [3 * hyper["lr"], hyper["lr"]]
    train(ours_net, ours, STEPS)
    train(ref_net, ref, STEPS)
    assert_same_params(ours_net, ref_net)


@pytest.mark.parametrize("name, ours_cls, torch_cls, hyper",
                         [CASES[i] for i in (4, 10, 15, 20, 23)],
                         ids=[IDS[i] for i in (4, 10, 15, 20, 23)])
def test_parameters_without_grad_are_left_alone(name, ours_cls, torch_cls, hyper):
    """A frozen parameter (grad None) is skipped and gets no state, as in torch."""
    ours_net, ref_net = twin_nets(seed=3)
    for net in (ours_net, ref_net):
        net[2].bias.requires_grad_(False)
    frozen = ours_net[2].bias.detach().clone()
    ours = ours_cls(ours_net.parameters(), **hyper)
    ref = torch_cls(ref_net.parameters(), **hyper)
    train(ours_net, ours, 5)
    train(ref_net, ref, 5)
    assert_same_params(ours_net, ref_net)
    assert torch.equal(ours_net[2].bias, frozen)
    # the same state entries as torch (Adagrad makes every parameter's state up front)
    assert ({k: sorted(v) for k, v in ours.state_dict()["state"].items()}
            == {k: sorted(v) for k, v in ref.state_dict()["state"].items()})


@pytest.mark.parametrize("foreach", [False, True], ids=["loop", "foreach"])
@pytest.mark.parametrize("ours_cls, torch_cls, hyper", [
    (dn.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.1)),
    (dn.Adagrad, torch.optim.Adagrad, dict(lr=0.1, weight_decay=0.1)),
    (dn.Adagrad, torch.optim.Adagrad, dict(lr=0.1, initial_accumulator_value=0.3)),
    (dn.RMSprop, torch.optim.RMSprop, dict(lr=0.01, centered=True, momentum=0.5)),
    (dn.Adam, torch.optim.Adam, dict(lr=0.05, amsgrad=True, weight_decay=0.1)),
    (dn.AdamW, torch.optim.AdamW, dict(lr=0.05, weight_decay=0.1)),
], ids=["sgd", "adagrad", "adagrad-init", "rmsprop", "adam", "adamw"])
def test_complex_parameters_match_torch(ours_cls, torch_cls, hyper, foreach):
    """Complex weights: the squares are |g|² per real/imaginary part, as torch does."""
    gen = torch.Generator().manual_seed(5)
    start = torch.randn(6, dtype=torch.complex128, generator=gen)
    target = torch.randn(6, dtype=torch.complex128, generator=gen)
    w_ours = torch.nn.Parameter(start.clone())
    w_ref = torch.nn.Parameter(start.clone())
    ours = ours_cls([w_ours], foreach=foreach, **hyper)
    ref = torch_cls([w_ref], foreach=foreach, **hyper)
    for w, opt in ((w_ours, ours), (w_ref, ref)):
        for _ in range(10):
            opt.zero_grad()
            ((w - target).abs() ** 2 * torch.linspace(0.5, 2, 6)).sum().backward()
            opt.step()
    torch.testing.assert_close(w_ours, w_ref, rtol=1e-12, atol=1e-14)
    assert not torch.equal(w_ours, start)


def test_closure_returns_loss_and_is_used():
    net = make_net()
    opt = dn.SGD(net.parameters(), lr=0.1)
    x, y = batch(0)

    def closure():
        opt.zero_grad()
        loss = ((net(x) - y) ** 2).mean()
        loss.backward()
        return loss

    before = closure().item()
    returned = opt.step(closure)
    assert returned.item() == pytest.approx(before)
    assert closure().item() < before


@pytest.mark.parametrize("name, ours_cls, torch_cls, hyper", CASES[::3], ids=IDS[::3])
def test_foreach_none_picks_the_loop_on_cpu_and_matches(name, ours_cls, torch_cls, hyper):
    ours_net, ref_net = twin_nets(seed=11)
    ours = ours_cls(ours_net.parameters(), **hyper)
    ref = torch_cls(ref_net.parameters(), **hyper)
    assert ours.defaults["foreach"] is None
    train(ours_net, ours, 5)
    train(ref_net, ref, 5)
    assert_same_params(ours_net, ref_net)


@pytest.mark.parametrize("module, name", [
    (dn_sgd, "sgd"), (dn_adagrad, "adagrad"), (dn_rmsprop, "rmsprop"), (dn_adam, "adam"),
])
def test_loop_and_foreach_functions_agree(module, name):
    """The two kernels of one optimizer agree with each other on raw tensor lists."""
    gen = torch.Generator().manual_seed(2)
    shapes = [(3, 4), (4,), (2, 2, 2)]

    def fresh():
        return [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]

    params, grads = fresh(), fresh()
    single = getattr(module, f"_single_tensor_{name}")
    multi = getattr(module, f"_multi_tensor_{name}")
    if name == "sgd":
        kwargs = dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01, nesterov=False,
                      maximize=False)
        make_args = lambda p: (p, [g.clone() for g in grads], [None] * len(p))  # noqa: E731
    elif name == "adagrad":
        kwargs = dict(lr=0.1, lr_decay=0.1, weight_decay=0.01, eps=1e-10, maximize=True)
        make_args = lambda p: (p, grads, [torch.full_like(x, 0.1) for x in p],  # noqa: E731
                               [torch.tensor(0.0, dtype=torch.float64) for _ in p])
    elif name == "rmsprop":
        kwargs = dict(lr=0.01, alpha=0.9, eps=1e-8, weight_decay=0.01, momentum=0.5,
                      centered=True, maximize=False)
        make_args = lambda p: (p, grads, [torch.zeros_like(x) for x in p],  # noqa: E731
                               [torch.zeros_like(x) for x in p], [torch.zeros_like(x) for x in p],
                               [torch.tensor(0.0, dtype=torch.float64) for _ in p])
    else:
        kwargs = dict(lr=0.01, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.1, amsgrad=True,
                      maximize=False, decoupled=True)
        make_args = lambda p: (p, grads, [torch.zeros_like(x) for x in p],  # noqa: E731
                               [torch.zeros_like(x) for x in p], [torch.zeros_like(x) for x in p],
                               [torch.tensor(0.0, dtype=torch.float64) for _ in p])
    p_single = [p.clone() for p in params]
    p_multi = [p.clone() for p in params]
    args_single, args_multi = make_args(p_single), make_args(p_multi)
    for _ in range(3):
        single(*args_single, **kwargs)
        multi(*args_multi, **kwargs)
    for a, b, p0 in zip(p_single, p_multi, params):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-15)
        assert not torch.equal(a, p0)


def test_step_counter_matches_torch_dtype():
    ours_net, ref_net = twin_nets()
    ours = dn.Adam(ours_net.parameters(), lr=0.01)
    ref = torch.optim.Adam(ref_net.parameters(), lr=0.01)
    train(ours_net, ours, 2)
    train(ref_net, ref, 2)
    for p_ours, p_ref in zip(ours_net.parameters(), ref_net.parameters()):
        step_ours, step_ref = ours.state[p_ours]["step"], ref.state[p_ref]["step"]
        assert step_ours.dtype == step_ref.dtype and step_ours.device == step_ref.device
        assert step_ours.item() == step_ref.item() == 2


def test_momentum_buffer_is_not_kept_without_momentum():
    net = make_net()
    opt = dn.SGD(net.parameters(), lr=0.1)
    train(net, opt, 2)
    ref_net = copy.deepcopy(make_net())
    ref = torch.optim.SGD(ref_net.parameters(), lr=0.1)
    train(ref_net, ref, 2)
    assert ({k: sorted(v) for k, v in opt.state_dict()["state"].items()}
            == {k: sorted(v) for k, v in ref.state_dict()["state"].items()})
