"""Tasks of the test app declared with Django's task API (``django.tasks``, or the
django-tasks backport), run by procrastinate's backend; and receivers of its signals
that store what the worker sends, for the tests to read."""

from __future__ import annotations

from typing import Any

from procrastinate.contrib.django import tasks_compat
from tests.django_project.testapp import models

if tasks_compat.api_module_name() == "django.tasks":
    from django.tasks import task
else:
    from django_tasks import task


@task
def add(a: int, b: int) -> int:
    """Add two numbers, storing a greeting to show the ORM works in the worker."""
    models.Greeting.objects.create(name=f"{a}+{b}")
    return a + b


@task(queue_name="reports", priority=10)
async def async_report(title: str) -> dict[str, Any]:
    """An async task on another queue, with a priority."""
    return {"title": title, "pages": len(title)}


@task
def fail(message: str) -> None:
    """Always fail."""
    raise ValueError(message)


@task(takes_context=True)
def flaky(context: Any) -> int:
    """Fail on the first attempt, succeed on the next (retried once, see the
    settings); return the attempt number."""
    if context.attempt == 1:
        raise RuntimeError("first attempt fails")
    return int(context.attempt)


def _hidden() -> None:
    """A task function that its module does not name: the worker cannot find it."""


hidden = task(_hidden)


def _record_started(sender: Any, task_result: Any, **kwargs: Any) -> None:
    models.Greeting.objects.create(name=f"started {task_result.id}")


def _record_finished(sender: Any, task_result: Any, **kwargs: Any) -> None:
    error = [e.exception_class_path.rsplit(".", 1)[-1] for e in task_result.errors]
    if task_result.status != tasks_compat.FAILED:
        error = []
    models.Greeting.objects.create(
        name=" ".join(["finished", task_result.id, task_result.status, *error])
    )


tasks_compat.task_started.connect(_record_started)
tasks_compat.task_finished.connect(_record_finished)
