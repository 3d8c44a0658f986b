"""Rows with missing cells (NaN): the observed-data EM of Ghahramani & Jordan (1994).

Oracles: the observed-data EM written out row by row (SciPy densities of each row's observed
marginal, conditional Gaussians by explicit inverse; ``_brute_force``), least-squares
regression on complete data (one component), and exact equivalences (integer weights ==
repeated rows).
"""

import warnings

import numpy as np
import pytest
from _brute_force import (
    brute_force_marginals,
    brute_force_missing_em_step,
    component_covariances,
)
from conftest import COVARIANCE_TYPES, INIT_PARAMS, hide_cells, quiet_fit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from sklearn.base import clone

from sklearn_em import (
    DegenerateComponentWarning,
    GaussianMixtureEM,
    GaussianMixtureSelector,
    _kernels,
    _missing,
)
from sklearn_em._models import MODEL_NAMES, get_model

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def _blobs(seed=0, n_per=40, d=4, offset=0.0):
    rng = np.random.RandomState(seed)
    parts = [rng.randn(n_per, d) @ (np.eye(d) + 0.4 * rng.randn(d, d)) + 4.0 * j for j in range(3)]
    return np.vstack(parts) + offset


def _model(covariance_type, d=4, k=3, seed=1, offset=0.0):
    """A start: weights, means, covariances (as the type stores them) and precisions."""
    rng = np.random.RandomState(seed)
    weights = np.array([0.5, 0.3, 0.2])[:k]
    means = 4.0 * np.arange(k)[:, None] + 0.3 * rng.randn(k, d) + offset
    A = rng.randn(k, d, d) * 0.3 + np.eye(d)
    full = A @ A.transpose(0, 2, 1)
    cov = {
        "full": full,
        "tied": full[0],
        "diag": np.diagonal(full, axis1=1, axis2=2).copy(),
        "spherical": np.trace(full, axis1=1, axis2=2) / d,
    }[covariance_type]
    prec = np.linalg.inv(cov) if covariance_type in ("full", "tied") else 1.0 / cov
    return weights, means, cov, prec


def _start(covariance_type, weights, means, prec, **kw):
    return GaussianMixtureEM(
        len(weights),
        covariance_type=covariance_type,
        weights_init=weights,
        means_init=means,
        precisions_init=prec,
        tol=0,
        **kw,
    )


# ----------------------------------------------------------------------------- scores
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_scores_match_brute_force_marginals(covariance_type):
    X = _blobs()
    est = GaussianMixtureEM(3, covariance_type=covariance_type, random_state=0).fit(X)
    Z = hide_cells(_blobs(seed=5, n_per=15), 0.35, seed=2)
    assert np.isnan(Z).any() and (~np.isnan(Z)).all(axis=1).any()  # both kinds of rows
    log_prob, _, _ = brute_force_marginals(
        Z, covariance_type, est.weights_, est.means_, est.covariances_
    )
    ll = logsumexp(log_prob, axis=1)
    resp = np.exp(log_prob - ll[:, None])
    assert_allclose(est.score_samples(Z), ll, rtol=1e-10)
    assert_allclose(est.predict_proba(Z), resp, rtol=1e-8, atol=1e-12)
    assert_array_equal(est.predict(Z), resp.argmax(axis=1))
    assert_allclose(est.score(Z), ll.mean(), rtol=1e-10)
    p = est._n_parameters()
    n = Z.shape[0]
    assert_allclose(est.bic(Z), -2 * ll.sum() + p * np.log(n), rtol=1e-10)
    assert_allclose(est.aic(Z), -2 * ll.sum() + 2 * p, rtol=1e-10)
    entropy = -np.log(resp.max(axis=1)).sum()
    assert_allclose(est.icl(Z), est.bic(Z) + 2 * entropy, rtol=1e-10)


