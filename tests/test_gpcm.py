"""The covariance M-steps of mclust's 14 models (sklearn_em._gpcm) against R mclust 6.0.0.

Oracles: ``tests/fixtures/mclust/mclust_gpcm.json``, written by ``make_fixtures.R`` next to
it (mclust's ``mstep``, ``me``, ``nMclustParams``; R is not needed to run these tests); SciPy
densities for the brute-force EM loop and for the expected complete-data log-likelihood Q in
the hypothesis properties.
"""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import mclust_start
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from scipy.stats import multivariate_normal, special_ortho_group

from sklearn_em import GaussianMixtureEM, _gpcm
from sklearn_em._gpcm import FORM, ITERATIVE, MODELS, GPCMStep, full_covariances, m_step


def _fits(table_names=("faithful", "iris", "banknote")):
    return [(t, m, k) for t in table_names for m in MODELS for k in (2, 3)]


def _statistics(X, z):
    """Weights, means and centred scatters, one component at a time."""
    nk = z.sum(axis=0)
    means = (z.T @ X) / nk[:, None]
    scatter = np.stack(
        [(z[:, j, None] * (X - means[j])).T @ (X - means[j]) for j in range(z.shape[1])]
    )
    return nk, means, scatter


def _e_step(X, weights, means, covariances):
    log_prob = np.column_stack(
        [
            np.log(weights[j]) + multivariate_normal(means[j], covariances[j]).logpdf(X)
            for j in range(len(weights))
        ]
    )
    ll = logsumexp(log_prob, axis=1)
    return np.exp(log_prob - ll[:, None]), ll.sum()


