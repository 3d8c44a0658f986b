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


def brute_force_statistics(X, covariance_type, weights, means, covariances):
    """One E-step written out: each component's weight, mean and scatter about that mean
    (two passes, in float64, plus the conditional covariances of missing cells), the
    scatter in the covariance type's statistics (see ``scatter_of_type``)."""
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    k = len(weights)
    if np.isnan(X).any():
        log_prob, filled, cond_cov = brute_force_marginals(
            X, covariance_type, weights, means, covariances
        )
    else:
        covs = component_covariances(covariance_type, covariances, k, d)
        log_prob = np.column_stack(
            [np.log(weights[j]) + gaussian_log_density(X, means[j], covs[j]) for j in range(k)]
        )
        filled = np.broadcast_to(X[:, None, :], (n, k, d))
        cond_cov = np.zeros((n, k, d, d))
    resp = np.exp(log_prob - logsumexp(log_prob, axis=1)[:, None])
    nk = resp.sum(axis=0)
    new_means = np.einsum("nk,nkd->kd", resp, filled) / nk[:, None]
    scatter = np.empty((k, d, d))
    for j in range(k):
        e = filled[:, j] - new_means[j]
        scatter[j] = (resp[:, j, None] * e).T @ e + np.einsum(
            "n,nij->ij", resp[:, j], cond_cov[:, j]
        )
    return nk, new_means, scatter_of_type(scatter, covariance_type)


def collapse_problem(covariance_type, dtype=np.float64):
    """Three tight clusters (standard deviations about 0.03), two of them thousands of units
    from the first and largest, where a pass's shift (a median) lies; and the parameters of
    the pass in which components of standard deviation 305 near them collapse onto them:
    ``(X, (weights, means, covariances))``, the covariances in the type's storage."""
    rng = np.random.RandomState(0)
    k, d = 3, 3
    centres = np.array([[1e3, -2e3, 500.0], [7350.0, -2e3, 500.0], [-3e3, 3e3, 520.0]])
    sizes = (120, 40, 30)
    X = np.vstack(
        [
            c + rng.randn(n, d) @ (0.03 * (np.eye(d) + 0.4 * rng.randn(d, d)))
            for c, n in zip(centres, sizes)
        ]
    ).astype(dtype)
    weights = np.array(sizes, dtype=np.float64) / sum(sizes)
    means = centres + rng.uniform(-50.0, 50.0, size=(k, d))
    means[1, 0] -= 2e3  # the second moves 2,000 units (6.6 of its sd) in the M-step
    variance = 305.0**2
    covariances = {
        "full": np.tile(variance * np.eye(d), (k, 1, 1)),
        "tied": variance * np.eye(d),
        "diag": np.full((k, d), variance),
        "spherical": np.full(k, variance),
    }[covariance_type]
    return X, (weights, means, covariances)


def bulk_scale(X, weights=None):
    """The selector's unit of each column, from its definition, row by row, in exact
    arithmetic: the (weighted) standard deviation, capped at 10 times 1.4826 times the
    median absolute deviation, or, where that is 0, the median of the deviations that are
    not 0. Medians are lower ones: the smallest value with at least half the weight at or
    below it. NaN cells and rows of weight 0 are left out; integer weights count as
    repeated rows."""
    from fractions import Fraction

    X = np.asarray(X, dtype=np.float64)
    w = np.ones(X.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)

    def lower_median(values, weights):
        pairs = sorted(zip(values, weights))
        total = sum(Fraction(wi) for _, wi in pairs)
        running = Fraction(0)
        for value, weight in pairs:
            running += Fraction(weight)
            if 2 * running >= total:
                return value

    out = []
    for x in X.T:
        keep = ~np.isnan(x) & (w > 0)
        x, wj = x[keep], w[keep]
        std = np.sqrt(np.sum(wj * (x - np.sum(wj * x) / wj.sum()) ** 2) / wj.sum())
        values, weights_j = x.tolist(), wj.tolist()
        median = lower_median(values, weights_j)
        deviations = [abs(v - median) for v in values]
        spread = lower_median(deviations, weights_j)
        if spread == 0:
            off = [(dv, wi) for dv, wi in zip(deviations, weights_j) if dv > 0]
            spread = lower_median(*zip(*off)) if off else 0.0
        out.append(std if spread == 0 else min(std, 10 * 1.482602218505602 * spread))
    return np.array(out)
