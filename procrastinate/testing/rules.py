"""The rules of ``schema.sql`` that the in-memory tables follow, as pure functions on
rows: the statuses and the event of each status change, the constraints (not null,
column lengths, the status enum, queueing-lock uniqueness), the filters of the
queries and the lock rule of fetching.

A row is a dict with the columns of ``procrastinate_jobs``.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from procrastinate import exceptions, jobs, utils
from procrastinate.sql import facts

Row = dict[str, Any]

TODO = jobs.Status.TODO.value
DOING = jobs.Status.DOING.value
SUCCEEDED = jobs.Status.SUCCEEDED.value
FAILED = jobs.Status.FAILED.value
CANCELLED = jobs.Status.CANCELLED.value
ABORTED = jobs.Status.ABORTED.value
LIVE_STATUSES = frozenset({TODO, DOING})
FINAL_STATUSES = frozenset({SUCCEEDED, FAILED, CANCELLED, ABORTED})
#: The statuses ``procrastinate_finish_job_v1`` accepts.
END_STATUSES = (SUCCEEDED, FAILED, ABORTED)
ALL_STATUSES = frozenset(status.value for status in jobs.Status)

#: The event that ``procrastinate_trigger_function_status_events_update_v1`` records
#: for each (old status, new status).
STATUS_EVENTS = {
    (TODO, DOING): "started",
    (DOING, TODO): "deferred_for_retry",
    (DOING, FAILED): "failed",
    (DOING, SUCCEEDED): "succeeded",
    (DOING, ABORTED): "aborted",
    (TODO, CANCELLED): "cancelled",
    (TODO, FAILED): "cancelled",
    (TODO, SUCCEEDED): "cancelled",
    (FAILED, TODO): "retried",
}


# Filters and parameters


def matches(value: Any, wanted: Any) -> bool:
    """A ``(%(x)s IS NULL OR column = %(x)s)`` filter."""
    return wanted is None or value == wanted


def matches_all(job: Row, filters: dict[str, Any]) -> bool:
    """Whether a row passes every filter (column → wanted value or ``None``)."""
    return all(matches(job[column], wanted) for column, wanted in filters.items())


def coalesce(value: Any, default: Any) -> Any:
    """``coalesce(value, default)``."""
    return default if value is None else value


def timestamp(value: datetime.datetime | str | None) -> datetime.datetime | None:
    """A ``timestamptz`` parameter: an ISO string or a datetime, naive ones as UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        return utils.parse_datetime(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=datetime.timezone.utc)
    return value


def seconds_ago(seconds: float) -> datetime.datetime:
    """``NOW() - make_interval(secs => seconds)``."""
    return utils.utcnow() - datetime.timedelta(seconds=float(seconds))


# Constraints


def check_status(status: str) -> None:
    """
    Like the cast to ``procrastinate_job_status``.

    :raises ConnectorException: not a status.
    """
    if status not in ALL_STATUSES:
        raise exceptions.ConnectorException(
            f'invalid input value for enum procrastinate_job_status: "{status}"'
        )


def checked_status(status: str | None) -> str | None:
    """
    A status filter, cast like the SQL parameter (``None`` stays ``None``).

    :raises ConnectorException: not a status.
    """
    if status is not None:
        check_status(status)
    return status


def check_end_status(job_id: int, status: str) -> None:
    """
    The status check of ``procrastinate_finish_job_v1``.

    :raises ConnectorException: not a status, or not an end status.
    """
    check_status(status)
    if status not in END_STATUSES:
        raise exceptions.ConnectorException(
            'End status should be either "succeeded", "failed" or "aborted" '
            f"(job id: {job_id})"
        )


def name_error(job: Row) -> Exception | None:
    """The error of a row whose queue or task name is missing or too long."""
    for column in ("queue_name", "task_name"):
        value = job[column]
        if value is None:
            return exceptions.ConnectorException(
                f'null value in column "{column}" of relation "procrastinate_jobs" '
                "violates not-null constraint"
            )
        if len(value) > facts.MAX_NAME_LENGTH:
            return exceptions.ConnectorException(
                f"value too long for type character varying({facts.MAX_NAME_LENGTH}) "
                f"({column})"
            )
    return None


