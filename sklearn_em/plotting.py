"""Plots for model selection and classification (needs the ``plot`` extra: matplotlib).

This module imports without matplotlib; its functions raise an ImportError naming the
extra to install when they are called without it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from numbers import Integral
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.patches import Ellipse

    from ._selection import GaussianMixtureSelector

from ._models import get_model

_INSTALL_HINT = "pip install sklearn-em[plot]"
FIGURE_FORMATS = ("png", "pdf", "svg")


def _require_matplotlib():
    """Import matplotlib, or explain how to get it."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            f"plotting needs matplotlib, which is not installed; install it with: {_INSTALL_HINT}"
        ) from None
    return matplotlib


def _axes(ax):
    _require_matplotlib()
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.gca()
    return ax


def _colormap(name):
    import matplotlib

    return matplotlib.colormaps[name]


def _colors(n):
    cmap = _colormap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def _criterion_table(models, X, criterion):
    """(covariance types, numbers of components, criterion values, criterion name) to plot."""
    from ._selection import GaussianMixtureSelector

    # a mapping of columns, or a table of them (pandas.DataFrame(selector.results_), whose
    # columns are also attributes: not to be taken for an estimator below)
    if isinstance(models, Mapping) or _is_table(models):
        results = models
        criterion = "bic" if criterion is None else criterion
    elif isinstance(models, GaussianMixtureSelector):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(models, "results_")
        results = models.results_
        criterion = models.criterion if criterion is None else criterion
    else:
        single = hasattr(models, "covariance_type")
        estimators = [models] if single else list(models) if _is_sequence(models) else None
        if not estimators or not all(hasattr(e, "covariance_type") for e in estimators):
            raise TypeError(
                "plot_criterion plots a fitted GaussianMixtureSelector, its results_, or a list "
                f"of fitted GaussianMixtureEM models with X; got {type(models).__name__}"
            )
        if X is None:
            raise TypeError(
                "plot_criterion needs X to compute the criterion of GaussianMixtureEM models "
                "(a selector has it already): plot_criterion(models, X)"
            )
        criterion = "bic" if criterion is None else criterion
        _check_criterion(criterion)
        results = {
            "covariance_type": np.array([e.covariance_type for e in estimators]),
            "n_components": np.array([e.n_components for e in estimators]),
            criterion: np.array([getattr(e, criterion)(X) for e in estimators], dtype=float),
        }
    _check_criterion(criterion)
    missing = [key for key in ("covariance_type", "n_components", criterion) if key not in results]
    if missing:
        raise ValueError(f"the results to plot have no {', '.join(missing)} entry")
    values = np.asarray(results[criterion], dtype=float)
    degenerate = np.asarray(results.get("degenerate", np.zeros(len(values), dtype=bool)), bool)
    return (
        np.asarray(results["covariance_type"]),
        np.asarray(results["n_components"]),
        values,
        degenerate,
        criterion,
    )


def _is_table(obj):
    """Whether ``obj`` is a table of named columns (a pandas DataFrame), not a model."""
    return hasattr(obj, "columns") and hasattr(obj, "__getitem__") and not hasattr(obj, "fit")


def _is_selector(obj):
    from ._selection import GaussianMixtureSelector

    return isinstance(obj, GaussianMixtureSelector)


def _is_sequence(obj):
    return isinstance(obj, (list, tuple)) or (hasattr(obj, "__iter__") and not isinstance(obj, str))


def _check_criterion(criterion):
    if criterion not in ("bic", "aic", "icl"):
        raise ValueError(f"criterion must be 'bic', 'aic' or 'icl', got {criterion!r}.")


