"""The hot path: chunked log-densities, responsibilities and log-likelihood.

Rows are processed in chunks sized to stay in cache and within scikit-learn's
``working_memory`` (``sklearn.get_config()``), so memory grows with n only through X and, where
the caller asks for them, the n x k outputs. Each chunk costs one matrix product for all
components in the E-step and one for the M-step's moments. Chunks run on as many Python
threads as BLAS would use, each calling single-threaded BLAS: small products parallelise
far better across chunks than inside one BLAS call.
"""

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache, partial

import numpy as np
from sklearn import get_config
from threadpoolctl import ThreadpoolController

from ._covariance import weighted_scatter
from ._models import get_model
from ._stats import SufficientStats

_LOG_2PI = np.log(2 * np.pi)
# the rounding of each dtype the kernels compute in (np.finfo costs a microsecond a call)
_EPS_OF = {np.dtype(t): float(np.finfo(t).eps) for t in (np.float32, np.float64)}

# Bytes of per-chunk temporaries (mostly the features). Chunks that fit in the cache keep
# the two products fed from it; larger ones only add memory traffic, smaller ones Python
# overhead (measured in benchmarks/chunk_size.py). ``working_memory`` can only lower it.
CHUNK_BYTES = 8 * 2**20

# Relative rounding error tolerated from the expanded quadratic forms; a component whose
# centre lies further than EXACT_BUDGET / eps (squared Mahalanobis distance) from the
# mixture's centre is computed directly instead (see _covariance._Kernel).
EXACT_BUDGET = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-3}

# Rows further than this from the shift (in units of the scale, on some feature) get their
# log-densities computed directly, in float64: their features' squares, or those times the
# coefficients, may overflow the dtype, and inf * 0 or inf - inf in the product is nan where
# the log-density is merely very negative (or, beyond the dtype's range, -inf). Far enough
# that mixtures' own rows never pay for it.
FAR_ROW = {np.dtype(np.float64): 2.0**128, np.dtype(np.float32): 2.0**24}

# The kernel scales (x - shift) only where the mixture's extent is beyond 2^UNSCALED or its
# tightest spread below 2^-UNSCALED: within that, the features of rows out to FAR_ROW extents
# and the coefficients are far inside the dtype's normal range unscaled (float32: within
# 2^+-80 of 1), and ordinary data pay no pass for the scaling.
UNSCALED = {np.dtype(np.float64): 128, np.dtype(np.float32): 16}


@lru_cache(maxsize=8)
def _exact_limit(dtype):
    """Squared Mahalanobis distance from the shift beyond which a component is computed
    exactly (see EXACT_BUDGET)."""
    # (a Python float: a float32 scalar would make every comparison with it float32)
    return float(EXACT_BUDGET.get(dtype, 1e-10) / np.finfo(dtype).eps)


_NONE = np.empty(0, dtype=np.intp)
_NONE.flags.writeable = False


def pooled_judgement(model):
    """Whether the M-step of ``model`` pools the components' scatter into their covariances'
    sizes and shapes (the 'tied' kernel; equal volumes and shapes: EII, EEI, EEE, EEV), so
    that :func:`unresolved` judges the scatter summed over components."""
    return model.kernel_type.shared or (model.volume == "E" and model.shape in "EI")


def unresolved(kind, nk, offsets, scatter, limit, floor=0.0, pooled=False, most=None):
    """The components whose centred scatter is below the resolution of the moments it was
    formed from (indices; usually none).

    Moments about a point a, centred on the new mean m afterwards (S = T - nk (m - a)(m -
    a)^T), round like eps * T: like eps * nk (m_i - a_i)^2 on coordinate i, which swamps a
    component that collapsed far from a (a variance of 1e-3 at 6e3 from the shift: 1e-5
    relative). ``offsets`` (k, d) are m - a (means relative to the shift, for moments
    about it), ``scatter`` the statistics' (of ``kind``), ``limit`` the plan's
    :func:`_exact_limit` (budget / eps): a component is named where that rounding exceeds
    the budget of the covariance the M-step makes, ``nk (m_i - a_i)^2 > limit (S_ii + nk
    floor)`` on some coordinate (the trace, for 'trace'), ``floor`` a lower bound of the
    M-step's variances (``_em.variance_floor``: reg_covar, and a prior's share): the test
    the next plan's distance from its shift makes of the new parameters. ``pooled``
    (:func:`pooled_judgement`): judged on the scatter summed over components, naming those
    whose own share exceeds 1/k of the budget. ``most``: a bound on every nk (m_i - a_i)^2,
    if known (:attr:`PreparedRows.most`). Usually a reduction or three say none.
    """
    # (offsets far beyond the data's range overflow: inf, which the comparisons handle)
    with np.errstate(over="ignore", invalid="ignore"):
        return _unresolved(kind, nk, offsets, scatter, limit, floor, pooled, most)


def _unresolved(kind, nk, offsets, scatter, limit, floor, pooled, most):
    k, d = offsets.shape
    # the variances' scatter: (k, d) ((d,) pooled, (k,) 'trace')
    variance = scatter if kind in ("diag", "trace") else scatter.diagonal(0, -2, -1)
    pooled = pooled or kind == "pooled"
    # Usually every scatter is far above what the largest raw moment rounds to, which says
    # none (the floor left out): each nk (m_i - a_i)^2 is at most the largest weight times
    # the largest offset, and k of them add up in a pooled scatter, d in a trace.
    square = None
    if most is None:
        square = offsets * offsets
        most = float(nk.max()) * float(square.max())
    if most * (k if pooled else 1) * (d if kind == "trace" else 1) <= limit * float(variance.min()):
        return _NONE
    if square is None:
        square = offsets * offsets
    # nk ((m_i - a_i)^2 - limit floor) against limit S_ii: the floor is subtracted first
    excess = (square - limit * floor) * nk[:, None]
    if kind == "trace":
        excess = excess.sum(axis=1)
    if not pooled:
        beyond = excess > limit * variance
        if not beyond.any():
            return _NONE
        return np.flatnonzero(beyond.reshape(k, -1).any(axis=1))
    if kind != "pooled":
        variance = variance.sum(axis=0)
    if not np.any(excess.sum(axis=0) > limit * variance):
        return _NONE
    # (rare) the components whose own rounding exceeds 1/k of the pooled budget: the rest's
    # sum is then within it
    own = nk[:, None] * square
    if kind == "trace":
        own = own.sum(axis=1)
    least = nk.sum() * floor * (d if kind == "trace" else 1)
    return np.flatnonzero(np.any((k * own > limit * (variance + least)).reshape(k, -1), axis=1))


# robust_centre takes the median of at most about this many rows (evenly spaced)
_CENTRE_ROWS = 1024


def robust_centre(points, weights=None):
    """Each column's (weighted) median, float64: where moments are taken about.

    Statistics about a point c round like eps * (x - c)^2: c must be near the bulk of the
    rows. The mean is not, where one row is far out (a row at 1e40 put the mean of 300
    rows at 3e37, and every other row was the same number once shifted by it); the median
    is, whatever a minority of the weight does. ``points`` (m, d) are rows or a mixture's
    means, ``weights`` their weights (None: 1 each; points of weight 0 are left out). Of
    many rows, the median of every ``m // 1024``-th is taken: a point near the bulk is all
    that is needed, and a full median of a few thousand rows cost more than a small fit's
    pass.
    """
    points = np.asarray(points)
    step = points.shape[0] // _CENTRE_ROWS
    if step > 1:
        sample = slice(None, None, step)
        if weights is None or np.any(np.asarray(weights)[sample] > 0):
            points = points[sample]
            weights = None if weights is None else np.asarray(weights)[sample]
    if weights is None:
        return np.median(points, axis=0).astype(np.float64)
    # NumPy 2's np.quantile(points, 0.5, axis=0, weights=..., method="inverted_cdf") is this;
    # the project supports NumPy 1.24
    weights = np.asarray(weights, dtype=np.float64)
    order = np.argsort(points, axis=0, kind="stable")
    cumulative = np.cumsum(weights[order], axis=0)
    # the first point at or past half the weight, in each column
    below = np.count_nonzero(cumulative < 0.5 * cumulative[-1], axis=0)
    pick = order[np.minimum(below, points.shape[0] - 1), np.arange(points.shape[1])]
    return points[pick, np.arange(points.shape[1])].astype(np.float64)


