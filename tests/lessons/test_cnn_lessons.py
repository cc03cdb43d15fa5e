"""Quick modes of the CNN lessons (lenet, resnet, cnn-vs-mlp, batch-norm) and their claims."""

import math
from pathlib import Path

import pytest
import torch

from deepnotes import lessons
from deepnotes.lessons.batch_norm import deep_mlp, probe_along_gradient
from deepnotes.lessons.cnn_vs_mlp import conv_parameters, dense_parameters, mlp_hidden_for
from deepnotes.models import create


def _run(name, tmp_path, **overrides):
    return lessons.get(name).run(out_dir=tmp_path, quick=True, **overrides)


def test_lenet_modern_beats_classic(tmp_path):
    r = _run("lenet", tmp_path)
    m = r.metrics
    assert m["modern_test_accuracy"] > 0.80  # 6,000 images, 2 epochs; chance is 0.10
    assert m["modern_test_accuracy"] > m["classic_test_accuracy"] + 0.1
    assert m["test_accuracy"] == m["modern_test_accuracy"]
    assert m["train_seconds"] > 0 and m["train_cpu_seconds"] > 0
    assert {row["variant"] for row in r.tables["variants"]} == {"lenet", "lenet-modern"}
    assert (tmp_path / "checkpoint.safetensors").is_file()
    assert all(Path(f).is_file() for f in r.figures)


def test_resnet_learns(tmp_path):
    r = _run("resnet", tmp_path)
    m = r.metrics
    assert m["test_accuracy"] > 0.65  # 3,000 images, 3 epochs of a 5k-parameter net
    losses = [row["train_loss"] for row in r.history]
    assert losses[-1] < losses[0]
    assert m["seconds_per_epoch"] == pytest.approx(m["train_seconds"] / m["epochs"])
    assert Path(r.checkpoint).is_file()


def test_parameter_count_formulas():
    assert dense_parameters(100, 100, 3, 1000) == 30_001_000  # the notes' example
    assert conv_parameters(3, 64, 3) == 64 * 27 + 64
    # measured on the layers the models are made of
    dense = torch.nn.Linear(784, 120)
    assert dense_parameters(28, 28, 1, 120) == sum(p.numel() for p in dense.parameters())
    lenet = create("lenet")
    assert conv_parameters(1, 6, 5) == sum(p.numel() for p in lenet.net[0].parameters())
    # the MLP of the comparison has at least the CNN's budget, and one unit fewer would not
    budget = 62158
    h = mlp_hidden_for(budget)

    def size(h):
        return 785 * h + (h + 1) * 10

    assert size(h) >= budget > size(h - 1)


def test_cnn_beats_mlp_with_no_more_parameters(tmp_path):
    r = _run("cnn-vs-mlp", tmp_path)
    m = r.metrics
    assert m["formulas_match"] == 1.0
    assert m["dense_over_conv"] > 1e4  # 3.7 M vs 156 for LeNet's first layer
    assert m["cnn_parameters"] <= m["mlp_parameters"] <= 1.02 * m["cnn_parameters"]
    assert m["cnn_test_accuracy"] > m["mlp_test_accuracy"] + 0.03
    # C4: moved 1 or 2 pixels, the CNN keeps more of its accuracy than the MLP (its feature
    # maps move with the image); neither is invariant to 4 pixels (the dense head is not)
    assert m["cnn_shift0_accuracy"] == m["cnn_test_accuracy"]
    for s in (1, 2):
        assert m[f"cnn_shift{s}_accuracy"] / m["cnn_shift0_accuracy"] > \
            m[f"mlp_shift{s}_accuracy"] / m["mlp_shift0_accuracy"]
    assert m["cnn_shift4_accuracy"] < 0.5 * m["cnn_shift0_accuracy"]


