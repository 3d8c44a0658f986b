"""The ``sklearn-em`` command line: choose and fit a Gaussian mixture for a CSV/TSV file.

NumPy's reader parses the data (``_table``), so the command needs nothing beyond the
package's own dependencies (matplotlib only for ``--plot``). scikit-learn and the
estimators are imported only once there is work to do: ``--help`` and ``--version``
answer without them.
"""

import argparse
import contextlib
import csv
import json
import math
import os
import shutil
import sys
import warnings
from collections.abc import Sequence
from importlib import resources
from time import perf_counter

import numpy as np

from . import _gpcm, _table
from ._table import InputError

PROG = "sklearn-em"
BUILTIN = "Old Faithful geyser eruptions (built-in sample data)"
# the selector's choices, repeated here so that parsing arguments does not import
# scikit-learn (a test holds them equal); mclust's names come from _gpcm, which needs NumPy only
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
MCLUST_MODELS = _gpcm.MODELS
CRITERIA = ("bic", "aic", "icl")
EXIT_BAD_INPUT = 2
# a grid whose models x max components x rows x columns exceeds this says at the start
# that it will take a while (the default grid on 200,000 rows of 3 columns does)
LONG_GRID = 50_000_000
MAX_SEED = 2**32 - 1
MAX_COMPONENTS = 1_000_000  # the grid is a Python list: a typo must not fill the memory
DEFAULT_COMPONENTS = list(range(1, 10))  # without --components: up to the number of rows


# ---------------------------------------------------------------------- reading data
def read_table(args):
    """Read FILE (the built-in Old Faithful data when None, standard input for '-').

    Raises
    ------
    InputError
        With a one-line explanation of what is wrong with the file.
    """
    path = args.file
    if path is None:
        data = resources.files("sklearn_em").joinpath("data", "old_faithful.csv").read_bytes()
        source = BUILTIN
    elif path == "-":
        stdin = sys.stdin
        data = stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read().encode("utf-8")
        source = "standard input"
    else:
        source = path
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise InputError(f"{path}: is a directory, not a data file") from None
        except PermissionError:
            raise InputError(f"{path}: permission denied") from None
        except OSError as exc:
            raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    tab = path is not None and path.lower().endswith((".tsv", ".tab"))
    return _table.read_table(
        data,
        source,
        tab=tab,
        encoding=args.encoding,
        columns=args.columns,
        exclude=args.exclude,
        id_column=args.id,
    )


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
                if hi > MAX_COMPONENTS:
                    raise argparse.ArgumentTypeError(
                        f"at most {MAX_COMPONENTS} components, got '{text}'"
                    )
                out.update(range(lo, hi + 1))
            else:
                out.add(int(part))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a list of numbers of components (e.g. 1-9, or 2,3,5)"
        ) from None
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError(f"numbers of components must be at least 1, got '{text}'")
    if max(out) > MAX_COMPONENTS:
        raise argparse.ArgumentTypeError(f"at most {MAX_COMPONENTS} components, got '{text}'")
    return sorted(out)


def _covariances(text):
    names = [t.strip() for t in text.split(",") if t.strip()]
    groups = [t for t in names if t.lower() in ("all", "sklearn")]
    if groups:
        if {t.lower() for t in names} == {groups[0].lower()}:
            return groups[0].lower()
        raise argparse.ArgumentTypeError(
            f"'{groups[0]}' names a group of covariance types and cannot be combined with "
            f"other names, got '{text}'"
        )
    # scikit-learn's names in lower case, mclust's in upper case, whatever was typed
    known = [t.lower() if t.lower() in COVARIANCE_TYPES else t.upper() for t in names]
    unknown = [f"'{t}'" for t, k in zip(names, known) if k not in COVARIANCE_TYPES + MCLUST_MODELS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown covariance type(s) {', '.join(unknown) or repr(text)}; choose all "
            f"(mclust's 14 models), sklearn ({','.join(COVARIANCE_TYPES)}), or a list of "
            f"{','.join(MCLUST_MODELS)}"
        )
    return list(dict.fromkeys(known))


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'")
    return value


