"""Site-wide details of the documentation: how console sessions are highlighted, and
the check that the diagrams can be drawn.

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


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_lexer("console", ConsoleSessionLexer)
    app.connect("config-inited", require_graphviz)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
