"""mclust's 14 covariance models in the EM core and the estimator.

Oracles: R mclust 6.0.0's ``me(modelName, data, z)`` from its stored starting responsibilities
(``tests/fixtures/mclust/mclust_gpcm.json``, see ``test_gpcm.py``); properties of every model
(the log-likelihood never decreases; the fitted covariances satisfy the model's constraints),
checked with hypothesis.
"""

import re
import warnings
from dataclasses import replace

import numpy as np
import pytest
from conftest import mclust_start, quiet_fit
from hypothesis import HealthCheck, example, given, reject, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning

from sklearn_em import DegenerateComponentWarning, GaussianMixtureEM
from sklearn_em._em import m_step, run_em
from sklearn_em._gpcm import MODELS, PRIOR_MODELS
from sklearn_em._init import _params_from_responsibilities
from sklearn_em._kernels import statistics
from sklearn_em._models import FEW_ROWS_MODEL_NAMES, MODEL_NAMES, constraints_broken, get_model

pytestmark = pytest.mark.usefixtures("one_blas_thread")

TABLES = ("faithful", "iris", "banknote")
# mclust's me: relative tolerance 1e-5 on the log-likelihood, inner iterations to sqrt(eps)
# (unbounded), mclust's own VVE orientation step, and VEE's inner iterations restarted every
# EM iteration (its meVEE does so; the other models continue from the previous step)
# mclust's me: inner steps to convergence, mclust's VVE orientation update, and its inner
# stopping rules in the data's own units (the estimator's steps run in units of their own)
MCLUST_ME = dict(max_iter=100_000, vve_weights="mclust", data_units=True)


def _start(X, z, model, step_options=None):
    """Our core's parameters from responsibilities z: one M-step (mclust's me starts so)."""
    params, _ = _params_from_responsibilities(
        X,
        None,
        lambda sl: z[sl],
        z.shape[1],
        model,
        0.0,
        np.random.RandomState(0),
        None,
        step_options=step_options,
    )
    return params


def _em(X, params, max_iter, step_options=None):
    return run_em(
        X,
        None,
        params,
        tol=1e-5,
        max_iter=max_iter,
        reg_covar=0.0,
        relative_tol=True,
        step_options=step_options,
    )


def _full(params):
    k, d = params.means.shape
    return np.asarray(params.kernel.expand(params.covariance_matrices(), k, d))


def _rel(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("table", TABLES)
def test_em_core_reproduces_mclust_me(mclust, table, model, k):
    """Our EM (run_em, mclust's stopping rule, no SQUAREM) from mclust's z takes as many
    iterations as mclust's me and ends at its log-likelihood and parameters."""
    X, z = mclust_start(mclust, table, k)
    ref = mclust["tables"][table]["fits"][f"{model}_{k}"]
    options = {**MCLUST_ME, "warm_start": model != "VEE"}
    start = _start(X, z, model, options)
    result = _em(X, start, 10_000, options)
    assert result.converged
    assert result.n_iter == ref["me_iterations"]
    n = X.shape[0]
    assert abs(result.lower_bound * n - ref["me_loglik"]) <= 1e-10 * abs(ref["me_loglik"])
    # me returns the parameters whose log-likelihood it reports; run_em returns those of the
    # M-step after the last E-step. The parameters mclust reports are run_em's one step before.
    params = _em(X, start, result.n_iter - 1, options).params if result.n_iter > 1 else start
    assert _rel(_full(params), ref["me"]["sigma"]) < 1e-9
    assert _rel(params.means, ref["me"]["mean"]) < 1e-9
    assert_allclose(params.weights, ref["me"]["pro"], rtol=1e-9)
    assert params.n_parameters() == ref["n_mclust_params"]


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("table", TABLES)
def test_default_em_reaches_mclust_log_likelihood(mclust, table, model, k):
    """With the estimator's settings (50 inner iterations from the previous step, VVE's
    volume-weighted orientation step) EM from mclust's z ends at mclust's log-likelihood (to
    the 1e-5 relative stopping rule both use), or above it: for VVE mclust's step stops short
    of the maximum (see ``_gpcm.m_step``)."""
    X, z = mclust_start(mclust, table, k)
    ref = mclust["tables"][table]["fits"][f"{model}_{k}"]["me_loglik"]
    result = _em(X, _start(X, z, model), 10_000)
    assert result.converged
    ours = result.lower_bound * X.shape[0]
    assert ours >= ref - 1e-5 * abs(ref)
    if model != "VVE":
        assert abs(ours - ref) <= 1e-5 * abs(ref)
    steps = np.diff(result.lower_bounds)
    assert np.all(steps >= -1e-12 * np.abs(result.lower_bounds[1:]))


# --- properties of every model ----------------------------------------------------------------

problems = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**31 - 1),
        "n_features": st.integers(2, 4),
        "n_components": st.integers(1, 3),
        "spread": st.sampled_from([1.0, 3.0, 10.0]),
    }
)


