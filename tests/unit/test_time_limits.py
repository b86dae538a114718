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
