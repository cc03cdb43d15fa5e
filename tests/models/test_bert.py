"""BERT (P2): our encoder against Hugging Face ``transformers`` on the real MiniLM and a tiny
random config, both attention paths; state dicts load both ways with strict=True."""

from __future__ import annotations

import json

import pytest
import torch
import transformers  # the reference (test extra)

from deepnotes.errors import ConfigError, DataMissingError, ShapeError
from deepnotes.models.bert import (
    BertConfig,
    BertModel,
    _resolve,
    load_pretrained_bert,
    mean_pool,
)

TINY = dict(vocab_size=40, hidden_size=12, num_hidden_layers=2, num_attention_heads=3,
            intermediate_size=20, max_position_embeddings=16, hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0, layer_norm_eps=1e-12)


@pytest.fixture(scope="module")
def minilm():
    return load_pretrained_bert("minilm"), load_pretrained_bert("minilm", fused=False)


@pytest.fixture(scope="module")
def hf_minilm():
    return transformers.BertModel.from_pretrained(str(_resolve("minilm")),
                                                  attn_implementation="eager").eval()


def _sentences(n: int) -> list[str]:
    from deepnotes.data import load_documents

    lines = [x.strip() for x in load_documents("austen") if len(x.split()) >= 3]
    return lines[:n // 2] + [x for x in load_documents("bible-web") if x.strip()][:n - n // 2]


def test_P2_minilm_hidden_states_equal_hf_on_real_padded_sentences(minilm, hf_minilm):
    from deepnotes.text import load_tokenizer

    tok = load_tokenizer("minilm")
    sentences = _sentences(240)
    worst = {"fused": 0.0, "formula": 0.0, "pooled": 0.0}
    for i in range(0, len(sentences), 40):  # batches of 40 sentences of mixed length
        enc = tok.encode_batch(sentences[i:i + 40], max_length=128)
        ids, mask = enc["input_ids"], enc["attention_mask"]
        assert (mask == 0).any()  # padding is exercised
        with torch.no_grad():
            ref = hf_minilm(input_ids=ids, attention_mask=mask,
                            token_type_ids=enc["token_type_ids"])
            keep = mask.bool()
            for name, model in zip(("fused", "formula"), minilm):
                h, pooled = model(ids, mask, enc["token_type_ids"])
                worst[name] = max(worst[name], float(
                    (h - ref.last_hidden_state)[keep].abs().max()))
            worst["pooled"] = max(worst["pooled"],
                                  float((pooled - ref.pooler_output).abs().max()))
    assert max(worst.values()) < 1e-5, worst


def test_P2_minilm_sentence_embeddings_give_datas_golden_cosines(minilm):
    from deepnotes.text import load_tokenizer

    enc = load_tokenizer("minilm").encode_batch(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."])
    with torch.no_grad():
        h, _ = minilm[0](enc["input_ids"], enc["attention_mask"])
    e = mean_pool(h, enc["attention_mask"])
    golden = torch.tensor([[1, .6660, .1046], [.6660, 1, .1411], [.1046, .1411, 1]])
    torch.testing.assert_close(e @ e.T, golden, atol=1e-4, rtol=0)


def _hf_tiny():
    cfg = transformers.BertConfig(**TINY, type_vocab_size=2, hidden_act="gelu")
    torch.manual_seed(0)
    return transformers.BertModel(cfg, add_pooling_layer=True).double().eval()


@pytest.mark.parametrize("fused", [True, False])
def test_P2_tiny_random_bert_equals_hf_in_float64_and_state_dicts_load_both_ways(fused):
    hf = _hf_tiny()
    ours = BertModel(BertConfig(**TINY, fused=fused)).double().eval()
    hf_state = {k: v for k, v in hf.state_dict().items() if k != "embeddings.position_ids"}
    assert set(hf_state) == set(ours.state_dict())
    ours.load_state_dict(hf_state, strict=True)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 40, (4, 9), generator=g)
    ids[1, 5:] = 0
    ids[3, 2:] = 0
    mask = (ids != 0).long()
    types = torch.zeros_like(ids)
    types[:, 4:] = 1
    with torch.no_grad():
        h, pooled = ours(ids, mask, types)
        ref = hf(input_ids=ids, attention_mask=mask, token_type_ids=types)
    keep = mask.bool()
    torch.testing.assert_close(h[keep], ref.last_hidden_state[keep], atol=1e-12, rtol=0)
    torch.testing.assert_close(pooled, ref.pooler_output, atol=1e-12, rtol=0)
    # and ours, perturbed, loads into HF strictly and gives HF the same outputs
    with torch.no_grad():
        for p in ours.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    hf.load_state_dict(ours.state_dict(), strict=False)
    missing = set(hf.state_dict()) - set(ours.state_dict())
    assert missing <= {"embeddings.position_ids"}
    with torch.no_grad():
        h, _ = ours(ids, mask, types)
        ref = hf(input_ids=ids, attention_mask=mask, token_type_ids=types)
    torch.testing.assert_close(h[keep], ref.last_hidden_state[keep], atol=1e-12, rtol=0)


def test_P2_save_folder_loads_back_and_in_hf(tmp_path):
    from safetensors.torch import save_file

    ours = BertModel(BertConfig(**TINY)).eval()
    (tmp_path / "config.json").write_text(json.dumps(ours.config.to_hf()))
    save_file({k: v.contiguous() for k, v in ours.state_dict().items()},
              str(tmp_path / "model.safetensors"))
    back = load_pretrained_bert(tmp_path)
    hf = transformers.BertModel.from_pretrained(str(tmp_path)).eval()
    ids = torch.tensor([[2, 7, 9, 4, 0]])
    with torch.no_grad():
        a, _ = ours(ids)
        b, _ = back(ids)
        c = hf(input_ids=ids, attention_mask=(ids != 0).long()).last_hidden_state
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a[:, :4], c[:, :4], atol=1e-5, rtol=0)


