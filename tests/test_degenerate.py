"""Issue 4, part 2: fits that survive degenerate data, and MAP-EM under the conjugate prior.

Oracles: scikit-learn's GaussianMixture (which raises where we must not), properties of
the fitted model (finite, positive definite, equivariant under shift and scale), SciPy's
densities and optimiser for the MAP M-step, and hypothesis for awkward inputs.
"""

import re
import warnings
from dataclasses import replace
from functools import partial

import numpy as np
import pytest
from _brute_force import component_covariances
from conftest import ATTRIBUTES, COVARIANCE_TYPES, INIT_PARAMS, isotropic_precisions, quiet_fit
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy import optimize, stats
from scipy.special import logsumexp
from sklearn import config_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from sklearn_em import (
    DegenerateComponentWarning,
    GaussianMixtureEM,
    GaussianMixtureSelector,
    _em,
    _kernels,
)
from sklearn_em._em import Prior, m_step
from sklearn_em._kernels import accumulate, data_statistics, statistics
from sklearn_em._models import constraints_broken
from sklearn_em._params import GaussianMixtureParams

pytestmark = pytest.mark.usefixtures("one_thread")

_quiet_fit = partial(quiet_fit, degenerate=True)


def _assert_finite_model(model, X):
    for name in ATTRIBUTES:
        value = np.asarray(getattr(model, name))
        assert np.all(np.isfinite(value)), name
    assert np.all(np.isfinite(model.lower_bound_))
    assert np.all(np.isfinite(model.score_samples(X)))
    assert_allclose(model.weights_.sum(), 1.0, rtol=1e-6)
    assert np.all(model.weights_ > 0)
    cov = np.asarray(model.covariances_, dtype=np.float64)
    if model.covariance_type in ("full", "tied"):
        for c in cov.reshape(-1, cov.shape[-1], cov.shape[-1]):
            assert_allclose(c, c.T, rtol=0, atol=1e-10 * np.abs(c).max())
            np.linalg.cholesky(c)  # raises if not positive definite
            assert np.linalg.eigvalsh(c).min() > 0
    else:
        assert np.all(cov > 0)


def _blobs(n=60, d=2, seed=0):
    rng = np.random.RandomState(seed)
    centres = np.array([[0.0] * d, [5.0] * d, [0.0] * (d - 1) + [7.0]])
    return centres[rng.randint(0, 3, size=n)] + rng.randn(n, d)


def _fixed_init(covariance_type, X, k=3, seed=1):
    rng = np.random.RandomState(seed)
    d = X.shape[1]
    means = X[rng.choice(X.shape[0], k, replace=False)]
    prec = 1.0 / X.var(axis=0).mean()
    precisions = isotropic_precisions(covariance_type, k, d, prec)
    return dict(weights_init=np.full(k, 1.0 / k), means_init=means, precisions_init=precisions)


# --------------------------------------------------------------------------- hard inputs
def _hard_inputs():
    rng = np.random.RandomState(0)
    base = _blobs(60, 3)
    return {
        "fewer_distinct_than_components": (np.repeat(rng.randn(3, 2), 10, axis=0), 5),
        "constant_feature": (np.c_[base[:, :2], np.full(60, 3.25)], 3),
        "two_identical_features": (np.c_[base[:, :2], base[:, 1]], 3),
        "n_samples_equals_n_components": (base[:4], 4),
        "one_feature": (base[:, :1], 3),
        "one_component": (base, 1),
        "50_components_on_60_points": (base, 50),
        "scaled_1e-8": (base * 1e-8, 3),
        "scaled_1e8": (base * 1e8, 3),
        "offset_1e8": (base + 1e8, 3),
        "float32_offset_1e4": ((base + 1e4).astype(np.float32), 3),
    }


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("case", list(_hard_inputs()))
def test_hard_inputs_fit_to_a_finite_model(case, covariance_type):
    X, k = _hard_inputs()[case]
    model = GaussianMixtureEM(k, covariance_type=covariance_type, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X)
    _assert_finite_model(model, X)
    assert model.means_.dtype == X.dtype
    # oracle: where scikit-learn fits (it raises for the offsets with tied/diag/spherical)
    # and nothing was re-seeded, the same initialisation gives the same fit
    reseeded = any(issubclass(w.category, DegenerateComponentWarning) for w in caught)
    try:
        sk = _quiet_fit(GaussianMixture(k, covariance_type=covariance_type, random_state=0), X)
    except ValueError:
        sk = None
    if sk is not None and not reseeded:
        tol = 1e-8 if X.dtype == np.float64 else 1e-5
        atol = tol * max(1.0, np.abs(X).max())
        assert_allclose(model.means_, sk.means_, rtol=0, atol=atol)
        assert_allclose(model.weights_, sk.weights_, rtol=0, atol=tol)
        assert_allclose(model.lower_bound_, sk.lower_bound_, rtol=0, atol=1e3 * tol)
    if case == "constant_feature":
        assert_allclose(model.means_[:, 2], 3.25, rtol=1e-12)
        cov = model.covariances_
        if covariance_type != "spherical":  # the constant feature's variance is reg_covar alone
            var = cov[..., 2, 2] if covariance_type in ("full", "tied") else cov[:, 2]
            assert_allclose(var, model.reg_covar, rtol=1e-6)
    if case == "two_identical_features":
        assert_allclose(model.means_[:, 1], model.means_[:, 2], rtol=1e-12)
        if covariance_type in ("full", "tied"):
            c = model.covariances_.reshape(-1, 3, 3)
            # var(x1) - cov(x1, x2) = reg_covar exactly: x1 - x2 = 0
            assert_allclose(c[:, 1, 1] - c[:, 1, 2], model.reg_covar, rtol=1e-4)
    if case == "fewer_distinct_than_components":
        # at least as likely as the ideal model: a spike of variance reg_covar on each of
        # the 3 points, weight 1/3
        ideal = np.log(1 / 3) - np.log(2 * np.pi * model.reg_covar)
        assert model.lower_bound_ >= ideal - 1e-6
    if case == "one_component":
        # oracle: one Gaussian is the sample mean and (ML) covariance
        expected = {
            "full": np.cov(X.T, bias=True)[None],
            "tied": np.cov(X.T, bias=True),
            "diag": X.var(axis=0)[None],
            "spherical": X.var(axis=0).mean()[None],
        }[covariance_type]
        assert_allclose(model.means_[0], X.mean(axis=0), rtol=1e-12)
        expected = expected + model.reg_covar * _eye_like(expected)
        assert_allclose(model.covariances_, expected, rtol=1e-10)
    if case == "n_samples_equals_n_components" and covariance_type != "tied":
        # every point its own component
        assert_allclose(np.sort(model.means_, axis=0), np.sort(X, axis=0), rtol=1e-10)


def _eye_like(cov):
    if cov.ndim >= 2 and cov.shape[-1] == cov.shape[-2]:
        return np.broadcast_to(np.eye(cov.shape[-1]), cov.shape)
    return np.ones_like(cov)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_offset_1e8_shifts_the_means(covariance_type):
    X = _blobs(90)
    init = _fixed_init(covariance_type, X)
    kw = dict(covariance_type=covariance_type, tol=0, max_iter=30)  # same iterations
    base = _quiet_fit(GaussianMixtureEM(3, **kw, **init), X)
    init["means_init"] = init["means_init"] + 1e8
    far = _quiet_fit(GaussianMixtureEM(3, **kw, **init), X + 1e8)
    _assert_finite_model(far, X + 1e8)
    assert_allclose(far.means_, base.means_ + 1e8, rtol=1e-14)  # i.e. to ~1e-6 absolute
    assert_allclose(far.means_ - 1e8, base.means_, atol=1e-6)
    assert_allclose(far.covariances_, base.covariances_, rtol=1e-5, atol=1e-7)
    assert_allclose(far.weights_, base.weights_, rtol=1e-6)
    assert_allclose(far.lower_bound_, base.lower_bound_, rtol=1e-7)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("scale", [1e-8, 1e8])
