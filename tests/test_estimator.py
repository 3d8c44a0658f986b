"""GaussianMixtureEM as a scikit-learn estimator: the common checks, bad input, and the API.

Oracles: scikit-learn's own estimator checks, exact equivalences (the same fit reached by two
routes), and scikit-learn's GaussianMixture where a behaviour is meant to be the same.

Expected failures of ``parametrize_with_checks``: none. (``check_array_api_input`` skips
itself unless SCIPY_ARRAY_API=1 is set in the environment; that is scikit-learn's own skip.)
"""

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import ATTRIBUTES, COVARIANCE_TYPES, INIT_PARAMS, SKLEARN_1_7, quiet_fit
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.mixture import GaussianMixture
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_em import GaussianMixtureEM

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def _blobs(seed=0, n_per=30, d=2):
    rng = np.random.RandomState(seed)
    centres = np.array([[0.0, 0.0, 0.0], [4.0, 1.0, -1.0], [-1.0, 5.0, 2.0]])[:, :d]
    scales = np.array([1.0, 0.5, 0.8])
    return np.vstack([c + s * rng.randn(n_per, d) for c, s in zip(centres, scales)])


X = _blobs()


def _fixed_init(covariance_type, k=3, d=2):
    """A user-given starting model: same start for every route being compared."""
    rng = np.random.RandomState(5)
    means = rng.uniform(-1.0, 5.0, size=(k, d))
    precisions = {
        "full": np.array([np.eye(d) * (j + 1) + 0.1 * np.ones((d, d)) for j in range(k)]),
        "tied": np.eye(d) + 0.2 * np.ones((d, d)),
        "diag": rng.uniform(0.5, 2.0, size=(k, d)),
        "spherical": rng.uniform(0.5, 2.0, size=k),
    }[covariance_type]
    return dict(
        weights_init=np.array([0.2, 0.3, 0.5]), means_init=means, precisions_init=precisions
    )


def _assert_same_model(a, b, rtol=0.0, atol=0.0):
    for name in ATTRIBUTES:
        assert_allclose(getattr(a, name), getattr(b, name), rtol=rtol, atol=atol, err_msg=name)


