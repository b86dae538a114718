"""The job manager and the SQL functions behind it, on a real database."""

from __future__ import annotations

import datetime
from typing import Any

import psycopg
import psycopg.sql
import pytest

from procrastinate import exceptions, jobs, manager, utils
from procrastinate.psycopg_connector import PsycopgConnector


def make_job(**kwargs: Any) -> jobs.Job:
    defaults: dict[str, Any] = {
        "queue": "default",
        "lock": None,
        "queueing_lock": None,
        "task_name": "t",
    }
    return jobs.Job(**{**defaults, **kwargs})


@pytest.fixture
async def job_manager(psycopg_connector_open: PsycopgConnector) -> manager.JobManager:
    return manager.JobManager(psycopg_connector_open)


@pytest.fixture
async def worker_id(job_manager: manager.JobManager) -> int:
    return await job_manager.register_worker()


async def fetch_ids(
    job_manager: manager.JobManager,
    worker_id: int,
    queues: list[str] | None = None,
    limit: int = 10,
) -> list[int]:
    return [
        job.id
        for job in await job_manager.fetch_jobs(queues, worker_id, limit)
        if job.id
    ]


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


async def test_fetch_is_fifo(job_manager: manager.JobManager, worker_id: int) -> None:
    await job_manager.batch_defer_jobs_async([make_job() for _ in range(3)])
    assert await fetch_ids(job_manager, worker_id, limit=1) == [1]
    assert await fetch_ids(job_manager, worker_id, limit=5) == [2, 3]