def test_scaled_data_scales_means_and_covariances(covariance_type, scale):
    X = _blobs(90)
    init = _fixed_init(covariance_type, X)
    kw = dict(covariance_type=covariance_type, tol=0, max_iter=30)
    base = _quiet_fit(GaussianMixtureEM(3, reg_covar=1e-6, **kw, **init), X)
    init["means_init"] = init["means_init"] * scale
    init["precisions_init"] = init["precisions_init"] / scale**2
    scaled = _quiet_fit(GaussianMixtureEM(3, reg_covar=1e-6 * scale**2, **kw, **init), X * scale)
    _assert_finite_model(scaled, X * scale)
    assert scaled.n_iter_ == base.n_iter_
    assert_allclose(scaled.means_, base.means_ * scale, rtol=1e-9, atol=1e-12 * scale)
    assert_allclose(
        scaled.covariances_, base.covariances_ * scale**2, rtol=1e-9, atol=1e-12 * scale**2
    )
    assert_allclose(scaled.weights_, base.weights_, rtol=1e-9)
    # the log-density shifts by -d log(scale)
    assert_allclose(scaled.lower_bound_, base.lower_bound_ - 2 * np.log(scale), rtol=1e-9)


ITERATIVE_MODELS = ["VEI", "VEE", "EVE", "VVE", "VEV"]


def _wine6():
    from sklearn.datasets import load_wine

    return load_wine().data[:, :6]


