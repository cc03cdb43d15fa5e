"""Losses (B3, B7) against torch.nn.functional in float64: values, gradients, masks, errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as TF
from torch.autograd import gradcheck

from deepnotes import functional as F
from deepnotes.errors import ConfigError, InvalidTargetError, ShapeError
from tests.functional._helpers import assert_parity

REDUCTIONS = ["mean", "sum", "none"]
f64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- reduce_loss ---


def test_reduce_loss_plain_and_weighted():
    loss = torch.tensor([1.0, 2.0, 9.0], dtype=f64)
    assert F.reduce_loss(loss).item() == 4.0
    assert F.reduce_loss(loss, "sum").item() == 12.0
    assert F.reduce_loss(loss, "none") is loss
    w = torch.tensor([1.0, 3.0, 0.0], dtype=f64)
    assert F.reduce_loss(loss, "mean", w).item() == pytest.approx(7.0 / 4.0)
    assert F.reduce_loss(loss, "sum", w).item() == 7.0
    assert F.reduce_loss(loss, "none", w).tolist() == [1.0, 6.0, 0.0]
    # a bool mask is read as 0/1
    m = torch.tensor([True, True, False])
    assert F.reduce_loss(loss, "mean", m).item() == 1.5


def test_reduce_loss_errors():
    with pytest.raises(ConfigError, match="'avg'"):
        F.reduce_loss(torch.ones(3), "avg")
    with pytest.raises(ShapeError, match=r"\(3,\).*\(2,\)"):
        F.reduce_loss(torch.ones(3), "mean", torch.ones(2))


# --- L1 / MAE and MSE ---

ELEMENTWISE = {
    "l1": (F.l1_loss, TF.l1_loss),
    "mae": (F.mae_loss, TF.l1_loss),
    "mse": (F.mse_loss, TF.mse_loss),
}


def _pred_target(shape=(4, 5), seed=0):
    g = _gen(seed)
    x = torch.randn(shape, generator=g, dtype=f64)
    y = torch.randn(shape, generator=g, dtype=f64)
    y.view(-1)[::4] = x.view(-1)[::4]  # exact ties: |d| has derivative 0 there in torch
    return x, y


@pytest.mark.parametrize("name", list(ELEMENTWISE))
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_elementwise_losses_match_torch(name, reduction):
    ours, ref = ELEMENTWISE[name]
    x, y = _pred_target((2, 3, 4))
    # gradients flow to both input and target
    assert_parity(lambda a, b: ours(a, b, reduction=reduction),
                  lambda a, b: ref(a, b, reduction=reduction), x, y)


def test_mae_is_l1():
    assert F.mae_loss is F.l1_loss


@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_elementwise_losses_mask(name):
    ours, ref = ELEMENTWISE[name]
    x, y = _pred_target((3, 4), seed=1)
    w = torch.rand(3, 4, generator=_gen(2), dtype=f64)
    per = ref(x, y, reduction="none")
    torch.testing.assert_close(ours(x, y, mask=w), (w * per).sum() / w.sum())
    torch.testing.assert_close(ours(x, y, reduction="sum", mask=w), (w * per).sum())
    torch.testing.assert_close(ours(x, y, reduction="none", mask=w), w * per)
    b = w > 0.5
    torch.testing.assert_close(ours(x, y, mask=b), per[b].mean())


@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_elementwise_losses_shape_errors(name):
    ours, _ = ELEMENTWISE[name]
    with pytest.raises(ShapeError, match=r"\(3, 1\).*\(3,\)"):
        ours(torch.zeros(3, 1), torch.zeros(3))  # torch would broadcast to (3, 3)
    with pytest.raises(ShapeError):
        ours(torch.zeros(3), torch.zeros(3), mask=torch.ones(4))
    with pytest.raises(ConfigError):
        ours(torch.zeros(3), torch.zeros(3), reduction="total")


def test_mse_gradcheck():
    x, y = _pred_target((3,), seed=3)
    x.requires_grad_(True)
    assert gradcheck(lambda a: F.mse_loss(a, y), (x,))
    x2 = (x.detach() + 0.5).requires_grad_(True)  # no ties for the finite differences
    assert gradcheck(lambda a: F.l1_loss(a, y), (x2,))


# --- cross-entropy ---


def _ce_data(shape, num_classes, seed=0, scale=2.0):
    """Logits of shape (N, C, *rest) for target shape ``shape`` = (N, *rest)."""
    g = _gen(seed)
    n, *rest = shape
    logits = scale * torch.randn(n, num_classes, *rest, generator=g, dtype=f64)
    target = torch.randint(0, num_classes, shape, generator=g)
    return logits, target


CE_SHAPES = [(6,), (3, 4), (2, 3, 2)]


@pytest.mark.parametrize("shape", CE_SHAPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 1.0])
def test_cross_entropy_matches_torch(shape, reduction, label_smoothing):
    logits, target = _ce_data(shape, 5)
    target.view(-1)[::3] = -100  # some ignored positions (torch's default ignore_index)
    kw = dict(reduction=reduction, label_smoothing=label_smoothing)
    assert_parity(lambda x, t: F.cross_entropy(x, t, **kw),
                  lambda x, t: TF.cross_entropy(x, t, **kw), logits, target)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_cross_entropy_custom_ignore_index(label_smoothing):
    logits, target = _ce_data((8,), 4, seed=1)
    target[[1, 5]] = 3
    kw = dict(ignore_index=3, label_smoothing=label_smoothing)
    out, _ = assert_parity(lambda x, t: F.cross_entropy(x, t, **kw),
                           lambda x, t: TF.cross_entropy(x, t, **kw), logits, target)
    # ignored positions carry no loss and are left out of the mean
    keep = target != 3
    torch.testing.assert_close(out, F.cross_entropy(logits[keep], target[keep],
                                                    label_smoothing=label_smoothing))


def test_cross_entropy_unbatched():
    g = _gen(2)
    logits = torch.randn(5, generator=g, dtype=f64)
    for reduction in REDUCTIONS:
        assert_parity(lambda x: F.cross_entropy(x, torch.tensor(2), reduction=reduction),
                      lambda x: TF.cross_entropy(x, torch.tensor(2), reduction=reduction), logits)


def test_cross_entropy_is_nll_of_log_softmax():
    logits, target = _ce_data((7,), 3, seed=3)
    expected = -torch.log_softmax(logits, 1)[torch.arange(7), target]
    torch.testing.assert_close(F.cross_entropy(logits, target, reduction="none"), expected)


def test_cross_entropy_big_logits_are_stable():
    logits, target = _ce_data((4, 6), 5, seed=4, scale=1e4)
    out, _ = assert_parity(lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1),
                           lambda x, t: TF.cross_entropy(x, t, label_smoothing=0.1),
                           logits, target, atol=1e-8)
    assert torch.isfinite(out)
    x32 = torch.tensor([[1e4, -1e4], [-1e4, 1e4]], dtype=torch.float32, requires_grad=True)
    loss = F.cross_entropy(x32, torch.tensor([0, 0]))
    loss.backward()
    assert loss.item() == pytest.approx(1e4) and torch.isfinite(x32.grad).all()


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_mask(reduction):
    logits, target = _ce_data((3, 4), 5, seed=5)
    target[0, 0] = -100
    w = torch.rand(3, 4, generator=_gen(6), dtype=f64)
    per = TF.cross_entropy(logits, target, reduction="none")
    keep = (target != -100).to(f64)
    expected = {
        "none": w * per,
        "sum": (w * per).sum(),
        # Σ w_i l_i / Σ_{i not ignored} w_i
        "mean": (w * per).sum() / (w * keep).sum(),
    }[reduction]
    torch.testing.assert_close(F.cross_entropy(logits, target, mask=w, reduction=reduction),
                               expected)


def test_cross_entropy_bool_mask_equals_ignore_index():
    logits, target = _ce_data((10,), 4, seed=7)
    mask = torch.arange(10) % 3 != 0
    ignored = torch.where(mask, target, torch.full_like(target, -100))
    for ls in (0.0, 0.3):
        torch.testing.assert_close(F.cross_entropy(logits, target, mask=mask, label_smoothing=ls),
                                   TF.cross_entropy(logits, ignored, label_smoothing=ls))


def test_cross_entropy_gradcheck():
    logits, target = _ce_data((2, 3), 4, seed=8)
    target[0, 1] = -100
    w = torch.rand(2, 3, generator=_gen(9), dtype=f64)
    logits.requires_grad_(True)
    assert gradcheck(lambda x: F.cross_entropy(x, target, mask=w, label_smoothing=0.1), (logits,))


def test_cross_entropy_shape_errors():
    logits = torch.zeros(4, 3)
    with pytest.raises(ShapeError, match=r"\(4, 3\).*\(4,\).*\(4, 3\)"):
        F.cross_entropy(logits, torch.zeros(4, 3, dtype=torch.long))
    with pytest.raises(ShapeError, match="transpose"):  # (B, T, C) passed without transpose
        F.cross_entropy(torch.zeros(2, 5, 3), torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(ShapeError):
        F.cross_entropy(torch.zeros(5), torch.zeros(1, dtype=torch.long))
    with pytest.raises(ShapeError, match="scalar"):
        F.cross_entropy(torch.tensor(1.0), torch.tensor(0))
    with pytest.raises(ShapeError, match="mask"):
        F.cross_entropy(logits, torch.zeros(4, dtype=torch.long), mask=torch.ones(3))


def test_cross_entropy_bad_targets():
    logits = torch.zeros(4, 3)
    with pytest.raises(InvalidTargetError, match="class index 3"):
        F.cross_entropy(logits, torch.tensor([0, 1, 3, 2]))
    with pytest.raises(InvalidTargetError, match="class index -1"):
        F.cross_entropy(logits, torch.tensor([0, -1, 1, 2]))
    with pytest.raises(InvalidTargetError, match="dtype"):
        F.cross_entropy(logits, torch.tensor([0.0, 1.0, 1.0, 2.0]))
    # InvalidTargetError is a ValueError, so callers catching torch-style errors still work
    assert issubclass(InvalidTargetError, ValueError)
    # the ignore_index itself is fine even though it is out of range
    F.cross_entropy(logits, torch.tensor([0, 7, 1, 2]), ignore_index=7)
    with pytest.raises(ConfigError):
        F.cross_entropy(logits, torch.tensor([0, 1, 1, 2]), label_smoothing=1.5)
    with pytest.raises(ConfigError):
        F.cross_entropy(logits, torch.tensor([0, 1, 1, 2]), reduction="avg")


# --- binary cross-entropy ---


def _probs_targets(shape=(4, 5), seed=0):
    g = _gen(seed)
    p = torch.rand(shape, generator=g, dtype=f64) * 0.98 + 0.01
    y = torch.rand(shape, generator=g, dtype=f64)  # soft targets
    y.view(-1)[::3] = torch.bernoulli(torch.full_like(y.view(-1)[::3], 0.5), generator=g)
    return p, y


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_matches_torch(reduction):
    p, y = _probs_targets()
    assert_parity(lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction),
                  lambda a, b: TF.binary_cross_entropy(a, b, reduction=reduction), p, y,
                  atol=1e-11)


def test_binary_cross_entropy_clamps_the_log_at_0_and_1():
    p = torch.tensor([0.0, 1.0, 0.0, 1.0, 1e-50], dtype=f64, requires_grad=True)
    y = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0], dtype=f64)
    loss = F.binary_cross_entropy(p, y, reduction="none")
    torch.testing.assert_close(loss, TF.binary_cross_entropy(p, y, reduction="none"))
    assert loss.tolist() == [100.0, 100.0, 0.0, 0.0, 100.0]
    loss.sum().backward()
    assert torch.isfinite(p.grad).all()


def test_binary_cross_entropy_mask_and_errors():
    p, y = _probs_targets((6,), seed=1)
    w = torch.tensor([1.0, 0.0, 2.0, 1.0, 0.0, 0.5], dtype=f64)
    per = TF.binary_cross_entropy(p, y, reduction="none")
    torch.testing.assert_close(F.binary_cross_entropy(p, y, mask=w), (w * per).sum() / w.sum())
    with pytest.raises(InvalidTargetError, match="1.5"):
        F.binary_cross_entropy(torch.tensor([0.5, 1.5]), torch.tensor([1.0, 0.0]))
    with pytest.raises(InvalidTargetError, match="-0.25"):
        F.binary_cross_entropy(torch.tensor([-0.25, 0.5]), torch.tensor([1.0, 0.0]))
    with pytest.raises(ShapeError):
        F.binary_cross_entropy(torch.full((2, 1), 0.5), torch.ones(2))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_matches_torch(reduction):
    g = _gen(2)
    x = 4.0 * torch.randn(5, 6, generator=g, dtype=f64)
    x[0] = torch.tensor([-1e3, -50.0, 0.0, 50.0, 1e3, 1e4], dtype=f64)  # extreme logits
    y = torch.rand(5, 6, generator=g, dtype=f64)
    y[1] = (y[1] > 0.5).to(f64)
    out, _ = assert_parity(
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction),
        lambda a, b: TF.binary_cross_entropy_with_logits(a, b, reduction=reduction), x, y)
    assert torch.isfinite(out).all()


def test_bce_with_logits_equals_bce_of_sigmoid_and_gradient_at_zero():
    g = _gen(3)
    x = torch.randn(10, generator=g, dtype=f64)
    y = torch.rand(10, generator=g, dtype=f64)
    torch.testing.assert_close(F.binary_cross_entropy_with_logits(x, y),
                               F.binary_cross_entropy(torch.sigmoid(x), y))
    # d l / d x = σ(x) - y, also at x = 0
    x0 = torch.zeros(3, dtype=f64, requires_grad=True)
    y0 = torch.tensor([0.0, 0.3, 1.0], dtype=f64)
    F.binary_cross_entropy_with_logits(x0, y0, reduction="sum").backward()
    torch.testing.assert_close(x0.grad, 0.5 - y0)


def test_bce_with_logits_gradcheck_and_mask():
    g = _gen(4)
    x = torch.randn(6, generator=g, dtype=f64, requires_grad=True)
    y = torch.rand(6, generator=g, dtype=f64)
    w = torch.rand(6, generator=g, dtype=f64)
    assert gradcheck(lambda a: F.binary_cross_entropy_with_logits(a, y, mask=w), (x,))
    per = TF.binary_cross_entropy_with_logits(x, y, reduction="none")
    torch.testing.assert_close(F.binary_cross_entropy_with_logits(x, y, mask=w),
                               (w * per).sum() / w.sum())
    with pytest.raises(ShapeError):
        F.binary_cross_entropy_with_logits(torch.zeros(2, 3), torch.zeros(3))
