"""Sphinx configuration: the user guide, the topic pages (Markdown) and the API reference.

Built offline with warnings as errors: ``sphinx-build -W -b html docs docs/_build/html``.
"""

from __future__ import annotations

import smartmatch_pandas

project = "smartmatch-pandas"
author = "smartmatch-pandas developers"
copyright = "smartmatch-pandas developers"
version = release = smartmatch_pandas.__version__

extensions = [
    "myst_parser",  # the Markdown pages
    "sphinx.ext.autodoc",  # the API reference, from the docstrings
    "numpydoc",  # which are written in numpydoc style
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
root_doc = "index"

# Markdown: headings get anchors to link to; ``{eval-rst}`` and colon fences allowed.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# The API reference: members in source order, type hints in the signatures only.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
numpydoc_show_class_members = False  # autodoc lists them; numpydoc would list them twice
numpydoc_class_members_toctree = False

html_theme = "alabaster"
html_title = f"smartmatch-pandas {release}"
html_theme_options = {
    "description": "TargetSmart SmartMatch for pandas, in one line",
    "fixed_sidebar": True,
    "page_width": "1100px",
    "sidebar_width": "230px",
}
html_static_path: list[str] = []
