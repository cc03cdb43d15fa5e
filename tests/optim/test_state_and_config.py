"""Optimizer state dicts (torch's keys, exact resume, loading torch's state both ways), argument
checks (ConfigError naming the bad value) and the by-name registry.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch

import deepnotes.optim as dn
from deepnotes.errors import ConfigError, UnknownNameError

from ._helpers import assert_same_params, make_net, param_groups, train, twin_nets

# (our class, torch class, hyperparameters that create every piece of state)
STATEFUL = [
    (dn.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (dn.Adagrad, torch.optim.Adagrad, dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
    (dn.RMSprop, torch.optim.RMSprop, dict(lr=0.01, momentum=0.5, centered=True)),
    (dn.Adam, torch.optim.Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.01)),
    (dn.AdamW, torch.optim.AdamW, dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
]
STATEFUL_IDS = ["sgd", "adagrad", "rmsprop", "adam", "adamw"]


def _state_keys(opt: torch.optim.Optimizer) -> dict[int, list[str]]:
    return {k: sorted(v) for k, v in opt.state_dict()["state"].items()}


@pytest.mark.parametrize("ours_cls, torch_cls, hyper", STATEFUL, ids=STATEFUL_IDS)
def test_state_dict_has_torch_keys_and_values(ours_cls, torch_cls, hyper):
    ours_net, ref_net = twin_nets(seed=1)
    ours = ours_cls(param_groups(ours_net, True, hyper["lr"]), **hyper)
    ref = torch_cls(param_groups(ref_net, True, hyper["lr"]), **hyper)
    train(ours_net, ours, 4)
    train(ref_net, ref, 4)
    ours_sd, ref_sd = ours.state_dict(), ref.state_dict()
    assert _state_keys(ours) == _state_keys(ref)
    for idx, state in ours_sd["state"].items():
        for key, value in state.items():
            expected = ref_sd["state"][idx][key]
            assert value.dtype == expected.dtype and value.shape == expected.shape, (idx, key)
            torch.testing.assert_close(value, expected, rtol=1e-12, atol=1e-14)
    assert len(ours_sd["param_groups"]) == len(ref_sd["param_groups"]) == 2
    for g_ours, g_ref in zip(ours_sd["param_groups"], ref_sd["param_groups"]):
        # every group key we keep is one of torch's, with the same value (torch keeps a few
        # more switches we do not have, such as capturable and fused)
        assert set(g_ours) <= set(g_ref), set(g_ours) - set(g_ref)
        for key, value in g_ours.items():
            assert value == g_ref[key], key


@pytest.mark.parametrize("foreach", [False, True], ids=["loop", "foreach"])
@pytest.mark.parametrize("ours_cls, torch_cls, hyper", STATEFUL, ids=STATEFUL_IDS)
def test_resume_from_our_state_dict_is_exact(ours_cls, torch_cls, hyper, foreach):
    """Stop after 8 steps, save, rebuild, load, go on: bit-identical to not stopping."""
    net = make_net(seed=2)
    opt = ours_cls(param_groups(net, True, hyper["lr"]), foreach=foreach, **hyper)
    train(net, opt, 8)
    saved_net = copy.deepcopy(net.state_dict())
    saved_opt = copy.deepcopy(opt.state_dict())
    train(net, opt, 8, start=8)

    resumed = make_net(seed=99)  # different weights: everything must come from the checkpoint
    resumed.load_state_dict(saved_net)
    opt2 = ours_cls(param_groups(resumed, True, 1.0), foreach=foreach, **hyper)
    opt2.load_state_dict(saved_opt)
    assert [g["lr"] for g in opt2.param_groups] == [3 * hyper["lr"], hyper["lr"]]
    train(resumed, opt2, 8, start=8)
    for a, b in zip(net.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("direction", ["torch-to-ours", "ours-to-torch"])
@pytest.mark.parametrize("ours_cls, torch_cls, hyper", STATEFUL, ids=STATEFUL_IDS)
def test_state_dict_loads_across_libraries(ours_cls, torch_cls, hyper, direction):
    """Train 6 steps with one library, continue 6 with the other from its state dict."""
    first_cls, second_cls = ((torch_cls, ours_cls) if direction == "torch-to-ours"
                             else (ours_cls, torch_cls))
    net_a, net_b = twin_nets(seed=4)
    # reference: torch all the way
    ref = torch_cls(net_a.parameters(), **hyper)
    train(net_a, ref, 12)
    # switch libraries half way
    first = first_cls(net_b.parameters(), **hyper)
    train(net_b, first, 6)
    second = second_cls(net_b.parameters(), **hyper)
    second.load_state_dict(first.state_dict())
    train(net_b, second, 6, start=6)
    assert_same_params(net_b, net_a)


# ---------------------------------------------------------------------------------------------
# argument checks


def _params():
    return [torch.nn.Parameter(torch.zeros(2))]


@pytest.mark.parametrize("cls, kwargs, needle", [
    (dn.SGD, dict(lr=-0.1), "lr=-0.1"),
    (dn.SGD, dict(lr="0.1"), "lr='0.1'"),
    (dn.SGD, dict(lr=float("nan")), "lr=nan"),
    (dn.SGD, dict(lr=math.inf), "lr=inf"),
    (dn.SGD, dict(lr=True), "lr=True"),
    (dn.SGD, dict(momentum=-0.5), "momentum=-0.5"),
    (dn.SGD, dict(momentum="0.9"), "momentum='0.9'"),
    (dn.SGD, dict(dampening=1.5), "dampening=1.5"),
    (dn.SGD, dict(weight_decay=-1e-4), "weight_decay=-0.0001"),
    (dn.SGD, dict(nesterov="True", momentum=0.9), "nesterov='True'"),
    (dn.SGD, dict(nesterov=True), "nesterov=True needs momentum > 0"),
    (dn.SGD, dict(nesterov=True, momentum=0.9, dampening=0.1), "dampening=0.1"),
    (dn.SGD, dict(maximize="no"), "maximize='no'"),
    (dn.SGD, dict(foreach="yes"), "foreach='yes'"),
    (dn.Adagrad, dict(lr=-1.0), "lr=-1.0"),
    (dn.Adagrad, dict(lr_decay=-0.1), "lr_decay=-0.1"),
    (dn.Adagrad, dict(initial_accumulator_value=-1), "initial_accumulator_value=-1"),
    (dn.Adagrad, dict(eps=-1e-10), "eps=-1e-10"),
    (dn.RMSprop, dict(alpha=1.5), "alpha=1.5"),
    (dn.RMSprop, dict(alpha=-0.1), "alpha=-0.1"),
    (dn.RMSprop, dict(centered="yes"), "centered='yes'"),
    (dn.RMSprop, dict(momentum=-0.9), "momentum=-0.9"),
    (dn.Adam, dict(lr=-0.001), "lr=-0.001"),
    (dn.Adam, dict(betas=(1.0, 0.999)), "betas[0]=1.0"),
    (dn.Adam, dict(betas=(0.9, 1.0)), "betas[1]=1.0"),
    (dn.Adam, dict(betas=(-0.1, 0.999)), "betas[0]=-0.1"),
    (dn.Adam, dict(betas=(0.9, "0.999")), "betas[1]='0.999'"),
    (dn.Adam, dict(betas="ab"), "betas='ab'"),
    (dn.Adam, dict(betas=(0.9,)), "betas=(0.9,)"),
    (dn.Adam, dict(betas=0.9), "betas=0.9"),
    (dn.Adam, dict(eps=-1e-8), "eps=-1e-08"),
    (dn.Adam, dict(amsgrad=1), "amsgrad=1"),
    (dn.AdamW, dict(weight_decay=-0.01), "weight_decay=-0.01"),
    (dn.AdamW, dict(betas=(0.9, 2.0)), "betas[1]=2.0"),
])
def test_bad_hyperparameters_raise_config_error(cls, kwargs, needle):
    with pytest.raises(ConfigError) as info:
        cls(_params(), **kwargs)
    message = str(info.value)
    assert needle in message
    assert message.startswith(cls.__name__)
    # one sentence that says what to use instead
    assert message.endswith(".") and "\n" not in message


def test_config_error_is_a_value_error_like_torchs():
    with pytest.raises(ValueError):
        dn.Adam(_params(), lr=-1)


@pytest.mark.parametrize("cls, ref_cls, kwargs", [
    (dn.SGD, torch.optim.SGD, dict(lr=0)),
    (dn.RMSprop, torch.optim.RMSprop, dict(lr=0.01, alpha=0.0)),
    (dn.RMSprop, torch.optim.RMSprop, dict(lr=0.01, alpha=1.0)),
    (dn.Adam, torch.optim.Adam, dict(lr=0.01, betas=(0.0, 0.0))),
    (dn.SGD, torch.optim.SGD, dict(lr=0.1, momentum=1, nesterov=True)),
], ids=["sgd-lr0", "rmsprop-alpha0", "rmsprop-alpha1", "adam-betas0", "sgd-momentum1"])
def test_valid_edge_values_are_accepted(cls, ref_cls, kwargs):
    # the edge of each range is accepted, stored as given, and steps like torch's optimizer
    ours, ref = twin_nets()
    opt, ref_opt = cls(ours.parameters(), **kwargs), ref_cls(ref.parameters(), **kwargs)
    for key, value in kwargs.items():
        stored = opt.param_groups[0][key]
        assert (tuple(stored) if key == "betas" else stored) == value
    before = [p.detach().clone() for p in ours.parameters()]
    train(ours, opt, steps=3)
    train(ref, ref_opt, steps=3)
    assert_same_params(ours, ref)
    moved = any(not torch.equal(a, b) for a, b in zip(before, ours.parameters()))
    assert moved == (kwargs["lr"] != 0)  # lr = 0 leaves the parameters where they were


def test_sparse_gradient_is_refused():
    emb = torch.nn.Embedding(5, 3, sparse=True)
    opt = dn.Adam(emb.parameters())
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(ConfigError, match="sparse"):
        opt.step()


# ---------------------------------------------------------------------------------------------
# registry


@pytest.mark.parametrize("name, cls, expected", [
    ("sgd", dn.SGD, dict(momentum=0.0, nesterov=False)),
    ("momentum", dn.SGD, dict(momentum=0.9, nesterov=False)),
    ("nesterov", dn.SGD, dict(momentum=0.9, nesterov=True)),
    ("adagrad", dn.Adagrad, dict(lr_decay=0.0)),
    ("rmsprop", dn.RMSprop, dict(alpha=0.99)),
    ("adam", dn.Adam, dict(betas=(0.9, 0.999), weight_decay=0.0)),
    ("adamw", dn.AdamW, dict(betas=(0.9, 0.999), weight_decay=0.01)),
])
def test_create_optimizer_by_name(name, cls, expected):
    opt = dn.create_optimizer(name, _params(), lr=0.5)
    assert type(opt) is cls
    assert opt.defaults["lr"] == 0.5
    for key, value in expected.items():
        assert opt.defaults[key] == value, key
    assert name in dn.OPTIMIZERS.names()


def test_create_optimizer_kwargs_override_the_names_defaults():
    opt = dn.create_optimizer("momentum", _params(), lr=0.1, momentum=0.5)
    assert opt.defaults["momentum"] == 0.5


def test_create_optimizer_unknown_name_suggests_close_match():
    with pytest.raises(UnknownNameError) as info:
        dn.create_optimizer("adma", _params())
    message = str(info.value)
    assert "'adma'" in message and "Did you mean" in message and "'adam'" in message
    assert isinstance(info.value, KeyError)


def test_create_optimizer_bad_argument_names_it():
    with pytest.raises(ConfigError, match="momentun"):
        dn.create_optimizer("sgd", _params(), momentun=0.9)
    with pytest.raises(ConfigError, match="lr=-1"):
        dn.create_optimizer("adam", _params(), lr=-1)


def test_registry_summaries_are_one_line():
    for entry in dn.OPTIMIZERS.entries():
        assert entry.summary and "\n" not in entry.summary


def test_adagrad_state_exists_from_construction_like_torch():
    """torch.optim.Adagrad fills ``step`` and ``sum`` at once; so do we (per-group G_0)."""
    net_ours, net_ref = twin_nets()
    ours = dn.Adagrad(net_ours.parameters(), initial_accumulator_value=0.2)
    ref = torch.optim.Adagrad(net_ref.parameters(), initial_accumulator_value=0.2)
    assert _state_keys(ours) == _state_keys(ref) and len(_state_keys(ours)) == 4
    for a, b in zip(ours.state_dict()["state"].values(), ref.state_dict()["state"].values()):
        assert torch.equal(a["sum"], b["sum"]) and torch.equal(a["step"], b["step"])
    two = dn.Adagrad([{"params": [net_ours[0].weight], "initial_accumulator_value": 0.5},
                      {"params": [net_ours[2].weight]}], initial_accumulator_value=0.1)
    assert torch.all(two.state[net_ours[0].weight]["sum"] == 0.5)
    assert torch.all(two.state[net_ours[2].weight]["sum"] == 0.1)
