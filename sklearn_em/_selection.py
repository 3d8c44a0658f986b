"""GaussianMixtureSelector: fit a grid of mixtures and keep the best by BIC, AIC or ICL."""

import sys
import warnings
from numbers import Integral
from time import perf_counter

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin, _fit_context, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
# scikit-learn's wrappers of joblib carry its configuration (working_memory, ...) to workers
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._estimator import GaussianMixtureEM

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
CRITERIA = ("bic", "aic", "icl")

# the columns of ``results_``, in display order
_FLOAT_COLUMNS = ("bic", "aic", "icl", "log_likelihood", "fit_time")


class GaussianMixtureSelector(DensityMixin, BaseEstimator):
    """Choose the number of components and the covariance type of a Gaussian mixture.

    Fits a :class:`GaussianMixtureEM` for every combination of ``n_components`` and
    ``covariance_type`` on all of X (in parallel with joblib), scores each fit by BIC,
    AIC and ICL, and keeps the one with the lowest value of ``criterion``, the way mclust
    chooses a model (on scikit-learn's lower-is-better scale). A combination that cannot
    be fitted (e.g. more components than rows) is recorded with its reason and skipped.

    After ``fit`` the selector predicts, scores and samples with the chosen mixture, so it
    can stand wherever a fitted :class:`GaussianMixtureEM` would, e.g. in a Pipeline.

    Parameters
    ----------
    n_components : int or sequence of int, default=(1, 2, ..., 9)
        Candidate numbers of components. A single int is a single candidate.
    covariance_type : str or sequence of str, default=('full', 'tied', 'diag', 'spherical')
        Candidate covariance types (see :class:`GaussianMixtureEM`). A single string is a
        single candidate.
    criterion : {'bic', 'aic', 'icl'}, default='bic'
        The criterion to minimise. 'icl' (integrated completed likelihood) is BIC plus
        twice the entropy of the classification; it prefers well-separated clusters.
    n_init : int, default=1
        Initialisations per combination; the one with the highest likelihood is kept.
    tol, reg_covar, max_iter, init_params, prior_strength
        Passed to every :class:`GaussianMixtureEM`.
    random_state : int, RandomState instance or None, default=None
        Every combination is fitted with the same integer seed: ``random_state`` itself
        if it is an int, otherwise one drawn from it. A cell therefore equals
        ``GaussianMixtureEM(n_components=k, covariance_type=t, random_state=seed, ...)``
        fitted on the same data.
    n_jobs : int, default=None
        Number of parallel jobs (joblib); None means 1 unless in a
        :func:`joblib.parallel_config` context, -1 means all processors.
    verbose : int, default=0
        If positive, a progress line (combinations done, elapsed time) is written to
        stderr while fitting.

    Attributes
    ----------
    results_ : dict of ndarray
        One entry per combination, in the order (covariance type, number of components):
        ``'covariance_type'``, ``'n_components'``, ``'bic'``, ``'aic'``, ``'icl'``,
        ``'log_likelihood'`` (total, weighted by ``sample_weight``), ``'n_parameters'``,
        ``'converged'``, ``'n_iter'``, ``'fit_time'`` (seconds), ``'error'`` (empty
        string, or why the combination failed; its numbers are then NaN) and ``'rank'``
        (1 for the best by ``criterion``; failed combinations rank last).
        Print it with :meth:`print_results`.
    best_index_ : int
        Index of the chosen combination in ``results_``.
    best_params_ : dict
        ``{'covariance_type': ..., 'n_components': ...}`` of the chosen combination.
    best_criterion_ : float
        Value of ``criterion`` for the chosen combination.
    best_estimator_ : GaussianMixtureEM
        The chosen mixture. The grid is fitted on all of X with a fixed seed, so this is
        the combination's own fit; refitting it would give the same numbers.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X has feature names that are all strings.

    Notes
    -----
    A grid is many fits, most of them small. Parallelism pays across fits (``n_jobs``;
    joblib limits the BLAS/OpenMP threads of its worker processes) rather than inside
    them: when fitting sequentially on small data, wrapping ``fit`` in
    ``threadpoolctl.threadpool_limits(1)`` avoids thread contention, which on a busy
    machine can cost an order of magnitude. The ``sklearn-em`` command does this.

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
        "covariance_type": [StrOptions(set(COVARIANCE_TYPES)), "array-like"],
        "criterion": [StrOptions(set(CRITERIA))],
        "n_init": GaussianMixtureEM._parameter_constraints["n_init"],
        "tol": GaussianMixtureEM._parameter_constraints["tol"],
        "reg_covar": GaussianMixtureEM._parameter_constraints["reg_covar"],
        "max_iter": GaussianMixtureEM._parameter_constraints["max_iter"],
        "init_params": GaussianMixtureEM._parameter_constraints["init_params"],
        "prior_strength": GaussianMixtureEM._parameter_constraints["prior_strength"],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_components=(1, 2, 3, 4, 5, 6, 7, 8, 9),
        covariance_type=COVARIANCE_TYPES,
        *,
        criterion="bic",
        n_init=1,
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        init_params="kmeans",
        prior_strength=None,
        random_state=None,
        n_jobs=None,
        verbose=0,
    ):
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
    def _grid(self):
        """The candidate (covariance_type, n_components) pairs, validated."""
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
            types = [types]
        types = list(types)
        if not types or not all(isinstance(t, str) and t in COVARIANCE_TYPES for t in types):
            raise InvalidParameterError(
                "The 'covariance_type' parameter of GaussianMixtureSelector must be one of, "
                f"or a non-empty sequence of, {list(COVARIANCE_TYPES)}. "
                f"Got {self.covariance_type!r} instead."
            )
        # duplicates would only refit the same model; keep the first of each
        ks = list(dict.fromkeys(int(k) for k in ks))
        types = list(dict.fromkeys(types))
        return [(t, k) for t in types for k in ks]

    def _base_estimator(self, seed):
        return GaussianMixtureEM(
            n_init=self.n_init,
            tol=self.tol,
            reg_covar=self.reg_covar,
            max_iter=self.max_iter,
            init_params=self.init_params,
            prior_strength=self.prior_strength,
            random_state=seed,
        )

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None, sample_weight=None):
        """Fit every combination on X and choose the best by ``criterion``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Passed to every fit and to the criteria (see :meth:`GaussianMixtureEM.bic`).

        Returns
        -------
        self : GaussianMixtureSelector

        Raises
        ------
        ValueError
            If no combination could be fitted; the message gives their reasons.
        """
        self._fit(X, sample_weight)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then return the most probable component of each row of X."""
        return self.fit(X, sample_weight=sample_weight).predict(X)

    @_fit_context(prefer_skip_nested_validation=True)
    def _fit(self, X, sample_weight):
        grid = self._grid()
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        if sample_weight is not None:
            # once here, so that bad weights raise instead of failing every cell
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=X.dtype, ensure_non_negative=True
            )
        if isinstance(self.random_state, Integral):
            seed = self.random_state
        else:
            seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        base = self._base_estimator(seed)

        progress = _Progress(len(grid)) if self.verbose else None
        cells = [None] * len(grid)
        try:
            # unordered: progress counts cells as they finish, not in submission order
            outputs = Parallel(n_jobs=self.n_jobs, return_as="generator_unordered")(
                delayed(_fit_cell)(i, base, t, k, X, sample_weight)
                for i, (t, k) in enumerate(grid)
            )
            for i, cell in outputs:
                cells[i] = cell
                if progress is not None:
                    progress.step()
        finally:
            if progress is not None:
                progress.close()

        results = _results_table(grid, cells, self.criterion)
        if not np.any(np.isfinite(results[self.criterion])):
            reasons = sorted(set(results["error"]) - {""}) or [
                f"{self.criterion.upper()} is not finite"
            ]
            raise ValueError(
                f"None of the {len(grid)} combinations could be fitted: " + "; ".join(reasons)
            )
        self.results_ = results
        self.best_index_ = int(np.flatnonzero(results["rank"] == 1)[0])
        cov_type, k = grid[self.best_index_]
        self.best_params_ = {"covariance_type": cov_type, "n_components": k}
        self.best_criterion_ = float(self.results_[self.criterion][self.best_index_])
        best = cells[self.best_index_]
        self.best_estimator_ = best.estimator
        # warnings of the other cells are summarised in results_; those of the chosen
        # model concern the user's model, so they surface here (worker processes would
        # otherwise swallow them)
        for message, category in best.warnings:
            warnings.warn(message, category, stacklevel=3)
        return X

    # ------------------------------------------------------------------ inference
    def _validate(self, X):
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=[np.float64, np.float32])

    def predict(self, X):
        """The most probable component of each row of X under the chosen mixture."""
        X = self._validate(X)
        return self.best_estimator_.predict(X)

    def predict_proba(self, X):
        """Posterior probability of each component of the chosen mixture, (n_samples, k)."""
        X = self._validate(X)
        return self.best_estimator_.predict_proba(X)

    def score_samples(self, X):
        """Log-density of the chosen mixture at each row of X, shape (n_samples,)."""
        X = self._validate(X)
        return self.best_estimator_.score_samples(X)

    def score(self, X, y=None, sample_weight=None):
        """Mean (weighted) log-likelihood of X under the chosen mixture."""
        X = self._validate(X)
        return self.best_estimator_.score(X, sample_weight=sample_weight)

    def bic(self, X, sample_weight=None):
        """BIC of the chosen mixture on X (lower is better); see :meth:`GaussianMixtureEM.bic`."""
        X = self._validate(X)
        return self.best_estimator_.bic(X, sample_weight=sample_weight)

    def aic(self, X, sample_weight=None):
        """AIC of the chosen mixture on X (lower is better)."""
        X = self._validate(X)
        return self.best_estimator_.aic(X, sample_weight=sample_weight)

    def icl(self, X, sample_weight=None):
        """ICL of the chosen mixture on X (lower is better)."""
        X = self._validate(X)
        return self.best_estimator_.icl(X, sample_weight=sample_weight)

    def sample(self, n_samples=1):
        """Draw rows from the chosen mixture; see :meth:`GaussianMixtureEM.sample`."""
        check_is_fitted(self)
        return self.best_estimator_.sample(n_samples)

    # ------------------------------------------------------------------ reporting
    def format_results(self, layout="wide"):
        """The table of ``results_`` as text.

        Parameters
        ----------
        layout : {'wide', 'long'}, default='wide'
            'wide': the chosen criterion, one row per number of components and one column
            per covariance type (as mclust prints its BIC), the best marked with ``*``.
            'long': one row per combination with every number.

        Returns
        -------
        text : str
        """
        check_is_fitted(self)
        if layout == "wide":
            return _format_wide(self.results_, self.criterion, self.best_index_)
        if layout == "long":
            return _format_long(self.results_, self.best_index_)
        raise ValueError(f"layout must be 'wide' or 'long', got {layout!r}.")

    def print_results(self, layout="wide", file=None):
        """Print :meth:`format_results` to ``file`` (default: standard output)."""
        print(self.format_results(layout), file=sys.stdout if file is None else file)

    def __sklearn_is_fitted__(self):
        # n_features_in_ is set before the grid runs; only a chosen model means fitted
        return hasattr(self, "best_estimator_")


