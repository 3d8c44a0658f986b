"""The statistics seam and the chunked kernels: merging, chunking and threading change nothing."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import config_context
from threadpoolctl import threadpool_limits

from sklearn_em import GaussianMixtureEM
from sklearn_em import _kernels
from sklearn_em._stats import SufficientStats

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


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
    scatter = {
        "full": full,
        "tied": full.sum(axis=0),
        "diag": np.diagonal(full, axis1=1, axis2=2),
        "spherical": np.trace(full, axis1=1, axis2=2),
    }[covariance_type]
    return nk, means, scatter


def _stats(X, resp, covariance_type, shift):
    return _kernels.statistics(
        X, None, lambda sl: resp[sl], covariance_type, shift, resp.shape[1]
    )


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
    init = dict(weights_init=start.weights_, means_init=start.means_, precisions_init=start.precisions_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = GaussianMixture(k, tol=0, max_iter=10, **init).fit(X)
        with config_context(working_memory=0.5):  # several chunks, on threads
            ours = GaussianMixtureEM(k, tol=0, max_iter=10, **init).fit(X)
    assert ours.covariances_.dtype == dtype
    assert_allclose(ours.weights_, ref.weights_, rtol=rtol)
    assert_allclose(ours.means_, ref.means_, rtol=rtol, atol=rtol * np.abs(ref.means_).max())
    assert_allclose(ours.covariances_, ref.covariances_, rtol=rtol, atol=rtol * np.abs(ref.covariances_).max())
    assert_allclose(ours.lower_bound_, ref.lower_bound_, rtol=rtol)
    # per-row densities in float32 round like eps32 * cond (~5e3 here) in both libraries:
    # each is ~0.01 from a float64 evaluation of its own model, so compare at 1e-3
    row_rtol = 1e-3 if dtype == np.float32 else rtol
    assert_allclose(ours.score_samples(X), ref.score_samples(X), rtol=row_rtol, atol=row_rtol)
