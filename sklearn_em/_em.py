"""The EM loop, written once: init -> (E-step fused with statistics, M-step)* -> result.

Pure functions over arrays and parameter values; nothing here touches an estimator.
"""

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.utils import gen_batches

from ._accel import _converged, run_squarem
from ._covariance import STRATEGIES
from ._kernels import accumulate, statistics
from ._params import GaussianMixtureParams

_EPS = np.finfo(np.float64).eps

# A component whose total weight falls below this fraction of one average row's weight
# has lost its support: its mean and covariance are no longer determined by the data.
SUPPORT_FRACTION = 1e-8


class DegenerateComponentWarning(UserWarning):
    """A component lost its support or its covariance, and was re-seeded."""


@dataclass(frozen=True)
class Prior:
    """Conjugate prior of Fraley & Raftery (2007), raised to the power ``strength``.

    means ~ N(mean, cov / kappa), covariances ~ inverse-Wishart(dof, scale_matrix).
    """

    mean: np.ndarray
    kappa: float
    dof: float
    scale_matrix: np.ndarray
    strength: float

    @classmethod
    def default(cls, X, sample_weight, covariance_type, n_components, strength):
        """The data-scaled defaults: the data's mean, kappa = 0.01, dof = d + 2, and the
        data's covariance (its mean variance for 'diag' and 'spherical') / k^(2/d)."""
        d = X.shape[1]
        kind = "full" if covariance_type in ("full", "tied") else "diag"
        shift = X[0].astype(np.float64)
        stats = statistics(X, sample_weight, lambda sl: np.ones((sl.stop - sl.start, 1)), kind, shift, 1)
        cov = stats.scatter[0] / stats.nk[0]
        if kind == "diag":
            cov = np.eye(d) * cov.mean()
        scale = cov / n_components ** (2.0 / d)
        return cls(stats.means[0] + shift, 0.01, d + 2.0, scale, float(strength))


@dataclass
class EMResult:
    params: GaussianMixtureParams
    lower_bound: float
    lower_bounds: list = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False


def data_covariance(X, sample_weight, covariance_type, reg_covar):
    """The (weighted) covariance of all of X plus ``reg_covar``, shaped as one component's
    covariance ((d, d) for 'full' and 'tied', (d,) for 'diag', a scalar for 'spherical')."""
    kind = "full" if covariance_type == "tied" else covariance_type
    ones = lambda sl: np.ones((sl.stop - sl.start, 1))  # noqa: E731
    shift = X[0].astype(np.float64)
    stats = None
    # in float64 chunks: float32 rounding is what made the components' covariances fail
    for sl in gen_batches(X.shape[0], 4096):
        w = None if sample_weight is None else sample_weight[sl].astype(np.float64)
        chunk = statistics(X[sl].astype(np.float64), w, ones, kind, shift, 1)
        stats = chunk if stats is None else stats.merge(chunk)
    return STRATEGIES[kind].covariances(stats.nk, stats.scatter, reg_covar, X.shape[1])[0]


# Cholesky succeeds on many singular matrices by rounding luck. A conditional variance
# below this fraction of the variable's own variance is rounding noise (it is computed as
# a difference with an error of a few eps): such a covariance is not positive definite.
_SINGULAR_RATIO = 64 * _EPS


def _factor(strategy, ctype, cov):
    """``strategy.precisions_cholesky(cov)``, also failing numerically singular components."""
    prec_chol, failed = strategy.precisions_cholesky(cov)
    with np.errstate(all="ignore"):
        if ctype in ("full", "tied"):
            c = cov if ctype == "full" else cov[None]
            u = prec_chol if ctype == "full" else prec_chol[None]
            var = np.diagonal(c, axis1=1, axis2=2)
            conditional = 1.0 / np.diagonal(u, axis1=1, axis2=2) ** 2
            bad = np.any(~(conditional >= _SINGULAR_RATIO * var), axis=1)
        else:  # diag, spherical: positivity is all precisions_cholesky needs to check
            bad = np.zeros(cov.shape[0], dtype=bool)
    return prec_chol, sorted(set(int(j) for j in failed) | set(np.flatnonzero(bad).tolist()))


