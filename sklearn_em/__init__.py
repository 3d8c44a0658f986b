"""sklearn-em: fast Gaussian mixture models by Expectation-Maximization for scikit-learn."""

from ._em import DegenerateComponentWarning
from ._estimator import GaussianMixtureEM
from ._selection import GaussianMixtureSelector

__version__ = "0.1.0"

__all__ = ["GaussianMixtureEM", "GaussianMixtureSelector", "DegenerateComponentWarning", "__version__"]
