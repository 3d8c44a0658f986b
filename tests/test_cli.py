"""Tests of the ``sklearn-em`` command line: its numbers against the selector fitted
in-process, its reading of CSV/TSV, its files, and one-line errors with exit status 2."""

import csv
import io
import json
import subprocess
import sys
from functools import partial
from importlib import metadata

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from sklearn_em import DegenerateFitWarning, GaussianMixtureSelector
from sklearn_em._cli import main
from sklearn_em.datasets import load_faithful

pytestmark = pytest.mark.usefixtures("one_thread")


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def faithful():
    return load_faithful().data


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def blob_csv(tmp_path, name="data.csv", sep=",", n=30, header=True, extra=None, seed=0):
    rng = np.random.RandomState(seed)
    X = np.vstack([rng.normal(0, 1, (n, 2)), rng.normal(8, 1, (n, 2))])
    lines = []
    if header:
        lines.append(sep.join(["a", "b"] + ([extra[0]] if extra else [])))
    for i, row in enumerate(X):
        fields = [repr(float(v)) for v in row] + ([extra[1](i)] if extra else [])
        lines.append(sep.join(fields))
    return write(tmp_path, name, "\n".join(lines) + "\n"), X


# ----------------------------------------------------------------------------- Old Faithful
@pytest.fixture(scope="module")
def default_json():
    """The default run (full 1..9 x 14 grid on Old Faithful), as JSON; computed once."""
    buf = io.StringIO()
    old = sys.stdout
    sys.stdout = buf
    try:
        with threadpool_limits(1):
            code = main(["fit", "--json", "--quiet"])
    finally:
        sys.stdout = old
    assert code == 0
    return json.loads(buf.getvalue())


def test_default_run_matches_the_selector(default_json):
    X = faithful()
    assert X.shape == (272, 2)
    sel = GaussianMixtureSelector(random_state=0).fit(X)
    table = default_json["table"]
    assert len(table) == 9 * 14
    # The same fit twice in one process is not always equal to the last bit: on CI's
    # machine, at numpy 1.24.0, one cell's BIC once differed by 1.5e-14 relative between
    # the command's fit and this one (not reproduced elsewhere). Reporting the wrong cell,
    # criterion or start would be off by far more than 1e-10.
    close = partial(pytest.approx, rel=1e-10, abs=0)
    for row, i in zip(table, range(9 * 14)):
        assert row["covariance_type"] == sel.results_["covariance_type"][i]
        assert row["n_components"] == sel.results_["n_components"][i]
        for name in ("bic", "aic", "icl", "log_likelihood"):
            assert row[name] == close(sel.results_[name][i])
    best = default_json["best"]
    assert (best["covariance_type"], best["n_components"]) == (
        sel.best_params_["covariance_type"],
        sel.best_params_["n_components"],
    )
    assert best["criterion"] == "bic"
    assert best["criterion_value"] == min(r["bic"] for r in table)
    assert best["criterion_value"] == close(sel.best_criterion_)
    np.testing.assert_allclose(best["means"], sel.best_estimator_.means_, rtol=1e-10)
    np.testing.assert_allclose(best["weights"], sel.best_estimator_.weights_, rtol=1e-10)
    assert best["cluster_sizes"] == np.bincount(sel.predict(X)).tolist()
    assert sum(best["cluster_sizes"]) == 272
    assert default_json["data"]["columns"] == ["eruptions", "waiting"]


def test_default_run_gives_mclusts_answer(default_json):
    # R mclust's Mclust(faithful) chooses EEE with 3 components (stored reference)
    best = default_json["best"]
    assert (best["covariance_type"], best["n_components"]) == ("EEE", 3)
    # short eruptions after short waits, long after long: the extreme components
    means = sorted(best["means"])
    assert means[0][0] < 2.5 < 3.5 < means[-1][0]
    assert means[0][1] < 60 < 75 < means[-1][1]


def test_text_report_of_the_default_run(capsys):
    code, out, err = run(["--quiet", "--components", "1-3", "--covariance", "full,tied"], capsys)
    assert code == 0 and err == ""
    sel = GaussianMixtureSelector(
        n_components=[1, 2, 3], covariance_type=["full", "tied"], random_state=0
    ).fit(faithful())
    est = sel.best_estimator_
    assert "272 rows x 2 numeric columns: eruptions, waiting" in out
    assert "Next: sklearn-em fit data.csv" in out  # the newcomer's pointer onwards
    assert (
        f"Chosen model: {est.n_components} components, covariance_type='{est.covariance_type}'"
        in out
    )
    assert f"BIC {sel.best_criterion_:.2f}" in out
    assert sel.format_results() in out
    sizes = np.bincount(est.predict(faithful()))
    assert out.split("size (rows)")[1].split("\n")[0].split() == [str(s) for s in sizes]
    mean_row = out.split("mean waiting")[1].split("\n")[0].split()
    np.testing.assert_allclose([float(v) for v in mean_row], est.means_[:, 1], rtol=1e-3)


def test_plain_command_means_fit_on_the_sample_data(monkeypatch):
    import sklearn_em._cli as cli

    seen = []
    monkeypatch.setattr(cli, "run_fit", lambda args, out, err: seen.append(vars(args)) or 0)
    assert main([]) == 0 and main(["fit"]) == 0 and main(["--quiet"]) == 0
    assert seen[0] == seen[1] and seen[0]["file"] is None
    assert seen[2] == dict(seen[0], quiet=True)
    # a FILE without the command is `fit FILE` (it was "invalid choice: 'data.csv'")
    assert main(["data.csv", "--quiet"]) == 0 and main(["-"]) == 0
    assert seen[3] == dict(seen[2], file="data.csv") and seen[4] == dict(seen[0], file="-")


# ----------------------------------------------------------------------------- reading files
def test_csv_with_text_column_is_fitted_on_numbers(tmp_path, capsys):
    path, X = blob_csv(tmp_path, extra=("species", lambda i: f"s{i % 3}"))
    code, out, err = run(
        [
            "fit",
            path,
            "--json",
            "--quiet",
            "--components",
            "1-3",
            "--covariance",
            "full,diag",
            "--seed",
            "4",
        ],
        capsys,
    )
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert doc["data"]["columns"] == ["a", "b"] and doc["data"]["dropped_columns"] == ["species"]
    sel = GaussianMixtureSelector(
        n_components=[1, 2, 3], covariance_type=["full", "diag"], random_state=4
    ).fit(X)
    assert [r["bic"] for r in doc["table"]] == sel.results_["bic"].tolist()
    assert doc["best"]["n_components"] == 2
    code, out, _ = run(["fit", path, "--quiet", "--components", "1-2"], capsys)
    assert "left out non-numeric column(s): species" in out
    assert "Next:" not in out


@pytest.mark.parametrize("name, sep", [("data.tsv", "\t"), ("data.txt", "\t"), ("data.csv", ";")])
def test_tsv_and_other_delimiters(tmp_path, capsys, name, sep):
    path, X = blob_csv(tmp_path, name=name, sep=sep)
    code, out, _ = run(
        ["fit", path, "--json", "--quiet", "--components", "2", "--covariance", "diag"], capsys
    )
    assert code == 0
    best = json.loads(out)["best"]
    est = GaussianMixtureSelector(2, covariance_type="diag", random_state=0).fit(X)
    assert best["bic"] == est.bic(X)


def test_file_without_header_keeps_its_first_row(tmp_path, capsys):
    path, X = blob_csv(tmp_path, header=False)
    code, out, _ = run(
        ["fit", path, "--json", "--quiet", "--components", "1-2", "--covariance", "full"], capsys
    )
    doc = json.loads(out)
    assert code == 0 and doc["data"]["n_rows"] == len(X) and doc["data"]["columns"] == ["x1", "x2"]


def test_standard_input(tmp_path, capsys, monkeypatch):
    path, X = blob_csv(tmp_path)
    with open(path, encoding="utf-8") as f:
        monkeypatch.setattr(sys, "stdin", io.StringIO(f.read()))
    code, out, _ = run(
        ["fit", "-", "--json", "--quiet", "--components", "2", "--covariance", "tied"], capsys
    )
    assert code == 0
    assert json.loads(out)["best"]["bic"] == GaussianMixtureSelector(
        2, covariance_type="tied", random_state=0
    ).fit(X).bic(X)


