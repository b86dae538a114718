"""The options a worker is created with: checked before it starts (the ``Worker``
class and the ``procrastinate worker`` flags refuse the same values for the same
reasons), and what ``wait`` means when fetching fails."""

from __future__ import annotations

import math
from collections.abc import Sequence

from procrastinate import exceptions, middleware

# The fetch query takes its limit as a PostgreSQL integer.
MAX_CONCURRENCY = 2**31 - 1
# The most outcomes one statement stores: its JSON argument stays small.
MAX_OUTCOME_BATCH_SIZE = 10_000
# A one-shot worker gives up when fetching fails this many times in a row: about 20 s
# of outage with the default polling interval.
ONE_SHOT_FETCH_ATTEMPTS = 8


def check_seconds(name: str, value: float | None, *, zero: bool = False) -> None:
    """
    :raises TypeError: ``value`` is not a number.
    :raises ValueError: it is not finite, or not positive (negative when ``zero``).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        kind = "a non-negative" if zero else "a positive"
        raise ValueError(f"{name} must be {kind} number of seconds, got {value!r}")


def check_worker_options(
    *,
    queues: list[str] | None,
    concurrency: int,
    fetch_job_polling_interval: float,
    abort_job_polling_interval: float,
    shutdown_graceful_timeout: float | None,
    update_heartbeat_interval: float,
    stalled_worker_timeout: float,
    outcome_batch_size: int = 1000,
    outcome_batch_delay: float = 0.0,
) -> None:
    """
    Refuse the options a worker cannot run with: it would fail on every fetch, spin
    on zero intervals, or count itself dead between two heartbeats.

    :raises TypeError: an option is not a number.
    :raises ValueError: an option is out of range.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int):
        raise TypeError(f"concurrency must be an integer, got {concurrency!r}")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(
            f"concurrency must be between 1 and {MAX_CONCURRENCY}, got {concurrency}"
        )
    if isinstance(outcome_batch_size, bool) or not isinstance(outcome_batch_size, int):
        raise TypeError(
            f"outcome_batch_size must be an integer, got {outcome_batch_size!r}"
        )
    if not 1 <= outcome_batch_size <= MAX_OUTCOME_BATCH_SIZE:
        raise ValueError(
            f"outcome_batch_size must be between 1 and {MAX_OUTCOME_BATCH_SIZE}, "
            f"got {outcome_batch_size}"
        )
    check_seconds("outcome_batch_delay", outcome_batch_delay, zero=True)
    for queue in queues or ():
        if "\x00" in queue:
            raise ValueError(
                f"Queue names cannot contain a NUL character (\\x00): {queue!r}"
            )
    check_seconds("fetch_job_polling_interval", fetch_job_polling_interval)
    check_seconds("abort_job_polling_interval", abort_job_polling_interval)
    check_seconds("update_heartbeat_interval", update_heartbeat_interval)
    check_seconds("stalled_worker_timeout", stalled_worker_timeout)
    if shutdown_graceful_timeout is not None:
        check_seconds("shutdown_graceful_timeout", shutdown_graceful_timeout, zero=True)
    if stalled_worker_timeout <= update_heartbeat_interval:
        raise ValueError(
            f"stalled_worker_timeout ({stalled_worker_timeout}) must be larger than "
            f"update_heartbeat_interval ({update_heartbeat_interval}): otherwise "
            "workers count as dead between two of their heartbeats"
        )


def check_middleware(
    task_middleware: Sequence[middleware.TaskMiddleware],
    worker_middleware: Sequence[middleware.WorkerMiddleware],
) -> None:
    """
    Refuse middleware a worker cannot call.

    :raises TypeError: a middleware is not callable.
    :raises MiddlewareKindMismatch: a worker middleware is not async.
    """
    middleware.check_worker_middleware(worker_middleware)
    for item in task_middleware:
        if not callable(item):
            raise TypeError(f"Middleware {item!r} is not callable")


def gives_up_fetching(
    error: exceptions.ConnectorException, *, wait: bool, failures: int
) -> bool:
    """Whether a worker stops on ``error``, its fetch having failed ``failures``
    times in a row before."""
    # A waiting worker keeps trying: the database may come back, the schema may be
    # migrated. A one-shot worker must end, and say it could not work.
    if wait:
        return False
    transient = isinstance(error, exceptions.TransientDatabaseError)
    return not transient or failures + 1 >= ONE_SHOT_FETCH_ATTEMPTS