@pytest.mark.parametrize("covariance_type", ITERATIVE_MODELS)
@pytest.mark.parametrize("scale", [1e-6, 1e-3, 1e3])
def test_iterative_models_do_not_depend_on_the_units(covariance_type, scale):
    # The same data in other units (one factor on every column, reg_covar with it) and the
    # same start give the same fit, with the default tolerance: mclust's inner stopping rules
    # (|change| / (1 + |objective|)) were absolute where the objective is small, and EVE
    # stopped 0.5 log-likelihood units lower on wine's columns in units of 1e-6. The oracle
    # is the fit in the data's own units; the scales are no powers of two.
    X = _wine6()
    n, d = X.shape
    start = quiet_fit(GaussianMixtureEM(3, covariance_type="VVV", max_iter=3, random_state=0), X)
    kw = dict(
        covariance_type=covariance_type, weights_init=start.weights_, tol=1e-8, random_state=0
    )
    base = quiet_fit(GaussianMixtureEM(3, means_init=start.means_, max_iter=400, **kw), X)
    scaled = quiet_fit(
        GaussianMixtureEM(
            3, means_init=start.means_ * scale, max_iter=400, reg_covar=1e-6 * scale**2, **kw
        ),
        X * scale,
    )
    # (the scales are no powers of two: rounding differs, and EM may stop a pass apart)
    assert abs(scaled.n_iter_ - base.n_iter_) <= 3
    assert abs(scaled.lower_bound_ + d * np.log(scale) - base.lower_bound_) < 1e-8
    assert_allclose(scaled.means_, base.means_ * scale, rtol=1e-5)
    cov, expected = np.asarray(scaled.covariances_), np.asarray(base.covariances_) * scale**2
    assert_allclose(cov, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("covariance_type", ITERATIVE_MODELS)
@pytest.mark.parametrize("scale", [1e-6, 1.0])
def test_an_iterative_fit_restarted_from_itself_stays_there(covariance_type, scale):
    # Given parameters carry no state of the covariance step: it is rebuilt from the given
    # covariances, and the first EM step from a converged fit must not go down (EVE's went
    # down by 3.2 log-likelihood units at scale 1e-6, and by 2e-9 at scale 1: the rebuild
    # stopped at mclust's inner tolerance, 5e-5 off the given covariances)
    X = _wine6() * scale
    n = X.shape[0]
    kw = dict(covariance_type=covariance_type, reg_covar=1e-6 * scale**2)
    fit = quiet_fit(GaussianMixtureEM(2, random_state=0, tol=1e-12, max_iter=2000, **kw), X)
    again = quiet_fit(
        GaussianMixtureEM(
            2,
            weights_init=fit.weights_,
            means_init=fit.means_,
            precisions_init=fit.precisions_,
            max_iter=1,
            tol=0,
            **kw,
        ),
        X,
    )
    before = again.lower_bounds_[0] * n
    assert again.score(X) * n >= before - 1e-10 * abs(before)
    assert_allclose(again.means_, fit.means_, rtol=1e-7, atol=1e-9 * scale)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_with_large_offset_matches_float64(covariance_type):
    X64 = (_blobs(90) + 1e4).astype(np.float32).astype(np.float64)  # the same values
    X32 = X64.astype(np.float32)
    init = _fixed_init(covariance_type, X64)
    kw = dict(covariance_type=covariance_type, tol=0, max_iter=30)
    m64 = _quiet_fit(GaussianMixtureEM(3, **kw, **init), X64)
    m32 = _quiet_fit(GaussianMixtureEM(3, **kw, **init), X32)
    _assert_finite_model(m32, X32)
    assert m32.means_.dtype == np.float32
    # float32 resolution at 1e4 is ~1e-3: means and covariances to that scale, not worse
    assert_allclose(m32.means_, m64.means_, rtol=0, atol=2e-3)
    assert_allclose(m32.covariances_, m64.covariances_, rtol=1e-2, atol=1e-3)
    assert_allclose(m32.weights_, m64.weights_, atol=1e-3)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_near_1e19_matches_sklearn_on_float64(covariance_type):
    # Variances ~1e37 fit in float32, but squared distances from the mixture's centre pass
    # its 3.4e38: the kernel's features must not be formed unscaled.
    X32 = (_blobs(90) * 4e18).astype(np.float32)
    X64 = X32.astype(np.float64)  # the same values
    assert np.abs(X64 - X64.mean(axis=0)).max() ** 2 > np.finfo(np.float32).max
    init = _fixed_init(covariance_type, X64)
    kw = dict(covariance_type=covariance_type, tol=0, max_iter=30)
    ours = _quiet_fit(GaussianMixtureEM(3, **kw, **init), X32)
    sk = _quiet_fit(GaussianMixture(3, **kw, **init), X64)
    _assert_finite_model(ours, X32)
    assert ours.means_.dtype == ours.covariances_.dtype == np.float32
    assert_allclose(ours.means_, sk.means_, rtol=0, atol=1e-5 * np.abs(X64).max())
    cov = np.asarray(sk.covariances_)
    assert_allclose(ours.covariances_, cov, rtol=1e-4, atol=1e-5 * np.abs(cov).max())
    assert_allclose(ours.weights_, sk.weights_, atol=1e-5)
    assert_allclose(ours.score_samples(X32), sk.score_samples(X64), rtol=1e-5)
    assert_allclose(ours.lower_bound_, sk.lower_bound_, rtol=1e-5)


@pytest.mark.parametrize("magnitude", [1.0, 2.0**40])  # the kernel unscaled, scaled
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_rows_far_from_the_mixture_score_their_density_or_minus_inf(
    covariance_type, dtype, magnitude
):
    X = (_blobs(60) * magnitude).astype(dtype)
    model = _quiet_fit(GaussianMixtureEM(3, covariance_type=covariance_type, random_state=0), X)
    plan = _kernels.KernelPlan.from_params(model._model(), X.dtype)
    assert (plan.scale != 1.0) == (dtype == np.float32 and magnitude != 1.0)
    # near, far (squares past float32 once scaled), and beyond float32's range (-1e60)
    rows = [[1e3, -1e3], [1e9, 2e9], [-3e15, 1e12]] + [[1e30, -1e30]] * (magnitude == 1.0)
    rows = (np.array(rows) * magnitude).astype(dtype)
    expected = _sklearn_score_samples(model, rows.astype(np.float64))
    scores = model.score_samples(rows)
    beyond = expected < -np.finfo(dtype).max
    assert beyond.tolist() == [False] * 3 + [dtype == np.float32] * (magnitude == 1.0)
    assert np.all(scores[beyond] == -np.inf)
    assert_allclose(scores[~beyond], expected[~beyond], rtol=1e-5 if dtype == np.float32 else 1e-12)


def _one_row_far_out(dtype, far, missing=False):
    """Two clusters of 150 rows (a missing cell in every tenth row if ``missing``), the
    same with one row at (far, -far) after them, and initial means for the three."""
    rng = np.random.RandomState(0)
    base = np.vstack([rng.randn(150, 2), rng.randn(150, 2) + 5]).astype(dtype)
    if missing:
        base[::10, 1] = np.nan
    X = np.vstack([base, np.array([[far, -far]], dtype=dtype)])
    return base, X, np.array([[0.0, 0.0], [5.0, 5.0], [far, -far]])


def _assert_fit_of_the_rest(ours, ref, dtype):
    """The components of ``ours`` but the far row's are ``ref``, the fit of the other rows
    (weights scaled by n / (n + 1))."""
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    assert_allclose(ours.means_[:2], ref.means_, rtol=rtol, atol=rtol)
    assert_allclose(ours.covariances_[:2], ref.covariances_, rtol=rtol * 10)
    assert_allclose(ours.weights_[:2] * 301 / 300, ref.weights_, rtol=rtol)


@pytest.mark.parametrize("working_memory", [None, 0.002])  # prepared rows; chunks
# (not 'tied': its one covariance holds the far row too, so the other rows alone are no oracle)
@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
@pytest.mark.parametrize("dtype, far", [(np.float32, 1e12), (np.float64, 1e12), (np.float64, 1e40)])
def test_one_row_far_out_leaves_the_rest_exact(dtype, far, covariance_type, working_memory):
    # One row far out, with a component of its own: the other components are the fit of
    # the other rows. Moments about the mean put every other row at the same number
    # (float32 at 1e12, float64 at 1e40: a false "numerically singular" error); about a
    # robust centre they stay exact.
    base, X, means = _one_row_far_out(dtype, far)
    kw = dict(covariance_type=covariance_type, max_iter=20, tol=0, random_state=0)
    precisions = {
        "full": np.array([np.eye(2)] * 2),
        "diag": np.ones((2, 2)),
        "spherical": np.ones(2),
    }[covariance_type]
    with config_context(working_memory=working_memory), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = GaussianMixtureEM(
            3,
            weights_init=[0.45, 0.45, 0.1],
            means_init=means,
            precisions_init=np.concatenate([precisions, precisions[:1]]),
            **kw,
        ).fit(X)
        ref = GaussianMixture(
            2, weights_init=[0.5, 0.5], means_init=means[:2], precisions_init=precisions, **kw
        ).fit(base.astype(np.float64))
    _assert_fit_of_the_rest(ours, ref, dtype)
    assert_allclose(ours.means_[2], [far, -far], rtol=1e-6)


@pytest.mark.parametrize("dtype, far", [(np.float32, 1e12), (np.float64, 1e40)])
def test_one_row_far_out_leaves_rows_with_missing_cells_exact(dtype, far):
    # the same with missing cells (observed-data passes), against our own fit of the other
    # rows (scikit-learn takes no missing cells)
    base, X, means = _one_row_far_out(dtype, far, missing=True)
    kw = dict(max_iter=20, tol=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = GaussianMixtureEM(
            3,
            weights_init=[0.45, 0.45, 0.1],
            means_init=means,
            precisions_init=np.array([np.eye(2)] * 3),
            **kw,
        ).fit(X)
        ref = GaussianMixtureEM(
            2,
            weights_init=[0.5, 0.5],
            means_init=means[:2],
            precisions_init=np.array([np.eye(2)] * 2),
            **kw,
        ).fit(base.astype(np.float64))
    _assert_fit_of_the_rest(ours, ref, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "covariance_type, n_features", [(c, 3) for c in COVARIANCE_TYPES] + [("full", 40)]
)
def test_kernel_scale_changes_no_rounding(monkeypatch, covariance_type, n_features, dtype):
    # The same fit with the kernel scaled to the mixture's extent (a power of two) and
    # unscaled: bit for bit the same numbers (d=40 is the direct 'full' kernel).
    rng = np.random.RandomState(0)
    X = (_blobs(400, n_features) * [3.0] + 1e3).astype(dtype)
    weights = rng.randint(0, 3, size=X.shape[0]).astype(float)
    kw = dict(covariance_type=covariance_type, random_state=0, max_iter=10, tol=0)

    def fit():
        model = _quiet_fit(GaussianMixtureEM(3, **kw), X, sample_weight=weights)
        return model, _kernels.KernelPlan.from_params(model._model(), X.dtype)

    unscaled, plan = fit()
    assert plan.scale == 1.0
    monkeypatch.setitem(_kernels.UNSCALED, np.dtype(dtype), 0)  # scale at every extent
    scaled, plan = fit()
    assert plan.scale not in (1.0, 0.5, 2.0)
    for name in ATTRIBUTES + ("lower_bound_",):
        assert_array_equal(getattr(scaled, name), getattr(unscaled, name), err_msg=name)
    assert_array_equal(scaled.predict_proba(X), unscaled.predict_proba(X))


# --------------------------------------------------------------------------- re-seeding
def _duplicated_clusters():
    rng = np.random.RandomState(0)
    return np.r_[rng.randn(40, 2), np.tile([[0.1, 0.7]], (10, 1)), np.tile([[3.3, -1.7]], (10, 1))]


def _assert_sklearn_fails(model, X):
    """scikit-learn raises, or (its sums rounded otherwise: numpy 1.x's OpenBLAS, its
    pre-1.7 'diag' moments) passes with a variance that is a rounding error."""
    try:
        model.fit(X)
    except ValueError as error:
        assert "ill-defined empirical covariance" in str(error)
        return
    cov = np.asarray(model.covariances_)
    full = model.covariance_type in ("full", "tied")
    smallest = np.linalg.eigvalsh(cov).min() if full else cov.min()
    assert smallest <= 1e-12 * X.var(axis=0).max()


WARNING_RE = re.compile(r"Iteration (\d+): component\(s\) that .*?: \[(\d+(?:, \d+)*)\]")


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_collapsed_components_are_reseeded_where_sklearn_fails(covariance_type):
    X = _duplicated_clusters()
    _assert_sklearn_fails(
        GaussianMixture(3, covariance_type=covariance_type, reg_covar=0, random_state=0), X
    )
    model = GaussianMixtureEM(
        3, covariance_type=covariance_type, reg_covar=0, max_iter=30, random_state=0
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X)
    _assert_finite_model(model, X)
    messages = [
        str(w.message) for w in caught if issubclass(w.category, DegenerateComponentWarning)
    ]
    assert messages
    for message in messages:
        match = WARNING_RE.search(message)
        assert match, message
        iteration = int(match.group(1))
        components = [int(c) for c in match.group(2).split(", ")]
        assert 0 <= iteration <= model.n_iter_
        assert all(0 <= j < 3 for j in components)
        assert "not positive definite" in message or "lost their support" in message


def test_tied_covariance_collapse_is_reseeded():
    # random_from_data starts every component at one row: with reg_covar=0 the shared
    # covariance of the initial M-step is zero
    X = _duplicated_clusters()
    model = GaussianMixtureEM(
        3, covariance_type="tied", reg_covar=0, init_params="random_from_data", random_state=0
    )
    with pytest.warns(DegenerateComponentWarning, match=r"Iteration 0: the shared \('tied'\)"):
        _fit_keep_degenerate_warnings(model, X)
    _assert_finite_model(model, X)


def _fit_keep_degenerate_warnings(model, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, **kw)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_component_that_loses_its_support_is_reseeded(covariance_type):
    X = _blobs(60)
    init = _fixed_init(covariance_type, X)
    # component 2 starts far from every point: its responsibilities underflow to 0
    init["means_init"] = init["means_init"].copy()
    init["means_init"][2] = [1e4, -1e4]
    model = GaussianMixtureEM(3, covariance_type=covariance_type, max_iter=100, **init)
    expected = r"Iteration 1: .*lost their support: \[2\]"
    with pytest.warns(DegenerateComponentWarning, match=expected):
        _fit_keep_degenerate_warnings(model, X)
    _assert_finite_model(model, X)
    # it was moved into the data and took part in the fit
    assert np.abs(model.means_[2]).max() < np.abs(X).max()
    assert model.weights_[2] > 0.01


def _reseeding_cycle_data():
    # three clusters on columns in units 1000, 1 and 50: under the prior of diagonal models
    # (its scale the columns' mean variance) a fourth component cannot keep any rows, and
    # was re-seeded and lost again every ten passes, to max_iter
    rng = np.random.default_rng(0)
    return np.vstack([rng.normal(c, 1, (100, 3)) for c in (0, 5, 10)]) * [1000, 1, 50]


def _fit_recording(model, X):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X)
    return [str(w.message) for w in caught if w.category is DegenerateComponentWarning]


@pytest.mark.parametrize("seed", [0, 1])
def test_a_component_that_keeps_losing_its_support_is_left_after_max_reseeds(seed):
    X = _reseeding_cycle_data()
    model = GaussianMixtureEM(
        4, covariance_type="diag", prior_strength=1.0, tol=1e-10, max_iter=1000, random_state=seed
    )
    messages = _fit_recording(model, X)
    reseeded = [m for m in messages if "were re-seeded" in m]
    left = [m for m in messages if "left with a weight of about 0" in m]
    # the one component the data cannot hold: re-seeded MAX_RESEEDS times, then left
    j = int(np.argmin(model.weights_))
    assert len(reseeded) == _em.MAX_RESEEDS
    assert all(f"lost their support: [{j}]" in m for m in reseeded)
    assert len(left) == 1 and f"Component(s) [{j}] kept losing their support" in left[0]
    # EM then converges (it ran to max_iter), the three clusters keep their thirds
    assert model.converged_ and model.n_iter_ < 200
    assert model.weights_[j] < 1e-6
    assert_allclose(np.sort(model.weights_)[1:], 1 / 3, atol=0.01)


@pytest.mark.parametrize("covariance_type", ["VEI", "EVI", "VEV", "EEV"])
def test_components_left_without_support_keep_the_models_equalities(covariance_type):
    # a component left without support takes a copy of the heaviest one's covariance: the
    # fitted model is one of its own model (the pooled covariance broke EVI's equal
    # volumes), and its parameters start a refit (which checks that)
    X = np.repeat(np.random.default_rng(0).normal(size=(8, 2)), 10, axis=0)
    model = GaussianMixtureEM(
        9, covariance_type=covariance_type, prior_strength=1.0, tol=1e-8, max_iter=300
    )
    messages = _fit_recording(model.set_params(random_state=0), X)
    assert any("kept losing their support" in m for m in messages)
    assert model.converged_
    assert constraints_broken(covariance_type, model.precisions_, 9, 2) == ""
    refit = GaussianMixtureEM(
        9,
        covariance_type=covariance_type,
        prior_strength=1.0,
        weights_init=model.weights_,
        means_init=model.means_,
        precisions_init=model.precisions_,
        max_iter=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refit.fit(X)


def test_a_component_left_without_support_does_not_flicker():
    # VEI's shared shape leaves out components without support: one left at about 0 had a
    # weight that alternated between 3e-6 and 7e-18 of a row (either side of the threshold),
    # joining and leaving the shape, and the log-likelihood went down every other pass, to
    # max_iter. Below a thousandth of a row it now counts as having none.
    from sklearn.datasets import load_wine

    X = load_wine().data
    model = GaussianMixtureEM(2, covariance_type="VEI", prior_strength=1.0, random_state=0)
    messages = _fit_recording(model.set_params(max_iter=1000), X)
    assert any("kept losing their support" in m for m in messages)
    assert model.converged_ and model.n_iter_ < 100
    # from the pass it was left on, EM's ascent (before, each re-seeding may lower it)
    left = next(m for m in messages if "kept losing their support" in m)
    since = int(re.search(r"from iteration\(s\) \[(\d+)\]", left).group(1))
    bounds = np.asarray(model.lower_bounds_)[since - 1 :]
    assert bounds.size > 1 and np.all(np.diff(bounds) >= -1e-9 * np.abs(bounds[1:])), bounds


def test_a_warm_start_from_a_component_left_without_support_reaches_the_fit_again():
    # the warm fit re-seeds the component at its first pass; a gain below the tolerance over
    # that pass is no convergence (it stopped there, with the re-seeded parameters never
    # evaluated: 3 rows relabelled and a different score)
    X = _reseeding_cycle_data()
    model = GaussianMixtureEM(
        4, covariance_type="diag", prior_strength=1.0, tol=1e-10, max_iter=1000, random_state=0
    )
    _fit_recording(model.set_params(warm_start=True), X)
    labels, score = model.predict(X), model.score(X)
    _fit_recording(model, X)
    assert model.converged_ and model.n_iter_ > 1
    assert_array_equal(model.predict(X), labels)
    assert_allclose(model.score(X), score, rtol=1e-9)


def test_max_iter_on_a_reseeding_pass_is_no_convergence():
    # where the pass allowed last is one whose M-step re-seeded, the fit ends at parameters
    # never evaluated: not converged (it was reported converged when the tolerance was met)
    X = np.repeat(np.random.default_rng(0).normal(size=(8, 2)), 10, axis=0)
    model = GaussianMixtureEM(9, covariance_type="VEI", prior_strength=1.0, tol=1e-8)
    messages = _fit_recording(model.set_params(random_state=0, max_iter=1000), X)
    reseeding = [
        int(re.match(r"Iteration (\d+):", m).group(1)) for m in messages if "were re-seeded" in m
    ]
    assert reseeding and model.converged_
    for last in reseeding:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.set_params(max_iter=last).fit(X)
        assert model.n_iter_ == last and not model.converged_
        assert any(w.category is ConvergenceWarning for w in caught)


def test_only_the_kept_run_names_its_components_left_without_support():
    # n_init runs: each left a different component without support; the warning is the
    # kept run's, and names the components the fitted model has at a weight of about 0
    X = _reseeding_cycle_data()
    model = GaussianMixtureEM(
        4, covariance_type="diag", prior_strength=1.0, tol=1e-10, max_iter=1000, random_state=0
    )
    messages = _fit_recording(model.set_params(n_init=3), X)
    left = [m for m in messages if "kept losing their support" in m]
    empty = np.flatnonzero(model.weights_ < 1e-8).tolist()
    assert len(left) == 1 and empty and f"Component(s) {empty} kept losing" in left[0]


@pytest.mark.parametrize("covariance_type", ["EVI", "VVI", "VEI"])
def test_a_component_left_without_support_is_empty_not_collapsed(covariance_type):
    # the selector's judgement of a fit with an empty component is the same for every model:
    # EVI's (re-estimated without reg_covar, as one of the models with shapes of their own)
    # called it "collapsed", VVI's and VEI's did not (under a prior no rows are counted)
    from sklearn.datasets import load_wine

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        selector = GaussianMixtureSelector(
            n_components=[2], covariance_type=[covariance_type], prior_strength=1.0, random_state=0
        ).fit(load_wine().data)
    assert any("kept losing their support" in str(w.message) for w in caught)
    assert selector.best_estimator_.weights_.min() < 1e-8
    assert not selector.results_["degenerate"][0], selector.results_["note"][0]


def test_kept_out_empties_components_below_a_thousandth_of_a_row():
    # iterate's hysteresis: a component given up on has no statistics below REGAIN_FRACTION
    # of a row's weight (the rest unchanged), and has support again above it
    X = _blobs(60)
    params = GaussianMixtureParams(
        "diag", np.full(3, 1 / 3), _fixed_init("diag", X)["means_init"], np.ones((3, 2))
    )
    stats = accumulate(X, None, params)
    unit = stats.unit_weight
    nk = stats.nk.copy()
    nk[1] = 0.5 * _em.REGAIN_FRACTION * unit
    nk[2] = 2.0 * _em.REGAIN_FRACTION * unit
    nk[0] += stats.total_weight - nk.sum()  # (the same total: the same row's weight)
    low = replace(stats, nk=nk)
    assert low.unit_weight == pytest.approx(unit)
    emptied, regained = _em._kept_out(low, {1: 5, 2: 7})
    assert regained == [2]
    assert emptied.nk[1] == 0 and not emptied.means[1].any() and not emptied.scatter[1].any()
    for name in ("nk", "means", "scatter"):
        kept = [0, 2]
        assert_array_equal(getattr(emptied, name)[kept], getattr(low, name)[kept])
    assert emptied.loglik == low.loglik and emptied.shift is low.shift


def test_an_abandoned_component_is_not_reseeded_and_copies_the_heaviest_covariance():
    # m_step's ``abandoned``: a lost component it names is not moved to the worst rows nor
    # re-weighted, keeps its previous mean and takes the heaviest component's covariance,
    # without a warning; the other components' parameters are those of the M-step without
    # it, exactly
    X = _blobs(60)
    init = _fixed_init("full", X)
    means = init["means_init"].copy()
    means[2] = [1e4, -1e4]  # far from every row: its responsibilities underflow
    params = GaussianMixtureParams("full", np.full(3, 1 / 3), means, np.tile(np.eye(2), (3, 1, 1)))
    stats = accumulate(X, None, params, n_worst=3).with_data(data_statistics(X, None, "full"))
    assert _em.lost_components(stats).tolist() == [2]
    with pytest.warns(DegenerateComponentWarning, match=r"lost their support: \[2\]"):
        reseeded = m_step(stats, "full", 1e-6, previous=params)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        left = m_step(stats, "full", 1e-6, previous=params, abandoned={2: 1})
    # (weights renormalise over all three: compare the two kept ones' ratio)
    assert_allclose(left.weights[0] / left.weights[1], reseeded.weights[0] / reseeded.weights[1])
    assert_array_equal(left.means[:2], reseeded.means[:2])
    assert_array_equal(left.precisions_cholesky[:2], reseeded.precisions_cholesky[:2])
    # its own: a weight of about 0 (10 eps of a row's), where it was, the heaviest's shape
    heaviest = int(np.argmax(stats.nk))
    assert left.weights[2] < 1e-12
    assert_array_equal(left.means[2], means[2])
    assert_array_equal(left.precisions_cholesky[2], left.precisions_cholesky[heaviest])
    assert reseeded.weights[2] > 0.01 and not np.allclose(left.means[2], reseeded.means[2])


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag"])
def test_truly_singular_data_error_names_component_cause_and_remedy(covariance_type):
    # a constant feature with reg_covar=0: no positive-definite covariance exists
    X = np.c_[np.random.RandomState(0).randn(50, 1), np.full(50, 0.3)]
    _assert_sklearn_fails(
        GaussianMixture(2, covariance_type=covariance_type, reg_covar=0, random_state=0), X
    )
    component = r"component \d+" if covariance_type != "tied" else r"shared \('tied'\) covariance"
    with pytest.raises(ValueError, match=component) as info:
        GaussianMixtureEM(2, covariance_type=covariance_type, reg_covar=0, random_state=0).fit(X)
    message = str(info.value)
    assert "not positive definite" in message  # the cause
    assert "constant or duplicated feature" in message
    assert "increase reg_covar" in message.lower()  # the remedy
    # and the remedy works
    model = _quiet_fit(GaussianMixtureEM(2, covariance_type=covariance_type, random_state=0), X)
    _assert_finite_model(model, X)


def test_rank_deficiency_hidden_by_rounding_is_not_accepted():
    # two identical features: Cholesky of [[a, a], [a, a]] can succeed by rounding luck,
    # giving "precisions" ~1e19 that overflowed the float32 E-step (weights_ became NaN)
    col = np.array([-6.1175639e-12, -1.0729686e-11, -6.1175639e-12])
    for dtype in (np.float32, np.float64):
        X = np.c_[col, col].astype(dtype)
        with pytest.raises(ValueError, match="constant or duplicated feature"):
            _quiet_fit(GaussianMixtureEM(1, reg_covar=0.0), X)
        model = _quiet_fit(GaussianMixtureEM(1), X)  # reg_covar=1e-6 makes it well defined
        _assert_finite_model(model, X)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "VEV", "EEV", "VVE"])
