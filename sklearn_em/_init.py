"""Initial responsibilities and parameters: k-means, k-means++, random, random rows,
model-based hierarchical clustering (mclust's), or given."""

import numpy as np
from sklearn.cluster import KMeans, kmeans_plusplus

from . import _kernels
from ._hc import HCTree, hc_tree
from ._models import get_model
from ._params import GaussianMixtureParams


def _hard_labels(labels, n_components, dtype):
    """Responsibilities of a hard partition, a slice at a time: ``labels[i]`` is row i's
    component, -1 none."""
    labels = np.asarray(labels, dtype=np.intp)

    def resp(sl):
        lab = labels[sl]
        out = np.zeros((lab.shape[0], n_components), dtype=dtype)
        rows = np.flatnonzero(lab >= 0)
        out[rows, lab[rows]] = 1
        return out

    return resp


def _seed_rows(indices, n_samples, n_components, dtype):
    # each chosen row alone starts one component (as scikit-learn does)
    labels = np.full(n_samples, -1, dtype=np.intp)
    labels[indices] = np.arange(n_components)
    return _hard_labels(labels, n_components, dtype)


def initial_responsibilities(X, sample_weight, n_components, init_params, random_state, tree=None):
    """A function ``slice -> responsibilities`` for the chosen initialisation.

    The random draws are the same as scikit-learn's GaussianMixture for unweighted data,
    so the same ``random_state`` gives the same initial model.

    With ``init_params='hc'`` the initial partition is the cut into ``n_components``
    clusters of a model-based hierarchical clustering (:func:`sklearn_em._hc.hc_tree`):
    ``tree`` if given (one tree serves every ``n_components``), else one built here on the
    rows of X (a random subset of them beyond 2000 rows). Rows outside the tree's subset
    start in no component: the M-step then takes the parameters from the subset.
    """
    n_samples = X.shape[0]
    if init_params == "hc":
        if n_components == 1 and tree is None:
            # one cluster holds every row, whatever the tree (which needs at least 2 rows)
            return _hard_labels(np.zeros(n_samples, dtype=np.intp), 1, X.dtype)
        if tree is None:
            tree = hc_tree(X, sample_weight=sample_weight, random_state=random_state)
        return _hard_labels(hc_labels(tree, n_components, n_samples), n_components, X.dtype)
    if init_params == "kmeans":
        labels = (
            KMeans(n_clusters=n_components, n_init=1, random_state=random_state)
            .fit(X, sample_weight=sample_weight)
            .labels_
        )
        return _hard_labels(labels, n_components, X.dtype)
    if init_params == "random":
        resp = np.asarray(random_state.uniform(size=(n_samples, n_components)), dtype=X.dtype)
        resp /= resp.sum(axis=1)[:, None]
        return lambda sl: resp[sl]
    if init_params == "random_from_data":
        p = None
        if sample_weight is not None:
            if np.count_nonzero(sample_weight) < n_components:
                raise ValueError(
                    "init_params='random_from_data' needs at least n_components="
                    f"{n_components} rows with positive sample_weight, got "
                    f"{np.count_nonzero(sample_weight)}."
                )
            p = sample_weight / sample_weight.sum()
        indices = random_state.choice(n_samples, size=n_components, replace=False, p=p)
        return _seed_rows(indices, n_samples, n_components, X.dtype)
    if init_params == "k-means++":
        _, indices = kmeans_plusplus(
            X, n_components, random_state=random_state, sample_weight=sample_weight
        )
        return _seed_rows(indices, n_samples, n_components, X.dtype)
    raise ValueError(f"Unknown init_params {init_params!r}.")


def hc_labels(tree, n_components, n_samples):
    """Labels of every row of X from a cut of ``tree`` into ``n_components`` clusters.

    Parameters
    ----------
    tree : HCTree
        Built on the same X (:func:`sklearn_em._hc.hc_tree`).
    n_components : int
        Number of clusters.
    n_samples : int
        Number of rows of X.

    Returns
    -------
    labels : ndarray of shape (n_samples,)
        The cluster of each row the tree was built on, -1 for the other rows.
    """
    if not isinstance(tree, HCTree):
        raise TypeError(f"tree must be an HCTree (from hc_tree), got {type(tree).__name__}.")
    if tree.n_samples != n_samples:
        raise ValueError(
            f"The hierarchical-clustering tree was built on data with {tree.n_samples} rows, "
            f"but X has {n_samples} rows."
        )
    if n_components > tree.n_rows:
        raise ValueError(
            f"init_params='hc' cuts a tree of {tree.n_rows} rows, fewer than "
            f"n_components={n_components}."
        )
    return tree.labels(n_components)