def _rel(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


# --- one M-step from mclust's z: mclust's mstep -----------------------------------------------


@pytest.mark.parametrize("table, model, k", _fits())
def test_m_step_equals_mclust_mstep(mclust, table, model, k):
    X, z = mclust_start(mclust, table, k)
    ref = mclust["tables"][table]["fits"][f"{model}_{k}"]
    nk, means, scatter = _statistics(X, z)
    # From mclust's starting values (no previous step); VVE as mclust writes it.
    step = m_step(model, nk, scatter, vve_weights="mclust")
    assert _rel(full_covariances(step), ref["mstep"]["sigma"]) < 1e-6
    assert_allclose(means, ref["mstep"]["mean"], rtol=1e-10)
    if model in ITERATIVE:
        # Same algorithm, same start, same tolerance: the same number of inner iterations.
        assert step.n_iter == ref["mstep_inner"][0]
        assert step.converged
    scale = ref["mstep"].get("scale", ref["mstep"].get("sigmasq"))
    if scale is not None and model != "EEE":  # mclust's EEE stores no decomposition
        assert_allclose(step.scale, np.broadcast_to(scale, (k,)), rtol=1e-6)


@pytest.mark.parametrize("table, model, k", _fits())
def test_brute_force_em_reproduces_mclust_me(mclust, table, model, k):
    """EM from mclust's z, as many iterations as mclust's ``me`` took, SciPy densities."""
    X, z = mclust_start(mclust, table, k)
    ref = mclust["tables"][table]["fits"][f"{model}_{k}"]
    previous = None
    for _ in range(int(ref["me_iterations"])):
        nk, means, scatter = _statistics(X, z)
        step = m_step(model, nk, scatter, previous=previous, vve_weights="mclust")
        # mclust's meVEE restarts its inner iterations from lambda = 1 every EM iteration;
        # its other iterative models carry the previous parameters over, as we do.
        previous = None if model == "VEE" else step
        z, loglik = _e_step(X, nk / len(X), means, full_covariances(step))
    assert abs(loglik - ref["me_loglik"]) / abs(ref["me_loglik"]) < 1e-9
    assert _rel(full_covariances(step), ref["me"]["sigma"]) < 1e-6
    n, d = X.shape
    bic = 2 * loglik - _gpcm.n_parameters(model, k, d) * np.log(n)
    assert bic == pytest.approx(ref["bic"], rel=1e-9)


@pytest.mark.parametrize("table", ["faithful", "iris", "banknote"])
def test_vee_warm_start_reaches_mclust_me(mclust, table):
    """Warm-started VEE (as phase 2 will run it) agrees with mclust's cold-started one."""
    X, z = mclust_start(mclust, table, 3)
    ref = mclust["tables"][table]["fits"]["VEE_3"]
    previous = None
    for _ in range(int(ref["me_iterations"])):
        nk, means, scatter = _statistics(X, z)
        previous = m_step("VEE", nk, scatter, previous=previous)
        z, loglik = _e_step(X, nk / len(X), means, full_covariances(previous))
    assert abs(loglik - ref["me_loglik"]) / abs(ref["me_loglik"]) < 1e-6


@pytest.mark.parametrize("table", ["faithful", "iris", "banknote"])
@pytest.mark.parametrize("k", [2, 3])
def test_vve_volume_weights_beat_mclust_vve(mclust, table, k):
    """mclust's VVE orientation update ignores the volumes, so it stops short of the maximum:
    the volume-weighted MM step reaches a strictly larger Q from the same statistics."""
    X, z = mclust_start(mclust, table, k)
    nk, means, scatter = _statistics(X, z)
    ours = m_step("VVE", nk, scatter, tol=1e-12)
    theirs = m_step("VVE", nk, scatter, vve_weights="mclust")
    assert (
        _rel(
            full_covariances(theirs), mclust["tables"][table]["fits"][f"VVE_{k}"]["mstep"]["sigma"]
        )
        < 1e-6
    )
    q_ours = _expected_log_likelihood(X, z, means, full_covariances(ours))
    q_theirs = _expected_log_likelihood(X, z, means, full_covariances(theirs))
    assert q_ours > q_theirs + 1e-9 * abs(q_theirs)


# --- MAP under mclust's conjugate prior: mclust's mstep with priorControl() ----------------


@pytest.mark.parametrize("table, model, k", [f for f in _fits() if f[1] in _gpcm.PRIOR_MODELS])
def test_map_m_step_equals_mclust_mstep_with_prior(mclust, table, model, k):
    X, z = mclust_start(mclust, table, k)
    ref = mclust["tables"][table]["fits"][f"{model}_{k}"]
    hyper = ref["prior"]
    prior = _gpcm.ConjugatePrior(
        hyper["shrinkage"], np.array(hyper["mean"]), hyper["dof"], np.array(hyper["scale"])
    )
    nk, means, scatter = _statistics(X, z)
    posterior_means, step = _gpcm.map_m_step(model, nk, means, scatter, prior)
    assert _rel(full_covariances(step), ref["mstep_prior"]["sigma"]) < 1e-6
    assert_allclose(posterior_means, ref["mstep_prior"]["mean"], rtol=1e-10)
    # The prior does something (mclust's default prior is weak, but not nothing).
    assert _rel(full_covariances(step), ref["mstep"]["sigma"]) > 1e-6


def test_map_m_step_refuses_models_without_prior():
    prior = _gpcm.ConjugatePrior(0.01, np.zeros(2), 4.0, np.eye(2))
    with pytest.raises(
        ValueError,
        match=re.escape("mclust has no conjugate prior for model 'VVE'; models with one: EII, VII"),
    ):
        _gpcm.map_m_step("VVE", np.ones(2), np.zeros((2, 2)), np.stack([np.eye(2)] * 2), prior)


# --- parameter counts -----------------------------------------------------------------------


def test_parameter_counts_equal_nMclustParams(mclust):
    counts = mclust["counts"]
    assert len(counts) == 14 * 3 * 2
    for row in counts:
        model, d, k = row["model"], row["d"], row["G"]
        assert _gpcm.n_parameters(model, k, d) == row["nMclustParams"], row
        assert _gpcm.n_covariance_parameters(model, k, d) == row["nVarParams"], row


# --- properties: Q never decreases, constraints hold -----------------------------------------


def _expected_log_likelihood(X, z, means, covariances):
    """Q's Gaussian part, sum_i sum_k z_ik log N(x_i | m_k, Sigma_k), by SciPy densities."""
    return sum(
        z[:, j] @ multivariate_normal(means[j], covariances[j]).logpdf(X) for j in range(z.shape[1])
    )


def _random_step(model, rng, k, d):
    """Arbitrary parameters of ``model``: the previous step an iterative M-step starts from."""
    scale = np.exp(rng.normal(size=k if model[0] == "V" else 1)) * np.ones(k)
    shape = np.exp(rng.normal(size=(k if model[1] == "V" else 1, d))) * np.ones((k, d))
    shape /= np.exp(np.log(shape).mean(axis=1))[:, None]
    if FORM[model] == "spherical":
        return GPCMStep(model, scale, scale, np.ones((k, d)), None)
    if FORM[model] == "diagonal":
        return GPCMStep(model, scale[:, None] * shape, scale, shape, None)
    D = special_ortho_group.rvs(d, size=k if model[2] == "V" else 1, random_state=rng)
    D = np.broadcast_to(D.reshape(-1, d, d), (k, d, d)).copy()
    cov = scale[:, None, None] * (D * shape[:, None, :]) @ np.swapaxes(D, 1, 2)
    return GPCMStep(model, cov, scale, shape, D)


problems = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**32 - 1),
        "k": st.integers(1, 4),
        "d": st.integers(2, 5),
        "max_iter": st.sampled_from([1, 2, 5, _gpcm.DEFAULT_MAX_ITER]),
    }
)