def power_of_two_scale(extent):
    """The power of two at or just above ``extent`` (1 if it is zero or not finite).

    Kernels work on ``(x - shift) / scale`` with the scale of the data or of the mixture
    (the plan applies it only beyond ``UNSCALED``): the features (squares and products of
    those numbers) then stay near 1, neither overflowing nor becoming subnormal in float32 at
    any magnitude of the data (float32 rows of spread 1e19 have squares past float32's
    3.4e38). A power of two changes no rounding: every product and sum is the unscaled one
    times an exact power of two.
    """
    extent = float(extent)
    if not (math.isfinite(extent) and extent > 0):
        return 1.0
    # the scale and its inverse are normal float32 numbers (math: this runs once per pass,
    # where NumPy's scalar functions cost microseconds)
    return math.ldexp(1.0, min(max(math.frexp(extent)[1], -120), 120))


def row_slices(n_rows, size):
    """Consecutive slices of ``size`` rows (the last may be shorter) covering ``n_rows``.

    ``sklearn.utils.gen_batches``, without its parameter validation: that costs ~0.1 ms a
    call, a fifth of a whole pass over a small table.
    """
    return [slice(start, min(start + size, n_rows)) for start in range(0, n_rows, size)]


def chunk_rows(n_samples, n_components, n_features, itemsize, covariance_type="full"):
    """Rows per chunk: temporaries within CHUNK_BYTES and ``working_memory``.

    ``covariance_type`` is a model name or alias (it names the kernel).
    """
    kernel = get_model(covariance_type).kernel_type
    return _rows_per_chunk(kernel, n_samples, n_components, n_features, itemsize, _budget())


def _budget():
    return min(CHUNK_BYTES, get_config()["working_memory"] * 2**20)


