"""GaussianMixtureEM: the scikit-learn face of the EM core. Validation and attributes; no math."""

from __future__ import annotations

import sys
import warnings
from functools import partial
from numbers import Real
from time import time

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, DensityMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from . import _kernels, _missing, _online
from ._em import Prior, run_em, start_runs, warn_abandoned
from ._hc import HC_MAX_ROWS, _tree_on_kept_rows, hc_tree
from ._init import initial_params
from ._models import COVARIANCE_NAMES, constraints_broken, get_model
from ._params import GaussianMixtureParams


class GaussianMixtureEM(DensityMixin, BaseEstimator):
    """Gaussian mixture fitted by Expectation-Maximization.

    A drop-in replacement for :class:`sklearn.mixture.GaussianMixture` with the same
    parameters, attributes and numbers, computed by a chunked, Cholesky-based EM core.
    In addition it accepts per-sample weights, re-seeds components that degenerate instead
    of aborting, optionally regularises with a conjugate prior (MAP-EM), and fits data
    with missing values.

    **Missing values.** A NaN cell is "not observed" (missing at random); infinities stay
    errors, and so does a row with no observed cell. ``fit`` runs the observed-data EM of
    Ghahramani & Jordan (1994), "Supervised learning from incomplete data via an EM
    approach": a row's responsibilities come from the density of its observed cells, and
    its statistics are the expected ones (missing cells at each component's conditional
    mean, plus the conditional covariance), for every covariance type. ``lower_bound_`` and
    ``lower_bounds_`` are then the observed-data log-likelihood, which EM never decreases.
    ``score_samples``, ``score``, ``predict``, ``predict_proba``, ``bic``, ``aic`` and
    ``icl`` marginalise the missing cells. The initialisation (``init_params``, and the
    data scale of the prior) sees each missing cell filled with its column's (weighted)
    observed mean; EM then fits the observed data only. Rows are grouped by their pattern
    of missing cells: complete rows cost what they cost without NaN, the others several
    times more (see ``benchmarks/bench_missing.py``). A dask X may have missing cells too:
    the same fit, at the cost of one more pass over X for the mean-filled data's statistics.
    To fill the cells, use :class:`GaussianMixtureImputer`.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : str, default='full'
        The covariance model: one of scikit-learn's four types or one of mclust's 14 models
        (Celeux & Govaert 1995: ``Sigma_k = lambda_k D_k A_k D_k^T``, volume ``lambda_k``,
        shape ``A_k``, orientation ``D_k``, each Equal across components, Variable, or the
        Identity). scikit-learn's names are aliases of four of them, with identical numbers
        and attributes:

        =====  =========  ======  =====  ===========  ============================  ===========
        name   alias      volume  shape  orientation  free covariance parameters    M-step
        =====  =========  ======  =====  ===========  ============================  ===========
        EII               equal   I      I            1                             closed form
        VII    spherical  var.    I      I            k                             closed form
        EEI               equal   equal  I            d                             closed form
        VEI               var.    equal  I            k + d - 1                     iterative
        EVI               equal   var.   I            1 + k(d - 1)                  closed form
        VVI    diag       var.    var.   I            k d                           closed form
        EEE    tied       equal   equal  equal        d(d + 1)/2                    closed form
        VEE               var.    equal  equal        k + d(d + 1)/2 - 1            iterative
        EVE               equal   var.   equal        1 + k(d - 1) + d(d - 1)/2     iterative
        VVE               var.    var.   equal        k d + d(d - 1)/2              iterative
        EEV               equal   equal  var.         d + k d(d - 1)/2              closed form
        VEV               var.    equal  var.         k + d - 1 + k d(d - 1)/2      iterative
        EVV               equal   var.   var.         1 + k(d - 1) + k d(d - 1)/2   closed form
        VVV    full       var.    var.   var.         k d(d + 1)/2                  closed form
        =====  =========  ======  =====  ===========  ============================  ===========

        Each model also has k d means and k - 1 weights; the counts equal mclust's
        ``nMclustParams``, so BIC, AIC and ICL agree with mclust's. ``covariances_`` and the
        precisions are stored by the model's form: (k, d, d) for the full models except EEE,
        (d, d) for EEE, (k, d) for the diagonal ones (EEI, VEI, EVI, VVI) and (k,) for the
        spherical ones (EII, VII); equal covariances are repeated per component. The
        iterative M-steps (mclust's, see ``sklearn_em._gpcm``) continue from the previous
        iteration's volumes, shapes and orientations and take at most 50 inner iterations
        per EM iteration: each raises the expected complete-data log-likelihood without
        necessarily maximising it (a generalised EM step), so the log-likelihood still never
        decreases. VVE's orientation step weights each component by its inverse volume (the
        MM algorithm of Browne & McNicholas 2014); mclust's own VVE step leaves the volumes
        out, can lower the log-likelihood, and stops at a lower one.
    tol : float, default=1e-3
        EM stops when the gain in mean log-likelihood is below this.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance, keeping it positive definite.
    max_iter : int, default=100
        Number of EM iterations per initialisation.
    n_init : int, default=1
        Number of initialisations; the one with the highest lower bound is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data', 'hc'}, default='kmeans'
        How initial responsibilities are drawn. 'hc' (not in scikit-learn) starts from mclust's
        model-based agglomerative hierarchical clustering (Fraley 1998; the 'VVV' model on
        scaled SVD-transformed data, as mclust's ``Mclust`` does), cut into ``n_components``
        clusters. The tree is built on the rows (on a uniform random subset of 2000 of them
        for larger data, drawn with ``random_state``; rows of ``sample_weight`` 0 are left
        out); the weights enter the M-step that turns the clusters into parameters. For data
        of at most 2000 rows the start is deterministic, so ``n_init > 1`` repeats it. A
        'VVE' fit from the tree's partition (no ``weights_init``, ``means_init`` or
        ``precisions_init`` given) runs EM from it twice, with this library's orientation
        step and with mclust's (which leaves the volumes out) to convergence and then on
        with this library's, and keeps the higher: the two reach different optima from one
        start (iris, 5 components: -208.07 and -189.96; mclust's -190.84). Each run has
        ``max_iter`` iterations in all; the second's ``n_iter_`` and ``lower_bounds_`` count
        both of its phases (mclust's step may lower the bound where they meet).
    weights_init : array-like of shape (n_components,), default=None
        Initial weights; must be non-negative and sum to 1.
    means_init : array-like of shape (n_components, n_features), default=None
        Initial means.
    precisions_init : array-like, default=None
        Initial precisions (inverse covariances), shaped by ``covariance_type`` as
        ``precisions_``; must be symmetric positive definite (positive for diag/spherical),
        and for mclust's models those of a mixture of the model (its equal volumes, shapes or
        orientations; to 1e-6 on a log scale, more for ill-conditioned covariances: see
        ``_models.constraints_broken``).
    random_state : int, RandomState instance or None, default=None
        Seed for initialisation and for :meth:`sample`.
    warm_start : bool, default=False
        If True, each ``fit`` continues from the previous solution (``n_init`` is ignored).
    verbose : int, default=0
        1 prints each initialisation; 2 also each ``verbose_interval``-th iteration.
    verbose_interval : int, default=10
        Iterations between two verbose messages.
    prior_strength : float or None, default=None
        None fits by maximum likelihood (as scikit-learn). A value ``s >= 0`` fits the
        posterior mode (MAP-EM) under the conjugate prior of Fraley & Raftery (2007),
        "Bayesian regularization for normal mixture estimation and model-based clustering":
        means ~ N(data mean, Sigma / 0.01), covariances ~ inverse-Wishart with d + 2 degrees of
        freedom and scale (data covariance, divisor n - 1 as R's ``var``) / n_components^(2/d)
        (the mean data variance times the identity for 'diag' and 'spherical'), the prior's
        log-density multiplied by ``s``.
        ``s = 1`` is their default prior; it removes singular solutions (e.g. a component on
        duplicated points) by construction. As ``s`` goes to 0 the fit tends to the maximum
        likelihood fit. ``lower_bound_`` and ``score`` still report the log-likelihood.
        mclust's prior covers ten models (EII, VII, EEI, VEI, EVI, VVI, EEE, EEV, VEV, VVV);
        for VEE, EVE, VVE and EVV ``fit`` raises a ValueError. For the six of them that
        scikit-learn has no name for, the covariance step is mclust's (at ``s = 1``, with
        mclust's departures from the textbook mode for EII, EEI, EEV and VEV, see
        ``sklearn_em._gpcm.map_m_step``), ``s`` multiplying the shrinkage, the degrees of
        freedom and the scale; the means are the posterior means of every model.
    learning_decay : float, default=0.7
        Used by :meth:`partial_fit` only: the exponent kappa of the step size
        ``rho_t = (t + learning_offset) ** -learning_decay`` of the t-th batch, in (0.5, 1]
        (the range in which online EM converges, Cappe & Moulines 2009). Smaller values
        forget old batches faster; 1 with ``learning_offset=0`` averages all batches equally.
    learning_offset : float, default=10.0
        Used by :meth:`partial_fit` only: the offset t0 >= 0 of the step size, which
        down-weights the early batches. Both defaults are those of
        :class:`~sklearn.decomposition.LatentDirichletAllocation`.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        (n_components, n_features, n_features) for 'full', (n_features, n_features) for
        'tied', (n_components, n_features) for 'diag', (n_components,) for 'spherical'; for
        mclust's names, by the model's form (see ``covariance_type``).
    precisions_ : ndarray, shaped as ``covariances_``
    precisions_cholesky_ : ndarray, shaped as ``covariances_``
        Cholesky factors of the precisions (upper-triangular, ``P = U @ U.T``).
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean (weighted) log-likelihood of the training data at the best initialisation
        (after :meth:`partial_fit`: of the last batch, under the parameters before its step).
    lower_bounds_ : list of float
        The lower bound at each iteration of the best initialisation (after
        :meth:`partial_fit`: at each batch of the stream).
    n_batch_iter_ : int
        Only after :meth:`partial_fit`: the number of batches of the current stream.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Only when X has feature names that are all strings.

    See Also
    --------
    GaussianMixtureSelector : Choose the number of components and the covariance type.
    sklearn.mixture.GaussianMixture : The scikit-learn estimator this one replaces.

    Examples
    --------
    >>> from sklearn_em import GaussianMixtureEM
    >>> from sklearn_em.datasets import load_faithful
    >>> X = load_faithful().data
    >>> gm = GaussianMixtureEM(n_components=2, random_state=0).fit(X)
    >>> gm.means_.round(1)
    array([[ 2. , 54.5],
           [ 4.3, 80. ]])
    >>> gm.predict([[2.0, 55.0], [4.5, 80.0]])
    array([0, 1])
    >>> print(f"BIC {gm.bic(X):.1f}")
    BIC 2322.2
    """

    _parameter_constraints = {
        **GaussianMixture._parameter_constraints,
        "covariance_type": [StrOptions(set(COVARIANCE_NAMES))],
        "init_params": [StrOptions({"kmeans", "random", "random_from_data", "k-means++", "hc"})],
        "prior_strength": [Interval(Real, 0, None, closed="left"), None],
        "learning_decay": [Interval(Real, 0.5, 1, closed="right")],
        "learning_offset": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
        weights_init: ArrayLike | None = None,
        means_init: ArrayLike | None = None,
        precisions_init: ArrayLike | None = None,
        random_state: int | np.random.RandomState | None = None,
        warm_start: bool = False,
        verbose: int = 0,
        verbose_interval: int = 10,
        prior_strength: float | None = None,
        learning_decay: float = 0.7,
        learning_offset: float = 10.0,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.prior_strength = prior_strength
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        X: ArrayLike,
        y: object = None,
        sample_weight: ArrayLike | None = None,
    ) -> GaussianMixtureEM:
        """Estimate the model's parameters with the EM algorithm.

        Runs ``n_init`` initialisations (one, continuing from the last fit, with ``warm_start``)
        to convergence or ``max_iter`` iterations and keeps the one with the highest likelihood.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or a dask array or DataFrame
            The training data, one row per sample. A dask collection is fitted where it lies,
            on the active dask scheduler (a ``distributed.Client`` if there is one): each EM
            pass is one map-reduce of sufficient statistics over its blocks, and X is never
            gathered (see the README, "Data larger than memory"). NaN cells are missing
            values (see the class description), for a dask X too.
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Frequency weights: a weight of 2 counts a row twice, 0 leaves it out. Default: 1 for
            every row. With a dask X, also a dask array or Series.

        Returns
        -------
        self : GaussianMixtureEM
            The fitted estimator.

        Warns
        -----
        DegenerateComponentWarning
            When a component lost its rows or its covariance was not positive definite, and was
            repaired (see the class description), and when a component re-seeded three times
            lost its rows again and was left with a weight of about 0.
        sklearn.exceptions.ConvergenceWarning
            When no initialisation converged within ``max_iter`` iterations.
        """
        self._fit(X, sample_weight)
        return self

    def fit_predict(
        self,
        X: ArrayLike,
        y: object = None,
        sample_weight: ArrayLike | None = None,
    ) -> np.ndarray:
        """Fit the model, then return the most probable component of each row of X.

        The same as ``fit(X).predict(X)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The training data.
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Frequency weights: a weight of 2 counts a row twice, 0 leaves it out. Default: 1 for
            every row.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            The index of each row's most probable component (a lazy dask array, row-aligned
            with X, for a dask X).
        """
        X = self._fit(X, sample_weight)
        return self._kernels_for(X).predict(X, self._model())

    @_fit_context(prefer_skip_nested_validation=True)
    def _fit(self, X, sample_weight):
        if is_dask_collection(X):
            return self._fit_dask(X, sample_weight)
        X = validate_data(
            self,
            X,
            dtype=[np.float64, np.float32],
            ensure_min_samples=2,
            ensure_all_finite="allow-nan",
        )
        X_all = X
        sample_weight = _validated_weights(sample_weight, X)
        # a prebuilt tree of this X (private; the tests set it to reuse one tree)
        tree = getattr(self, "_hc_tree", None) if self.init_params == "hc" else None
        _missing.check_rows_observed(X, sample_weight)  # rows of X, before weight 0 goes
        if sample_weight is not None and not np.all(sample_weight > 0):
            # weight 0 means the row is not there: drop it (0 * inf would otherwise poison
            # the statistics of a row far out)
            keep = sample_weight > 0
            X, sample_weight = X[keep], sample_weight[keep]
            if tree is not None:
                tree = _tree_on_kept_rows(tree, keep)
        n_rows = X.shape[0]
        if n_rows < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components but got n_components = "
                f"{self.n_components}, n_samples = {n_rows}"
                + ("" if sample_weight is None else " (rows with positive sample_weight)")
            )
        user_init = self._check_initial_parameters(X)
        incomplete = None
        X_init = X
        if _missing.missing_cells(X):
            incomplete = _missing.IncompleteData(X, sample_weight)
            # initialisation (k-means, ...) and the prior's data scale see the missing
            # cells filled with their column's observed mean; EM then fits the observed data
            X_init = incomplete.mean_filled()

        do_init = not (self.warm_start and hasattr(self, "converged_"))
        if not do_init:
            self._check_warm_start(X)
        # the data's statistics: the prior's scale, and the covariance for M-steps whose
        # covariances turn out singular (with missing cells: of the mean-filled data, a
        # stand-in for re-seeding only)
        data_stats = _kernels.data_statistics(X_init, sample_weight, self.covariance_type)
        prior = None
        if self.prior_strength is not None:
            prior = Prior.from_data_statistics(data_stats, self.n_components, self.prior_strength)

        # (one component's partition is all rows: no tree, which needs 2 rows)
        needs_tree = (
            do_init
            and self.init_params == "hc"
            and self.n_components > 1
            and any(v is None for v in user_init.values())
        )
        if needs_tree and tree is None and n_rows <= HC_MAX_ROWS:
            # no subset to draw: the tree is the same for every initialisation
            tree = hc_tree(X_init)

        # every initialisation's passes read the same shifted rows and features
        prepared = None if incomplete is not None else _kernels.PreparedRows.of(X, sample_weight)
        self._fit_em(
            partial(initial_params, X_init, sample_weight, tree=tree, data_stats=data_stats),
            partial(
                run_em,
                X,
                sample_weight,
                data_stats=data_stats,
                incomplete=incomplete,
                prepared=prepared,
            ),
            user_init,
            prior,
            X.dtype,
        )
        return X_all

    def _fit_dask(self, X, sample_weight):
        """``_fit`` for a dask collection: the same EM runs, each pass a map-reduce."""
        dask = _dask()
        X = dask.as_dask_array(self, X, reset=True)
        data = dask.FitData(X, dask.as_dask_weights(sample_weight, X), self.n_components)
        user_init = self._check_initial_parameters(X)
        prior = None
        if self.prior_strength is not None:
            prior = Prior.from_data_statistics(
                data.data_statistics(self.covariance_type),
                self.n_components,
                self.prior_strength,
            )
        self._fit_em(data.initial_params, data.run_em, user_init, prior, X.dtype)
        return X

    def _check_warm_start(self, X):
        """warm_start continues the stored fit: it must be one of this estimator's
        n_components, covariance storage and features (set_params may have changed them;
        scikit-learn then continues the old fit silently, or fails in NumPy)."""
        k, d = self.means_.shape
        model = get_model(self.covariance_type)
        wanted = (self.n_components, X.shape[1], model.storage_shape(self.n_components, d))
        if wanted != (k, d, self.covariances_.shape):
            raise ValueError(
                f"warm_start=True continues the previous fit ({k} components, covariances of "
                f"shape {self.covariances_.shape}, {d} features), but the estimator now has "
                f"n_components={self.n_components!r} and covariance_type="
                f"{self.covariance_type!r}, and X has {X.shape[1]} features: set "
                "warm_start=False to fit anew, or set them back."
            )

    def _fit_em(self, init, em, user_init, prior, dtype):
        """The n_init EM runs: ``init(**options)`` gives each its initial parameters,
        ``em(params, **options)`` runs it; the best is stored."""
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        random_state = check_random_state(self.random_state)
        # mclust's own start: the tree's partition, with nothing given by the user
        mclusts_start = (
            do_init and self.init_params == "hc" and all(v is None for v in user_init.values())
        )
        best = None
        for i in range(n_init):
            if self.verbose:
                print(f"Initialization {i}")
            start = last = time()
            if do_init:
                params = init(
                    n_components=self.n_components,
                    covariance_type=self.covariance_type,
                    init_params=self.init_params,
                    reg_covar=self.reg_covar,
                    random_state=random_state,
                    prior=prior,
                    **user_init,
                )
                lower_bound = -np.inf
            else:
                params = self._model().astype(np.float64)
                lower_bound = self.lower_bound_

            def on_iteration(n_iter, change):
                # scikit-learn's progress lines, word for word
                nonlocal last
                if self.verbose and n_iter % self.verbose_interval == 0:
                    if self.verbose == 1:
                        print(f"  Iteration {n_iter}")
                        return
                    now = time()
                    print(
                        f"  Iteration {n_iter}\t time lapse {now - last:.5f}s\t "
                        f"ll change {change:.5f}"
                    )
                    last = now

            # (VVE from the tree's partition: also along mclust's step, the higher kept; see
            # _em.start_runs. Every other start: one run)
            result = None
            for run in start_runs(
                em,
                params,
                mclusts_start,
                tol=self.tol,
                max_iter=self.max_iter,
                reg_covar=self.reg_covar,
                prior=prior,
                lower_bound=lower_bound,
                on_iteration=on_iteration,
            ):
                if result is None or run.lower_bound > result.lower_bound:
                    result = run
            if self.verbose and self.max_iter > 0:
                state = "converged" if result.converged else "did not converge"
                if self.verbose == 1:
                    print(f"Initialization {state}.")
                else:
                    print(
                        f"Initialization {state}. time lapse {time() - start:.5f}s\t "
                        f"lower bound {result.lower_bound:.5f}."
                    )
            # (max_iter=0, scikit-learn's way to have only an initialisation: every start's
            # bound is -inf, and the last start is kept, as scikit-learn keeps it)
            if best is None or result.lower_bound > best.lower_bound or self.max_iter == 0:
                best = result

        warn_abandoned(best)
        if not best.converged and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different init "
                "parameters, or increase max_iter, tol, or check for degenerate data.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self._store(best.params, dtype)
        self.converged_ = best.converged
        self.n_iter_ = best.n_iter
        # NumPy scalars of the data's dtype, as scikit-learn's
        self.lower_bound_ = np.dtype(dtype).type(best.lower_bound)
        self.lower_bounds_ = [np.dtype(dtype).type(b) for b in best.lower_bounds]
        # a fit ends any partial_fit stream and starts its own: partial_fit continues the
        # fitted model from the statistics of its last pass (None where no pass ran)
        self._stream = None
        if best.stats is not None:
            self._stream = _online.continued(best.stats, best.params.astype(np.float64), prior)
        self.__dict__.pop("n_batch_iter_", None)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """One step of online (stepwise) EM on a batch of rows.

        The running sufficient statistics s are updated as
        ``s <- (1 - rho_t) s + rho_t s_batch`` with ``rho_t = (t + learning_offset) **
        -learning_decay`` for the t-th batch (Cappe & Moulines 2009), ``s_batch`` being the
        batch's statistics (normalised per row) under the current parameters, and the M-step
        turns s into the parameters. One pass over a large data set in batches of ~1000 rows
        comes close to a batch fit (``benchmarks/bench_online.py``).

        A batch is held in memory (a dask batch is computed). On an estimator that is not
        fitted, the first call starts a stream: it is ``fit`` on its batch (so
        ``init_params``, ``n_init``, the given initial parameters and ``warm_start`` apply as
        in ``fit``; ``n_init > 1`` guards the stream against a poor initialisation of its
        first batch), and the running statistics start as the batch's statistics under the
        fitted parameters. Each later call is one step of the rule above.

        On a fitted estimator (by ``fit``, or chosen by ``GaussianMixtureSelector``),
        ``partial_fit`` continues the fitted model, as scikit-learn's incremental estimators
        do: the fit is the stream's first batch, and its running statistics start as those
        of the fit's last EM pass (the statistics the fitted parameters were made from; the
        fit's rows are not kept), of the fit's total weight. ``fit`` ends a stream and
        starts this one. A fit with ``max_iter=0`` made no pass: there ``partial_fit``
        starts a new stream from its batch. (The selector fits one component with its
        family's model, as mclust does: VVV for EEV, VII for EII, ...; with a prior, whose
        posterior mode differs by model, the first step moves such a chosen model to its own
        model's mode.)
        The prior of ``prior_strength`` is the fit's, or set from the first batch. The
        fitted attributes keep the dtype of the fit (a float32 model stays float32, a float64
        one is not rounded to a float32 batch's precision).
        Components are re-seeded as in ``fit``, judged on the running statistics: a
        component that no row of a batch belongs to keeps its running share, which shrinks
        by ``1 - rho_t`` per batch; once it has no support it moves to the batch's
        worst-explained rows.

        After each call the fitted attributes are those of the current model, so ``predict``
        or ``score`` work between calls; ``n_iter_`` counts ``fit``'s iterations on the first
        batch plus one per later batch, ``lower_bound_`` is the last batch's mean
        log-likelihood under the parameters before its step (``lower_bounds_`` one value per
        batch after the first fit's), ``converged_`` is False after a stepwise step.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The batch; the first needs at least ``n_components`` rows, and 2.
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the batch's rows.

        Returns
        -------
        self : GaussianMixtureEM
            The estimator, its attributes updated by the batch.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_em import GaussianMixtureEM
        >>> rng = np.random.default_rng(0)
        >>> X = np.vstack([rng.normal(0, 1, (3000, 2)), rng.normal(8, 1, (3000, 2))])
        >>> X = X[rng.permutation(len(X))]
        >>> gm = GaussianMixtureEM(n_components=2, random_state=0)
        >>> for batch in np.array_split(X, 6):
        ...     gm = gm.partial_fit(batch)
        >>> np.round(np.sort(gm.means_[:, 0]))
        array([0., 8.])
        """
        stream = getattr(self, "_stream", None)
        # a batch is one step's rows, in memory: a dask batch is computed (the first call's
        # fit, and the statistics of the stream's start, take it as any batch)
        if is_dask_collection(X):
            X = X.compute()
        if sample_weight is not None and is_dask_collection(sample_weight):
            sample_weight = sample_weight.compute()
        if stream is not None:
            model, k = stream.params.model, stream.params.n_components
            if get_model(self.covariance_type).name != model.name or self.n_components != k:
                raise ValueError(
                    f"partial_fit continues a stream of {k} components of the {model.name} "
                    f"model, but the estimator now has n_components={self.n_components!r} "
                    f"and covariance_type={self.covariance_type!r} (changed by set_params): "
                    "call fit to start a new stream, or set them back."
                )
        if stream is None:
            X = self._fit(X, sample_weight)
        else:
            X = validate_data(
                self,
                X,
                dtype=[np.float64, np.float32],
                reset=False,
                ensure_all_finite="allow-nan",
            )
        # weight 0: the row is not there (as in fit)
        X, sample_weight = _rows_of_positive_weight(X, _validated_weights(sample_weight, X))
        if stream is None:
            prior = None
            if self.prior_strength is not None:
                prior = Prior.default(
                    _missing.mean_filled(X, sample_weight),
                    sample_weight,
                    self.covariance_type,
                    self.n_components,
                    self.prior_strength,
                )
            self._stream = _online.start(
                X, sample_weight, self._model().astype(np.float64), prior, self.reg_covar
            )
            self.n_batch_iter_ = 1
            return self
        stream, batch_loglik = _online.update(
            stream,
            X,
            sample_weight,
            learning_offset=self.learning_offset,
            learning_decay=self.learning_decay,
            reg_covar=self.reg_covar,
        )
        # the model keeps the dtype it was fitted in (float32 stays float32; a float64 model
        # is not rounded to a float32 batch's precision)
        dtype = self.means_.dtype
        self._store(stream.params, dtype)
        self._stream = stream
        self.n_batch_iter_ = stream.n_batches
        self.n_iter_ += 1
        self.converged_ = False  # a stream has no convergence test
        self.lower_bound_ = dtype.type(batch_loglik)
        self.lower_bounds_.append(self.lower_bound_)
        return self

    def _store(self, params, dtype):
        params = params.astype(dtype)
        covariances = params.covariance_matrices().astype(dtype, copy=False)
        precisions = params.precisions().astype(dtype, copy=False)
        arrays = (params.weights, params.means, params.precisions_cholesky, covariances, precisions)
        with np.errstate(invalid="ignore"):
            finite = all(np.all(np.isfinite(a)) for a in arrays)
        if not finite:
            # e.g. float32 data near 1e20: its variances (1e40) overflow float32
            raise ValueError(
                f"The fitted covariances or precisions are not finite in {np.dtype(dtype).name} "
                "at the scale of these data. Fit on float64 data or rescale the features."
            )
        self.weights_ = params.weights
        self.means_ = params.means
        self.precisions_cholesky_ = params.precisions_cholesky
        self.covariances_ = covariances
        self.precisions_ = precisions

    def _model(self):
        check_is_fitted(self)
        return GaussianMixtureParams(
            self.covariance_type, self.weights_, self.means_, self.precisions_cholesky_
        )

    def _check_initial_parameters(self, X):
        """Validate weights_init, means_init and precisions_init against X.

        The messages are scikit-learn's own (``sklearn.mixture.GaussianMixture``), word for
        word, so that code matching on them keeps working.
        """
        k, d = self.n_components, X.shape[1]
        out = {"weights_init": None, "means_init": None, "precisions_init": None}
        if self.weights_init is not None:
            w = check_array(self.weights_init, dtype=[np.float64, np.float32], ensure_2d=False)
            _check_shape(w, (k,), "weights")
            if np.any(w < 0.0) or np.any(w > 1.0):
                # scikit-learn prints the minimum as "max value" and the maximum as "min
                # value"; kept as it is, since the point is the same words
                raise ValueError(
                    "The parameter 'weights' should be in the range "
                    f"[0, 1], but got max value {np.min(w):.5f}, min value {np.max(w):.5f}"
                )
            atol = 1e-6 if w.dtype == np.float32 else 1e-8
            if not np.allclose(float(np.abs(1.0 - np.sum(w))), 0.0, atol=atol):
                raise ValueError(
                    "The parameter 'weights' should be normalized, but got sum(weights) = "
                    f"{np.sum(w):.5f}"
                )
            out["weights_init"] = w.astype(np.float64)
        if self.means_init is not None:
            m = check_array(self.means_init, dtype=[np.float64, np.float32], ensure_2d=False)
            _check_shape(m, (k, d), "means")
            out["means_init"] = m.astype(np.float64)
        if self.precisions_init is not None:
            ctype = self.covariance_type
            kernel = get_model(ctype).kernel_type
            shape = kernel.storage_shape(k, d)
            p = check_array(
                self.precisions_init,
                dtype=[np.float64, np.float32],
                ensure_2d=False,
                allow_nd=len(shape) == 3,
            )
            _check_shape(p, shape, f"{ctype} precision")
            p = p.astype(np.float64)
            if kernel.check_precisions(p):
                need = "symmetric, positive-definite" if kernel.matrix else "positive"
                raise ValueError(f"'{ctype} precision' should be {need}")
            broken = constraints_broken(ctype, p, k, d)
            if broken:
                # (EM from such a start is no ascent: its first M-step projects onto the
                # model, and the log-likelihood can fall)
                raise ValueError(
                    f"'{ctype} precision' should be the precisions of a mixture of the "
                    f"{get_model(ctype).name} model, whose components have {broken}: the "
                    "given precisions do not."
                )
            out["precisions_init"] = p
        return out

    # ------------------------------------------------------------------ inference
    def _validate(self, X):
        """X checked against the fit, in the dtype its numbers are computed in: float32 only
        where both X and the fitted model are (a float64 model scores float32 rows in
        float64, and a float32 model float64 rows, as NumPy, and scikit-learn, promote)."""
        check_is_fitted(self)
        if is_dask_collection(X):
            X = _dask().as_dask_array(self, X, reset=False)
        else:
            X = validate_data(
                self, X, reset=False, dtype=[np.float64, np.float32], ensure_all_finite="allow-nan"
            )
        dtype = np.result_type(X.dtype, self.means_.dtype)
        return X if X.dtype == dtype else X.astype(dtype)

    def _kernels_for(self, X):
        """The inference functions for X: lazy ``map_blocks`` ones for a dask array."""
        return _dask() if is_dask_collection(X) else _missing

    def score_samples(self, X: ArrayLike) -> np.ndarray:
        """Log of the mixture density at each row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows to score.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
            ``log p(x_i)``, in float32 where both X and the fitted model are, else float64
            (a lazy dask array, row-aligned with X, for a dask X).
        """
        X = self._validate(X)
        return self._kernels_for(X).score_samples(X, self._model())

    def score(
        self,
        X: ArrayLike,
        y: object = None,
        sample_weight: ArrayLike | None = None,
    ) -> float:
        """Mean log-likelihood of X under the model (weighted by ``sample_weight``).

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
        X = self._validate(X)
        if is_dask_collection(X):
            loglik, n, _ = self._dask_sums(X, sample_weight, classification=False)
            return loglik / n
        X, sample_weight = _rows_of_positive_weight(X, _validated_weights(sample_weight, X))
        ll = _missing.score_samples(X, self._model()).astype(np.float64)
        if sample_weight is None:
            return float(ll.mean())
        return _weighted_sum(sample_weight, ll) / float(sample_weight.sum())

    def predict(self, X: ArrayLike) -> np.ndarray:
        """The most probable component of each row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows to classify.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            The index of the component with the highest posterior probability (a lazy dask
            array, row-aligned with X, for a dask X).
        """
        X = self._validate(X)
        return self._kernels_for(X).predict(X, self._model())

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Posterior probability of each component for each row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows to classify.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_components)
            Each row sums to 1. ``1 - proba.max(axis=1)`` is mclust's uncertainty. A lazy
            dask array, row-aligned with X, for a dask X.
        """
        X = self._validate(X)
        return self._kernels_for(X).predict_proba(X, self._model())

    def _dask_sums(self, X, sample_weight, classification):
        """``_dask.criteria_sums`` with the weights checked as in ``fit``."""
        dask = _dask()
        sample_weight = dask.as_dask_weights(sample_weight, X)
        if sample_weight is not None:
            dask.check_weights(sample_weight)
        return dask.criteria_sums(X, sample_weight, self._model(), classification)

    def _criteria(self, X, sample_weight=None, classification=False):
        """Log-likelihood, parameter count, BIC and AIC of X (and ICL if
        ``classification``) from one pass over X."""
        return self._criteria_of(self._validate(X), sample_weight, classification)

    def _criteria_of(self, X, sample_weight=None, classification=False):
        """:meth:`_criteria` of an X already validated (the selector's, for every cell)."""
        model = self._model()
        if is_dask_collection(X):
            loglik, n, log_map_sum = self._dask_sums(X, sample_weight, classification)
            return _criteria(loglik, n, model.n_parameters(), log_map_sum)
        X, sample_weight = _rows_of_positive_weight(X, _validated_weights(sample_weight, X))
        top = None
        if classification:
            ll, top = _missing.log_likelihood_and_map(X, model)
        else:
            ll = _missing.score_samples(X, model)
        return _criteria_of_rows(ll, top, sample_weight, model.n_parameters())

    def bic(self, X: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """Bayesian information criterion of the model on X (lower is better).

        ``-2 log L + p log(n)``, with ``p`` the number of free parameters. With weights, ``n``
        is the total weight: weights are frequency weights (a weight of 2 counts a row twice), so
        rescaling them changes the penalty.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data the model is judged on (usually its training data).
        sample_weight : array-like of shape (n_samples,), default=None
            Frequency weights: a weight of 2 counts a row twice, 0 leaves it out. Default: 1 for
            every row.

        Returns
        -------
        bic : float
            The criterion; mclust reports its negative.
        """
        return self._criteria(X, sample_weight)["bic"]

    def aic(self, X: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """Akaike information criterion of the model on X (lower is better).

        ``-2 log L + 2 p``, with ``p`` the number of free parameters.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data the model is judged on (usually its training data).
        sample_weight : array-like of shape (n_samples,), default=None
            Frequency weights: a weight of 2 counts a row twice, 0 leaves it out. Default: 1 for
            every row.

        Returns
        -------
        aic : float
            The criterion.
        """
        return self._criteria(X, sample_weight)["aic"]

    def icl(self, X: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """Integrated completed likelihood of the model on X (lower is better).

        BIC plus twice the entropy of the hard classification:
        ``BIC - 2 sum_i log max_k p(k | x_i)`` (Biernacki, Celeux & Govaert 2000), the criterion
        mclust reports as ICL, on scikit-learn's lower-is-better scale. It prefers components
        that are well-separated clusters.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data the model is judged on (usually its training data).
        sample_weight : array-like of shape (n_samples,), default=None
            Frequency weights: a weight of 2 counts a row twice, 0 leaves it out. Default: 1 for
            every row.

        Returns
        -------
        icl : float
            The criterion.
        """
        return self._criteria(X, sample_weight, classification=True)["icl"]

    def _n_parameters(self):
        check_is_fitted(self)
        return self._model().n_parameters()

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw random rows from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows to draw.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The rows, grouped by component, in the dtype of the fitted model.
        y : ndarray of shape (n_samples,)
            The component each row was drawn from.
        """
        check_is_fitted(self)
        if n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples}. The sampling requires at "
                "least one sample."
            )
        _, n_features = self.means_.shape
        rng = check_random_state(self.random_state)
        weights = self.weights_.astype(np.float64)
        counts = rng.multinomial(n_samples, weights / weights.sum())
        cov = self.covariances_
        kernel = get_model(self.covariance_type).kernel_type
        if kernel.matrix:
            covs = kernel.expand(cov, self.n_components, n_features)
            parts = [
                rng.multivariate_normal(m, c, int(n)) for m, c, n in zip(self.means_, covs, counts)
            ]
        else:
            parts = [
                m + rng.standard_normal(size=(n, n_features)) * np.sqrt(c)
                for m, c, n in zip(self.means_, cov, counts)
            ]
        X = np.vstack(parts).astype(self.means_.dtype, copy=False)
        y = np.concatenate([np.full(n, j, dtype=int) for j, n in enumerate(counts)])
        return X, y


def _check_shape(param, param_shape, name):
    if param.shape != param_shape:
        raise ValueError(
            f"The parameter '{name}' should have the shape of {param_shape}, but got {param.shape}"
        )


def _rows_of_positive_weight(X, sample_weight):
    """X and its weights without the rows of weight 0: those are not there (a row of weight
    0 may even have no observed cell)."""
    if sample_weight is None or np.all(sample_weight > 0):
        return X, sample_weight
    keep = sample_weight > 0
    return X[keep], sample_weight[keep]


def _criteria(loglik, n, p, log_map_sum=None):
    """Log-likelihood, parameter count, BIC, AIC, and ICL when the sum of the log maximum
    responsibilities is given."""
    out = {
        "log_likelihood": loglik,
        "n_parameters": p,
        "bic": -2 * loglik + p * np.log(n),
        "aic": -2 * loglik + 2 * p,
    }
    if log_map_sum is not None:
        out["icl"] = out["bic"] - 2 * log_map_sum
    return out


def is_dask_collection(X):
    """Whether X is a dask collection, without importing dask when nothing has."""
    dask = sys.modules.get("dask")
    return dask is not None and dask.is_dask_collection(X)


def _dask():
    """Our dask module, imported only once X is a dask collection (dask is then installed)."""
    from . import _dask

    return _dask


def _criteria_of_rows(ll, top, sample_weight, p, log_jacobian=0.0):
    """:func:`_criteria` from the rows' log-likelihoods ``ll`` and largest responsibilities
    ``top`` (None: no ICL), rows of positive ``sample_weight`` (None: all 1), for a model of
    ``p`` free parameters; ``log_jacobian``: what each row's log-likelihood loses in the units
    the criteria are wanted in (rows scored in other units)."""
    ll = ll.astype(np.float64)
    if sample_weight is None:
        loglik, n = float(ll.sum()), float(ll.shape[0])
    else:
        loglik, n = _weighted_sum(sample_weight, ll), float(sample_weight.sum())
    log_map_sum = None
    if top is not None:
        with np.errstate(divide="ignore"):
            log_map = np.log(top.astype(np.float64))
        log_map_sum = (
            log_map.sum() if sample_weight is None else _weighted_sum(sample_weight, log_map)
        )
    return _criteria(loglik - n * log_jacobian, n, p, log_map_sum)


def _weighted_sum(weights, values):
    """``weights @ values`` with rows of weight 0 left out (not 0 * inf = nan)."""
    keep = weights > 0
    return float(weights[keep].astype(np.float64) @ values[keep])


def _validated_weights(sample_weight, X):
    """scikit-learn's sample-weight checks, plus: not all zero."""
    if sample_weight is None:
        return None
    sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype, ensure_non_negative=True)
    if not np.any(sample_weight > 0):
        raise ValueError("sample_weight must not be all zero: at least one row needs weight.")
    return sample_weight
