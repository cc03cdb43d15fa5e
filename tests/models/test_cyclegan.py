"""The CycleGAN generator (N7): image in, image out, 28 → 7 → 28; fused = formula."""

from __future__ import annotations

import doctest

import pytest
import torch

import deepnotes.models.cyclegan as cyclegan_module
from deepnotes import models
from deepnotes import nn as dnn
from deepnotes.errors import ConfigError, ShapeError
from deepnotes.models.cyclegan import ResidualBlock


@pytest.mark.parametrize("norm", ["layer", "none"])
def test_n7_generator_maps_images_to_images_in_tanh_range(norm):
    """(N7) (N, 1, 28, 28) → (N, 1, 28, 28) in (-1, 1), down to (2w, 7, 7) in between."""
    torch.manual_seed(0)
    g = models.create("cyclegan-generator", width=4, blocks=2, norm=norm)
    x = torch.rand(5, 1, 28, 28) * 2 - 1
    y = g(x)
    assert y.shape == (5, 1, 28, 28)
    assert y.abs().max() < 1
    assert g.down(x).shape == (5, 8, 7, 7)
    assert len(g.blocks) == 2 and all(isinstance(b, ResidualBlock) for b in g.blocks)
    assert models.model_task("cyclegan-generator") == "generation"
    assert models.model_inputs("cyclegan-generator") == "images"
    # one image's translation does not depend on its batch (per-image normalisation)
    torch.testing.assert_close(g(x[:1]), y[:1])


def test_n7_residual_block_is_skip_plus_branch():
    """(N7) h' = h + norm(conv(relu(norm(conv(h))))): a zero second conv gives h' = h
    without norm (with layer norm, β = 0 gives the same)."""
    block = ResidualBlock(3, 7, "none")
    with torch.no_grad():
        block.conv2.weight.zero_()
        block.conv2.bias.zero_()
    h = torch.randn(2, 3, 7, 7)
    torch.testing.assert_close(block(h), h)
    block = ResidualBlock(3, 7, "layer")
    with torch.no_grad():
        block.norm2.weight.zero_()
    torch.testing.assert_close(block(h), h)


@pytest.mark.parametrize("norm", ["layer", "none"])
def test_n7_fused_and_formula_paths_agree_from_one_state_dict(norm):
    """(N7) torch's kernels and our formulas, same weights: same outputs and gradients."""
    torch.manual_seed(0)
    fused = models.create("cyclegan-generator", width=3, blocks=1, norm=norm).double()
    formula = models.create("cyclegan-generator", width=3, blocks=1, norm=norm,
                            fused=False).double()
    formula.load_state_dict(fused.state_dict())
    assert all(m.fused is False for m in formula.modules() if hasattr(m, "fused"))
    x = (torch.rand(2, 1, 28, 28, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    up = torch.randn(2, 1, 28, 28, dtype=torch.float64)
    grads = []
    for net in (fused, formula):
        out = net(x)
        grads.append((out, *torch.autograd.grad(out, [x, *net.parameters()], up)))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(b, a, atol=1e-10, rtol=1e-9)


def test_fused_flag_reaches_every_layer():
    g = models.create("cyclegan-generator", width=3, blocks=1, fused=False)
    kinds = {type(m) for m in g.modules() if hasattr(m, "fused")}
    assert {dnn.Conv2d, dnn.ConvTranspose2d, dnn.LayerNorm, dnn.ReLU, dnn.Tanh} <= kinds


def test_bad_configs_and_inputs_are_refused():
    with pytest.raises(ConfigError, match="'batch'"):
        models.create("cyclegan-generator", norm="batch")
    with pytest.raises(ConfigError, match="blocks must be >= 0, got -1"):
        models.create("cyclegan-generator", blocks=-1)
    with pytest.raises(ShapeError, match=r"\(N, 1, 28, 28\)"):
        models.create("cyclegan-generator", width=2)(torch.zeros(2, 1, 32, 32))


def test_docstring_examples():
    result = doctest.testmod(cyclegan_module)
    assert result.attempted >= 2 and result.failed == 0
