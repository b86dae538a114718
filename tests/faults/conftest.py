"""The fault suite: real ``procrastinate worker`` processes drain jobs while the
database or the workers suffer faults; then the jobs are counted.

Every test of this folder is marked ``faults`` (select them with ``-m faults``). The
counts (:func:`tally`) must all be zero:

- **lost**: a deferred job that is gone, or that ended ``failed``, ``aborted`` or
  ``cancelled`` (every fault here is recoverable, and the task retries);
- **stuck**: a job still ``todo`` or ``doing`` once the workers had time to drain;
- **run twice**: a job whose task ran to its end more than once;
- **run twice at once**: two completed runs of jobs sharing a lock (the same job
  included) that overlap in time;
- **workers dead**: a worker process that exited without being asked to.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

import procrastinate
from procrastinate import schema
from tests.acceptance.conftest import Cli, Database, WorkerProcess, Workers

FAULTS_APP = "tests.faults.app.app"
DRAIN = "tests.faults.app.drain"
SCRIPTS_DIR = Path(__file__).resolve().parents[2] / "scripts"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.faults)


class FaultsCli(Cli):
    """The command line on the fault suite's app."""

    def command(self, args: Sequence[str], app: bool = True) -> list[str]:
        prefix = [sys.executable, "-m", "procrastinate"]
        return [*prefix, f"--app={FAULTS_APP}", *args] if app else [*prefix, *args]


@dataclasses.dataclass(frozen=True)
class Run:
    """One run of a job by one process, as its events file tells."""

    job: int
    attempt: int
    pid: int
    start: float
    end: float | None


@dataclasses.dataclass
class Tally:
    lost: list[int]
    stuck: list[int]
    run_twice: list[int]
    run_twice_at_once: list[tuple[int, int]]
    workers_dead: list[int]

    def assert_zero(self) -> None:
        assert dataclasses.asdict(self) == {
            "lost": [],
            "stuck": [],
            "run_twice": [],
            "run_twice_at_once": [],
            "workers_dead": [],
        }


def read_runs(events_dir: Path) -> list[Run]:
    starts: dict[tuple[int, int, int], float] = {}
    ends: dict[tuple[int, int, int], float] = {}
    for path in events_dir.glob("events-*.jsonl"):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue  # a process killed mid-write
            event = json.loads(line)
            key = (event["job"], event["attempt"], event["pid"])
            (starts if event["event"] == "start" else ends)[key] = event["at"]
    return [
        Run(job=job, attempt=attempt, pid=pid, start=start, end=ends.get(key))
        for key, start in starts.items()
        for job, attempt, pid in [key]
    ]


def tally(
    db: Database,
    events_dir: Path,
    job_ids: Sequence[int],
    workers: Sequence[WorkerProcess],
) -> Tally:
    """Count what went wrong (see the module docstring)."""
    rows = {row["id"]: row for row in db.jobs()}
    finished_badly = {"failed", "aborted", "cancelled"}
    lost = [
        job_id
        for job_id in job_ids
        if job_id not in rows or rows[job_id]["status"] in finished_badly
    ]
    stuck = [
        job_id
        for job_id in job_ids
        if job_id in rows and rows[job_id]["status"] in ("todo", "doing")
    ]
    completed = [run for run in read_runs(events_dir) if run.end is not None]
    per_job: dict[int, list[Run]] = {}
    for run in completed:
        per_job.setdefault(run.job, []).append(run)
    run_twice = sorted(job for job, runs in per_job.items() if len(runs) > 1)
    per_lock: dict[str, list[Run]] = {}
    for run in completed:
        lock = rows.get(run.job, {}).get("lock")
        if lock is not None:
            per_lock.setdefault(lock, []).append(run)
    at_once = sorted(
        (first.job, second.job)
        for runs in per_lock.values()
        for first, second in itertools.combinations(runs, 2)
        if first.start < (second.end or 0) and second.start < (first.end or 0)
    )
    dead = [worker.popen.pid for worker in workers if worker.popen.poll() is not None]
    return Tally(
        lost=lost,
        stuck=stuck,
        run_twice=run_twice,
        run_twice_at_once=at_once,
        workers_dead=dead,
    )


