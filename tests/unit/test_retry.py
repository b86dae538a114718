"""Retry strategies decide whether and when a failed job runs again."""

from __future__ import annotations

import datetime

import pytest

from procrastinate import exceptions, jobs, retry, utils


def make_job(attempts: int = 0) -> jobs.Job:
    return jobs.Job(
        id=1, queue="q", lock=None, queueing_lock=None, task_name="t", attempts=attempts
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (False, None),
        (0, None),
        (True, retry.RetryStrategy()),
        (3, retry.RetryStrategy(max_attempts=3)),
    ],
)
def test_get_retry_strategy(value: retry.RetryValue, expected: object) -> None:
    assert retry.get_retry_strategy(value) == expected


def test_get_retry_strategy_passes_instances_through() -> None:
    strategy = retry.RetryStrategy(wait=4)
    assert retry.get_retry_strategy(strategy) is strategy


@pytest.mark.parametrize(
    ("strategy", "attempts", "delay"),
    [
        (retry.RetryStrategy(), 0, 0),
        (retry.RetryStrategy(wait=5), 3, 5),
        (retry.RetryStrategy(linear_wait=2), 3, 6),
        (retry.RetryStrategy(exponential_wait=3), 0, 3),
        (retry.RetryStrategy(exponential_wait=3), 1, 9),
        (retry.RetryStrategy(exponential_wait=3), 2, 27),
        (retry.RetryStrategy(wait=1, linear_wait=2, exponential_wait=2), 1, 1 + 2 + 4),
    ],
)
def test_retry_delay(strategy: retry.RetryStrategy, attempts: int, delay: int) -> None:
    before = utils.utcnow()
    decision = strategy.get_retry_decision(
        exception=ValueError(), job=make_job(attempts)
    )
    assert decision is not None
    assert decision.retry_at is not None
    expected = before + datetime.timedelta(seconds=delay)
    assert abs((decision.retry_at - expected).total_seconds()) < 1


def test_max_attempts_counts_retries() -> None:
    strategy = retry.RetryStrategy(max_attempts=2)
    assert strategy.get_retry_decision(exception=ValueError(), job=make_job(1))
    assert strategy.get_retry_decision(exception=ValueError(), job=make_job(2)) is None


def test_retry_exceptions_filter() -> None:
    strategy = retry.RetryStrategy(retry_exceptions=[KeyError])
    assert strategy.get_retry_decision(exception=KeyError(), job=make_job())
    assert strategy.get_retry_decision(exception=ValueError(), job=make_job()) is None


def test_retry_exception_wraps_the_decision() -> None:
    error = retry.RetryStrategy().get_retry_exception(ValueError(), make_job())
    assert isinstance(error, exceptions.JobRetry)
    assert error.retry_decision.retry_at is not None


def test_retry_decision_refuses_both_dates() -> None:
    with pytest.raises(ValueError, match="both"):
        retry.RetryDecision(retry_at=utils.utcnow(), retry_in={"seconds": 1})


def test_retry_decision_keeps_overrides() -> None:
    decision = retry.RetryDecision(
        retry_in={"seconds": 1}, priority=3, queue="q", lock="l"
    )
    assert (decision.priority, decision.queue, decision.lock) == (3, "q", "l")


def test_legacy_get_schedule_in_still_works_with_a_warning() -> None:
    class Legacy(retry.BaseRetryStrategy):
        def get_schedule_in(
            self, *, exception: BaseException, attempts: int
        ) -> int | None:
            return None if attempts else 10

    with pytest.warns(DeprecationWarning, match="get_schedule_in"):
        first = Legacy().get_retry_exception(ValueError(), make_job(0))
    with pytest.warns(DeprecationWarning, match="get_schedule_in"):
        second = Legacy().get_retry_exception(ValueError(), make_job(1))
    assert first is not None
    assert second is None
