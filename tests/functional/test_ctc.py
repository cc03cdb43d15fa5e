"""CTC loss (R10) against torch.nn.functional.ctc_loss in float64, and against brute force."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as TF
from torch.autograd import gradcheck

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.functional import ctc_loss
from deepnotes.functional.ctc import ctc_alignments, ctc_brute_force_log_prob, ctc_collapse

f64 = torch.float64
REDUCTIONS = ["mean", "sum", "none"]


def _problem(seed: int, B: int = 5, C: int = 6, S_max: int = 5, blank: int = 0):
    """Random feasible batch: varied target lengths (0 included), forced repeats, varied T_b."""
    g = torch.Generator().manual_seed(seed)
    labels = [c for c in range(C) if c != blank]
    targets, in_len = [], []
    for b in range(B):
        if b < S_max + 1:
            S = b
        else:
            S = int(torch.randint(0, S_max + 1, (1,), generator=g))
        seq = [labels[int(i)] for i in torch.randint(len(labels), (S,), generator=g)]
        if S >= 2 and b % 2 == 0:
            seq[1] = seq[0]  # a repeated label: needs a blank between, so one more frame
        repeats = sum(seq[i] == seq[i - 1] for i in range(1, len(seq)))
        need = len(seq) + repeats
        targets.append(seq)
        in_len.append(need + int(torch.randint(0, 4, (1,), generator=g)))
    T = max(in_len) + 1
    logits = torch.randn(T, B, C, generator=g, dtype=f64)
    S = max(len(t) for t in targets)
    padded = torch.full((B, S), 99 if blank == 0 else 0, dtype=torch.long)  # padding: ignored
    for b, t in enumerate(targets):
        padded[b, : len(t)] = torch.tensor(t, dtype=torch.long)
    tg_len = torch.tensor([len(t) for t in targets])
    return logits, padded, targets, torch.tensor(in_len), tg_len


def _both(logits, targets, in_len, tg_len, **kw):
    """Loss and d loss / d logits for ours and torch's, both through log_softmax."""
    out = []
    for fn in (ctc_loss, TF.ctc_loss):
        x = logits.clone().requires_grad_(True)
        loss = fn(x.log_softmax(2), targets, in_len, tg_len, **kw)
        up = torch.linspace(0.5, 1.5, loss.numel(), dtype=f64).reshape(loss.shape)
        (g,) = torch.autograd.grad((loss * up).sum(), x)
        out.append((loss.detach(), g))
    return out


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_torch_padded(reduction, seed):
    logits, padded, _, in_len, tg_len = _problem(seed)
    (a, ga), (b, gb) = _both(logits, padded.clamp_max(5), in_len, tg_len, reduction=reduction)
    torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(ga, gb, atol=1e-10, rtol=1e-9)
    # padding past each target length is never read, even when it is no class index
    lp = logits.log_softmax(2)
    torch.testing.assert_close(
        ctc_loss(lp, padded, in_len, tg_len, reduction=reduction),
        ctc_loss(lp, padded.clamp_max(5), in_len, tg_len, reduction=reduction))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_matches_torch_concatenated_and_other_blank(reduction):
    C = 7
    logits, _, targets, in_len, tg_len = _problem(3, B=7, C=C, blank=C - 1)
    flat = torch.tensor(list(itertools.chain(*targets)), dtype=torch.long)
    (a, ga), (b, gb) = _both(logits, flat, in_len, tg_len, blank=C - 1, reduction=reduction)
    torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(ga, gb, atol=1e-10, rtol=1e-9)
    # padded targets with padding in range give the same numbers as the concatenated ones
    S = int(tg_len.max())
    padded = torch.zeros(len(targets), S, dtype=torch.long)
    for i, t in enumerate(targets):
        padded[i, : len(t)] = torch.tensor(t, dtype=torch.long)
    lp = logits.log_softmax(2)
    torch.testing.assert_close(
        ctc_loss(lp, padded, in_len, tg_len, blank=C - 1, reduction=reduction),
        ctc_loss(lp, flat, in_len, tg_len, blank=C - 1, reduction=reduction))


