"""Learning-rate schedules: the lr sequence equals torch's schedulers (or the documented closed
form), resuming from ``state_dict()`` continues the same sequence, and names resolve. Notes: O7.

Conventions (checked below): ``lrs[t]`` is the lr the optimizer holds after ``t`` calls to
``schedule.step()``, i.e. the lr used by update ``t + 1``; index 0 is the value set when the
schedule is built. ``LinearWarmup(w, after=S, start_factor=s)`` equals torch's
``SequentialLR([LinearLR(start_factor=s, total_iters=w), S], milestones=[w])`` exactly, with no
off-by-one: the ramp covers ``t = 0 .. w-1`` and ``S`` restarts from its own ``t = 0`` at
``t = w``.
"""

from __future__ import annotations

import json
import math
import warnings

import pytest
import torch
from torch.optim import lr_scheduler as tls

import deepnotes.optim as dn
from deepnotes.errors import CheckpointError, ConfigError, UnknownNameError

N = 30
BASE_LRS = (0.1, 0.03)  # two parameter groups with different base lrs


def _optimizer(cls=torch.optim.SGD) -> torch.optim.Optimizer:
    groups = [{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": lr} for lr in BASE_LRS]
    return cls(groups, lr=BASE_LRS[0])


def _sequence(opt, sched, steps: int = N) -> list[list[float]]:
    """The optimizer's lrs after building the schedule and after each of ``steps`` steps."""
    lrs = [[g["lr"] for g in opt.param_groups]]
    for _ in range(steps):
        opt.step()  # no grads: a no-op, but keeps torch's "step order" check quiet
        sched.step()
        lrs.append([g["lr"] for g in opt.param_groups])
        assert sched.get_last_lr() == lrs[-1]
    return lrs


def _assert_sequences_close(ours, ref, rtol=1e-12, atol=1e-15):
    assert len(ours) == len(ref)
    for t, (a, b) in enumerate(zip(ours, ref)):
        assert a == pytest.approx(b, rel=rtol, abs=atol), f"step {t}: {a} vs {b}"


def _torch_sequence(build) -> list[list[float]]:
    opt = _optimizer()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SequentialLR's internal step(epoch) deprecation note
        sched = build(opt)
        return _sequence(opt, sched)


@pytest.mark.parametrize("ours, ref", [
    (lambda o: dn.StepLR(o, step_size=7, gamma=0.5), lambda o: tls.StepLR(o, 7, gamma=0.5)),
    (lambda o: dn.StepLR(o, step_size=1), lambda o: tls.StepLR(o, 1)),
    (lambda o: dn.ExponentialLR(o, gamma=0.9), lambda o: tls.ExponentialLR(o, gamma=0.9)),
    (lambda o: dn.ExponentialLR(o, gamma=1.05), lambda o: tls.ExponentialLR(o, gamma=1.05)),
    (lambda o: dn.CosineAnnealingLR(o, T_max=30), lambda o: tls.CosineAnnealingLR(o, 30)),
    # past T_max the cosine rises again (torch's recursive form and our closed form agree)
    (lambda o: dn.CosineAnnealingLR(o, T_max=10, eta_min=0.01),
     lambda o: tls.CosineAnnealingLR(o, 10, eta_min=0.01)),
    (lambda o: dn.CosineAnnealingLR(o, T_max=7, eta_min=0.002),
     lambda o: tls.CosineAnnealingLR(o, 7, eta_min=0.002)),
], ids=["step7", "step1", "exp0.9", "exp1.05", "cos30", "cos10-min", "cos7-min"])
def test_schedule_matches_torch(ours, ref):
    opt = _optimizer()
    mine = _sequence(opt, ours(opt))
    _assert_sequences_close(mine, _torch_sequence(ref))
    assert mine[0] == list(BASE_LRS)


@pytest.mark.parametrize("warmup, T_max, start, eta_min", [
    (5, 20, 0.1, 0.0), (1, 29, 0.5, 0.001), (10, 8, 0.01, 0.0)])
def test_linear_warmup_then_cosine_matches_torch_sequential(warmup, T_max, start, eta_min):
    opt = _optimizer()
    cosine = dn.CosineAnnealingLR(opt, T_max=T_max, eta_min=eta_min)
    sched = dn.LinearWarmup(opt, warmup, after=cosine, start_factor=start)
    mine = _sequence(opt, sched)

    def ref(o):
        lin = tls.LinearLR(o, start_factor=start, end_factor=1.0, total_iters=warmup)
        cos = tls.CosineAnnealingLR(o, T_max=T_max, eta_min=eta_min)
        return tls.SequentialLR(o, [lin, cos], milestones=[warmup])

    _assert_sequences_close(mine, _torch_sequence(ref))
    # the peak (the base lr) is reached exactly at t = warmup
    assert mine[warmup] == pytest.approx(list(BASE_LRS), rel=1e-15)


def test_linear_warmup_alone_matches_torch_linear_lr():
    opt = _optimizer()
    mine = _sequence(opt, dn.LinearWarmup(opt, 8, start_factor=0.25))
    ref = _torch_sequence(lambda o: tls.LinearLR(o, start_factor=0.25, total_iters=8))
    _assert_sequences_close(mine, ref)


def test_warmup_cosine_from_zero_is_the_closed_form():
    """torch's LinearLR cannot start at 0, so start_factor=0 is checked against the formula."""
    w, total, eta_min = 6, 25, 0.001
    opt = _optimizer()
    mine = _sequence(opt, dn.warmup_cosine(opt, warmup_steps=w, total_steps=total,
                                           eta_min=eta_min))
    for t, lrs in enumerate(mine):
        for lr, base in zip(lrs, BASE_LRS):
            if t < w:
                expected = base * t / w
            else:
                cos_part = (1 + math.cos(math.pi * (t - w) / (total - w))) / 2
                expected = eta_min + (base - eta_min) * cos_part
            assert lr == pytest.approx(expected, rel=1e-12, abs=1e-15), t
    assert mine[total] == pytest.approx([eta_min, eta_min], rel=1e-12)


@pytest.mark.parametrize("milestones", [[4], [5, 12]])
def test_sequential_schedule_matches_torch(milestones):
    def parts_ours(o):
        return [dn.ExponentialLR(o, gamma=0.8), dn.StepLR(o, step_size=3, gamma=0.5),
                dn.CosineAnnealingLR(o, T_max=9, eta_min=0.001)][:len(milestones) + 1]

    def parts_ref(o):
        return [tls.ExponentialLR(o, gamma=0.8), tls.StepLR(o, step_size=3, gamma=0.5),
                tls.CosineAnnealingLR(o, T_max=9, eta_min=0.001)][:len(milestones) + 1]

    opt = _optimizer()
    mine = _sequence(opt, dn.SequentialSchedule(opt, parts_ours(opt), milestones))
    ref = _torch_sequence(lambda o: tls.SequentialLR(o, parts_ref(o), milestones))
    _assert_sequences_close(mine, ref)


@pytest.mark.parametrize("warmup", [1, 4, 7, 10])
def test_inverse_sqrt_is_the_noam_formula_scaled_to_peak_at_base_lr(warmup):
    """lr(s) = base · noam(s) / noam(w), noam(s) = d^-0.5·min(s^-0.5, s·w^-1.5), s = t + 1."""
    d_model = 512

    def noam(s):
        return d_model**-0.5 * min(s**-0.5, s * warmup**-1.5)

    opt = _optimizer()
    mine = _sequence(opt, dn.InverseSqrtLR(opt, warmup_steps=warmup))
    for t, lrs in enumerate(mine):
        expected = [base * noam(t + 1) / noam(warmup) for base in BASE_LRS]
        assert lrs == pytest.approx(expected, rel=1e-12), t
    # the same through torch's own LambdaLR plumbing
    ref = _torch_sequence(lambda o: tls.LambdaLR(o, lambda t: noam(t + 1) / noam(warmup)))
    _assert_sequences_close(mine, ref)
    # rises linearly to the base lr at update s = w, then falls as 1/sqrt(s)
    firsts = [lrs[0] for lrs in mine]
    assert max(firsts) == pytest.approx(BASE_LRS[0], rel=1e-15)
    assert firsts.index(max(firsts)) == warmup - 1
    if 4 * warmup <= N:  # four times further on, half the peak
        assert firsts[4 * warmup - 1] == pytest.approx(BASE_LRS[0] / 2, rel=1e-12)


def _builders():
    return {
        "step": lambda o: dn.StepLR(o, step_size=4, gamma=0.5),
        "exponential": lambda o: dn.ExponentialLR(o, gamma=0.9),
        "cosine": lambda o: dn.CosineAnnealingLR(o, T_max=12, eta_min=0.001),
        "inverse-sqrt": lambda o: dn.InverseSqrtLR(o, warmup_steps=5),
        "warmup": lambda o: dn.LinearWarmup(o, 3, start_factor=0.1),
        "warmup-cosine": lambda o: dn.warmup_cosine(o, warmup_steps=5, total_steps=20),
        "sequential": lambda o: dn.SequentialSchedule(
            o, [dn.ExponentialLR(o, gamma=0.7), dn.StepLR(o, step_size=2)], milestones=[6]),
    }


@pytest.mark.parametrize("name", list(_builders()))
def test_state_dict_round_trip_resumes_the_same_sequence(name):
    build = _builders()[name]
    opt = _optimizer(dn.SGD)
    sched = build(opt)
    full = _sequence(opt, sched, steps=N)

    opt = _optimizer(dn.SGD)
    sched = build(opt)
    first = _sequence(opt, sched, steps=11)
    saved_sched = json.loads(json.dumps(sched.state_dict()))  # plain numbers only
    saved_opt = opt.state_dict()

    # a fresh optimizer with other lrs: the checkpoint must bring everything back
    opt2 = torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": 9.0}
                            for _ in BASE_LRS])
    opt2 = dn.SGD(opt2.param_groups)
    sched2 = build(opt2)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    assert sched2.last_epoch == 11 and sched2.get_last_lr() == first[-1]
    rest = _sequence(opt2, sched2, steps=N - 11)
    assert first + rest[1:] == full


