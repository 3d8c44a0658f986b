"""Time of one covariance M-step of each of mclust's 14 models (sklearn_em._gpcm).

The M-step runs once per EM iteration on (k, d, d) statistics, whatever n is; what matters is
its cost next to one EM iteration of 'full' (VVV) at the same k and d, which this script also
measures (--context, GaussianMixtureEM, per-iteration time as in bench_em.py).

    python benchmarks/bench_gpcm.py                  # k = d = 16
    python benchmarks/bench_gpcm.py --context        # and one 'full' EM iteration at n = 200k

Statistics come from a synthetic mixture (``_common.make_mixture``): ``cold`` is the step from
mclust's starting values (what ``mstep`` does); ``warm`` is the step of the next EM iteration
started from the previous step's parameters (what ``me`` and an EM loop do). Times are medians
over repeats; spread = (max - min) / median.
"""

import argparse
import warnings

import numpy as np
from _common import machine_description, make_mixture, print_table, timed
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from sklearn_em._gpcm import DEFAULT_MAX_ITER, ITERATIVE, MODELS, full_covariances, m_step


def statistics(X, z):
    nk = z.sum(axis=0)
    means = (z.T @ X) / nk[:, None]
    W = np.stack([(z[:, j, None] * (X - means[j])).T @ (X - means[j]) for j in range(len(nk))])
    return nk, means, W


def responsibilities(X, weights, means, covs):
    log_prob = np.column_stack(
        [
            np.log(weights[j]) + multivariate_normal(means[j], covs[j]).logpdf(X)
            for j in range(len(weights))
        ]
    )
    return np.exp(log_prob - logsumexp(log_prob, axis=1, keepdims=True))


def time_model(model, stats0, stats1, repeats, max_iter):
    nk0, _, W0 = stats0
    nk1, _, W1 = stats1
    cold = [timed(lambda: m_step(model, nk1, W1))[0] for _ in range(repeats)]
    previous = m_step(model, nk0, W0)
    warm_times, step = [], None
    for _ in range(repeats):
        t, step = timed(lambda: m_step(model, nk1, W1, previous=previous, max_iter=max_iter))
        warm_times.append(t)
    return np.array(cold), np.array(warm_times), m_step(model, nk1, W1).n_iter, step.n_iter


def em_iteration_ms(n, d, k, repeats):
    """Per-iteration time of GaussianMixtureEM 'full', as bench_em.py measures it."""
    from _common import initial_parameters
    from sklearn.exceptions import ConvergenceWarning

    from sklearn_em import GaussianMixtureEM

    X, truth = make_mixture(n, d, k, seed=1)
    init = initial_parameters(truth, "full")

    def fit(iters):
        gm = GaussianMixtureEM(k, covariance_type="full", tol=0, max_iter=iters, **init)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return timed(lambda: gm.fit(X))[0]

    iters = 6
    times = [(fit(iters) - fit(1)) / (iters - 1) for _ in range(repeats)]
    return 1e3 * np.median(times), 1e3 * (max(times) - min(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", type=int, default=16)
    parser.add_argument("-d", type=int, default=16)
    parser.add_argument(
        "--n-stats",
        type=int,
        default=20_000,
        help="rows behind the statistics (the M-step does not see n)",
    )
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument(
        "--max-iter",
        type=int,
        default=DEFAULT_MAX_ITER,
        help="inner-iteration limit of the warm step (a generalised EM step)",
    )
    parser.add_argument(
        "--context", action="store_true", help="also time one 'full' EM iteration at n=200k"
    )
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()

    k, d = args.k, args.d
    X, (weights, means, covs) = make_mixture(args.n_stats, d, k, seed=0)
    # Two consecutive EM iterations' statistics: from the generating parameters, then from
    # the VVV step on those.
    z0 = responsibilities(X, weights, means, covs)
    stats0 = statistics(X, z0)
    step0 = m_step("VVV", stats0[0], stats0[2])
    z1 = responsibilities(X, stats0[0] / len(X), stats0[1], full_covariances(step0))
    stats1 = statistics(X, z1)

    print(machine_description())
    print(f"k={k}, d={d}; medians over {args.repeats} repeats; warm max_iter={args.max_iter}")
    results = {m: time_model(m, stats0, stats1, args.repeats, args.max_iter) for m in MODELS}
    vvv = np.median(results["VVV"][1])
    rows = []
    for model in MODELS:
        cold, warm, it_cold, it_warm = results[model]
        rows.append(
            [
                model,
                "yes" if model in ITERATIVE else "",
                f"{1e3 * np.median(cold):.3f}",
                str(it_cold),
                f"{1e3 * np.median(warm):.3f}",
                str(it_warm),
                f"{(warm.max() - warm.min()) / np.median(warm):.2f}",
                f"{np.median(warm) / vvv:.1f}",
            ]
        )
    print_table(
        [
            "model",
            "iterative",
            "cold ms",
            "cold it",
            "warm ms",
            "warm it",
            "warm spread",
            "warm / VVV",
        ],
        rows,
        markdown=args.markdown,
    )
    if args.context:
        ms, spread = em_iteration_ms(200_000, d, k, repeats=3)
        print(
            f"\nGaussianMixtureEM 'full' n=200k, d={d}, k={k}: {ms:.1f} ms per EM iteration "
            f"(spread {spread:.1f} ms); the warm M-step of each model adds "
            "(warm ms - VVV warm ms) to that."
        )


if __name__ == "__main__":
    main()
