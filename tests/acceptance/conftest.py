"""Fixtures of the acceptance suite: the real ``procrastinate`` command, in subprocesses.

Each test gets a fresh database holding the procrastinate schema plus the
``acceptance_events`` table where the tasks of tests/acceptance/app.py record what
they do. Commands run with the test's ``PG*`` environment from the repository root, so
that ``--app=tests.acceptance.app.app`` imports. Workers started with :class:`Workers`
are killed at teardown whatever happened, and their logs are printed there (pytest
shows them for failed tests).
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

import procrastinate
from procrastinate import sync_psycopg_connector

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_PATH = "tests.acceptance.app.app"
TASKS = "tests.acceptance.app"
# "procrastinate: error: ..." or, for a usage error, "procrastinate defer: error: ...".
ERROR_LINE = re.compile(r"^procrastinate( [a-z]+)?: error: ")
POLL_INTERVAL = 0.05
COMMAND_TIMEOUT = 30.0

WaitUntil = Callable[[Callable[[], bool], float, str], None]

EVENTS_DDL = """
    CREATE TABLE acceptance_events (
        id bigserial PRIMARY KEY,
        job_id bigint NOT NULL,
        task text NOT NULL,
        event text NOT NULL,
        pid integer NOT NULL,
        -- clock_timestamp, not now(): several events of one transaction must differ.
        at timestamptz NOT NULL DEFAULT clock_timestamp()
    )
"""


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` until it holds.

    :raises AssertionError: it still does not hold after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout} s waiting for {what}")
        time.sleep(POLL_INTERVAL)


# The database


@dataclasses.dataclass(frozen=True)
class Span:
    """One job's run as recorded by the ``track`` task."""

    job_id: int
    start: datetime.datetime
    end: datetime.datetime | None
    pid: int


@dataclasses.dataclass
class Database:
    """Reads the test database: jobs, task events, workers, connections."""

    connection: psycopg.Connection[Any]
    name: str

    def rows(self, query: str, **params: Any) -> list[dict[str, Any]]:
        with self.connection.cursor(row_factory=dict_row) as cursor:
            cursor.execute(query, params)
            return cursor.fetchall()

    def value(self, query: str, **params: Any) -> Any:
        rows = self.rows(query, **params)
        return next(iter(rows[0].values())) if rows else None

    def jobs(self) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM procrastinate_jobs ORDER BY id")

    def job(self, job_id: int) -> dict[str, Any]:
        (job,) = self.rows(
            "SELECT * FROM procrastinate_jobs WHERE id = %(id)s", id=job_id
        )
        return job

    def count_jobs(self) -> int:
        return int(self.value("SELECT count(*) FROM procrastinate_jobs"))

    def statuses(self) -> dict[int, str]:
        return {job["id"]: job["status"] for job in self.jobs()}

    def all_finished(self, count: int) -> bool:
        """Whether ``count`` jobs exist and none is waiting or running."""
        statuses = self.statuses()
        return len(statuses) == count and not {"todo", "doing"} & set(statuses.values())

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        """Task events in the order they happened."""
        return self.rows(
            "SELECT * FROM acceptance_events "
            "WHERE %(event)s::text IS NULL OR event = %(event)s ORDER BY at, id",
            event=event,
        )

    def job_events(self, job_id: int) -> list[str]:
        """The events procrastinate itself stored for a job (procrastinate_events)."""
        rows = self.rows(
            "SELECT type::text FROM procrastinate_events "
            "WHERE job_id = %(id)s ORDER BY id",
            id=job_id,
        )
        return [row["type"] for row in rows]

    def spans(self) -> list[Span]:
        """The runs of ``track`` jobs, in the order they started."""
        rows = self.rows(
            """
            SELECT job_id,
                min(at) FILTER (WHERE event = 'start') AS start,
                max(at) FILTER (WHERE event = 'end') AS end,
                min(pid) AS pid
            FROM acceptance_events
            GROUP BY job_id
            ORDER BY start, job_id
            """
        )
        return [Span(**row) for row in rows]

    def deferred_at(self, job_id: int) -> datetime.datetime:
        """When the job was deferred, by the database clock."""
        return self.value(  # type: ignore[no-any-return]
            "SELECT at FROM procrastinate_events "
            "WHERE job_id = %(id)s AND type = 'deferred'",
            id=job_id,
        )

    def now(self) -> datetime.datetime:
        return self.value("SELECT clock_timestamp()")  # type: ignore[no-any-return]

    def workers_count(self) -> int:
        return int(self.value("SELECT count(*) FROM procrastinate_workers"))

    def listening_connections(self) -> int:
        """Connections to this database whose last statement was a LISTEN."""
        return int(
            self.value(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = %(name)s AND query ILIKE 'LISTEN %%'",
                name=self.name,
            )
        )