def test_bert_errors(tmp_path):
    with pytest.raises(DataMissingError, match="no model folder"):
        load_pretrained_bert(tmp_path / "nope")
    (tmp_path / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(DataMissingError, match="not read"):
        load_pretrained_bert(tmp_path)
    with pytest.raises(ConfigError, match="multiple"):
        BertModel(BertConfig(**{**TINY, "num_attention_heads": 5}))
    with pytest.raises(ConfigError, match="hidden_act"):
        BertModel(BertConfig(**TINY, hidden_act="swish"))
    m = BertModel(BertConfig(**TINY))
    with pytest.raises(ShapeError, match="at most 16"):
        m(torch.ones(1, 17, dtype=torch.long))
    with pytest.raises(ShapeError, match="integer token ids"):
        m(torch.ones(1, 4))
    with pytest.raises(ShapeError, match="attention_mask"):
        m(torch.ones(1, 4, dtype=torch.long), torch.ones(1, 5))


@pytest.mark.parametrize("fused", [True, False])
def test_P1_P3_pretraining_heads_equal_hf_bert_for_pretraining(fused):
    from deepnotes.models.bert import BertForPreTraining

    cfg = transformers.BertConfig(**TINY, type_vocab_size=2, hidden_act="gelu")
    torch.manual_seed(0)
    hf = transformers.BertForPreTraining(cfg).double().eval()
    ours = BertForPreTraining(BertConfig(**TINY, fused=fused)).double().eval()
    hf_state = {k: v for k, v in hf.state_dict().items() if not k.endswith("position_ids")}
    assert set(hf_state) == set(ours.state_dict())
    ours.load_state_dict(hf_state, strict=True)
    # the MLM output matrix is the token embedding matrix itself
    assert ours.cls.predictions.decoder.weight is ours.bert.embeddings.word_embeddings.weight
    ids = torch.randint(1, 40, (3, 8), generator=torch.Generator().manual_seed(2))
    ids[2, 6:] = 0
    mask = (ids != 0).long()
    with torch.no_grad():
        mlm, pair = ours(ids, mask)
        ref = hf(input_ids=ids, attention_mask=mask)
    keep = mask.bool()
    torch.testing.assert_close(mlm[keep], ref.prediction_logits[keep], atol=1e-12, rtol=0)
    torch.testing.assert_close(pair, ref.seq_relationship_logits, atol=1e-12, rtol=0)


def test_P1_masking_is_15_percent_split_80_10_10_and_spares_special_tokens():
    from deepnotes.models.bert import mask_tokens

    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 1000, (400, 200), generator=g)  # ~12k targets: 4 sd < the tolerances
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True
    x, y = mask_tokens(ids, 1000, mask_id=3, special=special, first_regular_id=5, generator=g)
    chosen = y != -100
    n = int(chosen.sum())
    assert abs(n / (~special).sum().item() - 0.15) < 0.005
    assert not chosen[special].any() and (x[special] == ids[special]).all()
    assert (y[chosen] == ids[chosen]).all() and (x[~chosen] == ids[~chosen]).all()
    masked = (x == 3) & chosen
    kept = (x == ids) & chosen
    assert abs(masked.sum().item() / n - 0.8) < 0.015
    # random replacements (10 %) can hit the original token by chance (1 in 995)
    assert abs(kept.sum().item() / n - 0.1) < 0.012
    assert abs((chosen & ~masked & ~kept).sum().item() / n - 0.1) < 0.012


