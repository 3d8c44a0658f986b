"""Tests of GaussianMixtureSelector: every cell against a direct GaussianMixtureEM fit,
recovery of known models, failures recorded per cell, and the scikit-learn contract.

Expected failures of ``parametrize_with_checks``: the sample-weight equivalence check (the
starts are not weight-equivalent; see the reason below). check_array_api_input skips itself
unless SCIPY_ARRAY_API is set. The checks run on a two-cell grid (n_components 1
and 2, 'full') only to keep them fast: the selector's own code paths -- the grid, the
parallel loop, the table, the choice, delegation -- are the same for any grid, and the
covariance types themselves are checked in the estimator's tests.
"""

import io
import re
import sys
import warnings

import numpy as np
import pytest
from _brute_force import bulk_scale
from conftest import COVARIANCE_TYPES
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_em import GaussianMixtureSelector, _gpcm, _selection
from sklearn_em._models import FEW_ROWS_MODEL_NAMES, MODEL_NAMES, get_model

pytestmark = pytest.mark.usefixtures("one_thread")


def _rotation(angle):
    return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


def make_clusters(kind, n=120, seed=0):
    """Three well-separated 2-D clusters whose covariance structure is exactly ``kind``.

    spherical: isotropic, three different variances. diag: axis-aligned, different per
    component. tied: one shared rotated (non-diagonal) covariance. full: three different
    orientations, so neither a shared nor a diagonal covariance fits.
    """
    rng = np.random.RandomState(seed)
    centres = np.array([[0.0, 0.0], [14.0, 0.0], [7.0, 14.0]])
    if kind == "spherical":
        covs = [s**2 * np.eye(2) for s in (0.5, 1.0, 1.5)]
    elif kind == "diag":
        covs = [np.diag(v) for v in ([4.0, 0.25], [0.25, 4.0], [1.5, 0.5])]
    elif kind == "tied":
        shared = _rotation(0.6) @ np.diag([4.0, 0.2]) @ _rotation(0.6).T
        covs = [shared] * 3
    else:
        covs = [_rotation(a) @ np.diag([4.0, 0.2]) @ _rotation(a).T for a in (0.6, -0.6, 1.5)]
    X = np.vstack([rng.multivariate_normal(m, c, n) for m, c in zip(centres, covs)])
    y = np.repeat(np.arange(3), n)
    return X, y


@pytest.fixture(scope="module")
def blobs():
    X, _ = make_clusters("full", n=40, seed=1)
    return X


