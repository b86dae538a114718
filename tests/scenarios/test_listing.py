"""Listing jobs, queues, tasks and locks; checking the connection."""

from __future__ import annotations

from typing import Any

import pytest

import procrastinate
from procrastinate import exceptions, jobs, manager, utils
from tests.scenarios import fetch_ids, ids_of, make_job


def counts(name: str, jobs_count: int, **per_status: int) -> dict[str, Any]:
    row: dict[str, Any] = {"name": name, "jobs_count": jobs_count}
    for status in jobs.Status:
        if status != jobs.Status.ABORTING:
            row[status.value] = per_status.get(status.value, 0)
    return row


@pytest.fixture
async def arranged(job_manager: manager.JobManager, worker_id: int) -> None:
    """Jobs 1-5 across queues a and b, tasks t1 and t2, locks x and y."""
    await job_manager.batch_defer_jobs_async(
        [
            make_job(queue="a", task_name="t1", lock="x", queueing_lock="q1"),
            make_job(queue="a", task_name="t2"),
            make_job(queue="b", task_name="t1", lock="y"),
            make_job(queue="b", task_name="t2", lock="x"),
            make_job(queue="a", task_name="t1"),
        ]
    )
    assert await fetch_ids(job_manager, worker_id, queues=["b"]) == [3]
    assert await job_manager.cancel_job_by_id_async(5)


async def test_list_jobs_filters(
    job_manager: manager.JobManager, worker_id: int, arranged: None
) -> None:
    assert await ids_of(job_manager) == [1, 2, 3, 4, 5]
    assert await ids_of(job_manager, id=2) == [2]
    assert await ids_of(job_manager, queue="a") == [1, 2, 5]
    assert await ids_of(job_manager, task="t1") == [1, 3, 5]
    assert await ids_of(job_manager, status="todo") == [1, 2, 4]
    assert await ids_of(job_manager, status=jobs.Status.CANCELLED) == [5]
    assert await ids_of(job_manager, lock="x") == [1, 4]
    assert await ids_of(job_manager, queueing_lock="q1") == [1]
    assert await ids_of(job_manager, worker_id=worker_id) == [3]
    assert await ids_of(job_manager, queue="a", task="t1", status="todo") == [1]
    assert await ids_of(job_manager, queue="nope") == []


async def test_list_jobs_refuses_an_unknown_status(
    job_manager: manager.JobManager,
) -> None:
    with pytest.raises(exceptions.ConnectorException):
        await job_manager.list_jobs_async(status="sleeping")


async def test_list_queues(job_manager: manager.JobManager, arranged: None) -> None:
    assert await job_manager.list_queues_async() == [
        counts("a", 3, todo=2, cancelled=1),
        counts("b", 2, todo=1, doing=1),
    ]
    assert await job_manager.list_queues_async(status="doing") == [
        counts("b", 1, doing=1)
    ]
    assert await job_manager.list_queues_async(task="t2", lock="x") == [
        counts("b", 1, todo=1)
    ]
    assert await job_manager.list_queues_async(queue="c") == []


async def test_list_tasks(job_manager: manager.JobManager, arranged: None) -> None:
    assert await job_manager.list_tasks_async() == [
        counts("t1", 3, todo=1, doing=1, cancelled=1),
        counts("t2", 2, todo=2),
    ]
    assert await job_manager.list_tasks_async(queue="a") == [
        counts("t1", 2, todo=1, cancelled=1),
        counts("t2", 1, todo=1),
    ]


async def test_list_locks(job_manager: manager.JobManager, arranged: None) -> None:
    # Jobs without a lock are left out.
    assert await job_manager.list_locks_async() == [
        counts("x", 2, todo=2),
        counts("y", 1, doing=1),
    ]
    assert await job_manager.list_locks_async(task="t1") == [
        counts("x", 1, todo=1),
        counts("y", 1, doing=1),
    ]


async def test_sync_listing_from_a_thread(
    app: procrastinate.App, arranged: None
) -> None:
    def listing() -> tuple[list[int | None], list[str]]:
        listed = app.job_manager.list_jobs(queue="b")
        queues = app.job_manager.list_queues()
        return [job.id for job in listed], [row["name"] for row in queues]

    assert await utils.sync_to_async(listing) == ([3, 4], ["a", "b"])


async def test_check_connection(app: procrastinate.App) -> None:
    assert await app.check_connection_async()