def test_unbatched_and_float32_match_torch():
    logits, padded, targets, in_len, tg_len = _problem(4, B=3)
    lp = logits[:, 2].log_softmax(1)  # (T, C)
    tg = torch.tensor(targets[2], dtype=torch.long)
    assert len(tg) == 2 and tg[0] == tg[1]
    for red in REDUCTIONS:
        a = ctc_loss(lp, tg, in_len[2], tg_len[2], reduction=red)
        b = TF.ctc_loss(lp, tg, in_len[2], tg_len[2], reduction=red)
        assert a.shape == b.shape == ()
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
    logits, padded, _, in_len, tg_len = _problem(5)
    lp32 = logits.float().log_softmax(2)
    a = ctc_loss(lp32, padded.clamp_max(5), in_len, tg_len, reduction="none")
    assert a.dtype == torch.float32
    torch.testing.assert_close(a, TF.ctc_loss(lp32, padded.clamp_max(5), in_len, tg_len,
                                              reduction="none"), atol=1e-4, rtol=1e-5)
    # half precision runs in float32 inside (its "log 0" would overflow) and keeps its dtype
    half = ctc_loss(lp32.half(), padded.clamp_max(5), in_len, tg_len, reduction="none")
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.float(), a, atol=0.05, rtol=0.01)


def test_gradient_is_the_true_one_gradcheck():
    # our gradient w.r.t. log_probs is the exact derivative of the sum over alignments ...
    logits, padded, _, in_len, tg_len = _problem(6, B=3, C=4, S_max=2)
    lp = logits.log_softmax(2).detach().requires_grad_(True)
    tg = padded.clamp_max(3)
    assert gradcheck(lambda z: ctc_loss(z, tg, in_len, tg_len, reduction="sum"), (lp,))
    # ... and torch's kernel returns y - γ instead of -γ: they differ by exp(log_probs) on the
    # frames each sequence uses (which a following log_softmax cancels)
    (ours,) = torch.autograd.grad(ctc_loss(lp, tg, in_len, tg_len, reduction="sum"), lp)
    (theirs,) = torch.autograd.grad(TF.ctc_loss(lp, tg, in_len, tg_len, reduction="sum"), lp)
    used = (torch.arange(lp.shape[0]).unsqueeze(1) < in_len).unsqueeze(2).to(f64)  # (T, B, 1)
    torch.testing.assert_close(theirs, ours + lp.detach().exp() * used, atol=1e-10, rtol=1e-9)
    # -γ sums to -1 over the classes of each used frame: every path visits one class per frame
    torch.testing.assert_close(ours.sum(2), -used.squeeze(2))


def test_infeasible_gives_inf_and_zero_infinity_zeroes_it():
    # "aa" needs 3 frames (a ∅ a), "abc" needs 3: give 2 frames to both
    lp = torch.randn(4, 3, 5, generator=torch.Generator().manual_seed(7), dtype=f64).log_softmax(2)
    targets = torch.tensor([[1, 1, 0], [1, 2, 3], [2, 0, 0]])
    in_len, tg_len = torch.tensor([2, 2, 4]), torch.tensor([2, 3, 1])
    ours = ctc_loss(lp, targets, in_len, tg_len, reduction="none")
    ref = TF.ctc_loss(lp, targets, in_len, tg_len, reduction="none")
    assert math.isinf(ours[0]) and math.isinf(ours[1]) and math.isfinite(ours[2])
    torch.testing.assert_close(ours, ref)
    assert torch.isinf(ctc_loss(lp, targets, in_len, tg_len)).item()
    # exactly enough frames: finite again
    assert math.isfinite(ctc_loss(lp[:, :1], targets[:1], [3], [2], reduction="sum"))
    for red in REDUCTIONS:
        (a, ga), (b, gb) = _both(lp, targets, in_len, tg_len, reduction=red, zero_infinity=True)
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
        torch.testing.assert_close(ga, gb, atol=1e-10, rtol=1e-9)
        assert torch.isfinite(ga).all() and ga[:, :2].abs().max() == 0
    # without zero_infinity the infeasible samples still get a finite (zero) gradient
    x = lp.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(ctc_loss(x, targets, in_len, tg_len, reduction="none")[2], x)
    assert torch.isfinite(g).all()


def test_zero_probabilities_give_finite_gradients():
    # classes with probability exactly 0 (log-prob -inf): torch's value, and a finite gradient
    # equal to torch's on logits where -inf is replaced by a tiny probability (e^-80)
    x = torch.randn(6, 2, 4, generator=torch.Generator().manual_seed(8), dtype=f64)
    x[:, :, 3] = -math.inf
    x[2, 0, 2] = -math.inf
    tg, in_len, tg_len = torch.tensor([[1, 2], [2, 1]]), [6, 5], [2, 2]
    ours = x.clone().requires_grad_(True)
    loss = ctc_loss(ours.log_softmax(2), tg, in_len, tg_len, reduction="none")
    torch.testing.assert_close(loss, TF.ctc_loss(x.log_softmax(2), tg, in_len, tg_len,
                                                 reduction="none"))
    (g,) = torch.autograd.grad(loss.sum(), ours)
    ref = torch.where(torch.isinf(x), -80.0, x).requires_grad_(True)
    (g_ref,) = torch.autograd.grad(
        TF.ctc_loss(ref.log_softmax(2), tg, in_len, tg_len, reduction="sum"), ref)
    assert torch.isfinite(g).all()
    torch.testing.assert_close(g, g_ref, atol=1e-10, rtol=1e-9)


