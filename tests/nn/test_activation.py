"""Activation layers: fused and formula paths agree (values, gradients) and match torch.nn."""

from __future__ import annotations

import pytest
import torch
from torch import nn as tnn

from deepnotes import functional as F
from deepnotes import nn
from deepnotes.errors import ConfigError
from tests.functional._helpers import assert_parity

LAYERS = {
    "Sigmoid": (lambda fused: nn.Sigmoid(fused=fused), tnn.Sigmoid()),
    "Tanh": (lambda fused: nn.Tanh(fused=fused), tnn.Tanh()),
    "ReLU": (lambda fused: nn.ReLU(fused=fused), tnn.ReLU()),
    "GELU": (lambda fused: nn.GELU(fused=fused), tnn.GELU()),
    "GELU-tanh": (lambda fused: nn.GELU("tanh", fused=fused), tnn.GELU("tanh")),
}


def _x() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = 4.0 * torch.randn(6, 7, generator=g, dtype=torch.float64)
    x[0] = torch.tensor([-1e3, -30.0, -1e-9, 0.0, 1e-9, 30.0, 1e3], dtype=torch.float64)
    return x


@pytest.mark.parametrize("name", list(LAYERS))
def test_fused_and_formula_paths_agree(name):
    make, ref = LAYERS[name]
    fused, ours = make(True), make(False)
    assert fused.fused and not ours.fused
    # atol: near saturation the two sides differ by a few ulps of the slope (see functional)
    assert_parity(ours, fused, _x(), atol=1e-13)
    assert_parity(fused, ref, _x(), atol=0, rtol=0)


@pytest.mark.parametrize("name", list(LAYERS))
def test_default_is_fused_and_stateless(name):
    make, _ = LAYERS[name]
    layer = make(False)
    assert type(layer)().fused is True
    assert list(layer.state_dict()) == [] and list(layer.parameters()) == []
    assert "fused=False" in repr(layer)


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ConfigError, match="'fast'"):
        nn.GELU("fast")


def test_hard_sigmoid_layer():
    layer = nn.HardSigmoid(c=2.0, b=-0.5, w=3.0)
    x = _x()
    torch.testing.assert_close(layer(x), F.hard_sigmoid(x, 2.0, -0.5, 3.0), atol=0, rtol=0)
    torch.testing.assert_close(layer(x), 2.0 * torch.clamp(3.0 * x - 0.5, 0, 1))
    assert repr(layer) == "HardSigmoid(c=2.0, b=-0.5, w=3.0)"
    assert list(layer.state_dict()) == []
    # with torch's parameterisation it is torch.nn.Hardsigmoid
    torch.testing.assert_close(nn.HardSigmoid(1.0, 0.5, 1 / 6)(x), tnn.Hardsigmoid()(x),
                               atol=1e-15, rtol=0)


# ----------------------------------------------------------- the name -> layer table


def test_activation_table_builds_every_layer_on_both_paths():
    assert nn.ACTIVATIONS == {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
                              "gelu": nn.GELU}
    x = _x()
    for name, cls in nn.ACTIVATIONS.items():
        assert nn.activation_class(name) is cls
        for fused in (True, False):
            layer = nn.make_activation(name, fused=fused)
            assert type(layer) is cls and layer.fused is fused
            torch.testing.assert_close(layer(x), cls(fused=fused)(x), atol=0, rtol=0)


def test_unknown_activation_names_the_choices():
    with pytest.raises(ConfigError, match=r"unknown activation 'swish'; choose one of "
                                          r"relu, sigmoid, tanh, gelu"):
        nn.make_activation("swish")
    # a caller's subset: tanh is a known layer but not one of its choices
    with pytest.raises(ConfigError, match=r"'tanh'; choose one of relu, gelu$"):
        nn.activation_class("tanh", ("relu", "gelu"))
    assert isinstance(nn.make_activation("gelu", choices=("relu", "gelu")), nn.GELU)
