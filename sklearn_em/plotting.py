"""Plots for model selection and classification (needs the ``plot`` extra: matplotlib).

This module imports without matplotlib; its functions raise an ImportError naming the
extra to install when they are called without it.
"""

import numpy as np

from ._models import get_model

_INSTALL_HINT = "pip install sklearn-em[plot]"


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


def _colors(n):
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def plot_criterion(selector, *, criterion=None, ax=None):
    """Plot a criterion against the number of components, one line per covariance type.

    The counterpart of mclust's BIC plot, on scikit-learn's scale (lower is better).
    Failed combinations leave a gap; the chosen model is circled.

    Parameters
    ----------
    selector : GaussianMixtureSelector
        A fitted selector.
    criterion : {'bic', 'aic', 'icl'}, default=None
        The criterion to plot; default: the selector's own.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; default: the current axes of pyplot.

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(selector, "results_")
    ax = _axes(ax)
    criterion = selector.criterion if criterion is None else criterion
    if criterion not in ("bic", "aic", "icl"):
        raise ValueError(f"criterion must be 'bic', 'aic' or 'icl', got {criterion!r}.")
    res = selector.results_
    types = list(dict.fromkeys(res["covariance_type"]))
    markers = {"full": "o", "tied": "s", "diag": "^", "spherical": "D"}
    for t, color in zip(types, _colors(len(types))):
        rows = np.flatnonzero(res["covariance_type"] == t)
        rows = rows[np.argsort(res["n_components"][rows])]
        ax.plot(
            res["n_components"][rows],
            res[criterion][rows],
            marker=markers.get(t, "o"),
            color=color,
            label=t,
        )
    # the best by the plotted criterion (the selector's choice when they agree)
    values = np.where(np.isfinite(res[criterion]), res[criterion], np.inf)
    best = int(np.argmin(values))
    if np.isfinite(values[best]):
        ax.plot(
            [res["n_components"][best]],
            [values[best]],
            marker="o",
            markersize=16,
            markerfacecolor="none",
            markeredgecolor="black",
            linestyle="none",
            label=f"best: {res['covariance_type'][best]}, k={res['n_components'][best]}",
        )
    ax.set_xlabel("number of components")
    ax.set_ylabel(f"{criterion.upper()} (lower is better)")
    ax.set_xticks(sorted(set(int(k) for k in res["n_components"])))
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


def component_ellipse(mean, cov, n_std, **kwargs):
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


def plot_classification(estimator, X, *, ax=None, feature_names=None):
    """Scatter X coloured by predicted component, with each component's 1 and 2 sd ellipses.

    Two-dimensional X is drawn as it is; wider X on its first two principal axes, the
    components' means and covariances projected onto the same axes. One-dimensional X is
    drawn as the weighted component densities over a rug of the points.

    Parameters
    ----------
    estimator : GaussianMixtureEM or GaussianMixtureSelector
        A fitted mixture (a selector stands for its ``best_estimator_``).
    X : array-like of shape (n_samples, n_features)
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; default: the current axes of pyplot.
    feature_names : list of str, default=None
        Axis labels for two-dimensional (or one-dimensional) X.

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    ax = _axes(ax)
    model = getattr(estimator, "best_estimator_", estimator)
    X = np.asarray(X, dtype=np.float64)
    labels = estimator.predict(X)
    k, d = model.means_.shape
    colors = _colors(k)
    covs = _full_covariances(model)
    means = np.asarray(model.means_, dtype=np.float64)
    title = f"{model.covariance_type}, {k} component{'s' if k != 1 else ''}"

    if d == 1:
        return _plot_1d(ax, model, X[:, 0], labels, colors, feature_names, title)

    if d == 2:
        P = X
        xlabel, ylabel = (list(feature_names) if feature_names is not None else ["x1", "x2"])[:2]
    else:
        centre, V, share = _principal_axes(X)
        P = (X - centre) @ V
        means = (means - centre) @ V
        covs = np.einsum("ji,kjl,lm->kim", V, covs, V)
        xlabel = f"first principal axis ({share[0]:.0%} of variance)"
        ylabel = f"second principal axis ({share[1]:.0%} of variance)"
        title += f" (projected from {d} dimensions)"

    for j in range(k):
        mask = labels == j
        ax.scatter(P[mask, 0], P[mask, 1], s=12, color=colors[j], alpha=0.7, label=f"component {j}")
        for n_std, style in ((1, "-"), (2, "--")):
            ax.add_patch(
                component_ellipse(
                    means[j, :2], covs[j, :2, :2], n_std,
                    fill=False, edgecolor=colors[j], linestyle=style, linewidth=1.5,
                )
            )
        ax.plot(*means[j, :2], marker="x", color="black", markersize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(f"Classification: {title}\n(ellipses at 1 and 2 standard deviations)")
    ax.legend(loc="best", fontsize="small")
    ax.autoscale_view()
    return ax


def _plot_1d(ax, model, x, labels, colors, feature_names, title):
    k = model.means_.shape[0]
    sd = np.sqrt(_full_covariances(model)[:, 0, 0])
    lo, hi = x.min(), x.max()
    pad = 0.1 * (hi - lo) if hi > lo else 1.0
    grid = np.linspace(lo - pad, hi + pad, 400)
    for j in range(k):
        mean = model.means_[j, 0]
        z = (grid - mean) / sd[j]
        dens = model.weights_[j] * np.exp(-0.5 * z**2) / (sd[j] * np.sqrt(2 * np.pi))
        ax.plot(grid, dens, color=colors[j], label=f"component {j}")
        ax.plot(x[labels == j], np.zeros(np.sum(labels == j)), "|", color=colors[j], markersize=12)
    ax.set_xlabel(feature_names[0] if feature_names is not None else "x1")
    ax.set_ylabel("weighted component density")
    ax.set_title(f"Classification: {title}")
    ax.legend(loc="best", fontsize="small")
    return ax


def save_selection_figure(selector, X, path, *, feature_names=None, dpi=100):
    """Write the criterion plot and the classification plot side by side to a PNG file.

    Draws with matplotlib's Agg backend on a figure of its own, so it works without a
    display and leaves pyplot's state alone.

    Parameters
    ----------
    selector : GaussianMixtureSelector
        A fitted selector.
    X : array-like of shape (n_samples, n_features)
        The data to classify (usually the data it was fitted on).
    path : str or path-like
        Where to write the PNG.
    feature_names : list of str, default=None
    dpi : int, default=100

    Returns
    -------
    path : str or path-like
        ``path``, for chaining.
    """
    _require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 5.5), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    plot_criterion(selector, ax=left)
    plot_classification(selector, X, ax=right, feature_names=feature_names)
    fig.savefig(path, dpi=dpi, format="png")
    return path
