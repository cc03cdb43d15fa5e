"""Fuzzing the parts that read what users type or files they keep: tokenizers, Vocab, BLEU,
decoders, CTC decoders, ``--set`` parsing and checkpoint metadata. Whatever the input, the
answer is a result or one of our errors (``DeepnotesError``), never another exception."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from deepnotes.config import apply_overrides
from deepnotes.decoding import (
    beam_search,
    ctc_best_path,
    ctc_prefix_beam_search,
    greedy_search,
    sample,
)
from deepnotes.errors import DeepnotesError
from deepnotes.metrics import bleu, corpus_bleu
from deepnotes.text import Vocab, tokenize
from deepnotes.train.checkpoint import load_checkpoint, peek_checkpoint, save_checkpoint

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
# any JSON-like value, the shapes a hand-edited file can hold
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


def ours_or_result(fn, *args, **kwargs):
    """Call ``fn``; our errors are fine, any other exception fails the test."""
    try:
        return fn(*args, **kwargs)
    except DeepnotesError:
        return None


@FUZZ
@given(st.text(max_size=60), st.sampled_from(["word", "char"]), st.booleans())
def test_tokenize_any_text(text, kind, lower):
    lines = ours_or_result(tokenize, text, kind=kind, lower=lower)
    if lines is not None:
        assert all(isinstance(t, str) and t for line in lines for t in line)


@FUZZ
@given(st.lists(st.lists(st.text(max_size=5), max_size=6), max_size=6), st.integers(-2, 4),
       st.lists(st.text(max_size=5), max_size=8))
def test_vocab_any_tokens(lines, min_freq, queries):
    vocab = ours_or_result(Vocab, lines, min_freq=min_freq)
    if vocab is not None:
        ids = vocab.to_indices(queries)
        assert all(0 <= i < len(vocab) for i in ids)
        assert Vocab.from_state_dict(json.loads(json.dumps(vocab.state_dict()))) == vocab


@FUZZ
@given(st.dictionaries(st.sampled_from(["format", "reserved", "idx_to_token", "min_freq",
                                        "token_freqs", "other"]), JSON, max_size=6))
def test_vocab_from_any_state(state):
    ours_or_result(Vocab.from_state_dict, state)


@FUZZ
@given(st.dictionaries(st.sampled_from(["reserved", "idx_to_token", "min_freq",
                                        "token_freqs"]), JSON, max_size=4))
def test_vocab_from_a_damaged_real_state(edits):
    state = Vocab([["a", "b", "a", "c"]]).state_dict()
    state.update(edits)
    ours_or_result(Vocab.from_state_dict, state)


@FUZZ
@given(st.lists(st.text(max_size=30), min_size=1, max_size=4),
       st.lists(st.text(max_size=30), min_size=1, max_size=4), st.integers(-1, 6))
def test_bleu_any_strings(hyps, refs, k):
    score = ours_or_result(bleu, hyps[0], refs[0], k=k)
    assert score is None or 0.0 <= score <= 1.0
    n = min(len(hyps), len(refs))
    result = ours_or_result(corpus_bleu, hyps[:n], [refs[:n]])
    assert result is None or 0.0 <= result.score <= 100.0 + 1e-9


@FUZZ
@given(st.integers(1, 6), st.integers(-1, 8), st.integers(-1, 8), st.integers(0, 5),
       st.integers(-1, 4), st.floats(allow_nan=True, allow_infinity=True), st.data())
def test_decoders_any_table(V, bos, eos, max_len, k, temperature, data):
    logits = torch.tensor(data.draw(st.lists(st.floats(-30, 30), min_size=V, max_size=V)))
    table = torch.log_softmax(logits, dim=0)

    def step(tokens, state):
        return table.expand(tokens.shape[0], V), state

    for decode in (lambda: greedy_search(step, bos, eos, max_len, batch_size=2),
                   lambda: beam_search(step, bos, eos, k, max_len, batch_size=2),
                   lambda: sample(step, bos, eos, max_len, temperature=temperature,
                                  generator=torch.Generator().manual_seed(0), batch_size=2)):
        out = ours_or_result(decode)
        if out is not None:
            assert all(0 <= t < V for row in out.tokens for t in row)


@FUZZ
@given(st.integers(0, 6), st.integers(1, 3), st.integers(1, 5), st.integers(-1, 6),
       st.integers(-1, 5), st.data())
def test_ctc_decoders_any_input(T, B, C, blank, beam, data):
    lp = torch.log_softmax(torch.randn(T, B, C, generator=torch.Generator().manual_seed(T + C)),
                           dim=-1)
    lengths = data.draw(st.lists(st.integers(-1, T + 1), min_size=B, max_size=B))
    ours_or_result(ctc_best_path, lp, lengths, blank=blank)
    ours_or_result(ctc_prefix_beam_search, lp, beam, lengths, blank=blank)


@dataclasses.dataclass
class _Cfg:
    lr: float = 0.1
    epochs: int = 3
    quick: bool = False
    name: str = "x"
    hidden: tuple[int, ...] = (4,)
    limit: int | None = None


@FUZZ
@given(st.lists(st.text(max_size=20), max_size=4))
def test_set_parsing_any_text(assignments):
    cfg = ours_or_result(apply_overrides, _Cfg(), assignments)
    assert cfg is None or isinstance(cfg, _Cfg)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    save_checkpoint(folder, model, opt, trainer_state={"epoch": 1, "history": [{"loss": 1.0}]},
                    model_info={"name": "x", "vocab": ["<unk>", "a"]})
    return folder, (folder / "checkpoint.json").read_text()


@FUZZ
@given(st.sampled_from(["model_info", "trainer_state", "rng", "optimizer", "save_id",
                        "format", "version", "created"]), JSON, st.booleans())
def test_checkpoint_json_any_edit(saved, key, value, remove):
    folder, text = saved
    meta = json.loads(text)
    if remove:
        meta.pop(key, None)
    else:
        meta[key] = value
    assume(json.dumps(meta) != text)
    (folder / "checkpoint.json").write_text(json.dumps(meta))
    try:
        model = torch.nn.Linear(3, 2)
        ours_or_result(load_checkpoint, folder, model, torch.optim.Adam(model.parameters()),
                       restore_rng=True)
        ours_or_result(peek_checkpoint, folder)
    finally:
        (folder / "checkpoint.json").write_text(text)


def test_sampling_at_a_temperature_that_underflows_is_greedy():
    # found by test_decoders_any_table: log p / 1e-300 overflowed to -inf everywhere (NaN);
    # shifted by the best log-probability first, the best token keeps all the mass
    from deepnotes.decoding.sampling import sampling_distribution

    lp = torch.log_softmax(torch.tensor([[1.0, 2.0, 0.5]]), dim=1)
    for dtype in (torch.float32, torch.float64):
        q = sampling_distribution(lp.to(dtype), 1e-300)
        assert q.tolist() == [[0.0, 1.0, 0.0]]
