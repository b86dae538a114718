"""The demo tasks."""

from __future__ import annotations

import asyncio
import logging
import time

import procrastinate
from procrastinate_demo.app import app

logger = logging.getLogger(__name__)


class FlakyError(Exception):
    """A transient failure, like a remote service timing out."""


@app.task(queue="sums")
def sum(a: int, b: int) -> int:
    """Add two numbers (a sync task, run in a thread)."""
    return a + b


@app.task(queue="sums")
async def async_sum(a: int, b: int) -> int:
    """Add two numbers (an async task, run on the worker's event loop)."""
    await asyncio.sleep(0)
    return a + b


@app.task
async def sleep(seconds: float) -> None:
    """Sleep a while without blocking the worker."""
    await asyncio.sleep(seconds)


@app.task
def sync_sleep(seconds: float) -> None:
    """Sleep a while in a thread."""
    time.sleep(seconds)


@app.task(
    pass_context=True,
    retry=procrastinate.RetryStrategy(max_attempts=3, retry_exceptions={FlakyError}),
)
def flaky(context: procrastinate.JobContext, fail_times: int) -> str:
    """Fail ``fail_times`` times, then succeed: the retry strategy runs it again."""
    if context.job.attempts < fail_times:
        raise FlakyError(f"attempt {context.job.attempts + 1} failed, will retry")
    return f"succeeded after {context.job.attempts} retries"
