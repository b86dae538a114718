"""A minimal Sphinx project documenting a module of procrastinate tasks."""

from __future__ import annotations

import pathlib
import sys

# The documented module sits next to this file.
sys.path.insert(0, str(pathlib.Path(__file__).parent))

project = "Sphinx extension test"
extensions = ["sphinx.ext.autodoc", "procrastinate.contrib.sphinx"]
