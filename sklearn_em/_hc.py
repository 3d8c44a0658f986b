"""Model-based agglomerative hierarchical clustering, as mclust's ``hc`` (an initialisation).

Fraley (1998), "Algorithms for model-based Gaussian hierarchical clustering", SIAM J. Sci.
Comput. 20:270-281, with the regularised 'VVV' criterion of mclust's ``hcVVV`` (mclust 6.0):
each cluster of ``l`` rows with centred scatter ``W`` and ``tr = trace(W)`` is priced

    term(l, W) = l * log(det(W / l) + beta * (tr + alpha) / l)     (det left out for l <= p)

and each step merges the pair of clusters whose merge raises the sum of terms least. As in
mclust, ``alpha = trace of the data's scatter / (n p)`` and ``beta = 1``, on the data after
mclust's default transform ``use="SVD"`` (centre, scale to unit standard deviation, rotate
onto the right singular vectors and divide each by the square root of its singular value).

The pairwise merge costs are kept in one symmetric matrix; after a merge only the merged
cluster's row and column are recomputed (one vectorised pass over the other clusters: the
matrix determinant lemma for single rows, a batched determinant for the others), and each
cluster's least cost to the clusters before it finds the next pair in O(number of clusters).
Of tied pairs the one mclust merges is merged (its slot bookkeeping is reproduced), so the
merge sequence is mclust's, not only the partitions. Memory is O(n^2) in the rows clustered,
which is why large data are clustered on a random subset (mclust's ``subset`` default, 2000).
"""

import math

import numpy as np
from scipy.spatial.distance import pdist, squareform
from sklearn.utils import check_random_state

TRANSFORMS = ("SVD", None)
MODELS = ("VVV",)
# mclust.options("subset"): the rows a tree is built on at most
HC_MAX_ROWS = 2000


