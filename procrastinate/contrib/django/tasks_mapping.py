"""How a Django task maps to a procrastinate job, and a job back to a Django
``TaskResult``: priorities, statuses, the job's arguments, times and errors. Pure: no
database, no settings; :mod:`procrastinate.contrib.django.tasks` does the I/O.

A Django task runs as a job of one procrastinate task, :data:`BRIDGE_TASK_NAME`, whose
arguments name the Django task by its module path (see :func:`job_arguments`).
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from procrastinate import jobs, results, utils
from procrastinate.contrib.django import tasks_compat as api
from procrastinate.exceptions import LoadFromPathError

#: The procrastinate task that runs every Django task
#: (:func:`procrastinate.contrib.django.tasks_worker.run_django_task`).
BRIDGE_TASK_NAME = "procrastinate.contrib.django.tasks_worker.run_django_task"
#: What :attr:`TaskResult.worker_ids` holds for an attempt whose worker is not known:
#: procrastinate keeps the worker of a job only while it runs.
UNKNOWN_WORKER = "unknown"

_STATUSES = {
    jobs.Status.TODO: api.READY,
    jobs.Status.DOING: api.RUNNING,
    jobs.Status.ABORTING: api.RUNNING,
    jobs.Status.SUCCEEDED: api.SUCCESSFUL,
    jobs.Status.FAILED: api.FAILED,
    # Django has no status for a job stopped by request, before or while it ran.
    jobs.Status.CANCELLED: api.FAILED,
    jobs.Status.ABORTED: api.FAILED,
}


def job_priority(django_priority: int) -> int:
    """
    The job priority of a Django priority: the same number. Both run higher
    priorities first and default to 0, and Django's -100..100 fits in ours (any
    integer), so the order among Django tasks and with other jobs is kept.
    """
    return django_priority


def django_priority(job_priority: int) -> int:
    """The Django priority of a job's priority: the same number, clamped to
    Django's -100..100 (a job deferred outside Django may have any integer)."""
    return max(api.TASK_MIN_PRIORITY, min(api.TASK_MAX_PRIORITY, job_priority))


def django_status(status: jobs.Status) -> api.TaskResultStatus:
    """The Django status of a job status: waiting (also for a retry) is ``READY``,
    running ``RUNNING``; cancelled and aborted jobs read ``FAILED``."""
    return _STATUSES[status]


def job_arguments(
    task: api.AnyTask, backend: str, args: Any, kwargs: Any, retry: Any
) -> dict[str, Any]:
    """
    The arguments of the job of a Django task call: the task's module path, the
    backend alias, the call's arguments as JSON values, and the retry of the job (see
    :mod:`procrastinate.contrib.django.tasks_options`).

    :raises TypeError: an argument is not JSON-serializable (Django's own check).
    """
    return {
        "task_path": task.module_path,
        "backend": backend,
        "args": api.normalize_json(list(args)),
        "kwargs": api.normalize_json(dict(kwargs)),
        "retry": retry,
    }


def load_task(task_path: str) -> api.AnyTask:
    """
    The Django task at ``task_path`` (``module.function``), imported.

    :raises LoadFromPathError: nothing importable there, or not a Django task.
    """
    return utils.load_from_path(task_path, api.Task)


def job_id(result_id: str) -> int:
    """
    The job id of a ``TaskResult`` id.

    :raises TaskResultDoesNotExist: the id is not a job id.
    """
    try:
        return int(result_id)
    except (TypeError, ValueError):
        raise api.TaskResultDoesNotExist(
            f"{result_id!r} is not the id of a task result of this backend (job ids "
            "are integers)"
        ) from None


def worker_ids(starts: int, running_worker: int | None) -> list[str]:
    """
    One entry per attempt (``TaskResult.attempts`` counts them): the id of the worker
    running the job now, for the attempt in progress, :data:`UNKNOWN_WORKER` for the
    others.
    """
    known = [] if running_worker is None else [str(running_worker)]
    return [UNKNOWN_WORKER] * (starts - len(known)) + known


def task_error(error: results.JobError) -> api.TaskError:
    """Django's error of the stored error of a job."""
    return api.TaskError(exception_class_path=error.type, traceback=error.traceback)


def error_of(exception: BaseException) -> api.TaskError:
    """Django's error of an exception, as procrastinate stores it."""
    return task_error(results.error_of(exception))


def task_of_row(row: dict[str, Any]) -> api.AnyTask:
    """
    The Django task of a ``get_job_result`` row, with the job's priority, queue and
    schedule.

    :raises TaskResultDoesNotExist: the job is not that of a Django task, or its task
        cannot be imported any more.
    """
    arguments = row["args"] or {}
    if row["task_name"] != BRIDGE_TASK_NAME or "task_path" not in arguments:
        raise api.TaskResultDoesNotExist(
            f"Job {row['id']} is not a Django task's (its task is {row['task_name']!r})"
        )
    try:
        task = load_task(arguments["task_path"])
    except LoadFromPathError as exc:
        raise api.TaskResultDoesNotExist(
            f"The task of job {row['id']} cannot be loaded: {exc}"
        ) from exc
    try:
        return task.using(
            priority=django_priority(row["priority"]),
            queue_name=row["queue_name"],
            run_after=row["scheduled_at"],
        )
    except api.InvalidTask:
        # A job moved since (to a queue the backend does not list, by a retry): the
        # result still belongs to the task.
        return task


def task_result(
    row: dict[str, Any], value: Any, error: results.JobError | None
) -> api.AnyTaskResult:
    """
    The ``TaskResult`` of a ``get_job_result`` row: status, times, arguments,
    errors (the last one only: procrastinate keeps no other), worker ids and, for a
    successful job, its stored return value.

    :param value: the job's stored value, decoded.
    :param error: the job's stored error, decoded.
    :raises TaskResultDoesNotExist: see :func:`task_of_row`.
    """
    status = django_status(jobs.Status(row["status"]))
    arguments = row["args"]
    result: api.AnyTaskResult = api.TaskResult(
        task=task_of_row(row),
        id=str(row["id"]),
        status=status,
        enqueued_at=row["deferred_at"],
        started_at=row["first_started_at"],
        finished_at=row["finished_at"],
        last_attempted_at=row["started_at"],
        args=arguments["args"],
        kwargs=arguments["kwargs"],
        backend=arguments["backend"],
        errors=[] if error is None else [task_error(error)],
        worker_ids=worker_ids(
            row["starts"], row["worker_id"] if status == api.RUNNING else None
        ),
    )
    if status == api.SUCCESSFUL:
        object.__setattr__(result, "_return_value", value)
    return result


def finished(
    result: api.AnyTaskResult,
    *,
    at: datetime.datetime,
    value: Any = None,
    error: BaseException | None = None,
) -> api.AnyTaskResult:
    """
    A copy of a running ``result`` that ended at ``at``: successful with ``value``,
    or failed with ``error`` added to its errors.
    """
    ended = dataclasses.replace(
        result,
        status=(api.SUCCESSFUL if error is None else api.FAILED),
        finished_at=at,
        errors=[*result.errors, *([] if error is None else [error_of(error)])],
        worker_ids=list(result.worker_ids),
    )
    if error is None:
        object.__setattr__(ended, "_return_value", value)
    return ended
