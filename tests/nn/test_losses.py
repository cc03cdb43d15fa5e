"""Loss layers: fused and formula paths agree (values, gradients, reductions, masks, errors),
masked sequence cross-entropy included."""

from __future__ import annotations

import pytest
import torch
from torch import nn as tnn

from deepnotes import functional as F
from deepnotes import nn
from deepnotes.errors import ConfigError, ShapeError
from tests.functional._helpers import assert_parity

REDUCTIONS = ["mean", "sum", "none"]
f64 = torch.float64

ELEMENTWISE = {
    "MSELoss": (nn.MSELoss, tnn.MSELoss),
    "L1Loss": (nn.L1Loss, tnn.L1Loss),
    "BCEWithLogitsLoss": (nn.BCEWithLogitsLoss, tnn.BCEWithLogitsLoss),
}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _elementwise_data(name, seed=0):
    g = _gen(seed)
    x = 3.0 * torch.randn(3, 4, 2, generator=g, dtype=f64)
    y = torch.rand(3, 4, 2, generator=g, dtype=f64)
    if name == "L1Loss":
        y.view(-1)[::5] = x.view(-1)[::5]  # ties, where |d| has derivative 0
    w = torch.rand(3, 4, 2, generator=g, dtype=f64)
    return x, y, w


@pytest.mark.parametrize("name", list(ELEMENTWISE))
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("masked", [False, True])
def test_elementwise_fused_and_formula_agree(name, reduction, masked):
    ours_cls, torch_cls = ELEMENTWISE[name]
    x, y, w = _elementwise_data(name)
    fused, formula = ours_cls(reduction, fused=True), ours_cls(reduction, fused=False)
    if masked:
        assert_parity(formula, fused, x, y, w)
        # mean is the weighted mean Σ w l / Σ w
        per = torch_cls(reduction="none")(x, y)
        expected = {"none": w * per, "sum": (w * per).sum(), "mean": (w * per).sum() / w.sum()}
        torch.testing.assert_close(formula(x, y, w), expected[reduction])
    else:
        assert_parity(formula, fused, x, y)
        assert_parity(fused, torch_cls(reduction=reduction), x, y, atol=0, rtol=0)


@pytest.mark.parametrize("name", list(ELEMENTWISE))
@pytest.mark.parametrize("fused", [True, False])
def test_elementwise_errors(name, fused):
    cls, _ = ELEMENTWISE[name]
    loss = cls(fused=fused)
    with pytest.raises(ShapeError, match=r"\(4, 1\).*\(4,\)"):
        loss(torch.zeros(4, 1), torch.zeros(4))
    with pytest.raises(ShapeError, match="mask"):
        loss(torch.zeros(4), torch.zeros(4), torch.ones(4, 1))
    with pytest.raises(ConfigError, match="'batchmean'"):
        cls(reduction="batchmean")
    assert f"fused={fused}" in repr(loss)


def test_bool_mask_selects_positions():
    x, y, _ = _elementwise_data("MSELoss", seed=1)
    m = x > 0
    for fused in (True, False):
        torch.testing.assert_close(nn.MSELoss(fused=fused)(x, y, m), ((x - y) ** 2)[m].mean())


# --- cross-entropy ---

CE_SHAPES = [(), (6,), (3, 4), (2, 3, 2)]


def _ce_data(shape, num_classes=5, seed=0):
    g = _gen(seed)
    if shape == ():
        logits = torch.randn(num_classes, generator=g, dtype=f64)
    else:
        logits = 2.0 * torch.randn(shape[0], num_classes, *shape[1:], generator=g, dtype=f64)
    target = torch.randint(0, num_classes, shape, generator=g)
    w = torch.rand(shape, generator=g, dtype=f64)
    return logits, target, w


@pytest.mark.parametrize("shape", CE_SHAPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.15])
@pytest.mark.parametrize("masked", [False, True])
def test_cross_entropy_fused_and_formula_agree(shape, reduction, label_smoothing, masked):
    logits, target, w = _ce_data(shape)
    if target.dim() > 0:
        target.view(-1)[1::4] = 2 if shape == (6,) else -100  # some ignored positions
    ignore = 2 if shape == (6,) else -100
    kw = dict(ignore_index=ignore, reduction=reduction, label_smoothing=label_smoothing)
    fused, formula = nn.CrossEntropyLoss(**kw, fused=True), nn.CrossEntropyLoss(**kw, fused=False)
    if masked:
        assert_parity(lambda x, t, m: formula(x, t, m), lambda x, t, m: fused(x, t, m),
                      logits, target, w)
    else:
        assert_parity(formula, fused, logits, target)
        assert_parity(fused, tnn.CrossEntropyLoss(**kw), logits, target, atol=0, rtol=0)