@pytest.mark.parametrize("name", list(_builders()))
def test_closed_form_lrs_at_equals_stepping(name):
    opt = _optimizer()
    sched = _builders()[name](opt)
    stepped = _sequence(opt, sched)
    assert [sched.lrs_at(t) for t in range(N + 1)] == stepped


def test_load_state_dict_of_another_schedule_is_refused():
    opt = _optimizer()
    state = dn.StepLR(opt, step_size=3).state_dict()
    with pytest.raises(CheckpointError, match="StepLR"):
        dn.ExponentialLR(_optimizer(), gamma=0.9).load_state_dict(state)
    del state["gamma"]
    with pytest.raises(CheckpointError, match="gamma"):
        dn.StepLR(_optimizer(), step_size=3).load_state_dict(state)


@pytest.mark.parametrize("name, kwargs, cls", [
    ("step", dict(step_size=3, gamma=0.5), dn.StepLR),
    ("exponential", dict(gamma=0.9), dn.ExponentialLR),
    ("cosine", dict(T_max=10), dn.CosineAnnealingLR),
    ("inverse-sqrt", dict(warmup_steps=4), dn.InverseSqrtLR),
    ("warmup", dict(warmup_steps=4), dn.LinearWarmup),
])
def test_create_schedule_by_name(name, kwargs, cls):
    opt = _optimizer()
    sched = dn.create_schedule(name, opt, **kwargs)
    assert type(sched) is cls
    direct_opt = _optimizer()
    assert _sequence(opt, sched, 12) == _sequence(direct_opt, cls(direct_opt, **kwargs), 12)


