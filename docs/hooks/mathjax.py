"""mkdocs hook: serve MathJax from the site itself, so math renders with no network.

MathJax 3 comes from a PyPI package (`django-static-mathjax`, a plain copy of MathJax's files,
in the `docs` dependency group); neither the build nor a reader of the built site offline
fetches anything. The SVG output keeps its glyphs inside the script: no font files.
"""

from __future__ import annotations

import os
from importlib import resources

from mkdocs.structure.files import File, Files

MATHJAX_FILES = ("es5/tex-svg-full.js", "LICENSE")
MATHJAX_URI = "assets/mathjax/"


def on_files(files: Files, *, config) -> Files:
    """Add MathJax's script (and its license) to the site's files."""
    mathjax = resources.files("mathjax") / "static" / "mathjax"
    for name in MATHJAX_FILES:
        with resources.as_file(mathjax / name) as path:
            uri = MATHJAX_URI + os.path.basename(name)
            files.append(File.generated(config, uri, abs_src_path=os.fspath(path)))
    return files
