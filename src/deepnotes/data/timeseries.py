"""Real time series that ship with statsmodels, and their "previous τ values as features" view.

Two series, read from the statsmodels package (no download):

- ``"sunspots"``: yearly mean sunspot number, 1700-2008 (309 values, about 11-year cycles).
- ``"co2"``: weekly atmospheric CO2 at Mauna Loa in ppm, March 1958 - December 2001 (2,284
  weeks). 59 weeks are missing in the source; we fill them by **linear interpolation** between
  the nearest recorded weeks (the longest gap is 27 weeks in 1964), so the series stays on an
  even weekly grid, which lag features need (dropping weeks would make "τ steps back" mean
  different spans of time).

A series becomes a regression problem by using its previous τ values as the features of the next
one (notes B9, d2l 9.1, an autoregressive model of order τ):

.. math::
    x_t \\approx f(x_{t-\\tau}, \\ldots, x_{t-1}), \\qquad
    X_{i} = (x_i, \\ldots, x_{i+\\tau-1}),\\ y_i = x_{i+\\tau}, \\quad i = 0, \\ldots, T-\\tau-1

Train and test are split **by time** (the first part trains, the last part tests, nothing is
shuffled across the boundary), so the model is always judged on a future it has not seen.

Example:
    >>> x = torch.arange(6.0)
    >>> X, y = lag_features(x, tau=2)
    >>> X.tolist(), y.tolist()
    ([[0.0, 1.0], [1.0, 2.0], [2.0, 3.0], [3.0, 4.0]], [2.0, 3.0, 4.0, 5.0])
    >>> [idx.tolist() for idx in chronological_split(5, test_fraction=0.4)]
    [[0, 1, 2], [3, 4]]

Notes: B9 (time-series prediction with the previous days as features).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import Tensor

from deepnotes.data.datasets import ArrayDataset
from deepnotes.errors import ConfigError, DataMissingError, ShapeError

__all__ = [
    "SERIES", "chronological_split", "lag_features", "load_co2", "load_series", "load_sunspots",
]

SERIES = ("sunspots", "co2")
SPLITS = ("train", "test", "all")
HOW_TO_GET = "`pip install statsmodels` (it ships these series)"
TEST_FRACTION = 0.2


def _statsmodels_frame(name: str) -> Any:
    """The pandas frame statsmodels ships for ``name`` (imported lazily: it is optional)."""
    try:
        if name == "sunspots":
            from statsmodels.datasets import sunspots as module
        else:
            from statsmodels.datasets import co2 as module
    except ImportError as exc:
        raise DataMissingError(
            f"the {name} series ships with statsmodels, which is not installed; "
            f"run `pip install statsmodels`"
        ) from exc
    return module.load_pandas().data


def _decimal_years(index: Any) -> np.ndarray:
    """Dates as decimal years, e.g. 1958-07-02 -> 1958.5 (day of year / days in year)."""
    years = index.year.to_numpy().astype(np.float64)
    days = np.where(index.is_leap_year, 366.0, 365.0)
    return years + (index.day_of_year.to_numpy() - 1) / days


def load_series(name: str, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """The whole series ``name`` as ``(time, values)``.

    Args:
        name: ``"sunspots"`` (yearly) or ``"co2"`` (weekly; missing weeks linearly interpolated).
        dtype: dtype of ``values`` (``time`` is always float64 decimal years).

    Returns:
        ``time`` of shape ``(T,)`` in decimal years and ``values`` of shape ``(T,)``.

    Raises:
        ConfigError: unknown series name.
        DataMissingError: statsmodels is not installed (the message gives the pip command).

    Example:
        >>> t, x = load_series("sunspots")
        >>> x.shape, t[0].item(), x[0].item()
        (torch.Size([309]), 1700.0, 5.0)

    Notes: B9.
    """
    if name not in SERIES:
        raise ConfigError(f"unknown time series {name!r}; choose one of {', '.join(SERIES)}")
    frame = _statsmodels_frame(name)
    if name == "sunspots":
        time = frame["YEAR"].to_numpy(dtype=np.float64)
        values = frame["SUNACTIVITY"].to_numpy(dtype=np.float64)
    else:
        # missing weeks: straight line between the nearest recorded weeks on either side
        filled = frame["co2"].interpolate(method="linear", limit_direction="both")
        time = _decimal_years(frame.index)
        values = filled.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():  # the shipped data has none left after filling
        raise DataMissingError(f"the {name} series from statsmodels has missing values we could "
                               f"not fill; reinstall it with "
                               f"`pip install --force-reinstall statsmodels`")
    return torch.from_numpy(time.copy()), torch.from_numpy(values.copy()).to(dtype)


def lag_features(series: Tensor, tau: int) -> tuple[Tensor, Tensor]:
    """The previous ``tau`` values as features of the next one (d2l 9.1).

    .. math::
        X_{i,j} = x_{i+j},\\quad y_i = x_{i+\\tau}, \\qquad 0 \\le i < T-\\tau,\\ 0 \\le j < \\tau

    Args:
        series: the values :math:`x_0, \\ldots, x_{T-1}`, shape ``(T,)``.
        tau: how many past values form the features, ``1 <= tau < T``.

    Returns:
        ``(X, y)`` with ``X`` of shape ``(T - tau, tau)`` (oldest value first) and ``y`` of
        shape ``(T - tau,)``; row ``i`` predicts :math:`x_{i+\\tau}`.

    Example:
        >>> X, y = lag_features(torch.tensor([1.0, 2.0, 4.0, 8.0]), tau=3)
        >>> X.tolist(), y.tolist()
        ([[1.0, 2.0, 4.0]], [8.0])

    Notes: B9.
    """
    if series.dim() != 1:
        raise ShapeError(f"lag_features expects a 1-D series (T,), got shape {tuple(series.shape)}")
    T = series.shape[0]
    if isinstance(tau, bool) or not isinstance(tau, int) or not 1 <= tau < T:
        raise ConfigError(f"tau must be an integer with 1 <= tau < T = {T}, got {tau!r}")
    # column j holds x_{i+j} for every row i: a sliding window of length τ
    X = series.unfold(0, tau, 1)[: T - tau].clone()  # (T-τ, τ)
    y = series[tau:].clone()  # (T-τ,)
    return X, y


def chronological_split(n: int, test_fraction: float = TEST_FRACTION) -> tuple[Tensor, Tensor]:
    """Indices of a split by time: the first examples train, the last ``test_fraction`` test.

    Nothing is shuffled, so every test example comes after every training example.

    Args:
        n: number of time-ordered examples.
        test_fraction: share of the examples (rounded, at least 1) kept for the test part.

    Returns:
        ``(train_idx, test_idx)``, increasing int64 ranges ``[0, n - m)`` and ``[n - m, n)``.

    Example:
        >>> [idx.tolist() for idx in chronological_split(10, test_fraction=0.3)]
        [[0, 1, 2, 3, 4, 5, 6], [7, 8, 9]]

    Notes: B9, G3.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ConfigError(f"a chronological split needs an integer n >= 2, got {n!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction!r}")
    m = min(max(1, round(n * test_fraction)), n - 1)
    return torch.arange(n - m), torch.arange(n - m, n)


