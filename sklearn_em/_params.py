"""The mixture model as a value: weights, means and precision Cholesky factors."""

from dataclasses import dataclass

import numpy as np

from ._models import CovarianceModel, get_model


@dataclass(frozen=True)
class GaussianMixtureParams:
    """Parameters of a Gaussian mixture.

    ``model`` is a row of ``_models`` (a name or alias is looked up). ``precisions_cholesky``
    follows scikit-learn, in the storage of the model's kernel: an upper-triangular ``U``
    with ``precision = U @ U.T`` for the 'full' (shape (k, d, d)) and 'tied' (d, d) kernels;
    the square root of the precisions for 'diag' (k, d) and 'spherical' (k,).
    """

    model: CovarianceModel
    weights: np.ndarray
    means: np.ndarray
    precisions_cholesky: np.ndarray
    # the covariances the M-step computed, when known (more accurate than re-deriving them)
    covariances: np.ndarray = None
    # what an iterative covariance step continues from next time (a ``_gpcm.GPCMStep``: the
    # volumes, shapes and orientations), when the M-step made one
    state: object = None

    def __post_init__(self):
        object.__setattr__(self, "model", get_model(self.model))

    @classmethod
    def trusted(cls, model, weights, means, precisions_cholesky, covariances=None, state=None):
        """The parameters, ``model`` a model row already (not a name): without the frozen
        dataclass's constructor, which costs more than a small table's M-step arithmetic
        (once per EM pass)."""
        out = object.__new__(cls)
        out.__dict__.update(
            model=model,
            weights=weights,
            means=means,
            precisions_cholesky=precisions_cholesky,
            covariances=covariances,
            state=state,
        )
        return out

    @property
    def kernel(self):
        """The model's density kernel (``_covariance.KERNELS``)."""
        return self.model.kernel_type

    @property
    def n_components(self):
        return self.means.shape[0]

    @property
    def n_features(self):
        return self.means.shape[1]

    def astype(self, dtype):
        """The same model with every array in ``dtype``."""
        return GaussianMixtureParams(
            self.model,
            self.weights.astype(dtype, copy=False),
            self.means.astype(dtype, copy=False),
            self.precisions_cholesky.astype(dtype, copy=False),
            None if self.covariances is None else self.covariances.astype(dtype, copy=False),
            self.state,
        )

    def covariance_matrices(self):
        """The covariances, from the M-step if known, else from the precision factors."""
        if self.covariances is not None:
            return self.covariances
        return self.kernel.covariances_from_precisions_cholesky(self.precisions_cholesky)

    def precisions(self):
        return self.kernel.precisions_from_precisions_cholesky(self.precisions_cholesky)

    def n_parameters(self):
        """Number of free parameters: covariances, means and k - 1 weights."""
        return self.model.n_parameters(*self.means.shape)
