"""Lock modes and queue limits: which jobs a fetch may start, on every backend."""

from __future__ import annotations

import datetime

import pytest

from procrastinate import jobs, manager, utils
from tests.scenarios import fetch_ids, make_job


def in_an_hour() -> datetime.datetime:
    return utils.utcnow() + datetime.timedelta(hours=1)


async def test_an_ordered_job_waits_behind_a_head_scheduled_later(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.batch_defer_jobs_async(
        [make_job(lock="l", scheduled_at=in_an_hour()), make_job(lock="l")]
    )
    assert await fetch_ids(job_manager, worker_id) == []


async def test_a_mutex_job_runs_before_a_head_scheduled_later(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.batch_defer_jobs_async(
        [
            make_job(lock="l", lock_mode="mutex", scheduled_at=in_an_hour()),
            make_job(lock="l", lock_mode="mutex", priority=-5),
            make_job(lock="l", lock_mode="mutex", priority=-5),
        ]
    )
    # Job 2 is the first due job of the lock; job 3 waits behind it, as before.
    assert await fetch_ids(job_manager, worker_id) == [2]
    assert await fetch_ids(job_manager, worker_id) == []
    (fetched,) = await job_manager.list_jobs_async(id=2)
    assert fetched.lock_mode == "mutex"


async def test_a_running_job_still_holds_a_mutex_lock(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.batch_defer_jobs_async(
        [make_job(lock="l", lock_mode="mutex", priority=9)]
    )
    assert await fetch_ids(job_manager, worker_id) == [1]
    await job_manager.batch_defer_jobs_async([make_job(lock="l", lock_mode="mutex")])
    assert await fetch_ids(job_manager, worker_id) == []


async def test_max_running_counts_the_running_jobs_of_every_worker(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    other_worker = await job_manager.register_worker()
    await job_manager.set_queue_limit_async("default", max_running=2)
    await job_manager.batch_defer_jobs_async(
        [make_job() for _ in range(4)] + [make_job(queue="free")]
    )
    assert await fetch_ids(job_manager, other_worker, limit=1) == [1]
    # One more may run in the limited queue; the unlimited queue is not held back.
    assert await fetch_ids(job_manager, worker_id) == [2, 5]
    assert await fetch_ids(job_manager, worker_id) == []
    (job,) = await job_manager.list_jobs_async(id=1)
    await job_manager.finish_job(job, status=jobs.Status.SUCCEEDED, delete_job=False)
    assert await fetch_ids(job_manager, worker_id) == [3]


async def test_max_starts_per_period(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.set_queue_limit_async("default", max_starts=2, per=3600)
    await job_manager.batch_defer_jobs_async([make_job() for _ in range(3)])
    assert await fetch_ids(job_manager, worker_id) == [1, 2]
    for job in await job_manager.list_jobs_async(status="doing"):
        await job_manager.finish_job(
            job, status=jobs.Status.SUCCEEDED, delete_job=False
        )
    # Nothing runs any more, but two jobs started within the hour.
    assert await fetch_ids(job_manager, worker_id) == []


async def test_limits_are_listed_replaced_and_cleared(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.set_queue_limit_async("b", max_running=3)
    await job_manager.set_queue_limit_async(
        "a", max_starts=5, per=datetime.timedelta(minutes=1)
    )
    await job_manager.set_queue_limit_async("b", max_running=1)
    await job_manager.defer_job_async(make_job(queue="b"))
    assert await fetch_ids(job_manager, worker_id) == [1]
    limits = await job_manager.list_queue_limits_async()
    assert [
        (x.queue, x.max_running, x.max_starts, x.per_seconds, x.running) for x in limits
    ] == [
        ("a", None, 5, 60.0, 0),
        ("b", 1, None, None, 1),
    ]
    assert await job_manager.clear_queue_limit_async("b") is True
    assert await job_manager.clear_queue_limit_async("b") is False
    assert [x.queue for x in await job_manager.list_queue_limits_async()] == ["a"]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({}, ValueError, "give max_running"),
        ({"max_running": 0}, ValueError, "out of range"),
        ({"max_starts": 3}, ValueError, "go together"),
        ({"max_starts": 1001, "per": 1}, ValueError, "out of range"),
        ({"max_starts": 1, "per": -1}, ValueError, "positive number"),
        ({"max_running": "2"}, TypeError, "must be an int"),
    ],
)
async def test_bad_limits_are_refused_and_nothing_is_written(
    job_manager: manager.JobManager,
    options: dict[str, object],
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        await job_manager.set_queue_limit_async("q", **options)  # type: ignore[arg-type]
    assert await job_manager.list_queue_limits_async() == []
