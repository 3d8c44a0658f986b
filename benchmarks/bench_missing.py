"""Time per EM iteration with missing cells, against the same data complete.

n=200k, d=16, k=8 ('full' by default), 0% / 10% / 30% of the cells hidden at random (a row
that lost every cell keeps its first one). Every fit starts from the generating parameters
(tol=0). As in bench_em.py, ms per iteration = (T(max_iter=iters) - T(max_iter=1)) /
(iters - 1), so the one-off work (validation, grouping rows by missingness pattern) is left
out and reported apart ('fixed' = T(max_iter=1)). The fits alternate in one process
(complete, 10%, 30%, sklearn on complete, complete, ...) so that the machine's load hits them
alike; medians over the repeats, the spread of the per-iteration estimates (min-max), and the
ratio of medians to our fit of the complete data are printed.

    python benchmarks/bench_missing.py                  # n=200k, d=16, k=8, full
    python benchmarks/bench_missing.py --quick          # n=20k
    python benchmarks/bench_missing.py --covariance-type diag --markdown

Run by hand, never by pytest.
"""

import argparse
import statistics
import warnings

import numpy as np
from _common import (
    initial_parameters,
    load_average,
    machine_description,
    make_mixture,
    print_table,
    timed,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from sklearn_em import GaussianMixtureEM
from sklearn_em._missing import MissingLayout


def hide(X, fraction, seed):
    rng = np.random.default_rng(seed)
    Xm = X.copy()
    Xm[rng.random(X.shape) < fraction] = np.nan
    empty = np.isnan(Xm).all(axis=1)
    Xm[empty, 0] = X[empty, 0]
    return Xm


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--d", type=int, default=16)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--covariance-type", default="full")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.3])
    parser.add_argument("--iters", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.n, args.repeats = 20_000, 3
    warnings.simplefilter("ignore", ConvergenceWarning)

    X, truth = make_mixture(args.n, args.d, args.k, seed=0)
    init = initial_parameters(truth, args.covariance_type)
    tables = {0.0: X}
    for i, f in enumerate(args.fractions):
        tables[f] = hide(X, f, seed=i + 1)

    def ours(data, iters):
        est = GaussianMixtureEM(
            args.k, covariance_type=args.covariance_type, tol=0, max_iter=iters, **init
        )
        return lambda: est.fit(data)

    def theirs(iters):
        # scikit-learn still draws an initialisation with all three *_init given: the
        # cheapest, seeded, so that it costs the same in both fits and cancels
        sk = GaussianMixture(
            args.k,
            covariance_type=args.covariance_type,
            tol=0,
            max_iter=iters,
            init_params="random_from_data",
            random_state=0,
            **init,
        )
        return lambda: sk.fit(X)

    runs = {f: (ours(data, args.iters), ours(data, 1)) for f, data in tables.items()}
    runs["sklearn"] = (theirs(args.iters), theirs(1))
    per_iter = {name: [] for name in runs}
    fixed = {name: [] for name in runs}
    for _long, short in runs.values():  # warm-up
        short()
    for _ in range(args.repeats):
        for name, (long, short) in runs.items():
            t_long = timed(long)[0]
            t_short = timed(short)[0]
            fixed[name].append(t_short)
            per_iter[name].append((t_long - t_short) / (args.iters - 1))

    print(machine_description())
    print(
        f"n={args.n}, d={args.d}, k={args.k}, covariance_type={args.covariance_type!r}, "
        f"{args.iters} iterations per fit, {args.repeats} repeats; load average {load_average()}"
    )
    base = statistics.median(per_iter[0.0])
    rows = []
    for name, ts in per_iter.items():
        med = statistics.median(ts)
        if name == "sklearn":
            label, info = "sklearn, complete", ""
        else:
            data = tables[name]
            layout = MissingLayout.from_array(data)
            label = "ours, complete" if name == 0.0 else f"ours, {name:.0%} missing"
            info = (
                f"{np.isnan(data).mean():.1%} cells, {layout.complete.size / args.n:.1%} rows "
                f"complete, {layout.n_patterns} patterns"
            )
        rows.append(
            [
                label,
                f"{1e3 * med:.0f}",
                f"{1e3 * min(ts):.0f}-{1e3 * max(ts):.0f}",
                f"{med / base:.2f}",
                f"{1e3 * statistics.median(fixed[name]):.0f}",
                info,
            ]
        )
    print_table(
        [
            "data",
            "ms / iteration (median)",
            "spread (min-max)",
            "vs ours complete",
            "fixed ms",
            "missingness",
        ],
        rows,
        markdown=args.markdown,
    )


if __name__ == "__main__":
    main()
