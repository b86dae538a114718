"""Retry strategies: given a failed job and its exception, decide whether and when it
runs again. The decision is pure; the worker performs it."""

from __future__ import annotations

import datetime
import warnings
from collections.abc import Iterable
from typing import TypeAlias

import attr

from procrastinate import exceptions, jobs, utils
from procrastinate.types import TimeDeltaParams


class RetryDecision:
    """
    What to do with a job that failed and should run again: when, and optionally with
    another priority, queue or lock. ``None`` keeps the job's current value.

    :param retry_at: when to run the job again (a timezone-aware datetime).
    :param retry_in: the delay before running the job again, as
        :class:`datetime.timedelta` keyword arguments (``{"seconds": 30}``).
    :param priority: the job's new priority.
    :param queue: the job's new queue.
    :param lock: the job's new lock.
    :raises ValueError: both ``retry_at`` and ``retry_in`` are given.
    """

    def __init__(
        self,
        *,
        retry_at: datetime.datetime | None = None,
        retry_in: TimeDeltaParams | None = None,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> None:
        if retry_at and retry_in is not None:
            raise ValueError("Cannot set both retry_at and retry_in")
        if retry_in is not None:
            retry_at = utils.datetime_from_timedelta_params(retry_in)
        self.retry_at = retry_at
        self.priority = priority
        self.queue = queue
        self.lock = lock

    def __repr__(self) -> str:
        return (
            f"RetryDecision(retry_at={self.retry_at!r}, priority={self.priority!r}, "
            f"queue={self.queue!r}, lock={self.lock!r})"
        )


class BaseRetryStrategy:
    """
    Base class for retry strategies: override :meth:`get_retry_decision`.
    """

    def get_retry_exception(
        self, exception: BaseException, job: jobs.Job
    ) -> exceptions.JobRetry | None:
        """
        The :class:`~procrastinate.exceptions.JobRetry` to raise for this failure, or
        ``None`` when the job should not be retried.
        """
        try:
            decision = self.get_retry_decision(exception=exception, job=job)
        except NotImplementedError:
            decision = self._legacy_decision(exception=exception, job=job)
        if decision is None:
            return None
        return exceptions.JobRetry(decision)

    def _legacy_decision(
        self, *, exception: BaseException, job: jobs.Job
    ) -> RetryDecision | None:
        schedule_in = self.get_schedule_in(exception=exception, attempts=job.attempts)
        warnings.warn(
            "`get_schedule_in` is deprecated, implement `get_retry_decision` instead.",
            DeprecationWarning,
            stacklevel=3,
        )
        if schedule_in is None:
            return None
        return RetryDecision(retry_in={"seconds": schedule_in})

    def get_schedule_in(self, *, exception: BaseException, attempts: int) -> int | None:
        """
        Deprecated: override :meth:`get_retry_decision` instead.

        :param exception: what the job raised.
        :param attempts: how many times the job ran.
        :returns: the delay in seconds before the retry, or ``None`` for no retry.
        """
        raise NotImplementedError()

    def get_retry_decision(
        self, *, exception: BaseException, job: jobs.Job
    ) -> RetryDecision | None:
        """
        Decide what happens to a job whose task raised ``exception``.

        :param exception: what the task raised.
        :param job: the job, with ``attempts`` counting the runs before this one.
        :returns: a :class:`RetryDecision`, or ``None`` to let the job fail.
        """
        raise NotImplementedError()


@attr.dataclass(kw_only=True)
class RetryStrategy(BaseRetryStrategy):
    """
    The default retry strategy. The delay before each retry is
    ``wait + linear_wait * attempts + exponential_wait ** (attempts + 1)`` seconds,
    where ``attempts`` is the number of runs before this one (so 0 after the first).

    :param max_attempts: the most retries; ``None`` retries forever.
    :param wait: a constant delay, in seconds.
    :param linear_wait: a delay growing linearly with the attempts, in seconds.
    :param exponential_wait: the base of a delay growing exponentially, in seconds.
    :param retry_exceptions: retry only when the exception is an instance of one of
        these classes; ``None`` retries on any exception.
    """

    max_attempts: int | None = None
    wait: int = 0
    linear_wait: int = 0
    exponential_wait: int = 0
    retry_exceptions: Iterable[type[BaseException]] | None = None

    def get_retry_decision(
        self, *, exception: BaseException, job: jobs.Job
    ) -> RetryDecision | None:
        attempts = job.attempts
        if self.max_attempts is not None and attempts >= self.max_attempts:
            return None
        if self.retry_exceptions is not None and not isinstance(
            exception, tuple(self.retry_exceptions)
        ):
            return None
        delay = self.wait + self.linear_wait * attempts
        if self.exponential_wait:
            delay += self.exponential_wait ** (attempts + 1)
        return RetryDecision(retry_in={"seconds": delay})


RetryValue: TypeAlias = bool | int | BaseRetryStrategy


def get_retry_strategy(retry: RetryValue) -> BaseRetryStrategy | None:
    """
    The strategy for a task's ``retry=`` argument: ``False`` or 0 for none, ``True``
    for unlimited immediate retries, an int ``n`` for ``n`` immediate retries, or a
    strategy instance.

    :param retry: the task's ``retry=`` argument.
    """
    if not retry:
        return None
    if retry is True:
        return RetryStrategy()
    if isinstance(retry, int):
        return RetryStrategy(max_attempts=retry)
    return retry
