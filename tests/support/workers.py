"""In-process workers, and the barriers that tell when one is ready."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

import psycopg

import procrastinate

from . import databases, waiting


@contextlib.asynccontextmanager
async def running_worker(
    app: procrastinate.App, **options: Any
) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``app``'s worker in a task for the block (without signal handlers unless
    asked); cancelled, i.e. stopped gracefully, on the way out."""
    options.setdefault("install_signal_handlers", False)
    task = asyncio.ensure_future(app.run_worker_async(**options))
    try:
        yield task
    finally:
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def status_of(app: procrastinate.App, job_id: int) -> str:
    """The status of a job, as its value (``"todo"``, ``"doing"``...).

    :raises procrastinate.exceptions.NoResult: there is no such job.
    """
    return (await app.job_manager.get_job_status_async(job_id)).value


async def wait_listening(
    connection: psycopg.Connection[Any],
    timeout: float = 10.0,
    besides: Iterable[int] = (),
) -> None:
    """Wait until a session of the database of ``connection`` listens, other than
    the sessions ``besides`` (pids, e.g. of a listener just terminated): a worker
    started with ``listen_notify`` is then woken by the next notification.

    :raises AssertionError: nobody listens after ``timeout`` seconds.
    """
    excluded = set(besides)

    def listening() -> bool:
        return bool(databases.listening_pids(connection) - excluded)

    await waiting.wait_until(listening, timeout, "a session to LISTEN")


def count_actions(records: Iterable[logging.LogRecord], action: str) -> int:
    """How many log records carry ``extra={"action": action}``: the worker logs each
    step of its life so (``stopping_worker``, ``fetch_error``...)."""
    return sum(getattr(record, "action", None) == action for record in records)