def _blobs(problem, n_per=25):
    rng = np.random.RandomState(problem["seed"])
    d, k = problem["n_features"], problem["n_components"]
    centres = rng.uniform(-problem["spread"], problem["spread"], size=(k, d))
    return np.vstack(
        [
            centres[j]
            + rng.randn(n_per + 5 * j, d)
            @ (rng.uniform(0.3, 1.0) * (np.eye(d) + 0.5 * rng.randn(d, d)))
            for j in range(k)
        ]
    )


def _fit_without_reseeding(X, model, k, **params):
    est = GaussianMixtureEM(k, covariance_type=model, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # re-seeding a collapsed component is a jump, not an EM step: discard such examples
        warnings.simplefilter("error", DegenerateComponentWarning)
        try:
            return est.fit(X)
        except DegenerateComponentWarning:
            reject()


@pytest.mark.parametrize("model", MODEL_NAMES)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=problems, init=st.sampled_from(["kmeans", "random"]))
# found by hypothesis: the initial parameters dropped the covariance step's state, so the first
# EVE step restarted from an approximate decomposition and lowered the likelihood by 1e-9
@example(problem={"seed": 1, "n_features": 4, "n_components": 1, "spread": 1.0}, init="kmeans")
def test_log_likelihood_never_decreases(model, problem, init):
    X = _blobs(problem)
    # reg_covar=0: adding it is not an EM step (see test_properties)
    est = _fit_without_reseeding(
        X,
        model,
        problem["n_components"],
        tol=0,
        max_iter=25,
        reg_covar=0.0,
        init_params=init,
        random_state=problem["seed"] % 1000,
    )
    bounds = np.asarray(est.lower_bounds_)
    assert bounds.shape == (25,) and np.all(np.isfinite(bounds))
    steps = np.diff(bounds)
    assert np.all(steps >= -1e-10 * np.maximum(np.abs(bounds[:-1]), 1.0)), steps.min()


def _assert_constraints(model, cov):
    """The fitted (k, d, d) covariances are of the form the model's three letters say."""
    k, d, _ = cov.shape
    values = np.linalg.eigvalsh(cov)  # ascending
    volume = np.exp(np.mean(np.log(values), axis=1))
    shapes = values / volume[:, None]
    if model.volume == "E":
        assert_allclose(volume, volume[0], rtol=1e-8)
    if model.shape == "I":
        assert_allclose(shapes, 1.0, rtol=1e-8)
    if model.shape == "E":
        assert_allclose(shapes, np.broadcast_to(shapes[0], shapes.shape), rtol=1e-7)
    off = cov - np.einsum("kii->ki", cov)[:, :, None] * np.eye(d)
    if model.orientation == "I":
        assert np.all(off == 0)
    if model.orientation == "E":
        # a common orientation: the covariances commute
        scale = np.max(np.abs(cov)) ** 2
        for i in range(k):
            for j in range(i):
                assert np.max(np.abs(cov[i] @ cov[j] - cov[j] @ cov[i])) <= 1e-8 * scale


