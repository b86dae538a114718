"""Workers draining jobs through faults: terminated sessions, a PostgreSQL restart, a
read-only spell, a worker killed or frozen, a second signal during shutdown. After
each, no job is lost, stuck or run twice, and no worker died (see conftest.py)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

import procrastinate
from tests.faults.harness import (
    FaultsCli,
    PrivateCluster,
    defer_drain,
    read_runs,
    tally,
)
from tests.support.commands import Workers
from tests.support.records import Database
from tests.support.waiting import wait_until_sync

DRAIN_TIMEOUT = 40
# Short enough for a test, far above the heartbeat interval of a live worker.
RECOVERY = [
    "--update-heartbeat-interval=0.3",
    "--stalled-worker-timeout=2",
    "--recover-stalled-jobs",
    "--fetch-job-polling-interval=0.5",
]


def terminate_sessions(connection: psycopg.Connection[Any]) -> None:
    """End every session of the connection's database (only ours) but its own."""
    connection.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )


def set_read_only(connection: psycopg.Connection[Any], on: bool) -> None:
    name = sql.Identifier(connection.info.dbname)
    query = (
        "ALTER DATABASE {} SET default_transaction_read_only = on"
        if on
        else "ALTER DATABASE {} RESET default_transaction_read_only"
    )
    connection.execute(sql.SQL(query).format(name))
    terminate_sessions(connection)


def drained(db: Database, count: int) -> None:
    wait_until_sync(lambda: db.all_finished(count), DRAIN_TIMEOUT, "the jobs to drain")


def stop_all(workers: Workers) -> None:
    for worker in workers.started:
        if worker.popen.poll() is None:
            assert worker.stop() == 0, worker.log


def test_sessions_terminated_while_draining(
    db: Database, sync_app: procrastinate.App, workers: Workers, events_dir: Path
) -> None:
    started = [workers.start("--concurrency=4", *RECOVERY) for _ in range(3)]
    job_ids = defer_drain(sync_app, 120, sleep=0.3, locks=12)
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        terminate_sessions(db.connection)
        # About time: the pace of a storm of four seconds.
        time.sleep(0.2)

    drained(db, len(job_ids))
    tally(db, events_dir, job_ids, started).assert_zero()
    stop_all(workers)


def test_a_read_only_spell_while_draining(
    db: Database, sync_app: procrastinate.App, workers: Workers, events_dir: Path
) -> None:
    started = [workers.start("--concurrency=4", *RECOVERY) for _ in range(2)]
    job_ids = defer_drain(sync_app, 60, sleep=0.2, locks=8)
    wait_until_sync(lambda: bool(read_runs(events_dir)), 10, "the first job to start")
    set_read_only(db.connection, True)
    try:
        # Longer than the stalled timeout: no heartbeat goes through meanwhile,
        # which must not make the workers prune each other afterwards.
        time.sleep(3)
    finally:
        set_read_only(db.connection, False)

    drained(db, len(job_ids))
    tally(db, events_dir, job_ids, started).assert_zero()
    stop_all(workers)


def test_a_postgresql_restart_while_draining(
    private_cluster: PrivateCluster,
    private_db: str,
    events_dir: Path,
    tmp_path: Path,
) -> None:
    env = private_cluster.env(private_db)
    connection = psycopg.connect(
        host=env["PGHOST"], port=env["PGPORT"], dbname=private_db, autocommit=True
    )
    db = Database(connection=connection, name=private_db)
    cli = FaultsCli(env={**os.environ, **env, "FAULTS_EVENTS_DIR": str(events_dir)})
    workers = Workers(cli=cli, db=db, log_dir=tmp_path)
    app = procrastinate.App(
        connector=procrastinate.SyncPsycopgConnector(
            conninfo=f"host={env['PGHOST']} port={env['PGPORT']} dbname={private_db}",
            min_size=1,
        )
    )
    try:
        started = [workers.start("--concurrency=4", *RECOVERY) for _ in range(2)]
        with app.open():
            job_ids = defer_drain(app, 60, sleep=0.3, locks=8)
        wait_until_sync(lambda: len(read_runs(events_dir)) >= 4, 10, "jobs to start")
        connection.close()
        private_cluster.restart()
        restarted = time.time()
        db.connection = connection = psycopg.connect(
            host=env["PGHOST"], port=env["PGPORT"], dbname=private_db, autocommit=True
        )

        drained(db, len(job_ids))
        resumed = min(
            run.start for run in read_runs(events_dir) if run.start > restarted
        )
        print(f"first job start after the restart: {resumed - restarted:.2f} s")
        assert resumed - restarted < 5
        tally(db, events_dir, job_ids, started).assert_zero()
        stop_all(workers)
    finally:
        workers.close()
        connection.close()