# ---------------------------------------------------------------------- one cell
class _Cell:
    """What a worker sends back for one combination."""

    def __init__(self, estimator=None, numbers=None, warnings=(), error="", fit_time=np.nan):
        self.estimator = estimator
        self.numbers = numbers or {}
        self.warnings = list(warnings)
        self.error = error
        self.fit_time = fit_time


def _fit_cell(index, base, covariance_type, n_components, X, sample_weight):
    """Fit one combination; returns ``(index, _Cell)``."""
    est = clone(base).set_params(covariance_type=covariance_type, n_components=n_components)
    start = perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            est.fit(X, sample_weight=sample_weight)
            # every criterion from one pass over X
            numbers = est._criteria(X, sample_weight, classification=True)
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
    # dedupe: EM can repeat one warning per initialisation
    seen = list(dict.fromkeys((str(w.message), w.category) for w in caught))
    return index, _Cell(est, numbers, seen, fit_time=fit_time)


def _results_table(grid, cells, criterion):
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
    for i, cell in enumerate(cells):
        results["fit_time"][i] = cell.fit_time
        for name, value in cell.numbers.items():
            results[name][i] = value
    # rank by the criterion; ties go to the simpler model, then to grid order.
    # Non-finite values (failed cells) rank last.
    values = results[criterion]
    finite = np.isfinite(values)
    keys = (np.arange(n), results["n_parameters"], np.where(finite, values, 0), ~finite)
    order = np.lexsort(keys)
    rank = np.empty(n, dtype=int)
    rank[order] = np.arange(1, n + 1)
    results["rank"] = rank
    return results


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


