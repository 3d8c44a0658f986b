"""Sphinx configuration of the sklearn-em documentation.

Build (from the repository root, with the ``docs`` extra installed)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

import os
import sys
from datetime import date

sys.path.insert(0, os.path.abspath(".."))

import sklearn_em  # noqa: E402

project = "sklearn-em"
author = "The sklearn-em developers"
copyright = f"{date.today().year}, {author}"
release = sklearn_em.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.doctest",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.md5",
    "sg_execution_times.rst",
]
root_doc = "index"

# API reference: one page per public name, from its numpydoc docstring
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"  # numpydoc's Parameters sections say the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = {"PR01", "PR02", "RT01"}  # every parameter and return documented
numpydoc_validation_exclude = {r"\.__init__$", r"\.set_.*_request$", r"\.get_metadata_routing$"}

# the gallery: every example runs at build time, its figures and output go into the page
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "within_subsection_order": "FileNameSortKey",
    "reference_url": {"sklearn_em": None},
    "doc_module": ("sklearn_em",),
    "backreferences_dir": None,
}

myst_heading_anchors = 3
suppress_warnings = ["myst.header"]

html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-em {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = []
html_show_sourcelink = False