def test_collinear_data_raise_rather_than_take_the_datas_covariance(covariance_type):
    # two clusters (at 0 and 5) with a column repeated: within each the covariance is
    # singular but for reg_covar. Where reg_covar is below the data's rounding (float32 at
    # this scale, float64 times 1e5-1e7), no component's covariance is usable, nor the pooled
    # one, and the data's is singular too: that is an error. The data's covariance, which
    # passed its test by rounding (times 1e6, and float32 judged at float64's resolution),
    # was given to every component at every iteration, and the means came out at 1.6 and
    # 3.4, reported converged
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(size=100), rng.normal(size=100) + 5]
    X = np.c_[x, x, rng.normal(size=200)]
    labels = np.repeat([0, 1], 100)
    for data in (X.astype(np.float32), X * 1e5, X * 1e6, X * 1e7):
        with pytest.raises(ValueError, match=r"\(?numerically\)? singular at their scale"):
            _quiet_fit(GaussianMixtureEM(2, covariance_type=covariance_type, random_state=0), data)
    # where reg_covar lifts the singularity (float64 at this scale) the clusters are found:
    # the means within 0.1 of each cluster's own, and scikit-learn's where it fits the model
    model = _quiet_fit(GaussianMixtureEM(2, covariance_type=covariance_type, random_state=0), X)
    found = model.means_[np.argsort(model.means_[:, 0])]
    own = np.array([X[labels == j].mean(axis=0) for j in (0, 1)])
    assert_allclose(found, own, atol=0.1)
    if covariance_type in ("full", "tied"):
        reference = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
        assert_allclose(found, reference.means_[np.argsort(reference.means_[:, 0])], rtol=1e-6)


