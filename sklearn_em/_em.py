"""The EM loop, written once: init -> (E-step fused with statistics, M-step)* -> result.

Pure functions over arrays and parameter values; nothing here touches an estimator. The
M-step sees the statistics of a pass (``_stats.SufficientStats``), the model row, the previous
parameters and its settings -- never the data.
"""

import math
import warnings
from dataclasses import dataclass, field, replace

import numpy as np

from ._accel import _converged, run_squarem
from ._gpcm import PRIOR_MODELS, GPCMStep
from ._kernels import PreparedRows, accumulate, data_statistics
from ._models import get_model
from ._params import GaussianMixtureParams
from ._stats import OUTER, SUPPORT_FRACTION

_EPS = np.finfo(np.float64).eps


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
        """The data-scaled defaults (mclust's ``defaultPrior``): the data's mean, kappa =
        0.01, dof = d + 2, and the data's covariance (divisor n - 1, as R's ``var``; its mean
        variance where the kernel stores no matrices: 'diag' and 'spherical') / k^(2/d);
        :meth:`from_data_statistics` of X's statistics."""
        data_stats = data_statistics(X, sample_weight, covariance_type)
        return cls.from_data_statistics(data_stats, n_components, strength)

    @classmethod
    def from_data_statistics(cls, data_stats, n_components, strength):
        """The same defaults from the data's statistics (``_kernels.data_statistics``),
        for data that are not in memory: no pass of their own."""
        d = data_stats.n_features
        # mclust's var(data): the divisor n - 1; with weights the total weight less one row
        # of weight 1 (frequency weights: a row of weight 2 counts twice), or less an average
        # row's weight where that is below 1 (weights summing to about 1: no divisor near 0)
        total = float(data_stats.nk[0])
        divisor = total - min(1.0, data_stats.unit_weight)
        cov = data_stats.scatter[0] / (divisor if divisor > 0 else total)
        if data_stats.kind != "full":  # the mean variance: of the diagonal, or trace / d
            cov = np.eye(d) * (cov.mean() if data_stats.kind == "diag" else cov / d)
        scale = cov / n_components ** (2.0 / d)
        mean = data_stats.means[0] + data_stats.shift
        return cls(mean, 0.01, d + 2.0, scale, float(strength))


def variance_floor(model, reg_covar, prior, total, n_components, n_features):
    """A lower bound of every variance the M-step makes: what a pass judges its statistics'
    resolution against (``_kernels.accumulate``; a scatter far below it need not be
    resolved).

    ``reg_covar`` for the scikit-learn models, which add it to their covariances; a k d-th
    of it for mclust's, which add it to W_k / n_k before pooling volumes or shapes (VEI,
    VEE and VEV keep about a d-th); and under ``prior`` the least share of its scale a
    posterior mode adds: its smallest eigenvalue, spread over k components and d dimensions,
    over mclust's largest denominator (``total`` weight plus the prior's; EII's mode adds
    none).
    """
    model = get_model(model)
    floor = float(reg_covar)
    if model.alias is None:
        floor /= n_components * n_features
    if prior is None or model.name == "EII":
        return floor
    s = prior.strength
    least = float(np.linalg.eigvalsh(prior.scale_matrix)[0])
    denominator = total + s * (prior.dof + prior.kappa) + n_features + 3
    return floor + max(0.0, s * least / (n_components * n_features * denominator))


@dataclass
class EMResult:
    params: GaussianMixtureParams
    lower_bound: float
    lower_bounds: list = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False
    stopped: bool = False  # ended by ``stop`` (see run_em), not by convergence or max_iter
    # the statistics of the pass whose M-step made ``params`` (with the data's), or None
    # where no pass made them (max_iter=0): a partial_fit stream continues a fit from them
    # (``_online.continued``)
    stats: object = None
    # the components left without support at the end (see MAX_RESEEDS): {component: the
    # iteration it was left on}; the caller that keeps this run says so (warn_abandoned)
    abandoned: dict = field(default_factory=dict)