# ----------------------------------------------------------------------------- sklearn
@parametrize_with_checks(
    [GaussianMixtureSelector(n_components=(1, 2), covariance_type="full", random_state=0)],
    expected_failed_checks=lambda est: {
        "check_sample_weight_equivalence_on_dense_data": (
            "the starts are not weight-equivalent: the hierarchical tree is built on the "
            "distinct rows (weights enter through the M-step), and k-means++ seeding differs "
            "between a weighted row and its repeats (scikit-learn expects the same failure "
            "of its own KMeans)"
        ),
    },
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ----------------------------------------------------------------------------- cells
@pytest.mark.parametrize(
    "weighted, params",
    [
        (False, dict(random_state=7)),
        (
            True,
            dict(
                random_state=3,
                n_init=2,
                tol=1e-4,
                reg_covar=1e-4,
                max_iter=50,
                init_params="k-means++",
                prior_strength=0.5,
                covariance_type="sklearn",
            ),
        ),
    ],
    ids=["defaults", "weighted-non-default-params"],
)
def test_cells_follow_the_definitions_of_the_criteria(blobs, weighted, params):
    X = blobs
    w = np.random.RandomState(0).randint(0, 4, size=len(X)).astype(float) if weighted else None
    ks = [1, 2, 3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sel = GaussianMixtureSelector(n_components=ks, **params).fit(X, sample_weight=w)
    res = sel.results_
    types = COVARIANCE_TYPES if params.get("covariance_type") == "sklearn" else MODEL_NAMES
    assert list(dict.fromkeys(res["covariance_type"])) == list(types)
    assert len(res["bic"]) == len(ks) * len(types)
    assert not any(res["error"])
    for i, (t, k) in enumerate(zip(res["covariance_type"], res["n_components"])):
        # free parameters against scikit-learn's own count, or mclust's (``_gpcm``, tested
        # against R) for the models scikit-learn has no name for
        if get_model(t).alias is None:
            assert res["n_parameters"][i] == _gpcm.n_parameters(t, int(k), X.shape[1])
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ref = GaussianMixture(
                n_components=int(k), covariance_type=get_model(t).alias, max_iter=1
            ).fit(X[:10])
        assert res["n_parameters"][i] == ref._n_parameters()
    # the log-likelihood and the criteria agree with their definitions
    n = len(X) if w is None else w.sum()
    np.testing.assert_allclose(
        res["bic"], -2 * res["log_likelihood"] + res["n_parameters"] * np.log(n), rtol=1e-10
    )
    np.testing.assert_allclose(
        res["aic"], -2 * res["log_likelihood"] + 2 * res["n_parameters"], rtol=1e-10
    )
    assert np.all(res["icl"] >= res["bic"] - 1e-9)  # ICL adds a non-negative entropy
    # the chosen cell's numbers are its estimator's, computed afresh on X
    best, i = sel.best_estimator_, sel.best_index_
    assert res["bic"][i] == pytest.approx(best.bic(X, sample_weight=w), rel=1e-12)
    assert res["icl"][i] == pytest.approx(best.icl(X, sample_weight=w), rel=1e-12)
    ll = best.score_samples(X)
    assert res["log_likelihood"][i] == pytest.approx(ll.sum() if w is None else w @ ll, rel=1e-12)
    # lower_bound_ is the mean log-likelihood of the training rows in the units of X
    assert best.lower_bound_ == pytest.approx(best.score(X, sample_weight=w), rel=1e-6)
    assert best.get_params()["prior_strength"] == params.get("prior_strength")
    # the settings it was fitted with, not GaussianMixtureEM's defaults
    assert best.get_params()["init_params"] == sel.init_params
    assert best.get_params()["tol"] == sel.tol


def test_parallel_equals_sequential(blobs, monkeypatch):
    kw = dict(n_components=[1, 2, 3], covariance_type=["full", "diag"], random_state=0)
    seq = GaussianMixtureSelector(**kw).fit(blobs)
    # a grid this small stays in one process unless every grid is worth processes
    monkeypatch.setattr(_selection, "_PROCESS_WORTHWHILE_SECONDS", -1.0)
    used = []
    real = _selection.Parallel

    def spy(*args, **kwargs):
        used.append(kwargs.get("n_jobs"))
        return real(*args, **kwargs)

    monkeypatch.setattr(_selection, "Parallel", spy)
    par = GaussianMixtureSelector(n_jobs=2, **kw).fit(blobs)
    assert used == [2]
    for name in ("bic", "aic", "icl", "log_likelihood", "n_parameters", "rank"):
        np.testing.assert_array_equal(seq.results_[name], par.results_[name])
    np.testing.assert_array_equal(seq.best_estimator_.means_, par.best_estimator_.means_)


def test_cells_on_threads_share_their_rows_and_equal_sequential(blobs, monkeypatch):
    # joblib's threading backend runs cells concurrently on one _ScaledRows per scaling: what
    # they share is made once (under its lock), and the fits are those of one thread
    from joblib import parallel_backend

    kw = dict(n_components=[1, 2, 3], covariance_type=["full", "tied", "diag"], random_state=0)
    seq = GaussianMixtureSelector(**kw).fit(blobs)
    made = []
    real = _selection._ScaledRows._get

    def counting(self, key, make):
        return real(self, key, lambda: (made.append(key), make())[1])

    monkeypatch.setattr(_selection._ScaledRows, "_get", counting)
    monkeypatch.setattr(_selection, "_PROCESS_WORTHWHILE_SECONDS", -1.0)
    with parallel_backend("threading", n_jobs=2):
        par = GaussianMixtureSelector(n_jobs=2, **kw).fit(blobs)
    # each thing once: rows, data statistics of two kinds, prepared rows, the starts' shift,
    # and the label moments of each partition once per kind of scatter
    assert len(made) == len(set(made))
    assert {"rows", "prepared", "shift"} <= set(made)
    assert {key[1] for key in made if key[0] == "data"} == {"full", "diag"}
    for name in ("bic", "aic", "icl", "log_likelihood", "n_iter", "rank"):
        np.testing.assert_array_equal(seq.results_[name], par.results_[name])
    np.testing.assert_array_equal(seq.best_estimator_.means_, par.best_estimator_.means_)


def test_small_grids_stay_in_one_process():
    grid = [(t, k) for t in COVARIANCE_TYPES for k in range(1, 10)]
    assert _selection._worth_processes(None, (10**7, 8), grid) is None
    assert _selection._worth_processes(1, (10**7, 8), grid) == 1
    # the estimate grows with the work: rows, components, features
    assert _selection._worth_processes(-1, (20_000, 8), grid) == 1
    assert _selection._worth_processes(-1, (100_000, 8), grid) == -1
    assert _selection._worth_processes(3, (200, 2), grid[:2]) == 1


@pytest.mark.parametrize("init_params", ["kmeans", "hc"])
def test_rows_of_weight_zero_are_as_if_dropped(init_params):
    # far-away rows of weight 0 loosened the k-means starts' stopping tolerance (scikit-learn
    # takes it from the rows' unweighted variances) and so changed their labels and the
    # cells' fits (Old Faithful full k=4: -1114.78 against -1115.45 without them)
    from sklearn_em.datasets import load_faithful

    X = load_faithful().data
    far = np.random.RandomState(0).normal(500, 50, (20, 2))
    Xw = np.vstack([X, far])
    w = np.r_[np.ones(len(X)), np.zeros(len(far))]
    kw = dict(n_components=range(1, 6), covariance_type=["full", "tied", "diag", "spherical"])
    kw.update(init_params=init_params, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weighted = GaussianMixtureSelector(**kw).fit(Xw, sample_weight=w)
        dropped = GaussianMixtureSelector(**kw).fit(X)
    assert_allclose(
        weighted.results_["log_likelihood"], dropped.results_["log_likelihood"], rtol=1e-10
    )
    assert weighted.best_params_ == dropped.best_params_


def test_a_random_state_instance_gives_the_seed_drawn_from_it(blobs):
    kw = dict(n_components=[2, 3], covariance_type=["full", "tied"])
    sel = GaussianMixtureSelector(random_state=np.random.RandomState(5), **kw).fit(blobs)
    seed = np.random.RandomState(5).randint(np.iinfo(np.int32).max)
    same = GaussianMixtureSelector(random_state=seed, **kw).fit(blobs)
    np.testing.assert_array_equal(sel.results_["bic"], same.results_["bic"])
    np.testing.assert_array_equal(sel.best_estimator_.means_, same.best_estimator_.means_)


# ----------------------------------------------------------------------------- choice
@pytest.mark.parametrize("kind", COVARIANCE_TYPES)
def test_bic_recovers_the_true_model(kind):
    X, _ = make_clusters(kind, n=100)
    sel = GaussianMixtureSelector(
        n_components=range(1, 5), covariance_type="sklearn", random_state=0
    ).fit(X)
    assert sel.best_params_ == {"covariance_type": kind, "n_components": 3}


def test_icl_recovers_k_and_a_good_clustering():
    from sklearn.metrics import adjusted_rand_score

    X, y = make_clusters("full", n=100)
    sel = GaussianMixtureSelector(n_components=range(1, 5), criterion="icl", random_state=0).fit(X)
    assert sel.best_params_["n_components"] == 3
    assert adjusted_rand_score(y, sel.predict(X)) > 0.99


@pytest.mark.parametrize("criterion", ["bic", "aic", "icl"])
def test_best_is_the_minimum_of_the_criterion(blobs, criterion):
    sel = GaussianMixtureSelector(
        n_components=[1, 2, 3, 4],
        covariance_type=["full", "spherical"],
        criterion=criterion,
        random_state=0,
    ).fit(blobs)
    values = sel.results_[criterion]
    # the minimum, up to ties of rounding (1e-9 n d; they go to the simpler model)
    tie = 1e-9 * (1 + blobs.size)
    assert values.min() <= sel.best_criterion_ <= values.min() + tie
    assert sel.best_criterion_ == values[sel.best_index_]
    assert sel.results_["rank"][sel.best_index_] == 1
    # ranks order the criterion (up to such ties)
    assert np.all(np.diff(values[np.argsort(sel.results_["rank"])]) >= -tie)
    assert sel.best_criterion_ == getattr(sel, criterion)(blobs)


def test_ties_go_to_the_simpler_model_then_to_grid_order():
    from sklearn_em._selection import _Cell, _results_table

    grid = [("full", 2), ("tied", 2), ("diag", 2), ("spherical", 2), ("full", 3)]
    bics = [10.0, 10.0, 10.0, 12.0, np.nan]
    params = [11, 8, 8, 7, 0]
    cells = [
        _Cell(numbers={"bic": b, "aic": b, "icl": b, "n_parameters": p})
        if np.isfinite(b)
        else _Cell(error="ValueError: no")
        for b, p in zip(bics, params)
    ]
    res = _results_table(grid, cells, "bic")
    # equal BIC: fewer parameters first (tied, diag: 8), then grid order; failures last
    assert list(res["rank"]) == [3, 1, 2, 4, 5]


def test_criteria_within_the_tie_window_are_ties():
    from sklearn_em._selection import _rank

    values = np.array([1000.0, 1000.0 - 1e-3, 1000.0 + 2e-3, 1000.0 + 0.5, np.nan])
    degenerate = np.array([False, False, False, False, False])
    n_parameters = np.array([11, 14, 5, 3, 0])
    # within 0.01 of the lowest: the one of fewest parameters (5) first; 1000.5 is beyond
    assert list(_rank(values, degenerate, n_parameters, 0.01)) == [2, 3, 1, 4, 5]
    # a narrower window: the criterion alone
    assert list(_rank(values, degenerate, n_parameters, 1e-5)) == [2, 1, 3, 4, 5]
    # the window is absolute: a change of units adds one constant to every criterion, and
    # leaves the ranks as they are
    for shift in (-7515.0, 1e6):
        assert list(_rank(values + shift, degenerate, n_parameters, 0.01)) == [2, 3, 1, 4, 5]
    # a degenerate fit ranks after every usable one, however low its criterion
    degenerate[3] = True
    values[3] = 10.0
    assert list(_rank(values, degenerate, n_parameters, 0.01)) == [2, 3, 1, 4, 5]


def test_a_failed_cell_is_recorded_not_fatal(blobs):
    X = blobs[:5]
    sel = GaussianMixtureSelector(
        n_components=[1, 2, 8], covariance_type=["diag"], random_state=0
    ).fit(X)
    i = list(sel.results_["n_components"]).index(8)
    assert "n_samples" in sel.results_["error"][i]
    assert np.isnan(sel.results_["bic"][i]) and np.isnan(sel.results_["icl"][i])
    assert sel.results_["rank"][i] == 3
    assert sel.best_params_["n_components"] in (1, 2)
    text = sel.format_results()
    assert "failed" in text and "k=8" in text


def test_all_cells_failing_raises_with_the_reason(blobs):
    sel = GaussianMixtureSelector(n_components=9, covariance_type=["full", "diag"])
    with pytest.raises(ValueError, match="None of the 2 combinations.*n_components = 9"):
        sel.fit(blobs[:4])
    with pytest.raises(NotFittedError):  # no half-fitted state is left behind
        sel.predict(blobs)


def test_bad_sample_weight_raises_before_fitting(blobs):
    w = np.ones(len(blobs))
    w[3] = -1
    with pytest.raises(ValueError, match="[Nn]egative") as info:
        GaussianMixtureSelector(n_components=[1, 2], covariance_type="diag").fit(
            blobs, sample_weight=w
        )
    assert "combinations" not in str(info.value)
    with pytest.raises(ValueError, match="sample_weight.shape"):
        GaussianMixtureSelector(n_components=[1, 2], covariance_type="diag").fit(
            blobs, sample_weight=w[:5]
        )


@pytest.mark.parametrize(
    "criterion, effect",
    [
        ("bic", "penalises each parameter by log(n) = 0: the choice favours the largest"),
        ("aic", "penalty of 2 per parameter outweighs a log-likelihood that counts only that "),
    ],
)
def test_weights_totalling_fewer_observations_than_parameters_are_named(blobs, criterion, effect):
    # weights normalised to sum to 1 are one observation: BIC's penalty p log(1) vanished
    # and the largest model was chosen without a word (AIC's the smallest)
    w = np.random.RandomState(0).uniform(0.5, 1.5, len(blobs))
    grid = {"n_components": [1, 2, 3], "covariance_type": ["full", "diag"], "random_state": 0}
    n_parameters = GaussianMixtureSelector(**grid).fit(blobs).results_["n_parameters"]
    selector = GaussianMixtureSelector(criterion=criterion, **grid)
    for fit in (selector.fit, selector.fit_predict):
        with pytest.warns(UserWarning, match="frequency weights") as record:
            fit(blobs, sample_weight=w / w.sum())
        (named,) = [r for r in record if "frequency weights" in str(r.message)]
        message = str(named.message)
        assert f"n = 1 observations, fewer than the {max(n_parameters)} free" in message
        assert effect in message and "multiply them" in message
        assert named.filename == __file__  # (the caller's line, through fit or fit_predict)
    smallest = criterion == "aic"
    chosen = selector.best_params_["n_components"]
    assert chosen == (1 if smallest else 3)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", "sample_weight totals", UserWarning)
        # the same relative weights as counts
        GaussianMixtureSelector(criterion=criterion, **grid).fit(
            blobs, sample_weight=w / w.sum() * len(blobs)
        )
        # weights of 1 on fewer rows than the largest model has parameters: the rows' own
        # business, as without weights
        GaussianMixtureSelector(criterion=criterion, **grid).fit(
            blobs[:12], sample_weight=np.ones(12)
        )


@pytest.mark.parametrize("missing", [0.0, 0.2])
def test_the_chosen_estimators_lower_bound_is_in_the_columns_units(missing):
    # with missing cells it took every column's change of units for every row (a row's
    # density has only its observed columns'): -15.78 for a score of -12.85 here
    rng = np.random.RandomState(0)
    centres = ([0, 0, 0], [5, 5, 0], [0, 6, 6])
    X = np.vstack([rng.randn(300, 3) + c for c in centres]) * np.array([1000.0, 1.0, 50.0])
    X[rng.rand(*X.shape) < missing] = np.nan
    X = X[~np.isnan(X).all(axis=1)]
    chosen = (
        GaussianMixtureSelector(n_components=[3], covariance_type=["full", "VEV"], random_state=0)
        .fit(X)
        .best_estimator_
    )
    # (the bound is of the parameters before the last M-step: converged, about the score)
    assert_allclose(chosen.lower_bound_, chosen.score(X), rtol=1e-4)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("missing", [0.0, 0.2])
def test_statistics_on_divided_columns_unscale_to_those_of_the_columns(covariance_type, missing):
    # the chosen fit's stream (partial_fit continues it) takes its statistics to X's units
    from sklearn_em import GaussianMixtureEM, _missing

    rng = np.random.RandomState(1)
    X = rng.randn(400, 3) * np.array([3.0, 1.0, 2.0]) + rng.randn(400, 1)
    X[rng.rand(*X.shape) < missing] = np.nan
    X = X[~np.isnan(X).all(axis=1)]
    # ('spherical' statistics are divided by one factor for every column, as the selector's)
    factor = np.full(3, 40.0) if covariance_type == "spherical" else np.array([1e3, 1.0, 0.05])
    fit = GaussianMixtureEM(3, covariance_type=covariance_type, random_state=0).fit(X / factor)
    params = fit._model().astype(np.float64)
    scaled = _missing.accumulate(X / factor, None, params)
    direct = _missing.accumulate(X, None, _selection._unscale(params, factor))
    observed = (~np.isnan(X)).mean(axis=0)
    back = _selection._unscale_stats(scaled, factor, float(np.sum(np.log(factor) * observed)))
    assert_allclose(back.nk, direct.nk, rtol=1e-12)
    assert_allclose(back.means + back.shift, direct.means + direct.shift, rtol=1e-10)
    assert_allclose(
        back.scatter, direct.scatter, rtol=1e-9, atol=1e-12 * np.abs(direct.scatter).max()
    )
    assert_allclose(back.loglik, direct.loglik, rtol=1e-12)


def test_warnings_of_the_chosen_model_reach_the_caller(blobs):
    with pytest.warns(ConvergenceWarning):
        sel = GaussianMixtureSelector(
            n_components=[2], covariance_type="full", max_iter=1, tol=0, random_state=0
        ).fit(blobs)
    assert not sel.results_["converged"][0]


# ----------------------------------------------------------------------------- sklearn face
def test_delegates_to_the_best_estimator(blobs):
    sel = GaussianMixtureSelector(
        n_components=[1, 2, 3], covariance_type="full", random_state=0
    ).fit(blobs)
    best = sel.best_estimator_
    np.testing.assert_array_equal(sel.predict(blobs), best.predict(blobs))
    np.testing.assert_array_equal(sel.predict_proba(blobs), best.predict_proba(blobs))
    np.testing.assert_array_equal(sel.score_samples(blobs), best.score_samples(blobs))
    assert sel.score(blobs) == best.score(blobs)
    assert sel.bic(blobs) == best.bic(blobs) == sel.results_["bic"][sel.best_index_]
    assert sel.aic(blobs) == best.aic(blobs)
    assert sel.icl(blobs) == best.icl(blobs)
    np.testing.assert_array_equal(sel.fit_predict(blobs), best.predict(blobs))
    Xs, ys = sel.sample(50)
    assert Xs.shape == (50, 2) and set(ys) <= set(range(best.n_components))


def test_unfitted_raises():
    with pytest.raises(NotFittedError):
        GaussianMixtureSelector().predict(np.zeros((3, 2)))


def test_in_a_pipeline_and_cloned(blobs):
    params = dict(n_components=[1, 2, 3], covariance_type=["full", "diag"], random_state=0)
    pipe = make_pipeline(StandardScaler(), GaussianMixtureSelector(**params)).fit(blobs)
    scaled = StandardScaler().fit_transform(blobs)
    alone = GaussianMixtureSelector(**params).fit(scaled)
    np.testing.assert_array_equal(pipe.predict(blobs), alone.predict(scaled))
    assert pipe[-1].best_params_ == alone.best_params_
    copy = clone(alone)
    assert copy.get_params() == alone.get_params() and not hasattr(copy, "results_")


def test_feature_names_pass_through(blobs):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(blobs, columns=["a", "b"])
    sel = GaussianMixtureSelector(n_components=[1, 2], covariance_type="diag", random_state=0).fit(
        df
    )
    np.testing.assert_array_equal(sel.feature_names_in_, ["a", "b"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X has feature names" warning on predict
        labels = sel.predict(df)
    np.testing.assert_array_equal(labels, sel.best_estimator_.predict(blobs))


@pytest.mark.parametrize(
    "params",
    [
        dict(n_components=0),
        dict(n_components=[]),
        dict(n_components=[1, 0]),
        dict(n_components=[1.5]),
        dict(n_components=[True, 2]),
        dict(n_components=[[1, 2], [3, 4]]),
        dict(covariance_type="cholesky"),
        dict(covariance_type=["full", "bogus"]),
        dict(covariance_type=[]),
        dict(criterion="likelihood"),
        dict(n_init=0),
        dict(prior_strength=-1.0),
    ],
)
def test_invalid_parameters(blobs, params):
    with pytest.raises(InvalidParameterError):
        GaussianMixtureSelector(**params).fit(blobs)


@pytest.mark.parametrize("ks", [3, np.int64(3), [3], (3,), range(3, 4), np.array([3])])
def test_n_components_forms(ks):
    assert GaussianMixtureSelector(n_components=ks, covariance_type="diag")._grid() == [("diag", 3)]


def test_duplicates_in_the_grid_are_fitted_once(blobs):
    sel = GaussianMixtureSelector(
        n_components=[2, 1, 2], covariance_type=["diag", "diag"], random_state=0
    ).fit(blobs)
    assert list(sel.results_["n_components"]) == [2, 1]
    assert list(sel.results_["covariance_type"]) == ["diag", "diag"]
    # ... also under their other names (scikit-learn's 'full' is mclust's 'VVV'), the first
    # name given kept (both were fitted)
    sel = GaussianMixtureSelector(
        n_components=[1], covariance_type=["full", "VVI", "VVV", "diag", "EEE"], random_state=0
    ).fit(blobs)
    assert list(sel.results_["covariance_type"]) == ["full", "VVI", "EEE"]


# ----------------------------------------------------------------------------- reporting
@pytest.mark.parametrize(
    "covariance_type, names", [("sklearn", COVARIANCE_TYPES), ("all", list(MODEL_NAMES))]
)
def test_wide_table_shows_every_cell(blobs, covariance_type, names):
    sel = GaussianMixtureSelector(
        n_components=[1, 2, 3], covariance_type=covariance_type, random_state=0
    ).fit(blobs)
    lines = sel.format_results().splitlines()
    assert lines[1].split() == ["k"] + names
    res = sel.results_
    for row in lines[2:5]:
        fields = row.split()
        k = int(fields[0])
        for t, text in zip(names, fields[1:]):
            i = np.flatnonzero((res["n_components"] == k) & (res["covariance_type"] == t))[0]
            assert text.endswith("*") == (i == sel.best_index_)
            assert float(text.rstrip("*")) == pytest.approx(res["bic"][i], abs=0.005)
    buf = io.StringIO()
    sel.print_results(file=buf)
    assert buf.getvalue() == sel.format_results() + "\n"


@pytest.mark.parametrize("max_width", [40, 60, 100, 1000])
def test_wide_table_in_blocks_fits_the_width(blobs, max_width):
    sel = GaussianMixtureSelector(
        n_components=[1, 2, 3], covariance_type="all", random_state=0
    ).fit(blobs)
    lines = sel.format_results(max_width=max_width).splitlines()
    names = list(MODEL_NAMES)
    # column blocks: a header line starting with "k", then one row per k, blank-separated
    headers = [i for i, line in enumerate(lines) if line.split()[:1] == ["k"]]
    seen = []
    res = sel.results_
    for h in headers:
        block = lines[h].split()[1:]
        seen += block
        for row in lines[h + 1 : h + 4]:
            fields = row.split()
            k = int(fields[0])
            assert len(fields) == len(block) + 1
            for t, text in zip(block, fields[1:]):
                i = np.flatnonzero((res["n_components"] == k) & (res["covariance_type"] == t))[0]
                assert float(text.rstrip("*")) == pytest.approx(res["bic"][i], abs=0.005)
    assert seen == names
    table = lines[headers[0] : headers[-1] + 4]
    assert max(len(line) for line in table) <= max(max_width, 3 + 2 + 12)
    if max_width >= len(sel.format_results().splitlines()[1]):
        assert len(headers) == 1
    else:
        assert len(headers) > 1
    with pytest.raises(ValueError, match="max_width must be a positive integer or None"):
        sel.format_results(max_width=0)


def test_the_wide_tables_lines_of_text_are_wrapped_too():
    # the title and the degenerate and failed cells' lines were never wrapped (108
    # characters at max_width=40); their words must all still be there
    rng = np.random.RandomState(0)
    X = np.round(rng.normal(0, 1, (30, 2)), 0)  # integers: spikes, degenerate cells
    sel = GaussianMixtureSelector(n_components=[1, 2, 3, 40], random_state=0).fit(X)
    wide = sel.format_results()
    assert "degenerate" in wide and "failed" in wide
    for max_width in (40, 60):
        text = sel.format_results(max_width=max_width)
        longest = max(len(word) for word in text.split())
        assert all(len(line) <= max(max_width, 3 + 2 + 12, longest) for line in text.splitlines())
        body = [line for line in wide.splitlines() if not line[:3].strip().isdigit()]
        words = " ".join(line for line in body if not line.startswith("  k")).split()
        assert set(words) <= set(text.split())


def test_long_table_has_one_row_per_cell(blobs):
    sel = GaussianMixtureSelector(
        n_components=[1, 2], covariance_type=["full", "tied"], random_state=0
    ).fit(blobs)
    rows = sel.format_results("long").splitlines()[1:]
    assert len(rows) == 4
    for i, row in enumerate(rows):
        fields = row.lstrip("* ").split()
        assert fields[0] == sel.results_["covariance_type"][i]
        assert float(fields[3]) == pytest.approx(sel.results_["aic"][i], abs=0.005)
        assert row.startswith("*") == (i == sel.best_index_)
    with pytest.raises(ValueError, match="layout"):
        sel.format_results("tall")


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_on_a_terminal(blobs, monkeypatch):
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    GaussianMixtureSelector(n_components=[1, 2], covariance_type=["full", "diag"], verbose=1).fit(
        blobs
    )
    updates = re.findall(r"\rfitting mixtures: (\d+)/4 done, [\d.]+s elapsed", term.getvalue())
    assert [int(u) for u in updates] == [0, 1, 2, 3, 4, 4]
    assert term.getvalue().endswith("\n")


def test_progress_elsewhere_is_one_final_line(blobs, capsys):
    GaussianMixtureSelector(n_components=[1, 2], covariance_type="full", verbose=1).fit(blobs)
    err = capsys.readouterr().err
    assert "\r" not in err and re.fullmatch(r"fitting mixtures: 2/2 done, [\d.]+s elapsed\n", err)
    GaussianMixtureSelector(n_components=[1, 2], covariance_type="full").fit(blobs)
    assert capsys.readouterr().err == ""


@settings(max_examples=60, deadline=None)
@given(
    a=st.lists(st.integers(-1, 2), min_size=2, max_size=12),
    perm=st.permutations([0, 1, 2]),
    flip=st.booleans(),
)
def test_repeated_starts_are_recognised_up_to_label_numbering(a, perm, flip):
    from sklearn.metrics import adjusted_rand_score

    from sklearn_em._selection import _distinct

    a = np.array(a)
    b = np.where(a >= 0, np.array(perm)[np.maximum(a, 0)], -1)
    if flip:
        b[0] = (b[0] + 2) % 4 - 1  # another label for the first row, -1 included
    # the oracle: the same rows outside every component, and the same grouping (ARI = 1)
    same = np.array_equal(a < 0, b < 0) and adjusted_rand_score(a, b) == 1.0
    assert len(_distinct([a, b], 3)) == (1 if same else 2)


def test_one_hierarchical_tree_per_fit_shared_by_every_cell(blobs, monkeypatch):
    from sklearn_em import _hc, _selection

    calls = []

    def counting_tree(*args, **kwargs):
        calls.append(1)
        return _hc.hc_tree(*args, **kwargs)

    monkeypatch.setattr(_selection, "hc_tree", counting_tree)
    sel = GaussianMixtureSelector(n_components=[1, 2, 3, 4], random_state=0).fit(blobs)
    assert len(calls) == 1
    assert len(sel.results_["bic"]) == 4 * 14


def test_one_component_is_fitted_from_one_start_to_the_datas_own_estimate(blobs, monkeypatch):
    from sklearn_em import _selection

    runs = []
    original = _selection.run_em

    def counting_run_em(X, sample_weight, params, **kwargs):
        runs.append(params.n_components)
        return original(X, sample_weight, params, **kwargs)

    monkeypatch.setattr(_selection, "run_em", counting_run_em)
    types = ["full", "tied", "diag", "spherical"]
    # above 2,000 rows the tree is built on a subset: its one-cluster start (the subset)
    # differs from k-means' (every row), and both used to be run
    X, _ = make_clusters("full", n=2100, seed=1)
    GaussianMixtureSelector(n_components=[1], covariance_type=types, random_state=0).fit(X)
    assert runs == [1] * len(types)
    # the estimate is the data's mean and covariance (plus the selector's reg_covar, a
    # fraction of each column's squared scale)
    est = GaussianMixtureSelector(n_components=1, covariance_type="full", random_state=0)
    est = est.fit(blobs).best_estimator_
    expected = np.cov(blobs.T, bias=True) + np.diag(est.reg_covar * bulk_scale(blobs) ** 2)
    assert_allclose(est.means_[0], blobs.mean(axis=0), rtol=1e-12, atol=1e-12)
    assert_allclose(est.covariances_[0], expected, rtol=1e-10)


def test_default_grid_is_mclusts_and_fewer_models_when_rows_do_not_exceed_columns():
    sel = GaussianMixtureSelector(n_components=[1, 2])
    assert sel._grid((100, 3)) == [(t, k) for t in MODEL_NAMES for k in (1, 2)]
    # as mclust's Mclust: only spherical and diagonal covariances for n <= d
    assert [t for t, _ in sel._grid((3, 3))][::2] == list(FEW_ROWS_MODEL_NAMES)
    assert FEW_ROWS_MODEL_NAMES == ("EII", "VII", "EEI", "VEI", "EVI", "VVI")
    sklearn = GaussianMixtureSelector(n_components=2, covariance_type="sklearn")
    assert sklearn._grid((3, 3)) == [(t, 2) for t in COVARIANCE_TYPES]
    mixed = GaussianMixtureSelector(n_components=2, covariance_type=["EEV", "full"])
    assert mixed._grid((3, 3)) == [("EEV", 2), ("full", 2)]


def test_few_rows_fit_searches_the_diagonal_family():
    X = np.random.RandomState(0).randn(5, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sel = GaussianMixtureSelector(n_components=[1], random_state=0).fit(X)
    assert list(sel.results_["covariance_type"]) == list(FEW_ROWS_MODEL_NAMES)


def test_selector_prior_skips_models_mclusts_prior_does_not_cover(blobs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sel = GaussianMixtureSelector(
            n_components=[2], covariance_type=["VVV", "VEE"], prior_strength=1.0, random_state=0
        ).fit(blobs)
    assert sel.results_["error"][0] == ""
    assert sel.results_["error"][1].startswith(
        "ValueError: prior_strength is not available for the VEE covariance model"
    )
    assert sel.best_params_["covariance_type"] == "VVV"


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(1, 40),
    d=st.integers(1, 4),
    levels=st.integers(1, 4),
    weighted=st.booleans(),
    nan=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_the_value_order_is_numpys_lexsort_of_the_values_and_weights(
    n, d, levels, weighted, nan, seed
):
    # (a stable sort of the first column, then a lexsort of the tied runs only): few
    # distinct values, so that runs tie on several keys; NaN and -0.0 among them
    rng = np.random.RandomState(seed)
    X = rng.randint(levels, size=(n, d)).astype(float)
    X[rng.rand(n, d) < 0.2] = -0.0
    if nan:
        X[rng.rand(n, d) < 0.2] = np.nan
    w = rng.randint(3, size=n).astype(float) if weighted else None
    keys = [X[:, j] for j in range(d - 1, -1, -1)]
    if w is not None:
        keys.insert(0, w)
    np.testing.assert_array_equal(_selection._value_order(X, w), np.lexsort(keys))


# ----------------------------------------------------------------------------- found by a reviewer
def test_n_jobs_zero_is_refused():
    # joblib gives 0 no meaning (the CLI refused --n-jobs 0; the selector ran it as 1)
    X = np.random.RandomState(0).normal(size=(30, 2))
    with pytest.raises(InvalidParameterError, match="'n_jobs'"):
        GaussianMixtureSelector(n_components=[1, 2], n_jobs=0).fit(X)


def test_k_means_warning_about_its_own_start_stays_inside():
    # four distinct rows, k up to 5: scikit-learn's KMeans warns that it found fewer distinct
    # clusters than asked, about a start the selector's cells handle themselves
    X = np.repeat(np.random.RandomState(0).normal(size=(4, 2)), 5, axis=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        GaussianMixtureSelector(
            n_components=[1, 2, 3, 4, 5], covariance_type="sklearn", random_state=0
        ).fit(X)
    assert not [w for w in caught if "Number of distinct clusters" in str(w.message)]


def test_the_chosen_estimator_knows_the_feature_names():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(np.random.RandomState(0).normal(size=(60, 2)), columns=["a", "b"])
    sel = GaussianMixtureSelector(n_components=[1, 2], covariance_type="sklearn").fit(df)
    assert list(sel.best_estimator_.feature_names_in_) == ["a", "b"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (scikit-learn's "X has feature names, but ...")
        assert_allclose(sel.best_estimator_.predict_proba(df), sel.predict_proba(df))
