"""sequence_mask, masked_cross_entropy and reverse_padded (S1, S2, R4): a per-token reference in
float64, gradients, the difference from the d2l package's MaskedSoftmaxCELoss on padded batches,
and the per-row reversal a bidirectional RNN reads padded rows with."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as TF
from torch import nn

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.functional import (
    fused_masked_cross_entropy,
    masked_cross_entropy,
    reverse_padded,
    sequence_mask,
)

f64 = torch.float64


def _batch(B=4, T=6, V=7, seed=0, valid=(6, 1, 3, 4)):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, V, generator=g, dtype=f64)
    target = torch.randint(0, V, (B, T), generator=g)
    return logits, target, torch.tensor(valid)


def _reference(logits, target, valid, eps=0.0):
    """Average of torch's per-token cross-entropy over the valid tokens, one token at a time."""
    losses = [TF.cross_entropy(logits[b, t][None], target[b, t][None], label_smoothing=eps)
              for b in range(logits.shape[0]) for t in range(int(valid[b]))]
    return torch.stack(losses).mean()


def _d2l_masked_ce_transcribed():
    """d2l's MaskedSoftmaxCELoss (d2l/torch.py, sec_utils) written out as it is in the book."""

    def seq_mask(X, valid_len, value=0):
        maxlen = X.size(1)
        mask = torch.arange(maxlen, dtype=torch.float32)[None, :] < valid_len[:, None]
        X[~mask] = value
        return X

    class MaskedSoftmaxCELoss(nn.CrossEntropyLoss):
        def forward(self, pred, label, valid_len):
            weights = seq_mask(torch.ones_like(label), valid_len)
            self.reduction = "none"
            unweighted = super().forward(pred.permute(0, 2, 1), label)
            return (unweighted * weights).mean(dim=1)

    return MaskedSoftmaxCELoss()


def _d2l_masked_ce_installed():
    """The same class taken from the installed d2l package's source, when it is installed (its
    module imports torchvision, which is not installed, so only the two definitions are run)."""
    spec = importlib.util.find_spec("d2l")
    if spec is None or not spec.submodule_search_locations:
        return None
    source = Path(next(iter(spec.submodule_search_locations)), "torch.py").read_text()
    tree = ast.parse(source)
    keep = [n for n in tree.body if getattr(n, "name", None) in ("sequence_mask",
                                                                    "MaskedSoftmaxCELoss")]
    scope = {"torch": torch, "nn": nn}
    exec(compile(ast.Module(keep, []), "d2l/torch.py", "exec"), scope)  # noqa: S102
    return scope["MaskedSoftmaxCELoss"]()


def test_sequence_mask_matches_a_loop():
    valid = torch.tensor([0, 2, 5, 9])
    m = sequence_mask(valid, 5)
    assert m.dtype == torch.bool and m.shape == (4, 5)
    expect = torch.tensor([[t < int(v) for t in range(5)] for v in valid])
    assert torch.equal(m, expect)
    with pytest.raises(ShapeError, match=r"\(B,\)"):
        sequence_mask(torch.ones(2, 3), 4)


@pytest.mark.parametrize("loss", [masked_cross_entropy, fused_masked_cross_entropy],
                         ids=["formula", "fused"])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_masked_cross_entropy_is_the_mean_over_valid_tokens(eps, loss):
    logits, target, valid = _batch()
    ours = loss(logits, target, valid, label_smoothing=eps)
    torch.testing.assert_close(ours, _reference(logits, target, valid, eps), atol=1e-12, rtol=0)
    # sum and none: the same per-token terms, zero at padding
    per_token = loss(logits, target, valid, label_smoothing=eps, reduction="none")
    assert per_token.shape == (4, 6) and (per_token[~sequence_mask(valid, 6)] == 0).all()
    total = loss(logits, target, valid, label_smoothing=eps, reduction="sum")
    torch.testing.assert_close(total, ours * int(valid.sum()), atol=1e-12, rtol=0)


def test_padding_targets_and_logits_do_not_matter():
    logits, target, valid = _batch()
    pad = ~sequence_mask(valid, 6)
    junk_target = target.masked_fill(pad, 999)  # out of the vocabulary, yet ignored
    junk_logits = logits.masked_fill(pad[..., None], 1e4)
    base = masked_cross_entropy(logits, target, valid)
    assert masked_cross_entropy(junk_logits, junk_target, valid).item() == pytest.approx(
        base.item(), abs=1e-12)
    x = logits.clone().requires_grad_(True)
    masked_cross_entropy(x, target, valid).backward()
    assert (x.grad[pad] == 0).all() and (x.grad[~pad] != 0).any()


