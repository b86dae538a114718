"""How fast concurrent workers get through short jobs: bounds that the test suites used
to check, where a loaded machine made them fail for no fault of the code.

The tests keep what is not about speed (every job ran once and succeeded, all the jobs
of a batch ran at once); here, on a quiet machine, the time is measured against its
bound. Skipped by the default run (``--benchmark-skip``); ``scripts/benchmarks`` runs
them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

import procrastinate
from tests.acceptance import app as acceptance_app
from tests.benchmarks.conftest import Bench, Figure
from tests.benchmarks.test_benchmarks import measure, status_counts
from tests.support import commands, databases, jobs, records

if TYPE_CHECKING:
    from pytest_benchmark.fixture import BenchmarkFixture

pytestmark = pytest.mark.benchmark

TASKS = acceptance_app.__name__


def test_ten_jobs_of_0_2_s_at_concurrency_10(
    benchmark: BenchmarkFixture, bench: Bench
) -> None:
    """In parallel, ten jobs of 0.2 s take far less than the two seconds of a
    sequence: under 1.5 s."""

    @bench.app.task(name="nap")
    async def nap() -> None:
        await asyncio.sleep(0.2)

    def setup() -> None:
        bench.reset()
        bench.run(nap.batch_defer_async(*[{}] * 10))

    async def work() -> None:
        await bench.app.run_worker_async(
            wait=False,
            concurrency=10,
            install_signal_handlers=False,
            listen_notify=False,
        )

    measure(
        benchmark, bench, "worker, concurrency 10, 10 jobs of 0.2 s", 10, work, setup
    )

    assert status_counts(bench) == {"succeeded": 10}
    assert bench.figures[-1].seconds < 1.5


@pytest.fixture
def tracked_db(db_factory: databases.Factory, template_db: str) -> str:
    """A fresh database with the schema and the events table of the acceptance
    tasks, which record when each job starts and ends."""
    name = db_factory(template=template_db)
    databases.execute(name, records.EVENTS_DDL)
    return name


@pytest.fixture
def tracked(tracked_db: str) -> Iterator[records.Database]:
    with databases.connect(tracked_db) as conn:
        yield records.Database(connection=conn, name=tracked_db)


def test_100_jobs_of_0_1_s_at_concurrency_20_with_the_command(
    benchmark: BenchmarkFixture,
    tracked: records.Database,
    figures: list[Figure],
) -> None:
    """``procrastinate worker --one-shot --concurrency=20`` runs 100 jobs of 0.1 s in
    under 2 s, from the first start to the last end (Python's start-up excluded)."""
    cli = commands.Cli(env=databases.environment(tracked.name), app_path=f"{TASKS}.app")
    app = procrastinate.App(
        connector=procrastinate.SyncPsycopgConnector(
            conninfo=databases.conninfo(tracked.name)
        )
    )

    def setup() -> None:
        databases.empty_tables(
            tracked.connection, [*databases.PROCRASTINATE_TABLES, "acceptance_events"]
        )
        with app.open():
            jobs.Deferrer(app, TASKS)("track", *[{"sleep": 0.1}] * 100)

    def work() -> None:
        cli("worker", "--one-shot", "--concurrency=20").check()
        spans = tracked.spans()
        ends = [span.end for span in spans if span.end is not None]
        elapsed = (max(ends) - min(span.start for span in spans)).total_seconds()
        figures.append(Figure("command worker, concurrency 20, 100 jobs", 100, elapsed))

    benchmark.pedantic(work, setup=setup, rounds=1, iterations=1)

    assert len(tracked.spans()) == 100
    assert set(tracked.statuses().values()) == {"succeeded"}
    elapsed = figures[-1].seconds
    assert elapsed < 2, f"100 jobs took {elapsed:.2f} s from first start to last end"
