"""Covariance models as table rows: how each is parameterised and estimated from statistics.

mclust's models decompose each covariance as ``Sigma_k = lambda_k D_k A_k D_k^T`` (volume
``lambda``, shape ``A``, orientation ``D``), each Equal across components, Variable, or the
Identity; a model is named by the three letters (Celeux & Govaert 1995). A
:class:`CovarianceModel` row says, declaratively,

* which density kernel stores and evaluates it (``_covariance.KERNELS``); the kernel fixes
  the shapes of ``covariances_`` and ``precisions_cholesky_``: (k, d, d) for the 'full'
  kernel, (d, d) for 'tied' (EEE only), (k, d) for 'diag', (k,) for 'spherical' -- a model
  whose covariances are equal across components but stored by a per-component kernel
  (e.g. EEI in the 'diag' kernel) repeats them per component;
* which statistics its M-step needs (``_stats.STATS_KINDS``);
* its covariance step, statistics -> covariances (maximum likelihood and, where mclust's
  conjugate prior covers the model, the posterior mode);
* its number of free parameters (derived from the three letters, equal to mclust's
  ``nMclustParams``).

scikit-learn's four covariance types are aliases of the rows VVV ('full'), EEE ('tied'), VVI
('diag') and VII ('spherical').
"""

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ._covariance import KERNELS

_LETTERS = ("E", "V", "I")


