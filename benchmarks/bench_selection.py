"""Model selection, side by side: our default selector against a Python loop of
scikit-learn's GaussianMixture over the same grid, and against R mclust's ``Mclust`` when
``Rscript`` with mclust is installed.

    python benchmarks/bench_selection.py             # both tables, 5 repeats
    python benchmarks/bench_selection.py --quick     # smaller tables, 1 repeat

Each contender fits the same grid (k = 1..9 x the four covariance types scikit-learn names,
mclust's VVV, EEE, VVI, VII) on the same data in this process (mclust in one R process per
repeat, timed inside R around ``Mclust`` alone, after the data are read). Each repeat runs
mclust first, then the five Python runs in an order that rotates from repeat to repeat, so
that over five repeats (the default) each takes each place once and drift of the machine hits
all alike (the second after the R process exits is slow for whatever runs in it: measured at
1.0-1.3x). Before the first repeat the selector and the loop run once, untimed, on 2,000 of
the rows (imports and first-call costs; not the selector with ``n_jobs=-1``, see below).

The selector runs at its defaults (hierarchical start + one k-means start, mclust's relative
tolerance 1e-5, SQUAREM); the loop at scikit-learn's (one k-means start, tol=1e-3 on the mean
log-likelihood), so it stops earlier and from one start: the comparison is of what each gives
by default.

Two thread settings are timed, each a row of the table:

* ``defaults``: each as a user runs it, with the machine's BLAS and OpenMP threads. The
  selector keeps BLAS and OpenMP to one thread inside its fits by itself (and spreads the
  row chunks of large data over the threads BLAS had); scikit-learn's fits use BLAS and
  OpenMP threads (k-means) as they come.
* ``1 thread``: both Python contenders under ``threadpool_limits(1)``, which suits
  scikit-learn's small fits better than its defaults on this machine (and takes the
  selector's chunk threads away too).

The selector is also timed with ``n_jobs=-1`` at the defaults (a grid estimated to take
longer than a few seconds runs on joblib's worker processes; loky keeps them alive between
fits, so the first repeat pays their start-up): it must not be slower than one job.

Reported per setting: the median time, its spread ((max - min) / median), the ratios, and
the chosen model of each (mclust runs once per repeat, on its defaults, and serves both rows).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from contextlib import nullcontext
from functools import partial

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(__file__))
from _common import machine_description, make_mixture, print_table, timed  # noqa: E402

TYPES = ["full", "tied", "diag", "spherical"]
MCLUST = {"full": "VVV", "tied": "EEE", "diag": "VVI", "spherical": "VII"}
KS = range(1, 10)

R_SCRIPT = r"""
suppressPackageStartupMessages(library(mclust))
X <- as.matrix(read.csv(commandArgs(TRUE)[1], header = FALSE))
t <- system.time(fit <- Mclust(X, G = 1:9, modelNames = c("VVV", "EEE", "VVI", "VII"),
                               verbose = FALSE))[["elapsed"]]
cat(t, fit$modelName, fit$G, "\n")
"""


def ours(X, n_jobs=None):
    from sklearn_em import GaussianMixtureSelector

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sel = GaussianMixtureSelector(
            n_components=KS, covariance_type=TYPES, random_state=0, n_jobs=n_jobs
        )
        sel.fit(X)
    p = sel.best_params_
    return f"{MCLUST[p['covariance_type']]} k={p['n_components']}"


def sklearn_loop(X):
    from sklearn.mixture import GaussianMixture

    best = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in TYPES:
            for k in KS:
                try:
                    bic = GaussianMixture(k, covariance_type=t, random_state=0).fit(X).bic(X)
                except ValueError:
                    continue
                if best is None or bic < best[0]:
                    best = (bic, t, k)
    return f"{MCLUST[best[1]]} k={best[2]}"


def mclust(path):
    out = subprocess.run(
        ["Rscript", "-e", R_SCRIPT, path], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), f"{out[1]} k={out[2]}"


def have_mclust():
    if shutil.which("Rscript") is None:
        return False
    done = subprocess.run(["Rscript", "-e", "library(mclust)"], capture_output=True, text=True)
    return done.returncode == 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller tables, one repeat")
    # (5: each of the five Python runs takes each place in the order once)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    tables = [(9083, 4, 4), (100_000, 8, 5)]
    if args.quick:
        tables = [(2000, 4, 4), (20_000, 8, 5)]
    use_r = have_mclust()
    print(machine_description())
    print(f"R mclust: {'yes' if use_r else 'not installed (skipped)'}; repeats: {repeats}\n")

    rows = []
    settings = [("defaults", nullcontext), ("1 thread", partial(threadpool_limits, 1))]
    for n, d, k in tables:
        X, _ = make_mixture(n, d, k, seed=1)
        jobs = [
            (setting, limits, name, fn)
            for setting, limits in settings
            for name, fn in [("ours", ours), ("sklearn", sklearn_loop)]
        ]
        jobs.insert(2, ("defaults", nullcontext, "ours -1", partial(ours, n_jobs=-1)))
        times = {(setting, name): [] for setting, _, name, _ in jobs}
        times["mclust"] = []
        chosen = {}
        # imports and first-call costs out of the timings: each contender once, untimed, on
        # a slice of the rows (n_jobs=-1's worker processes are not started here: its first
        # repeat pays their start-up, as a user's first call does)
        ours(X[:2000])
        sklearn_loop(X[:2000])
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "X.csv")
            np.savetxt(path, X, delimiter=",", fmt="%.17g")
            for repeat in range(repeats):
                if use_r:
                    t, chosen[None, "mclust"] = mclust(path)
                    times["mclust"].append(t)
                # the order rotates from repeat to repeat: a slow stretch of the machine (the
                # first second after the R process is one, measured) falls on each in turn
                shift = repeat % len(jobs)
                for setting, limits, name, fn in jobs[shift:] + jobs[:shift]:
                    with limits():
                        t, chosen[setting, name] = timed(partial(fn, X))
                    times[setting, name].append(t)
        med = {key: float(np.median(v)) for key, v in times.items() if v}
        spread = {
            key: (max(v) - min(v)) / np.median(v) if len(v) > 1 else 0.0
            for key, v in times.items()
            if v
        }
        for setting, _ in settings:
            o, s = (setting, "ours"), (setting, "sklearn")
            row = [
                f"{n} x {d} ({k} true)",
                setting,
                f"{med[o]:.2f} ({spread[o]:.0%})",
                f"{med[s]:.2f} ({spread[s]:.0%})",
                f"{med[s] / med[o]:.2f}x",
            ]
            if use_r:
                row += [
                    f"{med['mclust']:.2f} ({spread['mclust']:.0%})",
                    f"{med['mclust'] / med[o]:.2f}x",
                ]
            o1 = (setting, "ours -1")
            row.append(f"{med[o1]:.2f} ({spread[o1]:.0%})" if o1 in med else "")
            row.append(
                " / ".join(
                    chosen[key]
                    for key in ((setting, "ours"), (setting, "sklearn"), (None, "mclust"))
                    if key in chosen
                )
            )
            rows.append(row)
        print(f"done: {n} x {d}", file=sys.stderr)
    headers = ["table (36 fits)", "threads", "ours s (spread)", "sklearn loop s", "loop / ours"]
    if use_r:
        headers += ["mclust s", "mclust / ours"]
    headers.append("ours n_jobs=-1 s")
    headers.append("chosen: ours / loop" + (" / mclust" if use_r else ""))
    print_table(headers, rows, markdown=args.markdown)


if __name__ == "__main__":
    main()