class HCTree:
    """The merge sequence of a hierarchical clustering of (some of) the rows of X.

    Built by :func:`hc_tree`. Clusters are named by their first row (the smallest index
    among the clustered rows), so a merge ``(a, b)``, ``a < b``, folds cluster ``b`` into
    cluster ``a``: mclust's ``hcPairs`` convention, 0-based.

    Attributes
    ----------
    rows : ndarray of shape (n_rows,)
        Indices, into the rows of X, of the rows that were clustered (increasing).
    merges : ndarray of shape (n_rows - 1, 2)
        The merges in order; positions into ``rows``.
    n_samples : int
        Number of rows of the X the tree was built from.
    """

    def __init__(self, rows, merges, n_samples):
        self.rows = rows
        self.merges = merges
        self.n_samples = n_samples

    @property
    def n_rows(self):
        """Number of rows that were clustered."""
        return self.rows.shape[0]

    def partition(self, n_clusters):
        """Labels of the clustered rows when the tree is cut into ``n_clusters`` clusters.

        mclust's ``hclass(tree, n_clusters)``: labels 0..n_clusters-1 numbered in order of
        first appearance.

        Parameters
        ----------
        n_clusters : int
            Number of clusters, 1 <= n_clusters <= ``n_rows``.

        Returns
        -------
        labels : ndarray of shape (n_rows,)
            Cluster of each row of ``rows``.
        """
        if not 1 <= n_clusters <= self.n_rows:
            raise ValueError(
                f"The hierarchical clustering has {self.n_rows} rows: it cannot be cut into "
                f"n_clusters={n_clusters} clusters (needs 1 <= n_clusters <= {self.n_rows})."
            )
        parent = np.arange(self.n_rows)
        applied = self.merges[: self.n_rows - n_clusters]
        parent[applied[:, 1]] = applied[:, 0]
        # pointer jumping: every chain points to smaller names, so it ends at the cluster's name
        while True:
            up = parent[parent]
            if np.array_equal(up, parent):
                break
            parent = up
        # names are first rows, so sorted names are in order of first appearance
        return np.unique(parent, return_inverse=True)[1].reshape(-1)

    def labels(self, n_clusters):
        """Labels of every row of X: ``partition(n_clusters)`` on ``rows``, -1 elsewhere.

        Parameters
        ----------
        n_clusters : int
            Number of clusters.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        out = np.full(self.n_samples, -1, dtype=np.intp)
        out[self.rows] = self.partition(n_clusters)
        return out


def hc_tree(
    X, *, transform="SVD", model="VVV", max_rows=HC_MAX_ROWS, sample_weight=None, random_state=None
):
    """Model-based hierarchical clustering of the rows of X (mclust's ``hc``).

    The default is the tree mclust's ``Mclust`` starts from: ``hc(X, modelName="VVV",
    use="SVD")``. Like mclust, every row starts as its own cluster (duplicated rows merge
    first, at the lowest possible cost).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Finite data (float32 data are clustered in float64).
    transform : {'SVD'} or None, default='SVD'
        'SVD' is mclust's ``use="SVD"``: centre and scale every column, then rotate onto the
        right singular vectors, each divided by the square root of its singular value.
        Constant columns carry no information and are left out of the transform (as mclust
        does). None clusters the columns as they are (mclust's ``use="VARS"``).
    model : {'VVV'}, default='VVV'
        The cluster model whose likelihood the merges follow: 'VVV', ellipsoidal clusters of
        varying volume, shape and orientation.
    max_rows : int, default=2000
        If more rows than this can be clustered, a uniform random subset of ``max_rows`` of
        them is (the tree needs O(n^2) memory; mclust's ``subset`` default is 2000).
    sample_weight : ndarray of shape (n_samples,), default=None
        Only used to leave out rows of weight 0. The tree is built on rows, not weights:
        weights enter when a partition is turned into parameters.
    random_state : int, RandomState instance or None, default=None
        Draws the subset; unused when every row is clustered.

    Returns
    -------
    tree : HCTree

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_em._hc import hc_tree
    >>> X = np.array([[0.0, 0.1], [0.2, 0.0], [5.0, 5.2], [5.1, 4.9], [0.1, 0.3]])
    >>> hc_tree(X).partition(2)
    array([0, 0, 1, 1, 0])
    """
    if transform not in TRANSFORMS:
        raise ValueError(f"transform must be one of {TRANSFORMS}, got {transform!r}.")
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}.")
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-dimensional, got shape {X.shape}.")
    n_samples = X.shape[0]
    pool = np.arange(n_samples)
    if sample_weight is not None:
        pool = np.flatnonzero(np.asarray(sample_weight) > 0)
    if pool.size < 2:
        raise ValueError(
            f"Hierarchical clustering needs at least 2 rows (with positive sample_weight), "
            f"got {pool.size}."
        )
    if pool.size > max_rows:
        rng = check_random_state(random_state)
        pool = np.sort(rng.choice(pool, size=max_rows, replace=False))
    Z = np.asarray(X[pool], dtype=np.float64)
    if not np.all(np.isfinite(Z)):
        raise ValueError("Hierarchical clustering needs finite data: X has NaN or inf.")
    if transform == "SVD":
        Z = _svd_transform(Z)
    merges = _merge_vvv(Z)
    return HCTree(pool, merges, n_samples)


def _tree_on_kept_rows(tree, keep):
    """``tree`` (built on X) re-indexed onto ``X[keep]``; it must not use a dropped row."""
    if tree.n_samples != keep.shape[0]:
        raise ValueError(
            f"The hierarchical-clustering tree was built on data with {tree.n_samples} rows, "
            f"but X has {keep.shape[0]} rows."
        )
    if not np.all(keep[tree.rows]):
        raise ValueError(
            "The hierarchical-clustering tree uses rows of sample_weight 0: build it with "
            "the same sample_weight (hc_tree(X, sample_weight=...))."
        )
    position = np.cumsum(keep) - 1
    return HCTree(position[tree.rows], tree.merges, int(np.count_nonzero(keep)))


def _svd_transform(Z):
    # mclust's use="SVD": Z = scale(X) V diag(1 / sqrt(singular values))
    Z = Z - Z.mean(axis=0)
    sd = np.sqrt(np.einsum("ij,ij->j", Z, Z) / (Z.shape[0] - 1))
    varying = sd > 0
    if not np.any(varying):
        raise ValueError(
            "Hierarchical clustering needs at least one column that is not constant: every "
            "row of X is the same."
        )
    Z = Z[:, varying] / sd[varying]
    _, s, vt = np.linalg.svd(Z, full_matrices=False)
    # with fewer rows than columns the centred data have rank < n: those directions are empty
    keep = s > s[0] * max(Z.shape) * np.finfo(np.float64).eps
    return (Z @ vt[keep].T) / np.sqrt(s[keep])


def _merge_vvv(Z, alpha=1.0, beta=1.0):
    """The merge sequence of mclust's ``hcVVV`` on Z (rows start as singletons)."""
    n, p = Z.shape
    centred = Z - Z.mean(axis=0)
    alpha = max(alpha * np.einsum("ij,ij->", centred, centred) / (n * p), np.finfo(float).eps)
    log_ab = np.log(alpha * beta)
    # mclust prices a 2-row cluster without the determinant whatever p is (same as the
    # general rule for p >= 2, different for p = 1)
    det_from = max(p, 2)

    # slots 0..m-1 hold the live clusters; merging (a, b) puts the union in a and moves the
    # last slot into b, as mclust does (it decides which of tied pairs is merged first)
    count = np.ones(n)
    mean = Z.copy()
    scatter = np.zeros((n, p, p))
    trace = np.zeros(n)
    term = np.full(n, log_ab)
    name = np.arange(n)

    # cost[i, j] = cost[j, i]: rise of the criterion if slots i and j merge (+inf on the
    # diagonal). Symmetric, so that slot j's pairs with every i < j are a contiguous row.
    pair = pdist(Z, "sqeuclidean")
    pair /= 2
    pair += alpha
    pair *= beta / 2
    np.log(pair, out=pair)
    pair *= 2
    pair -= 2 * log_ab
    cost = squareform(pair)
    del pair
    np.fill_diagonal(cost, np.inf)
    # per slot j: the least cost[j, i] over i < j and the last i reaching it (of tied pairs
    # mclust merges the one last in its packed order: largest j, then largest i)
    col_min = np.full(n, np.inf)
    col_arg = np.zeros(n, dtype=np.intp)
    for start in range(1, n, 256):  # in blocks: no second n x n temporary
        _row_minima(cost, np.arange(start, min(start + 256, n)), col_min, col_arg)

    merges = np.empty((n - 1, 2), dtype=np.intp)
    for step in range(n - 1):
        m = n - step
        # the last slot holding the least cost (argmin of the reversed slots finds the first)
        b = m - 1 - int(np.argmin(col_min[m - 1 : 0 : -1]))
        a = int(col_arg[b])
        merges[step] = sorted((name[a], name[b]))

        na, nb = float(count[a]), float(count[b])
        nab = na + nb
        delta = mean[b] - mean[a]
        shrink = na * nb / nab
        new_mean = mean[a] + delta * (nb / nab)
        new_scatter = scatter[a] + scatter[b] + shrink * np.outer(delta, delta)
        new_trace = float(trace[a] + trace[b] + shrink * (delta @ delta))
        logdet, factor = -np.inf, None
        if nab > det_from:
            factor = _cholesky(new_scatter)
            if factor is not None:
                logdet = 2 * np.log(np.diag(factor)).sum() - p * math.log(nab)
            else:
                sign, value = np.linalg.slogdet(new_scatter)
                if sign > 0:
                    logdet = value - p * math.log(nab)
        new_term = nab * np.logaddexp(logdet, math.log(beta * (new_trace + alpha) / nab))

        last = m - 1
        if b != last:
            for arr in (count, mean, scatter, trace, term, name):
                arr[b] = arr[last]
            cost[b, :last] = cost[last, :last]
            cost[:last, b] = cost[b, :last]
            cost[b, b] = np.inf
        m = last
        count[a], mean[a], scatter[a] = nab, new_mean, new_scatter
        trace[a], term[a], name[a] = new_trace, new_term, merges[step, 0]
        if m == 1:
            continue

        rise = _merge_costs(
            nab,
            new_mean,
            new_scatter,
            factor,
            new_trace,
            new_term,
            count[:m],
            mean[:m],
            scatter[:m],
            trace[:m],
            term[:m],
            alpha,
            beta,
            det_from,
        )
        rise[a] = np.inf
        cost[a, :m] = rise
        cost[:m, a] = rise

        # slots whose least pair sat in a changed entry are recomputed, unless the entry
        # did not grow (then it is still the last least one); the others only compare their
        # new entries in rows a and b
        args = col_arg[a + 1 : m]
        at_a = args == a
        vals, low = cost[a, a + 1 : m], col_min[a + 1 : m]
        grew = vals > low
        low[at_a & ~grew] = vals[at_a & ~grew]
        redo = (at_a & grew) | (args == b)
        redo[b - a - 1 : b - a] = True  # slot b (if still live) holds the moved slot
        keep = ~redo
        for row in (a, b):
            if row + 1 >= m:
                continue
            sl = slice(row + 1, m)
            vals, low = cost[row, sl], col_min[sl]
            better = (vals < low) | ((vals == low) & (row > col_arg[sl]))
            better &= keep[row - a :]
            col_min[sl][better] = vals[better]
            col_arg[sl][better] = row
        redo = a + 1 + np.flatnonzero(redo)
        _row_minima(cost, np.append(a, redo) if a > 0 else redo, col_min, col_arg)
    return merges


def _row_minima(cost, slots, col_min, col_arg):
    # for each slot j (increasing): min over i < j of cost[j, i], and the last i reaching it
    if slots.size == 0:
        return
    width = slots[-1]
    block = cost[slots, :width]
    np.putmask(block, np.arange(width) >= slots[:, None], np.inf)
    # argmin finds the first minimum: of the reversed rows, the last
    arg = width - 1 - np.argmin(block[:, ::-1], axis=1)
    col_min[slots] = block[np.arange(slots.size), arg]
    col_arg[slots] = arg


def _logdet(mats):
    # log det of positive semi-definite matrices; -inf where singular (mclust's det2mc)
    sign, logdet = np.linalg.slogdet(mats)
    return np.where(sign > 0, logdet, -np.inf)


def _merge_costs(nc, mc, wc, factor, trc, termc, nj, mj, wj, trj, termj, alpha, beta, det_from):
    """Rise of the criterion if cluster c merges with each cluster j (vectorised over j).

    ``factor`` is the lower Cholesky factor of ``wc`` when it is well conditioned, else None.
    """
    p = mc.shape[0]
    nij = nc + nj
    shrink = nc * nj / nij
    delta = mj - mc
    trace = trc + trj + shrink * np.einsum("ij,ij->i", delta, delta)
    logdet = np.full(nj.shape[0], -np.inf)
    need = nij > det_from
    if np.any(need):
        single = need & (nj == 1)
        if factor is not None and np.any(single):
            # matrix determinant lemma: det(W + s d d') = det(W) (1 + s d' W^-1 d)
            y = _forward_substitution(factor, delta[single].T)
            logdet[single] = 2 * np.log(np.diag(factor)).sum() + np.log1p(
                shrink[single] * np.einsum("ij,ij->j", y, y)
            )
        else:
            single[:] = False
        rest = need & ~single
        if np.any(rest):
            d = delta[rest]
            mats = wc + wj[rest] + shrink[rest, None, None] * (d[:, :, None] * d[:, None, :])
            logdet[rest] = _logdet(mats)
        logdet[need] -= p * np.log(nij[need])
    merged = nij * np.logaddexp(logdet, np.log(beta * (trace + alpha) / nij))
    return merged - termc - termj


def _forward_substitution(lower, rhs):
    # L^-1 B for a small p x p factor and many columns: p vector operations over the columns
    # cost less than one call of a general solver (SciPy's triangular solve was slower still:
    # its second OpenBLAS pool fights NumPy's for the cores)
    out = np.empty_like(rhs)
    for i in range(lower.shape[0]):
        out[i] = (rhs[i] - lower[i, :i] @ out[:i]) / lower[i, i]
    return out


def _cholesky(w):
    # the lemma needs a well-conditioned base; a (near-)singular one goes the batched way
    try:
        factor = np.linalg.cholesky(w)
    except np.linalg.LinAlgError:
        return None
    diag = np.diag(factor)
    if diag.min() <= 1e-6 * diag.max():
        return None
    return factor
