"""GaussianMixtureImputer: conditional means under the mixture fitted to incomplete data.

Oracles: the conditional Gaussian written out row by row (``_brute_force``), least-squares
regression on complete data (one component), moments of many posterior draws, and
scikit-learn's estimator checks.
"""

import pickle

import numpy as np
import pytest
from _brute_force import brute_force_marginals
from conftest import COVARIANCE_TYPES, hide_cells
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from sklearn.base import clone
from sklearn.linear_model import LinearRegression
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_em import GaussianMixtureEM, GaussianMixtureImputer, GaussianMixtureSelector

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def _data(seed=0, n_per=60, d=4):
    rng = np.random.RandomState(seed)
    A = np.eye(d) + 0.6 * rng.randn(d, d)
    return np.vstack([rng.randn(n_per, d) @ A + 5.0 * j for j in range(3)])


@parametrize_with_checks([GaussianMixtureImputer(GaussianMixtureEM(2, random_state=0))])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_conditional_means_match_brute_force(covariance_type):
    X = hide_cells(_data(), 0.2, seed=1)
    imp = GaussianMixtureImputer(
        GaussianMixtureEM(3, covariance_type=covariance_type, random_state=0)
    ).fit(X)
    est = imp.estimator_
    Z = hide_cells(_data(seed=4, n_per=10), 0.4, seed=2)
    log_prob, filled, _ = brute_force_marginals(
        Z, covariance_type, est.weights_, est.means_, est.covariances_
    )
    resp = np.exp(log_prob - logsumexp(log_prob, axis=1)[:, None])
    expected = np.einsum("nk,nkd->nd", resp, filled)
    out = imp.transform(Z)
    observed = ~np.isnan(Z)
    assert_array_equal(out[observed], Z[observed])  # bit for bit
    assert_allclose(out, expected, rtol=1e-9, atol=1e-9)


def test_one_component_is_least_squares_regression():
    """One Gaussian fitted (ML, no reg_covar) on complete data: E[x_m | x_o] is the OLS
    regression of the missing columns on the observed ones, fitted on the same data."""
    rng = np.random.RandomState(0)
    X = rng.randn(300, 5) @ (np.eye(5) + 0.7 * rng.randn(5, 5)) + [1e3, -2.0, 0.0, 5.0, 7.0]
    imp = GaussianMixtureImputer(GaussianMixtureEM(1, reg_covar=0.0)).fit(X)
    Z = rng.randn(20, 5) + X.mean(axis=0)
    patterns = [[1], [0, 3], [2, 3, 4], [0, 1, 2, 3]]
    for missing in patterns:
        observed = [j for j in range(5) if j not in missing]
        Zm = Z.copy()
        Zm[:, missing] = np.nan
        reg = LinearRegression().fit(X[:, observed], X[:, missing])
        assert_allclose(imp.transform(Zm)[:, missing], reg.predict(Z[:, observed]), rtol=1e-9)


def test_sample_posterior_draws_from_the_conditional_gaussian():
    rng = np.random.RandomState(1)
    cov = np.array([[1.0, 0.8, 0.3], [0.8, 2.0, -0.4], [0.3, -0.4, 1.5]])
    X = rng.multivariate_normal([0.0, 1.0, -1.0], cov, size=400)
    imp = GaussianMixtureImputer(GaussianMixtureEM(1), sample_posterior=True, random_state=0).fit(X)
    mu, S = imp.estimator_.means_[0], imp.estimator_.covariances_[0]
    row = np.array([0.7, np.nan, np.nan])
    draws = imp.transform(np.tile(row, (40000, 1)))
    assert_array_equal(draws[:, 0], 0.7)
    A = S[1:, :1] @ np.linalg.inv(S[:1, :1])
    cond_mean = mu[1:] + A @ (row[:1] - mu[:1])
    cond_cov = S[1:, 1:] - A @ S[:1, 1:]
    se = np.sqrt(np.diag(cond_cov) / draws.shape[0])
    assert np.all(np.abs(draws[:, 1:].mean(axis=0) - cond_mean) < 5 * se)
    assert_allclose(np.cov(draws[:, 1:].T), cond_cov, rtol=0.05, atol=0.02)
    # a seed gives the same draws; the conditional mean is what the default returns
    again = clone(imp).fit(X).transform(np.tile(row, (40000, 1)))
    assert_array_equal(again, draws)
    mean = imp.set_params(sample_posterior=False).transform(row[None])
    assert_allclose(mean[0, 1:], cond_mean, rtol=1e-10)


