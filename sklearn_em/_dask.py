"""Fitting and inference on dask collections: an EM pass is one map-reduce of statistics.

The estimator imports this module only when X already is a dask collection, so the package
imports and works without dask (and imports no dask when X is not a dask collection).
Whatever scheduler is active runs the passes (a ``distributed.Client`` if one exists, else
dask's default scheduler).

Per pass, each block of rows (all columns) goes through the same chunked kernel as in-memory
data and yields its statistics, its weighted log-likelihood sum and its worst-explained rows;
these are merged in a tree on the workers (Chan, Golub & LeVeque: exact), and only the merged
value reaches the client, which runs the M-step. X is never gathered or persisted: each pass
recomputes its blocks from X's graph (reads them again, or generates them again), so a worker
holds O(block) and the client O(k d^2) plus the initialisation sample.

Missing cells (NaN) are fitted as in memory: a block's rows with missing cells give their
observed-data statistics (``_missing.accumulate``). The starts and the data's statistics see
each missing cell filled with its column's observed mean over all of X, which the pass before
EM sums; one more pass, only when that pass met a NaN, takes the mean-filled data's statistics.
"""

import math
from dataclasses import dataclass
from functools import partial

import numpy as np
from sklearn.utils.validation import _assert_all_finite, _check_feature_names, _check_n_features

from . import _kernels, _missing
from ._em import iterate
from ._estimator import _rows_of_positive_weight
from ._init import initial_params

# Rows drawn for the initialisation of a dask fit: a uniform sample without replacement of
# the rows of positive weight, drawn in one pass. k-means on 50,000 rows places centres
# within a small fraction of a cluster's spread (its error shrinks as 1/sqrt(rows in the
# cluster): a cluster of 1% of the data still gets ~500 rows), EM on all rows refines them
# anyway, and the sample costs the client 50,000 x d numbers (3.2 MB at d = 8).
INIT_SAMPLE_ROWS = 50_000

# Partial results merged per task of the reduction tree.
SPLIT_EVERY = 8


# ---------------------------------------------------------------- per-block tasks
def _positive_rows(X, sample_weight):
    """The block's rows of positive weight, checked free of infinities (as in-memory
    validation does: NaN cells are missing values)."""
    _assert_all_finite(X, allow_nan=True, input_name="X", estimator_name="GaussianMixtureEM")
    return _rows_of_positive_weight(X, sample_weight)


def _em_block(X, sample_weight, params, n_worst, floor=0.0):
    """The block protocol on one dask block: its statistics under ``params`` (with its
    log-likelihood and ``n_worst`` worst rows), by the in-memory pass over its chunks
    (observed-data for rows with missing cells; a component that collapsed far from the
    shift has its scatter taken again about its new mean, judged block by block against
    ``floor``: where every block's is resolved, so is their merge)."""
    X, sample_weight = _positive_rows(X, sample_weight)
    if X.shape[0] == 0:
        return None
    return _missing.accumulate(X, sample_weight, params, n_worst=n_worst, floor=floor)


@dataclass(frozen=True)
class _Scan:
    """What the first pass learns of the rows of positive weight, mergeable over blocks."""

    data: object  # their data statistics; None if a row has missing cells (see FitData)
    incomplete: bool  # whether a row has missing cells
    observed_sum: np.ndarray  # (d,) per column, weighted sum of the observed cells
    observed_weight: np.ndarray  # (d,) and their total weight
    n_empty: int  # rows without any observed cell,
    empty_rows: np.ndarray  # the first EMPTY_ROWS_SHOWN of them, as rows of all of X

    def merge(self, other):
        incomplete = self.incomplete or other.incomplete
        return _Scan(
            None if incomplete else _combine(_merge_stats, [self.data, other.data]),
            incomplete,
            self.observed_sum + other.observed_sum,
            self.observed_weight + other.observed_weight,
            self.n_empty + other.n_empty,
            np.concatenate([self.empty_rows, other.empty_rows])[: _missing.EMPTY_ROWS_SHOWN],
        )

    def column_means(self):
        """The columns' observed means (what missing cells are filled with for the starts and
        the data statistics); raises, as in memory, for rows or columns without any
        observed cell."""
        if self.n_empty:
            raise _missing.empty_rows_error(self.n_empty, self.empty_rows)
        return _missing.column_means(self.observed_sum, self.observed_weight)


