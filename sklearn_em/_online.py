"""Online (stepwise) EM for streams: Cappe & Moulines (2009), "On-line expectation-maximization
algorithm for latent data models", JRSS-B 71:593-613.

The stream keeps running sufficient statistics ``s``. Each batch contributes its own
statistics ``s_batch`` under the current parameters (the E-step, the same pass as a batch fit),
then ``s <- (1 - rho_t) s + rho_t s_batch`` with ``rho_t = (t + t0)^-kappa`` and the M-step
turns ``s`` into parameters. The convex combination is of the *normalised* statistics (per-row
averages of the raw moments: share of the weight, first and second moments), which is what a
weighted merge of the two sets of rows computes; the first batch takes ``rho_1 = 1``.

Pure functions over values: nothing here touches an estimator.
"""

from dataclasses import dataclass

import numpy as np

from ._em import lost_components, m_step, variance_floor
from ._missing import accumulate  # batches may have missing cells
from ._stats import SufficientStats


@dataclass(frozen=True)
class Stream:
    """The state of an online fit between two batches.

    ``stats`` are the running statistics, normalised per row and scaled to ``total_weight``
    (the weight of all rows seen), so that a component's ``nk`` reads as rows, as in a
    batch fit; they carry no worst rows (re-seeding takes the current batch's). ``params``
    is the current model in float64.
    """

    stats: SufficientStats
    params: object  # GaussianMixtureParams
    n_batches: int
    total_weight: float
    prior: object = None  # the MAP prior, fixed from the first batch


def step_size(t, learning_offset, learning_decay):
    """``rho_t = (t + learning_offset) ** -learning_decay`` for the t-th batch (t >= 2);
    the first batch initialises the statistics (``rho_1 = 1``)."""
    if t <= 1:
        return 1.0
    return float((t + learning_offset) ** -learning_decay)


def blend(running, batch, rho, total_weight=None):
    """``(1 - rho) * running + rho * batch`` on the normalised statistics.

    Each set is first normalised to total weight 1 (its per-row averages of the raw moments
    sum r, sum r x, sum r x x^T), the two are combined with weights ``1 - rho`` and ``rho``
    (:meth:`SufficientStats.blend`, the exact pairwise merge of the two sets with their
    weights rescaled, so means and centred scatters stay exact far from the origin), and the
    result is scaled to ``total_weight`` (default: the sum of the two totals). With
    ``rho = batch total / (running total + batch total)`` it is ``running.merge(batch)``.
    """
    if total_weight is None:
        total_weight = running.total_weight + batch.total_weight
    return running.scaled(total_weight / running.total_weight).blend(
        batch.scaled(total_weight / batch.total_weight), rho
    )


def _without_worst_rows(stats):
    return stats.with_worst_rows(np.empty((0, stats.n_features)))


def start(X, sample_weight, params, prior=None, reg_covar=0.0):
    """The stream after its first batch: the model ``params`` (fitted to the batch) and the
    batch's statistics under it, resolved as the M-step with ``reg_covar`` needs them."""
    total = float(X.shape[0] if sample_weight is None else sample_weight.sum())
    floor = variance_floor(
        params.model, reg_covar, prior, total, params.n_components, params.n_features
    )
    stats = accumulate(X, sample_weight, params, floor=floor)
    return Stream(stats, params, 1, stats.total_weight, prior)


def continued(stats, params, prior=None):
    """The stream that continues a fit: its model ``params`` and ``stats``, the statistics
    of the fit's last pass (those the M-step made ``params`` from: ``EMResult.stats``), as
    the stream's first batch. A fit's rows are not kept, so its statistics are those of its
    last pass, under the parameters before the last M-step; at convergence the same, up to
    the fit's tolerance, as the statistics under ``params`` that :func:`start` takes."""
    stats = _without_worst_rows(stats).with_data(None)
    return Stream(stats, params, 1, stats.total_weight, prior)


def update(stream, X, sample_weight, *, learning_offset, learning_decay, reg_covar):
    """One stepwise EM step on a batch: its statistics under the stream's parameters,
    blended into the running statistics with ``step_size``, then the M-step.

    Returns ``(stream, mean_loglik)``: the new state, and the batch's mean log-likelihood
    under the parameters it was E-stepped with.

    A component is re-seeded as in a batch fit, judged on the running statistics: without
    support (its running weight below ``SUPPORT_FRACTION`` of an average row's) it moves to
    the batch's worst-explained rows; with a covariance that is not positive definite it
    takes the pooled covariance (the running statistics' data covariance where that is
    singular). A component that no row of the batch belongs to keeps its running share,
    which shrinks by ``1 - rho_t`` per batch until it has no support.
    """
    params = stream.params
    t = stream.n_batches + 1
    rho = step_size(t, learning_offset, learning_decay)
    # (the M-step reads the running statistics, of the weight seen so far)
    k, d = params.n_components, params.n_features
    batch = float(X.shape[0] if sample_weight is None else sample_weight.sum())
    floor = variance_floor(params.model, reg_covar, stream.prior, stream.total_weight + batch, k, d)
    stats = accumulate(X, sample_weight, params, floor=floor)
    total = stream.total_weight + stats.total_weight
    running = blend(stream.stats, stats, rho, total)
    if lost_components(running).size:
        # as run_em: the worst rows (a selection over the batch) only where they are needed
        stats = accumulate(X, sample_weight, params, n_worst=params.n_components, floor=floor)
        running = blend(stream.stats, stats, rho, total)
    new_params = m_step(
        running, params.model, reg_covar, previous=params, prior=stream.prior, iteration=t
    )
    running = _without_worst_rows(running)
    return Stream(running, new_params, t, total, stream.prior), stats.loglik / stats.total_weight
