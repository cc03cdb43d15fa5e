"""Every registered model: forward/backward, gradients, fused == formula; CNN structure (C5, C6).

The registry drives the first tests: a new model must add a SMALL entry below (small config,
an input maker and the expected output shape) or the coverage test fails.
"""

from __future__ import annotations

import dataclasses
import doctest

import pytest
import torch
from torch import nn as tnn

import deepnotes.models.lenet as lenet_module
import deepnotes.models.resnet as resnet_module
from deepnotes import models
from deepnotes import nn as dnn
from deepnotes.errors import ConfigError, ShapeError
from deepnotes.models.resnet import Residual

f64 = torch.float64


def _images(n: int, c: int = 1, side: int = 28):
    return lambda g: torch.rand(n, c, side, side, generator=g)


def _translation(g):
    """(src, src_valid_len, tgt_in) for the seq2seq translators: B=3, S=6, T=5."""
    src = torch.randint(4, 11, (3, 6), generator=g)
    return src, torch.tensor([6, 2, 4]), torch.randint(2, 13, (3, 5), generator=g)


def _word_windows(g):
    """(centre, context, negatives) for word2vec/fastText: B=4, C=6 (row 1 padded), K=3."""
    context = torch.randint(0, 12, (4, 6), generator=g)
    context[1, 3:] = -1
    return (torch.randint(0, 12, (4,), generator=g), context,
            torch.randint(0, 12, (4, 3), generator=g))


def _bert_tokens(g):
    """(input_ids, attention_mask) for BERT: B=3, T=6, row 2 padded after 3 tokens."""
    ids = torch.randint(1, 20, (3, 6), generator=g)
    ids[2, 3:] = 0
    return ids, ids != 0


_BERT = {"vocab_size": 20, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
         "intermediate_size": 16, "max_position_embeddings": 12, "hidden_dropout_prob": 0.0,
         "attention_probs_dropout_prob": 0.0}

_S2S = {"src_vocab_size": 11, "tgt_vocab_size": 13, "embed_size": 6, "num_hiddens": 8,
        "num_layers": 2, "dropout": 0.0, "bidirectional": True}

_TRF = {"src_vocab_size": 11, "tgt_vocab_size": 13, "embed_dim": 8, "num_heads": 2,
        "ffn_hidden": 16, "dropout": 0.0}
# parameters a model's forward does not use (trained through another head): prefix per model
ONLY_VIA_LOSS = {"transformer-nat": "length_head.",  # the length predictor: model.loss(...)
                 "bert": "pooler.",  # the [CLS] pooler: the second output
                 "bert-pretraining": ("bert.pooler.", "cls.seq_relationship."),  # NSP logits
                 "bilm": "backward_lstms.",  # the backward LM: the second output
                 "elmo-classifier": "bilm.output_bias"}  # the biLM's own LM head

