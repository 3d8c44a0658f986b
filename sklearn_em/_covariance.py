"""The four density kernels: how a covariance is stored and how densities are computed.

A kernel is the fast half of a covariance model (the other half, how its covariances are
estimated from statistics, is a row of ``_models``). It knows, for its storage of the
precision Cholesky factors, how to

* build a chunk's features: the columns of (shifted) data whose products with coefficient
  matrices give every component's log-density (E-step) and, with the responsibilities, the
  moments behind the sufficient statistics (M-step) -- the same features serve both, so a
  chunk costs two matrix products whatever k is;
* turn those moments into the centred scatter of its statistics kind (``_stats``);
* factor covariances into precision Cholesky factors, reporting which components fail, and
  convert between covariances, precisions and their factors;
* evaluate the quadratic forms of a chunk for all components at once (and directly, for the
  few components the plan computes exactly).

========== =========================== ============== ================
kernel     covariances / factors shape statistics     factors
========== =========================== ============== ================
full       (k, d, d)                   'full'         upper-triangular
tied       (d, d), one for all         'pooled'       upper-triangular
diag       (k, d)                      'diag'         elementwise sqrt
spherical  (k,)                        'trace'        elementwise sqrt
========== =========================== ============== ================

('full' hands over to its direct variant for few components in many dimensions.)
"""

from functools import lru_cache

import numpy as np
from scipy import linalg

from ._stats import OUTER

try:
    # what np.linalg.cholesky and np.linalg.inv call on float64 stacks, without their Python
    # wrappers (a few microseconds a call: both run at every M-step of the matrix kernels)
    from numpy.linalg._umath_linalg import cholesky_lo as _cholesky_lo
    from numpy.linalg._umath_linalg import inv as _inv
except ImportError:  # (a private module: the public functions if it moves)
    _cholesky_lo = _inv = None
try:
    # what np.einsum calls without ``optimize`` (its wrapper costs a microsecond a call, and
    # the plans call it at every pass)
    from numpy._core._multiarray_umath import c_einsum as _einsum
except ImportError:  # (a private module: the public function if it moves)
    _einsum = np.einsum


def _lower_cholesky(a):
    """Lower Cholesky factors of a stack of finite matrices (k, d, d), and a mask (k,) of
    those that are not positive definite (their factors are not usable)."""
    k, d, _ = a.shape
    if _cholesky_lo is not None and a.dtype == np.float64:
        # LAPACK's potrf per matrix, as np.linalg.cholesky runs it; one that fails comes out
        # as nan (where the wrapper raises for the whole stack)
        with np.errstate(invalid="ignore", over="ignore", divide="ignore", under="ignore"):
            lower = _cholesky_lo(a, signature="d->d")
        return lower, np.logical_or.reduce(np.isnan(lower.reshape(k, d * d)[:, :: d + 1]), axis=1)
    failed = np.zeros(k, dtype=bool)
    try:  # the usual case: all k in one factorisation
        return np.linalg.cholesky(a), failed
    except np.linalg.LinAlgError:  # then component by component: which are not PD
        lower = np.empty_like(a)
        for j, cov in enumerate(a):
            try:
                lower[j] = np.linalg.cholesky(cov)
            except np.linalg.LinAlgError:
                failed[j] = True
        return lower, failed


def _inverse(a):
    """``np.linalg.inv`` of a stack of matrices (lower Cholesky factors, never singular in
    practice): a singular one comes out as nan where the public function raises, which the
    callers' test of the factors names as a failed component."""
    if _inv is None or a.dtype != np.float64:
        return np.linalg.inv(a)
    with np.errstate(all="ignore"):
        return _inv(a, signature="d->d")


def _recentre(kind, S_a, mean, a, nk):
    """Scatter about ``mean`` from the scatter about a nearby point ``a``."""
    delta = (mean - np.asarray(a, dtype=np.float64))[None]
    return S_a - OUTER[kind](delta, np.array([nk]))[0]


@lru_cache(maxsize=64)
def _eye(d):
    """``np.eye(d)``, made once per d; read-only, as it is shared."""
    eye = np.eye(d)
    eye.flags.writeable = False
    return eye


@lru_cache(maxsize=64)
def _upper(d):
    """The (d, d) mask of the upper triangle (diagonal included); read-only, shared."""
    mask = np.triu(np.ones((d, d), dtype=bool))
    mask.flags.writeable = False
    return mask


