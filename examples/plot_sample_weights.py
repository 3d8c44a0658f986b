"""
====================================
Sample weights are frequency weights
====================================

``sample_weight`` counts rows: integer weights give exactly the model fitted to the
data with each row repeated that many times. That makes a large data set with many
repeated rows (binned or rounded measurements) cheap to fit.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

from sklearn_em import GaussianMixtureEM
from sklearn_em.plotting import plot_classification

rng = np.random.default_rng(2)
raw = np.vstack([rng.normal([0, 0], 1.0, (40_000, 2)), rng.normal([4, 3], 0.7, (20_000, 2))])
binned = np.round(raw, 1)  # measurements to one decimal
rows, counts = np.unique(binned, axis=0, return_counts=True)
print(f"{len(binned)} rows, {len(rows)} distinct")

# %%
weighted = GaussianMixtureEM(n_components=2, random_state=0).fit(rows, sample_weight=counts)
repeated = GaussianMixtureEM(n_components=2, random_state=0).fit(np.repeat(rows, counts, axis=0))
print("largest difference in the means:", np.abs(weighted.means_ - repeated.means_).max())
print(
    "BIC, weighted vs repeated:",
    weighted.bic(rows, sample_weight=counts),
    repeated.bic(np.repeat(rows, counts, axis=0)),
)

# %%
# The weighted fit drawn on the distinct rows
fig, ax = plt.subplots(figsize=(6, 5), layout="constrained")
plot_classification(weighted, rows, ax=ax)
plt.show()