# name -> (small config overrides, input maker(generator), expected output shape)
SMALL = {
    "linear-regression": ({"in_features": 6}, lambda g: torch.randn(5, 6, generator=g), (5,)),
    "softmax-regression": ({"in_features": 12, "num_classes": 4},
                           lambda g: torch.randn(5, 3, 4, generator=g), (5, 4)),
    "mlp": ({"in_features": 12, "hidden": (8, 8), "num_classes": 4},
            lambda g: torch.randn(5, 12, generator=g), (5, 4)),
    "lenet": ({}, _images(4), (4, 10)),
    "lenet-modern": ({"num_classes": 7}, _images(4), (4, 7)),
    "resnet": ({"channels": (4, 6, 8), "blocks_per_stage": 2, "num_classes": 5},
               _images(3, side=12), (3, 5)),
    "seq2seq-rnn": (_S2S, _translation, (3, 5, 13)),
    "bahdanau": (_S2S, _translation, (3, 5, 13)),
    "transformer-mt": (_TRF, _translation, (3, 5, 13)),
    "transformer-nat": ({**_TRF, "max_tgt_len": 6}, _translation, (3, 5, 13)),
    "rnn-lm": ({"vocab_size": 11, "cell": "lstm", "hidden": 6, "num_layers": 2, "embedding": 4},
               lambda g: torch.randint(0, 11, (3, 5), generator=g), (3, 5, 11)),
    "lstm-classifier": ({"vocab_size": 30, "embed_dim": 6, "hidden": 5, "num_classes": 3},
                        lambda g: torch.randint(0, 30, (4, 7), generator=g), (4, 3)),
    "bilstm-tagger": ({"vocab_size": 30, "num_tags": 6, "embed_dim": 6, "hidden": 5},
                      lambda g: torch.randint(0, 30, (4, 7), generator=g), (4, 7, 6)),
    "ctc-reader": ({"in_features": 8, "hidden": 5, "num_classes": 11},
                   lambda g: torch.randn(3, 7, 8, generator=g), (3, 7, 11)),
    # a series (B, T, C) -> the next value at every step (B, T, O) (and the state: out[1])
    "rnn-regressor": ({"hidden": 5, "num_layers": 2},
                      lambda g: torch.randn(3, 7, 1, generator=g), (3, 7, 1)),
    "bag-of-tokens": ({"vocab_size": 30, "num_classes": 3},
                      lambda g: (torch.randint(0, 30, (4, 7), generator=g),
                                 torch.tensor([7, 3, 1, 5])), (4, 3)),
    # (queries (Q,), keys (n,), values (n,)) -> predictions (Q,)
    "nw-kernel-regression": ({"w0": 1.5},
                             lambda g: (torch.rand(4, generator=g) * 5,
                                        torch.rand(6, generator=g) * 5,
                                        torch.randn(6, generator=g)), (4,)),
    # (node features (N, F), keep mask (N, N): a ring plus self-loops) -> logits (N, classes)
    "node-classifier": ({"feature_dim": 5, "hidden": 8, "heads": 2, "layers": 2, "classes": 3},
                        lambda g: (torch.randn(6, 5, generator=g),
                                   torch.eye(6, dtype=torch.bool) | torch.eye(6).roll(1, 1).bool()
                                   | torch.eye(6).roll(-1, 1).bool()), (6, 3)),
    "small-cnn": ({"channels": (3, 4), "classes": 5}, _images(2), (2, 5)),
    "small-vit": ({"embed_dim": 8, "heads": 2, "layers": 1, "classes": 5}, _images(2), (2, 5)),
    # (centre (B,), context (B, C) padded with -1, negatives (B, K)) -> loss per centre (B,)
    "word2vec": ({"vocab_size": 12, "dim": 5, "zero_output": False}, _word_windows, (4,)),
    "bert": ({"vocab_size": 20, "hidden_size": 8, "num_hidden_layers": 2,
              "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 12,
              "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0},
             _bert_tokens, (3, 6, 8)),
    "bert-pretraining": ({"vocab_size": 20, "hidden_size": 8, "num_hidden_layers": 1,
                          "num_attention_heads": 2, "intermediate_size": 16,
                          "max_position_embeddings": 12, "hidden_dropout_prob": 0.0,
                          "attention_probs_dropout_prob": 0.0}, _bert_tokens, (3, 6, 20)),
    "bert-classifier": ({**_BERT, "num_labels": 3}, _bert_tokens, (3, 3)),
    "bert-tagger": ({**_BERT, "num_labels": 5}, _bert_tokens, (3, 6, 5)),
    "bert-qa": (_BERT, _bert_tokens, (3, 6)),  # the start logits (the end logits: out[1])
    "gpt": ({"vocab_size": 13, "block_size": 8, "n_layer": 2, "n_head": 2, "n_embd": 8},
            lambda g: torch.randint(0, 13, (3, 6), generator=g), (3, 6, 13)),
    # (ids, lengths) -> the forward LM's logits (the backward LM's: out[1])
    "bilm": ({"vocab_size": 13, "hidden": 6, "layers": 2, "dropout": 0.0},
             lambda g: (torch.randint(0, 13, (3, 5), generator=g), torch.tensor([5, 3, 1])),
             (3, 5, 13)),
    "elmo-classifier": ({"vocab_size": 13, "hidden": 6, "layers": 2, "num_classes": 3,
                         "freeze": False, "dropout": 0.0},
                        lambda g: (torch.randint(0, 13, (3, 5), generator=g),
                                   torch.tensor([5, 3, 1])), (3, 3)),
    "fasttext": ({"vocab_size": 12, "dim": 5, "buckets": 20, "zero_output": False},
                 _word_windows, (4,)),
    # GANs (N1, N4, N6): (noise (N, Z), labels (N,)) -> samples; (samples, labels) -> scores
    "mlp-generator": ({"latent_dim": 4, "out_shape": (1, 5, 5), "hidden": (8,),
                       "num_classes": 3, "batch_norm": True},
                      lambda g: (torch.randn(4, 4, generator=g), torch.tensor([0, 2, 1, 2])),
                      (4, 1, 5, 5)),
    "mlp-discriminator": ({"in_shape": (2,), "hidden": (8, 8), "spectral_norm": True},
                          lambda g: torch.randn(5, 2, generator=g), (5,)),
    "dcgan-generator": ({"latent_dim": 6, "width": 3}, lambda g: torch.randn(4, 6, generator=g),
                        (4, 1, 28, 28)),
    "dcgan-discriminator": ({"width": 3, "num_classes": 3, "spectral_norm": True},
                            lambda g: (torch.rand(4, 1, 28, 28, generator=g) * 2 - 1,
                                       torch.tensor([0, 1, 2, 1])), (4,)),
    "autoencoder": ({"hidden": (8,), "code_dim": 3}, _images(4), (4, 1, 28, 28)),
    "conv-autoencoder": ({"width": 3, "code_dim": 4}, _images(3), (3, 1, 28, 28)),
    # VAE (N8, N9): images -> (logits, mu, logvar); logits from z = mu + sigma*eps (eval: mu)
    "vae": ({"image_shape": (1, 6, 6), "hidden": (8,), "latent_dim": 3},
            _images(4, side=6), (4, 1, 6, 6)),
    # DDPM (N9): (x_t (B, 1, S, S), steps t (B,)) -> predicted noise of x_t's shape
    "ddpm-unet": ({"image_size": 8, "channels": (4, 8), "time_dim": 8, "groups": 2},
                  lambda g: (torch.randn(3, 1, 8, 8, generator=g), torch.tensor([1, 50, 999])),
                  (3, 1, 8, 8)),
    "cyclegan-generator": ({"width": 3, "blocks": 1}, _images(3), (3, 1, 28, 28)),
    # (rows i (B,), cols j (B,), counts X_ij > 0 (B,)) -> weighted squared error (B,)
    "glove": ({"vocab_size": 12, "dim": 5},
              lambda g: (torch.randint(0, 12, (6,), generator=g),
                         torch.randint(0, 12, (6,), generator=g),
                         torch.rand(6, generator=g) * 150 + 0.5), (6,)),
}


def _input(name: str, dtype=torch.float32, seed: int = 0):
    x = SMALL[name][1](torch.Generator().manual_seed(seed))
    if isinstance(x, tuple):  # several inputs; integer ones (token ids, lengths) keep their dtype
        return tuple(t.to(dtype) if t.is_floating_point() else t for t in x)
    return x.to(dtype) if x.is_floating_point() else x  # token ids keep their dtype


def _call(model, x):
    out = model(*x) if isinstance(x, tuple) else model(x)
    return out[0] if isinstance(out, tuple) else out  # language models return (logits, state)


def _has_fused(name: str) -> bool:
    return "fused" in {f.name for f in dataclasses.fields(models.config_class(name))}


def test_every_registered_model_has_a_small_entry():
    names = set(models.MODELS.names())
    assert names - set(SMALL) == set(), "add a SMALL entry for each new model"
    assert set(SMALL) - names == set(), "SMALL names a model that is not registered"


@pytest.mark.parametrize("name", sorted(SMALL))
def test_forward_backward_shape_and_every_parameter_gets_a_grad(name):
    torch.manual_seed(0)
    model = models.create(name, **SMALL[name][0])
    out = _call(model, _input(name))
    assert tuple(out.shape) == SMALL[name][2]
    assert torch.isfinite(out).all()
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    (out * weights).sum().backward()
    for pname, p in model.named_parameters():
        if name in ONLY_VIA_LOSS and pname.startswith(ONLY_VIA_LOSS[name]):
            continue
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, f"{pname} got a zero gradient"


@pytest.mark.parametrize("name", sorted(SMALL))
def test_model_info_round_trip(name):
    model = models.create(name, **SMALL[name][0])
    again = models.from_info(models.model_info(model))
    assert again.config == model.config
    again.load_state_dict(model.state_dict())
    model.eval(), again.eval()
    x = _input(name)
    assert torch.equal(_call(model, x), _call(again, x))


FUSED = sorted(n for n in SMALL if _has_fused(n))


def test_the_cnns_take_a_fused_flag():
    assert {"lenet", "lenet-modern", "resnet"} <= set(FUSED)


@pytest.mark.parametrize("name", FUSED)
@pytest.mark.parametrize("fused", [True, False])
def test_fused_flag_reaches_every_layer(name, fused):
    model = models.create(name, **SMALL[name][0], fused=fused)
    flagged = [m for m in model.modules() if hasattr(m, "fused")]
    assert flagged, "no layer has a fused flag"
    assert all(m.fused is fused for m in flagged)
    # no torch layer with a fused twin in deepnotes.nn slips in unflagged
    twins = (tnn.Conv2d, tnn.MaxPool2d, tnn.AvgPool2d, tnn.BatchNorm1d, tnn.BatchNorm2d,
             tnn.ReLU, tnn.Sigmoid, tnn.Tanh, tnn.GELU, tnn.Dropout)
    assert not [m for m in model.modules() if isinstance(m, twins)]


def _run(model, x, seed=5):
    if isinstance(x, tuple) or not x.is_floating_point():
        # token ids and lengths have no gradient: stand in a zero for the input's
        out = _call(model, x)
        inputs = list(model.parameters())
        lead = (torch.zeros(()),)
    else:
        x = x.detach().clone().requires_grad_(True)
        out = _call(model, x)  # a recurrent model returns (outputs, state)
        inputs = [x, *model.parameters()]
        lead = ()
    gen = torch.Generator().manual_seed(seed)
    upstream = torch.randn(out.shape, dtype=out.dtype, generator=gen)
    # parameters the forward does not use (ONLY_VIA_LOSS) get zeros on both paths
    grads = torch.autograd.grad(out, inputs, upstream, allow_unused=True)
    grads = [torch.zeros_like(t) if g is None else g for t, g in zip(inputs, grads, strict=True)]
    return out.detach(), lead + tuple(grads)


@pytest.mark.parametrize("name", FUSED)
def test_fused_and_formula_paths_agree_from_one_state_dict(name):
    torch.manual_seed(0)
    fused = models.create(name, **SMALL[name][0], fused=True).double()
    formula = models.create(name, **SMALL[name][0], fused=False).double()
    formula.load_state_dict(fused.state_dict())
    x = _input(name, f64)
    for mode in ("train", "eval"):  # batch statistics, then the running ones both updated
        fused.train(mode == "train"), formula.train(mode == "train")
        y1, g1 = _run(fused, x)
        y0, g0 = _run(formula, x)
        torch.testing.assert_close(y0, y1, atol=1e-10, rtol=1e-9)
        for (pname, _), a, b in zip(fused.named_parameters(), g1[1:], g0[1:], strict=True):
            torch.testing.assert_close(b, a, atol=1e-10, rtol=1e-9,
                                       msg=lambda m, p=pname: f"{p}: {m}")
        torch.testing.assert_close(g0[0], g1[0], atol=1e-10, rtol=1e-9)
    for key, value in fused.state_dict().items():  # running statistics moved alike
        torch.testing.assert_close(formula.state_dict()[key], value, atol=1e-12, rtol=1e-10)


# ---------------------------------------------------------------- LeNet (C5, C6)

def _torch_lenet(modern: bool) -> tnn.Sequential:
    """d2l's LeNet (and its BN/ReLU/max-pool variant) written with torch.nn only."""
    act, pool = (tnn.ReLU, tnn.MaxPool2d) if modern else (tnn.Sigmoid, tnn.AvgPool2d)

    def bn(cls, c):
        return [cls(c)] if modern else []

    return tnn.Sequential(
        tnn.Conv2d(1, 6, kernel_size=5, padding=2), *bn(tnn.BatchNorm2d, 6), act(),
        pool(kernel_size=2, stride=2),
        tnn.Conv2d(6, 16, kernel_size=5), *bn(tnn.BatchNorm2d, 16), act(),
        pool(kernel_size=2, stride=2), tnn.Flatten(),
        tnn.Linear(16 * 5 * 5, 120), *bn(tnn.BatchNorm1d, 120), act(),
        tnn.Linear(120, 84), *bn(tnn.BatchNorm1d, 84), act(),
        tnn.Linear(84, 10))


@pytest.mark.parametrize("name", ["lenet", "lenet-modern"])
@pytest.mark.parametrize("fused", [True, False])
def test_lenet_is_d2l_lenet(name, fused):
    modern = name == "lenet-modern"
    ours = models.create(name, fused=fused).double()
    ref = _torch_lenet(modern).double()
    # same layers in the same order: the torch state dict loads under the "net." prefix
    ours.net.load_state_dict(ref.state_dict())
    x = _input("lenet", f64)
    for mode in (True, False):
        ours.train(mode), ref.train(mode)
        torch.testing.assert_close(ours(x), ref(x), atol=1e-10, rtol=1e-9)
    # d2l's LeNet has 61,706 parameters; BN adds 2·(6 + 16 + 120 + 84) = 452
    assert sum(p.numel() for p in ours.parameters()) == 61_706 + (452 if modern else 0)


def test_lenet_defaults_and_overrides():
    classic, modern = models.create("lenet"), models.create("lenet-modern")
    assert (classic.config.activation, classic.config.pool, classic.config.batch_norm) == \
        ("sigmoid", "avg", False)
    assert (modern.config.activation, modern.config.pool, modern.config.batch_norm) == \
        ("relu", "max", True)
    assert classic.config.fused and modern.config.fused
    assert any(isinstance(m, dnn.AvgPool2d) for m in classic.modules())
    assert not any(isinstance(m, (dnn.BatchNorm2d, dnn.MaxPool2d)) for m in classic.modules())
    assert any(isinstance(m, dnn.MaxPool2d) for m in modern.modules())
    # every field still overrides; the class is shared
    mixed = models.create("lenet", activation="relu", pool="max", batch_norm=True)
    assert type(modern).__mro__[1] is type(mixed)
    assert [type(m) for m in mixed.net] == [type(m) for m in modern.net]
    # other image sizes: the flattened width follows the output-size formula
    assert models.create("lenet", image_size=32, in_channels=3).flat_features == 16 * 6 * 6
    assert models.create("lenet", image_size=32, in_channels=3)(torch.zeros(2, 3, 32, 32)).shape \
        == (2, 10)


def test_lenet_errors():
    with pytest.raises(ConfigError, match="swish"):
        models.create("lenet", activation="swish")
    with pytest.raises(ConfigError, match="'min'"):
        models.create("lenet-modern", pool="min")
    with pytest.raises(ShapeError, match=r"\(N, 1, 28, 28\)"):
        models.create("lenet")(torch.zeros(2, 1, 32, 32))


def test_lenet_modern_can_overfit_one_batch():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(32, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (32,), generator=g)  # random labels: only memorising fits them
    model = models.create("lenet-modern")
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(40):
        loss = tnn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        logits = model(x)
    assert tnn.functional.cross_entropy(logits, y).item() < 0.05
    assert (logits.argmax(1) == y).all()


# ---------------------------------------------------------------- ResNet (C6)

class _TorchResidual(tnn.Module):
    """d2l's Residual block with torch.nn layers."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = tnn.Conv2d(cin, cout, 3, padding=1, stride=stride)
        self.bn1 = tnn.BatchNorm2d(cout)
        self.conv2 = tnn.Conv2d(cout, cout, 3, padding=1)
        self.bn2 = tnn.BatchNorm2d(cout)
        self.conv3 = tnn.Conv2d(cin, cout, 1, stride=stride) if (stride, cin) != (1, cout) else None

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.conv3 is None else self.conv3(x)))


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("stem_pool", [True, False])
def test_resnet_matches_a_torch_reference(fused, stem_pool):
    ours = models.create("resnet", channels=(4, 6), blocks_per_stage=2, num_classes=3,
                         stem_pool=stem_pool, fused=fused).double()
    blocks = [_TorchResidual(4, 4, 1), _TorchResidual(4, 4, 1),
              _TorchResidual(4, 6, 2), _TorchResidual(6, 6, 1)]
    stem = [tnn.Conv2d(1, 4, 3, padding=1), tnn.BatchNorm2d(4), tnn.ReLU()]
    if stem_pool:  # d2l's stem ends with a 3×3 stride-2 max pool
        stem.append(tnn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    ref = tnn.ModuleDict({"stem": tnn.Sequential(*stem), "stages": tnn.Sequential(*blocks),
                          "fc": tnn.Linear(6, 3)}).double()
    ours.load_state_dict(ref.state_dict())  # same names, same shapes, nothing missing

    def ref_forward(x):
        return ref["fc"](ref["stages"](ref["stem"](x)).mean(dim=(2, 3)))

    x = _input("resnet", f64)
    for mode in (True, False):
        ours.train(mode), ref.train(mode)
        torch.testing.assert_close(ours(x), ref_forward(x), atol=1e-10, rtol=1e-9)
    assert [b.conv3 is not None for b in ours.stages] == [False, False, True, False]


def test_residual_block_shapes_and_errors():
    assert Residual(3, 3)(torch.zeros(2, 3, 7, 7)).shape == (2, 3, 7, 7)
    assert Residual(3, 5, stride=2)(torch.zeros(2, 3, 7, 7)).shape == (2, 5, 4, 4)
    # resnet with d2l's stem pool on Fashion-MNIST-sized input: stages see 14, 7 and 4 pixels
    default = models.create("resnet", stem_pool=True)
    x = torch.zeros(2, 1, 28, 28)
    assert default(x).shape == (2, 10)
    sides = [default.stem(x).shape[-1]]
    y = default.stem(x)
    for block in default.stages:
        y = block(y)
        sides.append(y.shape[-1])
    assert sorted(set(sides), reverse=True) == [14, 7, 4]
    assert models.create("resnet").stem(x).shape[-1] == 28  # default: no stem pool
    with pytest.raises(ConfigError, match="blocks_per_stage"):
        models.create("resnet", blocks_per_stage=0)
    with pytest.raises(ConfigError, match="channels"):
        models.create("resnet", channels=())
    with pytest.raises(ShapeError, match=r"\(N, 1, H, W\)"):
        models.create("resnet")(torch.zeros(2, 3, 28, 28))


@pytest.mark.parametrize("module", [lenet_module, resnet_module], ids=["lenet", "resnet"])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 2
    assert result.failed == 0
