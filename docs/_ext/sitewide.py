"""Site-wide details of the documentation: how console sessions are highlighted, the
check that the diagrams can be drawn, and the links of the 404 page.

Pygments' ``console`` lexer takes any line starting with ``#``, ``%`` or ``>`` (after
an optional ``user@host``) for a prompt, and a line starting with ``(`` for the name
of a virtual environment: the output of ``procrastinate shell`` (``#1 tasks.add on
default - [succeeded]``) then reads as commands run by root. Our pages only write
two prompts, ``$ `` for the shell and ``procrastinate> `` for the administration
shell, so this lexer knows those and treats every other line as output.
"""

from __future__ import annotations

import re
import shutil
from typing import Any

from docutils import nodes
from pygments.lexers.shell import BashSessionLexer
from sphinx.application import Sphinx
from sphinx.errors import ConfigError


class ConsoleSessionLexer(BashSessionLexer):
    """A shell session whose prompts are ``$ `` and ``procrastinate> ``."""

    name = "Console session"
    aliases = ["console"]
    _ps1rgx = re.compile(r"^(\$ |procrastinate> )(.*\n?)")
    _ps2 = "> "
    # No virtual environment prefix: ``(attempts=1, ...)`` is output.
    _venv = re.compile(r"(?!)")


def require_graphviz(app: Sphinx, config: Any) -> None:
    """Fail at once, in one line, when the diagrams cannot be drawn."""
    command = config.graphviz_dot
    if shutil.which(command) is None:
        raise ConfigError(
            f"The diagrams need Graphviz's {command!r} command, which is not "
            "installed: apt-get install graphviz (or brew install graphviz), "
            "or run scripts/docs as root, which installs it."
        )


def absolute_404_links(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """The 404 page is served at any missing address, so the links of its text lead
    from the site's root (sphinx-notfound-page does the same for the theme's links)."""
    if docname != "404":
        return
    prefix = app.config.notfound_urls_prefix or "/"
    for reference in doctree.findall(nodes.reference):
        target = reference.get("refuri", "")
        if target and "://" not in target and not target.startswith(("#", "/")):
            reference["refuri"] = prefix + target


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_lexer("console", ConsoleSessionLexer)
    app.connect("config-inited", require_graphviz)
    app.connect("doctree-resolved", absolute_404_links)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
