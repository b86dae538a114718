"""Which jobs a worker fetches, and in which order."""

from __future__ import annotations

import datetime

import pytest

from procrastinate import exceptions, jobs, manager, utils
from tests.scenarios import fetch_ids, make_job


def in_an_hour() -> datetime.datetime:
    return utils.utcnow() + datetime.timedelta(hours=1)


async def test_fifo(job_manager: manager.JobManager, worker_id: int) -> None:
    deferred = await job_manager.batch_defer_jobs_async([make_job() for _ in range(3)])
    assert [job.id for job in deferred] == [1, 2, 3]
    assert await fetch_ids(job_manager, worker_id, limit=1) == [1]
    assert await fetch_ids(job_manager, worker_id, limit=5) == [2, 3]
    assert await fetch_ids(job_manager, worker_id) == []


async def test_priority_then_id(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.batch_defer_jobs_async(
        [make_job(priority=p) for p in (0, 5, 5, -1, 10)]
    )
    assert await fetch_ids(job_manager, worker_id, limit=2) == [5, 2]
    assert await fetch_ids(job_manager, worker_id) == [3, 1, 4]


async def test_fetched_job_is_doing_with_its_worker(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.defer_job_async(make_job(task_kwargs={"a": 1}))
    (job,) = await job_manager.fetch_jobs(None, worker_id, 1)
    assert (job.status, job.worker_id, job.task_kwargs, job.attempts) == (
        "doing",
        worker_id,
        {"a": 1},
        0,
    )


async def test_queue_filter(job_manager: manager.JobManager, worker_id: int) -> None:
    await job_manager.batch_defer_jobs_async(
        [make_job(queue="a"), make_job(queue="b"), make_job(queue="c")]
    )
    assert await fetch_ids(job_manager, worker_id, queues=["b"]) == [2]
    assert await fetch_ids(job_manager, worker_id, queues=["x"]) == []
    assert await fetch_ids(job_manager, worker_id, queues=[]) == []
    assert await fetch_ids(job_manager, worker_id, queues=["c", "a"]) == [1, 3]


async def test_scheduled_jobs_are_not_fetched_early(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    past = utils.utcnow() - datetime.timedelta(seconds=1)
    await job_manager.batch_defer_jobs_async(
        [make_job(scheduled_at=in_an_hour()), make_job(scheduled_at=past)]
    )
    assert await fetch_ids(job_manager, worker_id) == [2]
    (waiting,) = await job_manager.list_jobs_async(status="todo")
    assert waiting.id == 1


async def test_unregistered_worker_cannot_fetch(
    job_manager: manager.JobManager,
) -> None:
    await job_manager.defer_job_async(make_job())
    with pytest.raises(exceptions.ConnectorException):
        await job_manager.fetch_jobs(None, 42, 1)
    assert await job_manager.get_job_status_async(1) == jobs.Status.TODO


async def test_lock_runs_one_job_at_a_time_in_order(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.batch_defer_jobs_async(
        [make_job(lock="l") for _ in range(3)] + [make_job()]
    )
    assert await fetch_ids(job_manager, worker_id) == [1, 4]
    assert await fetch_ids(job_manager, worker_id) == []
    await job_manager.finish_job_by_id_async(1, jobs.Status.SUCCEEDED, False)
    assert await fetch_ids(job_manager, worker_id) == [2]
    await job_manager.finish_job_by_id_async(2, jobs.Status.FAILED, False)
    assert await fetch_ids(job_manager, worker_id) == [3]


async def test_lower_priority_job_of_a_lock_waits_behind_higher_priority(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.batch_defer_jobs_async(
        [
            make_job(lock="l", priority=1),
            make_job(lock="l", priority=5),
            make_job(lock="l", priority=5),
            make_job(priority=3),
        ]
    )
    # Job 4 has no lock; of lock l, only its head (priority 5, smallest id) may run.
    assert await fetch_ids(job_manager, worker_id) == [2, 4]
    await job_manager.finish_job_by_id_async(2, jobs.Status.SUCCEEDED, False)
    assert await fetch_ids(job_manager, worker_id) == [3]
    await job_manager.finish_job_by_id_async(3, jobs.Status.SUCCEEDED, False)
    assert await fetch_ids(job_manager, worker_id) == [1]


async def test_lock_head_blocks_when_scheduled_later_or_in_another_queue(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.batch_defer_jobs_async(
        [
            make_job(lock="l", scheduled_at=in_an_hour()),
            make_job(lock="l"),
            make_job(lock="m", queue="other"),
            make_job(lock="m"),
            make_job(lock="n", queue="other", priority=9),
            make_job(lock="n", priority=1),
        ]
    )
    assert await fetch_ids(job_manager, worker_id, queues=["default"]) == []
    # The heads run where they are due and fetched; then the jobs behind them.
    assert await fetch_ids(job_manager, worker_id, queues=["other"]) == [5, 3]
    await job_manager.finish_job_by_id_async(3, jobs.Status.SUCCEEDED, False)
    await job_manager.finish_job_by_id_async(5, jobs.Status.SUCCEEDED, False)
    assert await fetch_ids(job_manager, worker_id, queues=["default"]) == [6, 4]


async def test_cancelled_head_no_longer_blocks(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.batch_defer_jobs_async(
        [make_job(lock="l", scheduled_at=in_an_hour()), make_job(lock="l")]
    )
    assert await fetch_ids(job_manager, worker_id) == []
    assert await job_manager.cancel_job_by_id_async(1)
    assert await fetch_ids(job_manager, worker_id) == [2]


async def test_retried_job_keeps_its_lock_turn(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.batch_defer_jobs_async([make_job(lock="l"), make_job(lock="l")])
    (job,) = await job_manager.fetch_jobs(None, worker_id, 1)
    await job_manager.retry_job(job, retry_at=in_an_hour())
    # Job 1 waits again, ahead of job 2 by id: nothing of lock l may run.
    assert await fetch_ids(job_manager, worker_id) == []