def n_covariance_parameters(volume, shape, orientation, k, d):
    """Free parameters of ``k`` covariances ``lambda_k D_k A_k D_k^T`` in ``d`` dimensions.

    A volume costs 1 (Equal) or k (Variable); a shape (d - 1 free eigenvalue ratios) 0
    (Identity), d - 1 or k(d - 1); an orientation (an orthogonal matrix) 0, d(d - 1)/2 or
    k d(d - 1)/2.
    """
    copies = {"I": 0, "E": 1, "V": k}
    return copies[volume] + copies[shape] * (d - 1) + copies[orientation] * (d * (d - 1) // 2)


@dataclass(frozen=True)
class CovarianceModel:
    """One covariance model: a row of the model table.

    Parameters
    ----------
    name : str
        mclust's three-letter name (volume, shape, orientation), e.g. 'VVV'.
    kernel : str
        The density kernel that stores and evaluates it: 'full', 'tied', 'diag' or
        'spherical' (``_covariance.KERNELS``).
    stats_kind : str
        The statistics its covariance step reads: 'full' (k, d, d), 'pooled' (d, d),
        'diag' (k, d) or 'trace' (k,) (``_stats.STATS_KINDS``); the kernel's statistics.
    estimate : callable
        ``estimate(nk, scatter, reg_covar, previous) -> covariances`` in the kernel's
        storage, ``reg_covar`` added to the diagonal. ``previous`` is the previous
        :class:`~sklearn_em._params.GaussianMixtureParams` (None before the first M-step),
        the starting point of iterative steps; closed forms ignore it.
    map_estimate : callable or None
        ``map_estimate(nk, scatter, between, prior, reg_covar, previous) -> covariances``:
        the posterior mode under the conjugate prior of Fraley & Raftery (2007) raised to
        ``prior.strength``, where ``between`` is the scatter of the means about the prior
        mean (``kappa nk / (kappa + nk)`` weighted) in ``stats_kind``. None where mclust's
        prior does not cover the model.
    alias : str or None
        The scikit-learn covariance type naming the same model, if any.

    Attributes
    ----------
    volume, shape, orientation : str
        The three letters of ``name``: 'E' (equal), 'V' (variable) or 'I' (identity).
    prior_covered : bool
        Whether ``prior_strength`` can be used with this model.
    """

    name: str
    kernel: str
    stats_kind: str
    estimate: Callable
    map_estimate: Optional[Callable] = None
    alias: Optional[str] = None

    def __post_init__(self):
        if len(self.name) != 3 or any(c not in _LETTERS for c in self.name):
            raise ValueError(f"A model name is three letters out of E, V, I; got {self.name!r}.")
        if self.kernel not in KERNELS:
            raise ValueError(f"Unknown kernel {self.kernel!r} for model {self.name}.")
        if KERNELS[self.kernel].stats_kind != self.stats_kind:
            # phase 1: each kernel produces one statistics kind
            raise ValueError(
                f"Model {self.name} reads {self.stats_kind!r} statistics but its kernel "
                f"{self.kernel!r} produces {KERNELS[self.kernel].stats_kind!r}."
            )

    @property
    def volume(self):
        return self.name[0]

    @property
    def shape(self):
        return self.name[1]

    @property
    def orientation(self):
        return self.name[2]

    @property
    def prior_covered(self):
        return self.map_estimate is not None

    @property
    def kernel_type(self):
        """The kernel class (``_covariance.KERNELS[self.kernel]``)."""
        return KERNELS[self.kernel]

    def storage_shape(self, k, d):
        """Shape of ``covariances_``, ``precisions_`` and ``precisions_cholesky_``."""
        return self.kernel_type.storage_shape(k, d)

    def n_covariance_parameters(self, k, d):
        """Free parameters of the covariances."""
        return n_covariance_parameters(self.volume, self.shape, self.orientation, k, d)

    def n_parameters(self, k, d):
        """Free parameters of the mixture: covariances, k d means and k - 1 weights
        (mclust's ``nMclustParams``)."""
        return self.n_covariance_parameters(k, d) + k * d + k - 1


# ---------------------------------------------------------------- covariance steps
# Maximum likelihood: scatter / weight, plus reg_covar on the diagonal. The MAP steps are the
# posterior modes of Fraley & Raftery (2007), each prior term multiplied by the strength.


def _add_to_diagonal(cov, value):
    d = cov.shape[-1]
    cov[..., np.arange(d), np.arange(d)] += value
    return cov


def _vvv(stats, reg_covar, previous=None):
    return _add_to_diagonal(stats.scatter / stats.nk[:, None, None], reg_covar)


def _vvv_map(stats, between, prior, reg_covar, previous=None):
    d = stats.n_features
    s = prior.strength
    num = stats.scatter + between + s * prior.scale_matrix
    denom = stats.nk + s * (prior.dof + d + 2)
    return _add_to_diagonal(num / denom[:, None, None], reg_covar)


def _eee(stats, reg_covar, previous=None):
    return _add_to_diagonal(stats.scatter / stats.nk.sum(), reg_covar)


def _eee_map(stats, between, prior, reg_covar, previous=None):
    d, k = stats.n_features, stats.n_components
    s = prior.strength
    num = stats.scatter + between + s * prior.scale_matrix
    denom = stats.nk.sum() + s * (prior.dof + d + 1 + k)
    return _add_to_diagonal(num / denom, reg_covar)


def _vvi(stats, reg_covar, previous=None):
    return stats.scatter / stats.nk[:, None] + reg_covar


def _vvi_map(stats, between, prior, reg_covar, previous=None):
    s = prior.strength
    num = stats.scatter + between + s * np.diag(prior.scale_matrix)
    denom = stats.nk + s * (prior.dof + 3)
    return num / denom[:, None] + reg_covar


def _vii(stats, reg_covar, previous=None):
    return stats.scatter / (stats.nk * stats.n_features) + reg_covar


def _vii_map(stats, between, prior, reg_covar, previous=None):
    d = stats.n_features
    s = prior.strength
    num = stats.scatter + between + s * np.trace(prior.scale_matrix) / d
    denom = stats.nk * d + s * (prior.dof + d + 2)
    return num / denom + reg_covar


# ---------------------------------------------------------------- the table
_ROWS = (
    CovarianceModel("VVV", "full", "full", _vvv, _vvv_map, alias="full"),
    CovarianceModel("EEE", "tied", "pooled", _eee, _eee_map, alias="tied"),
    CovarianceModel("VVI", "diag", "diag", _vvi, _vvi_map, alias="diag"),
    CovarianceModel("VII", "spherical", "trace", _vii, _vii_map, alias="spherical"),
)

#: mclust names of the models in the table.
MODEL_NAMES = tuple(row.name for row in _ROWS)
#: scikit-learn's covariance types, each an alias of a row.
SKLEARN_NAMES = tuple(row.alias for row in _ROWS if row.alias is not None)
#: every accepted ``covariance_type``: scikit-learn's names, then mclust's.
COVARIANCE_NAMES = SKLEARN_NAMES + MODEL_NAMES

_BY_NAME = {**{row.name: row for row in _ROWS}, **{row.alias: row for row in _ROWS if row.alias}}


def get_model(name):
    """The model row for a ``covariance_type``: an mclust name or a scikit-learn alias.

    Parameters
    ----------
    name : str or CovarianceModel
        E.g. 'VVV' or its alias 'full'; a row is returned as is.

    Returns
    -------
    CovarianceModel

    Examples
    --------
    >>> from sklearn_em._models import get_model
    >>> get_model("full") is get_model("VVV")
    True
    >>> get_model("tied").storage_shape(3, 2)
    (2, 2)
    """
    if isinstance(name, CovarianceModel):
        return name
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown covariance_type {name!r}; expected one of {list(COVARIANCE_NAMES)}."
        ) from None
