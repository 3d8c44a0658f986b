"""One EM iteration written out by hand: the brute-force oracle shared by the test modules."""

import numpy as np
from scipy.special import logsumexp
from scipy.stats import Covariance, multivariate_normal


def gaussian_log_density(X, mean, covariance):
    """log N(x | mean, covariance) for each row of X, by SciPy from the Cholesky factor.

    ``multivariate_normal(mean, covariance)`` decomposes the covariance by eigenvalues and
    calls it singular when its smallest is below ~1e6 * eps times its largest (2e-10): a
    covariance that EM legitimately fits (a component on <= d rows, whose variance across
    them is reg_covar) is refused, or with ``allow_singular`` its flat direction dropped.
    The Cholesky factor has no such cut-off: it serves any positive definite matrix.
    """
    chol = Covariance.from_cholesky(np.linalg.cholesky(covariance))
    return multivariate_normal(mean, chol).logpdf(X).reshape(X.shape[0])


def scatter_of_type(full, covariance_type):
    """Per-component (k, d, d) scatters in the covariance type's statistics: as they are
    ('full'), summed ('tied'), their diagonals ('diag') or traces ('spherical')."""
    return {
        "full": lambda: full,
        "tied": lambda: full.sum(axis=0),
        "diag": lambda: np.diagonal(full, axis1=1, axis2=2),
        "spherical": lambda: np.trace(full, axis1=1, axis2=2),
    }[covariance_type]()


def component_covariances(covariance_type, covariances, k, d):
    """Each component's (d, d) covariance matrix, whatever the covariance type."""
    return [
        {
            "full": lambda j: covariances[j],
            "tied": lambda j: covariances,
            "diag": lambda j: np.diag(covariances[j]),
            "spherical": lambda j: covariances[j] * np.eye(d),
        }[covariance_type](j)
        for j in range(k)
    ]


def brute_force_em_step(X, covariance_type, weights, means, covariances, reg_covar=1e-6):
    """One EM iteration written out component by component, with SciPy densities and
    per-component centring; returns the new parameters and the mean log-likelihood."""
    n, d = X.shape
    k = len(weights)
    covs = component_covariances(covariance_type, covariances, k, d)
    log_prob = np.column_stack(
        [np.log(weights[j]) + gaussian_log_density(X, means[j], covs[j]) for j in range(k)]
    )
    ll = logsumexp(log_prob, axis=1)
    resp = np.exp(log_prob - ll[:, None])
    nk = resp.sum(axis=0) + 10 * np.finfo(np.float64).eps
    new_means = resp.T @ X / nk[:, None]
    scatter = np.array(
        [(resp[:, j, None] * (X - new_means[j])).T @ (X - new_means[j]) for j in range(k)]
    )
    new_cov = {
        "full": lambda: scatter / nk[:, None, None] + reg_covar * np.eye(d),
        "tied": lambda: scatter.sum(axis=0) / nk.sum() + reg_covar * np.eye(d),
        "diag": lambda: np.diagonal(scatter, axis1=1, axis2=2) / nk[:, None] + reg_covar,
        "spherical": lambda: np.trace(scatter, axis1=1, axis2=2) / (nk * d) + reg_covar,
    }[covariance_type]()
    return nk / n, new_means, new_cov, ll.mean()


def brute_force_marginals(X, covariance_type, weights, means, covariances):
    """Per row (with NaN as missing): the log of w_k N(x_o | mu_ko, S_k,oo) for every
    component (SciPy densities of the observed marginal), and each component's conditional
    mean of the whole row and conditional covariance of the missing block (explicit
    inverse), row by row."""
    n, d = X.shape
    k = len(weights)
    covs = component_covariances(covariance_type, covariances, k, d)
    log_prob = np.empty((n, k))
    filled = np.empty((n, k, d))
    cond_cov = np.zeros((n, k, d, d))
    for i, x in enumerate(X):
        o = ~np.isnan(x)
        m = ~o
        for j in range(k):
            S = covs[j]
            log_prob[i, j] = np.log(weights[j]) + multivariate_normal(
                means[j][o], S[np.ix_(o, o)]
            ).logpdf(x[o])
            A = S[np.ix_(m, o)] @ np.linalg.inv(S[np.ix_(o, o)])
            filled[i, j] = x
            filled[i, j, m] = means[j][m] + A @ (x[o] - means[j][o])
            cond_cov[i, j][np.ix_(m, m)] = S[np.ix_(m, m)] - A @ S[np.ix_(o, m)]
    return log_prob, filled, cond_cov


def brute_force_missing_em_step(
    X, covariance_type, weights, means, covariances, reg_covar=1e-6, sample_weight=None
):
    """One observed-data EM iteration (Ghahramani & Jordan 1994) written out row by row:
    returns the new parameters and the mean observed-data log-likelihood."""
    n, d = X.shape
    k = len(weights)
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    log_prob, filled, cond_cov = brute_force_marginals(
        X, covariance_type, weights, means, covariances
    )
    ll = logsumexp(log_prob, axis=1)
    resp = np.exp(log_prob - ll[:, None]) * w[:, None]
    nk = resp.sum(axis=0) + 10 * np.finfo(np.float64).eps
    new_means = np.einsum("nk,nkd->kd", resp, filled) / nk[:, None]
    scatter = np.zeros((k, d, d))
    for i in range(n):
        for j in range(k):
            e = filled[i, j] - new_means[j]
            scatter[j] += resp[i, j] * (np.outer(e, e) + cond_cov[i, j])
    new_cov = {
        "full": lambda: scatter / nk[:, None, None] + reg_covar * np.eye(d),
        "tied": lambda: scatter.sum(axis=0) / nk.sum() + reg_covar * np.eye(d),
        "diag": lambda: np.diagonal(scatter, axis1=1, axis2=2) / nk[:, None] + reg_covar,
        "spherical": lambda: np.trace(scatter, axis1=1, axis2=2) / (nk * d) + reg_covar,
    }[covariance_type]()
    return nk / w.sum(), new_means, new_cov, (w @ ll) / w.sum()
