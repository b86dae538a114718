"""End-to-end scenarios of the ``django.tasks`` backend, through Django's public API
only: a view enqueueing in a transaction, a real ``manage.py procrastinate worker``
subprocess, results read back, signals, refusals.

The same scenarios run on two Django versions: in the test process (Django 5.2 and the
django-tasks backport, see ``test_tasks_backend.py``), and as a script in the venv of
Django 6 (``python -m tests.integration.django.tasks_e2e``, on a database named by
``PGDATABASE``, which it migrates first). The script prints one line per scenario,
and exits with 1 at the first failure, after its traceback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import traceback
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

REPO_ROOT = Path(__file__).resolve().parents[3]
SETTINGS_MODULE = "tests.django_project.settings"
SUBPROCESS_TIMEOUT = 90
T = TypeVar("T")


def run_django(
    python: str, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m django ARGS`` from the repository, in ``env``; the completed
    process, its output as text (stderr in stdout)."""
    return subprocess.run(
        [python, "-m", "django", *args],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )


@dataclasses.dataclass(frozen=True)
class Harness:
    """How a scenario runs the worker: the Python and the environment of a
    ``python -m django`` subprocess on the scenario's database."""

    python: str
    env: dict[str, str]

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``python -m django ARGS``; output as text, stderr in stdout."""
        return run_django(self.python, self.env, *args)

    def run_worker(self) -> str:
        """Run a worker until no job is left; its output.

        :raises AssertionError: the worker failed.
        """
        completed = self.manage("procrastinate", "worker", "--one-shot")
        assert completed.returncode == 0, completed.stdout
        return completed.stdout


def run_async(awaitable: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine of Django's async API, then close the connections of the
    thread where it ran its queries (as Django does after a request): they would
    stay on this database when the next test moves to another."""
    from asgiref.sync import sync_to_async
    from django.db import connections

    async def run_and_close() -> T:
        try:
            return await awaitable
        finally:
            await sync_to_async(connections.close_all)()

    return asyncio.run(run_and_close())


def _job_rows() -> list[tuple[Any, ...]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, queue_name, priority, lock, queueing_lock, args->>'retry' "
            "FROM procrastinate_jobs ORDER BY id"
        )
        return list(cursor.fetchall())


def _greetings() -> list[str]:
    from tests.django_project.testapp import models

    return sorted(models.Greeting.objects.values_list("name", flat=True))


