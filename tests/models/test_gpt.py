"""GPT (P7): equal to Hugging Face's GPT2LMHeadModel, KV cache, generation, conversions."""

import pytest
import torch

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.models import create
from deepnotes.models.gpt import GPT, GPTConfig, from_hf, generate, hf_config, load_hf, \
    save_hf, to_hf

def _transformers():
    return pytest.importorskip("transformers")


def _hf_model(cfg: GPTConfig):
    transformers = _transformers()
    keep = {k: v for k, v in hf_config(cfg).items()
            if k not in ("model_type", "architectures", "deepnotes_gpt")}
    return transformers.GPT2LMHeadModel(transformers.GPT2Config(**keep))


def _tiny(**kw) -> GPTConfig:
    base = dict(vocab_size=37, block_size=24, n_layer=2, n_head=4, n_embd=16)
    return GPTConfig(**{**base, **kw})


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("gelu", ["tanh", "erf"])
def test_P7_logits_equal_hf_gpt2_in_float64(fused, gelu):
    torch.manual_seed(0)
    cfg = _tiny(fused=fused, gelu=gelu)
    ours = GPT(cfg).double().eval()
    with torch.no_grad():  # non-zero biases and LayerNorm gains, so every term is checked
        for name, p in ours.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                p.add_(0.1 * torch.randn_like(p))
    hf = _hf_model(cfg).double().eval()
    hf.load_state_dict(to_hf(ours), strict=True)
    x = torch.randint(0, cfg.vocab_size, (3, cfg.block_size))
    with torch.no_grad():
        assert torch.allclose(ours(x), hf(x).logits, atol=1e-12, rtol=0)
        # and back: HF's state dict into a fresh model
        back = from_hf(hf.state_dict(), cfg).double().eval()
        assert torch.equal(back(x), ours(x))


def test_P7_fused_and_formula_paths_agree_with_dropout_off_and_in_training():
    torch.manual_seed(1)
    a = GPT(_tiny(fused=True)).double()
    b = GPT(_tiny(fused=False)).double()
    b.load_state_dict(a.state_dict())
    x = torch.randint(0, 37, (2, 20))
    assert torch.allclose(a(x), b(x), atol=1e-12)
    # gradients too (the formula path is a training path, not only an inference one)
    a(x).square().mean().backward()
    b(x).square().mean().backward()
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-10), n


def test_P7_bias_free_model_converts_with_zero_biases():
    torch.manual_seed(2)
    cfg = _tiny(bias=False)
    ours = GPT(cfg).double().eval()
    assert not any(n.endswith("bias") for n in ours.state_dict())
    hf = _hf_model(cfg).double().eval()
    hf.load_state_dict(to_hf(ours), strict=True)
    x = torch.randint(0, 37, (2, 10))
    with torch.no_grad():
        assert torch.allclose(ours(x), hf(x).logits, atol=1e-12)
    assert torch.equal(from_hf(to_hf(ours), cfg).double()(x), ours(x))
    # a non-zero bias cannot go into a bias-free model
    sd = to_hf(ours)
    sd["transformer.h.0.ln_1.bias"] = torch.ones(16, dtype=torch.float64)
    with pytest.raises(ConfigError, match="ln_1.bias"):
        from_hf(sd, cfg)


def test_P7_nanogpt_parameter_names_and_tied_embedding():
    m = create("gpt", vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8)
    names = set(m.state_dict())
    assert {"transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.ln_1.weight",
            "transformer.h.0.attn.c_attn.weight", "transformer.h.0.attn.c_proj.weight",
            "transformer.h.0.mlp.c_fc.weight", "transformer.h.0.mlp.c_proj.weight",
            "transformer.ln_f.weight", "lm_head.weight"} <= names
    assert m.lm_head.weight is m.transformer.wte.weight  # the output layer is E
    # the tied matrix counted once; the position table left out by default
    total = sum(p.numel() for p in m.parameters())
    assert m.num_params(non_embedding=False) == total
    assert m.num_params() == total - 8 * 8


def test_P7_kv_cache_reads_a_text_in_pieces_as_one_pass():
    torch.manual_seed(3)
    for fused in (True, False):
        m = GPT(_tiny(fused=fused)).double().eval()
        x = torch.randint(0, 37, (2, 24))
        with torch.no_grad():
            full = m(x)
            a, cache = m.forward_cached(x[:, :7])
            b, cache = m.forward_cached(x[:, 7:15], cache)  # several new tokens over a cache
            parts = [a, b]
            for t in range(15, 24):  # then one at a time
                c, cache = m.forward_cached(x[:, t:t + 1], cache)
                parts.append(c)
        assert torch.allclose(torch.cat(parts, dim=1), full, atol=1e-12)
        assert len(cache) == 4 and cache[0].shape == (2, 4, 24, 4)
        with pytest.raises(ShapeError, match="block_size=24"):
            m.forward_cached(x[:, :1], cache)  # a 25th token