@pytest.mark.parametrize("seed", range(20))
def test_rank_deficient_float32_fits_right(seed):
    # 3 distinct rows in 4-D: the covariance has rank 2, and only reg_covar=1e-6 keeps it
    # positive definite -- below float32 rounding at variance ~100, so the float32
    # statistics are often indefinite (scikit-learn fails here about 2 times in 3). The
    # component keeps its mean and gets the data's covariance computed in float64, every
    # iteration alike: EM converges (it used to alternate between that covariance and the
    # float32 one, whose expanded densities are off by ~10, and ran to max_iter).
    rng = np.random.RandomState(seed)
    X64 = (rng.randn(3, 4) * 10)[rng.randint(0, 3, size=12)]
    expected = np.cov(X64.T, bias=True) + 1e-6 * np.eye(4)
    model = _quiet_fit(GaussianMixtureEM(1), X64)
    assert_allclose(model.covariances_[0], expected, rtol=1e-9, atol=1e-12)
    X32 = X64.astype(np.float32)
    model = _quiet_fit(GaussianMixtureEM(1), X32)
    assert model.converged_ and model.n_iter_ <= 3
    for name in ATTRIBUTES:
        assert np.all(np.isfinite(getattr(model, name))), name
    assert np.all(np.diagonal(model.precisions_cholesky_, axis1=1, axis2=2) > 0)
    assert_allclose(model.means_[0], X64.mean(axis=0), rtol=0, atol=1e-5)
    assert_allclose(model.covariances_[0], expected, rtol=0, atol=1e-3)
    # the densities are those of the float64 model, to float32's resolution (the stored
    # float32 covariance itself can be indefinite: its smallest eigenvalue, 1e-6, is below
    # the rounding of entries of size 100)
    reference = _quiet_fit(GaussianMixtureEM(1), X64)
    assert_allclose(model.score_samples(X32), reference.score_samples(X64), rtol=0, atol=1e-4)


