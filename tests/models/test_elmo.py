"""ELMo-style biLM and features (P10): directions, padding, causality, loss, frozen mix."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.models.elmo import (
    BiLM,
    BiLMConfig,
    ELMoClassifier,
    ELMoClassifierConfig,
    ScalarMix,
    reverse_padded,
)


@given(st.lists(st.integers(1, 6), min_size=1, max_size=4), st.integers(0, 2))
@settings(max_examples=40, deadline=None)
def test_reverse_padded_reverses_the_valid_part_and_is_its_own_inverse(lengths, extra):
    t = max(lengths) + extra
    x = torch.arange(len(lengths) * t).view(len(lengths), t)
    n = torch.tensor(lengths)
    y = reverse_padded(x, n)
    for b, k in enumerate(lengths):
        assert y[b, :k].tolist() == x[b, :k].flip(0).tolist()
        assert y[b, k:].tolist() == x[b, k:].tolist()
    assert torch.equal(reverse_padded(y, n), x)


@pytest.fixture
def bilm():
    torch.manual_seed(0)
    return BiLM(BiLMConfig(vocab_size=11, hidden=8, layers=2, dropout=0.0)).double().eval()


def test_P10_padded_batch_equals_each_sentence_alone(bilm):
    x = torch.randint(0, 11, (3, 7))
    lengths = torch.tensor([7, 4, 2])
    layers = bilm.layer_outputs(x, lengths)
    assert len(layers) == 3 and all(h.shape == (3, 7, 16) for h in layers)
    for b, k in enumerate(lengths.tolist()):
        alone = bilm.layer_outputs(x[b:b + 1, :k])
        for h, a in zip(layers, alone):
            torch.testing.assert_close(h[b, :k], a[0], atol=1e-12, rtol=0)


def test_P10_forward_lm_reads_the_past_backward_lm_the_future(bilm):
    x = torch.randint(0, 11, (1, 8))
    f, b = bilm(x)
    y = x.clone()
    y[0, 5] = (y[0, 5] + 1) % 11  # change token 5
    f2, b2 = bilm(y)
    assert torch.equal(f[0, :5], f2[0, :5]) and not torch.allclose(f[0, 5:], f2[0, 5:])
    assert torch.equal(b[0, 6:], b2[0, 6:]) and not torch.allclose(b[0, :6], b2[0, :6])


def test_P10_lm_loss_is_the_mean_of_both_directions(bilm):
    x = torch.randint(0, 11, (2, 6))
    lengths = torch.tensor([6, 4])
    f, b = bilm(x, lengths)
    ce = torch.nn.functional.cross_entropy
    fwd = ce(torch.cat([f[0, :5], f[1, :3]]), torch.cat([x[0, 1:6], x[1, 1:4]]))
    bwd = ce(torch.cat([b[0, 1:6], b[1, 1:4]]), torch.cat([x[0, :5], x[1, :3]]))
    torch.testing.assert_close(bilm.lm_loss(x, lengths), (fwd + bwd) / 2)
    # the output layer is the embedding, transposed
    assert torch.allclose(bilm.logits(torch.eye(8, dtype=torch.float64)[:1]),
                          bilm.embedding.weight[:, 0] + bilm.output_bias)


def test_P10_scalar_mix():
    mix = ScalarMix(3)
    with torch.no_grad():
        mix.scores.copy_(torch.tensor([0.0, 1.0, 2.0]))
        mix.gamma.fill_(2.0)
    layers = [torch.full((2, 2), float(v)) for v in (1, 2, 3)]
    w = torch.softmax(torch.tensor([0.0, 1.0, 2.0]), 0)
    assert torch.allclose(mix(layers), 2 * (w[0] * 1 + w[1] * 2 + w[2] * 3) * torch.ones(2, 2))
    with pytest.raises(ShapeError):
        mix(layers[:2])
    with pytest.raises(ConfigError):
        ScalarMix(0)


def test_P10_frozen_features_train_only_the_mix_and_head():
    torch.manual_seed(0)
    model = ELMoClassifier(ELMoClassifierConfig(vocab_size=11, hidden=8, layers=2,
                                                num_classes=2, dropout=0.5))
    before = {k: v.clone() for k, v in model.bilm.state_dict().items()}
    model.train()
    assert not model.bilm.training and model.head.training  # no dropout inside frozen layers
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    x, n = torch.randint(0, 11, (4, 6)), torch.tensor([6, 5, 3, 1])
    mix_before = model.mix.scores.detach().clone()
    loss = torch.nn.functional.cross_entropy(model(x, n), torch.tensor([0, 1, 0, 1]))
    loss.backward()
    opt.step()
    assert all(torch.equal(before[k], v) for k, v in model.bilm.state_dict().items())
    assert not torch.equal(mix_before, model.mix.scores)
    # padding cannot leak into the max: a padded batch equals the sentences alone
    model.eval()
    logits = model(x, n)
    for b in range(4):
        k = int(n[b])
        torch.testing.assert_close(logits[b], model(x[b:b + 1, :k])[0], atol=1e-5, rtol=0)


def test_errors():
    with pytest.raises(ConfigError):
        BiLM(BiLMConfig(vocab_size=1))
    m = BiLM(BiLMConfig(vocab_size=5, hidden=4, layers=1))
    with pytest.raises(ShapeError):
        m(torch.zeros(2, 3))
    with pytest.raises(ShapeError):
        m(torch.zeros(2, 3, dtype=torch.long), torch.tensor([3]))
