"""The app and the no-op tasks that the procrastinate driver measures.

They live in a module of their own, not in the driver's ``__main__``, as a user's app
would. The connector reaches the database named by the libpq variables (PG*).
"""

from __future__ import annotations

import asyncio
import time

import procrastinate

app = procrastinate.App(connector=procrastinate.PsycopgConnector())


class State:
    """What the tasks tell the driver: how many ran, when the awaited one started."""

    executed = 0
    started: asyncio.Future[float] | None = None


@app.task(name="noop")
async def noop() -> None:
    State.executed += 1


@app.task(name="noop_sync")
def noop_sync() -> None:
    State.executed += 1


@app.task(name="stamp")
async def stamp() -> None:
    if State.started and not State.started.done():
        State.started.set_result(time.perf_counter())