def _random_problem(seed, k, d):
    rng = np.random.default_rng(seed)
    n = 8 * d * k
    # Correlated, unevenly scaled data and arbitrary soft responsibilities.
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.normal(scale=10, size=d)
    z = rng.dirichlet(np.full(k, 0.5), size=n) + 1e-3
    return rng, X, z / z.sum(axis=1, keepdims=True)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=problems, model=st.sampled_from(sorted(ITERATIVE)))
def test_iterative_m_step_never_decreases_q(problem, model):
    rng, X, z = _random_problem(problem["seed"], problem["k"], problem["d"])
    nk, means, scatter = _statistics(X, z)
    previous = _random_step(model, rng, problem["k"], problem["d"])
    step = m_step(model, nk, scatter, previous=previous, max_iter=problem["max_iter"])
    q_before = _expected_log_likelihood(X, z, means, full_covariances(previous))
    q_after = _expected_log_likelihood(X, z, means, full_covariances(step))
    assert q_after >= q_before - 1e-9 * abs(q_before)
    _assert_constraints(model, step)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=problems, model=st.sampled_from(MODELS))
def test_m_step_satisfies_model_constraints(problem, model):
    _, X, z = _random_problem(problem["seed"], problem["k"], problem["d"])
    nk, _, scatter = _statistics(X, z)
    _assert_constraints(model, m_step(model, nk, scatter))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=problems, model=st.sampled_from(MODELS))
def test_converged_m_step_beats_any_parameters_of_the_model(problem, model):
    """The M-step maximises Q over the model: random parameters of the model never do better
    (EVE and VVE only reach a local maximum, so they are compared with a start they refine)."""
    rng, X, z = _random_problem(problem["seed"], problem["k"], problem["d"])
    nk, means, scatter = _statistics(X, z)
    other = _random_step(model, rng, problem["k"], problem["d"])
    start = other if model in ("EVE", "VVE") else None
    step = m_step(model, nk, scatter, previous=start, tol=1e-12)
    q_best = _expected_log_likelihood(X, z, means, full_covariances(step))
    q_other = _expected_log_likelihood(X, z, means, full_covariances(other))
    assert q_best >= q_other - 1e-9 * abs(q_other)


