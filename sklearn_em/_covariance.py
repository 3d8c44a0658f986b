"""One strategy per covariance type.

A strategy knows, for its covariance type, how to

* turn a chunk of (shifted) data and its weighted responsibilities into the centred scatter
  part of the sufficient statistics, and how the pairwise merge adds ``delta delta^T`` to it;
* turn statistics into covariances (maximum likelihood, or MAP under the conjugate prior of
  Fraley & Raftery 2007);
* factor covariances into precision Cholesky factors, reporting which components fail;
* evaluate squared Mahalanobis distances of a chunk to all components at once.

Shapes of the scatter: full (k, d, d); tied (d, d), summed over components; diag (k, d);
spherical (k,), the trace.
"""

import numpy as np
from scipy import linalg


def _sqrt_weighted(X, weights, out):
    """``out = X * sqrt(weights)[:, None]`` without a second temporary."""
    np.multiply(X, np.sqrt(weights, dtype=X.dtype)[:, None], out=out)
    return out


class _Full:
    name = "full"

    @staticmethod
    def n_parameters(k, d):
        return k * d * (d + 1) // 2

    @staticmethod
    def scatter(Xs, resp_w, nk, means):
        # Centre at each component's own mean before the product: exact for data far
        # from the origin, and D.T @ D lets NumPy use a symmetric rank-k update.
        k, d = means.shape
        S = np.empty((k, d, d))
        D = np.empty_like(Xs)
        for j in range(k):
            np.subtract(Xs, means[j].astype(Xs.dtype, copy=False), out=D)
            D *= np.sqrt(resp_w[:, j])[:, None]
            S[j] = D.T @ D
        return S

    @staticmethod
    def outer(delta, coef):
        return coef[:, None, None] * delta[:, :, None] * delta[:, None, :]

    @staticmethod
    def covariances(nk, scatter, reg_covar, d):
        cov = scatter / nk[:, None, None]
        cov[:, np.arange(d), np.arange(d)] += reg_covar
        return cov

    @staticmethod
    def map_covariances(nk, scatter, between, prior, strength, reg_covar):
        # Fraley & Raftery (2007), posterior mode of a normal-inverse-Wishart prior
        # raised to the power ``strength``.
        d = scatter.shape[-1]
        num = scatter + between + strength * prior.scale_matrix
        denom = nk + strength * (prior.dof + d + 2)
        cov = num / denom[:, None, None]
        cov[:, np.arange(d), np.arange(d)] += reg_covar
        return cov

    @staticmethod
    def precisions_cholesky(covariances):
        k, d, _ = covariances.shape
        prec_chol = np.empty_like(covariances)
        failed = []
        eye = np.eye(d)
        for j, cov in enumerate(covariances):
            try:
                cov_chol = linalg.cholesky(cov, lower=True)
            except (linalg.LinAlgError, ValueError):
                failed.append(j)
                prec_chol[j] = eye
                continue
            prec_chol[j] = linalg.solve_triangular(cov_chol, eye, lower=True).T
        return prec_chol, failed

    @staticmethod
    def log_det(prec_chol, d):
        return np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)

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
    def precisions_cholesky_from_precisions(precisions):
        return np.array([_upper_cholesky(p) for p in precisions])

    @staticmethod
    def check_precisions(precisions):
        return [j for j, p in enumerate(precisions) if not _is_spd(p)]

    @staticmethod
    def kernel(means_s, prec_chol, dtype):
        # All k factors side by side: one (n, d) @ (d, k*d) product per chunk.
        k, d = means_s.shape
        W = np.ascontiguousarray(prec_chol.transpose(1, 0, 2).reshape(d, k * d), dtype)
        b = np.einsum("kd,kde->ke", means_s, prec_chol).reshape(k * d).astype(dtype)
        return W, b

    @staticmethod
    def mahalanobis(Xs, kernel, out):
        W, b = kernel
        n = Xs.shape[0]
        k = out.shape[1]
        Y = Xs @ W
        Y -= b
        np.square(Y, out=Y)
        d = Y.shape[1] // k
        # Summing the d squares of each component as a matrix-vector product is
        # several times faster than a reduction over a short last axis.
        np.matmul(Y.reshape(n * k, d), np.ones(d, dtype=Y.dtype), out=out.reshape(n * k))
        return out

    @staticmethod
    def pooled(nk, scatter, d):
        return scatter.sum(axis=0) / nk.sum()

    @staticmethod
    def reseed_covariance(pooled):
        return pooled


