"""The ``sklearn-em`` command line: choose and fit a Gaussian mixture for a CSV/TSV file.

Only the standard library and NumPy read the data, so the command needs nothing beyond
the package's own dependencies (matplotlib only for ``--plot``).
"""

import argparse
import csv
import json
import math
import os
import sys
import warnings
from importlib import resources
from time import perf_counter

import numpy as np
from threadpoolctl import threadpool_limits

from ._models import get_model
from ._models import COVARIANCE_NAMES
from ._selection import COVARIANCE_TYPES, CRITERIA, GaussianMixtureSelector

PROG = "sklearn-em"
BUILTIN = "Old Faithful geyser eruptions (built-in sample data)"
# cells read as "no value"; a mixture cannot use rows with holes in them
MISSING = frozenset({"", "na", "nan", "n/a", "null", "none", "?"})
EXIT_BAD_INPUT = 2


class InputError(Exception):
    """Bad input or arguments: reported as one line on stderr, exit status 2."""


# ---------------------------------------------------------------------- reading data
class Table:
    """Numeric columns of a delimited text file."""

    def __init__(self, values, columns, dropped, source):
        self.values = values
        self.columns = columns
        self.dropped = dropped
        self.source = source


def read_table(path):
    """Read FILE (or the built-in Old Faithful data when ``path`` is None, stdin for '-').

    Raises
    ------
    InputError
        With a one-line explanation of what is wrong with the file.
    """
    if path is None:
        text = resources.files("sklearn_em").joinpath("data", "old_faithful.csv").read_text("utf-8")
        return parse_table(text, source=BUILTIN)
    if path == "-":
        return parse_table(sys.stdin.read(), source="standard input")
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a data file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file (expected CSV or TSV)") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    tab = path.lower().endswith((".tsv", ".tab"))
    return parse_table(text, source=path, delimiter="\t" if tab else None)


def _number(text):
    try:
        return float(text)
    except ValueError:
        return None


def parse_table(text, source="input", delimiter=None):
    """Parse CSV/TSV text into its numeric columns.

    The delimiter (tab, comma or semicolon) is the most frequent of them on the first
    line. The first row is a header when it holds text above a column of numbers, or
    only text. Columns of text are left out (and listed in ``Table.dropped``); a column
    mixing numbers and text, a missing cell, or an infinite value is an error.
    """
    text = text.lstrip("\ufeff")
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    lines = [(n, line) for n, line in lines if not line.lstrip().startswith("#")]
    if not lines:
        raise InputError(f"{source}: the file is empty")
    if delimiter is None:
        first = lines[0][1]
        counts = {d: first.count(d) for d in ("\t", ",", ";")}
        delimiter = max(counts, key=counts.get) if max(counts.values()) else ","
    reader = csv.reader([line for _, line in lines], delimiter=delimiter)
    rows = [[field.strip() for field in row] for row in reader]
    linenos = [n for n, _ in lines]
    width = len(rows[0])
    for n, row in zip(linenos, rows):
        if len(row) != width:
            raise InputError(
                f"{source}: line {n} has {len(row)} fields, but the first line has {width}"
            )

    def is_missing(s):
        return s.lower() in MISSING

    numeric_below = [
        all(is_missing(r[j]) or _number(r[j]) is not None for r in rows[1:]) and len(rows) > 1
        for j in range(width)
    ]
    first_is_text = [not is_missing(s) and _number(s) is None for s in rows[0]]
    text_above_numbers = any(t and below for t, below in zip(first_is_text, numeric_below))
    header = text_above_numbers or all(first_is_text)
    if header:
        columns = [name or f"x{j + 1}" for j, name in enumerate(rows[0])]
        rows, linenos = rows[1:], linenos[1:]
    else:
        columns = [f"x{j + 1}" for j in range(width)]
    if not rows:
        raise InputError(f"{source}: has a header line but no data rows")

    keep, dropped = [], []
    for j, name in enumerate(columns):
        present = [(n, r[j]) for n, r in zip(linenos, rows) if not is_missing(r[j])]
        numbers = [_number(s) is not None for _, s in present]
        if present and not any(numbers):
            dropped.append(name)
        elif not all(numbers):
            n, bad = next((n, s) for (n, s), ok in zip(present, numbers) if not ok)
            raise InputError(
                f"{source}: column '{name}' mixes numbers and text (line {n}: '{bad}')"
            )
        else:
            keep.append(j)
    if not keep:
        raise InputError(
            f"{source}: no numeric columns (non-numeric columns: {', '.join(dropped)})"
            if dropped
            else f"{source}: no numeric data"
        )
    missing = [(n, columns[j]) for n, r in zip(linenos, rows) for j in keep if is_missing(r[j])]
    if missing:
        n, name = missing[0]
        more = f" ({len(missing)} missing cells in all)" if len(missing) > 1 else ""
        raise InputError(
            f"{source}: missing value at line {n}, column '{name}'{more}; "
            "remove or fill incomplete rows first"
        )
    values = np.array([[float(r[j]) for j in keep] for r in rows], dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise InputError(
            f"{source}: infinite value at line {linenos[i]}, column '{columns[keep[j]]}'"
        )
    return Table(values, [columns[j] for j in keep], dropped, source)


# ---------------------------------------------------------------------- arguments
def _components(text):
    """'1-9', '2,4,6', '3' or a mix such as '1-3,8' -> sorted unique ints >= 1."""
    out = set()
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                lo, hi = (int(p) for p in part.split("-", 1))
                if lo > hi:
                    raise ValueError
                out.update(range(lo, hi + 1))
            else:
                out.add(int(part))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a list of numbers of components (e.g. 1-9, or 2,3,5)"
        ) from None
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError("numbers of components must be at least 1")
    return sorted(out)