def plot_criterion(
    models: Any,
    X: ArrayLike | None = None,
    *,
    criterion: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Plot a criterion against the number of components, one line per covariance type.

    The counterpart of mclust's BIC plot, on scikit-learn's scale (lower is better).
    Failed combinations leave a gap; degenerate ones (``results_["degenerate"]``) leave a
    gap too and are drawn apart as grey crosses; the best usable model by the plotted
    criterion is circled (for a selector and its own criterion, its choice, which settles
    ties of rounding by the simpler model; otherwise the lowest value).

    Parameters
    ----------
    models : GaussianMixtureSelector, mapping, DataFrame, GaussianMixtureEM or list of them
        What to plot: a fitted selector; its ``results_`` (any mapping, or DataFrame, with
        ``covariance_type``, ``n_components`` and the criterion's entry); or fitted
        ``GaussianMixtureEM`` models (one or a list), whose criterion is computed on ``X``.
    X : array-like of shape (n_samples, n_features), default=None
        The data to score ``GaussianMixtureEM`` models on; not used for a selector.
    criterion : {'bic', 'aic', 'icl'}, default=None
        The criterion to plot; default: the selector's own, else ``'bic'``.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; default: the current axes of pyplot.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes drawn on.

    Raises
    ------
    TypeError
        If ``models`` is none of the above, or ``GaussianMixtureEM`` models come without ``X``.
    sklearn.exceptions.NotFittedError
        If the selector is not fitted.

    See Also
    --------
    GaussianMixtureSelector.print_results : The same numbers as a table.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn_em import GaussianMixtureSelector
    >>> from sklearn_em.datasets import load_faithful
    >>> from sklearn_em.plotting import plot_criterion
    >>> X = load_faithful().data
    >>> sel = GaussianMixtureSelector(n_components=range(1, 5), random_state=0).fit(X)
    >>> ax = plot_criterion(sel)
    >>> ax.get_ylabel()
    'BIC (lower is better)'
    """
    types, ks, values, degenerate, criterion = _criterion_table(models, X, criterion)
    ax = _axes(ax)
    markers = {"full": "o", "tied": "s", "diag": "^", "spherical": "D"}
    kinds = list(dict.fromkeys(types.tolist()))
    # a degenerate fit is a gap in its line, as mclust's NA, drawn apart and never "best"
    usable = np.where(np.isfinite(values) & ~degenerate, values, np.nan)
    for t, color in zip(kinds, _colors(len(kinds))):
        rows = np.flatnonzero(types == t)
        rows = rows[np.argsort(ks[rows], kind="stable")]
        ax.plot(ks[rows], usable[rows], marker=markers.get(t, "o"), color=color, label=t)
    shown = degenerate & np.isfinite(values)
    if shown.any():
        ax.plot(
            ks[shown],
            values[shown],
            marker="x",
            color="gray",
            linestyle="none",
            label="degenerate (not chosen)",
        )
    if np.isfinite(usable).any():
        if _is_selector(models) and criterion == models.criterion:
            # the selector's own choice (criteria equal up to rounding are ties, which go to
            # the simpler model): the circle must not name another of equal value
            best = models.best_index_
        else:
            best = int(np.nanargmin(usable))
        ax.plot(
            [ks[best]],
            [usable[best]],
            marker="o",
            markersize=16,
            markerfacecolor="none",
            markeredgecolor="black",
            linestyle="none",
            label=f"best: {types[best]}, k={ks[best]}",
        )
    ax.set_xlabel("number of components")
    ax.set_ylabel(f"{criterion.upper()} (lower is better)")
    ax.set_xticks(sorted(set(int(k) for k in ks)))
    ax.set_title(f"{criterion.upper()} by model")
    ax.legend(title="covariance")
    return ax


def _full_covariances(estimator):
    """Every component's covariance as a (k, d, d) array, whatever the covariance type."""
    cov = np.asarray(estimator.covariances_, dtype=np.float64)
    k, d = estimator.means_.shape
    return get_model(estimator.covariance_type).kernel_type.expand(cov, k, d)


def _principal_axes(X):
    """Centre and the first two principal directions (d, 2) of X, with their variance shares."""
    centre = X.mean(axis=0)
    _, s, vt = np.linalg.svd(X - centre, full_matrices=False)
    share = s**2 / np.sum(s**2) if np.sum(s**2) > 0 else np.zeros_like(s)
    return centre, vt[:2].T, share[:2]


def component_ellipse(mean: ArrayLike, cov: ArrayLike, n_std: float, **kwargs: Any) -> Ellipse:
    """A matplotlib Ellipse of the points at Mahalanobis distance ``n_std`` from ``mean``.

    Parameters
    ----------
    mean : array-like of shape (2,)
    cov : array-like of shape (2, 2)
        Symmetric positive (semi-)definite covariance.
    n_std : float
        Number of standard deviations (Mahalanobis radius).
    **kwargs
        Passed to :class:`matplotlib.patches.Ellipse`.

    Returns
    -------
    ellipse : matplotlib.patches.Ellipse
    """
    _require_matplotlib()
    from matplotlib.patches import Ellipse

    vals, vecs = np.linalg.eigh(np.asarray(cov, dtype=np.float64))
    vals = np.clip(vals, 0, None)
    # the major axis is the eigenvector of the largest eigenvalue (eigh sorts ascending)
    angle = np.degrees(np.arctan2(vecs[1, 1], vecs[0, 1]))
    return Ellipse(
        xy=tuple(np.asarray(mean, dtype=np.float64)),
        width=2 * n_std * np.sqrt(vals[1]),
        height=2 * n_std * np.sqrt(vals[0]),
        angle=angle,
        **kwargs,
    )


def _data(estimator, X, feature_names):
    """X as a float array, the names of its columns (given, X's own, or the ones the
    estimator or selector was fitted with), and whether cells were missing.

    Missing cells are drawn at their conditional means under the mixture (as the CLI draws
    them): the points of incomplete rows stay in the plot, and the principal axes of wider
    data are those of complete rows.
    """
    model = getattr(estimator, "best_estimator_", estimator)
    if feature_names is None:
        columns = getattr(X, "columns", None)
        if columns is not None:
            feature_names = [str(c) for c in columns]
        else:
            for fitted in (estimator, model):
                if getattr(fitted, "feature_names_in_", None) is not None:
                    feature_names = [str(c) for c in fitted.feature_names_in_]
                    break
    from sklearn.utils import check_array  # (reads pandas' nullable columns, pd.NA as NaN)

    values = check_array(X, dtype=np.float64, ensure_all_finite="allow-nan", ensure_2d=False)
    if values.ndim == 1:
        # (the estimator, as scikit-learn's, takes rows of columns only)
        raise ValueError(
            f"X is 1-D (shape {values.shape}); pass one column as X.reshape(-1, 1), as to the "
            "estimator."
        )
    missing = bool(np.isnan(values).any())
    if missing:
        from ._missing import impute

        values = impute(values, model._model())
    if feature_names is None:
        feature_names = [f"x{j + 1}" for j in range(values.shape[1])]
    elif len(feature_names) != values.shape[1]:
        raise ValueError(
            f"feature_names has {len(feature_names)} name(s) for the {values.shape[1]} "
            "column(s) of X: give one name per column."
        )
    return model, values, list(feature_names), missing


def _check_max_points(max_points):
    if isinstance(max_points, bool) or not isinstance(max_points, Integral) or max_points < 1:
        raise ValueError(f"max_points must be a positive int, got {max_points!r}.")


_FILLED = "missing cells at their conditional means"


def _model_title(model):
    """'full, 3 components' (or '1 component'): the fitted model a figure shows."""
    k = model.means_.shape[0]
    return f"{model.covariance_type}, {k} component{'s' if k != 1 else ''}"


def _points_shown(shown, total):
    """'1,000 of 20,000 points shown' where a figure draws a subset, else ''."""
    return f"{shown:,} of {total:,} points shown" if shown < total else ""


def _details(*parts):
    """A title's notes, one per line in brackets (side by side they ran into the next
    panel's title)."""
    return "".join(f"\n({part})" for part in parts if part)


def _projection(model, values, feature_names):
    """Points, means and covariances on the plotting plane, and its axis labels.

    Two-dimensional data is drawn as it is; wider data on its first two principal axes,
    the components projected onto the same axes.
    """
    covs = _full_covariances(model)
    means = np.asarray(model.means_, dtype=np.float64)
    d = values.shape[1]
    if d == 2:
        return values, means, covs, feature_names[:2], ""
    centre, V, share = _principal_axes(values)
    labels = [
        f"first principal axis ({share[0]:.0%} of variance)",
        f"second principal axis ({share[1]:.0%} of variance)",
    ]
    return (
        (values - centre) @ V,
        (means - centre) @ V,
        np.einsum("ji,kjl,lm->kim", V, covs, V),
        labels,
        f"projected from {d} dimensions",
    )


def _shown(n, max_points, seed=0):
    """Indices of the points drawn: all of them, or an even random subset of max_points."""
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))


