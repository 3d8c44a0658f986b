"""Our EM iteration time against the size of a chunk (justifies CHUNK_BYTES).

Rows per chunk = rows whose temporaries fit in min(CHUNK_BYTES, scikit-learn's
``working_memory``), at most n. This script varies each of the two limits in turn:

* the budget ``sklearn_em._kernels.CHUNK_BYTES`` (monkeypatched), at the default
  ``working_memory``;
* small ``working_memory`` values (``sklearn.config_context``), at the default budget.

    python benchmarks/chunk_size.py             # n=200k, d=16, k=16, full, float64 + float32
    python benchmarks/chunk_size.py --quick

Run by hand, never by pytest.
"""

import argparse
import statistics
import warnings

from _common import (
    initial_parameters,
    load_average,
    machine_description,
    make_mixture,
    print_table,
    timed,
)
from sklearn import config_context, get_config
from sklearn.exceptions import ConvergenceWarning

import sklearn_em._kernels as kernels
from sklearn_em import GaussianMixtureEM

BUDGETS_MIB = (0.5, 1, 2, 4, 8, 16, 64)
WORKING_MEMORY_MB = (0.25, 0.5, 1, 2, 4, 8)


def effective_rows(X, k, covariance_type):
    n, d = X.shape
    try:
        return kernels.chunk_rows(n, k, d, X.dtype.itemsize, covariance_type)
    except TypeError:  # older signature, without the covariance type
        return kernels.chunk_rows(n, k, d, X.dtype.itemsize)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="n / 10 (smoke run)")
    p.add_argument("--n", type=int, default=200_000)
    p.add_argument("--d", type=int, default=16)
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--covariance-type", default="full")
    p.add_argument("--dtypes", default="float64,float32")
    p.add_argument("--iters", type=int, default=10, help="EM iterations per timed fit (>= 2)")
    p.add_argument("--repeats", type=int, default=3, help="round-robin repeats")
    p.add_argument("--stat", choices=("median", "min"), default="median")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--blas-threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.iters < 2:
        p.error("--iters must be at least 2")
    warnings.simplefilter("ignore", ConvergenceWarning)
    if args.blas_threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.blas_threads)

    n = args.n // (10 if args.quick else 1)
    d, k, cov = args.d, args.k, args.covariance_type
    X64, truth = make_mixture(n, d, k, seed=0)
    init = initial_parameters(truth, cov)
    default_cap = kernels.CHUNK_BYTES / 2**20
    default_wm = get_config()["working_memory"]

    configs = [("cap", c) for c in BUDGETS_MIB] + [("working_memory", w) for w in WORKING_MEMORY_MB]

    def fit(X, max_iter):
        return GaussianMixtureEM(
            n_components=k, covariance_type=cov, tol=0.0, max_iter=max_iter, **init
        ).fit(X)

    def run(X, config, max_iter):
        kind, value = config
        try:
            if kind == "cap":
                kernels.CHUNK_BYTES = int(value * 2**20)
                rows = effective_rows(X, k, cov)
                return timed(lambda: fit(X, max_iter))[0], rows
            with config_context(working_memory=value):
                rows = effective_rows(X, k, cov)
                return timed(lambda: fit(X, max_iter))[0], rows
        finally:
            kernels.CHUNK_BYTES = int(default_cap * 2**20)

    print(("**Machine:** " if args.markdown else "Machine: ") + machine_description())
    print(
        f"{cov} n={n} d={d} k={k}; ms per EM iteration = (T(max_iter={args.iters}) - "
        f"T(max_iter=1)) / {args.iters - 1}, T = {args.stat} fit time over {args.repeats} "
        f"round-robin repeats over all settings; spread = (max - min) / median of the "
        f"max_iter={args.iters} fit times. Defaults: CHUNK_BYTES={default_cap:g} MiB, working_memory={default_wm} MiB. "
        f"Load average at start: {load_average():.2f}."
    )
    print()
    for dtype in args.dtypes.split(","):
        X = X64.astype(dtype)
        for config in configs:  # warm-up
            run(X, config, 1)
        reduce = {"median": statistics.median, "min": min}[args.stat]
        t_n = {c: [] for c in configs}
        t_1 = {c: [] for c in configs}
        rows = {}
        for _ in range(args.repeats):
            for config in configs:
                t, rows[config] = run(X, config, args.iters)
                t_n[config].append(t)
                t_1[config].append(run(X, config, 1)[0])
        ms = {c: 1e3 * (reduce(t_n[c]) - reduce(t_1[c])) / (args.iters - 1) for c in configs}
        ref = ms[("cap", default_cap)] if ("cap", default_cap) in ms else None
        table = []
        for config in configs:
            kind, value = config
            if kind == "cap":
                label = f"CHUNK_BYTES={value:g} MiB"
            else:
                label = f"working_memory={value:g} MiB"
            spread = (max(t_n[config]) - min(t_n[config])) / statistics.median(t_n[config])
            table.append([
                label + (" (default)" if config == ("cap", default_cap) else ""),
                str(rows[config]),
                f"{ms[config]:.2f}",
                f"{ms[config] / ref:.2f}" if ref else "",
                f"{100 * spread:.0f}%",
            ])  # fmt: skip
        print(("### " if args.markdown else "== ") + f"{dtype}" + ("" if args.markdown else " =="))
        print_table(
            ["setting", "rows/chunk", "ms/it", "vs default", "spread"], table, args.markdown
        )
        print()
    print(f"Load average at end: {load_average():.2f}.")


if __name__ == "__main__":
    main()
