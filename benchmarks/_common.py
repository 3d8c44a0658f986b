"""Shared pieces of the benchmarks: data, initial parameters, timing, machine description.

Run by hand (``python benchmarks/bench_em.py``), never by pytest.
"""

import datetime
import gc
import os
import platform
import time

import numpy as np


def make_mixture(n, d, k, seed=0):
    """Synthetic Gaussian mixture data and the parameters that generated it.

    Means are spread so that two components are about 6 standard deviations apart on
    average (clusters overlap a little, responsibilities are not all 0/1); each covariance
    is a random SPD matrix with eigenvalues roughly in [0.5, 4].

    Returns ``X`` (n, d) float64, shuffled, and ``(weights, means, covariances)``.
    """
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(k, 5.0))
    means = rng.standard_normal((k, d)) * (6.0 / np.sqrt(2.0 * d))
    covs = np.empty((k, d, d))
    for j in range(k):
        A = rng.standard_normal((d, d)) / np.sqrt(d)
        covs[j] = A @ A.T + 0.5 * np.eye(d)
    counts = rng.multinomial(n, weights)
    X = np.empty((n, d))
    start = 0
    for j, c in enumerate(counts):
        L = np.linalg.cholesky(covs[j])
        X[start : start + c] = means[j] + rng.standard_normal((c, d)) @ L.T
        start += c
    rng.shuffle(X)  # rows, in place
    return X, (weights, means, covs)


def initial_parameters(truth, covariance_type):
    """``weights_init``, ``means_init``, ``precisions_init`` (float64) from the generating
    parameters, shaped for ``covariance_type``; both estimators get the same arrays."""
    weights, means, covs = truth
    if covariance_type == "full":
        prec = np.linalg.inv(covs)
        prec = 0.5 * (prec + prec.transpose(0, 2, 1))
    elif covariance_type == "tied":
        prec = np.linalg.inv(np.einsum("k,kij->ij", weights, covs))
        prec = 0.5 * (prec + prec.T)
    elif covariance_type == "diag":
        prec = 1.0 / np.diagonal(covs, axis1=1, axis2=2)
    elif covariance_type == "spherical":
        prec = 1.0 / np.diagonal(covs, axis1=1, axis2=2).mean(axis=1)
    else:
        raise ValueError(covariance_type)
    return {
        "weights_init": weights.copy(),
        "means_init": means.copy(),
        "precisions_init": np.ascontiguousarray(prec),
    }


def timed(fn):
    """Wall time of ``fn()`` in seconds (after a garbage collection), and its result."""
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def gemm_rate(dtype, size=3072, repeats=3):
    """Best observed flop rate (flop/s) of ``A @ B`` on ``size`` x ``size`` matrices of
    ``dtype`` with NumPy's BLAS (DGEMM for float64, SGEMM for float32), all threads."""
    rng = np.random.default_rng(1)
    A = rng.standard_normal((size, size)).astype(dtype)
    B = rng.standard_normal((size, size)).astype(dtype)
    C = np.empty((size, size), dtype=dtype)
    np.matmul(A, B, out=C)  # warm up threads and pages
    best = min(timed(lambda: np.matmul(A, B, out=C))[0] for _ in range(repeats))
    return 2.0 * size**3 / best


def load_average():
    """The 1-minute load average, or None where the OS does not report it."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_description():
    """One line: CPU, cores, library versions, BLAS, date (UTC)."""
    import scipy
    import sklearn
    import threadpoolctl

    import sklearn_em

    blas = []
    for info in threadpoolctl.threadpool_info():
        if info.get("user_api") == "blas":
            desc = (
                f"{info.get('internal_api')} {info.get('version')} "
                f"({info.get('architecture', '?')}, {info.get('num_threads')} threads)"
            )
            if desc not in blas:
                blas.append(desc)
    cores = usable_cores()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{cpu_model()}, {cores} cores usable; Python {platform.python_version()}, "
        f"numpy {np.__version__}, scipy {scipy.__version__}, scikit-learn {sklearn.__version__}, "
        f"sklearn-em {sklearn_em.__version__}; BLAS: {'; '.join(blas) or 'unknown'}; {now}"
    )


def print_table(headers, rows, markdown=False):
    """Print rows (lists of strings) as an aligned text table or a Markdown table."""
    if markdown:
        print("| " + " | ".join(headers) + " |")
        print("|" + "|".join("---" for _ in headers) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]

    def line(cells):
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    print(line(headers))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))