def enqueue_run_and_read(harness: Harness) -> None:
    """A view enqueues in its transaction (a rollback leaves no job), a worker runs
    the jobs, the results read back: values, failures, context and retries, async
    tasks, priorities and queues, signals, per-call options."""
    from django.test import Client

    from procrastinate.contrib.django import tasks as backend_module
    from procrastinate.contrib.django import tasks_compat as api
    from procrastinate.exceptions import AlreadyEnqueued
    from tests.django_project.testapp import standard_tasks

    enqueued: list[Any] = []

    def on_enqueued(sender: Any, task_result: Any, **kwargs: Any) -> None:
        enqueued.append((sender, task_result.id, task_result.status))

    api.task_enqueued.connect(on_enqueued)
    try:
        client = Client()
        rolled_back = client.get("/add/", {"a": 1, "b": 1, "fail": 1})
        assert rolled_back.status_code == 500
        assert _job_rows() == [], "a rolled-back enqueue left a job"

        response = client.get("/add/", {"a": 2, "b": 3})
        assert response.status_code == 200, response.content
        add_id = response.json()["result_id"]
        waiting = standard_tasks.add.get_result(add_id)
        assert waiting.status == api.READY
        assert waiting.enqueued_at is not None
        assert (waiting.args, waiting.kwargs, waiting.worker_ids) == ([2, 3], {}, [])

        failing = standard_tasks.fail.enqueue(message="boom")
        flaky = standard_tasks.flaky.enqueue()
        report = run_async(standard_tasks.async_report.aenqueue("quarterly"))
        with backend_module.job_options(lock="reports", queueing_lock="one-report"):
            locked = standard_tasks.add.using(priority=-5).enqueue(a=4, b=5)
            try:
                standard_tasks.add.enqueue(a=6, b=7)
            except AlreadyEnqueued:
                pass
            else:
                raise AssertionError("the queueing lock let a second job wait")
    finally:
        api.task_enqueued.disconnect(on_enqueued)

    assert enqueued == [
        (backend_module.ProcrastinateBackend, result_id, api.READY)
        for result_id in [add_id, failing.id, flaky.id, report.id, locked.id]
    ]
    rows = {str(row[0]): row[1:] for row in _job_rows()}
    assert rows[report.id][:2] == ("reports", 10), rows
    assert rows[locked.id][:4] == ("default", -5, "reports", "one-report"), rows
    # OPTIONS["TASKS"] gives flaky one retry; the others have none.
    assert (rows[flaky.id][4], rows[add_id][4]) == ("1", None), rows

    harness.run_worker()

    waiting.refresh()
    assert waiting.status == api.SUCCESSFUL
    assert waiting.return_value == 5
    assert waiting.errors == []
    assert waiting.worker_ids == ["unknown"]
    assert waiting.enqueued_at <= waiting.started_at <= waiting.finished_at
    assert waiting.last_attempted_at == waiting.started_at

    failed = standard_tasks.fail.get_result(failing.id)
    assert failed.status == api.FAILED
    assert failed.finished_at is not None
    assert [error.exception_class_path for error in failed.errors] == [
        "builtins.ValueError"
    ]
    assert failed.errors[0].exception_class is ValueError
    assert "ValueError: boom" in failed.errors[0].traceback
    assert "raise ValueError(message)" in failed.errors[0].traceback

    retried = standard_tasks.flaky.get_result(flaky.id)
    assert retried.status == api.SUCCESSFUL
    assert retried.return_value == 2, "the context did not give the attempt number"
    assert retried.attempts == 2
    # The error of the first attempt is kept: procrastinate stores the last one.
    assert [error.exception_class_path for error in retried.errors] == [
        "builtins.RuntimeError"
    ]

    report.refresh()
    assert report.status == api.SUCCESSFUL
    assert report.return_value == {"title": "quarterly", "pages": 9}
    assert (report.task.queue_name, report.task.priority) == ("reports", 10)
    again = run_async(standard_tasks.async_report.aget_result(report.id))
    assert again.return_value == report.return_value
    run_async(again.arefresh())
    assert again.status == api.SUCCESSFUL

    assert standard_tasks.add.get_result(locked.id).return_value == 9

    # The worker's signal receivers (in standard_tasks) stored what they received:
    # started for each attempt, finished once per task, with the final status.
    assert _greetings() == sorted(
        [
            "2+3",
            "4+5",
            *(f"started {result_id}" for result_id in [add_id, failing.id, report.id]),
            f"started {locked.id}",
            f"started {flaky.id}",
            f"started {flaky.id}",
            f"finished {add_id} SUCCESSFUL",
            f"finished {failing.id} FAILED ValueError",
            f"finished {flaky.id} SUCCESSFUL",
            f"finished {report.id} SUCCESSFUL",
            f"finished {locked.id} SUCCESSFUL",
        ]
    )


def refusals(harness: Harness) -> None:
    """``validate_task`` and ``enqueue`` refuse what the backend cannot run, with
    Django's own exception; ``get_result`` refuses what is no result of it."""
    from procrastinate.contrib.django import tasks_compat as api
    from tests.django_project.testapp import standard_tasks, tasks

    def refused(make: Callable[[], Any], message: str) -> None:
        try:
            make()
        except api.InvalidTask as exc:
            error = str(exc)
        else:
            raise AssertionError(f"accepted, expected a refusal: {message}")
        assert message in error, error

    def local_task() -> None:
        def inner() -> None:
            pass

        standard_tasks.task(inner)

    jobs_before = _job_rows()
    refused(
        lambda: standard_tasks.add.using(queue_name="elsewhere"), "Queue 'elsewhere'"
    )
    refused(lambda: standard_tasks.add.using(priority=101), "priority")
    refused(local_task, "module level")
    refused(
        lambda: standard_tasks.task(takes_context=True)(standard_tasks.add.func),
        "context",
    )
    refused(lambda: standard_tasks.hidden.enqueue(), "cannot import the task")
    assert _job_rows() == jobs_before, "a refused task left a job"

    for result_id in ["not-a-number", "424242", str(tasks.greet.defer(name="Ada"))]:
        try:
            standard_tasks.add.get_result(result_id)
        except api.TaskResultDoesNotExist:
            continue
        raise AssertionError(f"{result_id!r} read as a task result")

    checked = harness.manage("check")
    assert checked.returncode == 0, checked.stdout


SCENARIOS = [enqueue_run_and_read, refusals]


def main() -> int:
    """Migrate the database of ``PGDATABASE``, then run the scenarios; 0 when they
    all pass."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    import django
    from django.core import management

    django.setup()
    management.call_command("migrate", verbosity=0)
    harness = Harness(python=sys.executable, env=dict(os.environ))
    for scenario in SCENARIOS:
        try:
            scenario(harness)
        except Exception:
            traceback.print_exc()
            print(f"FAILED {scenario.__name__} on Django {django.__version__}")
            return 1
        print(f"passed {scenario.__name__} on Django {django.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