def _covariances(text):
    names = [t.strip() for t in text.split(",") if t.strip()]
    lowered = [t.lower() for t in names]
    if lowered in (["all"], ["sklearn"]):
        return lowered[0]
    # scikit-learn's names in lower case, mclust's in upper case, whatever was typed
    names = [t.lower() if t.lower() in COVARIANCE_TYPES else t.upper() for t in names]
    unknown = [t for t in names if t not in COVARIANCE_NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown covariance type(s) {', '.join(unknown) or text!r}; choose all (mclust's "
            f"14 models), sklearn ({','.join(COVARIANCE_TYPES)}), or a list of "
            f"{','.join(COVARIANCE_NAMES)}"
        )
    return list(dict.fromkeys(names))


def build_parser():
    from . import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Fit Gaussian mixtures by EM and choose the number of components and the "
            "covariance type by BIC, AIC or ICL. Without a command, runs 'fit' on the "
            "built-in Old Faithful data."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    fit = sub.add_parser(
        "fit",
        help="fit a grid of mixtures to a CSV/TSV file and report the best",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Fit a Gaussian mixture for every number of components and covariance type,\n"
            "print the criterion table and the chosen model. FILE is CSV or TSV (delimiter\n"
            "and header detected; text columns are left out). Without FILE, the built-in\n"
            "Old Faithful geyser data is used; '-' reads standard input."
        ),
        epilog=(
            "examples:\n"
            "  sklearn-em fit                      # the Old Faithful sample data\n"
            "  sklearn-em fit data.csv --components 1-5 --covariance full,diag\n"
            "  sklearn-em fit data.tsv --criterion icl --out labels.csv --plot fig.png\n"
            "\n"
            "--plot needs matplotlib: pip install sklearn-em[plot]\n"
            "exit status: 0 success, 2 bad input or arguments"
        ),
    )
    fit.add_argument("file", nargs="?", metavar="FILE",
                     help="CSV or TSV file (default: Old Faithful)")
    fit.add_argument(
        "--components", type=_components, default=list(range(1, 10)), metavar="K",
        help="numbers of components to try, e.g. 1-9 (default), 2,3,5 or 1-3,8",
    )
    fit.add_argument(
        "--covariance", type=_covariances, default="all", metavar="TYPES",
        help="covariance models to try: all (mclust's 14, EII..VVV; only the spherical and "
        "diagonal ones when there are no more rows than columns), sklearn (full,tied,diag,"
        "spherical), or a comma-separated list of names (default: all)",
    )
    fit.add_argument(
        "--criterion", choices=CRITERIA, default="bic",
        help="criterion to minimise (default: bic)",
    )
    fit.add_argument("--n-init", type=_positive_int, default=1, metavar="N",
                     help="EM initialisations per model (default: 1)")
    fit.add_argument("--prior-strength", type=float, default=None, metavar="S",
                     help="fit the posterior mode under mclust's default conjugate prior, "
                          "weighted by S (1 = mclust's prior); avoids degenerate components "
                          "(default: maximum likelihood)")
    fit.add_argument("--seed", type=int, default=0, metavar="S",
                     help="random seed, for reproducible results (default: 0)")
    fit.add_argument("--n-jobs", type=int, default=1, metavar="J",
                     help="models fitted in parallel processes; -1 = all processors (default: 1)")
    fit.add_argument("--out", metavar="LABELS.csv",
                     help="write each row's label and component probabilities to this CSV file")
    fit.add_argument("--plot", metavar="FIG.png",
                     help="write the criterion and classification plots to this PNG file")
    fit.add_argument("--json", action="store_true",
                     help="print the results as one JSON object instead of text")
    fit.add_argument("--quiet", action="store_true", help="no progress display on stderr")
    return parser


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'")
    return value


