"""Model-based agglomerative hierarchical clustering, as mclust's ``hc`` (an initialisation).

Fraley (1998), "Algorithms for model-based Gaussian hierarchical clustering", SIAM J. Sci.
Comput. 20:270-281, with the regularised 'VVV' criterion of mclust's ``hcVVV`` (mclust 6.0):
each cluster of ``l`` rows with centred scatter ``W`` and ``tr = trace(W)`` is priced

    term(l, W) = l * log(det(W / l) + beta * (tr + alpha) / l)     (det left out for l <= max(p, 2))

and each step merges the pair of clusters whose merge raises the sum of terms least. As in
mclust, ``alpha = trace of the data's scatter / (n p)`` and ``beta = 1``, on the data after
mclust's default transform ``use="SVD"`` (centre, scale to unit standard deviation, rotate
onto the right singular vectors and divide each by the square root of its singular value).

The merge costs of all pairs are kept in the lower triangle of an n x n matrix. Computing a
determinant is most of the work, and a pair whose merge has more than p rows needs one; its
entry first holds a lower bound, the criterion without the determinant (det >= 0 inside the
logarithm can only add), and the exact cost is computed when that entry becomes the least of
all (or, where the bounds prove loose, for all of a new cluster's pairs at once: then one
vectorised pass, the matrix determinant lemma for single rows, a batched determinant for the
others). On mclust's SVD-transformed data the determinant is small beside the trace term, so
a merge computes about one determinant instead of one per cluster. As no bound exceeds its
exact cost, the least exact entry, when it is the least entry, is the least cost: the merges
are those of computing every cost exactly. Each slot keeps a lower bound of its least cost
to the slots before it (a key); a merge lowers these with the merged cluster's new costs in
one vectorised pass, and a key found below its row when it comes up is raised to the row's
least. Rows and keys are stored backwards, so that argmin finds the last of tied entries. Of
tied pairs the one mclust merges is merged (its slot bookkeeping is reproduced), so the merge
sequence is mclust's, not only the partitions -- where the costs tie exactly. On data of a
few repeated values (integers, a grid) pairs at one distance get costs that differ in their
last bits after the SVD transform, differently here and in mclust: there the trees can
differ from the first merge on, both greedy trees of the same criterion. Memory is O(n^2) in
the rows clustered, which is why large data are clustered on a random subset (mclust's
``subset`` default, 2000).
"""

import math

import numpy as np
from scipy.linalg import lapack
from scipy.spatial.distance import cdist
from sklearn.utils import check_random_state

try:
    # what cdist(..., "sqeuclidean") and np.linalg.slogdet call on float64 arrays, without
    # their Python wrappers' checks (a few microseconds a call, called at every merge)
    from numpy.linalg._umath_linalg import slogdet as _slogdet
    from scipy.spatial._distance_pybind import cdist_sqeuclidean as _cdist_sqeuclidean
except ImportError:  # (private modules: the public functions if they move)
    _slogdet = np.linalg.slogdet

    def _cdist_sqeuclidean(XA, XB):
        return cdist(XA, XB, "sqeuclidean")


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
    X,
    *,
    transform="SVD",
    model="VVV",
    max_rows=HC_MAX_ROWS,
    sample_weight=None,
    random_state=None,
    draw_order=None,
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
        does); if every column is constant (every row the same) the rows are clustered as
        they are, as mclust does. None clusters the columns as they are (mclust's
        ``use="VARS"``).
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
    draw_order : ndarray of shape (n_samples,), default=None
        The order of the rows the subset is drawn from (a permutation of them; None: their
        order in X). An order of the rows' own values makes the subset the same whatever
        order the rows come in; the tree is built on the subset in X's order either way (as
        mclust's, whose choice among tied merges follows it).

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
    pool = np.arange(n_samples) if draw_order is None else np.asarray(draw_order)
    if sample_weight is not None:
        pool = pool[np.asarray(sample_weight)[pool] > 0]
    if pool.size < 2:
        raise ValueError(
            f"Hierarchical clustering needs at least 2 rows (with positive sample_weight), "
            f"got {pool.size}."
        )
    if pool.size > max_rows:
        pool = check_random_state(random_state).choice(pool, size=max_rows, replace=False)
    pool = np.sort(pool)  # (the tree is built in X's order)
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
        # every row is the same: nothing to transform, and every merge costs the same (mclust
        # then clusters the data as they are, its use="VARS"; the tree is that of the ties)
        return Z
    Z = Z[:, varying] / sd[varying]
    _, s, vt = np.linalg.svd(Z, full_matrices=False)
    # with fewer rows than columns the centred data have rank < n: those directions are empty
    keep = s > s[0] * max(Z.shape) * np.finfo(np.float64).eps
    return (Z @ vt[keep].T) / np.sqrt(s[keep])


