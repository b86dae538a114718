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


# Type-checked against the backport, which ships its types (Django 6's own module is
# untyped): for mypy, TYPE_CHECKING makes the first branch unreachable.
if not TYPE_CHECKING and api_module_name() == "django.tasks":
    from django.tasks import task_backends
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import (
        TASK_MAX_PRIORITY,
        TASK_MIN_PRIORITY,
        Task,
        TaskContext,
        TaskError,
        TaskResult,
        TaskResultStatus,
    )
    from django.tasks.exceptions import (
        InvalidTask,
        InvalidTaskBackend,
        TaskResultDoesNotExist,
    )
    from django.tasks.signals import task_enqueued, task_finished, task_started
    from django.utils.json import normalize_json
elif TYPE_CHECKING or api_module_name() == "django_tasks":
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
    raise ImportError(MISSING_API)

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
