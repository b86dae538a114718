"""Runs the workloads against each contestant, interleaved, each on a fresh database.

A contestant is a queue library and the interpreter of the venv that holds it: ours is
this repository's ``.venv``, the peers come from :mod:`tests.peer_venvs`. Its driver
(``drivers/``) runs in a subprocess per phase. Around the measured phase, the harness
reads the server's transaction counters of the benchmark database from another
database (``postgres``), so its own queries are never counted; it reads them once every
connection of the measured process has closed, when the server has flushed that
process's statistics.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from tests import peer_venvs

DRIVERS = Path(__file__).parent / "drivers"
WORKER_WORKLOADS = ("worker-async", "worker-sync", "finished")
WORKLOADS = (
    "worker-async",
    "worker-sync",
    "defer-one",
    "batch-defer",
    "latency",
    "finished",
)
VERSION = (
    "import importlib.metadata, sys; print(importlib.metadata.version(sys.argv[1]))"
)
# From this many finished jobs on, a clone copies files (one checkpoint) rather than
# writing every page through the WAL.
FILE_COPY_ROWS = 1_000_000


class HarnessError(RuntimeError):
    """A benchmark could not run; the message says what failed and what to do."""


@dataclasses.dataclass(frozen=True)
class Contestant:
    """A queue library under test and how to run its driver."""

    name: str
    driver: str
    package: str
    requirements: tuple[str, ...] = ()
    # pgqueuer keeps no finished jobs in its queue table.
    fills: bool = True
    #: A folder whose package is imported instead of the venv's: this repository's
    #: package at another commit (see :func:`baseline`), run with ours' venv.
    source: Path | None = None

    def python(self) -> Path:
        """The interpreter of the contestant's venv, built on first use.

        :raises HarnessError: when the peer's venv cannot be installed.
        """
        if not self.requirements:
            return Path(sys.executable)
        try:
            return peer_venvs.peer_python(f"bench-{self.name}", self.requirements)
        except peer_venvs.PeerVenvError as error:
            raise HarnessError(
                f"{error}; rerun with --contestants ours to measure ours only"
            ) from None

    def workloads(self, wanted: Sequence[str]) -> list[str]:
        """The workloads of ``wanted`` that apply to this contestant."""
        return [w for w in wanted if self.fills or w != "finished"]


OURS = Contestant("ours", "procrastinate_driver.py", "procrastinate")
REPO = Path(__file__).resolve().parents[3]


def baseline(ref: str) -> Contestant:
    """Ours as of the git commit ``ref`` (e.g. ``main``), for an A/B comparison of
    a change: its package is extracted into ``.tmp/baseline/<commit>`` and run with
    ours' venv (so its dependencies are ours).

    :raises HarnessError: when ``ref`` names no commit.
    """
    found = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode:
        raise HarnessError(f"--baseline {ref!r} is not a commit of this repository")
    commit = found.stdout.strip()
    folder = REPO / ".tmp" / "baseline" / commit
    if not (folder / "procrastinate").is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", commit, "procrastinate"],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        subprocess.run(
            ["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True
        )
    return dataclasses.replace(OURS, name=f"ours@{ref}", source=folder)


CONTESTANTS = {
    contestant.name: contestant
    for contestant in (
        OURS,
        Contestant(
            "procrastinate-3.10",
            "procrastinate_driver.py",
            "procrastinate",
            ("procrastinate==3.10.0", "psycopg[binary,pool]>=3.1.13"),
        ),
        Contestant(
            "pgqueuer-1.6",
            "pgqueuer_driver.py",
            "pgqueuer",
            ("pgqueuer[asyncpg]==1.6.0",),
            fills=False,
        ),
    )
}


@dataclasses.dataclass(frozen=True)
class Counts:
    """How many jobs each workload handles, and how many finished jobs fill the table
    of the ``finished`` workload."""

    worker: int = 5_000
    defer_one: int = 2_000
    batch_defer: int = 50_000
    latency: int = 300
    finished_rows: int = 10_000_000

    def jobs(self, workload: str) -> int:
        """The job count of one workload."""
        if workload in WORKER_WORKLOADS:
            return self.worker
        return int(getattr(self, workload.replace("-", "_")))


QUICK = Counts(
    worker=1_000, defer_one=500, batch_defer=10_000, latency=100, finished_rows=100_000
)


@dataclasses.dataclass
class Run:
    """The figures of one workload run by one contestant."""

    contestant: str
    workload: str
    repetition: int
    jobs: int
    seconds: float
    cpu_seconds: float
    transactions: int | None
    load_average: float
    p50_ms: float | None = None
    p99_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The run as a JSON object."""
        return dataclasses.asdict(self)

    def describe(self) -> str:
        """One line of progress."""
        if self.p50_ms is not None:
            figure = f"p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms"
        else:
            figure = f"{self.jobs / self.seconds:,.0f} jobs/s"
        return f"{self.workload:<12} {self.contestant:<18} {figure}"