def _format_wide(results, criterion, best_index):
    types = list(dict.fromkeys(results["covariance_type"]))
    ks = sorted(set(int(k) for k in results["n_components"]))
    pairs = zip(results["covariance_type"], results["n_components"])
    cell = {(t, int(k)): i for i, (t, k) in enumerate(pairs)}
    values = results[criterion]
    texts = {}
    for key, i in cell.items():
        mark = "*" if i == best_index else " "
        texts[key] = (_fmt(values[i]) if not results["error"][i] else "failed") + mark
    width = max([len(s) for s in texts.values()] + [len(t) + 1 for t in types] + [9])
    lines = [f"{criterion.upper()} (lower is better; * = best, - = not finite)"]
    lines.append(f"{'k':>3}  " + "  ".join(f"{t:>{width - 1}} " for t in types).rstrip())
    for k in ks:
        row = [texts.get((t, k), "") for t in types]
        lines.append(f"{k:>3}  " + "  ".join(f"{s:>{width}}" for s in row).rstrip())
    failures = [
        (results["covariance_type"][i], results["n_components"][i], results["error"][i])
        for i in range(len(values))
        if results["error"][i]
    ]
    for t, k, reason in failures:
        lines.append(f"failed: {t}, k={k}: {reason}")
    return "\n".join(lines)


def _format_long(results, best_index):
    header = ["", "covariance", "k", "BIC", "AIC", "ICL", "log-lik", "params", "iter", "note"]
    rows = []
    for i in range(len(results["bic"])):
        note = results["error"][i] or ("" if results["converged"][i] else "not converged")
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
