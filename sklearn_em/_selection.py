"""GaussianMixtureSelector: fit a grid of mixtures and keep the best by BIC, AIC or ICL."""

from __future__ import annotations

import math
import os
import sys
import textwrap
import threading
import warnings
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from numbers import Integral
from time import perf_counter
from typing import TextIO

import numpy as np
import sklearn
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, DensityMixin, _fit_context
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions

# scikit-learn's wrappers of joblib carry its configuration (working_memory, ...) to workers
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from . import _kernels, _missing, _online
from ._em import Prior, lost_components, run_em, start_runs, warn_abandoned
from ._estimator import (
    GaussianMixtureEM,
    _criteria_of_rows,
    _rows_of_positive_weight,
    _validated_weights,
    is_dask_collection,
)
from ._hc import hc_tree
from ._init import initial_params, params_from_statistics
from ._models import COVARIANCE_NAMES, FEW_ROWS_MODEL_NAMES, MODEL_NAMES, get_model
from ._params import GaussianMixtureParams

#: scikit-learn's covariance types (``covariance_type="sklearn"``).
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
#: What ``covariance_type`` may name besides single types: groups of them.
COVARIANCE_GROUPS = ("all", "sklearn")
CRITERIA = ("bic", "aic", "icl")

# the columns of ``results_``, in display order
_FLOAT_COLUMNS = ("bic", "aic", "icl", "log_likelihood", "fit_time")
INIT_METHODS = ("hc", "kmeans", "k-means++", "random", "random_from_data")


class DegenerateFitWarning(UserWarning):
    """Every fit of a model selection is degenerate; the chosen one is not trustworthy."""