def _assert_constraints(model, step):
    k, d = step.shape.shape
    cov = full_covariances(step)
    volume, shape, orientation = model
    assert np.all(step.scale > 0) and np.all(step.shape > 0)
    assert_allclose(np.prod(step.shape, axis=1), 1, rtol=1e-10)  # det(A_k) = 1
    # det(Sigma_k) = lambda_k^d; a determinant is computed with a relative error of about
    # d * cond * eps, so the logarithms are compared with that tolerance
    sign, logdet = np.linalg.slogdet(cov)
    assert np.all(sign > 0)
    assert_allclose(
        logdet,
        d * np.log(step.scale),
        rtol=0,
        atol=64 * d * np.finfo(float).eps * np.linalg.cond(cov).max(),
    )
    if volume == "E":
        assert_allclose(step.scale, step.scale[0], rtol=1e-12)
    if shape == "E":
        assert_allclose(step.shape, np.broadcast_to(step.shape[0], (k, d)), rtol=1e-12)
    if shape == "I":
        assert_allclose(step.shape, 1, rtol=1e-12)
    if orientation == "I":
        assert step.orientation is None
        assert_allclose(cov, cov * np.eye(d), atol=0)
        return
    D = step.orientation
    assert_allclose(D @ np.swapaxes(D, 1, 2), np.broadcast_to(np.eye(d), (k, d, d)), atol=1e-10)
    if orientation == "E":
        assert_allclose(D, np.broadcast_to(D[0], (k, d, d)), atol=1e-12)
    recomposed = step.scale[:, None, None] * (D * step.shape[:, None, :]) @ np.swapaxes(D, 1, 2)
    assert_allclose(cov, recomposed, rtol=1e-8, atol=1e-12 * np.abs(cov).max())


# --- the forms and reg_covar ----------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_reduced_statistics_give_the_same_step(mclust, model):
    X, z = mclust_start(mclust, "iris", 3)
    nk, _, scatter = _statistics(X, z)
    full = m_step(model, nk, scatter)
    if _gpcm.STATISTIC[model] == "full":
        return
    diagonal = np.diagonal(scatter, axis1=1, axis2=2)
    reduced = (
        m_step(model, nk, diagonal)
        if _gpcm.STATISTIC[model] == "diagonal"
        else m_step(model, nk, diagonal.sum(axis=1), n_features=X.shape[1])
    )
    assert_allclose(reduced.covariances, full.covariances, rtol=1e-14)


@pytest.mark.parametrize(
    "model, sklearn_type", [("VVV", "full"), ("VVI", "diag"), ("VII", "spherical"), ("EEE", "tied")]
)
def test_reg_covar_as_scikit_learn(mclust, model, sklearn_type):
    from sklearn.mixture._gaussian_mixture import _estimate_gaussian_parameters

    X, z = mclust_start(mclust, "banknote", 3)
    nk, _, scatter = _statistics(X, z)
    # Centred first: scikit-learn's diag, spherical and tied estimates use uncentred moments,
    # which lose digits on data far from the origin (banknote's are near 200).
    _, _, expected = _estimate_gaussian_parameters(X - X.mean(axis=0), z, 0.1, sklearn_type)
    step = m_step(model, nk, scatter, reg_covar=0.1)
    got = step.covariances[0] if sklearn_type == "tied" else step.covariances
    assert_allclose(got, expected, rtol=1e-12)


# --- errors are ours ------------------------------------------------------------------------


def test_errors_name_the_problem():
    nk = np.array([2.0, 3.0])
    W = np.stack([np.eye(3), 2 * np.eye(3)])
    with pytest.raises(ValueError, match=re.escape("Unknown model 'XYZ'; expected one of EII")):
        m_step("XYZ", nk, W)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Model 'VVV' needs the full scatter (k, d, d); got an array of shape (2, 3)."
        ),
    ):
        m_step("VVV", nk, np.ones((2, 3)))
    with pytest.raises(ValueError, match=re.escape("n_features is needed when the scatter")):
        m_step("VII", nk, np.ones(2))
    with pytest.raises(ValueError, match="Every component weight nk must be positive"):
        m_step("VVV", np.array([2.0, 0.0]), W)
    with pytest.raises(ValueError, match=re.escape("nk has shape (3,) but scatter has 2 comp")):
        m_step("VVV", np.ones(3), W)
    previous = m_step("EVE", nk, W)
    with pytest.raises(ValueError, match="previous is a EVE step with shape"):
        m_step("VVE", nk, W, previous=previous)
    with pytest.raises(ValueError, match="vve_weights must be 'volume' or 'mclust'"):
        m_step("VVE", nk, W, vve_weights="equal")
    with pytest.raises(ValueError, match=re.escape("Unknown model 'vvv'")):
        _gpcm.n_parameters("vvv", 2, 3)


# --- VVE: mclust's orientation update against the volume-weighted one ------------------------


