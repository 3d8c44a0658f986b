"""
=======================================
Clustering the Old Faithful eruptions
=======================================

Old Faithful's eruptions come in two kinds: short ones after short waits and long ones
after long waits. A two-component Gaussian mixture finds them, and says how sure it is
about each eruption.
"""

# %%
# Load the data
# -------------
# :func:`~sklearn_em.datasets.load_faithful` returns a scikit-learn ``Bunch``; with
# ``as_frame=True`` its ``data`` is a pandas DataFrame, whose column names the plots use.
import matplotlib.pyplot as plt

from sklearn_em import GaussianMixtureEM
from sklearn_em.datasets import load_faithful
from sklearn_em.plotting import plot_classification, plot_uncertainty

faithful = load_faithful(as_frame=True)
X = faithful.data
print(X.describe().round(2))

# %%
# Fit two components
# ------------------
gm = GaussianMixtureEM(n_components=2, covariance_type="full", random_state=0).fit(X)
print("weights:", gm.weights_.round(3))
print("means:\n", gm.means_.round(2))
print(f"converged after {gm.n_iter_} iterations; BIC {gm.bic(X):.1f}")

# %%
# The classification and its uncertainty
# ---------------------------------------
# Each point is coloured by its most probable component; the ellipses hold the points
# within 1 and 2 standard deviations of each component. The uncertainty of a point is
# 1 minus its largest probability: only the few eruptions between the two groups are
# in doubt.
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
plot_classification(gm, X, ax=left)
plot_uncertainty(gm, X, ax=right)
plt.show()

# %%
# The most uncertain eruptions
# ----------------------------
proba = gm.predict_proba(X)
uncertainty = 1 - proba.max(axis=1)
doubtful = X.assign(uncertainty=uncertainty).nlargest(5, "uncertainty")
print(doubtful.round(3))
