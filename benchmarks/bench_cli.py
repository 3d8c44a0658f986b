"""The ``sklearn-em`` command's reading of a table and its start-up, before and after.

Reads a 200,000-row CSV (an ID column and three numeric columns) with the reader of a
given git revision of ``sklearn_em/_cli.py`` (default: the last one with the hand-written
parser, found by ``git log -S``) and with today's, alternately in one process, and
times ``sklearn-em --help`` and ``--version`` as fresh processes. Run by hand from the
repository root::

    python benchmarks/bench_cli.py [--rows 200000] [--repeats 5] [--before REV]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types

import numpy as np


def write_csv(path, n, seed=0):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(0, 1, (n // 2, 3)), rng.normal(5, 1, (n - n // 2, 3))])
    with open(path, "w") as f:
        f.write("patient_id,a,b,c\n")
        for i, row in enumerate(X.tolist()):
            f.write(f"{1001 + i},{row[0]!r},{row[1]!r},{row[2]!r}\n")
    return X


def old_reader(rev):
    """The parse_table function of sklearn_em/_cli.py at git revision ``rev``."""
    source = subprocess.run(
        ["git", "show", f"{rev}:sklearn_em/_cli.py"], capture_output=True, text=True, check=True
    ).stdout
    # only the reading half of the old module: it needs nothing from the package
    source = source[
        : source.index(
            "# ---------------------------------------------------------------------- arguments"
        )
    ]
    source = source.replace(
        "from ._selection import COVARIANCE_TYPES, CRITERIA, GaussianMixtureSelector", ""
    )
    module = types.ModuleType("old_cli")
    exec(compile(source, f"{rev}:_cli.py", "exec"), module.__dict__)

    def read(path):
        with open(path, encoding="utf-8-sig", newline="") as f:
            return module.parse_table(f.read(), source=path).values

    return read


def new_reader(path):
    from sklearn_em._table import read_table

    with open(path, "rb") as f:
        return read_table(f.read(), path, columns="2,3,4").values


def start_up(argv, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sklearn_em", *argv], capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return times


def describe(times):
    med = statistics.median(times)
    return f"median {med:.3f} s (min {min(times):.3f}, max {max(times):.3f})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--before",
        help="git revision of the old reader (default: the last "
        "one with the hand-written parse_table)",
    )
    args = parser.parse_args()
    if args.before is None:
        removed = subprocess.run(
            [
                "git",
                "log",
                "-1",
                "--format=%h",
                "-S",
                "def parse_table(",
                "--",
                "sklearn_em/_cli.py",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        args.before = f"{removed}~1"
    old = old_reader(args.before)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "data.csv")
        X = write_csv(path, args.rows)
        size = os.path.getsize(path) / 2**20
        print(f"{args.rows} rows x 4 columns, {size:.1f} MiB; {args.repeats} alternated repeats")
        t_old, t_new = [], []
        for _ in range(args.repeats):
            for read, times in ((old, t_old), (new_reader, t_new)):
                start = time.perf_counter()
                values = read(path)
                times.append(time.perf_counter() - start)
                assert np.array_equal(values[:, -3:], X), "the readers disagree"
        ratios = [a / b for a, b in zip(t_old, t_new)]
        print(f"read, before ({args.before}): {describe(t_old)}")
        print(f"read, now:                   {describe(t_new)}")
        print(
            f"before / now: median {statistics.median(ratios):.1f}x "
            f"(min {min(ratios):.1f}x, max {max(ratios):.1f}x)"
        )
    for argv in (["--help"], ["--version"]):
        print(f"sklearn-em {argv[0]}: {describe(start_up(argv, args.repeats))}")
    print(f"python -c pass: {describe([_bare(sys.executable) for _ in range(args.repeats)])}")


def _bare(python):
    start = time.perf_counter()
    subprocess.run([python, "-c", "pass"], check=True)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
