"""The app the fault suite's workers run. Its task touches no database: it writes what
it does to a file of its process (in the folder named by ``FAULTS_EVENTS_DIR``), so
that the counts survive the faults inflicted on the database, and a SIGKILL."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import procrastinate

app = procrastinate.App(connector=procrastinate.PsycopgConnector())


def record(context: procrastinate.JobContext, event: str) -> None:
    """Append one event of the running job to this process's file."""
    path = Path(os.environ["FAULTS_EVENTS_DIR"]) / f"events-{os.getpid()}.jsonl"
    line = {
        "job": context.job.id,
        "attempt": context.job.attempts,
        "pid": os.getpid(),
        "event": event,
        "at": time.time(),
    }
    with path.open("a") as file:
        file.write(json.dumps(line) + "\n")


# Retried on any error: a job interrupted by a fault (a shutdown abort, a recovered
# stalled job) must end up done.
@app.task(pass_context=True, retry=procrastinate.RetryStrategy(max_attempts=20))
async def drain(context: procrastinate.JobContext, sleep: float = 0.1) -> None:
    """Record a start, sleep without blocking the worker, record an end."""
    record(context, "start")
    await asyncio.sleep(sleep)
    record(context, "end")