def test_c4_convolution_commutes_with_shifts():
    """A convolution is equivariant: conv(shift(x)) = shift(conv(x)) away from the border (C4)."""
    from deepnotes.data.augment import shift_images
    from deepnotes.nn import Conv2d

    torch.manual_seed(0)
    conv = Conv2d(1, 4, 3, padding=1).double()
    x = torch.zeros(2, 1, 20, 20, dtype=torch.float64)
    x[..., 5:13, 5:13] = torch.rand(2, 1, 8, 8, dtype=torch.float64)  # a margin of zeros
    bias = conv.bias.view(1, -1, 1, 1)
    for dy, dx in ((1, 0), (0, 3), (-2, 2), (4, -1)):
        moved = conv(shift_images(x, dy, dx)) - bias
        assert torch.allclose(moved, shift_images(conv(x) - bias, dy, dx), atol=1e-12)
    # a dense layer is not: its weights are tied to pixel positions
    dense = torch.nn.Linear(400, 400).double()
    flat = x.reshape(2, 400)
    shifted_in = dense(shift_images(x, 1, 0).reshape(2, 400)).reshape(2, 1, 20, 20)
    assert not torch.allclose(shifted_in, shift_images(dense(flat).reshape(2, 1, 20, 20), 1, 0))


def test_probe_along_gradient_restores_the_model_and_matches_a_quadratic():
    torch.manual_seed(0)
    # L(w) = ½‖Aw − b‖²/n on a linear model: gradient change is exactly η‖AᵀA g‖/n
    lin = torch.nn.Linear(3, 1, bias=False).double()
    x = torch.randn(16, 3, dtype=torch.float64)
    y = torch.randn(16, 1, dtype=torch.float64)

    def loss_fn(out, t):
        return 0.5 * ((out - t) ** 2).sum() / len(t)

    before = lin.weight.detach().clone()
    row = probe_along_gradient(lin, loss_fn, x, y, [0.1, 0.2])
    assert torch.equal(lin.weight, before)
    w = before.reshape(-1)
    H = x.T @ x / len(x)
    g = H @ w - x.T @ y.reshape(-1) / len(x)
    assert row["grad_norm"] == pytest.approx(float(g.norm()), rel=1e-12)
    assert row["grad_change"] == pytest.approx(float((0.2 * H @ g).norm()), rel=1e-10)
    # β-smoothness of a quadratic along g is ‖Hg‖/‖g‖ ≤ λ_max(H)
    assert row["beta"] == pytest.approx(float((H @ g).norm() / g.norm()), rel=1e-10)
    assert row["beta"] <= float(torch.linalg.eigvalsh(H).max()) * (1 + 1e-12)


def test_probe_keeps_batch_norm_running_statistics():
    net = deep_mlp(2, 8, batch_norm=True, inputs=4, classes=3)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    probe_along_gradient(net, torch.nn.functional.cross_entropy, torch.randn(32, 4),
                         torch.randint(0, 3, (32,)), [0.1, 1.0])
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())


def test_batch_norm_trains_faster_and_smooths_the_landscape(tmp_path):
    r = _run("batch-norm", tmp_path)
    m = r.metrics
    # same steps, same lr: lower minibatch loss at the end
    assert m["bn_final_loss"] < 0.9 * m["plain_final_loss"]
    # along the gradient the loss and the gradient vary far less with BN
    assert m["bn_median_loss_variation"] < m["plain_median_loss_variation"] / 5
    assert m["bn_median_grad_change"] < m["plain_median_grad_change"] / 4
    assert m["bn_median_beta"] < m["plain_median_beta"]
    # at 5x the learning rate the BN network still trains
    assert m["bn_high_lr_diverged"] == 0.0
    assert m["bn_high_lr_final_loss"] < 1.0
    assert math.isfinite(m["plain_final_loss"])
    assert len(r.tables["landscape"]) == 2 * m["probes"]


def test_augmentation_narrows_the_gap(tmp_path):
    # 600 training images, 30 epochs: the plain net memorises them (train accuracy 1.0)
    r = _run("augmentation", tmp_path)
    m = r.metrics
    assert m["plain_train_accuracy"] > 0.99
    assert m["augmented_gap"] < m["plain_gap"] - 0.03  # seeds 0-2 measured 0.06-0.07 narrower
    assert m["augmented_test_loss"] < m["plain_test_loss"] - 0.08  # measured 0.15-0.17 lower
    assert m["test_accuracy_gain"] > 0  # measured +0.004 to +0.014 in quick mode
    assert {row["run"] for row in r.tables["runs"]} == {"plain", "augmented"}
    assert all(Path(f).is_file() for f in r.figures) and Path(r.checkpoint).is_file()
