"""
====================================
Density estimation in one dimension
====================================

A mixture is also a smooth density estimate. Here, a sample from a skewed, two-humped
distribution: the fitted mixture density is drawn over the histogram, with each weighted
component, and scored on fresh data against the true density.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

from sklearn_em import GaussianMixtureSelector
from sklearn_em.plotting import plot_classification

rng = np.random.default_rng(0)
truth = [(0.6, stats.gamma(a=2.0, scale=1.0)), (0.4, stats.norm(loc=7.0, scale=0.8))]


def draw(n):
    which = rng.random(n) < truth[0][0]
    return np.where(
        which, truth[0][1].rvs(n, random_state=rng), truth[1][1].rvs(n, random_state=rng)
    )[:, None]


X, X_new = draw(600), draw(2000)

# %%
# Choose the number of components by BIC (in one dimension the covariance types agree)
sel = GaussianMixtureSelector(n_components=range(1, 7), covariance_type="full", random_state=0).fit(
    X
)
print(sel.best_params_)

# %%
fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
plot_classification(sel, X, ax=ax, feature_names=["x"])
grid = np.linspace(X.min() - 1, X.max() + 1, 400)
true_density = sum(w * d.pdf(grid) for w, d in truth)
ax.plot(grid, true_density, color="crimson", linewidth=1, label="true density")
ax.legend(fontsize="small")
plt.show()

# %%
# Average log-density of new data: the chosen mixture against the truth
true_log = np.log(sum(w * d.pdf(X_new[:, 0]) for w, d in truth)).mean()
print(f"mixture: {sel.score(X_new):.3f}   true density: {true_log:.3f}")
