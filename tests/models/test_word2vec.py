"""word2vec (E1, E2): the Huffman tree, and the loss and gradients of every variant against a
hand-written reference in float64 — autograd on forward() and the hand-written sgd_step agree."""

from __future__ import annotations

import doctest
import heapq
import math

import pytest
import torch

import deepnotes.models.word2vec as w2v_module
from deepnotes import models
from deepnotes.errors import ConfigError, ShapeError
from deepnotes.models.word2vec import (
    Word2Vec,
    Word2VecConfig,
    bag_mean,
    huffman_tree,
    row_scale,
)

f64 = torch.float64


# ---------------------------------------------------------------- Huffman tree (E2)

def _optimal_cost(counts: list[int]) -> int:
    """Σ count·code length of an optimal prefix code: the sum of all Huffman merges (heapq)."""
    heap = list(counts)
    heapq.heapify(heap)
    total = 0
    while len(heap) > 1:
        a, b = heapq.heappop(heap), heapq.heappop(heap)
        total += a + b
        heapq.heappush(heap, a + b)
    return total


COUNT_SETS = {
    "zipf": [int(10_000 / r) for r in range(1, 41)],
    "equal": [7] * 16,
    "two": [3, 1],
    "random": torch.randint(1, 500, (57,), generator=torch.Generator().manual_seed(3)).tolist(),
    "unsorted": [1, 50, 3, 3, 200, 9, 1, 27],
}


@pytest.mark.parametrize("name", sorted(COUNT_SETS))
def test_E2_huffman_codes_are_prefix_free_full_and_optimal(name):
    counts = COUNT_SETS[name]
    tree = huffman_tree(counts)
    codes = [tree.code(w) for w in range(len(counts))]
    lengths = [len(c) for c in codes]
    assert lengths == tree.lengths.tolist() and max(lengths) == tree.max_len
    # prefix-free: no code starts another one (and all are distinct)
    for i, a in enumerate(codes):
        for j, b in enumerate(codes):
            assert i == j or not b.startswith(a), (a, b)
    # Kraft equality: Σ 2^-ℓ = 1, the tree is full
    assert sum(2.0 ** -n for n in lengths) == pytest.approx(1.0, abs=1e-12)
    # minimal expected length: Σ count·ℓ equals the optimum (brute-force Huffman with heapq)
    assert sum(c * n for c, n in zip(counts, lengths)) == _optimal_cost(counts)
    # frequent words get codes no longer than rarer ones
    for a in range(len(counts)):
        for b in range(len(counts)):
            if counts[a] > counts[b]:
                assert lengths[a] <= lengths[b]


def test_E2_huffman_paths_walk_inner_nodes_from_the_root():
    counts = COUNT_SETS["zipf"]
    v = len(counts)
    tree = huffman_tree(counts)
    # every path starts at the root (inner node V-2) and uses inner nodes 0..V-2 only
    assert (tree.points[:, 0] == v - 2).all()
    assert tree.points.min() >= 0 and tree.points.max() == v - 2
    # the (node, turn) pairs of a path identify the word: following them from the root
    # reaches exactly one leaf, so two words share a prefix of nodes as long as their codes agree
    for a in range(v):
        for b in range(a + 1, v):
            n = min(int(tree.lengths[a]), int(tree.lengths[b]))
            common = 0
            while common < n and tree.codes[a, common] == tree.codes[b, common]:
                common += 1
            assert common < n  # prefix-free
            assert torch.equal(tree.points[a, :common + 1], tree.points[b, :common + 1])
    # word2vec.c's tree on a 4-word example (ties go to the merged node first)
    assert [huffman_tree([5, 2, 1, 1]).code(w) for w in range(4)] == ["1", "01", "001", "000"]


def test_E2_hierarchical_softmax_is_a_distribution_over_words():
    """Π σ(±θ·v) along each word's path sums to 1 over the vocabulary (any v)."""
    torch.manual_seed(0)
    counts = torch.tensor([30, 12, 9, 5, 5, 2, 1])
    m = Word2Vec(Word2VecConfig(vocab_size=7, dim=4, objective="hierarchical",
                                zero_output=False), counts=counts).double()
    context = torch.tensor([[2]])
    # forward gives -log P(centre | context word): P summed over all centres must be 1
    with torch.no_grad():
        total = sum(math.exp(-float(m(torch.tensor([c]), context))) for c in range(7))
    assert total == pytest.approx(1.0, abs=1e-12)


def test_huffman_errors():
    with pytest.raises(ConfigError, match="at least 2"):
        huffman_tree([4])
    with pytest.raises(ConfigError, match=">= 0"):
        huffman_tree([3, -1])


# ---------------------------------------------------------------- formula path (E1, E2)

def _sig(x):
    return 1 / (1 + math.exp(-x))


