"""The job manager keeps the method names and signatures of procrastinate 3.x."""

from __future__ import annotations

import inspect

import pytest

from procrastinate import manager

FILTERS = ["queue", "task", "status", "lock"]

# name: its parameters after self, as in procrastinate 3.x.
SIGNATURES = {
    "defer_job_async": ["job", "connection"],
    "defer_job": ["job", "connection"],
    "batch_defer_jobs_async": ["jobs_to_defer", "connection"],
    "batch_defer_jobs": ["jobs_to_defer", "connection"],
    "defer_periodic_job": ["job", "periodic_id", "defer_timestamp"],
    "fetch_job": ["queues", "worker_id"],
    "get_stalled_jobs": [
        "nb_seconds",
        "queue",
        "task_name",
        "seconds_since_heartbeat",
    ],
    "delete_old_jobs": [
        "nb_hours",
        "queue",
        "include_failed",
        "include_cancelled",
        "include_aborted",
    ],
    "finish_job": ["job", "status", "delete_job"],
    "finish_job_by_id_async": ["job_id", "status", "delete_job"],
    "cancel_job_by_id": ["job_id", "abort", "delete_job", "connection"],
    "cancel_job_by_id_async": ["job_id", "abort", "delete_job", "connection"],
    "get_job_status": ["job_id", "connection"],
    "get_job_status_async": ["job_id", "connection"],
    "retry_job": ["job", "retry_at", "priority", "queue", "lock"],
    "retry_job_by_id": ["job_id", "retry_at", "priority", "queue", "lock"],
    "retry_job_by_id_async": ["job_id", "retry_at", "priority", "queue", "lock"],
    "listen_for_jobs": ["on_notification", "queues"],
    "check_connection": [],
    "check_connection_async": [],
    "list_jobs": ["id", *FILTERS, "queueing_lock", "worker_id"],
    "list_jobs_async": ["id", *FILTERS, "queueing_lock", "worker_id"],
    "list_queues": FILTERS,
    "list_queues_async": FILTERS,
    "list_tasks": FILTERS,
    "list_tasks_async": FILTERS,
    "list_locks": FILTERS,
    "list_locks_async": FILTERS,
    "list_jobs_to_abort_async": ["queue"],
    "register_worker": [],
    "unregister_worker": ["worker_id"],
    "update_heartbeat": ["worker_id"],
    "prune_stalled_workers": ["seconds_since_heartbeat"],
}


@pytest.mark.parametrize(("name", "parameters"), sorted(SIGNATURES.items()))
def test_the_3x_methods_keep_their_parameters(name: str, parameters: list[str]) -> None:
    bound = getattr(manager.JobManager(connector=None), name)  # type: ignore[arg-type]
    assert list(inspect.signature(bound).parameters) == parameters


@pytest.mark.parametrize("name", [n for n in SIGNATURES if n.endswith("_async")])
def test_the_async_methods_return_awaitables(name: str) -> None:
    method = getattr(manager.JobManager(connector=None), name)  # type: ignore[arg-type]
    assert inspect.iscoroutinefunction(method)