def warn_abandoned(result, stacklevel=2):
    """The warning that ``result``'s run left components without support, if it did (for
    the run a fit keeps: the others' are not the user's model)."""
    if not result.abandoned:
        return
    left = sorted(result.abandoned)
    warnings.warn(
        f"Component(s) {left} kept losing their support: after {MAX_RESEEDS} re-seedings "
        "(counting those of refused acceleration steps) they were left with a weight of about "
        f"0 from iteration(s) {[result.abandoned[j] for j in left]} on, rather than re-seeded "
        "again. The data do not hold this many components under this covariance model (and "
        "prior): fit fewer components or another covariance type.",
        DegenerateComponentWarning,
        stacklevel=stacklevel + 1,
    )


#: How often (in M-steps) ``run_em``'s ``stop`` is asked: it may cost more than a pass.
STOP_EVERY = 10

#: Re-seedings of one component in a run, after which a component that loses its support
#: again is left without it (a weight of about 0) instead: a component the data cannot hold
#: (diagonal covariances under a prior whose scale is the columns' mean variance, on columns
#: in units 1000, 1 and 50) was otherwise re-seeded and lost again every few passes, to
#: ``max_iter`` (1,000 passes and 99 warnings). Ordinary fits re-seed a component at most
#: twice (Old Faithful and iris, k = 6, 9 and 15, six covariance types). (A re-seeding in one
#: of SQUAREM's trial steps counts too: the trial is then refused, and the next step re-seeds.)
MAX_RESEEDS = 3


class _Stopped(Exception):
    """Raised out of the EM loop (through SQUAREM's own handling) when ``stop`` says so."""

    def __init__(self, params, lower_bounds, n_iter):
        super().__init__()
        self.params, self.lower_bounds, self.n_iter = params, lower_bounds, n_iter


# Cholesky succeeds on many singular matrices by rounding luck. A conditional variance
# below this fraction of the variable's own variance is rounding noise (it is computed as
# a difference with an error of a few eps): such a covariance is not positive definite.
_SINGULAR_RATIO = 64 * _EPS


def _data_ratio(stats):
    """The ratio below which the data's own covariance counts as singular where it is to
    replace the covariances of a mixture of several components (``m_step``).

    Wider than a component's ``ratio``: the components were singular at the resolution of
    their statistics (float32's for float32 data), so the data's covariance, accumulated in
    float64, must be clear of both that resolution and rounding luck. Where the within-
    component scatter is singular because the data are (a column repeated, or collinear with
    others, below what reg_covar can lift at the data's scale), the data's covariance is
    singular too, but its computed conditional variances are rounding noise that can pass
    a test at 64 eps (a collinear table times 1e6 passed; times 1e5 and 1e7 did not) and,
    at float32, lie well above float64's: taken as every component's covariance at every
    iteration, it pulled the means together (two clusters at 0 and 5 fitted at 1.6 and 3.4,
    reported converged). Data whose components all collapse onto a common subspace without
    being singular themselves (rows on parallel lines) have a well-conditioned covariance,
    far above ``sqrt(eps)`` of the statistics' precision. (One component's covariance is the
    data's: there the float64 one is the better estimate, and is taken as it is.)
    """
    return max(_SINGULAR_RATIO * max(1.0, stats.eps / _EPS), math.sqrt(stats.eps))


def _factor(kernel, cov, ratio=_SINGULAR_RATIO):
    """``kernel.precisions_cholesky(cov)``, also failing numerically singular components
    (a conditional variance below ``ratio`` of the variable's variance)."""
    prec_chol, failed = kernel.precisions_cholesky(cov)
    if not kernel.matrix:  # elementwise factors: positivity is all that needs checking
        return prec_chol, sorted(int(j) for j in failed)
    d = cov.shape[-1]
    # the diagonals, as strided views of the flattened matrices (np.diagonal costs more than
    # the arithmetic on a few components)
    u_ii = prec_chol.reshape(-1, d * d)[:, :: d + 1]
    c_ii = cov.reshape(-1, d * d)[:, :: d + 1]
    with np.errstate(all="ignore"):
        # the conditional variance 1 / U_ii^2 against ratio times the variance c_ii (nan
        # fails the comparison, so counts as singular)
        product = u_ii * c_ii
        product *= u_ii  # (no overflow of u_ii^2)
        if not failed and np.maximum.reduce(product, axis=None) <= 1.0 / ratio:
            return prec_chol, []
        singular = ~(product <= 1.0 / ratio)
    bad = np.any(singular, axis=1)
    return prec_chol, sorted(set(int(j) for j in failed) | set(np.flatnonzero(bad).tolist()))