def test_mclust_vve_step_can_decrease_q():
    """Why "mclust" is not the default: from the VVE maximum of Q, one of mclust's VVE steps
    (orientation update without the volumes) moves away and lowers Q."""
    _, X, z = _random_problem(0, 2, 2)
    nk, means, scatter = _statistics(X, z)
    best = m_step("VVE", nk, scatter, tol=1e-14)
    step = m_step("VVE", nk, scatter, previous=best, vve_weights="mclust", max_iter=1)
    q_best = _expected_log_likelihood(X, z, means, full_covariances(best))
    q_step = _expected_log_likelihood(X, z, means, full_covariances(step))
    assert q_step < q_best - 1e-6 * abs(q_best)
    # ... while a volume-weighted step from there stays (the maximum is its fixed point).
    again = m_step("VVE", nk, scatter, previous=best, max_iter=1)
    assert _expected_log_likelihood(X, z, means, full_covariances(again)) >= q_best - 1e-12 * abs(
        q_best
    )


@pytest.mark.parametrize("table, k", [("iris", 2), ("iris", 3), ("banknote", 2)])
def test_vve_em_is_monotone_and_beats_mclust_me(mclust, table, k):
    """mclust's me("VVE") log-likelihood goes down in some iterations on these tables (its
    M-step does not maximise Q); EM with the volume-weighted step goes up at every iteration,
    and stops (mclust's rule: relative change below 1e-5) higher than mclust's."""
    X, z = mclust_start(mclust, table, k)
    ref = mclust["tables"][table]["fits"][f"VVE_{k}"]

    def em(vve_weights, resp):
        previous, logliks = None, []
        while len(logliks) < 500:
            nk, means, scatter = _statistics(X, resp)
            previous = m_step("VVE", nk, scatter, previous=previous, vve_weights=vve_weights)
            resp, loglik = _e_step(X, nk / len(X), means, full_covariances(previous))
            logliks.append(loglik)
            if len(logliks) > 1 and abs(loglik - logliks[-2]) / (1 + abs(loglik)) < 1e-5:
                break
        return np.array(logliks)

    theirs = em("mclust", z)
    assert theirs[-1] == pytest.approx(ref["me_loglik"], rel=1e-9)
    assert np.any(np.diff(theirs) < 0)
    ours = em("volume", z)
    assert np.all(np.diff(ours) >= -1e-10 * abs(ours[-1]))
    assert ours[-1] > ref["me_loglik"] + 1e-4 * abs(ref["me_loglik"])


@pytest.mark.parametrize("model", ["EVE", "VVE"])
@pytest.mark.parametrize("d", [2, 5, 13])
def test_one_component_common_orientation_is_the_full_covariance(model, d):
    # with one component, a common orientation is the component's own: the maximum is the
    # full covariance W / n, reached at once (the MM updates crept towards it from the
    # identity or from a warm start elsewhere: hundreds of EM passes on wine)
    rng = np.random.default_rng(d)
    A = rng.standard_normal((d, d)) * np.geomspace(1, 100, d)
    W = (A @ A.T)[None] + np.eye(d)
    nk = np.array([40.0])
    full = _gpcm.m_step("VVV", nk, W).covariances
    start = _gpcm.m_step(model, nk, W)
    assert_allclose(start.covariances, full, rtol=1e-10, atol=1e-12 * np.abs(full).max())
    assert start.n_iter <= 3
    # from a warm start in another orientation, too
    turned = special_ortho_group.rvs(d, random_state=1)
    previous = _gpcm.GPCMStep(
        model, None, start.scale, start.shape, np.tile(turned, (1, 1, 1)), 0, True
    )
    warm = _gpcm.m_step(model, nk, W, previous=previous)
    assert_allclose(warm.covariances, full, rtol=1e-10, atol=1e-12 * np.abs(full).max())


def _scatter_with_a_null_space(d=5):
    """The scatters (2, d, d) of a component of 3 rows (a null space of d - 2 dimensions) and
    one of 30, and their weights."""
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((3, d))
    rows -= rows.mean(axis=0)
    full = rng.standard_normal((30, d)) * np.geomspace(1, 10, d)
    W = np.stack([rows.T @ rows, full.T @ full - 30 * np.outer(full.mean(0), full.mean(0))])
    return W, np.array([3.0, 30.0])


