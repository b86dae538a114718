"""A rolling upgrade from procrastinate 3.10, as an operator runs it: 3.10 workers and
ours share the database between the pre and the post migrations.

Procrastinate 3.10 runs from its own venv (:mod:`tests.procrastinate_310`); both
versions import the same app, ``tests/peer_app/peer_tasks.py``, whose ``record`` task
writes which job ran, and who ran it, to ``upgrade_runs``.
"""

from __future__ import annotations

import collections
import contextlib
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from procrastinate import schema
from tests import procrastinate_310
from tests.support.waiting import wait_until_sync

RUNS_DDL = "CREATE TABLE upgrade_runs (job_id bigint NOT NULL, runner text NOT NULL)"
OURS = Path(sys.executable)
WORKER_ARGS = ["--app", procrastinate_310.APP, "worker", "--fetch-job-polling-interval"]
JOBS_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
PAUSE = 0.02


class Upgrade:
    """The database being upgraded, and the processes running on it."""

    def __init__(self, dbname: str, migrations_dir: Path, logs: Path) -> None:
        self.dbname = dbname
        self.migrations_dir = migrations_dir
        self.logs = logs
        self.workers: dict[str, subprocess.Popen[bytes]] = {}

    def query(self, query: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(dbname=self.dbname, autocommit=True) as conn:
            return conn.execute(query).fetchall()

    def healthchecks(self) -> subprocess.CompletedProcess[str]:
        command = [
            "-m",
            "procrastinate",
            "--app",
            procrastinate_310.APP,
            "healthchecks",
        ]
        return subprocess.run(
            [str(OURS), *command],
            cwd=procrastinate_310.PEER_APP_DIR,
            env=procrastinate_310.peer_env(self.dbname),
            capture_output=True,
            text=True,
            timeout=procrastinate_310.TIMEOUT,
            check=False,
        )

    def start_worker(self, runner: str, python_path: Path) -> None:
        log = (self.logs / f"worker-{runner}.log").open("wb")
        self.workers[runner] = subprocess.Popen(
            [str(python_path), "-m", "procrastinate", *WORKER_ARGS, "0.2"],
            cwd=procrastinate_310.PEER_APP_DIR,
            env=procrastinate_310.peer_env(self.dbname, UPGRADE_RUNNER=runner),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def stop_worker(self, runner: str) -> None:
        process = self.workers.pop(runner)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=STOP_TIMEOUT) == 0, self.log(runner)

    def log(self, runner: str) -> str:
        return (self.logs / f"worker-{runner}.log").read_text(errors="replace")

    def problems(self, runner: str) -> list[str]:
        """The lines of a worker's log that report an error (a missing function of
        the schema, a notification it could not read...)."""
        return [
            line
            for line in self.log(runner).splitlines()
            if line.startswith(("ERROR", "CRITICAL", "WARNING", "Traceback"))
        ]

    def wait(self, predicate: Callable[[], bool], what: str) -> None:
        """Wait for ``predicate``; on timeout, fail with the jobs and the logs."""
        try:
            wait_until_sync(predicate, JOBS_TIMEOUT, what)
        except AssertionError as exc:
            logs = "\n".join(f"--- {name}\n{self.log(name)}" for name in self.workers)
            raise AssertionError(f"{exc}; jobs: {self.statuses()}\n{logs}") from None

    def wait_for_workers(self, count: int) -> None:
        self.wait(
            lambda: (
                self.query("SELECT count(*) FROM procrastinate_workers") == [(count,)]
            ),
            f"{count} registered workers",
        )

    def wait_for_jobs(self, count: int) -> None:
        self.wait(
            lambda: (
                self.query(
                    "SELECT count(*), count(*) FILTER (WHERE status IN ('todo', 'doing')) "
                    "FROM procrastinate_jobs"
                )
                == [(count, 0)]
            ),
            f"{count} finished jobs",
        )

    def statuses(self) -> collections.Counter[str]:
        rows = self.query("SELECT status::text FROM procrastinate_jobs")
        return collections.Counter(status for (status,) in rows)

    def runs(self) -> dict[int, list[str]]:
        runs: dict[int, list[str]] = collections.defaultdict(list)
        for job_id, runner in self.query("SELECT job_id, runner FROM upgrade_runs"):
            runs[job_id].append(runner)
        return runs

    def kill_all(self) -> None:
        for process in self.workers.values():
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait(timeout=STOP_TIMEOUT)


@pytest.fixture
def upgrade(db_factory: Any, tmp_path: Path) -> Iterator[Upgrade]:
    """A database of procrastinate 3.10 with the ``upgrade_runs`` table; its workers
    are killed at teardown whatever happened."""
    dbname = str(db_factory())
    procrastinate_310.apply_schema(dbname)
    migrations_dir = Path(schema.SchemaManager.get_migrations_path())
    state = Upgrade(dbname, migrations_dir, tmp_path)
    with psycopg.connect(dbname=dbname, autocommit=True) as conn:
        conn.execute(RUNS_DDL)
    yield state
    state.kill_all()


def test_rolling_upgrade_from_3_10(upgrade: Upgrade) -> None:
    before = procrastinate_310.defer(upgrade.dbname, 10, PAUSE)
    not_ready = upgrade.healthchecks()
    assert not_ready.returncode == 1, not_ready.stdout + not_ready.stderr
    assert "lacks the migration 03.10.00_01_pre_upgrade_from_3_10.sql" in (
        not_ready.stderr
    )

    procrastinate_310.apply_files(upgrade.dbname, upgrade.migrations_dir, "pre")
    assert "apply the post migrations" in upgrade.healthchecks().stdout
    upgrade.start_worker("3.10", procrastinate_310.python())
    upgrade.start_worker("ours", OURS)
    upgrade.wait_for_workers(2)
    side_by_side = [
        *procrastinate_310.defer(upgrade.dbname, 20, PAUSE),
        *procrastinate_310.defer(upgrade.dbname, 20, PAUSE, python_path=OURS),
    ]
    upgrade.wait_for_jobs(50)

    runs = upgrade.runs()
    assert upgrade.statuses() == {"succeeded": 50}
    assert sorted(runs) == sorted(before + side_by_side)
    assert all(len(runners) == 1 for runners in runs.values()), runs
    by_runner = collections.Counter(runner for [runner] in runs.values())
    assert set(by_runner) == {"3.10", "ours"}, by_runner

    upgrade.stop_worker("3.10")
    assert upgrade.problems("3.10") == []
    procrastinate_310.apply_files(upgrade.dbname, upgrade.migrations_dir, "post")
    assert upgrade.healthchecks().stdout.splitlines()[-1] == "Migrations: OK"
    after = procrastinate_310.defer(upgrade.dbname, 10, python_path=OURS)
    upgrade.wait_for_jobs(60)
    upgrade.stop_worker("ours")
    assert upgrade.problems("ours") == []

    runs = upgrade.runs()
    assert upgrade.statuses() == {"succeeded": 60}
    assert [runs[job_id] for job_id in after] == [["ours"]] * 10
    assert len(runs) == 60
