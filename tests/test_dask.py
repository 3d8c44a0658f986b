"""Fitting and inference on dask collections, on a real distributed.LocalCluster.

The oracle is the in-memory estimator on the same rows: from the same initial parameters a
dask fit must take the same iterations to the same numbers (the passes differ only in how
the statistics are summed: by blocks merged in a tree instead of chunks in order).
"""

import logging
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array", reason="dask is not installed (extra 'dask')")
distributed = pytest.importorskip(
    "distributed", reason="distributed is not installed (extra 'dask')"
)
dd = pytest.importorskip("dask.dataframe", reason="dask.dataframe is not installed (extra 'dask')")

import dask  # noqa: E402
import pandas as pd  # noqa: E402
from _brute_force import brute_force_statistics, collapse_problem  # noqa: E402
from conftest import COVARIANCE_TYPES, hide_cells  # noqa: E402

from sklearn_em import GaussianMixtureEM, _dask, _kernels  # noqa: E402
from sklearn_em._models import MODEL_NAMES, get_model  # noqa: E402
from sklearn_em._params import GaussianMixtureParams  # noqa: E402

WORKER_MEMORY = 500 * 2**20


@pytest.fixture(scope="module")
def client():
    """Two worker processes of one thread each, with memory limits, for the whole module.

    A worker near its limit would pause (dask's default at 80%) and wait for memory that
    nothing here frees: the test would hang. Without pausing, a worker over its limit is
    restarted, and the out-of-core test fails instead (it asserts that none was).
    """
    logging.getLogger("distributed").setLevel(logging.ERROR)
    with (
        dask.config.set(
            {
                "distributed.worker.memory.pause": False,
                "distributed.worker.memory.spill": False,
                "distributed.worker.memory.target": False,
            }
        ),
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            memory_limit=WORKER_MEMORY,
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def _blobs(n=3000, d=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0] * d, [5.0] * d, [0.0] * (d - 1) + [10.0]])
    X = np.vstack([rng.normal(c, 1.0 + j, size=(n // 3, d)) for j, c in enumerate(centres)])
    return X[rng.permutation(X.shape[0])] + 1e3  # off the origin: shifts must stay exact


def _weights(n, seed=1):
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.1, 3.0, size=n)
    w[::11] = 0.0
    w[5::13] = 2.0  # integer weights among them
    return w


def _given_init(covariance_type, X, seed=2):
    """Initial parameters a little off the blobs, so EM takes several iterations."""
    ref = GaussianMixtureEM(3, covariance_type=covariance_type, random_state=seed).fit(X)
    return dict(
        weights_init=np.array([0.2, 0.3, 0.5]),
        means_init=ref.means_ + 0.5,
        precisions_init=ref.precisions_,
    )


# uneven row blocks, one a single row
def _as_dask(X, chunks=(1000, 1, 799, 1200)):
    chunks = tuple(chunks) + (X.shape[0] - sum(chunks),)
    return da.from_array(X, chunks=(chunks, X.shape[1]))


def _assert_same_fit(a, b, rtol):
    assert a.n_iter_ == b.n_iter_
    assert a.converged_ == b.converged_
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        scale = np.abs(y).max()
        np.testing.assert_allclose(x, y, rtol=0, atol=rtol * scale, err_msg=name)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=rtol)


# scikit-learn's four names with dask weights too; mclust's other ten models without
@pytest.mark.parametrize(
    "covariance_type, weighted",
    [(c, w) for c in COVARIANCE_TYPES for w in (False, True)]
    + [(m, False) for m in MODEL_NAMES if get_model(m).alias is None],
)
def test_fit_from_given_init_equals_in_memory_fit(client, covariance_type, weighted):
    X = _blobs()
    w = _weights(X.shape[0]) if weighted else None
    init = _given_init(covariance_type, X)
    kw = dict(covariance_type=covariance_type, tol=1e-6, **init)
    ours = GaussianMixtureEM(3, **kw).fit(X, sample_weight=w)
    Xd = _as_dask(X)
    wd = None if w is None else da.from_array(w, chunks=Xd.chunks[0])
    theirs = GaussianMixtureEM(3, **kw).fit(Xd, sample_weight=wd)
    assert ours.n_iter_ > 3
    _assert_same_fit(theirs, ours, rtol=1e-9)


def test_fit_runs_on_the_active_scheduler(client):
    X = _blobs(n=600)
    init = _given_init("spherical", X)
    kw = dict(covariance_type="spherical", tol=1e-6, **init)
    with dask.config.set(scheduler="synchronous"):  # takes precedence over the client
        theirs = GaussianMixtureEM(3, **kw).fit(_as_dask(X, chunks=(250,)))
    _assert_same_fit(theirs, GaussianMixtureEM(3, **kw).fit(X), rtol=1e-9)


def test_float32_stays_float32(client):
    X = _blobs().astype(np.float32)
    init = _given_init("full", X)
    kw = dict(tol=1e-4, **init)
    ours = GaussianMixtureEM(3, **kw).fit(X)
    theirs = GaussianMixtureEM(3, **kw).fit(_as_dask(X))
    assert theirs.means_.dtype == np.float32
    assert theirs.score_samples(_as_dask(X)).dtype == np.float32
    _assert_same_fit(theirs, ours, rtol=1e-4)  # float32 sums in another order


@pytest.fixture(scope="module")
def fitted():
    X = _blobs()
    return X, GaussianMixtureEM(3, random_state=0).fit(X)


def test_inference_is_lazy_row_aligned_and_equals_in_memory(client, fitted):
    X, gm = fitted
    Xd = _as_dask(X)
    for method, shape in [
        ("predict", (X.shape[0],)),
        ("score_samples", (X.shape[0],)),
        ("predict_proba", (X.shape[0], 3)),
    ]:
        lazy = getattr(gm, method)(Xd)
        assert isinstance(lazy, da.Array), method
        assert lazy.chunks[0] == Xd.chunks[0], method
        assert lazy.shape == shape
        expected = getattr(gm, method)(X)
        got = lazy.compute()
        assert got.dtype == expected.dtype, method
        np.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=method)
    labels = GaussianMixtureEM(3, **_given_init("full", X)).fit_predict(Xd)
    assert isinstance(labels, da.Array)


def test_inference_with_missing_cells_equals_in_memory(client, fitted):
    # in memory a row's missing cells are marginalised out; a dask X must not give nan
    X, gm = fitted
    X = X.copy()
    hide = np.random.RandomState(0).rand(*X.shape) < 0.2
    hide[:, 0] = False  # every row keeps an observed cell
    X[hide] = np.nan
    Xd = _as_dask(X)
    for method in ("predict", "score_samples", "predict_proba"):
        expected = getattr(gm, method)(X)
        assert np.all(np.isfinite(expected)), method
        np.testing.assert_allclose(getattr(gm, method)(Xd).compute(), expected, rtol=1e-12)
    for method in ("score", "bic", "icl"):
        np.testing.assert_allclose(getattr(gm, method)(Xd), getattr(gm, method)(X), rtol=1e-12)


def test_inference_names_a_row_without_observed_cells_by_its_row_in_x(client, fitted):
    # in memory the error names row 1500; each dask block named it by its row in the block
    # (500, for the block that starts at row 1000)
    X, gm = fitted
    X = X.copy()
    X[1500] = np.nan
    Xd = _as_dask(X)  # blocks start at rows 0, 1000, 1001, 1800
    with pytest.raises(ValueError, match=r"rows 1500\.") as in_memory:
        gm.predict(X)
    for method in ("predict", "score_samples", "predict_proba"):
        with pytest.raises(ValueError) as lazy:
            getattr(gm, method)(Xd).compute()
        assert str(lazy.value) == "at least " + str(in_memory.value), method
    for method in ("score", "bic", "icl"):
        with pytest.raises(ValueError, match=r"^at least 1 row\(s\) .*: rows 1500\."):
            getattr(gm, method)(Xd)


def test_partial_fit_takes_a_dask_batch_first(client):
    # the first call is fit on its batch, and a dask batch is computed like later ones (it
    # failed in the statistics of the stream's start)
    X = _blobs(600)
    batches = [X[:300], X[300:]]
    in_memory = GaussianMixtureEM(3, random_state=0)
    lazy = GaussianMixtureEM(3, random_state=0)
    for batch in batches:
        in_memory.partial_fit(batch)
        lazy.partial_fit(da.from_array(batch, chunks=100))
    np.testing.assert_array_equal(lazy.means_, in_memory.means_)
    np.testing.assert_array_equal(lazy.covariances_, in_memory.covariances_)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "dask-weights"])
