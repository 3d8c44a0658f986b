"""
====================================
A stream of batches with partial_fit
====================================

``partial_fit`` updates the mixture from one batch at a time (stepwise EM, Cappé & Moulines
2009): each batch's sufficient statistics are blended into a running average with a step
size ``(batch + learning_offset) ** -learning_decay``, and the parameters follow from that
average. No batch is kept, so the data can be a stream of any length. Here 100 batches of
500 rows arrive one after the other; the streamed mixture is compared with the one fitted
to all 50,000 rows at once.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

from sklearn_em import GaussianMixtureEM

rng = np.random.default_rng(0)
centres = np.array([[0.0, 0.0], [5.0, 1.0], [2.0, 5.0]])
spread = [np.array([[1.0, 0.6], [0.6, 1.0]]), np.eye(2) * 0.5, np.array([[1.5, 0], [0, 0.3]])]


def batch(n):
    """n rows of the mixture, in random order."""
    labels = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    return np.array([rng.multivariate_normal(centres[j], spread[j]) for j in labels])


stream = [batch(500) for _ in range(100)]

# %%
X = np.vstack(stream)
batch_fit = GaussianMixtureEM(n_components=3, random_state=0).fit(X)
target = batch_fit.means_[np.argsort(batch_fit.means_[:, 0])]

online = GaussianMixtureEM(n_components=3, random_state=0)
distance = []  # after each batch: how far the streamed means are from the batch fit's
for rows in stream:
    online.partial_fit(rows)  # the first batch initialises, each later one is one step
    means = online.means_[np.argsort(online.means_[:, 0])]
    distance.append(np.abs(means - target).max())

print("means, streamed:\n", online.means_[np.argsort(online.means_[:, 0])].round(2))
print("means, all rows at once:\n", target.round(2))
print(f"mean log-likelihood on all rows: streamed {online.score(X):.4f}, ", end="")
print(f"at once {batch_fit.score(X):.4f}")

# %%
# The streamed means approach those of the fit to all rows as batches arrive (each batch's
# step is smaller than the one before, so the noise of single batches averages out).
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
ax.semilogy(np.arange(1, len(stream) + 1), distance, ".-", lw=0.8)
ax.set_xlabel("batches seen")
ax.set_ylabel("largest |mean - batch fit's mean|")
plt.show()

# %%
# A fitted model goes on learning from new batches: ``partial_fit`` on an estimator
# fitted by ``fit`` (or chosen by ``GaussianMixtureSelector``) continues it, as
# scikit-learn's incremental estimators do. The fit counts as the stream's first batch,
# its running statistics those of the fit's last EM pass. Here a model fitted to the
# first 10 batches takes the other 90 one at a time.
history = GaussianMixtureEM(n_components=3, random_state=0).fit(np.vstack(stream[:10]))
before = history.score(X)
for rows in stream[10:]:
    history.partial_fit(rows)
print(f"fitted to 10 batches: {before:.4f}; then 90 more streamed: {history.score(X):.4f}")
print(f"batches in its stream: {history.n_batch_iter_} (the fit, then one per batch)")
