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

exclude_patterns = ["_build", "_generated"]
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


def _sample_pictures(app: object) -> None:
    """Draw the pictures the pages show from the shipped samples, with the installed gwalert
    (so they are what a user gets): docs/_generated/ (not in git)."""
    import contextlib
    import io
    import tempfile
    from pathlib import Path

    from gwalert.cli import main
    from gwalert.samples import sample_set

    out = Path(__file__).parent / "_generated"
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        notice = Path(tmp) / "MS260101a-preliminary.avro"
        notice.write_bytes(sample_set()[notice.name])
        argv = ["skymap", str(notice), "--plot", str(out / "sky.png"), "--sun-moon"]
        argv += ["--site", "paranal", "--night-of", "event"]
        argv += ["--observability", str(out / "observability.png")]
        with contextlib.redirect_stdout(io.StringIO()):
            if main(argv) != 0:
                raise RuntimeError("gwalert skymap could not draw the sample pictures")


def setup(app: object) -> None:
    app.connect("builder-inited", _sample_pictures)  # type: ignore[attr-defined]