@pytest.mark.parametrize("model", MODEL_NAMES)
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=problems)
def test_fitted_covariances_satisfy_the_model(model, problem):
    X = _blobs(problem)
    k = problem["n_components"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", DegenerateComponentWarning)
        est = GaussianMixtureEM(k, covariance_type=model, random_state=0).fit(X)
    row = get_model(model)
    _assert_constraints(row, np.asarray(row.kernel_type.expand(est.covariances_, k, X.shape[1])))


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_attributes_sampling_and_precisions_init_for_every_model(model):
    X = _blobs({"seed": 3, "n_features": 3, "n_components": 3, "spread": 6.0})
    row = get_model(model)
    est = GaussianMixtureEM(3, covariance_type=model, random_state=0).fit(X)
    shape = row.storage_shape(3, 3)
    for attr in ("covariances_", "precisions_", "precisions_cholesky_"):
        assert getattr(est, attr).shape == shape
    cov = np.asarray(row.kernel_type.expand(est.covariances_, 3, 3))
    prec = np.asarray(row.kernel_type.expand(est.precisions_, 3, 3))
    assert_allclose(cov @ prec, np.broadcast_to(np.eye(3), (3, 3, 3)), atol=1e-8)
    assert est._n_parameters() == row.n_parameters(3, 3)
    Xs, ys = est.sample(500)
    assert Xs.shape == (500, 3) and ys.shape == (500,)
    # the fitted model as a start: EM is at its fixed point, so it stays there
    again = GaussianMixtureEM(
        3,
        covariance_type=model,
        weights_init=est.weights_,
        means_init=est.means_,
        precisions_init=est.precisions_,
        max_iter=2,
        tol=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        again.fit(X)
    assert again.lower_bounds_[0] == pytest.approx(est.score(X), rel=1e-9)
    assert again.lower_bound_ >= again.lower_bounds_[0] - 1e-12
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"The parameter '{model} precision' should have the shape of {shape}, but got (2,)"
        ),
    ):
        GaussianMixtureEM(3, covariance_type=model, precisions_init=np.ones(2)).fit(X)


CONSTRAINED = [m for m in MODEL_NAMES if get_model(m).alias is None]


@pytest.mark.parametrize("model", CONSTRAINED)
def test_precisions_init_must_satisfy_the_models_constraints(model):
    # Precisions of components with unequal volumes, shapes or orientations where the model
    # makes them equal are no start for it: EM's first M-step projected them onto the model
    # and the log-likelihood fell (EII from a VII fit: -3.33 to -4.69 per row). They are an
    # error that names the constraint. The oracle for what is broken: the covariances'
    # volumes (determinants), shapes and orientations (eigenvectors), compared directly.
    X = _blobs({"seed": 3, "n_features": 3, "n_components": 3, "spread": 6.0})
    row = get_model(model)
    rng = np.random.default_rng(0)
    shape = row.storage_shape(3, 3)
    if len(shape) == 3:
        A = rng.standard_normal((3, 3, 3))
        cov = A @ A.transpose(0, 2, 1) + np.eye(3)
        precisions = np.linalg.inv(cov)
    else:
        precisions = rng.uniform(0.2, 5.0, size=shape)
    full = np.asarray(row.kernel_type.expand(1.0 / precisions if len(shape) < 3 else cov, 3, 3))
    values, vectors = np.linalg.eigh(full)
    volumes = np.prod(values, axis=1) ** (1 / 3)
    shapes = values / volumes[:, None]
    unequal = [
        part
        for letter, part, differ in zip(
            model,
            ("volumes", "shapes", "orientations"),
            (
                np.ptp(volumes) > 1e-6,
                np.ptp(shapes, axis=0).max() > 1e-6,
                np.abs(np.abs(vectors[0].T @ vectors[1]) - np.eye(3)).max() > 1e-6,
            ),
        )
        if letter == "E" and differ
    ]
    assert unequal  # the random precisions break at least one of the model's equalities
    named = "equal " + " and ".join(
        p for p, l in zip(("volumes", "shapes", "orientations"), model) if l == "E"
    )
    with pytest.raises(ValueError, match=re.escape(f"components have {named}: the given")):
        GaussianMixtureEM(3, covariance_type=model, precisions_init=precisions).fit(X)
    # the model's own precisions, and those of the components made equal, are accepted
    fitted = GaussianMixtureEM(3, covariance_type=model, random_state=0).fit(X)
    equal = np.broadcast_to(precisions[:1], shape).copy()
    for start in (fitted.precisions_, equal):
        GaussianMixtureEM(3, covariance_type=model, precisions_init=start, max_iter=1).fit(X)