def queueing_lock_error(job: Row, taken: set[str]) -> Exception | None:
    """The error of a waiting row whose queueing lock another waiting job holds."""
    queueing_lock = job["queueing_lock"]
    if queueing_lock is None or queueing_lock not in taken:
        return None
    return exceptions.UniqueViolation(
        "duplicate key value violates unique constraint "
        f'"{facts.QUEUEING_LOCK_CONSTRAINT}": Key (queueing_lock)=({queueing_lock}) '
        "already exists.",
        constraint_name=facts.QUEUEING_LOCK_CONSTRAINT,
        queueing_lock=queueing_lock,
    )


def first_invalid(batch: list[Row], taken: set[str]) -> tuple[int, Exception] | None:
    """
    The index and error of the first row of a batch that cannot be inserted, the
    queueing locks of its earlier rows counting as taken.

    :param taken: the queueing locks of the waiting jobs.
    """
    taken = set(taken)
    for index, job in enumerate(batch):
        error = name_error(job) or queueing_lock_error(job, taken)
        if error is not None:
            return index, error
        if job["queueing_lock"] is not None:
            taken.add(job["queueing_lock"])
    return None


def waiting_queueing_locks(
    rows: Iterable[Row], ignore_id: int | None = None
) -> set[str]:
    """The queueing locks held by waiting jobs (but the job ``ignore_id``)."""
    return {
        job["queueing_lock"]
        for job in rows
        if job["status"] == TODO
        and job["queueing_lock"] is not None
        and job["id"] != ignore_id
    }


# Fetching and ownership


def fetch_order(job: Row) -> tuple[int, int]:
    """The order of fetching: highest priority first, then oldest."""
    return (-job["priority"], job["id"])


def is_due(job: Row, now: datetime.datetime) -> bool:
    """Whether a job's schedule, if any, has come."""
    return job["scheduled_at"] is None or job["scheduled_at"] <= now


def fetchable(job: Row, queues: list[str] | None, now: datetime.datetime) -> bool:
    """Whether a job waits, due, in one of ``queues`` (any when ``None``)."""
    return (
        job["status"] == TODO
        and (queues is None or job["queue_name"] in queues)
        and is_due(job, now)
    )


def lock_heads(rows: Iterable[Row]) -> dict[str, int | None]:
    """
    For each lock of a live job: the id of the only job allowed to start (the first
    waiting one in fetch order, wherever it waits and whenever it is scheduled), or
    ``None`` when a job of the lock is running.
    """
    heads: dict[str, Row | None] = {}
    for job in rows:
        lock = job["lock"]
        if lock is None or job["status"] not in LIVE_STATUSES:
            continue
        if job["status"] == DOING:
            heads[lock] = None
        elif lock not in heads or _ahead(job, heads[lock]):
            heads[lock] = job
    return {lock: job["id"] if job else None for lock, job in heads.items()}


def _ahead(job: Row, other: Row | None) -> bool:
    return other is not None and fetch_order(job) < fetch_order(other)


def lock_allows(job: Row, heads: dict[str, int | None]) -> bool:
    """Whether the lock rule lets a job start (see :func:`lock_heads`)."""
    return job["lock"] is None or heads.get(job["lock"]) == job["id"]


def runs_for(job: Row | None, worker_id: int | None) -> bool:
    """Whether a job runs, for that worker or for no worker (one that was pruned)."""
    return (
        job is not None
        and job["status"] == DOING
        and job["worker_id"] in (worker_id, None)
    )


def owns(job: Row | None, worker_id: int | None) -> bool:
    """Whether a worker may store the outcome of its run of the job (any caller
    when ``worker_id`` is ``None``)."""
    return worker_id is None or runs_for(job, worker_id)