@pytest.mark.parametrize("model", ["EEV", "VEV"])
def test_null_space_orientation_is_canonical(model):
    # a component of 3 rows in 5 dimensions: its scatter's null space (2 dimensions, each
    # paired with its own entry of the common shape) gets the same basis whatever basis eigh
    # returns for it, so the covariances do not depend on the scatter's last bits
    d = 5
    W, nk = _scatter_with_a_null_space(d)
    step = m_step(model, nk, W, reg_covar=1e-3)
    # the same scatter, rounded differently: eigh's null basis moves, the step must not
    turned = special_ortho_group.rvs(d, random_state=2)
    W2 = W.copy()
    W2[0] = turned.T @ ((turned @ W[0] @ turned.T + (turned @ W[0] @ turned.T).T) / 2) @ turned
    other = m_step(model, nk, W2, reg_covar=1e-3)
    assert_allclose(other.covariances, step.covariances, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("model", ["EEV", "VEV"])
def test_map_step_judges_null_spaces_at_the_statistics_resolution(model, monkeypatch):
    # a scatter with a null space, plus the prior's isotropic scale: equal eigenvalues, spread
    # by the statistics' float32 rounding. Judged at float32's eps (the statistics'), two
    # roundings of the same scatter give the same covariances; at float64's, their null
    # bases (and the shape entries they pair with) came from the rounding
    d = 5
    W, nk = _scatter_with_a_null_space(d)
    means = np.zeros((2, d))
    prior = _gpcm.ConjugatePrior(shrinkage=0.0, mean=np.zeros(d), dof=d + 2.0, scale=np.eye(d))

    def in_float32(A):
        return A.astype(np.float32).astype(np.float64)

    turned = special_ortho_group.rvs(d, random_state=2)
    a, b = in_float32(W), in_float32(W)
    b[0] = turned.T @ in_float32(turned @ W[0] @ turned.T) @ turned
    b[0] = (b[0] + b[0].T) / 2
    eps32 = float(np.finfo(np.float32).eps)

    def covariances(scatter, eps):
        return _gpcm.map_m_step(model, nk, means, scatter, prior, eps=eps)[1].covariances

    assert_allclose(covariances(b, eps32), covariances(a, eps32), rtol=1e-6, atol=1e-6)
    apart = np.abs(covariances(b, _gpcm._EPS64) - covariances(a, _gpcm._EPS64)).max()
    assert apart > 1e-4 * np.abs(covariances(a, eps32)).max()
    # the estimator's MAP step hands the pass's resolution on (float32 rows: float32's)
    seen = []
    original = _gpcm.map_m_step

    def recording(*args, **kwargs):
        seen.append(kwargs.get("eps"))
        return original(*args, **kwargs)

    monkeypatch.setattr(_gpcm, "map_m_step", recording)
    X = np.random.RandomState(0).randn(60, 3).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        GaussianMixtureEM(2, covariance_type=model, prior_strength=1.0, max_iter=3).fit(X)
    assert seen and set(seen) == {eps32}


def _log_likelihoods_in_units(table, k, model, dtype=np.float64, units=(1.0, 3.7, 10.0, 1e6)):
    """The log-likelihood of ``GaussianMixtureEM`` (hc start, ``reg_covar`` scaled with the
    data) on a stored mclust table (complete rows) in each unit, brought back to units 1."""
    path = Path(__file__).parent / "fixtures" / "mclust" / f"data_{table}.csv"
    X = np.genfromtxt(path, delimiter=",", skip_header=1)
    X = X[~np.isnan(X).any(axis=1)]
    n, d = X.shape
    fits = []
    for u in units:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g = GaussianMixtureEM(
                k,
                covariance_type=model,
                init_params="hc",
                reg_covar=1e-6 * u * u,
                max_iter=1000,
                tol=1e-8,
            ).fit((X * u).astype(dtype))
        fits.append(float(g.lower_bound_) * n + n * d * np.log(u))
    return fits


def test_vev_fit_does_not_depend_on_the_units_of_a_small_component():
    # mtcars' five columns, k = 5 from mclust's hc: two components of 4 rows have a
    # 2-dimensional null space; its basis came from the last bits of the scatter, so the
    # fit ended at -376.04 in units 1 and 1e6 and at -391.30 in units 3.7 and 10
    # (mclust's me: -376.04)
    fits = _log_likelihoods_in_units("mtcars5", 5, "VEV")
    assert_allclose(fits, fits[0], rtol=1e-6)
    assert fits[0] >= -376.042


def test_eev_float32_fit_does_not_depend_on_the_units_of_a_small_component():
    # float32 data: the scatter's null eigenvalues spread by float32's rounding, so the null
    # space is judged at float32's eps (with float64's it never was: airquality's EEV k=9
    # ended at -2153.64, -2135.91, -2135.91 and -2115.46 in the four units)
    fits = _log_likelihoods_in_units("airquality", 9, "EEV", np.float32)
    # float32's own rounding of the log-likelihood (a few thousandths here), not 40 units
    assert_allclose(fits, fits[0], atol=0.01)


def test_null_space_of_a_scatter_that_overflowed_is_left_alone():
    # another component's scatter is not finite: the pooled scatter has no eigenvectors to
    # take (eigh would raise); the M-step behaves as it did without the null-space rule
    rows = np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])
    W = np.stack([rows.T @ rows, np.full((3, 3), np.inf)])
    values, vectors = _gpcm._eigh_descending(W[:1])
    values = np.concatenate([values, np.full((1, 3), np.inf)])
    vectors = np.concatenate([vectors, np.tile(np.eye(3), (1, 1, 1))])
    out = _gpcm._settle_null_spaces(values, vectors, W)
    assert_array_equal(out, vectors)


