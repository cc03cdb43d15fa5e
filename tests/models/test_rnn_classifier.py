"""lstm-classifier and bilstm-tagger (R9): padding invariance, torch parity, gradients, shapes."""

from __future__ import annotations

import doctest

import pytest
import torch
from torch import nn as tnn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import deepnotes.models.rnn_classifier as rc
from deepnotes import models
from deepnotes.errors import ConfigError, ShapeError
from deepnotes.functional import masked_cross_entropy
from deepnotes.models.rnn_classifier import pool_states

f64 = torch.float64
V, PAD = 30, 1


def _batch(seed: int = 0, B: int = 4, T: int = 7):
    """Random tokens (never PAD) and lengths with at least one full row and one short row."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(2, V, (B, T), generator=g)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    lengths[0], lengths[1] = T, 1
    return tokens, lengths


def _pad_more(tokens, lengths, extra: int = 5, seed: int = 9, pad_with_junk: bool = True):
    """Append ``extra`` columns and overwrite every padded position (junk tokens or PAD)."""
    g = torch.Generator().manual_seed(seed)
    B, T = tokens.shape
    junk = torch.randint(0, V, (B, T + extra), generator=g) if pad_with_junk \
        else torch.full((B, T + extra), PAD)
    out = junk.clone()
    for b, n in enumerate(lengths.tolist()):
        out[b, :n] = tokens[b, :n]
    return out


def _torch_classifier(model, tokens, lengths):
    """The same classifier written with torch.nn and a PackedSequence."""
    cfg = model.config
    emb = tnn.Embedding(V, cfg.embed_dim, padding_idx=PAD).double()
    rnn = tnn.LSTM(cfg.embed_dim, cfg.hidden, num_layers=cfg.num_layers,
                   bidirectional=cfg.bidirectional, batch_first=True).double()
    head = tnn.Linear(model.head.in_features, cfg.num_classes).double()
    emb.load_state_dict(model.embedding.state_dict())
    rnn.load_state_dict(model.rnn.state_dict())
    head.load_state_dict(model.head.state_dict())
    packed = pack_padded_sequence(emb(tokens), lengths, batch_first=True, enforce_sorted=False)
    out, (h_n, _) = rnn(packed)
    h, _ = pad_packed_sequence(out, batch_first=True, padding_value=float("nan"))
    if cfg.pooling == "last":  # torch's final states: the last layer's directions
        v = torch.cat(list(h_n[-(2 if cfg.bidirectional else 1):]), dim=-1)
    elif cfg.pooling == "mean":
        v = torch.stack([h[b, :n].mean(0) for b, n in enumerate(lengths.tolist())])
    else:
        v = torch.stack([h[b, :n].amax(0) for b, n in enumerate(lengths.tolist())])
    return head(v)


@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("fused", [True, False])
def test_classifier_matches_torch_and_ignores_padding(pooling, bidirectional, fused):
    torch.manual_seed(0)
    model = models.create("lstm-classifier", vocab_size=V, num_classes=3, embed_dim=5,
                          hidden=4, num_layers=2, pooling=pooling, bidirectional=bidirectional,
                          fused=fused).double().eval()
    tokens, lengths = _batch()
    out = model(tokens, lengths)
    assert out.shape == (4, 3) and out.dtype == f64
    torch.testing.assert_close(out, _torch_classifier(model, tokens, lengths),
                               atol=1e-12, rtol=1e-10)
    # more padding, filled with junk or with <pad>: the same scores
    for junk in (True, False):
        longer = _pad_more(tokens, lengths, pad_with_junk=junk)
        torch.testing.assert_close(model(longer, lengths), out, atol=1e-12, rtol=1e-10)
    # each row alone, unpadded, gives its row of the batch
    for b, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(model(tokens[b:b + 1, :n]), out[b:b + 1],
                                   atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("chars", [True, False])
def test_tagger_valid_positions_ignore_padding(bidirectional, chars):
    torch.manual_seed(0)
    model = models.create("bilstm-tagger", vocab_size=V, num_tags=6, embed_dim=5, hidden=4,
                          bidirectional=bidirectional, char_vocab_size=11 if chars else 0,
                          char_dim=3, fused=True).double().eval()
    tokens, lengths = _batch()
    g = torch.Generator().manual_seed(3)
    ch = torch.randint(2, 11, (*tokens.shape, 2), generator=g)
    out = model(tokens, lengths, ch)
    assert out.shape == (4, 7, 6)
    longer = _pad_more(tokens, lengths)
    ch_longer = torch.randint(0, 11, (*longer.shape, 2), generator=g)
    ch_longer[:, :7] = ch
    out2 = model(longer, lengths, ch_longer)
    valid = torch.arange(7)[None] < lengths[:, None]
    torch.testing.assert_close(out2[:, :7][valid], out[valid], atol=1e-12, rtol=1e-10)
    for b, n in enumerate(lengths.tolist()):
        alone = model(tokens[b:b + 1, :n], None, ch[b:b + 1, :n])
        torch.testing.assert_close(alone[0], out[b, :n], atol=1e-12, rtol=1e-10)
    if bidirectional:  # a token's scores depend on the tokens after it
        changed = tokens.clone()
        changed[0, -1] = (changed[0, -1] + 1 - 2) % (V - 2) + 2
        assert not torch.allclose(model(changed, lengths, ch)[0, 0], out[0, 0])


def test_tagger_loss_ignores_padding():
    torch.manual_seed(0)
    model = models.create("bilstm-tagger", vocab_size=V, num_tags=6, embed_dim=5,
                          hidden=4).double().eval()
    tokens, lengths = _batch()
    tags = torch.randint(0, 6, tokens.shape, generator=torch.Generator().manual_seed(1))
    loss = masked_cross_entropy(model(tokens, lengths), tags, lengths)
    longer = _pad_more(tokens, lengths)
    junk_tags = torch.randint(0, 6, longer.shape, generator=torch.Generator().manual_seed(2))
    junk_tags[:, :7] = tags
    torch.testing.assert_close(masked_cross_entropy(model(longer, lengths), junk_tags, lengths),
                               loss, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("name", ["lstm-classifier", "bilstm-tagger"])
def test_fused_and_scratch_agree_from_one_state_dict(name):
    torch.manual_seed(0)
    extra = {"num_layers": 2} | ({"char_vocab_size": 9} if name == "bilstm-tagger" else {})
    fused = models.create(name, vocab_size=V, embed_dim=5, hidden=4, fused=True,
                          dropout=0.3, **extra).double().eval()
    scratch = models.create(name, vocab_size=V, embed_dim=5, hidden=4, fused=False,
                            dropout=0.3, **extra).double().eval()
    scratch.load_state_dict(fused.state_dict())
    tokens, lengths = _batch()
    args = (tokens, lengths) + ((torch.randint(2, 9, (*tokens.shape, 2)),)
                                if name == "bilstm-tagger" else ())
    outs, grads = [], []
    for model in (fused, scratch):
        out = model(*args)
        upstream = torch.randn(out.shape, dtype=f64, generator=torch.Generator().manual_seed(4))
        grads.append(torch.autograd.grad(out, list(model.parameters()), upstream))
        outs.append(out)
    torch.testing.assert_close(outs[1], outs[0], atol=1e-12, rtol=1e-10)
    for (pname, _), a, b in zip(fused.named_parameters(), *grads, strict=True):
        torch.testing.assert_close(b, a, atol=1e-12, rtol=1e-10, msg=lambda m, p=pname: f"{p}: {m}")


@pytest.mark.parametrize("name", ["lstm-classifier", "bilstm-tagger"])
@pytest.mark.parametrize("fused", [True, False])
def test_every_parameter_gets_a_gradient(name, fused):
    torch.manual_seed(0)
    extra = {"char_vocab_size": 9} if name == "bilstm-tagger" else {}
    model = models.create(name, vocab_size=V, embed_dim=5, hidden=4, num_layers=2,
                          dropout=0.1, fused=fused, **extra)
    tokens, lengths = _batch()
    args = (tokens, lengths) + ((torch.randint(2, 9, (*tokens.shape, 2)),)
                                if name == "bilstm-tagger" else ())
    out = model(*args)
    (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(1))).sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, f"{pname} got a zero gradient"
    # the <pad> embedding is never trained (it stays 0)
    assert model.embedding.weight.grad[PAD].abs().sum() == 0


def test_pool_states_by_hand():
    h = torch.tensor([[[1.0, 10.0], [3.0, 30.0], [9.0, 90.0]],
                      [[2.0, 20.0], [-3.0, -30.0], [7.0, 70.0]]])  # (B=2, T=3, 2H=2)
    lengths = torch.tensor([2, 3])
    # bidirectional, H = 1: forward unit at the last valid step, backward unit at step 0
    assert pool_states(h, lengths, "last", 1, True).tolist() == [[3.0, 10.0], [7.0, 20.0]]
    assert pool_states(h, lengths, "last", 2, False).tolist() == [[3.0, 30.0], [7.0, 70.0]]
    assert pool_states(h, lengths, "mean", 1, True).tolist() == [[2.0, 20.0], [2.0, 20.0]]
    assert pool_states(h, lengths, "max", 1, True).tolist() == [[3.0, 30.0], [7.0, 70.0]]
    with pytest.raises(ConfigError, match="'sum'"):
        pool_states(h, lengths, "sum", 1, True)


def _order_task(n: int, seed: int, T: int = 6):
    """Label 1 iff token 2 comes before token 3; the other tokens are random (4..9)."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(4, 10, (n, T), generator=g)
    lengths = torch.randint(3, T + 1, (n,), generator=g)
    labels = torch.randint(0, 2, (n,), generator=g)
    for b in range(n):
        i, j = torch.randperm(int(lengths[b]), generator=g)[:2].sort().values.tolist()
        tokens[b, i], tokens[b, j] = (2, 3) if labels[b] == 1 else (3, 2)
        tokens[b, int(lengths[b]):] = PAD
    return tokens, lengths, labels