@lru_cache(maxsize=64)
def _packed(d):
    """Where each entry of a symmetric (d, d) matrix sits in its packed upper triangle
    (the order of ``_triu(d)``), and the weights of the packed entries in a quadratic form
    (1/2 on the diagonal, 1 off it: off-diagonal products appear once in the features);
    read-only, shared."""
    iu, ju = np.triu_indices(d)
    position = np.empty((d, d), dtype=np.intp)
    position[iu, ju] = position[ju, iu] = np.arange(iu.size)
    weights = np.where(iu == ju, 0.5, 1.0)
    position = position.reshape(-1)
    position.flags.writeable = weights.flags.writeable = False
    return position, weights


@lru_cache(maxsize=64)
def _quadratic_layout(d):
    """Where the packed upper triangle (the order of ``_triu(d)``) sits in a flattened (d, d)
    matrix, and the negated weights of ``_packed(d)``: a precision's coefficients on the
    features are ``P.flat[flat] * negative_weights``; read-only, shared."""
    iu, ju = _triu(d)
    flat = iu * d + ju
    negative_weights = -_packed(d)[1]
    flat.flags.writeable = negative_weights.flags.writeable = False
    return flat, negative_weights


@lru_cache(maxsize=64)
def _triu(d):
    """``np.triu_indices(d)``, made once per d (it costs more than a small table's products);
    read-only, as they are shared."""
    iu, ju = np.triu_indices(d)
    iu.flags.writeable = False
    ju.flags.writeable = False
    return iu, ju


# OpenBLAS, the BLAS of NumPy's wheels, multiplies matrices of at most SMALL_PRODUCT
# multiply-adds (M N K) with dedicated small-matrix kernels on AVX-512 machines. A chunk's
# two products run over its rows; cut into pieces of that size, the moments' (p x m) @ (m x r),
# whose inner dimension is the rows, ran 1.6-3x faster than whole and the E-step's (r x p) @
# (p x m) up to 2x (benchmarks/product_pieces.py). Elsewhere a piece costs one call more;
# pieces of fewer rows than MIN_PIECE_ROWS are not worth it.
SMALL_PRODUCT = 1_000_000
MIN_PIECE_ROWS = 1024