def _is_pd(strategy, ctype, cov):
    one = cov if ctype == "tied" else np.asarray(cov)[None]
    return bool(np.all(np.isfinite(one))) and not _factor(strategy, ctype, one)[1]


def _raise_if_overflow(stats, iteration):
    if not (np.all(np.isfinite(stats.scatter)) and np.all(np.isfinite(stats.means))):
        raise ValueError(
            f"Fitting the mixture failed at iteration {iteration}: the covariance statistics "
            "overflowed (they are not finite) at the scale of these data in their dtype. "
            "Fit float64 data or rescale the features."
        )


def m_step(
    stats, reg_covar, *, prior=None, candidates=None, iteration=0, unit_weight=None, fallback=None
):
    """Parameters that maximise the expected complete-data log-likelihood (or posterior).

    Components that lost their support, or whose covariance is not positive definite, are
    re-seeded at ``candidates(m)`` (m rows, worst explained first) with the pooled
    covariance, and a ``DegenerateComponentWarning`` names them. Where the pooled (or the
    shared 'tied') covariance is itself singular, ``fallback()`` (the covariance of all the
    data, see ``data_covariance``) is used instead.
    """
    ctype = stats.covariance_type
    strategy = STRATEGIES[ctype]
    nk = stats.nk
    k, d = stats.means.shape
    if unit_weight is None:
        unit_weight = stats.total_weight / max(k, 1)
    means_s = stats.means
    with np.errstate(invalid="ignore", divide="ignore"):
        if prior is None:
            cov = strategy.covariances(nk, stats.scatter, reg_covar, d)
        else:
            s = prior.strength
            prior_mean = prior.mean - stats.shift
            means_s = (nk[:, None] * stats.means + s * prior.kappa * prior_mean) / (
                nk + s * prior.kappa
            )[:, None]
            between = strategy.outer(stats.means - prior_mean, s * prior.kappa * nk / (s * prior.kappa + nk))
            cov = strategy.map_covariances(nk, stats.scatter, between, prior, s, reg_covar)
    prec_chol, failed = _factor(strategy, ctype, cov)
    weights = nk + 10 * _EPS
    failed = [int(j) for j in failed]
    lost = np.flatnonzero(nk < SUPPORT_FRACTION * unit_weight)
    bad = sorted(set(lost.tolist()) | ({j for j in failed} if ctype != "tied" else set()))
    if ctype == "tied" and failed:
        # every component collapsed at once: restart the shared covariance from the data's
        replacement = fallback() if fallback is not None else None
        if replacement is None or not _is_pd(strategy, ctype, replacement):
            _raise_if_overflow(stats, iteration)
            raise ValueError(
                "The shared ('tied') covariance is not positive definite after adding "
                f"reg_covar={reg_covar} (iteration {iteration}), nor is the covariance of "
                "the data: the data are (numerically) singular at their scale (a constant "
                "or duplicated feature, or fewer distinct rows than features?). Increase "
                "reg_covar, standardise the features, drop the redundant features, or fit "
                "float64 data (float32 rounding can exceed a small reg_covar)."
            )
        cov = np.array(replacement, dtype=np.float64)
        prec_chol, _ = strategy.precisions_cholesky(cov)
        warnings.warn(
            f"Iteration {iteration}: the shared ('tied') covariance is not positive "
            "definite; it was re-seeded with the covariance of the data.",
            DegenerateComponentWarning,
        )
    means = means_s + stats.shift
    if bad:
        means = means.copy()
        cov = cov.copy()
        pooled = strategy.pooled(nk, stats.scatter, d)
        if ctype == "full":
            pooled = pooled + reg_covar * np.eye(d)
        else:
            pooled = pooled + reg_covar
        if ctype != "tied" and fallback is not None and not _is_pd(strategy, ctype, pooled):
            pooled = fallback()
        # Only a component without support moves (to the worst-explained rows): one that has
        # support keeps its mean, which its rows determine, and gets a usable covariance.
        seeds = candidates(len(lost)) if candidates is not None and len(lost) else None
        for i, j in enumerate(lost):
            if seeds is not None and len(seeds):
                means[j] = seeds[i % len(seeds)]
            weights[j] = max(weights[j], unit_weight)
        for j in bad:
            if ctype != "tied":
                cov[j] = pooled
        prec_chol, failed = _factor(strategy, ctype, cov)
        if failed:
            j = failed[0]
            _raise_if_overflow(stats, iteration)
            raise ValueError(
                f"Fitting the mixture failed at iteration {iteration}: component {j} has a "
                "covariance that is not positive definite even after re-seeding it with the "
                f"pooled covariance and the data's covariance (reg_covar={reg_covar}). The "
                "data are numerically singular at their scale (a constant or duplicated "
                "feature, or fewer distinct rows than features?): increase reg_covar, "
                "standardise the features, drop the redundant features, or fit float64 "
                "data (float32 rounding can exceed a small reg_covar)."
            )
        causes = []
        if len(lost):
            causes.append(
                f"lost their support: {lost.tolist()} were re-seeded at the worst-explained "
                "samples"
            )
        nonpd = sorted(set(bad) - set(lost.tolist()))
        if nonpd:
            causes.append(
                f"have a covariance that is not positive definite: {nonpd} kept their means"
            )
        warnings.warn(
            f"Iteration {iteration}: component(s) that " + "; component(s) that ".join(causes)
            + ", with the pooled covariance (the data's covariance where the pooled one is "
            "singular).",
            DegenerateComponentWarning,
        )
    weights = weights / weights.sum()
    return GaussianMixtureParams(ctype, weights, means, prec_chol, cov)