def test_labels_file(tmp_path, capsys):
    path, X = blob_csv(tmp_path)
    out_path = tmp_path / "labels.csv"
    code, out, _ = run(
        [
            "fit",
            path,
            "--quiet",
            "--components",
            "1-3",
            "--covariance",
            "full",
            "--out",
            str(out_path),
        ],
        capsys,
    )
    assert code == 0 and f"written to {out_path}" in out
    with open(out_path, newline="") as f:
        rows = list(csv.reader(f))
    sel = GaussianMixtureSelector(
        n_components=[1, 2, 3], covariance_type="full", random_state=0
    ).fit(X)
    k = sel.best_estimator_.n_components
    assert rows[0] == ["label", "uncertainty"] + [f"prob_{j}" for j in range(k)]
    labels = np.array([int(r[0]) for r in rows[1:]])
    uncertainty = np.array([float(r[1]) for r in rows[1:]])
    proba = np.array([[float(v) for v in r[2:]] for r in rows[1:]])
    np.testing.assert_array_equal(labels, sel.predict(X))
    np.testing.assert_array_equal(proba, sel.predict_proba(X))  # repr round-trips exactly
    np.testing.assert_array_equal(labels, proba.argmax(axis=1))
    # mclust's uncertainty: 1 - the probability of the most probable component
    np.testing.assert_array_equal(uncertainty, 1 - sel.predict_proba(X).max(axis=1))


@pytest.mark.parametrize("criterion", ["aic", "icl"])
def test_criterion_option(tmp_path, capsys, criterion):
    path, X = blob_csv(tmp_path)
    code, out, _ = run(
        [
            "fit",
            path,
            "--json",
            "--quiet",
            "--components",
            "1-3",
            "--covariance",
            "spherical,full",
            "--criterion",
            criterion,
        ],
        capsys,
    )
    doc = json.loads(out)
    assert doc["criterion"] == criterion == doc["best"]["criterion"]
    assert doc["best"]["criterion_value"] == min(
        r[criterion] for r in doc["table"] if not r["degenerate"]
    )