# ---------------------------------------------------------------------- reporting
def _num(value):
    """About four significant digits, without exponents for everyday magnitudes."""
    if not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-3 or magnitude >= 1e9):
        return f"{value:.3e}"
    decimals = 3 if magnitude < 1 else max(0, 3 - int(math.floor(math.log10(magnitude))))
    return f"{value:.{decimals}f}"


def _std_devs(est):
    """Per-component standard deviation of each feature, shape (k, d)."""
    k, d = est.means_.shape
    cov = get_model(est.covariance_type).kernel_type.expand(est.covariances_, k, d)
    return np.sqrt(np.diagonal(cov, axis1=1, axis2=2))


def summarise(selector, table):
    """The chosen model as plain Python values (the 'best' entry of --json)."""
    est = selector.best_estimator_
    i = selector.best_index_
    res = selector.results_
    labels = est.predict(table.values)
    sizes = np.bincount(labels, minlength=est.n_components)
    return {
        "covariance_type": est.covariance_type,
        "n_components": int(est.n_components),
        "criterion": selector.criterion,
        "criterion_value": float(res[selector.criterion][i]),
        "bic": float(res["bic"][i]),
        "aic": float(res["aic"][i]),
        "icl": float(res["icl"][i]),
        "log_likelihood": float(res["log_likelihood"][i]),
        "n_parameters": int(res["n_parameters"][i]),
        "converged": bool(res["converged"][i]),
        "n_iter": int(res["n_iter"][i]),
        "weights": est.weights_.tolist(),
        "means": est.means_.tolist(),
        "covariances": est.covariances_.tolist(),
        "cluster_sizes": sizes.tolist(),
    }, labels


def _degenerate_notes(results, table):
    """One line on the degenerate fits left out of the choice, one on discrete columns."""
    notes = []
    bad = np.flatnonzero(results["degenerate"])
    if bad.size:
        i = bad[0]
        example = f"{results['covariance_type'][i]} k={results['n_components'][i]}: {results['note'][i]}"
        notes.append(
            f"{bad.size} of {len(results['degenerate'])} fits are degenerate and were left out "
            f"of the choice, as mclust's NA (e.g. {example})"
        )
    n = table.values.shape[0]
    discrete = [
        f"{name} ({len(np.unique(col))} distinct values)"
        for name, col in zip(table.columns, table.values.T)
        if len(np.unique(col)) <= n / 4
    ]
    if discrete and bad.size:
        notes.append(
            "discrete column(s): " + ", ".join(discrete) + "; a Gaussian mixture can put a "
            "component on a single value (a spike of unbounded density), and such fits are "
            "marked degenerate"
        )
    return notes


def _ranges(ks):
    """[1,2,3,5] -> '1-3, 5'."""
    parts, start = [], ks[0]
    for a, b in zip(ks, ks[1:] + [None]):
        if b != a + 1:
            parts.append(str(start) if start == a else f"{start}-{a}")
            start = b
    return ", ".join(parts)