# ----------------------------------------------------------------------------- EM steps
@pytest.mark.parametrize("offset", [0.0, 1e6], ids=["origin", "far"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_em_steps_match_brute_force(covariance_type, weighted, offset):
    X = hide_cells(_blobs(offset=offset), 0.3, seed=1)
    sample_weight = np.random.RandomState(7).uniform(0.2, 3.0, X.shape[0]) if weighted else None
    w0, m0, c0, p0 = _model(covariance_type, offset=offset)
    weights, means, cov = w0, m0, c0
    for n_iter in range(1, 4):
        weights, means, cov, bound = brute_force_missing_em_step(
            X, covariance_type, weights, means, cov, sample_weight=sample_weight
        )
        ours = quiet_fit(
            _start(covariance_type, w0, m0, p0, max_iter=n_iter),
            X,
            sample_weight=sample_weight,
        )
        msg = f"iteration {n_iter}"
        assert_allclose(ours.weights_, weights, rtol=1e-9, err_msg=msg)
        assert_allclose(ours.means_, means, rtol=1e-9, atol=1e-9, err_msg=msg)
        # at 1e6 the data themselves are known to ~1e-10 (their float64 spacing)
        assert_allclose(ours.covariances_, cov, rtol=1e-8, atol=1e-9, err_msg=msg)
        assert_allclose(ours.lower_bounds_[-1], bound, rtol=1e-10, err_msg=msg)


# ----------------------------------------------------------------------------- properties
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    d=st.integers(2, 5),
    k=st.integers(1, 4),
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
    fraction=st.floats(0.05, 0.5),
    offset=st.sampled_from([0.0, 1e4]),
)
def test_observed_loglikelihood_never_decreases(seed, d, k, covariance_type, fraction, offset):
    X = hide_cells(_blobs(seed=seed % 1000, n_per=30, d=d, offset=offset), fraction, seed=seed)
    est = quiet_fit(
        GaussianMixtureEM(
            k, covariance_type=covariance_type, random_state=seed, max_iter=30, tol=0
        ),
        X,
    )
    lb = np.asarray(est.lower_bounds_)
    assert np.all(np.isfinite(lb))
    # EM on the observed-data likelihood: each iteration can only go up, up to rounding and
    # up to what reg_covar costs. The M-step adds R = reg_covar I to the maximiser S_k of Q,
    # which lowers Q (so, at worst, the log-likelihood) by 1/2 sum_k n_k log det(I + S_k^-1 R)
    # <= 1/2 sum_k n_k reg_covar tr(S_k^-1) -- negligible unless a component's variance is
    # near reg_covar (a collapsing component; found by hypothesis at seed 3689, diag, where
    # the smallest variance was 1.3e-6). Per row, with S_k from the last model:
    covs = component_covariances(covariance_type, est.covariances_, k, d)
    reg = est.reg_covar
    cost = 0.0
    for w, c in zip(est.weights_, covs):
        lam = np.linalg.eigvalsh(np.asarray(c) - reg * np.eye(d))
        cost += 0.5 * w * (np.sum(np.log1p(reg / lam)) if lam.min() > 0 else np.inf)
    assert np.all(np.diff(lb) >= -1e-9 * np.abs(lb[1:]) - cost), (np.diff(lb).min(), cost)
    # and the reported bound is the observed-data log-likelihood of the model it came from
    # (one more E-step's worth: the last M-step moved the model, the score can only be
    # higher, up to the same cost)
    assert est.score(X) >= lb[-1] - 1e-9 * abs(lb[-1]) - cost


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_equal_repeated_rows_with_missing_cells(covariance_type):
    X = hide_cells(_blobs(n_per=25), 0.25, seed=3)
    w = np.random.RandomState(3).randint(1, 4, size=X.shape[0])
    X_rep = np.repeat(X, w, axis=0)
    w0, m0, _, p0 = _model(covariance_type)
    weighted = quiet_fit(_start(covariance_type, w0, m0, p0, max_iter=15), X, sample_weight=w)
    repeated = quiet_fit(_start(covariance_type, w0, m0, p0, max_iter=15), X_rep)
    for name in ("weights_", "means_", "covariances_"):
        assert_allclose(getattr(weighted, name), getattr(repeated, name), rtol=1e-10, atol=1e-12)
    assert_allclose(weighted.lower_bounds_, repeated.lower_bounds_, rtol=1e-12)
    assert_allclose(weighted.score(X, sample_weight=w), repeated.score(X_rep), rtol=1e-12)
    assert_allclose(weighted.bic(X, sample_weight=w), repeated.bic(X_rep), rtol=1e-12)


@pytest.mark.parametrize("init_params", INIT_PARAMS)
def test_every_initialisation_fits_incomplete_data(init_params):
    X = hide_cells(_blobs(), 0.2, seed=4)
    est = quiet_fit(GaussianMixtureEM(3, init_params=init_params, n_init=2, random_state=0), X)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert np.all(np.isfinite(getattr(est, name))), name
    assert np.all(np.diff(est.lower_bounds_) >= -1e-9)
    # the three clusters, 4 units apart, are found whatever the start
    assert_allclose(np.sort(est.means_[:, 0]), [0, 4, 8], atol=1.0)


def test_warm_start_continues_on_incomplete_data():
    X = hide_cells(_blobs(), 0.2, seed=5)
    full = quiet_fit(GaussianMixtureEM(3, random_state=0, tol=0, max_iter=10), X)
    warm = GaussianMixtureEM(3, random_state=0, tol=0, max_iter=4, warm_start=True)
    quiet_fit(warm, X)
    quiet_fit(warm.set_params(max_iter=6), X)
    assert_allclose(warm.means_, full.means_, rtol=1e-12)
    assert_allclose(warm.covariances_, full.covariances_, rtol=1e-12)


def test_float32_stays_float32():
    X = hide_cells(_blobs(), 0.2, seed=6).astype(np.float32)
    est = GaussianMixtureEM(3, random_state=0).fit(X)
    assert est.means_.dtype == np.float32 and est.covariances_.dtype == np.float32
    assert est.score_samples(X).dtype == np.float32
    assert est.predict_proba(X).dtype == np.float32
    ref = GaussianMixtureEM(3, random_state=0).fit(X.astype(np.float64))
    assert_allclose(est.means_, ref.means_, rtol=1e-4, atol=1e-4)


def test_missing_rows_are_an_error_only_when_empty():
    X = _blobs()
    X[[3, 7]] = np.nan
    with pytest.raises(
        ValueError,
        match=r"^2 row\(s\) of X have no observed value \(every cell is NaN\): rows 3, 7\.",
    ):
        GaussianMixtureEM(2).fit(X)
    X = _blobs()
    X[5, 1] = np.inf
    X[6, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains infinity"):
        GaussianMixtureEM(2).fit(X)


@pytest.mark.parametrize(
    "estimator", [GaussianMixtureEM(2), GaussianMixtureSelector(n_components=2)]
)
def test_empty_rows_are_named_as_rows_of_x_whatever_weights_come_before(estimator):
    # rows of weight 0 are dropped before the fit; the rows named are still X's
    X = _blobs()
    X[[5, 40]] = np.nan
    w = np.ones(X.shape[0])
    w[[0, 1, 2]] = 0.0
    with pytest.raises(
        ValueError,
        match=r"^2 row\(s\) of X have no observed value \(every cell is NaN\): rows 5, 40\.",
    ):
        clone(estimator).fit(X, sample_weight=w)
    # an empty row of weight 0 is not there: no error, in fit or in the weighted scores
    w[[5, 40]] = 0.0
    fitted = clone(estimator).fit(X, sample_weight=w)
    keep = w > 0
    for method in ("score", "bic", "aic"):
        assert getattr(fitted, method)(X, sample_weight=w) == getattr(fitted, method)(
            X[keep], sample_weight=w[keep]
        )


def test_feature_never_observed_is_an_error():
    X = _blobs()
    X[:, 2] = np.nan
    with pytest.raises(ValueError, match=r"^Feature 2 has no observed value"):
        GaussianMixtureEM(2).fit(X)


def test_without_missing_cells_nothing_changes():
    """The observed-data path is only taken for rows with NaN: the same rows with their
    NaN-row neighbours given weight 0 (dropped) fit exactly as the complete rows alone."""
    X = _blobs()
    Xm = np.vstack([X, hide_cells(_blobs(seed=8, n_per=5), 0.3, seed=8)])
    w = np.r_[np.ones(X.shape[0]), np.zeros(Xm.shape[0] - X.shape[0])]
    a = GaussianMixtureEM(3, random_state=0).fit(Xm, sample_weight=w)
    b = GaussianMixtureEM(3, random_state=0).fit(X, sample_weight=np.ones(X.shape[0]))
    for name in ("weights_", "means_", "covariances_"):
        assert_array_equal(getattr(a, name), getattr(b, name))


def test_mclust_names_fit_incomplete_data_as_their_aliases():
    X = hide_cells(_blobs(), 0.2, seed=9)
    for name, alias in [("VVV", "full"), ("EEE", "tied"), ("VVI", "diag"), ("VII", "spherical")]:
        a = GaussianMixtureEM(3, covariance_type=name, random_state=0).fit(X)
        b = GaussianMixtureEM(3, covariance_type=alias, random_state=0).fit(X)
        assert_array_equal(a.means_, b.means_)
        assert_array_equal(a.covariances_, b.covariances_)


def test_lost_component_is_reseeded_at_completed_rows():
    """A component that loses its support moves to the worst-explained rows; with missing
    cells those rows are completed by their conditional means (never NaN)."""
    X = hide_cells(_blobs(), 0.3, seed=10)
    X[0] = [30.0, np.nan, np.nan, 30.0]  # the worst-explained row has missing cells
    means = np.array([[0.0] * 4, [4.0] * 4, [1e4] * 4])
    with pytest.warns(DegenerateComponentWarning, match="lost their support"):
        est = quiet_fit(
            GaussianMixtureEM(
                3,
                weights_init=[0.5, 0.49, 0.01],
                means_init=means,
                precisions_init=np.tile(np.eye(4), (3, 1, 1)),  # nothing left to chance
                max_iter=1,
                tol=0,
            ),
            X,
        )
    assert np.all(np.isfinite(est.means_))
    # the re-seeded component sits on row 0, its missing cells filled from the others
    j = int(np.argmin(np.abs(est.means_[:, 0] - 30.0)))
    assert_allclose(est.means_[j, [0, 3]], 30.0)


def test_stream_of_incomplete_batches():
    """partial_fit takes batches with missing cells (each batch's statistics observed-data):
    the parameters stay finite and one pass lands near the batch fit of the same rows."""
    X = hide_cells(_blobs(n_per=400, seed=11), 0.2, seed=11)
    X = X[np.random.RandomState(0).permutation(X.shape[0])]
    batch = GaussianMixtureEM(3, random_state=0).fit(X)
    stream = GaussianMixtureEM(3, random_state=0)
    for rows in np.array_split(np.arange(X.shape[0]), 6):
        stream.partial_fit(X[rows])
        assert np.all(np.isfinite(stream.means_)) and np.all(np.isfinite(stream.covariances_))
    assert abs(stream.score(X) - batch.score(X)) < 0.01 * abs(batch.score(X))


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_every_mclust_model_fits_incomplete_data(model):
    X = hide_cells(_blobs(n_per=60, d=3), 0.2, seed=12)
    est = quiet_fit(
        GaussianMixtureEM(3, covariance_type=model, random_state=0, tol=0, max_iter=20), X
    )
    lb = np.asarray(est.lower_bounds_)
    assert np.all(np.isfinite(lb)) and np.all(np.isfinite(est.covariances_))
    assert np.all(np.diff(lb) >= -1e-9 * np.abs(lb[1:])), np.diff(lb).min()


def _layout_by_numpys_unique_rows(mask):
    """The layout the plain way: rows by their count of missing cells, and each group's
    patterns by np.unique(axis=0) of the rows' missing columns."""
    counts = mask.sum(axis=1)
    groups = []
    for s in np.unique(counts[counts > 0]):
        rows = np.flatnonzero(counts == s)
        missing = np.nonzero(mask[rows])[1].reshape(rows.size, int(s))
        patterns, pattern = np.unique(missing, axis=0, return_inverse=True)
        groups.append((rows, missing, pattern.reshape(-1), patterns))
    return np.flatnonzero(counts == 0), groups


@pytest.mark.parametrize("d", [1, 5, 8, 9, 16, 17, 30, 62, 63, 70])
def test_layout_is_that_of_numpys_unique_rows(d):
    # the layout keys patterns by the mask's bits (up to 62 columns; up to 16 by a table of
    # every key): the groups, their rows, patterns and each row's pattern must be those of
    # np.unique(axis=0), in its order
    rng = np.random.default_rng(d)
    for density in (0.05, 0.5, 0.95):
        mask = rng.random((400, d)) < density
        mask[np.flatnonzero(mask.all(axis=1)), 0] = False  # (every row has a cell observed)
        X = np.where(mask, np.nan, 1.0)
        layout = _missing.MissingLayout.from_array(X)
        complete, expected = _layout_by_numpys_unique_rows(mask)
        assert layout.n_samples == 400
        assert_array_equal(layout.complete, complete)
        assert len(layout.groups) == len(expected)
        for group, (rows, missing, pattern, patterns) in zip(layout.groups, expected):
            assert_array_equal(group.rows, rows)
            assert_array_equal(group.missing, missing)
            assert_array_equal(group.pattern, pattern)
            assert_array_equal(group.patterns, patterns)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 70).flatmap(
        lambda d: st.lists(st.lists(st.booleans(), min_size=d, max_size=d), min_size=1, max_size=40)
    )
)
def test_layout_matches_numpys_unique_rows_on_any_mask(rows):
    mask = np.array(rows, dtype=bool)
    X = np.where(mask, np.nan, 0.5)
    if mask.all(axis=1).any():  # a row without an observed cell is named, not grouped
        with pytest.raises(ValueError, match="no observed value"):
            _missing.MissingLayout.from_array(X)
        return
    layout = _missing.MissingLayout.from_array(X)
    complete, expected = _layout_by_numpys_unique_rows(mask)
    assert_array_equal(layout.complete, complete)
    assert [g.rows.tolist() for g in layout.groups] == [e[0].tolist() for e in expected]
    for group, (_, missing, pattern, patterns) in zip(layout.groups, expected):
        assert_array_equal(group.missing, missing)
        assert_array_equal(group.pattern, pattern)
        assert_array_equal(group.patterns, patterns)


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 2, 5, 5), (30, 4, 1, 1), (30, 4, 7, 7)])
def test_lower_inverse_is_the_inverse(shape):
    # the conditional blocks' triangular inverse, on small stacks (LAPACK) and large ones
    # (forward substitution), from a transposed view as the plan passes it
    from sklearn_em._missing import _lower_inverse

    rng = np.random.RandomState(0)
    s = shape[-1]
    A = rng.randn(*shape[:-2], s, 3 * s)
    spd = A @ np.swapaxes(A, -1, -2) + 1e-3 * np.eye(s)
    L = np.linalg.cholesky(np.swapaxes(np.ascontiguousarray(np.swapaxes(spd, 0, 1)), 0, 1))
    got = _lower_inverse(L)
    assert_allclose(got, np.linalg.inv(L), rtol=0, atol=1e-12 * np.abs(got).max())
    assert_array_equal(np.triu(got, 1), 0.0)