# ----------------------------------------------------------------------------- common checks
@parametrize_with_checks([GaussianMixtureEM()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ----------------------------------------------------------------------------- bad input
def _with(value, row=3, col=1):
    Xb = X.copy()
    Xb[row, col] = value
    return Xb


def _with_empty_row(row=3):
    Xb = X.copy()
    Xb[row] = np.nan
    return Xb


@pytest.mark.parametrize(
    "Xbad, match",
    [
        (_with(np.inf), "Input X contains infinity"),
        (_with(-np.inf), "Input X contains infinity"),
        # NaN is a missing cell (tests/test_missing.py); a row of nothing but NaN is not data
        (
            _with_empty_row(),
            r"1 row\(s\) of X have no observed value \(every cell is NaN\): rows 3\.",
        ),
    ],
    ids=["inf", "-inf", "all-nan-row"],
)
def test_fit_rejects_non_finite(Xbad, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixtureEM().fit(Xbad)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score"])
def test_inference_rejects_rows_without_observed_cells(method):
    est = GaussianMixtureEM(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match=r"1 row\(s\) of X have no observed value"):
        getattr(est, method)(_with_empty_row())
    with pytest.raises(ValueError, match="Input X contains infinity"):
        getattr(est, method)(_with(np.inf))


def test_fit_rejects_1d():
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        GaussianMixtureEM().fit(X[:, 0])


@pytest.mark.parametrize(
    "shape, match",
    [((0, 2), r"Found array with 0 sample\(s\)"), ((5, 0), r"Found array with 0 feature\(s\)")],
)
def test_fit_rejects_empty(shape, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixtureEM().fit(np.empty(shape))


def test_fit_rejects_3d():
    with pytest.raises(ValueError, match="Found array with dim 3"):
        GaussianMixtureEM().fit(X.reshape(X.shape[0], 2, 1))


def test_fit_rejects_more_components_than_samples():
    with pytest.raises(
        ValueError,
        match="Expected n_samples >= n_components but got n_components = 6, n_samples = 5",
    ):
        GaussianMixtureEM(n_components=6).fit(X[:5])
    # the boundary is allowed
    assert GaussianMixtureEM(n_components=5, random_state=0).fit(X[:5]).means_.shape == (5, 2)


@pytest.mark.parametrize(
    "method, args",
    [
        ("predict", (X,)),
        ("predict_proba", (X,)),
        ("score_samples", (X,)),
        ("score", (X,)),
        ("bic", (X,)),
        ("aic", (X,)),
        ("sample", (3,)),
    ],
)
def test_not_fitted(method, args):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        getattr(GaussianMixtureEM(), method)(*args)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score", "bic"])
def test_inference_rejects_other_feature_count(method):
    est = GaussianMixtureEM(2, random_state=0).fit(X)
    X3 = np.hstack([X, X[:, :1]])
    with pytest.raises(ValueError, match="X has 3 features, but GaussianMixtureEM is expecting 2"):
        getattr(est, method)(X3)


def _sklearn_error(**params):
    """The message scikit-learn's GaussianMixture raises for these parameters on X."""
    with pytest.raises(ValueError) as info:
        GaussianMixture(**params).fit(X)
    return str(info.value)


_BAD_INITIAL_PARAMETERS = {
    "weights-short": dict(n_components=3, weights_init=[0.5, 0.5]),
    "weights-2d": dict(n_components=3, weights_init=[[0.2, 0.3, 0.5]]),
    "weights-sum<1": dict(n_components=3, weights_init=[0.2, 0.2, 0.2]),
    "weights-sum>1": dict(n_components=3, weights_init=[0.5, 0.5, 0.5]),
    "weights-negative": dict(n_components=3, weights_init=[-0.2, 0.7, 0.5]),
    "weights-above-one": dict(n_components=3, weights_init=[1.5, -0.25, -0.25]),
    "weights-nan": dict(n_components=3, weights_init=[np.nan, 0.5, 0.5]),
    "weights-text": dict(n_components=3, weights_init=["a", "b", "c"]),
    "means-components": dict(n_components=3, means_init=np.zeros((2, 2))),
    "means-features": dict(n_components=3, means_init=np.zeros((3, 3))),
    "means-1d": dict(n_components=3, means_init=np.zeros(6)),
    "means-inf": dict(n_components=3, means_init=np.full((3, 2), np.inf)),
    **{
        f"precisions-shape-{t}-{shape}": dict(
            n_components=3, covariance_type=t, precisions_init=np.ones(shape)
        )
        for t, shape in [
            ("full", (3, 2)),
            ("full", (2, 2, 2)),
            ("tied", (3, 2, 2)),
            ("diag", (3,)),
            ("spherical", (3, 2)),
        ]
    },
    **{
        f"precisions-{t}-{i}": dict(n_components=3, covariance_type=t, precisions_init=np.array(p))
        for i, (t, p) in enumerate(
            [
                ("full", [np.eye(2), np.diag([1.0, -1.0]), np.eye(2)]),  # indefinite
                ("full", [np.eye(2), np.eye(2), np.zeros((2, 2))]),  # singular
                ("full", [[[1.0, 0.5], [0.0, 1.0]], np.eye(2), np.eye(2)]),  # not symmetric
                ("tied", [[1.0, 2.0], [2.0, 1.0]]),  # indefinite
                ("diag", [[1.0, 1.0], [1.0, -1.0], [1.0, 1.0]]),  # negative
                ("diag", [[1.0, 1.0], [1.0, 1.0], [0.0, 1.0]]),  # zero
                ("spherical", [1.0, -2.0, 1.0]),
                ("spherical", [0.0, 1.0, 1.0]),
            ]
        )
    },
}


@pytest.mark.parametrize("case", sorted(_BAD_INITIAL_PARAMETERS))
def test_bad_initial_parameters_raise_sklearn_messages(case):
    # code that matches on scikit-learn's messages keeps working: the oracle is sklearn itself
    params = _BAD_INITIAL_PARAMETERS[case]
    expected = _sklearn_error(**params)
    with pytest.raises(ValueError) as info:
        GaussianMixtureEM(**params).fit(X)
    assert str(info.value) == expected


def test_sample_rejects_non_positive_count():
    est = GaussianMixtureEM(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="Invalid value for 'n_samples': 0"):
        est.sample(0)


@pytest.mark.parametrize(
    "param, value", [("n_components", 0), ("covariance_type", "banana"), ("tol", -1.0)]
)
def test_invalid_hyperparameters(param, value):
    with pytest.raises(ValueError, match=f"The '{param}' parameter of GaussianMixtureEM must be"):
        GaussianMixtureEM(**{param: value}).fit(X)


# ----------------------------------------------------------------------------- inputs untouched
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_params", INIT_PARAMS)
@pytest.mark.parametrize("dtype, order", [(np.float64, "C"), (np.float32, "F")])
def test_fit_does_not_modify_input(covariance_type, init_params, dtype, order):
    Xd = np.array(X, dtype=dtype, order=order)
    before = Xd.copy()
    est = quiet_fit(
        GaussianMixtureEM(
            3, covariance_type=covariance_type, init_params=init_params, random_state=0
        ),
        Xd,
    )
    assert_array_equal(Xd, before)
    for method in ("predict", "predict_proba", "score_samples", "score", "bic", "aic"):
        getattr(est, method)(Xd)
        assert_array_equal(Xd, before)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fit_does_not_modify_user_init(covariance_type):
    init = _fixed_init(covariance_type)
    copies = {k: v.copy() for k, v in init.items()}
    quiet_fit(GaussianMixtureEM(3, covariance_type=covariance_type, max_iter=5, **init), X)
    for name, value in init.items():
        assert_array_equal(value, copies[name], err_msg=name)


# ---------------------------------------------------------------------- dtypes and containers
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_stays_float32(covariance_type):
    X32 = X.astype(np.float32)
    est = GaussianMixtureEM(3, covariance_type=covariance_type, random_state=0).fit(X32)
    for name in ATTRIBUTES:
        assert getattr(est, name).dtype == np.float32, name
    proba = est.predict_proba(X32)
    assert proba.dtype == np.float32
    assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-6)
    assert est.score_samples(X32).dtype == np.float32
    # and the float32 model is the float64 model, to float32 accuracy
    est64 = GaussianMixtureEM(3, covariance_type=covariance_type, random_state=0).fit(X)
    assert_allclose(est.means_, est64.means_, rtol=1e-4, atol=1e-4)
    assert_allclose(est.score_samples(X32), est64.score_samples(X), rtol=1e-4, atol=1e-4)
    assert_allclose(proba, est64.predict_proba(X), rtol=0, atol=1e-4)


def test_lists_and_ints_are_accepted():
    Xi = np.round(X * 10).astype(np.int64)
    ref = GaussianMixtureEM(3, random_state=0).fit(Xi.astype(np.float64))
    from_ints = GaussianMixtureEM(3, random_state=0).fit(Xi)
    from_list = GaussianMixtureEM(3, random_state=0).fit(Xi.tolist())
    for est in (from_ints, from_list):
        assert est.means_.dtype == np.float64
        _assert_same_model(est, ref)
        assert_array_equal(est.predict(Xi.tolist()), ref.predict(Xi))
        assert_array_equal(est.score_samples(Xi), ref.score_samples(Xi.astype(np.float64)))


def test_dataframe_sets_feature_names():
    df = pd.DataFrame(X, columns=["height", "weight"])
    est = GaussianMixtureEM(3, random_state=0).fit(df)
    assert_array_equal(est.feature_names_in_, ["height", "weight"])
    assert est.n_features_in_ == 2
    ref = GaussianMixtureEM(3, random_state=0).fit(X)
    assert not hasattr(ref, "feature_names_in_")
    # the frame's array is Fortran-ordered: the same numbers up to BLAS summation order
    _assert_same_model(est, ref, rtol=1e-12, atol=1e-14)
    assert_array_equal(est.predict(df), ref.predict(X))
    assert_allclose(est.score_samples(df), ref.score_samples(X), rtol=1e-12)
    with pytest.raises(ValueError, match="feature names"):
        est.predict(df.rename(columns={"weight": "mass"}))


# ----------------------------------------------------------------------------- fitting behaviour
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_convergence_warning_when_max_iter_reached(covariance_type):
    init = _fixed_init(covariance_type)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        est = GaussianMixtureEM(3, covariance_type=covariance_type, max_iter=2, tol=0, **init).fit(
            X
        )
    assert est.converged_ is False and est.n_iter_ == 2
    # and no warning when the fit converges
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = GaussianMixtureEM(3, covariance_type=covariance_type, max_iter=500, **init).fit(X)
    assert est.converged_ is True and est.n_iter_ < 500
    assert abs(est.lower_bounds_[-1] - est.lower_bounds_[-2]) < est.tol


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_n_init_keeps_best_run(covariance_type):
    # n_init runs share one RandomState; so do separate fits handed the same instance
    params = dict(
        n_components=3, covariance_type=covariance_type, init_params="random", max_iter=8, tol=0
    )
    best = quiet_fit(
        GaussianMixtureEM(n_init=4, random_state=np.random.RandomState(42), **params), X
    )
    rng = np.random.RandomState(42)
    runs = [quiet_fit(GaussianMixtureEM(n_init=1, random_state=rng, **params), X) for _ in range(4)]
    bounds = [r.lower_bound_ for r in runs]
    assert len(set(np.round(bounds, 8))) > 1, "the runs must differ for the test to mean anything"
    winner = runs[int(np.argmax(bounds))]
    assert best.lower_bound_ == max(bounds)
    _assert_same_model(best, winner)
    assert best.lower_bounds_ == winner.lower_bounds_
    assert best.n_iter_ == winner.n_iter_


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_warm_start_continues(covariance_type):
    m = 4
    init = _fixed_init(covariance_type)
    warm = GaussianMixtureEM(
        3, covariance_type=covariance_type, max_iter=m, tol=0, warm_start=True, **init
    )
    quiet_fit(warm, X)
    first_bounds = list(warm.lower_bounds_)
    quiet_fit(warm, X)
    assert warm.n_iter_ == m
    cold = quiet_fit(
        GaussianMixtureEM(3, covariance_type=covariance_type, max_iter=2 * m, tol=0, **init), X
    )
    _assert_same_model(warm, cold, rtol=1e-10, atol=1e-12)
    assert_allclose(first_bounds + list(warm.lower_bounds_), cold.lower_bounds_, rtol=1e-12)
    assert_allclose(warm.lower_bound_, cold.lower_bound_, rtol=1e-12)
    # without warm_start, a second fit restarts: it equals the first
    again = GaussianMixtureEM(3, covariance_type=covariance_type, max_iter=m, tol=0, **init)
    quiet_fit(again, X)
    first = {name: getattr(again, name).copy() for name in ATTRIBUTES}
    quiet_fit(again, X)
    for name in ATTRIBUTES:
        assert_array_equal(getattr(again, name), first[name])


def test_warm_start_converges_on_second_fit():
    # A converged warm fit continued once more converges at the first iteration, as
    # scikit-learn's does.
    params = dict(n_components=3, warm_start=True, random_state=0, tol=1e-3)
    ours = GaussianMixtureEM(**params).fit(X)
    ours.fit(X)
    ref = GaussianMixture(**params).fit(X)
    ref.fit(X)
    assert ours.converged_ and ref.converged_
    assert ours.n_iter_ == ref.n_iter_
    assert_allclose(ours.means_, ref.means_, rtol=1e-7)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fit_predict_equals_fit_then_predict(covariance_type):
    est = GaussianMixtureEM(3, covariance_type=covariance_type, random_state=0)
    labels = est.fit_predict(X)
    assert_array_equal(labels, est.predict(X))
    assert_array_equal(
        labels,
        GaussianMixtureEM(3, covariance_type=covariance_type, random_state=0).fit(X).predict(X),
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fitted_attribute_shapes(covariance_type):
    est = GaussianMixtureEM(3, covariance_type=covariance_type, random_state=0).fit(X)
    shape = {"full": (3, 2, 2), "tied": (2, 2), "diag": (3, 2), "spherical": (3,)}[covariance_type]
    assert est.weights_.shape == (3,)
    assert est.means_.shape == (3, 2)
    for name in ("covariances_", "precisions_", "precisions_cholesky_"):
        assert getattr(est, name).shape == shape, name
    assert_allclose(est.weights_.sum(), 1.0, rtol=1e-12)
    assert est.n_features_in_ == 2
    assert len(est.lower_bounds_) == est.n_iter_
    assert est.lower_bound_ == est.lower_bounds_[-1]
    # the precisions are the inverses of the covariances
    if covariance_type in ("full", "tied"):
        cov = est.covariances_.reshape(-1, 2, 2)
        prec = est.precisions_.reshape(-1, 2, 2)
        assert_allclose(cov @ prec, np.broadcast_to(np.eye(2), cov.shape), atol=1e-10)
    else:
        assert_allclose(est.covariances_ * est.precisions_, 1.0, rtol=1e-10)


@pytest.mark.parametrize("verbose", [1, 2, 3])
@pytest.mark.parametrize("max_iter", [0, 1, 5])
def test_verbose_output_matches_sklearn(capsys, verbose, max_iter):
    import re

    def lines(est):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X)
        out = capsys.readouterr().out
        # timings differ run to run
        return [re.sub(r"time lapse [0-9.]+s", "time lapse", line) for line in out.splitlines()]

    params = dict(
        n_components=3,
        verbose=verbose,
        verbose_interval=2,
        max_iter=max_iter,
        n_init=2,
        random_state=0,
    )
    ours = lines(GaussianMixtureEM(**params))
    assert ours == lines(GaussianMixture(**params))
    assert ours[0] == "Initialization 0"


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_max_iter_0_keeps_the_last_start_as_sklearn_does(init_params):
    # scikit-learn's way to have only an initialisation: every start's bound is -inf, and
    # scikit-learn keeps the last one (we kept the first: means 0.08 to 6.7 apart)
    params = dict(n_components=3, max_iter=0, n_init=3, init_params=init_params, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = GaussianMixtureEM(**params).fit(X)
        theirs = GaussianMixture(**params).fit(X)
    assert_allclose(ours.means_, theirs.means_, rtol=1e-12, atol=1e-12)
    assert_allclose(ours.weights_, theirs.weights_, rtol=1e-12)


def test_sample_keeps_float32():
    X = np.random.RandomState(0).randn(200, 2).astype(np.float32)
    Xs, y = GaussianMixtureEM(2, random_state=0).fit(X).sample(50)
    assert Xs.dtype == np.float32 and Xs.shape == (50, 2) and y.shape == (50,)


@pytest.mark.parametrize("fit_dtype", [np.float64, np.float32])
@pytest.mark.parametrize("score_dtype", [np.float64, np.float32])
def test_dtypes_of_scores_and_bounds_are_sklearns(fit_dtype, score_dtype):
    # a float64 model scored float32 rows in float32 (4x scikit-learn's error); the bounds
    # were Python floats (gm.lower_bound_.dtype raised)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = GaussianMixtureEM(3, random_state=0).fit(X.astype(fit_dtype))
        theirs = GaussianMixture(3, random_state=0).fit(X.astype(fit_dtype))
    if fit_dtype == np.float32 and not SKLEARN_1_7:
        pytest.skip("scikit-learn < 1.7 fits float32 data in float64")
    assert type(ours.lower_bound_) is type(theirs.lower_bound_)
    assert {type(b) for b in ours.lower_bounds_} == {type(theirs.lower_bound_)}
    Xs = X.astype(score_dtype)
    for method in ("score_samples", "predict_proba"):
        a, b = getattr(ours, method)(Xs), getattr(theirs, method)(Xs)
        assert a.dtype == b.dtype, method
        # float64 where either is: as exact as scikit-learn's float64 (float32 fits agree
        # to about 1e-4 with scikit-learn's)
        if a.dtype == np.float64:
            rtol = 1e-6 if fit_dtype == np.float64 else 1e-4
            assert_allclose(a, b, rtol=rtol, atol=1e-9)


def test_hierarchical_start_of_one_component_needs_no_tree():
    # one row of positive weight: the tree needs two rows, but one component's partition is
    # every row, as k-means' and random_from_data's starts give it (they fitted; 'hc' raised)
    X = np.random.default_rng(0).normal(size=(10, 2))
    w = np.r_[1.0, np.zeros(9)]
    fits = [
        GaussianMixtureEM(1, init_params=init).fit(X, sample_weight=w)
        for init in ("hc", "kmeans", "random_from_data")
    ]
    assert_allclose(fits[0].means_, X[:1])
    for other in fits[1:]:
        assert_allclose(fits[0].means_, other.means_)
        assert_allclose(fits[0].covariances_, other.covariances_)


def test_warm_start_refuses_a_fit_it_cannot_continue():
    # set_params between warm fits: scikit-learn continues the old fit silently whatever
    # n_components says (means_ stays (2, 2) with n_components=3), or fails inside NumPy
    # (another covariance storage, other features); the estimator says what changed
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(size=(50, 2)), rng.normal(size=(50, 2)) + 5]
    model = GaussianMixtureEM(2, warm_start=True, random_state=0).fit(X)
    for change, data in [
        (dict(n_components=3), X),
        (dict(covariance_type="diag"), X),
        (dict(), np.c_[X, X[:, :1] ** 2]),
    ]:
        changed = copy.deepcopy(model).set_params(**change)
        with pytest.raises(ValueError, match="warm_start=True continues the previous fit"):
            changed.fit(data)
    # a model of the same storage continues (VVV is 'full' under mclust's name)
    before = model.lower_bound_
    model.set_params(covariance_type="VVV").fit(X)
    assert model.means_.shape == (2, 2) and model.lower_bound_ >= before - 1e-12