def test_criteria_equal_in_memory(client, fitted, weighted):
    X, gm = fitted
    w = _weights(X.shape[0]) if weighted else None
    Xd = _as_dask(X)
    wd = None if w is None else da.from_array(w, chunks=500)  # not X's chunks: realigned
    for method in ("score", "bic", "aic", "icl"):
        got = getattr(gm, method)(Xd, sample_weight=wd)
        assert isinstance(got, float), method
        np.testing.assert_allclose(got, getattr(gm, method)(X, sample_weight=w), rtol=1e-12)


def test_dataframe_equals_array_and_keeps_feature_names(client):
    X = _blobs()
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    ddf = dd.from_pandas(df, npartitions=4)
    init = _given_init("diag", X)
    from_frame = GaussianMixtureEM(3, covariance_type="diag", **init).fit(ddf)
    from_array = GaussianMixtureEM(3, covariance_type="diag", **init).fit(X)
    np.testing.assert_array_equal(from_frame.feature_names_in_, ["a", "b", "c"])
    _assert_same_fit(from_frame, from_array, rtol=1e-9)
    np.testing.assert_array_equal(from_frame.predict(ddf).compute(), from_array.predict(X))
    with pytest.raises(ValueError, match="feature names should match"):
        from_frame.predict(ddf.rename(columns={"a": "z"}))


