"""Covariance M-step of the 14 Gaussian parsimonious clustering models of mclust.

Celeux & Govaert (1995) write a component covariance as ``Sigma_k = lambda_k D_k A_k D_k^T``:
volume ``lambda_k > 0``, shape ``A_k`` diagonal with ``det(A_k) = 1``, orientation ``D_k``
orthogonal. Each of the three letters of a model name says whether that part is Equal across
components, Variable, or the Identity (shape and orientation only). This module turns sufficient
statistics into the maximum-likelihood covariances of every model, as pure functions: per
component the weight ``n_k`` and the centred scatter ``W_k = sum_i r_ik (x_i - m_k)(x_i - m_k)^T``.

What each model needs of ``W_k`` and the form of its covariances:

=====  ===================  ==========  ===========================================
model  statistic            form        M-step
=====  ===================  ==========  ===========================================
EII    trace  (k,)          spherical   closed form
VII    trace  (k,)          spherical   closed form
EEI    diagonal (k, d)      diagonal    closed form
VEI    diagonal (k, d)      diagonal    fixed point (Celeux & Govaert 1995)
EVI    diagonal (k, d)      diagonal    closed form
VVI    diagonal (k, d)      diagonal    closed form
EEE    full (k, d, d)       full        closed form (only the sum over k is used)
VEE    full (k, d, d)       full        fixed point (Celeux & Govaert 1995)
EVE    full (k, d, d)       full        MM (Browne & McNicholas 2014)
VVE    full (k, d, d)       full        Flury-Gautschi (common principal components)
EEV    full (k, d, d)       full        closed form (eigen-decomposition of W_k)
VEV    full (k, d, d)       full        fixed point on eigenvalues of W_k
EVV    full (k, d, d)       full        closed form (eigen-decomposition of W_k)
VVV    full (k, d, d)       full        closed form
=====  ===================  ==========  ===========================================

The iterative steps follow mclust 6.0.0's Fortran (``msvei``, ``msvee``, ``mseve``, ``msvve``,
``msvev``) step for step, with its inner tolerance ``sqrt(eps)`` (``emControl()$tol[2]``), so
that from mclust's starting values they stop where mclust stops. Each starts from the previous
step's parameters when given them (``previous``, the warm start mclust's ``me`` uses too), and
none can decrease the expected complete-data log-likelihood ``Q``, except mclust's own VVE
orientation update (``vve_weights="mclust"``), which ignores the volumes; see :func:`m_step`.

VVE's maximum of Q is the common principal components (CPC) estimate of Flury (1984) on the
scatters (its volumes and shapes are one free diagonal per component), which the default
step computes with the Flury-Gautschi algorithm (:func:`_cpc_orientation`): Jacobi-like sweeps
of plane rotations, each a few NumPy calls for all components and d / 2 planes at once,
descending to a local maximum of Q from the previous orientation, as the MM updates of
Browne & McNicholas do. It mostly converges in a few sweeps where those creep (2,440 inner
iterations and 346 ms against 11 sweeps and 85 ms on wdbc's first 10 columns, k = 6, from the
identity; the same maximum to 1e-11), though not always (on wine's 13 columns a quarter of
the warm steps in a grid reach the 50-sweep cap).

EVE converges slowly (linearly; hundreds of inner iterations at k = d = 16, 0.15 to 0.2 ms
each). In an EM loop a warm-started step with a small ``max_iter`` is a generalised EM step:
Q still cannot decrease, so the log-likelihood stays monotone.

:func:`map_m_step` is the posterior-mode step under mclust's conjugate prior, for the ten
models mclust has one for (:data:`PRIOR_MODELS`); :func:`n_parameters` counts as mclust's
``nMclustParams``.

References
----------
Celeux, G. and Govaert, G. (1995). Gaussian parsimonious clustering models. Pattern Recognition
28(5), 781-793.
Browne, R. P. and McNicholas, P. D. (2014). Estimating common principal components in high
dimensions. Advances in Data Analysis and Classification 8, 217-226.
Flury, B. N. (1984). Common principal components in k groups. Journal of the American
Statistical Association 79, 892-898.
Flury, B. N. and Gautschi, W. (1986). An algorithm for simultaneous orthogonal transformation
of several positive definite symmetric matrices to nearly diagonal form. SIAM Journal on
Scientific and Statistical Computing 7, 169-184.
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ._covariance import _einsum

_EPS64 = float(np.finfo(np.float64).eps)

MODELS = (
    "EII",
    "VII",
    "EEI",
    "VEI",
    "EVI",
    "VVI",
    "EEE",
    "VEE",
    "EVE",
    "VVE",
    "EEV",
    "VEV",
    "EVV",
    "VVV",
)

#: What each model needs of the per-component scatter ``W_k``.
STATISTIC = {
    **dict.fromkeys(("EII", "VII"), "trace"),
    **dict.fromkeys(("EEI", "VEI", "EVI", "VVI"), "diagonal"),
    **dict.fromkeys(MODELS[6:], "full"),
}

#: The form of the covariances a model's M-step returns: (k,), (k, d) or (k, d, d).
FORM = {
    **dict.fromkeys(("EII", "VII"), "spherical"),
    **dict.fromkeys(("EEI", "VEI", "EVI", "VVI"), "diagonal"),
    **dict.fromkeys(MODELS[6:], "full"),
}

#: Models whose M-step iterates (the others are closed form).
ITERATIVE = frozenset(("VEI", "VEE", "EVE", "VVE", "VEV"))

#: mclust's inner-iteration tolerance, ``emControl()$tol[2] = sqrt(.Machine$double.eps)``.
DEFAULT_TOL = float(np.sqrt(np.finfo(np.float64).eps))

#: Inner-iteration limit. mclust's ``emControl()$itmax[2]`` is ``.Machine$integer.max``, i.e.
#: none; this bound is never reached on mclust's test tables (at most 271 iterations, EVE/VVE
#: from the identity) and keeps one M-step's cost bounded.
DEFAULT_MAX_ITER = 1000

_RANK = {"trace": 0, "diagonal": 1, "full": 2}


@dataclass(frozen=True)
class GPCMStep:
    """The result of one covariance M-step, and its warm start for the next.

    Attributes
    ----------
    model : str
        mclust model name.
    covariances : ndarray
        ``(k,)`` variances (spherical models), ``(k, d)`` diagonals (diagonal models) or
        ``(k, d, d)`` matrices (full models).
    scale : ndarray of shape (k,)
        Volumes ``lambda_k`` (equal entries for models with equal volume); ``Sigma_k =
        scale_k D_k diag(shape_k) D_k^T``.
    shape : ndarray of shape (k, d)
        Diagonals of ``A_k``, each with product 1, ordered as the columns of ``orientation``.
    orientation : ndarray of shape (k, d, d) or None
        ``D_k`` (orthogonal, directions in columns) for full models; None otherwise
        (the coordinate axes).
    n_iter : int
        Inner iterations taken (0 for closed-form models).
    converged : bool
        Whether the inner iterations met the tolerance (True for closed-form models).
    """

    model: str
    covariances: np.ndarray
    scale: np.ndarray
    shape: np.ndarray
    orientation: np.ndarray | None
    n_iter: int = 0
    converged: bool = True


def m_step(
    model,
    nk,
    scatter,
    *,
    n_features=None,
    previous=None,
    reg_covar=0.0,
    tol=DEFAULT_TOL,
    max_iter=DEFAULT_MAX_ITER,
    vve_weights="volume",
    eps=_EPS64,
):
    """Maximum-likelihood covariances of a Gaussian parsimonious clustering model.

    Parameters
    ----------
    model : str
        One of :data:`MODELS` (mclust's names).
    nk : array-like of shape (k,)
        Component weights ``n_k = sum_i r_ik``, all positive.
    scatter : array-like of shape (k, d, d), (k, d) or (k,)
        Centred scatter ``W_k`` per component, or its diagonals, or its traces; at least the
        statistic :data:`STATISTIC` names for the model (a fuller one is reduced).
    n_features : int, optional
        ``d``; needed only when ``scatter`` is given as traces.
    previous : GPCMStep, optional
        The previous M-step of the same model and sizes. Iterative models start from it (mclust's
        ``me`` warm start); without it they start where mclust's ``mstep`` does.
    reg_covar : float, default=0.0
        Added to the diagonal of every ``W_k / n_k`` before the step, so the model's
        constraints still hold exactly (for VVV, VVI, VII and EEE this is scikit-learn's
        ``reg_covar``).
    tol : float, default=sqrt(eps)
        Inner-iteration tolerance, mclust's: relative change of the parameters (VEI, VEV) or
        of the objective (VEE, EVE, VVE).
    max_iter : int, default=1000
        Inner-iteration limit.
    vve_weights : {"volume", "mclust"}, default="volume"
        VVE's orientation update. ``"volume"``: a maximum of Q over the orientation (local,
        from the previous one), the common principal components of the scatters with each
        component weighted by its rows (:func:`_cpc_orientation`, Flury-Gautschi; never
        decreases Q). ``"mclust"`` reproduces mclust 6.0.0's ``msvve``/``mevve``, which leave
        the volumes out of that update: its fixed point is not the VVE maximum likelihood
        when the volumes differ, and a step can decrease Q.
    eps : float, default=float64's machine epsilon
        The relative rounding of the arithmetic the scatter was accumulated in (float32's for
        float32 data): EEV and VEV treat eigenvalues of a component's scatter this close to
        its smallest as a null space (see :func:`_settle_null_spaces`).

    Returns
    -------
    GPCMStep
        Covariances in the model's :data:`FORM`, their decomposition and the warm start.

    Examples
    --------
    >>> import numpy as np
    >>> W = np.array([[[2.0, 0.5], [0.5, 1.0]], [[1.0, 0.0], [0.0, 3.0]]])
    >>> step = m_step("EEE", np.array([2.0, 2.0]), W)
    >>> step.covariances[0]
    array([[0.75 , 0.125],
           [0.125, 1.   ]])
    """
    if model not in FORM:
        raise ValueError(f"Unknown model {model!r}; expected one of {', '.join(MODELS)}.")
    if vve_weights not in ("volume", "mclust"):
        raise ValueError(f"vve_weights must be 'volume' or 'mclust', got {vve_weights!r}.")
    nk = np.asarray(nk, dtype=np.float64)
    scatter = np.asarray(scatter, dtype=np.float64)
    if scatter.ndim >= 2:
        d = scatter.shape[1]
    elif n_features is None:
        raise ValueError("n_features is needed when the scatter is given as traces (k,).")
    else:
        d = int(n_features)
    W = _reduce(_regularised(scatter, nk, reg_covar, d), STATISTIC[model], model)
    if nk.ndim != 1 or W.shape[0] != nk.shape[0]:
        raise ValueError(
            f"nk has shape {nk.shape} but scatter has {W.shape[0]} components; "
            "expected nk of shape (k,)."
        )
    if not np.all(nk > 0):
        raise ValueError(f"Every component weight nk must be positive; got {nk}.")
    if previous is not None and (
        previous.model != model or previous.shape.shape != (nk.shape[0], d)
    ):
        raise ValueError(
            f"previous is a {previous.model} step with shape "
            f"{previous.shape.shape}; expected a {model} step with shape "
            f"{(nk.shape[0], d)}."
        )
    if FORM[model] == "spherical":
        return _SPHERICAL[model](W, nk, d)
    if model == "VVE":
        return _vve(W, nk, previous, tol, max_iter, vve_weights == "volume")
    if model == "VEV":
        return _vev(W, nk, previous, tol, max_iter, eps)
    if model == "EEV":
        return _eev(W, nk, eps)
    if model in ITERATIVE:
        return _ITERATIVE[model](W, nk, previous, tol, max_iter)
    return _CLOSED[model](W, nk)


#: Models mclust has a conjugate prior for (``mstep`` with ``prior = priorControl()``); its
#: VEE, EVE, VVE and EVV M-steps warn "not available with prior" and ignore the prior.
PRIOR_MODELS = ("EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE", "EEV", "VEV", "VVV")


@dataclass(frozen=True)
class ConjugatePrior:
    """mclust's conjugate prior (Fraley & Raftery 2007; ``priorControl()``, ``defaultPrior``).

    Means: normal, centred on ``mean``, with precision ``shrinkage`` times the component's;
    covariances: inverse Wishart (full models) or inverse gamma (spherical and diagonal ones)
    with ``dof`` degrees of freedom and scale ``scale`` ((d, d) for full models, a number
    otherwise).
    """

    shrinkage: float
    mean: np.ndarray
    dof: float
    scale: np.ndarray | float


def map_m_step(model, nk, means, scatter, prior, *, reg_covar=0.0, eps=_EPS64):
    """Posterior-mode means and covariances under mclust's conjugate prior.

    Equal to mclust 6.0.0's ``mstep(modelName, data, z, prior = priorControl())`` for the
    models of :data:`PRIOR_MODELS` (given the same hyperparameters), including where mclust's
    Fortran departs from the textbook posterior mode (Fraley & Raftery 2007):

    * EII (``mseiip``): the prior scale is left out, and the scatter is taken about the
      posterior means;
    * EEI (``mseeip``): the means are not shrunk (the weighted means are returned);
    * EEV (``mseevp``): a positive shrinkage is set to zero (``if (pshrnk .gt. zero) pshrnk =
      zero``), so neither means nor scatter see the prior mean;
    * VEV (``msvevp``): the degrees of freedom are left out of the denominators.

    The prior enters as augmented statistics for the maximum-likelihood step: the scatter
    gains the prior scale and ``c_k (m_k - mean)(m_k - mean)^T``, ``c_k = shrinkage n_k /
    (n_k + shrinkage)``, and each weight its share of mclust's denominator.

    Parameters
    ----------
    model : str
        One of :data:`PRIOR_MODELS`.
    nk : array-like of shape (k,)
        Component weights.
    means : array-like of shape (k, d)
        Weighted means of the components.
    scatter : array-like of shape (k, d, d) or (k, d)
        Centred scatter per component (at least the statistic :data:`STATISTIC` names; the
        diagonal for spherical models too, since the prior needs d).
    prior : ConjugatePrior
        Hyperparameters.
    reg_covar : float, default=0.0
        As in :func:`m_step`, added after the prior.
    eps : float, default=float64's machine epsilon
        As in :func:`m_step`: the relative rounding of the arithmetic the scatter was
        accumulated in (EEV's and VEV's null spaces are told at that resolution).

    Returns
    -------
    posterior_means : ndarray of shape (k, d)
        ``(n_k m_k + shrinkage mean) / (n_k + shrinkage)``.
    step : GPCMStep
        The covariances.
    """
    if model not in FORM:
        raise ValueError(f"Unknown model {model!r}; expected one of {', '.join(MODELS)}.")
    if model not in PRIOR_MODELS:
        raise ValueError(
            f"mclust has no conjugate prior for model {model!r}; models with one: "
            f"{', '.join(PRIOR_MODELS)}."
        )
    nk = np.asarray(nk, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    scatter = np.asarray(scatter, dtype=np.float64)
    k, d = means.shape
    kappa = 0.0 if model == "EEV" else float(prior.shrinkage)
    nu = float(prior.dof)
    delta = means - np.asarray(prior.mean, dtype=np.float64)
    c = kappa * nk / (nk + kappa)
    posterior_means = (nk[:, None] * means + kappa * np.asarray(prior.mean)) / (nk + kappa)[:, None]
    s = 1.0 if kappa > 0 else 0.0
    scale = np.asarray(prior.scale, dtype=np.float64)
    if STATISTIC[model] == "full":
        W = _reduce(scatter, "full", model) + c[:, None, None] * (
            delta[:, :, None] * delta[:, None, :]
        )
    else:
        W = _reduce(scatter, "diagonal", model) + c[:, None] * delta**2
    # mclust's denominators as augmented weights; a shared covariance's prior scale is spread
    # over the k components (it is added once to the summed scatter).
    share, n_aug = {
        "VVV": (1, nk + nu + d + 1 + s),
        "EEE": (1 / k, nk + (nu + d + 1) / k + s),
        "EEV": (1, nk + (nu + d + 1) / k),
        "VEV": (1, nk),
        "VVI": (1, nk + nu + 2 + s),
        "VEI": (1, nk + (nu + 2 + s) / d),
        "EVI": (1, nk + (nu + 2) / k + s),
        "EEI": (1 / k, nk + (nu + 2) / k + s),
        "VII": (1 / d, nk + (nu + 2) / d + s),
        "EII": (0, nk + (nu + 2) / (k * d) + s),
    }[model]
    W = W + share * scale
    if model == "EII":
        W = W + (nk * np.sum((means - posterior_means) ** 2, axis=1) / d)[:, None]
    if model == "EEI":
        posterior_means = means
    return posterior_means, m_step(model, n_aug, W, reg_covar=reg_covar, eps=eps)


def n_covariance_parameters(model, k, d):
    """Free parameters of the covariances of a ``k``-component model in ``d`` dimensions.

    Equal to mclust's ``nVarParams(modelName, d, G)`` (for ``d = 1`` every model reduces to
    mclust's ``"E"`` or ``"V"`` by its first letter).
    """
    if model not in FORM:
        raise ValueError(f"Unknown model {model!r}; expected one of {', '.join(MODELS)}.")
    volume = 1 if model[0] == "E" else k
    shape = {"I": 0, "E": d - 1, "V": k * (d - 1)}[model[1]]
    orientation = {"I": 0, "E": d * (d - 1) // 2, "V": k * d * (d - 1) // 2}[model[2]]
    return volume + shape + orientation


def n_parameters(model, k, d):
    """Free parameters of a ``k``-component model: covariances, ``k d`` means, ``k - 1`` weights.

    Equal to mclust's ``nMclustParams(modelName, d, G)`` (no noise component, unequal weights).
    """
    return n_covariance_parameters(model, k, d) + k * d + k - 1


def full_covariances(step):
    """The ``(k, d, d)`` covariance matrices of a :class:`GPCMStep`, whatever its form."""
    cov = step.covariances
    k, d = step.shape.shape
    if cov.ndim == 3:
        return cov
    diagonals = cov if cov.ndim == 2 else np.repeat(cov[:, None], d, axis=1)
    full = np.zeros((k, d, d))
    full[:, np.arange(d), np.arange(d)] = diagonals
    return full


# --- statistics -------------------------------------------------------------------------------


def _regularised(W, nk, reg_covar, d):
    if reg_covar == 0:
        return W
    if W.ndim == 3:
        return W + (reg_covar * nk)[:, None, None] * np.eye(d)
    if W.ndim == 2:
        return W + (reg_covar * nk)[:, None]
    return W + reg_covar * nk * d


def _reduce(W, statistic, model):
    """The statistic a model needs, from the same or a fuller one."""
    have = {1: "trace", 2: "diagonal", 3: "full"}.get(W.ndim)
    if have is None or _RANK[have] < _RANK[statistic]:
        shapes = {"trace": "(k,)", "diagonal": "(k, d)", "full": "(k, d, d)"}
        raise ValueError(
            f"Model {model!r} needs the {statistic} scatter {shapes[statistic]}; "
            f"got an array of shape {W.shape}."
        )
    if have == "full" and W.shape[1] != W.shape[2]:
        raise ValueError(f"A full scatter must have shape (k, d, d); got {W.shape}.")
    if statistic == have:
        return W
    diagonal = np.diagonal(W, axis1=1, axis2=2) if have == "full" else W
    return diagonal if statistic == "diagonal" else diagonal.sum(axis=1)


def _geomean(a, axis=-1):
    # the sum over the count is np.mean's own arithmetic (the same pairwise sum, one
    # division), without its Python-level wrapper: this runs several times per inner step
    return np.exp(np.add.reduce(np.log(a), axis=axis) / a.shape[axis])


def _eigh_descending(W):
    """Eigenvalues (decreasing) and eigenvectors of a batch of symmetric matrices."""
    values, vectors = np.linalg.eigh(W)
    return values[..., ::-1], vectors[..., ::-1]


def _settle_null_spaces(values, vectors, W, eps=_EPS64):
    """The orientations of EEV and VEV, with a canonical basis in each scatter's null space.

    ``values``, ``vectors``: ``_eigh_descending(W)``. A component of at most d rows has a
    scatter W_k whose null space (eigenvalues equal to ``reg_covar n_k``, or zero, to
    rounding) has no basis of its own: eigh returns one chosen by the last bits of W_k. With
    a common shape each of its directions is paired with a different entry of A, so that
    choice set the next E-step, and EM's path and end changed with the data's units (VEV on
    mtcars' five columns, k = 5: 15 log-likelihood units). Q is the same for every basis of
    that space; this one takes the eigenvectors of the pooled scatter restricted to it,
    smallest first (the larger shape entry goes where the other components spread least, so
    the small component overlaps them least): a function of the space and the data only,
    continuous in both (but where the pooled scatter ties there too), and unchanged by
    rescaling or rotating the data. The order is a heuristic: largest first ended that
    mtcars fit at -391.30 in every unit, smallest first at mclust's -376.04. Full-rank
    scatters keep eigh's vectors.
    """
    d = values.shape[-1]
    # the null eigenvalues of a computed scatter are within ~0.1 eps of each other (relative
    # to the largest), eps that of the arithmetic the scatter was accumulated in; the
    # threshold is the one for singular scatter in _models._usable
    close = values - values[:, -1:] <= 64 * d * eps * values[:, :1]
    size = close.sum(axis=1)
    if not np.any(size >= 2):
        return vectors
    pooled = W.sum(axis=0)
    if not np.all(np.isfinite(pooled)):  # (a scatter that overflowed: nothing to settle)
        return vectors
    vectors = vectors.copy()
    for k in np.flatnonzero(size >= 2):
        null = vectors[k, :, d - size[k] :]
        restricted = null.T @ pooled @ null
        vectors[k, :, d - size[k] :] = null @ np.linalg.eigh((restricted + restricted.T) / 2)[1]
    return vectors


def _compose(scale, shape, orientation):
    """``scale_k D_k diag(shape_k) D_k^T`` for all k at once."""
    return scale[:, None, None] * (
        (orientation * shape[:, None, :]) @ np.swapaxes(orientation, -1, -2)
    )


def _full_step(model, scale, shape, orientation, n_iter=0, converged=True):
    cov = _compose(scale, shape, orientation)
    # Symmetric to the last bit: later Cholesky factorisations and equality tests rely on it.
    cov = (cov + np.swapaxes(cov, -1, -2)) / 2
    return GPCMStep(model, cov, scale, shape, orientation, n_iter, converged)


# --- closed forms -----------------------------------------------------------------------------


def _eii(t, nk, d):
    variance = np.full(nk.shape[0], t.sum() / (nk.sum() * d))
    return GPCMStep("EII", variance, variance.copy(), np.ones((nk.shape[0], d)), None)


def _vii(t, nk, d):
    variance = t / (nk * d)
    return GPCMStep("VII", variance, variance.copy(), np.ones((nk.shape[0], d)), None)


def _eei(w, nk):
    B = w.sum(axis=0) / nk.sum()
    scale = _geomean(B)
    k = nk.shape[0]
    return _diagonal_step("EEI", np.full(k, scale), np.tile(B / scale, (k, 1)))


def _evi(w, nk):
    g = _geomean(w)
    scale = g.sum() / nk.sum()
    return _diagonal_step("EVI", np.full(nk.shape[0], scale), w / g[:, None])


def _vvi(w, nk):
    B = w / nk[:, None]
    scale = _geomean(B)
    return _diagonal_step("VVI", scale, B / scale[:, None])


def _diagonal_step(model, scale, shape, n_iter=0, converged=True):
    return GPCMStep(model, scale[:, None] * shape, scale, shape, None, n_iter, converged)


def _eee(W, nk):
    k = nk.shape[0]
    values, vectors = _eigh_descending(W.sum(axis=0) / nk.sum())
    scale = _geomean(values)
    return _full_step(
        "EEE", np.full(k, scale), np.tile(values / scale, (k, 1)), np.tile(vectors, (k, 1, 1))
    )


def _eev(W, nk, eps=_EPS64):
    # D_k: eigenvectors of W_k; A and lambda from the summed (ordered) eigenvalues.
    values, vectors = _eigh_descending(W)
    vectors = _settle_null_spaces(values, vectors, W, eps)
    total = values.sum(axis=0)
    g = _geomean(total)
    k = nk.shape[0]
    return _full_step("EEV", np.full(k, g / nk.sum()), np.tile(total / g, (k, 1)), vectors)


def _evv(W, nk):
    values, vectors = _eigh_descending(W)
    g = _geomean(values)
    return _full_step("EVV", np.full(nk.shape[0], g.sum() / nk.sum()), values / g[:, None], vectors)


def _vvv(W, nk):
    values, vectors = _eigh_descending(W / nk[:, None, None])
    g = _geomean(values)
    step = _full_step("VVV", g, values / g[:, None], vectors)
    # The covariances themselves, not their recomposition: VVV is exactly W_k / n_k.
    cov = W / nk[:, None, None]
    return GPCMStep(
        "VVV", (cov + np.swapaxes(cov, -1, -2)) / 2, step.scale, step.shape, step.orientation
    )


# --- iterative steps --------------------------------------------------------------------------


def _alternate_volume_shape(w, nk, shape, scale, tol, max_iter):
    """Common shape, variable volumes, for per-component diagonal statistics ``w`` (k, d).

    mclust's ``msvei`` / ``msvev`` fixed point: lambda_k = sum_j w_kj / a_j / (d n_k), then
    a = sum_k w_k / lambda_k normalised to det 1. Convex in the log-parameters, so it converges
    to the one maximum from any start; stops on the relative change of all parameters.
    """
    d = w.shape[1]
    n_iter, converged = 0, False
    while n_iter < max_iter:
        n_iter += 1
        # (the reductions as ufunc calls: ndarray.sum's and np.max's wrappers cost more
        # than the arithmetic of an inner iteration)
        new_scale = np.add.reduce(w / shape, axis=1) / (d * nk)
        new_shape = np.add.reduce(w / new_scale[:, None], axis=0)
        new_shape /= _geomean(new_shape)
        err = max(
            np.maximum.reduce(np.abs(new_scale - scale) / (1 + new_scale)),
            np.maximum.reduce(np.abs(new_shape - shape) / (1 + new_shape)),
        )
        scale, shape = new_scale, new_shape
        if err <= tol:
            converged = True
            break
    return scale, shape, n_iter, converged


def _vei(w, nk, previous, tol, max_iter):
    k, d = w.shape
    if previous is None:
        shape, scale = np.ones(d), np.ones(k)
    else:
        shape, scale = previous.shape[0], previous.scale
    scale, shape, n_iter, converged = _alternate_volume_shape(w, nk, shape, scale, tol, max_iter)
    return _diagonal_step("VEI", scale, np.tile(shape, (k, 1)), n_iter, converged)


def _vev(W, nk, previous, tol, max_iter, eps=_EPS64):
    # With a common shape the orientations are the eigenvectors of each W_k, paired with the
    # shape in decreasing order; only volumes and shape iterate, on the eigenvalues.
    values, vectors = _eigh_descending(W)
    vectors = _settle_null_spaces(values, vectors, W, eps)
    k = values.shape[0]
    if previous is None:
        total = values.sum(axis=0)
        g = _geomean(total)
        shape, scale = total / g, g / (nk * nk.sum())  # mclust's start
    else:
        # Decreasing, to pair with the decreasing eigenvalues: the best pairing for any shape
        # (von Neumann), so the first step already cannot lower Q.
        shape, scale = np.sort(previous.shape[0])[::-1], previous.scale
    scale, shape, n_iter, converged = _alternate_volume_shape(
        values, nk, shape, scale, tol, max_iter
    )
    return _full_step("VEV", scale, np.tile(shape, (k, 1)), vectors, n_iter, converged)


def _vee(W, nk, previous, tol, max_iter):
    """mclust's ``msvee``: C = sum_k W_k / lambda_k with det 1, lambda_k = tr(W_k C^-1)/(d n_k)."""
    k, d = W.shape[:2]
    scale = np.ones(k) if previous is None else previous.scale.copy()
    target_prev = np.inf
    n_iter, converged = 0, False
    while n_iter < max_iter:
        n_iter += 1
        C = np.tensordot(1 / scale, W, axes=1)
        C /= _geomean(np.linalg.eigvalsh(C))
        C_inv = np.linalg.inv(C)  # d x d, once per inner iteration; never per row
        scale = _einsum("kij,ji->k", W, C_inv) / (d * nk)
        target = np.add.reduce(nk) * d + d * np.add.reduce(nk * np.log(scale))
        err = abs(target - target_prev) / (1 + abs(target))
        target_prev = target
        if err <= tol:
            converged = True
            break
    values, vectors = _eigh_descending((C + C.T) / 2)
    values /= _geomean(values)
    return _full_step(
        "VEE", scale, np.tile(values, (k, 1)), np.tile(vectors, (k, 1, 1)), n_iter, converged
    )


class _Stacked:
    """The scatters laid out for the orientation updates: one matrix product per update.

    ``vertical`` (k d, d) stacks the W_k; ``horizontal`` (d, k d) puts them side by side
    (W_k is symmetric); ``shifted`` (d, k d) puts the W_k - omega_k I side by side, omega_k
    the largest eigenvalue of W_k.
    """

    def __init__(self, W):
        k, d = W.shape[:2]
        self.k, self.d = k, d
        self.vertical = W.reshape(k * d, d)
        self.horizontal = np.ascontiguousarray(np.swapaxes(W, 0, 1).reshape(d, k * d))
        omega = np.linalg.eigvalsh(W)[:, -1]
        shifted = W - omega[:, None, None] * np.eye(d)
        self.shifted = np.ascontiguousarray(np.swapaxes(shifted, 0, 1).reshape(d, k * d))

    def rotated_diagonals(self, D):
        """diag(D^T W_k D) for all k: (k, d)."""
        WD = (self.vertical @ D).reshape(self.k, self.d, self.d)
        return np.einsum("ji,kji->ki", D, WD)


def _common_orientation_mm(stacked, D, B):
    """Two MM updates (Browne & McNicholas 2014) of the common orientation D (EVE's, and
    VVE's as mclust steps it).

    Decreases ``sum_k tr(W_k D diag(B_k) D^T)`` over orthogonal D, where ``B_k`` (k, d) are
    the inverse shapes (times the inverse volumes where those vary). The first update
    majorises W_k by its largest eigenvalue omega_k, the second diag(B_k) by its largest
    entry, as mclust's ``mseve`` does.
    """
    k, d = stacked.k, stacked.d
    # MM 1: F = sum_k diag(B_k) D^T (W_k - omega_k I); D = R P^T for F = P S R^T.
    G = (D.T @ stacked.shifted).reshape(d, k, d)  # G[i, k] = row i of D^T (W_k - omega_k)
    F = (B.T[:, None, :] @ G)[:, 0, :]
    P, _, Rt = np.linalg.svd(F)
    D = Rt.T @ P.T
    # MM 2: F = sum_k W_k D (diag(B_k) - max(B_k) I); D = P R^T.
    C = B - B.max(axis=1, keepdims=True)
    F = stacked.horizontal @ (D[None] * C[:, None, :]).reshape(k * d, d)
    P, _, Rt = np.linalg.svd(F)
    return P @ Rt


def _one_component_orientation(W):
    """For one component, the eigenvectors of its scatter (decreasing): the common
    orientation's maximum itself, which the MM updates only creep towards (hundreds of EM
    passes for wine's 13 columns); None for more components."""
    return _eigh_descending(W[0])[1] if W.shape[0] == 1 else None


def _eve(W, nk, previous, tol, max_iter):
    """mclust's ``mseve``: common volume and orientation, variable shapes."""
    k, d = W.shape[:2]
    stacked = _Stacked(W)
    if previous is None:
        D, shape = np.eye(d), np.ones((k, d))
    else:
        D, shape = previous.orientation[0], previous.shape
    target_prev = np.inf
    n_iter, converged = 0, False
    one = _one_component_orientation(W)  # (then the maximum at once)
    while n_iter < max_iter:
        n_iter += 1
        D = _common_orientation_mm(stacked, D, 1 / shape) if one is None else one
        diagonals = stacked.rotated_diagonals(D)
        shape = diagonals / _geomean(diagonals)[:, None]
        target = np.add.reduce(diagonals / shape, axis=None)
        err = abs(target - target_prev) / (1 + abs(target))
        target_prev = target
        if err <= tol:
            converged = True
            break
    scale = np.full(k, target / (nk.sum() * d))
    return _full_step("EVE", scale, shape, np.tile(D, (k, 1, 1)), n_iter, converged)


def _vve(W, nk, previous, tol, max_iter, volume_weighted):
    """Variable volumes and shapes, common orientation (mclust's ``msvve``; with
    ``volume_weighted``, Q's own stationary point: see :func:`_cpc_orientation`)."""
    k, d = W.shape[:2]
    one = _one_component_orientation(W)  # (then the maximum at once)
    if volume_weighted:
        D = np.eye(d) if previous is None else previous.orientation[0]
        if one is None:
            D, n_iter, converged = _cpc_orientation(W, nk, D, tol, max_iter)
        else:
            D, n_iter, converged = one, 1, True
        diagonals = _rotated_diagonals(W, D) / nk[:, None]
        scale = _geomean(diagonals)
        return _full_step(
            "VVE", scale, diagonals / scale[:, None], np.tile(D, (k, 1, 1)), n_iter, converged
        )
    stacked = _Stacked(W)
    if previous is None:
        D, shape, scale = np.eye(d), np.ones((k, d)), np.ones(k)
    else:
        D, shape, scale = previous.orientation[0], previous.shape, previous.scale
    target_prev = np.inf
    n_iter, converged = 0, False
    while n_iter < max_iter:
        n_iter += 1
        D = _common_orientation_mm(stacked, D, 1 / shape) if one is None else one
        diagonals = stacked.rotated_diagonals(D) / nk[:, None]
        scale = _geomean(diagonals)
        shape = diagonals / scale[:, None]
        # mclust's objective, sum_k n_k lambda_k d, is what decides convergence
        target = np.add.reduce(nk * scale) * d
        err = abs(target - target_prev) / (1 + abs(target))
        target_prev = target
        if err <= tol:
            converged = True
            break
    return _full_step("VVE", scale, shape, np.tile(D, (k, 1, 1)), n_iter, converged)


def _rotated_diagonals(W, D):
    """diag(D^T W_k D) for all k: (k, d)."""
    return _einsum("ji,kji->ki", D, W @ D)


@lru_cache(maxsize=64)
def _rounds(d):
    """The planes (i, j) of d coordinates in d - 1 rounds (d rounds if d is odd) of disjoint
    pairs, every pair once: the circle method's schedule (none for d = 1). Read-only index
    arrays."""
    m = d + d % 2
    seats = list(range(m))
    rounds = []
    for _ in range(m - 1):
        pairs = sorted(
            (min(a, b), max(a, b))
            for a, b in zip(seats[: m // 2], reversed(seats[m // 2 :]))
            if a < d and b < d
        )
        if pairs:  # (none for d = 1: its one coordinate's partner is the empty seat)
            i, j = (np.array(side, dtype=np.intp) for side in zip(*pairs))
            i.flags.writeable = j.flags.writeable = False
            rounds.append((i, j))
        seats = [seats[0], seats[-1], *seats[1:-1]]
    return tuple(rounds)


def _cpc_orientation(W, nk, D, tol, max_iter):
    """VVE's common orientation, from ``D``: ``(D, sweeps, converged)``.

    With a free diagonal per component, Q's maximum over the orientation minimises
    ``sum_k n_k log det diag(D^T S_k D)`` (S_k = W_k / n_k), the common principal components
    of Flury (1984). The Flury-Gautschi (1986) algorithm sweeps over the planes of pairs of
    columns of D: in each, the G-step rotates the pair to the eigenvectors of
    ``sum_k n_k (d1 - d2) / (d1 d2) T_k`` (T_k the pair's 2 x 2 block of D^T S_k D, d1 and d2
    its diagonal), taking the rotation nearest the current pair (the objective does not
    change when the two swap). One G-step per plane and sweep: the sweeps converge (to a
    local minimum, as any descent from ``D``; a plane where every a_k = e_k is stationary
    and is left as it is, as the MM updates leave it), and the pairs of a round are
    disjoint, so each round is a few NumPy calls for all of them and all components. The
    sweeps stop by mclust's inner rule on the objective (relative change at most ``tol``)
    or after ``max_iter`` sweeps, and where the objective is not finite (a scatter singular
    without regularisation: a rotation can reach its null space, -inf; the M-step then finds
    that covariance singular and re-seeds the component); the result is the start ``D``
    wherever the sweeps did not lower the objective (a step of EM never lowers Q).
    """
    d = W.shape[1]

    def objective(D):
        return float(np.add.reduce(nk * np.add.reduce(np.log(_rotated_diagonals(W, D)), axis=1)))

    start = D
    D = np.array(D, dtype=np.float64)
    with np.errstate(all="ignore"):
        first = target_prev = objective(D)
        n_iter, converged = 0, False
        if not np.isfinite(first):
            return D, n_iter, converged
        while n_iter < max_iter:
            n_iter += 1
            for i, j in _rounds(d):
                Di, Dj = D[:, i], D[:, j]
                WDj = W @ Dj
                a = _einsum("dp,kdp->kp", Di, W @ Di)
                e = _einsum("dp,kdp->kp", Dj, WDj)
                b = _einsum("dp,kdp->kp", Di, WDj)
                # the G-step from the pair as it is: T = sum_k w_k T_k, w_k = n_k (a - e) / (a e)
                # on the blocks of W_k (the same T as on those of S_k = W_k / n_k)
                w = nk[:, None] * (a - e) / (a * e)
                t11 = np.add.reduce(w * a, axis=0)
                t22 = np.add.reduce(w * e, axis=0)
                t12 = np.add.reduce(w * b, axis=0)
                # the eigenvector nearest the pair: the angle of the other one is theta +- pi/2,
                # so the nearer is theta taken into [-pi/4, pi/4]
                theta = 0.5 * np.arctan2(2 * t12, t11 - t22)
                theta -= np.pi / 2 * np.round(theta / (np.pi / 2))
                theta = np.where(np.isfinite(theta), theta, 0.0)
                c, s = np.cos(theta), np.sin(theta)
                D[:, i], D[:, j] = Di * c + Dj * s, Dj * c - Di * s
            target = objective(D)
            err = abs(target - target_prev) / (1 + abs(target))
            target_prev = target
            if err <= tol:
                converged = True
                break
            if not np.isfinite(target):
                break
    if not target_prev <= first:  # (nan fails too)
        return np.array(start, dtype=np.float64), n_iter, converged
    return D, n_iter, converged


# (VVE, VEV and EEV are called by m_step itself: they take more than these signatures)
_ITERATIVE = {"VEI": _vei, "VEE": _vee, "EVE": _eve}
_SPHERICAL = {"EII": _eii, "VII": _vii}
_CLOSED = {
    "EEI": _eei,
    "EVI": _evi,
    "VVI": _vvi,
    "EEE": _eee,
    "EVV": _evv,
    "VVV": _vvv,
}
