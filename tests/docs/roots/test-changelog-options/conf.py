"""Sphinx project using the changelog directive with malformed options."""

from __future__ import annotations

project = "options"
extensions = ["myst_parser", "changelog"]
exclude_patterns = ["_build"]