def test_kmeans_init_on_a_sample_reaches_the_in_memory_optimum(client, monkeypatch):
    # a sample smaller than the data, so the sampling pass is exercised
    monkeypatch.setattr(_dask, "INIT_SAMPLE_ROWS", 600)
    X = _blobs(n=6000)
    kw = dict(tol=1e-10, max_iter=500, random_state=0)
    ours = GaussianMixtureEM(3, **kw).fit(X)
    theirs = GaussianMixtureEM(3, **kw).fit(_as_dask(X, chunks=(2000, 1500)))
    order_a, order_b = np.argsort(ours.means_[:, -1]), np.argsort(theirs.means_[:, -1])
    np.testing.assert_allclose(theirs.means_[order_b], ours.means_[order_a], rtol=1e-6)
    np.testing.assert_allclose(theirs.lower_bound_, ours.lower_bound_, rtol=1e-9)
    again = GaussianMixtureEM(3, **kw).fit(_as_dask(X, chunks=(2000, 1500)))
    np.testing.assert_array_equal(again.means_, theirs.means_)  # same random_state, same fit


def test_sample_is_uniform_without_replacement_from_positive_rows(client, monkeypatch):
    n, size = 2000, 300
    monkeypatch.setattr(_dask, "INIT_SAMPLE_ROWS", size)
    X = np.arange(n, dtype=np.float64)[:, None] * np.ones((1, 2))
    w = np.ones(n)
    w[::3] = 0
    Xd = _as_dask(X, chunks=(700, 100))
    data = _dask.FitData(Xd, _dask.as_dask_weights(da.from_array(w, chunks=700), Xd), 1)
    counts = np.zeros(n)
    for seed in range(20):
        data._sample = None  # a new draw
        rows, weights = data.sample(np.random.RandomState(seed), "full")
        idx = rows[:, 0].astype(int)
        assert len(idx) == size and len(np.unique(idx)) == size  # without replacement
        assert np.all(w[idx] > 0)  # rows of weight 0 are never drawn
        np.testing.assert_array_equal(weights, w[idx])
        counts[idx] += 1
    # the sampling pass also took the data's statistics (no pass more for complete data):
    # those of all rows in memory
    data.map_reduce = None  # a pass would fail
    got, expected = data.data_statistics("full"), _kernels.data_statistics(X, w, "full")
    np.testing.assert_allclose(got.nk, expected.nk, rtol=1e-12)
    np.testing.assert_allclose(got.means + got.shift, expected.means + expected.shift, rtol=1e-12)
    np.testing.assert_allclose(got.scatter, expected.scatter, rtol=1e-12)
    positive = counts[w > 0]
    # each of the 1333 positive rows is drawn with probability 300/1333 per sample: over
    # 20 samples its count is Binomial(20, 0.225), mean 4.5, sd 1.9; the mean count over a
    # block of >= 67 such rows has sd <= 0.23: a bound of 1.0 fails a biased sampler only
    for block in (slice(0, 700), slice(700, 800), slice(800, n)):
        mean = counts[block][w[block] > 0].mean()
        assert abs(mean - 20 * size / positive.size) < 1.0, (block, mean)


def _fit(X, sample_weight=None):
    return GaussianMixtureEM(2).fit(X, sample_weight=sample_weight)


