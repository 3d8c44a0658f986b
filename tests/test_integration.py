"""GaussianMixtureEM inside scikit-learn's machinery: pipelines, grid search, clone, pickle,
and sampling from the fitted model.

Oracles: the same workflow run with scikit-learn's GaussianMixture, the same steps done by
hand, and (for sampling) a chi-square test and scikit-learn's own sampler.
"""

import pickle

import numpy as np
import pytest
from conftest import ATTRIBUTES, COVARIANCE_TYPES
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import chisquare
from sklearn.base import clone
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_em import GaussianMixtureEM

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def _blobs(seed=0):
    """Three unequal clusters on very different feature scales (so scaling matters)."""
    rng = np.random.RandomState(seed)
    X = np.vstack(
        [
            rng.randn(30, 2) * [1.0, 0.5] + [0.0, 0.0],
            rng.randn(50, 2) * [0.6, 0.8] + [4.0, 2.0],
            rng.randn(70, 2) @ [[1.0, 0.4], [0.0, 0.7]] + [-1.0, 5.0],
        ]
    )
    return X * [1000.0, 0.01] + [5e4, -3.0]


X = _blobs()


# ----------------------------------------------------------------------------- pipeline
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_pipeline_equals_steps_by_hand(covariance_type):
    pipe = make_pipeline(
        StandardScaler(), GaussianMixtureEM(3, covariance_type=covariance_type, random_state=0)
    ).fit(X)
    X_new = _blobs(seed=1)[::7]
    scaler = StandardScaler().fit(X)
    by_hand = GaussianMixtureEM(3, covariance_type=covariance_type, random_state=0).fit(
        scaler.transform(X)
    )
    gmm = pipe[-1]
    for name in ATTRIBUTES:
        assert_array_equal(getattr(gmm, name), getattr(by_hand, name), err_msg=name)
    assert_array_equal(pipe.predict(X_new), by_hand.predict(scaler.transform(X_new)))
    assert_array_equal(pipe.predict_proba(X_new), by_hand.predict_proba(scaler.transform(X_new)))
    assert_array_equal(pipe.score_samples(X_new), by_hand.score_samples(scaler.transform(X_new)))
    assert pipe.score(X_new) == by_hand.score(scaler.transform(X_new))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_pipeline_matches_sklearn_pipeline(covariance_type):
    ours = make_pipeline(
        StandardScaler(), GaussianMixtureEM(3, covariance_type=covariance_type, random_state=0)
    ).fit(X)
    ref = make_pipeline(
        StandardScaler(), GaussianMixture(3, covariance_type=covariance_type, random_state=0)
    ).fit(X)
    X_new = _blobs(seed=2)[::5]
    assert_array_equal(ours.predict(X_new), ref.predict(X_new))
    assert_allclose(ours.score_samples(X_new), ref.score_samples(X_new), rtol=1e-7)
    assert_allclose(ours.score(X_new), ref.score(X_new), rtol=1e-7)
    assert_allclose(ours[-1].means_, ref[-1].means_, rtol=1e-7, atol=1e-10)


# ----------------------------------------------------------------------------- grid search
def test_grid_search_matches_sklearn():
    grid = {
        "gaussianmixtureem__n_components": [1, 2, 3, 4, 5, 6],
        "gaussianmixtureem__covariance_type": COVARIANCE_TYPES,
    }
    cv = KFold(3, shuffle=True, random_state=0)
    ours = GridSearchCV(
        make_pipeline(StandardScaler(), GaussianMixtureEM(random_state=0)), grid, cv=cv
    ).fit(X)
    ref = GridSearchCV(
        make_pipeline(StandardScaler(), GaussianMixture(random_state=0)),
        {k.replace("gaussianmixtureem", "gaussianmixture"): v for k, v in grid.items()},
        cv=cv,
    ).fit(X)
    assert len(ours.cv_results_["params"]) == 24
    for name in ("mean_test_score", "std_test_score"):
        assert np.all(np.isfinite(ours.cv_results_[name]))
        assert_allclose(ours.cv_results_[name], ref.cv_results_[name], rtol=1e-6, err_msg=name)
    # (ranks are not compared: with n_components=1, 'full' and 'tied' are the same model
    # and their exact tie is broken by rounding)
    assert {k.split("__")[1]: v for k, v in ours.best_params_.items()} == {
        k.split("__")[1]: v for k, v in ref.best_params_.items()
    }
    # the refit best model is the one the grid chose
    best = ours.best_estimator_[-1]
    assert best.n_components == ours.best_params_["gaussianmixtureem__n_components"]
    assert_allclose(ours.score(X), ref.score(X), rtol=1e-7)


