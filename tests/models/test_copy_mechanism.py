"""The pointer-generator copy mechanism of the bahdanau translator (A14): a normalised mixture
of generating and copying, the two limits, the renormalisation, and the copy map."""

from __future__ import annotations

import pytest
import torch

from deepnotes import models
from deepnotes.errors import ConfigError, ShapeError
from deepnotes.tasks.translation import copy_map
from deepnotes.text import Vocab

f64 = torch.float64
CFG = {"src_vocab_size": 9, "tgt_vocab_size": 11, "embed_size": 4, "num_hiddens": 6,
       "num_layers": 1, "dropout": 0.0}
SRC, LEN = torch.tensor([[4, 5, 6, 1], [7, 8, 1, 1]]), torch.tensor([3, 2])
TGT_IN = torch.tensor([[2, 5, 7], [2, 9, 3]])


def _pair():
    torch.manual_seed(0)
    plain = models.create("bahdanau", **CFG).double().eval()
    copier = models.create("bahdanau", **CFG, copy=True).double().eval()
    copier.load_state_dict({**copier.state_dict(), **plain.state_dict()})
    return plain, copier


def test_a14_copy_output_is_a_distribution_between_its_two_limits():
    plain, copier = _pair()
    full = torch.arange(9) % 11  # every source token has a target twin
    copier.set_copy_map(full)
    with torch.no_grad():
        p = copier(SRC, LEN, TGT_IN).exp()
        torch.testing.assert_close(p.sum(-1), torch.ones(2, 3, dtype=f64))
        # p_gen → 1: the generator alone, the plain model's distribution
        copier.p_gen.weight.zero_(), copier.p_gen.bias.fill_(60.0)
        torch.testing.assert_close(copier(SRC, LEN, TGT_IN),
                                   torch.log_softmax(plain(SRC, LEN, TGT_IN), -1))
        # p_gen → 0: pure copying, the attention scattered onto the source tokens' twins
        copier.p_gen.bias.fill_(-60.0)
        p = copier(SRC, LEN, TGT_IN).exp()
        alpha = copier.attention_weights  # (B, T, S)
        want = torch.zeros(2, 3, 11, dtype=f64).scatter_add(
            -1, full[SRC][:, None, :].expand(-1, 3, -1), alpha)
        torch.testing.assert_close(p, want, atol=1e-12, rtol=0)


def test_a14_uncopyable_tokens_are_renormalised_away_and_p_gen_learns():
    _, copier = _pair()
    m = torch.full((9,), -1)
    m[4], m[7] = 10, 3  # only two source tokens can be copied
    copier.set_copy_map(m)
    copier.train()
    logp = copier(SRC, LEN, TGT_IN)
    torch.testing.assert_close(logp.exp().sum(-1), torch.ones(2, 3, dtype=f64))
    logp[..., 10].sum().backward()
    assert copier.p_gen.weight.grad.abs().sum() > 0
    # the copy map travels with the weights
    again = models.from_info(models.model_info(copier)).double()
    again.load_state_dict(copier.state_dict())
    assert torch.equal(again.copy_map, m)


def test_copy_map_pairs_identical_tokens_and_checks_shapes():
    src = Vocab("isaac lived in gerar with rebekah".split())
    tgt = Vocab("y habitó isaac en gerar".split())
    m = copy_map(src, tgt)
    pairs = {src.idx_to_token[i]: tgt.idx_to_token[int(j)] for i, j in enumerate(m) if j >= 0}
    assert pairs == {"isaac": "isaac", "gerar": "gerar"}
    _, copier = _pair()
    with pytest.raises(ShapeError, match="copy_map must be"):
        copier.set_copy_map(torch.zeros(3, dtype=torch.long))
    plain, _ = _pair()
    with pytest.raises(ConfigError, match="copy=True"):
        plain.set_copy_map(torch.zeros(9, dtype=torch.long))


def test_a14_a_copying_model_decodes_greedy_and_beam():
    from deepnotes.tasks.translation import decode

    _, copier = _pair()
    copier.set_copy_map(torch.arange(9))
    for method in ("greedy", "beam"):
        out = decode(copier.float(), SRC, LEN, bos=2, eos=3, method=method, max_len=5)
        assert out is not None
