"""Signals at every moment of a worker's life: the first SIGINT or SIGTERM stops it
gracefully, a second one aborts its running jobs, and either way it stores their
outcome, unregisters and exits with code 0."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

if TYPE_CHECKING:
    from tests.support.commands import Cli, Workers
    from tests.support.jobs import Deferrer
    from tests.support.records import Database
    from tests.support.waiting import WaitUntil

SIGNAL_PAIRS = [
    (signal.SIGTERM, signal.SIGTERM),
    (signal.SIGINT, signal.SIGINT),
    (signal.SIGTERM, signal.SIGINT),
]


@pytest.mark.parametrize(("first", "second"), SIGNAL_PAIRS, ids=lambda sig: sig.name)
def test_a_second_signal_aborts_the_running_jobs_and_still_shuts_down(
    db: Database,
    defer: Deferrer,
    workers: Workers,
    wait_until: WaitUntil,
    first: signal.Signals,
    second: signal.Signals,
) -> None:
    worker = workers.start("--concurrency=2")
    (retried,) = defer("resilient", {"sleep": 60})
    (aborted,) = defer("track", {"sleep": 60})
    wait_until(lambda: len(db.events("start")) == 2, 10, "both jobs to start")

    worker.popen.send_signal(first)
    wait_until(lambda: "Waiting for job" in worker.log, 10, "the graceful stop")
    assert worker.popen.poll() is None
    assert worker.stop(second) == 0, worker.log

    # The task with a retry strategy goes back to its queue, the other one ends.
    assert db.job(retried)["status"] == "todo"
    assert db.job(aborted)["status"] == "aborted"
    assert db.workers_count() == 0
    assert "Traceback" not in worker.log


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_during_start_up_stops_the_worker_once_it_is_registered(
    cli: Cli,
    db: Database,
    defer: Deferrer,
    wait_until: WaitUntil,
    tmp_path: Any,
    sig: signal.Signals,
) -> None:
    defer("track")
    log_path = tmp_path / "worker.log"
    # Holding the registry makes the start-up wait for us, where it would otherwise
    # last a few milliseconds.
    with psycopg.connect(dbname=db.name) as blocker:
        blocker.execute("LOCK TABLE procrastinate_workers IN ACCESS EXCLUSIVE MODE")
        with log_path.open("wb") as log:
            popen = cli.popen(["worker"], log=log)
        try:
            wait_until(
                lambda: (
                    db.value(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = %(name)s "
                        "AND wait_event_type = 'Lock'",
                        name=db.name,
                    )
                    > 0
                ),
                15,
                "the worker to wait for the registry",
            )
            popen.send_signal(sig)
            # Let the signal be handled while the start-up still waits.
            wait_until(
                lambda: "Received" in log_path.read_text() or popen.poll() is not None,
                10,
                "the signal to be handled",
            )
        except BaseException:
            popen.kill()
            raise
    try:
        returncode = popen.wait(15)
    finally:
        if popen.poll() is None:
            popen.kill()
    output = log_path.read_text()
    assert returncode == 0, output
    assert "Traceback" not in output
    assert db.workers_count() == 0
    # Stopped before fetching: the job waits for the next worker.
    assert db.statuses() == {1: "todo"}


def test_sigterm_while_the_app_loads_ends_the_command_with_143(
    cli: Cli, db: Database, tmp_path: Any, wait_until: WaitUntil
) -> None:
    log_path = tmp_path / "worker.log"
    # The app module's import waits (a lock on a table it reads at import time is
    # not available here): a PROCRASTINATE_APP import that sleeps stands in for it.
    env = {**cli.env, "PYTHONPATH": str(tmp_path)}
    (tmp_path / "slow_app.py").write_text(
        "import time, sys\n"
        "print('loading', file=sys.stderr, flush=True)\n"
        "time.sleep(30)\n"
        "from tests.acceptance.app import app\n"
    )
    with log_path.open("wb") as log:
        popen = cli.popen(["--app=slow_app.app", "worker"], env=env, app=False, log=log)
    try:
        wait_until(lambda: "loading" in log_path.read_text(), 15, "the app to load")
        popen.send_signal(signal.SIGTERM)
        returncode = popen.wait(10)
    finally:
        if popen.poll() is None:
            popen.kill()
    assert returncode == 143, log_path.read_text()
    assert db.workers_count() == 0


def test_a_worker_stopped_twice_in_a_row_exits_cleanly(
    db: Database, workers: Workers
) -> None:
    worker = workers.start()
    worker.popen.send_signal(signal.SIGINT)
    assert worker.stop(signal.SIGINT) == 0, worker.log
    assert db.workers_count() == 0