def _load(name: str, split: str, root: str | os.PathLike | None, tau: int | None,
          test_fraction: float, limit: int | None) -> ArrayDataset:
    if split not in SPLITS:
        raise ConfigError(f"{name} split must be one of {SPLITS}, got {split!r}")
    if root is not None:
        raise ConfigError(f"{name} ships with statsmodels and reads no files; drop root={root!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"limit must be a positive integer or None, got {limit!r}")
    time, values = load_series(name, dtype=torch.float32)
    if tau is None:
        x, y, when = time.to(torch.float32).unsqueeze(1), values, time  # (T, 1), (T,)
    else:
        x, y = lag_features(values, tau)  # (T-τ, τ), (T-τ,)
        when = time[tau:]  # the time of each target
    if split != "all":
        train_idx, test_idx = chronological_split(len(y), test_fraction)
        idx = train_idx if split == "train" else test_idx
        x, y, when = x[idx], y[idx], when[idx]
    if limit is not None:
        x, y, when = x[:limit], y[:limit], when[:limit]
    meta = {"time": when, "tau": tau, "test_fraction": test_fraction,
            "frequency": "yearly" if name == "sunspots" else "weekly"}
    return ArrayDataset(x, y, name=name, task="regression", split=split, meta=meta)


def load_sunspots(split: str = "all", root: str | os.PathLike | None = None, tau: int | None = None,
                  test_fraction: float = TEST_FRACTION, limit: int | None = None) -> ArrayDataset:
    """Yearly sunspot numbers 1700-2008 as a regression dataset (statsmodels ``sunspots``).

    Without ``tau``: ``x`` is the year ``(N, 1)`` and ``y`` the sunspot number ``(N,)``. With
    ``tau``: ``x`` holds the previous ``tau`` years' numbers ``(N, tau)`` (:func:`lag_features`)
    and ``y`` the next year's. ``"train"``/``"test"`` split the rows by time
    (:func:`chronological_split`); ``meta["time"]`` is the year of each ``y``.

    Args:
        split: ``"train"``, ``"test"`` (the last ``test_fraction``) or ``"all"``.
        root: must be None (the data ships with statsmodels).
        tau: number of past values used as features (``None``: the year itself).
        test_fraction: share of rows in the test split.
        limit: keep only the first ``limit`` rows of the split.

    Example:
        >>> ds = load_sunspots("test", tau=10)
        >>> ds.x.shape, int(ds.meta["time"][-1])
        (torch.Size([60, 10]), 2008)

    Notes: B9.
    """
    return _load("sunspots", split, root, tau, test_fraction, limit)


def load_co2(split: str = "all", root: str | os.PathLike | None = None, tau: int | None = None,
             test_fraction: float = TEST_FRACTION, limit: int | None = None) -> ArrayDataset:
    """Weekly Mauna Loa CO2 (ppm) 1958-2001 as a regression dataset (statsmodels ``co2``).

    The 59 missing weeks are filled by linear interpolation. Arguments and layout as in
    :func:`load_sunspots` (``meta["time"]`` in decimal years).

    Example:
        >>> load_co2("all").y.shape
        torch.Size([2284])

    Notes: B9.
    """
    return _load("co2", split, root, tau, test_fraction, limit)
