"""The job manager on a real database: what only PostgreSQL shows (a caller's
transaction, notification channels, interval bounds) and what the shared scenarios
of tests/scenarios do not cover. Fetching, locks, finishing, retrying, cancelling,
listing, stalled workers, periodic ticks and JSON hooks are there, on every backend."""

from __future__ import annotations

from typing import Any

import psycopg
import psycopg.sql
import pytest

from procrastinate import jobs, manager, utils
from procrastinate.psycopg_connector import PsycopgConnector
from tests.support.jobs import make_job


@pytest.fixture
async def job_manager(psycopg_connector_open: PsycopgConnector) -> manager.JobManager:
    return manager.JobManager(psycopg_connector_open)


@pytest.fixture
async def worker_id(job_manager: manager.JobManager) -> int:
    return await job_manager.register_worker()


async def test_defer_returns_ids_in_order_starting_at_1(
    job_manager: manager.JobManager,
) -> None:
    deferred = await job_manager.batch_defer_jobs_async(
        [make_job(task_kwargs={"n": n}) for n in range(3)]
    )
    assert [job.id for job in deferred] == [1, 2, 3]
    assert all(job.status == "todo" for job in deferred)
    stored = await job_manager.list_jobs_async()
    assert [job.task_kwargs for job in stored] == [{"n": 0}, {"n": 1}, {"n": 2}]


async def test_finish_and_events(
    job_manager: manager.JobManager, worker_id: int, connection: psycopg.Connection[Any]
) -> None:
    await job_manager.defer_job_async(make_job())
    (job,) = await job_manager.fetch_jobs(None, worker_id, 1)
    await job_manager.finish_job(job, jobs.Status.SUCCEEDED, delete_job=False)
    (stored,) = await job_manager.list_jobs_async(id=1)
    assert (stored.status, stored.attempts, stored.worker_id) == ("succeeded", 1, None)
    events = [
        row[0]
        for row in connection.execute(
            "SELECT type FROM procrastinate_events ORDER BY id"
        )
    ]
    assert events == ["deferred", "started", "succeeded"]


async def test_sync_api_through_the_open_async_connector(
    job_manager: manager.JobManager,
) -> None:
    # From a thread, the sync methods use the open async pool through async_to_sync.
    job = await utils.sync_to_async(job_manager.defer_job, make_job())
    assert job.id == 1
    assert await utils.sync_to_async(job_manager.get_job_status, 1) == jobs.Status.TODO


async def test_external_connection_defers_in_the_callers_transaction(
    job_manager: manager.JobManager, conninfo: str
) -> None:
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        await job_manager.defer_job_async(make_job(), connection=conn)
        await conn.rollback()
        assert await job_manager.list_jobs_async() == []
        job = await job_manager.defer_job_async(make_job(), connection=conn)
        assert (
            await job_manager.get_job_status_async(job.id or 0, connection=conn)
            == jobs.Status.TODO
        )
        assert await job_manager.cancel_job_by_id_async(job.id or 0, connection=conn)
        await conn.commit()
    assert [j.status for j in await job_manager.list_jobs_async()] == ["cancelled"]


async def test_long_and_multibyte_queue_names_notify_on_the_truncated_channel(
    job_manager: manager.JobManager, conninfo: str
) -> None:
    queue = "é" * 40  # 80 bytes: the channel must be cut, on a character boundary
    (channel,) = manager.get_channel_for_queues([queue])
    assert len(channel.encode()) <= 63
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        await conn.execute(
            psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(channel))
        )
        await job_manager.defer_job_async(make_job(queue=queue))
        received = [n async for n in conn.notifies(timeout=2, stop_after=1)]
    assert [n.channel for n in received] == [channel]


async def test_tiny_and_huge_durations_are_valid(
    job_manager: manager.JobManager,
) -> None:
    assert await job_manager.prune_stalled_workers(0.00001) == []
    assert await job_manager.get_stalled_jobs(seconds_since_heartbeat=1.5e8) == []