def _is_pd(kernel, cov, ratio=_SINGULAR_RATIO):
    """Whether one covariance (a component's, or the shared one) is positive definite."""
    one = cov if kernel.shared else np.asarray(cov)[None]
    return bool(np.all(np.isfinite(one))) and not _factor(kernel, one, ratio)[1]


_NONE_LOST = np.empty(0, dtype=np.intp)
_NONE_LOST.flags.writeable = False


def lost_components(stats):
    """Components whose weight fell below ``SUPPORT_FRACTION`` of an average row's weight."""
    nk, threshold = stats.nk, SUPPORT_FRACTION * stats.unit_weight
    # (usually none: one reduction says so; a nan weight is not counted as lost, here or
    # below)
    if nk.size and np.minimum.reduce(nk) >= threshold:
        return _NONE_LOST
    return np.flatnonzero(nk < threshold)


def _raise_if_overflow(stats, iteration):
    if not (np.all(np.isfinite(stats.scatter)) and np.all(np.isfinite(stats.means))):
        raise ValueError(
            f"Fitting the mixture failed at iteration {iteration}: the covariance statistics "
            "overflowed (they are not finite) at the scale of these data in their dtype. "
            "Fit float64 data or rescale the features."
        )


def m_step(
    stats,
    model,
    reg_covar,
    *,
    previous=None,
    prior=None,
    iteration=0,
    step_options=None,
    abandoned=(),
):
    """Parameters that maximise the expected complete-data log-likelihood (or posterior).

    Parameters
    ----------
    stats : SufficientStats
        Statistics of a pass, in the model's statistics kind.
    model : CovarianceModel or str
        The model row (or a name or alias of one).
    reg_covar : float
        Added to the diagonal of every covariance.
    previous : GaussianMixtureParams, default=None
        The parameters of the pass (the start of iterative covariance steps).
    prior : Prior, default=None
        The conjugate prior (MAP-EM); None for maximum likelihood.
    iteration : int, default=0
        Named in warnings and errors.
    step_options : dict, default=None
        Settings of the iterative covariance steps (``_gpcm.m_step``'s ``max_iter``, ``tol``,
        ``vve_weights``, ``warm_start``: whether to continue from ``previous``, and
        ``data_units``: whether to step in the data's own units, as mclust does, rather than
        in units where a row weighs about 1 and the pooled variance is about 1); None for the
        defaults (at most ``_models.INNER_MAX_ITER`` inner iterations from the previous step,
        volume-weighted VVE, unit-free stopping).
    abandoned : collection of int, default=()
        Components not to re-seed should they have lost their support (``iterate`` gives up
        on a component after ``MAX_RESEEDS`` re-seedings): they keep a weight of about 0,
        the mean of ``previous`` and a copy of the heaviest component's covariance (which
        keeps every equality of the model), without a warning.

    Returns
    -------
    GaussianMixtureParams

    Notes
    -----
    Components that lost their support (weight below ``SUPPORT_FRACTION`` of an average
    row's) move to the statistics' worst-explained rows; they, and components whose
    covariance is not positive definite, take the pooled covariance (the data's covariance,
    derived from the statistics, where the pooled one is singular), and a
    ``DegenerateComponentWarning`` names them. A singular shared covariance (the one of
    the 'tied' kernel, or the common covariance of EII and EEI, stored per component) is
    replaced by the data's; a component of those models that lost its support keeps the
    common covariance.
    """
    model = get_model(model)
    kernel = model.kernel_type
    # one covariance for all components, whether stored once ('tied') or per component
    shared = kernel.shared or model.equal_covariances
    if stats.kind != model.stats_kind:
        raise ValueError(
            f"The {model.name} model needs {model.stats_kind!r} statistics, got {stats.kind!r}."
        )
    nk = stats.nk
    k, d = stats.means.shape
    means_s = stats.means
    with np.errstate(invalid="ignore", divide="ignore"):
        if prior is None:
            cov = model.estimate(stats, reg_covar, previous, **(step_options or {}))
        else:
            if not model.prior_covered:
                raise ValueError(
                    f"prior_strength is not available for the {model.name} covariance model: "
                    "mclust's conjugate prior does not cover it (it covers "
                    + ", ".join(PRIOR_MODELS)
                    + "). Use prior_strength=None."
                )
            s = prior.strength
            prior_mean = prior.mean - stats.shift
            means_s = (nk[:, None] * stats.means + s * prior.kappa * prior_mean) / (
                nk + s * prior.kappa
            )[:, None]
            between = OUTER[stats.kind](
                stats.means - prior_mean, s * prior.kappa * nk / (s * prior.kappa + nk)
            )
            cov = model.map_estimate(stats, between, prior, reg_covar, previous)
    state = None
    if isinstance(cov, GPCMStep):
        state, cov = cov, cov.covariances
    lost = lost_components(stats)
    # the abandoned components among them (see iterate): not re-seeded
    left = [j for j in lost.tolist() if j in abandoned] if len(abandoned) else []
    if left and not kernel.shared:
        # a copy of the heaviest component's covariance: every equal volume, shape or
        # orientation of the model holds of it (its own statistics are empty)
        others = nk.copy()
        others[left] = -np.inf
        cov = np.array(cov, copy=True)
        cov[left] = cov[int(np.argmax(others))]
    # covariances from float32 statistics are singular below float32's resolution; those of
    # the data (``stats.data``, accumulated in float64) are judged at float64's
    ratio = _SINGULAR_RATIO * max(1.0, stats.eps / _EPS)
    prec_chol, failed = _factor(kernel, cov, ratio)
    # scikit-learn's 10 eps, in units of a row's weight: frequency weights scaled by any
    # constant give the same fit (a plain 10 eps outweighs components of a tiny total weight)
    weights = nk + 10 * _EPS * stats.unit_weight
    if left:
        lost = lost[~np.isin(lost, left)]
    bad = []
    if failed or lost.size:
        failed = [int(j) for j in failed]
        bad = sorted(set(lost.tolist()) | (set(failed) if not shared else set()))
    if shared and failed:
        # every component collapsed at once: restart the shared covariance from the data's
        replacement = stats.data_covariance(reg_covar)
        what = "shared ('tied')" if kernel.shared else f"common ({model.name})"
        if not _is_pd(kernel, replacement, _data_ratio(stats) if k > 1 else _SINGULAR_RATIO):
            _raise_if_overflow(stats, iteration)
            raise ValueError(
                f"The {what} covariance is not positive definite after adding "
                f"reg_covar={reg_covar} (iteration {iteration}), nor is the covariance of "
                "the data: the data are (numerically) singular at their scale (a constant "
                "or duplicated feature, or fewer distinct rows than features?). Increase "
                "reg_covar, standardise the features, drop the redundant features, or fit "
                "float64 data (float32 rounding can exceed a small reg_covar)."
            )
        cov = np.array(replacement, dtype=np.float64)
        if not kernel.shared:
            cov = np.repeat(cov[None], k, axis=0)
        prec_chol, _ = kernel.precisions_cholesky(cov)
        warnings.warn(
            f"Iteration {iteration}: the {what} covariance is not positive "
            "definite; it was re-seeded with the covariance of the data.",
            DegenerateComponentWarning,
            stacklevel=2,
        )
    means = means_s + stats.shift
    if bad:
        cov = cov.copy()
        pooled = stats.pooled_covariance(reg_covar)
        if not shared and not _is_pd(kernel, pooled, ratio):
            pooled = stats.data_covariance(reg_covar)
            if k > 1 and not _is_pd(kernel, pooled, _data_ratio(stats)):
                _raise_if_overflow(stats, iteration)
                j = next(j for j in failed if j not in lost)
                raise ValueError(
                    f"Fitting the mixture failed at iteration {iteration}: component {j} has "
                    "a covariance that is not positive definite after adding "
                    f"reg_covar={reg_covar}, nor are the pooled covariance and the covariance "
                    "of the data: the data are numerically singular at their scale (a "
                    "constant or duplicated feature, a feature collinear with others, or "
                    "fewer distinct rows than features?): increase reg_covar, standardise the "
                    "features, drop the redundant features, or fit float64 data (float32 "
                    "rounding can exceed a small reg_covar)."
                )
        # Only a component without support moves (to the worst-explained rows): one that has
        # support keeps its mean, which its rows determine, and gets a usable covariance.
        seeds = stats.worst_rows[: len(lost)]
        for i, j in enumerate(lost):
            if len(seeds):
                means[j] = seeds[i % len(seeds)]
            weights[j] = max(weights[j], stats.unit_weight)
        if not shared:
            cov[bad] = pooled
        prec_chol, failed = _factor(kernel, cov)
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
                f"lost their support: {lost.tolist()} were re-seeded at the worst-explained samples"
            )
        nonpd = sorted(set(bad) - set(lost.tolist()))
        if nonpd:
            causes.append(
                f"have a covariance that is not positive definite: {nonpd} kept their means"
            )
        if causes:
            warnings.warn(
                f"Iteration {iteration}: component(s) that "
                + "; component(s) that ".join(causes)
                + ", with the pooled covariance (the data's covariance where the pooled one is "
                "singular).",
                DegenerateComponentWarning,
                stacklevel=2,
            )
    if left and previous is not None:
        means[left] = previous.means[left]  # (its statistics have none)
    weights = weights / np.add.reduce(weights)
    return GaussianMixtureParams.trusted(model, weights, means, prec_chol, cov, state)


