"""Tests of the ``sklearn-em`` command line: its numbers against the selector fitted
in-process, its reading of CSV/TSV, its files, and one-line errors with exit status 2."""

import csv
import io
import json
import subprocess
import sys
from importlib import metadata, resources

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from sklearn_em import GaussianMixtureSelector
from sklearn_em._cli import main



pytestmark = pytest.mark.usefixtures("one_thread")


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def faithful():
    path = resources.files("sklearn_em").joinpath("data", "old_faithful.csv")
    with resources.as_file(path) as p:
        return np.genfromtxt(p, delimiter=",", skip_header=1)


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
    for row, i in zip(table, range(9 * 14)):
        assert row["covariance_type"] == sel.results_["covariance_type"][i]
        assert row["n_components"] == sel.results_["n_components"][i]
        for name in ("bic", "aic", "icl", "log_likelihood"):
            assert row[name] == sel.results_[name][i]
    best = default_json["best"]
    assert (best["covariance_type"], best["n_components"]) == (
        sel.best_params_["covariance_type"], sel.best_params_["n_components"])
    assert best["criterion"] == "bic"
    assert best["criterion_value"] == min(r["bic"] for r in table) == sel.best_criterion_
    np.testing.assert_array_equal(best["means"], sel.best_estimator_.means_)
    np.testing.assert_array_equal(best["weights"], sel.best_estimator_.weights_)
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
    sel = GaussianMixtureSelector(n_components=[1, 2, 3], covariance_type=["full", "tied"], random_state=0).fit(faithful())
    est = sel.best_estimator_
    assert "272 rows x 2 numeric columns: eruptions, waiting" in out
    assert "Next: sklearn-em fit data.csv" in out  # the newcomer's pointer onwards
    assert f"Chosen model: {est.n_components} components, covariance_type='{est.covariance_type}'" in out
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


# ----------------------------------------------------------------------------- reading files
def test_csv_with_text_column_is_fitted_on_numbers(tmp_path, capsys):
    path, X = blob_csv(tmp_path, extra=("species", lambda i: f"s{i % 3}"))
    code, out, err = run([
        "fit", path, "--json", "--quiet", "--components", "1-3", "--covariance", "full,diag", "--seed", "4"
    ], capsys)
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert doc["data"]["columns"] == ["a", "b"] and doc["data"]["dropped_columns"] == ["species"]
    sel = GaussianMixtureSelector(n_components=[1, 2, 3], covariance_type=["full", "diag"], random_state=4).fit(X)
    assert [r["bic"] for r in doc["table"]] == sel.results_["bic"].tolist()
    assert doc["best"]["n_components"] == 2
    code, out, _ = run(["fit", path, "--quiet", "--components", "1-2"], capsys)
    assert "left out non-numeric column(s): species" in out
    assert "Next:" not in out


@pytest.mark.parametrize("name, sep", [("data.tsv", "\t"), ("data.txt", "\t"), ("data.csv", ";")])
def test_tsv_and_other_delimiters(tmp_path, capsys, name, sep):
    path, X = blob_csv(tmp_path, name=name, sep=sep)
    code, out, _ = run(["fit", path, "--json", "--quiet", "--components", "2", "--covariance", "diag"], capsys)
    assert code == 0
    best = json.loads(out)["best"]
    est = GaussianMixtureSelector(2, covariance_type="diag", random_state=0).fit(X)
    assert best["bic"] == est.bic(X)