def _admin() -> psycopg.Connection[Any]:
    return psycopg.connect(dbname="postgres", autocommit=True)


class Databases:
    """The databases of one comparison, all dropped at the end."""

    def __init__(self) -> None:
        self.prefix = f"procrastinate_bench_{os.getpid()}"
        self.counter = itertools.count()
        self.created: list[str] = []

    def create(self, template: str | None = None, *, file_copy: bool = False) -> str:
        """A new database, empty or cloned from ``template``; a large template is
        copied file by file (much faster than through the WAL)."""
        name = f"{self.prefix}_{next(self.counter)}"
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            wait_idle(template)
            query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
        if file_copy:
            query = sql.SQL("{} STRATEGY FILE_COPY").format(query)
        with _admin() as conn:
            conn.execute(query)
        self.created.append(name)
        return name

    def drop(self, name: str) -> None:
        """Drop one database of the comparison."""
        with _admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )
        self.created.remove(name)

    def drop_all(self) -> None:
        """Drop the databases created so far, clones before their templates."""
        while self.created:
            self.drop(self.created[-1])


def wait_idle(database: str, timeout: float = 60) -> None:
    """Wait until no client is connected to ``database``: the measured process has
    exited and the server has flushed its statistics (autovacuum may still be there).

    :raises HarnessError: when sessions are still there after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    with _admin() as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = %s AND backend_type = 'client backend'",
                (database,),
            ).fetchone()
            if row and not row[0]:
                return
            time.sleep(0.02)
    raise HarnessError(f"sessions still connected to {database} after {timeout:.0f}s")


def analyze(database: str) -> None:
    """Give the planner the statistics that autovacuum keeps up to date in
    production, whatever the library's tables."""
    with psycopg.connect(dbname=database, autocommit=True) as conn:
        conn.execute("ANALYZE")


def transactions(database: str) -> int:
    """Committed plus rolled back transactions of ``database`` so far."""
    with _admin() as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database "
            "WHERE datname = %s",
            (database,),
        ).fetchone()
    return int(row[0]) if row else 0


def server_settings() -> dict[str, str]:
    """The server's version and the settings that shape the figures."""
    with _admin() as conn:
        return {
            name: str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
            for name in ("server_version", "synchronous_commit", "shared_buffers")
        }