def _point_style(n):
    """Marker size and opacity that keep overlapping points from hiding each other."""
    crowd = min(1.0, np.sqrt(1000 / max(n, 1)))
    return {
        "s": max(1.5, 14 * crowd),
        "alpha": max(0.08, 0.75 * crowd),
        "linewidths": 0,
        "rasterized": n > 5000,
    }


def _ellipses(ax, means, covs, colors, n_stds=(1, 2)):
    """Every component's ellipses, drawn above the points with a light halo."""
    from matplotlib import patheffects

    halo = [patheffects.withStroke(linewidth=3.5, foreground="white")]
    for j in range(len(means)):
        for n_std, style in zip(n_stds, ("-", "--")):
            ax.add_patch(
                component_ellipse(
                    means[j, :2],
                    covs[j, :2, :2],
                    n_std,
                    fill=False,
                    edgecolor=colors[j],
                    linestyle=style,
                    linewidth=1.8,
                    zorder=3,
                    path_effects=halo,
                )
            )
        ax.plot(
            *means[j, :2],
            marker="x",
            color="black",
            markersize=8,
            mew=2,
            zorder=4,
            linestyle="none",
        )


def _ellipse_legend(n_stds=(1, 2)):
    from matplotlib.lines import Line2D

    return [
        Line2D(
            [],
            [],
            color="dimgray",
            linestyle=style,
            linewidth=1.8,
            label=f"{n} standard deviation{'s' if n != 1 else ''}",
        )
        for n, style in zip(n_stds, ("-", "--"))
    ]


