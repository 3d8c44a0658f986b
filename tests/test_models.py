"""The covariance-model table: names, aliases, parameter counts (against R mclust), storage."""

import re

import numpy as np
import pytest
from conftest import ATTRIBUTES, COVARIANCE_TYPES
from numpy.testing import assert_array_equal
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_em import GaussianMixtureEM
from sklearn_em._covariance import KERNELS
from sklearn_em._models import (
    COVARIANCE_NAMES,
    MODEL_NAMES,
    SKLEARN_NAMES,
    CovarianceModel,
    get_model,
)

pytestmark = pytest.mark.usefixtures("one_blas_thread")

ALIASES = {"full": "VVV", "tied": "EEE", "diag": "VVI", "spherical": "VII"}

# R 4.x, mclust 6.0.0: nMclustParams(model, d, G) as (d, G, count), printed by
#   for (m in models) for (d in c(1, 2, 5)) for (G in c(1, 3)) nMclustParams(m, d, G)
MCLUST_N_PARAMS = {
    "EII": [(1, 1, 2), (1, 3, 6), (2, 1, 3), (2, 3, 9), (5, 1, 6), (5, 3, 18)],
    "VII": [(1, 1, 2), (1, 3, 8), (2, 1, 3), (2, 3, 11), (5, 1, 6), (5, 3, 20)],
    "EEI": [(1, 1, 2), (1, 3, 6), (2, 1, 4), (2, 3, 10), (5, 1, 10), (5, 3, 22)],
    "VEI": [(1, 1, 2), (1, 3, 8), (2, 1, 4), (2, 3, 12), (5, 1, 10), (5, 3, 24)],
    "EVI": [(1, 1, 2), (1, 3, 6), (2, 1, 4), (2, 3, 12), (5, 1, 10), (5, 3, 30)],
    "VVI": [(1, 1, 2), (1, 3, 8), (2, 1, 4), (2, 3, 14), (5, 1, 10), (5, 3, 32)],
    "EEE": [(1, 1, 2), (1, 3, 6), (2, 1, 5), (2, 3, 11), (5, 1, 20), (5, 3, 32)],
    "VEE": [(1, 1, 2), (1, 3, 8), (2, 1, 5), (2, 3, 13), (5, 1, 20), (5, 3, 34)],
    "EVE": [(1, 1, 2), (1, 3, 6), (2, 1, 5), (2, 3, 13), (5, 1, 20), (5, 3, 40)],
    "VVE": [(1, 1, 2), (1, 3, 8), (2, 1, 5), (2, 3, 15), (5, 1, 20), (5, 3, 42)],
    "EEV": [(1, 1, 2), (1, 3, 6), (2, 1, 5), (2, 3, 13), (5, 1, 20), (5, 3, 52)],
    "VEV": [(1, 1, 2), (1, 3, 8), (2, 1, 5), (2, 3, 15), (5, 1, 20), (5, 3, 54)],
    "EVV": [(1, 1, 2), (1, 3, 6), (2, 1, 5), (2, 3, 15), (5, 1, 20), (5, 3, 60)],
    "VVV": [(1, 1, 2), (1, 3, 8), (2, 1, 5), (2, 3, 17), (5, 1, 20), (5, 3, 62)],
}


def _blobs(seed=0, n_per=40, d=3):
    rng = np.random.RandomState(seed)
    centres = np.array([[0.0, 0.0, 0.0], [4.0, 1.0, -1.0], [-1.0, 5.0, 2.0]])[:, :d]
    return np.vstack([c + s * rng.randn(n_per, d) for c, s in zip(centres, (1.0, 0.5, 0.8))])


def test_aliases_name_the_same_rows():
    for alias, name in ALIASES.items():
        assert get_model(alias) is get_model(name)
        assert get_model(name).name == name and get_model(name).alias == alias
        assert get_model(get_model(name)) is get_model(name)
    assert set(MODEL_NAMES) == set(MCLUST_N_PARAMS)
    assert list(SKLEARN_NAMES) == COVARIANCE_TYPES
    assert set(COVARIANCE_NAMES) == set(ALIASES) | set(MCLUST_N_PARAMS)