def _row_pieces(size, m):
    """Boundaries of the pieces of m rows for products of ``size`` multiply-adds per row,
    or None for one piece."""
    rows = SMALL_PRODUCT // max(size, 1)  # the most a piece may have (0: none is small)
    if m <= rows or rows < MIN_PIECE_ROWS:
        return None
    pieces = -(-m // rows)
    if m < pieces * MIN_PIECE_ROWS:
        return None
    return [m * i // pieces for i in range(pieces + 1)]


def rows_product(A, B):
    """``A @ B.T`` in float64, for A (p, m) and B (r, m) in the chunk's dtype: summed over
    pieces of the m rows (see ``SMALL_PRODUCT``), each piece's product in the dtype."""
    (p, m), r = A.shape, B.shape[0]
    bounds = _row_pieces(p * r, m)
    if bounds is None:
        return (A @ B.T).astype(np.float64, copy=False)
    out = (A[:, : bounds[1]] @ B[:, : bounds[1]].T).astype(np.float64)
    for start, stop in zip(bounds[1:-1], bounds[2:]):
        out += A[:, start:stop] @ B[:, start:stop].T
    return out


def columns_product(C, FT, out):
    """``out = C @ FT`` for C (k, q) and FT (q, m), piece by piece of the m columns (see
    ``SMALL_PRODUCT``)."""
    bounds = _row_pieces(C.shape[0] * C.shape[1], FT.shape[1])
    if bounds is None:
        return np.matmul(C, FT, out=out)
    for start, stop in zip(bounds[:-1], bounds[1:]):
        np.matmul(C, FT[:, start:stop], out=out[:, start:stop])
    return out


def _safe_means(sums, nk):
    """``sums / nk``, zero for components without weight."""
    if nk.size and np.minimum.reduce(nk) > 0:  # (the usual case: a plain division)
        return sums / nk[:, None]
    return np.divide(sums, nk[:, None], out=np.zeros_like(sums), where=nk[:, None] > 0)


def _weights_from_ones(G, respT):
    """``[nk, G without its last row]`` of a product ``G`` of features ending with a row of
    ones and the responsibilities ``respT``: the weights are that row's products (float32
    rows' are summed in float64 apart: the products of float32 pieces would round them)."""
    if respT.dtype == np.float64:  # (G is float64 whatever the rows' dtype)
        return [G[-1].copy(), G[:-1]]
    return [np.add.reduce(respT, axis=1, dtype=np.float64), G[:-1]]


class _Kernel:
    """What every kernel shares: the chunk's E-step and M-step products.

    The one-product kernel expands quadratic forms about the shift c, which rounds like
    eps * (x - c)'P(x - c): harmless unless a component is tight and far from c (e.g. one that
    collapsed onto a row thousands of its widths away). Such components, named by the plan as
    ``exact = (indices, means relative to c, precision factors)`` (in the plan's units, see
    ``_kernels.KernelPlan``), get their densities and scatter computed directly from x - m_k,
    as scikit-learn does for every component. The moments take the scatter of the components
    in ``centred = (indices, centres relative to c)`` directly about those centres (the exact
    components' previous means, or a collapsed component's new mean, see
    ``_kernels.accumulate``).
    """

    # Chunks are laid out transposed: XsT (d, n), features FT (q, n), log-probabilities and
    # responsibilities (k, n). Every elementwise operation and every reduction over
    # components then runs along the long, contiguous axis of rows.

    # The features end with a row of ones, and the coefficients with the plan's constants
    # (``_kernels.KernelPlan.from_params`` writes them there): the E-step's product adds
    # them, and the M-step's gives each component's weight, where each would otherwise be
    # a pass of its own over the (k, n) block. Kernels without features add the constants.
    constant_row = True

    @staticmethod
    def log_prob(FT, XsT, coef, out):
        """``out = -1/2 Mahalanobis^2`` (k, n) plus the per-component constants (the last
        column of ``coef``, on the features' row of ones; see ``constant_row``)."""
        return columns_product(coef, FT, out)

    # A pass over the data sums, chunk by chunk, moments about the shift (additive, since
    # every chunk of a pass shares the shift); they become centred statistics once per pass.

    @classmethod
    def chunk_moments(cls, FT, XsT, respT, centred=None, row_scatter=None):
        """Additive moments of a chunk: [nk, F @ resp^T without the row of ones (whose
        products are nk), centred components' scatters].

        ``centred``: ``(indices, centres)`` (relative to the shift, in the chunk's units) of
        the components whose scatter is taken directly about their centre, or None.
        ``row_scatter``: given where respT are a pass's responsibilities (each row's sum to
        its weight), a function that returns the rows' own weighted scatter about the
        shift, ``sum_i w_i xs_i xs_i^T`` (:func:`weighted_scatter`, or made once for a
        small X): kernels whose moments need it take it from there.
        """
        G = rows_product(FT, respT)
        if cls.constant_row:
            moments = _weights_from_ones(G, respT)
        else:
            moments = [np.add.reduce(respT, axis=1, dtype=np.float64), G]
        if centred is not None:
            # about a point a that the new mean is close to
            moments += [cls.weighted_square(XsT - a[:, None], respT[j]) for j, a in zip(*centred)]
        return moments

    @classmethod
    def moments_stats(cls, moments, d, centred=None):
        """(nk, means, centred scatter) from summed moments, means relative to the shift."""
        nk, G, *centred_squares = moments
        means, scatter = cls.moments_to_stats(nk, G, d)
        if centred is not None:
            for j, a, S_a in zip(*centred, centred_squares):
                scatter[j] = _recentre(cls.stats_kind, S_a, means[j], a, nk[j])
        return nk, means, scatter

    @staticmethod
    def whiten(DT, prec_chol):
        """Columns of DT in the component's whitened coordinates (|.|^2 = Mahalanobis^2)."""
        return DT * prec_chol

    @classmethod
    def exact_half_mahalanobis(cls, XsT, a, prec_chol):
        return cls.half_mahalanobis(XsT - a[:, None], prec_chol)

    @classmethod
    def half_mahalanobis(cls, DT, prec_chol):
        """``-1/2 |U^T d|^2`` of the columns of DT (differences to the component's mean)."""
        # a row many widths from a tight component has a distance beyond the dtype's range:
        # -inf is its log-density rounded to the dtype, no news
        with np.errstate(over="ignore"):
            Y = cls.whiten(DT, prec_chol)
            np.square(Y, out=Y)
            return -0.5 * Y.sum(axis=0)

    @staticmethod
    def factor(prec_chol, j):
        return prec_chol[j]

    @classmethod
    def plan(cls, means_s, prec_chol, dtype):
        """``(coef, const, distance)`` of a pass: the coefficients on the features (in
        ``dtype``), the constants -1/2 mu'P mu they leave out, and each component's squared
        Mahalanobis distance from the shift (the origin here), mu'P mu: -2 const, which the
        coefficients compute anyway. Means relative to the shift, factors in the kernel's
        storage (both scaled alike). The coefficients' last column (the constants', on the
        features' row of ones) is left for ``KernelPlan.from_params`` to fill."""
        C, const = cls.coefficients(means_s, prec_chol)
        return np.ascontiguousarray(C.T, dtype=dtype), const, -2.0 * const

    @classmethod
    def kernel_for(cls, k, d, small=False):
        """The kernel (this one or a variant) that suits k components in d dimensions, over
        ``small`` data (a fit's prepared rows, taken as one chunk: their features are made
        once, see ``_kernels.PreparedRows``) or any."""
        return cls

    @classmethod
    def row_temporaries(cls, k, d):
        """Numbers held per row of a chunk besides the row and its k log-probabilities."""
        return cls.n_features_out(d) + d


class _Full(_Kernel):
    name = "full"
    stats_kind = "full"
    matrix = True  # factors are triangular matrices (not elementwise square roots)
    shared = False  # one covariance stored for all components

    @staticmethod
    def storage_shape(k, d):
        return (k, d, d)

    @staticmethod
    def expand(covariances, k, d):
        return covariances

    @classmethod
    def kernel_for(cls, k, d, small=False):
        # Few components in many dimensions (d >= 32, k <= (d + 3) / 4): the packed features
        # (d(d+1)/2 + d + 1 per row) outweigh the k*d whitened coordinates of the direct kernel
        # (measured at d=64, k=8: 1.6x faster). Below that the features are small anyway.
        q = cls.n_features_out(d)
        return _FullDirect if d >= 32 and 2 * k * d <= q else cls

    @staticmethod
    def n_features_out(d):
        return d * (d + 1) // 2 + d + 1  # (the row of ones last)

    @staticmethod
    def features(XsT, out):
        # Rows: the upper triangle of x x^T, then x, then ones. Built transposed so every
        # product runs over a long contiguous axis (the chunk's rows).
        d = XsT.shape[0]
        off = 0
        for i in range(d):
            np.multiply(XsT[i], XsT[i:], out=out[off : off + d - i])
            off += d - i
        out[off : off + d] = XsT
        out[-1] = 1.0
        return out

    @staticmethod
    def coefficients(means_s, prec_chol):
        # log N up to constants = -1/2 x'Px + x'P mu - 1/2 mu'P mu, written on the features;
        # off-diagonal products appear once in the features, so their weight is -P_ij.
        k, d = means_s.shape
        flat, negative_weights = _quadratic_layout(d)
        p = flat.size
        P = prec_chol @ prec_chol.transpose(0, 2, 1)
        # (k, q) in one buffer, returned transposed: the plan's coefficients without a copy
        # (the last column, the constants', is the plan's to fill)
        C = np.empty((k, p + d + 1))
        np.multiply(P.reshape(k, d * d)[:, flat], negative_weights, out=C[:, :p])
        Pmu = _einsum("kij,kj->ki", P, means_s, out=C[:, p:-1])
        const = -0.5 * _einsum("ki,ki->k", Pmu, means_s)
        return C.T, const

    @staticmethod
    def moments_to_stats(nk, G, d):
        p = d * (d + 1) // 2
        k = nk.shape[0]
        sums = G[p:].T
        means = _safe_means(sums, nk)
        # the packed second moments unpacked into symmetric matrices, in one gather
        T = G[:p].T[:, _packed(d)[0]].reshape(k, d, d)
        S = T - nk[:, None, None] * means[:, :, None] * means[:, None, :]
        return means, S

    @staticmethod
    def weighted_square(DT, r):
        Dw = DT * np.sqrt(r)
        return (Dw @ Dw.T).astype(np.float64)

    @staticmethod
    def whiten(DT, prec_chol):
        return prec_chol.T @ DT

    @staticmethod
    def precisions_cholesky(covariances):
        # NumPy's batched LAPACK: one call for all k components, and the same BLAS thread
        # pool as the kernels (SciPy's separate pool fought it for the cores).
        k, d, _ = covariances.shape
        # finite in two reductions (nan fails them, nothing overflows); non-finite components
        # are factored as the identity and reported
        finite = not covariances.size or (
            np.maximum.reduce(covariances, axis=None) < np.inf
            and np.minimum.reduce(covariances, axis=None) > -np.inf
        )
        ok = np.ones(k, dtype=bool) if finite else np.all(np.isfinite(covariances), axis=(1, 2))
        safe = covariances if finite else np.where(ok[:, None, None], covariances, _eye(d))
        cov_chol, not_pd = _lower_cholesky(safe)
        if not not_pd.any() and ok.all():  # (the usual case)
            return _upper_of_inverse_transposed(cov_chol), []
        ok &= ~not_pd
        cov_chol[~ok] = _eye(d)
        return _upper_of_inverse_transposed(cov_chol), [int(j) for j in np.flatnonzero(~ok)]

    @staticmethod
    def log_det(prec_chol, d):
        # (the diagonals as a strided view: np.diagonal costs more than the logarithms)
        return np.add.reduce(np.log(prec_chol.reshape(-1, d * d)[:, :: d + 1]), axis=1)

    @staticmethod
    def covariances_from_precisions_cholesky(prec_chol):
        # cov = inv(U U^T) = L L^T with L = inv(U)^T, a triangular solve.
        d = prec_chol.shape[-1]
        eye = np.eye(d, dtype=prec_chol.dtype)
        out = np.empty_like(prec_chol)
        for j, U in enumerate(prec_chol):
            L = linalg.solve_triangular(U, eye, lower=False).T
            out[j] = L @ L.T
        return out

    @staticmethod
    def precisions_from_precisions_cholesky(prec_chol):
        return prec_chol @ prec_chol.transpose(0, 2, 1)

    @staticmethod
    def variances(prec_chol):
        """The components' marginal variances (k, d): the diagonal of their covariances."""
        # diag(inv(U U^T)) = diag(V^T V) with V = inv(U): the squared column norms of V,
        # from one batched inverse for all k (once per pass: a bound on the data's extent)
        return np.square(np.linalg.inv(prec_chol)).sum(axis=1)

    @staticmethod
    def precisions_cholesky_from_precisions(precisions):
        return np.array([_upper_cholesky(p) for p in precisions])

    @staticmethod
    def check_precisions(precisions):
        return [j for j, p in enumerate(precisions) if not _is_spd(p)]


def _upper_of_inverse_transposed(cov_chol):
    """U = L^-T of lower Cholesky factors (k, d, d), from one batched inverse (LAPACK's gesv
    against the identity: LU with partial pivoting on a triangular matrix, a little more
    arithmetic than a triangular solve but one call for all k), re-triangularised."""
    d = cov_chol.shape[-1]
    return np.where(_upper(d), _inverse(cov_chol).transpose(0, 2, 1), 0.0)


class _NoFeatures:
    """Kernels that work on the shifted rows themselves: no feature matrix."""

    constant_row = False

    @staticmethod
    def n_features_out(d):
        return 0

    @staticmethod
    def features(XsT, out):
        return XsT


class _FullDirect(_NoFeatures, _Full):
    """'full' with few components in many dimensions: per chunk, all k whitened residuals
    (x - m_k) U_k from one (k*d, d) product, and the M-step's second moments from one
    symmetric product per component; no feature matrix."""

    @classmethod
    def row_temporaries(cls, k, d):
        return k * d + d

    @classmethod
    def plan(cls, means_s, prec_chol, dtype):
        k, d = means_s.shape
        UT = prec_chol.transpose(0, 2, 1)
        W = np.ascontiguousarray(UT.reshape(k * d, d), dtype=dtype)
        b = _einsum("kij,kj->ki", UT, means_s)  # U_k^T m_k: its squares sum to m'P m
        distance = np.square(b).sum(axis=1)
        return (W, b.reshape(k * d, 1).astype(dtype)), np.zeros(k), distance

    @staticmethod
    def log_prob(FT, XsT, coef, out):
        W, b = coef
        k, n = out.shape
        Y = W @ XsT
        Y -= b
        np.square(Y, out=Y)
        np.multiply(Y.reshape(k, -1, n).sum(axis=1), -0.5, out=out)
        return out

    @classmethod
    def chunk_moments(cls, FT, XsT, respT, centred=None, row_scatter=None):
        d = XsT.shape[0]
        iu, ju = _triu(d)
        packed = np.empty((len(iu), respT.shape[0]))
        for j, r in enumerate(respT):
            Dw = XsT * np.sqrt(r)
            packed[:, j] = (Dw @ Dw.T)[iu, ju]
        G = np.concatenate([packed, (XsT @ respT.T).astype(np.float64)])
        moments = [respT.sum(axis=1, dtype=np.float64), G]
        if centred is not None:
            moments += [cls.weighted_square(XsT - a[:, None], respT[j]) for j, a in zip(*centred)]
        return moments


class _Tied(_NoFeatures, _Kernel):
    name = "tied"
    stats_kind = "pooled"
    matrix = True
    shared = True

    @staticmethod
    def storage_shape(k, d):
        return (d, d)

    @staticmethod
    def expand(covariances, k, d):
        return np.broadcast_to(covariances, (k, d, d))

    @classmethod
    def row_temporaries(cls, k, d):
        return 2 * d

    @classmethod
    def kernel_for(cls, k, d, small=False):
        return _TiedExpanded if small and d <= TIED_EXPANDED_MAX_D else cls

    @staticmethod
    def log_prob(FT, XsT, coef, out):
        # x'Px is shared by all components: once per row, the rest is linear in x.
        CT, UT = coef
        columns_product(CT, XsT, out)
        Y = columns_product(UT, XsT, np.empty((UT.shape[0], XsT.shape[1]), XsT.dtype))
        np.square(Y, out=Y)
        out -= 0.5 * Y.sum(axis=0)
        return out

    @classmethod
    def chunk_moments(cls, FT, XsT, respT, centred=None, row_scatter=None):
        # The sum over components of the centred scatters is the total scatter about the
        # shift minus the between-component part: one product, no pass per component. The
        # centred components' rows leave the total (their weights are summed over the other
        # components, not subtracted from w: that difference would carry the cancellation).
        rest = np.ones(respT.shape[0], dtype=bool)
        moments = cls.weights_and_sums(FT, XsT, respT)
        if centred is None and row_scatter is not None:
            # a pass's responsibilities of a row sum to its weight: the total is the rows'
            # own weighted scatter (for a small X, made once for every pass)
            return moments + [row_scatter()]
        if centred is not None:
            rest[centred[0]] = False
            moments += [_Full.weighted_square(XsT - a[:, None], respT[j]) for j, a in zip(*centred)]
        D = XsT * np.sqrt(respT[rest].sum(axis=0))
        return moments + [rows_product(D, D)]

    @staticmethod
    def weights_and_sums(FT, XsT, respT):
        """``[nk, sums (d, k)]`` of a chunk."""
        return [np.add.reduce(respT, axis=1, dtype=np.float64), rows_product(XsT, respT)]

    @classmethod
    def moments_stats(cls, moments, d, centred=None):
        nk, sums, *centred_squares, total = moments
        means = _safe_means(sums.T, nk)
        rest = np.ones(nk.shape[0], dtype=bool)
        scatter = total
        if centred is not None:
            rest[centred[0]] = False
            for j, a, S_a in zip(*centred, centred_squares):
                scatter = scatter + _recentre("full", S_a, means[j], a, nk[j])
        return nk, means, scatter - (means[rest].T * nk[rest]) @ means[rest]

    @staticmethod
    def whiten(DT, prec_chol):
        return prec_chol.T @ DT

    @staticmethod
    def factor(prec_chol, j):
        return prec_chol

    @classmethod
    def plan(cls, means_s, prec_chol, dtype):
        P = prec_chol @ prec_chol.T
        Pmu = means_s @ P
        coef = (
            np.ascontiguousarray(Pmu, dtype=dtype),
            np.ascontiguousarray(prec_chol.T, dtype=dtype),
        )
        distance = _einsum("ki,ki->k", Pmu, means_s)
        return coef, -0.5 * distance, distance

    @staticmethod
    def precisions_cholesky(covariances):
        prec_chol, failed = _Full.precisions_cholesky(covariances[None])
        return prec_chol[0], failed

    @staticmethod
    def log_det(prec_chol, d):
        return np.log(np.diagonal(prec_chol)).sum()

    @staticmethod
    def covariances_from_precisions_cholesky(prec_chol):
        return _Full.covariances_from_precisions_cholesky(prec_chol[None])[0]

    @staticmethod
    def precisions_from_precisions_cholesky(prec_chol):
        return prec_chol @ prec_chol.T

    @staticmethod
    def variances(prec_chol):
        return _Full.variances(prec_chol[None])[0]

    @staticmethod
    def precisions_cholesky_from_precisions(precisions):
        return _upper_cholesky(precisions)

    @staticmethod
    def check_precisions(precisions):
        return [] if _is_spd(precisions) else [0]


class _TiedExpanded(_Tied):
    """The 'tied' kernel on the full kernel's features, for few dimensions: one product of
    k rows per chunk (the shared -1/2 x'Px expanded on the features) instead of the two
    products, the square and the sum of :class:`_Tied`; the moments from the features' rows
    of x and of ones. For a fit's prepared rows taken as one chunk (features made once) in few
    dimensions (``TIED_EXPANDED_MAX_D``): at 9,083 x 4, 45 against 90 us an E-step; with the
    features made per chunk (100,000 x 4), 5-25% slower than :class:`_Tied`. The expanded
    form rounds like the full kernel's: components it would not resolve are the plan's
    exact ones, as there."""

    constant_row = True
    n_features_out = _Full.n_features_out
    features = _Full.features
    log_prob = _Kernel.log_prob

    @classmethod
    def row_temporaries(cls, k, d):
        return cls.n_features_out(d) + d

    @classmethod
    def kernel_for(cls, k, d, small=False):
        return cls

    @classmethod
    def plan(cls, means_s, prec_chol, dtype):
        d = means_s.shape[1]
        flat, negative_weights = _quadratic_layout(d)
        p = flat.size
        P = prec_chol @ prec_chol.T
        C = np.empty((means_s.shape[0], p + d + 1))  # (the constants' column is the plan's)
        C[:, :p] = P.reshape(d * d)[flat] * negative_weights
        Pmu = np.matmul(means_s, P, out=C[:, p:-1])
        distance = _einsum("ki,ki->k", Pmu, means_s)
        return np.ascontiguousarray(C, dtype=dtype), -0.5 * distance, distance

    @staticmethod
    def weights_and_sums(FT, XsT, respT):
        # the features' rows of x and of ones: the sums and the weights in one product
        d = XsT.shape[0]
        return _weights_from_ones(rows_product(FT[d * (d + 1) // 2 :], respT), respT)


# the most dimensions the 'tied' kernel is expanded on the features in (_TiedExpanded)
TIED_EXPANDED_MAX_D = 4


class _Elementwise(_Kernel):
    """Diagonal and spherical covariances: factors are elementwise square roots."""

    matrix = False
    shared = False

    @staticmethod
    def covariances_from_precisions_cholesky(prec_chol):
        return 1.0 / prec_chol**2

    @staticmethod
    def precisions_from_precisions_cholesky(prec_chol):
        return prec_chol**2

    @staticmethod
    def variances(prec_chol):
        """The components' marginal variances (the diagonal of their covariances)."""
        return 1.0 / prec_chol**2

    @staticmethod
    def precisions_cholesky_from_precisions(precisions):
        return np.sqrt(precisions)


class _Diag(_Elementwise):
    name = "diag"
    stats_kind = "diag"

    @staticmethod
    def storage_shape(k, d):
        return (k, d)

    @staticmethod
    def expand(covariances, k, d):
        return covariances[:, :, None] * np.eye(d)

    @staticmethod
    def n_features_out(d):
        return 2 * d + 1

    @staticmethod
    def features(XsT, out):
        d = XsT.shape[0]
        np.square(XsT, out=out[:d])
        out[d:-1] = XsT
        out[-1] = 1.0
        return out

    @staticmethod
    def coefficients(means_s, prec_chol):
        k, d = means_s.shape
        prec = prec_chol**2
        C = np.empty((k, 2 * d + 1))  # (k, q), returned transposed (see _Full.coefficients)
        np.multiply(prec, -0.5, out=C[:, :d])
        np.multiply(prec, means_s, out=C[:, d:-1])
        return C.T, -0.5 * (prec * means_s**2).sum(axis=1)

    @staticmethod
    def moments_to_stats(nk, G, d):
        means = _safe_means(G[d:].T, nk)
        S = G[:d].T - nk[:, None] * means**2
        return means, np.maximum(S, 0.0, out=S)

    @staticmethod
    def weighted_square(DT, r):
        return (np.square(DT) @ r).astype(np.float64)

    @staticmethod
    def whiten(DT, prec_chol):
        return DT * prec_chol[:, None]

    @staticmethod
    def precisions_cholesky(covariances):
        # the usual case in two reductions (nan fails the first, inf the second)
        if covariances.size and covariances.min() > 0 and covariances.max() < np.inf:
            return 1.0 / np.sqrt(covariances), []
        with np.errstate(invalid="ignore"):
            bad = ~(np.all(covariances > 0, axis=1) & np.all(np.isfinite(covariances), axis=1))
        safe = np.where(bad[:, None], 1.0, covariances)
        return 1.0 / np.sqrt(safe), list(np.flatnonzero(bad))

    @staticmethod
    def log_det(prec_chol, d):
        return np.log(prec_chol).sum(axis=1)

    @staticmethod
    def check_precisions(precisions):
        return list(np.flatnonzero(np.any(precisions <= 0, axis=1)))


class _Spherical(_Elementwise):
    name = "spherical"
    stats_kind = "trace"

    @staticmethod
    def storage_shape(k, d):
        return (k,)

    @staticmethod
    def expand(covariances, k, d):
        return covariances[:, None, None] * np.eye(d)

    @staticmethod
    def n_features_out(d):
        return 1 + d + 1

    @staticmethod
    def features(XsT, out):
        np.einsum("ij,ij->j", XsT, XsT, out=out[0])
        out[1:-1] = XsT
        out[-1] = 1.0
        return out

    @staticmethod
    def coefficients(means_s, prec_chol):
        k, d = means_s.shape
        prec = prec_chol**2
        C = np.empty((k, 1 + d + 1))  # (k, q), returned transposed (see _Full.coefficients)
        np.multiply(prec, -0.5, out=C[:, 0])
        np.multiply(prec[:, None], means_s, out=C[:, 1:-1])
        return C.T, -0.5 * prec * (means_s**2).sum(axis=1)

    @staticmethod
    def moments_to_stats(nk, G, d):
        means = _safe_means(G[1:].T, nk)
        S = G[0] - nk * (means**2).sum(axis=1)
        return means, np.maximum(S, 0.0, out=S)

    @staticmethod
    def weighted_square(DT, r):
        return float(np.square(DT).sum(axis=0) @ r)

    @staticmethod
    def precisions_cholesky(covariances):
        if covariances.size and covariances.min() > 0 and covariances.max() < np.inf:  # _Diag's
            return 1.0 / np.sqrt(covariances), []
        with np.errstate(invalid="ignore"):
            bad = ~((covariances > 0) & np.isfinite(covariances))
        safe = np.where(bad, 1.0, covariances)
        return 1.0 / np.sqrt(safe), list(np.flatnonzero(bad))

    @staticmethod
    def log_det(prec_chol, d):
        return d * np.log(prec_chol)

    @staticmethod
    def check_precisions(precisions):
        return list(np.flatnonzero(precisions <= 0))


def weighted_scatter(XsT, sample_weight=None):
    """``sum_i w_i xs_i xs_i^T`` (float64, (d, d)) of the shifted rows XsT (d, n), computed
    in their dtype (``sample_weight`` None: every row weighs 1)."""
    D = XsT if sample_weight is None else XsT * np.sqrt(sample_weight).astype(XsT.dtype)
    return rows_product(D, D)


def _upper_cholesky(precision):
    """Upper-triangular U with ``precision = U @ U.T`` (scikit-learn's convention)."""
    flipped = precision[::-1, ::-1]
    return linalg.cholesky(flipped, lower=True)[::-1, ::-1]


def _is_spd(matrix):
    if not np.allclose(matrix, matrix.T):
        return False
    try:
        linalg.cholesky(matrix, lower=True)
    except (linalg.LinAlgError, ValueError):
        return False
    return True


# Kernels by name. Besides the methods above each has: ``name``; ``stats_kind`` (the scatter
# its moments give, see ``_stats``); ``matrix`` (triangular factors, not elementwise);
# ``shared`` (one covariance stored for all components); ``storage_shape(k, d)`` (of
# ``covariances_`` and the factors); ``expand(covariances, k, d)`` (as (k, d, d) matrices).
KERNELS = {s.name: s for s in (_Full, _Tied, _Diag, _Spherical)}
