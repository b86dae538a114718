"""Sphinx extension rendering a project's GitHub releases as its changelog.

Usage, in a MyST page::

    ```{changelog}
    :github: https://github.com/<owner>/<repo>/releases
    :pypi: https://pypi.org/project/<name>
    :changelog-url: https://example.org/changelog.html
    ```

Configuration values are described in :mod:`changelog.config`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sphinx.application import Sphinx

from . import config, tracking
from .directive import ChangelogDirective, ChangelogError
from .markdown import STRIKE_ROLE, strike_role

__all__ = ["ChangelogDirective", "ChangelogError", "setup"]

__version__ = "1.0"

_STATIC = Path(__file__).parent / "static"


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the ``changelog`` directive and its configuration values."""
    config.register(app)
    app.add_directive("changelog", ChangelogDirective)
    app.add_role(STRIKE_ROLE, strike_role)
    app.connect("builder-inited", _add_stylesheet)
    app.connect("env-get-outdated", tracking.outdated_documents)
    app.connect("env-purge-doc", tracking.purge_document)
    app.connect("env-merge-info", tracking.merge_info)
    return {
        "version": __version__,
        "env_version": 1,
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }


def _add_stylesheet(app: Sphinx) -> None:
    if app.builder.format != "html":
        return
    app.config.html_static_path.append(str(_STATIC))
    app.add_css_file("changelog.css")
