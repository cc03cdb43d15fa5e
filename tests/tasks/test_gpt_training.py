"""nanoGPT-style training (P7, O7, O11): batches, accumulation, baselines, losses."""

import math

import pytest
import torch
from torch import nn

from deepnotes.errors import ConfigError, NonFiniteLossError
from deepnotes.models.gpt import GPT, GPTConfig
from deepnotes.tasks.gpt import (
    char_baselines,
    estimate_loss,
    full_loss,
    get_batch,
    split_stream,
    train_gpt,
)


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    return GPT(GPTConfig(**{**dict(vocab_size=7, block_size=8, n_layer=1, n_head=2, n_embd=16),
                            **kw}))


def test_get_batch_targets_are_the_windows_one_token_later():
    data = torch.arange(100) * 3
    x, y = get_batch(data, 10, 5, torch.Generator().manual_seed(1))
    assert x.shape == y.shape == (5, 10)
    assert torch.equal(y[:, :-1], x[:, 1:]) and torch.equal(y[:, -1], x[:, -1] + 3)
    assert int(y.max()) <= 297  # never past the end
    with pytest.raises(ConfigError, match="block_size=10"):
        get_batch(torch.arange(10), 10, 2, torch.Generator())


def test_split_stream_is_consecutive_and_complete():
    parts = split_stream(torch.arange(1000), (0.8, 0.1, 0.1))
    assert [len(p) for p in parts] == [800, 100, 100]
    assert torch.equal(torch.cat(parts), torch.arange(1000))
    with pytest.raises(ConfigError, match="summing to 1"):
        split_stream(torch.arange(10), (0.5, 0.5, 0.5))


def test_O7_accumulating_two_micro_batches_is_one_update_of_the_double_batch():
    data = torch.randint(0, 7, (500,), generator=torch.Generator().manual_seed(0))
    kw = dict(max_iters=3, warmup_iters=1, eval_interval=3, eval_iters=1, grad_clip=None,
              progress=False)
    a, b = _model(), _model()
    train_gpt(a, data, data, batch_size=3, accumulate=2, **kw)
    train_gpt(b, data, data, batch_size=6, accumulate=1, **kw)
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.allclose(p, q, atol=1e-6), n
    c = _model()  # and a different batch is a different update (the test can fail)
    train_gpt(c, data, data, batch_size=3, accumulate=1, **kw)
    assert not torch.allclose(c.lm_head.weight, b.lm_head.weight, atol=1e-6)


def test_P7_training_learns_a_periodic_text_and_follows_the_schedule():
    data = torch.tensor([0, 1, 2, 3, 4, 5, 6] * 60)
    m = _model()
    r = train_gpt(m, data, data, max_iters=120, batch_size=8, lr=1e-2, min_lr=1e-3,
                  warmup_iters=10, eval_interval=40, eval_iters=2, progress=False)
    assert [h["iter"] for h in r.history] == [40, 80, 120]
    assert r.history[-1]["val_loss"] < 0.05 < math.log(7) / 10  # the next token is certain
    assert r.history[-1]["lr"] == pytest.approx(1e-3)  # cosine ends at min_lr
    assert r.tokens == 120 * 8 * 8 and r.tokens_per_second > 0
    assert not m.training


def test_nonfinite_loss_stops_before_the_update():
    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.config = GPTConfig(vocab_size=7, block_size=8)
            self.w = nn.Parameter(torch.ones(7))

        def forward(self, x):
            return (self.w[x] * float("nan"))[..., None].expand(*x.shape, 7)

    m = Bad()
    with pytest.raises(NonFiniteLossError, match="update 1"):
        train_gpt(m, torch.arange(50) % 7, torch.arange(50) % 7, max_iters=5, warmup_iters=1,
                  progress=False)
    assert torch.equal(m.w.detach(), torch.ones(7))


