"""Quick modes of the attention lessons (nadaraya-watson, graph-attention) and their claims."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from deepnotes import lessons
from deepnotes.lessons.graph_attention import Config as GraphConfig
from deepnotes.lessons.graph_attention import NodeClassifier, stochastic_block_model
from deepnotes.lessons.nadaraya_watson import NWKernelRegression, gaussian_scores


def _run(name, tmp_path, **overrides):
    return lessons.get(name).run(out_dir=tmp_path, quick=True, **overrides)


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


def test_nadaraya_watson_model_is_the_formula():
    x_train = torch.tensor([0.0, 1.0, 3.0])
    y_train = torch.tensor([1.0, 2.0, 5.0])
    model = NWKernelRegression(2.0)
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
    assert len(r.history) == m["epochs"]
    assert all(Path(f).is_file() for f in r.figures) and Path(r.checkpoint).is_file()


def test_graph_model_attends_only_along_edges():
    cfg = GraphConfig(nodes_per_community=10)
    data = stochastic_block_model(cfg, 0)
    n = len(data["y"])
    assert data["train"].sum() == cfg.train_per_class * cfg.communities
    from deepnotes.functional import graph_mask

    keep = graph_mask(data["edges"], n)
    model = NodeClassifier(cfg, "graph").eval()
    logits, weights = model(data["x"], keep, need_weights=True)
    assert logits.shape == (n, cfg.communities) and len(weights) == cfg.layers
    assert weights[0][0][~keep].eq(0).all()
    torch.testing.assert_close(weights[0][0].sum(-1), torch.ones(n))