async def test_fetch_by_priority_then_id(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.batch_defer_jobs_async(
        [make_job(priority=p) for p in (0, 5, 5, -1, 10)]
    )
    fetched = []
    while ids := await fetch_ids(job_manager, worker_id, limit=1):
        fetched += ids
    assert fetched == [5, 2, 3, 1, 4]


async def test_fetch_filters_queues(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.batch_defer_jobs_async([make_job(queue="a"), make_job(queue="b")])
    assert await fetch_ids(job_manager, worker_id, queues=["b"]) == [2]
    assert await fetch_ids(job_manager, worker_id, queues=["c"]) == []


async def test_fetch_marks_doing_with_worker(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.defer_job_async(make_job())
    (job,) = await job_manager.fetch_jobs(None, worker_id, 1)
    assert (job.status, job.worker_id) == ("doing", worker_id)


async def test_scheduled_job_waits(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    future = utils.utcnow() + datetime.timedelta(hours=1)
    past = utils.utcnow() - datetime.timedelta(seconds=1)
    await job_manager.batch_defer_jobs_async(
        [make_job(scheduled_at=future), make_job(scheduled_at=past)]
    )
    assert await fetch_ids(job_manager, worker_id) == [2]


async def test_lock_runs_one_job_at_a_time_in_order(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.batch_defer_jobs_async(
        [make_job(lock="l") for _ in range(3)] + [make_job()]
    )
    assert await fetch_ids(job_manager, worker_id) == [1, 4]
    assert await fetch_ids(job_manager, worker_id) == []
    await job_manager.finish_job_by_id_async(1, jobs.Status.SUCCEEDED, delete_job=False)
    assert await fetch_ids(job_manager, worker_id) == [2]


async def test_lock_head_blocks_even_when_not_fetchable(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    future = utils.utcnow() + datetime.timedelta(hours=1)
    await job_manager.batch_defer_jobs_async(
        [
            make_job(lock="l", scheduled_at=future),
            make_job(lock="l"),
            make_job(lock="m", queue="other"),
            make_job(lock="m"),
        ]
    )
    # Job 1 heads lock l (scheduled later), job 3 heads lock m (in a queue not fetched).
    assert await fetch_ids(job_manager, worker_id, queues=["default"]) == []


async def test_lock_respects_priority(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.batch_defer_jobs_async(
        [make_job(lock="l"), make_job(lock="l", priority=5)]
    )
    assert await fetch_ids(job_manager, worker_id) == [2]


async def test_queueing_lock(job_manager: manager.JobManager, worker_id: int) -> None:
    await job_manager.defer_job_async(make_job(queueing_lock="ql"))
    with pytest.raises(exceptions.AlreadyEnqueued, match="'ql'"):
        await job_manager.defer_job_async(make_job(queueing_lock="ql"))
    await fetch_ids(job_manager, worker_id)
    assert (await job_manager.defer_job_async(make_job(queueing_lock="ql"))).id == 3


async def test_batch_with_a_taken_queueing_lock_writes_nothing(
    job_manager: manager.JobManager,
) -> None:
    await job_manager.defer_job_async(make_job(queueing_lock="ql"))
    with pytest.raises(exceptions.AlreadyEnqueued):
        await job_manager.batch_defer_jobs_async(
            [make_job(), make_job(queueing_lock="ql")]
        )
    assert len(await job_manager.list_jobs_async()) == 1


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


async def test_finish_with_delete(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.defer_job_async(make_job())
    (job,) = await job_manager.fetch_jobs(None, worker_id, 1)
    await job_manager.finish_job(job, jobs.Status.SUCCEEDED, delete_job=True)
    assert await job_manager.list_jobs_async() == []


async def test_finish_refuses_a_finished_job(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.defer_job_async(make_job())
    (job,) = await job_manager.fetch_jobs(None, worker_id, 1)
    await job_manager.finish_job(job, jobs.Status.FAILED, delete_job=False)
    with pytest.raises(exceptions.JobLost):
        await job_manager.finish_job(job, jobs.Status.SUCCEEDED, delete_job=False)
    with pytest.raises(exceptions.ConnectorException, match="not found"):
        await job_manager.finish_job_by_id_async(1, jobs.Status.SUCCEEDED, False)


async def test_retry_running_job_with_overrides(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.defer_job_async(make_job(lock="a"))
    (job,) = await job_manager.fetch_jobs(None, worker_id, 1)
    when = utils.utcnow() + datetime.timedelta(minutes=5)
    await job_manager.retry_job(job, retry_at=when, priority=7, queue="q2", lock="b")
    (stored,) = await job_manager.list_jobs_async()
    assert (
        stored.status,
        stored.attempts,
        stored.priority,
        stored.queue,
        stored.lock,
    ) == ("todo", 1, 7, "q2", "b")
    assert stored.scheduled_at == when
    assert stored.worker_id is None


async def test_manual_retry_of_a_failed_job(
    job_manager: manager.JobManager, worker_id: int, connection: psycopg.Connection[Any]
) -> None:
    await job_manager.defer_job_async(make_job())
    (job,) = await job_manager.fetch_jobs(None, worker_id, 1)
    await job_manager.finish_job(job, jobs.Status.FAILED, delete_job=False)
    await job_manager.retry_job_by_id_async(1)
    assert await fetch_ids(job_manager, worker_id) == [1]
    events = [
        row[0]
        for row in connection.execute(
            "SELECT type FROM procrastinate_events ORDER BY id"
        )
    ]
    assert "retried" in events


async def test_retry_refuses_a_todo_job(job_manager: manager.JobManager) -> None:
    await job_manager.defer_job_async(make_job())
    with pytest.raises(exceptions.ConnectorException, match="not found or not in"):
        await job_manager.retry_job_by_id_async(1)


async def test_cancel(job_manager: manager.JobManager, worker_id: int) -> None:
    await job_manager.batch_defer_jobs_async([make_job(), make_job(), make_job()])
    assert await job_manager.cancel_job_by_id_async(1)
    assert await job_manager.get_job_status_async(1) == jobs.Status.CANCELLED
    assert await job_manager.cancel_job_by_id_async(2, delete_job=True)
    assert [job.id for job in await job_manager.list_jobs_async()] == [1, 3]
    await fetch_ids(job_manager, worker_id)
    assert not await job_manager.cancel_job_by_id_async(3)
    assert await job_manager.list_jobs_to_abort_async() == []
    assert await job_manager.cancel_job_by_id_async(3, abort=True)
    assert await job_manager.list_jobs_to_abort_async() == [3]
    assert await job_manager.get_job_status_async(3) == jobs.Status.DOING


async def test_get_job_status_of_missing_job(job_manager: manager.JobManager) -> None:
    with pytest.raises(exceptions.NoResult):
        await job_manager.get_job_status_async(42)


async def test_stats(job_manager: manager.JobManager, worker_id: int) -> None:
    await job_manager.batch_defer_jobs_async(
        [
            make_job(queue="a", lock="x", task_name="t1"),
            make_job(queue="a", task_name="t2"),
            make_job(queue="b", task_name="t1"),
        ]
    )
    await fetch_ids(job_manager, worker_id, queues=["b"])
    queues = await job_manager.list_queues_async()
    assert queues == [
        {
            "name": "a",
            "jobs_count": 2,
            "todo": 2,
            "doing": 0,
            "succeeded": 0,
            "failed": 0,
            "cancelled": 0,
            "aborted": 0,
        },
        {
            "name": "b",
            "jobs_count": 1,
            "todo": 0,
            "doing": 1,
            "succeeded": 0,
            "failed": 0,
            "cancelled": 0,
            "aborted": 0,
        },
    ]
    assert [row["name"] for row in await job_manager.list_tasks_async(queue="a")] == [
        "t1",
        "t2",
    ]
    assert [row["name"] for row in await job_manager.list_locks_async()] == ["x"]
    assert [
        job.id for job in await job_manager.list_jobs_async(task="t1", status="todo")
    ] == [1]


async def test_sync_api_through_the_open_async_connector(
    job_manager: manager.JobManager,
) -> None:
    # From a thread, the sync methods use the open async pool through async_to_sync.
    job = await utils.sync_to_async(job_manager.defer_job, make_job())
    assert job.id == 1
    assert await utils.sync_to_async(job_manager.get_job_status, 1) == jobs.Status.TODO


async def test_check_connection(job_manager: manager.JobManager) -> None:
    assert await job_manager.check_connection_async()


async def test_workers_and_stalled_jobs(
    job_manager: manager.JobManager, connection: psycopg.Connection[Any]
) -> None:
    alive = await job_manager.register_worker()
    dead = await job_manager.register_worker()
    await job_manager.batch_defer_jobs_async([make_job(), make_job()])
    await job_manager.fetch_jobs(None, alive, 1)
    await job_manager.fetch_jobs(None, dead, 1)
    connection.execute(
        "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour' WHERE id = %s",
        (dead,),
    )
    assert [job.id for job in await job_manager.get_stalled_jobs()] == [2]
    await job_manager.update_heartbeat(alive)
    assert await job_manager.prune_stalled_workers(60) == [dead]
    (job2,) = await job_manager.list_jobs_async(id=2)
    assert job2.worker_id is None
    assert [job.id for job in await job_manager.get_stalled_jobs()] == [2]
    with pytest.warns(DeprecationWarning, match="nb_seconds is deprecated"):
        assert await job_manager.get_stalled_jobs(nb_seconds=3600) == []


async def test_delete_old_jobs(
    job_manager: manager.JobManager, worker_id: int, connection: psycopg.Connection[Any]
) -> None:
    await job_manager.batch_defer_jobs_async(
        [make_job(queue=q) for q in ("a", "a", "b", "a")]
    )
    await job_manager.fetch_jobs(None, worker_id, 4)
    await job_manager.finish_job_by_id_async(1, jobs.Status.SUCCEEDED, False)
    await job_manager.finish_job_by_id_async(2, jobs.Status.FAILED, False)
    await job_manager.finish_job_by_id_async(3, jobs.Status.SUCCEEDED, False)
    connection.execute(
        "UPDATE procrastinate_events SET at = now() - interval '3 hours' WHERE job_id IN (1, 2, 3)"
    )
    await job_manager.delete_old_jobs(nb_hours=2, queue="a")
    assert [job.id for job in await job_manager.list_jobs_async()] == [2, 3, 4]
    await job_manager.delete_old_jobs(nb_hours=2, include_failed=True)
    assert [job.id for job in await job_manager.list_jobs_async()] == [4]


async def test_periodic_defer_once_per_tick(job_manager: manager.JobManager) -> None:
    job = make_job(task_kwargs={"timestamp": 100})
    assert (
        await job_manager.defer_periodic_job(job, periodic_id="", defer_timestamp=100)
        == 1
    )
    assert (
        await job_manager.defer_periodic_job(job, periodic_id="", defer_timestamp=100)
        is None
    )
    assert (
        await job_manager.defer_periodic_job(
            job, periodic_id="other", defer_timestamp=100
        )
        == 2
    )
    with pytest.raises(exceptions.InvalidTimestamp):
        await job_manager.defer_periodic_job(job, periodic_id="", defer_timestamp=101)


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


async def test_json_hooks(conninfo: str) -> None:
    class Point:
        def __init__(self, x: int) -> None:
            self.x = x

    def dumps(value: Any) -> str:
        import json

        return json.dumps(value, default=lambda o: {"__point__": o.x})

    def loads(raw: str | bytes) -> Any:
        import json

        return json.loads(
            raw, object_hook=lambda d: Point(d["__point__"]) if "__point__" in d else d
        )

    connector = PsycopgConnector(conninfo=conninfo, json_dumps=dumps, json_loads=loads)
    await connector.open_async()
    try:
        job_manager = manager.JobManager(connector)
        await job_manager.defer_job_async(make_job(task_kwargs={"p": Point(3)}))
        (job,) = await job_manager.list_jobs_async()
        assert isinstance(job.task_kwargs["p"], Point)
        assert job.task_kwargs["p"].x == 3
    finally:
        await connector.close_async()


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
