"""Every public function and method has a numpydoc docstring whose Parameters section
names exactly the signature's parameters, and a Returns section (or Yields)."""

import inspect
import re

import pytest

import sklearn_em
from sklearn_em import datasets, plotting

CLASSES = [
    sklearn_em.GaussianMixtureEM,
    sklearn_em.GaussianMixtureSelector,
    sklearn_em.GaussianMixtureImputer,
]
FUNCTIONS = [getattr(datasets, n) for n in datasets.__all__] + [
    plotting.plot_criterion,
    plotting.plot_classification,
    plotting.plot_uncertainty,
    plotting.uncertainty,
    plotting.save_selection_figure,
    plotting.component_ellipse,
]


def public_methods(cls):
    """Methods the class itself defines (not scikit-learn's), without a leading underscore."""
    return [
        getattr(cls, name)
        for name, value in vars(cls).items()
        if not name.startswith("_") and inspect.isfunction(value)
    ]


CALLABLES = FUNCTIONS + [m for cls in CLASSES for m in public_methods(cls)]


def section(doc, title):
    """The lines of a numpydoc section, or None when there is none."""
    heading = r"^\S[^\n]*\n-+\n"
    match = re.search(rf"^{title}\n-{{{len(title)}}}\n(.*?)(?={heading}|\Z)", doc, re.M | re.S)
    return None if match is None else match.group(1)


def documented_parameters(text):
    names = []
    for line in text.splitlines():
        match = re.match(r"^(\*{0,2}\w+)(?:\s*:.*)?$", line)
        if match:
            names.extend(n.strip() for n in match.group(1).split(","))
    return names


@pytest.mark.parametrize("func", CALLABLES, ids=lambda f: f.__qualname__)
def test_parameters_and_returns_are_documented(func):
    doc = inspect.cleandoc(func.__doc__ or "")
    assert doc, f"{func.__qualname__} has no docstring"
    params = [
        ("**" if p.kind is p.VAR_KEYWORD else "*" if p.kind is p.VAR_POSITIONAL else "") + name
        for name, p in inspect.signature(func).parameters.items()
        if name != "self"
    ]
    if params:
        text = section(doc, "Parameters")
        assert text is not None, f"{func.__qualname__}: no Parameters section"
        assert documented_parameters(text) == params, func.__qualname__
    assert section(doc, "Returns") is not None or section(doc, "Yields") is not None, (
        f"{func.__qualname__}: no Returns section"
    )


def test_the_classes_have_examples_and_see_also():
    for cls in CLASSES:
        doc = inspect.cleandoc(cls.__doc__)
        assert section(doc, "Examples") is not None, cls.__name__
        assert section(doc, "See Also") is not None, cls.__name__


@pytest.mark.parametrize(
    "module",
    ["_estimator", "_selection", "_impute", "_hc", "_gpcm", "_models", "datasets", "plotting"],
)
def test_docstring_examples_run(module):
    import doctest
    import importlib

    if module == "plotting":
        plt = pytest.importorskip("matplotlib.pyplot")
    result = doctest.testmod(importlib.import_module(f"sklearn_em.{module}"))
    if module == "plotting":
        plt.close("all")
    assert result.attempted > 0 and result.failed == 0