#: A component left without support (see MAX_RESEEDS) counts as having none until it holds
#: this fraction of an average row's weight again: its statistics are taken as empty below
#: that (``_kept_out``), so that it does not drift back and forth across
#: ``SUPPORT_FRACTION``, joining and leaving the parts the components share (a VEI shape:
#: its weight alternated between 3e-6 and 7e-18 of a row, and the log-likelihood with it).
REGAIN_FRACTION = 1e-3


def _kept_out(stats, abandoned):
    """``stats`` with the components of ``abandoned`` that hold less than
    ``REGAIN_FRACTION`` of a row's weight emptied (no weight, mean or scatter of their own),
    and the components of ``abandoned`` that hold more (which have support again)."""
    nk = stats.nk
    below = [j for j in abandoned if nk[j] < REGAIN_FRACTION * stats.unit_weight]
    regained = [j for j in abandoned if j not in below]
    if not below:
        return stats, regained
    nk, means, scatter = nk.copy(), stats.means.copy(), stats.scatter
    nk[below] = 0.0
    means[below] = 0.0
    if stats.kind != "pooled":  # (a pooled scatter has their share, below a thousandth of a row's)
        scatter = scatter.copy()
        scatter[below] = 0.0
    # (the constructor's checks: this runs only while a component is left out)
    return replace(stats, nk=nk, means=means, scatter=scatter), regained


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
    data_stats=None,
    step_options=None,
    incomplete=None,
    stop=None,
    prepared=None,
    tol_offset=0.0,
):
    """Iterate E- and M-steps from ``params`` until the gain in mean log-likelihood
    is below ``tol`` or ``max_iter`` iterations have run.

    ``relative_tol`` judges the gain relative to the log-likelihood, as mclust does
    (``|dL| / (1 + |L|) < tol`` on the total; ``L`` with ``tol_offset`` added to the mean:
    the log-likelihood in other units, see ``_accel.run_squarem``'s ``offset``);
    ``accelerate`` extrapolates with SQUAREM (see ``_accel``), which reaches the same fixed
    point in fewer passes over X.
    ``data_stats`` (``_kernels.data_statistics(X, sample_weight, model)``, computed here if
    None) rides along with every pass's statistics: the data's covariance, should the
    M-step need it. ``step_options`` go to every M-step (see :func:`m_step`).
    ``incomplete`` (an ``_missing.IncompleteData`` of X, which has missing
    cells) makes each pass the observed-data one; the M-step is the same (``data_stats`` is
    then that of the mean-filled data: a stand-in used only for re-seeding).
    ``stop(params) -> bool``, asked every ``STOP_EVERY`` M-steps about the parameters the
    loop goes on from (never an extrapolation that SQUAREM then rejects), ends the run early
    (``EMResult.stopped``) at those parameters: the selector stops a start whose fit has
    collapsed, which EM would only take further towards the singularity.
    ``prepared``: ``_kernels.PreparedRows.of(X, sample_weight)``, where several runs over the
    same X share it (made here if None).
    """
    if data_stats is None:
        data = X if incomplete is None else incomplete.mean_filled()
        data_stats = data_statistics(data, sample_weight, params.model)
    total = float(X.shape[0]) if sample_weight is None else float(sample_weight.sum())
    if incomplete is None:
        # a small X's shifted rows and features, once for every pass
        if prepared is None:
            prepared = PreparedRows.of(X, sample_weight)

        def e_pass(current, n_worst, floor):
            return accumulate(
                X, sample_weight, current, n_worst=n_worst, prepared=prepared, floor=floor
            )
    else:

        def e_pass(current, n_worst, floor):
            return incomplete.accumulate(current, n_worst=n_worst, floor=floor)

    return iterate(
        e_pass,
        params,
        total=total,
        data_stats=data_stats,
        tol=tol,
        max_iter=max_iter,
        reg_covar=reg_covar,
        prior=prior,
        lower_bound=lower_bound,
        on_iteration=on_iteration,
        relative_tol=relative_tol,
        accelerate=accelerate,
        step_options=step_options,
        stop=stop,
        tol_offset=tol_offset,
    )


