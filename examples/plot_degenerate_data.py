"""
===============
Degenerate data
===============

Maximum likelihood breaks down when a component can collapse: here, a few rows repeat
exactly, and a component that sits on them has a singular covariance. scikit-learn
stops with an error; :class:`~sklearn_em.GaussianMixtureEM` repairs the component and
says so with a :class:`~sklearn_em.DegenerateComponentWarning`. ``prior_strength``
(mclust's conjugate prior) avoids the singularity altogether.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.mixture import GaussianMixture

from sklearn_em import DegenerateComponentWarning, GaussianMixtureEM
from sklearn_em.plotting import plot_classification

rng = np.random.default_rng(3)
X = np.vstack(
    [rng.normal(0, 1, (100, 2)), rng.normal(5, 1, (100, 2)), np.tile([[10.0, -3.0]], (6, 1))]
)  # six identical rows

# %%
# scikit-learn, without regularisation
try:
    GaussianMixture(n_components=3, reg_covar=0, random_state=0).fit(X)
except ValueError as exc:
    print("scikit-learn:", str(exc).split(".")[0])

# %%
# sklearn-em repairs the collapsing component and warns
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", DegenerateComponentWarning)
    gm = GaussianMixtureEM(n_components=3, reg_covar=0, random_state=0).fit(X)
for w in caught[:3]:
    print("warning:", w.message)

# %%
# With mclust's prior the fit is regular by construction
prior = GaussianMixtureEM(n_components=3, prior_strength=1.0, random_state=0).fit(X)
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
plot_classification(gm, X, ax=left)
left.set_title("maximum likelihood, repaired")
plot_classification(prior, X, ax=right)
right.set_title("posterior mode, prior_strength=1")
plt.show()
