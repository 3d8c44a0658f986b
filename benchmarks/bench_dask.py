"""Out-of-core benchmark: a dask fit of data larger than the workers' memory, on a
distributed.LocalCluster, against the in-memory kernel in the same process.

The data are a Gaussian mixture generated block by block from the block's index (nothing is
stored: every pass generates its blocks again, as it would read them again from disk). By
default 20M x 8 float64 rows (1.28 GB) on two worker processes of one thread each, limited
to 400 MB of memory each.

Printed, per repeat and as medians (with min-max):

* s/pass (dask): ``(T(max_iter=N) - T(max_iter=1)) / (N - 1)`` of dask fits from the same
  given initial parameters (``tol=0``), i.e. one EM pass without the setup;
* s/pass (generate only): a pass that only generates the blocks and sums them
  (``X.sum().compute()``): what producing the data costs, which an in-memory fit does not pay.
  Both graphs are alike: dask fuses each block's generation with its sum, as with its EM
  statistics (one task per block, then a small tree);
* s/pass (in memory): the same per-iteration time of the in-memory estimator on
  ``--memory-rows`` materialised rows (with the machine's BLAS threads: two here, as the
  dask side's two one-thread workers), scaled to all rows;
* ratios: dask / in memory, and (dask - generate only) / in memory, the work rate of the
  EM pass itself;
* each in wall time and in CPU time (summed over this process, the scheduler and the workers,
  each process once): on a shared machine the wall times move with the other load, the CPU
  times much less;
* memory: each worker's resident set when idle (its imports), its peak (Linux's ``VmHWM``,
  reset before each measurement) during the dask fits and during the generate-only passes,
  against its limit; what the workers spilled to disk and how often dask paused them (at
  80% of the limit); this (client) process's resident set before and at its peak during the
  dask fits. (Not ``ru_maxrss``: a spawned worker's also counts the resident set its parent,
  this process, had when it started the worker.)

Measurements alternate (in memory, dask, generate only) per repeat, so that drift of a
shared machine hits all of them alike. Run by hand, never by pytest:

    python benchmarks/bench_dask.py                 # 20M x 8, k=8 full, 3 repeats
    python benchmarks/bench_dask.py --rows 4000000  # smaller: not out of core
"""

import argparse
import os
import statistics
import sys
import time
import warnings

import dask.array as da  # noqa: E402
import numpy as np
import psutil
from _common import initial_parameters, load_average, machine_description, make_mixture
from distributed import Client, LocalCluster  # noqa: E402
from sklearn.exceptions import ConvergenceWarning

from sklearn_em import GaussianMixtureEM  # noqa: E402


def mixture_block(block_index, rows, truth, seed):
    """Rows of the mixture ``truth``, drawn from a generator seeded by the block's index.

    Made in place (standard normal rows, then each component's rows transformed): beyond
    the block itself, only the largest component's rows are a temporary.
    """
    weights, means, covs = truth
    rng = np.random.default_rng([seed, block_index])
    counts = rng.multinomial(rows, weights)
    X = rng.standard_normal((rows, means.shape[1]))
    start = 0
    for j, c in enumerate(counts):
        Xj = X[start : start + c]
        Xj[...] = Xj @ np.linalg.cholesky(covs[j]).T
        Xj += means[j]
        start += c
    return X


def lazy_block(truth, seed, block_info=None):
    """``mixture_block`` for the block dask asks for."""
    info = block_info[None]
    return mixture_block(info["chunk-location"][0], info["chunk-shape"][0], truth, seed)


def reset_peak():
    """Start a new peak of this process's resident set (Linux: ``clear_refs`` 5)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_rss():
    """This process's peak resident set in bytes since ``reset_peak`` or its start (Linux's
    ``VmHWM``; not ``ru_maxrss``, which in a spawned worker also counts its parent's resident
    set when it was forked)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB


def rss():
    """This process's resident set in bytes."""
    return psutil.Process().memory_info().rss


def worker_memory_events(dask_worker):
    """Bytes this worker spilled to disk so far, and how often it paused."""
    metrics = getattr(dask_worker.data, "cumulative_metrics", {})
    spilled = metrics.get(("disk-write", "bytes"), 0)
    pauses = sum("Pausing worker" in msg for _, msg in dask_worker.get_logs())
    return spilled, pauses


class Peaks:
    """Peak resident sets of this process and of each worker while the context is open."""

    def __init__(self, client):
        self.client = client

    def __enter__(self):
        reset_peak()
        self.client.run(reset_peak)
        self.before = rss()
        return self

    def __exit__(self, *exc):
        self.peak = peak_rss()
        self.worker_peaks = list(self.client.run(peak_rss).values())


def cpu_clock(client):
    """A function: CPU seconds used so far by this process, the scheduler and the workers
    (each process once: a LocalCluster's scheduler runs in this process)."""
    scheduler_apart = client.run_on_scheduler(os.getpid) != os.getpid()

    def cpu():
        workers = sum(client.run(time.process_time).values())
        scheduler = client.run_on_scheduler(time.process_time) if scheduler_apart else 0.0
        return time.process_time() + scheduler + workers

    return cpu


