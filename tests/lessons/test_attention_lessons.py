"""Quick modes of the attention lessons (nadaraya-watson, graph-attention) and their claims;
their models (nw-kernel-regression, node-classifier)."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest
import torch

import deepnotes.models.graph_attention as graph_module
import deepnotes.models.kernel_regression as kernel_module
from deepnotes import lessons
from deepnotes.errors import ConfigError, ShapeError
from deepnotes.lessons.graph_attention import Config as GraphConfig
from deepnotes.lessons.graph_attention import node_classifier, stochastic_block_model
from deepnotes.models import create, from_info
from deepnotes.models.kernel_regression import gaussian_scores
from deepnotes.train.checkpoint import load_checkpoint


def _run(name, tmp_path, **overrides):
    return lessons.get(name).run(out_dir=tmp_path, quick=True, **overrides)


def _reload(checkpoint):
    """The model of a lesson's checkpoint, rebuilt from its stored model_info."""
    info = load_checkpoint(checkpoint)["model_info"]
    model = from_info(info)
    load_checkpoint(checkpoint, model)
    return info["name"], model


def test_nadaraya_watson_attention_pooling_beats_average(tmp_path):
    r = _run("nadaraya-watson", tmp_path)
    m = r.metrics
    assert m["repeats"] == 5
    # A2: both attention poolings beat average pooling on every data set, by a wide margin
    assert m["nonparametric_beats_average"] == 1.0 and m["parametric_beats_average"] == 1.0
    assert m["mean_nonparametric_test_mse"] < 0.7 * m["mean_average_test_mse"]
    assert m["mean_parametric_test_mse"] < 0.5 * m["mean_nonparametric_test_mse"]
    # the learned kernel is narrower than the unit Gaussian
    assert m["median_learned_w"] > 2
    losses = [row["train_loss"] for row in r.history]
    assert losses[-1] < losses[0]
    assert len(r.tables["seeds"]) == 5
    assert all(Path(f).is_file() for f in r.figures) and Path(r.checkpoint).is_file()
    # the checkpoint rebuilds the registered model with the first data set's learned width
    name, model = _reload(r.checkpoint)
    assert name == "nw-kernel-regression"
    assert abs(model.w.item()) == pytest.approx(m["learned_w"], rel=1e-6)


def test_nadaraya_watson_model_is_the_formula():
    x_train = torch.tensor([0.0, 1.0, 3.0])
    y_train = torch.tensor([1.0, 2.0, 5.0])
    model = create("nw-kernel-regression", w0=2.0)
    assert model.w.item() == 2.0
    pred = model(torch.tensor([0.5, 2.5]), x_train, y_train)
    for q, p in zip((0.5, 2.5), pred):
        k = torch.exp(-((q - x_train) * 2.0) ** 2 / 2)
        assert p.item() == pytest.approx((k @ y_train / k.sum()).item(), rel=1e-6)
    # leave-one-out: a training point never attends to itself
    model(x_train, x_train, y_train, mask=~torch.eye(3, dtype=torch.bool))
    assert model.attention_weights.diagonal().eq(0).all()
    assert gaussian_scores(torch.zeros(2), torch.ones(3)).shape == (2, 3)


def test_graph_attention_edge_mask_wins(tmp_path):
    r = _run("graph-attention", tmp_path)
    m = r.metrics
    # A9: attending along edges beats attending everywhere and ignoring the graph
    assert m["graph_beats_both"] == 1.0
    assert m["graph_test_accuracy"] > m["full_test_accuracy"] + 0.1
    assert m["graph_test_accuracy"] > m["mlp_test_accuracy"] + 0.1
    assert m["graph_test_accuracy"] > 0.6  # chance is 0.25
    assert m["homophily"] > 0.6
    assert (m["repeats"], m["epochs"]) == (2, 60) and len(r.history) == m["epochs"]
    assert all(Path(f).is_file() for f in r.figures) and Path(r.checkpoint).is_file()
    # the checkpoint is the first graph's edge-masked network, a registered model
    name, model = _reload(r.checkpoint)
    assert name == "node-classifier" and model.config.mode == "graph"


def test_graph_model_attends_only_along_edges():
    cfg = GraphConfig(nodes_per_community=10)
    data = stochastic_block_model(cfg, 0)
    n = len(data["y"])
    assert data["train"].sum() == cfg.train_per_class * cfg.communities
    from deepnotes.functional import graph_mask

    keep = graph_mask(data["edges"], n)
    model = node_classifier(cfg, "graph").eval()
    assert (model.config.feature_dim, model.config.classes) == (cfg.feature_dim, cfg.communities)
    logits, weights = model(data["x"], keep, need_weights=True)
    assert logits.shape == (n, cfg.communities) and len(weights) == cfg.layers
    assert weights[0][0][~keep].eq(0).all()
    torch.testing.assert_close(weights[0][0].sum(-1), torch.ones(n))
    # full attention sees strangers too; the MLP mixes nothing across nodes
    _, full_weights = node_classifier(cfg, "full").eval()(data["x"], keep, need_weights=True)
    assert (full_weights[0][0][~keep] > 0).all()
    mlp = node_classifier(cfg, "mlp").eval()
    x = data["x"].clone()
    before = mlp(x)[0]
    x[0] += 1.0
    torch.testing.assert_close(mlp(x)[0][1:], before[1:], rtol=0, atol=0)


def test_node_classifier_errors():
    with pytest.raises(ConfigError, match="'star'"):
        create("node-classifier", mode="star")
    with pytest.raises(ShapeError, match="keep mask"):
        create("node-classifier")(torch.zeros(4, 16))


@pytest.mark.parametrize("module", [kernel_module, graph_module], ids=["kernel", "graph"])
def test_model_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 2
    assert result.failed == 0
