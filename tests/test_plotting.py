"""Tests of sklearn_em.plotting: what is drawn equals the numbers it stands for, files are
valid PNGs, and without matplotlib the package still imports and the error names the extra."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from sklearn_em import GaussianMixtureEM, GaussianMixtureSelector
from sklearn_em._cli import main
from sklearn_em._models import MODEL_NAMES

matplotlib = pytest.importorskip("matplotlib")
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

from sklearn_em import plotting  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


pytestmark = pytest.mark.usefixtures("one_thread")


def new_axes():
    fig = Figure()
    FigureCanvasAgg(fig)
    return fig.add_subplot()


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    return np.vstack(
        [
            rng.multivariate_normal([0, 0], [[2, 1.2], [1.2, 1]], 60),
            rng.multivariate_normal([7, 3], [[1, -0.5], [-0.5, 1]], 60),
        ]
    )


@pytest.fixture(scope="module")
def selector(data):
    with threadpool_limits(1):
        return GaussianMixtureSelector(n_components=[1, 2, 3], random_state=0).fit(data)


def mahalanobis_on_boundary(ellipse, mean, cov):
    """Mahalanobis distance from ``mean`` of points on the drawn outline of ``ellipse``.

    An Ellipse is the unit circle under its patch transform (the path's Bezier control
    points lie off the curve, so the circle is sampled here instead).
    """
    t = np.linspace(0, 2 * np.pi, 50)
    pts = ellipse.get_patch_transform().transform(np.c_[np.cos(t), np.sin(t)])
    diff = pts - mean
    return np.sqrt(np.einsum("ni,ij,nj->n", diff, np.linalg.inv(cov), diff))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n_std", [1.0, 2.0])
def test_ellipse_is_the_mahalanobis_contour(seed, n_std):
    rng = np.random.RandomState(seed)
    A = rng.normal(size=(2, 2))
    cov = A @ A.T + 0.1 * np.eye(2)
    mean = rng.normal(size=2) * 5
    e = plotting.component_ellipse(mean, cov, n_std)
    np.testing.assert_allclose(mahalanobis_on_boundary(e, mean, cov), n_std, rtol=1e-9)


def test_criterion_plot_draws_the_table(selector):
    ax = plotting.plot_criterion(selector, ax=new_axes())
    res = selector.results_
    lines = {line.get_label(): line for line in ax.get_lines()}
    types = list(dict.fromkeys(res["covariance_type"]))
    assert types == list(MODEL_NAMES)  # the default grid: mclust's 14 models
    for t in types:
        rows = np.flatnonzero(res["covariance_type"] == t)
        np.testing.assert_array_equal(lines[t].get_xdata(), res["n_components"][rows])
        np.testing.assert_array_equal(lines[t].get_ydata(), res["bic"][rows])
    (best,) = [line for label, line in lines.items() if label.startswith("best")]
    assert best.get_ydata()[0] == selector.best_criterion_
    assert best.get_xdata()[0] == selector.best_params_["n_components"]
    ax = plotting.plot_criterion(selector, criterion="aic", ax=new_axes())
    assert ax.get_ylabel() == "AIC (lower is better)"
    with pytest.raises(ValueError, match="criterion"):
        plotting.plot_criterion(selector, criterion="r2", ax=new_axes())


def test_criterion_plot_circles_the_selectors_choice_among_ties():
    # one Gaussian: 'full' and 'tied' with one component are the same model, their BIC
    # equal up to rounding (here tied's is 6e-14 lower); the selector takes the first in the
    # grid, and the plot must circle that one, not the rounding's minimum
    rng = np.random.RandomState(0)
    X = rng.multivariate_normal([0, 0], [[2, 1.2], [1.2, 1]], 80)
    sel = GaussianMixtureSelector(
        n_components=[1, 2], covariance_type=["full", "tied"], random_state=0
    ).fit(X)
    assert sel.best_params_ == {"covariance_type": "full", "n_components": 1}

    def circled(selector):
        ax = plotting.plot_criterion(selector, ax=new_axes())
        (label,) = [
            line.get_label() for line in ax.get_lines() if line.get_label().startswith("best")
        ]
        return label

    assert circled(sel) == "best: full, k=1"
    # whichever way this platform rounds: tied k=1 lower by a tie's width
    bic = sel.results_["bic"].copy()
    bic[2] = bic[0] - 1e-10
    sel.results_ = {**sel.results_, "bic": bic}
    assert circled(sel) == "best: full, k=1"


@pytest.mark.parametrize("cov_type", ["full", "tied", "diag", "spherical"])
def test_classification_plot_in_2d(data, cov_type):
    est = GaussianMixtureEM(2, covariance_type=cov_type, random_state=0).fit(data)
    ax = plotting.plot_classification(est, data, ax=new_axes(), feature_names=["u", "v"])
    labels = est.predict(data)
    points = [np.asarray(c.get_offsets()) for c in ax.collections]
    for j, pts in enumerate(points):
        np.testing.assert_array_equal(pts, data[labels == j])
    ellipses = [p for p in ax.patches if isinstance(p, Ellipse)]
    assert len(ellipses) == 2 * est.n_components
    full = plotting._full_covariances(est)
    for j in range(est.n_components):
        for e, n_std in zip(ellipses[2 * j : 2 * j + 2], (1, 2)):
            np.testing.assert_allclose(
                mahalanobis_on_boundary(e, est.means_[j], full[j]), n_std, rtol=1e-8
            )
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("u", "v")


def test_full_covariances_agree_with_sklearn_conventions(data):
    for cov_type in ("tied", "diag", "spherical"):
        est = GaussianMixtureEM(2, covariance_type=cov_type, random_state=0).fit(data)
        full = plotting._full_covariances(est)
        # the precision of a component is the inverse of its covariance, whatever the type
        prec = {
            "tied": lambda j: est.precisions_,
            "diag": lambda j: np.diag(est.precisions_[j]),
            "spherical": lambda j: est.precisions_[j] * np.eye(2),
        }[cov_type]
        for j in range(2):
            np.testing.assert_allclose(full[j] @ prec(j), np.eye(2), atol=1e-8)


def test_classification_plot_projects_wider_data():
    from sklearn.decomposition import PCA

    rng = np.random.RandomState(1)
    X = np.vstack([rng.normal(0, 1, (50, 4)), rng.normal(6, 1, (50, 4))]) @ rng.normal(size=(4, 4))
    est = GaussianMixtureEM(2, random_state=0).fit(X)
    ax = plotting.plot_classification(est, X, ax=new_axes())
    pca = PCA(2).fit(X)
    labels = est.predict(X)
    ref = pca.transform(X)
    signs = None
    for j, coll in enumerate(ax.collections):
        pts = np.asarray(coll.get_offsets())
        if signs is None:  # principal axes are defined up to their sign
            signs = np.sign(pts[0] / ref[labels == j][0])
        np.testing.assert_allclose(pts, ref[labels == j] * signs, atol=1e-8)
    V = pca.components_.T * signs
    ellipses = [p for p in ax.patches if isinstance(p, Ellipse)]
    for j in range(2):
        mean = (est.means_[j] - pca.mean_) @ V
        cov = V.T @ est.covariances_[j] @ V
        np.testing.assert_allclose(
            mahalanobis_on_boundary(ellipses[2 * j], mean, cov), 1, rtol=1e-7
        )
    assert "principal axis" in ax.get_xlabel()


def test_classification_plot_in_1d():
    from scipy.stats import norm

    rng = np.random.RandomState(2)
    X = np.concatenate([rng.normal(0, 1, 80), rng.normal(6, 0.5, 80)])[:, None]
    est = GaussianMixtureEM(2, random_state=0).fit(X)
    ax = plotting.plot_classification(est, X, ax=new_axes())
    curves = [line for line in ax.get_lines() if line.get_label().startswith("component")]
    assert len(curves) == 2
    for j, line in enumerate(curves):
        x = line.get_xdata()
        expected = est.weights_[j] * norm.pdf(
            x, est.means_[j, 0], np.sqrt(est.covariances_[j, 0, 0])
        )
        np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-10)


def is_png(path):
    with open(path, "rb") as f:
        head = f.read(8)
    return head == PNG_MAGIC


def test_selection_figure_is_a_png(selector, data, tmp_path):
    import matplotlib.image as mpimg

    path = tmp_path / "fig.png"
    assert plotting.save_selection_figure(selector, data, path, dpi=50) == path
    assert is_png(path)
    img = mpimg.imread(path)
    assert img.shape[:2] == (int(5.5 * 50), 19 * 50) and img.shape[2] in (3, 4)
    assert img[..., :3].std() > 0  # not a blank canvas


def test_cli_plot_writes_a_png(tmp_path, capsys):
    import matplotlib.image as mpimg

    path = tmp_path / "out.png"
    assert main(["fit", "--quiet", "--components", "1-3", "--plot", str(path)]) == 0
    assert f"Plots written to {path}" in capsys.readouterr().out
    assert is_png(path) and mpimg.imread(path).ndim == 3


def test_without_matplotlib_the_error_names_the_extra(
    monkeypatch, selector, data, tmp_path, capsys
):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(ImportError, match=r"pip install sklearn-em\[plot\]"):
        plotting.plot_criterion(selector)
    with pytest.raises(ImportError, match=r"pip install sklearn-em\[plot\]"):
        plotting.save_selection_figure(selector, data, tmp_path / "x.png")
    path = tmp_path / "fig.png"
    assert main(["fit", "--quiet", "--plot", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "pip install sklearn-em[plot]" in err
    assert not path.exists()


def test_package_imports_without_matplotlib():
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "import sklearn_em, sklearn_em.plotting, sklearn_em._cli\n"
        "from sklearn_em import GaussianMixtureSelector\n"
        "assert sys.modules['matplotlib'] is None\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


# ----------------------------------------------------------------------------- formats
def read_back(path, fmt):
    """Parse a written figure back: pixels of a PNG, the page of a PDF, the XML of an SVG."""
    data = path.read_bytes()
    if fmt == "png":
        import matplotlib.image as mpimg

        img = mpimg.imread(path)
        assert data.startswith(PNG_MAGIC) and img.ndim == 3 and img[..., :3].std() > 0
        return img.shape
    if fmt == "pdf":
        assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
        assert data.count(b"/Type /Page\n") + data.count(b"/Type /Page ") >= 1
        return len(data)
    import xml.etree.ElementTree as ET

    root = ET.fromstring(data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


@pytest.mark.parametrize("fmt", ["png", "pdf", "svg"])
def test_figure_format_follows_the_extension(selector, data, tmp_path, fmt):
    path = tmp_path / f"fig.{fmt.upper() if fmt == 'pdf' else fmt}"
    plotting.save_selection_figure(selector, data, path, dpi=40)
    read_back(path, fmt)
    for other in {"png", "pdf", "svg"} - {fmt}:
        magic = {"png": PNG_MAGIC, "pdf": b"%PDF"}.get(other, b"<svg")
        assert not path.read_bytes().startswith(magic)


def test_svg_holds_the_axis_labels_as_text(data, tmp_path):
    sel = GaussianMixtureSelector(n_components=[1, 2], covariance_type="full", random_state=0)
    sel.fit(data)
    path = tmp_path / "fig.svg"
    plotting.save_selection_figure(sel, data, path, feature_names=["height", "weight"])
    svg = path.read_text(encoding="utf-8")
    assert "height" in svg and "weight" in svg  # matplotlib writes each text beside its glyphs
    read_back(path, "svg")


@pytest.mark.parametrize("name", ["fig.jpg", "fig", "fig.png.bak"])
def test_unknown_figure_format_is_one_clear_error(selector, data, tmp_path, name):
    with pytest.raises(ValueError, match=r"cannot write a figure as .* use one of png, pdf, svg"):
        plotting.save_selection_figure(selector, data, tmp_path / name)
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("fmt", ["pdf", "svg"])
def test_cli_plot_writes_the_format_of_its_extension(tmp_path, capsys, fmt):
    path = tmp_path / f"out.{fmt}"
    assert main(["fit", "--quiet", "--components", "1-3", "--plot", str(path)]) == 0
    read_back(path, fmt)


# ----------------------------------------------------------------------------- what is drawn
def test_ellipses_are_drawn_above_the_points_with_a_legend(data):
    est = GaussianMixtureEM(2, random_state=0).fit(data)
    ax = plotting.plot_classification(est, data, ax=new_axes())
    ellipses = [p for p in ax.patches if isinstance(p, Ellipse)]
    assert min(e.get_zorder() for e in ellipses) > max(c.get_zorder() for c in ax.collections)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["component 0", "component 1", "1 standard deviation", "2 standard deviations"]
    styles = {
        t.get_text(): h.get_linestyle()
        for t, h in zip(ax.get_legend().get_texts(), ax.get_legend().legend_handles)
    }
    # the legend's line styles are the ellipses' own
    assert {e.get_linestyle() for e in ellipses[0::2]} == {styles["1 standard deviation"]}
    assert {e.get_linestyle() for e in ellipses[1::2]} == {styles["2 standard deviations"]}


def test_many_points_are_thinned_and_translucent():
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(0, 1, (30_000, 2)), rng.normal(6, 1, (30_000, 2))])
    est = GaussianMixtureEM(2, random_state=0).fit(X)
    ax = plotting.plot_classification(est, X, ax=new_axes(), max_points=20_000)
    drawn = np.vstack([c.get_offsets() for c in ax.collections])
    assert len(drawn) == 20_000
    # a subset of the rows, each in its own component's colour group
    rows = {tuple(r) for r in X}
    assert all(tuple(p) in rows for p in drawn[:200])
    assert all(c.get_alpha() < 0.2 for c in ax.collections)
    assert "20,000 of 60,000 points shown" in ax.get_title()
    small = plotting.plot_classification(est, X[:200], ax=new_axes())
    assert all(c.get_alpha() >= 0.7 for c in small.collections)


def test_uncertainty_plot_draws_at_most_max_points():
    # an even subset plus the most uncertain rows: it drew 1,082 points for max_points=1,000
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(0, 1, (3000, 2)), rng.normal(2.5, 1, (3000, 2))])
    est = GaussianMixtureEM(2, random_state=0).fit(X)
    ax = plotting.plot_uncertainty(est, X, ax=new_axes(), max_points=1000)
    drawn = np.vstack([c.get_offsets() for c in ax.collections if len(c.get_offsets())])
    assert len(drawn) <= 1000
    u = plotting.uncertainty(est, X)
    # the most uncertain tenth is among them
    worst = X[np.argsort(u)[-100:]]
    assert {tuple(r) for r in worst} <= {tuple(p) for p in drawn}


@pytest.mark.parametrize("max_points", [1, 5, 9, 10, 50])
def test_uncertainty_plot_draws_at_most_a_few_points(max_points):
    # below 10 points the most uncertain tenth is none (the slice [-0:] took them all, and
    # the even subset's size went negative)
    rng = np.random.RandomState(1)
    X = np.vstack([rng.normal(0, 1, (300, 2)), rng.normal(2.0, 1, (300, 2))])
    est = GaussianMixtureEM(2, random_state=0).fit(X)
    ax = plotting.plot_uncertainty(est, X, ax=new_axes(), max_points=max_points)
    drawn = np.vstack([c.get_offsets() for c in ax.collections if len(c.get_offsets())])
    assert len(drawn) == max_points


def test_pandas_missing_values_are_plotted():
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(0, 1, (50, 3)), rng.normal(4, 1, (50, 3))])
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).astype("Float64")
    frame.iloc[3, 1] = pd.NA
    est = GaussianMixtureEM(2, random_state=0).fit(frame)
    Xm = X.copy()
    Xm[3, 1] = np.nan
    ax = plotting.plot_classification(est, frame, ax=new_axes())
    same = plotting.plot_classification(est, Xm, ax=new_axes())
    for a, b in zip(ax.collections, same.collections):
        np.testing.assert_allclose(a.get_offsets(), b.get_offsets(), rtol=1e-12, atol=1e-12)


def test_missing_cells_are_drawn_at_their_conditional_means():
    # wider data with a missing cell made the plots fail (the principal axes of rows with
    # NaN: "SVD did not converge"); two columns silently left the row out. Oracle: the
    # conditional mean of x2 given x1 under the fitted mixture, by hand.
    from scipy.stats import norm

    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(0, 1, (80, 2)), rng.normal(5, 1, (80, 2)) @ [[1, 0.5], [0, 1]]])
    est = GaussianMixtureEM(2, random_state=0).fit(X)
    Xm = X.copy()
    Xm[7, 1] = np.nan
    ax = plotting.plot_classification(est, Xm, ax=new_axes())
    drawn = np.vstack([c.get_offsets() for c in ax.collections if len(c.get_offsets())])
    assert len(drawn) == len(X)
    cov = est.covariances_
    x1 = Xm[7, 0]
    r = est.weights_ * norm.pdf(x1, est.means_[:, 0], np.sqrt(cov[:, 0, 0]))
    r /= r.sum()
    cond = est.means_[:, 1] + cov[:, 1, 0] / cov[:, 0, 0] * (x1 - est.means_[:, 0])
    expected = (x1, float(r @ cond))
    assert np.min(np.hypot(*(drawn - expected).T)) < 1e-9
    assert "missing cells at their conditional means" in ax.get_title()
    X4 = np.hstack([X, X @ [[1.0, 0.2], [0.3, 1.0]] + rng.normal(0, 0.5, X.shape)])
    X4[[3, 50, 90], [1, 2, 3]] = np.nan
    est4 = GaussianMixtureEM(2, random_state=0).fit(X4)
    for plot in (plotting.plot_classification, plotting.plot_uncertainty):
        ax = plot(est4, X4, ax=new_axes())
        drawn = np.vstack([c.get_offsets() for c in ax.collections if len(c.get_offsets())])
        assert len(drawn) == len(X4) and np.all(np.isfinite(drawn))


def test_a_selector_fitted_on_a_dataframe_names_the_axes():
    pd = pytest.importorskip("pandas")
    from sklearn_em.datasets import load_faithful

    frame = load_faithful(as_frame=True).data
    sel = GaussianMixtureSelector(n_components=[2], covariance_type="full", random_state=0)
    sel.fit(frame)
    ax = plotting.plot_classification(sel, frame.to_numpy(), ax=new_axes())
    assert (ax.get_xlabel(), ax.get_ylabel()) == tuple(frame.columns)
    assert isinstance(frame, pd.DataFrame)


def test_one_dimensional_data_get_a_histogram_and_the_mixture_density():
    rng = np.random.RandomState(2)
    X = np.concatenate([rng.normal(0, 1, 300), rng.normal(6, 0.5, 200)])[:, None]
    est = GaussianMixtureEM(2, random_state=0).fit(X)
    ax = plotting.plot_classification(est, X, ax=new_axes(), feature_names=["depth"])
    bars = [p for p in ax.patches if type(p).__name__ == "Rectangle"]
    widths = np.array([b.get_width() for b in bars])
    heights = np.array([b.get_height() for b in bars])
    assert len(bars) > 5 and np.sum(widths * heights) == pytest.approx(1.0)  # a density
    (mixture,) = [line for line in ax.get_lines() if line.get_label() == "mixture density"]
    x = mixture.get_xdata()
    expected = np.exp(est.score_samples(x[:, None]))
    np.testing.assert_allclose(mixture.get_ydata(), expected, rtol=1e-10)
    assert ax.get_xlabel() == "depth"


def test_dataframe_columns_label_the_axes_without_warnings():
    pd = pytest.importorskip("pandas")
    import warnings

    from sklearn_em.datasets import load_faithful

    frame = load_faithful(as_frame=True).frame
    assert isinstance(frame, pd.DataFrame)
    est = GaussianMixtureEM(2, random_state=0).fit(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax = plotting.plot_classification(est, frame, ax=new_axes())
        ax2 = plotting.plot_uncertainty(est, frame, ax=new_axes())
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("eruptions", "waiting")
    assert (ax2.get_xlabel(), ax2.get_ylabel()) == ("eruptions", "waiting")
    # the names the model was fitted with label plain arrays too
    ax = plotting.plot_classification(
        GaussianMixtureEM(2, random_state=0).fit(frame), frame, ax=new_axes()
    )
    assert ax.get_xlabel() == "eruptions"


def posterior_by_scipy(est, X):
    from scipy.stats import multivariate_normal

    full = plotting._full_covariances(est)
    dens = np.column_stack(
        [w * multivariate_normal(m, c).pdf(X) for w, m, c in zip(est.weights_, est.means_, full)]
    )
    return dens / dens.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("cov_type", ["full", "spherical"])
def test_uncertainty_is_one_minus_the_largest_posterior(data, cov_type):
    est = GaussianMixtureEM(2, covariance_type=cov_type, random_state=0).fit(data)
    expected = 1 - posterior_by_scipy(est, data).max(axis=1)
    np.testing.assert_allclose(plotting.uncertainty(est, data), expected, atol=1e-12)
    ax = plotting.plot_uncertainty(est, data, ax=new_axes())
    (points,) = ax.collections
    row = {tuple(x): i for i, x in enumerate(data)}
    drawn = [row[tuple(p)] for p in np.asarray(points.get_offsets())]
    assert sorted(drawn) == list(range(len(data)))  # every point, once
    np.testing.assert_allclose(points.get_array(), expected[drawn], atol=1e-12)
    sizes = points.get_sizes()
    assert np.all(np.diff(sizes) >= 0)  # drawn from the surest to the most uncertain, growing


def test_uncertainty_in_one_dimension():
    rng = np.random.RandomState(4)
    X = np.concatenate([rng.normal(0, 1, 100), rng.normal(3, 1, 100)])[:, None]
    est = GaussianMixtureEM(2, random_state=0).fit(X)
    ax = plotting.plot_uncertainty(est, X, ax=new_axes())
    pts = ax.collections[0].get_offsets()
    np.testing.assert_allclose(np.sort(pts[:, 1]), np.sort(plotting.uncertainty(est, X)))
    assert ax.get_ylabel().startswith("uncertainty")


# ---------------------------------------------------------------------------- plot_criterion inputs
def test_plot_criterion_takes_models_with_x_or_a_results_mapping(data):
    models = [
        GaussianMixtureEM(k, covariance_type=t, random_state=0).fit(data)
        for t in ("full", "diag")
        for k in (1, 2, 3)
    ]
    ax = plotting.plot_criterion(models, data, ax=new_axes())
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_array_equal(lines["full"].get_ydata(), [m.bic(data) for m in models[:3]])
    np.testing.assert_array_equal(lines["diag"].get_xdata(), [1, 2, 3])
    ax = plotting.plot_criterion(models[1], data, criterion="icl", ax=new_axes())
    assert ax.get_lines()[0].get_ydata()[0] == models[1].icl(data)
    sel = GaussianMixtureSelector(n_components=[1, 2], random_state=0).fit(data)
    ax = plotting.plot_criterion(sel.results_, criterion="aic", ax=new_axes())
    assert ax.get_lines()[0].get_ydata().tolist() == sel.results_["aic"][:2].tolist()
    # the results as a DataFrame, the natural way to look at them: it was taken for a model
    # (its columns are attributes) and asked for X, then failed inside pandas with it
    table = pd.DataFrame(sel.results_)
    ax = plotting.plot_criterion(table, criterion="aic", ax=new_axes())
    assert ax.get_lines()[0].get_ydata().tolist() == sel.results_["aic"][:2].tolist()


def test_plot_criterion_says_what_it_cannot_plot(data):
    from sklearn.exceptions import NotFittedError

    est = GaussianMixtureEM(2, random_state=0).fit(data)
    with pytest.raises(TypeError, match=r"needs X to compute the criterion of GaussianMixtureEM"):
        plotting.plot_criterion(est, ax=new_axes())
    with pytest.raises(TypeError, match=r"plots a fitted GaussianMixtureSelector.*got str"):
        plotting.plot_criterion("bic", ax=new_axes())
    with pytest.raises(NotFittedError):
        plotting.plot_criterion(GaussianMixtureSelector(), ax=new_axes())
    with pytest.raises(ValueError, match=r"the results to plot have no bic entry"):
        plotting.plot_criterion({"covariance_type": ["full"], "n_components": [1]}, ax=new_axes())


def test_degenerate_fits_are_gaps_and_never_best():
    results = {
        "covariance_type": np.array(["full"] * 4),
        "n_components": np.array([1, 2, 3, 4]),
        "bic": np.array([10.0, 8.0, 5.0, 9.0]),
        "degenerate": np.array([False, False, True, False]),
    }
    ax = plotting.plot_criterion(results, ax=new_axes())
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_array_equal(lines["full"].get_ydata(), [10.0, 8.0, np.nan, 9.0])
    np.testing.assert_array_equal(lines["degenerate (not chosen)"].get_xdata(), [3])
    (best,) = [line for label, line in lines.items() if label.startswith("best")]
    assert (best.get_xdata()[0], best.get_ydata()[0]) == (2, 8.0)


def test_a_model_it_cannot_draw_is_named(data):
    from types import SimpleNamespace

    odd = SimpleNamespace(
        covariance_type="XYZ", means_=np.zeros((2, 2)), covariances_=np.ones((2, 2))
    )
    with pytest.raises(ValueError, match=r"Unknown covariance_type 'XYZ'; expected one of"):
        plotting._full_covariances(odd)


# ------------------------------------------------------------- found by a reviewer
def test_bad_arguments_say_what_is_wrong(data, selector, tmp_path):
    gm = GaussianMixtureEM(2, random_state=0).fit(data)
    # (these failed inside NumPy or matplotlib: "not enough values to unpack", "negative
    # dimensions are not allowed", plot_criterion's TypeError; 0 drew an empty plot)
    with pytest.raises(ValueError, match="feature_names has 1 name"):
        plotting.plot_classification(gm, data, ax=new_axes(), feature_names=["x"])
    for bad in (0, -1, 2.5):
        for plot in (plotting.plot_classification, plotting.plot_uncertainty):
            with pytest.raises(ValueError, match="max_points must be a positive int"):
                plot(gm, data, ax=new_axes(), max_points=bad)
    with pytest.raises(ValueError, match="X is 1-D"):
        plotting.plot_classification(gm, data[:, 0], ax=new_axes())
    with pytest.raises(TypeError, match="draws a GaussianMixtureSelector's"):
        plotting.save_selection_figure(gm, data, tmp_path / "g.png")


def test_uncertainty_title_counts_as_the_classification_does(data):
    one = GaussianMixtureEM(1, random_state=0).fit(data)
    ax = plotting.plot_uncertainty(one, data, ax=new_axes())
    assert ax.get_title().startswith("Uncertainty: full, 1 component") and "components" not in (
        ax.get_title()
    )
    # every row's uncertainty is 0 under one component; its scale was 0 to 1e-12
    points = next(c for c in ax.collections if c.get_array() is not None)
    assert points.get_clim() == (0.0, 1.0) and not np.any(points.get_array())
    column = data[:, :1]
    ax = plotting.plot_uncertainty(GaussianMixtureEM(1).fit(column), column, ax=new_axes())
    assert ax.get_ylim()[1] == pytest.approx(1.05)
    two = GaussianMixtureEM(2, random_state=0).fit(data)
    ax = plotting.plot_uncertainty(two, data, ax=new_axes(), max_points=50)
    shown = sum(len(c.get_offsets()) for c in ax.collections)
    assert f"{shown} of {len(data)} points shown" in ax.get_title()
    ax = plotting.plot_classification(two, data, ax=new_axes(), max_points=50)
    assert "50 of 120 points shown" in ax.get_title()
