"""Sufficient statistics: the seam between data and the M-step.

A :class:`SufficientStats` value is everything the M-step learns from a set of rows:

* per component: total weight ``nk``, mean (relative to ``shift``, a point near the data, so
  data far from the origin lose no precision) and centred scatter
  ``S_k = sum r (x - m_k)(x - m_k)^T`` in one of four *kinds* (``STATS_KINDS``):

  ======== ============ ==============================================
  kind     ``scatter``  what it holds
  ======== ============ ==============================================
  'full'   (k, d, d)    each component's scatter matrix
  'pooled' (d, d)       their sum over components
  'diag'   (k, d)       each component's diagonal
  'trace'  (k,)         each component's trace
  ======== ============ ==============================================

* the rows' weighted log-likelihood sum under the parameters that produced the
  responsibilities (``loglik``), and the number of rows of positive weight (``n_rows``);
* the ``n_worst`` worst-explained rows (lowest log-likelihood) with their values in float64
  and their log-likelihoods: where the M-step re-seeds a component that lost its support;
* optionally ``data``: the same rows' statistics as one component (every responsibility 1),
  accumulated in float64, from which the M-step takes the data's covariance when a
  component's (or the pooled) covariance is singular. Without it that covariance is derived
  from the components (within + between scatter), which is the same where the
  responsibilities of every row sum to 1, but carries the kernel's rounding (float32).

Two values merge exactly (Chan, Golub & LeVeque 1979), so every way rows can arrive (chunks of
an in-memory pass, dask blocks, partial_fit batches) produces the same value; ``blend`` is the
convex combination online EM needs. Everything the M-step needs beyond the per-component
statistics (the pooled covariance, the data's covariance) is derived here, from the
statistics alone.
"""

from dataclasses import dataclass, field, replace

import numpy as np


def _outer_full(delta, coef):
    return coef[:, None, None] * delta[:, :, None] * delta[:, None, :]


def _outer_pooled(delta, coef):
    return (delta.T * coef) @ delta


def _outer_diag(delta, coef):
    return coef[:, None] * delta**2


def _outer_trace(delta, coef):
    return coef * (delta**2).sum(axis=1)


# kind -> the scatter of point masses ``coef_k`` at ``delta_k`` (about the origin), in that kind
OUTER = {"full": _outer_full, "pooled": _outer_pooled, "diag": _outer_diag, "trace": _outer_trace}
STATS_KINDS = tuple(OUTER)


# A component whose total weight falls below this fraction of one average row's weight
# (``SufficientStats.unit_weight``) has lost its support: its mean and covariance are no
# longer determined by the data.
SUPPORT_FRACTION = 1e-8


def _empty_rows(d):
    return np.empty((0, d)), np.empty(0)


