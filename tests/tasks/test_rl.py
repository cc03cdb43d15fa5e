"""Self-critical REINFORCE on BLEU (S6): log-probabilities, rewards, the update's direction."""

import doctest

import pytest
import torch

from deepnotes.models import create
from deepnotes.tasks import rl
from deepnotes.tasks.translation import load_translation_corpus


@pytest.fixture(scope="module")
def setup():
    data = load_translation_corpus("toy-en-es", 15, 16, 0)
    torch.manual_seed(0)
    v = data.tgt_vocab
    model = create("transformer-mt", src_vocab_size=len(data.src_vocab), tgt_vocab_size=len(v),
                   embed_dim=16, num_heads=2, ffn_hidden=32, num_layers=1, dropout=0.0,
                   pad=v.pad, bos=v.bos, eos=v.eos).eval()
    return data, model


def test_S6_sequence_log_prob_is_what_the_sampler_drew_it_with(setup):
    data, model = setup
    v = data.tgt_vocab
    src, src_len = data.train.src[:6], data.train.src_valid_len[:6]
    g = torch.Generator().manual_seed(1)
    drawn = rl.sample_translations(model, src, src_len, v.bos, v.eos, 10, generator=g)
    tokens, lengths = rl.pad_tokens(drawn.tokens, v.pad)
    with torch.no_grad():
        logp = rl.sequence_log_prob(model, src, src_len, tokens, lengths, v.bos)
    # the teacher-forced pass over the drawn words gives the sampler's own log P
    assert torch.allclose(logp.double(), drawn.log_probs, atol=1e-4)
    greedy = rl.sample_translations(model, src, src_len, v.bos, v.eos, 10, greedy=True)
    assert all(len(t) <= 10 for t in greedy.tokens)


def test_S6_rewards_are_sentence_bleu_between_0_and_1(setup):
    data, _ = setup
    v = data.tgt_vocab
    ref = data.train.tgt_text[0]
    words = ref.lower().replace(".", " .").split()
    right = v.to_indices(words) + [v.eos]
    r = rl.bleu_rewards([right, [v.eos], v.to_indices(words[:2])], [ref] * 3, v)
    assert r[0] == pytest.approx(1.0) and r[1] == 0.0 and 0 < r[2] < 1


def test_S6_a_positive_advantage_makes_the_drawn_translation_more_probable(setup):
    data, base = setup
    v = data.tgt_vocab
    src, src_len = data.train.src[:4], data.train.src_valid_len[:4]
    drawn = rl.sample_translations(base, src, src_len, v.bos, v.eos, 10,
                                   generator=torch.Generator().manual_seed(2)).tokens
    tokens, lengths = rl.pad_tokens(drawn, v.pad)
    for sign in (1.0, -1.0):
        model = __import__("copy").deepcopy(base)
        before = rl.sequence_log_prob(model, src, src_len, tokens, lengths, v.bos).detach()
        loss, adv = rl.self_critical_loss(model, src, src_len, drawn,
                                          torch.full((4,), sign), v.pad, v.bos)
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                if p.grad is not None:
                    p -= 1e-2 * p.grad  # one small gradient step down the loss
        after = rl.sequence_log_prob(model, src, src_len, tokens, lengths, v.bos).detach()
        assert (sign * (after - before) > 0).all()


def test_S6_self_critical_training_runs_and_records_rewards(setup):
    data, base = setup
    model = __import__("copy").deepcopy(base)
    w0 = [p.detach().clone() for p in model.parameters()]
    r = rl.self_critical(model, data, epochs=2, lr=1e-3, batch_size=32, seed=0)
    assert [h["epoch"] for h in r.history] == [1, 2]
    for h in r.history:
        assert 0 <= h["sample_reward"] <= 1 and 0 <= h["greedy_reward"] <= 1
        assert h["advantage"] == pytest.approx(h["sample_reward"] - h["greedy_reward"])
    assert r.updates == 2 * -(-len(data.train) // 32)
    assert any(not torch.equal(a, b) for a, b in zip(w0, model.parameters()))
    with pytest.raises(Exception, match="lr"):
        rl.self_critical(model, data, epochs=1, lr=0.0)


def test_docstring_examples():
    result = doctest.testmod(rl)
    assert result.attempted > 0 and result.failed == 0


def test_S6_log_prob_counts_each_row_up_to_its_length_only(setup):
    data, model = setup
    v = data.tgt_vocab
    src, src_len = data.train.src[:3], data.train.src_valid_len[:3]
    rows = [[5, 6, v.eos], [7, v.eos], [8, 9, 10, 11]]
    tokens, lengths = rl.pad_tokens(rows, v.pad)
    junk = tokens.clone()
    junk[1, 2:] = 12  # anything after a row's length must not count
    junk[0, 3:] = 13
    with torch.no_grad():
        a = rl.sequence_log_prob(model, src, src_len, tokens, lengths, v.bos)
        b = rl.sequence_log_prob(model, src, src_len, junk, lengths, v.bos)
        # by hand, step by step through the decoder
        want = []
        for i, row in enumerate(rows):
            state = model.init_state(src[i:i + 1], src_len[i:i + 1])
            prefix, total = torch.tensor([[v.bos]]), 0.0
            for t in row:
                lp, state = model.step(prefix, state)
                total += float(lp[0, t])
                prefix = torch.cat([prefix, torch.tensor([[t]])], dim=1)
            want.append(total)
    assert torch.allclose(a, b) and torch.allclose(a, torch.tensor(want), atol=1e-4)
