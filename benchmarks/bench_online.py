"""One pass of partial_fit (online EM) against batch fits, side by side in one process.

For each synthetic mixture (``_common.make_mixture``, n rows plus 20,000 held out) it fits

* ``sklearn``: ``sklearn.mixture.GaussianMixture(k).fit(X)`` (k-means init, default tol);
* ``ours fit``: ``GaussianMixtureEM(k).fit(X)``, the same settings;
* ``online``: ``GaussianMixtureEM(k)`` with ``partial_fit`` on consecutive 1,000-row batches,
  one pass, default ``learning_decay``/``learning_offset``; ``online n_init=3`` starts the
  stream with ``n_init=3`` (the first call is ``fit`` on its batch);

and prints each one's held-out mean log-likelihood, its gap to the batch fit in percent of
|ll(sklearn fit)| (positive: worse than the batch fit), the generating mixture's held-out
log-likelihood, and wall times (median of ``--repeats`` alternated runs, with the spread
(max - min) / median). The fits are deterministic (``random_state=0``); only times vary.

    python benchmarks/bench_online.py               # d, k in (6, 6), (8, 8); seeds 0-4
    python benchmarks/bench_online.py --quick       # one case, one seed, n = 50,000

Run by hand, never by pytest.
"""

import argparse
import statistics
import warnings

import numpy as np
from _common import machine_description, make_mixture, print_table, timed
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from sklearn_em import GaussianMixtureEM

HELD_OUT = 20_000


def one_pass(model, X, batch):
    for start in range(0, X.shape[0], batch):
        model.partial_fit(X[start : start + batch])
    return model


def truth_loglik(truth, X):
    weights, means, covs = truth
    return float(
        logsumexp(
            [
                np.log(w) + multivariate_normal(m, c).logpdf(X)
                for w, m, c in zip(weights, means, covs)
            ],
            axis=0,
        ).mean()
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    cases = [(6, 6), (8, 8)]
    if args.quick:
        args.n, args.seeds, args.repeats, cases = 50_000, 1, 1, [(6, 6)]
    print(machine_description())
    print(f"n = {args.n:,} training rows, {HELD_OUT:,} held out, batches of {args.batch:,}\n")
    fits = {
        "sklearn": lambda k, X: GaussianMixture(k, random_state=0).fit(X),
        "ours fit": lambda k, X: GaussianMixtureEM(k, random_state=0).fit(X),
        "online": lambda k, X: one_pass(GaussianMixtureEM(k, random_state=0), X, args.batch),
        "online n_init=3": lambda k, X: one_pass(
            GaussianMixtureEM(k, random_state=0, n_init=3), X, args.batch
        ),
    }
    rows = []
    for d, k in cases:
        for seed in range(args.seeds):
            data, truth = make_mixture(args.n + HELD_OUT, d, k, seed=seed)
            X, H = data[: args.n], data[args.n :]
            times = {name: [] for name in fits}
            models = {}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                for _ in range(args.repeats):
                    for name, fit in fits.items():  # alternated: drift hits all alike
                        t, models[name] = timed(lambda fit=fit, k=k, X=X: fit(k, X))
                        times[name].append(t)
            ll = {name: m.score(H) for name, m in models.items()}
            ref = ll["sklearn"]
            for name in fits:
                med = statistics.median(times[name])
                spread = (max(times[name]) - min(times[name])) / med
                rows.append(
                    [
                        f"d={d} k={k} seed={seed}",
                        name,
                        f"{ll[name]:.4f}",
                        f"{100 * (ref - ll[name]) / abs(ref):+.3f}",
                        f"{truth_loglik(truth, H):.4f}",
                        f"{med:.2f}",
                        f"{100 * spread:.0f}%",
                        f"{statistics.median(times['sklearn']) / med:.1f}",
                    ]
                )
    print_table(
        [
            "case",
            "fit",
            "held-out ll",
            "gap % of sklearn",
            "truth ll",
            "time s",
            "spread",
            "sklearn time / time",
        ],
        rows,
        markdown=args.markdown,
    )


if __name__ == "__main__":
    main()
