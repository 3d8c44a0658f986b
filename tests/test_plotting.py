"""Tests of sklearn_em.plotting: what is drawn equals the numbers it stands for, files are
valid PNGs, and without matplotlib the package still imports and the error names the extra."""

import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from sklearn_em._models import MODEL_NAMES
from sklearn_em import GaussianMixtureEM, GaussianMixtureSelector
from sklearn_em._cli import main

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
    return np.vstack([rng.multivariate_normal([0, 0], [[2, 1.2], [1.2, 1]], 60),
                      rng.multivariate_normal([7, 3], [[1, -0.5], [-0.5, 1]], 60)])


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
        for e, n_std in zip(ellipses[2 * j: 2 * j + 2], (1, 2)):
            np.testing.assert_allclose(mahalanobis_on_boundary(e, est.means_[j], full[j]), n_std, rtol=1e-8)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("u", "v")


def test_full_covariances_agree_with_sklearn_conventions(data):
    for cov_type in ("tied", "diag", "spherical"):
        est = GaussianMixtureEM(2, covariance_type=cov_type, random_state=0).fit(data)
        full = plotting._full_covariances(est)
        # the precision of a component is the inverse of its covariance, whatever the type
        prec = {"tied": lambda j: est.precisions_,
                "diag": lambda j: np.diag(est.precisions_[j]),
                "spherical": lambda j: est.precisions_[j] * np.eye(2)}[cov_type]
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
        np.testing.assert_allclose(mahalanobis_on_boundary(ellipses[2 * j], mean, cov), 1, rtol=1e-7)
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
        expected = est.weights_[j] * norm.pdf(x, est.means_[j, 0], np.sqrt(est.covariances_[j, 0, 0]))
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
    assert img.shape[:2] == (int(5.5 * 50), 13 * 50) and img.shape[2] in (3, 4)
    assert img[..., :3].std() > 0  # not a blank canvas


def test_cli_plot_writes_a_png(tmp_path, capsys):
    import matplotlib.image as mpimg

    path = tmp_path / "out.png"
    assert main(["fit", "--quiet", "--components", "1-3", "--plot", str(path)]) == 0
    assert f"Plots written to {path}" in capsys.readouterr().out
    assert is_png(path) and mpimg.imread(path).ndim == 3


def test_without_matplotlib_the_error_names_the_extra(monkeypatch, selector, data, tmp_path, capsys):
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
