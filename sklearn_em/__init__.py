"""sklearn-em: fast Gaussian mixture models by Expectation-Maximization for scikit-learn."""

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

__all__ = [
    "GaussianMixtureEM",
    "GaussianMixtureImputer",
    "GaussianMixtureSelector",
    "DegenerateComponentWarning",
    "DegenerateFitWarning",
    "__version__",
]

# The public names are imported on first use (PEP 562), so that `sklearn-em --help` and
# `--version` answer without importing scikit-learn (seconds on a cold or busy machine).
_LAZY = {
    "GaussianMixtureEM": "._estimator",
    "GaussianMixtureImputer": "._impute",
    "GaussianMixtureSelector": "._selection",
    "DegenerateComponentWarning": "._em",
    "DegenerateFitWarning": "._selection",
}

if TYPE_CHECKING:
    from ._em import DegenerateComponentWarning
    from ._estimator import GaussianMixtureEM
    from ._impute import GaussianMixtureImputer
    from ._selection import DegenerateFitWarning, GaussianMixtureSelector


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