def per_pass(fit, iters, cpu=time.process_time):
    """Wall and CPU seconds of one pass: ``(T(iters) - T(1)) / (iters - 1)`` of
    ``fit(max_iter)``, for both clocks."""
    marks = []
    for max_iter in (None, 1, iters):
        if max_iter is not None:
            fit(max_iter)
        marks.append((time.perf_counter(), cpu()))
    (w0, c0), (w1, c1), (w2, c2) = marks
    return ((w2 - w1) - (w1 - w0)) / (iters - 1), ((c2 - c1) - (c1 - c0)) / (iters - 1)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=20_000_000)
    p.add_argument("--features", type=int, default=8)
    p.add_argument("--components", type=int, default=8)
    p.add_argument("--covariance-type", default="full")
    p.add_argument("--block-rows", type=int, default=250_000)
    p.add_argument("--memory-rows", type=int, default=2_000_000)
    p.add_argument("--memory-limit", default="400MB", help="per worker")
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    n, d, k = args.rows, args.features, args.components
    ctype = args.covariance_type

    _, truth = make_mixture(10, d, k, seed=0)  # the parameters only
    init = initial_parameters(truth, ctype)
    chunks = (args.block_rows,) * (n // args.block_rows)
    chunks += (n % args.block_rows,) if n % args.block_rows else ()
    X = da.map_blocks(lazy_block, truth, 1, chunks=(chunks, (d,)), dtype=np.float64)
    X_mem = np.concatenate(
        [
            mixture_block(i, args.block_rows, truth, 2)
            for i in range(-(-args.memory_rows // args.block_rows))
        ]
    )[: args.memory_rows]

    def fit(data, max_iter):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return GaussianMixtureEM(
                k, covariance_type=ctype, tol=0, max_iter=max_iter, **init
            ).fit(data)

    print(machine_description())
    print(
        f"data: {n:,} x {d} float64 = {X.nbytes / 1e9:.2f} GB in {len(chunks)} blocks of "
        f"{args.block_rows:,} rows ({args.block_rows * d * 8 / 2**20:.0f} MiB); k={k} {ctype}; "
        f"2 workers x 1 thread, memory limit {args.memory_limit} each"
    )
    rows = []
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            memory_limit=args.memory_limit,
            dashboard_address=None,
            silence_logs=40,
        ) as cluster,
        Client(cluster) as client,
    ):
        limit = next(iter(client.scheduler_info()["workers"].values()))["memory_limit"]
        assert X.nbytes > 2 * limit or n < 20_000_000, "not out of core"
        workers = set(client.scheduler_info()["workers"])
        idle = list(client.run(rss).values())
        cpu = cpu_clock(client)
        client_peaks, worker_peaks, generate_peaks = [], [], []
        for r in range(args.repeats):
            load = load_average()
            scale = n / args.memory_rows
            mem, mem_cpu = (t * scale for t in per_pass(lambda m: fit(X_mem, m), args.iters))
            with Peaks(client) as peaks:
                dsk, dsk_cpu = per_pass(lambda m: fit(X, m), args.iters, cpu)
            client_peaks.append((peaks.before, peaks.peak))
            worker_peaks.append(max(peaks.worker_peaks))
            w0, c0 = time.perf_counter(), cpu()
            with Peaks(client) as peaks:
                X.sum().compute()
            gen, gen_cpu = time.perf_counter() - w0, cpu() - c0
            generate_peaks.append(max(peaks.worker_peaks))
            rows.append((mem, dsk, gen, mem_cpu, dsk_cpu, gen_cpu))
            print(
                f"repeat {r} (load {load}): wall s/pass dask {dsk:.2f}, generate only {gen:.2f}, "
                f"in memory {mem:.2f} (scaled from {args.memory_rows:,} rows); CPU s/pass dask "
                f"{dsk_cpu:.2f}, generate only {gen_cpu:.2f}, in memory {mem_cpu:.2f}",
                flush=True,
            )
        events = list(client.run(worker_memory_events).values())
        restarted = workers != set(client.scheduler_info()["workers"])

    def summary(values, fmt="{:.2f}"):
        median, low, high = (fmt.format(f(values)) for f in (statistics.median, min, max))
        return f"{median} ({low}-{high})"

    print(f"seconds per pass, median (min-max) over {args.repeats} repeats:")
    print("                          wall              CPU (all processes)")
    for name, i in [("dask", 1), ("generate only", 2), ("in memory (scaled)", 0)]:
        wall, cpu = summary([r[i] for r in rows]), summary([r[i + 3] for r in rows])
        print(f"  {name:22s}  {wall:16s}  {cpu}")
    for name, f in [
        ("dask / in memory", lambda a, b, c: b / a),
        ("(dask - gen) / in mem", lambda a, b, c: (b - c) / a),
    ]:
        print(
            f"  {name:22s}  {summary([f(*r[:3]) for r in rows]):16s}  "
            f"{summary([f(*r[3:]) for r in rows])}"
        )
    mib = lambda values: ", ".join(f"{v / 2**20:.0f}" for v in values)  # noqa: E731
    print(
        f"worker memory limit {limit / 2**20:.0f} MiB; resident set of each idle worker (MiB): "
        f"{mib(idle)}; largest peak resident set of a worker (MiB, VmHWM) during the dask "
        f"fits: {mib(worker_peaks)}; during the generate-only passes: {mib(generate_peaks)}"
        + ("; a worker was restarted" if restarted else "; no worker restarted")
    )
    print(
        "spilled to disk (MiB) and pauses, per worker: "
        + ", ".join(f"{s / 2**20:.0f} and {p}" for s, p in events)
    )
    print(
        "client resident set during the dask fits (MiB), before -> peak: "
        + ", ".join(f"{b / 2**20:.0f} -> {p / 2**20:.0f}" for b, p in client_peaks)
        + f" (the in-memory comparison array alone is {X_mem.nbytes / 2**20:.0f} MiB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