def test_classifier_learns_what_a_bag_of_tokens_cannot():
    """Both classes hold the same tokens; only their order tells the label: an LSTM learns it."""
    tokens, lengths, labels = _order_task(256, seed=0)
    torch.manual_seed(0)
    model = models.create("lstm-classifier", vocab_size=10, embed_dim=8, hidden=16)
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(40):
        loss = tnn.functional.cross_entropy(model(tokens, lengths), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    test_tokens, test_lengths, test_labels = _order_task(256, seed=1)
    with torch.no_grad():
        acc = (model(test_tokens, test_lengths).argmax(1) == test_labels).float().mean()
    assert acc > 0.95  # on new sequences; counting tokens gives 0.5 at best in expectation


def test_errors_name_the_bad_value():
    with pytest.raises(ConfigError, match="'attention'"):
        models.create("lstm-classifier", pooling="attention")
    with pytest.raises(ConfigError, match="padding_idx"):
        models.create("lstm-classifier", vocab_size=5, padding_idx=5)
    with pytest.raises(ConfigError, match="hidden"):
        models.create("bilstm-tagger", hidden=0)
    model = models.create("lstm-classifier", vocab_size=V, embed_dim=4, hidden=3)
    tokens, lengths = _batch()
    with pytest.raises(ShapeError, match=r"\[1, T=7\]"):
        model(tokens, torch.tensor([7, 0, 3, 2]))
    with pytest.raises(ShapeError, match=r"\(B,\)"):
        model(tokens, lengths[:2])
    with pytest.raises(ShapeError, match="integer"):
        model(tokens.float(), lengths)
    with pytest.raises(ShapeError, match="vocab_size=30"):
        model(tokens + V, lengths)
    tagger = models.create("bilstm-tagger", vocab_size=V, embed_dim=4, hidden=3,
                           char_vocab_size=5)
    with pytest.raises(ShapeError, match=r"\(B, T, 2\)"):
        tagger(tokens, lengths)


def test_model_info_round_trip():
    model = models.create("bilstm-tagger", vocab_size=V, num_tags=5, char_vocab_size=7,
                          embed_dim=4, hidden=3)
    again = models.from_info(models.model_info(model))
    assert again.config == model.config
    again.load_state_dict(model.state_dict())


def test_docstring_examples():
    result = doctest.testmod(rc, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0
