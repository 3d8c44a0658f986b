"""Tests of sklearn_em.datasets: the loader against the shipped file read independently,
and against the published summary of R's ``faithful``."""

from importlib import resources

import numpy as np
import pytest
from sklearn.utils import Bunch

from sklearn_em.datasets import load_faithful


def csv_by_numpy():
    path = resources.files("sklearn_em").joinpath("data", "old_faithful.csv")
    with resources.as_file(path) as p:
        return np.genfromtxt(p, delimiter=",", skip_header=1)


def test_bunch_holds_the_shipped_file():
    faithful = load_faithful()
    assert isinstance(faithful, Bunch)
    np.testing.assert_array_equal(faithful.data, csv_by_numpy())
    assert faithful.data.shape == (272, 2) and faithful.data.dtype == np.float64
    assert faithful.feature_names == ["eruptions", "waiting"]
    assert faithful.frame is None and faithful.filename == "old_faithful.csv"
    assert "Old Faithful" in faithful.DESCR and "Azzalini" in faithful.DESCR


def test_matches_r_faithful_summary():
    # R: summary(faithful); mean eruptions 3.488, waiting 70.9; min/max 1.6/5.1 and 43/96
    X = load_faithful().data
    np.testing.assert_allclose(X.mean(axis=0), [3.487783, 70.897059], atol=5e-7)
    np.testing.assert_array_equal(X.min(axis=0), [1.6, 43])
    np.testing.assert_array_equal(X.max(axis=0), [5.1, 96])


def test_as_frame_and_return_x_y():
    pd = pytest.importorskip("pandas")
    faithful = load_faithful(as_frame=True)
    assert isinstance(faithful.data, pd.DataFrame) and faithful.frame is faithful.data
    assert list(faithful.data.columns) == ["eruptions", "waiting"]
    np.testing.assert_array_equal(faithful.data.to_numpy(), csv_by_numpy())
    X, y = load_faithful(return_X_y=True)
    assert y is None and isinstance(X, np.ndarray) and X.shape == (272, 2)
    X, y = load_faithful(as_frame=True, return_X_y=True)
    assert y is None and isinstance(X, pd.DataFrame)


def test_as_frame_without_pandas_names_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"load_faithful\(as_frame=True\) needs pandas"):
        load_faithful(as_frame=True)