# --- VVE: the Flury-Gautschi step (common principal components) ------------------------------


def _cpc_objective(W, nk, D):
    """Flury's CPC criterion, sum_k n_k log det diag(D^T S_k D), S_k = W_k / n_k."""
    diagonals = np.einsum("ji,kjl,li->ki", D, W, D) / nk[:, None]
    return float(np.sum(nk * np.log(diagonals).sum(axis=1)))


def _random_scatters(seed, k, d):
    rng = np.random.RandomState(seed)
    nk = rng.uniform(5, 50, size=k)
    W = np.stack([np.cov(rng.randn(2 * d + 3, d) @ rng.randn(d, d), rowvar=False) for _ in nk])
    return nk, W * nk[:, None, None]


@pytest.mark.parametrize("k, d", [(2, 2), (3, 5), (6, 10), (4, 7)])
def test_vve_step_recovers_exact_common_components(k, d):
    # scatters with common eigenvectors: the step's orientation diagonalises every one of them
    rng = np.random.RandomState(k * d)
    D0 = special_ortho_group.rvs(d, random_state=rng)
    nk = rng.uniform(5, 50, size=k)
    W = np.stack([D0 @ np.diag(rng.uniform(0.1, 10, size=d)) @ D0.T * n for n in nk])
    D = m_step("VVE", nk, W, tol=1e-14).orientation[0]
    rotated = np.einsum("ji,kjl,lm->kim", D, W, D)
    off = rotated - np.einsum("kii->ki", rotated)[:, :, None] * np.eye(d)
    assert np.abs(off).max() <= 1e-9 * np.abs(rotated).max()
    assert_allclose(D.T @ D, np.eye(d), atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), k=st.integers(2, 6), d=st.integers(2, 8))
def test_vve_step_ends_where_no_plane_rotation_lowers_the_criterion(seed, k, d):
    # stationarity by brute force: a rotation by +-1e-4 rad in any plane of two columns does
    # not lower the CPC criterion (a point short of a stationary one, e.g. after one sweep,
    # loses 1e-5 or more of it so). Flury's likelihood equations themselves are a poor test:
    # in planes where the criterion is flat to rounding their terms cancel only to 1e-3-1e-2
    nk, W = _random_scatters(seed, k, d)
    D = m_step("VVE", nk, W, tol=1e-14, max_iter=10_000).orientation[0]
    at = _cpc_objective(W, nk, D)
    for i in range(d):
        for j in range(i + 1, d):
            for angle in (1e-4, -1e-4):
                c, s = np.cos(angle), np.sin(angle)
                turned = D.copy()
                turned[:, i], turned[:, j] = c * D[:, i] + s * D[:, j], c * D[:, j] - s * D[:, i]
                assert _cpc_objective(W, nk, turned) >= at - 1e-10 * (1 + abs(at))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), k=st.integers(2, 6), d=st.integers(2, 8))