def start_runs(em, params, mclusts_start, **options):
    """The EM runs from one start: ``em(params, **options)`` (``run_em`` on the data, whose
    options these are), or, for VVE from mclust's own start (``mclusts_start``: the
    hierarchical tree's partition), two, each a fit to choose from: the first, and one that
    takes mclust's step to convergence and then goes on with ours.

    VVE's step here takes the likelihood's own common orientation (Flury-Gautschi's common
    principal components; before it, an MM step weighting the components by their inverse
    volumes); mclust's leaves the volumes out. From the same start the two take EM to
    different optima, either the higher (measured with the MM step): over 7 tables (k = 2-9)
    ours ended higher from 63 starts and mclust's from 7, but among those iris' k=5 from
    mclust's own partition, -208.07 with ours and -190.84 with mclust's, and chevron's k=3.
    So mclust's own start is run with ours and also with mclust's step and then on with
    ours, which reaches at least where mclust's EM does from it; the other starts with ours
    alone. Over 19 tables the selector's cells below mclust's went from 25 to 19 and
    mclust's cells it marks degenerate from 20 to 17, without giving up an optimum our step
    finds, for 16% more time (a second run from every start: 28% more, for one more of
    mclust's cells). ``GaussianMixtureEM`` runs its hierarchical starts of VVE so too, and
    keeps the higher.

    The second run is one run of its two phases: at most ``max_iter`` passes in all, its
    ``n_iter`` and ``lower_bounds`` both phases' (mclust's step can lower the
    log-likelihood, so its bounds may fall where the phases meet), ``on_iteration`` told
    its passes in one count. Where ``stop`` ends mclust's phase, or it takes every pass,
    that phase is the run.
    """
    first = em(params, **options)
    yield first
    if params.model.name != "VVE" or not mclusts_start:
        return
    mclusts = em(params, step_options={"vve_weights": "mclust"}, **options)
    left = options["max_iter"] - mclusts.n_iter
    if mclusts.stopped or left <= 0:
        yield mclusts
        return
    then_options = dict(options, max_iter=left)
    told = options.get("on_iteration")
    if told is not None:
        then_options["on_iteration"] = lambda n_iter, change: told(n_iter + mclusts.n_iter, change)
    then = em(mclusts.params, **then_options)
    yield EMResult(
        then.params,
        then.lower_bound,
        list(mclusts.lower_bounds) + list(then.lower_bounds),
        mclusts.n_iter + then.n_iter,
        then.converged,
        then.stopped,
        then.stats,
        then.abandoned,
    )


