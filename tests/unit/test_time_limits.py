"""The checks and decisions of task time limits, without a database."""

from __future__ import annotations

import asyncio
import datetime
import math

import pytest

import procrastinate
from procrastinate import exceptions, jobs, outcomes, testing
from procrastinate.job_context import AbortReason
from procrastinate.tasks import check_timeout


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, None), (1, 1.0), (0.25, 0.25), (datetime.timedelta(minutes=2), 120.0)],
)
def test_a_timeout_is_seconds(value: object, seconds: float | None) -> None:
    assert check_timeout(value) == seconds


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (0, ValueError),
        (-1, ValueError),
        (math.inf, ValueError),
        (math.nan, ValueError),
        (datetime.timedelta(0), ValueError),
        ("30", TypeError),
        (True, TypeError),
    ],
)
def test_a_bad_timeout_is_refused_in_one_line(value: object, error: type) -> None:
    with pytest.raises(error, match="timeout") as info:
        check_timeout(value)
    assert "\n" not in str(info.value)


def test_the_decorator_checks_the_timeout() -> None:
    app = procrastinate.App(connector=testing.InMemoryConnector())

    with pytest.raises(ValueError, match="timeout=0"):

        @app.task(timeout=0)
        def nothing() -> None: ...

    @app.task(timeout=datetime.timedelta(seconds=3))
    def something() -> None: ...

    assert something.timeout == 3.0


def test_a_timeout_fails_the_job_or_retries_it() -> None:
    app = procrastinate.App(connector=testing.InMemoryConnector())

    @app.task(
        timeout=2,
        retry=procrastinate.RetryStrategy(retry_exceptions=[exceptions.TaskTimeout]),
    )
    def retried() -> None: ...

    @app.task(timeout=2)
    def not_retried() -> None: ...

    job = jobs.Job(id=1, queue="q", lock=None, queueing_lock=None, task_name="t")
    error = outcomes.run_error(
        asyncio.CancelledError(), not_retried, job, AbortReason.TIMEOUT
    )

    final = outcomes.outcome_of(error, not_retried, job, AbortReason.TIMEOUT)
    again = outcomes.outcome_of(error, retried, job, AbortReason.TIMEOUT)

    assert (final.status, final.action, final.retry) == (
        jobs.Status.FAILED,
        "job_timeout",
        None,
    )
    assert (again.status, again.action) == (jobs.Status.FAILED, "job_timeout_retry")
    assert again.retry is not None
    assert str(error) == "Task t ran past its time limit of 2 s"


def _job(**fields: object) -> jobs.Job:
    return jobs.Job(
        id=1, queue="q", lock=None, queueing_lock=None, task_name="t", **fields
    )


def test_the_job_limit_comes_before_the_task_limit() -> None:
    app = procrastinate.App(connector=testing.InMemoryConnector())

    @app.task(timeout=60)
    def limited() -> None: ...

    @app.task
    def unlimited() -> None: ...

    assert outcomes.time_limit(limited, _job()) == 60
    assert outcomes.time_limit(limited, _job(timeout=2.5)) == 2.5
    assert outcomes.time_limit(unlimited, _job(timeout=2.5)) == 2.5
    assert outcomes.time_limit(unlimited, _job()) is None
    # An unregistered task fails at once: no limit to start.
    assert outcomes.time_limit(None, _job(timeout=2.5)) is None


def test_a_run_past_the_job_limit_names_that_limit() -> None:
    app = procrastinate.App(connector=testing.InMemoryConnector())

    @app.task
    def unlimited() -> None: ...

    error = outcomes.run_error(
        asyncio.CancelledError(), unlimited, _job(timeout=0.5), AbortReason.TIMEOUT
    )

    assert isinstance(error, exceptions.TaskTimeout)
    assert str(error) == "Task t ran past its time limit of 0.5 s"


def test_configure_stores_the_job_limit_in_seconds() -> None:
    app = procrastinate.App(connector=testing.InMemoryConnector())

    @app.task(timeout=60)
    def task() -> None: ...

    assert task.configure().job.timeout is None
    assert task.configure(timeout=5).job.timeout == 5.0
    assert (
        task.configure(timeout=datetime.timedelta(minutes=1, seconds=30)).job.timeout
        == 90.0
    )
    with pytest.raises(ValueError, match="timeout=-2"):
        app.configure_task("other", timeout=-2)