def test_file_without_header_keeps_its_first_row(tmp_path, capsys):
    path, X = blob_csv(tmp_path, header=False)
    code, out, _ = run(["fit", path, "--json", "--quiet", "--components", "1-2", "--covariance", "full"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["data"]["n_rows"] == len(X) and doc["data"]["columns"] == ["x1", "x2"]


def test_standard_input(tmp_path, capsys, monkeypatch):
    path, X = blob_csv(tmp_path)
    with open(path, encoding="utf-8") as f:
        monkeypatch.setattr(sys, "stdin", io.StringIO(f.read()))
    code, out, _ = run(["fit", "-", "--json", "--quiet", "--components", "2", "--covariance", "tied"], capsys)
    assert code == 0
    assert json.loads(out)["best"]["bic"] == GaussianMixtureSelector(2, covariance_type="tied", random_state=0).fit(X).bic(X)


def test_labels_file(tmp_path, capsys):
    path, X = blob_csv(tmp_path)
    out_path = tmp_path / "labels.csv"
    code, out, _ = run(["fit", path, "--quiet", "--components", "1-3", "--covariance", "full",
                        "--out", str(out_path)], capsys)
    assert code == 0 and f"written to {out_path}" in out
    with open(out_path, newline="") as f:
        rows = list(csv.reader(f))
    sel = GaussianMixtureSelector(n_components=[1, 2, 3], covariance_type="full", random_state=0).fit(X)
    k = sel.best_estimator_.n_components
    assert rows[0] == ["label"] + [f"prob_{j}" for j in range(k)]
    labels = np.array([int(r[0]) for r in rows[1:]])
    proba = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    np.testing.assert_array_equal(labels, sel.predict(X))
    np.testing.assert_array_equal(proba, sel.predict_proba(X))  # repr round-trips exactly
    np.testing.assert_array_equal(labels, proba.argmax(axis=1))


@pytest.mark.parametrize("criterion", ["aic", "icl"])
def test_criterion_option(tmp_path, capsys, criterion):
    path, X = blob_csv(tmp_path)
    code, out, _ = run(["fit", path, "--json", "--quiet", "--components", "1-3",
                        "--covariance", "spherical,full", "--criterion", criterion], capsys)
    doc = json.loads(out)
    assert doc["criterion"] == criterion == doc["best"]["criterion"]
    assert doc["best"]["criterion_value"] == min(r[criterion] for r in doc["table"] if not r["degenerate"])


def test_prior_strength_is_passed_through(tmp_path, capsys):
    path, X = blob_csv(tmp_path)
    code, out, _ = run(["fit", path, "--json", "--quiet", "--components", "2", "--covariance", "full",
                        "--prior-strength", "1"], capsys)
    est = GaussianMixtureSelector(2, covariance_type="full", random_state=0, prior_strength=1.0).fit(X)
    assert code == 0 and json.loads(out)["best"]["bic"] == est.bic(X)
    code, _, err = run(["fit", path, "--prior-strength", "-1"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--prior-strength" in err


def test_notes_on_an_unreliable_choice(tmp_path, capsys):
    # 6 rows, up to 2 components: the best model sits on the edge of the grid and has
    # more parameters than rows -- both are said, in the text and in the JSON
    text = "x,y\n1,2\n2,3.5\n3,1\n8,9\n9,8\n8.5,9.1\n"
    path = write(tmp_path, "small.csv", text)
    code, out, _ = run(["fit", path, "--quiet", "--components", "1-2", "--covariance", "full"], capsys)
    assert code == 0
    doc_code, doc, _ = run(["fit", path, "--quiet", "--json", "--components", "1-2", "--covariance", "full"], capsys)
    best = json.loads(doc)["best"]
    notes = json.loads(doc)["notes"]
    assert best["n_components"] == 2 and best["n_parameters"] >= 6
    assert any("largest number of components tried (2)" in n for n in notes)
    assert any(f"{best['n_parameters']} free parameters for 6 rows" in n for n in notes)
    for note in notes:
        assert f"note: {note}" in out
    # a comfortable choice has no such notes
    _, doc, _ = run(["fit", "--quiet", "--json", "--components", "1-3", "--covariance", "full"], capsys)
    assert json.loads(doc)["notes"] == []


# ----------------------------------------------------------------------------- bad input
BAD_FILES = {
    "empty": ("", "empty"),
    "blank lines": ("\n\n  \n", "empty"),
    "header only": ("a,b\n", "no data rows"),
    "text only": ("name,city\nann,paris\nbob,rome\n", "no numeric columns"),
    "mixed column": ("a,b\n1,2\n3,x\n5,6\n", "column 'b' mixes numbers and text (line 3: 'x')"),
    "missing cell": ("a,b\n1,2\n3,\n5,6\n", "missing value at line 3, column 'b'"),
    "NA cell": ("a,b\n1,2\n3,NA\n5,NA\n", "(2 missing cells in all)"),
    "ragged": ("a,b\n1,2\n3,4,5\n", "line 3 has 3 fields"),
    "infinite": ("a,b\n1,2\n3,inf\n5,6\n", "infinite value at line 3"),
    "one row": ("a,b\n1,2\n", "at least 2 data rows"),
    "too few rows": ("a,b\n1,2\n3,4\n5,7\n", "3 data rows are fewer than the 9 components asked for; try --components 1-3"),
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


def test_missing_file_and_directory(tmp_path, capsys):
    code, _, err = run(["fit", str(tmp_path / "nope.csv")], capsys)
    assert code == 2 and err == f"sklearn-em: error: {tmp_path / 'nope.csv'}: no such file\n"
    code, _, err = run(["fit", str(tmp_path)], capsys)
    assert code == 2 and "is a directory" in err and err.count("\n") == 1


def test_binary_file(tmp_path, capsys):
    path = tmp_path / "data.csv"
    path.write_bytes(b"\xff\xfe\x00\x81binary")
    code, _, err = run(["fit", str(path)], capsys)
    assert code == 2 and "not a UTF-8 text file" in err and err.count("\n") == 1


def test_unwritable_output(tmp_path, capsys):
    path, _ = blob_csv(tmp_path)
    code, out, err = run(["fit", path, "--out", str(tmp_path / "no" / "labels.csv")], capsys)
    assert code == 2 and out == "" and "does not exist" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "args",
    [["--components", "0-3"], ["--components", "a"], ["--components", "5-2"],
     ["--covariance", "full,round"], ["--criterion", "mdl"], ["--n-init", "0"]],
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
        [sys.executable, "-m", "sklearn_em", "fit", "--quiet", "--components", "1-2",
         "--covariance", "full", "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["best"]["n_components"] == 2
    proc = subprocess.run(
        [sys.executable, "-m", "sklearn_em", "fit", str(tmp_path / "missing.csv")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "no such file" in proc.stderr


def test_console_script_is_declared():
    (script,) = [e for e in metadata.entry_points(group="console_scripts") if e.name == "sklearn-em"]
    assert script.load() is main


def test_covariance_option_names_groups_and_models(tmp_path, capsys):
    from sklearn_em._cli import _covariances

    assert _covariances("all") == "all" and _covariances("ALL") == "all"
    assert _covariances("sklearn") == "sklearn"
    assert _covariances("eev, Full,VVE,eev") == ["EEV", "full", "VVE"]
    path, X = blob_csv(tmp_path)
    code, out, err = run(["fit", path, "--json", "--quiet", "--components", "1-2",
                          "--covariance", "sklearn"], capsys)
    assert code == 0
    assert [r["covariance_type"] for r in json.loads(out)["table"]][::2] == [
        "full", "tied", "diag", "spherical"]
    code, out, err = run(["fit", path, "--quiet", "--components", "2",
                          "--covariance", "EEV,vvi"], capsys)
    assert code == 0 and "x covariance EEV, VVI" in out
    code, out, err = run(["fit", "--covariance", "full,EEX"], capsys)
    assert code == 2
    assert "unknown covariance type(s) 'EEX'; choose all (mclust's 14 models)" in " ".join(err.split())