class _Tied:
    name = "tied"

    @staticmethod
    def n_parameters(k, d):
        return d * (d + 1) // 2

    @staticmethod
    def scatter(Xs, resp_w, nk, means):
        # Sum over components of the centred scatters = total scatter about the shift
        # minus the between-component part: one product, no pass per component.
        D = _sqrt_weighted(Xs, resp_w.sum(axis=1), np.empty_like(Xs))
        total = (D.T @ D).astype(np.float64)
        return total - (means.T * nk) @ means

    @staticmethod
    def outer(delta, coef):
        return (delta.T * coef) @ delta

    @staticmethod
    def covariances(nk, scatter, reg_covar, d):
        cov = scatter / nk.sum()
        cov[np.arange(d), np.arange(d)] += reg_covar
        return cov

    @staticmethod
    def map_covariances(nk, scatter, between, prior, strength, reg_covar):
        d = scatter.shape[-1]
        k = nk.shape[0]
        num = scatter + between + strength * prior.scale_matrix
        denom = nk.sum() + strength * (prior.dof + d + 1 + k)
        cov = num / denom
        cov[np.arange(d), np.arange(d)] += reg_covar
        return cov

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
    def precisions_cholesky_from_precisions(precisions):
        return _upper_cholesky(precisions)

    @staticmethod
    def check_precisions(precisions):
        return [] if _is_spd(precisions) else [0]

    @staticmethod
    def kernel(means_s, prec_chol, dtype):
        mu = means_s @ prec_chol
        return prec_chol.astype(dtype), mu.T.astype(dtype), (mu * mu).sum(axis=1).astype(dtype)

    @staticmethod
    def mahalanobis(Xs, kernel, out):
        U, muT, mu2 = kernel
        Y = Xs @ U
        np.matmul(Y, muT, out=out)
        out *= -2
        out += mu2
        np.square(Y, out=Y)
        out += Y.sum(axis=1)[:, None]
        return out

    @staticmethod
    def pooled(nk, scatter, d):
        return scatter / nk.sum()

    @staticmethod
    def reseed_covariance(pooled):
        return None  # shared by every component: nothing to re-seed