def plot_classification(
    estimator: Any,
    X: ArrayLike,
    *,
    ax: Axes | None = None,
    feature_names: Sequence[str] | None = None,
    max_points: int = 50_000,
) -> Axes:
    """Scatter X coloured by predicted component, with each component's 1 and 2 sd ellipses.

    Two-dimensional X is drawn as it is; wider X on its first two principal axes, the
    components' means and covariances projected onto the same axes. One-dimensional X is
    drawn as a histogram with the fitted mixture density and its weighted components.
    Ellipses are drawn above the points; many points are drawn small and translucent, and
    beyond ``max_points`` an even random subset of them is drawn.

    Parameters
    ----------
    estimator : GaussianMixtureEM or GaussianMixtureSelector
        A fitted mixture (a selector stands for its ``best_estimator_``).
    X : array-like of shape (n_samples, n_features)
        The data to classify and draw; a DataFrame's column names label the axes.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; default: the current axes of pyplot.
    feature_names : list of str, default=None
        Axis labels; default: the columns of a DataFrame X, else the names the estimator
        was fitted with, else x1, x2, ...
    max_points : int, default=50_000
        The most points drawn (all are classified).

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes drawn on.

    See Also
    --------
    plot_uncertainty : The same data shaded by how uncertain each row's label is.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn_em import GaussianMixtureEM
    >>> from sklearn_em.datasets import load_faithful
    >>> from sklearn_em.plotting import plot_classification
    >>> X = load_faithful(as_frame=True).data
    >>> gm = GaussianMixtureEM(n_components=2, random_state=0).fit(X)
    >>> ax = plot_classification(gm, X)
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('eruptions', 'waiting')
    """
    _check_max_points(max_points)
    ax = _axes(ax)
    model, values, names, missing = _data(estimator, X, feature_names)
    labels = estimator.predict(X)
    k = model.means_.shape[0]
    colors = _colors(k)
    title = _model_title(model)
    if values.shape[1] == 1:
        return _plot_1d(ax, model, values[:, 0], colors, names[0], title)

    P, means, covs, (xlabel, ylabel), projected = _projection(model, values, names)
    shown = _shown(len(P), max_points)
    style = _point_style(len(P))
    for j in range(k):
        idx = shown[labels[shown] == j]
        ax.scatter(P[idx, 0], P[idx, 1], color=colors[j], zorder=1, **style)
    _ellipses(ax, means, covs, colors)
    _component_legend(ax, colors, extra=_ellipse_legend())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    subset = _points_shown(len(shown), len(P))
    filled = _FILLED if missing else ""
    ax.set_title(f"Classification: {title}" + _details(projected, subset, filled))
    ax.autoscale_view()
    return ax