def _merge_vvv(Z, alpha=1.0, beta=1.0, batch_after=16, batch_from=16):
    """The merge sequence of mclust's ``hcVVV`` on Z (rows start as singletons).

    ``batch_after`` and ``batch_from`` choose when exact costs are computed many at a time
    (they change the time taken, not the merges): the pending costs of a cluster once this
    many of them were needed one by one, and all of a new cluster's costs when at least
    ``batch_from`` of its bounds are below the cost of the merge that made it (the bounds
    are loose: the determinant dominates the criterion).
    """
    n, p = Z.shape
    centred = Z - Z.mean(axis=0)
    alpha = max(alpha * np.einsum("ij,ij->", centred, centred) / (n * p), np.finfo(float).eps)
    log_ab = np.log(alpha * beta)
    # mclust prices a 2-row cluster without the determinant whatever p is (same as the
    # general rule for p >= 2, different for p = 1)
    det_from = max(p, 2)

    # slots 0..m-1 hold the live clusters; merging (a, b) puts the union in a and moves the
    # last slot into b, as mclust does (it decides which of tied pairs is merged first)
    stats = _Clusters(Z, log_ab)
    # cost[j, i], i < j: rise of the criterion if slots i and j merge (the upper triangle is
    # not used). Where the pair has more than det_from rows and its cost is not computed yet
    # (see _Clusters.singly), a lower bound (the criterion without the determinant).
    # least[j]: a lower bound of row j's entries, equal to the least of them or below it
    cost, least = _initial_costs(Z, alpha, beta, log_ab)
    # the same in memory order: row j of cost runs forwards from column n - j (i = j - 1),
    # and slot j's key is least_stored[n - 1 - j]
    stored, least_stored = cost[:, ::-1], least[::-1]
    info, singly, pair_cost = stats.info, stats.singly, stats.pair_cost

    def price(c, partners):
        # exact costs of slot c with the slots ``partners``, never below the bounds they
        # replace (a bound must stay a lower bound whatever the rounding)
        exact = stats.merge_costs(c, partners, alpha, beta, det_from)
        before = partners < c
        rows = np.where(before, c, partners)
        cols = np.where(before, partners, c)
        cost[rows, cols] = np.maximum(exact, cost[rows, cols])

    merges = []
    for step in range(n - 1):
        m = n - step
        keys = least_stored[n - m : n - 1]  # slots m - 1, ..., 1
        while True:
            # the merge is the least entry; of tied ones the one in the last row, and in it
            # the last column (mclust's order): the last slot holding the least key (the keys
            # are stored backwards, so argmin, which finds the first, finds it), then the
            # last least entry of its row (stored backwards too)
            b = m - 1 - int(keys.argmin())
            row = stored[b, n - b :]
            k = int(row.argmin())
            value = row.item(k)
            if value != least_stored.item(n - 1 - b):
                least_stored[n - 1 - b] = value  # the key was below the row (it changed)
                continue
            a = b - 1 - k
            info_a, info_b = info[a], info[b]
            if info_a[0] + info_b[0] > det_from:
                # the pair's cost is the younger cluster's to compute (as it would have been
                # when that cluster was made); pending unless it did, in one go or this one
                c, other = (b, a) if info_b[3] > info_a[3] else (a, b)
                done = singly[c]
                if done is not None and info[other][5] not in done:
                    if len(done) + 1 < batch_after:
                        done.add(info[other][5])
                        stored[b, n - 1 - a] = max(
                            pair_cost(c, other, alpha, beta, det_from), value
                        )
                        # the row's key at once (it would come up next, found below its row)
                        least_stored[n - 1 - b] = row.item(int(row.argmin()))
                    else:
                        # all the pairs c has priced (with older clusters) that are pending
                        price(c, stats.pending_partners(c, m, det_from))
                        singly[c] = None
                    continue
            level = value
            break
        name_a, name_b = info_a[4], info_b[4]
        merges.append((name_a, name_b) if name_a < name_b else (name_b, name_a))

        last = m - 1
        stats.merge(a, b, step, alpha, beta, det_from)
        if b != last:
            stats.move(last, b)
            # slot b's pairs with the slots before it are its row, with the slots after it
            # its column (all were in row last); row last's key bounds row b
            stored[b, n - b :] = stored[last, n - b :]
            cost[b + 1 : last, b] = cost[last, b + 1 : last]
            least[b] = least[last]
        m = last
        if m == 1:
            continue

        # backwards (bound[q] is slot m - 1 - q's), as the keys and rows are stored
        bound = stats.cost_bounds(a, m, alpha, beta, det_from)
        bound[m - 1 - a] = np.inf  # (no pair)
        by_slot = bound[::-1]
        singly[a] = set()
        # (argmin is the cheapest NumPy reduction: the count only where some bound is low)
        if batch_from < m and (batch_from <= 0 or bound.item(bound.argmin()) < level):
            low = bound < level
            # (the low bounds of pairs that need a determinant are among the low bounds:
            # those are counted first, and are mostly too few)
            if np.count_nonzero(low) >= batch_from:
                need = stats.count[:m] > det_from - info[a][0]
                need[a] = False
                if np.count_nonzero(need & low[::-1]) >= batch_from:
                    partners = np.flatnonzero(need)
                    exact = stats.merge_costs(a, partners, alpha, beta, det_from)
                    by_slot[partners] = np.maximum(exact, by_slot[partners])
                    singly[a] = None
        stored[a, n - a :] = bound[m - a :]
        cost[a + 1 : m, a] = by_slot[a + 1 :]

        # every slot after a (after b) has a new pair with a (with the moved slot b)
        if a > 0:
            least_stored[n - 1 - a] = bound.item(m - a + int(bound[m - a :].argmin()))
        after = least_stored[n - m : n - 1 - a]
        np.minimum(after, bound[: m - 1 - a], out=after)
        if b < m:
            after = least_stored[n - m : n - 1 - b]
            np.minimum(after, stored[last, n - m : n - 1 - b], out=after)
    return np.array(merges, dtype=np.intp).reshape(-1, 2)


