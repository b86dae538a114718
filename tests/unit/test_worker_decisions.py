"""What a job's run means: the worker's pure decisions."""

from __future__ import annotations

import asyncio
import logging

import pytest

import procrastinate
from procrastinate import exceptions, jobs, worker
from procrastinate.job_context import AbortReason


@pytest.fixture
def job() -> jobs.Job:
    return jobs.Job(id=1, queue="q", lock=None, queueing_lock=None, task_name="t")


@pytest.fixture
def retrying_task(unopened_app: procrastinate.App) -> procrastinate.tasks.Task:  # type: ignore[type-arg]
    @unopened_app.task(retry=True, name="retrying")
    async def task() -> None: ...

    return task


@pytest.fixture
def plain_task(unopened_app: procrastinate.App) -> procrastinate.tasks.Task:  # type: ignore[type-arg]
    @unopened_app.task(name="plain")
    async def task() -> None: ...

    return task


def test_success(plain_task, job) -> None:  # type: ignore[no-untyped-def]
    outcome = worker.outcome_of(None, plain_task, job, None)
    assert (outcome.status, outcome.title, outcome.retry) == (
        jobs.Status.SUCCEEDED,
        "Success",
        None,
    )


def test_error_without_retry_is_logged_as_error(plain_task, job) -> None:  # type: ignore[no-untyped-def]
    outcome = worker.outcome_of(ValueError(), plain_task, job, None)
    assert (outcome.status, outcome.action, outcome.level) == (
        jobs.Status.FAILED,
        "job_error",
        logging.ERROR,
    )


def test_error_with_retry(retrying_task, job) -> None:  # type: ignore[no-untyped-def]
    outcome = worker.outcome_of(ValueError(), retrying_task, job, None)
    assert outcome.title == "Error, to retry"
    assert outcome.retry is not None
    assert outcome.level == logging.INFO


def test_user_abort_is_never_retried(retrying_task, job) -> None:  # type: ignore[no-untyped-def]
    for error in (exceptions.JobAborted(), asyncio.CancelledError()):
        outcome = worker.outcome_of(error, retrying_task, job, AbortReason.USER_REQUEST)
        assert (outcome.status, outcome.retry) == (jobs.Status.ABORTED, None)


def test_shutdown_abort_is_retried_when_the_task_allows(
    retrying_task, plain_task, job
) -> None:  # type: ignore[no-untyped-def]
    outcome = worker.outcome_of(
        asyncio.CancelledError(), retrying_task, job, AbortReason.SHUTDOWN
    )
    assert outcome.title == "Aborted, to retry"
    assert outcome.retry is not None
    outcome = worker.outcome_of(
        asyncio.CancelledError(), plain_task, job, AbortReason.SHUTDOWN
    )
    assert outcome.title == "Aborted"
    assert outcome.retry is None


def test_unknown_task_fails(job) -> None:  # type: ignore[no-untyped-def]
    outcome = worker.outcome_of(exceptions.TaskNotFound(), None, job, None)
    assert outcome.status == jobs.Status.FAILED
    assert outcome.retry is None


@pytest.mark.parametrize(
    ("condition", "status", "expected"),
    [
        ("never", jobs.Status.SUCCEEDED, False),
        ("successful", jobs.Status.SUCCEEDED, True),
        ("successful", jobs.Status.FAILED, False),
        ("always", jobs.Status.FAILED, True),
        ("always", jobs.Status.ABORTED, True),
    ],
)
def test_should_delete(condition: str, status: jobs.Status, expected: bool) -> None:
    assert worker.should_delete(jobs.DeleteJobCondition(condition), status) is expected


def test_end_message(job) -> None:  # type: ignore[no-untyped-def]
    outcome = worker.outcome_of(ValueError(), None, job, None)
    assert worker.end_message(job, outcome, 0.0123, None) == (
        "Job t[1]() ended with status: Error, lasted 0.012 s"
    )
    success = worker.outcome_of(None, None, job, None)
    assert worker.end_message(job, success, 1, 42).endswith(" - Result: 42")


def test_worker_refuses_sync_worker_middleware(unopened_app: procrastinate.App) -> None:
    def sync_middleware(call_next, context, worker):  # type: ignore[no-untyped-def]
        return call_next()

    with pytest.raises(exceptions.MiddlewareKindMismatch):
        worker.Worker(unopened_app, worker_middleware=[sync_middleware])
    with pytest.raises(ValueError, match="concurrency"):
        worker.Worker(unopened_app, concurrency=0)
