"""A Sphinx extension so that autodoc documents procrastinate tasks.

A task is a :class:`~procrastinate.tasks.Task` object wrapping a function, so autodoc
sees neither a function nor the function's docstring, and leaves it out of
``automodule`` with ``:members:``. Add this extension to a project's ``conf.py``::

    extensions = ["sphinx.ext.autodoc", "procrastinate.contrib.sphinx"]

and each task is documented like the function it wraps: its signature, ``async``
marker and docstring.

On Sphinx 9 and later, the extension switches autodoc to its class-based
implementation (``autodoc_use_legacy_class_based = True``): the new implementation
picks the kind of each member itself, with no way for an extension to add one.
"""

from __future__ import annotations

from typing import Any

import sphinx
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.ext.autodoc import ALL, FunctionDocumenter
from sphinx.util.typing import ExtensionMetadata

import procrastinate
from procrastinate import tasks

# Handlers connected with the default priority (500) answer first: the user's
# autodoc-skip-member handlers keep the last word over this extension's.
_LATE = 900
# Before autodoc's own config-inited handler (500), which reads the setting.
_EARLY = 400


class ProcrastinateTaskDocumenter(FunctionDocumenter):
    """An autodoc documenter for tasks, presenting each as the function it wraps."""

    objtype = "procrastinate_task"
    directivetype = "function"
    # Above FunctionDocumenter and DataDocumenter, which could also claim a task.
    priority = FunctionDocumenter.priority + 10

    @classmethod
    def can_document_member(
        cls, member: Any, membername: str, isattr: bool, parent: Any
    ) -> bool:
        """Whether ``member`` is a task."""
        return isinstance(member, tasks.Task)

    def import_object(self, raiseerror: bool = False) -> bool:
        """
        Import the task, then stand its function in for it: the signature,
        docstring, ``async`` marker and module all come from the function.

        :raises ImportError: the import failed and ``raiseerror`` is true.
        """
        imported = super().import_object(raiseerror)
        if imported and isinstance(self.object, tasks.Task):
            self.object = self.object.func
        return imported


def keep_documented_tasks(
    app: Sphinx, what: str, name: str, obj: Any, skip: bool, options: Any
) -> bool | None:
    """
    An ``autodoc-skip-member`` handler: autodoc reads a task's docstring from the
    :class:`~procrastinate.tasks.Task` class and discards it as inherited, which
    makes every task look undocumented. Keep the tasks whose function has a
    docstring (or all of them with ``:undoc-members:``), within the rules of
    ``:exclude-members:`` and ``:private-members:``.

    :returns: ``False`` to keep the member, ``None`` to leave the decision to
        autodoc.
    """
    if not skip or not isinstance(obj, tasks.Task):
        return None
    if name in (getattr(options, "exclude_members", None) or ()):
        return None
    if name.startswith("_") and not _private_allowed(name, options):
        return None
    if obj.func.__doc__ or getattr(options, "undoc_members", None):
        return False
    return None


def _private_allowed(name: str, options: Any) -> bool:
    if name.startswith("__"):
        return False
    private_members = getattr(options, "private_members", None)
    return private_members is ALL or name in (private_members or ())


def use_class_based_autodoc(app: Sphinx, config: Config) -> None:
    """Switch autodoc to the implementation that accepts new documenters."""
    config.autodoc_use_legacy_class_based = True


def setup(app: Sphinx) -> ExtensionMetadata:
    """Register the task documenter with autodoc (set up first)."""
    app.setup_extension("sphinx.ext.autodoc")
    if sphinx.version_info >= (9,):
        app.connect("config-inited", use_class_based_autodoc, priority=_EARLY)
    app.add_autodocumenter(ProcrastinateTaskDocumenter)
    app.connect("autodoc-skip-member", keep_documented_tasks, priority=_LATE)
    return {"version": procrastinate.__version__, "parallel_read_safe": True}