def test_P7_cached_and_uncached_generation_agree_past_the_block_size():
    torch.manual_seed(4)
    m = GPT(_tiny(block_size=12))
    for kw in (dict(temperature=0), dict(temperature=0.9, top_k=10, top_p=0.9, seed=7)):
        a = generate(m, [3, 1, 4, 1, 5], 30, **kw)  # 35 tokens: the window slides
        b = generate(m, [3, 1, 4, 1, 5], 30, use_cache=False, **kw)
        assert a.shape == (1, 35) and torch.equal(a, b)
        assert a[0, :5].tolist() == [3, 1, 4, 1, 5]
    # several samples of one prompt share its cache; different draws, same prompt
    s = generate(m, [3, 1, 4], 20, temperature=1.0, num_samples=4, seed=1)
    assert s.shape == (4, 23) and len({tuple(r) for r in s[:, 3:].tolist()}) > 1


def test_P7_greedy_generation_matches_transformers_generate(tmp_path):
    torch.manual_seed(5)
    cfg = _tiny(block_size=40)
    ours = GPT(cfg).eval()
    folder = save_hf(ours, tmp_path / "gpt")
    hf = _transformers().GPT2LMHeadModel.from_pretrained(folder).eval()
    prompt = torch.tensor([[5, 9, 2, 30, 11]])
    with torch.no_grad():
        theirs = hf.generate(prompt, max_new_tokens=25, do_sample=False, pad_token_id=0)
    assert torch.equal(generate(ours, prompt, 25, temperature=0), theirs)
    # the folder reads back into our model, same logits
    again = load_hf(folder)
    with torch.no_grad():
        assert torch.allclose(again(prompt), ours(prompt), atol=1e-6)


def test_P7_top_p_keeps_the_nucleus_as_transformers_does():
    _transformers()
    from transformers.generation.logits_process import TopPLogitsWarper

    from deepnotes.decoding import sampling_distribution

    torch.manual_seed(6)
    logits = torch.randn(8, 50, dtype=torch.float64) * 2
    for p in (0.3, 0.8, 0.95):
        ours = sampling_distribution(logits, top_p=p)
        theirs = TopPLogitsWarper(p)(None, logits.clone()).softmax(-1)
        assert torch.equal(ours > 0, theirs > 0)
        assert torch.allclose(ours, theirs, atol=1e-12)
    q = sampling_distribution(logits, top_p=1e-9)  # only the most probable token is left
    assert torch.equal(q.argmax(-1), logits.argmax(-1)) and bool((q.max(-1).values == 1).all())
    with pytest.raises(ConfigError, match="top_p"):
        sampling_distribution(logits, top_p=1.5)


def test_P7_clear_errors():
    with pytest.raises(ConfigError, match="multiple of n_head"):
        GPTConfig(n_embd=10, n_head=4)
    with pytest.raises(ConfigError, match="gelu"):
        GPTConfig(gelu="relu")
    m = GPT(_tiny())
    with pytest.raises(ShapeError, match="at most block_size=24"):
        m(torch.zeros(1, 25, dtype=torch.long))
    with pytest.raises(ShapeError, match="integer token ids"):
        m(torch.zeros(1, 5))
    with pytest.raises(ConfigError, match="token ids must be in"):
        generate(m, [1, 99], 3)
    with pytest.raises(ConfigError, match="not a GPT-2 folder"):
        load_hf("/nonexistent")


def test_P7_hub_style_names_load_and_an_untied_head_is_refused():
    torch.manual_seed(7)
    cfg = _tiny()
    ours = GPT(cfg).double().eval()
    sd = to_hf(ours)
    # the original GPT-2 files on the Hub: the trunk without "transformer.", no lm_head
    hub = {k.removeprefix("transformer."): v for k, v in sd.items() if k != "lm_head.weight"}
    x = torch.randint(0, 37, (2, 9))
    assert torch.equal(from_hf(hub, cfg)(x), ours(x))
    sd["lm_head.weight"] = sd["lm_head.weight"] + 1
    with pytest.raises(ConfigError, match="ties its output layer"):
        from_hf(sd, cfg)