def test_errors_name_the_problem(client):
    X = _blobs(n=300)
    Xd = _as_dask(X, chunks=(100,))
    bad = X.copy()
    bad[150, 1] = np.inf
    bad[10:20, 0] = np.nan  # missing cells are no error, an infinite one is
    with pytest.raises(ValueError, match=r"^Input X contains infinity or a value too large"):
        _fit(_as_dask(bad, chunks=(100,)))
    with pytest.raises(ValueError, match="Negative values in data passed to sample_weight"):
        _fit(Xd, sample_weight=da.from_array(-np.ones(300), chunks=100))
    with pytest.raises(ValueError, match=r"sample_weight.shape == \(299,\), expected \(300,\)!"):
        _fit(Xd, sample_weight=da.ones(299, chunks=100))
    with pytest.raises(ValueError, match="sample_weight must not be all zero"):
        _fit(Xd, sample_weight=da.zeros(300, chunks=100))
    with pytest.raises(ValueError, match=r"Found array with 1 sample\(s\) \(shape=\(1, 3\)\)"):
        _fit(Xd[:1])
    with pytest.raises(ValueError, match="Expected a 2-D dask array for X, got 1-D"):
        _fit(Xd[:, 0])
    with pytest.raises(ValueError, match=r"n_components = 5, n_samples = 3 \(rows with positive"):
        w = np.zeros(300)
        w[:3] = 1
        GaussianMixtureEM(5).fit(Xd, sample_weight=da.from_array(w, chunks=100))
    frame = dd.from_pandas(pd.DataFrame({"x": np.arange(4.0), "s": list("abcd")}), npartitions=2)
    with pytest.raises(ValueError, match=r"numeric columns only; columns \['s'\] are not numeric"):
        _fit(frame)
    fitted = GaussianMixtureEM(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="X has 2 features, but GaussianMixtureEM is expecting 3"):
        fitted.predict(Xd[:, :2])


# ---------------------------------------------------------------- missing values
def _with_missing_cells(X, weights=None):
    """X with about a seventh of its cells missing, laid out for ``_as_dask``'s default blocks: the
    block of one row (row 1000) has a missing cell, the block of rows 1001-1799 none. With
    ``weights``, two rows of weight 0 have no observed cell (in memory, rows of weight 0
    are dropped before anything else looks at them)."""
    Xm = hide_cells(X, 0.3, seed=3)
    Xm[1000:1800] = X[1000:1800]
    Xm[1000, 0] = np.nan
    if weights is not None:
        empty = np.flatnonzero(weights == 0)[[1, -1]]
        Xm[empty] = np.nan
    return Xm


@pytest.mark.parametrize(
    "covariance_type, weighted, chunks",
    [(c, w, (1000, 1, 799, 1200)) for c in COVARIANCE_TYPES for w in (False, True)]
    + [("full", True, (250,)), ("VEV", False, (3000,))],
)
def test_fit_with_missing_cells_equals_in_memory_fit(client, covariance_type, weighted, chunks):
    X = _blobs()
    w = _weights(X.shape[0]) if weighted else None
    Xm = _with_missing_cells(X, w)
    assert np.isnan(Xm).mean() > 0.12
    init = _given_init(covariance_type, X)
    kw = dict(covariance_type=covariance_type, tol=1e-6, **init)
    ours = GaussianMixtureEM(3, **kw).fit(Xm, sample_weight=w)
    Xd = _as_dask(Xm, chunks)
    wd = None if w is None else da.from_array(w, chunks=Xd.chunks[0])
    theirs = GaussianMixtureEM(3, **kw).fit(Xd, sample_weight=wd)
    assert ours.n_iter_ > 3
    _assert_same_fit(theirs, ours, rtol=1e-10)


def test_prior_from_mean_filled_statistics_equals_in_memory(client):
    # the prior's scale comes from the mean-filled data's statistics, in memory and on dask
    X = _blobs()
    Xm = _with_missing_cells(X)
    kw = dict(covariance_type="tied", prior_strength=1.0, tol=1e-6, **_given_init("tied", X))
    _assert_same_fit(
        GaussianMixtureEM(3, **kw).fit(_as_dask(Xm)), GaussianMixtureEM(3, **kw).fit(Xm), 1e-10
    )