class _Diag:
    name = "diag"

    @staticmethod
    def n_parameters(k, d):
        return k * d

    @staticmethod
    def scatter(Xs, resp_w, nk, means):
        X2 = np.square(Xs)
        S = (resp_w.T @ X2).astype(np.float64) - nk[:, None] * means**2
        return np.maximum(S, 0.0, out=S)

    @staticmethod
    def outer(delta, coef):
        return coef[:, None] * delta**2

    @staticmethod
    def covariances(nk, scatter, reg_covar, d):
        return scatter / nk[:, None] + reg_covar

    @staticmethod
    def map_covariances(nk, scatter, between, prior, strength, reg_covar):
        num = scatter + between + strength * np.diag(prior.scale_matrix)
        denom = nk + strength * (prior.dof + 3)
        return num / denom[:, None] + reg_covar

    @staticmethod
    def precisions_cholesky(covariances):
        with np.errstate(invalid="ignore"):
            bad = ~(np.all(covariances > 0, axis=1) & np.all(np.isfinite(covariances), axis=1))
        safe = np.where(bad[:, None], 1.0, covariances)
        return 1.0 / np.sqrt(safe), list(np.flatnonzero(bad))

    @staticmethod
    def log_det(prec_chol, d):
        return np.log(prec_chol).sum(axis=1)

    @staticmethod
    def covariances_from_precisions_cholesky(prec_chol):
        return 1.0 / prec_chol**2

    @staticmethod
    def precisions_from_precisions_cholesky(prec_chol):
        return prec_chol**2

    @staticmethod
    def precisions_cholesky_from_precisions(precisions):
        return np.sqrt(precisions)

    @staticmethod
    def check_precisions(precisions):
        return list(np.flatnonzero(np.any(precisions <= 0, axis=1)))

    @staticmethod
    def kernel(means_s, prec_chol, dtype):
        prec = prec_chol**2
        return (
            prec.T.astype(dtype),
            (-2 * means_s * prec).T.astype(dtype),
            (means_s**2 * prec).sum(axis=1).astype(dtype),
        )

    @staticmethod
    def mahalanobis(Xs, kernel, out):
        precT, m2pT, const = kernel
        np.matmul(Xs, m2pT, out=out)
        out += np.square(Xs) @ precT
        out += const
        return out

    @staticmethod
    def pooled(nk, scatter, d):
        return scatter.sum(axis=0) / nk.sum()

    @staticmethod
    def reseed_covariance(pooled):
        return pooled


class _Spherical:
    name = "spherical"

    @staticmethod
    def n_parameters(k, d):
        return k

    @staticmethod
    def scatter(Xs, resp_w, nk, means):
        x2 = np.square(Xs).sum(axis=1)
        S = (resp_w.T @ x2).astype(np.float64) - nk * (means**2).sum(axis=1)
        return np.maximum(S, 0.0, out=S)

    @staticmethod
    def outer(delta, coef):
        return coef * (delta**2).sum(axis=1)

    @staticmethod
    def covariances(nk, scatter, reg_covar, d):
        return scatter / (nk * d) + reg_covar

    @staticmethod
    def map_covariances(nk, scatter, between, prior, strength, reg_covar):
        d = prior.scale_matrix.shape[0]
        num = scatter + between + strength * np.trace(prior.scale_matrix) / d
        denom = nk * d + strength * (prior.dof + d + 2)
        return num / denom + reg_covar

    @staticmethod
    def precisions_cholesky(covariances):
        with np.errstate(invalid="ignore"):
            bad = ~((covariances > 0) & np.isfinite(covariances))
        safe = np.where(bad, 1.0, covariances)
        return 1.0 / np.sqrt(safe), list(np.flatnonzero(bad))

    @staticmethod
    def log_det(prec_chol, d):
        return d * np.log(prec_chol)

    @staticmethod
    def covariances_from_precisions_cholesky(prec_chol):
        return 1.0 / prec_chol**2

    @staticmethod
    def precisions_from_precisions_cholesky(prec_chol):
        return prec_chol**2

    @staticmethod
    def precisions_cholesky_from_precisions(precisions):
        return np.sqrt(precisions)

    @staticmethod
    def check_precisions(precisions):
        return list(np.flatnonzero(precisions <= 0))

    @staticmethod
    def kernel(means_s, prec_chol, dtype):
        prec = prec_chol**2
        return (
            prec.astype(dtype),
            (-2 * means_s * prec[:, None]).T.astype(dtype),
            ((means_s**2).sum(axis=1) * prec).astype(dtype),
        )

    @staticmethod
    def mahalanobis(Xs, kernel, out):
        prec, m2pT, const = kernel
        np.matmul(Xs, m2pT, out=out)
        out += np.square(Xs).sum(axis=1)[:, None] * prec
        out += const
        return out

    @staticmethod
    def pooled(nk, scatter, d):
        return scatter.sum() / (nk.sum() * d)

    @staticmethod
    def reseed_covariance(pooled):
        return pooled


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


STRATEGIES = {s.name: s for s in (_Full, _Tied, _Diag, _Spherical)}
