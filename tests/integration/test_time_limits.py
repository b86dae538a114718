"""Time limits of tasks (``@app.task(timeout=...)``), with a real worker on the test
database: async runs are cancelled, sync runs see ``should_abort()``, and the job
fails with TaskTimeout, which retry strategies can retry on."""

from __future__ import annotations

import asyncio
import datetime
import logging
import threading
import time

import pytest

import procrastinate
from procrastinate import exceptions


def ended(caplog: pytest.LogCaptureFixture, action: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "action", None) == action]


async def test_an_async_run_past_its_limit_is_cancelled_and_fails(
    app: procrastinate.App, caplog: pytest.LogCaptureFixture
) -> None:
    cancelled = asyncio.Event()

    @app.task(timeout=0.2)
    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    job_id = await slow.defer_async()
    caplog.set_level(logging.INFO, logger="procrastinate")
    start = time.monotonic()
    await app.run_worker_async(wait=False, install_signal_handlers=False)

    assert time.monotonic() - start < 10
    assert cancelled.is_set()
    assert (await app.job_manager.get_job_status_async(job_id)).value == "failed"
    (record,) = ended(caplog, "job_timeout")
    assert "Timed out" in record.getMessage()
    assert record.levelno == logging.ERROR
    assert isinstance(record.exc_info[1], exceptions.TaskTimeout)  # type: ignore[index]
    assert "ran past its time limit of 0.2 s" in str(record.exc_info[1])  # type: ignore[index]


async def test_a_sync_run_sees_should_abort_at_its_limit_and_fails(
    app: procrastinate.App,
) -> None:
    seen = threading.Event()

    @app.task(timeout=0.2, pass_context=True)
    def polite(context: procrastinate.JobContext) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if context.should_abort():
                seen.set()
                return "stopped early"
            time.sleep(0.01)
        return "never"

    job_id = await polite.defer_async()
    await app.run_worker_async(wait=False, install_signal_handlers=False)

    assert seen.is_set()
    # What the run returned after its limit does not matter: the job failed.
    assert (await app.job_manager.get_job_status_async(job_id)).value == "failed"


async def test_a_sync_run_that_ignores_the_limit_fails_when_it_returns(
    app: procrastinate.App,
) -> None:
    @app.task(timeout=0.1)
    def stubborn() -> None:
        time.sleep(0.6)

    job_id = await stubborn.defer_async()
    start = time.monotonic()
    await app.run_worker_async(wait=False, install_signal_handlers=False)

    # The thread cannot be stopped: the job stays running until it returns, so its
    # lock stays held and no other run of it starts meanwhile.
    assert time.monotonic() - start >= 0.6
    assert (await app.job_manager.get_job_status_async(job_id)).value == "failed"


async def test_a_retry_strategy_can_retry_on_a_timeout(
    app: procrastinate.App, caplog: pytest.LogCaptureFixture
) -> None:
    attempts: list[int] = []

    @app.task(
        timeout=datetime.timedelta(seconds=0.1),
        pass_context=True,
        retry=procrastinate.RetryStrategy(
            max_attempts=2, retry_exceptions=[exceptions.TaskTimeout]
        ),
    )
    async def slow_then_quick(context: procrastinate.JobContext) -> None:
        attempts.append(context.job.attempts)
        if context.job.attempts == 0:
            await asyncio.sleep(30)

    job_id = await slow_then_quick.defer_async()
    caplog.set_level(logging.INFO, logger="procrastinate")
    await app.run_worker_async(wait=False, install_signal_handlers=False)

    assert attempts == [0, 1]
    assert (await app.job_manager.get_job_status_async(job_id)).value == "succeeded"
    assert len(ended(caplog, "job_timeout_retry")) == 1


async def test_a_run_within_its_limit_succeeds(app: procrastinate.App) -> None:
    @app.task(timeout=5)
    async def quick() -> int:
        await asyncio.sleep(0.01)
        return 1

    job_id = await quick.defer_async()
    await app.run_worker_async(wait=False, install_signal_handlers=False)

    assert (await app.job_manager.get_job_status_async(job_id)).value == "succeeded"


async def test_an_abort_request_stays_an_abort_under_a_limit(
    app: procrastinate.App,
) -> None:
    started = asyncio.Event()

    @app.task(timeout=30)
    async def long() -> None:
        started.set()
        await asyncio.sleep(30)

    job_id = await long.defer_async()
    worker = asyncio.ensure_future(
        app.run_worker_async(
            wait=False, install_signal_handlers=False, abort_job_polling_interval=0.05
        )
    )
    await asyncio.wait_for(started.wait(), 10)
    await app.job_manager.cancel_job_by_id_async(job_id, abort=True)
    await asyncio.wait_for(worker, 10)

    assert (await app.job_manager.get_job_status_async(job_id)).value == "aborted"
