"""
=====================================
Model selection with BIC, AIC and ICL
=====================================

:class:`~sklearn_em.GaussianMixtureSelector` fits every combination of number of
components and covariance type and keeps the best by a criterion, as R's mclust does.
The three criteria can disagree: AIC penalises parameters less, ICL prefers well
separated clusters.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

from sklearn_em import GaussianMixtureSelector
from sklearn_em.plotting import plot_criterion

rng = np.random.default_rng(1)
# three groups, two of them overlapping
X = np.vstack(
    [
        rng.multivariate_normal([0, 0], [[1.0, 0.6], [0.6, 1.0]], 200),
        rng.multivariate_normal([2.2, 1.0], [[0.6, 0.0], [0.0, 0.6]], 150),
        rng.multivariate_normal([7, 5], [[0.5, -0.2], [-0.2, 0.8]], 150),
    ]
)

sel = GaussianMixtureSelector(n_components=range(1, 8), random_state=0).fit(X)
sel.print_results()

# %%
# The criterion plot: one line per covariance type, the best circled
fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), layout="constrained")
for ax, criterion in zip(axes, ["bic", "aic", "icl"]):
    plot_criterion(sel, criterion=criterion, ax=ax)
plt.show()

# %%
# The best model by each criterion, from the same table
res = sel.results_
for criterion in ["bic", "aic", "icl"]:
    i = int(np.nanargmin(res[criterion]))
    print(f"{criterion}: {res['covariance_type'][i]}, k={res['n_components'][i]}")

# %%
# The chosen model, with each point's uncertainty
# -----------------------------------------------
# :func:`~sklearn_em.plotting.save_selection_figure` writes the criterion,
# classification and uncertainty plots side by side to a file (PNG, PDF or SVG, by
# its extension); here the two right-hand ones are drawn on the page.
from sklearn_em.plotting import plot_classification, plot_uncertainty  # noqa: E402

fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
plot_classification(sel, X, ax=left)
plot_uncertainty(sel, X, ax=right)
plt.show()