def count_tables(dbname: str) -> int:
    """Number of tables in the public schema of a database."""
    with psycopg.connect(dbname=dbname, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'public'"
        ).fetchone()
    assert row is not None
    return int(row[0])


# The command line


@dataclasses.dataclass(frozen=True)
class Result:
    """What a finished ``procrastinate`` command did."""

    args: Sequence[str]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return (
            f"{' '.join(self.args[2:])}\nexit code {self.returncode}\n"
            f"--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}"
        )

    def check(self) -> Result:
        """Assert the command succeeded."""
        assert self.returncode == 0, str(self)
        return self

    def error_line(self) -> str:
        """
        Assert the command failed the way a CLI should: exit code 1, no traceback,
        exactly one error line on stderr. Returns that line.
        """
        assert self.returncode == 1, str(self)
        assert "Traceback" not in self.stderr, str(self)
        errors = [line for line in self.stderr.splitlines() if ERROR_LINE.match(line)]
        assert len(errors) == 1, str(self)
        return errors[0]


class Cli:
    """Runs ``python -m procrastinate`` from the repository root."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def command(self, args: Sequence[str], app: bool = True) -> list[str]:
        prefix = [sys.executable, "-m", "procrastinate"]
        return [*prefix, f"--app={APP_PATH}", *args] if app else [*prefix, *args]

    def popen(
        self,
        args: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        app: bool = True,
        log: IO[bytes] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start a command; its output goes to ``log`` (merged) or to pipes."""
        return subprocess.Popen(
            self.command(args, app),
            cwd=REPO_ROOT,
            env=self.env if env is None else env,
            stdin=subprocess.DEVNULL,
            stdout=log or subprocess.PIPE,
            stderr=subprocess.STDOUT if log else subprocess.PIPE,
        )

    def __call__(
        self, *args: str, env: dict[str, str] | None = None, app: bool = True
    ) -> Result:
        """Run one command to its end."""
        (result,) = self.many([args], env=env, app=app)
        return result

    def many(
        self,
        commands: Sequence[Sequence[str]],
        *,
        env: dict[str, str] | None = None,
        envs: Sequence[dict[str, str]] | None = None,
        app: bool = True,
    ) -> list[Result]:
        """
        Run independent commands at the same time and wait for all of them: a
        command mostly spends its time starting Python. ``envs`` gives each command
        its own environment.
        """
        envs = envs or [env or self.env] * len(commands)
        processes = [
            self.popen(args, env=cmd_env, app=app)
            for args, cmd_env in zip(commands, envs, strict=True)
        ]
        try:
            return [_communicate(process) for process in processes]
        finally:
            # After a failure, the other commands must not outlive the test.
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()


def _communicate(process: subprocess.Popen[bytes]) -> Result:
    try:
        stdout, stderr = process.communicate(timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        raise AssertionError(
            f"{process.args!r} did not end within {COMMAND_TIMEOUT} s:\n"
            f"{stdout.decode()}{stderr.decode()}"
        ) from None
    return Result(
        args=[str(arg) for arg in process.args],  # type: ignore[union-attr]
        returncode=process.returncode,
        stdout=stdout.decode(),
        stderr=stderr.decode(),
    )


# Workers running in the background


@dataclasses.dataclass
class WorkerProcess:
    """A ``procrastinate worker`` subprocess, its output going to a log file."""

    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 15) -> int:
        """Send ``sig`` and wait for the worker to exit; returns its exit code."""
        self.popen.send_signal(sig)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"The worker did not stop within {timeout} s of {sig.name}:\n{self.log}"
            ) from None