def _by_chunks(fn, merge, X, sample_weight):
    """``fn(chunk, its weights)`` over chunks of the block's rows, folded with ``merge``
    (None for no rows): temporaries of a chunk's size, not of the block's."""
    rows = max(1, _kernels.CHUNK_BYTES // (8 * X.shape[1]))
    return _combine(
        merge,
        [
            fn(X[sl], None if sample_weight is None else sample_weight[sl])
            for sl in _kernels.row_slices(X.shape[0], rows)
        ],
    )


def _add_pairs(a, b):
    return a[0] + b[0], a[1] + b[1]


def _observed_sums(X, sample_weight):
    """``_missing.observed_sums`` of a block, chunk by chunk."""
    zeros = np.zeros(X.shape[1])
    return _by_chunks(_missing.observed_sums, _add_pairs, X, sample_weight) or (zeros, zeros)


def _scan_rows(X, sample_weight, first_row, covariance_type):
    """``_Scan`` of a block whose first row is row ``first_row`` of X, and the block's rows
    of positive weight with their weights (``_positive_rows``)."""
    X_positive, w_positive = _positive_rows(X, sample_weight)
    incomplete = _missing.missing_cells(X_positive)
    # rows of the whole block, so the rows named are X's
    empty = _missing.empty_rows(X, sample_weight) if incomplete else np.empty(0, np.intp)
    data = None
    if X_positive.shape[0] and not incomplete:
        data = _kernels.data_statistics(X_positive, w_positive, covariance_type)
    scan = _Scan(
        data,
        incomplete,
        *_observed_sums(X_positive, w_positive),
        empty.size,
        first_row + empty[: _missing.EMPTY_ROWS_SHOWN],
    )
    return scan, X_positive, w_positive


def _scan_block(X, sample_weight, first_row, covariance_type):
    return _scan_rows(X, sample_weight, first_row, covariance_type)[0]


def _filled_data_block(X, sample_weight, means, covariance_type):
    """The block's data statistics with its missing cells set to the columns' ``means``."""
    X, sample_weight = _positive_rows(X, sample_weight)
    if X.shape[0] == 0:
        return None

    def chunk(X, w):
        return _kernels.data_statistics(_missing.filled(X, means), w, covariance_type)

    return _by_chunks(chunk, _merge_stats, X, sample_weight)


@dataclass(frozen=True)
class _Sample:
    keys: np.ndarray
    rows: np.ndarray
    weights: np.ndarray  # or None
    scan: _Scan  # the rows' scan, taken in the same pass


def _sample_block(X, sample_weight, seed, first_row, size, covariance_type):
    """The block's ``size`` rows of smallest random key (merged over blocks, the rows of
    the ``size`` smallest keys overall are a uniform sample without replacement), and the
    block's ``_Scan``."""
    scan, X, sample_weight = _scan_rows(X, sample_weight, first_row, covariance_type)
    keys = np.random.default_rng(seed).random(X.shape[0])
    if keys.size > size:
        keep = np.argpartition(keys, size - 1)[:size]
        keys, X = keys[keep], X[keep]
        sample_weight = None if sample_weight is None else sample_weight[keep]
    weights = None if sample_weight is None else np.array(sample_weight)
    return _Sample(keys, np.array(X), weights, scan)


def _merge_samples(a, b, size):
    keys = np.concatenate([a.keys, b.keys])
    keep = np.argsort(keys, kind="stable")[:size]
    rows = np.concatenate([a.rows, b.rows])[keep]
    weights = None if a.weights is None else np.concatenate([a.weights, b.weights])[keep]
    return _Sample(keys[keep], rows, weights, a.scan.merge(b.scan))


def _column(w):
    return w[:, None]


def _merge_stats(a, b):
    return a.merge(b)


def _combine(merge, parts):
    """Fold ``merge`` over the parts, in order, skipping empty blocks' ``None``."""
    out = None
    for p in parts:
        if p is not None:
            out = p if out is None else merge(out, p)
    return out


def _on_block(X, sample_weight, block_fn, *args, block_id=None):
    """``block_fn(X, its weights, *args)`` as a dask array's block: a 1 x 1 object array.

    ``sample_weight`` comes as a column (or None); an argument of type ``_PerBlock`` gives
    this block its own value.
    """
    if sample_weight is not None:
        sample_weight = sample_weight[:, 0]
    args = [a.values[block_id[0]] if isinstance(a, _PerBlock) else a for a in args]
    out = np.empty((1, 1), dtype=object)
    out[0, 0] = block_fn(X, sample_weight, *args)
    return out


@dataclass(frozen=True)
class _PerBlock:
    values: np.ndarray  # one value per block of rows


def _task_argument(a):
    """An argument of ``FitData.map_reduce`` for ``_on_block``: an array, or a list (one value
    per block), goes to the workers once per pass as a key of its own, not into every task."""
    import dask

    if isinstance(a, list):
        return dask.delayed(_PerBlock(np.asarray(a)))
    return dask.delayed(a) if isinstance(a, np.ndarray) else a


def _combine_blocks(merge, blocks):
    """``_combine`` of ``_on_block``'s results."""
    return _combine(merge, [b.item() for b in blocks])


def _tree_reduce(blocks, merge):
    """One delayed value: ``merge`` folded over the blocks' results (``_on_block``'s arrays)
    in a tree of fan-in SPLIT_EVERY."""
    import dask

    parts = [
        dask.delayed(partial(_combine_blocks, merge))(blocks[i : i + SPLIT_EVERY])
        for i in range(0, len(blocks), SPLIT_EVERY)
    ]
    combine = partial(_combine, merge)
    while len(parts) > 1:
        parts = [
            dask.delayed(combine)(parts[i : i + SPLIT_EVERY])
            for i in range(0, len(parts), SPLIT_EVERY)
        ]
    return parts[0]


# ---------------------------------------------------------------- validation
def as_dask_array(estimator, X, *, reset):
    """X as a 2-D float32/float64 dask array chunked along rows only, with the checks
    ``validate_data`` makes (feature names and count; finiteness is checked in each pass)."""
    import dask.array as da

    is_frame = hasattr(X, "dtypes") and not isinstance(X, da.Array)  # dask DataFrame/Series
    # scikit-learn reads feature names from pandas frames: a dask frame's empty pandas meta
    _check_feature_names(estimator, X._meta if is_frame else X, reset=reset)
    if is_frame:
        if X.ndim != 2:
            raise ValueError(
                "Expected a 2-D dask array or a dask DataFrame for X, got a dask Series; "
                "use series.to_frame() for a single feature."
            )
        from pandas.api.extensions import ExtensionDtype  # dask.dataframe requires pandas
        from pandas.api.types import is_numeric_dtype

        bad = [str(c) for c, t in X.dtypes.items() if not is_numeric_dtype(t)]
        if bad:
            raise ValueError(
                f"A dask DataFrame passed as X must have numeric columns only; columns {bad} "
                "are not numeric."
            )
        # pandas' nullable columns (Int64, Float64, ...) would make an object array: their
        # missing values (pd.NA) become NaN cells, as scikit-learn converts them in memory
        nullable = {
            c: np.float32 if getattr(t, "numpy_dtype", None) == np.float32 else np.float64
            for c, t in X.dtypes.items()
            if isinstance(t, ExtensionDtype)
        }
        if nullable:
            X = X.astype(nullable)
        X = X.to_dask_array(lengths=True)
    if not isinstance(X, da.Array):
        raise TypeError(f"Expected a dask array or a dask DataFrame for X, got {type(X).__name__}.")
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-D dask array for X, got {X.ndim}-D with shape {X.shape}.")
    if X.dtype not in (np.float32, np.float64):
        if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
            raise ValueError(f"X must be numeric, got a dask array of dtype {X.dtype}.")
        X = X.astype(np.float64)
    if any(np.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()  # one pass, as DataFrame.to_dask_array(lengths=True)
    _check_n_features(estimator, X, reset=reset)
    if X.shape[1] < 1:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is required."
        )
    return X.rechunk({1: -1})


def as_dask_weights(sample_weight, X):
    """sample_weight as a 1-D dask array in X's dtype, chunked as X's rows (not yet checked
    for values: see ``check_weights``)."""
    import dask.array as da

    if sample_weight is None:
        return None
    if np.isscalar(sample_weight):
        return da.full(X.shape[0], sample_weight, chunks=(X.chunks[0],), dtype=X.dtype)
    if hasattr(sample_weight, "to_dask_array"):  # a dask Series
        sample_weight = sample_weight.to_dask_array(lengths=True)
    elif not isinstance(sample_weight, da.Array):
        sample_weight = da.from_array(np.asarray(sample_weight), chunks=(X.chunks[0],))
    if sample_weight.ndim == 1 and any(math.isnan(c) for c in sample_weight.chunks[0]):
        # weights filtered with X by the same mask (unknown chunk sizes): one pass, as X's
        sample_weight = sample_weight.compute_chunk_sizes()
    if sample_weight.ndim != 1 or sample_weight.shape[0] != X.shape[0]:
        raise ValueError(f"sample_weight.shape == {sample_weight.shape}, expected {(X.shape[0],)}!")
    return sample_weight.astype(X.dtype).rechunk((X.chunks[0],))


def check_weights(sample_weight):
    """Total weight and the number of rows of positive weight, with the weights' checks."""
    import dask
    import dask.array as da

    finite, low, total, positive = dask.compute(
        da.isfinite(sample_weight).all(),
        sample_weight.min(),
        sample_weight.sum(dtype=np.float64),
        (sample_weight > 0).sum(),
    )
    if not finite:
        raise ValueError("Input sample_weight contains NaN or infinity.")
    if low < 0:
        raise ValueError("Negative values in data passed to sample_weight")
    if positive == 0:
        raise ValueError("sample_weight must not be all zero: at least one row needs weight.")
    return float(total), int(positive)


# ---------------------------------------------------------------- fitting
class FitData:
    """A dask array (and its weights) as a data source for the EM loop."""

    def __init__(self, X, sample_weight, n_components):
        if X.shape[0] < 2:
            raise ValueError(
                f"Found array with {X.shape[0]} sample(s) (shape={X.shape}) while a minimum of 2 "
                "is required by GaussianMixtureEM."
            )
        self.X = X
        self.sample_weight = sample_weight
        if sample_weight is None:
            self.total, self.n_rows = float(X.shape[0]), X.shape[0]
        else:
            self.total, self.n_rows = check_weights(sample_weight)
        if self.n_rows < n_components:
            raise ValueError(
                "Expected n_samples >= n_components but got n_components = "
                f"{n_components}, n_samples = {self.n_rows}"
                + ("" if sample_weight is None else " (rows with positive sample_weight)")
            )
        self._sample = None
        self._scan = None
        self._data = None

    @property
    def dtype(self):
        return self.X.dtype

    def map_reduce(self, block_fn, merge, *args):
        """``block_fn(block, its weights, *args)`` on every block, merged in a tree.

        A list argument holds one value per block (the sampling seeds). Each block's call is
        a blockwise task of X's own graph, so dask fuses it with the task that makes the block
        (reads or generates it): the block lives inside one task and is never a stored result
        that a worker near its memory limit would spill to disk and read back.
        """
        import dask
        import dask.array as da

        X, w = self.X, self.sample_weight
        if w is not None:  # a column, aligned with X's rows as map_blocks broadcasts
            w = w.map_blocks(_column, new_axis=1, chunks=(w.chunks[0], (1,)))
        blocks = da.map_blocks(
            _on_block,
            X,
            w,
            block_fn,
            *map(_task_argument, args),
            chunks=((1,) * X.numblocks[0], (1,)),
            dtype=object,
            meta=np.empty((0, 0), dtype=object),
        )
        (out,) = dask.compute(_tree_reduce(list(blocks.to_delayed().ravel()), merge))
        return out

    def e_pass(self, params, n_worst=0, floor=0.0):
        """One EM pass: the statistics of all blocks under ``params``, merged (``floor``: as
        for ``_kernels.accumulate``)."""
        import dask

        return self.map_reduce(_em_block, _merge_stats, dask.delayed(params), n_worst, floor)

    def _first_rows(self):
        """Each block's first row, as a row of X (one value per block)."""
        return list(np.cumsum((0,) + self.X.chunks[0][:-1]))

    def data_statistics(self, covariance_type):
        """``_kernels.data_statistics`` of all the rows, merged over blocks, with missing
        cells set to their column's observed mean over all rows (as in memory).

        Taken the first time it is asked for, by the scan pass (unless the sampling pass
        took the scan); when the scan finds missing cells, by one more pass, which fills
        them with the column means the scan gave.
        """
        if self._data is None:
            if self._scan is None:
                self._scan = self.map_reduce(
                    _scan_block, _merge_stats, self._first_rows(), covariance_type
                )
            means = self._scan.column_means()  # raises for rows or columns never observed
            if self._scan.incomplete:
                self._data = self.map_reduce(
                    _filled_data_block, _merge_stats, means, covariance_type
                )
            else:
                self._data = self._scan.data
        return self._data

    def sample(self, random_state, covariance_type):
        """A uniform sample of INIT_SAMPLE_ROWS rows of positive weight (all of them if
        fewer), and their weights; drawn in one pass, the first time it is asked for.
        Missing cells are set to their column's observed mean over all rows."""
        if self._sample is None:
            n_blocks = self.X.numblocks[0]
            seeds = list(random_state.randint(np.iinfo(np.int32).max, size=n_blocks))
            size = min(INIT_SAMPLE_ROWS, self.n_rows)
            s = self.map_reduce(
                _sample_block,
                partial(_merge_samples, size=size),
                seeds,
                self._first_rows(),
                size,
                covariance_type,
            )
            if self._scan is None:
                self._scan = s.scan
            means = self._scan.column_means()
            rows = _missing.filled(s.rows, means) if self._scan.incomplete else s.rows
            self._sample = (rows, s.weights)
        return self._sample

    def initial_params(self, *, random_state, covariance_type, **kwargs):
        """``_init.initial_params`` on the sample (not drawn when all three initial
        parameters are given: they are used as they are)."""
        names = ("weights_init", "means_init", "precisions_init")
        if all(kwargs.get(n) is not None for n in names):
            X, w = None, None  # initial_params returns them without looking at X
        else:
            X, w = self.sample(random_state, covariance_type)
        return initial_params(
            X,
            w,
            random_state=random_state,
            covariance_type=covariance_type,
            data_stats=self.data_statistics(covariance_type),
            **kwargs,
        )

    def run_em(self, params, **options):
        """``_em.run_em`` (same options) with each pass a map-reduce over the blocks."""
        return iterate(
            self.e_pass,
            params,
            total=self.total,
            data_stats=self.data_statistics(params.model),
            **options,
        )


# ---------------------------------------------------------------- inference
def _rows(fn, empty_columns, X, params, block_info=None):
    """``fn(X, params)``, also for a block of no rows (which the chunked kernels refuse).

    A row without any observed cell is named by its row in all of X (``block_info`` gives
    the block's first row), not in its block."""
    if X.shape[0] == 0:
        return np.empty((0,) + empty_columns, dtype=np.intp if fn is _missing.predict else X.dtype)
    _check_block_rows(X, block_info)
    return fn(X, params)


def _check_block_rows(X, block_info):
    """Raise for a row of the block X without any observed cell, named by its row in all
    of X (``block_info``, map_blocks', gives the block's first row)."""
    if block_info is None or not _missing.missing_cells(X):
        return
    empty = _missing.empty_rows(X)
    if empty.size:
        first = block_info[0]["array-location"][0][0]
        shown = empty[: _missing.EMPTY_ROWS_SHOWN] + first
        raise _missing.empty_rows_error(empty.size, shown, at_least=True)


def score_samples(X, params):
    """Lazy per-row log-likelihood, row-aligned with X."""
    return X.map_blocks(
        partial(_rows, _missing.score_samples, ()), params, drop_axis=1, dtype=X.dtype
    )


def predict_proba(X, params):
    """Lazy responsibilities, row-aligned with X."""
    k = params.n_components
    return X.map_blocks(
        partial(_rows, _missing.predict_proba, (k,)),
        params,
        chunks=(X.chunks[0], (k,)),
        dtype=X.dtype,
    )


def predict(X, params):
    """Lazy most probable component of each row, row-aligned with X."""
    return X.map_blocks(partial(_rows, _missing.predict, ()), params, drop_axis=1, dtype=np.intp)


def _ll_and_log_map(X, params, block_info=None):
    if X.shape[0] == 0:
        return np.empty((0, 2))
    _check_block_rows(X, block_info)
    ll, top = _missing.log_likelihood_and_map(X, params)
    with np.errstate(divide="ignore"):
        log_map = np.log(top.astype(np.float64))
    return np.stack([ll.astype(np.float64), log_map], axis=1)


def criteria_sums(X, sample_weight, params, classification):
    """``(log-likelihood sum, total weight, sum of log max responsibility or None)`` of X,
    from one pass; rows of weight 0 are left out."""
    import dask
    import dask.array as da

    if classification:
        both = X.map_blocks(_ll_and_log_map, params, chunks=(X.chunks[0], (2,)), dtype=np.float64)
        ll, log_map = both[:, 0], both[:, 1]
    else:
        ll, log_map = score_samples(X, params).astype(np.float64), None
    if sample_weight is None:
        n = float(X.shape[0])
        sums = [ll.sum()] + ([] if log_map is None else [log_map.sum()])
    else:
        w = sample_weight.astype(np.float64)
        keep = w > 0
        n = w.sum()
        sums = [da.where(keep, w * ll, 0.0).sum()]
        if log_map is not None:
            sums.append(da.where(keep, w * log_map, 0.0).sum())
    out = dask.compute(*sums, n)
    loglik, n = float(out[0]), float(out[-1])
    return loglik, n, (float(out[1]) if classification else None)
