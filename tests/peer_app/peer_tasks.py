"""An app that procrastinate 3.10 and this version both import: every run of
``record`` adds a row to ``upgrade_runs``, saying which job ran and who ran it."""

from __future__ import annotations

import os
import time
from typing import Any

import psycopg

import procrastinate

RUNS_DDL = """
    CREATE TABLE upgrade_runs (
        job_id bigint NOT NULL,
        runner text NOT NULL
    )
"""

app = procrastinate.App(connector=procrastinate.PsycopgConnector())


@app.task(name="record", pass_context=True)
def record(context: Any, pause: float = 0.0) -> None:
    # A pause keeps a worker busy, so that the jobs spread over the workers.
    time.sleep(pause)
    with psycopg.connect(autocommit=True) as conn:
        conn.execute(
            "INSERT INTO upgrade_runs (job_id, runner) VALUES (%s, %s)",
            (context.job.id, os.environ["UPGRADE_RUNNER"]),
        )
