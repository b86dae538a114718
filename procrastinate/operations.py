"""The database operations on jobs, declared once for the sync and the async API: for
each, its named query, how its arguments are built and how its rows are read (pure
functions), and the readers every operation may use. :mod:`procrastinate.runner`
performs them; the job manager is a list of one-line methods over both. The
operations on queues are in :mod:`procrastinate.queue_operations`, those on the
worker registry in :mod:`procrastinate.worker_operations`.
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from procrastinate import exceptions, jobs, utils
from procrastinate.runner import Arguments, Operation, Result
from procrastinate.sql import facts

logger = logging.getLogger("procrastinate.manager")


def defer_jobs_arguments(
    jobs_to_defer: Iterable[jobs.Job], json_dumps: Callable[[Any], str] | None = None
) -> Arguments | None:
    """
    The arguments of the ``defer_jobs`` query for a batch of jobs (``None`` for an
    empty one). The batch goes as JSON text, serialized here with ``json_dumps``: a
    plain string parameter, that every connector passes alike (one written for
    procrastinate 3.x included).
    """
    batch = [job_to_defer(job) for job in jobs_to_defer]
    return {"jobs": (json_dumps or json.dumps)(batch)} if batch else None


#: The fields of ``procrastinate_job_to_defer_v3`` named as the job's attributes,
#: with the value that the SQL function stores for a missing key.
DEFER_DEFAULTS: tuple[tuple[str, Any], ...] = (
    ("priority", jobs.DEFAULT_PRIORITY),
    ("lock", None),
    ("queueing_lock", None),
    ("lock_mode", jobs.DEFAULT_LOCK_MODE),
    ("timeout", None),
    ("metadata", None),
)


def job_to_defer(job: jobs.Job) -> dict[str, Any]:
    """
    One job of the ``defer_jobs`` batch: the fields of
    ``procrastinate_job_to_defer_v3`` that differ from their default. A missing key
    is NULL, which the SQL function stores as the column's default: the fewer bytes
    to encode, send and parse, the faster a large batch goes.
    """
    values: dict[str, Any] = {"queue_name": job.queue, "task_name": job.task_name}
    if job.task_kwargs:
        values["args"] = job.task_kwargs
    if job.scheduled_at is not None:
        values["scheduled_at"] = job.scheduled_at.isoformat()
    for name, default in DEFER_DEFAULTS:
        value = getattr(job, name)
        if value != default:
            values[name] = value
    return values


def deferred_jobs(
    result: Result, jobs_to_defer: list[jobs.Job], json_dumps: Any = None
) -> list[jobs.Job]:
    """The jobs as stored: with their new id and the ``todo`` status."""
    return [
        job.evolve(id=row["id"], status=jobs.Status.TODO.value)
        for job, row in zip(jobs_to_defer, result.rows)
    ]


def defer_error(error: exceptions.UniqueViolation) -> Exception:
    """The user-facing error for a taken queueing lock; other violations as they are."""
    if error.constraint_name != facts.QUEUEING_LOCK_CONSTRAINT:
        return error
    return exceptions.AlreadyEnqueued(
        "Job cannot be enqueued: there is already a job in the queue with the "
        f"queueing lock {error.queueing_lock!r}"
    )


def periodic_arguments(
    job: jobs.Job, periodic_id: str, defer_timestamp: int
) -> Arguments:
    """
    The arguments of ``defer_periodic_job``.

    :raises InvalidTimestamp: the job's ``timestamp`` argument is not the tick's.
    """
    if job.task_kwargs.get("timestamp") != defer_timestamp:
        raise exceptions.InvalidTimestamp
    return {
        "task_name": job.task_name,
        "periodic_id": periodic_id,
        "defer_timestamp": defer_timestamp,
        "queue": job.queue,
        "priority": job.priority,
        "lock": job.lock,
        "queueing_lock": job.queueing_lock,
        "args": job.task_kwargs,
        "lock_mode": job.lock_mode,
    }


def list_filters(
    queue: str | None = None,
    task: str | None = None,
    status: str | jobs.Status | None = None,
    lock: str | None = None,
) -> Arguments:
    """The filter arguments shared by the ``list_*`` queries."""
    return {
        "queue_name": queue,
        "task_name": task,
        "status": status.value if isinstance(status, jobs.Status) else status,
        "lock": lock,
    }


#: What ``list_stats`` counts the jobs by, for each kind of listing.
STATS_COLUMNS = {"queues": "queue_name", "tasks": "task_name", "locks": "lock"}


def list_stats_arguments(kind: str, filters: Arguments) -> Arguments:
    """The arguments of ``list_stats``: ``filters`` (see :func:`list_filters`) and
    the column that ``kind`` (``queues``, ``tasks`` or ``locks``) groups by.

    :raises KeyError: an unknown ``kind``.
    """
    return {"group_by": STATS_COLUMNS[kind], **filters}


def list_jobs_arguments(
    id: int | None, filters: Arguments, queueing_lock: str | None, worker_id: int | None
) -> Arguments:
    """The arguments of ``list_jobs``: ``filters`` (see :func:`list_filters`) and
    three more."""
    return {
        "id": id,
        **filters,
        "queueing_lock": queueing_lock,
        "worker_id": worker_id,
    }


def stats_rows(result: Result, *_: Any, **__: Any) -> list[dict[str, Any]]:
    """Rows of ``list_stats``: one count per status."""
    statuses = [
        status.value for status in jobs.Status if status != jobs.Status.ABORTING
    ]
    return [
        {
            "name": row["name"],
            "jobs_count": row["jobs_count"],
            **{status: row["stats"].get(status, 0) for status in statuses},
        }
        for row in result.rows
    ]


def retry_arguments(
    job_id: int,
    retry_at: datetime.datetime | None = None,
    priority: int | None = None,
    queue: str | None = None,
    lock: str | None = None,
    worker_id: int | None = None,
    error: str | None = None,
) -> Arguments:
    """The arguments of the ``retry_job`` query (``worker_id``: the worker storing
    its outcome, ``None`` for a manual retry; ``error``: the JSON text of the failed
    attempt's error, see :func:`procrastinate.results.encode_error`)."""
    return {
        "job_id": job_id,
        "worker_id": worker_id,
        "retry_at": retry_at or utils.utcnow(),
        "new_priority": priority,
        "new_queue_name": queue,
        "new_lock": lock,
        "error": error,
    }


def finish_arguments(
    job_id: int,
    status: jobs.Status,
    delete_job: bool,
    worker_id: int | None,
    result: str | None = None,
    error: str | None = None,
) -> Arguments:
    """The arguments of ``finish_job``; ``result`` and ``error``: the JSON text to
    store (see :mod:`procrastinate.results`), or ``None``."""
    return {
        "job_id": job_id,
        "status": status.value,
        "delete_job": delete_job,
        "worker_id": worker_id,
        "result": result,
        "error": error,
    }


def check_owned(result: Result, *_: Any, **__: Any) -> None:
    """
    :raises JobLost: the outcome of the worker's run was not stored (no row).
    """
    if result.rows:
        return
    raise exceptions.JobLost(
        f"Job {result.arguments['job_id']} is no longer run by worker "
        f"{result.arguments['worker_id']}: another worker recovered it, or it was "
        "retried or finished meanwhile"
    )


def store_outcomes_arguments(rows: list[dict[str, Any]]) -> Arguments | None:
    """The arguments of ``store_outcomes``: the rows (see
    ``procrastinate.outcomes.stored_row``) as JSON text; ``None`` for none."""
    return {"outcomes": json.dumps(rows)} if rows else None


def stored_outcomes(result: Result, *_: Any, **__: Any) -> dict[int, str | None]:
    """What ``store_outcomes`` did to each job, by id: ``None`` for a lost job."""
    return {row["id"]: row["stored"] for row in result.rows}


def store_and_fetch_arguments(
    rows: list[dict[str, Any]],
    queues: Iterable[str] | None,
    worker_id: int,
    limit: int,
) -> Arguments:
    """The arguments of ``store_outcomes_and_fetch``: those of ``store_outcomes``
    and of ``fetch_jobs``."""
    return {"outcomes": json.dumps(rows), **fetch_arguments(queues, worker_id, limit)}


def stored_and_fetched(
    result: Result, *_: Any, **__: Any
) -> tuple[dict[int, str | None], list[jobs.FetchedJob]]:
    """What ``store_outcomes_and_fetch`` did to each outcome's job (as
    :func:`stored_outcomes`), and the jobs it fetched (as :func:`fetched_jobs`)."""
    stored = {
        row["stored_id"]: row["stored"]
        for row in result.rows
        if row["stored_id"] is not None
    }
    fetched = [
        jobs.load_fetched_row(row, result.json_loads)
        for row in result.rows
        if row["stored_id"] is None
    ]
    return stored, fetched


def delete_old_jobs_arguments(
    nb_hours: int,
    queue: str | None = None,
    include_failed: bool = False,
    include_cancelled: bool = False,
    include_aborted: bool = False,
) -> Arguments:
    """The arguments of the ``delete_old_jobs`` query."""
    statuses = [jobs.Status.SUCCEEDED.value]
    if include_failed:
        statuses.append(jobs.Status.FAILED.value)
    if include_cancelled:
        statuses.append(jobs.Status.CANCELLED.value)
    if include_aborted:
        statuses.append(jobs.Status.ABORTED.value)
    return {"nb_hours": nb_hours, "queue": queue, "statuses": statuses}


def cancelled(result: Result, *_: Any, **__: Any) -> bool:
    """Whether the job was cancelled (or its abort requested)."""
    done = bool(result.rows) and result.rows[0]["id"] is not None
    job_id = result.arguments["job_id"]
    if done:
        logger.debug(
            f"Cancelled job {job_id}",
            extra={"action": "job_cancelled", "job_id": job_id},
        )
    return done


def fetched_jobs(result: Result, *_: Any, **__: Any) -> list[jobs.FetchedJob]:
    """The jobs of worker rows; an unloadable one carries its ``load_error``."""
    return [jobs.load_fetched_row(row, result.json_loads) for row in result.rows]


def stalled_jobs(result: Result, *_: Any, **__: Any) -> list[jobs.Job]:
    """The stalled jobs; one that cannot be loaded has its plain columns, and a
    warning says why."""
    stalled = fetched_jobs(result)
    for item in stalled:
        if item.load_error is not None:
            logger.warning(
                f"Stalled job {item.job.call_string} cannot be loaded: "
                f"{item.load_error}",
                extra={"action": "job_unloadable", "job": item.job.log_context()},
            )
    return [item.job for item in stalled]


def listed_jobs(result: Result, *_: Any, **__: Any) -> list[jobs.Job]:
    """The listed jobs; one that cannot be loaded has its plain columns (logged)."""
    listed = fetched_jobs(result)
    for item in listed:
        if item.load_error:
            logger.warning(
                "Job %s is listed without its arguments and schedule: %s",
                item.job.id,
                item.load_error,
                extra={"action": "unloadable_job_listed", "job_id": item.job.id},
            )
    return [item.job for item in listed]


def new_id(result: Result, *_: Any, **__: Any) -> int | None:
    """A reader: the id of the new job; ``None`` when the query made none."""
    job_id: int | None = result.rows[0]["id"]
    return job_id


def first_int(name: str) -> Callable[..., int]:
    """A reader: the integer column ``name`` of the first row."""
    return lambda result, *_, **__: int(result.rows[0][name])


def column_list(name: str) -> Callable[..., list[Any]]:
    """A reader: the column ``name`` of every row."""
    return lambda result, *_, **__: [row[name] for row in result.rows]


def any_row(result: Result, *_: Any, **__: Any) -> bool:
    """A reader: whether the query returned a row."""
    return bool(result.rows)


def nothing(result: Result, *_: Any, **__: Any) -> None:
    """A reader for the queries that return nothing."""


def no_arguments() -> Arguments:
    """The arguments of a query without parameters."""
    return {}


def jobs_to_stop(result: Result, *_: Any, **__: Any) -> tuple[list[int], list[int]]:
    """The ids to abort (abort requested, not lost) and the ids lost."""
    lost = [row["id"] for row in result.rows if row["lost"]]
    to_abort = [
        row["id"] for row in result.rows if row["abort_requested"] and not row["lost"]
    ]
    return to_abort, lost


def fetch_arguments(
    queues: Iterable[str] | None, worker_id: int, limit: int = 1
) -> Arguments:
    """The arguments of ``fetch_jobs``."""
    return {
        "queues": list(queues) if queues is not None else None,
        "worker_id": worker_id,
        "limit": limit,
    }


def stalled_filters(age: str) -> Callable[[float, str | None, str | None], Arguments]:
    """The arguments builder of a stalled-jobs query, whose age argument is ``age``."""
    return lambda value, queue, task_name: {
        age: value,
        "queue": queue,
        "task_name": task_name,
    }


def by_worker(worker_id: int) -> Arguments:
    """The arguments of the queries about one worker."""
    return {"worker_id": worker_id}


# The declarations.

defer_jobs = Operation(
    "defer_jobs", defer_jobs_arguments, deferred_jobs, unique_violation=defer_error
)
defer_periodic_job = Operation(
    "defer_periodic_job",
    periodic_arguments,
    new_id,
    fetch="one",
    unique_violation=defer_error,
)


fetch_jobs = Operation("fetch_jobs", fetch_arguments, fetched_jobs)
finish_job = Operation("finish_job", finish_arguments, check_owned)
#: A worker's outcomes, many jobs in one statement.
store_outcomes = Operation("store_outcomes", store_outcomes_arguments, stored_outcomes)
#: A worker's outcomes stored, then its next jobs fetched, in one round trip.
store_outcomes_and_fetch = Operation(
    "store_outcomes_and_fetch", store_and_fetch_arguments, stored_and_fetched
)
#: A worker's retry: stored only while the worker owns the job.
retry_owned_job = Operation("retry_job", retry_arguments, check_owned)
#: A manual retry, whoever runs the job.
retry_job_by_id = Operation("retry_job", retry_arguments, nothing, fetch="none")
cancel_job = Operation(
    "cancel_job",
    lambda job_id, abort=False, delete_job=False: {
        "job_id": job_id,
        "abort": abort,
        "delete_job": delete_job,
    },
    cancelled,
)
get_job_status = Operation(
    "get_job_status",
    lambda job_id: {"job_id": job_id},
    lambda result, *_: jobs.Status(result.rows[0]["status"]),
    fetch="one",
)
list_jobs_to_abort = Operation(
    "list_jobs_to_abort", lambda queue=None: {"queue": queue}, column_list("id")
)
list_jobs_to_stop = Operation(
    "list_jobs_to_stop",
    lambda worker_id, job_ids: {"worker_id": worker_id, "job_ids": list(job_ids)},
    jobs_to_stop,
)


stalled_by_started = Operation(
    "select_stalled_jobs_by_started", stalled_filters("nb_seconds"), stalled_jobs
)
stalled_by_heartbeat = Operation(
    "select_stalled_jobs_by_heartbeat",
    stalled_filters("seconds_since_heartbeat"),
    stalled_jobs,
)
claim_orphaned_jobs = Operation("claim_orphaned_jobs", by_worker, fetched_jobs)
delete_old_jobs = Operation(
    "delete_old_jobs", delete_old_jobs_arguments, nothing, fetch="none"
)
check_connection = Operation("check_connection", no_arguments, any_row)
list_jobs = Operation("list_jobs", list_jobs_arguments, listed_jobs)
#: ``list_stats``: per queue, task or lock, one count per status, by name.
list_stats = Operation("list_stats", list_stats_arguments, stats_rows)
