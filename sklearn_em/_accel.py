"""SQUAREM: squared extrapolation of the EM map (Varadhan & Roland 2008).

EM converges linearly, and slowly where components overlap. SQUAREM takes two EM steps
``theta1 = F(theta0)``, ``theta2 = F(theta1)``, extrapolates along them
(``theta' = theta0 - 2 alpha r + alpha^2 v``, ``r = theta1 - theta0``,
``v = theta2 - 2 theta1 + theta0``, ``alpha = -|r| / |v|``, their scheme S3) and takes one
more EM step from ``theta'``. Every parameter value it returns comes out of an M-step, so it
satisfies the covariance model's constraints whatever the extrapolation did.

Monotone by construction: the extrapolated point is kept only if its log-likelihood is at
least that of ``theta1``, and the step from it only if its log-likelihood (the next pass's)
is at least the extrapolated point's, or else at least ``theta2``'s; otherwise the path falls
back to ``theta2``, an ordinary EM step. The second test matters for the models whose
constraints the extrapolation breaks (a common orientation, shape or volume: EVE, VVE, EEV,
...), where the step from a point off the model can go down.

Extrapolation starts only once plain EM has settled (a step gains less than
``WARMUP_FACTOR`` times the tolerance): early on, while EM still moves far, a jump can land in
another local maximum (it lost mclust's optimum on real tables); in the slow tail, where EM
spends most of its passes, it only shortens the way to the same one.

The extrapolation runs on unconstrained coordinates: log weights (renormalised), means, and
the precision Cholesky factors with the logarithm of their diagonal, so every extrapolated
point is a valid mixture.
"""

import warnings
from functools import lru_cache

import numpy as np

from ._params import GaussianMixtureParams

# Extrapolation starts once one EM step gains less than this many times the tolerance.
WARMUP_FACTOR = 100.0
# The bound on the first extrapolation's step |alpha|. As in the SQUAREM package (its
# ``step.max0`` and ``mstep``), a step taken at the bound raises it 4-fold; here every
# refused one lowers it 4-fold (never below 1). The package starts at 1, which makes its first
# cycle two plain EM steps: a cautious start that the warm-up above already is. From 4 the
# selector took 6% fewer passes on the benchmark's 9,083-row grid, 22% on its 100,000-row
# one and 4% over 24 tables, with the same choices (the CHANGELOG says what moved).
FIRST_STEP_MAX = 4.0


@lru_cache(maxsize=64)
def _packing(d):
    """Where a (d, d) factor's upper triangle sits in the flattened matrix (row by row, as
    ``np.triu_indices``), and which of those entries are diagonal; read-only, shared."""
    iu, ju = np.triu_indices(d)
    flat = iu * d + ju
    diagonal = np.flatnonzero(iu == ju)
    flat.flags.writeable = diagonal.flags.writeable = False
    return flat, diagonal


def _to_vector(params):
    """The parameters as one unconstrained vector, and the function that maps it back."""
    weights, means, U = params.weights, params.means, params.precisions_cholesky
    k, d = means.shape
    # full Cholesky factors: one per component (k, d, d), or one shared (d, d) for 'tied'
    triangular = params.kernel.matrix
    if triangular:
        flat, diagonal = _packing(d)
        packed = U.reshape(-1, d * d)[:, flat]  # a new array: the upper triangles
        packed[:, diagonal] = np.log(packed[:, diagonal])
        cov_part = packed.ravel()
    else:
        cov_part = np.log(U).ravel()
    with np.errstate(divide="ignore"):
        vec = np.concatenate([np.log(weights), means.ravel(), cov_part])

    def back(v):
        log_w = v[:k]
        w = np.exp(log_w - log_w.max())
        m = v[k : k + k * d].reshape(k, d)
        rest = v[k + k * d :]
        if triangular:
            packed = rest.reshape(-1, flat.size)
            out = np.zeros((packed.shape[0], d * d))
            out[:, flat] = packed
            out[:, flat[diagonal]] = np.exp(packed[:, diagonal])
            out = out.reshape(U.shape)
        else:
            out = np.exp(rest).reshape(U.shape)
        # the covariance step's warm start (volumes, shapes, orientations) is not
        # extrapolated: the step continues from where ``params`` left it
        return GaussianMixtureParams(params.model, w / w.sum(), m, out, state=params.state)

    return vec, back