class Workers:
    """Starts workers in the background; :meth:`close` kills those still running."""

    def __init__(self, cli: Cli, db: Database, log_dir: Path) -> None:
        self.cli = cli
        self.db = db
        self.log_dir = log_dir
        self.started: list[WorkerProcess] = []

    def start(self, *args: str, env: dict[str, str] | None = None) -> WorkerProcess:
        """
        Start ``procrastinate worker <args>`` and wait until it has registered in the
        database, i.e. until it is about to fetch jobs.
        """
        registered = self.db.workers_count()
        log_path = self.log_dir / f"worker-{len(self.started)}.log"
        with log_path.open("wb") as log:
            popen = self.cli.popen(["worker", *args], env=env, log=log)
        worker = WorkerProcess(popen=popen, log_path=log_path)
        self.started.append(worker)

        def ready() -> bool:
            if popen.poll() is not None:
                raise AssertionError(f"The worker exited early:\n{worker.log}")
            return self.db.workers_count() > registered

        wait_until(ready, timeout=15, what="the worker to register")
        return worker

    def close(self) -> None:
        for index, worker in enumerate(self.started):
            if worker.popen.poll() is None:
                worker.popen.kill()
            worker.popen.wait()
            print(f"--- worker {index} (exit code {worker.popen.returncode}) ---")
            print(worker.log)


# Deferring through the library, for tests about workers


class Deferrer:
    """Defers jobs of the acceptance tasks with the library API (not the CLI)."""

    def __init__(self, app: procrastinate.App) -> None:
        self.app = app

    def __call__(self, task: str, *task_kwargs: Any, **options: Any) -> list[int]:
        """Defer one job per dict of arguments (one job without arguments when none
        is given) of ``tests.acceptance.app.<task>``, in one query."""
        deferrer = self.app.configure_task(f"{TASKS}.{task}", **options)
        return deferrer.batch_defer(*(task_kwargs or ({},)))


# Fixtures


def _admin_execute(query: sql.Composed) -> None:
    with psycopg.connect(dbname="postgres", autocommit=True) as conn:
        conn.execute(query)


@pytest.fixture(scope="session")
def acceptance_template_db(template_db: str) -> Iterator[str]:
    """The template database of the whole run, plus the events table."""
    name = f"{template_db}_acceptance"
    _admin_execute(
        sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template_db)
        )
    )
    try:
        with psycopg.connect(dbname=name, autocommit=True) as conn:
            conn.execute(EVENTS_DDL)
        yield name
    finally:
        _admin_execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)
            )
        )


@pytest.fixture
def db_name(db_factory: Any, acceptance_template_db: str) -> str:
    """A fresh database with the procrastinate schema and the events table."""
    return str(db_factory(template=acceptance_template_db))


@pytest.fixture
def db(connection: psycopg.Connection[Any], db_name: str) -> Database:
    return Database(connection=connection, name=db_name)


@pytest.fixture
def cli(db_env: dict[str, str]) -> Cli:
    """The command line on the test database."""
    return Cli(env=db_env)


@pytest.fixture
def offline_cli(unreachable_env: dict[str, str]) -> Cli:
    """The command line with no database to talk to (and none created)."""
    return Cli(env=unreachable_env)


@pytest.fixture
def empty_env(empty_db_name: str) -> dict[str, str]:
    """The environment of a command on a database without any schema."""
    return {**os.environ, "PGDATABASE": empty_db_name}


@pytest.fixture
def empty_cli(empty_env: dict[str, str]) -> Cli:
    """The command line on a database without any schema."""
    return Cli(env=empty_env)


@pytest.fixture(name="count_tables")
def count_tables_fixture() -> Callable[[str], int]:
    """:func:`count_tables`, for the tests."""
    return count_tables


@pytest.fixture
def workers(cli: Cli, db: Database, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(cli=cli, db=db, log_dir=tmp_path)
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def defer(
    sync_connector_open: sync_psycopg_connector.SyncPsycopgConnector,
) -> Deferrer:
    return Deferrer(procrastinate.App(connector=sync_connector_open))


@pytest.fixture(name="wait_until")
def wait_until_fixture() -> WaitUntil:
    """:func:`wait_until`, for the tests."""
    return wait_until


@pytest.fixture
def closed_port() -> int:
    """A local TCP port on which nothing listens (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def unreachable_env(closed_port: int) -> dict[str, str]:
    """An environment where PostgreSQL is expected on a closed port."""
    return {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(closed_port)}


@pytest.fixture(autouse=True)
def _isolated_from_caller_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A PROCRASTINATE_* variable in the developer's shell would change every command.
    # Autouse fixtures run first, so db_env copies the cleaned environment.
    for name in list(os.environ):
        if name.startswith("PROCRASTINATE_"):
            monkeypatch.delenv(name)