class _Clusters:
    """The statistics of the live clusters, one slot per cluster.

    What the costs of one cluster with all the others need is in arrays, one column or row
    per slot; what is read one cluster at a time is also kept in a plain Python tuple per
    slot (an item of a tuple costs a fraction of a NumPy scalar, and its arithmetic is the
    same IEEE arithmetic).
    """

    def __init__(self, Z, log_ab):
        n, p = Z.shape
        self.n, self.p = n, p
        # slot j is column n - 1 - j of ``stored`` and row n - 1 - j of ``mean_rows``: the
        # slots 0..m-1, the last m, run backwards, as the keys do (see _merge_vvv), so that
        # a new cluster's costs come out in the keys' order. Rows of ``stored``: count,
        # trace, term and the step that made the cluster (-1: a row); ``count`` etc. are
        # their views by slot
        self.stored = np.empty((4, n))
        self.stored[0] = 1
        self.stored[1] = 0
        self.stored[2] = log_ab
        self.stored[3] = -1
        self.count, self.trace, self.term, self.birth = self.stored[:, ::-1]
        self.mean_rows = np.array(Z[::-1], dtype=float)
        self.means = self.mean_rows[::-1]
        self.scatter = np.zeros((n, p, p))
        # per slot in plain Python: (count, trace, term, birth) as above, the name of the
        # tree (the first row), a name no other cluster has (a row's index, n + the step
        # that made it), and the Cholesky factor of the scatter where well conditioned (for
        # the lemma) with its rows as lists and its log-determinant, or None
        log_ab = float(log_ab)
        self.info = [(1.0, 0.0, log_ab, -1, i, i, None) for i in range(n)]
        # the older clusters (by that name) whose cost with this one was computed one at a
        # time, or None once all are (a row's costs with rows are exact)
        self.singly = [None] * n
        # the slot of each cluster by that name (stale for clusters merged since)
        self.slot_of = list(range(n)) + [0] * n

    def merge(self, a, b, step, alpha, beta, det_from):
        """Put the union of slots a and b in slot a."""
        means, scatter = self.means, self.scatter
        na, trace_a, _, _, name_a, _, _ = self.info[a]
        nb, trace_b, _, _, name_b, _, _ = self.info[b]
        nab = na + nb
        delta = means[b] - means[a]
        shrink = na * nb / nab
        # in place (slot a is the union's): the sum, then the outer product as np.outer forms it
        new_scatter = scatter[a]
        new_scatter += scatter[b]
        new_scatter += shrink * (delta[:, None] * delta)
        new_trace = trace_a + trace_b + shrink * float(delta @ delta)
        logdet, factor = -math.inf, None
        if nab > det_from:
            lower = _cholesky(new_scatter)
            if lower is not None:
                # (np.add.reduce is what ndarray.sum calls, without its Python wrapper)
                lower_logdet = float(2 * np.add.reduce(np.log(lower.diagonal())))
                factor = (lower, lower.tolist(), lower_logdet)
                logdet = lower_logdet - self.p * math.log(nab)
            else:
                sign, value = _slogdet(new_scatter)
                if sign > 0:
                    logdet = float(value) - self.p * math.log(nab)
        new_term = nab * _logaddexp(logdet, math.log(beta * (new_trace + alpha) / nab))
        means[a] += delta * (nb / nab)
        column = self.n - 1 - a
        stored = self.stored
        stored[0, column], stored[1, column], stored[2, column] = nab, new_trace, new_term
        stored[3, column] = step
        uid = self.n + step
        name = name_b if name_b < name_a else name_a
        self.info[a] = (nab, new_trace, new_term, step, name, uid, factor)
        self.slot_of[uid] = a

    def move(self, source, target):
        """Put the cluster of slot ``source`` in slot ``target``."""
        n = self.n
        self.stored[:, n - 1 - target] = self.stored[:, n - 1 - source]
        self.means[target] = self.means[source]
        self.scatter[target] = self.scatter[source]
        self.info[target] = info = self.info[source]
        self.singly[target] = self.singly[source]
        self.slot_of[info[5]] = target

    def pending_partners(self, c, m, det_from):
        """The older slots whose cost with slot c is still a bound (increasing)."""
        count, _, _, birth, _, _, _ = self.info[c]
        pending = self.birth[:m] < birth
        pending &= self.count[:m] > det_from - count
        for uid in self.singly[c]:
            slot = self.slot_of[uid]
            if slot < m and self.info[slot][5] == uid:
                pending[slot] = False
        return np.flatnonzero(pending)

    def cost_bounds(self, c, m, alpha, beta, det_from):
        """Lower bounds of the costs of slot c with slots m-1, m-2, ..., 0 (backwards; the
        entry of c itself is no pair).

        The cost without its determinant: ``_merge_costs`` with logdet = -inf, operation for
        operation, so exact where the merge has at most ``det_from`` rows (no determinant)
        and never above the exact cost elsewhere (logaddexp(x, y) >= y). Every step is one
        NumPy call on contiguous rows (the per-call cost is most of the time here).
        """
        start = self.n - m
        nc, trace_c, term_c, _, _, _, _ = self.info[c]
        nj = self.stored[0, start:]
        nij = nj + nc
        shrink = nj * nc
        shrink /= nij
        # SciPy's squared Euclidean distance sums each pair's squared differences in order
        # from 0, as _squared_norms does: the same arithmetic in one call
        here = self.n - 1 - c
        shrink *= _cdist_sqeuclidean(self.mean_rows[here : here + 1], self.mean_rows[start:])[0]
        trace = self.stored[1, start:] + trace_c
        trace += shrink
        trace += alpha
        if beta != 1:  # (multiplying by 1 changes nothing)
            trace *= beta
        trace /= nij
        merged = np.log(trace, out=trace)
        merged *= nij
        merged -= term_c
        merged -= self.stored[2, start:]
        return merged

    def pair_cost(self, c, x, alpha, beta, det_from):
        """The exact cost of slot c with slot x: ``merge_costs(c, [x])`` in plain floats
        where that is the same arithmetic (the logarithms stay NumPy's)."""
        p = self.p
        nc, trace_c, term_c, _, _, _, factor = self.info[c]
        nj, trace_x, term_x, _, _, _, _ = self.info[x]
        nij = nc + nj
        shrink = nc * nj / nij
        # the squared norm of the difference summed in order, as _squared_norms
        delta = [u - v for u, v in zip(self.means[x].tolist(), self.means[c].tolist())]
        norm2 = delta[0] * delta[0]
        for d in delta[1:]:
            norm2 += d * d
        trace = trace_c + trace_x + shrink * norm2
        logdet = -math.inf
        if nij > det_from:
            if nj == 1 and factor is not None:
                # the lemma, L^-1 d by substitution in plain floats (cheaper for one column)
                solved, norm2 = [], 0.0
                for i, (row, d) in enumerate(zip(factor[1], delta)):
                    for k in range(i):
                        d -= row[k] * solved[k]
                    d /= row[i]
                    solved.append(d)
                    norm2 += d * d
                logdet = factor[2] + np.log1p(shrink * norm2)
            else:
                column = np.array(delta)[:, None]
                mat = self.scatter[c] + self.scatter[x]
                mat += shrink * (column * column.T)
                sign, value = _slogdet(mat)
                if sign > 0:
                    logdet = value
            logdet -= p * np.log(nij)
        merged = nij * _logaddexp(float(logdet), float(np.log(beta * (trace + alpha) / nij)))
        return merged - term_c - term_x

    def merge_costs(self, c, partners, alpha, beta, det_from):
        """The exact costs of slot c with the slots ``partners`` (c priced as the new one)."""
        factor = self.info[c][6]
        return _merge_costs(
            self.count[c],
            self.means[c],
            self.scatter[c],
            None if factor is None else factor[0],
            self.trace[c],
            self.term[c],
            self.count[partners],
            # (the layout _merge_costs was written for: its einsum sums by the layout)
            np.ascontiguousarray(self.means[partners].T),
            self.scatter[partners],
            self.trace[partners],
            self.term[partners],
            alpha,
            beta,
            det_from,
        )