def test_seed_rows_keep_their_place_when_their_covariance_is_singular():
    # random_from_data with reg_covar=0: each initial component is one row (zero scatter);
    # it keeps that row as its mean and gets the pooled (here: the data's) covariance
    X = _blobs(40)
    model = GaussianMixtureEM(
        3, reg_covar=0, init_params="random_from_data", max_iter=0, random_state=5
    )
    expected = r"Iteration 0: .*\[0, 1, 2\] kept their means"
    with pytest.warns(DegenerateComponentWarning, match=expected):
        model.fit(X)
    rows = np.random.RandomState(5).choice(X.shape[0], size=3, replace=False)
    assert_allclose(model.means_, X[rows], rtol=1e-12)
    for c in model.covariances_:
        assert_allclose(c, np.cov(X.T, bias=True), rtol=1e-10)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflows themselves
@pytest.mark.parametrize("weighted", [False, True])
def test_float32_overflow_is_a_value_error(weighted):
    # variances ~1e40 do not exist in float32: either the float32 statistics overflow, or
    # (tiny weights) the float64 model does not fit in float32 attributes
    X = np.array([[-5.2817175e20], [-6.1175645e20], [-5.2817175e20]])
    w = np.array([0.0, 2e-8, 1e-8]) if weighted else None
    with pytest.raises(ValueError, match=r"not finite.*Fit (on )?float64 data or rescale"):
        model = GaussianMixtureEM(1, covariance_type="tied")
        _quiet_fit(model, X.astype(np.float32), sample_weight=w)
    model = _quiet_fit(GaussianMixtureEM(1, covariance_type="tied"), X, sample_weight=w)
    _assert_finite_model(model, X)
    assert_allclose(model.covariances_, [[np.cov(X.T, aweights=w, bias=True)]], rtol=1e-6)


# --------------------------------------------------------------------------- MAP-EM prior
def _prior_floor(X, k, covariance_type):
    """A matrix every MAP covariance (s=1, reg_covar=0) dominates: s Lambda / (max denominator)."""
    n, d = X.shape
    cov = np.cov(X.T, bias=True).reshape(d, d)
    if covariance_type in ("diag", "spherical"):
        cov = np.eye(d) * np.trace(cov) / d
    scale = cov / k ** (2.0 / d)
    return scale / (n * d + (d + 2) + d + 2 + k)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_params", INIT_PARAMS)