def test_full_loss_reads_every_window_once_and_estimate_loss_is_repeatable():
    m = _model().eval()
    data = torch.randint(0, 7, (41,), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        logits = m(data[:40].view(5, 8))
    want = nn.functional.cross_entropy(logits.reshape(-1, 7), data[1:41])
    assert full_loss(m, data, 8, batch_size=2) == pytest.approx(float(want), rel=1e-6)
    assert estimate_loss(m, data, 8, 4, 0, seed=0) == pytest.approx(float(want), rel=1e-6)
    assert estimate_loss(m, data, 8, 4, 3, seed=5) == estimate_loss(m, data, 8, 4, 3, seed=5)


def test_char_baselines_count_letters_and_pairs():
    text = torch.tensor([0, 1] * 50)
    b = char_baselines(text, text, 3)
    # unigram: add-one counts 51, 51, 1 of 103
    assert b["unigram"] == pytest.approx(-math.log(51 / 103), rel=1e-9)
    # bigram, add-one over 3 symbols: 0 -> 1 in 50 of 50 pairs (51 / 53), 1 -> 0 in 49 of 49
    # (50 / 52); the text's 99 pairs are 50 of the first kind, 49 of the second
    want = -(50 * math.log(51 / 53) + 49 * math.log(50 / 52)) / 99
    assert b["bigram"] == pytest.approx(want, rel=1e-9)


def test_sliding_loss_scores_every_token_once_with_context():
    from deepnotes.tasks.gpt import sliding_loss

    m = _model(block_size=8).eval()
    data = torch.randint(0, 7, (50,), generator=torch.Generator().manual_seed(3))
    # stride = block: consecutive windows, the same as full_loss where the text divides evenly
    even = data[:41]
    assert sliding_loss(m, even, 8, stride=8) == pytest.approx(full_loss(m, even, 8), rel=1e-6)
    # by hand: token t (t >= 8) scored from the 7 tokens before it (stride 1)
    with torch.no_grad():
        want = [float(-m(data[None, :8])[0].log_softmax(-1)[j, data[j + 1]]) for j in range(8)]
        for t in range(9, 50):
            window = data[t - 8:t][None]
            want.append(float(-m(window)[0, -1].log_softmax(-1)[data[t]]))
    assert sliding_loss(m, data, 8, stride=1, batch_size=5) == pytest.approx(
        sum(want) / len(want), rel=1e-6)
    with pytest.raises(ConfigError, match="stride"):
        sliding_loss(m, data, 8, stride=9)


def test_keep_best_ends_with_the_weights_of_the_best_validation_point():
    g = torch.Generator().manual_seed(4)
    train = torch.randint(0, 7, (300,), generator=g)  # noise: the model can only memorise it
    val = torch.randint(0, 7, (200,), generator=g)
    m = _model()
    r = train_gpt(m, train, val, max_iters=80, batch_size=8, lr=3e-2, min_lr=3e-2,
                  warmup_iters=1, eval_interval=10, eval_iters=3, progress=False,
                  keep_best=True)
    losses = [h["val_loss"] for h in r.history]
    best = min(range(len(losses)), key=losses.__getitem__)
    assert r.best_iter == r.history[best]["iter"]
    # the fixed evaluation batches give the kept weights' loss again
    assert estimate_loss(m, val, 8, 8, 3, seed=1) == pytest.approx(losses[best], rel=1e-5)
    assert r.best_iter < 80  # (seeded: the best point is not the last, so weights came back)


def test_train_lm_keep_best_restores_the_best_epoch():
    from deepnotes.metrics import perplexity
    from deepnotes.models import create
    from deepnotes.tasks.lm import train_lm

    g = torch.Generator().manual_seed(5)
    train = torch.randint(0, 6, (400,), generator=g)
    val = torch.randint(0, 6, (120,), generator=g)
    torch.manual_seed(0)
    m = create("rnn-lm", vocab_size=6, cell="lstm", hidden=32)
    r = train_lm(m, train, val, epochs=12, batch_size=4, num_steps=10, lr=2e-2, seed=0,
                 progress=False, keep_best=True)
    ppls = [h["val_ppl"] for h in r.history]
    assert r.best_epoch == 1 + min(range(len(ppls)), key=ppls.__getitem__)
    assert perplexity(m, val, 10) == pytest.approx(min(ppls), rel=1e-5)
    assert r.best_epoch < len(ppls)  # (seeded: it over-fits after epoch 2)
