"""Sphinx project rendering the releases served by the fake GitHub API."""

from __future__ import annotations

project = "rocket"
extensions = ["myst_parser", "changelog"]
exclude_patterns = ["_build"]

# The tests point the API URL at the fake server through the environment.
changelog_github_timeout = 5
changelog_github_retries = 2
changelog_github_max_wait = 0.0