def test_float32_scores_beyond_range_are_minus_inf_without_warning():
    # a float32 row far out, with a missing cell: its log-density is below float32's range
    X = hide_cells(_blobs(), 0.2, seed=6).astype(np.float32)
    est = GaussianMixtureEM(3, random_state=0).fit(X)
    far = np.array([[1e20, np.nan, -1e20, 1e20]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        scores = est.score_samples(far)
    assert scores.dtype == np.float32 and scores[0] == -np.inf


# ---------------------------------------------------------------- rows beyond the range
def _fitted(covariance_type):
    # blobs of spreads 1, 2, 3 (not _blobs' equal ones): far out, the widest decides
    rng = np.random.RandomState(0)
    X = np.vstack([rng.randn(40, 4) * (1 + j) + 4 * j for j in range(3)])
    return GaussianMixtureEM(3, covariance_type=covariance_type, random_state=0).fit(X)


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical", "EII", "VVE"])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_rows_beyond_the_range_get_their_posterior_not_nan(covariance_type, sign):
    # Their log-density is -inf (below the dtype's range), and normalising -inf under every
    # component gave nan responsibilities. The posterior is defined, and far enough out it
    # no longer changes: the oracle is SciPy's posterior (of the observed marginals, for a
    # row with a missing cell) in the same direction at 1e12, one-hot there (on the
    # component that reaches furthest that way or, with shared covariances, the one whose
    # mean pulls furthest along it).
    est = _fitted(covariance_type)
    kernel = get_model(covariance_type).kernel

    def scipy_posterior(row):
        log_prob, _, _ = brute_force_marginals(
            row, kernel, est.weights_, est.means_, est.covariances_
        )
        return np.exp(log_prob - logsumexp(log_prob, axis=1, keepdims=True))

    direction = sign * np.array([1.0, 0.5, -1.0, 0.25])
    hole = np.array([1.0, np.nan, 1.0, 1.0])
    for row in (direction[None], (direction * hole)[None]):
        near = scipy_posterior(1e12 * row)
        assert near.max() == pytest.approx(1.0)
        for t in (1e200, 1e300):
            assert est.score_samples(t * row)[0] == -np.inf
            assert_allclose(est.predict_proba(t * row), near, atol=1e-12)
            assert est.predict(t * row)[0] == near.argmax()
    # float32: below its range at 1e20, computed in float64
    params = est._model()
    got = _kernels.predict_proba((1e20 * direction)[None].astype(np.float32), params)
    assert_allclose(got, scipy_posterior(1e12 * direction[None]), atol=1e-6)
