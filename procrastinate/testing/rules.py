"""The rules of ``schema.sql`` that the in-memory tables follow, as pure functions on
rows: the statuses and the event of each status change, the constraints (not null,
column lengths, the status enum, queueing-lock uniqueness), the filters of the
queries, the lock rule of fetching and the queue limits.

A row is a dict with the columns of ``procrastinate_jobs``.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
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
#: The statuses ``procrastinate_finish_job_v2`` accepts.
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


def _refuse_constant(name: str) -> Any:
    raise ValueError(f'Token "{name}" is invalid.')


def result_jsonb(text: str | None) -> Any:
    """
    ``procrastinate_result_jsonb_v1(text)``: the JSON value of ``text``, or
    ``{"refused": ...}`` when the database would refuse it (not JSON, ``NaN`` or
    ``Infinity``, a ``\\u0000`` escape, a lone surrogate).
    """
    if text is None:
        return None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
        utils.check_text(json.dumps(value, ensure_ascii=False), "the value")
    except (ValueError, RecursionError) as exc:
        reason = f"the database cannot store the value as JSON: {exc}"
        return {"refused": reason}
    return value


def finished_payloads(job_ids: list[int]) -> list[str]:
    """The payloads of ``procrastinate_notify_jobs_finished_v1`` for the jobs that a
    statement finished: one per :data:`~procrastinate.sql.facts.
    FINISHED_IDS_PER_NOTIFICATION` ids, in id order, as ``jsonb`` prints them."""
    ordered = sorted(job_ids)
    size = facts.FINISHED_IDS_PER_NOTIFICATION
    return [
        json.dumps({"job_ids": ordered[start : start + size]})
        for start in range(0, len(ordered), size)
    ]


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


def checked_lock_mode(mode: str | None) -> str:
    """
    A lock mode as ``procrastinate_defer_jobs_v2`` stores it: ``None`` is the
    default.

    :raises ConnectorException: not a lock mode (the cast to
        ``procrastinate_lock_mode``).
    """
    if mode is None:
        return jobs.DEFAULT_LOCK_MODE
    if mode not in facts.LOCK_MODES:
        raise exceptions.ConnectorException(
            f'invalid input value for enum procrastinate_lock_mode: "{mode}"'
        )
    return mode


def job_options(job: Row) -> Row:
    """
    The columns added by ``procrastinate_defer_jobs_v3`` (``timeout``, a float, and
    ``metadata``, a JSON object), only those given: a row leaves out the ones that
    are NULL, so that rows compared whole in the tests written for the previous
    columns stay equal.

    :raises ConnectorException: a timeout that is not a number (the cast to
        ``double precision``).
    """
    options: Row = {}
    timeout = job.get("timeout")
    if timeout is not None:
        if not isinstance(timeout, int | float) or isinstance(timeout, bool):
            raise exceptions.ConnectorException(
                f'invalid input syntax for type double precision: "{timeout}"'
            )
        options["timeout"] = float(timeout)
    if job.get("metadata") is not None:
        options["metadata"] = job["metadata"]
    return options


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


@dataclasses.dataclass
class LockState:
    """What the lock rule of fetching looks at, for one lock."""

    #: Whether a job of the lock runs.
    running: bool = False
    #: The first waiting job in fetch order, wherever it waits and whenever it is
    #: scheduled: the only one an ``ordered`` job lets start.
    first: Row | None = None
    #: The first waiting job that is due: the only one a ``mutex`` job lets start.
    first_due: Row | None = None


def lock_mode(job: Row) -> str:
    """A row's lock mode (the column's default when the row was built without it)."""
    mode: str = job.get("lock_mode", jobs.DEFAULT_LOCK_MODE)
    return mode


def lock_states(rows: Iterable[Row], now: datetime.datetime) -> dict[str, LockState]:
    """The :class:`LockState` of each lock of a live job."""
    states: dict[str, LockState] = {}
    for job in rows:
        lock = job["lock"]
        if lock is None or job["status"] not in LIVE_STATUSES:
            continue
        state = states.setdefault(lock, LockState())
        if job["status"] == DOING:
            state.running = True
            continue
        if _ahead(job, state.first):
            state.first = job
        if is_due(job, now) and _ahead(job, state.first_due):
            state.first_due = job
    return states


def _ahead(job: Row, other: Row | None) -> bool:
    return other is None or fetch_order(job) < fetch_order(other)


def lock_allows(job: Row, states: dict[str, LockState]) -> bool:
    """
    Whether the lock rule lets a waiting job start: no job of its lock runs, and it
    is the first of its lock in fetch order, counting every waiting job for an
    ``ordered`` job and only the due ones for a ``mutex`` job (see
    :func:`lock_states`).
    """
    if job["lock"] is None:
        return True
    state = states[job["lock"]]
    head = state.first if lock_mode(job) == "ordered" else state.first_due
    return not state.running and head is not None and head["id"] == job["id"]


# Queue limits


def start_window(limit: Row, now: datetime.datetime) -> list[datetime.datetime]:
    """The recorded starts of a limited queue that fall within its period."""
    if limit["per_seconds"] is None:
        return []
    since = now - datetime.timedelta(seconds=limit["per_seconds"])
    return [started for started in limit["recent_starts"] if started > since]


def budgets(
    limits: dict[str, Row], rows: Iterable[Row], now: datetime.datetime, most: int
) -> dict[str, int]:
    """
    How many jobs of each limited queue may start now (at most ``most``): its
    ``max_running`` less its running jobs, its ``max_starts`` less its starts within
    the period, whichever is lower.
    """
    running: dict[str, int] = {}
    for job in rows:
        if job["status"] == DOING:
            running[job["queue_name"]] = running.get(job["queue_name"], 0) + 1
    result = {}
    for queue, limit in limits.items():
        left = most
        if limit["max_running"] is not None:
            left = min(left, limit["max_running"] - running.get(queue, 0))
        if limit["max_starts"] is not None:
            left = min(left, limit["max_starts"] - len(start_window(limit, now)))
        result[queue] = max(0, left)
    return result


def within_budgets(
    candidates: list[Row], budgets: dict[str, int], most: int | None
) -> list[Row]:
    """
    The candidates, in their order, that the budgets of their queues let start (an
    unlimited queue has no budget), up to ``most`` of them.
    """
    left = dict(budgets)
    taken: list[Row] = []
    for job in candidates:
        if most is not None and len(taken) >= most:
            break
        queue = job["queue_name"]
        if queue in left:
            if left[queue] == 0:
                continue
            left[queue] -= 1
        taken.append(job)
    return taken


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
