"""The handlers of the queries that read jobs: a job's status, the jobs a worker must
stop, the stalled jobs, and the listings of jobs, queues, tasks and locks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from procrastinate.testing import registry, rules
from procrastinate.testing.rules import DOING, Row
from procrastinate.testing.tables import Tables

handlers = registry.Registry()


@handlers.handles("get_job_status", "one")
def get_job_status(tables: Tables, job_id: int) -> list[Row]:
    """The status of a job; no row if there is no such job."""
    job = tables.jobs.get(job_id)
    return [] if job is None else [{"status": job["status"]}]


@handlers.handles("get_job_result", "all")
def get_job_result(tables: Tables, job_id: int) -> list[Row]:
    """A job's status, result (value as JSON text, or why it was refused), error
    (JSON text), what the job is, and the times of its events; no row if there is no
    such job."""
    job = tables.jobs.get(job_id)
    if job is None:
        return []
    stored = job["result"] or {}
    events = tables.events.get(job_id, [])
    return [
        {
            "id": job_id,
            "status": job["status"],
            "attempts": job["attempts"],
            "value_text": json.dumps(stored["value"]) if "value" in stored else None,
            "refused": stored.get("refused"),
            "error_text": json.dumps(job["error"]) if job["error"] else None,
            "task_name": job["task_name"],
            "queue_name": job["queue_name"],
            "priority": job["priority"],
            "args": job["args"],
            "scheduled_at": job["scheduled_at"],
            "worker_id": job["worker_id"],
            "starts": len(_times(events, {"started"})),
            "first_started_at": min(_times(events, {"started"}), default=None),
            "deferred_at": min(_times(events, {"deferred"}), default=None),
            "started_at": max(_times(events, {"started"}), default=None),
            "finished_at": max(_times(events, rules.FINAL_STATUSES), default=None),
        }
    ]


def _times(events: list[Row], types: Iterable[str]) -> list[Any]:
    wanted = set(types)
    return [event["at"] for event in events if event["type"] in wanted]


@handlers.handles("list_jobs_to_stop", "all")
def list_jobs_to_stop(tables: Tables, worker_id: int, job_ids: list[int]) -> list[Row]:
    """Of the jobs ``job_ids`` that the worker runs: those whose abort was requested,
    and those it lost (``lost``: gone, not running, or run by another worker)."""
    rows = []
    for job_id in sorted(job_ids):
        job = tables.jobs.get(job_id)
        lost = not rules.runs_for(job, worker_id)
        abort_requested = job is not None and job["abort_requested"]
        if lost or abort_requested:
            rows.append(
                {"id": job_id, "abort_requested": abort_requested, "lost": lost}
            )
    return rows


@handlers.handles("list_jobs_to_abort", "all")
def list_jobs_to_abort(tables: Tables, queue: str | None) -> list[Row]:
    """Ids of the running jobs whose abort was requested."""
    return [
        {"id": job["id"]}
        for job in _running_jobs(tables, queue, None)
        if job["abort_requested"]
    ]


@handlers.handles("select_stalled_jobs_by_started", "all")
def select_stalled_jobs_by_started(
    tables: Tables, nb_seconds: float, queue: str | None, task_name: str | None
) -> list[Row]:
    """Running jobs whose latest ``started`` event is older than ``nb_seconds``."""
    threshold = rules.seconds_ago(nb_seconds)
    return [
        tables.fetched(job)
        for job in _running_jobs(tables, queue, task_name)
        if (started := tables.latest_event(job["id"], "started")) is not None
        and started < threshold
    ]


@handlers.handles("select_stalled_jobs_by_heartbeat", "all")
def select_stalled_jobs_by_heartbeat(
    tables: Tables,
    seconds_since_heartbeat: float,
    queue: str | None,
    task_name: str | None,
) -> list[Row]:
    """Running jobs whose worker is gone or silent for that long."""
    threshold = rules.seconds_ago(seconds_since_heartbeat)
    return [
        tables.fetched(job)
        for job in _running_jobs(tables, queue, task_name)
        if not tables.heartbeat_recent(job["worker_id"], threshold)
    ]


def _running_jobs(
    tables: Tables, queue: str | None, task_name: str | None
) -> list[Row]:
    filters = {"queue_name": queue, "task_name": task_name}
    return [
        job
        for job in tables.sorted_jobs()
        if job["status"] == DOING and rules.matches_all(job, filters)
    ]


@handlers.handles("list_jobs", "all")
def list_jobs(
    tables: Tables,
    id: int | None,
    queue_name: str | None,
    task_name: str | None,
    status: str | None,
    lock: str | None,
    queueing_lock: str | None,
    worker_id: int | None,
) -> list[Row]:
    """The jobs matching every given filter, by id."""
    filters = {
        "id": id,
        "queue_name": queue_name,
        "task_name": task_name,
        "status": rules.checked_status(status),
        "lock": lock,
        "queueing_lock": queueing_lock,
        "worker_id": worker_id,
    }
    return [
        tables.fetched(job)
        for job in tables.sorted_jobs()
        if rules.matches_all(job, filters)
    ]


#: The columns ``list_stats`` may group by.
COUNTED_COLUMNS = frozenset({"queue_name", "task_name", "lock"})


@handlers.handles("list_stats", "all")
def count_by(
    tables: Tables,
    group_by: str,
    queue_name: str | None,
    task_name: str | None,
    status: str | None,
    lock: str | None,
) -> list[Row]:
    """
    Per value of the column ``group_by`` (jobs without one left out; no row for
    another column), among the jobs matching every given filter: ``name``,
    ``jobs_count`` and ``stats`` (count per status), by name. The query
    ``list_stats``.

    :raises ConnectorException: ``status`` is not a status.
    """
    filters = {
        "queue_name": queue_name,
        "task_name": task_name,
        "status": rules.checked_status(status),
        "lock": lock,
    }
    if group_by not in COUNTED_COLUMNS:
        return []
    groups: dict[str, dict[str, int]] = {}
    for job in tables.jobs.values():
        if job[group_by] is None or not rules.matches_all(job, filters):
            continue
        counts = groups.setdefault(job[group_by], {})
        counts[job["status"]] = counts.get(job["status"], 0) + 1
    return [
        {
            "name": name,
            "jobs_count": sum(counts.values()),
            # A jsonb column: read through json_loads like the real one.
            "stats": tables.stored_json(counts),
        }
        for name, counts in sorted(groups.items())
    ]