def defer_drain(
    app: procrastinate.App, count: int, *, sleep: float, locks: int
) -> list[int]:
    """Defer ``count`` jobs of ``drain``, spread over ``locks`` locks."""
    ids: list[int] = []
    for index in range(count):
        deferrer = app.configure_task(DRAIN, lock=f"lock-{index % locks}")
        ids.append(deferrer.defer(sleep=sleep))
    return ids


@pytest.fixture
def events_dir(tmp_path: Path) -> Path:
    path = tmp_path / "events"
    path.mkdir()
    return path


@pytest.fixture
def faults_env(db_env: dict[str, str], events_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in db_env.items()
        if not key.startswith("PROCRASTINATE_")
    }
    return {**env, "FAULTS_EVENTS_DIR": str(events_dir)}


@pytest.fixture
def db(connection: psycopg.Connection[Any], db_name: str) -> Database:
    return Database(connection=connection, name=db_name)


@pytest.fixture
def workers(
    faults_env: dict[str, str], db: Database, tmp_path: Path
) -> Iterator[Workers]:
    started = Workers(cli=FaultsCli(env=faults_env), db=db, log_dir=tmp_path)
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def sync_app(conninfo: str) -> Iterator[procrastinate.App]:
    app = procrastinate.App(
        connector=procrastinate.SyncPsycopgConnector(conninfo=conninfo, min_size=1)
    )
    with app.open():
        yield app


# A private PostgreSQL cluster, for the faults that would hurt the shared server


@dataclasses.dataclass
class PrivateCluster:
    """A cluster of our own, started by scripts/devdb.py on a free port."""

    state_dir: Path
    host: str
    port: int

    def restart(self) -> None:
        devdb = _import_devdb()
        cluster = devdb.load_state(self.state_dir).cluster
        # With its log in a file: else the server would hold pg_ctl's output open.
        log = str(self.state_dir / devdb.SERVER_LOG)
        result = devdb.pg_ctl(
            cluster, "restart", "-m", "fast", "-w", "-t", "30", "-l", log
        )
        assert result.returncode == 0, result.stderr

    def stop(self) -> None:
        devdb = _import_devdb()
        cluster = devdb.load_state(self.state_dir).cluster
        result = devdb.pg_ctl(cluster, "stop", "-m", "fast", "-w", "-t", "30")
        assert result.returncode == 0, result.stderr

    def start(self) -> None:
        devdb = _import_devdb()
        cluster = devdb.load_state(self.state_dir).cluster
        log = str(self.state_dir / devdb.SERVER_LOG)
        result = devdb.pg_ctl(cluster, "start", "-w", "-t", "30", "-l", log)
        assert result.returncode == 0, result.stderr

    def env(self, dbname: str) -> dict[str, str]:
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": "postgres",
            "PGDATABASE": dbname,
        }


def _import_devdb() -> Any:
    if str(SCRIPTS_DIR) not in sys.path:
        sys.path.insert(0, str(SCRIPTS_DIR))
    import devdb

    return devdb


@pytest.fixture(scope="session")
def private_cluster() -> Iterator[PrivateCluster]:
    devdb = _import_devdb()
    if devdb.find_local_bin_dir() is None:
        pytest.skip(
            "no local PostgreSQL binaries (initdb, pg_ctl): install Debian's "
            "postgresql package to run the restart faults"
        )
    # Reachable by the cluster's unprivileged user, unlike pytest's tmp_path.
    state_dir = Path(tempfile.mkdtemp(prefix="procrastinate-faults-"))
    try:
        server = devdb.up(state_dir, force="local-binaries")
        yield PrivateCluster(state_dir=state_dir, host=server.host, port=server.port)
    finally:
        devdb.down(state_dir, remove=True)
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture
def private_db(private_cluster: PrivateCluster) -> str:
    """A database with the schema on the private cluster."""
    name = f"faults_{os.getpid()}"
    env = private_cluster.env("postgres")
    with psycopg.connect(
        host=env["PGHOST"], port=env["PGPORT"], user="postgres", autocommit=True
    ) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)
            )
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(
        host=env["PGHOST"], port=env["PGPORT"], dbname=name, autocommit=True
    ) as conn:
        conn.execute(schema.SchemaManager.get_schema())
    return name
