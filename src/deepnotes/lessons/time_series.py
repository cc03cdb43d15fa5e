"""Predicting a time series from its previous values; errors pile up when predictions feed back.

Claim (notes B9; d2l 9.1): treating the previous τ values of a series as the features of the next
one (the notes' "viewer count" model, an autoregressive model of order τ) turns forecasting into
ordinary regression. Predicting one step ahead, such a model beats the naive "tomorrow = today"
baseline. Predicting k steps ahead means feeding the model its own predictions in place of the
values not yet seen,

.. math::
    \\hat x_{t+j} = f(\\ldots, \\hat x_{t+j-2}, \\hat x_{t+j-1}), \\quad j = 0, \\ldots, k-1,

so each step's error enters the next step's input and the k-step-ahead error grows with k.

A **latent autoregressive model** (notes B9; d2l 9.1) keeps a state instead of a fixed window: a
GRU reads the series one value at a time, :math:`h_t = \\mathrm{GRU}(x_t, h_{t-1})`, and predicts
:math:`\\hat x_{t+1} = W h_t + b` (``rnn-regressor``); its state can summarise the whole past,
not only the last τ values. Forecasting k steps ahead works the same way: the GRU reads the
observed values up to :math:`x_{p-k}`, then its own predictions are fed back as inputs, the
state carried along. Both kinds of model are compared at the same k.

Data: yearly sunspot numbers 1700-2008 from statsmodels (``dataset="co2"``: weekly Mauna Loa
CO2 1958-2001). The first 70% of the years train (1700-1915), the last 30% test (1916-2008);
values are standardised with the training part's mean and standard deviation. Models: a linear
model on the τ previous values solved in closed form (normal equation) and a small MLP trained
with Adam, each compared with the naive last-value forecast for k = 1, 4, 16, 64; and the GRU,
trained with teacher forcing on subsequences of the training years. The GRU's state size and
number of epochs are chosen on the last 20% of the training years (its validation part, scored
by the mean 1- and 4-step error), then it is retrained on all training years with those
settings; the test years are used for nothing but the reported errors.

Notes: B9 (autoregressive model on the previous τ values; latent autoregressive model; k-step
error grows with k).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from deepnotes.data import ArrayDataset
from deepnotes.data.timeseries import chronological_split, lag_features, load_series
from deepnotes.errors import ConfigError
from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.models import create
from deepnotes.models.linear import normal_equation
from deepnotes.nn import MSELoss
from deepnotes.tasks.classification import fit_model
from deepnotes.train.callbacks import Callback
from deepnotes.train.checkpoint import save_model

NAME = "time-series"
SUMMARY = ("previous τ values vs a GRU's latent state: 1-step beats last-value, k-step error "
           "grows with k (B9)")
CONCEPTS = ("B9",)

_DEFAULT_TAU = {"sunspots": 10, "co2": 52}


@dataclass
class Config(LessonConfig):
    # quick mode: one candidate state size and fewer epochs for the GRU (the rest is the same)
    QUICK = {"rnn_hidden": (16,), "rnn_epochs": 25}

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
    # latent autoregressive model (rnn-regressor): state size and epochs chosen in the run on
    # the validation years; lr and weight decay were chosen on them too (weight decay 0 or 1e-2
    # overfit within 10 epochs, validation error rising), never on the test years
    val_fraction: float = 0.2  # last share of the TRAINING years that chooses the GRU's settings
    select_horizons: tuple[int, ...] = (1, 4)  # k whose mean validation MSE is the choice's score
    rnn_cell: str = "gru"  # rnn | gru | lstm
    rnn_hidden: tuple[int, ...] = (8, 16, 32)  # candidate state sizes H
    rnn_epochs: int = 60  # candidate epochs are 1 ... rnn_epochs (validation scored after each)
    rnn_window: int | None = None  # teacher-forcing subsequence length (None: 4τ)
    rnn_burn_in: int | None = None  # first steps of a subsequence left out of the loss (None: τ)
    rnn_batch_size: int = 16  # subsequences per minibatch
    rnn_lr: float = 0.01  # Adam learning rate
    rnn_weight_decay: float = 0.1  # L2 on the GRU's weight matrices


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


@torch.no_grad()
def latent_k_step_forecast(model: nn.Module, series: Tensor, targets: Tensor,
                           horizons: tuple[int, ...]) -> dict[int, Tensor]:
    r"""k-step forecasts of ``series[p]`` for every ``p`` in ``targets`` by a recurrent model.

    The model reads the observed values :math:`x_0, \ldots, x_{p-k}` (one pass over the series,
    keeping the state after every step) and predicts :math:`\hat x_{p-k+1}`; then, ``k - 1``
    times, its own prediction is fed back as the next input with the state carried:

    .. math::
        h_{t} = \mathrm{RNN}(\hat x_{t}, h_{t-1}), \quad \hat x_{t+1} = W h_t + b,
        \qquad t = p-k+1, \ldots, p-1.

    k = 1 is the one-step prediction with the state of the whole observed past.

    Args:
        model: maps inputs ``(B, T, 1)`` and a state (``None``: zeros) to the pair
            (predictions of the next values ``(B, T, 1)``, new state), as ``rnn-regressor``.
        series: the whole series ``(T,)``.
        targets: positions ``p`` to forecast, each with ``p - k >= 0``.
        horizons: the k to forecast at, each ``>= 1``.

    Returns:
        ``{k: forecasts (M,)}`` (float64) for the ``M`` targets.

    Notes: B9.
    """
    if min(horizons) < 1:
        raise ConfigError(f"every k must be at least 1, got {horizons}")
    if int(targets.min()) - max(horizons) < 0:
        raise ConfigError(f"the first target {int(targets.min())} has fewer than k = "
                          f"{max(horizons)} values before it")
    dtype = next(model.parameters()).dtype
    last = int(targets.max()) - min(horizons)
    x = series[: last + 1].to(dtype).view(1, -1, 1)  # (1, T', 1)
    # read the observed series once: the prediction and the state after each x_t
    preds: list[Tensor] = []
    states: list[Tensor | tuple[Tensor, ...]] = []
    state = None
    for t in range(last + 1):
        pred, state = model(x[:, t:t + 1], state)  # (1, 1, 1), (L, 1, H)
        preds.append(pred)
        states.append(state)
    out = {}
    for k in horizons:
        starts = (targets - k).tolist()
        pred = torch.cat([preds[s] for s in starts])  # (M, 1, 1): x̂_{p-k+1}
        if isinstance(states[0], tuple):  # LSTM: (h, c), each (L, M, H)
            state = tuple(torch.cat([states[s][i] for s in starts], dim=1) for i in range(2))
        else:
            state = torch.cat([states[s] for s in starts], dim=1)  # (L, M, H)
        for _ in range(k - 1):
            # feed the prediction back: x̂_{t+1} = f(x̂_t, h_{t-1})
            pred, state = model(pred, state)  # (M, 1, 1)
        out[k] = pred.view(-1).double()  # (M,)
    return out


def _windows(z: Tensor, length: int) -> ArrayDataset:
    """Teacher-forcing pairs: inputs ``z[i : i+W]``, targets ``z[i+1 : i+W+1]``, (N, W, 1)."""
    starts = torch.arange(len(z) - length)  # (N,)
    idx = starts.unsqueeze(1) + torch.arange(length)  # (N, W)
    return ArrayDataset(z[idx].float().unsqueeze(-1), z[idx + 1].float().unsqueeze(-1),
                        name="series windows", task="regression")


class _ValidationScore(Callback):
    """After each epoch: the mean k-step MSE on the validation targets (column ``val_mse``)."""

    def __init__(self, series: Tensor, targets: Tensor, horizons: tuple[int, ...]) -> None:
        self.series, self.targets, self.horizons = series, targets, horizons
        self.scores: list[float] = []

    def on_epoch_end(self, trainer, row) -> None:
        model = trainer.model
        model.eval()
        truth = self.series[self.targets]
        preds = latent_k_step_forecast(model, self.series, self.targets, self.horizons)
        score = sum(float(((p - truth) ** 2).mean()) for p in preds.values()) / len(preds)
        model.train()
        self.scores.append(score)
        row["val_mse"] = score


def _fit_rnn(cfg: Config, z: Tensor, hidden: int, epochs: int, window: int, burn_in: int,
             callbacks: tuple = ()) -> tuple[nn.Module, object]:
    torch.manual_seed(cfg.seed)
    model = create("rnn-regressor", cell=cfg.rnn_cell, hidden=hidden)
    mse = MSELoss()

    def loss(out: tuple[Tensor, Tensor], y: Tensor) -> Tensor:
        # steps after the burn-in only: the state has read some values before it predicts
        return mse(out[0][:, burn_in:], y[:, burn_in:])  # (B, W - burn_in, 1)

    fit = fit_model(model, loss, _windows(z, window), None, optimizer="adam", lr=cfg.rnn_lr,
                    epochs=epochs, batch_size=cfg.rnn_batch_size, seed=cfg.seed,
                    weight_decay=cfg.rnn_weight_decay, progress=False, device="cpu",
                    callbacks=callbacks)
    model.eval()
    return model, fit


def _n_fit(cfg: Config, n_train: int) -> int:
    """Training values before the validation part (the last ``val_fraction`` of them)."""
    return int(round(n_train * (1 - cfg.val_fraction)))


def select_latent_model(cfg: Config, z: Tensor, n_train: int, window: int, burn_in: int
                        ) -> tuple[int, int, list[dict[str, float]]]:
    """Choose the GRU's state size and epochs on the validation part of the training years.

    Each candidate state size trains on the first ``1 - val_fraction`` of the training years;
    after every epoch its mean k-step MSE (k in ``select_horizons``) on the remaining training
    years is recorded. Returns the best ``(hidden, epochs)`` and one row per candidate epoch.
    The test years are never read.
    """
    n_fit = _n_fit(cfg, n_train)
    if n_fit - window < 1 or n_fit >= n_train:
        raise ConfigError(f"val_fraction {cfg.val_fraction} and window {window} leave no "
                          f"training subsequences in the {n_train} training values")
    seen = z[:n_train]  # the validation targets' inputs are training values only
    val_targets = torch.arange(n_fit, n_train)
    rows = []
    for hidden in cfg.rnn_hidden:
        score = _ValidationScore(seen, val_targets, tuple(cfg.select_horizons))
        _fit_rnn(cfg, z[:n_fit], hidden, cfg.rnn_epochs, window, burn_in, callbacks=(score,))
        rows += [{"hidden": hidden, "epochs": e + 1, "val_mse": v}
                 for e, v in enumerate(score.scores)]
    best = min(rows, key=lambda r: r["val_mse"])
    return int(best["hidden"]), int(best["epochs"]), rows


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

    # 4) latent autoregressive model: a GRU's state h_t in place of the window (settings
    # chosen on the validation part of the training years, then retrained on all of them)
    window = cfg.rnn_window if cfg.rnn_window is not None else 4 * tau
    burn_in = cfg.rnn_burn_in if cfg.rnn_burn_in is not None else tau
    if not 0 <= burn_in < window:
        raise ConfigError(f"rnn_burn_in must be in [0, window = {window}), got {burn_in}")
    hidden, rnn_epochs, selection = select_latent_model(cfg, z, n_train, window, burn_in)
    rnn, rnn_fit = _fit_rnn(cfg, z[:n_train], hidden, rnn_epochs, window, burn_in)
    latent = latent_k_step_forecast(rnn, z, test_idx, tuple(cfg.horizons))

    predictors = {"linear": linear, "mlp": neural, "naive": naive}
    metrics: dict[str, float] = {}
    rows = []
    forecasts: dict[tuple[str, int], Tensor] = {}
    truth = z[test_idx]
    for k in cfg.horizons:
        row: dict[str, float] = {"k": k}
        for name, predict in [*predictors.items(), ("latent_rnn", None)]:
            pred = latent[k] if predict is None else k_step_forecast(predict, z, test_idx, tau, k)
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
        train_one_step = rnn(z[:n_train - 1].float().view(1, -1, 1))[0].view(-1).double()
        metrics["latent_rnn_train_mse"] = float(((train_one_step - z[1:n_train]) ** 2).mean())
    best_val = min(r["val_mse"] for r in selection)
    # the linear model under the same protocol: fit before the validation years, scored on them
    n_fit = _n_fit(cfg, n_train)
    w_fit, b_fit = normal_equation(*lag_features(z[:n_fit], tau))
    val_targets = torch.arange(n_fit, n_train)
    metrics["linear_val_mse"] = sum(
        float(((k_step_forecast(lambda win: win @ w_fit + b_fit, z[:n_train], val_targets, tau, k)
                - z[val_targets]) ** 2).mean()) for k in cfg.select_horizons
    ) / len(cfg.select_horizons)
    metrics.update({"latent_rnn_hidden": float(hidden), "latent_rnn_epochs": float(rnn_epochs),
                    "latent_rnn_window": float(window), "latent_rnn_val_mse": best_val,
                    "latent_rnn_train_seconds": float(sum(r["seconds"]
                                                          for r in rnn_fit.history.rows))})
    metrics.update({"tau": float(tau), "train_values": float(n_train),
                    "test_values": float(len(test_idx)),
                    "mlp_train_seconds": float(sum(r["seconds"] for r in fit.history.rows))})

    figures = _plot(out_dir, cfg, time, z, test_idx, forecasts, rows, tau)
    figures.append(_plot_latent(out_dir, cfg, time, z, test_idx, forecasts, selection, hidden,
                                rnn_epochs))
    unit = "sunspot number" if cfg.dataset == "sunspots" else "ppm"
    return LessonResult(NAME, metrics, figures, fit.history.rows,
                        claim=(f"{cfg.dataset}, τ = {tau}: the lag-feature linear model beats the "
                               f"last-value forecast one step ahead, and feeding predictions back "
                               f"makes the k-step error grow with k (RMSE in {unit} in the *_units "
                               f"metrics); a GRU's latent state (H = {hidden}, chosen on the "
                               f"validation years) in place of the window, fed its own "
                               f"predictions, has errors that grow with k too"),
                        tables={"k_step_mse": rows, "latent_rnn_selection": selection},
                        checkpoint=save_model(mlp, out_dir))


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
    for name, marker in (("linear", "o-"), ("mlp", "s-"), ("latent_rnn", "D-"),
                         ("naive", "^:")):
        ax.loglog(ks, [r[f"{name}_mse"] for r in rows], marker, label=name)
    ax.set_xlabel("k (steps ahead)")
    ax.set_ylabel("test MSE (standardised)")
    ax.set_title("k-step-ahead error")
    ax.legend()
    return [save_figure(fig, out_dir / "time_series.png")]


def _plot_latent(out_dir: Path, cfg: Config, time: Tensor, z: Tensor, test_idx: Tensor,
                 forecasts: dict[tuple[str, int], Tensor], selection: list[dict[str, float]],
                 hidden: int, epochs: int) -> str:
    fig, axes = subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [2, 1]})
    ax = axes[0]
    ax.plot(time.numpy(), z.numpy(), color="0.6", lw=1, label="observed")
    t_test = time[test_idx].numpy()
    for k, style in zip(cfg.horizons, ("-", "--", "-.", ":")):
        ax.plot(t_test, forecasts["latent_rnn", k].numpy(), style, lw=1.2,
                label=f"{cfg.rnn_cell.upper()}, {k}-step")
    ax.axvline(float(time[test_idx[0]]), color="k", lw=0.8)
    ax.set_xlabel("year")
    ax.set_ylabel("standardised value")
    ax.set_title(f"latent autoregressive model (H = {hidden}): forecasts over the test years")
    ax.legend(fontsize=8)
    ax = axes[1]
    for h in cfg.rnn_hidden:
        rows = [r for r in selection if r["hidden"] == h]
        ax.semilogy([r["epochs"] for r in rows], [r["val_mse"] for r in rows], label=f"H = {h}")
    ax.axvline(epochs, color="k", lw=0.8, ls=":")
    ax.set_xlabel("epochs")
    ax.set_ylabel(f"validation MSE (mean of k = {', '.join(map(str, cfg.select_horizons))})")
    ax.set_title("choice on the validation years")
    ax.legend()
    return save_figure(fig, out_dir / "time_series_latent.png")
