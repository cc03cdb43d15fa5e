"""Greedy, exhaustive, beam search and sampling on small random decoders (S3, S5, A14).

The notes' worked example (0.048 vs 0.054) is in tests/golden/test_seq2seq_examples.py.
"""

from __future__ import annotations

from collections import namedtuple

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deepnotes.decoding import (
    beam_search,
    exhaustive_search,
    greedy_search,
    length_penalized,
    map_state,
    sample,
    sampling_distribution,
)
from deepnotes.errors import ConfigError, ShapeError


class TinyDecoder:
    """A random 2-layer tanh RNN decoder over V tokens (id V is <bos>), one context per source.

    ``stateful`` carries the hidden state batch-first ``(N, L=2, H)`` and reads only the last
    token (an RNN decoder); ``stateless`` re-reads the whole prefix every step (a Transformer
    decoder) and keeps only the source ids as state. Both give the same log-probabilities, so
    a decoder that reorders the state wrongly gives a different answer with ``stateful``.
    """

    def __init__(self, V: int, B: int, seed: int, H: int = 5, sharp: float = 2.0):
        g = torch.Generator().manual_seed(seed)

        def r(*s):
            return torch.randn(*s, generator=g, dtype=torch.float64)

        self.V, self.B = V, B
        self.emb, self.W1, self.U, self.W2 = r(V + 1, H), r(H, H) * 0.7, r(H, H), r(H, H) * 0.7
        self.out, self.ctx = r(H, V) * sharp, r(B, 2, H)

    def _cell(self, tok, h):  # h (N, 2, H)
        h1 = torch.tanh(self.emb[tok] + h[:, 0] @ self.W1)
        h2 = torch.tanh(h1 @ self.U + h[:, 1] @ self.W2)
        return torch.stack([h1, h2], dim=1)  # (N, 2, H)

    def init_state(self):
        return {"h": self.ctx.clone(), "src": torch.arange(self.B)}

    def stateful(self, tokens, state):
        h = self._cell(tokens[:, -1], state["h"])
        return torch.log_softmax(h[:, 1] @ self.out, -1), {"h": h, "src": state["src"]}

    def stateless(self, tokens, src):
        h = self.ctx[src]
        for t in range(tokens.shape[1]):
            h = self._cell(tokens[:, t], h)
        return torch.log_softmax(h[:, 1] @ self.out, -1), src


def one_source(state, b):
    return map_state(lambda t: t[b : b + 1], state)


decoders = st.builds(
    TinyDecoder, V=st.integers(2, 4), B=st.integers(1, 3), seed=st.integers(0, 2**31 - 1)
)


