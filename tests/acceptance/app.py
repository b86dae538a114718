"""The app that the acceptance tests give to the real ``procrastinate`` command.

Its connection comes from the libpq ``PG*`` environment variables, so a subprocess
started with ``PGDATABASE=<test database>`` works on that database. Every task writes
what it does into ``acceptance_events`` (created by tests/acceptance/conftest.py):
tests read order, overlap and timing from the database, never from logs.
"""

from __future__ import annotations

import asyncio
import os

import procrastinate

app = procrastinate.App(connector=procrastinate.PsycopgConnector())

# An app whose connection string comes from ACCEPTANCE_CONNINFO, to test what the
# command says about a malformed one.
conninfo_app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(
        conninfo=os.environ.get("ACCEPTANCE_CONNINFO", "")
    )
)

# A module attribute that is not an App, for `--app=tests.acceptance.app.NOT_AN_APP`.
NOT_AN_APP = "a string, not an App"

INSERT_EVENT = """
    INSERT INTO acceptance_events (job_id, task, event, pid)
    VALUES (%(job_id)s, %(task)s, %(event)s, %(pid)s)
"""


class TransientError(Exception):
    """A failure worth retrying (listed in the retry strategy of :func:`picky`)."""


class PermanentError(Exception):
    """A failure not worth retrying (not listed in any retry strategy)."""


async def record(context: procrastinate.JobContext, event: str) -> None:
    """Store one event of the running job, timestamped by the database clock."""
    await context.app.connector.execute_query_async(
        INSERT_EVENT,
        job_id=context.job.id,
        task=context.job.task_name,
        event=event,
        pid=os.getpid(),
    )


@app.task(pass_context=True)
async def track(context: procrastinate.JobContext, sleep: float = 0.0) -> None:
    """Record its start, sleep (without blocking the worker), record its end."""
    await record(context, "start")
    await asyncio.sleep(sleep)
    await record(context, "end")


@app.task(pass_context=True, aliases=["acceptance_add"])
async def add(context: procrastinate.JobContext, a: int, b: int) -> int:
    """Record the sum of its arguments, to show they went through JSON intact."""
    await record(context, f"sum={a + b}")
    return a + b


@app.task(pass_context=True, retry=2)
async def flaky(context: procrastinate.JobContext, fail_times: int) -> None:
    """Fail on the first ``fail_times`` attempts, then succeed."""
    await record(context, "attempt")
    if context.job.attempts < fail_times:
        raise TransientError(f"attempt {context.job.attempts + 1} fails on purpose")


@app.task(
    pass_context=True,
    retry=procrastinate.RetryStrategy(
        max_attempts=3, retry_exceptions=[TransientError]
    ),
)
async def picky(context: procrastinate.JobContext, error: str) -> None:
    """Fail once with the error named (``transient`` or ``permanent``), then succeed."""
    await record(context, "attempt")
    if context.job.attempts == 0:
        if error == "transient":
            raise TransientError("worth a retry")
        raise PermanentError("not worth a retry")


@app.task(pass_context=True, retry=3)
async def resilient(context: procrastinate.JobContext, sleep: float = 0.0) -> None:
    """Like ``track``, with a retry strategy: a crash of its worker is recoverable."""
    await record(context, "start")
    await asyncio.sleep(sleep)
    await record(context, "end")


@app.task(pass_context=True, timeout=0.3)
async def limited(context: procrastinate.JobContext, sleep: float = 0.0) -> None:
    """Like ``track``, with a time limit of 0.3 s."""
    await record(context, "start")
    await asyncio.sleep(sleep)
    await record(context, "end")