def test_float32_with_missing_cells_stays_float32(client):
    X = _blobs().astype(np.float32)
    Xm = _with_missing_cells(X).astype(np.float32)
    kw = dict(tol=1e-4, **_given_init("full", X))
    theirs = GaussianMixtureEM(3, **kw).fit(_as_dask(Xm))
    assert theirs.means_.dtype == np.float32
    _assert_same_fit(theirs, GaussianMixtureEM(3, **kw).fit(Xm), rtol=1e-4)


def test_dataframe_with_missing_cells_equals_in_memory_fit(client):
    X = _blobs()
    Xm = _with_missing_cells(X)
    df = pd.DataFrame(Xm, columns=["a", "b", "c"])
    # a nullable column: its missing cells are pd.NA, not NaN (as scikit-learn reads them)
    df["b"] = pd.array(Xm[:, 1], dtype="Float64")
    assert df["b"].isna().sum() == np.isnan(Xm[:, 1]).sum() > 0
    ddf = dd.from_pandas(df, npartitions=5)
    kw = dict(covariance_type="diag", tol=1e-6, **_given_init("diag", X))
    ours = GaussianMixtureEM(3, **kw).fit(Xm)
    _assert_same_fit(GaussianMixtureEM(3, **kw).fit(df), ours, rtol=1e-13)
    _assert_same_fit(GaussianMixtureEM(3, **kw).fit(ddf), ours, rtol=1e-10)


def test_kmeans_init_with_missing_cells_reaches_the_in_memory_optimum(client):
    # the starts see the sample mean-filled with the global column means, as in memory
    X = _with_missing_cells(_blobs())
    kw = dict(tol=1e-10, max_iter=500, random_state=0)
    ours = GaussianMixtureEM(3, **kw).fit(X)
    theirs = GaussianMixtureEM(3, **kw).fit(_as_dask(X))
    order_a, order_b = np.argsort(ours.means_[:, -1]), np.argsort(theirs.means_[:, -1])
    np.testing.assert_allclose(theirs.means_[order_b], ours.means_[order_a], rtol=1e-6)
    np.testing.assert_allclose(theirs.lower_bound_, ours.lower_bound_, rtol=1e-9)


def _assert_same_statistics(got, expected):
    assert got.kind == expected.kind
    np.testing.assert_allclose(got.nk, expected.nk, rtol=1e-13)
    np.testing.assert_allclose(got.n_rows, expected.n_rows, rtol=0)
    # the sums are about different shifts (each the first row of a block or of X)
    np.testing.assert_allclose(got.means + got.shift, expected.means + expected.shift, rtol=1e-13)
    np.testing.assert_allclose(got.scatter, expected.scatter, rtol=1e-11)


def _filled_by_numpy(X, w):
    """Each missing cell set to its column's weighted mean over the observed cells, by NumPy
    alone (the oracle of the dask scan and fill, which share ``_missing``'s helpers)."""
    observed = ~np.isnan(X)
    means = np.nansum(X * w[:, None], axis=0) / (observed * w[:, None]).sum(axis=0)
    return np.where(observed, X, means)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])  # the three kinds
@pytest.mark.parametrize("sampled", [False, True], ids=["scan-pass", "sampling-pass"])
def test_data_statistics_are_those_of_the_mean_filled_data(client, covariance_type, sampled):
    X = _blobs()
    w = _weights(X.shape[0])
    Xm = _with_missing_cells(X, w)
    Xd = _as_dask(Xm)
    data = _dask.FitData(Xd, _dask.as_dask_weights(da.from_array(w, chunks=Xd.chunks[0]), Xd), 3)
    if sampled:  # the sampling pass takes the scan, and fills the sample's missing cells
        rows, weights = data.sample(np.random.RandomState(0), covariance_type)
        filled = _filled_by_numpy(Xm[w > 0], w[w > 0])
        # all rows of positive weight, in the order of their random keys: match them by
        # sorting (the filled cells of a column are one value, the observed ones distinct)
        order_got, order_exp = np.lexsort(rows.T[::-1]), np.lexsort(filled.T[::-1])
        np.testing.assert_allclose(rows[order_got], filled[order_exp], rtol=1e-14)
        np.testing.assert_array_equal(weights[order_got], w[w > 0][order_exp])
    got = data.data_statistics(covariance_type)
    expected = _kernels.data_statistics(_filled_by_numpy(Xm, w), w, covariance_type)
    _assert_same_statistics(got, expected)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_collapse_far_from_the_shift_by_blocks(covariance_type):
    # a pass whose components collapse onto tight clusters 6,000 units from the shift (see
    # test_stats.test_collapse_far_from_the_shift_gets_two_pass_statistics): each block
    # takes the collapsed components' scatter again about their new means, and the merge of
    # the blocks is the two-pass statistics of all rows
    X, problem = collapse_problem(covariance_type)
    weights, means, covariances = problem
    prec_chol, _ = get_model(covariance_type).kernel_type.precisions_cholesky(covariances)
    params = GaussianMixtureParams(covariance_type, weights, means, prec_chol, covariances)
    # blocks cut through every cluster (rows 0-119, 120-159, 160-189)
    Xd = da.from_array(X, chunks=((70, 70, 30, 20), X.shape[1]))
    with dask.config.set(scheduler="synchronous"):
        got = _dask.FitData(Xd, None, 3).e_pass(params)
    nk, means, scatter = brute_force_statistics(X, covariance_type, *problem)
    np.testing.assert_allclose(got.nk, nk, rtol=1e-10)
    np.testing.assert_allclose(got.means + got.shift, means, rtol=1e-12)
    np.testing.assert_allclose(got.scatter, scatter, rtol=1e-9)


