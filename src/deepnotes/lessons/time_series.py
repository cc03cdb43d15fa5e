"""Predicting a time series from its previous values; errors pile up when predictions feed back.

Claim (notes B9; d2l 9.1): treating the previous τ values of a series as the features of the next
one (the notes' "viewer count" model, an autoregressive model of order τ) turns forecasting into
ordinary regression. Predicting one step ahead, such a model beats the naive "tomorrow = today"
baseline. Predicting k steps ahead means feeding the model its own predictions in place of the
values not yet seen,

.. math::
    \\hat x_{t+j} = f(\\ldots, \\hat x_{t+j-2}, \\hat x_{t+j-1}), \\quad j = 0, \\ldots, k-1,

so each step's error enters the next step's input and the k-step-ahead error grows with k.

Data: yearly sunspot numbers 1700-2008 from statsmodels (``dataset="co2"``: weekly Mauna Loa
CO2 1958-2001). The first 70% of the years train (1700-1915), the last 30% test (1916-2008);
values are standardised with the training part's mean and standard deviation. Models: a linear
model on the τ previous values solved in closed form (normal equation) and a small MLP trained
with Adam, each compared with the naive last-value forecast for k = 1, 4, 16, 64.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

from deepnotes.data import ArrayDataset
from deepnotes.data.timeseries import chronological_split, lag_features, load_series
from deepnotes.errors import ConfigError
from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.models import create
from deepnotes.models.linear import normal_equation
from deepnotes.nn import MSELoss
from deepnotes.tasks.classification import fit_model
from deepnotes.train.checkpoint import save_model

NAME = "time-series"
SUMMARY = "previous τ values as features: 1-step beats last-value, k-step error grows with k (B9)"
CONCEPTS = ("B9",)

_DEFAULT_TAU = {"sunspots": 10, "co2": 52}


@dataclass
class Config(LessonConfig):
    # quick mode runs the same numbers: the whole lesson takes seconds
    QUICK = {}

    dataset: str = "sunspots"  # sunspots (yearly) | co2 (weekly)
    tau: int | None = None  # previous values used as features (None: 10 for sunspots, 52 for co2)
    test_fraction: float = 0.3  # last share of the series kept for testing
    horizons: tuple[int, ...] = (1, 4, 16, 64)  # k of the k-step-ahead forecasts
    hidden: tuple[int, ...] = (32,)  # MLP hidden widths
    # MLP training; epochs and weight decay were chosen on the last 20% of the training years
    # (1873-1915, 1- and 4-step error), never on the test years
    epochs: int = 20  # MLP epochs
    batch_size: int = 16  # MLP minibatch size
    lr: float = 0.01  # MLP Adam learning rate
    weight_decay: float = 1e-2  # MLP L2 on weights


def k_step_forecast(predict: Callable[[Tensor], Tensor], series: Tensor, targets: Tensor,
                    tau: int, k: int) -> Tensor:
    """Forecast ``series[p]`` for every ``p`` in ``targets`` from values up to ``p - k`` only.

    Starting from the observed window :math:`(x_{p-k-\\tau+1}, \\ldots, x_{p-k})`, the model's
    prediction is appended and the oldest value dropped, ``k`` times; the last prediction is the
    k-step-ahead forecast of :math:`x_p` (k = 1: the ordinary one-step prediction).

    Args:
        predict: maps windows ``(M, τ)`` (oldest first) to next values ``(M,)``.
        series: the whole series ``(T,)``.
        targets: positions ``p`` to forecast, each with ``p - k - τ + 1 >= 0``.
        tau: window length.
        k: steps ahead, ``k >= 1``.

    Returns:
        forecasts ``(M,)`` for the ``M`` targets.

    Notes: B9.
    """
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    if int(targets.min()) - k - tau + 1 < 0:
        raise ConfigError(f"the first target {int(targets.min())} has fewer than k + τ - 1 = "
                          f"{k + tau - 1} values before it")
    offsets = torch.arange(-k - tau + 1, -k + 1)  # (τ,)
    window = series[targets.unsqueeze(1) + offsets]  # (M, τ) observed values only
    for _ in range(k):
        nxt = predict(window)  # (M,)
        # slide: drop the oldest value, append the prediction
        window = torch.cat([window[:, 1:], nxt.unsqueeze(1)], dim=1)  # (M, τ)
    return window[:, -1]


def run(cfg: Config, out_dir: Path) -> LessonResult:
    if cfg.dataset not in _DEFAULT_TAU:
        raise ConfigError(f"dataset must be one of {', '.join(_DEFAULT_TAU)}, got {cfg.dataset!r}")
    tau = cfg.tau if cfg.tau is not None else _DEFAULT_TAU[cfg.dataset]
    time, raw = load_series(cfg.dataset, dtype=torch.float64)
    T = len(raw)
    train_idx, test_idx = chronological_split(T, cfg.test_fraction)
    n_train = len(train_idx)
    if max(cfg.horizons) + tau > n_train:
        raise ConfigError(f"k + τ = {max(cfg.horizons) + tau} exceeds the {n_train} training "
                          f"values; lower the horizons or τ")
    # standardise with the training part only: z = (x - μ_train) / σ_train
    mu, sd = raw[:n_train].mean(), raw[:n_train].std()
    z = (raw - mu) / sd  # (T,)

    # training rows: windows whose target lies in the training part
    X, y = lag_features(z[:n_train], tau)  # (n_train-τ, τ), (n_train-τ,)

    # 1) linear autoregressive model, closed form: ŷ = X w + b
    w, b = normal_equation(X, y)

    def linear(window: Tensor) -> Tensor:
        return window @ w + b

    # 2) a small MLP on the same features
    torch.manual_seed(cfg.seed)
    mlp = create("mlp", in_features=tau, hidden=cfg.hidden, num_classes=1)
    train_ds = ArrayDataset(X.float(), y.float().unsqueeze(1), name=cfg.dataset, task="regression")
    fit = fit_model(mlp, MSELoss(), train_ds, None, optimizer="adam", lr=cfg.lr, epochs=cfg.epochs,
                    batch_size=cfg.batch_size, seed=cfg.seed, weight_decay=cfg.weight_decay,
                    progress=False, device="cpu")
    mlp.eval()

    @torch.no_grad()
    def neural(window: Tensor) -> Tensor:
        return mlp(window.float()).squeeze(1).double()

    # 3) naive baseline: the last observed value, x̂_p = x_{p-k}
    def naive(window: Tensor) -> Tensor:
        return window[:, -1]

    predictors = {"linear": linear, "mlp": neural, "naive": naive}
    metrics: dict[str, float] = {}
    rows = []
    forecasts: dict[tuple[str, int], Tensor] = {}
    truth = z[test_idx]
    for k in cfg.horizons:
        row: dict[str, float] = {"k": k}
        for name, predict in predictors.items():
            pred = k_step_forecast(predict, z, test_idx, tau, k)  # (M,)
            forecasts[name, k] = pred
            mse = float(((pred - truth) ** 2).mean())
            metrics[f"{name}_mse_k{k}"] = mse
            # the same error in the series' own units
            metrics[f"{name}_rmse_k{k}_units"] = mse ** 0.5 * float(sd)
            row[f"{name}_mse"] = mse
        rows.append(row)
    with torch.no_grad():
        metrics["linear_train_mse"] = float(((linear(X) - y) ** 2).mean())
        metrics["mlp_train_mse"] = float(((neural(X) - y) ** 2).mean())
    metrics.update({"tau": float(tau), "train_values": float(n_train),
                    "test_values": float(len(test_idx)),
                    "mlp_train_seconds": float(sum(r["seconds"] for r in fit.history.rows))})

    figures = _plot(out_dir, cfg, time, z, test_idx, forecasts, rows, tau)
    unit = "sunspot number" if cfg.dataset == "sunspots" else "ppm"
    return LessonResult(NAME, metrics, figures, fit.history.rows,
                        claim=(f"{cfg.dataset}, τ = {tau}: the lag-feature linear model beats the "
                               f"last-value forecast one step ahead, and feeding predictions back "
                               f"makes the k-step error grow with k (RMSE in {unit} in the *_units "
                               f"metrics)"),
                        tables={"k_step_mse": rows}, checkpoint=save_model(mlp, out_dir))


def _plot(out_dir: Path, cfg: Config, time: Tensor, z: Tensor, test_idx: Tensor,
          forecasts: dict[tuple[str, int], Tensor], rows: list[dict[str, float]],
          tau: int) -> list[str]:
    fig, axes = subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [2, 1]})
    ax = axes[0]
    ax.plot(time.numpy(), z.numpy(), color="0.6", lw=1, label="observed")
    t_test = time[test_idx].numpy()
    for k, style in zip(cfg.horizons, ("-", "--", "-.", ":")):
        ax.plot(t_test, forecasts["linear", k].numpy(), style, lw=1.2, label=f"linear, {k}-step")
    ax.axvline(float(time[test_idx[0]]), color="k", lw=0.8)
    ax.set_xlabel("year")
    ax.set_ylabel("standardised value")
    ax.set_title(f"{cfg.dataset}: forecasts over the test years (τ = {tau})")
    ax.legend(fontsize=8)
    ax = axes[1]
    ks = [r["k"] for r in rows]
    for name, marker in (("linear", "o-"), ("mlp", "s-"), ("naive", "^:")):
        ax.loglog(ks, [r[f"{name}_mse"] for r in rows], marker, label=name)
    ax.set_xlabel("k (steps ahead)")
    ax.set_ylabel("test MSE (standardised)")
    ax.set_title("k-step-ahead error")
    ax.legend()
    return [save_figure(fig, out_dir / "time_series.png")]
