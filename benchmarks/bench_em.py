"""Side-by-side benchmark: sklearn.mixture.GaussianMixture vs sklearn_em.GaussianMixtureEM.

Both estimators run in this one process on the same data, from the same initial
parameters, for the same number of EM iterations, alternating (sklearn, ours, sklearn,
ours, ...). See benchmarks/README.md for what every number means.

    python benchmarks/bench_em.py               # full suite (several minutes)
    python benchmarks/bench_em.py --quick       # smoke run, small n
    python benchmarks/bench_em.py --cases 'full-200k*' --repeats 5 --markdown
    python benchmarks/bench_em.py --models      # mclust's 14 models against our full / diag

Run by hand, never by pytest.
"""

import argparse
import fnmatch
import statistics
import sys
import tracemalloc
import warnings
from dataclasses import dataclass

import numpy as np
from _common import (
    gemm_rate,
    initial_parameters,
    load_average,
    machine_description,
    make_mixture,
    print_table,
    timed,
    usable_cores,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from sklearn_em import GaussianMixtureEM

ESTIMATORS = {"sklearn": GaussianMixture, "ours": GaussianMixtureEM}


@dataclass(frozen=True)
class Case:
    covariance_type: str
    n: int
    d: int
    k: int
    dtype: str  # "float64" | "float32"

    @property
    def name(self):
        return f"{self.covariance_type}-{_short(self.n)}-{self.d}-{self.k}-{_dtype_tag(self.dtype)}"

    @property
    def shape(self):
        return (self.n, self.d, self.k)

    def flops(self):
        """Floating-point operations of one EM iteration (E-step + M-step), counting only
        the products with the data that any implementation must do (multiply + add = 2).

        full:      E 2nkd^2 (x - mu_k) U_k for every k;  M 2nkd^2 (scatter), 2nkd (sums)
        tied:      E 2nd^2 (x U), 2nkd (against the k projected means);
                   M 2nd^2 (one pooled scatter), 2nkd (sums)
        diag:      E 2nkd (x . mu_k p_k) + 2nkd (x^2 . p_k);  M 2nkd (sums) + 2nkd (sums of x^2)
        spherical: E 2nkd (x . mu_k);  M 2nkd (sums)   (+ O(nd + nk) ignored)

        These are the textbook algorithm's counts (scikit-learn's), fixed so that the bound
        does not move with an implementation. A quadratic-feature formulation (log-density
        linear in x_i x_j and x) does 2nk(d(d+1)/2 + d) per step instead of 2nkd^2.

        Not counted: the n*k exponentials and logarithms, O(nk) and O(nd) element-wise work,
        and anything O(k d^3) (factorisations) -- so for diag and spherical, whose products
        have an inner dimension of only d or k, the bound is far from attainable; it is a
        yardstick for 'full' and 'tied'.
        """
        n, d, k = self.n, self.d, self.k
        return {
            "full": 4 * n * k * d * d + 2 * n * k * d,
            "tied": 4 * n * d * d + 4 * n * k * d,
            "diag": 8 * n * k * d,
            "spherical": 4 * n * k * d,
        }[self.covariance_type]


def _short(n):
    for div, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= div and n % (div // 10) == 0:
            v = n / div
            return f"{v:g}{suffix}"
    return str(n)


def _dtype_tag(dtype):
    return {"float64": "f64", "float32": "f32"}[dtype]


def iteration_cases(quick):
    s = 10 if quick else 1
    shapes = [(c, 200_000 // s, 16, 16) for c in ("full", "tied", "diag", "spherical")]
    shapes += [("full", 1_000_000 // s, 8, 8), ("full", 50_000 // s, 64, 8)]
    return [Case(c, n, d, k, dt) for (c, n, d, k) in shapes for dt in ("float64", "float32")]


def memory_case(quick):
    return Case("full", 2_000_000 // (10 if quick else 1), 16, 16, "float64")


class Data:
    """Generated data, cached by shape (float32 is a cast of the float64 data)."""

    def __init__(self, seed):
        self.seed = seed
        self._cache = {}

    def get(self, case):
        key = case.shape
        if key not in self._cache:
            self._cache = {k: v for k, v in self._cache.items() if k == key}  # keep memory low
            X, truth = make_mixture(*case.shape, seed=self.seed)
            self._cache[key] = {"float64": X, "truth": truth}
        entry = self._cache[key]
        if case.dtype not in entry:
            entry[case.dtype] = entry["float64"].astype(case.dtype)
        return entry[case.dtype], entry["truth"]


def fixed_estimator(kind, case, init, max_iter):
    # init_params only matters to sklearn: it still draws initial responsibilities (and
    # runs an M-step on them) even when all three *_init are given. 'random_from_data' is
    # the cheapest; its cost is in both the max_iter=N and the max_iter=0 fit and cancels.
    return ESTIMATORS[kind](
        n_components=case.k,
        covariance_type=case.covariance_type,
        tol=0.0,
        max_iter=max_iter,
        init_params="random_from_data",
        random_state=0,
        **init,
    )


def default_estimator(kind, case):
    return ESTIMATORS[kind](
        n_components=case.k, covariance_type=case.covariance_type, random_state=0
    )


def peak_memory(make, X):
    """Bytes allocated at the peak of ``make().fit(X)`` above what was allocated before
    the fit (X itself is excluded: it exists before the fit starts). NumPy reports its
    array allocations to tracemalloc; BLAS-internal buffers are not seen."""
    est = make()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        est.fit(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - base, est


def check_same_work(case, sk, ours, n_iter):
    """Both did the same iterations and reached the same model: a speed-up cannot come
    from doing less work."""
    assert sk.n_iter_ == ours.n_iter_ == n_iter, (
        f"{case.name}: n_iter_ sklearn={sk.n_iter_} ours={ours.n_iter_} expected {n_iter}"
    )
    scale = float(np.max(np.abs(sk.means_))) + 1.0
    diff_means = float(np.max(np.abs(np.asarray(sk.means_, np.float64) - ours.means_))) / scale
    diff_w = float(np.max(np.abs(np.asarray(sk.weights_, np.float64) - ours.weights_)))
    cov_sk = np.asarray(sk.covariances_, np.float64)
    diff_cov = float(np.max(np.abs(cov_sk - ours.covariances_))) / float(np.max(np.abs(cov_sk)))
    # float64: agreement to ~1e-6 of the data's scale. float32: both accumulate n-row sums
    # in single precision (in different orders), so only ~1e-3 is meaningful.
    tol = 1e-6 if case.dtype == "float64" else 1e-3
    for what, diff in (("means", diff_means), ("weights", diff_w), ("covariances", diff_cov)):
        assert diff < tol, f"{case.name}: fitted {what} differ by {diff:.2e} (> {tol:g})"
    return max(diff_means, diff_w, diff_cov)


STATS = {"median": statistics.median, "min": min}


def bench_iterations(case, X, init, n_iter, repeats, stat="median"):
    """ms per EM iteration of each estimator: (T(max_iter=n_iter) - T(max_iter=1)) /
    (n_iter - 1), where T is the median (or min) wall time of a fit over ``repeats``
    alternated repeats. The max_iter=1 fit holds validation, initialisation, one iteration
    and sklearn's final E-step, so only whole EM iterations are left in the difference.

    (max_iter=0 would be the natural baseline, but scikit-learn's fit fails with
    max_iter=0 when precisions_init is given: it never sets covariances_.)"""
    reduce = STATS[stat]
    # warm-up: first-call costs (imports, BLAS thread start, page faults)
    for kind in ESTIMATORS:
        fixed_estimator(kind, case, init, 1).fit(X)
    t_n = {kind: [] for kind in ESTIMATORS}
    t_1 = {kind: [] for kind in ESTIMATORS}
    fitted = {}
    for _ in range(repeats):
        for kind in ESTIMATORS:  # sklearn, ours, alternating
            t, fitted[kind] = timed(lambda: fixed_estimator(kind, case, init, n_iter).fit(X))
            t_n[kind].append(t)
        for kind in ESTIMATORS:
            t_1[kind].append(timed(lambda: fixed_estimator(kind, case, init, 1).fit(X))[0])
    diff = check_same_work(case, fitted["sklearn"], fitted["ours"], n_iter)
    mem = {}
    for kind in ESTIMATORS:
        mem[kind], _ = peak_memory(lambda: fixed_estimator(kind, case, init, min(n_iter, 2)), X)
    return {
        "ms": {k: 1e3 * (reduce(t_n[k]) - reduce(t_1[k])) / (n_iter - 1) for k in ESTIMATORS},
        # noise of the main measurement: spread of the max_iter=n_iter fit times
        "spread": {k: (max(v) - min(v)) / statistics.median(v) for k, v in t_n.items()},
        "overhead_ms": {k: 1e3 * reduce(v) for k, v in t_1.items()},
        "mem": mem,
        "diff": diff,
    }


def bench_default_fit(case, X, repeats, stat="median"):
    """Whole default fit (init_params='kmeans', default tol and max_iter, random_state=0):
    median (or min) wall time over ``repeats`` alternated repeats."""
    times = {kind: [] for kind in ESTIMATORS}
    fitted = {}
    for _ in range(repeats):
        for kind in ESTIMATORS:
            t, fitted[kind] = timed(lambda: default_estimator(kind, case).fit(X))
            times[kind].append(t)
    return {
        "s": {k: STATS[stat](v) for k, v in times.items()},
        "n_iter": {k: v.n_iter_ for k, v in fitted.items()},
        "converged": {k: v.converged_ for k, v in fitted.items()},
        "lower_bound": {k: float(v.lower_bound_) for k, v in fitted.items()},
    }


def bench_memory(case, X, init, n_iter):
    out = {}
    for kind in ESTIMATORS:
        t, (peak, est) = timed(
            lambda: peak_memory(lambda: fixed_estimator(kind, case, init, n_iter), X)
        )
        out[kind] = {"peak": peak, "s": t, "est": est}
    check_same_work(case, out["sklearn"]["est"], out["ours"]["est"], n_iter)
    return out


def _fmt(x):
    return "n/a" if x is None else f"{x:.2f}"


def mib(b):
    return f"{b / 2**20:,.1f}"


# --models: each of mclust's models against our own model of the same kernel family
MODEL_REFERENCE = {"full": "VVV", "tied": "VVV", "diag": "VVI", "spherical": "VII"}


def bench_models(n, d, k, n_iter, repeats, seed, markdown):
    """Seconds per EM iteration of every mclust model and of our reference model of its
    kernel family ('full' = VVV, 'diag' = VVI, 'spherical' = VII), alternated in this process
    from the same start (one M-step from the same random partition, so the iterative models
    start cold as in a fit), ``tol=0`` so every run takes ``n_iter`` iterations."""
    from sklearn_em._em import run_em
    from sklearn_em._init import params_from_labels
    from sklearn_em._models import MODEL_NAMES, get_model

    X, _ = make_mixture(n, d, k, seed=seed)
    labels = np.random.RandomState(seed).randint(k, size=n)

    def per_iteration(model):
        start = params_from_labels(X, None, labels, k, model, 1e-6, np.random.RandomState(0))
        seconds, result = timed(
            lambda: run_em(X, None, start, tol=0.0, max_iter=n_iter, reg_covar=1e-6)
        )
        assert result.n_iter == n_iter
        return seconds / n_iter

    rows = []
    for model in MODEL_NAMES:
        reference = MODEL_REFERENCE[get_model(model).kernel]
        ratios, ours, ref = [], [], []
        for _ in range(repeats):
            a, b = per_iteration(reference), per_iteration(model)
            ref.append(a)
            ours.append(b)
            ratios.append(b / a)
        rows.append(
            [
                model,
                reference,
                f"{1e3 * statistics.median(ours):.1f}",
                f"{1e3 * statistics.median(ref):.1f}",
                f"{statistics.median(ratios):.2f}",
                f"{min(ratios):.2f}-{max(ratios):.2f}",
            ]
        )
        print(" | ".join(rows[-1]), file=sys.stderr, flush=True)
    print(
        f"n={n} d={d} k={k}, {n_iter} iterations per run, {repeats} alternated repeats; "
        f"load average {load_average()}"
    )
    print_table(
        ["model", "reference", "ms/iter", "reference ms/iter", "ratio (median)", "ratio (min-max)"],
        rows,
        markdown,
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="n / 10 everywhere (smoke run)")
    p.add_argument(
        "--cases",
        default="*",
        help="comma-separated glob patterns on case names, e.g. 'full-200k-*,tied-*'; "
        "the memory case is named 'mem-full-2M-16-16-f64'",
    )
    p.add_argument("--repeats", type=int, default=3, help="alternated repeats per case")
    p.add_argument(
        "--stat",
        choices=sorted(STATS),
        default="median",
        help="statistic over repeats (min is more robust on a busy machine)",
    )
    p.add_argument("--iters", type=int, default=10, help="EM iterations per timed fit")
    p.add_argument(
        "--fit-repeats", type=int, default=1, help="repeats of each whole default fit (median)"
    )
    p.add_argument("--mem-iters", type=int, default=3, help="EM iterations of the memory case")
    p.add_argument("--markdown", action="store_true", help="print tables as Markdown")
    p.add_argument(
        "--float32-vs-float64",
        dest="f32",
        action="store_true",
        help="also print our float32 speed-up over our float64 for every case",
    )
    p.add_argument("--skip-default-fit", action="store_true")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        help="limit BLAS/OpenMP threads (threadpoolctl) for both estimators; default: unchanged",
    )
    p.add_argument(
        "--models",
        action="store_true",
        help="only time mclust's 14 models against our full / diag / spherical "
        "(n=200k, d=16, k=16; n=20k with --quick)",
    )
    args = p.parse_args(argv)
    if args.blas_threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.blas_threads)
    if args.models:
        warnings.simplefilter("ignore", ConvergenceWarning)
        print(machine_description())
        bench_models(
            20_000 if args.quick else 200_000,
            16,
            16,
            args.iters,
            args.repeats,
            args.seed,
            args.markdown,
        )
        return
    if args.iters < 2:
        p.error("--iters must be at least 2 (the baseline fit runs 1 iteration)")

    warnings.simplefilter("ignore", ConvergenceWarning)
    patterns = [s.strip() for s in args.cases.split(",") if s.strip()]

    def selected(case, prefix=""):
        return any(fnmatch.fnmatch(prefix + case.name, pat) for pat in patterns)

    cases = [c for c in iteration_cases(args.quick) if selected(c)]
    mcase = memory_case(args.quick)
    run_memory = not args.skip_memory and selected(mcase, "mem-")
    md = args.markdown

    print(("**Machine:** " if md else "Machine: ") + machine_description())
    print()
    load_start = load_average()
    gemm_size = 2048 if args.quick else 3072
    rates = {dt: gemm_rate(np.dtype(dt), size=gemm_size) for dt in ("float64", "float32")}
    print(
        f"BLAS bound: measured in this run, NumPy matmul of {gemm_size}x{gemm_size} matrices: "
        f"DGEMM {rates['float64'] / 1e9:.1f} GFLOP/s, SGEMM {rates['float32'] / 1e9:.1f} GFLOP/s "
        "(re-measured at the end, to show whether the machine stayed quiet)."
    )
    print(
        f"Timing: ms per EM iteration = (T(max_iter={args.iters}, tol=0) - T(max_iter=1)) / "
        f"{args.iters - 1}, T = {args.stat} wall time of a fit over {args.repeats} alternated "
        "repeats; the "
        "subtracted fit holds validation, initialisation, one iteration and sklearn's final "
        "E-step. Same data, "
        "same initial parameters (the generating ones), same n_iter_ (asserted), fitted "
        "means/weights/covariances agree (asserted; 'max rel diff')."
    )
    print(
        "Peak memory: tracemalloc (NumPy reports its allocations to it), peak during a fit "
        "minus the traced memory before it; X itself exists before the fit and is not counted."
    )
    print()

    data = Data(args.seed)
    results = {}
    for case in cases:
        X, truth = data.get(case)
        init = initial_parameters(truth, case.covariance_type)
        results[case] = bench_iterations(case, X, init, args.iters, args.repeats, args.stat)
        r = results[case]
        print(
            f"  done {case.name}: sklearn {r['ms']['sklearn']:.2f} ms/it, ours {r['ms']['ours']:.2f} ms/it",
            file=sys.stderr,
            flush=True,
        )

    print("## Per EM iteration" if md else "== Per EM iteration ==")
    headers = [
        "case", "sklearn ms/it", "ours ms/it", "sklearn/ours", "GFLOP/it", "bound ms/it",
        "ours/bound", "sklearn/bound", "spread", "sk fixed ms", "ours fixed ms",
        "sk peak MiB", "ours peak MiB", "max rel diff",
    ]  # fmt: skip
    rows = []
    for case, r in results.items():
        flops = case.flops()
        bound = 1e3 * flops / rates[case.dtype]
        rows.append([
            case.name,
            f"{r['ms']['sklearn']:.2f}",
            f"{r['ms']['ours']:.2f}",
            f"{r['ms']['sklearn'] / r['ms']['ours']:.2f}x",
            f"{flops / 1e9:.3f}",
            f"{bound:.2f}",
            f"{r['ms']['ours'] / bound:.1f}x",
            f"{r['ms']['sklearn'] / bound:.1f}x",
            f"{100 * max(r['spread'].values()):.0f}%",
            f"{r['overhead_ms']['sklearn']:.0f}",
            f"{r['overhead_ms']['ours']:.0f}",
            mib(r["mem"]["sklearn"]),
            mib(r["mem"]["ours"]),
            f"{r['diff']:.1e}",
        ])  # fmt: skip
    print_table(headers, rows, md)
    print()
    print(
        f"spread = (max - min) / median of the max_iter={args.iters} fit times over the repeats "
        "(the larger of the two estimators'); 'fixed' = T(max_iter=1); peak MiB = fit with "
        f"max_iter={min(args.iters, 2)}; bound = GFLOP/it at the {{D,S}}GEMM rate above "
        "(a yardstick for full/tied only)."
    )
    print()

    f32_rows = []
    for case, r in results.items():
        if case.dtype != "float32":
            continue
        twin = Case(case.covariance_type, case.n, case.d, case.k, "float64")
        if twin in results:
            f32_rows.append((twin, results[twin], case, r))
    if args.f32:
        print("## float32 vs float64" if md else "== float32 vs float64 ==")
        rows = [
            [
                tw.name.rsplit("-", 1)[0],
                f"{r64['ms']['ours']:.2f}",
                f"{r32['ms']['ours']:.2f}",
                f"{r64['ms']['ours'] / r32['ms']['ours']:.2f}x",
                f"{r64['ms']['sklearn'] / r32['ms']['sklearn']:.2f}x",
            ]
            for tw, r64, c32, r32 in f32_rows
        ]
        print_table(
            ["case", "ours f64 ms/it", "ours f32 ms/it", "ours f64/f32", "sklearn f64/f32"],
            rows,
            md,
        )
        print()

    fits = {}
    if not args.skip_default_fit and cases:
        for case in cases:
            X, _ = data.get(case)
            fits[case] = bench_default_fit(case, X, args.fit_repeats, args.stat)
            print(f"  done default fit {case.name}", file=sys.stderr, flush=True)
        print("## Whole default fit" if md else "== Whole default fit ==")
        print(
            "init_params='kmeans', default tol=1e-3 and max_iter=100, random_state=0 for both; "
            f"wall time of fit(X), {args.stat} of {args.fit_repeats} alternated repeat(s). The two "
            "may stop at different iterations (reported); sklearn's time also holds its final E-step."
        )
        rows = []
        for case, f in fits.items():
            rows.append([
                case.name,
                f"{f['s']['sklearn']:.3f}",
                f"{f['s']['ours']:.3f}",
                f"{f['s']['sklearn'] / f['s']['ours']:.2f}x",
                f"{f['n_iter']['sklearn']}/{f['n_iter']['ours']}",
                f"{int(f['converged']['sklearn'])}/{int(f['converged']['ours'])}",
                f"{f['lower_bound']['ours'] - f['lower_bound']['sklearn']:+.1e}",
            ])  # fmt: skip
        print_table(
            ["case", "sklearn s", "ours s", "sklearn/ours", "n_iter sk/ours", "converged sk/ours",
             "lower bound ours - sk"],
            rows,
            md,
        )  # fmt: skip
        print()

    mem = None
    if run_memory:
        X, truth = data.get(mcase)
        init = initial_parameters(truth, mcase.covariance_type)
        mem = bench_memory(mcase, X, init, args.mem_iters)
        print(f"  done memory case {mcase.name}", file=sys.stderr, flush=True)
        n, d, k = mcase.shape
        x_bytes = X.nbytes
        ref = x_bytes + 2 * n * k * 8
        print("## Peak memory" if md else "== Peak memory ==")
        print(
            f"{mcase.covariance_type} n={n} d={d} k={k} float64, max_iter={args.mem_iters}, tol=0, "
            "same initial parameters. extra = tracemalloc peak during fit minus the traced "
            "memory before it; total = X + extra."
        )
        rows = [["X", mib(x_bytes), "", ""], ["X + 2*n*k*8 bytes", mib(ref), "", ""]]
        for kind in ESTIMATORS:
            m = mem[kind]
            rows.append(
                [f"{kind} fit", mib(m["peak"]), mib(x_bytes + m["peak"]),
                 f"{(x_bytes + m['peak']) / x_bytes:.2f}x X"]
            )  # fmt: skip
        print_table(["", "extra MiB", "total MiB", "total / X"], rows, md)
        print()
        data = None  # release the big array

    # ------------------------------------------------------------------ targets
    print("## Targets" if md else "== Targets ==")
    targets = []

    def find(cov, n, d, k, dtype):
        for c in results:
            if (c.covariance_type, c.n, c.d, c.k, c.dtype) == (cov, n, d, k, dtype):
                return c
        return None

    n200 = 200_000 // (10 if args.quick else 1)
    for cov, need in (("full", 8.0), ("tied", 4.0), ("diag", 2.0), ("spherical", 2.0)):
        c = find(cov, n200, 16, 16, "float64")
        label = f"{cov} float64 {_short(n200)}/16/16: >= {need:g}x faster than sklearn"
        if c is None:
            targets.append((label, None, "not measured"))
        else:
            ratio = results[c]["ms"]["sklearn"] / results[c]["ms"]["ours"]
            targets.append((label, ratio >= need, f"{ratio:.2f}x"))
    c = find("full", n200, 16, 16, "float64")
    label = f"full float64 {_short(n200)}/16/16: within 3x of the DGEMM bound"
    if c is None:
        targets.append((label, None, "not measured"))
    else:
        gap = results[c]["ms"]["ours"] / (1e3 * c.flops() / rates["float64"])
        targets.append((label, gap <= 3.0, f"{gap:.2f}x the bound"))
    for tw, r64, _c32, r32 in f32_rows:
        speedup = r64["ms"]["ours"] / r32["ms"]["ours"]
        headline = (tw.covariance_type, tw.n, tw.d, tw.k) == ("full", n200, 16, 16)
        if headline or args.f32:
            label = f"{tw.name.rsplit('-', 1)[0]}: ours float32 >= 1.6x faster than ours float64"
            targets.append((label, speedup >= 1.6, f"{speedup:.2f}x"))
    if not any("float32 >= 1.6x" in t[0] for t in targets):
        targets.append(
            (f"full {_short(n200)}/16/16: ours float32 >= 1.6x ours float64", None, "not measured")
        )
    if mem is None:
        targets.append(
            (f"memory {_short(mcase.n)}/16/16: peak below sklearn's and below X + 2nk*8", None,
             "not measured")
        )  # fmt: skip
    else:
        n, d, k = mcase.shape
        ours, sk = mem["ours"]["peak"], mem["sklearn"]["peak"]
        targets.append(
            (f"memory {_short(n)}/16/16: ours peak below sklearn's", ours < sk,
             f"{mib(ours)} vs {mib(sk)} MiB extra")
        )  # fmt: skip
        targets.append(
            (f"memory {_short(n)}/16/16: X + ours' extra below X + 2*n*k*8 bytes", ours < 2 * n * k * 8,
             f"extra {mib(ours)} MiB vs 2*n*k*8 = {mib(2 * n * k * 8)} MiB")
        )  # fmt: skip
    if fits:
        slower = [c.name for c, f in fits.items() if f["s"]["ours"] > f["s"]["sklearn"]]
        worst = min(fits.items(), key=lambda cf: cf[1]["s"]["sklearn"] / cf[1]["s"]["ours"])
        w = worst[1]["s"]["sklearn"] / worst[1]["s"]["ours"]
        targets.append(
            ("whole default fit: no slower than sklearn in any case", not slower,
             f"worst {worst[0].name} {w:.2f}x" + (f"; slower in {', '.join(slower)}" if slower else ""))
        )  # fmt: skip
    else:
        targets.append(
            ("whole default fit: no slower than sklearn in any case", None, "not measured")
        )
    rows = [
        [label, {True: "met", False: "NOT met", None: "-"}[ok], value]
        for label, ok, value in targets
    ]
    print_table(["target", "status", "measured"], rows, md)
    if args.quick:
        print("\n(--quick: n is 10x smaller than the targets are defined for; indicative only.)")

    load_end = load_average()
    rates_end = {dt: gemm_rate(np.dtype(dt), size=gemm_size) for dt in ("float64", "float32")}
    print()
    print(
        f"Quietness: GEMM rate at the end DGEMM {rates_end['float64'] / 1e9:.1f}, SGEMM "
        f"{rates_end['float32'] / 1e9:.1f} GFLOP/s (start {rates['float64'] / 1e9:.1f}, "
        f"{rates['float32'] / 1e9:.1f}); 1-min load average at start {_fmt(load_start)}, at end "
        f"{_fmt(load_end)} on {usable_cores()} cores (this process itself adds up to its thread count)."
    )
    drift = max(abs(rates_end[dt] / rates[dt] - 1) for dt in rates)
    if drift > 0.15 or (load_start or 0) > 0.5 * usable_cores():
        print(
            "WARNING: the machine was not quiet (GEMM rate changed by "
            f"{100 * drift:.0f}% or other load was present): treat absolute numbers with care; "
            "the ratios are measured side by side and suffer less."
        )


if __name__ == "__main__":
    main()