def initial_params(
    X,
    sample_weight,
    *,
    n_components,
    covariance_type,
    init_params,
    reg_covar,
    weights_init,
    means_init,
    precisions_init,
    random_state,
    prior=None,
    tree=None,
    data_stats=None,
):
    """Initial model: from the user's values where given, else from the initialisation.

    ``tree`` is an optional prebuilt :class:`sklearn_em._hc.HCTree` for ``init_params='hc'``;
    ``data_stats`` the data's ``_kernels.data_statistics`` (computed where needed if None).
    """
    given_prec = None
    if precisions_init is not None:
        given_prec = get_model(covariance_type).kernel_type.precisions_cholesky_from_precisions(
            np.asarray(precisions_init, np.float64)
        )
    if weights_init is not None and means_init is not None and given_prec is not None:
        return GaussianMixtureParams(
            covariance_type,
            np.asarray(weights_init, np.float64),
            np.asarray(means_init, np.float64),
            given_prec,
        )

    resp_fn = initial_responsibilities(
        X, sample_weight, n_components, init_params, random_state, tree=tree
    )
    params, stats = _params_from_responsibilities(
        X,
        sample_weight,
        resp_fn,
        n_components,
        covariance_type,
        reg_covar,
        random_state,
        prior,
        data_stats,
    )
    # scikit-learn scales initial weights by the total weight, not by their sum; 'hc' has no
    # scikit-learn counterpart and labels only a subset of large data: its weights sum to 1
    total = X.shape[0] if sample_weight is None else sample_weight.sum()
    # (its 10 eps per component in units of a row's weight, as in the M-step)
    pad = 10 * np.finfo(np.float64).eps * n_components * stats.unit_weight
    scale = (stats.total_weight + pad) / total
    if init_params == "hc":
        scale = 1.0
    weights = (
        params.weights * scale if weights_init is None else np.asarray(weights_init, np.float64)
    )
    means = params.means if means_init is None else np.asarray(means_init, np.float64)
    if given_prec is None:
        return GaussianMixtureParams(
            covariance_type,
            weights,
            means,
            params.precisions_cholesky,
            params.covariances,
            params.state,
        )
    return GaussianMixtureParams(covariance_type, weights, means, given_prec)


def _params_from_responsibilities(
    X,
    sample_weight,
    resp_fn,
    n_components,
    covariance_type,
    reg_covar,
    random_state,
    prior,
    data_stats=None,
    step_options=None,
):
    """One M-step from responsibilities given chunk by chunk; returns (params, stats).

    ``data_stats``: the data's ``_kernels.data_statistics`` (computed here if None);
    ``step_options``: as for ``_em.m_step``. The statistics go through the kernel's features
    in X's dtype (the estimator's starts; a hard partition's, :func:`params_from_labels`,
    are summed per component in float64).
    """
    from ._em import variance_floor

    # the shift need only be near the bulk of the data (one row far out must not drag it)
    shift = _kernels.robust_centre(X, sample_weight)
    total = float(X.shape[0] if sample_weight is None else sample_weight.sum())
    floor = variance_floor(covariance_type, reg_covar, prior, total, n_components, X.shape[1])
    stats = _kernels.statistics(
        X, sample_weight, resp_fn, covariance_type, shift, n_components, floor
    )
    return params_from_statistics(
        stats,
        X,
        sample_weight,
        covariance_type,
        reg_covar,
        random_state,
        prior,
        data_stats,
        step_options,
    ), stats


def params_from_statistics(
    stats,
    X,
    sample_weight,
    covariance_type,
    reg_covar,
    random_state,
    prior=None,
    data_stats=None,
    step_options=None,
):
    """One M-step from the statistics of an initial assignment of the rows of X.

    ``data_stats``: the data's ``_kernels.data_statistics`` (computed here if None); a
    component without rows re-seeds at a random row of positive weight (drawn from
    ``random_state`` only then).
    """
    from ._em import lost_components, m_step  # the M-step turns responsibilities into parameters

    if data_stats is None:
        data_stats = _kernels.data_statistics(X, sample_weight, covariance_type)
    # the initial responsibilities need not cover every row: the data's covariance comes
    # from statistics of all rows
    stats = stats.with_data(data_stats)
    lost = lost_components(stats)
    if lost.size:
        # components without rows re-seed at random rows of positive weight (drawn only
        # then, so the random stream is the same as without re-seeding)
        rows = X[_positive_rows(sample_weight, X.shape[0], lost.size, random_state)]
        stats = stats.with_worst_rows(rows)
    return m_step(
        stats, covariance_type, reg_covar, prior=prior, iteration=0, step_options=step_options
    )


def params_from_labels(
    X,
    sample_weight,
    labels,
    n_components,
    covariance_type,
    reg_covar,
    random_state,
    prior=None,
    data_stats=None,
):
    """Parameters of the hard partition ``labels`` of the rows of X (one M-step).

    Rows labelled -1 are in no component. The weights are the (weighted) shares of the
    labelled rows; as everywhere, the M-step re-seeds a component without rows.
    ``data_stats``: the data's ``_kernels.data_statistics`` (computed here if None).
    """
    # the shift need only be near the bulk of the data (one row far out must not drag it)
    shift = _kernels.robust_centre(X, sample_weight)
    stats = _kernels.label_statistics(
        X, sample_weight, np.asarray(labels, dtype=np.intp), n_components, covariance_type, shift
    )
    return params_from_statistics(
        stats, X, sample_weight, covariance_type, reg_covar, random_state, prior, data_stats
    )


def _positive_rows(sample_weight, n_samples, m, random_state):
    pool = np.arange(n_samples) if sample_weight is None else np.flatnonzero(sample_weight > 0)
    return random_state.choice(pool, size=m, replace=m > pool.size)