def _reference(model, centre, context, negatives, counts=False):
    """Loss per centre and gradients of both tables, written out with Python loops.

    Skip-gram: each context word's input vector v_j is scored against the centre's output
    rows t (the centre and its negatives, or its tree path): ℓ = -Σ_j Σ_t log σ(±u_t·v_j).
    CBOW: h = mean_j v_j, ℓ = -Σ_t log σ(±u_t·h); word2vec.c hands ∂ℓ/∂h to every v_j.
    """
    w_in = model.input_embedding.weight.detach()
    w_out = model.output_embedding.weight.detach()
    g_in, g_out = torch.zeros_like(w_in), torch.zeros_like(w_out)
    n_in, n_out = torch.zeros(len(w_in), dtype=f64), torch.zeros(len(w_out), dtype=f64)
    losses = []
    for b in range(len(centre)):
        c = int(centre[b])
        if model.hierarchical:
            n = int(model.code_lengths[c])
            rows = [(int(model.points[c, i]), 1 - int(model.codes[c, i])) for i in range(n)]
        else:
            rows = [(c, 1)] + [(int(k), 0) for k in negatives[b] if int(k) != c]
        ctx = [int(o) for o in context[b] if int(o) >= 0]
        loss = 0.0
        if model.skipgram:
            inputs = [(o, w_in[o]) for o in ctx]
        else:
            inputs = [(None, sum(w_in[o] for o in ctx) / len(ctx))] if ctx else []
        for o, v in inputs:
            for t, y in rows:
                s = float(w_out[t] @ v)
                loss -= math.log(_sig(s) if y == 1 else _sig(-s))
                d = _sig(s) - y  # ∂ℓ/∂s
                g_out[t] += d * v
                n_out[t] += 1  # word2vec.c steps an output row once per (input, target)
                for j in ([o] if o is not None else ctx):
                    g_in[j] += d * w_out[t]
            for j in ([o] if o is not None else ctx):
                n_in[j] += 1  # and an input row once per context slot
        losses.append(loss)
    if counts:
        return torch.tensor(losses, dtype=f64), g_in, g_out, n_in, n_out
    return torch.tensor(losses, dtype=f64), g_in, g_out


VARIANTS = [(a, o) for a in ("skipgram", "cbow") for o in ("negative", "hierarchical")]


def _tiny(architecture, objective, seed=0):
    torch.manual_seed(seed)
    counts = torch.tensor([40, 22, 15, 9, 7, 4, 2, 1])
    m = Word2Vec(Word2VecConfig(vocab_size=8, dim=5, architecture=architecture,
                                objective=objective, zero_output=False), counts=counts).double()
    centre = torch.tensor([0, 3, 5, 7, 3])
    context = torch.tensor([[1, 2, -1, 4], [-1, -1, -1, -1], [5, 0, 0, 6], [2, -1, 1, 1],
                            [7, 6, 5, 4]])
    negatives = torch.tensor([[2, 0, 7], [1, 1, 6], [5, 2, 3], [0, 4, 7], [3, 2, 1]])
    return m, centre, context, negatives  # centre 0 draws itself (skipped), centre 3 has no context