def test_create_schedule_errors():
    with pytest.raises(UnknownNameError, match="Did you mean 'cosine'"):
        dn.create_schedule("cosin", _optimizer(), T_max=3)
    with pytest.raises(ConfigError, match="T_max"):
        dn.create_schedule("cosine", _optimizer())
    with pytest.raises(ConfigError, match="gama"):
        dn.create_schedule("step", _optimizer(), step_size=2, gama=0.5)


@pytest.mark.parametrize("build, needle", [
    (lambda o: dn.StepLR(o, step_size=0), "step_size=0"),
    (lambda o: dn.StepLR(o, step_size=2.5), "step_size=2.5"),
    (lambda o: dn.StepLR(o, step_size=2, gamma=-0.5), "gamma=-0.5"),
    (lambda o: dn.ExponentialLR(o, gamma="0.9"), "gamma='0.9'"),
    (lambda o: dn.CosineAnnealingLR(o, T_max="10"), "T_max='10'"),
    (lambda o: dn.CosineAnnealingLR(o, T_max=10, eta_min=-1.0), "eta_min=-1.0"),
    (lambda o: dn.InverseSqrtLR(o, warmup_steps=0), "warmup_steps=0"),
    (lambda o: dn.LinearWarmup(o, 3, start_factor=1.5), "start_factor=1.5"),
    (lambda o: dn.LinearWarmup(o, 3, after="cosine"), "after='cosine'"),
    (lambda o: dn.LinearWarmup(o, 3, after=dn.StepLR(_optimizer(), 2)), "same optimizer"),
    (lambda o: dn.warmup_cosine(o, warmup_steps=10, total_steps=10), "total_steps=10"),
    (lambda o: dn.SequentialSchedule(o, [dn.StepLR(o, 2), dn.StepLR(o, 3)], [0]),
     "milestones=[0]"),
    (lambda o: dn.SequentialSchedule(o, [dn.StepLR(o, 2)], [3]), "milestones=[3]"),
    (lambda o: dn.SequentialSchedule(o, [], []), "non-empty"),
    (lambda o: dn.StepLR("sgd", step_size=2), "not a torch.optim.Optimizer"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_bad_schedule_arguments_raise_config_error(build, needle):
    with pytest.raises(ConfigError) as info:
        build(_optimizer())
    assert needle in str(info.value)


@pytest.mark.parametrize("name", ["step", "cosine"])
def test_building_with_last_epoch_jumps_into_the_sequence(name):
    """``last_epoch=k`` (with ``initial_lr`` in the groups) continues as if k+1 steps were taken.

    Unlike torch's recursive schedulers, which assume the optimizer already holds the lr of
    step ``k``, ours recompute it from the closed form.
    """
    build = _builders()[name]
    opt = _optimizer()
    full = _sequence(opt, build(opt))
    k = 8
    opt = _optimizer()
    for group in opt.param_groups:
        group["initial_lr"] = group["lr"]
    sched = {"step": lambda o: dn.StepLR(o, step_size=4, gamma=0.5, last_epoch=k),
             "cosine": lambda o: dn.CosineAnnealingLR(o, T_max=12, eta_min=0.001,
                                                      last_epoch=k)}[name](opt)
    assert sched.last_epoch == k + 1
    assert _sequence(opt, sched, steps=N - k - 1) == full[k + 1:]