def test_P1_whole_word_masking_takes_all_pieces_of_a_word():
    from deepnotes.models.bert import mask_tokens

    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 100, (50, 30), generator=g)
    starts = torch.rand(50, 30, generator=g) < 0.5
    starts[:, 0] = True
    _, y = mask_tokens(ids, 100, mask_id=3, word_starts=starts, prob=0.3, generator=g)
    chosen = (y != -100)
    word = starts.long().cumsum(1)
    for b in range(50):
        for w in word[b].unique():
            c = chosen[b][word[b] == w]
            assert c.all() or not c.any()  # a word is chosen whole or not at all
    with pytest.raises(ConfigError, match="prob"):
        mask_tokens(ids, 100, mask_id=3, prob=1.5)


def test_cli_embed_prints_the_cosine_matrix_and_refuses_bad_input(capsys, tmp_path):
    from deepnotes.cli import main

    assert main(["embed", "The weather is lovely today.", "It's so sunny outside!"]) == 0
    out = capsys.readouterr().out
    assert "[1] It's so sunny outside!" in out and "0.6660" in out
    assert main(["embed", " "]) == 2
    assert "non-empty" in capsys.readouterr().err
    assert main(["embed", "a", "--model", str(tmp_path / "none")]) == 2
    assert "no model folder" in capsys.readouterr().err


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("ours_name,hf_name", [
    ("BertForSequenceClassification", "BertForSequenceClassification"),
    ("BertForTokenClassification", "BertForTokenClassification"),
    ("BertForQuestionAnswering", "BertForQuestionAnswering")])
def test_P4_finetuning_heads_equal_hf_in_float64(ours_name, hf_name, fused):
    import deepnotes.models.bert as bert

    labels = 2 if "Question" in ours_name else 3
    cfg = transformers.BertConfig(**TINY, type_vocab_size=2, hidden_act="gelu",
                                  num_labels=labels)
    torch.manual_seed(0)
    hf = getattr(transformers, hf_name)(cfg).double().eval()
    ours = getattr(bert, ours_name)(BertConfig(**TINY, num_labels=labels, fused=fused))
    ours = ours.double().eval()
    hf_state = {k: v for k, v in hf.state_dict().items() if not k.endswith("position_ids")}
    assert set(hf_state) == set(ours.state_dict())
    ours.load_state_dict(hf_state, strict=True)
    ids = torch.randint(1, 40, (3, 8), generator=torch.Generator().manual_seed(3))
    ids[1, 5:] = 0
    mask = (ids != 0).long()
    with torch.no_grad():
        out = ours(ids, mask)
        ref = hf(input_ids=ids, attention_mask=mask)
    keep = mask.bool()
    if "Question" in ours_name:
        torch.testing.assert_close(out[0][keep], ref.start_logits[keep], atol=1e-12, rtol=0)
        torch.testing.assert_close(out[1][keep], ref.end_logits[keep], atol=1e-12, rtol=0)
    elif "Token" in ours_name:
        torch.testing.assert_close(out[keep], ref.logits[keep], atol=1e-12, rtol=0)
    else:
        torch.testing.assert_close(out, ref.logits, atol=1e-12, rtol=0)
