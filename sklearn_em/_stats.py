"""Sufficient statistics: the seam between data and the M-step.

Per component: total weight ``nk``, mean, and centred scatter ``S_k = sum r (x - m_k)(x - m_k)^T``
(its sum over components for 'tied', its diagonal for 'diag', its trace for 'spherical').
Means are stored relative to ``shift`` (a point near the data), so data far from the origin
lose no precision. Two sets merge exactly (Chan, Golub & LeVeque 1979).
"""

from dataclasses import dataclass

import numpy as np

from ._covariance import STRATEGIES


@dataclass(frozen=True)
class SufficientStats:
    covariance_type: str
    nk: np.ndarray  # (k,), float64
    means: np.ndarray  # (k, d), float64, relative to shift
    scatter: np.ndarray  # float64, shape by covariance type
    shift: np.ndarray  # (d,), float64

    @classmethod
    def from_moments(cls, moments, covariance_type, n_features, shift, exact=None):
        """Statistics from a pass's summed chunk moments (see ``_covariance``): moments are
        taken about ``shift``; ``exact`` names the components whose scatter was summed
        about their previous means."""
        nk, means, scatter = STRATEGIES[covariance_type].moments_stats(moments, n_features, exact)
        return cls(covariance_type, nk, means, scatter, np.asarray(shift, dtype=np.float64))

    def merge(self, other):
        """Statistics of the union of the two sets of rows."""
        if other is None:
            return self
        other_means = other.means + (other.shift - self.shift)
        n = self.nk + other.nk
        delta = other_means - self.means
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(n > 0, other.nk / n, 0.0)
        means = self.means + delta * frac[:, None]
        coef = self.nk * frac
        scatter = (
            self.scatter
            + other.scatter
            + STRATEGIES[self.covariance_type].outer(delta, coef)
        )
        return SufficientStats(self.covariance_type, n, means, scatter, self.shift)

    @property
    def total_weight(self):
        return float(self.nk.sum())