@pytest.mark.parametrize("model", ["EEV", "VEE", "EVE", "VVE", "EVV", "VEV"])
@pytest.mark.parametrize("unit", [1.0, 1e3])
def test_an_off_model_start_is_refused_in_any_units(model, unit):
    # a VVV fit's precisions (volumes 3.7 times apart, shapes and orientations of their
    # own) are no start for these models, whatever the columns' units: the tolerance took
    # the covariances' condition number, which one column in other units raises (1e7 at a
    # unit of 1e3), and accepted them (a reviewer's second read); it is the correlations'
    rng = np.random.default_rng(0)
    X = np.vstack(
        [rng.normal(size=(150, 2)) @ [[2.0, 0.8], [0.0, 0.5]], rng.normal(5, 1, (150, 2))]
    )
    X = X * [1.0, unit]
    full = GaussianMixtureEM(2, covariance_type="VVV", random_state=0).fit(X)
    with pytest.raises(ValueError, match="should be the precisions of a mixture of the"):
        GaussianMixtureEM(2, covariance_type=model, precisions_init=full.precisions_).fit(X)


@pytest.mark.parametrize("model", ["EVV", "VEV", "EVE", "VVE", "VEE", "EEV"])
def test_a_fits_own_precisions_pass_the_constraint_check(model):
    # ill-conditioned covariances (a nearly redundant column, data in units of 100) and a
    # float32 fit's precisions read back as float64: inverting them loses about eps * cond,
    # and a fixed tolerance refused the fit's own precisions (a reviewer's second read)
    rng = np.random.default_rng(1)
    z = rng.normal(size=(400, 2))
    z[:200] += 4
    X = np.hstack([z, z[:, :1] + 1e-5 * rng.normal(size=(400, 1))]) * 100
    for data in (
        X,
        np.asarray(
            _blobs({"seed": 3, "n_features": 3, "n_components": 2, "spread": 6.0}), np.float32
        ),
    ):
        fit = quiet_fit(GaussianMixtureEM(2, covariance_type=model, random_state=0), data)
        for precisions in (fit.precisions_, np.asarray(fit.precisions_, np.float64)):
            GaussianMixtureEM(
                2,
                covariance_type=model,
                weights_init=np.asarray(fit.weights_, np.float64)
                / np.sum(fit.weights_, dtype=np.float64),
                means_init=fit.means_,
                precisions_init=precisions,
                max_iter=1,
            ).fit(data)


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_prior_covers_mclust_models_and_names_the_others(model):
    X = _blobs({"seed": 1, "n_features": 3, "n_components": 2, "spread": 6.0})
    est = GaussianMixtureEM(2, covariance_type=model, prior_strength=1.0, random_state=0)
    if model in PRIOR_MODELS:
        est.fit(X)
        assert np.isfinite(est.lower_bound_)
        # the prior pulls the fit away from the maximum likelihood
        ml = GaussianMixtureEM(2, covariance_type=model, random_state=0).fit(X)
        assert est.lower_bound_ <= ml.lower_bound_ + 1e-9
        # ... and does move it (an ignored prior would pass the line above)
        cov = np.asarray(est.covariances_)
        assert np.abs(cov - np.asarray(ml.covariances_)).max() > 1e-6 * np.abs(cov).max()
    else:
        with pytest.raises(
            ValueError,
            match=re.escape(
                f"prior_strength is not available for the {model} covariance model: mclust's "
                "conjugate prior does not cover it (it covers EII, VII, EEI, VEI, EVI, VVI, EEE, "
                "EEV, VEV, VVV). Use prior_strength=None."
            ),
        ):
            est.fit(X)