@dataclass(frozen=True)
class SufficientStats:
    """Mergeable sufficient statistics of weighted rows under given responsibilities.

    Parameters
    ----------
    kind : {'full', 'pooled', 'diag', 'trace'}
        Which scatter is carried (see the module docstring).
    nk : ndarray of shape (k,), float64
        Total responsibility-times-weight of each component.
    means : ndarray of shape (k, d), float64
        Component means relative to ``shift`` (zero for a component without weight).
    scatter : ndarray, float64
        Centred scatter, shaped by ``kind``.
    shift : ndarray of shape (d,), float64
        The point the means are relative to.
    loglik : float, default=0.0
        Weighted sum of the rows' log-likelihoods (0 where the responsibilities were given,
        not computed from parameters).
    n_rows : float, default=0.0
        Number of rows of positive weight (``blend`` scales it like the weights).
    n_worst : int, default=0
        How many worst-explained rows are kept.
    worst_rows : ndarray of shape (m, d), float64, m <= n_worst
        The worst-explained rows, worst first.
    worst_scores : ndarray of shape (m,), float64
        Their log-likelihoods (ascending).
    data : SufficientStats or None
        The rows' statistics as one component, in float64 (kind 'full' for kernels that
        store matrices, else this value's kind); see the module docstring.
    eps : float, default=float64's machine epsilon
        The relative rounding of the arithmetic the statistics were accumulated in (float32's
        epsilon for the kernel's float32 passes): the M-step cannot tell a covariance from a
        singular one more finely than this.
    """

    kind: str
    nk: np.ndarray
    means: np.ndarray
    scatter: np.ndarray
    shift: np.ndarray
    loglik: float = 0.0
    n_rows: float = 0.0
    n_worst: int = 0
    worst_rows: np.ndarray = field(default=None, repr=False)
    worst_scores: np.ndarray = field(default=None, repr=False)
    data: "SufficientStats" = field(default=None, repr=False)
    eps: float = float(np.finfo(np.float64).eps)

    def __post_init__(self):
        if self.kind not in OUTER:
            raise ValueError(
                f"Unknown statistics kind {self.kind!r}; expected one of {STATS_KINDS}."
            )
        if self.worst_rows is None:
            rows, scores = _empty_rows(self.means.shape[1])
            object.__setattr__(self, "worst_rows", rows)
            object.__setattr__(self, "worst_scores", scores)

    @classmethod
    def trusted(cls, **fields):
        """Statistics from every field by name, without the constructor's checks: for
        values that pass them by construction (once per EM pass, where the frozen
        dataclass's constructor costs more than a small table's M-step arithmetic)."""
        out = object.__new__(cls)
        out.__dict__.update(fields)
        return out

    def with_data(self, data):
        """These statistics carrying ``data``: ``dataclasses.replace(self, data=data)``
        without re-running the constructor's checks, which these passed (once per EM pass,
        where that costs more than a small table's M-step arithmetic)."""
        out = object.__new__(type(self))
        out.__dict__.update(self.__dict__, data=data)
        return out

    @property
    def n_components(self):
        return self.nk.shape[0]

    @property
    def n_features(self):
        return self.means.shape[1]

    @property
    def total_weight(self):
        """Total weight of the rows."""
        return float(np.add.reduce(self.nk))

    @property
    def unit_weight(self):
        """Weight of an average row (``total_weight / n_rows``; 1 for unweighted rows)."""
        # computed once (asked twice per EM pass); not functools.cached_property, whose lock
        # (before Python 3.12) costs more than the division
        cached = self.__dict__.get("_unit_weight")
        if cached is None:
            cached = self.total_weight / self.n_rows if self.n_rows > 0 else 1.0
            self.__dict__["_unit_weight"] = cached
        return cached

    def merge(self, other):
        """Statistics of the union of the two sets of rows.

        Exact (Chan, Golub & LeVeque's pairwise update); the result is about ``self.shift``
        and keeps the ``max(n_worst)`` worst rows of the union (``self``'s first on ties).

        Parameters
        ----------
        other : SufficientStats or None
            Statistics of the other rows, same kind and shape; None is the empty set.

        Returns
        -------
        SufficientStats
        """
        if other is None:
            return self
        if other.kind != self.kind or other.means.shape != self.means.shape:
            raise ValueError(
                f"Cannot merge statistics of kind {other.kind!r} with shape {other.means.shape} "
                f"into statistics of kind {self.kind!r} with shape {self.means.shape}."
            )
        other_means = other.means + (other.shift - self.shift)
        n = self.nk + other.nk
        delta = other_means - self.means
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(n > 0, other.nk / n, 0.0)
        means = self.means + delta * frac[:, None]
        scatter = self.scatter + other.scatter + OUTER[self.kind](delta, self.nk * frac)
        n_worst = max(self.n_worst, other.n_worst)
        rows = np.concatenate([self.worst_rows, other.worst_rows])
        scores = np.concatenate([self.worst_scores, other.worst_scores])
        keep = np.argsort(scores, kind="stable")[:n_worst]
        data = None if self.data is None or other.data is None else self.data.merge(other.data)
        return SufficientStats(
            self.kind,
            n,
            means,
            scatter,
            self.shift,
            self.loglik + other.loglik,
            self.n_rows + other.n_rows,
            n_worst,
            rows[keep],
            scores[keep],
            data,
            max(self.eps, other.eps),
        )

    def scaled(self, factor):
        """The statistics of the same rows with every weight multiplied by ``factor`` >= 0."""
        factor = float(factor)
        return replace(
            self,
            nk=self.nk * factor,
            scatter=self.scatter * factor,
            loglik=self.loglik * factor,
            n_rows=self.n_rows * factor,
            data=None if self.data is None else self.data.scaled(factor),
        )

    def blend(self, other, rho):
        """``(1 - rho) * self + rho * other``: the convex combination of online EM.

        The statistics of the union of both sets of rows, ``self``'s weights multiplied by
        ``1 - rho`` and ``other``'s by ``rho`` (stepwise EM, Cappé & Moulines 2009).

        Parameters
        ----------
        other : SufficientStats
            Statistics of the new rows (e.g. a partial_fit batch).
        rho : float in [0, 1]
            Step size.

        Returns
        -------
        SufficientStats
        """
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"blend needs 0 <= rho <= 1, got rho={rho!r}.")
        return self.scaled(1.0 - rho).merge(other.scaled(rho))

    def with_worst_rows(self, rows, scores=None):
        """The same statistics carrying ``rows`` (worst first) as re-seeding candidates."""
        rows = np.asarray(rows, dtype=np.float64).reshape(-1, self.n_features)
        scores = (
            np.full(rows.shape[0], -np.inf) if scores is None else np.asarray(scores, np.float64)
        )
        return replace(self, n_worst=rows.shape[0], worst_rows=rows, worst_scores=scores)

    def pooled_scatter(self):
        """The within-component scatter summed over components, in one component's form:
        (d, d) for 'full' and 'pooled', (d,) for 'diag', a scalar for 'trace'."""
        return self.scatter if self.kind == "pooled" else self.scatter.sum(axis=0)

    def total_scatter(self):
        """Scatter of all the rows about their overall mean (within + between components),
        in one component's form (see ``pooled_scatter``)."""
        n = self.nk.sum()
        centre = self.nk @ self.means / n if n > 0 else np.zeros(self.n_features)
        between = OUTER[self.kind](self.means - centre, self.nk)
        if self.kind != "pooled":
            between = between.sum(axis=0)
        return self.pooled_scatter() + between

    def as_covariance(self, scatter, reg_covar):
        """``scatter / total weight`` (per dimension for 'trace') plus ``reg_covar`` on the
        diagonal: one component's covariance, in the kernel's storage."""
        n = self.nk.sum()
        if self.kind in ("full", "pooled"):
            cov = scatter / n
            return cov + reg_covar * np.eye(cov.shape[0])
        if self.kind == "trace":
            return scatter / (n * self.n_features) + reg_covar
        return scatter / n + reg_covar

    def pooled_covariance(self, reg_covar):
        """The pooled within-component covariance, plus ``reg_covar``."""
        return self.as_covariance(self.pooled_scatter(), reg_covar)

    def data_covariance(self, reg_covar):
        """The covariance of all the rows (ignoring the components), plus ``reg_covar``,
        in one component's form (from ``data`` where carried)."""
        if self.data is not None:
            return self.data.pooled_covariance(reg_covar)
        return self.as_covariance(self.total_scatter(), reg_covar)