@pytest.mark.parametrize("target", [(), (1,), (1, 2), (2, 2), (1, 2, 1), (1, 1, 1)])
def test_forward_algorithm_equals_sum_over_all_alignments(target):
    T, C = 6, 3
    lp = torch.randn(T, C, generator=torch.Generator().manual_seed(len(target)), dtype=f64)
    lp = lp.log_softmax(1)
    brute = ctc_brute_force_log_prob(lp, target)
    ours = -ctc_loss(lp, torch.tensor(target, dtype=torch.long), T, len(target), reduction="sum")
    torch.testing.assert_close(ours, brute, atol=1e-12, rtol=1e-12)
    # every enumerated path collapses to the target and no other path does
    paths = ctc_alignments(target, T)
    assert all(ctc_collapse(p) == target for p in paths)
    others = [p for p in itertools.product(range(C), repeat=T) if p not in set(paths)]
    assert not any(ctc_collapse(p) == target for p in others)


def test_alignment_counts_follow_the_binomial():
    # a labelling of S distinct neighbours has C(T + S, 2S) alignments of length T
    for T in range(7):
        for S in range(4):
            target = tuple(range(1, S + 1))
            assert len(ctc_alignments(target, T)) == math.comb(T + S, 2 * S)


def test_labelling_probabilities_sum_to_one():
    # each path collapses to exactly one labelling, so Σ_l p(l|x) = 1 over labellings of length ≤ T
    T, C = 4, 3
    lp = torch.randn(T, C, generator=torch.Generator().manual_seed(1), dtype=f64).log_softmax(1)
    total = 0.0
    for S in range(T + 1):
        for lab in itertools.product(range(1, C), repeat=S):
            loss = ctc_loss(lp, torch.tensor(lab, dtype=torch.long), T, S, reduction="sum")
            total += math.exp(-float(loss))
    assert total == pytest.approx(1.0, abs=1e-12)


def test_collapse_merges_repeats_then_drops_blanks():
    assert ctc_collapse([1, 1, 0, 1, 2, 2, 0]) == (1, 1, 2)
    assert ctc_collapse([0, 0, 0]) == ()
    assert ctc_collapse(torch.tensor([3, 3, 3, 1, 1]), blank=3) == (1,)
    assert ctc_collapse([]) == ()


def test_bad_inputs_raise():
    lp = torch.randn(5, 2, 4, dtype=f64).log_softmax(2)
    tg = torch.tensor([[1, 2], [3, 0]])
    ok = {"input_lengths": [5, 4], "target_lengths": [2, 1]}
    with pytest.raises(ShapeError, match="log_probs"):
        ctc_loss(lp[0, 0], tg, **ok)
    with pytest.raises(ShapeError, match="input_lengths"):
        ctc_loss(lp, tg, [5, 4, 3], [2, 1])
    with pytest.raises(ConfigError, match="at most T"):
        ctc_loss(lp, tg, [6, 4], [2, 1])
    with pytest.raises(ConfigError, match=">= 0"):
        ctc_loss(lp, tg, [5, -1], [2, 1])
    with pytest.raises(ConfigError, match="integers"):
        ctc_loss(lp, tg, torch.tensor([5.0, 4.0]), [2, 1])
    with pytest.raises(ConfigError, match="blank index"):
        ctc_loss(lp, tg, [5, 4], [2, 2])  # the second target's label 0 is the blank
    with pytest.raises(ConfigError, match=r"\[0, 4\)"):
        ctc_loss(lp, torch.tensor([[1, 4], [3, 0]]), **ok)
    with pytest.raises(ConfigError, match="blank must be"):
        ctc_loss(lp, tg, **ok, blank=4)
    with pytest.raises(ConfigError, match="reduction"):
        ctc_loss(lp, tg, **ok, reduction="avg")
    with pytest.raises(ShapeError, match="sum\\(target_lengths\\)"):
        ctc_loss(lp, torch.tensor([1, 2, 3, 1]), **ok)
    with pytest.raises(ShapeError, match="padded targets"):
        ctc_loss(lp, tg[:, :1], **ok)
    with pytest.raises(ConfigError, match="integer class"):
        ctc_loss(lp, tg.double(), **ok)
    with pytest.raises(ConfigError, match="contains the blank"):
        ctc_alignments([1, 0], 3)
