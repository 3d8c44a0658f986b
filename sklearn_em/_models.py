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
('diag') and VII ('spherical'). The other ten rows take their covariance step from ``_gpcm``
(mclust's M-steps); the iterative ones (VEI, VEE, EVE, VVE, VEV) start from the previous
step, carried in the parameters (``GaussianMixtureParams.state``), and run at most
``INNER_MAX_ITER`` inner iterations inside EM: a generalised EM step, which cannot lower the
expected complete-data log-likelihood, so the log-likelihood never decreases.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from . import _gpcm
from ._covariance import KERNELS, _einsum, _eye
from ._stats import SUPPORT_FRACTION

_LETTERS = ("E", "V", "I")


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
        ``estimate(stats, reg_covar, previous, **options) -> covariances`` in the kernel's
        storage, ``reg_covar`` added to the diagonal, or a :class:`~sklearn_em._gpcm.GPCMStep`
        whose ``covariances`` are in that storage (it is kept in the parameters as
        ``state``, the warm start of the next step). ``previous`` is the previous
        :class:`~sklearn_em._params.GaussianMixtureParams` (None before the first M-step),
        the starting point of iterative steps; closed forms ignore it. ``options`` are
        ``_gpcm.m_step``'s inner-iteration settings (``max_iter``, ``tol``, ``vve_weights``),
        ``warm_start`` (default True: continue from ``previous``) and ``data_units`` (default
        False: iterative steps run in units of their own, see ``_gpcm_estimate``).
    map_estimate : callable or None
        ``map_estimate(stats, between, prior, reg_covar, previous) -> covariances``:
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
    map_estimate: Callable | None = None
    alias: str | None = None

    def __reduce__(self):
        # a row of the table pickles as its name: its steps are closures (not picklable),
        # and the row it unpickles to is the table's own (``is`` compares rows)
        return get_model, (self.name,)

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
    def equal_covariances(self):
        """Whether every component has the same covariance (EII, EEI, EEE)."""
        return self.volume == "E" and self.shape in "EI" and self.orientation in "EI"

    @property
    def column_scalable(self):
        """Whether the model is the same model after dividing each column by its own scale.

        Dividing the columns by ``s`` maps ``Sigma_k`` to ``S^-1 Sigma_k S^-1``: determinants
        (volumes) keep their ratios, diagonal and equal matrices stay so, but spherical
        ones do not stay spherical, nor do eigenvalues stay equal (EEV, VEV) or matrices
        stay simultaneously diagonalisable (EVE, VVE).
        """
        if self.shape == "I":
            return False
        return self.orientation == "I" or (self.orientation == "E") == (self.shape == "E")

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
        """Free parameters of the covariances (mclust's ``nVarParams``)."""
        return _gpcm.n_covariance_parameters(self.name, k, d)

    def n_parameters(self, k, d):
        """Free parameters of the mixture: covariances, k d means and k - 1 weights
        (mclust's ``nMclustParams``)."""
        return _gpcm.n_parameters(self.name, k, d)


# ---------------------------------------------------------------- covariance steps
# Maximum likelihood: scatter / weight, plus reg_covar on the diagonal. The MAP steps are the
# posterior modes of Fraley & Raftery (2007), each prior term multiplied by the strength.


def _add_to_diagonal(cov, value):
    np.einsum("...ii->...i", cov)[...] += value  # a writeable view of the diagonals
    return cov


def _vvv(stats, reg_covar, previous=None, **options):
    return _add_to_diagonal(stats.scatter / stats.nk[:, None, None], reg_covar)


def _vvv_map(stats, between, prior, reg_covar, previous=None):
    d = stats.n_features
    s = prior.strength
    num = stats.scatter + between + s * prior.scale_matrix
    denom = stats.nk + s * (prior.dof + d + 2)
    return _add_to_diagonal(num / denom[:, None, None], reg_covar)


def _eee(stats, reg_covar, previous=None, **options):
    return _add_to_diagonal(stats.scatter / stats.nk.sum(), reg_covar)


def _eee_map(stats, between, prior, reg_covar, previous=None):
    d, k = stats.n_features, stats.n_components
    s = prior.strength
    num = stats.scatter + between + s * prior.scale_matrix
    denom = stats.nk.sum() + s * (prior.dof + d + 1 + k)
    return _add_to_diagonal(num / denom, reg_covar)


def _vvi(stats, reg_covar, previous=None, **options):
    return stats.scatter / stats.nk[:, None] + reg_covar


def _vvi_map(stats, between, prior, reg_covar, previous=None):
    s = prior.strength
    num = stats.scatter + between + s * np.diag(prior.scale_matrix)
    denom = stats.nk + s * (prior.dof + 3)
    return num / denom[:, None] + reg_covar


def _vii(stats, reg_covar, previous=None, **options):
    return stats.scatter / (stats.nk * stats.n_features) + reg_covar


def _vii_map(stats, between, prior, reg_covar, previous=None):
    d = stats.n_features
    s = prior.strength
    num = stats.scatter + between + s * np.trace(prior.scale_matrix) / d
    denom = stats.nk * d + s * (prior.dof + d + 2)
    return num / denom + reg_covar


# ---------------------------------------------------------------- mclust's other ten models
# Their covariance steps are ``_gpcm``'s (tested there against mclust 6.0.0).

#: Inner iterations of an iterative covariance step inside EM. Warm-started from the previous
#: step, a few iterations already raise Q (a generalised EM step, so the log-likelihood still
#: cannot decrease); running EVE's MM updates to convergence costs ~50x more per M-step at
#: k = d = 16. VVE's Flury-Gautschi sweeps usually converge in a few, but not always (on
#: wine's 13 columns a quarter of a grid's warm steps reach the cap).
INNER_MAX_ITER = 50


def _usable(stats, reg_covar, needs):
    """Components the covariance step can use: with support (see ``_em.lost_components``)
    and a scatter that gives them the covariance the model makes of it (``needs``, see
    :func:`_own_scatter_needs`). The step leaves the others out (a zero scatter would
    poison the parts shared with the rest); the M-step re-seeds them."""
    nk = stats.nk
    keep = nk >= SUPPORT_FRACTION * stats.unit_weight
    if needs == "nothing":
        return keep
    W = stats.scatter
    with np.errstate(invalid="ignore", divide="ignore"):
        if needs == "trace":
            # a volume of its own: tr(W_k A^-1) / (n_k d) > 0, A the shared shape
            if W.ndim == 3:
                trace = np.einsum("kii->k", W)
            else:
                trace = W if W.ndim == 1 else W.sum(axis=1)
            d = stats.n_features
            return keep & (trace + reg_covar * nk * d > 0) & np.isfinite(trace)
        if W.ndim == 1:
            return keep & (W + reg_covar * nk * stats.n_features > 0)
        if W.ndim == 2:
            return keep & np.all(W + reg_covar * nk[:, None] > 0, axis=1)
        d = W.shape[-1]
        W = W + (reg_covar * nk)[:, None, None] * _eye(d)
        # (reductions as ufunc calls, without np.all's wrapper: once per M-step)
        diag = _einsum("kii->ki", W)
        positive = np.logical_and.reduce(diag > 0, axis=1) & np.logical_and.reduce(
            np.isfinite(W), axis=(1, 2)
        )
        z = 1.0 / np.sqrt(np.where(positive[:, None], diag, 1.0))
        # the scatter as a correlation matrix: singular when its smallest eigenvalue is
        # rounding noise
        smallest = np.linalg.eigvalsh(W * z[:, :, None] * z[:, None, :])[:, 0]
        return keep & positive & (smallest > 64 * d * np.finfo(np.float64).eps)


def _own_scatter_needs(model):
    """What a component's own scatter must give for the model's covariance of it to be
    non-singular: 'nothing' where the covariances are equal (EII, EEI, EEE) or only the
    orientation is the component's own (EEV: any rotation of the shared volume and shape);
    'trace' where its volume is its own and its shape shared (VEI, VEE, VEV: a volume
    tr(W_k A^-1) / (n_k d), positive for any scatter but a zero one, whatever its rank: a
    component of fewer rows than dimensions, or whose rows share a column's value);
    'shape' where its shape is its own (EVI, EVE, EVV, VVE: the shape is its scatter's,
    singular with it: mclust reports such fits as NA)."""
    model = get_model(model)
    if model.volume == "E" and model.shape in "EI":  # (EII, EEI, EEE, EEV)
        return "nothing"
    if model.shape != "V":
        return "trace"
    return "shape"


# The decomposition of given covariances (a warm start without a state) is iterated far below
# mclust's inner tolerance: a start that is its own fixed point must stay where it is (at
# sqrt(eps) the rebuilt EVE covariances were 5e-5 off the given ones, and the first EM step
# from a converged fit went down)
_REBUILD_TOL = 1e-13


def _warm_start(previous, name, keep, d, unit=1.0):
    """The previous step's state for the components ``keep``, in covariance units of
    ``unit`` (see :func:`_step_unit`); without one (the previous parameters were given, not
    estimated), the model's decomposition of the previous covariances, so that the step
    still starts from them."""
    if previous is None or name not in _gpcm.ITERATIVE:
        return None
    state = previous.state
    k = previous.n_components
    if state is None or state.model != name or state.shape.shape != (k, d):
        cov = np.asarray(previous.kernel.expand(previous.covariance_matrices(), k, d))
        if _gpcm.STATISTIC[name] == "diagonal":
            cov = np.einsum("kii->ki", cov)
        try:
            with np.errstate(all="ignore"):
                state = _gpcm.m_step(name, np.ones(k), cov / unit, tol=_REBUILD_TOL)
        except (ValueError, np.linalg.LinAlgError):
            return None
        if not all(np.all(np.isfinite(a)) for a in (state.scale, state.shape)):
            return None
    else:
        state = _rescaled(state, 1.0 / unit)
    return _select(state, keep)


def constraints_broken(model, precisions, n_components, n_features):
    """What ``precisions`` (in ``model``'s kernel storage, symmetric positive definite)
    break of the model's equal volumes, shapes or orientations: '' where they are the
    precisions of a mixture of the model, else the model's equalities, named (e.g. 'equal
    volumes and orientations').

    Checked on the covariances ``Sigma_k``, on a log scale: equal volumes, equal
    ``log det(Sigma_k) / d``; an equal shape with an equal (or no) orientation, generalised
    eigenvalues of ``(Sigma_k, Sigma_0)`` all equal to the ratio of their volumes; an equal
    shape alone (VEV, EEV), equal sorted log-eigenvalues of ``Sigma_k`` less their log
    volumes; an equal orientation alone (EVE, VVE), covariances that commute (symmetric
    matrices share their eigenvectors exactly when they commute). The tolerance is 1e-6
    for diagonal storage (the covariances are the precisions' reciprocals, exact to an ulp)
    and grows with the condition number of the correlation matrices for full matrices
    (``1e-5 cond``: inverting the precisions of a float32 fit loses about
    ``1.2e-7 cond``), so a fit's own precisions pass, and a start off the model is refused
    unless its correlations are nearly singular.
    scikit-learn's four types constrain nothing beyond their storage.
    """
    model = get_model(model)
    if model.alias is not None:
        return ""
    k, d = n_components, n_features
    kernel = model.kernel_type
    cov = kernel.covariances_from_precisions_cholesky(
        kernel.precisions_cholesky_from_precisions(precisions)
    )
    full = np.asarray(kernel.expand(cov, k, d), dtype=np.float64)
    values = np.linalg.eigvalsh(full)  # ascending
    if not np.all(np.isfinite(values)) or not np.all(values > 0):
        return ""  # (numerically singular: nothing can be judged, and nothing is refused)
    tol = 1e-6
    if kernel.matrix:
        # the condition number of the correlation matrices: the columns' units scale the
        # covariances' own without making their inversion any less exact
        scale = 1.0 / np.sqrt(np.einsum("kii->ki", full))
        correlation = full * scale[:, :, None] * scale[:, None, :]
        corr_values = np.linalg.eigvalsh(correlation)
        if not np.all(corr_values > 0):
            return ""
        tol = max(tol, 1e-5 * float(np.max(corr_values[:, -1] / corr_values[:, 0])))
    log_volumes = np.log(values).sum(axis=1) / d
    ok = True
    if model.volume == "E":
        ok &= bool(np.ptp(log_volumes) <= tol)
    if model.shape == "E" and model.orientation != "V":
        for j in range(1, k):
            ratio = linalg.eigh(full[j], full[0], eigvals_only=True)  # (positive: both PD)
            shift = log_volumes[j] - log_volumes[0]
            ok &= bool(np.all(np.abs(np.log(ratio) - shift) <= tol))
    elif model.shape == "E":
        shapes = np.log(values) - log_volumes[:, None]
        ok &= bool(np.abs(shapes - shapes[0]).max() <= tol)
    elif model.orientation == "E":
        size = values[:, -1]
        for a in range(k):
            for b in range(a + 1, k):
                commutator = full[a] @ full[b] - full[b] @ full[a]
                ok &= bool(np.abs(commutator).max() <= tol * size[a] * size[b])
    if ok:
        return ""
    equal = [
        part
        for letter, part in zip(model.name, ("volumes", "shapes", "orientations"))
        if letter == "E"
    ]
    return "equal " + " and ".join(equal)


def _nearest_power_of_two(x):
    """The power of two nearest to ``x`` (on a log scale); 1 where x is 0 or not finite."""
    x = float(x)
    if not (math.isfinite(x) and x > 0):
        return 1.0
    mantissa, exponent = math.frexp(x)  # x = mantissa 2^exponent, 0.5 <= mantissa < 1
    if mantissa < math.sqrt(0.5):
        exponent -= 1
    return math.ldexp(1.0, min(max(exponent, -1000), 1000))


def _step_unit(nk, W, d):
    """The power of two nearest to the pooled variance ``sum_k tr(W_k) / (d sum_k n_k)``
    of the scatters ``W`` (full, diagonal or traces) with weights ``nk``."""
    total = float(nk.sum())
    trace = float(W.sum()) if W.ndim < 3 else float(np.einsum("kii->", W))
    return _nearest_power_of_two(trace / (total * d) if total > 0 else 1.0)


def _rescaled(step, factor):
    """A GPCMStep with its covariances and volumes multiplied by ``factor`` (shapes and
    orientations have no units)."""
    if factor == 1.0:
        return step
    return _gpcm.GPCMStep(
        step.model,
        None if step.covariances is None else step.covariances * factor,
        step.scale * factor,
        step.shape,
        step.orientation,
        step.n_iter,
        step.converged,
    )


def _select(step, keep):
    """A GPCMStep restricted to the components ``keep`` (a boolean mask)."""
    pick = (lambda a: a) if keep.all() else (lambda a: None if a is None else a[keep])
    return _gpcm.GPCMStep(
        step.model,
        pick(step.covariances),
        pick(step.scale),
        pick(step.shape),
        pick(step.orientation),
        step.n_iter,
        step.converged,
    )


def _fill(step, keep, equal):
    """A GPCMStep for all components from the step of the supported ones. A component without
    support gets NaN covariances (so the M-step re-seeds it), or the common covariance where
    all are equal; its warm-start parts are copied from a supported component."""
    if keep.all():
        return step
    donor = int(np.flatnonzero(keep)[0])
    src = np.cumsum(keep) - 1
    src[~keep] = src[donor]

    def spread(a):
        return None if a is None else a[src].copy()

    cov = spread(step.covariances)
    if not equal:
        cov[~keep] = np.nan
    return _gpcm.GPCMStep(
        step.model,
        cov,
        spread(step.scale),
        spread(step.shape),
        spread(step.orientation),
        step.n_iter,
        step.converged,
    )


def _gpcm_estimate(name):
    def estimate(stats, reg_covar, previous=None, *, warm_start=True, data_units=False, **options):
        # warm_start=False starts every step where mclust's mstep does (mclust's me does so
        # for VEE only); data_units=True steps in the data's own units, as mclust does (its
        # inner stopping points then depend on the units, see below)
        cap = "max_iter" not in options
        options = {"max_iter": INNER_MAX_ITER, **options}
        equal = get_model(name).equal_covariances
        keep = _usable(stats, reg_covar, _own_scatter_needs(name))
        if not keep.any():
            return _nan_step(name, stats)
        nk, W, d = stats.nk[keep], stats.scatter[keep], stats.n_features
        # The iterative steps stop by mclust's rules, |change| / (1 + |objective|), which
        # are relative only where the objective is well above 1: in the data's own units
        # (1e-3, or weights summing to 1e-10) they became absolute and stopped early, so the
        # fit depended on the units. They run on statistics in units where a row weighs
        # about 1 and the pooled variance is about 1 (powers of two: nothing is rounded, and
        # data already in such units are stepped exactly as mclust steps them)
        weight_unit = _nearest_power_of_two(stats.unit_weight)
        unit = _step_unit(nk, W, d)
        if data_units or name not in _gpcm.ITERATIVE:
            weight_unit = unit = 1.0
        start = _warm_start(previous, name, keep, d, unit) if warm_start else None
        if start is None and cap:
            # a cold step (the first, from a partition) starts far from its optimum: it runs
            # to mclust's inner tolerance, as mclust's does (cut at INNER_MAX_ITER it left
            # EVE on quakes' columns 56 log-likelihood units below mclust's fit from the
            # same partition); the warm steps after it take a few inner iterations each
            options["max_iter"] = _gpcm.DEFAULT_MAX_ITER
        try:
            step = _gpcm.m_step(
                name,
                nk / weight_unit,
                W / (weight_unit * unit),
                n_features=d,
                previous=start,
                reg_covar=reg_covar / unit,
                eps=stats.eps,
                **options,
            )
        except np.linalg.LinAlgError:
            return _nan_step(name, stats)
        return _fill(_rescaled(step, unit), keep, equal)

    estimate.__name__ = f"_{name.lower()}"
    return estimate


def _nan_step(name, stats):
    """No covariance could be estimated: all NaN, so that the M-step re-seeds every one."""
    k, d = stats.means.shape
    shape = {"spherical": (k,), "diagonal": (k, d), "full": (k, d, d)}[_gpcm.FORM[name]]
    orientation = np.tile(np.eye(d), (k, 1, 1)) if len(shape) == 3 else None
    return _gpcm.GPCMStep(
        name, np.full(shape, np.nan), np.ones(k), np.ones((k, d)), orientation, 0, False
    )


def _gpcm_map_estimate(name):
    def map_estimate(stats, between, prior, reg_covar, previous=None):
        # mclust's posterior mode (``_gpcm.map_m_step``), the prior's terms tempered by the
        # strength; ``between`` is recomputed there from the means.
        s = prior.strength
        scale = prior.scale_matrix
        if _gpcm.STATISTIC[name] != "full":
            scale = float(np.trace(scale)) / stats.n_features
        conjugate = _gpcm.ConjugatePrior(
            shrinkage=s * prior.kappa,
            mean=prior.mean - stats.shift,
            dof=s * prior.dof,
            scale=s * scale,
        )
        equal = get_model(name).equal_covariances
        # the prior makes every scatter non-singular; only components without rows stay out
        keep = _usable(stats, reg_covar, "nothing")
        scatter = stats.scatter
        if scatter.ndim == 1:
            # map_m_step wants diagonals (for d); a spherical step reads only their sum
            scatter = np.repeat(scatter[:, None] / stats.n_features, stats.n_features, axis=1)
        _, step = _gpcm.map_m_step(
            name,
            stats.nk[keep],
            stats.means[keep],
            scatter[keep],
            conjugate,
            reg_covar=reg_covar,
            eps=stats.eps,
        )
        return _fill(step, keep, equal)

    map_estimate.__name__ = f"_{name.lower()}_map"
    return map_estimate


def _gpcm_row(name):
    kernel = {"spherical": "spherical", "diagonal": "diag", "full": "full"}[_gpcm.FORM[name]]
    map_estimate = _gpcm_map_estimate(name) if name in _gpcm.PRIOR_MODELS else None
    return CovarianceModel(
        name, kernel, KERNELS[kernel].stats_kind, _gpcm_estimate(name), map_estimate
    )


# ---------------------------------------------------------------- the table
_SKLEARN_ROWS = {
    "VVV": CovarianceModel("VVV", "full", "full", _vvv, _vvv_map, alias="full"),
    "EEE": CovarianceModel("EEE", "tied", "pooled", _eee, _eee_map, alias="tied"),
    "VVI": CovarianceModel("VVI", "diag", "diag", _vvi, _vvi_map, alias="diag"),
    "VII": CovarianceModel("VII", "spherical", "trace", _vii, _vii_map, alias="spherical"),
}
# in mclust's order (``mclust.options("emModelNames")``)
_ROWS = tuple(_SKLEARN_ROWS.get(name) or _gpcm_row(name) for name in _gpcm.MODELS)

#: mclust names of the models in the table, in mclust's order.
MODEL_NAMES = tuple(row.name for row in _ROWS)
#: The models mclust fits when there are no more rows than columns (``Mclust``'s default then):
#: spherical and diagonal covariances.
FEW_ROWS_MODEL_NAMES = tuple(row.name for row in _ROWS if row.orientation == "I")
#: scikit-learn's covariance types, each an alias of a row.
SKLEARN_NAMES = tuple(row.alias for row in _SKLEARN_ROWS.values())
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