def _component_legend(ax, colors, extra=()):
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], marker="o", linestyle="none", color=c, label=f"component {j}")
        for j, c in enumerate(colors)
    ]
    ax.legend(handles=handles + list(extra), loc="best", fontsize="small", framealpha=0.9)


def _plot_1d(ax, model, x, colors, name, title):
    """Histogram of x with the fitted mixture density and each weighted component."""
    from scipy.stats import norm

    k = model.means_.shape[0]
    sd = np.sqrt(_full_covariances(model)[:, 0, 0])
    lo, hi = x.min(), x.max()
    pad = 0.1 * (hi - lo) if hi > lo else 1.0
    grid = np.linspace(lo - pad, hi + pad, 400)
    edges = np.histogram_bin_edges(x, bins="auto")
    bins = edges if len(edges) <= 81 else 80  # beyond 80 bars their outlines turn grey mush
    ax.hist(
        x,
        bins=bins,
        density=True,
        color="0.85",
        edgecolor="0.6",
        linewidth=0.5,
        label="data (histogram)",
    )
    total = np.zeros_like(grid)
    for j in range(k):
        dens = model.weights_[j] * norm.pdf(grid, model.means_[j, 0], sd[j])
        total += dens
        ax.fill_between(grid, dens, color=colors[j], alpha=0.3, linewidth=0)
        ax.plot(grid, dens, color=colors[j], linewidth=1.5, label=f"component {j}")
    ax.plot(grid, total, color="black", linewidth=1.5, linestyle="--", label="mixture density")
    ax.set_xlabel(name)
    ax.set_ylabel("density")
    ax.set_title(f"Density: {title}")
    ax.legend(loc="best", fontsize="small")
    return ax