# ----------------------------------------------------------------------------- clone and pickle
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_clone_refits_identically(covariance_type):
    est = GaussianMixtureEM(3, covariance_type=covariance_type, random_state=0, n_init=2).fit(X)
    twin = clone(est)
    assert not hasattr(twin, "means_")
    assert twin.get_params() == est.get_params()
    twin.fit(X)
    for name in ATTRIBUTES:
        assert_array_equal(getattr(twin, name), getattr(est, name), err_msg=name)
    assert_array_equal(twin.predict(X), est.predict(X))
    assert_array_equal(twin.predict_proba(X), est.predict_proba(X))
    assert_array_equal(twin.score_samples(X), est.score_samples(X))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pickle_round_trip(covariance_type, dtype):
    Xd = StandardScaler().fit_transform(X).astype(dtype)
    est = GaussianMixtureEM(3, covariance_type=covariance_type, random_state=4).fit(Xd)
    restored = pickle.loads(pickle.dumps(est))
    for name in ATTRIBUTES:
        assert getattr(restored, name).dtype == dtype
        assert_array_equal(getattr(restored, name), getattr(est, name), err_msg=name)
    assert restored.lower_bounds_ == est.lower_bounds_
    assert_array_equal(restored.predict(Xd), est.predict(Xd))
    assert_array_equal(restored.predict_proba(Xd), est.predict_proba(Xd))
    assert_array_equal(restored.score_samples(Xd), est.score_samples(Xd))
    assert restored.bic(Xd) == est.bic(Xd)
    # an int random_state: sampling is reproducible, and the same after the round trip
    assert_array_equal(restored.sample(20)[0], est.sample(20)[0])


# ----------------------------------------------------------------------------- sample
def _model(covariance_type):
    # unequal clusters, so the weights are unequal (about 0.2, 0.33, 0.47)
    return GaussianMixtureEM(3, covariance_type=covariance_type, random_state=12345).fit(
        StandardScaler().fit_transform(X)
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_counts_follow_weights(covariance_type):
    est = _model(covariance_type)
    assert np.ptp(est.weights_) > 0.1, "weights must differ for the test to have power"
    n = 3000
    Xs, y = est.sample(n)
    assert Xs.shape == (n, 2) and y.shape == (n,)
    assert np.all(np.diff(y) >= 0), "rows come grouped by component"
    counts = np.bincount(y, minlength=3)
    result = chisquare(counts, est.weights_ * n)
    assert result.pvalue > 1e-3, (counts, est.weights_ * n, result)
    # the rows of component j are draws from N(means_[j], Sigma_j): their mean lies
    # within 5 standard errors of means_[j]
    cov = {
        "full": lambda j: est.covariances_[j],
        "tied": lambda j: est.covariances_,
        "diag": lambda j: np.diag(est.covariances_[j]),
        "spherical": lambda j: est.covariances_[j] * np.eye(2),
    }[covariance_type]
    for j in range(3):
        rows = Xs[y == j]
        se = np.sqrt(np.diag(cov(j)) / len(rows))
        assert np.all(np.abs(rows.mean(axis=0) - est.means_[j]) < 5 * se), j


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_same_draws_as_sklearn(covariance_type):
    est = _model(covariance_type)
    ref = GaussianMixture(3, covariance_type=covariance_type, random_state=est.random_state)
    ref._set_parameters((est.weights_, est.means_, est.covariances_, est.precisions_cholesky_))
    ref.n_features_in_ = 2
    ref.converged_, ref.n_iter_, ref.lower_bound_ = est.converged_, est.n_iter_, est.lower_bound_
    for n in (1, 7, 500):
        X_ours, y_ours = est.sample(n)
        X_ref, y_ref = ref.sample(n)
        assert_array_equal(y_ours, y_ref)
        assert_allclose(X_ours, X_ref, rtol=1e-12, atol=1e-12)