def test_block_statistics_by_chunks_equal_in_memory(monkeypatch):
    # blocks are scanned and filled chunk by chunk: chunks of 70 rows, in this process
    monkeypatch.setattr(_kernels, "CHUNK_BYTES", 70 * 8 * 3)
    X = _blobs()
    w = _weights(X.shape[0])
    Xm = _with_missing_cells(X, w)
    Xd = _as_dask(Xm)
    data = _dask.FitData(Xd, _dask.as_dask_weights(da.from_array(w, chunks=Xd.chunks[0]), Xd), 3)
    with dask.config.set(scheduler="synchronous"):
        got = data.data_statistics("full")
    expected = _kernels.data_statistics(_filled_by_numpy(Xm, w), w, "full")
    _assert_same_statistics(got, expected)
    positive = w > 0
    np.testing.assert_allclose(
        data._scan.observed_sum, np.nansum(Xm[positive] * w[positive, None], axis=0), rtol=1e-13
    )
    np.testing.assert_allclose(
        data._scan.observed_weight, (~np.isnan(Xm[positive]) * w[positive, None]).sum(axis=0)
    )


def _count_passes(monkeypatch):
    """The block function of every pass ``FitData.map_reduce`` makes, in order."""
    passes = []
    map_reduce = _dask.FitData.map_reduce

    def counted(self, block_fn, merge, *args):
        passes.append(block_fn.__name__)
        return map_reduce(self, block_fn, merge, *args)

    monkeypatch.setattr(_dask.FitData, "map_reduce", counted)
    return passes


@pytest.mark.parametrize("given_init", [False, True], ids=["sampled-init", "given-init"])
def test_only_data_with_missing_cells_pay_one_more_pass(client, monkeypatch, given_init):
    X = _blobs(n=600)
    kw = dict(max_iter=3, tol=0, random_state=0)
    if given_init:
        kw.update(_given_init("full", X))
    first = "_scan_block" if given_init else "_sample_block"
    passes = _count_passes(monkeypatch)
    for data, before_em in [
        (X, [first]),
        (hide_cells(X, 0.1), [first, "_filled_data_block"]),
    ]:
        passes.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 3 iterations do not converge
            GaussianMixtureEM(3, **kw).fit(_as_dask(data, chunks=(250,)))
        assert passes[: len(before_em)] == before_em
        assert set(passes[len(before_em) :]) == {"_em_block"}


def _error(fit):
    with pytest.raises(ValueError) as info:
        fit()
    return str(info.value)


def test_rows_and_columns_without_observed_cells_err_as_in_memory(client):
    X = _blobs(n=300)
    no_row = X.copy()
    no_row[[5, 150, 151], :] = np.nan  # in two blocks
    no_column = X.copy()
    no_column[:, 1] = np.nan
    only_in_dropped_rows = X.copy()  # column 1 observed in rows of weight 0 only
    only_in_dropped_rows[2:, 1] = np.nan
    w = np.ones(300)
    w[:2] = 0.0
    for Xm, weights in [(no_row, None), (no_column, None), (only_in_dropped_rows, w)]:
        expected = _error(lambda: _fit(Xm, weights))
        wd = None if weights is None else da.from_array(weights, chunks=100)
        assert _error(lambda: _fit(_as_dask(Xm, chunks=(100,)), wd)) == expected
    assert "3 row(s) of X have no observed value" in _error(lambda: _fit(no_row))
    assert "Feature 1 has no observed value" in _error(lambda: _fit(no_column))
    # rows named as rows of X, whatever rows of weight 0 come before them
    wd = da.from_array(w, chunks=100)
    message = _error(lambda: _fit(_as_dask(no_row, chunks=(100,)), wd))
    assert message.startswith(
        "3 row(s) of X have no observed value (every cell is NaN): rows 5, 150, 151. "
    )


