"""Time series from statsmodels, lag features and the chronological split (notes B9)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deepnotes.data.timeseries import (
    chronological_split,
    lag_features,
    load_co2,
    load_series,
    load_sunspots,
)
from deepnotes.errors import ConfigError, DataMissingError, ShapeError


def _lag_reference(x: torch.Tensor, tau: int) -> tuple[torch.Tensor, torch.Tensor]:
    # d2l 9.1 written as its loop: features[:, i] = x[i : T - tau + i]
    T = len(x)
    features = torch.zeros((T - tau, tau), dtype=x.dtype)
    for i in range(tau):
        features[:, i] = x[i: T - tau + i]
    return features, x[tau:]


@settings(max_examples=40, deadline=None)
@given(T=st.integers(2, 40), data=st.data())
def test_lag_features_match_the_d2l_loop(T, data):
    tau = data.draw(st.integers(1, T - 1))
    x = torch.randn(T, dtype=torch.float64, generator=torch.Generator().manual_seed(T * 100 + tau))
    X, y = lag_features(x, tau)
    X_ref, y_ref = _lag_reference(x, tau)
    assert X.shape == (T - tau, tau) and y.shape == (T - tau,)
    torch.testing.assert_close(X, X_ref, rtol=0, atol=0)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=0)
    # the features own their memory: editing them leaves the series alone
    X[0, 0] = 1e9
    assert x[0] != 1e9


def test_lag_features_reject_bad_arguments():
    x = torch.arange(5.0)
    for tau in (0, 5, 7, 2.0, True):
        with pytest.raises(ConfigError, match="tau"):
            lag_features(x, tau)
    with pytest.raises(ShapeError, match="1-D"):
        lag_features(torch.zeros(4, 2), 1)


@pytest.mark.parametrize("n,frac", [(10, 0.3), (2, 0.5), (309, 0.2), (7, 0.01), (7, 0.99)])
def test_chronological_split_keeps_time_order(n, frac):
    train, test = chronological_split(n, frac)
    assert len(train) >= 1 and len(test) >= 1
    assert torch.equal(torch.cat([train, test]), torch.arange(n))  # disjoint, complete, in order
    assert int(train.max()) < int(test.min())  # nothing from the future trains
    if 0.1 <= frac <= 0.9:
        assert len(test) == round(n * frac)


def test_chronological_split_rejects_bad_arguments():
    with pytest.raises(ConfigError, match="n >= 2"):
        chronological_split(1)
    for frac in (0.0, 1.0, -0.2):
        with pytest.raises(ConfigError, match="test_fraction"):
            chronological_split(10, frac)


def test_sunspots_series_is_the_yearly_record():
    t, x = load_series("sunspots")
    assert x.dtype == torch.float32 and t.dtype == torch.float64
    assert x.shape == t.shape == (309,)
    assert torch.equal(t, torch.arange(1700.0, 2009.0, dtype=torch.float64))
    assert x[:5].tolist() == [5.0, 11.0, 16.0, 23.0, 36.0]  # the first years of the record
    assert bool((x >= 0).all()) and torch.isfinite(x).all()


def test_co2_gaps_are_filled_by_linear_interpolation():
    from statsmodels.datasets import co2

    raw = co2.load_pandas().data["co2"].to_numpy(dtype=np.float64)
    missing = np.isnan(raw)
    assert missing.sum() == 59  # what the shipped data holds
    t, x = load_series("co2", dtype=torch.float64)
    assert x.shape == t.shape == (2284,) and torch.isfinite(x).all()
    pos = np.arange(len(raw))
    expected = np.interp(pos, pos[~missing], raw[~missing])  # straight line over each gap
    np.testing.assert_allclose(x.numpy(), expected, rtol=0, atol=1e-12)
    assert np.array_equal(x.numpy()[~missing], raw[~missing])
    # weekly grid in decimal years, starting 1958-03-29
    steps = torch.diff(t)
    assert float(steps.min()) > 6.9 / 366 and float(steps.max()) < 7.1 / 365
    assert t[0].item() == pytest.approx(1958 + 87 / 365)


def test_series_loaders_say_how_to_install_statsmodels(monkeypatch):
    for mod in ("statsmodels", "statsmodels.datasets", "statsmodels.datasets.sunspots",
                "statsmodels.datasets.co2"):
        monkeypatch.setitem(sys.modules, mod, None)  # import now fails as if not installed
    for name in ("sunspots", "co2"):
        with pytest.raises(DataMissingError, match="pip install statsmodels"):
            load_series(name)
    with pytest.raises(DataMissingError, match="pip install statsmodels"):
        load_sunspots("train", tau=3)


def test_unknown_series_name():
    with pytest.raises(ConfigError, match="sunspots, co2"):
        load_series("sunspot")


def test_lagged_dataset_splits_by_time():
    tau = 10
    whole = load_sunspots("all", tau=tau)
    train, test = load_sunspots("train", tau=tau), load_sunspots("test", tau=tau)
    assert whole.task == "regression" and whole.x.shape == (299, tau)
    assert len(train) + len(test) == len(whole) and len(test) == 60
    torch.testing.assert_close(torch.cat([train.x, test.x]), whole.x, rtol=0, atol=0)
    torch.testing.assert_close(torch.cat([train.y, test.y]), whole.y, rtol=0, atol=0)
    assert float(train.meta["time"].max()) < float(test.meta["time"].min())
    assert test.meta["time"][-1].item() == 2008.0
    # each row's features are the τ values just before its target
    _, values = load_series("sunspots")
    years = whole.meta["time"].long() - 1700
    for i in (0, 57, 298):
        assert torch.equal(whole.x[i], values[years[i] - tau: years[i]])
        assert whole.y[i] == values[years[i]]


def test_unlagged_dataset_is_value_against_time():
    ds = load_co2("test")
    assert ds.x.shape == (457, 1) and ds.y.shape == (457,)
    assert ds.meta["frequency"] == "weekly"
    assert ds.x[0, 0].item() > 1992.0  # the test part is the last fifth of 1958-2001
    assert len(load_sunspots("train", limit=5)) == 5


def test_dataset_loaders_reject_bad_arguments(tmp_path):
    with pytest.raises(ConfigError, match="split"):
        load_sunspots("valid")
    with pytest.raises(ConfigError, match="root"):
        load_co2("train", root=tmp_path)
    with pytest.raises(ConfigError, match="limit"):
        load_sunspots("train", limit=0)
