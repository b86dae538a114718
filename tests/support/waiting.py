"""Waiting for a condition, with a deadline and a failure that says what was awaited.

A test waits for something observable (a row, a status, a ``LISTEN`` session) rather
than sleeping for a while: it goes on as soon as the condition holds, and a slow
machine only makes it slower, not wrong.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

POLL_INTERVAL = 0.02

AsyncPredicate = Callable[[], Awaitable[bool] | bool]
Predicate = Callable[[], bool]
WaitUntil = Callable[[Predicate, float, str], None]


def _describe(predicate: Callable[..., object], what: str | None) -> str:
    return what or str(getattr(predicate, "__name__", predicate))


def _timed_out(
    predicate: Callable[..., object], timeout: float, what: str | None
) -> str:
    return f"Timed out after {timeout} s waiting for {_describe(predicate, what)}"


async def wait_until(
    predicate: AsyncPredicate,
    timeout: float = 5.0,
    what: str | None = None,
    interval: float = POLL_INTERVAL,
) -> None:
    """Poll ``predicate`` (a function returning a bool, or an awaitable of one) until
    it holds, giving the event loop a turn between two polls.

    :raises AssertionError: it still does not hold after ``timeout`` seconds; the
        message names ``what`` (by default, the predicate's name).
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(_timed_out(predicate, timeout, what))
        await asyncio.sleep(interval)


def wait_until_sync(
    predicate: Predicate,
    timeout: float = 5.0,
    what: str | None = None,
    interval: float = POLL_INTERVAL,
) -> None:
    """Poll ``predicate`` until it holds, sleeping between two polls.

    :raises AssertionError: it still does not hold after ``timeout`` seconds; the
        message names ``what`` (by default, the predicate's name).
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(_timed_out(predicate, timeout, what))
        time.sleep(interval)