def test_prior_and_its_statistics_equal_in_memory(client):
    X = _blobs()
    init = _given_init("tied", X)
    kw = dict(covariance_type="tied", prior_strength=1.0, tol=1e-6, **init)
    _assert_same_fit(
        GaussianMixtureEM(3, **kw).fit(_as_dask(X)), GaussianMixtureEM(3, **kw).fit(X), 1e-9
    )


def _peak_rss():
    # Linux's VmHWM: this process's own peak (a spawned worker's ru_maxrss also counts its
    # parent's resident set when it was forked)
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB


def _uniform_block(block_id, rows, d):
    # two boxes of uniform rows, the block generated from its index: nothing is stored
    rng = np.random.default_rng([7, block_id[0]])
    X = rng.random((rows, d))
    X[rows // 2 :] += 3.0
    return X


def test_out_of_core_fit_keeps_workers_under_their_memory_limit(client):
    rows, d = 125_000, 16
    n_blocks = 80  # 1.28 GB of float64, more than the two workers' limits together
    X = da.map_blocks(
        _uniform_block, rows=rows, d=d, chunks=((rows,) * n_blocks, (d,)), dtype=np.float64
    )
    assert X.nbytes > 2 * WORKER_MEMORY
    workers = set(client.scheduler_info()["workers"])
    init = dict(
        weights_init=[0.5, 0.5],
        means_init=np.array([[0.4] * d, [3.6] * d]),
        precisions_init=np.full((2, d), 10.0),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one iteration does not converge
        gm = GaussianMixtureEM(2, covariance_type="diag", max_iter=1, **init).fit(X)
    # one EM step from these means: each box's mean (0.5 and 3.5) and variance (1/12)
    np.testing.assert_allclose(np.sort(gm.means_[:, 0]), [0.5, 3.5], atol=1e-3)
    np.testing.assert_allclose(gm.covariances_, 1 / 12, rtol=1e-2)
    assert set(client.scheduler_info()["workers"]) == workers  # none was restarted
    for peak in client.run(_peak_rss).values():
        assert peak < WORKER_MEMORY


def test_no_pass_keeps_a_block_as_a_result(client):
    # each block's statistics are computed in the task that makes the block: a block kept as
    # a task's result would count against the worker's memory, and be spilled to disk
    X = da.map_blocks(_uniform_block, rows=500, d=2, chunks=((500,) * 6, (2,)), dtype=np.float64)
    w = da.from_array(_weights(3000), chunks=500)
    with distributed.get_task_stream(client) as stream:
        GaussianMixtureEM(2, max_iter=3, random_state=0).fit(X, sample_weight=w)
    names = {dask.utils.key_split(task["key"]) for task in stream.data}
    assert "on_block" in names and "_uniform_block" not in names, sorted(names)


@pytest.mark.parametrize("missing", [False, True])
def test_every_task_needs_at_most_one_block(client, monkeypatch, missing):
    # Every pass (the k-means sample, which also scans; with missing cells the mean-filled
    # pass; the EM passes) gives each block a task of its own that needs no other block, and
    # everything after it needs only statistics: the scheduler can run each block's task
    # where the block is, so a persisted block never has to move (dask may still move one to
    # balance load: its choice, not the graph's). A rechunk inside a pass fails this.
    X = _blobs(n=1200)
    if missing:
        X = hide_cells(X, 0.1)
    X = client.persist(_as_dask(X, chunks=(300, 1, 299, 400)))
    w = client.persist(da.from_array(_weights(X.shape[0]), chunks=(X.chunks[0],)))
    blocks = {key for key in dask.core.flatten(X.__dask_keys__())}
    weight_blocks = {key for key in dask.core.flatten(w.__dask_keys__())}
    graphs = []
    compute = dask.compute

    def spy(*args, **kwargs):
        for a in filter(dask.is_dask_collection, args):  # each task, and the keys it needs
            tasks = dict(a.__dask_graph__())
            graphs.append({k: set(getattr(t, "dependencies", ())) for k, t in tasks.items()})
        return compute(*args, **kwargs)

    monkeypatch.setattr(dask, "compute", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few iterations do not converge
        GaussianMixtureEM(3, max_iter=3, tol=0, random_state=0).fit(X, sample_weight=w)
    passes = [g for g in graphs if any(dask.utils.key_split(key) == "on_block" for key in g)]
    # the sample (which takes the scan), with missing cells the mean-filled pass, 3 EM passes
    assert len(passes) == 4 + missing
    for dependencies in passes:
        users = {key: [] for key in blocks | weight_blocks}
        for key, needs in dependencies.items():
            mine = needs & blocks
            assert len(mine) <= 1, (key, sorted(mine))
            assert len(needs & weight_blocks) <= 1, key
            for block in needs & (blocks | weight_blocks):
                users[block].append(key)
        # every block (of X and of the weights) is read by exactly one task of the pass,
        # the same for a block of X and its weights
        assert all(len(u) == 1 for u in users.values()), users
        for block in blocks:
            weights_of_it = (w.name,) + block[1:2]
            assert users[block] == users[weights_of_it]


def test_hc_init_on_the_sample_reaches_the_in_memory_optimum(client):
    # fewer rows than the sample: the tree is built on all of them, in another order
    X = _blobs(n=600)
    kw = dict(init_params="hc", tol=1e-10, max_iter=500, random_state=0)
    ours = GaussianMixtureEM(3, **kw).fit(X)
    theirs = GaussianMixtureEM(3, **kw).fit(_as_dask(X, chunks=(250,)))
    order_a, order_b = np.argsort(ours.means_[:, -1]), np.argsort(theirs.means_[:, -1])
    np.testing.assert_allclose(theirs.means_[order_b], ours.means_[order_a], rtol=1e-6)
    np.testing.assert_allclose(theirs.lower_bound_, ours.lower_bound_, rtol=1e-9)


def test_weights_filtered_by_the_mask_that_filters_x_are_read():
    # X[mask] and w[mask] both have unknown chunk sizes: X's were computed, the weights'
    # were not, and fit, score and bic said "sample_weight.shape == (nan,), expected (221,)"
    rng = np.random.default_rng(0)
    # (two clusters apart: EM converges in a few passes, each a dask graph)
    X = rng.normal(size=(300, 3)) + 6.0 * (rng.random((300, 1)) < 0.5)
    w = rng.random(300)
    Xd, wd = da.from_array(X, chunks=(50, 3)), da.from_array(w, chunks=50)
    mask = Xd[:, 0] > 0
    Xm, wm = Xd[mask], wd[mask]
    assert np.isnan(Xm.shape[0]) and np.isnan(wm.shape[0])
    got = GaussianMixtureEM(2, random_state=0).fit(Xm, sample_weight=wm)
    Xk, wk = Xm.compute_chunk_sizes(), wm.compute_chunk_sizes()
    known = GaussianMixtureEM(2, random_state=0).fit(Xk, sample_weight=wk)
    np.testing.assert_array_equal(got.means_, known.means_)
    np.testing.assert_array_equal(got.covariances_, known.covariances_)
    assert float(got.score(Xm, sample_weight=wm)) == float(known.score(Xk, sample_weight=wk))
    assert got.bic(Xm, sample_weight=wm) == known.bic(Xk, sample_weight=wk)


def test_the_selectors_inference_takes_dask_collections_as_its_estimator_does():
    from sklearn_em import GaussianMixtureSelector

    rng = np.random.default_rng(1)
    frame = pd.DataFrame(np.r_[rng.normal(size=(80, 2)), rng.normal(size=(80, 2)) + 4])
    frame.columns = ["a", "b"]
    sel = GaussianMixtureSelector(n_components=[1, 2], covariance_type="sklearn").fit(frame)
    lazy = dd.from_pandas(frame, npartitions=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (no "X does not have valid feature names")
        for method in ("predict", "predict_proba", "score_samples"):
            got = getattr(sel, method)(lazy)
            assert dask.is_dask_collection(got)
            np.testing.assert_allclose(got.compute(), getattr(sel, method)(frame), rtol=1e-12)
        assert np.isclose(sel.bic(lazy), sel.bic(frame), rtol=1e-12)