def test_default_estimator_is_a_selector_fitted_on_incomplete_data():
    X = hide_cells(_data(), 0.15, seed=3)
    imp = GaussianMixtureImputer(random_state=0).fit(X)
    assert isinstance(imp.estimator_, GaussianMixtureSelector)
    assert imp.estimator_.best_params_["n_components"] == 3
    assert not np.isnan(imp.transform(X)).any()
    # scikit-learn's four types, seeded by the imputer: the same fit as that selector's
    assert set(imp.estimator_.results_["covariance_type"]) == {"full", "tied", "diag", "spherical"}
    selector = GaussianMixtureSelector(covariance_type="sklearn", random_state=0).fit(X)
    assert_array_equal(imp.estimator_.best_estimator_.means_, selector.best_estimator_.means_)


def test_pipeline_clone_pickle_feature_names_and_pandas_output():
    pd = pytest.importorskip("pandas")
    X = hide_cells(_data(), 0.2, seed=5)
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    imp = GaussianMixtureImputer(GaussianMixtureEM(3, random_state=0))
    imp.set_output(transform="pandas")
    out = imp.fit_transform(df)
    assert list(out.columns) == ["a", "b", "c", "d"]
    assert_array_equal(imp.get_feature_names_out(), ["a", "b", "c", "d"])
    assert_array_equal(pickle.loads(pickle.dumps(imp)).transform(df).to_numpy(), out.to_numpy())
    twin = clone(imp)
    assert twin.get_params()["estimator"] is not imp.estimator
    assert_array_equal(twin.fit_transform(df).to_numpy(), out.to_numpy())
    pipe = make_pipeline(
        GaussianMixtureImputer(GaussianMixtureEM(3, random_state=0)), StandardScaler()
    )
    Xt = pipe.fit_transform(X)
    assert_allclose(Xt.mean(axis=0), 0.0, atol=1e-12)


def test_estimator_must_be_ours():
    X = hide_cells(_data(), 0.2)
    expected = "^estimator must be a GaussianMixtureEM or a GaussianMixtureSelector, got Gauss"
    with pytest.raises(TypeError, match=expected):
        GaussianMixtureImputer(GaussianMixture(2)).fit(X)


@pytest.mark.parametrize("covariance_type", ["full", "VEV", "spherical"])
def test_rows_without_observed_cells_get_the_mixture(covariance_type):
    # (they were an error: one column could not be imputed at all, nor a ColumnTransformer's
    # rows empty in its columns, as scikit-learn's imputers do)
    X = hide_cells(_data(), 0.2)
    Xe = X.copy()
    Xe[[3, 11]] = np.nan
    imp = GaussianMixtureImputer(
        GaussianMixtureEM(2, covariance_type=covariance_type, random_state=0)
    )
    imp.fit(Xe)
    # they tell the fit nothing: it is the fit without them
    alone = GaussianMixtureEM(2, covariance_type=covariance_type, random_state=0)
    alone.fit(np.delete(Xe, [3, 11], axis=0))
    assert_array_equal(imp.estimator_.means_, alone.means_)
    # their conditional mean given nothing is the mixture's mean; the other rows are filled
    # as they are without them
    out = imp.transform(Xe)
    mixture_mean = alone.weights_ @ alone.means_
    assert_allclose(out[[3, 11]], np.tile(mixture_mean, (2, 1)), rtol=1e-14)
    keep = np.delete(np.arange(len(Xe)), [3, 11])
    assert_array_equal(out[keep], imp.transform(Xe[keep]))
    # draws: the mixture's mean and covariance (within 5 standard errors over 20,000 rows)
    empty = np.full((20_000, Xe.shape[1]), np.nan)
    draws = GaussianMixtureImputer(alone, sample_posterior=True, random_state=0)
    draws.estimator_, draws.random_state_ = alone, np.random.RandomState(0)
    draws.n_features_in_ = Xe.shape[1]
    sample = draws.transform(empty)
    model = alone._model()
    full = model.kernel.expand(model.covariance_matrices(), *alone.means_.shape)
    cov = np.einsum("k,kij->ij", alone.weights_, full)
    cov += np.cov((alone.means_ - mixture_mean).T, aweights=alone.weights_, bias=True)
    se = np.sqrt(np.diag(cov) / len(sample))
    assert np.all(np.abs(sample.mean(axis=0) - mixture_mean) < 5 * se)
    assert_allclose(np.cov(sample.T), cov, rtol=0.05, atol=0.05 * np.abs(cov).max())


def test_one_column_is_imputed():
    X = [[1.0], [np.nan], [3.0], [4.0]]
    out = GaussianMixtureImputer(GaussianMixtureEM(1)).fit_transform(X)
    assert_allclose(out.ravel(), [1.0, 8.0 / 3.0, 3.0, 4.0], rtol=1e-14)


def test_fit_needs_two_rows_with_an_observed_cell():
    X = np.array([[1.0, 2.0], [np.nan, np.nan], [np.nan, np.nan]])
    with pytest.raises(ValueError, match="needs at least 2 rows with an observed cell"):
        GaussianMixtureImputer(GaussianMixtureEM(1)).fit(X)
