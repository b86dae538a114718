"""Where Django's task API comes from: ``django.tasks`` (Django 6.0 and later), else
the ``django-tasks`` backport (Django 4.2 to 5.2). The rest of procrastinate imports it
from here only.

The two differ in names (``InvalidTask`` is ``InvalidTaskError`` in the backport) and
in where helpers live (``normalize_json``); the names below are the same for both.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any, TypeAlias

MISSING_API = (
    "procrastinate's Django tasks backend needs Django's task API: Django 6.0 or "
    "later, or the django-tasks package (pip install django-tasks) on older Django"
)


def api_module_name() -> str | None:
    """The module holding Django's task API (``"django.tasks"``, else
    ``"django_tasks"``), found without importing it; ``None`` when there is none."""
    for name in ("django.tasks", "django_tasks"):
        if importlib.util.find_spec(name) is not None:
            return name
    return None


#: The names of the API, by module under its package; the backport has the same
#: modules, and calls some names otherwise (:data:`_BACKPORT_NAMES`).
_API_NAMES: dict[str, tuple[str, ...]] = {
    "": ("task_backends",),
    ".backends.base": ("BaseTaskBackend",),
    ".base": (
        "TASK_MAX_PRIORITY",
        "TASK_MIN_PRIORITY",
        "Task",
        "TaskContext",
        "TaskError",
        "TaskResult",
        "TaskResultStatus",
    ),
    ".exceptions": ("InvalidTask", "InvalidTaskBackend", "TaskResultDoesNotExist"),
    ".signals": ("task_enqueued", "task_finished", "task_started"),
}
_BACKPORT_NAMES = {
    "InvalidTask": "InvalidTaskError",
    "InvalidTaskBackend": "InvalidTaskBackendError",
}
#: Where ``normalize_json`` lives: outside the API's package in Django.
_HELPERS = {"django.tasks": "django.utils.json", "django_tasks": "django_tasks.utils"}


def _load_api(package: str) -> dict[str, Any]:
    """The objects of the task API of ``package`` (``"django.tasks"`` or
    ``"django_tasks"``), under the names of Django's own.

    :raises ImportError: if ``package`` or one of its modules cannot be imported.
    """
    renames = _BACKPORT_NAMES if package == "django_tasks" else {}
    api = {}
    for module, names in _API_NAMES.items():
        loaded = importlib.import_module(package + module)
        for name in names:
            api[name] = getattr(loaded, renames.get(name, name))
    api["normalize_json"] = importlib.import_module(_HELPERS[package]).normalize_json
    return api


# Type-checked against the backport, which ships its types (Django 6's own module is
# untyped); at run time, the names come from whichever API is installed.
if TYPE_CHECKING:
    from django_tasks import task_backends
    from django_tasks.backends.base import BaseTaskBackend
    from django_tasks.base import (
        TASK_MAX_PRIORITY,
        TASK_MIN_PRIORITY,
        Task,
        TaskContext,
        TaskError,
        TaskResult,
        TaskResultStatus,
    )
    from django_tasks.exceptions import InvalidTaskBackendError as InvalidTaskBackend
    from django_tasks.exceptions import InvalidTaskError as InvalidTask
    from django_tasks.exceptions import TaskResultDoesNotExist
    from django_tasks.signals import task_enqueued, task_finished, task_started
    from django_tasks.utils import normalize_json
else:
    _package = api_module_name()
    if _package is None:
        raise ImportError(MISSING_API)
    globals().update(_load_api(_package))

if TYPE_CHECKING:
    #: Any task, and any task result (in annotations only: Django 6's classes are
    #: not generic).
    AnyTask: TypeAlias = Task[Any, Any]
    AnyTaskResult: TypeAlias = TaskResult[Any]

# The statuses, typed as members (their TextChoices values read as tuples to mypy).
READY = TaskResultStatus("READY")
RUNNING = TaskResultStatus("RUNNING")
SUCCESSFUL = TaskResultStatus("SUCCESSFUL")
FAILED = TaskResultStatus("FAILED")

__all__ = [
    "FAILED",
    "MISSING_API",
    "READY",
    "RUNNING",
    "SUCCESSFUL",
    "TASK_MAX_PRIORITY",
    "TASK_MIN_PRIORITY",
    "BaseTaskBackend",
    "InvalidTask",
    "InvalidTaskBackend",
    "Task",
    "TaskContext",
    "TaskError",
    "TaskResult",
    "TaskResultDoesNotExist",
    "TaskResultStatus",
    "api_module_name",
    "normalize_json",
    "task_backends",
    "task_enqueued",
    "task_finished",
    "task_started",
]