def _n_jobs(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(
            f"expected a number of processes >= 1, or -1 for all processors, got '{text}'"
        )
    return value


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to {MAX_SEED}, got '{text}'")
    return value


def _prior_strength(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got '{text}'")
    return value


def _columns(text):
    if not [s for s in text.split(",") if s.strip()]:
        raise argparse.ArgumentTypeError(f"expected column names or positions, got '{text}'")
    return text


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors as one line (it prints the whole usage first)."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"{PROG}: error: {message}\n")


def build_parser():
    from . import __version__

    parser = _Parser(
        prog=PROG,
        description=(
            "Fit Gaussian mixtures by EM and choose the number of components and the "
            "covariance type by BIC, AIC or ICL. Without a command, runs 'fit': "
            "'sklearn-em data.csv' is 'sklearn-em fit data.csv', plain 'sklearn-em' fits "
            "the built-in Old Faithful data."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    fit = sub.add_parser(
        "fit",
        help="fit a grid of mixtures to a CSV/TSV file and report the best",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Fit a Gaussian mixture for every number of components and covariance type,\n"
            "print the criterion table and the chosen model. FILE is CSV, TSV, semicolon-\n"
            "or space-separated (delimiter, decimal comma, header and encoding detected;\n"
            "text columns and a column that looks like a row ID are left out, and said so).\n"
            "Without FILE, the built-in Old Faithful geyser data is used; '-' reads\n"
            "standard input."
        ),
        epilog=(
            "examples:\n"
            "  sklearn-em fit                      # the Old Faithful sample data\n"
            "  sklearn-em fit data.csv --components 1-5 --covariance full,diag\n"
            "  sklearn-em fit data.csv --id patient_id --exclude age --out labels.csv\n"
            "  sklearn-em fit data.tsv --criterion icl --plot fig.pdf\n"
            "\n"
            "--plot needs matplotlib: pip install sklearn-em[plot]\n"
            "exit status: 0 success, 2 bad input or arguments"
        ),
    )
    fit.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help="CSV, TSV, semicolon- or space-separated file (default: Old Faithful)",
    )
    data = fit.add_argument_group("data")
    which = data.add_mutually_exclusive_group()
    which.add_argument(
        "--columns",
        type=_columns,
        metavar="COLS",
        help="fit only these columns: names or 1-based positions, "
        "comma-separated (e.g. height,weight or 2,3)",
    )
    which.add_argument(
        "--exclude",
        type=_columns,
        metavar="COLS",
        help="fit every numeric column but these (names or positions)",
    )
    data.add_argument(
        "--id", metavar="COLUMN", help="a column identifying each row: not fitted, written to --out"
    )
    data.add_argument(
        "--encoding",
        metavar="ENC",
        help="the file's text encoding (default: UTF-8, else cp1252 with a note)",
    )
    grid = fit.add_argument_group("models")
    grid.add_argument(
        "--components",
        type=_components,
        metavar="K",
        help="numbers of components to try, e.g. 1-9 (default; no more than the data rows), "
        "2,3,5 or 1-3,8",
    )
    grid.add_argument(
        "--covariance",
        type=_covariances,
        default="all",
        metavar="TYPES",
        help="covariance models to try: all (mclust's 14, EII..VVV; only the spherical and "
        "diagonal ones when there are no more rows than columns), sklearn (full,tied,diag,"
        "spherical), or a comma-separated list of names (default: all)",
    )
    grid.add_argument(
        "--criterion",
        choices=CRITERIA,
        default="bic",
        help="criterion to minimise (default: bic)",
    )
    grid.add_argument(
        "--n-init",
        type=_positive_int,
        default=1,
        metavar="N",
        help="EM initialisations per model (default: 1)",
    )
    grid.add_argument(
        "--prior-strength",
        type=_prior_strength,
        default=None,
        metavar="S",
        help="fit the posterior mode under mclust's default conjugate prior, "
        "weighted by S (1 = mclust's prior); avoids degenerate components "
        "(default: maximum likelihood)",
    )
    grid.add_argument(
        "--seed",
        type=_seed,
        default=0,
        metavar="S",
        help="random seed, for reproducible results (default: 0)",
    )
    grid.add_argument(
        "--n-jobs",
        type=_n_jobs,
        default=1,
        metavar="J",
        help="models fitted in parallel processes; -1 = all processors (default: 1)",
    )
    out = fit.add_argument_group("output")
    out.add_argument(
        "--out",
        metavar="LABELS.csv",
        help="write each row's label, uncertainty and component probabilities "
        "(and its --id) to this CSV file; '-' writes them to standard output (and the "
        "report to standard error)",
    )
    out.add_argument(
        "--impute",
        metavar="OUT.csv",
        help="write the fitted columns (and the --id column), one row per input row, each "
        "missing cell (empty or NA) filled by its conditional mean under the chosen mixture; "
        "'-' writes them to standard output (and the report to standard error)",
    )
    out.add_argument(
        "--plot",
        metavar="FIG",
        help="write the criterion, classification and uncertainty plots to this "
        "file; the format follows the extension: .png, .pdf or .svg",
    )
    out.add_argument(
        "--json", action="store_true", help="print the results as one JSON object instead of text"
    )
    out.add_argument("--quiet", action="store_true", help="no progress display on stderr")
    return parser


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
    from ._models import get_model

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
    if bad.size == len(results["degenerate"]):
        pass  # the selector's own warning says that it chose among them, and why
    elif bad.size:
        i = bad[0]
        example = (
            f"{results['covariance_type'][i]} k={results['n_components'][i]}: {results['note'][i]}"
        )
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


def _report_width():
    """Columns the report's table may use: the terminal's (or $COLUMNS), 100 when neither is
    known (piped output), never below 60. With all 14 models the BIC table is ~190 columns
    wide: it is printed in blocks of covariance types that fit, as R prints a matrix."""
    return max(60, shutil.get_terminal_size((100, 24)).columns)


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
    report = missing_report(table.values, table.columns)
    if report is not None:
        lines.append(format_missing(report))
    if table.excluded:
        lines.append(f"      left out as asked: {', '.join(table.excluded)}")
    if table.id_like:
        lines.append(f"      left out as row IDs: {', '.join(table.id_like)} (see the note below)")
    if table.id_name is not None:
        lines.append(f"      row identifier (not fitted): {table.id_name}")
    n_models = len(res["bic"])
    plural = "s" if n_models != 1 else ""
    lines.append(f"Fitted {n_models} mixture model{plural} in {elapsed:.1f} s:")
    lines.append(
        f"      components {_ranges(args.components)} x covariance "
        f"{', '.join(dict.fromkeys(res['covariance_type']))}"
        f" (n_init={args.n_init}, seed={args.seed})"
    )
    lines += ["", selector.format_results("wide", max_width=_report_width()), ""]

    order = np.argsort(res["rank"])
    top = [
        i for i in order if np.isfinite(res[selector.criterion][i]) and not res["degenerate"][i]
    ][:3]
    every_fit_degenerate = not top
    if every_fit_degenerate:  # the selector chose among them anyway (and warned)
        top = [i for i in order if np.isfinite(res[selector.criterion][i])][:3]
    best_value = res[selector.criterion][top[0]]
    ranked, tied_lower = [], False
    for i in top:
        value = res[selector.criterion][i]
        # a tie (criteria equal up to rounding, see _selection._rank) may rank a model of more
        # parameters second with a criterion lower by rounding: its gap is shown as it is
        gap = f"{value:.2f}" if i == top[0] else f"{value - best_value:+.2f}"
        if gap == "-0.00":
            gap = "+0.00"
        tied_lower |= gap.startswith("-")
        ranked.append(f"{res['covariance_type'][i]} k={res['n_components'][i]} ({gap})")
    qualifier = " (every fit degenerate)" if every_fit_degenerate else ""
    lines.append(f"Best {len(top)} by {crit}{qualifier}: " + ", ".join(ranked))
    if tied_lower:
        lines.append(
            f"  ({crit} equal up to rounding is a tie: the model with fewer parameters is chosen)"
        )
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
    rows = [
        ("weight", [f"{w:.3f}" for w in best["weights"]]),
        ("size (rows)", [str(s) for s in best["cluster_sizes"]]),
    ]
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
    return [
        {
            name: col[i].item() if hasattr(col[i], "item") else col[i]
            for name, col in results.items()
        }
        for i in range(n)
    ]


def _csv_field(text):
    """A CSV field as the csv module writes it: quoted only when it must be."""
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def write_labels(f, table, labels, proba):
    """One row per input row to the text file ``f``: its --id, label, uncertainty and
    component probabilities.

    The uncertainty is mclust's: 1 - the largest probability (0 for a row surely in its
    component, up to 1 - 1/k for a row any component could have produced). Numbers are
    written by ``repr``, which reads back to the same float.
    """
    uncertainty = 1.0 - proba.max(axis=1)
    head = ["label", "uncertainty"] + [f"prob_{j}" for j in range(proba.shape[1])]
    # built as strings (not csv.writer row by row): ten times faster at 200,000 rows
    lines = [
        f"{label},{u!r},{','.join(map(repr, row))}"
        for label, u, row in zip(labels.tolist(), uncertainty.tolist(), proba.tolist())
    ]
    if table.ids is not None:
        head.insert(0, table.id_name)
        lines = [f"{_csv_field(str(i))},{line}" for i, line in zip(table.ids, lines)]
    f.write(",".join(_csv_field(h) for h in head) + "\r\n")
    f.write("\r\n".join(lines))
    if lines:
        f.write("\r\n")


# ---------------------------------------------------------------------- main
def _check_output_path(path, option):
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise InputError(f"{option} {path}: directory {parent} does not exist")
    if os.path.isdir(path):
        raise InputError(f"{option} {path}: is a directory")


def _plot_format(path):
    """The figure format named by the extension of --plot, or an error saying which exist."""
    from .plotting import FIGURE_FORMATS

    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in FIGURE_FORMATS:
        raise InputError(
            f"--plot {path}: the file name must end in "
            f"{', '.join('.' + f for f in FIGURE_FORMATS)} (the format follows the extension)"
        )
    return ext


def _check_arguments(args):
    """Problems with the options that need no data: said before any reading or fitting."""
    if args.plot is not None:
        from .plotting import _require_matplotlib

        _plot_format(args.plot)
        try:
            _require_matplotlib()
        except ImportError as exc:
            raise InputError(f"--plot: {exc}") from None
    outputs = [
        (option, path)
        for option, path in (("--out", args.out), ("--impute", args.impute), ("--plot", args.plot))
        if path is not None
    ]
    for option, path in outputs:
        if path != "-" or option == "--plot":
            _check_output_path(path, option)
    # ('-' is standard output for the tables; --plot -'s format has no extension to follow)
    on_stdout = [option for option, path in outputs if path == "-" and option != "--plot"]
    if len(on_stdout) > 1:
        raise InputError(
            f"{' - and '.join(on_stdout)} -: both write to standard output; give one of them "
            "a file name"
        )
    if on_stdout and args.json:
        raise InputError(
            f"{on_stdout[0]} -: standard output holds the --json report; give {on_stdout[0]} "
            "a file name"
        )
    files = [(option, path) for option, path in outputs if option not in on_stdout]
    for i, (option, path) in enumerate(files):
        if args.file not in (None, "-") and _same_file(path, args.file):
            raise InputError(
                f"{option} {path}: is the input file, which it would overwrite; "
                "write to another file"
            )
        for other, other_path in files[:i]:
            if _same_file(path, other_path):
                raise InputError(
                    f"{other} {other_path} and {option} {path} name the same file; "
                    "give each its own"
                )


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:  # (one does not exist yet)
        return os.path.realpath(a) == os.path.realpath(b)


def _remedies(k, covariance_type, prior_strength):
    """' -- try ...': the remedies for too many parameters not already taken."""
    remedies = []
    if k > 1:
        remedies.append("fewer components")
    if not (covariance_type == "EII" or (k == 1 and covariance_type in ("VII", "spherical"))):
        remedies.append("simpler covariances")  # (EII has the fewest parameters)
    if prior_strength is None or prior_strength < 1:
        remedies.append("--prior-strength 1")
    if not remedies:
        return ""
    if len(remedies) == 1:
        return f" -- try {remedies[0]}"
    return f" -- try {', '.join(remedies[:-1])}{',' * (len(remedies) > 2)} or {remedies[-1]}"


def _check_rows(table, components):
    # Missing values (NaN from the reader: an NA token or an empty cell) are fitted on the
    # observed cells; only a row or a column with nothing observed cannot be.
    check_missing(table.values, table.columns, table.line_numbers, table.source)
    bad = np.isinf(table.values)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise InputError(
            f"{table.source}: infinite value at line {table.line_numbers[i]}, "
            f"column '{table.columns[j]}'"
        )
    n = table.values.shape[0]
    if n < 2:
        raise InputError(f"{table.source}: needs at least 2 data rows, found {n}")
    if n < max(components):
        fits = [k for k in components if k <= n]
        hint = f"; try --components {_ranges(fits).replace(' ', '')}" if fits else ""
        raise InputError(
            f"{table.source}: {n} data rows are fewer than the {max(components)} "
            f"components asked for{hint}"
        )


def check_missing(values, columns, line_numbers, source):
    """Raise InputError for what missing cells make impossible to fit: a row or a column
    without any value."""
    missing = np.isnan(values)
    empty_rows = np.flatnonzero(missing.all(axis=1))
    if empty_rows.size:
        more = f" ({empty_rows.size} such rows in all)" if empty_rows.size > 1 else ""
        raise InputError(
            f"{source}: line {line_numbers[empty_rows[0]]} has no value in any numeric "
            f"column{more}; remove it"
        )
    empty_cols = np.flatnonzero(missing.all(axis=0))
    if empty_cols.size:
        raise InputError(f"{source}: column '{columns[empty_cols[0]]}' has no values; remove it")


def missing_report(values, columns):
    """The missing cells of a table: ``{"cells", "rows", "by_column": {name: count}}``
    (only columns with missing cells), or None when the table is complete."""
    missing = np.isnan(values)
    if not missing.any():
        return None
    counts = missing.sum(axis=0)
    return {
        "cells": int(counts.sum()),
        "rows": int(missing.any(axis=1).sum()),
        "by_column": {name: int(c) for name, c in zip(columns, counts) if c},
    }


def format_missing(report):
    """One line of the text report."""
    cols = ", ".join(f"{name} {count}" for name, count in report["by_column"].items())
    return (
        f"      {report['cells']} missing cell{'s' if report['cells'] != 1 else ''} in "
        f"{report['rows']} row{'s' if report['rows'] != 1 else ''} ({cols}); fitted on the "
        "observed cells (no row dropped)"
    )


def write_table(f, columns, values, ids=None, id_name=None):
    """Write a complete numeric table as CSV to the text file ``f`` (header, then ``repr`` of
    each float: the observed cells round-trip exactly), each row led by its --id where given."""
    writer = csv.writer(f)
    writer.writerow(columns if ids is None else [id_name, *columns])
    for i, row in enumerate(values):
        cells = [repr(float(v)) for v in row]
        writer.writerow(cells if ids is None else [str(ids[i]), *cells])


@contextlib.contextmanager
def _output_file(path, stdout):
    """The file --out or --impute names, opened for writing; '-' is standard output."""
    if path == "-":
        yield stdout
    else:
        with open(path, "w", newline="", encoding="utf-8") as f:
            yield f


def _shown_path(path):
    return "standard output" if path == "-" else path


def run_fit(args, stdout, stderr):
    _check_arguments(args)
    table = read_table(args)
    n, d = table.values.shape
    notes = list(table.notes)
    if args.components is None:
        # the default range stops at the number of rows (more components cannot be fitted)
        args.components = [k for k in DEFAULT_COMPONENTS if k <= max(n, 1)]
        if len(args.components) < len(DEFAULT_COMPONENTS):
            notes.append(
                f"components {_ranges(DEFAULT_COMPONENTS[len(args.components) :])} of the "
                f"default range {_ranges(DEFAULT_COMPONENTS)} were not tried: there are only "
                f"{n} data rows"
            )
    _check_rows(table, args.components)

    from ._selection import ColumnsError, GaussianMixtureSelector

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
    grid = selector._grid((n, d))  # 'all' and 'sklearn' name several types
    n_models, n_types = len(grid), len({t for t, _ in grid})
    if not args.quiet and n_models * n * max(d, 1) * max(args.components) >= LONG_GRID:
        stderr.write(
            f"{PROG}: fitting {n_models} mixture models (components "
            f"{_ranges(args.components)} x {n_types} covariance type"
            f"{'s' if n_types != 1 else ''}) to {n} rows x {d} columns; "
            "this may take a while (--components and --covariance narrow the grid)\n"
        )
        stderr.flush()
    start = perf_counter()
    # (the selector keeps BLAS and OpenMP threads out of its many small fits itself)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            selector.fit(table.values)
        except ColumnsError as exc:
            raise InputError(f"{table.source}: {exc.naming(table.columns)}") from None
        except ValueError as exc:
            raise InputError(f"{table.source}: {exc}") from None
    notes += list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    elapsed = perf_counter() - start

    best, labels = summarise(selector, table)
    notes += _degenerate_notes(selector.results_, table)
    if best["n_parameters"] >= n:
        notes.append(
            f"the chosen model has {best['n_parameters']} free parameters for {n} rows; "
            "its likelihood (and so the criterion) is not trustworthy"
            + _remedies(best["n_components"], best["covariance_type"], args.prior_strength)
        )
    # (no more components than rows can be fitted: a wider range is then no advice)
    k_max = max(args.components)
    if len(args.components) > 1 and best["n_components"] == k_max and k_max < n:
        notes.append(
            f"the best model has the largest number of components tried ({best['n_components']}); "
            "a wider --components range may find a better one"
        )
    if args.out is not None:
        try:
            with _output_file(args.out, stdout) as f:
                write_labels(f, table, labels, selector.predict_proba(table.values))
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise InputError(f"--out {args.out}: cannot write: {exc.strerror or exc}") from None
    if args.impute is not None:
        from ._missing import impute

        filled = impute(table.values, selector.best_estimator_._model())
        try:
            with _output_file(args.impute, stdout) as f:
                write_table(f, table.columns, filled, table.ids, table.id_name)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise InputError(
                f"--impute {args.impute}: cannot write: {exc.strerror or exc}"
            ) from None
    if args.plot is not None:
        from .plotting import save_selection_figure

        if np.isnan(table.values).any():
            notes.append("in the plot, missing cells are drawn at their conditional means")
        try:
            # (it draws missing cells at their conditional means; rows are classified on
            # their observed cells, as --out labels them)
            save_selection_figure(
                selector,
                table.values,
                args.plot,
                feature_names=table.columns,
                format=_plot_format(args.plot),
            )
        except OSError as exc:
            raise InputError(f"--plot {args.plot}: cannot write: {exc.strerror or exc}") from None

    if args.json:  # (not with --out - or --impute -: _check_arguments)
        doc = {
            "data": {
                "source": table.source,
                "n_rows": int(n),
                "columns": table.columns,
                "dropped_columns": table.dropped,
                "excluded_columns": table.excluded,
                "id_like_columns": table.id_like,
                "id_column": table.id_name,
                "delimiter": table.delimiter,
                "decimal": table.decimal,
                "encoding": table.encoding,
                "missing": missing_report(table.values, table.columns),
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
        # to standard error when standard output holds the table of --out or --impute
        report = stderr if "-" in (args.out, args.impute) else stdout
        report.write(format_report(selector, table, best, args, elapsed) + "\n")
        for note in notes:
            report.write(f"note: {note}\n")
        if args.out is not None:
            report.write(
                f"Labels, uncertainties and probabilities written to {_shown_path(args.out)}\n"
            )
        if args.impute is not None:
            report.write(f"Table with missing cells filled written to {_shown_path(args.impute)}\n")
        if args.plot is not None:
            report.write(f"Plots written to {args.plot}\n")
        if args.file is None:
            report.write(
                "\nNext: sklearn-em fit data.csv  (your own CSV/TSV file; --plot fig.png "
                "draws the\n      models, --out labels.csv saves each row's label; --help "
                "lists every option)\n"
            )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sklearn-em`` command (also ``python -m sklearn_em``).

    Parameters
    ----------
    argv : sequence of str, default=None
        The arguments after the program name; default: ``sys.argv[1:]``.

    Returns
    -------
    status : int
        The exit status: 0 on success, 2 for bad input or arguments, 130 if interrupted.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    # plain `sklearn-em` (or options only) means `sklearn-em fit` on the sample data, and
    # `sklearn-em data.csv ...` means `sklearn-em fit data.csv ...`
    if not argv or argv[0] not in ("fit", "-h", "--help", "--version"):
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
    except BrokenPipeError:  # `sklearn-em fit | head`: the reader left, which is no error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
