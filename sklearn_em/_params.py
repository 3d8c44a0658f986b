"""The mixture model as a value: weights, means and precision Cholesky factors."""

from dataclasses import dataclass

import numpy as np

from ._covariance import STRATEGIES


@dataclass(frozen=True)
class GaussianMixtureParams:
    """Parameters of a Gaussian mixture.

    ``precisions_cholesky`` follows scikit-learn: an upper-triangular ``U`` with
    ``precision = U @ U.T`` for 'full' (shape (k, d, d)) and 'tied' (d, d); the square
    root of the precisions for 'diag' (k, d) and 'spherical' (k,).
    """

    covariance_type: str
    weights: np.ndarray
    means: np.ndarray
    precisions_cholesky: np.ndarray
    # the covariances the M-step computed, when known (more accurate than re-deriving them)
    covariances: np.ndarray = None

    @property
    def strategy(self):
        return STRATEGIES[self.covariance_type]

    @property
    def n_components(self):
        return self.means.shape[0]

    @property
    def n_features(self):
        return self.means.shape[1]

    def astype(self, dtype):
        """The same model with every array in ``dtype``."""
        return GaussianMixtureParams(
            self.covariance_type,
            self.weights.astype(dtype, copy=False),
            self.means.astype(dtype, copy=False),
            self.precisions_cholesky.astype(dtype, copy=False),
            None if self.covariances is None else self.covariances.astype(dtype, copy=False),
        )

    def covariance_matrices(self):
        """The covariances, from the M-step if known, else from the precision factors."""
        if self.covariances is not None:
            return self.covariances
        return self.strategy.covariances_from_precisions_cholesky(self.precisions_cholesky)

    def precisions(self):
        return self.strategy.precisions_from_precisions_cholesky(
            self.precisions_cholesky
        )

    def n_parameters(self):
        """Number of free parameters: covariances, means and k - 1 weights."""
        k, d = self.means.shape
        return self.strategy.n_parameters(k, d) + k * d + k - 1
