"""Data sets shipped with sklearn-em, loaded in scikit-learn's loader style."""

from __future__ import annotations

from importlib import resources
from typing import Any

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_faithful"]

_FAITHFUL_DESCR = """\
.. _faithful_dataset:

Old Faithful geyser data set
----------------------------

**Data Set Characteristics:**

:Number of Instances: 272
:Number of Attributes: 2 numeric, no target
:Attribute Information:
    - eruptions: eruption duration, in minutes
    - waiting: waiting time to the next eruption, in minutes
:Missing Attribute Values: None
:Source: R's ``datasets`` package (``faithful``), public domain

Waiting time between eruptions and the duration of the eruption for the Old Faithful
geyser in Yellowstone National Park, Wyoming, USA. Short eruptions follow short waits and
long eruptions long waits: the classic two-cluster example of model-based clustering
(R's mclust uses it too).

.. dropdown:: References

  - Azzalini, A. and Bowman, A. W. (1990). A look at some data on the Old Faithful
    geyser. Applied Statistics 39, 357-365.
  - Härdle, W. (1991). Smoothing Techniques with Implementation in S. New York: Springer.
"""


def load_faithful(*, as_frame: bool = False, return_X_y: bool = False) -> Bunch | tuple[Any, None]:
    """Load the Old Faithful geyser data set (272 eruptions, 2 features, no target).

    Eruption durations and the waiting times to the next eruption, in minutes: two
    well-separated groups, the classic example of model-based clustering.

    ================   ==============
    Samples total      272
    Dimensionality     2
    Features           real, positive
    Target             none
    ================   ==============

    Parameters
    ----------
    as_frame : bool, default=False
        If True, ``data`` is a pandas DataFrame with columns ``eruptions`` and
        ``waiting`` (and ``frame`` is the same DataFrame); needs pandas.
    return_X_y : bool, default=False
        If True, return ``(data, None)`` instead of a Bunch: there is no target, and the
        pair reads like scikit-learn's loaders.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the following attributes.

        data : {ndarray, DataFrame} of shape (272, 2)
            The eruption durations and waiting times. A DataFrame if ``as_frame=True``.
        feature_names : list of str
            ``['eruptions', 'waiting']``.
        frame : DataFrame of shape (272, 2) or None
            The data as a DataFrame if ``as_frame=True``, else None.
        DESCR : str
            A description of the data set and its sources.
        filename : str
            The name of the CSV file within the package (``old_faithful.csv``).
        data_module : str
            The package that holds the file (``sklearn_em.data``).

    (data, target) : tuple if ``return_X_y`` is True
        ``data`` as above and ``None``: the data set has no target.

    Examples
    --------
    >>> from sklearn_em.datasets import load_faithful
    >>> faithful = load_faithful()
    >>> faithful.data.shape
    (272, 2)
    >>> faithful.feature_names
    ['eruptions', 'waiting']
    >>> X, _ = load_faithful(return_X_y=True)
    >>> X[:2]
    array([[ 3.6, 79. ],
           [ 1.8, 54. ]])
    """
    filename = "old_faithful.csv"
    path = resources.files("sklearn_em").joinpath("data", filename)
    with path.open("r", encoding="utf-8") as f:
        feature_names = [name.strip('"') for name in f.readline().strip().split(",")]
        data = np.loadtxt(f, delimiter=",", dtype=np.float64, ndmin=2)
    frame = None
    if as_frame:
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "load_faithful(as_frame=True) needs pandas, which is not installed; "
                "install it with: pip install pandas"
            ) from None
        frame = pd.DataFrame(data, columns=feature_names)
        data = frame
    if return_X_y:
        return data, None
    return Bunch(
        data=data,
        feature_names=feature_names,
        frame=frame,
        DESCR=_FAITHFUL_DESCR,
        filename=filename,
        data_module="sklearn_em.data",
    )
