"""Model registry errors, the MLP's two paths, and the linear model's closed form and gradient descent (B2, B4)."""

import numpy as np
import pytest
import torch

from deepnotes import models
from deepnotes.errors import ConfigError, ShapeError, UnknownNameError
from deepnotes.models.linear import gradient_descent, normal_equation

# The registry-driven checks of every model (forward/backward, model_info round trip, fused
# paths) live in tests/models/test_all_models.py.


def test_unknown_model_lists_close_matches():
    with pytest.raises(UnknownNameError, match="Did you mean 'mlp'"):
        models.create("mpl")


def test_bad_config_values_name_the_value():
    with pytest.raises(ConfigError, match="swish"):
        models.create("mlp", activation="swish")
    with pytest.raises(ConfigError, match="1.5"):
        models.create("mlp", dropout=1.5)
    with pytest.raises(ConfigError, match="unknown setting 'widht'"):
        models.create("mlp", widht=3)


def test_wrong_input_size_is_a_shape_error():
    model = models.create("softmax-regression", in_features=784, num_classes=10)
    with pytest.raises(ShapeError, match="784 input features, got 64"):
        model(torch.zeros(2, 64))


def test_mlp_fused_and_scratch_paths_agree():
    torch.manual_seed(0)
    fast = models.create("mlp", in_features=10, hidden=(16, 16), num_classes=3, activation="gelu",
                         dropout=0.3, fused=True)
    slow = models.create("mlp", in_features=10, hidden=(16, 16), num_classes=3, activation="gelu",
                         dropout=0.3, fused=False)
    assert fast.state_dict().keys() == slow.state_dict().keys()
    slow.load_state_dict(fast.state_dict())
    fast.eval(), slow.eval()
    x = torch.randn(7, 10)
    torch.testing.assert_close(fast(x), slow(x), rtol=1e-6, atol=1e-6)


def test_normal_equation_matches_numpy_lstsq():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(50, 4, generator=gen, dtype=torch.float64)
    y = x @ torch.tensor([2.0, -3.4, 0.5, 1.0], dtype=torch.float64) + 4.2 + 0.01 * torch.randn(50, generator=gen, dtype=torch.float64)
    w, b = normal_equation(x, y)
    xb = np.c_[x.numpy(), np.ones(50)]
    ref = np.linalg.lstsq(xb, y.numpy(), rcond=None)[0]
    np.testing.assert_allclose(w.numpy(), ref[:-1], rtol=1e-10)
    np.testing.assert_allclose(b.item(), ref[-1], rtol=1e-10)


def test_ridge_normal_equation_solves_the_penalised_problem():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(30, 5, generator=gen, dtype=torch.float64)
    y = torch.randn(30, generator=gen, dtype=torch.float64)
    w, b = normal_equation(x, y, l2=2.0)
    # the gradient of ||Xw + b - y||² + λ||w||² vanishes at the solution
    r = x @ w + b - y
    torch.testing.assert_close(2 * x.T @ r + 2 * 2.0 * w, torch.zeros(5, dtype=torch.float64), atol=1e-9, rtol=0)
    torch.testing.assert_close(2 * r.sum(), torch.tensor(0.0, dtype=torch.float64), atol=1e-9, rtol=0)


def test_gradient_descent_reaches_the_closed_form_and_its_gradient_matches_autograd():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(40, 3, generator=gen, dtype=torch.float64)
    y = x @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) + 0.3
    out = gradient_descent(x, y, lr=0.1, steps=500)
    w, b = normal_equation(x, y)
    torch.testing.assert_close(out["w"], w, rtol=1e-8, atol=1e-8)
    # one hand-written step equals one autograd step
    w0 = torch.randn(3, generator=gen, dtype=torch.float64)
    one = gradient_descent(x, y, lr=0.05, steps=1, w0=w0, b0=0.5)
    wa = w0.clone().requires_grad_(True)
    ba = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    ((x @ wa + ba - y) ** 2).mean().backward()
    torch.testing.assert_close(one["w"], w0 - 0.05 * wa.grad)
    torch.testing.assert_close(one["b"], 0.5 - 0.05 * ba.grad)


def test_normal_equation_rejects_bad_shapes():
    with pytest.raises(ShapeError, match=r"\(3,\)"):
        normal_equation(torch.zeros(4, 2), torch.zeros(3))