def run_em(
    X,
    sample_weight,
    params,
    *,
    tol,
    max_iter,
    reg_covar,
    prior=None,
    lower_bound=-np.inf,
    on_iteration=None,
    relative_tol=False,
    accelerate=False,
):
    """Iterate E- and M-steps from ``params`` until the gain in mean log-likelihood
    is below ``tol`` or ``max_iter`` iterations have run.

    ``relative_tol`` judges the gain relative to the log-likelihood, as mclust does
    (``|dL| / (1 + |L|) < tol`` on the total); ``accelerate`` extrapolates with SQUAREM
    (see ``_accel``), which reaches the same fixed point in fewer passes over X.
    """
    n_samples = X.shape[0]
    if sample_weight is None:
        total = float(n_samples)
        unit_weight = 1.0
    else:
        total = float(sample_weight.sum())
        unit_weight = total / np.count_nonzero(sample_weight)
    cache = {}

    def fallback():
        if "cov" not in cache:
            cache["cov"] = data_covariance(X, sample_weight, params.covariance_type, reg_covar)
        return cache["cov"]

    def step(current, iteration):
        stats, loglik, worst = accumulate(X, sample_weight, current, n_worst=current.n_components)
        new = m_step(
            stats,
            reg_covar,
            prior=prior,
            candidates=lambda m: X[worst[:m]].astype(np.float64),
            iteration=iteration,
            unit_weight=unit_weight,
            fallback=fallback,
        )
        return loglik / total, new

    if accelerate:
        params, lower_bound, lower_bounds, n_iter, converged = run_squarem(
            step, params, tol=tol, max_iter=max_iter, relative=relative_tol, total=total,
            lower_bound=lower_bound, on_iteration=on_iteration,
        )
        return EMResult(params, lower_bound, lower_bounds, n_iter, converged)

    lower_bounds = []
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        previous = lower_bound
        lower_bound, params = step(params, n_iter)
        lower_bounds.append(lower_bound)
        change = lower_bound - previous
        if on_iteration is not None:
            on_iteration(n_iter, change)
        if _converged(change, lower_bound, tol, relative_tol, total):
            converged = True
            break
    return EMResult(params, lower_bound, lower_bounds, n_iter, converged)
