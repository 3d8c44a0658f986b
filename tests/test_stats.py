"""The statistics seam and the chunked kernels: merging, chunking and threading change nothing."""

import re
import warnings
from dataclasses import replace

import numpy as np
import pytest
from _brute_force import (
    brute_force_statistics,
    collapse_problem,
    component_covariances,
    scatter_of_type,
)
from conftest import COVARIANCE_TYPES, quiet_fit
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn import config_context
from threadpoolctl import threadpool_limits

from sklearn_em import GaussianMixtureEM, _covariance, _kernels, _missing, _online
from sklearn_em._covariance import _FullDirect
from sklearn_em._em import DegenerateComponentWarning, Prior, m_step, variance_floor
from sklearn_em._gpcm import PRIOR_MODELS
from sklearn_em._models import MODEL_NAMES, CovarianceModel, get_model
from sklearn_em._params import GaussianMixtureParams
from sklearn_em._stats import SufficientStats


def _data(n=300, d=3, k=3, offset=0.0, seed=0):
    rng = np.random.RandomState(seed)
    X = np.vstack([rng.randn(n // k, d) * (j + 1) + 6 * j for j in range(k)]) + offset
    resp = rng.dirichlet(np.ones(k), size=X.shape[0])
    return X, resp


def _brute_force(X, resp, covariance_type):
    """Per component: weight, mean and centred scatter, by direct loops."""
    nk = resp.sum(axis=0)
    means = resp.T @ X / nk[:, None]
    full = np.array([(resp[:, j, None] * (X - m)).T @ (X - m) for j, m in enumerate(means)])
    return nk, means, scatter_of_type(full, covariance_type)


def _stats(X, resp, covariance_type, shift):
    return _kernels.statistics(X, None, lambda sl: resp[sl], covariance_type, shift, resp.shape[1])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("offset", [0.0, 1e8])
def test_statistics_match_brute_force(covariance_type, offset):
    X, resp = _data(offset=offset)
    stats = _stats(X, resp, covariance_type, X.mean(axis=0))
    nk, means, scatter = _brute_force(X - offset, resp, covariance_type)
    assert_allclose(stats.nk, nk, rtol=1e-12)
    assert_allclose(stats.means + stats.shift - offset, means, rtol=1e-9, atol=1e-6)
    assert_allclose(stats.scatter, scatter, rtol=1e-9)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("d", [3, 40])
def test_plan_centre_distance_is_the_mahalanobis_distance(covariance_type, d):
    # d=40 with 2 components takes the direct 'full' kernel
    rng = np.random.RandomState(0)
    k = 2
    A = rng.randn(k, d, d)
    covs = np.einsum("kij,klj->kil", A, A) + d * np.eye(d)
    storage = {
        "full": covs,
        "tied": covs[0],
        "diag": np.diagonal(covs, axis1=1, axis2=2).copy(),
        "spherical": np.diagonal(covs, axis1=1, axis2=2).mean(axis=1),
    }[covariance_type]
    kernel = get_model(covariance_type).kernel_type
    prec_chol, failed = kernel.precisions_cholesky(storage)
    assert not failed
    means = rng.randn(k, d) * 3
    _, const, got = kernel.kernel_for(k, d).plan(means, prec_chol, np.float64)
    for j, cov in enumerate(component_covariances(covariance_type, storage, k, d)):
        expected = means[j] @ np.linalg.solve(cov, means[j])
        assert got[j] == pytest.approx(expected, rel=1e-10)
        if kernel.kernel_for(k, d) is not _FullDirect:  # the direct kernel has no constant
            assert const[j] == pytest.approx(-0.5 * expected, rel=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_label_statistics_match_brute_force(covariance_type, weighted, dtype):
    # a hard partition with unlabelled rows (-1) and a component without rows (label 2)
    X, _ = _data(n=300, k=3, offset=1e3)
    rng = np.random.RandomState(1)
    labels = rng.choice([-1, 0, 1, 3], size=X.shape[0])
    w = rng.uniform(0.5, 2.0, size=X.shape[0]) if weighted else None
    if weighted:
        w[:5] = 0.0
    present = [0, 1, 3]
    resp = (labels[:, None] == np.array(present)).astype(float)
    Xd = X.astype(dtype)
    stats = _kernels.label_statistics(Xd, w, labels, 4, covariance_type, X.mean(axis=0))
    nk, means, scatter = _brute_force(
        Xd.astype(np.float64) - 1e3, resp * (1.0 if w is None else w[:, None]), covariance_type
    )
    assert stats.kind == get_model(covariance_type).kernel_type.stats_kind
    assert stats.n_rows == (X.shape[0] if w is None else np.count_nonzero(w))
    assert_array_equal(stats.nk[2], 0.0)
    assert_array_equal(stats.means[2], 0.0)
    assert_allclose(stats.nk[present], nk, rtol=1e-12)
    assert_allclose(stats.means[present] + stats.shift - 1e3, means, rtol=1e-9, atol=1e-9)
    if covariance_type == "tied":
        assert_allclose(stats.scatter, scatter, rtol=1e-9)
    else:
        assert_array_equal(stats.scatter[2], 0.0)
        assert_allclose(stats.scatter[present], scatter, rtol=1e-9)


@pytest.mark.parametrize("direct", [True, False])
def test_full_factors_name_the_components_that_are_not_positive_definite(direct, monkeypatch):
    # LAPACK called directly (a failed matrix comes out as nan) or through NumPy's public
    # functions (the fallback, which raises for the stack): the same factors and failures
    if not direct:
        monkeypatch.setattr(_covariance, "_cholesky_lo", None)
        monkeypatch.setattr(_covariance, "_inv", None)
    rng = np.random.RandomState(0)
    A = rng.randn(5, 3, 6)
    cov = A @ A.transpose(0, 2, 1) / 6
    cov[1] = np.outer([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])  # rank 1
    cov[3, 0, 0] = -1.0  # indefinite
    prec_chol, failed = _covariance._Full.precisions_cholesky(cov)
    assert failed == [1, 3]
    for j in (0, 2, 4):  # U U' is the inverse of the covariance, U upper triangular
        assert_array_equal(np.tril(prec_chol[j], -1), 0.0)
        assert_allclose(prec_chol[j] @ prec_chol[j].T, np.linalg.inv(cov[j]), rtol=1e-10)
    for j in (1, 3):  # reported, and factored as the identity
        assert_array_equal(prec_chol[j], np.eye(3))
    # the usual case: every component positive definite
    good = cov[[0, 2, 4]]
    prec_good, none = _covariance._Full.precisions_cholesky(good)
    assert none == []
    assert_array_equal(prec_good, prec_chol[[0, 2, 4]])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_merge_of_parts_equals_statistics_of_the_whole(covariance_type):
    X, resp = _data(n=301)
    cut = 113
    # each part taken about its own shift, as separate workers or batches would
    a = _stats(X[:cut], resp[:cut], covariance_type, X[:cut].mean(axis=0))
    b = _stats(X[cut:], resp[cut:], covariance_type, X[cut:].mean(axis=0) + 3.0)
    merged = a.merge(b)
    nk, means, scatter = _brute_force(X, resp, covariance_type)
    assert_allclose(merged.nk, nk, rtol=1e-12)
    assert_allclose(merged.means + merged.shift, means, rtol=1e-12)
    assert_allclose(merged.scatter, scatter, rtol=1e-10)
    assert merged.merge(None) is merged


def test_merge_with_an_empty_component():
    X, resp = _data(n=90)
    resp[:45, 2] = 0.0  # component 2 has no weight in the first part
    resp /= resp.sum(axis=1, keepdims=True)
    a = _stats(X[:45], resp[:45], "full", X[:45].mean(axis=0))
    b = _stats(X[45:], resp[45:], "full", X[45:].mean(axis=0))
    merged = a.merge(b)
    nk, means, scatter = _brute_force(X, resp, "full")
    assert_allclose(merged.means + merged.shift, means, rtol=1e-12)
    assert_allclose(merged.scatter, scatter, rtol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_chunking_changes_nothing(covariance_type):
    X, _ = _data(n=600, d=4)
    est = GaussianMixtureEM(3, covariance_type=covariance_type, random_state=0)
    one = est.fit(X)
    one_out = (one.means_.copy(), one.covariances_.copy(), one.lower_bound_, one.predict_proba(X))
    # 0.002 MiB of working memory: chunks of a few rows
    with config_context(working_memory=0.002):
        assert _kernels.chunk_rows(X.shape[0], 3, 4, 8, covariance_type) < 40
        many = GaussianMixtureEM(3, covariance_type=covariance_type, random_state=0).fit(X)
        many_proba = many.predict_proba(X)
    assert_allclose(many.means_, one_out[0], rtol=1e-10)
    assert_allclose(many.covariances_, one_out[1], rtol=1e-9)
    assert_allclose(many.lower_bound_, one_out[2], rtol=1e-12)
    assert_allclose(many_proba, one_out[3], rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_threads_change_nothing(covariance_type):
    # chunk results are combined in chunk order whichever thread computed them
    X, _ = _data(n=3000, d=3)
    with config_context(working_memory=0.01):
        with threadpool_limits(1):
            a = GaussianMixtureEM(3, covariance_type=covariance_type, random_state=0).fit(X)
            pa = a.predict_proba(X)
        with threadpool_limits(2):
            b = GaussianMixtureEM(3, covariance_type=covariance_type, random_state=0).fit(X)
            pb = b.predict_proba(X)
    assert_array_equal(a.means_, b.means_)
    assert_array_equal(a.covariances_, b.covariances_)
    assert a.lower_bound_ == b.lower_bound_
    assert_array_equal(pa, pb)


def test_chunk_rows_honours_working_memory():
    # a chunk holds at least its rows and their k log-probabilities: those alone must fit
    n, k, d = 10**6, 16, 16
    rows = {}
    for mib in (1e-4, 0.5, 2, 1024):
        with config_context(working_memory=mib):
            rows[mib] = _kernels.chunk_rows(n, k, d, 8, "full")
        assert rows[mib] >= 1
        if mib >= 0.5:
            assert rows[mib] * 8 * (d + k) <= mib * 2**20
    assert rows[1e-4] == 1
    assert rows[0.5] < rows[2] <= rows[1024]
    assert _kernels.chunk_rows(5, k, d, 8, "full") == 5


def test_sufficient_stats_are_float64_for_float32_chunks():
    X, resp = _data()
    s32 = _stats(X.astype(np.float32), resp.astype(np.float32), "full", X.mean(axis=0))
    s64 = _stats(X, resp, "full", X.mean(axis=0))
    assert isinstance(s32, SufficientStats)
    assert s32.scatter.dtype == np.float64 and s32.means.dtype == np.float64
    assert_allclose(s32.scatter, s64.scatter, rtol=1e-4)


def test_concurrent_fits_restore_blas_threads():
    # the one-thread BLAS limit is process-wide: overlapping fits on several Python threads
    # must leave it as they found it ('random_from_data': scikit-learn's KMeans has its own
    # unsynchronised limit)
    import threading

    from threadpoolctl import threadpool_info

    def blas_threads():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    X, _ = _data(n=6000, d=3)
    with threadpool_limits(2):
        before = blas_threads()

        def work(seed):
            with config_context(working_memory=0.02):
                for _ in range(3):
                    est = GaussianMixtureEM(3, init_params="random_from_data", random_state=seed)
                    est.fit(X).score(X)

        threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert blas_threads() == before


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-7), (np.float32, 1e-4)])
def test_direct_full_kernel_matches_sklearn(dtype, rtol):
    # few components in many dimensions take the direct kernel (no packed features)
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    from sklearn_em._covariance import KERNELS

    d, k = 40, 3
    assert KERNELS["full"].kernel_for(k, d).__name__ == "_FullDirect"
    assert KERNELS["full"].kernel_for(16, 16).__name__ == "_Full"
    rng = np.random.RandomState(0)
    X = np.vstack([rng.randn(300, d) @ rng.randn(d, d) * 0.3 + 4 * rng.randn(d) for _ in range(k)])
    X = X.astype(dtype)
    start = GaussianMixture(k, max_iter=1, random_state=0).fit(X.astype(np.float64))
    init = dict(
        weights_init=start.weights_, means_init=start.means_, precisions_init=start.precisions_
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = GaussianMixture(k, tol=0, max_iter=10, **init).fit(X)
        with config_context(working_memory=0.5):  # several chunks, on threads
            ours = GaussianMixtureEM(k, tol=0, max_iter=10, **init).fit(X)
    assert ours.covariances_.dtype == dtype
    assert_allclose(ours.weights_, ref.weights_, rtol=rtol)
    assert_allclose(ours.means_, ref.means_, rtol=rtol, atol=rtol * np.abs(ref.means_).max())
    assert_allclose(
        ours.covariances_, ref.covariances_, rtol=rtol, atol=rtol * np.abs(ref.covariances_).max()
    )
    assert_allclose(ours.lower_bound_, ref.lower_bound_, rtol=rtol)
    # per-row densities in float32 round like eps32 * cond (~5e3 here) in both libraries:
    # each is ~0.01 from a float64 evaluation of its own model, so compare at 1e-3
    row_rtol = 1e-3 if dtype == np.float32 else rtol
    assert_allclose(ours.score_samples(X), ref.score_samples(X), rtol=row_rtol, atol=row_rtol)


# ----------------------------------------------------------------------------- the block protocol
def _params_and_oracle(X, covariance_type, w=None, k=3):
    """Parameters of a short fit of k components, and SciPy's per-row log-likelihoods and
    responsibilities."""
    est = quiet_fit(
        GaussianMixtureEM(k, covariance_type=covariance_type, max_iter=2, random_state=0), X
    )
    covs = component_covariances(covariance_type, est.covariances_, k, X.shape[1])
    log_prob = np.column_stack(
        [
            np.log(est.weights_[j]) + multivariate_normal(est.means_[j], covs[j]).logpdf(X)
            for j in range(k)
        ]
    )
    ll = logsumexp(log_prob, axis=1)
    return est._model().astype(np.float64), ll, np.exp(log_prob - ll[:, None])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_blocks_merged_equal_brute_force(covariance_type, weighted):
    # any split into blocks, any order of merging: the statistics, the log-likelihood sum and
    # the worst rows of the whole
    X, _ = _data(n=301, offset=50.0)
    rng = np.random.RandomState(1)
    w = rng.uniform(0.0, 3.0, size=X.shape[0]) if weighted else None
    if weighted:
        w[rng.choice(X.shape[0], 30, replace=False)] = 0.0  # zero-weight rows are never worst
    params, ll, resp = _params_and_oracle(X, covariance_type)
    plan = _kernels.KernelPlan.from_params(params, X.dtype)
    cuts = [0, 17, 18, 150, 301]
    blocks = [
        _kernels.block_statistics(X[a:b], None if w is None else w[a:b], plan, n_worst=4)
        for a, b in zip(cuts[:-1], cuts[1:])
    ]
    in_order = _kernels.merge_all(blocks)
    tree = blocks[0].merge(blocks[1]).merge(blocks[2].merge(blocks[3]))
    weights = np.ones(X.shape[0]) if w is None else w
    nk, means, scatter = _brute_force(X, resp * weights[:, None], covariance_type)
    pos = np.flatnonzero(weights > 0)
    worst = pos[np.argsort(ll[pos])[:4]]
    for s in (in_order, tree):
        assert (
            s.kind
            == {"full": "full", "tied": "pooled", "diag": "diag", "spherical": "trace"}[
                covariance_type
            ]
        )
        assert_allclose(s.nk, nk, rtol=1e-10)
        assert_allclose(s.means + s.shift, means, rtol=1e-10)
        assert_allclose(s.scatter, scatter, rtol=1e-9)
        assert_allclose(s.loglik, weights @ ll, rtol=1e-12)
        assert s.n_rows == pos.size and s.n_worst == 4
        assert_array_equal(s.worst_rows, X[worst])
        assert_allclose(s.worst_scores, ll[worst], rtol=1e-12)
    # the in-memory pass is the same map and merge
    whole = _kernels.accumulate(X, w, params, n_worst=4)
    assert_allclose(whole.scatter, scatter, rtol=1e-9)
    assert_array_equal(whole.worst_rows, X[worst])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_prepared_rows_pass_equals_brute_force(covariance_type, weighted):
    # a small X's pass from its prepared rows (shifted once, features made once, the tied
    # kernel's total scatter made once): the statistics of the whole, as computed directly,
    # and as the chunked pass about the same shift gives them
    X, _ = _data(n=301, offset=50.0)
    rng = np.random.RandomState(1)
    w = rng.uniform(0.0, 3.0, size=X.shape[0]) if weighted else None
    params, ll, resp = _params_and_oracle(X, covariance_type)
    rows = _kernels.PreparedRows.of(X, w)
    plan = _kernels.KernelPlan.from_params(params, X.dtype, rows.shift)
    assert plan.uses(rows, X, w)
    other_weights = None if weighted else np.ones(X.shape[0])
    assert not plan.uses(rows, X.copy(), w) and not plan.uses(rows, X, other_weights)
    weights = np.ones(X.shape[0]) if w is None else w
    # about each column's weighted median (the first row at or past half the weight)
    for j in range(X.shape[1]):
        order = np.argsort(X[:, j])
        half = np.searchsorted(np.cumsum(weights[order]), 0.5 * weights.sum())
        median = np.median(X[:, j]) if w is None else X[order[half], j]
        assert rows.shift[j] == median
    nk, means, scatter = _brute_force(X, resp * weights[:, None], covariance_type)
    worst = np.argsort(ll)[:4]
    prepared = _kernels.accumulate(X, w, params, n_worst=4, prepared=rows)
    with config_context(working_memory=0.002):  # chunks of a few rows: no prepared rows
        assert not plan.uses(rows, X, w)
        chunked = _kernels.accumulate(X, w, params, n_worst=4, prepared=rows)
    for s in (prepared, chunked):
        assert_array_equal(s.shift, rows.shift)
        assert_allclose(s.nk, nk, rtol=1e-10)
        assert_allclose(s.means + s.shift, means, rtol=1e-10)
        assert_allclose(s.scatter, scatter, rtol=1e-9)
        assert_allclose(s.loglik, weights @ ll, rtol=1e-12)
        assert_array_equal(s.worst_rows, X[worst])
    # the prepared arrays are shared by every pass: nothing may write to them
    assert not rows.XsT.flags.writeable and not rows.features(plan.kernel).flags.writeable


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_objects_built_without_their_constructors_set_every_field(covariance_type):
    # a pass builds its plan, statistics and parameters by setting the frozen dataclasses'
    # fields directly (their constructors cost more than a small table's arithmetic): every
    # field must be set on the instance, and the constructor, given the same values, must
    # change none of them (its checks and conversions had nothing to do). The values
    # themselves are held to brute force by the tests above.
    from dataclasses import fields

    from sklearn_em._kernels import KernelPlan
    from sklearn_em._stats import SufficientStats

    X, _ = _data(n=301, offset=50.0)
    params, _, _ = _params_and_oracle(X, covariance_type)
    rows = _kernels.PreparedRows.of(X)
    plan = _kernels._plan_over(X, params, rows)
    stats = _kernels.accumulate(X, None, params, prepared=rows)
    new = m_step(stats, params.model, 1e-6, previous=params)
    for obj, cls in ((plan, KernelPlan), (stats, SufficientStats), (new, GaussianMixtureParams)):
        names = [f.name for f in fields(cls)]
        # (every field in the instance itself, not a class default; SufficientStats may
        # also hold its cached unit weight)
        assert type(obj) is cls and set(names) <= set(vars(obj))
        rebuilt = cls(**{name: getattr(obj, name) for name in names})
        for name in names:
            a, b = getattr(obj, name), getattr(rebuilt, name)
            if isinstance(a, np.ndarray):
                assert_array_equal(a, b)
            else:
                assert a is b or a == b, name


@pytest.mark.parametrize("d", [1, 2, 4])
@pytest.mark.parametrize("weighted", [False, True])
def test_tied_kernel_on_the_full_features_equals_the_whitened_one(monkeypatch, d, weighted):
    # in few dimensions the tied kernel evaluates x'Px on the full kernel's features (one
    # product, the weights from the row of ones): SciPy's densities and the brute-force
    # statistics, and the whitened kernel's numbers to rounding, prepared and chunked
    X, _ = _data(n=301, d=d, offset=50.0)
    w = np.random.RandomState(1).uniform(0.0, 3.0, size=X.shape[0]) if weighted else None
    weights = np.ones(X.shape[0]) if w is None else w
    params, ll, resp = _params_and_oracle(X, "tied")
    tied = _covariance.KERNELS["tied"]
    assert tied.kernel_for(3, d, small=True).__name__ == "_TiedExpanded"
    # (not for large X, whose passes would make the features chunk by chunk)
    assert tied.kernel_for(3, d).__name__ == "_Tied"
    assert tied.kernel_for(3, _covariance.TIED_EXPANDED_MAX_D + 1, small=True).__name__ == "_Tied"
    assert _kernels.KernelPlan.from_params(params, X.dtype, small=True).kernel is not tied
    # (only on prepared rows taken as one chunk: elsewhere its features would be made per call)
    rows = _kernels.PreparedRows.of(X)
    assert _kernels._plan_over(X, params, rows).kernel is not tied
    assert _kernels._plan_over(X, params, None).kernel is tied
    with config_context(working_memory=0.002):
        assert _kernels._plan_over(X, params, rows).kernel is tied
    nk, means, scatter = _brute_force(X, resp * weights[:, None], "tied")

    def passes():
        rows = _kernels.PreparedRows.of(X, w)
        prepared = _kernels.accumulate(X, w, params, n_worst=4, prepared=rows)
        with config_context(working_memory=0.002):  # chunks of a few rows
            chunked = _kernels.accumulate(X, w, params, n_worst=4, prepared=rows)
        return prepared, chunked

    expanded = passes()
    monkeypatch.setattr(_covariance, "TIED_EXPANDED_MAX_D", 0)  # the whitened kernel
    assert _kernels.KernelPlan.from_params(params, X.dtype, small=True).kernel is tied
    whitened = passes()
    for s in expanded + whitened:
        assert_allclose(s.nk, nk, rtol=1e-10)
        assert_allclose(s.means + s.shift, means, rtol=1e-10)
        assert_allclose(s.scatter, scatter, rtol=1e-9)
        assert_allclose(s.loglik, weights @ ll, rtol=1e-12)
    for a, b in zip(expanded, whitened):
        assert_allclose(a.nk, b.nk, rtol=1e-13)
        assert_allclose(a.scatter, b.scatter, rtol=1e-12)
        assert_allclose(a.loglik, b.loglik, rtol=1e-13)
        assert_array_equal(a.worst_rows, b.worst_rows)


@pytest.mark.parametrize("case", ["float32", "exact", "scaled"])
def test_tied_kernel_on_the_full_features_in_float32_far_and_scaled(monkeypatch, case):
    # the expanded tied kernel's other branches, against the whitened kernel and SciPy:
    # float32 rows (its products round like the full kernel's), a tight-enough component far
    # from the shift (computed directly, as the plan's exact one), and the kernel scaled to
    # a power of two (which changes no rounding: bit for bit the unscaled numbers)
    dtype = np.float32 if case == "float32" else np.float64
    X, _ = _data(n=301, d=3, offset=50.0)
    params, _, _ = _params_and_oracle(X, "tied")
    cov = params.covariance_matrices()
    if case == "exact":
        # component 0 some 1e4 standard deviations out: beyond the expansion's budget
        means = params.means.copy()
        means[0] += 1e4 * np.sqrt(np.diag(cov))
        params = replace(params, means=means)
    X = X.astype(dtype)
    log_prob = np.column_stack(
        [
            np.log(params.weights[j])
            + multivariate_normal(params.means[j], cov).logpdf(X.astype(np.float64))
            for j in range(3)
        ]
    )
    ll = logsumexp(log_prob, axis=1)
    resp = np.exp(log_prob - ll[:, None])
    # (the far component has no weight: its mean is no number, and its scatter nothing)
    live = slice(1, None) if case == "exact" else slice(None)
    nk, means, scatter = _brute_force(X.astype(np.float64), resp[:, live], "tied")
    tied = _covariance.KERNELS["tied"]

    def pass_(expanded):
        with monkeypatch.context() as m:
            if not expanded:
                m.setattr(_covariance, "TIED_EXPANDED_MAX_D", 0)
            rows = _kernels.PreparedRows.of(X)
            plan = _kernels._plan_over(X, params, rows)
            assert (plan.kernel is not tied) == expanded
            if case == "exact":
                assert plan.exact is not None and list(plan.exact[0]) == [0]
            return _kernels.accumulate(X, None, params, n_worst=4, prepared=rows)

    got, whitened = pass_(True), pass_(False)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    for s in (got, whitened):
        assert_allclose(s.nk[live], nk, rtol=rtol)
        assert_allclose(s.means[live] + s.shift, means, rtol=rtol)
        assert_allclose(s.scatter, scatter, rtol=10 * rtol)
        assert_allclose(s.loglik, ll.sum(), rtol=rtol)
    assert_allclose(got.scatter, whitened.scatter, rtol=10 * rtol)
    assert_allclose(got.loglik, whitened.loglik, rtol=rtol)
    assert_array_equal(got.worst_rows, whitened.worst_rows)
    if case == "scaled":
        monkeypatch.setitem(_kernels.UNSCALED, np.dtype(dtype), 0)  # scale at every extent
        plan = _kernels.KernelPlan.from_params(params, dtype, small=True)
        assert plan.kernel is not tied and plan.scale not in (1.0, 0.5, 2.0)
        rows = _kernels.PreparedRows.of(X)
        scaled = _kernels.accumulate(X, None, params, n_worst=4, prepared=rows)
        for name in ("nk", "means", "scatter", "worst_rows"):
            assert_array_equal(getattr(scaled, name), getattr(got, name), err_msg=name)
        assert scaled.loglik == got.loglik


def test_prepared_rows_with_far_rows_and_exact_components():
    # the prepared pass's other branches: a row beyond the plan's far limit (its densities
    # in float64, directly) and a tight component far from the shift (computed exactly)
    X, _ = _data(n=300)
    X = np.vstack([X, [[1e60, -1e60, 1e60]]])
    fitted = _params_and_oracle(X[:-1], "full")[0]
    means = fitted.means.copy()
    means[0] = [1e5, 1e5, 1e5]
    prec_chol = fitted.precisions_cholesky.copy()
    prec_chol[0] = np.eye(3) * 1e3  # sd 1e-3, 1e8 of its widths from the shift
    params = replace(fitted, means=means, precisions_cholesky=prec_chol, covariances=None)
    rows = _kernels.PreparedRows.of(X)
    plan = _kernels.KernelPlan.from_params(params, X.dtype, rows.shift)
    assert plan.uses(rows, X, None) and plan.exact is not None and 0 in plan.exact[0]
    assert plan._far_rows(rows.XsT) is not None
    prepared = _kernels.accumulate(X, None, params, prepared=rows)
    with config_context(working_memory=0.002):
        chunked = _kernels.accumulate(X, None, params, prepared=rows)
    assert np.isfinite(prepared.loglik) and np.all(np.isfinite(prepared.scatter))
    assert_allclose(prepared.loglik, chunked.loglik, rtol=1e-12)
    assert_allclose(prepared.nk, chunked.nk, rtol=1e-10)
    assert_allclose(prepared.means, chunked.means, rtol=1e-10)
    assert_allclose(prepared.scatter, chunked.scatter, rtol=1e-9)


def _collapse_params(covariance_type, problem):
    weights, means, covariances = problem
    prec_chol, failed = get_model(covariance_type).kernel_type.precisions_cholesky(covariances)
    assert not failed
    return GaussianMixtureParams(covariance_type, weights, means, prec_chol, covariances)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("path", ["prepared", "chunked", "block", "missing", "online", "given"])
def test_collapse_far_from_the_shift_gets_two_pass_statistics(covariance_type, path):
    # Components of sd 305 collapse in one M-step onto clusters of sd 0.03 that lie 6,000
    # units from the pass's shift: their scatter, as raw moments about the shift centred
    # afterwards, cancels like eps * 4e7 / 1e-3 (1e-5 relative; for 'tied' the shared
    # covariance collapses). Such components' statistics are taken again about their new
    # means: those of a two-pass computation in float64, on every path.
    X, problem = collapse_problem(covariance_type)
    params = _collapse_params(covariance_type, problem)
    if path == "missing":
        # rows with missing cells in the bulk and in the second cluster (observed-data
        # statistics, about the previous means: the second's moved by 2,000)
        X[:20, 2] = np.nan
        X[120:135, 1] = np.nan
    nk, means, scatter = brute_force_statistics(X, covariance_type, *problem)
    if path == "given":  # an initial M-step's: the clusters as hard labels
        labels = np.repeat([0, 1, 2], [120, 40, 30])
        resp = np.eye(3)[labels]
        nk, means, scatter = _brute_force(X, resp, covariance_type)
        got = _stats(X, resp, covariance_type, _kernels.robust_centre(X))
    elif path == "online":  # a partial_fit batch
        got = _online.start(X, None, params).stats
    elif path == "prepared":
        rows = _kernels.PreparedRows.of(X)
        assert _kernels.KernelPlan.from_params(params, X.dtype, rows.shift).uses(rows, X, None)
        got = _kernels.accumulate(X, None, params, prepared=rows)
    elif path == "chunked":
        with config_context(working_memory=0.002):
            got = _kernels.accumulate(X, None, params)
    elif path == "block":
        got = _kernels.block_statistics(X, None, _kernels.KernelPlan.from_params(params, X.dtype))
    else:
        got = _missing.accumulate(X, None, params)
    # the shift lies at the first cluster (or the first component's mean, 50 from it): the
    # others are 6,000 units away
    assert np.abs(got.shift - np.nanmedian(X[:120], axis=0)).max() < 100.0
    assert_allclose(got.nk, nk, rtol=1e-10)
    assert_allclose(got.means + got.shift, means, rtol=1e-12)
    assert_allclose(got.scatter, scatter, rtol=1e-9)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_collapse_far_from_the_shift_in_float32(covariance_type):
    # float32 moments about a shift 6,000 units away resolve no variance below ~eps32 * 4e7
    # (about 5): the collapsed components' variances (1e-3) came out as rounding, thousands
    # of times too large. Taken again about the new means, they are within float32's rows'
    # own rounding (half a unit of 7e3, 2.4e-4, against sd 0.03), and float32 stays float32.
    X, problem = collapse_problem(covariance_type, np.float32)
    params = _collapse_params(covariance_type, problem)
    nk, means, scatter = brute_force_statistics(X, covariance_type, *problem)
    got = _kernels.accumulate(X, None, params, prepared=_kernels.PreparedRows.of(X))
    assert got.eps == np.finfo(np.float32).eps
    assert_allclose(got.nk, nk, rtol=1e-5)
    assert_allclose(got.scatter, scatter, rtol=2e-2)


@pytest.mark.parametrize(
    "model, strength",
    [(m, None) for m in MODEL_NAMES] + [(m, s) for m in PRIOR_MODELS for s in (0.05, 1.0)],
)
@pytest.mark.parametrize("reg_covar", [1e-9, 1e-3])
def test_variance_floor_bounds_the_m_step_variances(model, strength, reg_covar):
    # what a pass resolves its scatter against must not exceed any variance the M-step
    # makes: here of components on identical rows and on 3 rows (singular scatter, which
    # the mclust models' steps pool with the others' volumes or shapes)
    rng = np.random.RandomState(0)
    X = np.vstack(
        [
            rng.randn(50, 3) * [1.0, 5.0, 0.2],
            np.tile([[4.0, -3.0, 1.0]], (10, 1)),
            rng.randn(3, 3) * 0.01 + [-5.0, 5.0, 0.0],
        ]
    )
    labels = np.repeat([0, 1, 2, 3], [25, 25, 10, 3])
    k, d = 4, 3
    stats = _kernels.label_statistics(X, None, labels, k, model, np.zeros(d))
    stats = stats.with_data(_kernels.data_statistics(X, None, model))
    prior = None if strength is None else Prior.default(X, None, model, k, strength)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateComponentWarning)
        params = m_step(stats, model, reg_covar, prior=prior)
    covs = get_model(model).kernel_type.expand(params.covariances, k, d)
    floor = variance_floor(model, reg_covar, prior, float(X.shape[0]), k, d)
    assert floor > 0
    # (eigvalsh's own rounding: OpenBLAS 0.3.21, numpy 1.24's, returns reg_covar - 1 ulp)
    assert np.linalg.eigvalsh(covs).min() >= floor * (1 - 4 * np.finfo(np.float64).eps)


def test_log_likelihood_and_map_are_the_scores_and_largest_probabilities():
    X, _ = _data(n=300)
    X[::7, 1] = np.nan  # rows with a missing cell: their observed marginal
    model = quiet_fit(GaussianMixtureEM(3, random_state=0), X)
    ll, top = _missing.log_likelihood_and_map(X, model._model())
    assert_allclose(ll, model.score_samples(X), rtol=1e-13)
    assert_allclose(top, model.predict_proba(X).max(axis=1), rtol=1e-13)


def test_prepared_rows_only_for_one_chunk():
    X, _ = _data(n=300)
    assert _kernels.PreparedRows.of(X) is not None
    with config_context(working_memory=0.002):
        assert _kernels.PreparedRows.of(X) is None


def _normalize_by_the_block_maximum(log_probT):
    """normalize_inplace as it was written before it skipped the block's maximum in the usual
    case: the offset (the block's largest log-probability) decided first."""
    dtype = log_probT.dtype
    low, bottom = _kernels._DIRECT_LOW[dtype], _kernels._DIRECT_BOTTOM[dtype]
    offset = float(log_probT.max())
    if -np.inf < offset < bottom:
        log_probT -= dtype.type(offset)
    else:
        offset = 0.0
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        dens = np.exp(log_probT)
        total = dens.sum(axis=0)
        ll = np.log(total)
        careful = np.flatnonzero(~((ll >= low) & (ll < np.inf)))
        held = log_probT[:, careful]
        np.divide(dens, total, out=log_probT)
    ll[careful] = _kernels._normalize_shifted(held)
    log_probT[:, careful] = held
    if offset:
        ll += dtype.type(offset)
    return ll


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normalize_decides_the_offset_as_the_block_maximum_does(dtype):
    # the usual case skips the block's maximum; blocks whose largest log-probability is near
    # the bottom below which it is subtracted must get the same bits as when it decided
    rng = np.random.RandomState(0)
    bottom = _kernels._DIRECT_BOTTOM[np.dtype(dtype)]
    for k in (1, 3, 9):
        for i in range(300):
            lp = rng.normal(0.0, 3.0, size=(k, 20))
            lp += bottom + rng.uniform(-6.0, 6.0) - lp.max()
            if i % 2:  # a row of equal terms just below the bottom: its log-likelihood is
                # log k above them, at the bound the usual case is told by
                lp[:, 0] = bottom - rng.choice([1e-7, 1e-6, 1e-5, 1e-3, 0.1])
            lp = lp.astype(dtype)
            got, want = lp.copy(), lp.copy()
            ll_got, ll_want = _kernels.normalize_inplace(got), _normalize_by_the_block_maximum(want)
            assert_array_equal(ll_got, ll_want)
            assert_array_equal(got, want)


@pytest.mark.parametrize("offset", [0.0, -1500.0, 1500.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normalize_matches_logsumexp_at_every_range(dtype, offset):
    # most rows are normalised without subtracting their largest term; rows whose densities
    # are below the dtype's normal range, or overflow it, the careful way: all as SciPy does.
    # Offset: every row far below (many dimensions) or above (spikes) the dtype's range,
    # where the block's largest log-probability is subtracted from all first
    rng = np.random.RandomState(0)
    lp = rng.normal(-8.0, 5.0, size=(4, 300)) + offset
    lp[:, 10] -= 2000.0  # every density below float64's range
    lp[:, 11] -= 95.0  # below float32's normal range only
    lp[:, 12] += 800.0  # every density beyond float64's range
    lp[:, 13] += 95.0  # beyond float32's range only
    lp[0, 14] = -np.inf  # a component of weight 0
    lp[:, 15] = -np.inf  # no component: log-likelihood -inf, responsibilities nan
    lp = lp.astype(dtype)
    exact = lp.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ll_expected = logsumexp(exact, axis=0)
        resp_expected = np.exp(exact - ll_expected)
    for normalize in (_kernels.normalize_inplace, _kernels._normalize_shifted):
        got = lp.copy()
        ll = normalize(got)
        assert ll.dtype == got.dtype == dtype
        eps = np.finfo(dtype).eps
        finite = np.isfinite(ll_expected)
        assert_allclose(ll[finite], ll_expected[finite], rtol=8 * eps, atol=8 * eps)
        assert np.all(ll[~finite] == -np.inf) and np.all(np.isnan(got[:, ~finite]))
        # exp(lp - ll) rounds its argument like eps * |ll|: the careful way and the oracle too
        slack = 16 * eps * (1 + np.abs(ll_expected[finite])) * resp_expected[:, finite]
        assert np.all(np.abs(got[:, finite] - resp_expected[:, finite]) <= slack + 1e-30)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("rho", [0.0, 0.3, 1.0])
def test_blend_is_the_weighted_union(covariance_type, rho):
    # (1 - rho) * a + rho * b: the statistics of both sets of rows, weighted by 1 - rho and rho
    X, _ = _data(n=240, offset=-20.0)
    params, _, _ = _params_and_oracle(X, covariance_type)
    plan = _kernels.KernelPlan.from_params(params, X.dtype)
    A, B = X[:90], X[90:]
    a = _kernels.block_statistics(A, None, plan, n_worst=3)
    b = _kernels.block_statistics(B, None, plan, n_worst=3)
    blended = a.blend(b, rho)
    w = np.concatenate([np.full(len(A), 1.0 - rho), np.full(len(B), rho)])
    keep = w > 0
    union = _kernels.block_statistics(X[keep], w[keep], plan, n_worst=3)
    assert_allclose(blended.nk, union.nk, rtol=1e-12)
    assert_allclose(blended.means + blended.shift, union.means + union.shift, rtol=1e-10)
    assert_allclose(
        blended.scatter, union.scatter, rtol=1e-10, atol=1e-12 * np.abs(union.scatter).max()
    )
    assert_allclose(blended.loglik, union.loglik, rtol=1e-12)
    assert blended.n_rows == pytest.approx((1 - rho) * len(A) + rho * len(B))


@pytest.mark.parametrize("rho", [-0.1, 1.5])
def test_blend_refuses_steps_outside_zero_one(rho):
    X, resp = _data(n=30)
    s = _stats(X, resp, "full", X.mean(axis=0))
    with pytest.raises(ValueError, match=re.escape(f"blend needs 0 <= rho <= 1, got rho={rho!r}.")):
        s.blend(s, rho)


def test_merge_refuses_statistics_of_another_kind():
    X, resp = _data(n=30)
    with pytest.raises(ValueError, match="Cannot merge statistics of kind 'diag' with shape"):
        _stats(X, resp, "full", X[0]).merge(_stats(X, resp, "diag", X[0]))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_data_covariance_comes_from_statistics(covariance_type):
    # within + between scatter, where every row's responsibilities sum to 1; the carried
    # one-component statistics otherwise (here: responsibilities covering a third of X)
    X, resp = _data(n=300, offset=1e6)
    cov = np.cov(X.T, bias=True)
    expected = {
        "full": cov + 1e-3 * np.eye(3),
        "tied": cov + 1e-3 * np.eye(3),
        "diag": np.diag(cov) + 1e-3,
        "spherical": np.trace(cov) / 3 + 1e-3,
    }[covariance_type]
    derived = _stats(X, resp, covariance_type, X.mean(axis=0)).data_covariance(1e-3)
    assert_allclose(derived, expected, rtol=1e-9)
    partial = resp * (np.arange(X.shape[0]) < 100)[:, None]
    s = _stats(X, partial, covariance_type, X.mean(axis=0))
    carried = replace(s, data=_kernels.data_statistics(X, None, covariance_type))
    assert_allclose(carried.data_covariance(1e-3), expected, rtol=1e-9)
    assert not np.allclose(s.data_covariance(1e-3), expected, rtol=1e-3)


def test_m_step_reseeds_at_the_statistics_worst_rows():
    # a component without weight moves to the worst row carried by the statistics: the
    # M-step needs nothing but statistics
    X, resp = _data(n=90)
    resp[:, 2] = 0.0
    resp /= resp.sum(axis=1, keepdims=True)
    s = _stats(X, resp, "full", X.mean(axis=0)).with_worst_rows(X[[7, 3]], [-9.0, -8.0])
    with pytest.warns(DegenerateComponentWarning, match=r"lost their support: \[2\]"):
        params = m_step(s, "full", 1e-6)
    assert_array_equal(params.means[2], X[7])
    assert_allclose(params.covariances[2], s.pooled_covariance(1e-6), rtol=1e-12)


def test_m_step_checks_model_and_statistics():
    X, resp = _data(n=60)
    s = _stats(X, resp, "diag", X.mean(axis=0))
    with pytest.raises(ValueError, match="The VVV model needs 'full' statistics, got 'diag'."):
        m_step(s, "full", 1e-6)
    uncovered = CovarianceModel("VVV", "full", "full", get_model("VVV").estimate)
    prior = Prior(X.mean(axis=0), 0.01, 5.0, np.eye(3), 1.0)
    with pytest.raises(
        ValueError, match="prior_strength is not available for the VVV covariance model"
    ):
        m_step(_stats(X, resp, "full", X.mean(axis=0)), uncovered, 1e-6, prior=prior)


# --- products over a chunk's rows, in pieces ------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(size=st.one_of(st.integers(1, 5000), st.integers(5000, 10**7)), m=st.integers(1, 200_000))
def test_row_pieces_cover_the_rows_in_small_products(size, m):
    bounds = _covariance._row_pieces(size, m)
    small, least = _covariance.SMALL_PRODUCT, _covariance.MIN_PIECE_ROWS
    most = small // size  # rows a small product may have
    # pieces exist where some number of them, each of least..most rows, covers the m rows
    possible = any(p * least <= m <= p * most for p in range(2, m // least + 1))
    assert (bounds is None) == (size * m <= small or not possible)
    if bounds is None:
        return
    assert bounds[0] == 0 and bounds[-1] == m
    lengths = np.diff(bounds)
    assert lengths.min() >= _covariance.MIN_PIECE_ROWS
    assert lengths.max() - lengths.min() <= 1
    assert size * lengths.max() <= _covariance.SMALL_PRODUCT


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "p, r, m",
    # in pieces: the first two; one piece: small, too few rows per piece, no piece small
    [(14, 9, 9083), (44, 5, 12800), (4, 3, 500), (44, 25, 3000), (1100, 1000, 1500)],
)
def test_products_in_pieces_equal_the_whole_product(p, r, m, dtype):
    rng = np.random.RandomState(0)
    A = rng.randn(p, m).astype(dtype)
    B = rng.rand(r, m).astype(dtype)
    want = A.astype(np.float64) @ B.astype(np.float64).T
    got = _covariance.rows_product(A, B)
    assert got.dtype == np.float64 and got.shape == (p, r)
    # each piece's product is summed in the dtype (as a whole product is)
    eps = np.finfo(dtype).eps
    bound = 4 * eps * np.sqrt(m) * (np.abs(A).astype(np.float64) @ B.astype(np.float64).T)
    assert np.all(np.abs(got - want) <= bound)
    C = rng.randn(r, p).astype(dtype)
    out = np.full((r, m), np.nan, dtype=dtype)
    assert _covariance.columns_product(C, A, out) is out
    # each column is one piece's: the same products as C @ A
    assert_allclose(out, C @ A, rtol=4 * eps, atol=4 * eps * (np.abs(C) @ np.abs(A)).max())


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_pass_over_rows_in_pieces_equals_brute_force(covariance_type):
    # 16 components of 4 columns over 6,000 rows: the full kernel's products (14 features)
    # run in pieces of rows, on prepared rows and on chunks
    X, _ = _data(n=6000, d=4, k=4, offset=20.0)
    k = 16
    assert _covariance._row_pieces(14 * k, X.shape[0]) is not None
    params, ll, resp = _params_and_oracle(X, covariance_type, k=k)
    nk, means, scatter = _brute_force(X, resp, covariance_type)
    rows = _kernels.PreparedRows.of(X)
    for prepared in (rows, None):
        s = _kernels.accumulate(X, None, params, prepared=prepared)
        assert_allclose(s.nk, nk, rtol=1e-10)
        assert_allclose(s.means + s.shift, means, rtol=1e-10)
        assert_allclose(s.scatter, scatter, rtol=1e-9)
        assert_allclose(s.loglik, ll.sum(), rtol=1e-12)
