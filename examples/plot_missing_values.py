"""
=========================================
Missing values: fit them, then fill them
=========================================

``GaussianMixtureEM.fit`` takes NaN for a missing cell and drops no row: each row
contributes through its observed cells (observed-data EM). ``GaussianMixtureImputer`` then
fills every missing cell with its conditional mean under the mixture, given the row's
observed cells. Here a quarter of the cells of Old Faithful are hidden; the mixture fitted to
what is left is compared with the one fitted to the complete table, and its fills with those
of scikit-learn's imputers.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, SimpleImputer

from sklearn_em import GaussianMixtureEM, GaussianMixtureImputer
from sklearn_em.datasets import load_faithful

X = load_faithful().data
rng = np.random.default_rng(0)
hidden = rng.random(X.shape) < 0.25
hidden[hidden.all(axis=1), 0] = False  # every row keeps an observed cell
X_missing = np.where(hidden, np.nan, X)
print(f"{hidden.sum()} of {X.size} cells hidden; {hidden.any(axis=1).sum()} rows incomplete")

# %%
# The mixture fitted to the incomplete table is close to the complete table's (two 'tied'
# components: short and long eruptions).
complete = GaussianMixtureEM(2, covariance_type="tied", random_state=0).fit(X)
incomplete = GaussianMixtureEM(2, covariance_type="tied", random_state=0).fit(X_missing)
order = np.argsort(complete.means_[:, 0]), np.argsort(incomplete.means_[:, 0])
print("means, complete table:\n", complete.means_[order[0]].round(2))
print("means, 25% of cells missing:\n", incomplete.means_[order[1]].round(2))

# %%
# Fill the cells three ways and score each on the hidden cells (root mean square error,
# in the columns' own units: minutes of eruption, minutes of waiting).
imputers = {
    "column mean": SimpleImputer(),
    "IterativeImputer": IterativeImputer(random_state=0),
    "GaussianMixtureImputer": GaussianMixtureImputer(
        GaussianMixtureEM(2, covariance_type="tied", random_state=0)
    ),
}
filled = {name: imp.fit_transform(X_missing) for name, imp in imputers.items()}
for name, F in filled.items():
    error = np.where(hidden, F - X, 0.0)
    rmse = np.sqrt((error**2).sum(axis=0) / hidden.sum(axis=0))
    print(f"{name:>22}: eruptions {rmse[0]:.2f} min, waiting {rmse[1]:.2f} min")

# %%
# Where the filled rows land. The column mean puts a row's missing cell on that column's
# mean, whatever the row's observed cell says; IterativeImputer puts it on one regression
# line through both clusters; the mixture's conditional mean follows the regression line
# within the cluster that the observed cell points to.
fig, axes = plt.subplots(1, 3, figsize=(12, 4), sharex=True, sharey=True, layout="constrained")
incomplete_rows = hidden.any(axis=1)
for ax, (name, F) in zip(axes, filled.items()):
    ax.scatter(*X[~incomplete_rows].T, s=8, c="0.75", label="complete rows")
    ax.scatter(*F[incomplete_rows].T, s=12, c="C3", label="filled rows")
    ax.set_title(name)
    ax.set_xlabel("eruptions (min)")
axes[0].set_ylabel("waiting (min)")
axes[0].legend(loc="upper left")
plt.show()
