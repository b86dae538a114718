"""The handlers of the queries that keep the house: the worker registry, the recovery
of orphaned jobs, the queue limits and states, the deletion of old jobs, and the
schema checks.
"""

from __future__ import annotations

import datetime
from importlib import resources

from procrastinate import sql, utils
from procrastinate.testing import registry, rules
from procrastinate.testing.rules import DOING, Row
from procrastinate.testing.tables import Tables

handlers = registry.Registry()


# Queue states


@handlers.handles("set_queue_paused", "one")
def set_queue_paused(tables: Tables, queue_name: str, pause: bool) -> list[Row]:
    """Pause or resume a queue; ``changed``: whether its state changed."""
    return [{"changed": tables.set_queue_paused(queue_name, pause)}]


@handlers.handles("list_queue_states", "all")
def list_queue_states(tables: Tables, queue_name: str | None) -> list[Row]:
    """The queues that were ever paused (or only ``queue_name``), by name."""
    return [
        {"name": name, **state}
        for name, state in sorted(tables.queues.items())
        if queue_name is None or name == queue_name
    ]


# Workers


@handlers.handles("register_worker", "one")
def register_worker(tables: Tables) -> list[Row]:
    """Add a worker, alive now."""
    return [{"worker_id": tables.register_worker()}]


@handlers.handles("unregister_worker", "run")
def unregister_worker(tables: Tables, worker_id: int) -> list[Row]:
    """Remove a worker; its jobs lose their ``worker_id``."""
    tables.unregister_worker(worker_id)
    return []


@handlers.handles("update_heartbeat", "all")
def update_heartbeat(tables: Tables, worker_id: int) -> list[Row]:
    """Record that a registered worker is alive; no row when it is not."""
    if worker_id not in tables.workers:
        return []
    tables.workers[worker_id] = utils.utcnow()
    return [{"id": worker_id}]


@handlers.handles("reregister_worker", "one")
def reregister_worker(tables: Tables, job_ids: list[int]) -> list[Row]:
    """Register a worker again, giving it the unclaimed running jobs among
    ``job_ids``."""
    worker_id = tables.register_worker()
    reattached = []
    for job_id in sorted(job_ids):
        job = tables.jobs.get(job_id)
        if job and job["status"] == DOING and job["worker_id"] is None:
            job["worker_id"] = worker_id
            reattached.append(job_id)
    return [{"worker_id": worker_id, "job_ids": reattached}]


@handlers.handles("prune_stalled_workers", "all")
def prune_stalled_workers(tables: Tables, seconds_since_heartbeat: float) -> list[Row]:
    """Remove the workers silent for that long; their jobs lose their
    ``worker_id``."""
    threshold = rules.seconds_ago(seconds_since_heartbeat)
    stalled = sorted(
        worker_id
        for worker_id, heartbeat in tables.workers.items()
        if heartbeat < threshold
    )
    for worker_id in stalled:
        tables.unregister_worker(worker_id)
    return [{"worker_id": worker_id} for worker_id in stalled]


@handlers.handles("claim_orphaned_jobs", "all")
def claim_orphaned_jobs(tables: Tables, worker_id: int) -> list[Row]:
    """
    Give the running jobs without a worker to ``worker_id``.

    :raises ConnectorException: there are such jobs and the worker is not registered
        (foreign key).
    """
    orphans = [
        job
        for job in tables.sorted_jobs()
        if job["status"] == DOING and job["worker_id"] is None
    ]
    if orphans:
        tables.check_worker(worker_id)
    for job in orphans:
        # Only worker_id changes: no trigger records anything.
        job["worker_id"] = worker_id
    return [tables.fetched(job) for job in orphans]


# Queue limits


@handlers.handles("set_queue_limit", "run")
def set_queue_limit(
    tables: Tables,
    queue_name: str,
    max_running: int | None,
    max_starts: int | None,
    per_seconds: float | None,
) -> list[Row]:
    """Set the limits of a queue; the starts recorded in its window stay."""
    previous = tables.queue_limits.get(queue_name)
    tables.queue_limits[queue_name] = {
        "max_running": max_running,
        "max_starts": max_starts,
        "per_seconds": per_seconds,
        "recent_starts": previous["recent_starts"] if previous else [],
    }
    return []


@handlers.handles("clear_queue_limit", "all")
def clear_queue_limit(tables: Tables, queue_name: str) -> list[Row]:
    """Remove the limits of a queue: one row if it had some."""
    if tables.queue_limits.pop(queue_name, None) is None:
        return []
    return [{"queue_name": queue_name}]


@handlers.handles("list_queue_limits", "all")
def list_queue_limits(tables: Tables) -> list[Row]:
    """The limited queues by name, with their running jobs."""
    return [
        {
            "queue_name": queue,
            "max_running": limit["max_running"],
            "max_starts": limit["max_starts"],
            "per_seconds": limit["per_seconds"],
            "running": sum(
                1
                for job in tables.jobs.values()
                if job["status"] == DOING and job["queue_name"] == queue
            ),
        }
        for queue, limit in sorted(tables.queue_limits.items())
    ]


# Old jobs


@handlers.handles("delete_old_jobs", "run")
def delete_old_jobs(
    tables: Tables, nb_hours: float, queue: str | None, statuses: list[str]
) -> list[Row]:
    """
    Delete the jobs in ``statuses`` whose latest event is older than ``nb_hours``
    hours.

    :raises ConnectorException: one of ``statuses`` is not a status.
    """
    for status in statuses:
        rules.check_status(status)
    threshold = utils.utcnow() - datetime.timedelta(hours=float(nb_hours))
    for job in tables.sorted_jobs():
        latest = tables.latest_event(job["id"])
        if (
            job["status"] in statuses
            and rules.matches(job["queue_name"], queue)
            and latest is not None
            and latest < threshold
        ):
            tables.delete(job["id"])
    return []


# Schema


@handlers.handles("check_connection", "all")
def check_connection(tables: Tables) -> list[Row]:
    """One row when :attr:`~Tables.table_exists`, none otherwise."""
    return [{"check": True}] if tables.table_exists else []


@handlers.handles("migrations_recorded", "one")
def migrations_recorded(tables: Tables) -> list[Row]:
    """The record exists with the schema (:attr:`~Tables.table_exists`)."""
    return [{"recorded": tables.table_exists}]


@handlers.handles("list_migrations", "all")
def list_migrations(tables: Tables) -> list[Row]:
    """Every packaged migration: the in-memory schema is always the latest."""
    folder = resources.files(sql).joinpath("migrations")
    names = sorted(
        entry.name for entry in folder.iterdir() if entry.name.endswith(".sql")
    )
    return [{"name": name} for name in names]


@handlers.handles("apply_schema", "run")
def apply_schema(tables: Tables) -> list[Row]:
    """Nothing to create: the in-memory tables always exist."""
    return []