def format_report(selector, table, best, args, elapsed):
    crit = selector.criterion.upper()
    res = selector.results_
    est = selector.best_estimator_
    n, d = table.values.shape
    lines = [
        f"Data: {table.source}",
        f"      {n} rows x {d} numeric column{'s' if d != 1 else ''}: {', '.join(table.columns)}",
    ]
    if table.dropped:
        lines.append(f"      left out non-numeric column(s): {', '.join(table.dropped)}")
    n_models = len(res["bic"])
    plural = "s" if n_models != 1 else ""
    lines.append(f"Fitted {n_models} mixture model{plural} in {elapsed:.1f} s:")
    lines.append(
        f"      components {_ranges(args.components)} x covariance "
        f"{', '.join(dict.fromkeys(res['covariance_type']))}"
        f" (n_init={args.n_init}, seed={args.seed})"
    )
    lines += ["", selector.format_results("wide"), ""]

    order = np.argsort(res["rank"])
    top = [
        i for i in order if np.isfinite(res[selector.criterion][i]) and not res["degenerate"][i]
    ][:3]
    best_value = res[selector.criterion][top[0]]
    ranked = []
    for i in top:
        value = res[selector.criterion][i]
        gap = f"{value:.2f}" if i == top[0] else f"+{value - best_value:.2f}"
        ranked.append(f"{res['covariance_type'][i]} k={res['n_components'][i]} ({gap})")
    lines.append(f"Best {len(top)} by {crit}: " + ", ".join(ranked))
    lines.append("")

    k = best["n_components"]
    lines.append(
        f"Chosen model: {k} component{'s' if k != 1 else ''}, "
        f"covariance_type='{best['covariance_type']}'"
    )
    lines.append(
        f"  log-likelihood {best['log_likelihood']:.2f}   BIC {best['bic']:.2f}   "
        f"AIC {best['aic']:.2f}   ICL {best['icl']:.2f}   "
        f"{best['n_parameters']} free parameters"
    )
    state = "converged" if best["converged"] else "did NOT converge"
    lines.append(f"  EM {state} after {best['n_iter']} iterations")
    sds = _std_devs(est)
    rows = [("weight", [f"{w:.3f}" for w in best["weights"]]),
            ("size (rows)", [str(s) for s in best["cluster_sizes"]])]
    for j, name in enumerate(table.columns):
        rows.append((f"mean {name}", [_num(m[j]) for m in best["means"]]))
    for j, name in enumerate(table.columns):
        rows.append((f"sd {name}", [_num(s[j]) for s in sds]))
    header = [f"component {c}" for c in range(k)]
    label_w = max(len(r[0]) for r in rows)
    col_w = max([len(h) for h in header] + [len(v) for _, vals in rows for v in vals])
    lines.append("  " + " " * label_w + "".join(f"  {h:>{col_w}}" for h in header))
    for name, vals in rows:
        lines.append("  " + f"{name:<{label_w}}" + "".join(f"  {v:>{col_w}}" for v in vals))
    return "\n".join(lines)