def _initial_costs(Z, alpha, beta, log_ab, block=64):
    """The costs of every pair of rows (lower triangle) and each row's least (see _merge_vvv).

    Both are views that run backwards in memory: ``cost[j, :j]`` and ``least[1:m]`` read
    from their last element forwards, so that argmin, which finds the first least element
    of what it scans forwards, finds the last one of the row or slots (mclust's choice).
    """
    n = Z.shape[0]
    stored = np.empty((n, n))
    least = np.full(n, np.inf)
    upper = np.triu(np.ones((block, block), dtype=bool))[:, ::-1]
    # in blocks of rows, in one buffer: no second n x n temporary, and no fresh pages for
    # each block (the first tree of a process spends a good part of its time on page faults);
    # blocks of few rows keep the buffer in the core's cache through the passes over it
    # (and compute little above the diagonal)
    buffer = np.empty(min(block, n) * n)
    for start in range(0, n, block):
        stop = min(start + block, n)
        pair = buffer[: (stop - start) * stop].reshape(stop - start, stop)
        # with the rows backwards, as they are stored: pair[r, q] prices rows start + r and
        # stop - 1 - q (cdist prices each pair alone, whatever the order of the rows)
        cdist(Z[start:stop], Z[stop - 1 :: -1], "sqeuclidean", out=pair)
        pair *= 0.5  # (the same as dividing by 2, to the bit, and cheaper)
        pair += alpha
        pair *= beta / 2
        np.log(pair, out=pair)
        pair *= 2
        # the diagonal and above are no pairs (never read)
        pair[:, : stop - start][upper[: stop - start, block - (stop - start) :]] = np.inf
        rows = stored[start:stop, n - stop :]
        np.subtract(pair, 2 * log_ab, out=rows)
        least[n - stop : n - start] = rows.min(axis=1)[::-1]
    return stored[:, ::-1], least[::-1]