@pytest.mark.parametrize("name", ["EEX", "vvv", "", None, 3])
def test_unknown_model_names_are_refused(name):
    with pytest.raises(
        ValueError, match=re.escape(f"Unknown covariance_type {name!r}; expected one of")
    ):
        get_model(name)


def test_rows_are_checked():
    with pytest.raises(ValueError, match="A model name is three letters out of E, V, I; got 'VVX'"):
        CovarianceModel("VVX", "full", "full", get_model("VVV").estimate)
    with pytest.raises(ValueError, match="Unknown kernel 'banded' for model VVV"):
        CovarianceModel("VVV", "banded", "full", get_model("VVV").estimate)
    with pytest.raises(
        ValueError,
        match="Model EEE reads 'full' statistics but its kernel 'tied' produces 'pooled'",
    ):
        CovarianceModel("EEE", "tied", "full", get_model("EEE").estimate)


@pytest.mark.parametrize("name", sorted(MCLUST_N_PARAMS))
def test_parameter_counts_equal_mclust(name):
    for d, k, expected in MCLUST_N_PARAMS[name]:
        assert get_model(name).n_parameters(k, d) == expected, (name, d, k)


@pytest.mark.parametrize("alias", COVARIANCE_TYPES)
def test_mclust_name_fits_exactly_as_its_alias(alias):
    X = _blobs()
    a = GaussianMixtureEM(3, covariance_type=alias, random_state=0).fit(X)
    b = GaussianMixtureEM(3, covariance_type=ALIASES[alias], random_state=0).fit(X)
    for attr in ATTRIBUTES:
        assert_array_equal(getattr(b, attr), getattr(a, attr))
        assert getattr(b, attr).shape == getattr(a, attr).shape
    assert b.lower_bound_ == a.lower_bound_ and b.n_iter_ == a.n_iter_
    assert b.bic(X) == a.bic(X) and b._n_parameters() == a._n_parameters()
    assert_array_equal(b.predict_proba(X), a.predict_proba(X))
    model = get_model(alias)
    assert a.covariances_.shape == model.storage_shape(3, X.shape[1])
    assert a.precisions_cholesky_.shape == model.storage_shape(3, X.shape[1])


@pytest.mark.parametrize("name", ["VVV", "EEE", "VVI", "VII"])
def test_precisions_init_shape_follows_the_model(name):
    X = _blobs()
    shape = get_model(name).storage_shape(3, 3)
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"The parameter '{name} precision' should have the shape of {shape}, but got (2,)"
        ),
    ):
        GaussianMixtureEM(3, covariance_type=name, precisions_init=np.ones(2)).fit(X)


def test_estimator_refuses_models_not_in_the_table():
    with pytest.raises(
        InvalidParameterError, match="The 'covariance_type' parameter of GaussianMixtureEM must be"
    ):
        GaussianMixtureEM(2, covariance_type="EEX").fit(_blobs())


def test_kernel_storage_and_expansion():
    rng = np.random.RandomState(0)
    k, d = 3, 4
    A = rng.randn(k, d, d)
    covs = {
        "full": A @ A.transpose(0, 2, 1) + np.eye(d),
        "tied": A[0] @ A[0].T + np.eye(d),
        "diag": rng.uniform(0.5, 2, size=(k, d)),
        "spherical": rng.uniform(0.5, 2, size=k),
    }
    for name, kernel in KERNELS.items():
        cov = covs[name]
        assert cov.shape == kernel.storage_shape(k, d)
        full = np.asarray(kernel.expand(cov, k, d))
        for j in range(k):
            expected = {
                "full": lambda: cov[j],
                "tied": lambda: cov,
                "diag": lambda: np.diag(cov[j]),
                "spherical": lambda: cov[j] * np.eye(d),
            }[name]()
            assert_array_equal(full[j], expected)
