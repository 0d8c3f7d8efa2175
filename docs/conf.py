"""Sphinx configuration for gwalert's documentation (``sphinx-build -W docs OUT``)."""

from __future__ import annotations

import os
import sys
from importlib.metadata import version as _version

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "_ext"))

project = "gwalert"
author = "gwalert developers"
copyright = "gwalert developers"
release = _version("gwalert")
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "gwalert_cli",
    "gwalert_tables",
]

exclude_patterns = ["_build"]
# Sphinx reads ``.rst``; README.md and CHANGELOG.md stay Markdown for GitHub and PyPI.
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
nitpicky = False
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}
html_theme = "alabaster"
html_static_path: list[str] = []
html_title = f"gwalert {release}"
pygments_style = "sphinx"
highlight_language = "none"  # literal blocks (usage, epilogs) are plain text
# The documentation builds offline: no intersphinx inventories are fetched.
html_theme_options = {"page_width": "1240px", "sidebar_width": "230px", "body_max_width": "none"}
