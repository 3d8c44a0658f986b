"""A chunk's two products, whole against cut into pieces of the rows (justifies
``sklearn_em._covariance.SMALL_PRODUCT``).

OpenBLAS (the BLAS of NumPy's wheels) has dedicated kernels for products of at most 1e6
multiply-adds on AVX-512 machines. The E-step's product ``C @ FT`` (k x q by q x m) and the
M-step's moments ``FT @ R.T`` (q x m by m x k) run over a chunk's m rows; this script times
each whole and as ``_covariance.columns_product`` / ``rows_product`` cut it, for the feature
counts of the full, diag and spherical kernels at several d and k, on one BLAS thread.

    python benchmarks/product_pieces.py
    python benchmarks/product_pieces.py --markdown

Run by hand, never by pytest.
"""

import argparse
import statistics
import time

import numpy as np
from _common import load_average, machine_description, print_table
from threadpoolctl import threadpool_limits

from sklearn_em._covariance import _row_pieces, columns_product, rows_product

# (kernel, d, k, m): m as the in-memory kernel's chunks or a small table's prepared rows
SHAPES = (
    ("full", 4, 5, 9083),
    ("full", 4, 9, 9083),
    ("full", 8, 5, 12800),
    ("full", 8, 9, 12800),
    ("full", 16, 5, 8000),
    ("diag", 8, 9, 30000),
    ("diag", 16, 16, 10000),
    ("spherical", 4, 5, 30000),
)
FEATURES = {
    "full": lambda d: d * (d + 1) // 2 + d,
    "diag": lambda d: 2 * d,
    "spherical": lambda d: d + 1,
}


def _time(fn, repeats, number):
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - start) / number)
    return runs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    print(machine_description())
    print(f"load average before: {load_average()}")
    rng = np.random.default_rng(0)
    rows = []
    with threadpool_limits(limits=1, user_api="blas"):
        for dtype in (np.float64, np.float32):
            for kernel, d, k, m in SHAPES:
                q = FEATURES[kernel](d)
                FT = rng.standard_normal((q, m)).astype(dtype)
                R = rng.random((k, m)).astype(dtype)
                C = rng.standard_normal((k, q)).astype(dtype)
                out = np.empty((k, m), dtype)
                bounds = _row_pieces(q * k, m)
                number = max(5, int(2e7 // (q * k * m)))
                timings = {
                    "E whole": _time(lambda: np.matmul(C, FT, out=out), args.repeats, number),
                    "E pieces": _time(lambda: columns_product(C, FT, out), args.repeats, number),
                    "M whole": _time(lambda: FT @ R.T, args.repeats, number),
                    "M pieces": _time(lambda: rows_product(FT, R), args.repeats, number),
                }
                med = {name: statistics.median(t) for name, t in timings.items()}

                def spread(name, timings=timings, med=med):
                    return (max(timings[name]) - min(timings[name])) / med[name]

                rows.append(
                    [
                        np.dtype(dtype).name,
                        f"{kernel} d={d} k={k}",
                        str(m),
                        str(1 if bounds is None else len(bounds) - 1),
                        f"{med['E whole'] * 1e6:.0f}",
                        f"{med['E pieces'] * 1e6:.0f}",
                        f"{med['E whole'] / med['E pieces']:.2f}x",
                        f"{med['M whole'] * 1e6:.0f}",
                        f"{med['M pieces'] * 1e6:.0f}",
                        f"{med['M whole'] / med['M pieces']:.2f}x",
                        f"{100 * max(spread(n) for n in timings):.0f}%",
                    ]
                )
    print_table(
        [
            "dtype",
            "shape",
            "rows m",
            "pieces",
            "E whole us",
            "E pieces us",
            "E gain",
            "M whole us",
            "M pieces us",
            "M gain",
            "spread",
        ],
        rows,
        markdown=args.markdown,
    )
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
