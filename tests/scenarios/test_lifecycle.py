"""A job's life: finishing, retrying, cancelling, aborting, and the events recorded."""

from __future__ import annotations

import datetime

import pytest

from procrastinate import exceptions, jobs, manager, utils
from tests.scenarios import fetch_ids, ids_of, make_job
from tests.scenarios.conftest import Backend

SUCCEEDED = jobs.Status.SUCCEEDED
FAILED = jobs.Status.FAILED


async def start_one(job_manager: manager.JobManager, worker_id: int) -> jobs.Job:
    (job,) = await job_manager.fetch_jobs(None, worker_id, 1)
    return job


async def test_finish_records_status_attempt_and_frees_the_worker(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.defer_job_async(make_job())
    job = await start_one(job_manager, worker_id)
    await job_manager.finish_job(job, SUCCEEDED, delete_job=False)
    (stored,) = await job_manager.list_jobs_async(id=1)
    assert (stored.status, stored.attempts, stored.worker_id) == ("succeeded", 1, None)


async def test_finish_with_delete(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.batch_defer_jobs_async([make_job(), make_job()])
    job = await start_one(job_manager, worker_id)
    await job_manager.finish_job(job, SUCCEEDED, delete_job=True)
    # A waiting job may be finished (and deleted) too.
    await job_manager.finish_job_by_id_async(2, FAILED, delete_job=True)
    assert await ids_of(job_manager) == []


async def test_finish_of_a_waiting_job_counts_no_attempt(
    job_manager: manager.JobManager,
) -> None:
    await job_manager.defer_job_async(make_job())
    await job_manager.finish_job_by_id_async(1, FAILED, delete_job=False)
    (stored,) = await job_manager.list_jobs_async()
    assert (stored.status, stored.attempts) == ("failed", 0)


async def test_finish_errors(job_manager: manager.JobManager, worker_id: int) -> None:
    await job_manager.defer_job_async(make_job())
    job = await start_one(job_manager, worker_id)
    with pytest.raises(exceptions.ConnectorException, match="End status should be"):
        await job_manager.finish_job(job, jobs.Status.TODO, delete_job=False)
    await job_manager.finish_job(job, FAILED, delete_job=False)
    with pytest.raises(exceptions.JobLost, match="no longer run by worker"):
        await job_manager.finish_job(job, SUCCEEDED, delete_job=False)
    with pytest.raises(exceptions.ConnectorException, match="not found or not in"):
        await job_manager.finish_job_by_id_async(1, SUCCEEDED, delete_job=False)
    with pytest.raises(exceptions.ConnectorException, match="not found or not in"):
        await job_manager.finish_job_by_id_async(42, SUCCEEDED, delete_job=True)


async def test_retry_with_overrides(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.defer_job_async(make_job(lock="a", priority=1))
    job = await start_one(job_manager, worker_id)
    when = utils.utcnow() + datetime.timedelta(minutes=5)
    await job_manager.retry_job(job, retry_at=when, priority=7, queue="q2", lock="b")
    (stored,) = await job_manager.list_jobs_async()
    assert (
        stored.status,
        stored.attempts,
        stored.priority,
        stored.queue,
        stored.lock,
        stored.scheduled_at,
        stored.worker_id,
    ) == ("todo", 1, 7, "q2", "b", when, None)
    assert await fetch_ids(job_manager, worker_id) == []


async def test_retry_without_overrides_keeps_the_job_settings(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.defer_job_async(make_job(lock="a", priority=1, queue="q"))
    job = await start_one(job_manager, worker_id)
    await job_manager.retry_job(job)
    (stored,) = await job_manager.list_jobs_async()
    assert (stored.priority, stored.queue, stored.lock) == (1, "q", "a")
    assert await fetch_ids(job_manager, worker_id) == [1]


async def test_manual_retry_of_a_failed_job(
    job_manager: manager.JobManager, worker_id: int, backend: Backend
) -> None:
    await job_manager.defer_job_async(make_job())
    job = await start_one(job_manager, worker_id)
    await job_manager.finish_job(job, FAILED, delete_job=False)
    await job_manager.retry_job_by_id_async(1, priority=3)
    (stored,) = await job_manager.list_jobs_async()
    assert (stored.status, stored.attempts, stored.priority) == ("todo", 2, 3)
    assert await fetch_ids(job_manager, worker_id) == [1]
    assert backend.event_types(1)[-3:] == ["scheduled", "retried", "started"]


async def test_sync_manual_retry(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.defer_job_async(make_job())
    job = await start_one(job_manager, worker_id)
    await job_manager.finish_job(job, FAILED, delete_job=False)
    await utils.sync_to_async(job_manager.retry_job_by_id, 1)
    assert await job_manager.get_job_status_async(1) == jobs.Status.TODO


async def test_retry_refuses_other_statuses(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.batch_defer_jobs_async([make_job(), make_job()])
    job = await start_one(job_manager, worker_id)
    await job_manager.finish_job(job, SUCCEEDED, delete_job=False)
    for job_id in (1, 2, 42):
        with pytest.raises(exceptions.ConnectorException, match="not found or not in"):
            await job_manager.retry_job_by_id_async(job_id)


async def test_retry_into_a_taken_queueing_lock(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.defer_job_async(make_job(queueing_lock="ql"))
    job = await start_one(job_manager, worker_id)
    await job_manager.defer_job_async(make_job(queueing_lock="ql"))
    with pytest.raises(exceptions.UniqueViolation) as error:
        await job_manager.retry_job(job)
    assert error.value.queueing_lock == "ql"
    assert await job_manager.get_job_status_async(1) == jobs.Status.DOING


async def test_retry_after_an_abort_request_ends_failed(
    job_manager: manager.JobManager, worker_id: int, backend: Backend
) -> None:
    # The error that asked for the retry wins over the abort, which forbids a retry;
    # a manual retry of such a job does the same.
    await job_manager.batch_defer_jobs_async([make_job(), make_job()])
    first, second = await job_manager.fetch_jobs(None, worker_id, 2)
    for job in (first, second):
        assert job.id is not None
        assert await job_manager.cancel_job_by_id_async(job.id, abort=True)
    await job_manager.retry_job(first)
    await job_manager.retry_job_by_id_async(2)
    stored = await job_manager.list_jobs_async()
    assert [
        (job.status, job.abort_requested, job.attempts, job.worker_id) for job in stored
    ] == [("failed", False, 1, None)] * 2
    assert backend.event_types(1)[-2:] == ["abort_requested", "failed"]


async def test_cancel_a_waiting_job(job_manager: manager.JobManager) -> None:
    await job_manager.batch_defer_jobs_async([make_job(), make_job()])
    assert await job_manager.cancel_job_by_id_async(1)
    assert await job_manager.get_job_status_async(1) == jobs.Status.CANCELLED
    assert not await job_manager.cancel_job_by_id_async(1)
    assert not await job_manager.cancel_job_by_id_async(1, delete_job=True)
    assert await job_manager.cancel_job_by_id_async(2, delete_job=True)
    assert await ids_of(job_manager) == [1]
    assert not await job_manager.cancel_job_by_id_async(42)
    assert not await job_manager.cancel_job_by_id_async(42, abort=True)


async def test_abort_a_waiting_job_cancels_it(
    job_manager: manager.JobManager,
) -> None:
    await job_manager.defer_job_async(make_job())
    assert await job_manager.cancel_job_by_id_async(1, abort=True)
    (stored,) = await job_manager.list_jobs_async()
    assert (stored.status, stored.abort_requested) == ("cancelled", True)
    assert await job_manager.list_jobs_to_abort_async() == []


async def test_abort_a_running_job(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.batch_defer_jobs_async([make_job(queue="a"), make_job(queue="b")])
    await fetch_ids(job_manager, worker_id)
    assert not await job_manager.cancel_job_by_id_async(1)
    assert not await job_manager.cancel_job_by_id_async(1, delete_job=True)
    assert await job_manager.list_jobs_to_abort_async() == []
    assert await job_manager.cancel_job_by_id_async(1, abort=True, delete_job=True)
    assert await job_manager.cancel_job_by_id_async(2, abort=True)
    assert await job_manager.list_jobs_to_abort_async() == [1, 2]
    assert await job_manager.list_jobs_to_abort_async(queue="b") == [2]
    assert await job_manager.get_job_status_async(1) == jobs.Status.DOING
    await job_manager.finish_job_by_id_async(1, jobs.Status.ABORTED, False)
    (stored,) = await job_manager.list_jobs_async(id=1)
    assert (stored.status, stored.abort_requested) == ("aborted", False)
    assert not await job_manager.cancel_job_by_id_async(1, abort=True)


async def test_get_job_status(job_manager: manager.JobManager, worker_id: int) -> None:
    await job_manager.batch_defer_jobs_async([make_job(), make_job()])
    await fetch_ids(job_manager, worker_id, limit=1)
    assert await job_manager.get_job_status_async(1) == jobs.Status.DOING
    assert await job_manager.get_job_status_async(2) == jobs.Status.TODO
    assert await utils.sync_to_async(job_manager.get_job_status, 2) == (
        jobs.Status.TODO
    )
    with pytest.raises(exceptions.NoResult):
        await job_manager.get_job_status_async(42)


async def test_events_of_each_path(
    job_manager: manager.JobManager, worker_id: int, backend: Backend
) -> None:
    later = utils.utcnow() + datetime.timedelta(hours=1)
    await job_manager.batch_defer_jobs_async(
        [
            make_job(queue="succeeds"),
            make_job(queue="fails"),
            make_job(queue="aborted"),
            make_job(scheduled_at=later),
            make_job(),
            make_job(),
        ]
    )
    for queue in ("succeeds", "fails", "aborted"):
        (job,) = await job_manager.fetch_jobs([queue], worker_id, 1)
        if queue == "succeeds":
            await job_manager.retry_job(job)
            job = await start_one(job_manager, worker_id)
            await job_manager.finish_job(job, SUCCEEDED, delete_job=False)
        elif queue == "fails":
            await job_manager.finish_job(job, FAILED, delete_job=False)
            await job_manager.retry_job_by_id_async(2)
        else:
            await job_manager.cancel_job_by_id_async(3, abort=True)
            await job_manager.finish_job(job, jobs.Status.ABORTED, delete_job=False)
    await job_manager.cancel_job_by_id_async(5, abort=True)
    await job_manager.finish_job_by_id_async(6, SUCCEEDED, delete_job=False)
    assert {job_id: backend.event_types(job_id) for job_id in range(1, 7)} == {
        1: [
            "deferred",
            "started",
            "scheduled",
            "deferred_for_retry",
            "started",
            "succeeded",
        ],
        2: ["deferred", "started", "failed", "scheduled", "retried"],
        3: ["deferred", "started", "abort_requested", "aborted"],
        4: ["scheduled", "deferred"],
        5: ["deferred", "abort_requested", "cancelled"],
        6: ["deferred", "cancelled"],
    }


async def test_only_the_owner_stores_an_outcome(
    job_manager: manager.JobManager, backend: Backend
) -> None:
    first = await job_manager.register_worker()
    await job_manager.batch_defer_jobs_async([make_job(), make_job()])
    job, other = await job_manager.fetch_jobs(None, first, 2)
    backend.age_heartbeat(first, 3600)
    assert await job_manager.prune_stalled_workers(60) == [first]
    rescuer = await job_manager.register_worker()
    (claimed, orphan) = [
        item.job for item in await job_manager.claim_orphaned_jobs(rescuer)
    ]
    assert claimed.worker_id == rescuer
    # The pruned worker's late outcomes are refused, and change nothing.
    with pytest.raises(exceptions.JobLost):
        await job_manager.finish_job(job, SUCCEEDED, delete_job=False)
    with pytest.raises(exceptions.JobLost):
        await job_manager.retry_job(job)
    assert [(j.status, j.worker_id) for j in await job_manager.list_jobs_async()] == [
        ("doing", rescuer),
        ("doing", rescuer),
    ]
    # The owner's are stored; a manual operation needs no ownership.
    await job_manager.finish_job(claimed, SUCCEEDED, delete_job=False)
    await job_manager.retry_job_by_id_async(2)
    assert [j.status for j in await job_manager.list_jobs_async()] == [
        "succeeded",
        "todo",
    ]
    assert other.id == orphan.id == 2


async def test_an_outcome_is_stored_while_nobody_owns_the_job(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.batch_defer_jobs_async([make_job(), make_job()])
    first, second = await job_manager.fetch_jobs(None, worker_id, 2)
    await job_manager.unregister_worker(worker_id)
    await job_manager.finish_job(first, FAILED, delete_job=False)
    await job_manager.retry_job(second)
    assert [j.status for j in await job_manager.list_jobs_async()] == ["failed", "todo"]
    # Once back in the queue, the job is nobody's run any more.
    with pytest.raises(exceptions.JobLost):
        await job_manager.finish_job(second, SUCCEEDED, delete_job=False)


async def test_jobs_to_stop(
    job_manager: manager.JobManager, worker_id: int, backend: Backend
) -> None:
    other = await job_manager.register_worker()
    await job_manager.batch_defer_jobs_async([make_job() for _ in range(5)])
    mine = await fetch_ids(job_manager, worker_id, limit=4)
    assert await job_manager.list_jobs_to_stop(worker_id, mine) == ([], [])
    assert await job_manager.cancel_job_by_id_async(1, abort=True)
    await job_manager.retry_job_by_id_async(2)
    await job_manager.unregister_worker(worker_id)
    # Job 3 is an orphan: still this worker's to finish, unless someone claims it.
    await job_manager.finish_job_by_id_async(4, SUCCEEDED, delete_job=False)
    assert await job_manager.list_jobs_to_stop(worker_id, [*mine, 99]) == (
        [1],
        [2, 4, 99],
    )
    await job_manager.claim_orphaned_jobs(other)
    assert await job_manager.list_jobs_to_stop(worker_id, [3]) == ([], [3])
    assert backend.event_types(3) == ["deferred", "started"]