def test_prior_prevents_singular_fits_on_duplicates(covariance_type, init_params):
    X = _duplicated_clusters()
    k = 3
    model = GaussianMixtureEM(
        k,
        covariance_type=covariance_type,
        reg_covar=0,
        prior_strength=1.0,
        init_params=init_params,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("error", DegenerateComponentWarning)  # nothing to re-seed
        model.fit(X)
    _assert_finite_model(model, X)
    floor = _prior_floor(X, k, covariance_type)
    cov = np.asarray(model.covariances_)
    if covariance_type in ("full", "tied"):
        for c in cov.reshape(-1, 2, 2):
            assert np.linalg.eigvalsh(c - floor).min() > -1e-12
    else:
        assert np.all(cov >= floor[0, 0] * (1 - 1e-12))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_prior_strength_to_zero_recovers_maximum_likelihood(covariance_type):
    rng = np.random.RandomState(0)
    X = np.r_[rng.randn(60, 2) * [1, 0.5], rng.randn(60, 2) * [0.7, 1.2] + [5, 3]]
    init = _fixed_init(covariance_type, X, k=2, seed=3)
    # a fixed number of iterations: each iterate is a smooth function of s
    kw = dict(covariance_type=covariance_type, tol=0, max_iter=40, **init)
    ml = _quiet_fit(GaussianMixtureEM(2, **kw), X)
    strengths = [1.0, 1e-1, 1e-2, 1e-3, 1e-4]
    diffs = []
    for s in strengths:
        fit = _quiet_fit(GaussianMixtureEM(2, prior_strength=s, **kw), X)
        diffs.append(
            max(
                np.abs(fit.means_ - ml.means_).max(),
                np.abs(fit.covariances_ - ml.covariances_).max(),
                np.abs(fit.weights_ - ml.weights_).max(),
            )
        )
    diffs = np.array(diffs)
    assert np.all(np.diff(diffs) < 0), diffs  # monotonically shrinking
    assert diffs[0] > 1e-3  # the prior does something at s = 1
    # first order in s: the difference per unit of strength settles
    assert_allclose(diffs[-1] / strengths[-1], diffs[-2] / strengths[-2], rtol=0.2)
    zero = _quiet_fit(GaussianMixtureEM(2, prior_strength=0.0, **kw), X)
    for name in ATTRIBUTES:
        assert_allclose(getattr(zero, name), getattr(ml, name), rtol=1e-10, atol=1e-14)
    assert_allclose(zero.lower_bound_, ml.lower_bound_, rtol=1e-12)


# --------------------------------------------------------------------------- MAP M-step oracle
def _oracle_problem(k, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(25, 2) @ np.array([[1.0, 0.4], [0.0, 0.6]]) + [1.0, -2.0]
    resp = rng.uniform(0.05, 1.0, size=(25, k))
    resp /= resp.sum(axis=1)[:, None] if k > 1 else 1.0
    prior = Prior(
        mean=np.array([3.0, 1.0]),
        kappa=0.7,
        dof=5.5,
        scale_matrix=np.array([[2.0, 0.3], [0.3, 0.5]]),
        strength=1.7,
    )
    return X, resp, prior


def _closed_form(X, resp, prior, covariance_type):
    k = resp.shape[1]
    stats_ = statistics(X, None, lambda sl: resp[sl], covariance_type, X.mean(axis=0), k)
    params = m_step(stats_, covariance_type, 0.0, prior=prior)
    return params.means, params.covariances


def _unpack_chol(v):
    L = np.array([[np.exp(v[0]), 0.0], [v[1], np.exp(v[2])]])
    return L @ L.T


def _pack_chol(S):
    L = np.linalg.cholesky(S)
    return [np.log(L[0, 0]), L[1, 0], np.log(L[1, 1])]


def _log_posterior(theta, X, resp, prior, covariance_type):
    """sum_i r_ik log N(x_i | mu_k, Sigma_k) + s log p(mu, Sigma), densities from SciPy.

    Fraley & Raftery (2007): mu_k | Sigma_k ~ N(mean, Sigma_k / kappa); Sigma ~
    inverse-Wishart(dof, scale) for full/tied; each variance ~ inverse-gamma(dof/2, scale_jj/2)
    for diag and the variance ~ inverse-gamma(dof/2, trace(scale)/d/2) for spherical.
    """
    k = resp.shape[1]
    s, P = prior.strength, prior
    means = theta[: 2 * k].reshape(k, 2)
    rest = theta[2 * k :]
    total = 0.0
    if covariance_type == "tied":
        S = _unpack_chol(rest)
        total += s * stats.invwishart(df=P.dof, scale=P.scale_matrix).logpdf(S)
        covs = [S] * k
    elif covariance_type == "full":
        covs = [_unpack_chol(rest[3 * j : 3 * j + 3]) for j in range(k)]
        total += s * sum(stats.invwishart(df=P.dof, scale=P.scale_matrix).logpdf(S) for S in covs)
    elif covariance_type == "diag":
        var = np.exp(rest).reshape(k, 2)
        covs = [np.diag(v) for v in var]
        scales = np.diag(P.scale_matrix)
        total += s * sum(
            stats.invgamma(a=P.dof / 2, scale=scales[i] / 2).logpdf(v[i])
            for v in var
            for i in range(2)
        )
    else:
        var = np.exp(rest)
        covs = [np.eye(2) * v for v in var]
        scale = np.trace(P.scale_matrix) / 2
        total += s * sum(stats.invgamma(a=P.dof / 2, scale=scale / 2).logpdf(v) for v in var)
    for j in range(k):
        total += resp[:, j] @ stats.multivariate_normal(means[j], covs[j]).logpdf(X)
        total += s * stats.multivariate_normal(P.mean, covs[j] / P.kappa).logpdf(means[j])
    return total


def _theta(means, covs, covariance_type):
    parts = [means.ravel()]
    if covariance_type == "tied":
        parts.append(_pack_chol(covs))
    elif covariance_type == "full":
        parts += [_pack_chol(c) for c in covs]
    else:
        parts.append(np.log(np.asarray(covs).ravel()))
    return np.concatenate(parts)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_map_m_step_maximises_the_tempered_log_posterior(covariance_type):
    k = 2 if covariance_type == "tied" else 1
    X, resp, prior = _oracle_problem(k)
    means, covs = _closed_form(X, resp, prior, covariance_type)
    theta_closed = _theta(means, covs, covariance_type)

    def f(theta):
        return -_log_posterior(theta, X, resp, prior, covariance_type)

    # independent optimum, started from the plain maximum-likelihood M-step
    ml_means, ml_covs = _closed_form(X, resp, replace(prior, strength=0.0), covariance_type)
    start = _theta(ml_means, ml_covs, covariance_type)
    result = optimize.minimize(f, start, method="BFGS", options={"gtol": 1e-9})
    assert_allclose(result.x, theta_closed, rtol=1e-4, atol=1e-5)
    # the closed form is at least as good as anything the optimiser found
    assert f(theta_closed) <= result.fun + 1e-9
    # and it is a stationary point: central finite differences vanish
    h = 1e-5
    grad = [
        (f(theta_closed + h * e) - f(theta_closed - h * e)) / (2 * h)
        for e in np.eye(theta_closed.size)
    ]
    assert_allclose(grad, 0.0, atol=1e-6)
    # the prior moved the estimate (else the test proves nothing about it)
    assert np.abs(theta_closed - start).max() > 1e-2


# --------------------------------------------------------------------------- hypothesis
@st.composite
def awkward_data(draw):
    n = draw(st.integers(1, 25))
    d = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.RandomState(seed)
    distinct = draw(st.integers(1, n))
    X = rng.randn(distinct, d)[rng.randint(0, distinct, size=n)]  # duplicates
    X = X * 10.0 ** draw(st.integers(-30, 30))
    X = X + 10.0 ** draw(st.integers(-3, 30)) * draw(st.sampled_from([0, 1, -1]))
    if d > 1 and draw(st.booleans()):
        X[:, draw(st.integers(0, d - 1))] = draw(st.floats(-1e6, 1e6, allow_nan=False))
    if d > 1 and draw(st.booleans()):
        X[:, 0] = X[:, -1]
    weights = None
    if draw(st.booleans()):  # integer weights (zeros included), at awkward scales too
        weights = rng.randint(0, 3, size=n) * draw(st.sampled_from([1.0, 1e-8, 1e8]))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    with np.errstate(over="ignore"):
        return X.astype(dtype), weights


# Every ValueError a fit may raise on awkward data, by its wording: ours (see _em, _estimator,
# _init) and scikit-learn's input validation, which we reuse. The float32 overflow errors must
# name the remedy.
FIT_ERRORS = re.compile(
    "|".join(
        re.escape(start)
        for start in (
            "Fitting the mixture failed at iteration ",
            "The shared ('tied') covariance is not positive definite after adding reg_covar=",
            "The fitted covariances or precisions are not finite in float32 at the scale of "
            "these data. Fit on float64 data or rescale the features.",
            "Expected n_samples >= n_components but got n_components = ",
            "init_params='random_from_data' needs at least n_components=",
            "Hierarchical clustering needs ",  # init_params='hc' (_hc)
            "The hierarchical clustering has ",
            # scikit-learn's validate_data (ensure_min_samples=2) and _check_sample_weight
            "Found array with 1 sample(s) (shape=(1, ",
            "Sample weights must contain at least one non-zero number.",
        )
    )
)
OVERFLOW = ("overflowed", "not finite")
REMEDY = re.compile(r"[Ff]it (on )?float64 data or rescale the features\.")


# Found by hypothesis: float32 rows near 1e19 (a zero-weight row 2e19 from the fitted mean).
# The kernel's squared features (x - c)^2 overflowed float32 (> 3.4e38), so score_samples was
# nan for that row although the fit, and its log-density (-47.5), are well within float32.
@example(
    data=(np.array([[-2e19], [1e19], [-1e19], [0.0]], np.float32), np.array([0.0, 1, 1, 1])),
    k=1,
    covariance_type="full",
    init_params="kmeans",
    reg_covar=0.0,
    prior_strength=None,
)
# A row of weight 0 so far from a spike (variance reg_covar) that its log-density, -2.6e46, is
# beyond float32: it scores -inf (not nan).
@example(
    data=(np.array([[1.6e20]] * 5 + [[-7e19]], np.float32), np.array([1.0] * 5 + [0.0])),
    k=1,
    covariance_type="full",
    init_params="kmeans",
    reg_covar=1e-6,
    prior_strength=None,
)
# Found by hypothesis: a wide component (sd 3e16) and a spike (variance reg_covar) on float32
# rows at 1.8e28. Scaled to the wide one's extent, the spike's coefficients (1e6 * 2^110)
# overflowed float32 and every row scored nan; the scale now balances both.
@example(
    data=(
        np.tile(np.array([[1.7640524e28, 4.0015722e27]], np.float32), (10, 1)),
        np.array([1.0, 1, 2, 0, 2, 0, 0, 0, 2, 1]),
    ),
    k=2,
    covariance_type="diag",
    init_params="kmeans",
    reg_covar=1e-6,
    prior_strength=1.0,
)
# Found by hypothesis (40x the examples): float32 rows near 1e5 and a tight component (its
# covariance 1e-13). The rows were shifted by the float32 rounding of the mixture's centre,
# the means by its float64 value: 0.0026 apart, thousands of the component's widths, so its
# own rows scored -17.95 instead of 30.35.
@example(
    data=(
        np.array(
            [[100001.766, 100000.4], [100000.98, 100002.24], [100000.98, 100002.24]]
            + [[100001.766, 100000.4], [100000.98, 100002.24], [99999.9, 100000.414]]
            + [[100000.95, 99999.85], [100001.766, 100000.4], [100000.95, 99999.85]]
            + [[100001.766, 100000.4], [100001.87, 99999.02], [100000.95, 99999.85]]
            + [[100001.766, 100000.4], [100000.98, 100002.24], [100000.95, 99999.85]]
            + [[100000.95, 99999.85], [100000.95, 99999.85], [100001.766, 100000.4]]
            + [[100000.98, 100002.24], [100000.98, 100002.24], [100000.98, 100002.24]],
            np.float32,
        ),
        np.array([0.0, 2, 0, 2, 2, 0, 2, 0, 0, 0, 1, 1, 2, 0, 0, 1, 0, 1, 2, 2, 0]),
    ),
    k=2,
    covariance_type="full",
    init_params="kmeans",
    reg_covar=0.0,
    prior_strength=None,
)
# The same at 1e17, tied: every row scored -4.6e25 (against 11.69 and 10.59), with overflow
# warnings.
@example(
    data=(
        np.array([[9.7873801e16, 2.2408932e17]] * 3 + [[1.7640523e17, 4.0015721e16]], np.float32),
        None,
    ),
    k=2,
    covariance_type="tied",
    init_params="k-means++",
    reg_covar=1e-6,
    prior_strength=None,
)
# Two float32 rows at 1e23 and a spike on each: the far components' coefficients overflowed
# float32 on their cast (harmless, the rows are computed exactly, but score_samples warned).
@example(
    data=(
        np.array([[1.6243453e23, -6.117564e22], [-5.2817176e22, -1.0729686e23]], np.float32),
        None,
    ),
    k=2,
    covariance_type="diag",
    init_params="kmeans",
    reg_covar=1e-6,
    prior_strength=None,
)
@settings(max_examples=40, deadline=None)
@given(
    data=awkward_data(),
    k=st.integers(1, 4),
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
    init_params=st.sampled_from(INIT_PARAMS),
    reg_covar=st.sampled_from([0.0, 1e-6]),
    prior_strength=st.sampled_from([None, None, 1.0]),
)
def test_awkward_data_fits_or_raises_value_error(
    data, k, covariance_type, init_params, reg_covar, prior_strength
):
    X, sample_weight = data
    model = GaussianMixtureEM(
        k,
        covariance_type=covariance_type,
        init_params=init_params,
        reg_covar=reg_covar,
        prior_strength=prior_strength,
        max_iter=30,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model.fit(X, sample_weight=sample_weight)
        except ValueError as error:
            message = str(error)
            assert FIT_ERRORS.match(message), message
            if any(word in message for word in OVERFLOW):
                assert REMEDY.search(message), message
            return
    for name in ATTRIBUTES:
        assert np.all(np.isfinite(getattr(model, name))), name
    assert np.isfinite(model.lower_bound_)
    # oracle: the fitted model's densities computed directly from x - m_k in float64
    # (scikit-learn's expanded form cancels at these magnitudes: it put rows at their own
    # component's mean, 1e27, beyond float32's range). A row (of weight 0: left out of the
    # fit) whose log-density is below float32's range scores -inf, the value rounded to
    # float32; every other row scores a finite value, within a rounding budget of the direct
    # one (rows within the budget of the range's edge may go either way).
    with warnings.catch_warnings():
        # -inf or a replaced overflow is no news: scoring warns of nothing
        warnings.simplefilter("error", RuntimeWarning)
        scores = model.score_samples(X)
    direct, budget = _direct_score_samples(model, X)
    edge = -np.finfo(X.dtype).max
    with np.errstate(invalid="ignore"):  # (-inf + inf: a row beyond float64 too)
        beyond = (direct == -np.inf) | (direct + budget < edge)
        within = direct - budget > edge
    assert np.all(np.isfinite(scores[within]))
    assert np.all(scores[beyond] == -np.inf)
    assert not np.any(beyond) or X.dtype == np.float32
    error = np.abs(scores[within] - direct[within])
    # besides the budget: the kernel's own (the expanded forms' rounding, which the plan
    # keeps within EXACT_BUDGET of the dtype, and the constants' rounding)
    slack = 10 * _kernels.EXACT_BUDGET[X.dtype] + 1e3 * np.finfo(X.dtype).eps * np.abs(direct)
    assert np.all(error <= slack[within] + budget[within]), (
        scores[within],
        direct[within],
        budget[within],
    )


def _direct_score_samples(model, X):
    """``(log sum_k w_k N(x | m_k, P_k^-1), error budget)`` per row, in float64, from each row's
    difference to each mean and the fitted precision factors, component by component.

    The budget is what computing in X's dtype may cost a row: rounding x - m_k (both in the
    dtype) and whitening it moves z = U'(x - m_k) by up to e = 2 d eps |U|_2 |x - m_k|, so the
    component's log-density by up to |z| e + e^2 / 2; the row's, by those weighted by its
    responsibilities (to first order). Exact where x = m_k.
    """
    X64 = np.asarray(X, dtype=np.float64)
    k, d = model.means_.shape
    eps = np.finfo(X.dtype).eps
    factors = np.asarray(model.precisions_cholesky_, dtype=np.float64)
    log_probs, budgets = [], []
    # (the per-type storage of the precision factors expands as the covariances' does)
    for j, U in enumerate(component_covariances(model.covariance_type, factors, k, d)):
        with np.errstate(over="ignore", invalid="ignore"):
            D = X64 - np.asarray(model.means_[j], dtype=np.float64)
            z = D @ U
            norm_z = np.sqrt(np.einsum("ij,ij->i", z, z))
            e = 2 * d * eps * np.linalg.norm(U, 2) * np.linalg.norm(D, axis=1)
            budgets.append(norm_z * e + 0.5 * e**2)
            log_probs.append(
                np.log(float(model.weights_[j]))
                + np.log(np.abs(np.diag(U))).sum()
                - 0.5 * d * np.log(2 * np.pi)
                - 0.5 * norm_z**2
            )
    log_probs = np.array(log_probs)
    score = logsumexp(log_probs, axis=0)
    with np.errstate(invalid="ignore"):
        resp = np.exp(log_probs - score)
        budget = np.sum(np.where(resp > 0, resp * np.array(budgets), 0.0), axis=0)
    return score, budget


def _sklearn_score_samples(model, X):
    """score_samples of scikit-learn's GaussianMixture given ``model``'s parameters in float64."""
    sk = GaussianMixture(model.n_components, covariance_type=model.covariance_type)
    for name in ATTRIBUTES:
        setattr(sk, name, np.asarray(getattr(model, name), dtype=np.float64))
    sk.n_features_in_ = model.n_features_in_
    return sk.score_samples(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float64_rows_too_large_to_square_say_so(covariance_type):
    # rows at 1e200: their squared moments overflow float64; the fit says why (the bound a
    # pass's collapse check keeps on the moments once raised OverflowError instead)
    X = np.random.RandomState(0).randn(300, 2) * 1e200
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (overflow on the way, and k-means's own)
        with pytest.raises(ValueError) as caught:
            GaussianMixtureEM(2, covariance_type=covariance_type, random_state=0).fit(X)
    assert any(word in str(caught.value) for word in OVERFLOW)
    assert REMEDY.search(str(caught.value))