def _logdet(mats):
    # log det of positive semi-definite matrices; -inf where singular (mclust's det2mc)
    sign, logdet = _slogdet(mats)
    return np.where(sign > 0, logdet, -np.inf)


def _squared_norms(DT):
    """The squared norms of the columns of DT (p, m), each summed row by row in order, so
    that a pair priced alone costs to the last bit what it costs among many (einsum and
    add.reduce choose their order of summation by the array's shape)."""
    squares = np.square(DT)
    out = squares[0].copy()
    for row in squares[1:]:
        out += row
    return out


def _merge_costs(nc, mc, wc, factor, trc, termc, nj, mjT, wj, trj, termj, alpha, beta, det_from):
    """Rise of the criterion if cluster c merges with each cluster j (vectorised over j).

    ``mc`` is c's mean (p,), ``mjT`` the others' as columns (p, m). ``factor`` is the lower
    Cholesky factor of ``wc`` when it is well conditioned, else None.
    """
    p = mc.shape[0]
    nij = nc + nj
    shrink = nc * nj / nij
    deltaT = mjT - mc[:, None]
    trace = trc + trj + shrink * _squared_norms(deltaT)
    logdet = np.full(nj.shape[0], -np.inf)
    need = nij > det_from
    if np.any(need):
        single = need & (nj == 1)
        if factor is not None and np.any(single):
            # matrix determinant lemma: det(W + s d d') = det(W) (1 + s d' W^-1 d)
            y = _forward_substitution(factor, deltaT[:, single])
            logdet[single] = 2 * np.log(np.diag(factor)).sum() + np.log1p(
                shrink[single] * np.einsum("ij,ij->j", y, y)
            )
        else:
            single[:] = False
        rest = need & ~single
        if np.any(rest):
            d = deltaT[:, rest].T
            mats = wc + wj[rest] + shrink[rest, None, None] * (d[:, :, None] * d[:, None, :])
            logdet[rest] = _logdet(mats)
        logdet[need] -= p * np.log(nij[need])
    merged = nij * np.logaddexp(logdet, np.log(beta * (trace + alpha) / nij))
    return merged - termc - termj


