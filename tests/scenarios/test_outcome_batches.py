"""Storing a batch of outcomes in one statement (``store_outcomes``), as a worker does:
each outcome as its own call would have stored it."""

from __future__ import annotations

import datetime
import logging
from typing import Any

from procrastinate import exceptions, jobs, manager, outcomes, retry, utils
from tests.scenarios import make_job
from tests.scenarios.conftest import Backend

NEVER = jobs.DeleteJobCondition.NEVER


def outcome(
    status: jobs.Status, retry_decision: retry.RetryDecision | None = None
) -> outcomes.Outcome:
    return outcomes.Outcome(
        status=status,
        title="",
        action="",
        level=logging.INFO,
        retry=None if retry_decision is None else exceptions.JobRetry(retry_decision),
    )


SUCCESS = outcome(jobs.Status.SUCCEEDED)
FAILURE = outcome(jobs.Status.FAILED)
ABORT = outcome(jobs.Status.ABORTED)
RETRY = outcome(jobs.Status.FAILED, retry.RetryDecision())


def rows(
    *pairs: tuple[jobs.Job, outcomes.Outcome],
    condition: jobs.DeleteJobCondition = NEVER,
) -> list[dict[str, Any]]:
    return [outcomes.stored_row(job, result, condition) for job, result in pairs]


async def summary(job_manager: manager.JobManager) -> dict[int, tuple[Any, ...]]:
    return {
        job.id or 0: (job.status, job.attempts, job.worker_id)
        for job in await job_manager.list_jobs_async()
    }


async def test_one_batch_stores_every_kind_of_outcome(
    job_manager: manager.JobManager, worker_id: int, backend: Backend
) -> None:
    later = utils.utcnow() + datetime.timedelta(hours=1)
    await job_manager.batch_defer_jobs_async([make_job() for _ in range(5)])
    a, b, c, d, e = await job_manager.fetch_jobs(None, worker_id, 5)
    moved = outcome(
        jobs.Status.FAILED,
        retry.RetryDecision(retry_at=later, priority=7, queue="elsewhere", lock="l"),
    )
    stored = await job_manager.store_outcomes(
        rows((a, SUCCESS), (b, FAILURE), (c, ABORT), (d, RETRY), (e, moved))
    )
    assert stored == {
        1: "finished",
        2: "finished",
        3: "finished",
        4: "retried",
        5: "retried",
    }
    assert await summary(job_manager) == {
        1: ("succeeded", 1, None),
        2: ("failed", 1, None),
        3: ("aborted", 1, None),
        4: ("todo", 1, None),
        5: ("todo", 1, None),
    }
    (fifth,) = await job_manager.list_jobs_async(id=5)
    assert (fifth.priority, fifth.queue, fifth.lock) == (7, "elsewhere", "l")
    assert fifth.scheduled_at is not None
    assert abs((fifth.scheduled_at - later).total_seconds()) < 1
    assert {job_id: backend.event_types(job_id)[-1] for job_id in range(1, 6)} == {
        1: "succeeded",
        2: "failed",
        3: "aborted",
        4: "deferred_for_retry",
        5: "deferred_for_retry",
    }


async def test_deleted_outcomes_follow_the_condition(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.batch_defer_jobs_async([make_job() for _ in range(3)])
    a, b, c = await job_manager.fetch_jobs(None, worker_id, 3)
    stored = await job_manager.store_outcomes(
        rows(
            (a, SUCCESS),
            (b, FAILURE),
            (c, RETRY),
            condition=jobs.DeleteJobCondition.SUCCESSFUL,
        )
    )
    assert stored == {1: "deleted", 2: "finished", 3: "retried"}
    assert await summary(job_manager) == {2: ("failed", 1, None), 3: ("todo", 1, None)}


async def test_outcomes_of_jobs_the_worker_lost_are_refused(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    other = await job_manager.register_worker()
    await job_manager.batch_defer_jobs_async([make_job() for _ in range(3)])
    mine, theirs = await job_manager.fetch_jobs(None, worker_id, 2)
    await job_manager.fetch_jobs(None, other, 1)
    # Job 3 is the other worker's.
    stored = await job_manager.store_outcomes(
        rows((mine, SUCCESS), (theirs.evolve(id=3), SUCCESS))
    )
    assert stored == {1: "finished", 3: None}
    # Stored once: the second outcome of the same run finds it finished.
    assert await job_manager.store_outcomes(rows((mine, FAILURE))) == {1: None}
    assert [job.status for job in await job_manager.list_jobs_async()] == [
        "succeeded",
        "doing",
        "doing",
    ]


async def test_a_job_nobody_owns_is_stored(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.defer_job_async(make_job())
    (job,) = await job_manager.fetch_jobs(None, worker_id, 1)
    await job_manager.unregister_worker(worker_id)
    assert await job_manager.store_outcomes(rows((job, RETRY))) == {1: "retried"}


async def test_a_retry_after_an_abort_request_ends_failed(
    job_manager: manager.JobManager, worker_id: int, backend: Backend
) -> None:
    await job_manager.defer_job_async(make_job())
    (job,) = await job_manager.fetch_jobs(None, worker_id, 1)
    assert await job_manager.cancel_job_by_id_async(1, abort=True)
    stored = await job_manager.store_outcomes(
        rows((job, RETRY), condition=jobs.DeleteJobCondition.ALWAYS)
    )
    assert stored == {1: "finished"}
    (row,) = await job_manager.list_jobs_async()
    assert (row.status, row.abort_requested, row.attempts) == ("failed", False, 1)
    assert backend.event_types(1)[-2:] == ["abort_requested", "failed"]


async def test_a_retry_never_takes_a_held_queueing_lock(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    # Job 1's queueing lock is held by job 4, waiting; jobs 2 and 3 share one that
    # nobody waits on: only the first of their retries can wait.
    await job_manager.batch_defer_jobs_async(
        [make_job(queueing_lock="held"), make_job(queueing_lock="free")]
    )
    first, second = await job_manager.fetch_jobs(None, worker_id, 2)
    await job_manager.defer_job_async(make_job(queueing_lock="free"))
    (third,) = await job_manager.fetch_jobs(None, worker_id, 1)
    await job_manager.defer_job_async(make_job(queueing_lock="held"))
    stored = await job_manager.store_outcomes(
        rows((first, RETRY), (second, RETRY), (third, RETRY))
    )
    assert stored == {1: "retry_skipped", 2: "retried", 3: "retry_skipped"}
    assert {
        job_id: status for job_id, (status, *_) in (await summary(job_manager)).items()
    } == {
        1: "failed",
        2: "todo",
        3: "failed",
        4: "todo",
    }


async def test_an_empty_batch_stores_nothing(job_manager: manager.JobManager) -> None:
    assert await job_manager.store_outcomes([]) == {}