def test_work_resumes_within_seconds_after_a_long_outage(
    private_cluster: PrivateCluster,
    private_db: str,
    events_dir: Path,
    tmp_path: Path,
) -> None:
    env = private_cluster.env(private_db)
    conninfo = f"host={env['PGHOST']} port={env['PGPORT']} dbname={private_db}"
    db = Database(
        connection=psycopg.connect(conninfo, autocommit=True), name=private_db
    )
    cli = FaultsCli(env={**os.environ, **env, "FAULTS_EVENTS_DIR": str(events_dir)})
    workers = Workers(cli=cli, db=db, log_dir=tmp_path)
    app = procrastinate.App(
        connector=procrastinate.SyncPsycopgConnector(conninfo=conninfo, min_size=1)
    )
    try:
        worker = workers.start("--fetch-job-polling-interval=0.5")
        db.connection.close()
        private_cluster.stop()
        # Long enough for the pool's own reconnection delay, left to its defaults,
        # to grow past 10 s.
        time.sleep(20)
        private_cluster.start()
        back = time.time()
        with app.open():
            job_ids = defer_drain(app, 1, sleep=0.2, locks=1)
        wait_until_sync(
            lambda: any(run.start > back for run in read_runs(events_dir)),
            30,
            "a job to start after the outage",
        )
        resumed = min(run.start for run in read_runs(events_dir) if run.start > back)
        print(f"first job start after a 20 s outage: {resumed - back:.2f} s")
        assert resumed - back < 4, worker.log
        db.connection = psycopg.connect(conninfo, autocommit=True)
        assert db.workers_count() == 1
        assert worker.stop() == 0, worker.log
        wait_until_sync(lambda: db.all_finished(len(job_ids)), 10, "the job to end")
    finally:
        workers.close()
        db.connection.close()


def test_a_worker_killed_with_sigkill(
    db: Database, sync_app: procrastinate.App, workers: Workers, events_dir: Path
) -> None:
    started = [workers.start("--concurrency=4", *RECOVERY) for _ in range(3)]
    job_ids = defer_drain(sync_app, 12, sleep=1.5, locks=12)
    wait_until_sync(lambda: bool(read_runs(events_dir)), 10, "a job to start")
    victim_pid = read_runs(events_dir)[0].pid
    (victim,) = [worker for worker in started if worker.popen.pid == victim_pid]
    victim.popen.kill()
    victim.popen.wait()
    rescuers = [worker for worker in started if worker is not victim]

    drained(db, len(job_ids))
    tally(db, events_dir, job_ids, rescuers).assert_zero()
    stop_all(workers)


def frozen_worker_scenario(
    db: Database, sync_app: procrastinate.App, workers: Workers, events_dir: Path
) -> Any:
    frozen = workers.start("--concurrency=2", *RECOVERY)
    # Long enough to outlast the freeze: the frozen copy is still running when its
    # worker wakes up to find the job recovered elsewhere.
    job_ids = defer_drain(sync_app, 2, sleep=6, locks=2)
    wait_until_sync(lambda: len(read_runs(events_dir)) == 2, 10, "the jobs to start")
    others = [workers.start("--concurrency=2", *RECOVERY) for _ in range(2)]
    job_ids += defer_drain(sync_app, 6, sleep=0.2, locks=2)
    frozen.popen.send_signal(signal.SIGSTOP)
    try:
        # Past the stalled timeout: the others prune it, recover its two jobs and
        # start them again.
        wait_until_sync(
            lambda: len(read_runs(events_dir)) >= 4, 20, "the jobs to be recovered"
        )
    finally:
        frozen.popen.send_signal(signal.SIGCONT)
    drained(db, len(job_ids))
    return tally(db, events_dir, job_ids, [frozen, *others]), frozen


def test_a_worker_frozen_past_the_stalled_timeout(
    db: Database, sync_app: procrastinate.App, workers: Workers, events_dir: Path
) -> None:
    counts, frozen = frozen_worker_scenario(db, sync_app, workers, events_dir)

    assert (counts.lost, counts.stuck, counts.run_twice, counts.workers_dead) == (
        [],
        [],
        [],
        [],
    )
    wait_until_sync(
        lambda: "registered again" in frozen.log, 10, "the frozen worker to re-register"
    )
    assert counts.run_twice_at_once == []
    stop_all(workers)


def test_a_second_signal_during_shutdown(
    db: Database, sync_app: procrastinate.App, workers: Workers, events_dir: Path
) -> None:
    first = workers.start("--concurrency=4", *RECOVERY)
    job_ids = defer_drain(sync_app, 12, sleep=2, locks=12)
    wait_until_sync(lambda: len(read_runs(events_dir)) == 4, 10, "four jobs to start")
    first.popen.send_signal(signal.SIGTERM)
    wait_until_sync(lambda: "Waiting for job" in first.log, 10, "the graceful stop")
    assert first.stop(signal.SIGTERM) == 0, first.log
    assert db.workers_count() == 0
    # The aborted jobs went back to their queue: the next worker runs them.
    second = workers.start("--concurrency=4", *RECOVERY)

    drained(db, len(job_ids))
    tally(db, events_dir, job_ids, [second]).assert_zero()
    stop_all(workers)
