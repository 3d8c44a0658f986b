"""Fixtures and constants shared by the test modules."""

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import sklearn
from hypothesis import settings
from packaging.version import Version
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from sklearn_em import DegenerateComponentWarning

# In CI (CI=true) every property test draws the same examples on every run, so that a
# submission's result does not depend on the luck of the draw; locally they are random, to
# keep finding new cases (pin what they find with @example).
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

# scikit-learn's covariance types (aliases of the mclust models VVV, EEE, VVI, VII)
COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
INIT_PARAMS = ["kmeans", "k-means++", "random", "random_from_data", "hc"]
# the fitted arrays of a model, as scikit-learn names them
ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")
# scikit-learn 1.7 added GaussianMixture's every-iteration bounds (``lower_bounds_``) and fits
# float32 data in float32; the oldest version pyproject.toml declares (1.6, tested by
# .ci/minimum) has only the last bound and fits in float64
SKLEARN_1_7 = Version(sklearn.__version__).release >= (1, 7)


@pytest.fixture(scope="module")
def one_blas_thread():
    """BLAS on one thread for a whole module (OpenMP, used by k-means, untouched).

    The problems in the tests are tiny: BLAS threads only add synchronisation cost (many
    times the work itself when the machine is busy). Numbers do not depend on this.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def one_thread():
    """BLAS and OpenMP on one thread for a whole module.

    Dozens of tiny fits (2 x 2 factors): threads only add contention, which on a busy
    2-core machine slows them by an order of magnitude (measured 15x). Where a test compares
    against scikit-learn or the CLI, both sides run under the same limit (k-means and BLAS
    results can depend on the thread count in the last bits).
    """
    with threadpool_limits(limits=1):
        yield


def quiet_fit(model, X, *, degenerate=False, **kw):
    """``model.fit(X, **kw)`` without ConvergenceWarning (and DegenerateComponentWarning
    if ``degenerate``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if degenerate:
            warnings.simplefilter("ignore", DegenerateComponentWarning)
        return model.fit(X, **kw)


def hide_cells(X, fraction, seed=0):
    """X with about ``fraction`` of its cells set to NaN at random (seeded), every row
    keeping at least one observed cell."""
    rng = np.random.RandomState(seed)
    mask = rng.rand(*X.shape) < fraction
    mask[np.arange(X.shape[0]), rng.randint(0, X.shape[1], X.shape[0])] = False
    Xm = np.array(X, dtype=float, copy=True)
    Xm[mask] = np.nan
    return Xm


def isotropic_precisions(covariance_type, k, d, precision):
    """``precisions_init`` of k components with the same isotropic ``precision``, shaped as
    scikit-learn shapes it for ``covariance_type``."""
    return {
        "full": np.tile(np.eye(d) * precision, (k, 1, 1)),
        "tied": np.eye(d) * precision,
        "diag": np.full((k, d), precision),
        "spherical": np.full(k, precision),
    }[covariance_type]


MCLUST_GPCM = Path(__file__).parent / "fixtures" / "mclust" / "mclust_gpcm.json"


@pytest.fixture(scope="module")
def mclust():
    """R mclust 6.0's numbers for its 14 models (fixtures/mclust/mclust_gpcm.json)."""
    return json.loads(MCLUST_GPCM.read_text())


def mclust_start(mclust, table, k):
    """A fixture table and mclust's starting responsibilities on it (softened hc partition)."""
    entry = mclust["tables"][table]
    X = np.array(entry["X"], dtype=float)
    labels = np.array(entry["labels"][str(k)]) - 1
    a = mclust["soften"]
    return X, (1 - a) * np.eye(k)[labels] + a / k