def _extrapolates_within(model):
    """Whether every extrapolation of ``model``'s parameters in the coordinates of
    :func:`_to_vector` is again a parameter of the model: a linear combination of logarithms
    keeps diagonal and spherical covariances, a common volume or shape among them, and a
    common determinant of Cholesky factors (EVV); only free factors (VVV, and EEE's one)
    keep a matrix otherwise. A common orientation or shape, or a volume of one's own times
    a shared matrix (EEV, VEV, VEE, EVE, VVE), is not a straight line there."""
    if not model.kernel_type.matrix or model.kernel_type.shared:
        return True
    return model.shape == "V" and model.orientation == "V"  # VVV, EVV


def _converged(change, lower_bound, tol, relative, total, offset=0.0):
    if relative:
        # mclust's rule on the total log-likelihood: |dL| / (1 + |L|) < tol (L taken with
        # ``offset`` added to the mean: see run_squarem)
        return abs(change) * total < tol * (1.0 + abs(lower_bound + offset) * total)
    return abs(change) < tol


def run_squarem(
    step,
    params,
    *,
    tol,
    max_iter,
    relative=False,
    total=1.0,
    lower_bound=-np.inf,
    on_iteration=None,
    offset=0.0,
):
    """Iterate ``step`` with SQUAREM acceleration.

    Parameters
    ----------
    step : callable
        ``step(params, iteration) -> (lower_bound, next_params)``: one E-step at ``params``
        (its mean log-likelihood) fused with the M-step that follows.
    params : GaussianMixtureParams
        Where to start.
    tol : float
        Convergence threshold on the gain of one plain EM step.
    max_iter : int
        Maximum number of calls of ``step`` (E-steps), as for plain EM.
    relative : bool, default=False
        If True the gain is judged relative to the log-likelihood, as mclust does
        (``|dL| / (1 + |L|) < tol`` on the total log-likelihood ``L``).
    total : float, default=1.0
        Total weight of the rows (turns mean log-likelihoods into totals).
    lower_bound : float, default=-inf
        The mean log-likelihood before ``params`` (for warm starts).
    on_iteration : callable, optional
        ``on_iteration(n_iter, change)`` after every recorded E-step.
    offset : float, default=0.0
        Added to the mean log-likelihood where the relative rule takes its size ``|L|``:
        the log-likelihood in other units (the selector's cells fitted in one common unit
        are judged in the columns' own, as every other cell).

    Returns
    -------
    params : GaussianMixtureParams
        The parameters after the last M-step.
    lower_bound : float
    lower_bounds : list of float
        The mean log-likelihood of every E-step on the accepted path (non-decreasing up to
        rounding).
    n_iter : int
        Number of E-steps taken (including rejected extrapolations).
    converged : bool
    """
    lower_bounds = []
    n_iter = 0
    step_max = FIRST_STEP_MAX

    def record(value, previous):
        lower_bounds.append(value)
        if on_iteration is not None:
            on_iteration(n_iter, value - previous)

    theta0 = params
    # Plain EM until the gain is small: while EM still moves far, an extrapolation can jump
    # to another local maximum (a worse one as often as a better one); in the slow tail,
    # where EM spends most of its iterations, it only shortens the way to the same one.
    while n_iter < max_iter:
        previous = lower_bound
        n_iter += 1
        lower_bound, theta0 = step(theta0, n_iter)
        record(lower_bound, previous)
        change = lower_bound - previous
        if _converged(change, lower_bound, tol, relative, total, offset):
            return theta0, lower_bound, lower_bounds, n_iter, True
        if _converged(change, lower_bound, WARMUP_FACTOR * tol, relative, total, offset):
            break
    # (theta2, its bound) of the last cycle, while the step from its accepted extrapolation
    # is on trial: the first pass of the next cycle gives that step's log-likelihood
    trial = None
    # Where the extrapolation leaves the covariance model, the step from it projects back
    # onto the model and gives up part of the jump: its gain is no plain EM step's, and a
    # small one is no sign of convergence (wdbc's first 10 columns, EVE k=2: judged there,
    # it stopped at 3269, where plain EM from the same starts reaches 3320).
    judge_after_jump = _extrapolates_within(params.model)
    while n_iter < max_iter:
        previous = lower_bound
        n_iter += 1
        l0, theta1 = step(theta0, n_iter)
        judged = True
        if trial is not None:
            before, l_before = trial
            trial = None
            judged = judge_after_jump
            if not l0 >= previous:
                # The step from the extrapolated point went down: EM's ascent holds from
                # points of the covariance model, and the extrapolation left it (a common
                # orientation, shape or volume is not a straight line in the coordinates;
                # the step's inner iterations started from theta2's). That point is off the
                # path; its step is kept if it is still above theta2, else theta2 is.
                lower_bounds.pop()
                # (a step taken at the bound raised it: this takes it back where it was, so
                # the next cycle may try the same step; lowering it from before the raise
                # saved 0.3% of wdbc's passes and moved other tables' by up to 1% either way)
                step_max = max(1.0, step_max / 4.0)
                if not l0 >= l_before:
                    theta0, lower_bound = before, l_before
                    continue
                # (a gain over theta2 that includes a jump is no EM step's: not judged)
                previous, judged = l_before, False
        record(l0, previous)
        if judged and _converged(l0 - previous, l0, tol, relative, total, offset):
            return theta1, l0, lower_bounds, n_iter, True
        if n_iter >= max_iter:
            return theta1, l0, lower_bounds, n_iter, False
        n_iter += 1
        l1, theta2 = step(theta1, n_iter)
        record(l1, l0)
        if _converged(l1 - l0, l1, tol, relative, total, offset):
            return theta2, l1, lower_bounds, n_iter, True
        if n_iter >= max_iter:
            return theta2, l1, lower_bounds, n_iter, False
        v0, _ = _to_vector(theta0)
        v1, _ = _to_vector(theta1)
        v2, back = _to_vector(theta2)  # back() keeps theta2's covariance-step state
        r = v1 - v0
        v = v2 - 2 * v1 + v0
        finite = np.isfinite(r) & np.isfinite(v)
        norm_v = np.linalg.norm(v[finite])
        alpha = -np.linalg.norm(r[finite]) / norm_v if norm_v > 0 else -1.0
        alpha = min(-1.0, max(alpha, -step_max))
        at_bound = alpha == -step_max
        if alpha == -1.0:
            # no extrapolation: theta' = theta2, an ordinary EM step
            if at_bound:
                step_max *= 4.0
            theta0, lower_bound = theta2, l1
            continue
        extrapolated = np.where(finite, v0 - 2 * alpha * r + alpha**2 * v, v2)
        n_iter += 1
        accepted = False
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                with np.errstate(all="ignore"):
                    l_ext, theta3 = step(back(extrapolated), n_iter)
            accepted = np.isfinite(l_ext) and l_ext >= l1 and not caught
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):
            accepted = False
        if accepted:
            record(l_ext, l1)
            theta0, lower_bound = theta3, l_ext
            trial = (theta2, l1)
            # raised once a step at the bound is taken, as the SQUAREM package does: raised
            # before the trial, a refused step (lowered 4-fold below) left the bound as it
            # was, and the next cycles tried the same step again (six refusals in a row, a
            # pass each, on a 9,083-row EEE fit)
            if at_bound:
                step_max *= 4.0
        else:
            # the extrapolation overshot: keep the plain EM step and be less bold next time
            step_max = max(1.0, step_max / 4.0)
            theta0, lower_bound = theta2, l1
    if trial is not None and not judge_after_jump:
        # max_iter came right after an accepted extrapolation off the model: the step from
        # it is unconfirmed and may lie below the extrapolated point's bound, so the run
        # ends at theta2, whose bound (theta1's) it does not fall below
        lower_bounds.pop()
        theta0, lower_bound = trial
    return theta0, lower_bound, lower_bounds, n_iter, False
