"""The ``django.tasks`` backend of procrastinate: Django's task API (Django 6.0, or the
``django-tasks`` backport before it) on procrastinate's jobs, in the project's own
PostgreSQL database. See :doc:`/howto/django/tasks`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.core import checks
from django.db import transaction
from django.utils import timezone

from procrastinate import deferrer, exceptions, results, runner
from procrastinate.contrib.django import app, tasks_mapping, tasks_options
from procrastinate.contrib.django import tasks_compat as api
from procrastinate.contrib.django.settings import settings
from procrastinate.contrib.django.tasks_options import job_options

__all__ = ["ProcrastinateBackend", "job_options"]


def _task_result(result: runner.Result, *_: Any, **__: Any) -> api.AnyTaskResult:
    try:
        job = results.job_result(result)
    except exceptions.JobNotFound as exc:
        raise api.TaskResultDoesNotExist(str(exc)) from None
    return tasks_mapping.task_result(result.rows[0], job.value, job.error)


_read_task_result = runner.Operation(
    "get_job_result", results.get_job_result_arguments, _task_result, fetch="all"
)


class ProcrastinateBackend(api.BaseTaskBackend):
    """
    Runs Django tasks as procrastinate jobs: enqueued on the Django connection of
    ``PROCRASTINATE_DATABASE_ALIAS`` (inside ``transaction.atomic()``, the job exists
    only if the transaction commits), run by ``manage.py procrastinate worker``.

    ``QUEUES`` lists the queues tasks may use (as for any backend); ``OPTIONS``
    holds procrastinate's own: ``retry``, ``lock`` and ``queueing_lock`` for every
    task, and ``TASKS``, the same options by task module path (see
    :doc:`/howto/django/tasks`).

    :param alias: the backend's key in ``settings.TASKS``.
    :param params: its settings.
    :raises InvalidTaskBackend: bad ``OPTIONS`` (the message says which).
    """

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        try:
            self.job_options = tasks_options.backend_options(self.options)
        except ValueError as exc:
            raise api.InvalidTaskBackend(f"TASKS[{alias!r}]: {exc}") from None

    def validate_task(self, task: api.AnyTask) -> None:
        """
        Check that the backend can run ``task``: Django's checks (a module-level
        function, a priority within -100..100, an aware ``run_after``, a queue of
        ``QUEUES``, a ``context`` first argument when it takes one), and a queue name
        that procrastinate can store.

        :raises InvalidTask: the task cannot run here.
        """
        super().validate_task(task)
        if len(task.queue_name) > 128:
            raise api.InvalidTask(
                f"Queue name {task.queue_name[:20]!r}... is longer than procrastinate's "
                "128 characters."
            )

    def _check_loadable(self, task: api.AnyTask) -> None:
        # Decorating a function validates the task before its module has finished
        # importing: whether the worker can find it is checked when enqueueing.
        try:
            found = tasks_mapping.load_task(task.module_path)
        except exceptions.LoadFromPathError as exc:
            raise api.InvalidTask(
                f"The worker cannot import the task {task.module_path!r}: {exc}. "
                "Decorate a module-level function with @task and keep its name."
            ) from None
        if found.func is not task.func:
            raise api.InvalidTask(
                f"{task.module_path!r} is another task: decorate a module-level "
                "function with @task and keep its name."
            )

    def _job(
        self, task: api.AnyTask, args: Any, kwargs: Any
    ) -> tuple[deferrer.JobDeferrer, dict[str, Any]]:
        self.validate_task(task)
        self._check_loadable(task)
        options = tasks_options.call_options().over(
            self.job_options.for_task(task.module_path)
        )
        arguments = tasks_mapping.job_arguments(
            task, self.alias, args, kwargs, options.retry
        )
        job_deferrer = app.configure_task(
            tasks_mapping.BRIDGE_TASK_NAME,
            queue=task.queue_name,
            priority=tasks_mapping.job_priority(task.priority),
            schedule_at=task.run_after,
            lock=options.lock,
            queueing_lock=options.queueing_lock,
        )
        return job_deferrer, arguments

    def _enqueued(
        self, task: api.AnyTask, job_id: int, arguments: dict[str, Any]
    ) -> api.AnyTaskResult:
        result: api.AnyTaskResult = api.TaskResult(
            task=task,
            id=str(job_id),
            status=api.READY,
            enqueued_at=timezone.now(),
            started_at=None,
            finished_at=None,
            last_attempted_at=None,
            args=arguments["args"],
            kwargs=arguments["kwargs"],
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        return result

    def _send_enqueued(self, result: api.AnyTaskResult) -> None:
        api.task_enqueued.send(sender=type(self), task_result=result)

    def enqueue(self, task: api.AnyTask, args: Any, kwargs: Any) -> api.AnyTaskResult:
        """
        Defer a job of ``task`` (in the current transaction, if any), and send
        ``task_enqueued`` once it exists (when the transaction commits).

        :param task: the Django task (made by ``@task``), with its options.
        :param args: the positional arguments of the call.
        :param kwargs: the keyword arguments of the call.
        :returns: the task result, ``READY``; its id is the job id.
        :raises InvalidTask: see :meth:`validate_task`, or the worker could not import
            the task by its module path.
        :raises TypeError: an argument is not JSON-serializable.
        :raises AlreadyEnqueued: a job with the same queueing lock is waiting.
        """
        job_deferrer, arguments = self._job(task, args, kwargs)
        result = self._enqueued(task, job_deferrer.defer(**arguments), arguments)
        # Once the job exists: when the transaction commits, or at once outside one.
        transaction.on_commit(
            functools.partial(self._send_enqueued, result),
            using=settings.database_alias,
        )
        return result

    async def aenqueue(
        self, task: api.AnyTask, args: Any, kwargs: Any
    ) -> api.AnyTaskResult:
        """
        Asynchronous :meth:`enqueue`; the job exists (and ``task_enqueued`` is
        sent) when it returns, as async code runs outside Django's transactions.

        :param task: the Django task (made by ``@task``), with its options.
        :param args: the positional arguments of the call.
        :param kwargs: the keyword arguments of the call.
        :raises InvalidTask: as :meth:`enqueue`.
        """
        job_deferrer, arguments = self._job(task, args, kwargs)
        job_id = await job_deferrer.defer_async(**arguments)
        # Async code runs no transaction of Django's: the job exists already.
        result = self._enqueued(task, job_id, arguments)
        self._send_enqueued(result)
        return result

    def get_result(self, result_id: str) -> api.AnyTaskResult:
        """
        The task result of the job ``result_id``, read from the database.

        :param result_id: the id of a task result (the job id).
        :raises TaskResultDoesNotExist: there is no such job, it is not a Django
            task's, or its task cannot be imported any more.
        """
        call = _read_task_result(tasks_mapping.job_id(result_id))
        return runner.run(app.connector, call)

    async def aget_result(self, result_id: str) -> api.AnyTaskResult:
        """
        Asynchronous :meth:`get_result`.

        :param result_id: the id of a task result (the job id).
        :raises TaskResultDoesNotExist: as :meth:`get_result`.
        """
        call = _read_task_result(tasks_mapping.job_id(result_id))
        return await runner.run_async(app.connector, call)

    def check(self, **kwargs: Any) -> Iterable[checks.CheckMessage]:
        """
        The system checks of the backend: procrastinate's Django app must be
        installed, for its connector and its worker.

        :param kwargs: what Django's check framework passes (unused).
        """
        if apps.is_installed("procrastinate.contrib.django"):
            return []
        return [
            checks.Error(
                f"TASKS[{self.alias!r}] uses procrastinate, whose Django app is not "
                "installed.",
                hint='Add "procrastinate.contrib.django" to INSTALLED_APPS.',
                id="procrastinate.E001",
            )
        ]