@pytest.mark.parametrize("model", ["EII", "EEI"])
def test_equal_covariances_stay_equal_when_a_component_loses_its_support(model):
    """EII and EEI store one covariance per component but all are the same: a component
    without rows moves to the worst-explained rows and keeps the common covariance."""
    rng = np.random.RandomState(0)
    X = rng.randn(60, 3) * [1.0, 2.0, 0.5]
    resp = np.zeros((60, 3))
    resp[:30, 0] = resp[30:, 1] = 1  # component 2 has no rows
    row = get_model(model)
    stats = statistics(X, None, lambda sl: resp[sl], model, X.mean(axis=0), 3)
    stats = stats.with_worst_rows(X[:1])
    with pytest.warns(
        DegenerateComponentWarning,
        match=re.escape(
            "component(s) that lost their support: [2] were re-seeded at the worst-explained "
            "samples"
        ),
    ):
        params = m_step(stats, model, 1e-6)
    cov = params.covariance_matrices()
    assert_allclose(cov, np.broadcast_to(cov[0], cov.shape), rtol=0, atol=0)
    # the common covariance is the one the two supported components give (the third has none)
    two = replace(stats, nk=stats.nk[:2], means=stats.means[:2], scatter=stats.scatter[:2])
    assert_allclose(cov[0], row.estimate(two, 1e-6).covariances[0], rtol=1e-12)
    assert_allclose(params.means[2], X[0])


def test_few_rows_models_are_the_spherical_and_diagonal_ones():
    assert FEW_ROWS_MODEL_NAMES == ("EII", "VII", "EEI", "VEI", "EVI", "VVI")
    assert MODEL_NAMES == MODELS


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("model", PRIOR_MODELS)
@pytest.mark.parametrize("table", TABLES)
def test_map_m_step_equals_mclust_mstep_with_prior(mclust, table, model, k):
    """The core's MAP M-step (prior_strength=1) from mclust's z and hyperparameters gives
    mclust's ``mstep(..., prior = priorControl())`` covariances."""
    from sklearn_em._em import Prior

    X, z = mclust_start(mclust, table, k)
    ref = mclust["tables"][table]["fits"][f"{model}_{k}"]
    hyper = ref["prior"]
    d = X.shape[1]
    scale = np.array(hyper["scale"], dtype=float)
    if scale.ndim == 0:
        scale = scale * np.eye(d)
    prior = Prior(np.array(hyper["mean"]), hyper["shrinkage"], float(hyper["dof"]), scale, 1.0)
    stats = statistics(X, None, lambda sl: z[sl], model, X.mean(axis=0), k)
    params = m_step(stats, model, 0.0, prior=prior)
    assert _rel(_full(params), ref["mstep_prior"]["sigma"]) < 1e-9
    if model not in ("EEI", "EEV"):
        # mclust's Fortran leaves the means of these two unshrunk (see _gpcm.map_m_step);
        # ours are the posterior means for every model
        assert _rel(params.means, ref["mstep_prior"]["mean"]) < 1e-9


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("model", PRIOR_MODELS)
@pytest.mark.parametrize("table", TABLES)
def test_default_prior_is_mclusts_default_prior(mclust, table, model, k):
    """prior_strength=1's hyperparameters are those mclust's ``priorControl()`` makes of the
    data (``defaultPrior``; its scale from R's var, divisor n - 1: ours used n, 0.4% off on
    Old Faithful)."""
    from sklearn_em._em import Prior

    X, _ = mclust_start(mclust, table, k)
    hyper = mclust["tables"][table]["fits"][f"{model}_{k}"]["prior"]
    d = X.shape[1]
    scale = np.array(hyper["scale"], dtype=float)
    if scale.ndim == 0:
        scale = scale * np.eye(d)
    ours = Prior.default(X, None, model, k, 1.0)
    assert_allclose(ours.scale_matrix, scale, rtol=1e-12)
    assert_allclose(ours.mean, hyper["mean"], rtol=1e-12)
    assert ours.kappa == hyper["shrinkage"] and ours.dof == hyper["dof"]


@pytest.mark.parametrize("model", ["VVV", "EEE", "VVI", "VII"])
def test_default_prior_of_weights_that_sum_to_about_one(model):
    # weights w / w.sum() (which sum to 1 give or take a rounding) give mclust's prior of
    # the unweighted rows (var: divisor n - 1); a divisor "total - 1" made the scale 4.5e15
    # times the data's at a total of 1 + 2e-16 (found by a reviewer's second read)
    from sklearn_em._em import Prior

    X = np.random.RandomState(0).randn(200, 2) * [1.0, 3.0]
    plain = Prior.default(X, None, model, 2, 1.0)
    for total in (1.0, 1.0 + 2.2e-16, 1.0 - 1.1e-16):
        w = np.full(200, total / 200)
        weighted = Prior.default(X, w, model, 2, 1.0)
        assert_allclose(weighted.scale_matrix, plain.scale_matrix, rtol=1e-12)


