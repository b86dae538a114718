"""Deferring jobs: queueing locks, batches, periodic ticks and JSON arguments."""

from __future__ import annotations

import json
from typing import Any

import pytest

import procrastinate
from procrastinate import exceptions, manager
from tests.scenarios import fetch_ids, ids_of, make_job
from tests.scenarios.conftest import Backend


async def test_queueing_lock_refuses_a_second_waiting_job(
    app: procrastinate.App, worker_id: int
) -> None:
    @app.task(queueing_lock="ql")
    async def task() -> None: ...

    assert await task.defer_async() == 1
    with pytest.raises(exceptions.AlreadyEnqueued, match="'ql'"):
        await task.defer_async()
    # Once the waiting job runs, the lock is free again; the refused insert used id 2.
    assert await fetch_ids(app.job_manager, worker_id) == [1]
    assert await task.defer_async() == 3


async def test_batch_is_all_or_nothing(job_manager: manager.JobManager) -> None:
    await job_manager.defer_job_async(make_job(queueing_lock="ql"))
    with pytest.raises(exceptions.AlreadyEnqueued):
        await job_manager.batch_defer_jobs_async(
            [make_job(), make_job(queueing_lock="ql"), make_job()]
        )
    with pytest.raises(exceptions.AlreadyEnqueued, match="'twice'"):
        await job_manager.batch_defer_jobs_async(
            [make_job(queueing_lock="twice"), make_job(queueing_lock="twice")]
        )
    assert await ids_of(job_manager) == [1]
    # Each refused batch consumed the ids of its rows up to the failing one.
    assert (await job_manager.defer_job_async(make_job())).id == 6


async def test_queueing_lock_only_counts_waiting_jobs(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.defer_job_async(make_job(queueing_lock="ql"))
    assert await job_manager.cancel_job_by_id_async(1)
    await job_manager.defer_job_async(make_job(queueing_lock="ql"))
    await fetch_ids(job_manager, worker_id)
    await job_manager.defer_job_async(make_job(queueing_lock="ql"))
    assert [job.status for job in await job_manager.list_jobs_async()] == [
        "cancelled",
        "doing",
        "todo",
    ]


async def test_defaults_of_a_deferred_job(job_manager: manager.JobManager) -> None:
    await job_manager.defer_job_async(make_job(task_name="some.task", queue="q"))
    (job,) = await job_manager.list_jobs_async()
    assert (
        job.status,
        job.priority,
        job.attempts,
        job.abort_requested,
        job.worker_id,
        job.scheduled_at,
        job.task_kwargs,
    ) == ("todo", 0, 0, False, None, None, {})


async def test_periodic_tick_is_deferred_once(job_manager: manager.JobManager) -> None:
    async def defer(tick: int, periodic_id: str = "") -> int | None:
        job = make_job(task_kwargs={"timestamp": tick})
        return await job_manager.defer_periodic_job(
            job, periodic_id=periodic_id, defer_timestamp=tick
        )

    assert await defer(100) == 1
    assert await defer(100) is None
    assert await defer(100, periodic_id="other") == 2
    assert await defer(200) == 3
    # Only ticks from the latest one on are remembered...
    assert await defer(100) == 4
    assert await defer(200) is None
    # ...so a late tick is still deferred, once.
    assert await defer(150) == 5
    assert await defer(150) is None
    assert await defer(200) is None
    with pytest.raises(exceptions.InvalidTimestamp):
        await job_manager.defer_periodic_job(
            make_job(task_kwargs={"timestamp": 1}), periodic_id="", defer_timestamp=2
        )


async def test_periodic_tick_refused_by_queueing_lock_is_not_recorded(
    job_manager: manager.JobManager,
) -> None:
    await job_manager.defer_job_async(make_job(queueing_lock="ql"))
    job = make_job(queueing_lock="ql", task_kwargs={"timestamp": 100})
    with pytest.raises(exceptions.AlreadyEnqueued):
        await job_manager.defer_periodic_job(job, periodic_id="", defer_timestamp=100)
    assert await job_manager.cancel_job_by_id_async(1)
    assert (
        await job_manager.defer_periodic_job(job, periodic_id="", defer_timestamp=100)
        == 3
    )


class Point:
    def __init__(self, x: int) -> None:
        self.x = x


def dumps(value: Any) -> str:
    return json.dumps(value, default=lambda o: {"__point__": o.x})


def loads(raw: str | bytes) -> Any:
    return json.loads(
        raw, object_hook=lambda d: Point(d["__point__"]) if "__point__" in d else d
    )


async def test_custom_json_round_trip(backend: Backend) -> None:
    app = procrastinate.App(
        connector=backend.new_connector(json_dumps=dumps, json_loads=loads)
    )
    received: list[Any] = []

    @app.task
    async def draw(point: Point) -> None:
        received.append(point)

    async with app.open_async():
        await draw.defer_async(point=Point(3))
        (job,) = await app.job_manager.list_jobs_async()
        assert isinstance(job.task_kwargs["point"], Point)
        await app.run_worker_async(
            wait=False, install_signal_handlers=False, listen_notify=False
        )
    assert [(type(p), p.x) for p in received] == [(Point, 3)]


async def test_arguments_that_json_cannot_store_are_refused(
    job_manager: manager.JobManager,
) -> None:
    with pytest.raises(TypeError):
        await job_manager.defer_job_async(make_job(task_kwargs={"p": Point(1)}))
    assert await ids_of(job_manager) == []
