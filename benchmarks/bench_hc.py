"""Time of the model-based hierarchical clustering tree (init_params='hc').

scikit-learn has no model-based hierarchical clustering; its Ward agglomeration
(``AgglomerativeClustering(linkage='ward')``, compiled, the full tree) on the same rows is
timed alongside as a familiar yardstick, in the same process, alternating the two.

    python benchmarks/bench_hc.py            # n = 500, 2000; d = 2, 4, 8; 5 repeats
    python benchmarks/bench_hc.py --repeats 3

Run by hand, never by pytest. Wall and CPU (process) time are both reported: on a busy
machine the wall time includes waiting for a core.
"""

import argparse
import statistics
import time

from _common import load_average, machine_description, make_mixture, print_table, timed
from sklearn.cluster import AgglomerativeClustering

from sklearn_em._hc import hc_tree


def _cpu_and_wall(fn):
    c0 = time.process_time()
    wall, _ = timed(fn)
    return time.process_time() - c0, wall


def _spread(values):
    return f"{statistics.median(values):.3f} [{min(values):.3f}-{max(values):.3f}]"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()

    print(machine_description())
    print(f"load average before: {load_average()}")
    rows = []
    for n in (500, 2000):
        for d in (2, 4, 8):
            X, _ = make_mixture(n, d, 5, seed=0)
            ward = AgglomerativeClustering(n_clusters=1, linkage="ward", compute_full_tree=True)
            ours_cpu, ours_wall, ward_wall = [], [], []
            for _ in range(args.repeats):
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
    print(f"load average after: {load_average()}")
    print_table(
        ["n", "d", "hc_tree wall s, median [min-max]", "hc_tree CPU s", "Ward wall s", "hc/Ward"],
        rows,
        markdown=args.markdown,
    )


if __name__ == "__main__":
    main()
