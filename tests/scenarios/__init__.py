"""Scenarios run on every connector: the in-memory one and each real one on PostgreSQL
(psycopg, sync psycopg, aiopg, psycopg2, SQLAlchemy, Django's).

Every test of this package takes the ``backend`` fixture (see ``conftest.py``), so it
runs once per backend with the same body: no connector, the in-memory one of
:mod:`procrastinate.testing` included, can drift from the others unnoticed. The helpers below
are shared by the scenario modules.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from procrastinate import manager
from tests.support.jobs import make_job as make_job  # the scenarios' job builder


async def fetch_ids(
    job_manager: manager.JobManager,
    worker_id: int,
    queues: list[str] | None = None,
    limit: int = 10,
) -> list[int]:
    """Fetch up to ``limit`` jobs for the worker; their ids, in fetch order."""
    fetched = await job_manager.fetch_jobs(queues, worker_id, limit)
    return [job.id for job in fetched if job.id is not None]


async def ids_of(job_manager: manager.JobManager, **filters: Any) -> list[int]:
    """Ids of the jobs matching ``list_jobs`` filters."""
    listed = await job_manager.list_jobs_async(**filters)
    return [job.id for job in listed if job.id is not None]


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], timeout: float = 5.0
) -> None:
    """Poll ``predicate`` until it holds.

    :raises AssertionError: it still does not hold after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def count_reaches(received: list[Any], count: int) -> Callable[[], Awaitable[bool]]:
    """A predicate for :func:`wait_until`: ``received`` holds ``count`` items."""

    async def reached() -> bool:
        return len(received) >= count

    return reached