def test_vve_step_lowers_the_criterion_of_its_start(seed, k, d):
    # a warm step (at most 2 sweeps) from a random orientation (never stationary): Q rises,
    # so the CPC criterion falls, by more than rounding (a step that went the wrong way would
    # be undone, and leave it where it was)
    nk, W = _random_scatters(seed, k, d)
    start = _gpcm.GPCMStep(
        "VVE",
        np.zeros((k, d, d)),
        np.ones(k),
        np.ones((k, d)),
        np.tile(special_ortho_group.rvs(d, random_state=seed % 2**32), (k, 1, 1)),
    )
    D = m_step("VVE", nk, W, previous=start, max_iter=2).orientation[0]
    before = _cpc_objective(W, nk, start.orientation[0])
    assert _cpc_objective(W, nk, D) < before - 1e-9 * (1 + abs(before))


def test_vve_step_reaches_the_mm_updates_limit():
    # Browne & McNicholas' MM updates (the step this one replaced), run for 20,000 iterations,
    # converge to the same maximum on a table's partition: the criteria agree to 1e-10 (at
    # the default inner tolerance, sqrt(eps), the step ends 8e-8 short of it, relatively)
    from sklearn.cluster import KMeans
    from sklearn.datasets import load_wine

    X = load_wine().data
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    z = np.eye(4)[KMeans(4, n_init=1, random_state=0).fit(X).labels_]
    nk, _, W = _statistics(X, z)
    ours = m_step("VVE", nk, W, tol=1e-14)
    stacked = _gpcm._Stacked(W)
    D, shape, scale = np.eye(W.shape[1]), np.ones(W.shape[:2]), np.ones(4)
    for _ in range(20_000):
        D = _gpcm._common_orientation_mm(stacked, D, 1 / shape / scale[:, None])
        diagonals = stacked.rotated_diagonals(D) / nk[:, None]
        scale = _gpcm._geomean(diagonals)
        shape = diagonals / scale[:, None]
    best = _cpc_objective(W, nk, D)
    assert ours.converged
    assert _cpc_objective(W, nk, ours.orientation[0]) == pytest.approx(best, rel=1e-10)


@pytest.mark.parametrize("d", range(1, 13))
def test_cpc_rounds_pair_every_two_coordinates_once(d):
    rounds = _gpcm._rounds(d)
    pairs = sorted((int(a), int(b)) for i, j in rounds for a, b in zip(i, j))
    assert pairs == [(a, b) for a in range(d) for b in range(a + 1, d)]
    for i, j in rounds:  # disjoint within a round: its rotations commute
        assert len(set(i.tolist()) | set(j.tolist())) == 2 * len(i)


def test_vve_step_in_one_dimension_is_each_components_variance():
    # one column: no orientation to choose, and VVE's covariances are the W_k / n_k of VVI
    nk = np.array([3.0, 4.0, 9.0])
    W = np.array([2.0, 5.0, 0.5])[:, None, None]
    assert_allclose(m_step("VVE", nk, W).covariances[:, 0, 0], W[:, 0, 0] / nk, rtol=1e-15)


def test_vve_step_on_a_singular_scatter_stops_at_once():
    # 3 rows in 5 dimensions and no regularisation: the rotations reach the scatters' null
    # spaces (the criterion -inf); the step stops there instead of sweeping to its cap, with
    # an orthogonal orientation (the M-step then finds the covariances singular)
    rng = np.random.RandomState(0)
    W = np.stack([x.T @ x for x in rng.randn(2, 3, 5)])
    step = m_step("VVE", np.array([3.0, 3.0]), W)
    assert step.n_iter < 100 and not step.converged
    D = step.orientation[0]
    assert_allclose(D.T @ D, np.eye(5), atol=1e-12)
