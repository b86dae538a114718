"""What the fault suite counts, and the tools it hurts the database with.

See the docstring of ``conftest.py`` for the counts (:func:`tally`).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import procrastinate
from tests.support import commands, records

FAULTS_APP = "tests.faults.app.app"
DRAIN = "tests.faults.app.drain"
SCRIPTS_DIR = Path(__file__).resolve().parents[2] / "scripts"


class FaultsCli(commands.Cli):
    """The command line on the fault suite's app."""

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(env, app_path=FAULTS_APP)


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
    db: records.Database,
    events_dir: Path,
    job_ids: Sequence[int],
    workers: Sequence[commands.WorkerProcess],
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


# A private PostgreSQL cluster, for the faults that would hurt the shared server


@dataclasses.dataclass
class PrivateCluster:
    """A cluster of our own, started by scripts/devdb.py on a free port."""

    state_dir: Path
    host: str
    port: int

    def restart(self) -> None:
        devdb = import_devdb()
        cluster = devdb.load_state(self.state_dir).cluster
        # With its log in a file: else the server would hold pg_ctl's output open.
        log = str(self.state_dir / devdb.SERVER_LOG)
        result = devdb.pg_ctl(
            cluster, "restart", "-m", "fast", "-w", "-t", "30", "-l", log
        )
        assert result.returncode == 0, result.stderr

    def stop(self) -> None:
        devdb = import_devdb()
        cluster = devdb.load_state(self.state_dir).cluster
        result = devdb.pg_ctl(cluster, "stop", "-m", "fast", "-w", "-t", "30")
        assert result.returncode == 0, result.stderr

    def start(self) -> None:
        devdb = import_devdb()
        cluster = devdb.load_state(self.state_dir).cluster
        log = str(self.state_dir / devdb.SERVER_LOG)
        result = devdb.pg_ctl(cluster, "start", "-w", "-t", "30", "-l", log)
        assert result.returncode == 0, result.stderr

    def connection_params(self) -> dict[str, Any]:
        """The libpq keywords of the cluster, but the database name."""
        return {"host": self.host, "port": self.port, "user": "postgres"}

    def env(self, dbname: str) -> dict[str, str]:
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": "postgres",
            "PGDATABASE": dbname,
        }


def import_devdb() -> Any:
    if str(SCRIPTS_DIR) not in sys.path:
        sys.path.insert(0, str(SCRIPTS_DIR))
    import devdb

    return devdb