def test_gradcheck():
    logits, target, valid = _batch(B=2, T=3, V=4, valid=(3, 1))
    x = logits.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda z: masked_cross_entropy(z, target, valid, label_smoothing=0.2), (x,))


@pytest.mark.parametrize("source", ["transcribed", "installed"])
def test_d2l_averages_over_padding_too_and_we_do_not(source):
    d2l_loss = (_d2l_masked_ce_transcribed() if source == "transcribed"
                else _d2l_masked_ce_installed() or _d2l_masked_ce_transcribed())
    logits, target, valid = _batch()
    logits32 = logits.float()
    per_seq = d2l_loss(logits32, target, valid)  # (B,): Σ_t m ℓ / T, padding in the count
    ours = masked_cross_entropy(logits32, target, valid)
    # what d2l's formula is: the masked sum over T, not over the valid length
    per_token = masked_cross_entropy(logits32, target, valid, reduction="none")
    torch.testing.assert_close(per_seq, per_token.sum(1) / 6)
    # on a padded batch the two means differ (d2l's is smaller: padding dilutes it) ...
    assert per_seq.mean().item() < ours.item() - 0.1
    torch.testing.assert_close(ours, _reference(logits, target, valid).float())
    # ... and without padding they agree
    full = torch.full((4,), 6)
    torch.testing.assert_close(d2l_loss(logits32, target, full).mean(),
                               masked_cross_entropy(logits32, target, full))


@pytest.mark.parametrize("loss", [masked_cross_entropy, fused_masked_cross_entropy],
                         ids=["formula", "fused"])
def test_all_padding_gives_zero_not_nan_and_bad_shapes_raise(loss):
    logits, target, _ = _batch()
    assert loss(logits, target, torch.zeros(4, dtype=torch.long)).item() == 0.0
    with pytest.raises(ShapeError, match=r"\(B, T, V\)"):
        loss(logits[0], target, torch.ones(4))
    with pytest.raises(ShapeError, match="target"):
        loss(logits, target[:, :3], torch.ones(4))
    with pytest.raises(ShapeError, match="valid_len"):
        loss(logits, target, torch.ones(3))
    with pytest.raises(ConfigError, match="reduction"):
        loss(logits, target, torch.ones(4), reduction="avg")


def test_docstring_examples_run():
    import doctest

    import deepnotes.functional.sequence as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_fused_and_formula_paths_agree_in_value_and_gradient():
    logits, target, valid = _batch()
    grads = []
    for fn in (fused_masked_cross_entropy, masked_cross_entropy):
        x = logits.detach().clone().requires_grad_(True)
        loss = fn(x, target, valid, label_smoothing=0.1)
        grads.append((loss.detach(), torch.autograd.grad(loss, x)[0]))
    torch.testing.assert_close(grads[0][0], grads[1][0], atol=1e-12, rtol=0)
    torch.testing.assert_close(grads[0][1], grads[1][1], atol=1e-12, rtol=0)


# ------------------------------------------------------------------------- reverse_padded


def test_reverse_padded_reverses_the_valid_part_only():
    x = torch.arange(12.0).view(2, 3, 2)  # (B, T, C)
    y = reverse_padded(x, torch.tensor([3, 2]))
    assert y[0].tolist() == [[4, 5], [2, 3], [0, 1]]
    assert y[1].tolist() == [[8, 9], [6, 7], [10, 11]]  # the padding step stays at the end
    assert torch.equal(reverse_padded(y, torch.tensor([3, 2])), x)  # an involution
    # (B, T) without feature dims; a row of length 0 or 1 is unchanged
    t = torch.arange(12).reshape(2, 6)
    assert reverse_padded(t, torch.tensor([4, 1])).tolist() == [[3, 2, 1, 0, 4, 5],
                                                                [6, 7, 8, 9, 10, 11]]
    assert torch.equal(reverse_padded(t, torch.tensor([0, 6])), torch.stack([t[0], t[1].flip(0)]))


def test_reverse_padded_equals_flipping_each_row_and_passes_gradients():
    x = torch.randn(4, 7, 3, 2, dtype=f64, requires_grad=True)  # (B, T, *)
    n = torch.tensor([7, 1, 4, 0])
    y = reverse_padded(x, n)
    for b, k in enumerate(n.tolist()):
        assert torch.equal(y[b, :k], x[b, :k].flip(0)) and torch.equal(y[b, k:], x[b, k:])
    up = torch.randn_like(y)
    (g,) = torch.autograd.grad(y, x, up)
    assert torch.equal(g, reverse_padded(up, n))  # a permutation: its gradient permutes back
    with pytest.raises(ShapeError, match=r"lengths \(B,\)"):
        reverse_padded(x, n[:3])