class GaussianMixtureSelector(DensityMixin, BaseEstimator):
    """Choose the number of components and the covariance type of a Gaussian mixture.

    Fits a Gaussian mixture for every combination of ``n_components`` and
    ``covariance_type`` on all of X (in parallel with joblib), scores each fit by BIC, AIC
    and ICL, and keeps the one with the lowest value of ``criterion`` (of equal values up
    to rounding, the simpler model), the way R's mclust chooses a model (on
    scikit-learn's lower-is-better scale). Its defaults follow mclust:

    * **Starts.** One model-based hierarchical tree (mclust's ``hc``: VVV merges on the
      scaled SVD of the data, built once per fit on at most 2,000 rows and shared by every
      combination) gives each combination its first start, and ``n_init`` k-means starts
      (also shared across covariance types) are added; each start runs EM to convergence and
      the best log-likelihood is kept.
    * **Convergence.** EM stops at mclust's relative rule, a change of the total
      log-likelihood below ``tol * (1 + |L|)``, accelerated by SQUAREM (Varadhan & Roland
      2008), which reaches the same fixed point in fewer passes.
    * **No spurious fits.** A fit in which a component collapsed (a covariance singular but
      for the regularisation, relative to the data's scale, or fewer effective rows than
      its covariance needs) is marked ``degenerate`` in ``results_`` and never chosen,
      like mclust's NA cells. Models whose components have shapes of their own but share a
      volume or an orientation (EVI, EVE, EVV, VVE) are also judged on their covariances
      estimated again without the regularisation, which their constraint multiplies.
    * **No units.** Each column is divided by its scale before fitting (one common scale for
      'spherical', which must stay spherical), and the fitted mixture is mapped back, so
      ``reg_covar`` is a fraction of each column's squared scale and the choice and the
      labels do not change when a column changes its unit ('spherical' models: when every
      column changes by the same factor; likewise EEV, VEV, EVE and VVE, whose constraints a
      change of one column's unit does not keep). A column's scale is its standard deviation,
      capped at ten times the spread of its bulk (1.4826 times its median absolute
      deviation; where that is 0, times the median of its deviations that are not): a few
      far rows, which inflate the standard deviation without bound, do not inflate
      the regularisation with it (one row at 1e6 among clusters of sd 1 would otherwise add
      a variance of 1,600 to them). The models fitted in one common unit take ``reg_covar``
      of the smallest column's squared scale, so that no column is swamped by it. The
      k-means starts partition the columns divided by their standard deviations.
      :class:`GaussianMixtureEM` keeps scikit-learn's absolute ``reg_covar``.

    A combination that cannot be fitted (e.g. more components than rows) is recorded with
    its reason and skipped. After ``fit`` the selector predicts, scores and samples with the
    chosen mixture, so it can stand wherever a fitted :class:`GaussianMixtureEM` would, e.g.
    in a Pipeline.

    Parameters
    ----------
    n_components : int or sequence of int, default=(1, 2, ..., 9)
        Candidate numbers of components. A single int is a single candidate.
    covariance_type : str or sequence of str, default='all'
        Candidate covariance models (see :class:`GaussianMixtureEM`). 'all': mclust's 14
        models EII ... VVV (mclust's default), or only the six spherical and diagonal ones
        (EII, VII, EEI, VEI, EVI, VVI) when X has no more rows than columns, as mclust does,
        with ``prior_strength`` the ten its prior covers (not VEE, EVE, VVE, EVV), and for
        one column EII and VII (mclust's univariate E and V: the others are the same fits);
        'sklearn': scikit-learn's four ('full', 'tied', 'diag', 'spherical'); any other
        string is a single candidate, a sequence lists them. ``results_`` and the printed
        table name the models as they were asked for: mclust's names for 'all' (e.g. 'VVV'
        for the model scikit-learn calls 'full'), scikit-learn's for 'sklearn'.
    criterion : {'bic', 'aic', 'icl'}, default='bic'
        The criterion to minimise. 'icl' (integrated completed likelihood) is BIC plus
        twice the entropy of the classification; it prefers well-separated clusters.
    init_params : {'hc', 'kmeans', 'k-means++', 'random', 'random_from_data'}, default='hc'
        'hc': the hierarchical start plus ``n_init`` k-means starts (see above). 'kmeans':
        ``n_init`` k-means starts, shared across covariance types. The others: ``n_init``
        starts per combination drawn as :class:`GaussianMixtureEM` draws them.
    n_init : int, default=1
        Number of k-means (or other) starts per combination, in addition to the hierarchical
        one for 'hc'.
    tol : float, default=1e-5
        Relative convergence threshold (mclust's): EM stops when the total log-likelihood
        changes by less than ``tol * (1 + |L|)`` in one iteration.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance, as a fraction of each column's squared
        scale (see "No units" above; for the models fitted in one common unit, of the
        smallest column's). With 0 the fits carry no regularisation, and whether a
        component collapsed is judged as at the default (nothing else would hold it).
    max_iter : int, default=1000
        Maximum number of EM iterations per start.
    prior_strength : float or None, default=None
        As in :class:`GaussianMixtureEM` (the conjugate prior of Fraley & Raftery 2007).
        mclust's prior does not cover VEE, EVE, VVE and EVV: 'all' leaves them out, as
        mclust's ``Mclust`` does; named, their cells are recorded as failed, with the reason.
    random_state : int, RandomState instance or None, default=None
        Seed of the k-means starts, of the subset of rows the hierarchical tree is built on
        (above 2,000 rows) and of the other initialisations. An int is used as it is; a
        RandomState instance gives one int drawn from it, so it and that int give the same
        result.
    n_jobs : int, default=None
        Number of parallel jobs (joblib processes); None means 1 unless in a
        :func:`joblib.parallel_config` context, -1 means all processors. A grid expected to
        take less than a few seconds runs in this process whatever ``n_jobs`` says: starting
        worker processes would cost more than they save.
    verbose : int, default=0
        If positive, a progress line (combinations done, elapsed time) is written to
        stderr while fitting.

    Attributes
    ----------
    results_ : dict of ndarray
        One entry per combination, in the order (covariance type, number of components):
        ``'covariance_type'``, ``'n_components'``, ``'bic'``, ``'aic'``, ``'icl'``,
        ``'log_likelihood'`` (total, weighted by ``sample_weight``), ``'n_parameters'``,
        ``'converged'``, ``'n_iter'``, ``'fit_time'`` (seconds), ``'degenerate'`` (bool),
        ``'note'`` (why a fit is degenerate), ``'error'`` (empty string, or why the
        combination failed; its numbers are then NaN) and ``'rank'`` (1 for the best by
        ``criterion``; degenerate fits rank after every usable one, failed ones last).
        Criteria equal up to rounding (closer than 1e-9 times the number of rows times
        the number of columns) are ties: they go to the model with fewer parameters, then
        to the first in the grid (so equivalent models, such as the one-component 'full'
        and 'tied', are chosen the same way in any units).
        Print it with :meth:`print_results`.
    best_index_ : int
        Index of the chosen combination in ``results_``.
    best_params_ : dict
        ``{'covariance_type': ..., 'n_components': ...}`` of the chosen combination.
    best_criterion_ : float
        Value of ``criterion`` for the chosen combination.
    best_estimator_ : GaussianMixtureEM
        The chosen mixture, in the units of X. Its ``reg_covar`` is the selector's, read as
        an absolute value if it is refitted.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Only when X has feature names that are all strings.

    See Also
    --------
    GaussianMixtureEM : One mixture with a given number of components and covariance type.

    Notes
    -----
    A grid is many fits, most of them small. Parallelism pays across fits (``n_jobs``;
    joblib limits the BLAS/OpenMP threads of its worker processes) and across row chunks
    of large data, rather than inside BLAS calls: ``fit`` runs BLAS and OpenMP (k-means) on
    one thread, which on a busy machine saves an order of magnitude on small data, and
    spreads the chunks of each pass over large data on as many threads as BLAS had.

    References
    ----------
    Fraley, C. (1998). Algorithms for model-based Gaussian hierarchical clustering. SIAM J.
    Sci. Comput. 20:270-281. Scrucca, L., Fop, M., Murphy, T. B. & Raftery, A. E. (2016).
    mclust 5: clustering, classification and density estimation using Gaussian finite
    mixture models. The R Journal 8:289-317. Varadhan, R. & Roland, C. (2008). Simple and
    globally convergent methods for accelerating the convergence of any EM algorithm.
    Scand. J. Statist. 35:335-353.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_em import GaussianMixtureSelector
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.normal(-5, 1, (100, 2)), rng.normal(5, 1, (100, 2))])
    >>> sel = GaussianMixtureSelector(n_components=[1, 2, 3], random_state=0).fit(X)
    >>> sel.best_params_["n_components"]
    2
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "covariance_type": [StrOptions(set(COVARIANCE_NAMES + COVARIANCE_GROUPS)), "array-like"],
        "criterion": [StrOptions(set(CRITERIA))],
        "n_init": GaussianMixtureEM._parameter_constraints["n_init"],
        "tol": GaussianMixtureEM._parameter_constraints["tol"],
        "reg_covar": GaussianMixtureEM._parameter_constraints["reg_covar"],
        "max_iter": GaussianMixtureEM._parameter_constraints["max_iter"],
        "init_params": [StrOptions(set(INIT_METHODS))],
        "prior_strength": GaussianMixtureEM._parameter_constraints["prior_strength"],
        "random_state": ["random_state"],
        # (joblib: 0 has no meaning)
        "n_jobs": [
            Interval(Integral, None, -1, closed="right"),
            Interval(Integral, 1, None, closed="left"),
            None,
        ],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_components: int | Sequence[int] = (1, 2, 3, 4, 5, 6, 7, 8, 9),
        covariance_type: str | Sequence[str] = "all",
        *,
        criterion: str = "bic",
        init_params: str = "hc",
        n_init: int = 1,
        tol: float = 1e-5,
        reg_covar: float = 1e-6,
        max_iter: int = 1000,
        prior_strength: float | None = None,
        random_state: int | np.random.RandomState | None = None,
        n_jobs: int | None = None,
        verbose: int = 0,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.criterion = criterion
        self.n_init = n_init
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.init_params = init_params
        self.prior_strength = prior_strength
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    # ------------------------------------------------------------------ the grid
    def _grid(self, shape=None):
        """The candidate (covariance_type, n_components) pairs, validated; ``shape`` is
        that of X ('all' means fewer models when it has no more rows than columns)."""
        ks = self.n_components
        ks = [ks] if np.ndim(ks) == 0 else list(ks) if np.ndim(ks) == 1 else []
        ints = all(isinstance(k, Integral) and not isinstance(k, (bool, np.bool_)) for k in ks)
        if not ks or not ints or min(ks) < 1:
            raise InvalidParameterError(
                "The 'n_components' parameter of GaussianMixtureSelector must be a positive "
                f"int or a non-empty sequence of positive ints. Got {self.n_components!r} instead."
            )
        types = self.covariance_type
        if isinstance(types, str):
            few_rows = shape is not None and shape[0] <= shape[1]
            types = {
                "all": FEW_ROWS_MODEL_NAMES if few_rows else MODEL_NAMES,
                "sklearn": COVARIANCE_TYPES,
            }.get(types, [types])
            if self.covariance_type == "all" and shape is not None and shape[1] == 1:
                # one column: every model is mclust's E (equal variances) or V (variable);
                # mclust fits those two (the other twelve are the same fits again, which
                # rounding then ranked)
                types = ["EII", "VII"]
            if self.covariance_type == "all" and self.prior_strength is not None:
                # mclust's prior covers ten of the models: with it, mclust's grid is those
                types = [t for t in types if get_model(t).prior_covered]
        types = list(types)
        if not types or not all(isinstance(t, str) and t in COVARIANCE_NAMES for t in types):
            raise InvalidParameterError(
                "The 'covariance_type' parameter of GaussianMixtureSelector must be 'all', "
                "'sklearn', one of, or a non-empty sequence of, "
                f"{list(COVARIANCE_NAMES)}. Got {self.covariance_type!r} instead."
            )
        # duplicates would only refit the same model (also under its other name: 'full' is
        # mclust's 'VVV'); keep the first of each
        ks = list(dict.fromkeys(int(k) for k in ks))
        first = {}
        for t in types:
            first.setdefault(get_model(t).name, t)
        types = list(first.values())
        return [(t, k) for t in types for k in ks]

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None, sample_weight=None):
        """Fit every combination on X and choose the best by ``criterion``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data. Every column must vary: a constant column carries no information
            and makes every covariance singular.
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Frequency weights, passed to every fit and to the criteria (see
            :meth:`GaussianMixtureEM.bic`).

        Returns
        -------
        self : GaussianMixtureSelector
            The fitted selector.

        Raises
        ------
        ValueError
            If a column is constant, or if no combination gave a usable fit (the message
            gives their reasons).
        """
        self._fit(X, sample_weight)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then return the most probable component of each row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data.
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Frequency weights.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels under the chosen mixture.
        """
        return self.fit(X, sample_weight=sample_weight).predict(X)

    @_fit_context(prefer_skip_nested_validation=True)
    def _fit(self, X, sample_weight):
        self._grid()  # parameter errors before data errors
        # NaN is a missing cell, fitted by every GaussianMixtureEM of the grid
        X = validate_data(
            self,
            X,
            dtype=[np.float64, np.float32],
            ensure_min_samples=2,
            ensure_all_finite="allow-nan",
        )
        grid = self._grid(X.shape)
        # once here, so that bad weights (and rows with nothing observed) raise instead of
        # failing every cell
        sample_weight = _validated_weights(sample_weight, X)
        _missing.check_rows_observed(X, sample_weight)
        # The grid is dozens of fits, mostly small: BLAS and OpenMP threads inside each only
        # add contention (on a busy 2-core machine they made a 9,083-row grid 3-5x slower).
        # Both run on one thread here; the kernel's chunks of a large X still run on as many
        # Python threads as BLAS had (see _kernels._chunk_threads), and n_jobs spreads cells
        # over processes.
        with _kernels._chunk_threads(), threadpool_limits(limits=1, user_api="openmp"):
            return self._fit_grid(X, sample_weight, grid)

    def _fit_grid(self, X, sample_weight, grid):
        if isinstance(self.random_state, Integral):
            seed = self.random_state
        else:
            seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

        units = _Units.of(X, sample_weight)
        prior = self.prior_strength is not None
        kinds = {units.kind(t, prior) for t, _ in grid}
        scaled = {kind: units.scaled(X, kind) for kind in kinds}
        # what the cells fitted on one scaling share (cells run in worker processes each
        # get a copy of their own: joblib pickles every task apart)
        shared = {kind: _ScaledRows(Xs, sample_weight) for kind, Xs in scaled.items()}
        # the starts partition the standardised columns; missing cells: they see them
        # filled with column means (EM fits the observed)
        columns = _missing.mean_filled(units.standardised(X), sample_weight)
        starts = self._starts(columns, sample_weight, sorted({k for _, k in grid}), seed)
        settings = dict(
            init_params=self.init_params,
            n_init=self.n_init,
            tol=self.tol,
            reg_covar=self.reg_covar,
            max_iter=self.max_iter,
            prior_strength=self.prior_strength,
            seed=seed,
        )

        progress = _Progress(len(grid)) if self.verbose else None
        cells = [None] * len(grid)
        try:
            # unordered: progress counts cells as they finish, not in submission order
            n_jobs = _worth_processes(self.n_jobs, X.shape, grid)
            outputs = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
                delayed(_fit_cell)(
                    i,
                    t,
                    k,
                    X,
                    shared[units.kind(t, prior)],
                    sample_weight,
                    units,
                    starts.get(k, []),
                    settings,
                )
                for i, (t, k) in enumerate(grid)
            )
            for i, cell in outputs:
                cells[i] = cell
                if progress is not None:
                    progress.step()
        finally:
            if progress is not None:
                progress.close()

        total = X.shape[0] if sample_weight is None else float(np.sum(sample_weight))
        tie = _TIE * (1.0 + total * X.shape[1])
        results = _results_table(grid, cells, self.criterion, tie=tie)
        if sample_weight is not None:
            _warn_if_too_little_weight(total, sample_weight, results, self.criterion)
        finite = np.isfinite(results[self.criterion])
        if not np.any(finite):
            reasons = sorted(set(results["error"]) - {""}) or [
                f"{self.criterion.upper()} is not finite"
            ]
            raise ValueError(
                f"None of the {len(grid)} combinations could be fitted: " + "; ".join(reasons)
            )
        if not np.any(finite & ~results["degenerate"]):
            # no usable fit at all: the data themselves are singular for every model tried
            # (fewer rows than columns, collinear columns); choose among what there is, loudly
            warnings.warn(
                f"Every one of the {len(grid)} fits is degenerate (e.g. "
                f"{results['note'][finite][0]}): the data are singular for every model tried "
                "(fewer rows than columns, or collinear or discrete columns). The chosen "
                "model is the best of them by the criterion, and not trustworthy.",
                DegenerateFitWarning,
                stacklevel=_caller_stacklevel(),
            )
        best_index = int(np.flatnonzero(results["rank"] == 1)[0])
        # the cells' criteria may come from their scaled rows (equal up to rounding): the
        # chosen model's are those of X itself, as its own bic(X) etc. give them
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            exact = cells[best_index].estimator._criteria_of(X, sample_weight, classification=True)
        # (its warnings join the cell's, which surface below)
        for w in caught:
            if (str(w.message), w.category) not in cells[best_index].warnings:
                cells[best_index].warnings.append((str(w.message), w.category))
        for name in ("log_likelihood", "bic", "aic", "icl"):
            results[name][best_index] = exact[name]
        self.results_ = results
        self.best_index_ = best_index
        cov_type, k = grid[self.best_index_]
        self.best_params_ = {"covariance_type": cov_type, "n_components": k}
        self.best_criterion_ = float(self.results_[self.criterion][self.best_index_])
        best = cells[self.best_index_]
        self.best_estimator_ = best.estimator
        if hasattr(self, "feature_names_in_"):
            # (fitted on the columns' values: the names are the selector's X's)
            self.best_estimator_.feature_names_in_ = self.feature_names_in_
        # warnings of the other cells are summarised in results_; those of the chosen
        # model concern the user's model, so they surface here (worker processes would
        # otherwise swallow them)
        for message, category in best.warnings:
            warnings.warn(message, category, stacklevel=_caller_stacklevel())
        return X

    def _starts(self, X, sample_weight, ks, seed):
        """Initial partitions shared by every covariance type: ``{k: [labels, ...]}``.

        X is scaled column by column, so the starts do not depend on the units (the tree's
        own SVD transform does not either).
        """
        if self.init_params not in ("hc", "kmeans"):
            return {}  # drawn in each cell by the estimator's own initialisation
        n_rows = X.shape[0] if sample_weight is None else int(np.count_nonzero(sample_weight))
        ks = [k for k in ks if k <= n_rows]
        starts = {k: [] for k in ks}
        # Random draws (k-means++'s seeds, the tree's subset of a large X) pick rows by their
        # position: they are drawn on the rows in an order of their own values, so that they
        # do not depend on the order the rows come in (one order of R's trees chose VEV k=2,
        # another EEV k=5). (The tree itself follows X's order among tied merges, as mclust's)
        order = _value_order(X, sample_weight)
        if 1 in starts:
            # one component: its estimate is the data's own (every row in it), whatever the
            # start; one start, not one per method
            starts[1].append(np.zeros(X.shape[0], dtype=np.intp))
            ks = [k for k in ks if k > 1]
        if self.init_params == "hc" and ks:
            for k, start in _hc_starts(X, sample_weight, ks, seed, order).items():
                starts[k].append(start)
        # k-means on the rows of positive weight only: rows of weight 0 are not there (they
        # moved scikit-learn's stopping tolerance, which takes the rows' unweighted
        # variances, and so the labels); they get the label of their nearest centre
        keep = None
        if sample_weight is not None and not np.all(sample_weight > 0):
            keep = sample_weight > 0
        Xo = X[order]
        wo = None if sample_weight is None else sample_weight[order]
        keep_o = None if keep is None else keep[order]
        for j in range(self.n_init):
            for k in ks:
                km = KMeans(n_clusters=k, n_init=1, random_state=seed + j)
                with warnings.catch_warnings():
                    # fewer distinct rows than k: the start has fewer clusters, which the
                    # cell's fits handle (and its notes report); scikit-learn's warning
                    # about its own start is not the user's
                    warnings.filterwarnings(
                        "ignore", "Number of distinct clusters", ConvergenceWarning
                    )
                    if keep_o is None:
                        sorted_labels = km.fit(Xo, sample_weight=wo).labels_
                    else:
                        km.fit(Xo[keep_o], sample_weight=wo[keep_o])
                        sorted_labels = km.predict(Xo)
                        sorted_labels[keep_o] = km.labels_
                labels = np.empty_like(sorted_labels)
                labels[order] = sorted_labels
                starts[k].append(labels)
        return starts

    # ------------------------------------------------------------------ inference
    def _checked(self, X):
        """X as the chosen estimator takes it, checked against the selector's fit (columns,
        names): the estimator has the names too, and reads X itself (a dask collection
        lazily, which it checks itself)."""
        check_is_fitted(self)
        if not is_dask_collection(X):
            self._validate(X)
        return X

    def _validate(self, X):
        check_is_fitted(self)
        return validate_data(
            self, X, reset=False, dtype=[np.float64, np.float32], ensure_all_finite="allow-nan"
        )

    def predict(self, X: ArrayLike) -> np.ndarray:
        """The most probable component of each row of X under the chosen mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows to classify.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            The index of each row's most probable component of ``best_estimator_``.
        """
        X = self._checked(X)
        return self.best_estimator_.predict(X)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Posterior probability of each component of the chosen mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows to classify.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_components)
            Each row sums to 1. ``1 - proba.max(axis=1)`` is mclust's uncertainty.
        """
        X = self._checked(X)
        return self.best_estimator_.predict_proba(X)

    def score_samples(self, X: ArrayLike) -> np.ndarray:
        """Log-density of the chosen mixture at each row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows to score.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
            ``log p(x_i)`` under ``best_estimator_``.
        """
        X = self._checked(X)
        return self.best_estimator_.score_samples(X)

    def score(
        self,
        X: ArrayLike,
        y: object = None,
        sample_weight: ArrayLike | None = None,
    ) -> float:
        """Mean log-likelihood of X under the chosen mixture (weighted by ``sample_weight``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows to score.
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Frequency weights: a weight of 2 counts a row twice, 0 leaves it out. Default: 1 for
            every row.

        Returns
        -------
        log_likelihood : float
            ``sum_i w_i log p(x_i) / sum_i w_i``.
        """
        X = self._checked(X)
        return self.best_estimator_.score(X, sample_weight=sample_weight)

    def bic(self, X: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """BIC of the chosen mixture on X (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data the model is judged on.
        sample_weight : array-like of shape (n_samples,), default=None
            Frequency weights: a weight of 2 counts a row twice, 0 leaves it out. Default: 1 for
            every row.

        Returns
        -------
        bic : float
            See :meth:`GaussianMixtureEM.bic`.
        """
        X = self._checked(X)
        return self.best_estimator_.bic(X, sample_weight=sample_weight)

    def aic(self, X: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """AIC of the chosen mixture on X (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data the model is judged on.
        sample_weight : array-like of shape (n_samples,), default=None
            Frequency weights: a weight of 2 counts a row twice, 0 leaves it out. Default: 1 for
            every row.

        Returns
        -------
        aic : float
            See :meth:`GaussianMixtureEM.aic`.
        """
        X = self._checked(X)
        return self.best_estimator_.aic(X, sample_weight=sample_weight)

    def icl(self, X: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """ICL of the chosen mixture on X (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data the model is judged on.
        sample_weight : array-like of shape (n_samples,), default=None
            Frequency weights: a weight of 2 counts a row twice, 0 leaves it out. Default: 1 for
            every row.

        Returns
        -------
        icl : float
            See :meth:`GaussianMixtureEM.icl`.
        """
        X = self._checked(X)
        return self.best_estimator_.icl(X, sample_weight=sample_weight)

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw random rows from the chosen mixture.

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows to draw.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The rows, grouped by component.
        y : ndarray of shape (n_samples,)
            The component each row was drawn from.
        """
        check_is_fitted(self)
        return self.best_estimator_.sample(n_samples)

    # ------------------------------------------------------------------ reporting
    def format_results(self, layout: str = "wide", max_width: int | None = None) -> str:
        """The table of ``results_`` as text.

        Parameters
        ----------
        layout : {'wide', 'long'}, default='wide'
            'wide': the chosen criterion, one row per number of components and one column per
            covariance type (as mclust prints its BIC), the best marked with ``*``. 'long': one
            row per combination with every number.
        max_width : int, default=None
            'wide' only: split the columns into blocks (each with the ``k`` column, separated
            by a blank line), as R prints a wide matrix, and wrap the lines of text (the
            title, the degenerate and failed cells) so that no line is longer than this; at
            least one covariance type per block (and a word longer than this is not broken).
            None: one block, however wide, and no wrapping.

        Returns
        -------
        text : str
            The table, lines separated by newlines.
        """
        check_is_fitted(self)
        if max_width is not None and (not isinstance(max_width, Integral) or max_width < 1):
            raise ValueError(f"max_width must be a positive integer or None, got {max_width!r}.")
        if layout == "wide":
            return _format_wide(self.results_, self.criterion, self.best_index_, max_width)
        if layout == "long":
            return _format_long(self.results_, self.best_index_)
        raise ValueError(f"layout must be 'wide' or 'long', got {layout!r}.")

    def print_results(
        self, layout: str = "wide", file: TextIO | None = None, max_width: int | None = None
    ) -> None:
        """Print the table of ``results_`` (:meth:`format_results`).

        Parameters
        ----------
        layout : {'wide', 'long'}, default='wide'
            As in :meth:`format_results`.
        file : file-like, default=None
            Where to print; default: standard output.
        max_width : int, default=None
            As in :meth:`format_results`.

        Returns
        -------
        None
            The table is printed, not returned.
        """
        print(self.format_results(layout, max_width), file=sys.stdout if file is None else file)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def __sklearn_is_fitted__(self):
        # n_features_in_ is set before the grid runs; only a chosen model means fitted
        return hasattr(self, "best_estimator_")


# ---------------------------------------------------------------------- units
# Models that a change of one column's unit does not keep (spherical ones, EEV, VEV, EVE,
# VVE: ``CovarianceModel.column_scalable``) are fitted with one scale for all columns; every
# other model with a scale per column.
_ONE_SCALE = frozenset(name for name in COVARIANCE_NAMES if not get_model(name).column_scalable)

# A covariance whose variance along some direction is below this fraction of the data's
# (after removing the regularisation) is singular: the component has collapsed.
_SINGULAR_FLOOR = 1e-10


class ColumnsError(ValueError):
    """An error about some columns of X: its message names them by position (``columns``,
    0-based), and :meth:`naming` restates it with the columns' names."""

    def __init__(self, columns, what):
        self.columns = [int(j) for j in columns]
        self.what = what
        super().__init__(f"Column(s) {self.columns} of X {what}")

    def __reduce__(self):  # (pickled by worker processes: rebuilt from its two arguments)
        return (type(self), (self.columns, self.what))

    def naming(self, names):
        """The message with the columns named by ``names`` (one per column of X)."""
        shown = ", ".join(repr(str(names[j])) for j in self.columns)
        return f"Column(s) {shown} {self.what}"


class _Units:
    """The data's scale, which the selector divides out so that its answer has no units.

    A Gaussian mixture refitted after rescaling a column is the same model in the new units
    (means and covariances rescale with it, the log-likelihood shifts by the same constant
    for every combination), except for the regularisation added to every covariance, which
    is in the data's units. The selector therefore fits on columns divided by their scale,
    so that ``reg_covar`` is a fraction of each column's squared scale, and maps the fitted
    parameters back. Spherical models are divided by one common scale (the root mean square
    of the columns' scales): a spherical model is not spherical after rescaling one column,
    so it can only be invariant to a change of unit common to all columns.

    A column's scale is its standard deviation, but not more than ten times the spread of
    its bulk (:func:`_bulk_scale`), which a few far rows cannot inflate. One row at 1e6
    among three clusters of sd 1 and 600 rows makes the standard deviation 4e4:
    ``reg_covar`` of its square (1,600) would be added to clusters of variance 1 and hide
    them. The starts' k-means partitions the columns divided by their standard deviations
    (:meth:`standardised`, as the tree's SVD transform does): which rows a start groups is a
    matter of the columns' relative weights, not of the regularisation.
    """

    def __init__(self, std, scale):
        self.std = std
        self.scale = scale

    @classmethod
    def of(cls, X, sample_weight):
        if _missing.missing_cells(X):
            # each column's scale from its observed cells
            w = np.ones(X.shape[0]) if sample_weight is None else sample_weight
            w = np.where(np.isnan(X), 0.0, w.astype(np.float64)[:, None])
            empty = np.flatnonzero(~np.any(w > 0, axis=0))
            if empty.size:
                raise ColumnsError(
                    empty,
                    "have no observed value (in rows of positive sample_weight): they cannot "
                    "be fitted. Drop them.",
                )
            Xo = np.where(np.isnan(X), 0.0, X).astype(np.float64)
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                mean = (w * Xo).sum(axis=0) / w.sum(axis=0)
                var = (w * (Xo - mean) ** 2).sum(axis=0) / w.sum(axis=0)
            std = np.sqrt(var)
            cls._check(std, mean, X, w > 0)
            return cls(std, _bulk_scale(X, w, std))
        # (a column too large to square overflows: _check says so)
        with np.errstate(over="ignore", invalid="ignore"):
            mean = np.average(X, axis=0, weights=sample_weight).astype(np.float64)
            var = np.average((X - mean) ** 2, axis=0, weights=sample_weight).astype(np.float64)
        weighted = None if sample_weight is None else (sample_weight > 0)[:, None]
        std = np.sqrt(var)
        cls._check(std, mean, X, weighted)
        return cls(std, _bulk_scale(X, sample_weight, std))

    @classmethod
    def _check(cls, std, mean, X, kept=None):
        """Raise a :class:`ColumnsError` for the columns that have no scale:
        too large to square (their variance, computed in float64, overflows), constant (their
        rows of positive weight, ``kept``, all equal), varying only in the last digits of
        their magnitude, or by less than float64 can square (their variance underflows)."""
        huge = np.flatnonzero(~(np.isfinite(std) & np.isfinite(mean)))
        if huge.size:
            raise ColumnsError(
                huge,
                "are too large for their variance to be computed (it overflows float64): "
                "rescale them (divide them by a large power of ten).",
            )
        flat = np.flatnonzero(~(std > 64 * np.finfo(X.dtype).eps * np.abs(mean)))
        if not flat.size:
            return
        if kept is not None:  # (n, 1) for every column alike, or (n, d)
            kept = kept if kept.shape[1] == 1 else kept[:, flat]
        values = X[:, flat] if kept is None else np.where(kept, X[:, flat], np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # (a column without any value)
            spread = np.nanmax(values, axis=0) - np.nanmin(values, axis=0)
        constant = flat[~(spread > 0)]
        if constant.size:
            raise ColumnsError(
                constant,
                "are constant: a constant feature carries no information about clusters and "
                "makes every covariance singular. Drop it.",
            )
        underflow = flat[~(std[flat] > 0)]
        if underflow.size:
            raise ColumnsError(
                underflow,
                f"vary by so little (by about {np.sqrt(np.finfo(np.float64).tiny):.0e} or "
                "less) that their variance is below float64's range: rescale them (multiply "
                "them by a large power of ten).",
            )
        raise ColumnsError(
            flat,
            "vary only in the last digits of their magnitude (a spread below 64 * eps of "
            f"their mean): as good as constant in {X.dtype}, they make every covariance "
            "singular. Drop them, or subtract a reference value from them before they are "
            f"read as {X.dtype}.",
        )

    @staticmethod
    def kind(covariance_type, prior=False):
        """'overall' (one common unit) or 'columns' (each column in its own): see the class.

        With ``prior`` (a MAP fit), also 'overall' for the models whose prior scale is one
        number, the data's mean variance (mclust's ``defaultPrior`` for the spherical and
        diagonal models): the mean of variances each in its column's own unit would be
        another prior, not mclust's (it moved USArrests' EEI k=1 by 7.6 log-likelihood units
        and chose VEI k=3 where mclust's prior puts that cell 50 units lower).
        """
        if covariance_type in _ONE_SCALE:
            return "overall"
        if prior and not get_model(covariance_type).kernel_type.matrix:
            return "overall"
        return "columns"

    def factor(self, kind):
        """Per-column divisor of the data for models of this kind."""
        if kind == "overall":
            return np.full_like(self.scale, np.sqrt(np.mean(self.scale**2)))
        return self.scale

    def scaled(self, X, kind):
        return X / self.factor(kind).astype(X.dtype)

    def offset(self, kind, observed=None):
        """What a row's log-likelihood in the scaled units of ``kind`` gains in the columns'
        own, on average (``sum_j log(scale_j / factor_j)``, each column's term weighted by
        ``observed``, the share of the rows' weight observed in it, where cells are
        missing: a row's density has a column's change of unit only if it has the cell; 0
        for the columns' own units). EM's relative stopping rule takes the size of the
        log-likelihood in the columns' units for every cell. In one common unit it is
        another number, here and there far larger (wdbc's first 10 columns: 12 times at
        k=1, 780 times for VEV k=9, where the rule stopped 93.8 log-likelihood units below
        mclust); in the columns' units it can be near 0, where the rule is nearly an
        absolute one (that cell now stops at a change of 4e-4, where mclust's rule on the
        raw data allows 0.055)."""
        terms = np.log(self.scale / self.factor(kind))
        if observed is not None:
            terms = terms * observed
        return float(np.sum(terms))

    def standardised(self, X):
        """X with each column divided by its standard deviation (the starts' k-means)."""
        return X / self.std.astype(X.dtype)

    def variance(self, kind):
        """The data's squared scale per column, in the scaled units of ``kind`` (what a
        component's variances are judged against, see :func:`_degenerate`)."""
        return (self.scale / self.factor(kind)) ** 2

    def reg_fraction(self, kind):
        """What ``reg_covar`` is multiplied by in the scaled units of ``kind``: 1 where each
        column is divided by its own scale; in one common unit, the smallest column's
        squared scale in it, so that ``reg_covar`` is at most that fraction of any column's
        (of the common unit's, it would swamp a column whose scale is far below the others':
        wdbc's smoothness, 1e-4 of its area's, would get 60 times its own variance)."""
        return 1.0 if kind == "columns" else float(np.min(self.variance(kind)))


# 1 / Phi^-1(3/4): the median absolute deviation of a normal sample times this estimates
# its standard deviation
_MAD_TO_SD = 1.482602218505602
# A column's scale is at most this many times its bulk's (see _bulk_scale)
_SPREAD_CAP = 10.0


def _bulk_scale(X, weights, std):
    """Each column's scale, (d,): its standard deviation ``std``, capped at ``_SPREAD_CAP``
    times the spread of its bulk, ``_MAD_TO_SD`` times its median absolute deviation (the
    weighted median of ``|x - median|``), or, where that is 0 (about half the weight or more
    on one value: a discrete or zero-inflated column), the median of the deviations that
    are not 0.

    A few far rows inflate the sd without bound and the bulk's spread hardly at all. On the
    bulk of a column the two agree (1.48 MAD is the sd of normal data); clusters of unequal
    sizes or heavy tails put the sd a few times above it, and it stays the unit (within the
    cap the scale is the sd itself, to the bit). Beyond the cap, the regularisation is at
    most ``_SPREAD_CAP**2 * reg_covar`` of the bulk's variance. Both scale with the column,
    so the selection stays free of units. ``weights``: None, (n,) or, with missing cells,
    (n, d) with 0 on them (NaN cells and rows of weight 0 are left out). The medians are the
    lower ones (see :func:`_lower_median`), so integer weights give the scale of the rows
    repeated. Column by column: the temporaries are a few columns' size, not X's.
    """
    scale = np.array(std, dtype=np.float64)
    for j in range(X.shape[1]):
        x, w = X[:, j], None
        if weights is not None:
            w = weights if weights.ndim == 1 else weights[:, j]
            kept = w > 0
            x, w = x[kept], w[kept]
        x = x.astype(np.float64)
        deviation = np.abs(x - _lower_median(x, w))
        spread = _lower_median(deviation, w)
        if not spread > 0:
            off = deviation > 0
            if not off.any():  # (a constant column: _Units._check has said so)
                continue
            spread = _lower_median(deviation[off], None if w is None else w[off])
        scale[j] = min(scale[j], _SPREAD_CAP * _MAD_TO_SD * spread)
    return scale


def _lower_median(x, w=None):
    """The smallest of the values ``x`` with at least half the weights ``w`` (> 0; None:
    equal) at or below it.

    Equal weights, whatever their value, are one case (no sums to round); otherwise the
    half is judged within the rounding of the weights' running sum (normalised integer
    weights, c_i / C, reach half their total exactly, as the counts do)."""
    if w is not None and w.size and np.all(w == w[0]):
        w = None
    if w is None:
        middle = (x.size - 1) // 2
        return np.partition(x, middle)[middle]
    order = np.argsort(x, kind="stable")
    cumulative = np.cumsum(w[order])
    half = 0.5 * cumulative[-1]
    half -= half * x.size * np.finfo(np.float64).eps
    return x[order[np.searchsorted(cumulative, half, side="left")]]


def _unscale(params, factor):
    """The parameters fitted on ``X / factor``, in the units of X."""
    U = params.precisions_cholesky
    cov = params.covariance_matrices()
    if params.kernel.matrix:
        # precision = U U^T scales as F^-1 P F^-1: divide the rows of U
        U = U / factor[:, None]
        cov = cov * factor[:, None] * factor[None, :]
    elif U.ndim == 2:
        U = U / factor
        cov = cov * factor**2
    else:
        U = U / factor[0]
        cov = cov * factor[0] ** 2
    return GaussianMixtureParams(params.model, params.weights, params.means * factor, U, cov)


def _warn_if_too_little_weight(total, sample_weight, results, criterion):
    """Warn where the weights total fewer observations than the rows they weigh and than a
    model of the grid has free parameters: as frequency weights they are that many
    observations, and the criterion weighs the log-likelihood against the parameters as for
    that many (weights normalised to sum to 1, relative weights, did so without a word).
    Not for weights of 1 or more: few rows for many parameters is the grid's own business,
    weighted or not."""
    n_parameters = results["n_parameters"]
    most = int(np.max(n_parameters)) if n_parameters.size else 0
    rows = int(np.count_nonzero(sample_weight))
    if not (total < rows and total < most):
        return
    if criterion == "aic":
        effect = (
            "AIC's penalty of 2 per parameter outweighs a log-likelihood that counts only "
            "that many observations: the choice favours the smallest models"
        )
    else:
        penalty = f"log(n) = {round(math.log(total), 2) + 0.0:g}" if total > 0 else "log(n)"
        # (+ 0.0: no '-0' for a total a rounding below 1)
        effect = (
            f"{criterion.upper()} penalises each parameter by {penalty}: the choice "
            "favours the largest models"
        )
    warnings.warn(
        f"sample_weight totals {total:.4g} over {rows} rows. Weights are frequency weights "
        f"(a row of weight 2 counts as two rows): the data count as n = {total:.4g} "
        f"observations, fewer than the {most} free parameters of the largest model in the "
        f"grid, and {effect}. If the weights are relative (normalised to sum to 1, say), "
        "multiply them by the number of observations they stand for.",
        UserWarning,
        stacklevel=_caller_stacklevel(),
    )


def _caller_stacklevel():
    """The ``stacklevel`` of a warning raised here that names the first frame outside this
    package and scikit-learn (through fit, fit_predict, the parameter-validation wrapper,
    ...): the user's line."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_INSIDE):
        level += 1
        frame = frame.f_back
    return level


_INSIDE = tuple(
    os.path.dirname(module.__file__) + os.sep for module in (sys.modules[__package__], sklearn)
)


def _unscale_stats(stats, factor, log_jacobian):
    """The statistics of rows ``X / factor`` as those of X (a fit's, for its stream);
    ``log_jacobian``: what a row's log-likelihood loses in X's units, on average."""
    if stats.kind in ("full", "pooled"):
        scatter = stats.scatter * factor[:, None] * factor[None, :]
    elif stats.kind == "diag":
        scatter = stats.scatter * factor**2
    else:  # 'trace': one factor for every column (the 'overall' kind's)
        scatter = stats.scatter * factor[0] ** 2
    return replace(
        stats,
        means=stats.means * factor,
        scatter=scatter,
        shift=stats.shift * factor,
        loglik=stats.loglik - stats.total_weight * log_jacobian,
        data=None,
    )


def _unscale_prior(prior, factor):
    """The prior made from the statistics of ``X / factor``, in the units of X."""
    if prior is None:
        return None
    return replace(
        prior,
        mean=prior.mean * factor,
        scale_matrix=prior.scale_matrix * factor[:, None] * factor[None, :],
    )


def _hc_starts(X, sample_weight, ks, seed, order=None):
    """mclust's start: the partitions of one model-based hierarchical tree, for every k
    (rows outside the tree's subset, above 2,000 rows, are labelled -1: in no component).

    ``order``: the rows in the order the subset is drawn from (:func:`_value_order`; see
    ``hc_tree``'s ``draw_order``)."""
    tree = hc_tree(X, sample_weight=sample_weight, random_state=seed, draw_order=order)
    return {k: tree.labels(k) for k in ks if k <= tree.n_rows}


def _value_order(X, sample_weight=None):
    """An order of the rows of X by their values (first column first), then their weights:
    the same rows in any order give the same sequence of rows.

    ``np.lexsort`` of those keys, exactly (rows equal in every key keep their order): a
    stable sort of the first column, then a lexsort of the rows whose first value is tied
    with another's, each tied run by the remaining keys. Continuous data have few ties: on
    100,000 x 8, 13 ms where a lexsort of all the keys took 87-91 ms."""
    first = X[:, 0]
    order = np.argsort(first, kind="stable")
    rest = [X[:, j] for j in range(X.shape[1] - 1, 0, -1)]
    if sample_weight is not None:
        rest.insert(0, sample_weight)
    if not rest:
        return order
    value = first[order]
    # runs of equal first values (NaNs sort last and tie with each other, as in lexsort)
    same = value[1:] == value[:-1]
    same |= np.isnan(value[1:]) & np.isnan(value[:-1])
    if not same.any():
        return order
    tied = np.flatnonzero(np.concatenate([[False], same]) | np.concatenate([same, [False]]))
    run = np.cumsum(~np.concatenate([[False], same]))[tied]  # the run each tied row is in
    rows = order[tied]  # in the stable sort's order: by index within a run
    order[tied] = rows[np.lexsort([key[rows] for key in rest] + [run])]
    return order


# ---------------------------------------------------------------------- one cell
class _Cell:
    """What a worker sends back for one combination."""

    def __init__(
        self, estimator=None, numbers=None, warnings=(), error="", fit_time=np.nan, note=""
    ):
        self.estimator = estimator
        self.numbers = numbers or {}
        self.warnings = list(warnings)
        self.error = error
        self.fit_time = fit_time
        self.note = note


class _ScaledRows:
    """The rows of one scaling of X and what the cells fitted on it share.

    Every cell on one scaling runs EM on the same rows (those of positive weight) from the
    same partitions: the data's statistics (per statistics kind), the partitions' label
    moments (per kind of scatter), the prepared rows of the passes and the starts' shift are
    made once, by the first cell that needs them (a cell run in a worker process makes its
    own: joblib pickles every task apart). Each is a pure function of the rows, so a cell
    gets the same numbers whether it made them or another did.
    """

    def __init__(self, Xs, sample_weight):
        self.Xs = Xs
        self.sample_weight = sample_weight
        self._made = {}
        self._lock = threading.Lock()  # (cells may run on threads: joblib's threading backend)

    def __getstate__(self):
        # pickled with a task: the copy starts empty (and a lock does not pickle)
        return {"Xs": self.Xs, "sample_weight": self.sample_weight}

    def __setstate__(self, state):
        self.__init__(state["Xs"], state["sample_weight"])

    def _get(self, key, make):
        made = self._made.get(key)
        if made is not None:  # (made already: no lock to wait for)
            return made
        with self._lock:
            if key not in self._made:
                self._made[key] = make()
            return self._made[key]

    def rows(self):
        """``(fit_X, fit_w, incomplete, init_X, init_Xs)``: the rows EM fits (positive
        weight) and their weights; their ``_missing.IncompleteData`` where cells are missing
        (else None); the same rows and all rows, missing cells mean-filled, for the starts
        (all rows: the starts' labels cover rows of weight 0, whose cells may be missing
        where the kept rows have none)."""

        def make():
            fit_X, fit_w = _rows_of_positive_weight(self.Xs, self.sample_weight)
            incomplete, init_X = None, fit_X
            init_Xs = _missing.mean_filled(self.Xs, self.sample_weight)
            if _missing.missing_cells(fit_X):
                incomplete = _missing.IncompleteData(fit_X, fit_w)
                init_X = incomplete.mean_filled()
            return fit_X, fit_w, incomplete, init_X, init_Xs

        return self._get("rows", make)

    def observed_share(self):
        """Each column's share of the fitted rows' weight that is observed in it, (d,), or
        None without missing cells (see :meth:`_Units.offset`)."""
        fit_X, fit_w, incomplete, _, _ = self.rows()
        if incomplete is None:
            return None

        def make():
            seen = ~np.isnan(fit_X)
            return seen.mean(axis=0) if fit_w is None else fit_w @ seen / fit_w.sum()

        return self._get("observed", make)

    def data_statistics(self, covariance_type):
        """``_kernels.data_statistics`` of the (mean-filled) rows EM fits."""
        kernel = get_model(covariance_type).kernel_type
        _, fit_w, _, init_X, _ = self.rows()
        return self._get(
            ("data", "full" if kernel.matrix else kernel.stats_kind),
            lambda: _kernels.data_statistics(init_X, fit_w, covariance_type),
        )

    def prepared(self):
        """The passes' ``_kernels.PreparedRows`` (None with missing cells)."""
        fit_X, fit_w, incomplete, _, _ = self.rows()
        if incomplete is not None:
            return None
        return self._get("prepared", lambda: _kernels.PreparedRows.of(fit_X, fit_w))

    def label_statistics(self, labels, key, n_components, covariance_type):
        """``_kernels.label_statistics`` of the partition ``labels`` of all rows (its moments
        shared, under ``key``, by the covariance types of one kind of scatter)."""
        *_, init_Xs = self.rows()
        w = self.sample_weight
        # the shift need only be near the bulk of the rows (one row far out must not drag it)
        shift = self._get("shift", lambda: _kernels.robust_centre(init_Xs, w))
        matrix = get_model(covariance_type).kernel_type.matrix
        moments = self._get(
            ("labels", key, matrix),
            lambda: _kernels.label_moments(init_Xs, w, labels, n_components, matrix, shift),
        )
        return _kernels.label_statistics(
            init_Xs, w, labels, n_components, covariance_type, shift, moments
        )


def _fit_cell(
    index, covariance_type, n_components, X, data, sample_weight, units, starts, settings
):
    """Fit one combination on the scaled rows ``data`` (a :class:`_ScaledRows`) from every
    start, keep the best, and express it in the units of X; returns ``(index, _Cell)``."""
    k, t = n_components, covariance_type
    # (the model EM fits: t's family's at one component, see _fitted_as)
    fit_t = _fitted_as(t, k, settings["prior_strength"] is not None)
    reg_covar, tol, max_iter = settings["reg_covar"], settings["tol"], settings["max_iter"]
    kind = units.kind(t, settings["prior_strength"] is not None)
    reg_covar *= units.reg_fraction(kind)
    start = perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit_X, fit_w, incomplete, init_X, init_Xs = data.rows()
            if fit_X.shape[0] < k:
                raise ValueError(
                    "Expected n_samples >= n_components but got n_components = "
                    f"{k}, n_samples = {fit_X.shape[0]}"
                )
            random_state = np.random.RandomState(settings["seed"])
            # the data's own statistics, once for every start and every pass of the cell
            # (missing cells: EM fits the observed cells; starts and prior see them mean-filled)
            data_stats = data.data_statistics(fit_t)
            prior = None
            if settings["prior_strength"] is not None:
                prior = Prior.from_data_statistics(data_stats, k, settings["prior_strength"])
            if starts:
                initial = [
                    params_from_statistics(
                        data.label_statistics(labels, (k, i), k, fit_t),
                        init_Xs,
                        sample_weight,
                        fit_t,
                        reg_covar,
                        random_state,
                        prior,
                        data_stats=data_stats,
                    )
                    for i, labels in enumerate(_distinct(starts, k))
                ]
            else:
                initial = [
                    initial_params(
                        init_X,
                        fit_w,
                        n_components=k,
                        covariance_type=fit_t,
                        init_params=settings["init_params"],
                        reg_covar=reg_covar,
                        weights_init=None,
                        means_init=None,
                        precisions_init=None,
                        random_state=random_state,
                        prior=prior,
                    )
                    for _ in range(settings["n_init"])
                ]
            total = float(fit_X.shape[0] if fit_w is None else fit_w.sum())
            tol_offset = units.offset(kind, data.observed_share())
            best, note = _best_start(
                initial,
                fit_X,
                fit_w,
                tol,
                max_iter,
                reg_covar,
                prior,
                incomplete=incomplete,
                data_stats=data_stats,
                prepared=data.prepared(),
                tol_offset=tol_offset,
                mclust_start=0 if starts and settings["init_params"] == "hc" else None,
                degenerate=_judge(
                    fit_t,
                    units.variance(kind),
                    reg_covar,
                    settings["reg_covar"],
                    total,
                    (fit_X, fit_w, incomplete, data.prepared(), data_stats),
                    tol_offset,
                    prior,
                    reg_unit=units.reg_fraction(kind),
                ),
            )
            # (a start stopped because it collapsed is not a convergence failure: the note
            # says what happened)
            if not best.converged and not best.stopped and max_iter > 0:
                warnings.warn(
                    f"The best start for covariance_type={t!r}, n_components={k} did not "
                    f"converge in max_iter={max_iter} iterations.",
                    ConvergenceWarning,
                    stacklevel=2,
                )
            factor = units.factor(kind)
            est = GaussianMixtureEM(
                n_components=k,
                covariance_type=t,
                init_params=settings["init_params"],
                tol=tol,
                reg_covar=settings["reg_covar"],
                max_iter=max_iter,
                n_init=settings["n_init"],
                prior_strength=settings["prior_strength"],
                random_state=settings["seed"],
            )
            params = best.params
            if fit_t != t:  # (the same storage: the family's fit as a fit of t)
                params = GaussianMixtureParams(
                    t, params.weights, params.means, params.precisions_cholesky, params.covariances
                )
            unscaled = _unscale(params, factor)
            est._store(unscaled, X.dtype)
            # what a row's log-likelihood loses in X's units: each column's change of unit
            # where the row has the cell (a missing cell's column is not in its density)
            observed = data.observed_share()
            log_factor = np.log(factor)
            log_jacobian = float(np.sum(log_factor if observed is None else log_factor * observed))
            if best.stats is not None:
                # partial_fit continues the chosen fit, as it continues GaussianMixtureEM's
                est._stream = _online.continued(
                    _unscale_stats(best.stats, factor, log_jacobian),
                    unscaled,
                    _unscale_prior(prior, factor),
                )
            est.converged_ = best.converged
            est.n_iter_ = best.n_iter
            scalar = np.dtype(X.dtype).type
            est.lower_bound_ = scalar(best.lower_bound - log_jacobian)
            est.lower_bounds_ = [scalar(b - log_jacobian) for b in best.lower_bounds]
            est.n_features_in_ = X.shape[1]
            # every criterion from one pass over X; over the scaled rows where the passes'
            # prepared rows serve (float64: rescaling rounds the rows no more than reading
            # them did), the log-likelihood moved to X's units by the scaling's Jacobian (the
            # chosen cell's are then taken on X itself, in _fit_grid)
            prepared = data.prepared()
            if prepared is not None and X.dtype == np.float64:
                ll, top = _kernels.log_likelihood_and_map(fit_X, params, prepared)
                numbers = _criteria_of_rows(
                    ll, top, fit_w, est._model().n_parameters(), log_jacobian
                )
            else:
                numbers = est._criteria_of(X, sample_weight, classification=True)
            numbers = {name: float(value) for name, value in numbers.items()}
            numbers["n_parameters"] = int(numbers["n_parameters"])
            numbers["converged"] = bool(est.converged_)
            numbers["n_iter"] = int(est.n_iter_)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
            # a combination the data cannot support (too many components, a singular
            # covariance) is a result of the search, not a failure of it
            reason = f"{type(exc).__name__}: {exc}"
            return index, _Cell(error=reason, fit_time=perf_counter() - start)
    fit_time = perf_counter() - start
    # dedupe: EM can repeat one warning per start
    seen = list(dict.fromkeys((str(w.message), w.category) for w in caught))
    return index, _Cell(est, numbers, seen, fit_time=fit_time, note=note)


def _fitted_as(covariance_type, n_components, prior=False):
    """The model a cell of ``covariance_type`` is fitted as: itself, but at one component
    its family's model of the same storage (VII for EII, VVI for EEI, VEI and EVI, VVV for
    the ellipsoidal ones stored as one matrix per component).

    One component leaves nothing to be equal or to vary across components: the models of a
    family (spherical, diagonal, ellipsoidal) are one model, and mclust's ``Mclust`` fits
    it once per family (its XII, XXI and XXX). Fitted each as itself they agree up to
    rounding by maximum likelihood, but not under a prior: mclust's posterior modes differ
    by model (VEI's is not VVI's, EEV's is not VVV's), and on USArrests VEV k=1 came out
    1.7 log-likelihood units above VVV k=1 and was chosen, where mclust's cells of the
    family tie. EEE (one shared matrix) is VVV's fit at one component already. With a
    ``prior``, a model mclust's prior does not cover stays itself (and fails as at any k).
    """
    if n_components != 1:
        return covariance_type
    model = get_model(covariance_type)
    if prior and not model.prior_covered:
        return covariance_type
    family = {"spherical": "VII", "diag": "VVI", "full": "VVV"}.get(model.kernel)
    if family is None or get_model(family) is model:
        return covariance_type
    return family


# Starting worker processes (each imports NumPy, SciPy and scikit-learn) costs about a second
# per worker on a small machine; a grid expected to take less than this many seconds in one
# process is not split across processes, where it would only get slower.
_PROCESS_WORTHWHILE_SECONDS = 4.0
# The estimate's constants, measured with benchmarks/bench_selection.py on one core: EM
# passes per cell (both starts, SQUAREM; 17 at 100,000 x 8 and 35 at 9,083 x 4), the fixed
# cost of a pass (E-step plan and M-step; the iterative models' M-steps cost more), and
# the rate of the kernel's products (1.06e10 flop/s at 100,000 x 8, k=5, full).
_PASSES_PER_CELL = 30
_PASS_SECONDS = 5e-4
_FLOP_RATE = 1e10


def _worth_processes(n_jobs, shape, grid):
    """``n_jobs``, or 1 when the grid is too small to repay starting worker processes.

    The estimate: ``_PASSES_PER_CELL`` passes per combination, each a fixed cost plus the
    two chunk products (about 4 n k (d(d+1)/2 + 2d) flops) at ``_FLOP_RATE``. It put a
    20,000 x 8 grid of the four scikit-learn types (2.0 s in one process) at 2.5 s, and
    100,000 x 8 (6.4 s) at 11.5 s; an estimate of 120 passes per cell had sent the first
    to processes, where it took 5.4 s.
    """
    if n_jobs is None or n_jobs == 1:
        return n_jobs
    n, d = shape
    flops = sum(4.0 * n * k * (d * (d + 1) / 2 + 2 * d) for _, k in grid)
    seconds = _PASSES_PER_CELL * (len(grid) * _PASS_SECONDS + flops / _FLOP_RATE)
    return n_jobs if seconds > _PROCESS_WORTHWHILE_SECONDS else 1


def _best_start(
    initial,
    X,
    sample_weight,
    tol,
    max_iter,
    reg_covar,
    prior,
    incomplete=None,
    data_stats=None,
    degenerate=None,
    prepared=None,
    tol_offset=0.0,
    mclust_start=None,
):
    """EM to convergence from every start; the run with the highest log-likelihood among
    those that did not collapse. Returns ``(EMResult, why it collapsed or '')``.

    ``mclust_start``: the index in ``initial`` of mclust's own start (its tree's partition),
    which a VVE fit also runs along mclust's path (``_em.start_runs``), or None.

    ``prepared``: X's ``_kernels.PreparedRows`` where cells share it (made here if None).
    ``tol_offset``: :meth:`_Units.offset` of the cell's units (the relative rule's size of
    the log-likelihood is taken in the columns' own units).
    ``degenerate(params, count_rows=True) -> str`` (see :func:`_degenerate`; None: never)
    says why a fit is degenerate. A start whose covariance collapses (``count_rows=False``:
    a component can regain rows, not come back from a singular covariance) is stopped there
    (``EMResult.stopped``): EM would only creep towards the singularity, hundreds of passes on
    incomplete data, to a fit that is never chosen. A degenerate fit's log-likelihood,
    inflated by the collapse, does not beat a start that kept every component: the cell is
    degenerate only if every start is.

    Every other start runs to the end: stopping the starts early and continuing only the one
    ahead then (the "short runs" strategy) lost mclust's optimum on Old Faithful (full, k=4
    and 6), where the start that leads early is not the one that ends best.
    """
    total = X.shape[0] if sample_weight is None else float(np.sum(sample_weight))
    # every start's passes read the same shifted rows and features
    if prepared is None and incomplete is None:
        prepared = _kernels.PreparedRows.of(X, sample_weight)
    best, best_reason = None, ""
    runs = (
        result
        for i, params in enumerate(initial)
        for result in start_runs(
            partial(run_em, X, sample_weight),
            params,
            i == mclust_start,
            tol=tol,
            max_iter=max_iter,
            reg_covar=reg_covar,
            prior=prior,
            relative_tol=True,
            tol_offset=tol_offset,
            accelerate=True,
            incomplete=incomplete,
            data_stats=data_stats,
            stop=None if degenerate is None else (lambda p: bool(degenerate(p, count_rows=False))),
            prepared=prepared,
        )
    )
    for result in runs:
        reason = "" if degenerate is None else degenerate(result.params)
        if best is None or bool(reason) != bool(best_reason):
            better = best is None or not reason
        else:
            # a later start must beat the best by more than EM's own stopping tolerance:
            # starts that reach the same optimum differ by rounding, and the choice
            # between them (which numbering of the components) must not turn on it
            margin = tol * (1.0 / total + abs(best.lower_bound + tol_offset))
            if not np.isfinite(margin):  # (a best of -inf: any finite start beats it)
                margin = 0.0
            better = result.lower_bound > best.lower_bound + margin
        if better:
            best, best_reason = result, reason
    warn_abandoned(best)
    return best, best_reason


def _distinct(partitions, n_components):
    """The partitions with repeats removed (equal up to the numbering of the labels; rows
    labelled -1, outside a subset, must match too)."""
    kept = []
    for labels in partitions:
        codes = labels + 1  # -1 (no component) becomes a label of its own
        for other in kept:
            if not np.array_equal(labels < 0, other < 0):
                continue
            pairs = np.bincount(codes * (n_components + 1) + other + 1)
            if (
                np.count_nonzero(pairs)
                == np.count_nonzero(np.bincount(codes))
                == np.count_nonzero(np.bincount(other + 1))
            ):
                break
        else:
            kept.append(labels)
    return kept


def _degenerate(params, data_variance, reg_covar, total, count_rows=True, floor=None):
    """Why a fit is spurious (a component collapsed), or '' if it is not.

    ``params`` are in scaled units, where the data's squared scale per column (see
    ``_Units``) is ``data_variance``. A component is degenerate when its covariance, less
    the regularisation, is singular relative to the data's (its smallest variance in some
    direction is below ``floor``, by default ``reg_covar``, of the data's: the likelihood
    is unbounded there, and only the regularisation keeps it finite), or (``count_rows``)
    when it has fewer effective rows than its covariance needs (to the nearest row). These
    are mclust's "NA" cells: spurious maxima, never chosen. (EM does not come back from
    the first; a component can regain rows, so the selector stops a run early for the
    first only.)
    """
    k, d = params.means.shape
    nk = params.weights / params.weights.sum() * total
    if floor is None:
        floor = max(reg_covar, _SINGULAR_FLOOR)
    smallest = _fit_smallest_variances(params, data_variance, reg_covar)
    for j in range(k):
        if smallest[j] < floor:
            return (
                f"component {j} collapsed: its smallest variance is {max(smallest[j], 0):.1e} "
                "of the data's (singular but for reg_covar)"
            )
    if not count_rows:
        return ""
    own, pooled, largest = _rows_needed(params.model, k, d)
    # (to the nearest row: responsibilities just short of 1 leave a component that holds
    # its rows a rounding short of their count, 3.986 of 4; rounded down in the note:
    # 3.4996 is not "3.50")
    for j in range(k):
        if nk[j] < own - 0.5:
            return (
                f"component {j} has {_rows(nk[j])} effective rows, fewer than the {own} its "
                "covariance needs"
            )
    if pooled and total < pooled - 0.5:
        return (
            f"the {_rows(total)} effective rows are fewer than the {pooled} the common "
            "covariance needs"
        )
    if largest and nk.max() < largest - 0.5:
        return (
            f"no component has the {largest} effective rows the common shape needs (the "
            f"most is {_rows(nk.max())})"
        )
    return ""


def _rows(count):
    """An effective number of rows as the notes show it: two decimals, rounded down."""
    return f"{math.floor(count * 100) / 100:.2f}"


def _rows_needed(model, k, d):
    """``(own, pooled, largest)``: the effective rows each component needs for the parts
    of its covariance that are its own; all rows together for the parts all share (a
    pooled scatter has rank n - k: ``k + d`` for a shared matrix, ``k + 1`` for a shared
    diagonal or variance), or None; and one component with ``d + 1`` rows for a shared
    shape with orientations of their own (EEV's shape sums the components' sorted
    eigenvalues, singular if every component's scatter is; VEV's weighs them by the inverse
    volumes), or None.

    A component with its own shape and orientation (VVV, EVV), or its own shape along a
    common orientation (VVE, EVE, where the orientation can turn onto a deficient
    component's null space), needs ``d + 1`` rows: with fewer its own scatter is singular
    (VVV and VVE are then unbounded; a shared volume can hold EVV and EVE at a finite
    supremum, not always attained: the rule asks for the rows all the same). An own volume,
    or a diagonal or spherical covariance of its own, needs 2 (a scatter that is not zero);
    an orientation alone (EEV), none. A shared shape can keep a component with fewer rows
    bounded (mclust fits EuroUnemployment's VEV k=6 with components of 2 and 3 rows in 3
    dimensions), but not always: small components that hold a large share of the rows
    make VEV and VEE unbounded too. These counts are necessary, not sufficient; a fit that
    passes them is still refitted with less regularisation where a variance is small
    (:func:`_follows_the_regularisation`), which finds the unbounded ones."""
    matrix = model.kernel_type.matrix
    if model.kernel_type.shared or model.equal_covariances:  # EEE; EII, EEI
        return 0, k + (d if matrix else 1), None
    if not matrix:  # VII, VVI, EVI, VEI
        return 2, None, None
    if model.shape == "V":  # VVV, EVV, VVE, EVE
        return d + 1, None, None
    own = 2 if model.volume == "V" else 0
    if model.orientation == "V":  # EEV, VEV
        return own, None, d + 1
    return own, k + d, None  # VEE


def _fit_smallest_variances(params, data_variance, reg_covar=0.0):
    """:func:`_smallest_variances` of each of the fit's components, (k,), less
    ``reg_covar`` (the regularisation they carry)."""
    k, d = params.means.shape
    matrix = params.kernel.matrix
    cov = np.asarray(params.covariance_matrices(), dtype=np.float64)
    ml = cov - reg_covar * np.eye(d) if matrix else cov - reg_covar
    return np.broadcast_to(_smallest_variances(ml, data_variance, matrix), (k,))


def _smallest_variances(cov, data_variance, matrix):
    """Each component's smallest variance in any direction, relative to the data's squared
    scale per column ``data_variance``: of covariance matrices (``matrix``: (k, d, d), or
    one (d, d) shared), else of diagonals ((k, d)) or spherical variances ((k,), relative
    to the columns' mean)."""
    if not matrix and cov.ndim == 1:
        return cov / np.mean(data_variance)
    z = 1.0 / np.sqrt(data_variance)
    if matrix:
        return np.linalg.eigvalsh(cov * z[:, None] * z[None, :])[..., 0]
    return (cov * z**2).min(axis=1)


# Models whose components have shapes of their own while sharing their volume or
# orientation: their fitted covariances carry reg_covar multiplied by what the constraint
# makes of it (EVI: the common volume over the collapsed component's own, up to thousands),
# so the fitted covariance alone cannot say whether a component collapsed.
_OWN_SHAPES = ("EVI", "EVE", "EVV", "VVE")


# Without regularisation (``reg_covar=0``) cells are judged as at this one, the default (see
# _judge)
_JUDGED_WITHOUT_REG = 1e-6


def _judge(
    covariance_type, variance, reg, fraction, total, rows, tol_offset=0.0, prior=None, reg_unit=1.0
):
    """The cell's ``degenerate(params, count_rows=True)`` (see :func:`_best_start`):
    :func:`_degenerate`, with variances judged against ``fraction`` (the selector's
    ``reg_covar``) of the data's whatever ``reg`` the cell's fits carry (less, in one common
    unit: ``_Units.reg_fraction``); a start's final fit to data with missing cells, where
    components have shapes of their own, also by its observed cells alone
    (:func:`_observed_spike`), for ``_OWN_SHAPES`` re-estimated without the
    regularisation (:func:`_collapsed_shape`), and, where a variance is small, continued
    with less of it (:func:`_follows_the_regularisation`, with ``tol_offset`` and the
    cell's ``prior``); none of these while EM runs: each costs passes. ``rows``: ``(X,
    sample_weight, incomplete, prepared, data_stats)``.

    With ``reg_covar=0`` (``fraction`` 0) nothing holds a collapsing component: EM takes it
    towards the singularity until it is re-seeded or the tolerance stops EM, at whatever
    variance that left (integers on a lattice: 3.5e-6 of the data's, far above
    ``_SINGULAR_FLOOR``, and the selector chose it), and EM continued with less
    regularisation than none tests nothing. Such fits are judged as at
    ``_JUDGED_WITHOUT_REG`` (the default): its floor, and the continuation at it
    (``reg_unit`` times it in the cell's units, :meth:`_Units.reg_fraction`) and below it,
    which a collapse follows down and a bounded fit does not; the fits themselves stay
    unregularised (their variances are taken as they are)."""
    continued_reg = reg
    if fraction == 0:
        fraction = _JUDGED_WITHOUT_REG
        continued_reg = fraction * reg_unit
    floor = max(fraction, _SINGULAR_FLOOR)
    judged = partial(_degenerate, data_variance=variance, reg_covar=reg, total=total, floor=floor)
    model = get_model(covariance_type)
    own_shape = model.name in _OWN_SHAPES
    X, sample_weight, incomplete = rows[:3]
    observed = incomplete is not None and model.shape == "V"

    def degenerate(params, count_rows=True):
        # under a prior the posterior mode is well posed whatever a component's rows (mclust
        # reports such cells): no count of rows. A smallest variance below the floor but
        # within _BORDER of it is no verdict by itself: where EM creeps, how far it got
        # there turns on rounding (mtcars' VEV k=6 stopped at 1.8e-7 of the data's variance
        # in its units and at 1.4e-6 in units of 1e6, on either side of the floor, and the
        # choice changed); how the fit follows the regularisation decides (below)
        why = judged(params, count_rows=count_rows and prior is None, floor=floor / _BORDER)
        if why or not count_rows:
            return why
        if observed:
            why = _observed_spike(params, X, sample_weight, variance, floor)
        if not why and own_shape:
            why = _collapsed_shape(params, *rows, variance, floor)
        if not why:
            why = _follows_the_regularisation(
                params, rows, continued_reg, variance, floor, total, tol_offset, prior
            )
        return why

    return degenerate


def _collapsed_shape(params, X, sample_weight, incomplete, prepared, data_stats, variance, floor):
    """Why a fit of one of ``_OWN_SHAPES`` is degenerate, or '': its covariances estimated
    again from its own statistics (one pass at ``params``) without the regularisation. A
    component whose own scatter is singular (all its rows on one value of a column: a spike)
    then has a singular covariance, or none (the shape divides by its zero geometric mean),
    as mclust's unregularised fit has, where it reports NA. ``variance``: the data's squared
    scale per column, in the units of X (scaled); ``floor``: the least variance, relative
    to the data's, of a component that has not collapsed.

    With missing cells the pass fills a row's missing cells with their conditional variance
    under ``params``, which carries the regularisation (times what the constraint makes of
    it): a spike with a row missing in its column would pass here. :func:`_judge` judges
    the observed cells on their own first (:func:`_observed_spike`)."""
    if incomplete is None:
        stats = _kernels.accumulate(X, sample_weight, params, prepared=prepared)
    else:
        stats = incomplete.accumulate(params)
    failed = "its covariances, without reg_covar, cannot be estimated (a component collapsed)"
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cov = params.model.estimate(stats.with_data(data_stats), 0.0, params)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError):
        return failed
    cov = np.asarray(getattr(cov, "covariances", cov), dtype=np.float64)
    # a component without support (one EM left with a weight of about 0) has no covariance
    # of its own to estimate: it is empty, not collapsed (the count of rows judges it)
    held = np.ones(cov.shape[0], dtype=bool)
    held[lost_components(stats)] = False
    if not np.all(np.isfinite(cov[held])):
        return failed
    smallest = np.full(cov.shape[0], np.inf)
    smallest[held] = _smallest_variances(cov[held], variance, params.kernel.matrix)
    below = np.flatnonzero(~(smallest >= floor))
    if not below.size:
        return ""
    j = below[0]
    return (
        f"component {j} collapsed: without reg_covar its smallest variance is "
        f"{max(smallest[j], 0):.1e} of the data's (singular)"
    )


# A component whose smallest variance (relative to the data's) is below this many times
# the floor is fitted again with less regularisation (see _follows_the_regularisation).
_SUSPECT_FACTOR = 1e3
# ... and one below the floor divided by this has collapsed without that test
_BORDER = 1e3
# ... with reg_covar divided by this, for at most this many EM passes
_REG_DIVISOR = 100.0
_REG_PASSES = 40
# ... and a collapse found when the log-likelihood then rises by more than this per
# effective row of the component
_REG_GAIN = 0.1


def _follows_the_regularisation(params, rows, reg, variance, floor, total, tol_offset, prior):
    """Why a fit is degenerate by the way it follows ``reg_covar``, or '': EM continued from
    ``params`` with ``reg_covar / _REG_DIVISOR`` (and the same ``prior``). A component whose
    smallest variance (relative to the data's, :func:`_smallest_variances`) was below
    ``_SUSPECT_FACTOR * floor`` collapses as the regularisation goes when its variance
    falls and the log-likelihood climbs with it, by more than ``_REG_GAIN`` per effective
    row of the component (a collapse gains about log(divisor) / 2 = 2.3 per row and
    collapsed direction once it reaches its new equilibrium): its likelihood is unbounded,
    and only ``reg_covar`` holds it (at a multiple of it where the model shares a shape or
    volume: 1.9 reg_covar for a VEE component of 2 rows in 3 dimensions, which the floor
    passes). A bounded fit's log-likelihood hardly moves (a variance of 1e-3 of the data's
    gains about 5e-4 per row), even where a singular scatter's null directions turn
    freely under a shared shape and the per-column measure of the smallest variance
    falls (breast cancer's 30 columns, EEV k=7: 27 rows in 30 dimensions). ``rows``:
    ``(X, sample_weight, incomplete, prepared, data_stats)``; ``total`` their weight."""
    before = _fit_smallest_variances(params, variance)
    suspects = np.flatnonzero(~(before >= _SUSPECT_FACTOR * floor))
    if not suspects.size:
        return ""
    X, sample_weight, incomplete, prepared, data_stats = rows
    nk = params.weights / params.weights.sum() * total

    def continued(reg_covar):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return run_em(
                X,
                sample_weight,
                params,
                tol=1e-9,
                max_iter=_REG_PASSES,
                reg_covar=reg_covar,
                prior=prior,
                relative_tol=True,
                tol_offset=tol_offset,
                incomplete=incomplete,
                data_stats=data_stats,
                prepared=prepared,
            )

    try:
        again = continued(reg / _REG_DIVISOR)
        after = _fit_smallest_variances(again.params, variance)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError):
        return "it cannot be fitted with less regularisation (a component collapsed)"
    # EM's own continuation, at the same regularisation, for as many passes: a fit stopped
    # on a slow climb (by the relative rule) climbs on either way, and its variances move
    # with it (iris' VVV k=4, mclust's own optimum, rose by 1.9 and a variance of 6.4e-4 of
    # the data's fell to 2.4e-4): only what less regularisation adds is a collapse's. (EM
    # at the same regularisation does not go down, but for rounding, or, under a prior, by
    # far less than the threshold (MAP-EM climbs the posterior: -8.5e-4 was seen): where
    # the run with less does not climb past a suspect's threshold (0.1 per row) from the fit
    # itself, it does not past the continuation's, and the continuation is not run; the
    # verdicts were the same as always running it on 7 tables, with and without a prior)
    rise = (again.lower_bounds[-1] - again.lower_bounds[0]) * total
    if not rise > _REG_GAIN * float(np.min(nk[suspects])):
        return ""
    control = continued(reg)
    held = _fit_smallest_variances(control.params, variance)
    # (the last bound of each run is that of its final step)
    gain = (again.lower_bounds[-1] - control.lower_bounds[-1]) * total
    for j in suspects:
        if not (after[j] * 2.0 < held[j] and gain > _REG_GAIN * nk[j]):
            continue
        return (
            f"component {j} collapsed: its smallest variance, {max(before[j], 0):.1e} of the "
            f"data's, falls to {max(after[j], 0):.1e} with reg_covar / {_REG_DIVISOR:g}, "
            f"and the log-likelihood rises by {gain:.3g} more than EM's own continuation"
        )
    return ""


def _observed_spike(params, X, sample_weight, variance, floor):
    """Why a fit to X with missing cells is degenerate by its observed cells alone, or '':
    a component whose observed cells in some column (weighted by its responsibilities, at
    least one row's worth) vary by less than ``floor`` of the data's variance there
    (``variance``, per column): a spike. Under VVI, VVV and VVE its likelihood is then
    unbounded whatever the missing cells hold; under EVI, EVV and EVE a shared volume and
    the missing cells can hold it at a finite maximum, but the same data without those
    cells are NA for the model (its unregularised shape is singular, as in mclust), and the
    verdict must not turn on a missing cell. Models of a shared or spherical shape are
    judged by :func:`_follows_the_regularisation` instead."""
    counts, spread = _observed_spreads(params, X, sample_weight, variance)
    # (to the nearest row, as the effective-row rule counts them; nan: nothing observed)
    below = np.argwhere((counts >= 0.5) & ~(spread >= floor))
    if not below.size:
        return ""
    j, c = below[0]
    return (
        f"component {j} is a spike: its observed cells in column {c} vary by "
        f"{max(spread[j, c], 0):.1e} of the data's"
    )


def _observed_spreads(params, X, sample_weight, variance):
    """``(counts, spreads)``, (k, d): each component's weight of observed cells per column
    of X (NaN: missing) and their weighted variance about their weighted mean, relative to
    ``variance`` (per column); weights are the responsibilities (times sample_weight)."""
    resp = _missing.predict_proba(X, params).astype(np.float64)
    if sample_weight is not None:
        resp *= sample_weight[:, None]
    observed = ~np.isnan(X)
    counts = resp.T @ observed
    spreads = np.empty_like(counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        centres = (resp.T @ np.where(observed, X, 0.0)) / counts
        # (about each centre in turn: no cancellation, no n x k x d array)
        for j, (r, centre) in enumerate(zip(resp.T, centres)):
            spreads[j] = (r @ np.square(np.where(observed, X - centre, 0.0))) / counts[j]
    return counts, spreads / variance


def _results_table(grid, cells, criterion, tie=0.0):
    n = len(grid)
    results = {
        "covariance_type": np.array([t for t, _ in grid], dtype=object),
        "n_components": np.array([k for _, k in grid], dtype=int),
    }
    for name in _FLOAT_COLUMNS:
        results[name] = np.full(n, np.nan)
    results["n_parameters"] = np.zeros(n, dtype=int)
    results["converged"] = np.zeros(n, dtype=bool)
    results["n_iter"] = np.zeros(n, dtype=int)
    results["error"] = np.array([c.error for c in cells], dtype=object)
    results["note"] = np.array([c.note for c in cells], dtype=object)
    results["degenerate"] = np.array([bool(c.note) for c in cells], dtype=bool)
    for i, cell in enumerate(cells):
        results["fit_time"][i] = cell.fit_time
        for name, value in cell.numbers.items():
            results[name][i] = value
    results["rank"] = _rank(results[criterion], results["degenerate"], results["n_parameters"], tie)
    return results


# Criteria closer than this per row and column are ties: rounding (1e-13 relative between
# the equivalent one-component models), far below any difference EM determines. Absolute
# (in criterion units, times n d), not relative to the criterion, whose value moves with the
# units of X while its differences do not.
_TIE = 1e-9


def _rank(values, degenerate, n_parameters, tie):
    """Ranks (1 = best) of the cells by a criterion (lower is better).

    Usable fits first, then degenerate ones, failed (non-finite) cells last. Criteria within
    ``tie`` (absolute) of the best still to rank are ties, which go to the model with fewer
    parameters, then to grid order: differences of rounding are not evidence (they decided,
    e.g., between the equivalent one-component 'full' and 'tied', differently in other
    units of the same data).
    """
    n = values.shape[0]
    finite = np.isfinite(values)
    group = np.where(finite, degenerate.astype(int), 2)
    rank = np.empty(n, dtype=int)
    left = np.ones(n, dtype=bool)
    for r in range(1, n + 1):
        rest = np.flatnonzero(left & (group == group[left].min()))
        if group[rest[0]] == 2:  # failed cells: grid order
            best = rest[0]
        else:
            v = values[rest]
            low = v.min()
            near = rest[v <= low + tie]
            # fewest parameters, then the first in the grid
            best = near[np.lexsort((near, n_parameters[near]))[0]]
        rank[best] = r
        left[best] = False
    return rank


# ---------------------------------------------------------------------- progress
class _Progress:
    """Combinations done of total and elapsed time, on stderr.

    On a terminal one line rewrites itself as cells finish; elsewhere (a log file, a
    notebook capturing stderr) carriage returns would pile up, so only the final line
    is written.
    """

    def __init__(self, total, stream=None):
        self.total = total
        self.done = 0
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.live = bool(isatty and isatty())
        self.start = perf_counter()
        if self.live:
            self._write("\r")

    def _write(self, start, end=""):
        elapsed = perf_counter() - self.start
        self.stream.write(
            f"{start}fitting mixtures: {self.done}/{self.total} done, {elapsed:.1f}s elapsed{end}"
        )
        self.stream.flush()

    def step(self):
        self.done += 1
        if self.live:
            self._write("\r")

    def close(self):
        self._write("\r" if self.live else "", "\n")


# ---------------------------------------------------------------------- formatting
def _fmt(value, spec=".2f"):
    return "-" if not np.isfinite(value) else format(value, spec)


def _format_wide(results, criterion, best_index, max_width=None):
    types = list(dict.fromkeys(results["covariance_type"]))
    ks = sorted(set(int(k) for k in results["n_components"]))
    pairs = zip(results["covariance_type"], results["n_components"])
    cell = {(t, int(k)): i for i, (t, k) in enumerate(pairs)}
    values = results[criterion]
    texts = {}
    for key, i in cell.items():
        mark = "*" if i == best_index else " "
        if results["error"][i]:
            text = "failed"
        elif results["degenerate"][i]:
            text = "degenerate"
        else:
            text = _fmt(values[i])
        texts[key] = text + mark
    width = max([len(s) for s in texts.values()] + [len(t) + 1 for t in types] + [9])

    def text(line):
        # a line of text (not of the table), wrapped to max_width, words kept whole
        if max_width is None or len(line) <= max_width:
            return [line]
        return textwrap.wrap(
            line, max_width, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False
        )

    lines = text(f"{criterion.upper()} (lower is better; * = best, - = not finite)")
    # as many columns per block as fit in max_width (at least one), as R prints a matrix
    per_block = len(types)
    if max_width is not None:
        per_block = max(1, (max_width - 3) // (width + 2))
    for start in range(0, len(types), per_block):
        block = types[start : start + per_block]
        if start:
            lines.append("")
        lines.append(f"{'k':>3}  " + "  ".join(f"{t:>{width - 1}} " for t in block).rstrip())
        for k in ks:
            row = [texts.get((t, k), "") for t in block]
            lines.append(f"{k:>3}  " + "  ".join(f"{s:>{width}}" for s in row).rstrip())
    degenerate = {}
    for i in np.flatnonzero(results["degenerate"]):
        degenerate.setdefault(results["covariance_type"][i], []).append(
            str(results["n_components"][i])
        )
    if degenerate:
        lines += text(
            "degenerate (a component collapsed; left out of the choice, as mclust's NA): "
            + "; ".join(f"{t} k={','.join(ks_)}" for t, ks_ in degenerate.items())
        )
    failures = [
        (results["covariance_type"][i], results["n_components"][i], results["error"][i])
        for i in range(len(values))
        if results["error"][i]
    ]
    for t, k, reason in failures:
        lines += text(f"failed: {t}, k={k}: {reason}")
    return "\n".join(lines)


def _format_long(results, best_index):
    header = ["", "covariance", "k", "BIC", "AIC", "ICL", "log-lik", "params", "iter", "note"]
    rows = []
    for i in range(len(results["bic"])):
        note = results["error"][i] or (
            f"degenerate: {results['note'][i]}"
            if results["degenerate"][i]
            else ""
            if results["converged"][i]
            else "not converged"
        )
        rows.append(
            [
                "*" if i == best_index else "",
                results["covariance_type"][i],
                str(results["n_components"][i]),
                _fmt(results["bic"][i]),
                _fmt(results["aic"][i]),
                _fmt(results["icl"][i]),
                _fmt(results["log_likelihood"][i]),
                str(results["n_parameters"][i]) if not results["error"][i] else "-",
                str(results["n_iter"][i]) if not results["error"][i] else "-",
                note,
            ]
        )
    widths = [max(len(r[j]) for r in rows + [header]) for j in range(len(header))]
    left = {0, 1, 9}

    def line(r):
        return "  ".join(
            s.ljust(w) if j in left else s.rjust(w) for j, (s, w) in enumerate(zip(r, widths))
        ).rstrip()

    return "\n".join([line(header)] + [line(r) for r in rows])