@pytest.mark.parametrize("architecture,objective", VARIANTS)
def test_E1_E2_loss_and_gradients_equal_the_hand_written_reference(architecture, objective):
    m, centre, context, negatives = _tiny(architecture, objective)
    loss_ref, g_in_ref, g_out_ref = _reference(m, centre, context, negatives)
    loss = m(centre, context, negatives)
    torch.testing.assert_close(loss.detach(), loss_ref, atol=1e-12, rtol=1e-10)
    loss.sum().backward()
    torch.testing.assert_close(m.input_embedding.weight.grad, g_in_ref, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(m.output_embedding.weight.grad, g_out_ref, atol=1e-12, rtol=1e-10)
    assert g_in_ref.abs().sum() > 0 and g_out_ref.abs().sum() > 0


@pytest.mark.parametrize("architecture,objective", VARIANTS)
def test_E1_E2_sgd_step_applies_minus_lr_times_the_reference_gradient(architecture, objective):
    m, centre, context, negatives = _tiny(architecture, objective)
    loss_ref, g_in_ref, g_out_ref = _reference(m, centre, context, negatives)
    w_in = m.input_embedding.weight.detach().clone()
    w_out = m.output_embedding.weight.detach().clone()
    lr = 0.3
    value = m.sgd_step(centre, context, negatives, lr=lr)
    assert float(value) == pytest.approx(float(loss_ref.sum()), rel=1e-12)
    torch.testing.assert_close(m.input_embedding.weight.detach(), w_in - lr * g_in_ref,
                               atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(m.output_embedding.weight.detach(), w_out - lr * g_out_ref,
                               atol=1e-12, rtol=1e-10)
    assert m.sgd_step(centre, context, negatives, lr=lr, loss=False) is None


@pytest.mark.parametrize("architecture,objective", VARIANTS)
def test_E2_capped_rows_take_max_row_steps_single_steps(architecture, objective):
    """With max_row_steps = m, a row stepped n > m times in the batch moves by m/n of its sum."""
    m, centre, context, negatives = _tiny(architecture, objective)
    _, g_in, g_out, n_in, n_out = _reference(m, centre, context, negatives, counts=True)
    assert n_in.max() > 2 and n_out.max() > 2  # the cap bites
    in_counts, out_counts = m.step_counts(centre, context, negatives)
    torch.testing.assert_close(in_counts, n_in)
    torch.testing.assert_close(out_counts, n_out)
    w_in = m.input_embedding.weight.detach().clone()
    w_out = m.output_embedding.weight.detach().clone()
    m.sgd_step(centre, context, negatives, lr=0.3, max_row_steps=2)
    cap_in = (2 / n_in.clamp_min(1)).clamp(max=1).unsqueeze(1)
    cap_out = (2 / n_out.clamp_min(1)).clamp(max=1).unsqueeze(1)
    torch.testing.assert_close(m.input_embedding.weight.detach(), w_in - 0.3 * cap_in * g_in,
                               atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(m.output_embedding.weight.detach(),
                               w_out - 0.3 * cap_out * g_out, atol=1e-12, rtol=1e-10)


def test_row_scale():
    rows = torch.tensor([2, 0, 2, 2, 1])
    steps = torch.tensor([1.0, 5.0, 2.0, 0.0, 0.5])
    # row 2 steps 3 times, row 0 five times, row 1 half a time
    assert row_scale(rows, steps, 3, 2.0).tolist() == pytest.approx([2 / 3, 0.4, 2 / 3, 2 / 3, 1])


def test_E2_negative_sampling_loss_on_one_pair_is_the_notes_formula():
    """-log σ(u_o·v_c) - Σ_k log σ(-u_k·v_c) for one context word and K = 2 noise words."""
    m, *_ = _tiny("skipgram", "negative")
    v = m.input_embedding.weight[4].detach()
    u = m.output_embedding.weight.detach()
    expected = -math.log(_sig(float(u[1] @ v))) - math.log(_sig(-float(u[6] @ v))) \
        - math.log(_sig(-float(u[2] @ v)))
    with torch.no_grad():
        got = m(torch.tensor([1]), torch.tensor([[4]]), torch.tensor([[6, 2]]))
    assert float(got) == pytest.approx(expected, rel=1e-12)


def test_E2_hierarchical_softmax_costs_one_score_per_node_on_the_path():
    m, *_ = _tiny("skipgram", "hierarchical")
    ids, labels, mask = m.targets(torch.tensor([0, 7]), None)
    assert mask.sum(1).tolist() == m.code_lengths[[0, 7]].tolist()
    assert m.code_lengths[0] < m.code_lengths[7]  # the frequent word has the shorter path
    assert m.output_embedding.weight.shape[0] == 7  # V - 1 inner nodes


def test_E1_bag_mean_hands_the_error_to_every_member_undivided():
    x = torch.randn(2, 3, 4, dtype=f64, requires_grad=True)
    mask = torch.tensor([[True, False, True], [False, False, False]])
    h = bag_mean(x, mask)
    torch.testing.assert_close(h[0], (x[0, 0] + x[0, 2]) / 2)
    assert torch.equal(h[1], torch.zeros(4, dtype=f64))  # an empty bag gives 0
    up = torch.randn(2, 4, dtype=f64)
    h.backward(up)
    expected = up.unsqueeze(1) * mask.unsqueeze(2)
    torch.testing.assert_close(x.grad, expected)


def test_output_vectors_start_at_zero_as_in_word2vec_c():
    m = models.create("word2vec", vocab_size=20, dim=8)
    assert torch.equal(m.output_embedding.weight, torch.zeros(20, 8))
    w = m.input_embedding.weight
    assert w.abs().max() <= 0.5 / 8 and w.std() > 0


def test_word_vectors_are_the_input_vectors():
    m = models.create("word2vec", vocab_size=3, dim=2)
    wv = m.word_vectors(["a", "b", "c"])
    assert torch.equal(wv.vector("b"), m.input_embedding.weight[1].detach())
    with pytest.raises(ShapeError, match="vocabulary of 3"):
        m.word_vectors(["a"])


def test_word2vec_errors():
    with pytest.raises(ConfigError, match="architecture"):
        models.create("word2vec", architecture="glove")
    with pytest.raises(ConfigError, match="objective"):
        models.create("word2vec", objective="softmax")
    with pytest.raises(ConfigError, match="vocab_size >= 2"):
        models.create("word2vec", vocab_size=1)
    m = models.create("word2vec", vocab_size=5, dim=2)
    with pytest.raises(ConfigError, match="negatives"):
        m(torch.tensor([0]), torch.tensor([[1]]))
    with pytest.raises(ShapeError, match=r"centre \(B,\) and context \(B, C\)"):
        m(torch.tensor([0, 1]), torch.tensor([[1]]), torch.tensor([[2]]))
    with pytest.raises(ShapeError, match="integer"):
        m(torch.tensor([0.0]), torch.tensor([[1]]), torch.tensor([[2]]))
    with pytest.raises(ShapeError, match="counts"):
        Word2Vec(Word2VecConfig(vocab_size=4, objective="hierarchical"), counts=torch.ones(3))


def test_docstring_examples():
    result = doctest.testmod(w2v_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 3 and result.failed == 0
