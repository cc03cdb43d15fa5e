"""CTC decoding (R10): best path, prefix beam search vs exhaustive enumeration, edit distance."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import pytest
import torch

from deepnotes.decoding import ctc_best_path, ctc_prefix_beam_search
from deepnotes.errors import ConfigError, ShapeError
from deepnotes.functional import ctc_loss

f64 = torch.float64


def _exact_labellings(lp: torch.Tensor, blank: int = 0) -> dict[tuple[int, ...], float]:
    """p(l|x) for every labelling, by enumerating all C^T paths (an independent collapse)."""
    T, C = lp.shape
    probs: dict[tuple[int, ...], float] = defaultdict(float)
    p = lp.exp().tolist()
    for path in itertools.product(range(C), repeat=T):
        merged = [k for k, _ in itertools.groupby(path)]
        label = tuple(s for s in merged if s != blank)
        probs[label] += math.prod(p[t][c] for t, c in enumerate(path))
    return probs


def _random_lp(seed: int, T: int, C: int, sharp: float = 1.0, B: int | None = None) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    shape = (T, C) if B is None else (T, B, C)
    return (sharp * torch.randn(*shape, generator=g, dtype=f64)).log_softmax(-1)


@pytest.mark.parametrize("seed", range(6))
def test_wide_prefix_beam_is_exact(seed):
    T, C, blank = 5, 3 + seed % 2, seed % 3
    lp = _random_lp(seed, T, C, sharp=1.5)
    exact = _exact_labellings(lp, blank)
    ranked = sorted(exact.items(), key=lambda kv: (-kv[1], kv[0]))
    k = 5
    got = ctc_prefix_beam_search(lp, beam_size=10_000, blank=blank, top_k=k)
    assert [lab for lab, _ in got] == [lab for lab, _ in ranked[:k]]
    for (lab, logp), (_, p) in zip(got, ranked):
        assert logp == pytest.approx(math.log(p), abs=1e-10)
        # the same number from the forward algorithm
        loss = ctc_loss(lp, torch.tensor(lab, dtype=torch.long), T, len(lab), blank=blank,
                        reduction="sum")
        assert -float(loss) == pytest.approx(logp, abs=1e-10)
    # nothing is pruned with a wide beam: the labelling probabilities sum to one
    everything = ctc_prefix_beam_search(lp, beam_size=10_000, blank=blank)
    assert math.fsum(math.exp(p) for _, p in everything) == pytest.approx(1.0, abs=1e-12)


def test_prefix_beam_beats_best_path_on_the_classic_case():
    # two frames, P(∅) = 0.6, P(a) = 0.4: the best path ∅∅ (0.36) collapses to "", but
    # "a" has three paths aa, a∅, ∅a with 0.16 + 0.24 + 0.24 = 0.64
    lp = torch.tensor([[0.6, 0.4], [0.6, 0.4]], dtype=f64).log()
    assert ctc_best_path(lp) == ()
    best = ctc_prefix_beam_search(lp, beam_size=2)
    assert best[0][0] == (1,) and math.exp(best[0][1]) == pytest.approx(0.64)
    assert best[1][0] == () and math.exp(best[1][1]) == pytest.approx(0.36)
    # three frames: the best path ∅∅∅ (0.125) gives "", yet p("b") = 0.341 and even
    # p("ab") = 0.26 beat it; the beam's ranking is the exact one
    lp = torch.tensor([[0.5, 0.4, 0.1], [0.5, 0.1, 0.4], [0.5, 0.1, 0.4]], dtype=f64).log()
    exact = _exact_labellings(lp)
    assert ctc_best_path(lp) == ()
    top = ctc_prefix_beam_search(lp, beam_size=16, top_k=4)
    assert [lab for lab, _ in top] == [(2,), (1, 2), (1,), ()]
    assert [math.exp(p) for _, p in top] == pytest.approx([0.341, 0.26, 0.179, 0.125])
    assert math.exp(top[0][1]) == pytest.approx(exact[(2,)])


def test_best_path_is_collapse_of_argmax():
    lp = _random_lp(3, T=9, C=4, sharp=3.0, B=6)
    lengths = [9, 8, 5, 1, 0, 9]
    got = ctc_best_path(lp, lengths)
    for b, n in enumerate(lengths):
        frames = lp[:n, b].argmax(1).tolist()
        merged = [k for k, _ in itertools.groupby(frames)]
        assert got[b] == tuple(s for s in merged if s != 0)
    # unbatched gives one labelling; blank elsewhere than 0
    assert ctc_best_path(lp[:, 0]) == got[0]
    lp2 = torch.tensor([[0.1, 0.2, 0.7], [0.1, 0.2, 0.7], [0.8, 0.1, 0.1], [0.1, 0.1, 0.8]]).log()
    assert ctc_best_path(lp2, blank=2) == (0,)
    assert ctc_best_path(lp2, blank=0) == (2, 2)


def test_batched_beam_uses_each_length():
    lp = _random_lp(4, T=6, C=3, B=3)
    lengths = [6, 4, 2]
    batched = ctc_prefix_beam_search(lp, beam_size=4, input_lengths=lengths)
    for b, n in enumerate(lengths):
        assert batched[b] == ctc_prefix_beam_search(lp[:n, b], beam_size=4)
    # a narrow beam still returns labellings ranked best first, at most top_k of them
    narrow = ctc_prefix_beam_search(lp, beam_size=3, top_k=2)
    assert all(len(r) <= 2 and r[0][1] >= r[-1][1] for r in narrow)


def test_bad_decoder_arguments():
    lp = _random_lp(0, T=4, C=3, B=2)
    with pytest.raises(ShapeError):
        ctc_best_path(lp[0, 0])
    with pytest.raises(ConfigError, match="blank"):
        ctc_best_path(lp, blank=3)
    with pytest.raises(ConfigError, match="input_lengths"):
        ctc_best_path(lp, [5, 1])
    with pytest.raises(ConfigError, match="beam_size"):
        ctc_prefix_beam_search(lp, beam_size=0)
    with pytest.raises(ConfigError, match="top_k"):
        ctc_prefix_beam_search(lp, beam_size=2, top_k=3)