class Harness:
    """Runs drivers and collects their figures."""

    def __init__(self, counts: Counts, log: Any = sys.stderr) -> None:
        self.counts = counts
        self.log = log
        self.databases = Databases()
        self.pythons: dict[str, Path] = {}
        self.contestants: dict[str, Contestant] = {}
        self.templates: dict[tuple[str, str], str] = {}

    def driver(
        self, contestant: Contestant, database: str, *args: str
    ) -> dict[str, Any]:
        """Run one phase of the contestant's driver on ``database``; its result line.

        :raises HarnessError: when the driver fails; the message ends with its last
            line of error output.
        """
        command = [
            str(self.pythons[contestant.name]),
            str(DRIVERS / contestant.driver),
            *args,
        ]
        env = {**os.environ, "PGDATABASE": database}
        env.pop("PYTHONPATH", None)
        if contestant.source is not None:
            env["PYTHONPATH"] = str(contestant.source)
        result = subprocess.run(
            command, env=env, capture_output=True, text=True, check=False
        )
        if result.returncode:
            tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise HarnessError(
                f"{contestant.name}: driver {' '.join(args)} failed: {tail}"
            )
        lines = result.stdout.strip().splitlines()
        return dict(json.loads(lines[-1])) if lines else {}

    def prepare(
        self, contestants: Sequence[Contestant], workloads: Sequence[str]
    ) -> None:
        """Install the venvs, and build each contestant's template databases: its
        schema, and its schema with the finished jobs."""
        for contestant in contestants:
            self.pythons[contestant.name] = contestant.python()
            self.contestants[contestant.name] = contestant
            schema = self.databases.create()
            self.driver(contestant, schema, "install")
            self.templates[contestant.name, "schema"] = schema
            if "finished" in contestant.workloads(workloads):
                self.say(
                    f"{contestant.name}: {self.counts.finished_rows:,} finished jobs"
                )
                filled = self.databases.create(schema)
                self.driver(
                    contestant, filled, "fill", "--jobs", str(self.counts.finished_rows)
                )
                self.templates[contestant.name, "finished"] = filled

    def versions(self) -> dict[str, str]:
        """The installed version of each prepared contestant's package."""
        found = {}
        for name, python in self.pythons.items():
            contestant = self.contestants[name]
            if contestant.source is not None:
                # Its metadata is that of the installed package, ours.
                found[name] = contestant.source.name
                continue
            found[name] = subprocess.run(
                [str(python), "-c", VERSION, contestant.package],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        return found

    def fresh_database(self, contestant: Contestant, workload: str) -> str:
        """A new database for one run, cloned from the contestant's template."""
        if workload == "finished":
            template = self.templates[contestant.name, "finished"]
            large = self.counts.finished_rows >= FILE_COPY_ROWS
            return self.databases.create(template, file_copy=large)
        return self.databases.create(self.templates[contestant.name, "schema"])

    def run(self, contestant: Contestant, workload: str, repetition: int) -> Run:
        """One measured run on a fresh database.

        :raises HarnessError: when the driver fails or did not handle every job.
        """
        jobs = self.counts.jobs(workload)
        database = self.fresh_database(contestant, workload)
        phase_args = ("--jobs", str(jobs))
        if workload in WORKER_WORKLOADS:
            self.driver(contestant, database, "prepare", workload, *phase_args)
            analyze(database)
        wait_idle(database)
        before = transactions(database)
        result = self.driver(contestant, database, "run", workload, *phase_args)
        wait_idle(database)
        count = transactions(database) - before
        # Clones of the finished jobs' template are large: one at a time on disk.
        self.databases.drop(database)
        if result.get("jobs") != jobs:
            raise HarnessError(
                f"{contestant.name}: {workload} handled {result.get('jobs')} of "
                f"{jobs} jobs"
            )
        return Run(
            contestant=contestant.name,
            workload=workload,
            repetition=repetition,
            jobs=jobs,
            seconds=result["seconds"],
            cpu_seconds=result["cpu_seconds"],
            transactions=None if workload == "latency" else count,
            load_average=os.getloadavg()[0],
            p50_ms=result.get("p50_ms"),
            p99_ms=result.get("p99_ms"),
        )

    def compare(
        self,
        contestants: Sequence[Contestant],
        workloads: Sequence[str],
        repeat: int,
    ) -> list[Run]:
        """Every workload, ``repeat`` times, contestants interleaved (A, B, C, A, B,
        C...) so that a change of the box's load hits them all alike."""
        runs: list[Run] = []
        with self.cleanup():
            self.prepare(contestants, workloads)
            for repetition, workload in itertools.product(range(repeat), workloads):
                for contestant in contestants:
                    if workload not in contestant.workloads(workloads):
                        continue
                    run = self.run(contestant, workload, repetition)
                    self.say(f"{repetition + 1}/{repeat} {run.describe()}")
                    runs.append(run)
        return runs

    @contextmanager
    def cleanup(self) -> Iterator[None]:
        """Drop every database of the comparison on the way out, failed or not."""
        try:
            yield
        finally:
            self.databases.drop_all()

    def say(self, message: str) -> None:
        """One line of progress on standard error."""
        print(message, file=self.log, flush=True)