def _jsonable(value):
    """NaN and infinities are not JSON; they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def results_records(results):
    """``results_`` as a list of dicts of plain Python values."""
    n = len(results["bic"])
    return [{name: col[i].item() if hasattr(col[i], "item") else col[i]
             for name, col in results.items()} for i in range(n)]


def write_labels(path, labels, proba):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["label"] + [f"prob_{j}" for j in range(proba.shape[1])])
        for label, row in zip(labels, proba):
            writer.writerow([int(label)] + [repr(float(p)) for p in row])


# ---------------------------------------------------------------------- main
def _check_output_path(path, option):
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise InputError(f"{option} {path}: directory {parent} does not exist")
    if os.path.isdir(path):
        raise InputError(f"{option} {path}: is a directory")


def run_fit(args, stdout, stderr):
    if args.plot is not None:
        from .plotting import _require_matplotlib

        try:
            _require_matplotlib()
        except ImportError as exc:
            raise InputError(f"--plot: {exc}") from None
        _check_output_path(args.plot, "--plot")
    if args.out is not None:
        _check_output_path(args.out, "--out")
    if args.prior_strength is not None and not args.prior_strength >= 0:
        raise InputError(f"--prior-strength must be a number >= 0, got {args.prior_strength}")

    table = read_table(args.file)
    n = table.values.shape[0]
    if n < 2:
        raise InputError(f"{table.source}: needs at least 2 data rows, found {n}")
    if n < max(args.components):
        fits = [k for k in args.components if k <= n]
        hint = f"; try --components {_ranges(fits).replace(' ', '')}" if fits else ""
        raise InputError(
            f"{table.source}: {n} data rows are fewer than the {max(args.components)} "
            f"components asked for{hint}"
        )

    show_progress = not args.quiet and getattr(stderr, "isatty", lambda: False)()
    selector = GaussianMixtureSelector(
        n_components=args.components,
        covariance_type=args.covariance,
        criterion=args.criterion,
        n_init=args.n_init,
        random_state=args.seed,
        prior_strength=args.prior_strength,
        n_jobs=args.n_jobs,
        verbose=int(show_progress),
    )
    start = perf_counter()
    # The grid is dozens of fits, mostly small: parallelism belongs across them (--n-jobs),
    # and BLAS/OpenMP threads inside each fit only add contention -- on a busy 2-core
    # machine they made the Old Faithful grid over 10x slower. (joblib gives worker
    # processes of --n-jobs a similar limit.)
    with warnings.catch_warnings(record=True) as caught, threadpool_limits(1):
        warnings.simplefilter("always")
        try:
            selector.fit(table.values)
        except ValueError as exc:
            raise InputError(f"{table.source}: {exc}") from None
    notes = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    elapsed = perf_counter() - start

    best, labels = summarise(selector, table)
    notes += _degenerate_notes(selector.results_, table)
    if best["n_parameters"] >= n:
        notes.append(
            f"the chosen model has {best['n_parameters']} free parameters for {n} rows; "
            "its likelihood (and so the criterion) is not trustworthy -- try fewer "
            "components, simpler covariances, or --prior-strength 1"
        )
    if len(args.components) > 1 and best["n_components"] == max(args.components):
        notes.append(
            f"the best model has the largest number of components tried ({best['n_components']}); "
            "a wider --components range may find a better one"
        )
    if args.out is not None:
        try:
            write_labels(args.out, labels, selector.predict_proba(table.values))
        except OSError as exc:
            raise InputError(f"--out {args.out}: cannot write: {exc.strerror or exc}") from None
    if args.plot is not None:
        from .plotting import save_selection_figure

        try:
            save_selection_figure(selector, table.values, args.plot, feature_names=table.columns)
        except OSError as exc:
            raise InputError(f"--plot {args.plot}: cannot write: {exc.strerror or exc}") from None

    if args.json:
        doc = {
            "data": {
                "source": table.source,
                "n_rows": int(n),
                "columns": table.columns,
                "dropped_columns": table.dropped,
            },
            "criterion": selector.criterion,
            "seed": args.seed,
            "table": results_records(selector.results_),
            "best": best,
            "notes": notes,
            "fit_seconds": elapsed,
        }
        json.dump(_jsonable(doc), stdout, indent=2, allow_nan=False)
        stdout.write("\n")
    else:
        stdout.write(format_report(selector, table, best, args, elapsed) + "\n")
        for note in notes:
            stdout.write(f"note: {note}\n")
        if args.out is not None:
            stdout.write(f"Labels and probabilities written to {args.out}\n")
        if args.plot is not None:
            stdout.write(f"Plots written to {args.plot}\n")
        if args.file is None:
            stdout.write(
                "\nNext: sklearn-em fit data.csv  (your own CSV/TSV file; --plot fig.png "
                "draws the\n      models, --out labels.csv saves each row's label; --help "
                "lists every option)\n"
            )
    return 0


def main(argv=None):
    """Entry point of ``sklearn-em`` and ``python -m sklearn_em``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # plain `sklearn-em` (or options only) means `sklearn-em fit` on the sample data
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["fit"] + argv
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    stdout, stderr = sys.stdout, sys.stderr
    try:
        if args.command == "fit":
            return run_fit(args, stdout, stderr)
        parser.print_help(stderr)
        return EXIT_BAD_INPUT
    except InputError as exc:
        stderr.write(f"{PROG}: error: {exc}\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        stderr.write(f"\n{PROG}: interrupted\n")
        return 130

