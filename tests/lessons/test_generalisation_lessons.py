"""Quick runs of the overfitting, sigmoid-sum, time-series and batch-size lessons: claims hold.

Notes: G1, G2 (overfitting; optimisation vs bias), B5 (sum of sigmoids), B9 (time series),
O2 (batch size).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from deepnotes import lessons
from deepnotes.lessons.overfitting import embed_shallow
from deepnotes.lessons.time_series import k_step_forecast, latent_k_step_forecast
from deepnotes.models import create


def _run(name, tmp_path, **overrides):
    return lessons.get(name).run(out_dir=tmp_path, quick=True, **overrides)


def _figures_exist(result):
    assert result.figures and all(Path(f).is_file() and Path(f).stat().st_size > 0
                                  for f in result.figures)


def test_overfitting_flexible_fit_and_deep_plain_net(tmp_path):
    r = _run("overfitting", tmp_path)
    m = r.metrics
    # G1: degree 9 through 10 points: training error ~0, test error far above the right model's
    assert m["flexible_train_mse"] < 1e-12
    assert m["right_degree_train_mse"] > 1e-4  # the quadratic cannot follow the noise
    assert m["flexible_test_mse"] > 5 * m["right_degree_test_mse"]
    assert m["right_degree_test_mse"] < 2 * m["noise_variance"]  # close to the noise floor
    train = [row["train_mse"] for row in r.tables["polynomial_degrees"]]
    assert all(b <= a * (1 + 1e-9) + 1e-20 for a, b in zip(train, train[1:]))  # nested models
    # G2: the deeper plain net has the higher TRAINING loss ...
    assert m["deep_train_loss"] > 1.1 * m["shallow_train_loss"]
    # ... although it can represent the shallow net exactly (so it is optimisation, not bias)
    assert m["deep_with_shallow_inside_train_loss"] == pytest.approx(m["shallow_train_loss"],
                                                                     rel=1e-5)
    assert (tmp_path / "checkpoint.safetensors").is_file()
    assert (m["depth_train_images"], m["depth_epochs"]) == (2000, 5)  # Config.QUICK
    _figures_exist(r)


def test_embedding_a_shallow_net_keeps_its_function():
    torch.manual_seed(0)
    shallow = create("mlp", in_features=5, hidden=(7, 7), num_classes=3)
    deep = create("mlp", in_features=5, hidden=(7,) * 6, num_classes=3)
    x = torch.randn(11, 5)
    before = deep(x)
    embed_shallow(shallow, deep)
    torch.testing.assert_close(deep(x), shallow(x), rtol=0, atol=0)
    assert not torch.allclose(before, deep(x))


def test_sigmoid_sum_error_falls_with_more_pieces(tmp_path):
    r = _run("sigmoid-sum", tmp_path)
    m = r.metrics
    rows = r.tables["pieces"]
    for target in ("piecewise-linear", "smooth"):
        for kind in ("sigmoid", "hard"):
            errs = [row["mse"] for row in rows if row["target"] == target and row["kind"] == kind]
            assert len(errs) == 6
            assert all(b < a for a, b in zip(errs, errs[1:])), (target, kind, errs)
            # small at the largest n: under 0.1% of the curve's variance
            assert errs[-1] < 1e-3 * m[f"{target}_variance"], (target, kind, errs)
            assert errs[0] > 100 * errs[-1]
    _figures_exist(r)


def test_hard_sigmoid_pieces_are_two_relus():
    from deepnotes.functional import hard_sigmoid
    from deepnotes.lessons.sigmoid_sum import pieces

    x = torch.linspace(-1, 2, 301, dtype=torch.float64)
    b = torch.tensor([0.0, -1.0, 0.5], dtype=torch.float64)
    w = torch.tensor([1.0, 3.0, -2.0], dtype=torch.float64)
    got = pieces(x, b, w, "hard")
    want = torch.stack([hard_sigmoid(x, b=b[i], w=w[i]) for i in range(3)], dim=1)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-15)
    torch.testing.assert_close(pieces(x, b, w, "sigmoid"), torch.sigmoid(b + w * x.unsqueeze(1)))


def test_time_series_one_step_beats_naive_and_error_grows_with_k(tmp_path):
    r = _run("time-series", tmp_path)
    m = r.metrics
    assert m["linear_mse_k1"] < 0.6 * m["naive_mse_k1"]
    assert m["mlp_mse_k1"] < m["naive_mse_k1"]
    ks = [row["k"] for row in r.tables["k_step_mse"]]
    assert ks == [1, 4, 16, 64]
    lin = [m[f"linear_mse_k{k}"] for k in ks]
    assert all(b > a for a, b in zip(lin, lin[1:])), lin
    assert all(math.isfinite(v) for v in m.values())
    # B9, latent autoregressive model: the GRU's state fed its own predictions errs more with k
    latent = [m[f"latent_rnn_mse_k{k}"] for k in ks]
    assert all(b > a for a, b in zip(latent, latent[1:])), latent
    assert m["latent_rnn_mse_k1"] < m["naive_mse_k1"]
    assert m["latent_rnn_mse_k1"] < 2 * m["linear_mse_k1"]  # 0.39-0.45 vs 0.278, seeds 0-3
    # settings chosen on the validation years: one row per candidate epoch, the best one kept
    sel = r.tables["latent_rnn_selection"]
    assert len(sel) == 25 and {row["hidden"] for row in sel} == {16}  # Config.QUICK
    best = min(sel, key=lambda row: row["val_mse"])
    assert (m["latent_rnn_hidden"], m["latent_rnn_epochs"]) == (best["hidden"], best["epochs"])
    assert m["latent_rnn_val_mse"] == best["val_mse"] and m["linear_val_mse"] > 0
    _figures_exist(r)
    assert len(r.figures) == 2


def test_k_step_forecast_feeds_predictions_back():
    series = torch.arange(20, dtype=torch.float64)
    targets = torch.tensor([10, 15, 19])

    def persist(window):  # "tomorrow = today": k steps later still the last observed value
        return window[:, -1]

    def trend(window):  # continues a straight line exactly
        return 2 * window[:, -1] - window[:, -2]

    for k in (1, 3, 7):
        torch.testing.assert_close(k_step_forecast(persist, series, targets, 3, k),
                                   (targets - k).double())
        torch.testing.assert_close(k_step_forecast(trend, series, targets, 3, k), targets.double())
    # one step of a fixed linear rule on the observed window
    w = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    got = k_step_forecast(lambda win: win @ w, series, targets, 3, 1)
    want = torch.stack([series[t - 3:t] @ w for t in targets])
    torch.testing.assert_close(got, want)


class _Counter(torch.nn.Module):
    """Predicts "the input plus one"; its state counts the steps it has read."""

    def __init__(self):
        super().__init__()
        self.one = torch.nn.Parameter(torch.ones((), dtype=torch.float64))

    def forward(self, x, state=None):
        B = x.shape[0]
        state = torch.zeros(1, B, 1, dtype=x.dtype) if state is None else state
        return x + self.one, state + x.shape[1]


def test_latent_k_step_forecast_feeds_predictions_back_with_the_state():
    series = torch.arange(30, dtype=torch.float64) ** 2
    targets = torch.tensor([12, 20, 29])
    # x̂_{p-k+1} = x_{p-k} + 1 from the observed value, then +1 per fed-back step
    got = latent_k_step_forecast(_Counter(), series, targets, (1, 3, 7))
    for k in (1, 3, 7):
        torch.testing.assert_close(got[k], series[targets - k] + k)
    # a real GRU: the one-step forecast is its prediction after reading the whole prefix, and
    # the 3-step one continues from that state on its own outputs
    torch.manual_seed(0)
    gru = create("rnn-regressor", hidden=6).double().eval()
    z = torch.randn(30, dtype=torch.float64)
    got = latent_k_step_forecast(gru, z, targets, (1, 3))
    with torch.no_grad():
        for i, p in enumerate(targets.tolist()):
            pred, h = gru(z[:p].view(1, -1, 1))
            torch.testing.assert_close(got[1][i], pred[0, -1, 0])
            pred, h = gru(z[:p - 2].view(1, -1, 1))
            nxt = pred[:, -1:]
            for _ in range(2):
                nxt, h = gru(nxt, h)
            torch.testing.assert_close(got[3][i], nxt[0, 0, 0])


def test_batch_size_small_batches_generalise_better_large_batches_end_sharper(tmp_path):
    r = _run("batch-size", tmp_path)
    m = r.metrics
    assert m["small_batch_test_accuracy"] >= m["large_batch_test_accuracy"]
    assert m["small_batch_test_accuracy"] > 0.5  # it really learnt (chance is 0.1)
    assert m["small_batch_updates"] > m["large_batch_updates"]
    timing = r.tables["timing"]
    sizes = [row["batch_size"] for row in timing]
    assert sizes == sorted(sizes) and len(sizes) >= 3
    updates = [row["updates_per_epoch"] for row in timing]
    assert all(b < a for a, b in zip(updates, updates[1:]))  # bigger batch, fewer updates per epoch
    assert all(row["seconds_per_update"] > 0 and row["timed_updates"] >= 3 for row in timing)
    # equal updates (not epochs): both made exactly as many SGD steps, then sharpness measured
    assert m["equal_updates_small_updates"] == m["equal_updates_large_updates"] == 100
    assert m["equal_updates_large_examples_seen"] == 4 * m["equal_updates_small_examples_seen"]
    for label in ("small", "large"):
        for key in ("top_hessian_eigenvalue", "perturbation_sharpness", "train_loss"):
            v = m[f"equal_updates_{label}_{key}"]
            assert math.isfinite(v) and v > 0, (label, key, v)
        assert m[f"equal_updates_{label}_test_accuracy"] > 0.5
    # the large batch ends at the sharper point (2.4x and 2.8x on seeds 0 and 1)
    assert (m["equal_updates_large_top_hessian_eigenvalue"]
            > 1.5 * m["equal_updates_small_top_hessian_eigenvalue"])
    rows = r.tables["sharpness"]
    assert len(rows) == 10 and all(row["loss_increase"] > 0 for row in rows)
    assert (tmp_path / "checkpoint.safetensors").is_file()
    _figures_exist(r)