@settings(max_examples=40, deadline=None)
@given(dec=decoders, max_len=st.integers(1, 3), alpha=st.sampled_from([0.0, 0.75]))
def test_wide_beam_equals_exhaustive_search(dec, max_len, alpha):
    # S5: with k ≥ |Y|^T' every prefix survives, so beam search is exhaustive search
    V, eos = dec.V, dec.V - 1
    k = V**max_len
    beam = beam_search(dec.stateful, V, eos, k, max_len, alpha, state=dec.init_state())
    for b in range(dec.B):
        ex = exhaustive_search(dec.stateless, V, eos, max_len, alpha=alpha, state=torch.tensor([b]))
        assert beam.tokens[b] == ex.tokens[0]
        assert beam.scores[b].item() == pytest.approx(ex.scores[0].item(), rel=1e-12)
        # the very same candidate set, with the same log-probabilities
        got = {tuple(h.tokens): h.log_prob for h in beam.hypotheses[b]}
        want = {tuple(h.tokens): h.log_prob for h in ex.hypotheses[0]}
        assert got.keys() == want.keys()
        for seq, lp in want.items():
            assert got[seq] == pytest.approx(lp, rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(dec=decoders, max_len=st.integers(1, 6), alpha=st.sampled_from([0.0, 0.75]))
def test_beam_of_one_is_greedy(dec, max_len, alpha):
    # S5: greedy search is beam search with k = 1
    V, eos = dec.V, dec.V - 1
    g = greedy_search(dec.stateful, V, eos, max_len, state=dec.init_state())
    b = beam_search(dec.stateful, V, eos, 1, max_len, alpha, state=dec.init_state())
    assert b.tokens == g.tokens
    torch.testing.assert_close(b.log_probs, g.log_probs, rtol=1e-12, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(dec=decoders, k=st.integers(1, 4), max_len=st.integers(1, 6))
def test_batched_decoding_equals_one_source_at_a_time(dec, k, max_len):
    V, eos = dec.V, dec.V - 1
    state = dec.init_state()
    beam = beam_search(dec.stateful, V, eos, k, max_len, state=state)
    greedy = greedy_search(dec.stateful, V, eos, max_len, state=state)
    for b in range(dec.B):
        one = beam_search(dec.stateful, V, eos, k, max_len, state=one_source(state, b))
        assert one.tokens[0] == beam.tokens[b]
        assert one.scores[0].item() == pytest.approx(beam.scores[b].item(), rel=1e-12)
        one_g = greedy_search(dec.stateful, V, eos, max_len, state=one_source(state, b))
        assert one_g.tokens[0] == greedy.tokens[b]


@settings(max_examples=25, deadline=None)
@given(dec=decoders, k=st.integers(2, 5), max_len=st.integers(2, 6))
def test_state_reordering_matches_a_decoder_that_rereads_the_prefix(dec, k, max_len):
    # beams are reordered with index_select on dim 0 of every state tensor
    V, eos = dec.V, dec.V - 1
    a = beam_search(dec.stateful, V, eos, k, max_len, state=dec.init_state())
    b = beam_search(dec.stateless, V, eos, k, max_len, state=torch.arange(dec.B))
    assert a.tokens == b.tokens
    torch.testing.assert_close(a.scores, b.scores, rtol=1e-12, atol=1e-12)
    for hyps in a.hypotheses:  # ranked best first, by log P / L^α with L counting <eos>
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        for h in hyps:
            L = len(h.tokens)
            assert h.score == pytest.approx(h.log_prob / L**0.75)
            assert h.finished == (h.tokens[-1] == eos) and L <= max_len


@pytest.mark.parametrize("seed", range(4))
def test_sampling_limits_are_greedy(seed):
    # A14: τ → 0 and top-k = 1 both collapse sampling onto greedy search
    dec = TinyDecoder(V=5, B=3, seed=seed)
    greedy = greedy_search(dec.stateful, 5, 4, 8, state=dec.init_state())
    for kwargs in ({"temperature": 0.0}, {"temperature": 1e-6}, {"top_k": 1}):
        g = torch.Generator().manual_seed(seed)
        s = sample(dec.stateful, 5, 4, 8, state=dec.init_state(), generator=g, **kwargs)
        assert s.tokens == greedy.tokens, kwargs
        torch.testing.assert_close(s.log_probs, greedy.log_probs)


def test_sampling_draws_from_the_tempered_top_k_distribution():
    log_p = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64).log()
    q = sampling_distribution(log_p[None], temperature=0.5, top_k=3)[0]
    # q ∝ p^(1/τ) on the top 3 tokens, 0 elsewhere
    want = torch.tensor([0.0, 0.04, 0.09, 0.16], dtype=torch.float64) / 0.29
    torch.testing.assert_close(q, want)

    def step(tok, s):
        return log_p.expand(tok.shape[0], 4), s

    g = torch.Generator().manual_seed(0)
    n = 20_000
    out = sample(step, 9, 3, 1, temperature=0.5, top_k=3, generator=g, batch_size=n)
    freq = torch.bincount(torch.tensor([t[0] for t in out.tokens]), minlength=4) / n
    torch.testing.assert_close(freq.double(), want, atol=0.015, rtol=0)
    # the reported log P is the model's, not the tempered one
    first = torch.tensor([t[0] for t in out.tokens])
    torch.testing.assert_close(out.log_probs, log_p[first])
    # a seeded generator reproduces the draws
    again = sample(
        step,
        9,
        3,
        1,
        temperature=0.5,
        top_k=3,
        batch_size=n,
        generator=torch.Generator().manual_seed(0),
    )
    assert again.tokens == out.tokens


def test_max_len_cuts_sequences_that_never_end():
    never_eos = torch.tensor([0.7, 0.3, 0.0]).log()  # token 2 = <eos> has probability 0

    def step(tok, s):
        return never_eos.expand(tok.shape[0], 3), s

    for res in (
        greedy_search(step, 5, 2, 4),
        beam_search(step, 5, 2, 3, 4),
        exhaustive_search(step, 5, 2, 4),
        sample(step, 5, 2, 4, generator=torch.Generator().manual_seed(0)),
    ):
        assert len(res.tokens[0]) == 4 and 2 not in res.tokens[0]
        assert not res.hypotheses[0][0].finished
    assert beam_search(step, 5, 2, 3, 4).tokens == [[0, 0, 0, 0]]


def test_length_penalty_prefers_longer_sequences_as_alpha_grows():
    # S5: log P / L^α; α = 0 is plain probability
    assert length_penalized(-3.0, 4, 0.0) == -3.0
    assert length_penalized(-3.0, 4, 0.75) == pytest.approx(-3.0 / 4**0.75)
    # <eos> now (P = 0.35, L = 1) against two more tokens first (P = 0.55·0.6·0.9 = 0.297, L = 3)
    table = {(): [0.55, 0.1, 0.35], (0,): [0.6, 0.3, 0.1], (0, 0): [0.05, 0.05, 0.9]}

    def step(tok, s):
        rows = [table.get(tuple(r[1:]), [0.3, 0.3, 0.4]) for r in tok.tolist()]
        return torch.tensor(rows, dtype=torch.float64).log(), s

    for search in (
        lambda a: exhaustive_search(step, 3, 2, 3, alpha=a),
        lambda a: beam_search(step, 3, 2, 2, 3, alpha=a),
    ):
        short, long = search(0.0), search(0.75)
        assert short.tokens == [[2]] and short.log_probs.exp().item() == pytest.approx(0.35)
        assert long.tokens == [[0, 0, 2]] and long.log_probs.exp().item() == pytest.approx(0.297)


def test_state_and_argument_errors():
    def ok(tok, s):
        return torch.zeros(tok.shape[0], 3), s

    with pytest.raises(ConfigError, match="beam_size must be >= 1, got 0"):
        beam_search(ok, 0, 2, 0, 3)
    with pytest.raises(ConfigError, match="max_len must be >= 1"):
        greedy_search(ok, 0, 2, 0)
    with pytest.raises(ShapeError, match="3 sources on dim 0"):
        greedy_search(ok, 0, 2, 3, state=(torch.zeros(3, 2), torch.zeros(2, 2)))
    with pytest.raises(ShapeError, match="log_probs of shape"):
        greedy_search(lambda tok, s: (torch.zeros(3), s), 0, 2, 3)
    with pytest.raises(ConfigError, match="max_sequences"):
        exhaustive_search(lambda tok, s: (torch.zeros(tok.shape[0], 50), s), 0, 2, 10)
    with pytest.raises(ConfigError, match="temperature must be a finite number >= 0"):
        sample(ok, 0, 2, 3, temperature=-1.0)
    with pytest.raises(ConfigError, match="top_k must be >= 1"):
        sampling_distribution(torch.zeros(1, 3), top_k=0)


def test_map_state_walks_tuples_lists_dicts_and_namedtuples():
    LSTMState = namedtuple("LSTMState", "h c")
    state = {"rnn": LSTMState(torch.arange(3), torch.arange(3) * 2), "mem": [torch.ones(3, 2)]}
    out = map_state(lambda t: t.index_select(0, torch.tensor([2, 0])), state)
    assert isinstance(out["rnn"], LSTMState)
    assert out["rnn"].c.tolist() == [4, 0] and out["mem"][0].shape == (2, 2)
    assert map_state(lambda t: t, None) is None