@pytest.mark.parametrize("model", ["EVE", "VVE"])
def test_the_cold_step_runs_to_mclusts_inner_tolerance(model):
    # The first iterative step, from a partition, runs as mclust's first does (to its inner
    # tolerance: for EVE's MM updates past INNER_MAX_ITER); cut at INNER_MAX_ITER it left EVE
    # on quakes' columns 56 log-likelihood units below mclust's fit from mclust's own
    # partition (a reviewer helper's hunt). The warm steps after it stay capped. (VVE's
    # Flury-Gautschi sweeps reach the tolerance here in fewer than INNER_MAX_ITER.)
    from sklearn.cluster import KMeans
    from sklearn.datasets import load_wine

    from sklearn_em._em import m_step
    from sklearn_em._kernels import statistics
    from sklearn_em._models import INNER_MAX_ITER

    X = load_wine().data
    z = np.eye(3)[KMeans(3, n_init=1, random_state=0).fit(X).labels_]
    stats = statistics(X, None, lambda sl: z[sl], model, X.mean(axis=0), 3)
    cold = m_step(stats, model, 0.0)
    if model == "EVE":
        assert cold.state.n_iter > INNER_MAX_ITER
    else:
        assert cold.state.converged
    warm = m_step(stats, model, 0.0, previous=cold)
    assert warm.state.n_iter <= INNER_MAX_ITER


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_partial_fit_keeps_the_model(model):
    """Online EM (partial_fit) runs the same M-step on blended statistics: the covariances
    keep the model's form, and the fit is close to a maximum of the batch likelihood: batch EM
    started from it moves its score little. (Not necessarily the batch fit's own maximum:
    VVE's likelihood here has two, and batch EM from k-means finds the one 0.066 per row
    higher, where one pass of online EM ends 0.008 from the other.)"""
    rng = np.random.RandomState(0)
    X = np.vstack([rng.randn(300, 3) @ rng.randn(3, 3) + 4 * i for i in range(3)])
    rng.shuffle(X)
    online = GaussianMixtureEM(3, covariance_type=model, random_state=0)
    for batch in np.array_split(X, 6):
        online.partial_fit(batch)
    row = get_model(model)
    _assert_constraints(row, np.asarray(row.kernel_type.expand(online.covariances_, 3, 3)))
    batch_fit = GaussianMixtureEM(
        3,
        covariance_type=model,
        weights_init=online.weights_,
        means_init=online.means_,
        precisions_init=online.precisions_,
    ).fit(X)
    assert online.score(X) == pytest.approx(batch_fit.score(X), abs=0.05)


def _small_components():
    from pathlib import Path

    folder = Path(__file__).parent / "fixtures" / "mclust"
    lines = [
        line.split(",") for line in (folder / "small_components.csv").read_text().splitlines()[2:]
    ]
    return folder, [(t, m, int(g), float(ll)) for t, m, g, ll in lines]


@pytest.mark.parametrize("table, model, k, mclust_loglik", _small_components()[1])
def test_components_of_few_rows_under_a_shared_shape_are_mclusts(table, model, k, mclust_loglik):
    # A component of no more rows than dimensions has a singular scatter, but its VEI, VEE,
    # VEV or EEV covariance is not singular (the shape, or volume and shape, comes from the
    # others): mclust's me() fits it. It was left out of the covariance step and given the
    # pooled covariance, a fit outside the model (VEV on mtcars' columns, k=5: the
    # log-likelihood fell by up to 45 between iterations and never converged).
    folder, _ = _small_components()
    X = np.loadtxt(folder / f"data_{table}.csv", delimiter=",", skiprows=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateComponentWarning)
        gm = GaussianMixtureEM(
            k, covariance_type=model, init_params="hc", reg_covar=0.0, tol=1e-10, max_iter=500
        ).fit(X)
    assert gm.converged_
    assert_allclose(gm.score(X) * len(X), mclust_loglik, rtol=1e-7)
    assert constraints_broken(model, gm.precisions_, k, X.shape[1]) == ""
    bounds = np.asarray(gm.lower_bounds_) * len(X)
    assert np.all(np.diff(bounds) >= -1e-9 * np.abs(bounds[1:]))