def test_cross_entropy_mask_mean_skips_ignored_weights():
    logits, target, w = _ce_data((8,), seed=1)
    target[0] = -100
    per = tnn.CrossEntropyLoss(reduction="none")(logits, target)
    keep = (target != -100).to(f64)
    expected = (w * per).sum() / (w * keep).sum()
    for fused in (True, False):
        torch.testing.assert_close(nn.CrossEntropyLoss(fused=fused)(logits, target, w), expected)


def test_cross_entropy_sequence_logits_need_a_transpose():
    g = _gen(2)
    logits = torch.randn(2, 7, 5, generator=g, dtype=f64)  # (B, T, C)
    target = torch.randint(0, 5, (2, 7), generator=g)
    for fused in (True, False):
        loss = nn.CrossEntropyLoss(fused=fused)
        with pytest.raises(ShapeError, match="transpose"):
            loss(logits, target)
        torch.testing.assert_close(loss(logits.transpose(1, 2), target),
                                   tnn.CrossEntropyLoss()(logits.reshape(14, 5),
                                                          target.reshape(14)))


@pytest.mark.parametrize("fused", [True, False])
def test_cross_entropy_errors(fused):
    loss = nn.CrossEntropyLoss(fused=fused)
    with pytest.raises(ShapeError, match=r"\(4, 3\)"):
        loss(torch.zeros(4, 3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ShapeError):
        loss(torch.tensor(0.5), torch.tensor(0))
    with pytest.raises(ShapeError, match="mask"):
        loss(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long), torch.ones(2, 2))
    with pytest.raises(ConfigError):
        nn.CrossEntropyLoss(label_smoothing=-0.1, fused=fused)
    with pytest.raises(ConfigError):
        nn.CrossEntropyLoss(reduction="max", fused=fused)
    assert "ignore_index=-100" in repr(loss) and f"fused={fused}" in repr(loss)


# ------------------------------------------------------------- masked cross-entropy (S2)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_masked_cross_entropy_fused_and_formula_agree(reduction, label_smoothing):
    g = _gen(5)
    logits = torch.randn(3, 6, 7, generator=g, dtype=f64)
    target = torch.randint(0, 7, (3, 6), generator=g)
    valid = torch.tensor([6, 2, 0])
    fused = nn.MaskedCrossEntropyLoss(label_smoothing, reduction)
    formula = nn.MaskedCrossEntropyLoss(label_smoothing, reduction, fused=False)
    assert fused.fused and not formula.fused
    assert_parity(lambda z: formula(z, target, valid), lambda z: fused(z, target, valid), logits,
                  atol=1e-12, rtol=1e-10)
    # each path is its functional: our formula, torch's kernel
    assert torch.equal(formula(logits, target, valid),
                       F.masked_cross_entropy(logits, target, valid, label_smoothing, reduction))
    assert torch.equal(fused(logits, target, valid),
                       F.fused_masked_cross_entropy(logits, target, valid, label_smoothing,
                                                    reduction))
    # the mean is over the 8 valid tokens only: torch's cross-entropy with the padding ignored
    if reduction == "mean":
        ignored = target.masked_fill(torch.arange(6)[None] >= valid[:, None], -100)
        ref = tnn.CrossEntropyLoss(label_smoothing=label_smoothing)(logits.transpose(1, 2),
                                                                    ignored)
        torch.testing.assert_close(fused(logits, target, valid), ref, atol=1e-12, rtol=0)


def test_masked_cross_entropy_errors():
    with pytest.raises(ConfigError, match="label_smoothing"):
        nn.MaskedCrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(ConfigError, match="reduction"):
        nn.MaskedCrossEntropyLoss(reduction="avg")
    loss = nn.MaskedCrossEntropyLoss()
    with pytest.raises(ShapeError, match="valid_len"):
        loss(torch.zeros(2, 3, 4), torch.zeros(2, 3, dtype=torch.long), torch.ones(3))
    assert repr(loss) == "MaskedCrossEntropyLoss(label_smoothing=0.0, reduction='mean', fused=True)"