@lru_cache(maxsize=256)
def _rows_per_chunk(kernel, n_samples, n_components, n_features, itemsize, budget):
    """:func:`chunk_rows` for a kernel and a byte budget (every pass asks again)."""
    kernel = kernel.kernel_for(n_components, n_features)
    # per row: the shifted row, the kernel's temporaries, k log-probabilities and their k
    # densities (normalize_inplace)
    numbers = n_features + kernel.row_temporaries(n_components, n_features) + 2 * n_components
    return max(1, min(int(budget // (itemsize * numbers)), n_samples))


_controller = None
_lock = threading.Lock()
_active = {"depth": 0, "threads": 1, "limiter": None}


@contextmanager
def _chunk_threads():
    """Yield the number of threads BLAS would use, and limit BLAS to one thread meanwhile.

    The limit is process-wide, so concurrent callers (fits on several Python threads) share
    one: the first to enter sets it, the last to leave restores it.
    """
    global _controller
    with _lock:
        if _active["depth"] == 0:
            if _controller is None:
                _controller = ThreadpoolController()
            blas = _controller.select(user_api="blas")
            threads = max([lib.num_threads for lib in blas.lib_controllers] or [1])
            _active["threads"] = threads
            _active["limiter"] = blas.limit(limits=1) if threads > 1 else None
        _active["depth"] += 1
        threads = _active["threads"]
    try:
        yield threads
    finally:
        with _lock:
            _active["depth"] -= 1
            if _active["depth"] == 0 and _active["limiter"] is not None:
                _active["limiter"].restore_original_limits()
                _active["limiter"] = None


def _map_chunks(fn, X, params, kernel):
    """``[fn(slice) for slice in chunks of X]``, in order, on the BLAS threads; chunks sized
    for ``kernel`` (the plan's: a variant of the model's may hold more per row)."""
    rows = _rows_per_chunk(
        kernel,
        X.shape[0],
        params.n_components,
        params.n_features,
        X.dtype.itemsize,
        _budget(),
    )
    slices = row_slices(X.shape[0], rows)
    if len(slices) == 1:  # one chunk: BLAS may use its own threads
        return [fn(slices[0])]
    with _chunk_threads() as n_threads:
        if n_threads <= 1:
            return [fn(sl) for sl in slices]
        with ThreadPoolExecutor(min(n_threads, len(slices))) as pool:
            return list(pool.map(fn, slices))


def _variances(kernel, prec_chol, covariances=None):
    """The components' marginal variances, (k, d) ((d,) for 'tied', (k,) for 'spherical');
    from ``covariances`` (in the kernel's storage) where known, which spares inverting the
    factors."""
    if covariances is None:
        return kernel.variances(prec_chol)
    return np.diagonal(covariances, 0, -2, -1) if kernel.matrix else covariances


def _representable(shift, dtype):
    """``shift`` (float64) rounded to the nearest numbers of ``dtype``, as float64: the rows
    (in ``dtype``) and the means (in float64) are then shifted by the same numbers."""
    if np.dtype(dtype) == np.float64:
        return shift
    with np.errstate(over="ignore"):  # beyond the dtype's range: left as it is
        rounded = shift.astype(dtype).astype(np.float64)
    return np.where(np.isfinite(rounded), rounded, shift)


def _precision_diagonals(kernel, prec_chol):
    """The diagonals of the components' precisions P = U U^T: the squared norms of the rows
    of their factors U (elementwise factors: their squares). Call under
    ``np.errstate(all="ignore")``: squares of extreme factors may overflow."""
    precisions = np.square(prec_chol)
    if kernel.matrix:
        precisions = np.add.reduce(precisions, axis=-1)
    return precisions


def _maximum(a):
    """``a.max()`` (of a non-empty array) without ndarray.max's Python wrapper."""
    return np.maximum.reduce(a, axis=None)


def kernel_scale(dtype, magnitudes, precisions, variances):
    """``(scale, far_limit)`` of a plan: the power of two the kernel divides ``x - shift`` by,
    and the distance (in those units) beyond which a row is far (see FAR_ROW).

    The mixture reaches about the shift as far as the largest of its means' coordinates
    (``magnitudes``: their absolute values, relative to the shift) and of its standard
    deviations (``hi``); its tightest component spreads as little as the smallest
    conditional standard deviation (``lo``, from the largest diagonal precision, of
    ``precisions``: :func:`_precision_diagonals`). Features grow like (hi / scale)^2 and the
    coefficients like (scale / lo)^2: where either could leave the dtype's range unscaled,
    the scale is the geometric middle of the two, which keeps both as near 1 as can be.
    ``variances`` are the components' (:func:`_variances`). Overflowed numbers (inf) are
    handled by the bounds.
    """
    # (the reductions without ndarray.max's wrapper: this runs once per pass)
    hi = max(float(_maximum(magnitudes)), math.sqrt(float(_maximum(variances))))
    max_precision = float(_maximum(precisions))
    lo = 1.0 / math.sqrt(max_precision) if max_precision > 0 else math.inf
    unit = power_of_two_scale(hi)
    bound = 2.0 ** UNSCALED.get(dtype, UNSCALED[np.dtype(np.float64)])
    if unit <= bound and not lo < 1.0 / bound:  # lo nan or inf: nothing to protect
        scale = 1.0
    else:
        scale = power_of_two_scale(math.sqrt(hi) * math.sqrt(lo) if 0 < lo < hi else hi)
    return scale, FAR_ROW.get(dtype, FAR_ROW[np.dtype(np.float64)]) * (unit / scale)


@dataclass(frozen=True)
class KernelPlan:
    """Per-iteration constants of the E-step, in the data's dtype.

    Built once per pass from the parameters (``from_params``), read-only afterwards: the
    same plan serves every block of the pass, on any thread or worker.
    """

    kernel: type
    shift: np.ndarray  # (d,), float64
    shift_cast: np.ndarray  # (d,), dtype
    coef: object  # the kernel's coefficients on the features
    const: np.ndarray  # (k,), log weight + log det - d/2 log 2 pi - 1/2 mu'P mu
    dtype: np.dtype
    exact: tuple = None  # (indices, (means - shift) / scale, scaled factors) computed directly
    exact_const: np.ndarray = None  # their constants without the -1/2 mu'P mu term
    scale: float = 1.0  # a power of two: the kernel works on (x - shift) / scale
    far_limit: float = np.inf  # rows beyond it (in those units) on some feature are far
    direct: tuple = None  # (means - shift, precision factors, constants), float64, far rows
    exact_means: np.ndarray = None  # their means in the dtype (x - m_k from the rows as given)
    # (indices, centres relative to the shift, in the plan's units and dtype): components
    # whose scatter is taken directly about their centre, not from the moments about the
    # shift; the exact components about their previous means (see ``recentred``)
    centred: tuple = None
    pooled: bool = False  # the M-step pools the scatter (see ``pooled_judgement``)

    @classmethod
    def from_params(cls, params, dtype, shift=None, small=False):
        """The plan of a pass at ``params`` over rows of ``dtype``, about ``shift`` (float64
        values that are numbers of the dtype, as :class:`PreparedRows` gives them), or, if
        None, about the weighted median of the mixture's means; ``small``: over a fit's
        prepared rows taken as one chunk, which some kernels evaluate otherwise (see
        :func:`_plan_over`)."""
        kernel = params.kernel.kernel_for(params.n_components, params.n_features, small)
        weights = np.asarray(params.weights, dtype=np.float64)
        means = np.asarray(params.means, dtype=np.float64)
        prec_chol = np.asarray(params.precisions_cholesky, dtype=np.float64)
        k, d = means.shape
        # Shift to the mixture's centre: the quadratic forms are evaluated on numbers the
        # size of the data's spread, not of its offset from the origin.
        # The shift is a number of the data's dtype: the rows are shifted in that dtype, the
        # means in float64, and a shift rounded only on the rows' side would move every row
        # against every mean by the rounding (at 1e5 in float32, 0.004: beyond a tight
        # component's reach)
        dtype = np.dtype(dtype)
        if shift is None:
            # the means' weighted median: near the bulk of the rows even where a light
            # component sits far out (the weighted mean is dragged along by it)
            shift = _representable(robust_centre(means, weights), dtype)
        # ... and, at extremes, scaled (by a power of two) to the mixture's extent about it:
        # the features and coefficients are then numbers near 1 (the quadratic forms are
        # unchanged: means divided and factors multiplied by it)
        means_c = means - shift
        variances = _variances(kernel, prec_chol, params.covariances)
        # (squares of extreme factors may overflow: the bounds take inf)
        with np.errstate(all="ignore"):
            magnitudes = np.abs(means_c)
            precisions = _precision_diagonals(kernel, prec_chol)
            scale, far_limit = kernel_scale(dtype, magnitudes, precisions, variances)
            # ill-conditioned components, whose expanded forms would cancel badly
            reach = _expansion_reach(magnitudes, precisions, variances) if kernel.matrix else None
        # A weight of 0 has log -inf; a far component's coefficients and constant may be
        # beyond the dtype's range, and its mean too (its rows are computed exactly, from
        # ``exact``). One errstate for all of it: entering one costs more than a small
        # table's plan arithmetic.
        with np.errstate(over="ignore", divide="ignore"):
            log_weights = np.log(weights)
            means_s, prec_chol_s = means_c, prec_chol
            if scale != 1.0:
                means_s, prec_chol_s = means_s / scale, prec_chol * scale
            coef, quad_const, distance = kernel.plan(means_s, prec_chol_s, dtype)
            base = log_weights + kernel.log_det(prec_chol, d) - 0.5 * d * _LOG_2PI
            limit = _exact_limit(dtype)
            # (fmax: a nan distance is not far, as the comparison says, nor hides the others)
            worst = distance if reach is None else np.fmax(distance, reach)
            far = ()
            if np.fmax.reduce(worst) > limit:
                far = np.flatnonzero(worst > limit)
            exact = exact_const = exact_means = centred = None
            if len(far):
                centred = (far, means_s[far].astype(dtype))
                exact = (
                    far,
                    centred[1],
                    [kernel.factor(prec_chol_s, j).astype(dtype) for j in far],
                )
                exact_const = base[far]
                exact_means = means[far].astype(dtype)
            const = (base + quad_const).astype(dtype)
            if kernel.constant_row:  # (the product with the features' row of ones adds them)
                coef[:, -1] = const
        # (every field set directly: the frozen dataclass's constructor sets its 14 fields
        # one object.__setattr__ at a time, a few microseconds of every pass)
        plan = object.__new__(cls)
        plan.__dict__.update(
            kernel=kernel,
            shift=shift,
            shift_cast=shift.astype(dtype),
            coef=coef,
            const=const,
            dtype=dtype,
            exact=exact,
            exact_const=exact_const,
            scale=scale,
            far_limit=far_limit,
            direct=(means_c, prec_chol, base),
            exact_means=exact_means,
            centred=centred,
            pooled=pooled_judgement(params.model),
        )
        return plan

    def recentred(self, components, centres):
        """This plan, with the scatter of ``components`` taken directly about ``centres``
        ((m, d) float64, relative to the shift, in the data's units). Nothing else changes:
        a pass under it has the same densities, hence the same responsibilities."""
        centres = (np.asarray(centres, dtype=np.float64) / self.scale).astype(self.dtype)
        if self.centred is not None:
            keep = ~np.isin(self.centred[0], components)
            components = np.concatenate([self.centred[0][keep], components])
            centres = np.concatenate([self.centred[1][keep], centres])
        return replace(self, centred=(components, centres))

    def unresolved(self, stats, floor=0.0, most=None):
        """The components whose scatter in ``stats`` (a pass under this plan) is below the
        resolution of the moments it was formed from (:func:`unresolved`; ``most``: a bound
        on the moments about the shift, :attr:`PreparedRows.most`)."""
        offsets = stats.means
        if self.centred is not None:
            # moments about their centres (in the plan's units; a power of two: exact)
            offsets = offsets.copy()
            offsets[self.centred[0]] -= self.centred[1].astype(np.float64) * self.scale
            most = None
        return unresolved(
            stats.kind,
            stats.nk,
            offsets,
            stats.scatter,
            _exact_limit(self.dtype),
            floor,
            self.pooled,
            most,
        )

    def weighted_log_prob(self, X_chunk, prepared=None):
        """``log w_k + log N(x | k)`` for a chunk, with the chunk's features.

        Returns ``(FT, XsT, log_probT)``: the features and the shifted, transposed chunk
        (both reused by the M-step statistics) and the (k, n) log-probabilities.
        ``prepared``: the chunk's :class:`PreparedRows` (see :meth:`uses`), whose shifted
        rows and features are taken as they are.
        """
        if prepared is not None:
            XsT, FT = prepared.XsT, prepared.features(self.kernel)
            # (their sum of squares, made once, clears ordinary rows without a pass)
            cleared = prepared.square_sum <= 0.25 * self.far_limit**2
            far = None if cleared else self._far_rows(XsT)
        else:
            n, d = X_chunk.shape
            XsT, FT = _scratch("XsT", (d, n), self.dtype), None
            np.subtract(X_chunk.T, self.shift_cast[:, None], out=XsT)
            if self.scale != 1.0:
                XsT *= self.dtype.type(1.0 / self.scale)
            far = self._far_rows(XsT)
        if far is None:
            return self._expanded(XsT, X_chunk, FT)
        # the far rows' overflows (their values are replaced here) are no news
        with np.errstate(over="ignore", invalid="ignore"):
            FT, XsT, out = self._expanded(XsT, X_chunk, FT)
        out[:, far] = self._direct_log_prob(X_chunk[far])
        return FT, XsT, out

    def _expanded(self, XsT, X_chunk, FT=None):
        """``(FT, XsT, log_probT)`` of shifted (and scaled) rows from the features (made
        here if None); the exact components' from ``X_chunk - m_k``."""
        d, n = XsT.shape
        if FT is None:
            q = self.kernel.n_features_out(d)
            FT = self.kernel.features(XsT, _scratch("FT", (q, n), self.dtype))
        out = _scratch("log_prob", (self.const.shape[0], n), self.dtype)
        # (a kernel with features has the constants in its product, see _Kernel.constant_row)
        add = not self.kernel.constant_row
        if self.exact is None:
            self.kernel.log_prob(FT, XsT, self.coef, out)
            if add:
                out += self.const[:, None]
        else:
            # the expanded forms of the exact components (replaced below) may overflow
            with np.errstate(over="ignore", invalid="ignore"):
                self.kernel.log_prob(FT, XsT, self.coef, out)
                if add:
                    out += self.const[:, None]
            # x - m_k from the rows as they are: (x - c) - (m_k - c) would round twice, by
            # up to half a unit of (x - c) each time, which is many widths of a component
            # tight for the dtype (float32 rows at 4e3 and a spike of sd 1e-3 near them).
            # The scale is a power of two: dividing the difference by it rounds nothing (the
            # rows and means themselves may be beyond the dtype's range once divided).
            inv_scale = self.dtype.type(1.0 / self.scale)
            for j, m, U, c in zip(self.exact[0], self.exact_means, self.exact[2], self.exact_const):
                with np.errstate(over="ignore", invalid="ignore"):
                    DT = X_chunk.T - m[:, None]
                    if self.scale != 1.0:
                        DT *= inv_scale
                out[j] = c + self.kernel.half_mahalanobis(DT, U)
        return FT, XsT, out

    def uses(self, prepared, X, sample_weight):
        """Whether a pass over X with this plan can take ``prepared`` (a
        :class:`PreparedRows` or None) as its one chunk: they are X's (and its weights'),
        about this plan's shift, unscaled, and X is one chunk for the plan's kernel."""
        return (
            prepared is not None
            and prepared.X is X
            and prepared.sample_weight is sample_weight
            and self.scale == 1.0
            and prepared.shift is self.shift
            and prepared.one_chunk(self.kernel, self.const.shape[0])
        )

    def _far_rows(self, XsT):
        """Indices of the rows beyond ``far_limit`` on some feature, or None (usually)."""
        flat = XsT.ravel()
        # The sum of squares bounds each square (inf if it overflows): one BLAS pass, no
        # temporary, clears ordinary chunks (the margin of 4 covers its rounding).
        with np.errstate(over="ignore"):
            if np.dot(flat, flat) <= 0.25 * self.far_limit**2:
                return None
        far = np.flatnonzero(np.any(np.abs(XsT) > self.far_limit, axis=0))
        return far if far.size else None

    def _direct_log_prob(self, X_rows):
        """``log w_k + log N(x | k)`` (k, n) of a few rows, from x - m_k, in float64."""
        means_s, prec_chol, base = self.direct
        DT = (X_rows.astype(np.float64) - self.shift).T
        kernel = self.kernel
        # a row whose squared distance overflows float64 (a cell at 1e200) has log-density
        # -inf (the documented score of such a row), which needs no RuntimeWarning; beyond
        # the dtype's range the cast gives -inf too
        with np.errstate(over="ignore"):
            out = np.array(
                [
                    c + kernel.exact_half_mahalanobis(DT, m, kernel.factor(prec_chol, j))
                    for j, (m, c) in enumerate(zip(means_s, base))
                ]
            )
            return out.astype(self.dtype)


def _expansion_reach(magnitudes, precisions, variances):
    """How large the expanded quadratic form's terms grow on a component's own rows: (k,).

    ``|| S U ||_F^2``, a bound on ``|| S P S ||_F`` (P = U U' the component's precision, S
    the diagonal of its standard deviations plus its centre's offset from the shift, whose
    absolute values are ``magnitudes``): the terms of ``x'Px`` on rows one standard
    deviation out, which cancel to about d where P is ill-conditioned (a covariance singular
    but for the regularisation: the rows lie on a subspace). The expansion's rounding is the
    dtype's eps times this; the plan computes a component directly where that is beyond its
    budget. Scale-free: any unit of each column gives the same number. Matrix kernels only
    (the elementwise ones have no cross terms to cancel); ``precisions`` from
    :func:`_precision_diagonals` (``|| S U ||_F^2`` is the sum of S_ii^2 P_ii: the squared
    norms of U's rows are P's diagonal), ``variances`` from :func:`_variances`; call under
    ``np.errstate(all="ignore")``.
    """
    # ||S U||_F^2 bounds ||S U U^T S||_F (within a factor sqrt(d)) at a fraction of the cost
    spread = np.sqrt(variances) + magnitudes  # (k, d); a tied (d,) broadcasts
    np.square(spread, out=spread)
    spread *= precisions
    return np.add.reduce(spread, axis=1)


_scratch_arrays = threading.local()


def _scratch(name, shape, dtype):
    """An uninitialised array for a chunk's temporaries, reused by the next chunk this thread
    runs (the caller is done with it by then: chunk results are new arrays).

    Allocating the temporaries afresh for every chunk costs page faults wherever freed memory
    goes straight back to the OS: dask's workers set ``MALLOC_TRIM_THRESHOLD_``, and there
    it doubled the kernel's CPU time. Arrays beyond a chunk's budget are not kept.
    """
    size = math.prod(shape)
    dtype = np.dtype(dtype)
    if size * dtype.itemsize > CHUNK_BYTES:
        return np.empty(shape, dtype=dtype)
    buf = getattr(_scratch_arrays, name, None)
    if buf is None or buf.dtype != dtype or buf.size < size:
        buf = np.empty(size, dtype=dtype)
        setattr(_scratch_arrays, name, buf)
    return buf[:size].reshape(shape)


# Rows whose log-likelihood is at least this are normalised without subtracting their
# largest log-probability first: their densities are normal numbers of the dtype (far above
# its smallest, so that a component's share is rounded as finely as the other way, down to
# shares below the dtype's eps), and nothing overflowed.
_DIRECT_LOW = {np.dtype(np.float64): -960 * math.log(2), np.dtype(np.float32): -100 * math.log(2)}
# ... taken relative to the block's largest log-probability where that is below this (many
# dimensions put every row's log-density below float32's range): one subtraction of a
# number for the whole block, exact for every log-probability that counts (within a factor
# of 2 of it). Not where a row is above the range (a spike): that would round the others.
_DIRECT_BOTTOM = {dtype: low + 32.0 for dtype, low in _DIRECT_LOW.items()}


def normalize_inplace(log_probT):
    """Turn weighted log-probabilities (k, n) into responsibilities in place.

    Returns the per-row log-likelihood (the log-sum-exp over components). A row whose
    log-density is below the dtype's range under every component scores -inf (its
    responsibilities are nan: the inference functions replace them with
    :func:`far_responsibilities`), not nan: -inf is that log-density rounded to the dtype.

    The densities of most rows are numbers of the dtype as they are (or once the block's
    largest log-probability is subtracted from all, see ``_DIRECT_BOTTOM``): their
    log-sum-exp needs no largest term per row subtracted (two passes fewer over the (k, n)
    block). Rows beyond ``_DIRECT_LOW`` of that (or whose densities overflow) are normalised
    the careful way.
    """
    dtype = log_probT.dtype
    low = _DIRECT_LOW.get(dtype)
    if low is None or log_probT.size == 0:
        return _normalize_shifted(log_probT)
    dens = _scratch("density", log_probT.shape, dtype)
    offset = 0.0
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        while True:
            np.exp(log_probT, out=dens)
            total = np.add.reduce(dens, axis=0)
            ll = np.log(total)
            top = float(np.maximum.reduce(ll))  # (a float: float32 would round the bound)
            if offset or not top < _DIRECT_BOTTOM[dtype] + math.log(log_probT.shape[0]) + 1.0:
                break
            # every row may be below the block's bottom (the usual case, its largest
            # log-probability above it, is known from the rows' largest log-likelihood, which
            # is at most log k above it; 1 more for its rounding): the offset if the largest
            # is below the bottom
            offset = float(np.maximum.reduce(log_probT, axis=None))
            if not -np.inf < offset < _DIRECT_BOTTOM[dtype]:  # (nan or -inf: every row careful)
                offset = 0.0
                break
            log_probT -= dtype.type(offset)
        # (nan fails both comparisons)
        careful = None
        if not (np.minimum.reduce(ll) >= low and top < np.inf):
            careful = np.flatnonzero(~((ll >= low) & (ll < np.inf)))
            held = log_probT[:, careful]
        np.divide(dens, total, out=log_probT)
    if careful is not None:
        ll[careful] = _normalize_shifted(held)
        log_probT[:, careful] = held
    if offset:
        ll += dtype.type(offset)
    return ll


def _normalize_shifted(log_probT):
    """:func:`normalize_inplace` the careful way: each row's largest log-probability
    subtracted before the exponentials."""
    top = log_probT.max(axis=0)
    # finite, so that -inf - top is -inf, not nan
    np.maximum(top, np.finfo(log_probT.dtype).min, out=top)
    log_probT -= top
    np.exp(log_probT, out=log_probT)
    total = log_probT.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_probT /= total
        return top + np.log(total)


def block_statistics(X_block, sample_weight, plan, n_worst=0, floor=0.0):
    """The statistics of one block of rows: E-step and M-step statistics in one pass.

    A pure function of its arguments (the block protocol): the statistics of any block of
    rows, which combine with :meth:`SufficientStats.merge` in any order or tree. The passes
    themselves run the same per-block code through :func:`accumulate`, which also cuts a
    block into cache-sized chunks and sums their raw moments in chunk order (bit-for-bit the
    same on any number of threads): in memory over all of X, on a dask worker over its block
    (then merged across blocks), and, through ``_missing.accumulate``, over a partial_fit
    batch. This function is the protocol's one-block form, which the tests hold to merging.

    Parameters
    ----------
    X_block : ndarray of shape (n, d), float32 or float64, n >= 1
        The rows, in the dtype the plan was made for.
    sample_weight : ndarray of shape (n,) or None
        Their weights (None: all 1). Rows of weight 0 add nothing to the log-likelihood
        and are never among the worst rows; a row whose density underflows for every
        component (far out) would still make the moments nan, so callers drop rows of
        weight 0 (the estimator does).
    plan : KernelPlan
        ``KernelPlan.from_params(params, X_block.dtype)``, made once per pass.
    n_worst : int, default=0
        How many worst-explained rows (lowest log-likelihood) to carry, for re-seeding.
    floor : float, default=0.0
        A lower bound of the variances the M-step will make of these statistics
        (``_em.variance_floor``; see :func:`accumulate`).

    Returns
    -------
    SufficientStats
        Statistics in the kernel's kind, about ``plan.shift``, under the responsibilities of
        the plan's parameters, with ``loglik`` the weighted sum of the rows' log-likelihoods,
        ``n_rows`` the rows of positive weight and the ``n_worst`` worst rows.
    """
    return _pass_statistics(
        plan,
        lambda plan: [_block_moments(X_block, sample_weight, plan, n_worst)],
        X_block.shape[1],
        n_worst,
        floor,
    )


def _block_moments(X_block, sample_weight, plan, n_worst, prepared=None):
    """The additive part of :func:`block_statistics`: ``(moments of (x - plan.shift) /
    plan.scale, log-likelihood sum, rows of positive weight, worst rows (float64), their
    scores)``.

    Blocks of one pass share the plan's shift and scale, so their moments simply add.
    ``prepared``: the block's :class:`PreparedRows` (the plan :meth:`~KernelPlan.uses`
    them).
    """
    FT, XsT, respT = plan.weighted_log_prob(X_block, prepared)
    ll = normalize_inplace(respT)
    if sample_weight is None:
        loglik = np.add.reduce(ll, dtype=np.float64)
        rows = None  # all of them
        n_rows = X_block.shape[0]
    else:
        rows = np.flatnonzero(sample_weight > 0)
        ll = ll[rows]
        # rows of weight 0 are left out (0 * -inf would be nan for a row far out)
        loglik = np.dot(sample_weight[rows].astype(np.float64), ll.astype(np.float64))
        respT *= sample_weight
        n_rows = rows.size
    row_scatter = (
        prepared.scatter if prepared is not None else partial(weighted_scatter, XsT, sample_weight)
    )
    moments = plan.kernel.chunk_moments(FT, XsT, respT, plan.centred, row_scatter)
    if not n_worst:  # (the usual pass: no rows carried)
        return moments, loglik, n_rows, np.empty((0, X_block.shape[1])), np.empty(0)
    if rows is None:
        rows = np.arange(n_rows)
    if rows.size > n_worst:
        keep = np.argpartition(ll, n_worst - 1)[:n_worst]
        rows, ll = rows[keep], ll[keep]
    return moments, loglik, n_rows, X_block[rows].astype(np.float64), ll.astype(np.float64)


def _statistics(plan, n_features, n_worst, parts):
    """One statistics value from the additive parts of blocks of one pass, in order."""
    if len(parts) == 1 and not n_worst:  # (a small X's pass: one part, nothing to add up)
        moments, loglik, n_rows, rows, scores = parts[0]
    else:
        moments = _sum_moments(p[0] for p in parts)
        loglik, n_rows = sum(p[1] for p in parts), sum(p[2] for p in parts)
        rows = np.concatenate([p[3] for p in parts])
        scores = np.concatenate([p[4] for p in parts])
        # ties go to the earlier block, as in SufficientStats.merge
        order = np.argsort(scores, kind="stable")[:n_worst]
        rows, scores = rows[order], scores[order]
    nk, means, scatter = _moments_stats(plan.kernel, moments, n_features, plan.scale, plan.centred)
    # (the constructor's checks hold by construction: the kernel's kind, the rows given)
    return SufficientStats.trusted(
        kind=plan.kernel.stats_kind,
        nk=nk,
        means=means,
        scatter=scatter,
        shift=plan.shift,
        loglik=float(loglik),
        n_rows=float(n_rows),
        n_worst=n_worst,
        worst_rows=rows,
        worst_scores=scores,
        data=None,
        eps=_EPS_OF[plan.dtype],
    )


# A scatter taken about its component's own mean is exact down to the rounding of the rows'
# values: a variance below (LAST_DIGITS eps |x|)^2, x the rows' magnitude (as given, or about
# the shift), is that rounding (a component on equal rows: its mean's last digit, 0.4 eps |x|
# seen, or other rows' responsibilities of 1e-300), not spread.
LAST_DIGITS = 4


def _last_digits_zeroed(stats, components):
    """``stats`` with the scatter of ``components`` (just taken about their own means) zero
    on each coordinate where it is below the rows' resolution (``LAST_DIGITS``): the M-step
    then judges the component as it judges a singular one (re-seeds it, or adds reg_covar),
    as it did when the moments' rounding hid such a variance as 0."""
    nk = stats.nk[components]
    means = stats.means[components]
    magnitude = np.maximum(np.abs(means + stats.shift), np.abs(means))
    floor = np.square(LAST_DIGITS * stats.eps * magnitude)  # (m, d)
    scatter = stats.scatter.copy()
    if stats.kind == "trace":
        below = scatter[components] < nk * means.shape[1] * floor.max(axis=1)
        scatter[components[below]] = 0.0
    elif stats.kind == "diag":
        scatter[components] = np.where(
            scatter[components] < nk[:, None] * floor, 0.0, scatter[components]
        )
    elif stats.kind == "full":
        for j, c, f in zip(components, nk, floor):
            below = np.diagonal(scatter[j]) < c * f
            scatter[j][below, :] = scatter[j][:, below] = 0.0
    else:  # pooled: all components' (their rows' largest magnitude)
        below = np.diagonal(scatter) < stats.nk.sum() * floor.max(axis=0)
        scatter[below, :] = scatter[:, below] = 0.0
    return replace(stats, scatter=scatter)


def _pass_statistics(plan, parts, n_features, n_worst, floor, most=None):
    """The statistics of a pass whose blocks' additive parts are ``parts(plan)``, in order.

    The plan was made from the previous parameters: a component that collapses in this
    M-step far from the shift (sd 305 to 0.028, 6,000 units away) is not among its exact
    ones, and its new scatter, from the moments about the shift, is rounding
    (:meth:`KernelPlan.unresolved`). Such components' scatter is taken again, about their
    new means: the pass is repeated (it is deterministic: the same responsibilities) under
    the plan :meth:`~KernelPlan.recentred` on them. Rare, and one vectorised test otherwise.
    """
    stats = _statistics(plan, n_features, n_worst, parts(plan))
    again = plan.unresolved(stats, floor, most)
    if again.size:
        plan = plan.recentred(again, stats.means[again])
        stats = _last_digits_zeroed(_statistics(plan, n_features, n_worst, parts(plan)), again)
    return stats


def merge_all(stats):
    """Fold :meth:`SufficientStats.merge` over an iterable of statistics, in order."""
    total = None
    for s in stats:
        total = s if total is None else total.merge(s)
    return total


def accumulate(X, sample_weight, params, n_worst=0, prepared=None, floor=0.0):
    """One E-step over all of X, fused with the statistics of the next M-step.

    :func:`block_statistics` over row chunks (on the BLAS threads), combined in chunk order.
    The chunks of one pass share the plan's shift, so their moments are summed and centred
    once, rather than each chunk centred and merged: the same statistics (up to rounding),
    without k (d x d) merges per chunk. ``prepared``: X's :class:`PreparedRows` (or None),
    which a pass of a small X takes its shift, shifted rows and features from.
    ``floor``: a lower bound of the variances the M-step will make (``_em.variance_floor``;
    0 judges the bare scatter). A component whose new scatter the moments about the shift
    cannot resolve against that (one that collapsed far from the shift) has its scatter
    taken again about its new mean (``_pass_statistics``).

    Returns
    -------
    SufficientStats
        With ``loglik`` (weighted sum of per-row log-likelihoods) and the ``n_worst`` rows of
        positive weight with the lowest log-likelihood, worst first.
    """
    plan = _plan_over(X, params, prepared)
    most = None
    if plan.uses(prepared, X, sample_weight):
        most = prepared.most

        def parts(plan):
            return [_block_moments(X, sample_weight, plan, n_worst, prepared)]
    else:

        def parts(plan):
            def chunk(sl):
                w = None if sample_weight is None else sample_weight[sl]
                return _block_moments(X[sl], w, plan, n_worst)

            return _map_chunks(chunk, X, params, plan.kernel)

    return _pass_statistics(plan, parts, X.shape[1], n_worst, floor, most)


def _plan_over(X, params, prepared):
    """The plan of a pass over X at ``params``: about the shift of X's prepared rows, if
    given, and with the kernel variant for small data (``small`` of
    :meth:`KernelPlan.from_params`) where the pass takes them as one chunk with it. Where it
    would not (more components than one chunk holds, or no prepared rows), the variant's
    features would be made per chunk, and the model's own kernel is the faster one."""
    if prepared is None or prepared.X is not X:
        return KernelPlan.from_params(params, X.dtype)
    k = params.n_components
    small = prepared.one_chunk(params.kernel.kernel_for(k, X.shape[1], small=True), k)
    return KernelPlan.from_params(params, X.dtype, prepared.shift, small)


class PreparedRows:
    """A small X's shifted rows and their features, made once and read by every pass.

    A pass over a table of a few thousand rows spends as much on shifting its rows and
    building their features as on its two products, and both depend on the rows and the
    shift alone. The shift here is the rows' :func:`robust_centre` (each column's weighted
    median): the plans of all passes over X, of every start and number of components, are
    made about it (:meth:`KernelPlan.uses` says when a pass can take these), instead of
    each about the weighted median of its own mixture's means.

    Made only for X that fits one chunk of the full kernel's features (:meth:`of`). The
    arrays are read-only: passes share them.
    """

    def __init__(self, X, sample_weight=None):
        self.X = X
        self.sample_weight = sample_weight
        self.shift = _representable(robust_centre(X, sample_weight), X.dtype)
        XsT = np.subtract(X.T, self.shift.astype(X.dtype)[:, None], dtype=X.dtype, order="C")
        XsT.flags.writeable = False
        self.XsT = XsT
        flat = XsT.ravel()
        # (inf if it overflows: the plans then look for far rows themselves)
        with np.errstate(over="ignore", invalid="ignore"):
            self.square_sum = float(np.dot(flat, flat))
            # a bound on every pass's moment nk (m_i - c_i)^2 (a mean is one of the rows'
            # weighted means): whether a pass's scatter needs a second look costs one
            # reduction (see unresolved)
            total = X.shape[0] if sample_weight is None else float(np.sum(sample_weight))
            largest = float(np.abs(flat).max()) if flat.size else 0.0
            self.most = total * largest * largest  # (inf, not OverflowError, beyond float64)
        self._features = {}
        self._scatter = None
        self._one_chunk = {}

    @classmethod
    def of(cls, X, sample_weight=None):
        """The prepared rows of X, or None where X has more rows than one chunk of the full
        kernel's features holds (large X: their passes build features chunk by chunk, in
        the cache)."""
        from ._covariance import KERNELS

        n, d = X.shape
        if not n or not np.all(np.isfinite(X)):
            return None
        # (the packed features' kernel itself, not the direct one many dimensions hand to)
        numbers = d + KERNELS["full"].row_temporaries(1, d) + 2
        rows = int(_budget() // (X.dtype.itemsize * numbers))
        return cls(X, sample_weight) if rows >= n else None

    def one_chunk(self, kernel, k):
        """Whether these rows are one chunk of ``kernel``'s with k components, under the
        working memory configured now (every pass asks: answered once per kernel, k and
        budget)."""
        budget = _budget()
        key = (kernel, k, budget)
        answer = self._one_chunk.get(key)
        if answer is None:
            n, d = self.X.shape
            rows = _rows_per_chunk(kernel, n, k, d, self.X.dtype.itemsize, budget)
            answer = self._one_chunk[key] = rows >= n
        return answer

    def features(self, kernel):
        """The kernel's features of the shifted rows (made on first use)."""
        # (keyed by the function that makes them: kernels that share features share them)
        FT = self._features.get(kernel.features)
        if FT is None:
            d, n = self.XsT.shape
            q = kernel.n_features_out(d)
            FT = kernel.features(self.XsT, np.empty((q, n), self.X.dtype)) if q else self.XsT
            FT.flags.writeable = False
            self._features[kernel.features] = FT
        return FT

    def scatter(self):
        """The rows' :func:`~._covariance.weighted_scatter` (made on first use)."""
        if self._scatter is None:
            self._scatter = weighted_scatter(self.XsT, self.sample_weight)
            self._scatter.flags.writeable = False
        return self._scatter


def _moments_stats(kernel, moments, d, scale, centred=None):
    """(nk, means, centred scatter) from summed moments of ``(x - shift) / scale``, in the
    data's units (means relative to the shift)."""
    nk, means, scatter = kernel.moments_stats(moments, d, centred)
    if scale == 1.0:
        return nk, means, scatter
    # a power of two (see power_of_two_scale): exact in float64
    return nk, means * scale, scatter * scale**2


def _sum_moments(chunks):
    total = None
    for m in chunks:
        total = m if total is None else [a + b for a, b in zip(total, m)]
    return total


def statistics(X, sample_weight, resp_fn, covariance_type, shift, n_components, floor=0.0):
    """Sufficient statistics of X under responsibilities given chunk by chunk.

    ``resp_fn(slice)`` returns the (n, k) responsibilities of those rows;
    ``covariance_type`` (a model name or alias) names the kernel, hence the statistics kind.
    The result carries no log-likelihood and no worst rows. As in :func:`accumulate`, a
    component whose scatter the moments about the shift cannot resolve against ``floor``
    (a start on one row far from it) has it taken again about its mean.
    """
    model = get_model(covariance_type)
    kernel = model.kernel_type
    n, d = X.shape
    rows = chunk_rows(n, n_components, d, X.dtype.itemsize, covariance_type)
    shift = _representable(np.asarray(shift, dtype=np.float64), X.dtype)
    shift_cast = shift.astype(X.dtype)
    # divided by the power of two at the data's extent about the shift, always (a power of
    # two changes no rounding; the plan does it only at extremes): the features of float32
    # rows of any magnitude then stay in range
    scale = (
        power_of_two_scale(
            max(np.abs(X.max(axis=0) - shift).max(), np.abs(X.min(axis=0) - shift).max())
        )
        if n
        else 1.0
    )
    inv_scale = X.dtype.type(1.0 / scale)
    n_rows = n if sample_weight is None else np.count_nonzero(sample_weight > 0)

    def about(centred):
        moments = None
        for sl in row_slices(n, rows):
            XsT = np.subtract(X[sl].T, shift_cast[:, None], dtype=X.dtype, order="C")
            if scale != 1.0:
                XsT *= inv_scale
            FT = kernel.features(XsT, np.empty((kernel.n_features_out(d), XsT.shape[1]), X.dtype))
            respT = np.array(np.asarray(resp_fn(sl)).T, dtype=X.dtype, order="C")
            if sample_weight is not None:
                respT *= sample_weight[sl]
            part = kernel.chunk_moments(FT, XsT, respT, centred)
            moments = _sum_moments([m for m in (moments, part) if m])
        return SufficientStats(
            kernel.stats_kind,
            *_moments_stats(kernel, moments, d, scale, centred),
            shift,
            n_rows=float(n_rows),
            eps=float(np.finfo(X.dtype).eps),
        )

    stats = about(None)
    limit = _exact_limit(np.dtype(X.dtype))
    again = unresolved(
        stats.kind, stats.nk, stats.means, stats.scatter, limit, floor, pooled_judgement(model)
    )
    if again.size:
        # (resp_fn gives the same responsibilities again)
        centred = (again, (stats.means[again] / scale).astype(X.dtype))
        stats = _last_digits_zeroed(about(centred), again)
    return stats


def _centred(DT, w, matrix):
    """``(total weight, weighted mean, centred scatter)`` of rows given transposed, DT
    (d, m) float64, each coordinate's values contiguous (sums along them run pairwise, where
    sums over the rows of a narrow (m, d) table are NumPy's slowest reductions; DT is not
    changed); w None: every row weighs 1. The scatter is (d, d) if ``matrix``, else its
    diagonal; a mean and scatter of zeros where the weight is 0."""
    nk = float(DT.shape[1]) if w is None else float(w.sum())
    if nk <= 0:
        d = DT.shape[0]
        return 0.0, np.zeros(d), np.zeros((d, d) if matrix else d)
    mean = (DT.sum(axis=1) if w is None else DT @ w) / nk
    DT = DT - mean[:, None]
    DTw = DT if w is None else DT * w
    return nk, mean, (DTw @ DT.T if matrix else np.einsum("ij,ij->i", DTw, DT))


def label_statistics(X, sample_weight, labels, n_components, covariance_type, shift, moments=None):
    """Sufficient statistics of X under a hard partition: ``labels[i]`` is row i's
    component (-1: none), as :func:`statistics` of the one-hot responsibilities.

    Summed component by component, in float64, from each component's rows: O(n d^2) work
    for any k, where the features' product costs O(n k d^2) (an initial partition for every
    cell of a selector's grid made that the larger part of its setup). ``moments``: the
    partition's :func:`label_moments` (of the same arguments, for the kernel's kind of
    scatter), where several covariance types start from it.
    """
    kernel = get_model(covariance_type).kernel_type
    kind = kernel.stats_kind
    shift = np.asarray(shift, dtype=np.float64)
    if moments is None:
        moments = label_moments(X, sample_weight, labels, n_components, kernel.matrix, shift)
    nk, means, scatter = moments
    if kind == "pooled":
        scatter = scatter.sum(axis=0)
    elif kind == "trace":
        scatter = scatter.sum(axis=1)
    n_rows = X.shape[0] if sample_weight is None else np.count_nonzero(sample_weight > 0)
    return SufficientStats(kind, nk, means, scatter, shift, n_rows=float(n_rows))


def label_moments(X, sample_weight, labels, n_components, matrix, shift):
    """``(nk, means, scatters)`` of each component of the hard partition ``labels``, means
    relative to ``shift``, scatters (k, d, d) if ``matrix``, else their diagonals (k, d):
    what :func:`label_statistics` sums into each statistics kind (read-only, as covariance
    types share them)."""
    n, d = X.shape
    shift = np.asarray(shift, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.intp)
    nk = np.zeros(n_components)
    means = np.zeros((n_components, d))
    scatter = np.zeros((n_components, d, d) if matrix else (n_components, d))
    # the rows grouped by component, in one gather: each component's rows are then a slice
    # (labels of few values sort by radix as 16-bit integers, the same stable order)
    keys = labels.astype(np.int16) if n_components < 2**15 else labels
    order = np.argsort(keys, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n_components + 1))
    # (np.take: row indexing of a narrow table costs several times more) transposed, as
    # _centred takes them
    kept = order[bounds[0] :]
    DT = np.subtract(np.take(X, kept, axis=0).T, shift[:, None], dtype=np.float64, order="C")
    w = None if sample_weight is None else np.take(sample_weight, kept).astype(np.float64)
    for j in range(n_components):
        rows = slice(bounds[j] - bounds[0], bounds[j + 1] - bounds[0])
        nk[j], means[j], scatter[j] = _centred(DT[:, rows], None if w is None else w[rows], matrix)
    for arr in (nk, means, scatter):
        arr.flags.writeable = False
    return nk, means, scatter


def data_statistics(X, sample_weight, covariance_type):
    """The statistics of all of X as one component, in float64 (``SufficientStats.data``).

    In the one-component form of the model's kernel: kind 'full' for kernels that store
    matrices, 'diag' or 'trace' otherwise. Row chunks are centred in float64 (float32
    rounding is what makes the covariances this stands in for fail) and merged; one d x d
    product per chunk, no feature matrix.
    """
    kernel = get_model(covariance_type).kernel_type
    kind = "full" if kernel.matrix else kernel.stats_kind
    n, d = X.shape
    shift = robust_centre(X, sample_weight)
    rows = max(1, CHUNK_BYTES // (16 * d))
    stats = None
    for sl in row_slices(n, rows):
        w = None if sample_weight is None else sample_weight[sl].astype(np.float64)
        DT = np.subtract(X[sl].T, shift[:, None], dtype=np.float64, order="C")
        nk, mean, scatter = _centred(DT, w, kind == "full")
        if kind == "trace":
            scatter = scatter.sum()
        chunk = SufficientStats(
            kind,
            np.array([nk]),
            mean[None],
            np.asarray(scatter)[None],
            shift,
            n_rows=float(sl.stop - sl.start if w is None else np.count_nonzero(w > 0)),
        )
        stats = chunk if stats is None else stats.merge(chunk)
    return stats


def _map_rows(X, params, fn, prepared=None):
    """``fn(plan, rows, their log_probT, slice)`` chunk by chunk (chunks write disjoint rows
    of the caller's outputs); with X's :class:`PreparedRows`, in one chunk from them where
    the plan can take them."""
    plan = _plan_over(X, params, prepared)
    if prepared is not None and plan.uses(prepared, X, prepared.sample_weight):
        _, _, log_probT = plan.weighted_log_prob(X, prepared)
        fn(plan, X, log_probT, slice(None))
        return

    def chunk(sl):
        _, _, log_probT = plan.weighted_log_prob(X[sl])
        fn(plan, X[sl], log_probT, sl)

    _map_chunks(chunk, X, params, plan.kernel)


def score_samples(X, params):
    """Per-row log-likelihood ``log sum_k w_k N(x | k)``."""
    out = np.empty(X.shape[0], dtype=X.dtype)

    def fn(plan, rows, log_probT, sl):
        out[sl] = normalize_inplace(log_probT)

    _map_rows(X, params, fn)
    return out


def row_scale(D):
    """A power of two at or above the largest offset of each row of D (m, d) (exact to
    divide by; without :func:`power_of_two_scale`'s clamp to float32's range, as rows whose
    density is beyond the range can be at 1e300)."""
    return np.ldexp(1.0, np.frexp(np.abs(D).max(axis=-1))[1])


def far_responsibilities(plan, X_rows):
    """Responsibilities (k, m) of rows whose density is below the dtype's range under every
    component (their log-likelihood is -inf, and normalising -inf log-probabilities gives
    nan), in float64 and without overflow.

    With ``x - c = s u`` (s a power of two at the row's extent, so ``|u| <= 1``),
    ``-2 (log p_k - log w_k - log det U_k + ...) = s^2 a_k - 2 s b_k + c_k`` where
    ``a_k = |U_k^T u|^2``, ``b_k = (U_k^T u) . (U_k^T m_k)``, ``c_k = |U_k^T m_k|^2``: the
    components are compared by a (weighted by s^2), then b (by s), then the rest; a term
    that overflows puts a component at 0, and the best one always stays finite. Shared or
    equal covariances have equal a, and b decides (the means' pull along the row), which
    computing ``|U^T (x - m_k)|`` in floating point would round away.
    """
    means_c, prec_chol, base = plan.direct
    kernel = plan.kernel
    D = X_rows.astype(np.float64) - plan.shift  # (m, d)
    scale = row_scale(D)
    a, b, c = (np.empty((means_c.shape[0], D.shape[0])) for _ in range(3))
    for j, m in enumerate(means_c):
        factor = kernel.factor(prec_chol, j)
        Yu = kernel.whiten((D / scale[:, None]).T, factor)  # (., m)
        Ym = kernel.whiten(m[:, None], factor)  # (., 1)
        a[j] = np.square(Yu).sum(axis=0)
        b[j] = (Yu * Ym).sum(axis=0)
        c[j] = np.square(Ym).sum()
    return _ordered_posterior(a, b, c, base, scale)


def _ordered_posterior(a, b, c, base, scale):
    """Responsibilities (k, m) from ``log p_k = base_k - (s^2 a_k - 2 s b_k + c_k) / 2``
    without forming the huge terms: each is taken relative to the best component still in
    (an overflow gives -inf, never inf - inf)."""
    s = scale[None, :]
    with np.errstate(over="ignore", invalid="ignore"):
        gap = a - a.min(axis=0)
        first = np.where(gap > 0, -0.5 * gap * s * s, 0.0)  # <= 0, -inf when out
        alive = np.isfinite(first)
        lead = np.where(alive, b, -np.inf).max(axis=0)
        second = np.where(alive, np.where(b < lead, (b - lead) * s, 0.0), -np.inf)
        logits = first + second + (base[:, None] - 0.5 * c)
    normalize_inplace(logits)
    return logits


def _responsibilities_of(plan, X_rows, log_probT):
    """Normalise ``log_probT`` of ``X_rows`` in place into responsibilities; rows whose
    density is below the dtype's range under every component get
    :func:`far_responsibilities`. Returns the rows' log-likelihoods."""
    ll = normalize_inplace(log_probT)
    lost = np.flatnonzero(ll == -np.inf)
    if lost.size:
        log_probT[:, lost] = far_responsibilities(plan, X_rows[lost])
    return ll


def predict_proba(X, params):
    """Responsibilities (posterior probability of each component), n x k."""
    return log_prob_and_resp(X, params)[1]


def predict(X, params):
    """The most probable component of each row (by the chunk's log-probabilities; rows whose
    density is below the dtype's range under every component by
    :func:`far_responsibilities`)."""
    out = np.empty(X.shape[0], dtype=np.intp)

    def fn(plan, rows, log_probT, sl):
        labels = log_probT.argmax(axis=0)
        lost = np.flatnonzero(log_probT[labels, np.arange(labels.size)] == -np.inf)
        if lost.size:
            labels[lost] = far_responsibilities(plan, rows[lost]).argmax(axis=0)
        out[sl] = labels

    _map_rows(X, params, fn)
    return out


def log_likelihood_and_map(X, params, prepared=None):
    """Per-row log-likelihood and largest responsibility (1 - mclust's uncertainty; ICL's
    classification term), without the n x k responsibilities. ``prepared``: X's
    :class:`PreparedRows`, if made."""
    ll = np.empty(X.shape[0], dtype=X.dtype)
    top = np.empty(X.shape[0], dtype=X.dtype)

    def fn(plan, rows, log_probT, sl):
        ll[sl] = _responsibilities_of(plan, rows, log_probT)
        top[sl] = log_probT.max(axis=0)

    _map_rows(X, params, fn, prepared)
    return ll, top


def log_prob_and_resp(X, params):
    """Per-row log-likelihood and responsibilities (for criteria such as ICL)."""
    ll = np.empty(X.shape[0], dtype=X.dtype)
    resp = np.empty((X.shape[0], params.n_components), dtype=X.dtype)

    def fn(plan, rows, log_probT, sl):
        ll[sl] = _responsibilities_of(plan, rows, log_probT)
        resp[sl] = log_probT.T

    _map_rows(X, params, fn)
    return ll, resp
