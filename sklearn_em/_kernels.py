"""The hot path: chunked log-densities, responsibilities and log-likelihood.

Rows are processed in chunks whose temporaries fit in scikit-learn's ``working_memory``
(``sklearn.get_config()``), so memory grows with n only through X and, where the caller asks
for them, the n x k outputs. Each chunk costs one matrix product for all components.
"""

from dataclasses import dataclass

import numpy as np
from sklearn import get_config
from sklearn.utils import gen_batches

from ._covariance import STRATEGIES
from ._stats import SufficientStats

_LOG_2PI = np.log(2 * np.pi)

# Upper bound on rows per chunk. Beyond a few thousand rows the BLAS calls are already
# efficient; larger chunks only add memory traffic (measured in benchmarks/chunk_size.py).
# ``working_memory`` can only lower it.
MAX_CHUNK_ROWS = 4096

# Relative rounding error tolerated from the expanded quadratic forms; a component whose
# centre lies further than EXACT_BUDGET / eps (squared Mahalanobis distance) from the
# mixture's centre is computed directly instead (see _covariance._Strategy).
EXACT_BUDGET = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-3}


def chunk_rows(n_samples, n_components, n_features, itemsize, covariance_type="full"):
    """Rows per chunk for the E-step temporaries under ``working_memory``."""
    # per row: the shifted row, its features, the k log-probabilities and responsibilities
    q = STRATEGIES[covariance_type].n_features_out(n_features)
    row_bytes = itemsize * (2 * n_features + q + 2 * n_components)
    working_memory = get_config()["working_memory"]
    rows = int(working_memory * 2**20 // row_bytes)
    return max(1, min(rows, MAX_CHUNK_ROWS, n_samples))


@dataclass(frozen=True)
class KernelPlan:
    """Per-iteration constants of the E-step, in the data's dtype."""

    strategy: type
    shift: np.ndarray  # (d,), float64
    shift_cast: np.ndarray  # (d,), dtype
    coef: object  # the strategy's coefficients on the features
    const: np.ndarray  # (k,), log weight + log det - d/2 log 2 pi - 1/2 mu'P mu
    dtype: np.dtype
    exact: tuple = None  # (indices, means - shift, precision factors) computed directly
    exact_const: np.ndarray = None  # their constants without the -1/2 mu'P mu term

    @classmethod
    def from_params(cls, params, dtype):
        strategy = params.strategy
        weights = np.asarray(params.weights, dtype=np.float64)
        means = np.asarray(params.means, dtype=np.float64)
        prec_chol = np.asarray(params.precisions_cholesky, dtype=np.float64)
        k, d = means.shape
        # Shift to the mixture's centre: the quadratic forms are evaluated on numbers the
        # size of the data's spread, not of its offset from the origin.
        shift = weights @ means / weights.sum()
        coef, quad_const = strategy.plan(means - shift, prec_chol, dtype)
        with np.errstate(divide="ignore"):
            log_weights = np.log(weights)
        base = log_weights + strategy.log_det(prec_chol, d) - 0.5 * d * _LOG_2PI
        dtype = np.dtype(dtype)
        limit = EXACT_BUDGET.get(dtype, 1e-10) / np.finfo(dtype).eps
        far = np.flatnonzero(strategy.centre_distance(means - shift, prec_chol) > limit)
        exact = exact_const = None
        if far.size:
            exact = (
                far,
                (means[far] - shift).astype(dtype),
                [strategy.factor(prec_chol, j).astype(dtype) for j in far],
            )
            exact_const = base[far]
        return cls(
            strategy, shift, shift.astype(dtype), coef, (base + quad_const).astype(dtype),
            dtype, exact, exact_const,
        )

    def weighted_log_prob(self, X_chunk):
        """``log w_k + log N(x | k)`` for a chunk, with the chunk's features.

        Returns ``(FT, XsT, log_prob)``: the features and the shifted, transposed chunk
        (both reused by the M-step statistics) and the (n, k) log-probabilities.
        """
        n, d = X_chunk.shape
        XsT = np.empty((d, n), dtype=self.dtype)
        np.subtract(X_chunk.T, self.shift_cast[:, None], out=XsT)
        q = self.strategy.n_features_out(d)
        FT = self.strategy.features(XsT, np.empty((q, n), dtype=self.dtype))
        out = np.empty((n, self.const.shape[0]), dtype=self.dtype)
        self.strategy.log_prob(FT, XsT, self.coef, out)
        out += self.const
        if self.exact is not None:
            for j, a, U, c in zip(*self.exact, self.exact_const):
                out[:, j] = c + self.strategy.exact_half_mahalanobis(XsT, a, U)
        return FT, XsT, out


def normalize_inplace(log_prob):
    """Turn weighted log-probabilities into responsibilities in place.

    Returns the per-row log-likelihood (the log-sum-exp over components).
    """
    top = log_prob.max(axis=1)
    log_prob -= top[:, None]
    np.exp(log_prob, out=log_prob)
    total = log_prob.sum(axis=1)
    log_prob /= total[:, None]
    return top + np.log(total)


def _batches(X, params):
    rows = chunk_rows(
        X.shape[0], params.n_components, params.n_features, X.dtype.itemsize,
        params.covariance_type,
    )
    return gen_batches(X.shape[0], rows)


def accumulate(X, sample_weight, params, n_worst=0):
    """One E-step over all chunks, fused with the statistics of the next M-step.

    Returns ``(stats, loglik, worst)``: the sufficient statistics under the current
    responsibilities, the weighted sum of per-row log-likelihoods, and the indices of the
    ``n_worst`` rows (of positive weight) with the lowest log-likelihood.
    """
    plan = KernelPlan.from_params(params, X.dtype)
    stats = None
    loglik = 0.0
    worst_ll = np.empty(0)
    worst_idx = np.empty(0, dtype=np.intp)
    for sl in _batches(X, params):
        FT, XsT, resp = plan.weighted_log_prob(X[sl])
        ll = normalize_inplace(resp)
        if sample_weight is None:
            loglik += ll.sum(dtype=np.float64)
        else:
            w = sample_weight[sl]
            loglik += np.dot(w.astype(np.float64), ll.astype(np.float64))
            resp *= w[:, None]
        chunk = SufficientStats.from_chunk(
            FT, XsT, resp, params.covariance_type, plan.shift, plan.exact
        )
        stats = chunk if stats is None else stats.merge(chunk)
        if n_worst:
            cand = np.arange(sl.start, sl.stop)
            cand_ll = ll.astype(np.float64)
            if sample_weight is not None:
                keep = sample_weight[sl] > 0
                cand, cand_ll = cand[keep], cand_ll[keep]
            worst_idx = np.concatenate([worst_idx, cand])
            worst_ll = np.concatenate([worst_ll, cand_ll])
            if worst_idx.size > n_worst:
                part = np.argpartition(worst_ll, n_worst - 1)[:n_worst]
                worst_idx, worst_ll = worst_idx[part], worst_ll[part]
    if n_worst:
        worst_idx = worst_idx[np.argsort(worst_ll, kind="stable")]
    return stats, loglik, worst_idx


def statistics(X, sample_weight, resp_fn, covariance_type, shift, n_components):
    """Sufficient statistics of X under responsibilities given chunk by chunk.

    ``resp_fn(slice)`` returns the responsibilities of those rows.
    """
    strategy = STRATEGIES[covariance_type]
    n, d = X.shape
    rows = chunk_rows(n, n_components, d, X.dtype.itemsize, covariance_type)
    shift = np.asarray(shift, dtype=np.float64)
    shift_cast = shift.astype(X.dtype)
    stats = None
    for sl in gen_batches(n, rows):
        XsT = np.subtract(X[sl].T, shift_cast[:, None], dtype=X.dtype, order="C")
        FT = strategy.features(XsT, np.empty((strategy.n_features_out(d), XsT.shape[1]), X.dtype))
        resp = np.array(resp_fn(sl), dtype=X.dtype)
        if sample_weight is not None:
            resp *= sample_weight[sl, None]
        chunk = SufficientStats.from_chunk(FT, XsT, resp, covariance_type, shift)
        stats = chunk if stats is None else stats.merge(chunk)
    return stats


def _map_rows(X, params, fn, out):
    plan = KernelPlan.from_params(params, X.dtype)
    for sl in _batches(X, params):
        _, _, log_prob = plan.weighted_log_prob(X[sl])
        out[sl] = fn(log_prob)
    return out


def score_samples(X, params):
    """Per-row log-likelihood ``log sum_k w_k N(x | k)``."""
    return _map_rows(X, params, normalize_inplace, np.empty(X.shape[0], dtype=X.dtype))


def predict_proba(X, params):
    """Responsibilities (posterior probability of each component), n x k."""

    def resp(log_prob):
        normalize_inplace(log_prob)
        return log_prob

    out = np.empty((X.shape[0], params.n_components), dtype=X.dtype)
    return _map_rows(X, params, resp, out)


def predict(X, params):
    """The most probable component of each row."""
    return _map_rows(
        X, params, lambda lp: lp.argmax(axis=1), np.empty(X.shape[0], dtype=np.intp)
    )


def log_prob_and_resp(X, params):
    """Per-row log-likelihood and responsibilities (for criteria such as ICL)."""
    ll = np.empty(X.shape[0], dtype=X.dtype)
    resp = np.empty((X.shape[0], params.n_components), dtype=X.dtype)
    plan = KernelPlan.from_params(params, X.dtype)
    for sl in _batches(X, params):
        _, _, log_prob = plan.weighted_log_prob(X[sl])
        ll[sl] = normalize_inplace(log_prob)
        resp[sl] = log_prob
    return ll, resp
