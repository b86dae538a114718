"""Storing a worker's outcomes and fetching its next jobs in one round trip
(``store_outcomes_and_fetch``): the fetch sees the outcomes just stored, and a failure
of either part leaves both undone."""

from __future__ import annotations

import pytest

from procrastinate import exceptions, manager
from tests.scenarios import make_job
from tests.scenarios.test_outcome_batches import RETRY, SUCCESS, rows, summary


async def test_the_next_job_of_a_lock_starts_with_the_outcome_that_frees_it(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.batch_defer_jobs_async(
        [make_job(lock="l"), make_job(lock="l"), make_job()]
    )
    (first,) = await job_manager.fetch_jobs(None, worker_id, 1)

    stored, fetched = await job_manager.store_outcomes_and_fetch(
        rows((first, SUCCESS)), None, worker_id, 5
    )

    assert stored == {1: "finished"}
    assert [item.job.id for item in fetched] == [2, 3]
    assert [item.load_error for item in fetched] == [None, None]
    assert await summary(job_manager) == {
        1: ("succeeded", 1, None),
        2: ("doing", 0, worker_id),
        3: ("doing", 0, worker_id),
    }


async def test_a_job_sent_back_for_a_retry_may_start_again_at_once(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.defer_job_async(make_job())
    (job,) = await job_manager.fetch_jobs(None, worker_id, 1)

    stored, fetched = await job_manager.store_outcomes_and_fetch(
        rows((job, RETRY)), ["default"], worker_id, 1
    )

    assert stored == {1: "retried"}
    assert [(item.job.id, item.job.attempts) for item in fetched] == [(1, 1)]


async def test_only_the_given_queues_are_fetched(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.batch_defer_jobs_async(
        [make_job(), make_job(queue="elsewhere"), make_job()]
    )
    (job,) = await job_manager.fetch_jobs(None, worker_id, 1)

    _, fetched = await job_manager.store_outcomes_and_fetch(
        rows((job, SUCCESS)), ["elsewhere"], worker_id, 5
    )

    assert [item.job.id for item in fetched] == [2]


async def test_a_fetch_that_fails_leaves_the_outcomes_unstored(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.batch_defer_jobs_async([make_job(), make_job()])
    (job,) = await job_manager.fetch_jobs(None, worker_id, 1)

    # Worker 42 was never registered: starting job 2 for it breaks a foreign key.
    with pytest.raises(exceptions.ConnectorException):
        await job_manager.store_outcomes_and_fetch(rows((job, SUCCESS)), None, 42, 1)

    assert await summary(job_manager) == {
        1: ("doing", 0, worker_id),
        2: ("todo", 0, None),
    }