def plot_uncertainty(
    estimator: Any,
    X: ArrayLike,
    *,
    ax: Axes | None = None,
    feature_names: Sequence[str] | None = None,
    max_points: int = 50_000,
) -> Axes:
    """Draw each row's classification uncertainty, as mclust's uncertainty plot.

    The uncertainty of a row is 1 minus its largest component probability: 0 for a row
    surely in its component, up to 1 - 1/k for a row that every component explains alike.
    Two-dimensional (or projected, as in :func:`plot_classification`) X is drawn with each
    point shaded and sized by its uncertainty, the most uncertain on top, over the
    components' 1-standard-deviation ellipses; one-dimensional X as uncertainty against x.

    Parameters
    ----------
    estimator : GaussianMixtureEM or GaussianMixtureSelector
        A fitted mixture (a selector stands for its ``best_estimator_``).
    X : array-like of shape (n_samples, n_features)
        The data; a DataFrame's column names label the axes.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; default: the current axes of pyplot.
    feature_names : list of str, default=None
        Axis labels, as in :func:`plot_classification`.
    max_points : int, default=50_000
        The most points drawn; beyond it, the most uncertain ones.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes drawn on.

    See Also
    --------
    uncertainty : The numbers drawn.
    """
    ax = _axes(ax)
    _check_max_points(max_points)
    model, values, names, missing = _data(estimator, X, feature_names)
    u = uncertainty(estimator, X)
    k = model.means_.shape[0]
    colors = _colors(k)
    # the scale runs to the largest uncertainty k components allow, 1 - 1/k; one component
    # has none (every row's is 0): 0 to 1 (its 1e-12 made a colour bar of 1e-12 units)
    top = 1.0 - 1.0 / k if k > 1 else 1.0
    # as mclust: the surer a row, the smaller and lighter (but still visible) its point
    from matplotlib.colors import ListedColormap

    greys = ListedColormap(_colormap("Greys")(np.linspace(0.3, 1.0, 256)))
    # an even subset of many rows, plus the most uncertain ones (what this plot is for),
    # the most uncertain drawn last, on top
    shown = np.arange(len(u))
    if len(u) > max_points:
        # (a tenth of the points are the most uncertain, the rest an even subset: no more
        # than max_points in all)
        doubtful = np.flatnonzero(u >= 0.05 * top)
        order = np.argsort(u[doubtful], kind="stable")
        doubtful = doubtful[order[len(order) - min(len(order), max_points // 10) :]]
        shown = np.union1d(_shown(len(u), max_points - len(doubtful)), doubtful)
    order = shown[np.argsort(u[shown], kind="stable")]
    if values.shape[1] == 1:
        ax.scatter(
            values[order, 0],
            u[order],
            c=u[order],
            cmap=greys,
            vmin=0,
            vmax=top,
            s=10,
            linewidths=0,
            rasterized=len(order) > 5000,
        )
        ax.set_xlabel(names[0])
        ax.set_ylabel("uncertainty (1 - max probability)")
        ax.set_ylim(-0.02 * top, 1.05 * top)
        ax.set_title(f"Uncertainty: {_model_title(model)}")
        return ax
    P, means, covs, (xlabel, ylabel), projected = _projection(model, values, names)
    size = _point_style(len(order))["s"] * (0.6 + 4 * u[order] / top)
    points = ax.scatter(
        P[order, 0],
        P[order, 1],
        c=u[order],
        s=size,
        cmap=greys,
        vmin=0,
        vmax=top,
        linewidths=0,
        zorder=1,
        rasterized=len(order) > 5000,
    )
    _ellipses(ax, means, covs, colors, n_stds=(1,))
    ax.figure.colorbar(points, ax=ax, label="uncertainty (1 - max probability)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    detail = _details(projected, _points_shown(len(order), len(u)), _FILLED if missing else "")
    ax.set_title(f"Uncertainty: {_model_title(model)}" + detail)
    ax.autoscale_view()
    return ax


def uncertainty(estimator: Any, X: ArrayLike) -> np.ndarray:
    """Each row's classification uncertainty: 1 minus its largest component probability.

    mclust's ``uncertainty``: 0 for a row that surely belongs to its component, up to
    1 - 1/k for a row that all k components explain alike.

    Parameters
    ----------
    estimator : GaussianMixtureEM or GaussianMixtureSelector
        A fitted mixture.
    X : array-like of shape (n_samples, n_features)
        The rows to classify.

    Returns
    -------
    uncertainty : ndarray of shape (n_samples,)
        In [0, 1 - 1/k].
    """
    return 1.0 - estimator.predict_proba(X).max(axis=1)


def save_selection_figure(
    selector: GaussianMixtureSelector,
    X: ArrayLike,
    path: str | os.PathLike,
    *,
    feature_names: Sequence[str] | None = None,
    dpi: float = 100,
    format: str | None = None,
) -> str | os.PathLike:
    """Write the criterion, classification and uncertainty plots side by side to a file.

    Draws on a figure of its own with a non-interactive canvas, so it works without a
    display and leaves pyplot's state alone.

    Parameters
    ----------
    selector : GaussianMixtureSelector
        A fitted selector.
    X : array-like of shape (n_samples, n_features)
        The data to classify (usually the data it was fitted on).
    path : str or path-like
        Where to write the figure.
    feature_names : list of str, default=None
        Axis labels, as in :func:`plot_classification`.
    dpi : int, default=100
        Resolution of a PNG (and of the points of a large PDF or SVG, which are rasterised).
    format : {'png', 'pdf', 'svg'}, default=None
        The file format; default: the extension of ``path``.

    Returns
    -------
    path : str or path-like
        ``path``, for chaining.

    Raises
    ------
    ValueError
        If the format (or, without ``format``, the extension of ``path``) is not one of
        png, pdf, svg.
    """
    _require_matplotlib()
    from matplotlib.figure import Figure

    if not _is_selector(selector):
        raise TypeError(
            "save_selection_figure draws a GaussianMixtureSelector's criterion table; got a "
            f"{type(selector).__name__} (for one mixture use plot_classification and "
            "plot_uncertainty)."
        )
    fmt = format if format is not None else os.path.splitext(os.fspath(path))[1].lstrip(".")
    fmt = fmt.lower()
    if fmt not in FIGURE_FORMATS:
        raise ValueError(
            f"cannot write a figure as {fmt or 'a file without an extension'!r} ({path}): "
            f"use one of {', '.join(FIGURE_FORMATS)} (as the file's extension, or format=)"
        )
    fig = Figure(figsize=(19, 5.5), layout="constrained")
    left, middle, right = fig.subplots(1, 3)
    plot_criterion(selector, ax=left)
    plot_classification(selector, X, ax=middle, feature_names=feature_names)
    plot_uncertainty(selector, X, ax=right, feature_names=feature_names)
    fig.savefig(path, dpi=dpi, format=fmt)
    return path