def iterate(
    e_pass,
    params,
    *,
    total,
    data_stats,
    tol,
    max_iter,
    reg_covar,
    prior=None,
    lower_bound=-np.inf,
    on_iteration=None,
    relative_tol=False,
    accelerate=False,
    step_options=None,
    stop=None,
    tol_offset=0.0,
):
    """The EM loop of :func:`run_em` over data of any origin.

    ``e_pass(params, n_worst, floor)`` is one pass over the data: their statistics under
    ``params`` (a ``SufficientStats`` with ``loglik``) carrying the ``n_worst``
    worst-explained rows, resolved down to variances of ``floor`` (:func:`variance_floor`);
    ``total`` is the data's total weight and ``data_stats`` their
    ``_kernels.data_statistics``. The other arguments are :func:`run_em`'s.
    """
    floor = variance_floor(
        params.model, reg_covar, prior, total, params.n_components, params.n_features
    )
    passes = []  # every pass's mean log-likelihood, for a run that ``stop`` ends
    made = []  # (parameters, the statistics they were made from), the last few
    # re-seedings per component, and those given up on (see MAX_RESEEDS): {component:
    # iteration}
    reseeds = np.zeros(params.n_components, dtype=np.intp)
    abandoned = {}
    reseeded = {"last": None}  # the parameters of the last M-step, where it re-seeded
    # ``stop`` is asked, once due, about the parameters the loop continues from: the last
    # step's output when the next step starts from it (not an extrapolation SQUAREM rejects)
    ask = {"due": False, "last": None}

    def step(current, iteration):
        if ask["due"] and current is ask["last"]:
            ask["due"] = False
            if stop(current):
                raise _Stopped(current, list(passes), len(passes))
        stats = e_pass(current, 0, floor)
        lost = lost_components(stats)
        if lost.size:
            for j in lost.tolist():
                if j not in abandoned and reseeds[j] >= MAX_RESEEDS:
                    abandoned[j] = iteration
        if abandoned:
            stats, regained = _kept_out(stats, abandoned)
            for j in regained:
                del abandoned[j]
            lost = [j for j in lost_components(stats).tolist() if j not in abandoned]
        if len(lost):
            # Re-seeding needs the worst-explained rows; finding them costs a selection over
            # every row of every pass, and components are lost rarely: the pass is repeated
            # (it is deterministic, so the statistics are the same) with them.
            stats = e_pass(current, current.n_components, floor)
            if abandoned:
                stats = _kept_out(stats, abandoned)[0]
        stats = stats.with_data(data_stats)
        new = m_step(
            stats,
            current.model,
            reg_covar,
            previous=current,
            prior=prior,
            iteration=iteration,
            step_options=step_options,
            abandoned=abandoned,
        )
        reseeds[lost] += 1
        reseeded["last"] = new if len(lost) else None
        passes.append(stats.loglik / total)
        ask["last"] = new
        # the last few parameters made and their statistics: the run ends at one of them
        # (SQUAREM's trial keeps theta2 while two more passes run)
        made.append((new, stats))
        del made[:-4]
        if stop is not None and len(passes) % STOP_EVERY == 0:
            ask["due"] = True
        return stats.loglik / total, new

    try:
        result = _loop(
            step,
            params,
            tol,
            max_iter,
            relative_tol,
            total,
            lower_bound,
            on_iteration,
            accelerate,
            tol_offset,
        )
        # A gain below the tolerance over a pass whose M-step re-seeded a component is no
        # convergence: the re-seeded parameters were never evaluated (a warm start from a
        # fit with a component left without support re-seeded it, and stopped there). EM
        # goes on from them.
        while result.converged and result.params is reseeded["last"] and result.n_iter < max_iter:
            done = result.n_iter
            more = _loop(
                _counting_from(done, step, 1),
                result.params,
                tol,
                max_iter - done,
                relative_tol,
                total,
                result.lower_bound,
                None if on_iteration is None else _counting_from(done, on_iteration, 0),
                accelerate,
                tol_offset,
            )
            result = EMResult(
                more.params,
                more.lower_bound,
                result.lower_bounds + more.lower_bounds,
                done + more.n_iter,
                more.converged,
            )
        if result.converged and result.params is reseeded["last"]:
            result.converged = False  # (max_iter came first)
    except _Stopped as end:
        # the bound of the last pass is that of the parameters before its M-step
        result = EMResult(
            end.params, end.lower_bounds[-1], end.lower_bounds, end.n_iter, False, True
        )
    result.stats = next((stats for new, stats in reversed(made) if new is result.params), None)
    result.abandoned = dict(abandoned)
    return result


def _counting_from(done, function, position):
    """``function`` with ``done`` added to its argument at ``position`` (an iteration
    count): a loop that goes on after ``done`` iterations numbers its own from there."""

    def counted(*args):
        args = list(args)
        args[position] += done
        return function(*args)

    return counted


def _loop(
    step, params, tol, max_iter, relative_tol, total, lower_bound, on_iteration, accelerate, offset
):
    """:func:`iterate`'s loop over ``step``: SQUAREM's, or plain EM's."""
    if accelerate:
        params, lower_bound, lower_bounds, n_iter, converged = run_squarem(
            step,
            params,
            tol=tol,
            max_iter=max_iter,
            relative=relative_tol,
            total=total,
            lower_bound=lower_bound,
            on_iteration=on_iteration,
            offset=offset,
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
        if _converged(change, lower_bound, tol, relative_tol, total, offset):
            converged = True
            break
    return EMResult(params, lower_bound, lower_bounds, n_iter, converged)
