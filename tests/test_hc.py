"""Model-based hierarchical clustering (mclust's hc) and init_params='hc'.

Oracles: mclust 6.0.0's trees (tests/fixtures/mclust, written by make_hc_fixtures.R), a
brute-force agglomeration that prices every pair from its rows with numpy's slogdet, and the
properties of a hierarchy (nested cuts, invariance to row order, translation and scaling).
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from sklearn_em import GaussianMixtureEM, _hc
from sklearn_em._hc import HCTree, _merge_vvv, hc_tree
from sklearn_em._init import hc_labels, initial_params, initial_responsibilities
from sklearn_em.datasets import load_faithful

FIXTURES = Path(__file__).parent / "fixtures" / "mclust"
TABLES = ["faithful", "iris4", "sim3", "sim5", "uni1"]


def _table(name):
    if name == "faithful":
        return load_faithful().data
    return np.loadtxt(FIXTURES / f"{name}.csv", delimiter=",", skiprows=1, ndmin=2)


def _reference(name):
    return json.loads((FIXTURES / f"hc_{name}.json").read_text())


# ----------------------------------------------------------------------------- mclust oracle
@pytest.mark.parametrize("name", TABLES)
def test_merges_and_partitions_equal_mclust(name):
    X = _table(name)
    ref = _reference(name)
    assert X.shape == (ref["n_samples"], ref["n_features"])
    tree = hc_tree(X)
    # the whole merge sequence, in mclust's hcPairs naming (clusters named by first row)
    assert_array_equal(tree.merges + 1, np.array(ref["merges"]))
    for k in range(1, 10):
        # hclass numbers clusters by first appearance, as partition() does
        assert_array_equal(tree.partition(k) + 1, ref["partitions"][k - 1])


def test_faithful_has_duplicated_rows():
    # the mclust agreement above covers duplicated rows only if the table has some
    X = _table("faithful")
    assert len(np.unique(X, axis=0)) < len(X)


# ----------------------------------------------------------------------------- brute force
def _svd_transform(X):
    Z = (X - X.mean(axis=0)) / X.std(axis=0, ddof=1)
    _, s, vt = np.linalg.svd(Z, full_matrices=False)
    return Z @ vt.T @ np.diag(1 / np.sqrt(s))


def _brute_force_merges(Z):
    """Agglomerate by pricing every pair from its rows (mclust's criterion, no updates)."""
    n, p = Z.shape
    alpha = ((Z - Z.mean(axis=0)) ** 2).sum() / (n * p)

    def term(rows):
        l = len(rows)
        if l == 1:
            return np.log(alpha)
        W = (Z[rows] - Z[rows].mean(axis=0)).T @ (Z[rows] - Z[rows].mean(axis=0))
        value = (np.trace(W) + alpha) / l
        if l > max(p, 2):
            sign, logdet = np.linalg.slogdet(W / l)
            value += np.exp(logdet) if sign > 0 else 0.0
        return l * np.log(value)

    clusters = [[i] for i in range(n)]
    merges = []
    while len(clusters) > 1:
        best = None
        for i in range(len(clusters)):
            for j in range(i + 1, len(clusters)):
                rise = term(clusters[i] + clusters[j]) - term(clusters[i]) - term(clusters[j])
                if best is None or rise < best[0]:
                    best = (rise, i, j)
        _, i, j = best
        merges.append(sorted((min(clusters[i]), min(clusters[j]))))
        clusters[i] = sorted(clusters[i] + clusters[j])
        del clusters[j]
    return np.array(merges)


@pytest.mark.parametrize("seed, n, d", [(0, 24, 2), (1, 20, 3), (2, 18, 1), (3, 22, 4)])
def test_merges_equal_brute_force(seed, n, d):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(size=(n // 2, d)), rng.normal(3, 0.5, size=(n - n // 2, d))])
    assert_array_equal(hc_tree(X).merges, _brute_force_merges(_svd_transform(X)))
    assert_array_equal(hc_tree(X, transform=None).merges, _brute_force_merges(X))


# ----------------------------------------------------------------------------- lazy pricing
# (batch_after, batch_from) of _merge_vvv: the default, every cost computed in batches as
# early as they can be, every pending cost computed one at a time, and the mixes
PRICINGS = [(16, 16), (1, 1), (10**9, 10**9), (1, 10**9), (10**9, 1)]


def _two_groups(seed, n, d, scale):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(size=(n // 2, d)), rng.normal(3, 0.5, size=(n - n // 2, d))])
    return X * scale


@pytest.mark.parametrize("seed, n, d, scale", [(4, 22, 2, 40.0), (5, 20, 3, 40.0), (6, 24, 2, 1.0)])
def test_lazily_priced_merges_equal_brute_force(seed, n, d, scale):
    # scale 40 on the raw data: the determinant dominates the criterion, the bounds without
    # it are loose; on the SVD transform they are tight
    X = _two_groups(seed, n, d, scale)
    for Z in (X, _svd_transform(X)):
        expected = _brute_force_merges(Z)
        for batch_after, batch_from in PRICINGS:
            merges = _merge_vvv(Z, batch_after=batch_after, batch_from=batch_from)
            assert_array_equal(merges, expected)


def _pricing_data(kind):
    rng = np.random.default_rng(11)
    if kind == "svd":
        return _svd_transform(_two_groups(1, 160, 3, 1.0))
    if kind == "determinant":
        return _two_groups(2, 160, 3, 100.0)
    if kind == "integer ties":
        # a few values per column: many exactly tied pairs, before and after the transform
        return _svd_transform(rng.integers(0, 4, size=(160, 4)).astype(float))
    return np.repeat(rng.normal(size=(50, 3)), 3, axis=0)  # every row three times


@pytest.mark.parametrize("kind", ["svd", "determinant", "integer ties", "duplicates"])
def test_merges_do_not_depend_on_when_costs_are_computed(kind, monkeypatch):
    Z = _pricing_data(kind)
    calls = {"pair_cost": 0, "merge_costs": 0}
    for method in calls:
        real = getattr(_hc._Clusters, method)

        def counting(self, *args, _real=real, _method=method):
            calls[_method] += 1
            return _real(self, *args)

        monkeypatch.setattr(_hc._Clusters, method, counting)
    expected = _merge_vvv(Z, batch_after=1, batch_from=1)
    assert calls["pair_cost"] == 0  # every cost computed in batches
    calls["merge_costs"] = 0
    assert_array_equal(_merge_vvv(Z, batch_after=10**9, batch_from=10**9), expected)
    assert calls["merge_costs"] == 0 and calls["pair_cost"] > 0  # one at a time
    for batch_after, batch_from in PRICINGS:
        assert_array_equal(_merge_vvv(Z, batch_after=batch_after, batch_from=batch_from), expected)


# ----------------------------------------------------------------------------- properties
@st.composite
def clustered_data(draw, max_rows=40):
    seed = draw(st.integers(0, 2**31 - 1))
    n = draw(st.integers(3, max_rows))
    d = draw(st.integers(1, 4))
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, size=(3, d))
    return centres[rng.integers(0, 3, n)] + rng.normal(size=(n, d))


def _same_partition(a, b):
    # equal up to a relabelling: a one-to-one map between the labels
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


@settings(max_examples=30, deadline=None)
@given(X=clustered_data())
def test_cuts_have_k_clusters_and_are_nested(X):
    tree = hc_tree(X)
    n = X.shape[0]
    previous = None
    for k in range(1, n + 1):
        labels = tree.partition(k)
        assert_array_equal(np.unique(labels), np.arange(k))
        # numbered by first appearance
        _, first = np.unique(labels, return_index=True)
        assert np.all(np.diff(first) > 0)
        if previous is not None:
            # each cluster of the finer cut lies inside one cluster of the coarser
            for c in range(k):
                assert len(np.unique(previous[labels == c])) == 1
        previous = labels


@settings(max_examples=30, deadline=None)
@given(X=clustered_data(), data=st.data())
def test_tree_invariant_to_row_order(X, data):
    perm = data.draw(st.permutations(range(X.shape[0])))
    tree, permuted = hc_tree(X), hc_tree(X[perm])
    for k in range(1, min(X.shape[0], 9) + 1):
        assert _same_partition(tree.partition(k)[perm], permuted.partition(k))


@settings(max_examples=30, deadline=None)
@given(
    X=clustered_data(),
    shift=st.floats(-1e3, 1e3),
    log2_scale=st.lists(st.integers(-8, 8), min_size=4, max_size=4),
)
def test_tree_invariant_to_translation_and_column_scaling(X, shift, log2_scale):
    # powers of two scale exactly; the SVD transform standardises the columns
    scale = 2.0 ** np.array(log2_scale[: X.shape[1]])
    tree, moved = hc_tree(X), hc_tree(X * scale + shift)
    for k in range(1, min(X.shape[0], 9) + 1):
        assert _same_partition(tree.partition(k), moved.partition(k))


def test_float32_tree_equals_float64_tree():
    X = _table("sim3").astype(np.float32)
    assert_array_equal(hc_tree(X).merges, hc_tree(X.astype(np.float64)).merges)


# ----------------------------------------------------------------------------- subsets, weights
def test_subset_of_large_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    tree = hc_tree(X, max_rows=50, random_state=0)
    assert tree.n_samples == 300 and tree.n_rows == 50
    assert np.all(np.diff(tree.rows) > 0)
    # the tree of the subset is the tree of those rows
    assert_array_equal(tree.merges, hc_tree(X[tree.rows]).merges)
    labels = tree.labels(4)
    assert_array_equal(labels[tree.rows], tree.partition(4))
    assert np.all(np.delete(labels, tree.rows) == -1)
    # same seed, same subset; another seed, another subset
    assert_array_equal(hc_tree(X, max_rows=50, random_state=0).rows, tree.rows)
    assert not np.array_equal(hc_tree(X, max_rows=50, random_state=1).rows, tree.rows)


def test_subset_initial_model_comes_from_the_subset():
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(size=(150, 2)), rng.normal(6, 1, size=(150, 2))])
    tree = hc_tree(X, max_rows=60, random_state=0)
    k = 2
    resp = initial_responsibilities(X, None, k, "hc", np.random.RandomState(0), tree=tree)(
        slice(None)
    )
    outside = np.delete(np.arange(300), tree.rows)
    assert np.all(resp[outside] == 0)
    params = initial_params(
        X,
        None,
        n_components=k,
        covariance_type="full",
        init_params="hc",
        reg_covar=1e-6,
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=np.random.RandomState(0),
        tree=tree,
    )
    labels = tree.partition(k)
    sub = X[tree.rows]
    assert_allclose(params.weights, np.bincount(labels) / len(labels), rtol=1e-12)
    assert_allclose(params.means, [sub[labels == c].mean(axis=0) for c in range(k)], rtol=1e-12)


def test_weight_zero_rows_are_left_out_of_the_tree():
    X = _table("iris4")
    w = np.ones(len(X))
    w[::7] = 0
    tree = hc_tree(X, sample_weight=w)
    assert_array_equal(tree.rows, np.flatnonzero(w > 0))
    assert_array_equal(tree.merges, hc_tree(X[w > 0]).merges)


# ----------------------------------------------------------------------------- the estimator
@pytest.mark.parametrize("name, k", [("faithful", 2), ("faithful", 3), ("iris4", 3), ("sim3", 4)])
def test_initial_model_is_mclust_partition(name, k):
    # mclust's Mclust starts EM from these clusters: their proportions, means, covariances
    X = _table(name)
    labels = np.array(_reference(name)["partitions"][k - 1]) - 1
    est = GaussianMixtureEM(k, init_params="hc", max_iter=0, reg_covar=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)
    groups = [X[labels == c] for c in range(k)]
    assert_allclose(est.weights_, [len(g) / len(X) for g in groups], rtol=1e-12)
    assert_allclose(est.means_, [g.mean(axis=0) for g in groups], rtol=1e-12)
    covs = [np.cov(g.T, bias=True) + 1e-6 * np.eye(X.shape[1]) for g in groups]
    assert_allclose(est.covariances_, covs, rtol=1e-10, atol=1e-12)


def test_sample_weight_enters_the_m_step():
    X = _table("faithful")
    w = np.random.default_rng(0).uniform(0.5, 2, len(X))
    labels = np.array(_reference("faithful")["partitions"][2]) - 1
    est = GaussianMixtureEM(3, init_params="hc", max_iter=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, sample_weight=w)
    assert_allclose(est.weights_, np.bincount(labels, weights=w) / w.sum(), rtol=1e-12)
    means = [np.average(X[labels == c], axis=0, weights=w[labels == c]) for c in range(3)]
    assert_allclose(est.means_, means, rtol=1e-12)


def test_weight_zero_rows_fit_as_if_absent():
    X = _table("iris4")
    w = np.ones(len(X))
    w[3::5] = 0
    a = GaussianMixtureEM(3, init_params="hc").fit(X, sample_weight=w)
    b = GaussianMixtureEM(3, init_params="hc").fit(X[w > 0])
    assert_allclose(a.means_, b.means_, rtol=1e-12)
    assert_allclose(a.covariances_, b.covariances_, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_prebuilt_tree_gives_the_same_fit(covariance_type):
    # GaussianMixtureSelector shares one tree across every n_components and covariance type
    X = _table("sim3")
    tree = hc_tree(X)
    for k in (1, 3, 5):
        plain = GaussianMixtureEM(k, covariance_type=covariance_type, init_params="hc").fit(X)
        shared = GaussianMixtureEM(k, covariance_type=covariance_type, init_params="hc")
        shared._hc_tree = tree
        shared.fit(X)
        assert_array_equal(plain.means_, shared.means_)
        assert plain.n_iter_ == shared.n_iter_


def test_prebuilt_tree_with_weight_zero_rows():
    X = _table("sim3")
    w = np.ones(len(X))
    w[:10] = 0
    est = GaussianMixtureEM(3, init_params="hc")
    est._hc_tree = hc_tree(X, sample_weight=w)
    est.fit(X, sample_weight=w)
    ref = GaussianMixtureEM(3, init_params="hc").fit(X[10:])
    assert_allclose(est.means_, ref.means_, rtol=1e-12)
    est._hc_tree = hc_tree(X)  # built on rows that now have weight 0
    with pytest.raises(ValueError, match="tree uses rows of sample_weight 0"):
        est.fit(X, sample_weight=w)


def test_float32_fit_stays_float32():
    X = _table("faithful").astype(np.float32)
    est = GaussianMixtureEM(2, init_params="hc").fit(X)
    assert est.means_.dtype == np.float32
    ref = GaussianMixtureEM(2, init_params="hc").fit(X.astype(np.float64))
    assert_allclose(est.means_, ref.means_, rtol=1e-4)


def test_one_column():
    X = _table("uni1")
    labels = np.array(_reference("uni1")["partitions"][1]) - 1
    est = GaussianMixtureEM(2, init_params="hc", max_iter=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)
    assert_allclose(est.means_[:, 0], [X[labels == c, 0].mean() for c in range(2)], rtol=1e-12)


# ----------------------------------------------------------------------------- errors
def test_more_components_than_rows():
    X = _table("iris4")[:4]
    with pytest.raises(ValueError, match="Expected n_samples >= n_components"):
        GaussianMixtureEM(5, init_params="hc").fit(X)
    tree = hc_tree(X)
    with pytest.raises(ValueError, match=r"4 rows: it cannot be cut into n_clusters=5"):
        tree.partition(5)
    with pytest.raises(ValueError, match=r"init_params='hc' cuts a tree of 4 rows, fewer than"):
        hc_labels(tree, 5, 4)
    small = hc_tree(_table("iris4"), max_rows=3, random_state=0)
    with pytest.raises(ValueError, match=r"init_params='hc' cuts a tree of 3 rows"):
        est = GaussianMixtureEM(4, init_params="hc")
        est._hc_tree = small
        est.fit(_table("iris4"))


def test_tree_of_other_data():
    X = _table("iris4")
    est = GaussianMixtureEM(2, init_params="hc")
    est._hc_tree = hc_tree(X[:50])
    with pytest.raises(ValueError, match="tree was built on data with 50 rows, but X has 150"):
        est.fit(X)
    est._hc_tree = "tree"
    with pytest.raises(TypeError, match="tree must be an HCTree"):
        est.fit(X)


@pytest.mark.parametrize(
    "kwargs, X, message",
    [
        ({"transform": "PCS"}, np.eye(3), "transform must be one of"),
        ({"model": "EII"}, np.eye(3), "model must be one of"),
        ({}, np.array([[0.0, 1.0], [np.nan, 2.0], [1.0, 1.0]]), "needs finite data"),
        ({}, np.ones((1, 2)), "needs at least 2 rows"),
        ({}, np.ones(4), "must be 2-dimensional"),
    ],
)
def test_bad_input(kwargs, X, message):
    with pytest.raises(ValueError, match=message):
        hc_tree(X, **kwargs)


@pytest.mark.parametrize("value, n, d", [(1.0, 10, 2), (None, 7, 3), (3.0, 5, 1)])
def test_rows_all_the_same_merge_as_in_mclust(value, n, d):
    # mclust 6.0 on data whose columns are all constant clusters them as they are (its use
    # becomes "VARS"); hc(matrix(1, 10, 2)), hc(cbind(rep(2.5, 7), rep(-1, 7), rep(0, 7)))
    # and hc(matrix(3, 5, 1)) print the merges (n-1, n), (n-2, n-1), ..., (1, 2), 1-based
    X = np.full((n, d), value) if value is not None else np.tile([2.5, -1.0, 0.0], (n, 1))
    mclust = np.array([[i, i + 1] for i in range(n - 1, 0, -1)]) - 1
    assert_array_equal(hc_tree(X).merges, mclust)


def test_hc_start_on_rows_all_the_same_fits_as_kmeans_does():
    # every row the same: the hierarchical start is no error where the k-means start fits
    X = np.ones((50, 2))
    fits = {}
    for init in ("kmeans", "hc"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits[init] = GaussianMixtureEM(2, init_params=init, random_state=0).fit(X)
    # both put every component on the row, with reg_covar for covariance: the density of
    # N(1, 1e-6 I) at its mean, -log(2 pi 1e-6)
    for gm in fits.values():
        assert_allclose(gm.means_, 1.0)
        assert_allclose(gm.lower_bound_, -np.log(2 * np.pi * 1e-6), rtol=1e-12)


def test_constant_column_is_left_out():
    # as in mclust, a constant column carries no information for the tree
    X = _table("sim3")
    with_constant = np.column_stack([X[:, :1], np.full(len(X), 7.0), X[:, 1:]])
    assert_array_equal(hc_tree(with_constant).merges, hc_tree(X).merges)


def test_hctree_is_a_plain_value():
    tree = HCTree(np.arange(3), np.array([[0, 2], [0, 1]]), 3)
    assert_array_equal(tree.partition(2), [0, 1, 0])
    assert_array_equal(tree.partition(1), [0, 0, 0])
    assert_array_equal(tree.partition(3), [0, 1, 2])


def test_estimator_builds_one_tree_for_all_its_initialisations(monkeypatch):
    from sklearn_em import _estimator

    calls = []
    real = _estimator.hc_tree

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_estimator, "hc_tree", counting)
    X = np.random.RandomState(0).normal(size=(60, 2))
    GaussianMixtureEM(2, init_params="hc", n_init=3, random_state=0).fit(X)
    assert len(calls) == 1
