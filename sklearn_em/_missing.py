"""Rows with missing cells: the observed-data EM of Ghahramani & Jordan (1994).

A missing cell (NaN) is "not observed", missing at random. A row's responsibilities come from
the density of its observed cells (the marginal of each component), and its contribution to
the statistics is the expected one: the missing cells filled with each component's
conditional mean, plus the conditional covariance of the missing block added to the scatter.
The result is the same statistics value the complete rows produce, so the two merge and the
M-step (any covariance type) is unchanged.

Everything a row needs is written with the component's full precision matrix P (Schur
complements), so the work shared by all rows is one (n, d) x (d, d) product per component,
and what depends on the row's pattern of missing cells m is a small |m| x |m| system:

* the conditional covariance of the missing block is ``C = (P_mm)^-1``;
* with e the row minus the mean, missing cells set to 0, and g = P e, the conditional mean
  of the missing block is ``mu_m - C g_m``;
* the observed Mahalanobis distance is ``|U' e_hat|^2`` (P = U U'), e_hat the row completed
  by its conditional mean, minus the mean. It equals ``e'P e - g_m' C g_m``, but that
  difference cancels (digits lost ~ the condition number of P); e_hat minimises the
  quadratic form over the missing cells, so the error of the conditional mean enters
  only at second order and the sum of squares has no cancellation;
* ``log det Sigma_oo = -log det P + log det P_mm``.

Rows are grouped by their number of missing cells (so arrays are rectangular) and, inside a
group, by pattern: ``P_mm`` is factored once per (pattern, component) per iteration, never per
row. Complete rows never come here: they take the chunked kernel of ``_kernels`` unchanged.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from . import _kernels
from ._stats import SufficientStats

_LOG_2PI = np.log(2 * np.pi)

# Bytes of per-chunk temporaries: k copies of the chunk, its k (|m| x |m|) conditional
# covariances and the log-probabilities (the same budget as the complete-row kernel).
_CHUNK_BYTES = _kernels.CHUNK_BYTES

# Fewer incomplete rows than this are processed on the calling thread.
_THREADED_ROWS = 20_000
# Patterns per block of factorisations (a task of the thread pool).
_PATTERN_BLOCK = 4096


# ---------------------------------------------------------------- the model, as needed here
# The one adapter to the parameter layer: full (k, d, d) precision factors, their
# log-determinants, the means and the log-weights of any covariance type.
def _dense_model(params):
    """``(log_weights, means, precision factors U (k, d, d), log det precisions (k,))`` in
    float64, with ``P_k = U_k U_k' = Sigma_k^-1`` whatever the covariance type: the stored
    factors, expanded (a diagonal factor is the diagonal matrix of its entries)."""
    k, d = params.n_components, params.n_features
    U = np.asarray(params.kernel.expand(params.precisions_cholesky, k, d), dtype=np.float64)
    U = np.broadcast_to(U, (k, d, d))
    log_det = 2.0 * np.log(np.diagonal(U, axis1=1, axis2=2)).sum(axis=1)
    with np.errstate(divide="ignore"):
        log_weights = np.log(np.asarray(params.weights, dtype=np.float64))
    return log_weights, np.asarray(params.means, dtype=np.float64), U, log_det


def _statistics_value(params, nk, means, scatter_full, shift, **extra):
    """The statistics value of the complete-row kernel, from full per-component scatters
    (about the new means, means relative to ``shift``), reduced to the kind the model's
    covariance step reads; ``extra``: log-likelihood, rows, worst rows."""
    kind = params.model.stats_kind
    if kind == "full":
        scatter = scatter_full
    elif kind == "pooled":
        scatter = scatter_full.sum(axis=0)
    elif kind == "diag":
        scatter = np.diagonal(scatter_full, axis1=1, axis2=2).copy()
    else:  # trace
        scatter = np.trace(scatter_full, axis1=1, axis2=2)
    return SufficientStats(kind, nk, means, scatter, np.asarray(shift, np.float64), **extra)


# Rows named by the error about rows without any observed cell.
EMPTY_ROWS_SHOWN = 10


def empty_rows_error(n_empty, shown, at_least=False):
    """The error for ``n_empty`` rows of X without any observed cell, naming the rows
    ``shown`` (the first EMPTY_ROWS_SHOWN of them); ``at_least``: more rows of X may be
    empty (one block of a dask X was looked at)."""
    text = ", ".join(str(int(i)) for i in shown)
    text += ", ..." if n_empty > len(shown) else ""
    return ValueError(
        f"{'at least ' if at_least else ''}{n_empty} row(s) of X have no observed value "
        "(every cell is NaN): "
        f"rows {text}. A row without any observed cell carries no information; "
        "remove it."
    )


def empty_rows(X, sample_weight=None):
    """The rows of X of positive weight without any observed cell (their indices in X)."""
    empty = np.flatnonzero(np.isnan(X).all(axis=1))
    return empty if sample_weight is None else empty[sample_weight[empty] > 0]


def check_rows_observed(X, sample_weight=None):
    """Raise :func:`empty_rows_error` for the rows of positive weight without any observed
    cell, named as rows of X (before any row of weight 0 is dropped); X without NaN passes
    at the cost of one sum."""
    if not missing_cells(X):
        return
    empty = empty_rows(X, sample_weight)
    if empty.size:
        raise empty_rows_error(empty.size, empty[:EMPTY_ROWS_SHOWN])


# ---------------------------------------------------------------- the rows, grouped once
@dataclass(frozen=True)
class _Group:
    """Rows with the same number s of missing cells."""

    rows: np.ndarray  # (n_g,) indices into X
    missing: np.ndarray  # (n_g, s) missing columns of each row, ascending
    pattern: np.ndarray  # (n_g,) index of the row's pattern in ``patterns``
    patterns: np.ndarray  # (P, s) the distinct patterns


@dataclass(frozen=True)
class MissingLayout:
    """Where the missing cells of X are: computed once per call (fit, score, transform).

    ``complete`` indexes the rows without missing cells, ``groups`` the others by number
    of missing cells.
    """

    n_samples: int
    complete: np.ndarray
    groups: tuple

    @classmethod
    def from_array(cls, X):
        """The layout of X; raises if a row has no observed cell."""
        mask = np.isnan(X)
        n, d = mask.shape
        # each row's mask as bytes (column j is bit j % 8 of byte j // 8), and from them its
        # number of missing cells: sums and row indexing over a narrow (n, d) table are
        # NumPy's slowest operations, and this runs for every dask block of every pass
        packed = np.packbits(mask, axis=1, bitorder="little")
        counts = _POPCOUNT[packed].sum(axis=1, dtype=np.intp)
        empty = np.flatnonzero(counts == d)
        if empty.size:
            raise empty_rows_error(empty.size, empty[:EMPTY_ROWS_SHOWN])
        # the rows grouped by their count (ascending within each: a stable sort)
        order = np.argsort(counts.astype(np.uint8 if d < 256 else np.intp), kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(counts, minlength=d + 1))])
        keys = _row_keys(packed) if d <= _KEY_BITS else None
        groups = []
        for s in range(1, d):
            rows = order[bounds[s] : bounds[s + 1]]
            if not rows.size:
                continue
            if keys is None:
                missing = np.nonzero(np.take(mask, rows, axis=0))[1].reshape(rows.size, s)
                patterns, pattern = np.unique(missing, axis=0, return_inverse=True)
                pattern = pattern.reshape(-1)
            else:
                patterns, pattern = _patterns_of(np.take(keys, rows), s, d)
                missing = np.take(patterns, pattern, axis=0)
            groups.append(_Group(rows, missing, pattern, patterns))
        return cls(n, order[: bounds[1]], tuple(groups))

    @property
    def n_patterns(self):
        return sum(g.patterns.shape[0] for g in self.groups)


# set bits of every byte
_POPCOUNT = np.array([bin(b).count("1") for b in range(256)], dtype=np.uint8)
# masks of up to this many columns are keyed by one integer per row
_KEY_BITS = 62
# ... and of up to this many find their distinct keys by a table of every key, not a sort
_TABLE_BITS = 16


def _row_keys(packed):
    """One integer per row (int64): its mask's bits, bit j for column j, from the rows'
    :func:`np.packbits` (little bit order) of at most ``_KEY_BITS`` columns."""
    n, width = packed.shape
    buf = np.zeros((n, 8), dtype=np.uint8)
    buf[:, :width] = packed
    return buf.view("<u8").reshape(n).astype(np.int64)


def _patterns_of(keys, s, d):
    """The distinct patterns of rows with ``s`` missing cells of ``d`` columns, keyed by
    their masks' bits (:func:`_row_keys`): ``(patterns, pattern)`` as ``np.unique(missing,
    axis=0, return_inverse=True)`` gives them (the missing columns of each, ascending; the
    patterns in lexicographic order, first column first; each row's pattern)."""
    if d <= _TABLE_BITS:  # (a table of every key: no sort of the rows)
        seen = np.bincount(keys, minlength=1 << d)
        distinct = np.flatnonzero(seen)
        index = np.zeros(1 << d, dtype=np.intp)
        index[distinct] = np.arange(distinct.size)
        inverse = np.take(index, keys)
    else:
        distinct, inverse = np.unique(keys, return_inverse=True)
        inverse = inverse.reshape(-1)
    bits = (distinct[:, None] >> np.arange(d, dtype=np.int64)) & 1
    patterns = np.nonzero(bits)[1].reshape(distinct.size, s)
    order = np.lexsort(patterns.T[::-1])  # lexicographic, first column first
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return patterns[order], np.take(rank, inverse)


def missing_cells(X):
    """True when X has a NaN."""
    with np.errstate(all="ignore"):
        # the sum is cheap and NaN if any cell is; NaN without one (inf - inf) is rare
        return bool(X.size) and bool(np.isnan(np.sum(X))) and bool(np.isnan(X).any())


# ---------------------------------------------------------------- the kernel
@dataclass(frozen=True)
class _GroupPlan:
    """Per (pattern, component) conditional covariances of one group, for one iteration."""

    cond_cov: np.ndarray  # (P, k, s, s): (P_mm)^-1
    log_det_mm: np.ndarray  # (P, k): log det P_mm


class MissingPlan:
    """The current model, prepared for rows with missing cells: one factorisation of
    ``P_mm`` per (pattern, component) of the layout."""

    def __init__(self, params, layout):
        self.log_weights, self.means, self.U, self.log_det = _dense_model(params)
        self.P = np.matmul(self.U, self.U.transpose(0, 2, 1))
        self.k, self.d = self.means.shape
        w = np.exp(self.log_weights)
        # statistics about the means' weighted median, as the complete-row kernel takes them
        # (a light component far out does not drag it)
        self.shift = _kernels.robust_centre(self.means, w)
        # the factorisations, in blocks of patterns on the chunk threads (many patterns
        # when many cells are missing: 35k at d=16 with 30% of 200k rows' cells)
        tasks = [
            (gi, sl)
            for gi, g in enumerate(layout.groups)
            for sl in _kernels.row_slices(g.patterns.shape[0], _PATTERN_BLOCK)
        ]
        blocks = _map_tasks(
            lambda gi, sl: self._factor(layout.groups[gi].patterns[sl]),
            tasks,
            parallel=layout.n_patterns >= 2 * _PATTERN_BLOCK,
        )
        self.groups = []
        for gi in range(len(layout.groups)):
            mine = [b for (g, _), b in zip(tasks, blocks) if g == gi]
            self.groups.append(
                _GroupPlan(
                    np.concatenate([b[0] for b in mine]), np.concatenate([b[1] for b in mine])
                )
            )

    def _factor(self, pat):
        """``(P_mm^-1, log det P_mm)`` of every component for the patterns ``pat`` (P, s):
        (P, k, s, s) and (P, k)."""
        # P_mm of every (pattern, component): one take of the flattened precisions (a
        # quarter of the time of the equivalent 4-d fancy index)
        d = self.d
        flat = pat[:, :, None] * d + pat[:, None, :]  # (P, s, s) into d * d
        Pmm = np.take(self.P.reshape(self.k, d * d), flat, axis=1).transpose(1, 0, 2, 3)
        L = np.linalg.cholesky(Pmm)
        Linv = _lower_inverse(L)
        cond_cov = np.matmul(Linv.transpose(0, 1, 3, 2), Linv)
        log_det_mm = 2.0 * np.log(np.diagonal(L, axis1=2, axis2=3)).sum(axis=2)
        return cond_cov, log_det_mm

    def chunk(self, X, group, gplan, sl, deviations=False):
        """Log-probabilities (k, n) of the rows ``group.rows[sl]`` under each component's
        observed marginal (plus log-weight) and, if asked, each component's completed rows
        minus its mean (k, n, d) and the conditional-mean corrections."""
        # all components at once: batched products, few NumPy calls per chunk (small
        # tables have many small groups, and their iterations are call overhead)
        rows, miss, pat = group.rows[sl], group.missing[sl], group.pattern[sl]
        n, s = miss.shape
        at = (slice(None), np.arange(n)[:, None], miss)  # the missing cells, every component
        E = X[rows].astype(np.float64)[None] - self.means[:, None, :]  # (k, n, d)
        E[at] = 0.0
        gm = np.matmul(E, self.P)[at]  # (k, n, s)
        cov = gplan.cond_cov[pat].transpose(1, 0, 2, 3)  # (k, n, s, s)
        E[at] = -np.matmul(cov, gm[..., None])[..., 0]  # conditional means minus means
        W = np.matmul(E, self.U)
        quad = np.einsum("knd,knd->kn", W, W)
        log_prob = (
            self.log_weights[:, None]
            - 0.5 * (self.d - s) * _LOG_2PI
            + 0.5 * (self.log_det[:, None] - gplan.log_det_mm[pat].T)
            - 0.5 * quad
        )
        return log_prob, (E if deviations else None)


# Below this many blocks in a stack, NumPy's batched solve (one LAPACK call per block) beats
# the s vectorised steps of the forward substitution (measured at s = 15: 26 against 66 us
# for 4 blocks; 2.5-4x the other way on the stacks of a real table).
_SMALL_STACK = 16


def _lower_inverse(L):
    """``L^-1`` of a stack of lower-triangular factors (..., s, s), row by row (forward
    substitution against the identity, all factors at once).

    s small steps over the whole stack: NumPy's batched solve (LU with pivoting, one LAPACK
    call per matrix) cost 2-3x more on the (patterns x components) stacks of small blocks
    that the missing-value plan factors every pass, most of that pass's time.
    """
    s = L.shape[-1]
    if L[..., 0, 0].size < _SMALL_STACK:  # few blocks: the s steps cost more than LAPACK
        return np.linalg.solve(L, np.broadcast_to(np.eye(s), L.shape))
    out = np.zeros(L.shape)
    for i in range(s):
        # row i: (e_i - sum_{j<i} L_ij row_j) / L_ii
        row = -np.matmul(L[..., i : i + 1, :i], out[..., :i, :])[..., 0, :]
        row[..., i] += 1.0
        out[..., i, :] = row / L[..., i, i : i + 1]
    return out


def _chunks(group, k, d):
    s = group.missing.shape[1]
    per_row = 8 * (k * (3 * d + s * s + s + 1) + 3 * d)
    return _kernels.row_slices(group.rows.size, max(1, _CHUNK_BYTES // per_row))


def _map_tasks(fn, tasks, parallel=True):
    """``[fn(*task) for task in tasks]``, in order, on the chunk threads if ``parallel``."""
    if len(tasks) <= 1 or not parallel:
        return [fn(*t) for t in tasks]
    with _kernels._chunk_threads() as n_threads:
        if n_threads <= 1:
            return [fn(*t) for t in tasks]
        with ThreadPoolExecutor(min(n_threads, len(tasks))) as pool:
            return list(pool.map(lambda t: fn(*t), tasks))


def _map_groups(fn, layout, k, d):
    """``[fn(group_index, slice)]`` over every chunk of every group, in order, on threads."""
    tasks = [(i, sl) for i, g in enumerate(layout.groups) for sl in _chunks(g, k, d)]
    # groups are many and small on small tables: threads would cost more than the work
    rows = sum(g.rows.size for g in layout.groups)
    return _map_tasks(fn, tasks, parallel=rows >= _THREADED_ROWS)


def _embedded_sum(R, cond_cov, patterns, d):
    """``sum_p R[p, j] C[p, j]`` with each (s, s) block placed at its pattern's missing rows
    and columns of a (d, d) matrix, for every component j: (k, d, d)."""
    P, k = R.shape
    flat = patterns[:, :, None] * d + patterns[:, None, :]  # (P, s, s) into d * d
    index = (np.arange(k)[None, :, None, None] * (d * d) + flat[:, None]).ravel()
    values = (R[:, :, None, None] * cond_cov).ravel()
    return np.bincount(index, weights=values, minlength=k * d * d).reshape(k, d, d)


def accumulate_incomplete(X, sample_weight, params, layout, n_worst=0, floor=0.0):
    """E-step and expected statistics over the rows of ``layout.groups``.

    Returns the statistics value the complete-row kernel makes, with ``loglik`` the
    weighted sum of the rows' observed-data log-likelihoods and, as ``worst_rows``, the
    ``n_worst`` rows of positive weight with the lowest one, completed by their conditional
    means under ``params``. The moments are taken about each component's current mean; a
    component whose new mean moved so far from it that its new scatter is below what those
    moments resolve (``_kernels.unresolved``, against ``floor``: one that collapsed) has
    them taken again about its new mean, as the complete-row kernel does.
    """
    plan = MissingPlan(params, layout)
    stats = _incomplete_pass(X, sample_weight, params, layout, plan, n_worst)
    moved = stats.means - (plan.means - plan.shift)
    again = _kernels.unresolved(
        stats.kind,
        stats.nk,
        moved,
        stats.scatter,
        _kernels._exact_limit(np.dtype(np.float64)),
        floor,
        _kernels.pooled_judgement(params.model),
    )
    if again.size:
        # (deterministic: the same responsibilities)
        centres = np.zeros_like(moved)
        centres[again] = moved[again]
        stats = _incomplete_pass(X, sample_weight, params, layout, plan, n_worst, centres)
    return stats


def _incomplete_pass(X, sample_weight, params, layout, plan, n_worst, centres=None):
    """:func:`accumulate_incomplete`'s pass, its moments about the current means plus
    ``centres`` ((k, d), None: zero)."""
    k, d = plan.k, plan.d

    def chunk(gi, sl):
        group, gplan = layout.groups[gi], plan.groups[gi]
        log_prob, D = plan.chunk(X, group, gplan, sl, deviations=True)
        if centres is not None:
            D -= centres[:, None, :]
        ll = _kernels.normalize_inplace(log_prob)
        resp = log_prob
        rows = group.rows[sl]
        n_rows = rows.size
        if sample_weight is None:
            loglik = float(ll.sum())
        else:
            w = sample_weight[rows].astype(np.float64)
            loglik = float(w[w > 0] @ ll[w > 0])
            resp *= w
            keep = w > 0
            rows, ll = rows[keep], ll[keep]
            n_rows = rows.size
        nk = resp.sum(axis=1)
        first = np.einsum("kn,knd->kd", resp, D)
        second = np.matmul(D.transpose(0, 2, 1) * resp[:, None, :], D)
        # each pattern's total responsibility: its conditional covariances are added once
        # per (pattern, component) after the pass, not once per row
        P = group.patterns.shape[0]
        pat = group.pattern[sl]
        index = (pat[None, :] + P * np.arange(k)[:, None]).ravel()
        R = np.bincount(index, weights=resp.ravel(), minlength=k * P).reshape(k, P).T
        if n_worst and rows.size > n_worst:
            part = np.argpartition(ll, n_worst - 1)[:n_worst]
            rows, ll = rows[part], ll[part]
        elif not n_worst:
            rows, ll = rows[:0], ll[:0]
        return gi, nk, first, second, loglik, rows, ll, R, n_rows

    results = _map_groups(chunk, layout, k, d)
    nk = sum(r[1] for r in results)
    first = sum(r[2] for r in results)
    second = sum(r[3] for r in results)
    loglik = sum(r[4] for r in results)
    for gi, group in enumerate(layout.groups):
        R = sum(r[7] for r in results if r[0] == gi)
        second += _embedded_sum(R, plan.groups[gi].cond_cov, group.patterns, d)
    # moments were taken about each component's current mean: exact for a component far
    # from the others; recentre on the new mean
    delta = np.divide(first, nk[:, None], out=np.zeros_like(first), where=nk[:, None] > 0)
    scatter = second - nk[:, None, None] * delta[:, :, None] * delta[:, None, :]
    means = plan.means - plan.shift + delta
    if centres is not None:
        means += centres
    rows = np.concatenate([r[5] for r in results]) if results else np.empty(0, np.intp)
    ll = np.concatenate([r[6] for r in results]) if results else np.empty(0)
    order = np.argsort(ll, kind="stable")[:n_worst]
    return _statistics_value(
        params,
        nk,
        means,
        scatter,
        plan.shift,
        loglik=float(loglik),
        n_rows=float(sum(r[8] for r in results)),
        n_worst=n_worst,
        worst_rows=_completed(X[rows[order]], params),
        worst_scores=ll[order].astype(np.float64),
    )


def _completed(rows, params):
    """Rows (float64) with their missing cells at their conditional means."""
    rows = rows.astype(np.float64)
    if not rows.size or not np.isnan(rows).any():
        return rows
    return conditional_fill(rows, params, MissingLayout.from_array(rows))


def log_prob_resp(X, params, layout):
    """Per-row log-likelihood (n,) and responsibilities (n, k) of every row of X, complete
    rows by the chunked kernel, the others from their observed marginals. float64."""
    n = X.shape[0]
    ll = np.empty(n)
    resp = np.empty((n, params.n_components))
    if layout.complete.size:
        Xc = X if layout.complete.size == n else X[layout.complete]
        ll_c, resp_c = _kernels.log_prob_and_resp(Xc, params)
        ll[layout.complete], resp[layout.complete] = ll_c, resp_c
    plan = MissingPlan(params, layout)

    def chunk(gi, sl):
        group = layout.groups[gi]
        log_prob, _ = plan.chunk(X, group, plan.groups[gi], sl)
        rows = group.rows[sl]
        ll[rows] = _kernels.normalize_inplace(log_prob)
        lost = np.flatnonzero(ll[rows] == -np.inf)  # below float64's range: nan so far
        if lost.size:
            log_prob[:, lost] = _far_responsibilities(plan, X[rows[lost]])
        resp[rows] = log_prob.T

    _map_groups(chunk, layout, plan.k, plan.d)
    return ll, resp


def _far_responsibilities(plan, X_rows):
    """``_kernels.far_responsibilities`` for rows with missing cells: each component's
    observed marginal ``N(m_o, Sigma_oo)``, its quadratic form on ``x_o - m_o`` expanded in
    ``u = (x_o - c) / s`` (s a power of two at the row's extent) so that nothing overflows.
    For the rare rows whose density is below float64's range under every component: per
    row, k small factorisations."""
    cov = np.linalg.inv(plan.P)  # the covariances, once for these few rows
    out = np.empty((plan.k, X_rows.shape[0]))
    for i, x in enumerate(np.asarray(X_rows, dtype=np.float64)):
        o = ~np.isnan(x)
        u = x[o] - plan.shift[o]
        s = _kernels.row_scale(u)
        L = np.linalg.cholesky(cov[:, o][:, :, o])  # (k, o, o)
        Yu = np.linalg.solve(L, np.broadcast_to((u / s)[:, None], L.shape[:2] + (1,)))[..., 0]
        Ym = np.linalg.solve(L, (plan.means[:, o] - plan.shift[o])[..., None])[..., 0]
        base = plan.log_weights - np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)
        out[:, i] = _kernels._ordered_posterior(
            np.square(Yu).sum(axis=1)[:, None],
            (Yu * Ym).sum(axis=1)[:, None],
            np.square(Ym).sum(axis=1)[:, None],
            base,
            np.array([s]),
        )[:, 0]
    return out


def conditional_fill(X, params, layout, random_state=None):
    """X with each missing cell replaced by its conditional mean under the mixture,
    ``sum_k p(k | x_o) E_k[x_m | x_o]``, or (with ``random_state``) by a draw from the
    conditional distribution: a component from p(k | x_o), then the missing block from
    that component's conditional Gaussian. Observed cells are copied unchanged."""
    out = np.array(X, copy=True)
    plan = MissingPlan(params, layout)
    chol = None
    if random_state is not None:
        chol = [np.linalg.cholesky(g.cond_cov) for g in plan.groups]

    def chunk(gi, sl):
        group = layout.groups[gi]
        log_prob, D = plan.chunk(X, group, plan.groups[gi], sl, deviations=True)
        _kernels.normalize_inplace(log_prob)
        rows, miss = group.rows[sl], group.missing[sl]
        # conditional means of every component on the missing cells: (k, n, s)
        cond = np.take_along_axis(D, miss[None], axis=2) + np.take_along_axis(
            np.broadcast_to(plan.means[:, None, :], D.shape), miss[None], axis=2
        )
        if chol is None:
            values = np.einsum("kn,kns->ns", log_prob, cond)
        else:
            # draws in row order, so a seed gives the same table on any number of threads
            u = random_state.uniform(size=rows.size)
            comp = (np.cumsum(log_prob, axis=0) < u * log_prob.sum(axis=0)).sum(axis=0)
            comp = np.minimum(comp, plan.k - 1)
            z = random_state.standard_normal(size=miss.shape)
            Lr = chol[gi][group.pattern[sl], comp]  # (n, s, s)
            idx = np.arange(rows.size)
            values = cond[comp, idx] + np.matmul(Lr, z[:, :, None])[:, :, 0]
        block = out[rows]
        np.put_along_axis(block, miss, values.astype(out.dtype), axis=1)
        out[rows] = block

    # sequential when drawing: the draws must come in a fixed order
    if random_state is None:
        _map_groups(chunk, layout, plan.k, plan.d)
    else:
        for gi, g in enumerate(layout.groups):
            for sl in _chunks(g, plan.k, plan.d):
                chunk(gi, sl)
    return out


# ---------------------------------------------------------------- EM on incomplete data
class IncompleteData:
    """X with missing cells, as the EM loop sees it: one fused E-step and statistics pass
    over complete and incomplete rows, merged into one statistics value."""

    def __init__(self, X, sample_weight):
        self.X = X
        self.sample_weight = sample_weight
        self.layout = MissingLayout.from_array(X)
        c = self.layout.complete
        # complete rows keep today's kernel; copied once per fit, not per iteration
        self.X_complete = np.take(X, c, axis=0) if c.size else None
        self.w_complete = None if sample_weight is None or not c.size else sample_weight[c]

    def accumulate(self, params, n_worst=0, floor=0.0):
        """The statistics value of a pass over all rows (what ``_kernels.accumulate`` gives
        for complete data): complete rows by the chunked kernel, the others observed-data,
        merged; ``worst_rows`` completed by their conditional means. ``floor``: as for
        ``_kernels.accumulate``."""
        stats = accumulate_incomplete(
            self.X, self.sample_weight, params, self.layout, n_worst, floor
        )
        if self.X_complete is None:
            return stats
        complete = _kernels.accumulate(
            self.X_complete, self.w_complete, params, n_worst=n_worst, floor=floor
        )
        return complete.merge(stats)

    def mean_filled(self):
        """X with each missing cell set to its column's (weighted) observed mean: what
        initialisation (k-means and the others) and the data-scaled prior see."""
        return mean_filled(self.X, self.sample_weight)


def impute(X, params, random_state=None):
    """X with each missing cell filled under ``params``: its conditional mean given the row's
    observed cells, or a draw from that conditional (``random_state`` given). A row with no
    observed cell gets the mixture's own mean (its conditional mean given nothing), or a draw
    from the mixture, after the other rows' draws. Observed cells are unchanged; a copy of X
    when nothing is missing."""
    if not missing_cells(X):
        return X.copy()
    empty = empty_rows(X)
    if not empty.size:
        return conditional_fill(X, params, MissingLayout.from_array(X), random_state)
    out = np.array(X, copy=True)
    rest = np.delete(np.arange(X.shape[0]), empty)
    if rest.size:
        out[rest] = impute(X[rest], params, random_state)
    out[empty] = _mixture_fill(params, empty.size, random_state)
    return out


def _mixture_fill(params, n, random_state=None):
    """n rows of nothing observed: the mixture's mean, or n draws from the mixture (a
    component by its weight, as :func:`conditional_fill` draws one, then its Gaussian)."""
    weights = np.asarray(params.weights, dtype=np.float64)
    means = np.asarray(params.means, dtype=np.float64)
    if random_state is None:
        return np.tile(weights @ means, (n, 1))
    u = random_state.uniform(size=n)
    comp = (np.cumsum(weights)[:, None] < u * weights.sum()).sum(axis=0)
    comp = np.minimum(comp, weights.size - 1)
    k, d = means.shape
    z = random_state.standard_normal(size=(n, d))
    full = params.kernel.expand(params.covariance_matrices(), k, d)
    factors = np.linalg.cholesky(np.asarray(full, dtype=np.float64))
    return means[comp] + np.matmul(factors[comp], z[:, :, None])[:, :, 0]


def mean_filled(X, sample_weight=None):
    """X with each missing cell set to its column's (weighted) observed mean (X itself
    when nothing is missing)."""
    if not missing_cells(X):
        return X
    return filled(X, column_means(*observed_sums(X, sample_weight)))


def observed_sums(X, sample_weight=None):
    """Per column, the weighted sum of the observed cells and their total weight, (d,) each
    in float64: sums over parts of the rows add up to those of all of them."""
    mask = np.isnan(X)
    w = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    w = w.astype(np.float64)[:, None] * ~mask
    return (np.where(mask, 0.0, X).astype(np.float64) * w).sum(axis=0), w.sum(axis=0)


def column_means(sums, total):
    """The columns' observed means from ``observed_sums``; raises for a column without any
    observed cell."""
    if np.any(total <= 0):
        col = int(np.flatnonzero(total <= 0)[0])
        raise ValueError(
            f"Feature {col} has no observed value (in rows of positive sample_weight): "
            "it cannot be fitted. Remove it."
        )
    return sums / total


def filled(X, means):
    """X with each missing cell set to its column's value in ``means`` (in X's dtype)."""
    return np.where(np.isnan(X), means.astype(X.dtype), X)


def accumulate(X, sample_weight, params, n_worst=0, floor=0.0):
    """A statistics pass over X, which may have missing cells: ``_kernels.accumulate`` if
    it has none, else its complete rows by that kernel and the others observed-data, merged
    (a batch of a stream, a block: any rows). ``floor``: as for ``_kernels.accumulate``."""
    if not missing_cells(X):
        return _kernels.accumulate(X, sample_weight, params, n_worst=n_worst, floor=floor)
    return IncompleteData(X, sample_weight).accumulate(params, n_worst, floor)


# ---------------------------------------------------------------- inference on any X
def _with_missing(X, params):
    """``log_prob_resp`` of X if it has missing cells, else None (today's kernels apply)."""
    if not missing_cells(X):
        return None
    return log_prob_resp(X, params, MissingLayout.from_array(X))


def _scores_in(log_lik, dtype):
    """Per-row log-likelihoods (float64) in the data's dtype: below float32's range they
    are -inf, as for complete rows, which needs no overflow warning."""
    with np.errstate(over="ignore"):
        return log_lik.astype(dtype)


def score_samples(X, params):
    """Per-row log-likelihood; rows with missing cells by their observed marginal."""
    both = _with_missing(X, params)
    if both is None:
        return _kernels.score_samples(X, params)
    return _scores_in(both[0], X.dtype)


def predict_proba(X, params):
    """Responsibilities, n x k; rows with missing cells from their observed marginal."""
    both = _with_missing(X, params)
    if both is None:
        return _kernels.predict_proba(X, params)
    return both[1].astype(X.dtype)


def predict(X, params):
    """The most probable component of each row."""
    both = _with_missing(X, params)
    if both is None:
        return _kernels.predict(X, params)
    return both[1].argmax(axis=1)


def log_likelihood_and_map(X, params):
    """Per-row log-likelihood and largest responsibility (for ICL); rows with missing cells
    from their observed marginal."""
    both = _with_missing(X, params)
    if both is None:
        return _kernels.log_likelihood_and_map(X, params)
    return _scores_in(both[0], X.dtype), both[1].max(axis=1).astype(X.dtype)


def log_prob_and_resp(X, params):
    """Per-row log-likelihood and responsibilities (for criteria such as ICL)."""
    both = _with_missing(X, params)
    if both is None:
        return _kernels.log_prob_and_resp(X, params)
    return _scores_in(both[0], X.dtype), both[1].astype(X.dtype)
