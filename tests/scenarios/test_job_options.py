"""A job's own options, stored with it: its time limit and its metadata, which every
query that reads jobs for a worker returns."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import pytest

import procrastinate
from procrastinate import exceptions, manager
from tests.scenarios import make_job

WORKER_OPTIONS: dict[str, Any] = {
    "wait": False,
    "install_signal_handlers": False,
    "listen_notify": False,
}
TRACE = {"trace_context": {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}}


async def test_time_limit_and_metadata_are_stored_and_fetched(
    app: procrastinate.App, worker_id: int
) -> None:
    @app.task
    async def task() -> None: ...

    await task.configure(timeout=datetime.timedelta(seconds=90)).defer_async()
    await app.job_manager.defer_job_async(
        make_job(task_name=task.name, timeout=2.5, metadata=TRACE)
    )

    fetched = await app.job_manager.fetch_jobs(None, worker_id, 2)
    listed = await app.job_manager.list_jobs_async()

    expected = [(90.0, None), (2.5, TRACE)]
    assert [(job.timeout, job.metadata) for job in fetched] == expected
    assert [(job.timeout, job.metadata) for job in listed] == expected


async def test_jobs_without_options_have_none(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.batch_defer_jobs_async([make_job(), make_job(priority=3)])

    fetched = await job_manager.fetch_jobs(None, worker_id, 2)

    assert [(job.timeout, job.metadata) for job in fetched] == [(None, None)] * 2


async def test_orphaned_jobs_keep_their_options(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.defer_job_async(make_job(timeout=4.0, metadata=TRACE))
    await job_manager.fetch_jobs(None, worker_id, 1)
    await job_manager.unregister_worker(worker_id)
    rescuer = await job_manager.register_worker()

    (claimed,) = await job_manager.claim_orphaned_jobs(rescuer)

    assert (claimed.job.timeout, claimed.job.metadata) == (4.0, TRACE)


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), "30"])
async def test_bad_time_limit_is_refused_before_anything_is_written(
    app: procrastinate.App, timeout: Any
) -> None:
    @app.task
    async def task() -> None: ...

    with pytest.raises((TypeError, ValueError), match="timeout"):
        task.configure(timeout=timeout)
    assert await app.job_manager.list_jobs_async() == []


async def test_the_job_time_limit_replaces_the_task_one(
    app: procrastinate.App,
) -> None:
    @app.task(timeout=60)
    async def slow() -> None:
        await asyncio.sleep(60)

    @app.task
    async def quick() -> str:
        return "done"

    await slow.configure(timeout=0.05).defer_async()
    await quick.configure(timeout=30).defer_async()

    await app.run_worker_async(**WORKER_OPTIONS)

    listed = await app.job_manager.list_jobs_async()
    assert [(job.task_name, job.status) for job in listed] == [
        (slow.name, "failed"),
        (quick.name, "succeeded"),
    ]


async def test_a_task_without_a_limit_is_limited_by_its_job(
    app: procrastinate.App, caplog: pytest.LogCaptureFixture
) -> None:
    @app.task
    async def hangs() -> None:
        await asyncio.sleep(60)

    await hangs.configure(timeout=0.05).defer_async()

    with caplog.at_level("ERROR", logger="procrastinate"):
        await app.run_worker_async(**WORKER_OPTIONS)

    (job,) = await app.job_manager.list_jobs_async()
    assert job.status == "failed"
    (record,) = [r for r in caplog.records if r.action == "job_timeout"]  # type: ignore[attr-defined]
    assert isinstance(record.exc_info and record.exc_info[1], exceptions.TaskTimeout)
    assert "time limit of 0.05 s" in record.getMessage() + str(record.exc_info[1])
