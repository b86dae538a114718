"""The handlers of the queries that move a job along its path: defer, fetch, finish,
retry and cancel. Each runs one named query of ``queries.sql`` on the in-memory
tables, with the semantics of the SQL functions it calls.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import json
from typing import Any

from procrastinate import exceptions, utils
from procrastinate.testing import registry, rules
from procrastinate.testing.rules import CANCELLED, DOING, FAILED, TODO, Row
from procrastinate.testing.tables import Tables

handlers = registry.Registry()


# Defer


@handlers.handles("defer_jobs", "all")
def defer_jobs(tables: Tables, jobs: str) -> list[Row]:
    """
    Insert a batch of jobs, all or none; ids come back in order.

    :param jobs: a JSON array of jobs, as the query takes it.
    :raises UniqueViolation: a queueing lock is taken by a waiting job, or used twice
        in the batch.
    :raises ConnectorException: a queue or task name is missing or too long.
    """
    # The batch comes as JSON text, parsed like the database does.
    batch = [_job_values(tables, job) for job in json.loads(jobs)]
    return [{"id": job_id} for job_id in tables.insert_batch(batch)]


def _job_values(tables: Tables, job: Row) -> Row:
    values = {
        "queue_name": job.get("queue_name"),
        "task_name": job.get("task_name"),
        "priority": job.get("priority") or 0,
        "lock": job.get("lock"),
        "queueing_lock": job.get("queueing_lock"),
        "args": tables.stored_json(job.get("args") or {}),
        "scheduled_at": rules.timestamp(job.get("scheduled_at")),
        "lock_mode": rules.checked_lock_mode(job.get("lock_mode")),
    }
    return {**values, **rules.job_options(job)}


@handlers.handles("defer_periodic_job", "one")
def defer_periodic_job(
    tables: Tables,
    queue: str,
    lock: str | None,
    queueing_lock: str | None,
    task_name: str,
    priority: int,
    periodic_id: str,
    defer_timestamp: int,
    args: dict[str, Any],
    lock_mode: str | None,
) -> list[Row]:
    """
    Defer the job of a periodic tick, unless the tick was deferred already for the
    task and periodic id (``id`` is then ``None``). Only the ticks from the latest
    deferred one on are remembered.

    :raises UniqueViolation: the queueing lock is taken; the tick is not recorded.
    """
    key = (task_name, periodic_id)
    if _tick_deferred(tables, key, defer_timestamp):
        return [{"id": None}]
    job = {
        "queue_name": queue,
        "task_name": task_name,
        "priority": priority,
        "lock": lock,
        "queueing_lock": queueing_lock,
        "args": args,
        "scheduled_at": None,
        "lock_mode": lock_mode,
    }
    rows = defer_jobs(tables, tables.dumps([job]))
    _record_tick(tables, key, defer_timestamp)
    return rows


def _tick_deferred(tables: Tables, key: tuple[str, str], tick: int) -> bool:
    return tick == tables.periodic_defers.get(key) or tick in tables.ticks.get(key, ())


def _record_tick(tables: Tables, key: tuple[str, str], tick: int) -> None:
    # Like the SQL, which deletes the ticks older than the one just deferred: later
    # ticks stay, so an out-of-order tick is deferred once only too.
    ticks = {kept for kept in tables.ticks.get(key, set()) if kept >= tick}
    latest = tables.periodic_defers.get(key)
    if latest is not None and latest > tick:
        ticks.add(latest)
    ticks.add(tick)
    tables.ticks[key] = ticks
    tables.periodic_defers[key] = max(ticks)


# Fetch


@handlers.handles("fetch_jobs", "all")
def fetch_jobs(
    tables: Tables, queues: list[str] | None, worker_id: int | None, limit: int | None
) -> list[Row]:
    """
    Mark up to ``limit`` jobs as ``doing`` for the worker: waiting, in ``queues``
    (all when ``None``) and not in a paused queue, due, allowed by their lock (see
    :func:`~procrastinate.testing.rules.lock_allows`) and by the limits of their
    queue (see :func:`~procrastinate.testing.rules.budgets`). Highest priority
    first, then oldest; the starts are recorded in the limited queues' windows.

    :raises ConnectorException: the worker is not registered (foreign key).
    """
    now = utils.utcnow()
    states = rules.lock_states(tables.jobs.values(), now)
    paused = tables.paused_queues()
    candidates = sorted(
        (
            job
            for job in tables.jobs.values()
            if rules.fetchable(job, queues, now)
            and job["queue_name"] not in paused
            and rules.lock_allows(job, states)
        ),
        key=rules.fetch_order,
    )
    limits = {
        queue: limit
        for queue, limit in tables.queue_limits.items()
        if queues is None or queue in queues
    }
    most = limit if limit is not None else len(candidates)
    budgets = rules.budgets(limits, tables.jobs.values(), now, most)
    taken = rules.within_budgets(candidates, budgets, limit)
    if taken:
        tables.check_worker(worker_id)
    for queue, queue_limit in limits.items():
        started = sum(1 for job in taken if job["queue_name"] == queue)
        if started and queue_limit["max_starts"] is not None:
            window = rules.start_window(queue_limit, now)
            queue_limit["recent_starts"] = window + [now] * started
    for job in taken:
        tables.update(job, status=DOING, worker_id=worker_id)
    return [tables.fetched(job) for job in taken]


# Finish and retry


@handlers.handles("finish_job", "all")
def finish_job(
    tables: Tables,
    job_id: int,
    status: str,
    delete_job: bool,
    worker_id: int | None,
    result: str | None = None,
    error: str | None = None,
) -> list[Row]:
    """
    Set the end status of a waiting or running job (clearing its abort request and
    worker, counting an attempt if it ran, storing ``result`` and ``error`` when
    given, see :func:`~procrastinate.testing.rules.result_jsonb`), or delete it.
    With ``worker_id``, only while the job runs and that worker, or none, owns it:
    no row otherwise.

    :raises ConnectorException: the status is not an end status, or the job does not
        exist or is not waiting or running.
    """
    if not rules.owns(tables.jobs.get(job_id), worker_id):
        return []
    _finish(tables, job_id, status, delete_job, result, error)
    return [{"finished": None}]


def _finish(
    tables: Tables,
    job_id: int,
    status: str,
    delete_job: bool,
    result: str | None = None,
    error: str | None = None,
) -> None:
    rules.check_end_status(job_id, status)
    job = tables.jobs.get(job_id)
    if job is None or job["status"] not in rules.LIVE_STATUSES:
        raise exceptions.ConnectorException(
            f'Job was not found or not in "doing" or "todo" status (job id: {job_id})'
        )
    if delete_job:
        tables.delete(job_id)
        return
    tables.update(
        job,
        status=status,
        abort_requested=False,
        attempts=job["attempts"] + 1 if job["status"] == DOING else job["attempts"],
        worker_id=None,
        result=rules.coalesce(rules.result_jsonb(result), job["result"]),
        error=rules.coalesce(_error_json(error), job["error"]),
    )


def _error_json(error: str | None) -> Any:
    return json.loads(error) if error is not None else None


@handlers.handles("retry_job", "all", "run")
def retry_job(
    tables: Tables,
    job_id: int,
    retry_at: datetime.datetime | str | None,
    new_priority: int | None,
    new_queue_name: str | None,
    new_lock: str | None,
    worker_id: int | None,
    error: str | None = None,
) -> list[Row]:
    """
    Send a running or failed job back to the queue, scheduled at ``retry_at``; a
    running job whose abort was requested ends ``failed`` instead. With
    ``worker_id``, only while the job runs and that worker, or none, owns it: no row
    otherwise. ``error`` (JSON text) replaces the stored error. A manual retry runs
    it ignoring the result.

    :raises ConnectorException: the job does not exist or is neither running nor
        failed.
    :raises UniqueViolation: its queueing lock is taken by a waiting job.
    """
    job = tables.jobs.get(job_id)
    if not rules.owns(job, worker_id):
        return []
    if job is not None and job["status"] == DOING and job["abort_requested"]:
        _finish(tables, job_id, FAILED, delete_job=False, error=error)
        return [{"retried": None}]
    if job is None or job["status"] not in (DOING, FAILED):
        raise exceptions.ConnectorException(
            f'Job was not found or not in "doing" or "failed" status (job id: {job_id})'
        )
    taken = rules.waiting_queueing_locks(tables.jobs.values(), ignore_id=job_id)
    taken_error = rules.queueing_lock_error(job, taken)
    if taken_error is not None:
        raise taken_error
    _retry(tables, job, retry_at, new_priority, new_queue_name, new_lock, error)
    return [{"retried": None}]


def _retry(
    tables: Tables,
    job: Row,
    retry_at: datetime.datetime | str | None,
    priority: int | None,
    queue_name: str | None,
    lock: str | None,
    error: str | None,
) -> None:
    tables.update(
        job,
        status=TODO,
        attempts=job["attempts"] + 1,
        scheduled_at=rules.timestamp(retry_at),
        priority=rules.coalesce(priority, job["priority"]),
        queue_name=rules.coalesce(queue_name, job["queue_name"]),
        lock=rules.coalesce(lock, job["lock"]),
        worker_id=None,
        error=rules.coalesce(_error_json(error), job["error"]),
    )


@handlers.handles("store_outcomes", "all")
def store_outcomes(tables: Tables, outcomes: str) -> list[Row]:
    """
    Store a batch of outcomes (see the query): each only while its worker, or none,
    owns the running job; a retry ends with its status instead when its abort was
    requested (``failed`` then) or its queueing lock is held by a waiting job.
    """
    rows = sorted(json.loads(outcomes), key=lambda row: row["id"])
    return [{"id": row["id"], "stored": _store(tables, row)} for row in rows]


@handlers.handles("store_outcomes_and_fetch", "all")
def store_outcomes_and_fetch(
    tables: Tables, outcomes: str, queues: list[str] | None, worker_id: int, limit: int
) -> list[Row]:
    """
    :func:`store_outcomes` then :func:`fetch_jobs` (which sees the outcomes just
    stored), in one transaction: when either fails, neither happened. A row per
    outcome (``stored_id``, ``stored``), then one per fetched job (``stored_id``
    ``None``).

    :raises ConnectorException: the worker is not registered and a job would start.
    """
    before = {
        field.name: copy.deepcopy(getattr(tables, field.name))
        for field in dataclasses.fields(tables)
    }
    try:
        stored = store_outcomes(tables, outcomes)
        fetched = fetch_jobs(tables, queues, worker_id, limit)
    except Exception:
        for name, value in before.items():
            setattr(tables, name, value)
        raise
    return [{"stored_id": row["id"], "stored": row["stored"]} for row in stored] + [
        {"stored_id": None, "stored": None, **row} for row in fetched
    ]


def _store(tables: Tables, row: Row) -> str | None:
    job = tables.jobs.get(row["id"])
    owners = (row["worker_id"], None)
    if job is None or job["status"] != DOING or job["worker_id"] not in owners:
        return None
    result, error = row.get("result"), row.get("error")
    if row.get("retry_at") is None:
        _finish(tables, job["id"], row["status"], row["delete_job"], result, error)
        return "deleted" if row["delete_job"] else "finished"
    if job["abort_requested"]:
        _finish(tables, job["id"], FAILED, delete_job=False, error=error)
        return "finished"
    taken = rules.waiting_queueing_locks(tables.jobs.values())
    if rules.queueing_lock_error(job, taken) is not None:
        _finish(tables, job["id"], row["status"], row["delete_job"], result, error)
        return "retry_skipped"
    _retry(
        tables,
        job,
        row["retry_at"],
        row["priority"],
        row["queue_name"],
        row["lock"],
        error,
    )
    return "retried"


# Cancel


@handlers.handles("cancel_job", "all")
def cancel_job(tables: Tables, job_id: int, abort: bool, delete_job: bool) -> list[Row]:
    """
    Cancel (or with ``delete_job``, delete) a waiting job; with ``abort``, also
    request the abort of a running one. The row's ``id`` is ``None`` when nothing was
    done.
    """
    job = tables.jobs.get(job_id)
    if job is None:
        return [{"id": None}]
    if delete_job and job["status"] == TODO:
        tables.delete(job_id)
        return [{"id": job_id}]
    if abort and job["status"] in rules.LIVE_STATUSES:
        new_status = CANCELLED if job["status"] == TODO else job["status"]
        tables.update(job, abort_requested=True, status=new_status)
        return [{"id": job_id}]
    if not abort and job["status"] == TODO:
        tables.update(job, status=CANCELLED)
        return [{"id": job_id}]
    return [{"id": None}]
