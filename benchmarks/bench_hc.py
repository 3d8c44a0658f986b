"""Time of the model-based hierarchical clustering tree (init_params='hc').

scikit-learn has no model-based hierarchical clustering; its Ward agglomeration
(``AgglomerativeClustering(linkage='ward')``, compiled, the full tree) on the same rows is
timed alongside as a familiar yardstick, in the same process, alternating the two.

    python benchmarks/bench_hc.py            # n = 500, 2000; d = 2, 4, 8; 5 repeats
    python benchmarks/bench_hc.py --repeats 3 --threads 2

Run by hand, never by pytest. Wall and CPU (process) time are both reported: on a busy
machine the wall time includes waiting for a core, so CPU time is the number to compare.
BLAS is limited to ``--threads`` threads (default 1): the tree's BLAS calls are tiny, and
more threads would only add CPU time spent spinning.
"""

import argparse
import gc
import statistics
import time

from _common import load_average, machine_description, make_mixture, print_table, timed
from sklearn.cluster import AgglomerativeClustering
from threadpoolctl import threadpool_limits

from sklearn_em._hc import hc_tree


def _cpu_and_wall(fn):
    # garbage collected before both clocks start (a collection is not the tree's time)
    gc.collect()
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - c0, time.perf_counter() - w0


def _spread(values):
    return f"{statistics.median(values):.3f} [{min(values):.3f}-{max(values):.3f}]"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (threadpoolctl)")
    args = parser.parse_args()

    print(machine_description())
    print(f"BLAS threads: {args.threads}")
    print(f"load average before: {load_average()}")
    with threadpool_limits(args.threads):
        rows = _measure(args.repeats)
    print(f"load average after: {load_average()}")
    print_table(
        ["n", "d", "hc_tree wall s, median [min-max]", "hc_tree CPU s", "Ward wall s", "hc/Ward"],
        rows,
        markdown=args.markdown,
    )


def _measure(repeats):
    rows = []
    for n in (500, 2000):
        for d in (2, 4, 8):
            X, _ = make_mixture(n, d, 5, seed=0)
            ward = AgglomerativeClustering(n_clusters=1, linkage="ward", compute_full_tree=True)
            ours_cpu, ours_wall, ward_wall = [], [], []
            for _ in range(repeats):
                cpu, wall = _cpu_and_wall(lambda: hc_tree(X))
                ours_cpu.append(cpu)
                ours_wall.append(wall)
                ward_wall.append(timed(lambda: ward.fit(X))[0])
            ratio = [o / w for o, w in zip(ours_wall, ward_wall)]
            rows.append(
                [
                    str(n),
                    str(d),
                    _spread(ours_wall),
                    _spread(ours_cpu),
                    _spread(ward_wall),
                    f"{statistics.median(ratio):.1f}",
                ]
            )
    return rows


if __name__ == "__main__":
    main()
