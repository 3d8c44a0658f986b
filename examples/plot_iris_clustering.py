"""
=================================
Clustering iris: four dimensions
=================================

The iris measurements have four columns; the plots draw them on their first two
principal axes, with the components' ellipses projected onto the same plane. Without
the species, how well do three components recover them?
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_iris
from sklearn.metrics import adjusted_rand_score, confusion_matrix

from sklearn_em import GaussianMixtureEM
from sklearn_em.plotting import plot_classification

iris = load_iris(as_frame=True)
X, species = iris.data, iris.target

# %%
# Three components, each with its own full covariance
gm = GaussianMixtureEM(n_components=3, covariance_type="full", n_init=3, random_state=0).fit(X)
labels = gm.predict(X)
print("adjusted Rand index against the species:", round(adjusted_rand_score(species, labels), 3))
print(confusion_matrix(species, labels))

# %%
# Each covariance type constrains the ellipses differently (see the user guide): the
# same data with four of them.
fig, axes = plt.subplots(2, 2, figsize=(11, 9), layout="constrained")
for ax, cov in zip(axes.ravel(), ["full", "tied", "diag", "spherical"]):
    model = GaussianMixtureEM(n_components=3, covariance_type=cov, n_init=3, random_state=0).fit(X)
    plot_classification(model, X, ax=ax)
    ax.set_title(
        f"{cov}: ARI {adjusted_rand_score(species, model.predict(X)):.2f}, BIC {model.bic(X):.0f}"
    )
plt.show()

# %%
# The four covariance types' numbers of free parameters, from their BIC and likelihood
for cov in ["full", "tied", "diag", "spherical"]:
    model = GaussianMixtureEM(n_components=3, covariance_type=cov, random_state=0).fit(X)
    n = len(X)
    log_lik = model.score(X) * n
    p = (model.bic(X) + 2 * log_lik) / np.log(n)
    print(f"{cov:>9}: {p:.0f} free parameters")
