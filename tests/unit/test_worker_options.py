"""The worker options a worker cannot run with are refused before it starts, and the
backoff of its retries."""

from __future__ import annotations

from typing import Any

import pytest

import procrastinate
from procrastinate import connector, worker

REFUSED = [
    ({"concurrency": 0}, ValueError, "concurrency must be between 1 and 2147483647"),
    ({"concurrency": 2**31}, ValueError, "concurrency must be between"),
    ({"concurrency": 1.5}, TypeError, "concurrency must be an integer"),
    ({"queues": ["a\x00b"]}, ValueError, "cannot contain a NUL character"),
    ({"fetch_job_polling_interval": -1}, ValueError, "fetch_job_polling_interval"),
    ({"fetch_job_polling_interval": 0}, ValueError, "positive number of seconds"),
    ({"abort_job_polling_interval": 0}, ValueError, "abort_job_polling_interval"),
    ({"update_heartbeat_interval": 0}, ValueError, "update_heartbeat_interval"),
    ({"update_heartbeat_interval": float("nan")}, ValueError, "got nan"),
    ({"stalled_worker_timeout": float("inf")}, ValueError, "stalled_worker_timeout"),
    ({"stalled_worker_timeout": "30"}, TypeError, "must be a number of seconds"),
    ({"shutdown_graceful_timeout": -1}, ValueError, "non-negative number"),
    (
        {"update_heartbeat_interval": 10, "stalled_worker_timeout": 10},
        ValueError,
        r"stalled_worker_timeout \(10\) must be larger than update_heartbeat_interval",
    ),
    (
        {"update_heartbeat_interval": 10, "stalled_worker_timeout": 5},
        ValueError,
        "must be larger than",
    ),
]


@pytest.mark.parametrize(("options", "error", "message"), REFUSED)
def test_out_of_range_options_are_refused(
    unopened_app: procrastinate.App,
    options: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        worker.Worker(unopened_app, **options)


def test_worker_defaults_are_checked_too(unopened_app: procrastinate.App) -> None:
    unopened_app.worker_defaults = {"abort_job_polling_interval": 0}
    with pytest.raises(ValueError, match="abort_job_polling_interval"):
        unopened_app._worker()


def test_the_boundaries_themselves_are_accepted(
    unopened_app: procrastinate.App,
) -> None:
    worker.Worker(
        unopened_app,
        concurrency=2**31 - 1,
        fetch_job_polling_interval=0.01,
        abort_job_polling_interval=0.01,
        update_heartbeat_interval=0.01,
        stalled_worker_timeout=0.02,
        shutdown_graceful_timeout=0,
    )


def test_backoff_doubles_up_to_its_maximum_and_starts_over_after_a_reset() -> None:
    backoff = connector.Backoff(first=0.1, maximum=1.0)
    delays = [backoff.next_delay() for _ in range(6)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    backoff.reset()
    assert backoff.next_delay() == pytest.approx(0.1)


def test_backoff_survives_any_number_of_failures() -> None:
    backoff = connector.Backoff(maximum=5.0, failures=10**6)
    assert backoff.next_delay() == 5.0
