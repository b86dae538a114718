"""``procrastinate worker`` refuses, before it starts, the options it cannot run with:
one error line, exit code 1, no worker registered."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.support.commands import Cli
    from tests.support.records import Database

# Each case: the options, and what the error line must name.
REFUSED_OPTIONS = {
    "concurrency past an integer": (["--concurrency=2147483648"], "--concurrency"),
    "no concurrency": (["--concurrency=0"], "--concurrency"),
    "heartbeat interval 0": (
        ["--update-heartbeat-interval=0"],
        "--update-heartbeat-interval",
    ),
    "negative polling": (
        ["--fetch-job-polling-interval=-1"],
        "--fetch-job-polling-interval",
    ),
    "abort polling 0": (
        ["--abort-job-polling-interval=0"],
        "--abort-job-polling-interval",
    ),
    "infinite stalled timeout": (
        ["--stalled-worker-timeout=inf"],
        "--stalled-worker-timeout",
    ),
    "negative graceful timeout": (
        ["--shutdown-graceful-timeout=-1"],
        "--shutdown-graceful-timeout",
    ),
    "timeout below the heartbeat interval": (
        ["--stalled-worker-timeout=5"],
        "stalled_worker_timeout (5.0) must be larger than update_heartbeat_interval",
    ),
    "timeout equal to the heartbeat interval": (
        ["--stalled-worker-timeout=1", "--update-heartbeat-interval=1"],
        "must be larger than",
    ),
}

REFUSED_VARIABLES = {
    "PROCRASTINATE_WORKER_UPDATE_HEARTBEAT_INTERVAL": "0",
    "PROCRASTINATE_WORKER_FETCH_JOB_POLLING_INTERVAL": "-1",
    "PROCRASTINATE_WORKER_ABORT_JOB_POLLING_INTERVAL": "0",
    "PROCRASTINATE_WORKER_CONCURRENCY": "2147483648",
    "PROCRASTINATE_WORKER_STALLED_WORKER_TIMEOUT": "nan",
}


@pytest.mark.parametrize(
    ("options", "mention"), REFUSED_OPTIONS.values(), ids=REFUSED_OPTIONS.keys()
)
def test_out_of_range_worker_options_are_refused(
    cli: Cli, db: Database, options: list[str], mention: str
) -> None:
    result = cli("worker", "--one-shot", *options)

    assert mention in result.error_line()
    assert db.workers_count() == 0


@pytest.mark.parametrize(
    ("name", "value"), REFUSED_VARIABLES.items(), ids=REFUSED_VARIABLES.keys()
)
def test_out_of_range_worker_variables_are_refused(
    cli: Cli, db: Database, name: str, value: str
) -> None:
    result = cli("worker", "--one-shot", env={**cli.env, name: value})

    assert name in result.error_line()
    assert db.workers_count() == 0


def test_a_one_shot_worker_that_cannot_fetch_exits_1(cli: Cli, db: Database) -> None:
    db.connection.execute("DROP FUNCTION procrastinate_fetch_jobs_v2")

    result = cli("worker", "--one-shot")

    assert "schema is missing" in result.error_line()
    assert db.workers_count() == 0