# numpy's logaddexp in plain floats (its npy_logaddexp, operation for operation, with the
# same C library's exp and log1p): a NumPy call on two scalars costs more than its arithmetic
_LOG2 = math.log(2.0)


def _logaddexp(x, y):
    """``np.logaddexp`` of two Python floats, step for step as NumPy computes it (the same
    libm exp and log1p): a NumPy call costs more than the arithmetic for one pair."""
    if x == y:
        return x + _LOG2
    tmp = x - y
    if tmp > 0:
        return x + math.log1p(math.exp(-tmp))
    if tmp <= 0:
        return y + math.log1p(math.exp(tmp))
    return tmp  # NaN


def _forward_substitution(lower, rhs):
    # L^-1 B for a small p x p factor and many columns: p vector operations over the columns
    # cost less than one call of a general solver (SciPy's triangular solve was slower still:
    # its second OpenBLAS pool fights NumPy's for the cores)
    out = np.empty_like(rhs)
    for i in range(lower.shape[0]):
        out[i] = (rhs[i] - lower[i, :i] @ out[:i]) / lower[i, i]
    return out


def _cholesky(w):
    # the lemma needs a well-conditioned base; with a (near-)singular one every merge of the
    # cluster takes the determinant of its own matrix. LAPACK's potrf directly: a merge's
    # p x p factor costs a fifth of np.linalg.cholesky's checks and error-state handling
    factor, info = lapack.dpotrf(w, lower=1, clean=1)
    if info != 0:
        return None
    diag = factor.diagonal().tolist()  # (p numbers: plain floats compare faster)
    if min(diag) <= 1e-6 * max(diag):
        return None
    return factor