def test_prior_strength_is_passed_through(tmp_path, capsys):
    path, X = blob_csv(tmp_path)
    code, out, _ = run(
        [
            "fit",
            path,
            "--json",
            "--quiet",
            "--components",
            "2",
            "--covariance",
            "full",
            "--prior-strength",
            "1",
        ],
        capsys,
    )
    est = GaussianMixtureSelector(
        2, covariance_type="full", random_state=0, prior_strength=1.0
    ).fit(X)
    assert code == 0 and json.loads(out)["best"]["bic"] == est.bic(X)
    code, _, err = run(["fit", path, "--prior-strength", "-1"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--prior-strength" in err


def test_notes_on_an_unreliable_choice(tmp_path, capsys):
    # 6 rows, up to 2 components: the best model sits on the edge of the grid and has
    # more parameters than rows -- both are said, in the text and in the JSON
    text = "x,y\n1,2\n2,3.5\n3,1\n8,9\n9,8\n8.5,9.1\n"
    path = write(tmp_path, "small.csv", text)
    code, out, _ = run(
        ["fit", path, "--quiet", "--components", "1-2", "--covariance", "full"], capsys
    )
    assert code == 0
    doc_code, doc, _ = run(
        ["fit", path, "--quiet", "--json", "--components", "1-2", "--covariance", "full"], capsys
    )
    best = json.loads(doc)["best"]
    notes = json.loads(doc)["notes"]
    assert best["n_components"] == 2 and best["n_parameters"] >= 6
    assert any("largest number of components tried (2)" in n for n in notes)
    assert any(f"{best['n_parameters']} free parameters for 6 rows" in n for n in notes)
    for note in notes:
        assert f"note: {note}" in out
    # a comfortable choice has no such notes
    _, doc, _ = run(
        ["fit", "--quiet", "--json", "--components", "1-3", "--covariance", "full"], capsys
    )
    assert json.loads(doc)["notes"] == []


FIVE_ROWS = "x,y\n0.35,0.82\n0.33,-1.3\n0.91,0.45\n-0.54,0.58\n1.2,-0.3\n"


def test_notes_give_no_advice_already_taken_or_impossible(tmp_path, capsys):
    # EII k=5 under the prior, on 5 rows: fewer components is the only remedy left, and
    # the notes suggested --prior-strength 1 (given), simpler covariances (EII is the
    # simplest) and a wider --components range (5 components on 5 rows is the most)
    path = write(tmp_path, "five.csv", FIVE_ROWS)
    argv = ["fit", path, "--quiet", "--json", "--covariance", "EII", "--prior-strength", "1"]
    code, out, err = run(argv + ["--components", "1-5"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["best"]["covariance_type"], doc["best"]["n_components"]) == ("EII", 5)
    assert doc["notes"] == [
        f"the chosen model has {doc['best']['n_parameters']} free parameters for 5 rows; its "
        "likelihood (and so the criterion) is not trustworthy -- try fewer components"
    ]


# ----------------------------------------------------------------------------- bad input
BAD_FILES = {
    "empty": ("", "empty"),
    "blank lines": ("\n\n  \n", "empty"),
    "header only": ("a,b\n", "no data rows"),
    "text only": ("name,city\nann,paris\nbob,rome\n", "no numeric columns"),
    "mixed column": ("a,b\n1,2\n3,x\n5,6\n", "column 'b' mixes numbers and text (line 3: 'x')"),
    # missing cells are fitted (test_missing_cells_are_fitted_reported_and_imputed); only a
    # row with nothing observed cannot be (the reader leaves out an empty column)
    "row without values": (
        "a,b\n1,2\n,NA\n5,6\n",
        "line 3 has no value in any numeric column; remove it",
    ),
    "rows without values": ("a,b\n1,2\n,NA\n5,6\n?,\n", "(2 such rows in all)"),
    "ragged": ("a,b\n1,2\n3,4,5\n", "line 3 has 3 fields"),
    "infinite": ("a,b\n1,2\n3,inf\n5,6\n", "infinite value at line 3"),
    "one row": ("a,b\n1,2\n", "at least 2 data rows"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_files_exit_2_with_one_line(tmp_path, capsys, case):
    text, message = BAD_FILES[case]
    path = write(tmp_path, "bad.csv", text)
    code, out, err = run(["fit", path, "--quiet"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("sklearn-em: error: ")
    assert message in err
    assert "Traceback" not in err


def test_default_components_stop_at_the_number_of_rows(tmp_path, capsys):
    # without --components, a 5-row file was "5 data rows are fewer than the 9 components
    # asked for" though nothing was asked for: the default 1-9 stops at the rows, and says so
    rows = write(tmp_path, "five.csv", FIVE_ROWS)
    code, out, err = run(["fit", rows, "--quiet", "--json", "--covariance", "EII"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert [r["n_components"] for r in doc["table"]] == [1, 2, 3, 4, 5]
    assert (
        "components 6-9 of the default range 1-9 were not tried: there are only 5 data rows"
        in doc["notes"]
    )
    # what the user asks for is not cut: more components than rows is still an error
    code, out, err = run(["fit", rows, "--quiet", "--components", "2-7"], capsys)
    assert code == 2 and out == ""
    assert err == (
        f"sklearn-em: error: {rows}: 5 data rows are fewer than the 7 components asked for; "
        "try --components 2-5\n"
    )


def test_missing_file_and_directory(tmp_path, capsys):
    code, _, err = run(["fit", str(tmp_path / "nope.csv")], capsys)
    assert code == 2 and err == f"sklearn-em: error: {tmp_path / 'nope.csv'}: no such file\n"
    code, _, err = run(["fit", str(tmp_path)], capsys)
    assert code == 2 and "is a directory" in err and err.count("\n") == 1


def test_binary_file(tmp_path, capsys):
    path = tmp_path / "data.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    code, _, err = run(["fit", str(path)], capsys)
    assert code == 2 and err.count("\n") == 1
    assert (
        err
        == f"sklearn-em: error: {path}: not a text file (it holds NUL bytes; expected CSV or TSV)\n"
    )


def test_unwritable_output(tmp_path, capsys):
    path, _ = blob_csv(tmp_path)
    code, out, err = run(["fit", path, "--out", str(tmp_path / "no" / "labels.csv")], capsys)
    assert code == 2 and out == "" and "does not exist" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "outputs, message",
    [
        # each wrote over the input file (exit 0), or one output over the other
        (["--out", "data.csv"], "--out data.csv: is the input file, which it would overwrite"),
        (["--impute", "./data.csv"], "--impute ./data.csv: is the input file"),
        (["--plot", "link.png"], "--plot link.png: is the input file"),
        (
            ["--out", "same.csv", "--impute", "same.csv"],
            "--out same.csv and --impute same.csv name the same file; give each its own",
        ),
    ],
)
def test_outputs_do_not_overwrite_the_input_or_each_other(
    tmp_path, capsys, monkeypatch, outputs, message
):
    if "--plot" in outputs:
        pytest.importorskip("matplotlib")
    path, _ = blob_csv(tmp_path)  # given by its absolute path, the outputs by relative ones
    (tmp_path / "link.png").symlink_to(path)
    monkeypatch.chdir(tmp_path)
    with open(path, encoding="utf-8") as f:
        before = f.read()
    code, out, err = run(["fit", path, "--quiet", "--components", "1", *outputs], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"sklearn-em: error: {message}")
    with open(path, encoding="utf-8") as f:
        assert f.read() == before
    assert not (tmp_path / "same.csv").exists()


def test_dash_writes_labels_or_the_filled_table_to_standard_output(tmp_path, capsys, monkeypatch):
    # '-' was a file named '-'; it is standard output, and the report goes to standard error
    path, _ = blob_csv(tmp_path)
    monkeypatch.chdir(tmp_path)
    argv = ["fit", path, "--quiet", "--components", "1-2", "--covariance", "full"]
    for option, name in (("--out", "labels.csv"), ("--impute", "filled.csv")):
        code, out, err = run(argv + [option, name], capsys)
        assert code == 0
        code, dash_out, dash_err = run(argv + [option, "-"], capsys)
        assert code == 0 and not (tmp_path / "-").exists()
        with open(name, newline="") as f:
            assert dash_out == f.read()
        assert dash_err == out.replace(f"written to {name}", "written to standard output")


@pytest.mark.parametrize(
    "outputs, message",
    [
        (["--out", "-", "--impute", "-"], "--out - and --impute -: both write to standard output"),
        (["--out", "-", "--json"], "--out -: standard output holds the --json report"),
        (["--impute", "-", "--json"], "--impute -: standard output holds the --json report"),
    ],
)
def test_one_thing_on_standard_output(tmp_path, capsys, monkeypatch, outputs, message):
    path, _ = blob_csv(tmp_path)
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["fit", path, "--quiet", "--components", "1", *outputs], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"sklearn-em: error: {message}; give ")
    assert not (tmp_path / "-").exists()


def test_a_dash_for_the_plot_is_no_standard_output(tmp_path, capsys, monkeypatch):
    # '-' is standard output for the tables only: with --out -, '--plot -' was named as
    # '--impute -' in the message about two tables on standard output
    pytest.importorskip("matplotlib")
    path, _ = blob_csv(tmp_path)
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["fit", path, "--components", "1", "--out", "-", "--plot", "-"], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("sklearn-em: error: --plot -: the file name must end in .png")


@pytest.mark.parametrize(
    "args",
    [
        ["--components", "0-3"],
        ["--components", "a"],
        ["--components", "5-2"],
        ["--covariance", "full,round"],
        ["--criterion", "mdl"],
        ["--n-init", "0"],
    ],
)
def test_bad_options_exit_2(capsys, args):
    code, out, err = run(["fit", *args], capsys)
    assert code == 2 and out == "" and "error:" in err


def test_help_and_version(capsys):
    code, out, _ = run(["--help"], capsys)
    assert code == 0 and "fit" in out
    code, out, _ = run(["fit", "--help"], capsys)
    assert code == 0 and "--components" in out and "sklearn-em[plot]" in out
    import sklearn_em

    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.strip() == f"sklearn-em {sklearn_em.__version__}"


def test_component_ranges_parse():
    from sklearn_em._cli import _components

    assert _components("1-9") == list(range(1, 10))
    assert _components("2,5") == [2, 5]
    assert _components("1-3,8, 2") == [1, 2, 3, 8]


# ----------------------------------------------------------------------------- progress
class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_only_on_a_terminal_and_not_when_quiet(tmp_path, capsys, monkeypatch):
    path, _ = blob_csv(tmp_path)
    argv = ["fit", path, "--components", "1-2", "--covariance", "full,diag"]
    code, _, err = run(argv, capsys)  # captured stderr is not a terminal
    assert code == 0 and err == ""
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    assert main(argv) == 0
    assert "\rfitting mixtures: 4/4 done" in term.getvalue()
    quiet = _Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    assert main(argv + ["--quiet"]) == 0
    assert quiet.getvalue() == ""


# ----------------------------------------------------------------------------- as a program
def test_python_dash_m(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sklearn_em",
            "fit",
            "--quiet",
            "--components",
            "1-2",
            "--covariance",
            "full",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["best"]["n_components"] == 2
    proc = subprocess.run(
        [sys.executable, "-m", "sklearn_em", "fit", str(tmp_path / "missing.csv")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "no such file" in proc.stderr


def test_console_script_is_declared():
    (script,) = [
        e for e in metadata.entry_points(group="console_scripts") if e.name == "sklearn-em"
    ]
    assert script.load() is main


# ----------------------------------------------------------------------------- columns and IDs
def id_csv(tmp_path, n=30, name="patients.csv"):
    """Two blobs with a patient number (1001, 1002, ...) and a text column."""
    rng = np.random.RandomState(3)
    X = np.vstack([rng.normal(0, 1, (n, 2)), rng.normal(8, 1, (n, 2))])
    lines = ["patient_id,a,b,ward"] + [
        f"{1001 + i},{float(X[i, 0])!r},{float(X[i, 1])!r},w{i % 2}" for i in range(len(X))
    ]
    return write(tmp_path, name, "\n".join(lines) + "\n"), X


def fit_json(capsys, path, *extra):
    code, out, err = run(
        ["fit", path, "--json", "--quiet", "--components", "1-2", "--covariance", "full", *extra],
        capsys,
    )
    assert code == 0, err
    return json.loads(out)


def bic_of(X):
    """The criterion of the best model of fit_json's grid, fitted in-process on X."""
    sel = GaussianMixtureSelector(n_components=[1, 2], covariance_type="full", random_state=0)
    return sel.fit(X).best_criterion_


def test_row_id_column_is_left_out_with_a_note(tmp_path, capsys):
    path, X = id_csv(tmp_path)
    doc = fit_json(capsys, path)
    assert doc["data"]["columns"] == ["a", "b"]
    assert doc["data"]["id_like_columns"] == ["patient_id"]
    assert doc["best"]["bic"] == bic_of(X)  # fitted on a and b only
    assert any("'patient_id'" in note and "row ID" in note for note in doc["notes"])
    code, out, _ = run(["fit", path, "--quiet", "--components", "1-2"], capsys)
    assert "left out as row IDs: patient_id" in out and "note: left out column 'patient_id'" in out


def test_columns_option_fits_what_it_names_even_an_id_like_column(tmp_path, capsys):
    path, X = id_csv(tmp_path)
    ids = np.arange(1001, 1001 + len(X), dtype=float)
    doc = fit_json(capsys, path, "--columns", "patient_id,b")
    assert doc["data"]["columns"] == ["patient_id", "b"] and doc["data"]["id_like_columns"] == []
    assert doc["best"]["bic"] == bic_of(np.c_[ids, X[:, 1]])
    doc = fit_json(capsys, path, "--columns", "3,2")  # 1-based positions, in the order given
    swapped = np.ascontiguousarray(X[:, [1, 0]])  # as read: a C-ordered array
    assert doc["data"]["columns"] == ["b", "a"] and doc["best"]["bic"] == bic_of(swapped)


def test_exclude_option(tmp_path, capsys):
    path, X = id_csv(tmp_path)
    doc = fit_json(capsys, path, "--exclude", "a")
    assert doc["data"]["columns"] == ["b"] and doc["data"]["excluded_columns"] == ["a"]
    assert doc["best"]["bic"] == bic_of(X[:, 1:])


def test_id_column_is_carried_into_out_and_not_fitted(tmp_path, capsys):
    path, X = id_csv(tmp_path)
    out_path = tmp_path / "labels.csv"
    doc = fit_json(capsys, path, "--id", "patient_id", "--out", str(out_path))
    assert doc["data"]["id_column"] == "patient_id" and doc["data"]["columns"] == ["a", "b"]
    assert doc["best"]["bic"] == bic_of(X)
    with open(out_path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["patient_id", "label", "uncertainty", "prob_0", "prob_1"]
    assert [r[0] for r in rows[1:]] == [str(1001 + i) for i in range(len(X))]
    sel = GaussianMixtureSelector(n_components=[1, 2], covariance_type="full", random_state=0)
    assert [int(r[1]) for r in rows[1:]] == sel.fit(X).predict(X).tolist()
    # a text column can be the identifier too
    doc = fit_json(capsys, path, "--id", "ward", "--out", str(out_path))
    with open(out_path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][0] == "ward" and [r[0] for r in rows[1:3]] == ["w0", "w1"]
    assert doc["data"]["dropped_columns"] == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["--columns", "height"], "--columns: no column 'height' (the columns of"),
        (["--columns", "9"], "--columns: no column '9'"),
        (["--exclude", "a,b,patient_id"], "--exclude: leaves no column of"),
        (["--exclude", "a,b"], "the only numeric column left, 'patient_id', looks like a row ID"),
        (["--columns", "ward"], "--columns: column 'ward' of"),
        (["--id", "nope"], "--id: no column 'nope'"),
        # a Unicode digit that int() does not read (it raised ValueError, exit 1)
        (["--id", "\u00b2"], "--id: no column '\u00b2'"),
        (["--columns", "a,\u0663"], "--columns: no column '\u0663'"),
        (["--id", "a", "--columns", "a,b"], "--columns: column 'a' is the --id column"),
    ],
)
def test_column_option_errors_name_the_option(tmp_path, capsys, args, message):
    path, _ = id_csv(tmp_path)
    code, out, err = run(["fit", path, "--quiet", *args], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert message in err and err.startswith("sklearn-em: error: ")
    assert message.startswith("the only") or err.startswith(f"sklearn-em: error: {message}")


@pytest.mark.parametrize("option", ["--columns", "--exclude", "--id"])
def test_a_duplicated_column_name_is_refused_where_it_is_named(tmp_path, capsys, option):
    # the reader took the first 'x', silently: by name the column is ambiguous, by position not
    path, _ = blob_csv(tmp_path, extra=("x", lambda i: repr(float(i % 5))))
    with open(path, encoding="utf-8") as f:
        text = f.read().replace("a,b,x", "x,b,x", 1)
    path = write(tmp_path, "dup.csv", text)
    code, out, err = run(["fit", path, "--quiet", "--components", "1", option, "x"], capsys)
    assert code == 2 and out == ""
    assert err == (
        f"sklearn-em: error: {option}: 2 columns of {path} are named 'x'; give the one you "
        "mean by its position (1 = the first column)\n"
    )
    doc = fit_json(capsys, path, option, "1")
    assert doc["data"]["columns"] == (["x"] if option == "--columns" else ["b", "x"])
    doc = fit_json(capsys, path)  # named by no option, both are fitted
    assert doc["data"]["columns"] == ["x", "b", "x"]


@pytest.mark.parametrize(
    "column, reason",
    [(["3"] * 30, "are constant"), (["1e-320", "2e-320", "1e-320"] * 10, "vary by so little")],
)
def test_a_column_without_a_scale_is_named(tmp_path, capsys, column, reason):
    rng = np.random.RandomState(0)
    rows = [f"{a!r},{c}" for a, c in zip(rng.normal(size=30), column)]
    path = write(tmp_path, "flat.csv", "speed,level\n" + "\n".join(rows) + "\n")
    code, out, err = run(["fit", path, "--quiet", "--components", "1-2"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"sklearn-em: error: {path}: Column(s) 'level' {reason}")


def test_only_an_id_like_column_is_an_error_with_the_remedy(tmp_path, capsys):
    path = write(tmp_path, "ids.csv", "n\n" + "\n".join(str(i) for i in range(1, 21)) + "\n")
    code, out, err = run(["fit", path, "--quiet"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--columns n" in err and "row ID" in err


@pytest.mark.parametrize(
    "values, expected",
    [
        (range(1, 11), True),
        (range(1001, 1021), True),
        (range(0, 100, 5), True),
        ([1, 2, 4, 5, 6, 7, 8, 9, 10, 11], False),
        (range(10, 0, -1), False),
        (np.arange(10) + 0.5, False),
        ([1] * 10, False),
        (range(1, 10), False),
        (list(range(1, 10)) + [np.nan], False),
    ],
)
def test_what_looks_like_a_row_id(values, expected):
    from sklearn_em._table import looks_like_row_id

    assert looks_like_row_id(np.array(list(values), dtype=float)) is expected


# ----------------------------------------------------------------------------- dialects
def test_semicolons_with_decimal_commas(tmp_path, capsys):
    path, X = blob_csv(tmp_path)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    german = write(tmp_path, "de.csv", text.replace(",", ";").replace(".", ","))
    doc = fit_json(capsys, german)
    assert (doc["data"]["delimiter"], doc["data"]["decimal"]) == (";", ",")
    assert doc["best"]["bic"] == bic_of(X)


def test_latin1_file_is_read_with_a_note(tmp_path, capsys):
    path, X = blob_csv(tmp_path)
    with open(path, encoding="utf-8") as f:
        text = f.read().replace("a,b", "größe,gewicht", 1)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(text.encode("latin-1"))
    doc = fit_json(capsys, str(latin))
    assert doc["data"]["columns"] == ["größe", "gewicht"] and doc["data"]["encoding"] == "cp1252"
    assert doc["best"]["bic"] == bic_of(X)
    assert any("not UTF-8" in n and "--encoding" in n for n in doc["notes"])
    doc = fit_json(capsys, str(latin), "--encoding", "latin-1")
    assert not any("UTF-8" in n for n in doc["notes"])
    assert doc["data"]["columns"] == ["größe", "gewicht"]
    code, _, err = run(["fit", str(latin), "--encoding", "klingon"], capsys)
    assert code == 2 and err == "sklearn-em: error: --encoding: unknown encoding 'klingon'\n"


def test_quoted_fields_comments_and_blank_lines(tmp_path, capsys):
    path, X = blob_csv(tmp_path)
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    body = [f'"{line.split(",")[0]}",{line.split(",")[1]},"Smith, J."' for line in lines[1:]]
    text = "# exported by hand\n" + lines[0] + ",name\n\n" + "\n".join(body) + "\n"
    doc = fit_json(capsys, write(tmp_path, "q.csv", text))
    assert doc["data"]["columns"] == ["a", "b"] and doc["data"]["dropped_columns"] == ["name"]
    assert doc["best"]["bic"] == bic_of(X)


def test_reader_gives_nan_for_missing_cells_and_line_numbers():
    from sklearn_em._table import read_table

    text = "# comment\na;b\n1;2\n\n3;NA\n;6\n7;8\n"
    table = read_table(text.encode(), "t")
    np.testing.assert_array_equal(table.values, [[1, 2], [3, np.nan], [np.nan, 6], [7, 8]])
    assert table.line_numbers.tolist() == [3, 5, 6, 7]


def test_text_after_the_sampled_rows_is_found(tmp_path, capsys):
    from sklearn_em import _table

    rows = [f"{i % 7}.5,{i % 11}.25" for i in range(_table.SAMPLE_ROWS + 50)]
    rows[_table.SAMPLE_ROWS + 20] = "3.5,oops"
    path = write(tmp_path, "late.csv", "a,b\n" + "\n".join(rows) + "\n")
    code, _, err = run(["fit", path, "--quiet"], capsys)
    line = _table.SAMPLE_ROWS + 22
    assert code == 2 and err.endswith(f"column 'b' mixes numbers and text (line {line}: 'oops')\n")


def _thousands_csv(tmp_path):
    """A semicolon file of decimal commas with an 'amount' column written with thousands
    separators ('5.151,24', as a spreadsheet formats money), and a text column 'site'."""
    rng = np.random.RandomState(0)
    X = np.round(np.vstack([rng.normal(0, 1, (30, 2)), rng.normal(8, 1, (30, 2))]), 3)
    lines = ["# exported from a spreadsheet", "amount;a;b;site"]
    for i, row in enumerate(X):
        cells = [f"{i + 5}.151,24", *(repr(float(v)).replace(".", ",") for v in row), f"s{i}"]
        lines.append(";".join(cells))
    return write(tmp_path, "money.csv", "\n".join(lines) + "\n"), X


def test_a_column_left_out_as_text_is_said_why_with_a_cell_of_it(tmp_path, capsys):
    # a column of numbers written with thousands separators ('5.151,24') in a file of
    # decimal commas was left out as "non-numeric" with no word on why: the note quotes a
    # cell that is not a number, and its line in the file (the comment line counts)
    path, X = _thousands_csv(tmp_path)
    doc = fit_json(capsys, path)
    assert doc["data"]["columns"] == ["a", "b"]
    assert doc["data"]["dropped_columns"] == ["amount", "site"]
    assert doc["best"]["bic"] == bic_of(X)
    left_out = [note for note in doc["notes"] if note.startswith("left out column")]
    assert left_out == [
        "left out column 'amount': no cell is a number (line 3: '5.151,24')",
        "left out column 'site': no cell is a number (line 3: 's0')",
    ]
    code, out, _ = run(["fit", path, "--quiet", "--components", "1-2"], capsys)
    assert "left out non-numeric column(s): amount, site" in out
    assert "note: left out column 'amount': no cell is a number (line 3: '5.151,24')\n" in out
    # a column the user leaves out, or does not choose, needs no note
    notes = fit_json(capsys, path, "--exclude", "site")["notes"]
    assert [note for note in notes if note.startswith("left out column")] == left_out[:1]
    notes = fit_json(capsys, path, "--columns", "a,b")["notes"]
    assert not any(note.startswith("left out column") for note in notes)
    # and the errors that leave out every column, or that --columns names, quote it too
    code, out, err = run(["fit", path, "--quiet", "--columns", "amount,a"], capsys)
    assert code == 2 and err == (
        f"sklearn-em: error: --columns: column 'amount' of {path} holds no numbers "
        "(line 3: '5.151,24')\n"
    )
    text = "amount;total\n5.151,24;1.000,5\n6.100,00;2.000,5\n"
    only = write(tmp_path, "only.csv", text)
    code, out, err = run(["fit", only, "--quiet"], capsys)
    assert code == 2 and err == (
        f"sklearn-em: error: {only}: no numeric columns (non-numeric columns: amount, total); "
        "column 'amount': no cell is a number (line 2: '5.151,24')\n"
    )
    code, out, err = run(["fit", only, "--quiet", "--exclude", "amount"], capsys)
    assert code == 2 and err.endswith("column 'total': no cell is a number (line 2: '1.000,5')\n")


def test_a_cell_after_the_sample_is_quoted_as_the_file_writes_it(tmp_path):
    # a thousands separator in a column of decimal commas, after the sampled rows: the
    # error quoted the cell with its comma made a point ('1.234.5'), not as in the file
    from sklearn_em import _table

    rows = [f"{i % 7},5;{i % 11},25" for i in range(_table.SAMPLE_ROWS + 50)]
    rows[_table.SAMPLE_ROWS + 20] = "1.234,5;3,25"
    path = write(tmp_path, "late.csv", "a;b\n" + "\n".join(rows) + "\n")
    with pytest.raises(_table.InputError) as info:
        _table.read_table(open(path, "rb").read(), "late.csv")
    line = _table.SAMPLE_ROWS + 22
    assert str(info.value) == (
        f"late.csv: column 'a' mixes numbers and text (line {line}: '1.234,5')"
    )


def _pandas(path, **kw):
    pd = pytest.importorskip("pandas")
    return pd.read_csv(path, **kw)


def test_a_column_whose_values_start_after_the_sample_is_read(tmp_path):
    # A column with no value in the first rows (a measurement added later) was called empty
    # and left out, though it holds numbers further down. Oracle: pandas' reader.
    from sklearn_em import _table

    n = _table.SAMPLE_ROWS + 500
    rows = [f"{i % 7}.5,{'' if i < _table.SAMPLE_ROWS + 5 else f'{i % 11}.25'}" for i in range(n)]
    path = write(tmp_path, "late.csv", "a,b\n" + "\n".join(rows) + "\n")
    table = _table.read_table(open(path, "rb").read(), path)
    expected = _pandas(path)
    assert table.columns == ["a", "b"] and not table.dropped
    np.testing.assert_array_equal(table.values, expected.to_numpy())


def test_a_column_without_any_value_is_still_empty(tmp_path):
    from sklearn_em import _table

    rows = [f"{i % 7}.5,," for i in range(_table.SAMPLE_ROWS + 50)]
    path = write(tmp_path, "empty.csv", "a,b,c\n" + "\n".join(rows) + "\n")
    table = _table.read_table(open(path, "rb").read(), path)
    assert table.columns == ["a"] and table.dropped == ["b (empty)", "c (empty)"]


def test_tab_separated_decimal_commas_with_a_late_empty_cell(tmp_path):
    # a spreadsheet's tab-delimited export (decimal commas) saved as .txt, an empty cell
    # after the lines the delimiter is sniffed from: runs of spaces were taken for the
    # delimiter and merged the empty cell away ("line 60 has 2 fields")
    rng = np.random.RandomState(0)
    X = np.round(rng.rand(80, 3) * 10, 2)
    lines = ["a\tb\tc"] + ["\t".join(f"{v:.2f}".replace(".", ",") for v in row) for row in X]
    lines[60] = lines[60].split("\t")[0] + "\t\t" + lines[60].split("\t")[2]
    path = write(tmp_path, "export.txt", "\n".join(lines) + "\n")
    from sklearn_em import _table

    table = _table.read_table(open(path, "rb").read(), path)
    expected = _pandas(path, sep="\t", decimal=",").to_numpy()
    assert table.delimiter == "\t" and table.decimal == ","
    np.testing.assert_array_equal(table.values, expected)


def test_decimal_commas_after_the_sample_in_a_semicolon_file(tmp_path):
    # whole numbers in the sampled rows, decimal commas after them: a semicolon file's
    # commas can only be decimal marks (it was "column 'a' mixes numbers and text")
    from sklearn_em import _table

    n = _table.SAMPLE_ROWS + 200
    rows = [
        f"{i % 7};{i % 5}" if i <= _table.SAMPLE_ROWS else f"{i % 7},5;{i % 5},25" for i in range(n)
    ]
    path = write(tmp_path, "late.csv", "a;b\n" + "\n".join(rows) + "\n")
    table = _table.read_table(open(path, "rb").read(), path)
    np.testing.assert_array_equal(table.values, _pandas(path, sep=";", decimal=",").to_numpy())


@pytest.mark.parametrize(
    "text, columns",
    [("Na\n1.5\n2.5\n3\n", ["Na"]), ("sample,Na\ns1,1.5\ns2,2.5\ns3,3\n", ["Na"])],
)
def test_a_header_of_names_that_read_as_missing_values(tmp_path, text, columns):
    # 'Na' (sodium) is a column name, not a missing cell: a first row with no number whose
    # cells are distinct is the header (it was taken for a data row without values)
    from sklearn_em import _table

    table = _table.read_table(text.encode(), "t")
    assert table.columns == columns
    np.testing.assert_array_equal(table.values[:, 0], [1.5, 2.5, 3.0])


def test_a_first_row_of_repeated_missing_tokens_is_no_header():
    from sklearn_em import _table

    with pytest.raises(_table.InputError, match="line 1 has no value"):
        from sklearn_em._cli import _check_rows

        table = _table.read_table(b"NA,NA\n1,2\n3,4\n5,6\n", "t")
        _check_rows(table, [1])


R_WRITE_TABLE = [
    # write.table(df, quote = TRUE): a header without a name for the row names
    ('"a" "b"\n"1" 0.5 2.1\n"2" 0.7 3.3\n"3" 1.5 2\n', ["a", "b"], ["(row names)"]),
    # write.table(df, row.names = FALSE) with a quoted text column holding a space
    ('"name" "a" "b"\n"x y0" 0.5 2.1\n"x y1" 0.7 3.3\n"x y2" 1.5 2\n', ["a", "b"], ["name"]),
    ('"a" "b"\n0.5 2.1\n0.7 3.3\n1.5 2\n', ["a", "b"], []),
    # write.table(df, sep = "\t") and (df, sep = ","): the row names' rule holds for any
    # delimiter (a second read found them refused once it was kept to spaces)
    ('"a"\t"b"\n"1"\t0.5\t2.1\n"2"\t0.7\t3.3\n"3"\t1.5\t2\n', ["a", "b"], ["(row names)"]),
    ('"a","b"\n"1",0.5,2.1\n"2",0.7,3.3\n"3",1.5,2\n', ["a", "b"], ["(row names)"]),
]


def test_a_lone_quote_between_spaces_is_part_of_its_cell():
    # a text cell that opens a quote and never closes it ('"Bob') was read before quotes
    # were understood between spaces, and must still be (a reviewer's second read)
    from sklearn_em import _table

    text = 'name a b\n"Bob 1.5 2.5\nAnn 0.5 1.0\nCy 2.0 3.0\n'
    table = _table.read_table(text.encode(), "t")
    assert table.columns == ["a", "b"] and table.dropped == ["name"]
    np.testing.assert_array_equal(table.values, [[1.5, 2.5], [0.5, 1.0], [2.0, 3.0]])


@pytest.mark.parametrize("text, columns, dropped", R_WRITE_TABLE)
def test_files_written_by_rs_write_table(text, columns, dropped):
    # space-separated, quoted: the quotes are understood (names kept their quotes, a quoted
    # text with a space split in two, and the row names' header made the file unreadable)
    from sklearn_em import _table

    table = _table.read_table(text.encode(), "t")
    assert table.columns == columns and table.dropped == dropped
    np.testing.assert_array_equal(table.values, [[0.5, 2.1], [0.7, 3.3], [1.5, 2.0]])


# One column saved by a spreadsheet with decimal commas has no delimiter at all: the comma
# split each number in two, and the header one name short took the whole part for R's row
# names -- 'a', '1,5', '2,5', '3,25' was read as 5, 5, 25 with no word (a reviewer's read).
@pytest.mark.parametrize(
    "text, values, noted",
    [
        # every line could be R's row name and a whole number: read as one column, said so
        ("a\n1,5\n2,5\n3,25\n", [1.5, 2.5, 3.25], True),
        ("a\r\n1,5\r\n2,5\r\n3,25\r\n", [1.5, 2.5, 3.25], True),
        # a row name is never 0 nor repeated, a whole number has no leading zero; a line of
        # a whole number or an NA has no comma: one column, nothing to say
        ("a\n0,5\n1,25\n2,75\n", [0.5, 1.25, 2.75], False),
        ("a\n1,5\n1,75\n2,5\n", [1.5, 1.75, 2.5], False),
        ("a\n1,05\n2,5\n3,25\n", [1.05, 2.5, 3.25], False),
        ("a\n1,5\n2\nNA\n-3,25\n", [1.5, 2.0, np.nan, -3.25], False),
        ('"weight, kg"\n"1,5"\n"2,25"\n', [1.5, 2.25], False),
        ("1\n1,5\n2,5\n", [1.0, 1.5, 2.5], False),  # (no header: it was an error)
    ],
)
def test_one_column_of_decimal_commas_is_one_column(text, values, noted):
    from sklearn_em import _table

    table = _table.read_table(text.encode(), "t.csv")
    assert table.values.shape == (len(values), 1)
    np.testing.assert_array_equal(table.values[:, 0], values)
    assert table.decimal == ","
    notes = [note for note in table.notes if "decimal commas" in note]
    assert notes == (
        [
            "read t.csv as one column of numbers with decimal commas (line 2: '1,5' as 1.5); "
            "if the field before each comma is R's row names, say --id 1"
        ]
        if noted
        else []
    )


def test_one_column_of_decimal_commas_is_fitted_with_a_note(tmp_path, capsys):
    rng = np.random.RandomState(0)
    X = np.round(np.concatenate([rng.normal(2, 0.3, 30), rng.normal(6, 0.3, 30)]), 2)
    X = X[np.argsort(rng.rand(len(X)))].reshape(-1, 1)
    cells = [f"{v:.2f}".replace(".", ",") for v in X[:, 0]]
    path = write(tmp_path, "one.csv", "size\n" + "\n".join(cells) + "\n")
    doc = fit_json(capsys, path)
    assert doc["data"]["columns"] == ["size"] and doc["data"]["dropped_columns"] == []
    assert (doc["data"]["delimiter"], doc["data"]["decimal"]) == (";", ",")
    assert doc["best"]["bic"] == bic_of(X)
    # its whole parts repeat: no row names, nothing to say
    assert not any("decimal commas" in note for note in doc["notes"])


def test_one_column_with_thousands_points_is_not_split_at_the_comma(tmp_path, capsys):
    # '5.151,24' was split at the comma into a row name and 24; the reader does not read
    # thousands points (as in a semicolon file): the error quotes the cell
    path = write(tmp_path, "money.csv", "amount\n5.151,24\n6.000,5\n7.123,10\n")
    code, out, err = run(["fit", path, "--quiet"], capsys)
    assert code == 2 and err == (
        f"sklearn-em: error: {path}: no numeric columns (non-numeric columns: amount); "
        "column 'amount': no cell is a number (line 2: '5.151,24')\n"
    )


def test_row_names_and_whole_numbers_are_read_as_such_when_said_or_plain():
    from sklearn_em import _table

    # --id 1 says the field before the comma is R's row names
    table = _table.read_table(b"a\n1,5\n2,5\n3,25\n", "t.csv", id_column="1")
    assert table.columns == ["a"] and table.ids.tolist() == ["1", "2", "3"]
    np.testing.assert_array_equal(table.values[:, 0], [5, 5, 25])
    assert table.notes == []
    # R's own row names 1, 2, ..., n on enough lines: read as row names, and said so
    n = _table.MIN_ID_ROWS
    values = [(3 * i) % 7 for i in range(n)]
    text = "x\n" + "".join(f"{i + 1},{v}\n" for i, v in enumerate(values))
    table = _table.read_table(text.encode(), "t.csv")
    assert table.columns == ["x"] and table.dropped == ["(row names)"]
    np.testing.assert_array_equal(table.values[:, 0], values)
    assert table.notes == [
        f"read the field before the comma on each line of t.csv as R's row names (1 to {n}; "
        "the header names one column fewer) and column 'x' as whole numbers; were the commas "
        "decimal commas (line 2: '1,0' as 1.0), write the numbers with decimal points"
    ]
    # row names that are text, or beside numbers with decimal points: as before, no note
    for text in ("x\na,5\nb,7\nc,9\n", "x\n1,5.0\n2,7.0\n3,9.0\n", '"x"\n"1",5\n"2",7\n"3",9\n'):
        table = _table.read_table(text.encode(), "t.csv")
        assert table.columns == ["x"] and table.dropped == ["(row names)"]
        np.testing.assert_array_equal(table.values[:, 0], [5, 7, 9])
        assert table.notes == []


def test_data_rows_ending_with_a_delimiter_are_still_an_error():
    # R's row-names rule (a header one name short) holds between spaces only: in a comma
    # file the data rows' extra, empty field is a delimiter ending each row, and taking the
    # first field for row names fitted b's values under a's name (a reviewer's second read)
    from sklearn_em import _table

    text = "a,b\n" + "".join(f"{i}.5,{100 + i}.25,\n" for i in range(30))
    with pytest.raises(_table.InputError, match="line 2 has 3 fields, but the first line has 2"):
        _table.read_table(text.encode(), "t")


def test_only_the_columns_empty_in_the_sample_are_judged_again():
    # a text column with one number-like cell after the sample stays text when another
    # column is judged on every row (judging them all made the file an error)
    from sklearn_em import _table

    n = _table.SAMPLE_ROWS + 500
    rows = []
    for i in range(n):
        site = "12" if i == _table.SAMPLE_ROWS + 300 else f"A{i % 13}"
        late = "" if i < _table.SAMPLE_ROWS + 5 else f"{i % 11}.5"
        rows.append(f"{site},{i % 7}.25,{i % 5}.75,{late}")
    text = "site,x,y,late\n" + "\n".join(rows) + "\n"
    table = _table.read_table(text.encode(), "t")
    assert table.columns == ["x", "y", "late"] and table.dropped == ["site"]


def test_the_rows_after_the_sample_are_split_only_where_needed(monkeypatch):
    # the decimal mark is looked for past the sample only while the sample shows none (the
    # whole file was split at every read of a non-comma file: 2.5x slower, 3x the memory)
    from sklearn_em import _table

    n = 3 * _table.SAMPLE_ROWS
    text = "a;b\n" + "".join(f"{i % 7}.5;{i % 5}.25\n" for i in range(n))
    split = []
    original = _table._split
    monkeypatch.setattr(
        _table, "_split", lambda lines, d: split.append(len(lines)) or original(lines, d)
    )
    table = _table.read_table(text.encode(), "t")
    assert table.values.shape == (n, 2)
    # the delimiter's sniff (a few splits of the first 50 lines) and the sample, no more
    assert sum(split) <= 6 * 50 + _table.SAMPLE_ROWS + 1


def test_impute_file_carries_the_id_column(tmp_path, capsys):
    rng = np.random.RandomState(1)
    X = rng.randn(40, 2)
    cells = [[repr(float(v)) for v in row] for row in X]
    cells[3][1] = "NA"
    lines = ["pid,date,x,y"] + [
        f"p{i},2020-01-{i % 28 + 1:02d},{c[0]},{c[1]}" for i, c in enumerate(cells)
    ]
    path = write(tmp_path, "ids.csv", "\n".join(lines) + "\n")
    out_path = tmp_path / "filled.csv"
    argv = ["fit", path, "--quiet", "--components", "1-2", "--id", "pid", "--impute", str(out_path)]
    code, _, err = run(argv, capsys)
    assert code == 0, err
    written = list(csv.reader(open(out_path)))
    assert written[0] == ["pid", "x", "y"]
    assert [row[0] for row in written[1:]] == [f"p{i}" for i in range(40)]
    np.testing.assert_array_equal(
        np.array([row[1:] for row in written[1:]], float)[np.arange(40) != 3], X[np.arange(40) != 3]
    )


# ----------------------------------------------------------------------------- argument errors
@pytest.mark.parametrize(
    "args, message",
    [
        (["--n-jobs", "0"], "argument --n-jobs: expected a number of processes >= 1, or -1"),
        (["--n-jobs", "-3"], "argument --n-jobs: expected"),
        (["--seed", "-1"], "argument --seed: expected an integer from 0 to 4294967295, got '-1'"),
        (["--seed", "1.5"], "argument --seed: expected an integer"),
        (["--prior-strength", "nan"], "argument --prior-strength: expected a number >= 0"),
        (["--components", "0-3"], "argument --components: numbers of components must be at least"),
        (["--columns", "a", "--exclude", "b"], "argument --exclude: not allowed with argument"),
        (["--plot", "fig.jpg"], "--plot fig.jpg: the file name must end in .png, .pdf, .svg"),
        (["--components", "1-10000000000"], "argument --components: at most 1000000 components"),
        (["--components", "5000000"], "argument --components: at most 1000000 components"),
        (["--criterion", "mdl"], "argument --criterion: invalid choice: 'mdl'"),
        # the names as written (they were upper-cased: 'SKLEARN', 'FULLL, VVX')
        (
            ["--covariance", "sklearn,VEV"],
            "argument --covariance: 'sklearn' names a group of covariance types and cannot be "
            "combined with other names, got 'sklearn,VEV'",
        ),
        (["--covariance", "All,full"], "argument --covariance: 'All' names a group"),
        (
            ["--covariance", "Fulll, vvx,EEV"],
            "argument --covariance: unknown covariance type(s) 'Fulll', 'vvx'; choose all",
        ),
    ],
)
def test_argument_errors_are_one_line_naming_the_option(capsys, args, message):
    code, out, err = run(["fit", *args], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"sklearn-em: error: {message}")
    assert "usage:" not in err and "faithful" not in err.lower()


def test_cli_choices_are_the_selectors():
    from sklearn_em import _cli, _selection

    assert _cli.COVARIANCE_TYPES == _selection.COVARIANCE_TYPES
    from sklearn_em._models import MODEL_NAMES

    assert _cli.MCLUST_MODELS == tuple(MODEL_NAMES)
    assert _cli.CRITERIA == _selection.CRITERIA


def test_a_long_grid_says_so_at_the_start(tmp_path, capsys, monkeypatch):
    import sklearn_em._cli as cli

    path, _ = blob_csv(tmp_path)
    monkeypatch.setattr(cli, "LONG_GRID", 1000)
    code, _, err = run(["fit", path, "--components", "1-3", "--covariance", "full"], capsys)
    assert code == 0
    assert err.startswith(
        "sklearn-em: fitting 3 mixture models (components 1-3 x 1 covariance "
        "type) to 60 rows x 2 columns; this may take a while"
    )
    argv = ["fit", path, "--components", "1-3", "--covariance", "full", "--quiet"]
    code, _, err = run(argv, capsys)
    assert code == 0 and err == ""
    # 'all' and 'sklearn' name 14 and 4 covariance types
    for covariance, n_types in (("all", 14), ("sklearn", 4)):
        code, _, err = run(["fit", path, "--components", "1-3", "--covariance", covariance], capsys)
        assert code == 0
        assert err.startswith(
            f"sklearn-em: fitting {3 * n_types} mixture models (components 1-3 x {n_types} "
            "covariance types) to 60 rows x 2 columns"
        )


def test_a_table_where_every_fit_is_degenerate_is_reported(tmp_path, capsys):
    # three distinct rows, each 20 times: every 3-component fit puts a component on a point
    rows = np.repeat([[0.0, 1.0], [3.0, -2.0], [5.0, 4.0]], 20, axis=0)
    path = tmp_path / "points.csv"
    np.savetxt(path, rows, delimiter=",", header="a,b", comments="")
    code, out, _ = run(["fit", str(path), "--components", "3", "--covariance", "sklearn"], capsys)
    assert code == 0
    sel = GaussianMixtureSelector(n_components=[3], covariance_type="sklearn", random_state=0)
    with pytest.warns(DegenerateFitWarning):
        sel.fit(rows)
    assert sel.results_["degenerate"].all()
    best = f"{sel.best_params_['covariance_type']} k=3"
    line = next(line for line in out.splitlines() if line.startswith("Best "))
    assert line.startswith("Best 3 by BIC (every fit degenerate): " + best)


def test_help_and_version_do_not_import_scikit_learn():
    code = (
        "import sys\n"
        "from sklearn_em._cli import main\n"
        "for argv in (['--help'], ['--version'], ['fit', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "assert 'sklearn' not in sys.modules, [m for m in sys.modules if 'sklearn.' in m][:5]\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_out_quotes_ids_as_csv_does(tmp_path, capsys):
    path, X = blob_csv(tmp_path, extra=("name", lambda i: f'"Smith, ""J{i}"""'))
    out_path = tmp_path / "labels.csv"
    fit_json(capsys, path, "--id", "name", "--out", str(out_path))
    with open(out_path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][0] == "name" and [r[0] for r in rows[1:3]] == ['Smith, "J0"', 'Smith, "J1"']
    assert len(rows) == len(X) + 1 and all(len(r) == 5 for r in rows)


def test_utf16_file_with_a_byte_order_mark(tmp_path, capsys):
    # what spreadsheets save as "Unicode text": UTF-16 with a BOM, tab-separated
    path, X = blob_csv(tmp_path, sep="\t")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    wide = tmp_path / "unicode.txt"
    wide.write_bytes(text.encode("utf-16"))
    doc = fit_json(capsys, str(wide))
    assert doc["data"]["encoding"] == "utf-16" and doc["data"]["delimiter"] == "\t"
    assert doc["best"]["bic"] == bic_of(X)
    assert not any("UTF-8" in n for n in doc["notes"])


def test_a_truncated_utf16_file_is_one_line_that_says_so(tmp_path, capsys):
    # an odd number of bytes after a UTF-16 byte-order mark (it raised UnicodeDecodeError)
    path = tmp_path / "cut.csv"
    path.write_bytes("a,b\n1,2\n3,4\n".encode("utf-16")[:-1])
    code, out, err = run(["fit", str(path), "--quiet"], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"sklearn-em: error: {path}: starts as UTF-16") and "--encoding" in err


def test_a_delimiter_ending_every_line_makes_no_column(tmp_path, capsys):
    path, X = blob_csv(tmp_path)
    with open(path, encoding="utf-8") as f:
        text = "".join(line.rstrip("\n") + ",\n" for line in f)
    doc = fit_json(capsys, write(tmp_path, "trailing.csv", text))
    assert doc["data"]["columns"] == ["a", "b"] and doc["data"]["dropped_columns"] == ["x3 (empty)"]
    assert doc["best"]["bic"] == bic_of(X)


def test_space_separated_file(tmp_path, capsys):
    # R's read.table format: fields separated by runs of spaces, an NA token
    path, X = blob_csv(tmp_path)
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    text = "\n".join("  ".join(f"{v:>24}" for v in line.split(",")) for line in lines) + "\n"
    doc = fit_json(capsys, write(tmp_path, "spaces.txt", text))
    assert doc["data"]["delimiter"] == " " and doc["data"]["columns"] == ["a", "b"]
    assert doc["best"]["bic"] == bic_of(X)
    from sklearn_em._table import read_table

    table = read_table(b"x y\n1 2\n3   NA\n", "t")
    np.testing.assert_array_equal(table.values, [[1, 2], [3, np.nan]])


def test_covariance_option_names_groups_and_models(tmp_path, capsys):
    from sklearn_em._cli import _covariances

    assert _covariances("all") == "all" and _covariances("ALL") == "all"
    assert _covariances("sklearn") == "sklearn" and _covariances("Sklearn, sklearn") == "sklearn"
    assert _covariances("eev, Full,VVE,eev") == ["EEV", "full", "VVE"]
    path, X = blob_csv(tmp_path)
    code, out, err = run(
        ["fit", path, "--json", "--quiet", "--components", "1-2", "--covariance", "sklearn"], capsys
    )
    assert code == 0
    assert [r["covariance_type"] for r in json.loads(out)["table"]][::2] == [
        "full",
        "tied",
        "diag",
        "spherical",
    ]
    code, out, err = run(
        ["fit", path, "--quiet", "--components", "2", "--covariance", "EEV,vvi"], capsys
    )
    assert code == 0 and "x covariance EEV, VVI" in out
    code, out, err = run(["fit", "--covariance", "full,EEX"], capsys)
    assert code == 2
    assert "unknown covariance type(s) 'EEX'; choose all (mclust's 14 models)" in " ".join(
        err.split()
    )


# ----------------------------------------------------------------------------- missing values
def test_missing_cells_are_fitted_reported_and_imputed(tmp_path, capsys):
    from sklearn_em import GaussianMixtureImputer

    X = faithful()
    rng = np.random.RandomState(0)
    hidden = rng.rand(*X.shape) < 0.1
    hidden[hidden.all(axis=1), 0] = False
    tokens = np.array(["", "NA", "nan", "?"])[rng.randint(0, 4, X.shape)]
    lines = ["eruptions,waiting"] + [
        ",".join(tok if h else repr(float(v)) for v, h, tok in zip(row, hid, toks))
        for row, hid, toks in zip(X, hidden, tokens)
    ]
    path = write(tmp_path, "holes.csv", "\n".join(lines) + "\n")
    out_path = tmp_path / "filled.csv"
    argv = ["fit", path, "--quiet", "--components", "1-3", "--covariance", "full,diag"]
    code, out, err = run(argv + ["--impute", str(out_path)], capsys)
    assert code == 0, err
    per_column = hidden.sum(axis=0)
    assert (
        f"{hidden.sum()} missing cells in {hidden.any(axis=1).sum()} rows "
        f"(eruptions {per_column[0]}, waiting {per_column[1]}); fitted on the observed cells"
    ) in out
    assert f"written to {out_path}" in out

    # the same fit in-process: the selector on the table with NaN, its conditional means
    Xm = np.where(hidden, np.nan, X)
    imp = GaussianMixtureImputer(
        GaussianMixtureSelector(
            n_components=[1, 2, 3], covariance_type=["full", "diag"], random_state=0
        )
    ).fit(Xm)
    written = np.loadtxt(out_path, delimiter=",", skiprows=1)
    np.testing.assert_array_equal(written[~hidden], X[~hidden])  # observed cells exactly
    np.testing.assert_allclose(written, imp.transform(Xm), rtol=1e-12)

    _, doc, _ = run(argv + ["--json"], capsys)
    missing = json.loads(doc)["data"]["missing"]
    assert missing == {
        "cells": int(hidden.sum()),
        "rows": int(hidden.any(axis=1).sum()),
        "by_column": {"eruptions": int(per_column[0]), "waiting": int(per_column[1])},
    }
    best = json.loads(doc)["best"]
    chosen = imp.estimator_.best_estimator_
    assert best["n_components"] == chosen.n_components
    np.testing.assert_allclose(best["means"], chosen.means_, rtol=1e-12)


def test_complete_table_reports_no_missing_cells(tmp_path, capsys):
    path = write(tmp_path, "ok.csv", "a,b\n1,2\n3,4.5\n5,6\n2,1\n")
    _, doc, _ = run(["fit", path, "--quiet", "--json", "--components", "1"], capsys)
    assert json.loads(doc)["data"]["missing"] is None


# Found by fuzzing the command with generated files: each read silently shifted, split or
# dropped cells, or stopped with a traceback. The oracle is the file as a person reads it.
@pytest.mark.parametrize(
    "data, tab, columns, values",
    [
        # tab-separated, an empty cell next to an NA token: the token's pattern took the tab
        # (the row lost a field, its values moved one column left)
        (b"a\tb\tc\n\tNA\t7\n1\t2\t3\n4\t5\t6\n", True, ["a", "b", "c"], [[np.nan, np.nan, 7]]),
        # a quoted text cell starting with an NA token lost its opening quote (and split)
        (b't,y,z\n"NA,",3,1\nb,4,2\nc,,3\n', False, ["y", "z"], [[3, 1], [4, 2], [np.nan, 3]]),
        # a form feed inside a line is not a line end (str.splitlines made two rows of it)
        (b"t,z\n1\x0c2,5\na,4\nb,6\n", False, ["z"], [[5], [4], [6]]),
        # '#' inside a text cell is no comment (NumPy cut the line there)
        (b"t,y\nq#z,1\nb,2\nc,3\n", False, ["y"], [[1], [2], [3]]),
        # decimal commas between spaces: comma-separated, each number split in two
        (b"1,5 2,25\n3,5 4,0\n-1,0 0,5\n", False, ["x1", "x2"], [[1.5, 2.25], [3.5, 4], [-1, 0.5]]),
        # UTF-32 with a byte-order mark (read as UTF-16: no numeric columns)
        ("a,b\n1,2\n3,4\n".encode("utf-32"), False, ["a", "b"], [[1, 2], [3, 4]]),
        # the empty last cell of a tab-separated file's last line
        (b"a\tb\n1\t2\n5\t6\n3\t\n", True, ["a", "b"], [[1, 2], [5, 6], [3, np.nan]]),
    ],
)
def test_cells_are_read_where_the_file_puts_them(data, tab, columns, values):
    from sklearn_em._table import read_table

    table = read_table(data, "t.csv", tab=tab)
    assert table.columns == columns
    np.testing.assert_array_equal(table.values[: len(values)], values)


@pytest.mark.parametrize(
    "data, options, message",
    [
        # tracebacks before: csv's field-size limit, a quoted comma hiding a short row, a
        # quote left open joining two lines, a codec raising UnicodeError itself
        (b"x" * 131_073, [], "a line cannot be split into fields"),
        (b'a,b,c\n"x,y",1\nz,2,3\nw,4,5\n', [], "line 2 has 2 fields, but the first line has 3"),
        (b'a,b\nq,1\n"x,y\nz,w"\nr,3\n', [], "line 3 has 1 fields, but the first line has 2"),
        (b"a,b\n1,2\n3,4\n", ["--encoding", "punycode"], "not readable as punycode"),
        # numbers Python's float() reads and NumPy's reader does not: named, not "cannot read"
        (b"y\n1_0\n2\n3\n", [], "column 'y' mixes numbers and text (line 2: '1_0')"),
        ("y\n\uff11\n2\n3\n".encode(), [], "column 'y' mixes numbers and text (line 2:"),
        # a form feed is not a line end: the cell is text, and the message shows it
        (b"y\n1\x0c2\n3\n4\n", [], "column 'y' mixes numbers and text (line 2: '1\\x0c2')"),
    ],
)
def test_a_file_that_is_no_table_is_one_line_naming_the_problem(
    tmp_path, capsys, data, options, message
):
    path = tmp_path / "in.csv"
    path.write_bytes(data)
    code, out, err = run(["fit", str(path), "--quiet", "--components", "1", *options], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"sklearn-em: error: {path}") and message in err


@pytest.mark.parametrize(
    "text",
    [
        # R: write.csv(iris[1:5, 1:2]) -- its row names under an empty header cell
        '"","Sepal.Length","Sepal.Width"\n"1",5.1,3.5\n"2",4.9,3\n"3",4.7,3.2\n"4",4.6,3.1\n'
        '"5",5,3.6\n',
        # pandas: DataFrame.to_csv() of five rows -- its index under an empty header cell
        ",Sepal.Length,Sepal.Width\n0,5.1,3.5\n1,4.9,3.0\n2,4.7,3.2\n3,4.6,3.1\n4,5.0,3.6\n",
    ],
)
def test_an_unnamed_first_column_of_row_numbers_is_left_out_in_a_few_rows(text):
    # the row IDs of fewer than 10 rows were fitted as a column (x1): a measurement can step
    # evenly by chance in a handful of rows, but the index R and pandas write first has no
    # name above it
    from sklearn_em import _table

    table = _table.read_table(text.encode(), "t.csv")
    assert table.columns == ["Sepal.Length", "Sepal.Width"] and table.id_like == ["x1"]
    np.testing.assert_array_equal(
        table.values, [[5.1, 3.5], [4.9, 3.0], [4.7, 3.2], [4.6, 3.1], [5.0, 3.6]]
    )
    # a named column of the same numbers is data in so few rows
    named = _table.read_table(
        text.replace('""', '"n"', 1).replace(",Sepal", "n,Sepal", 1).encode(), "t"
    )
    assert named.columns[0] == "n" and named.id_like == []
