"""Benchmarks of the queue: deferring and processing 10,000 no-op jobs, and fetching
jobs from a table full of finished ones.

Skipped by the default run (``--benchmark-skip``); ``scripts/benchmarks`` runs them.
Each one runs once (``rounds=1``) on a freshly reset database and reports its rate in
``extra_info["jobs_per_second"]``; a table of all the rates ends the run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_benchmark.fixture import BenchmarkFixture

    from tests.benchmarks.conftest import Bench

# Processing 10,000 jobs one at a time takes far longer than the default test timeout.
pytestmark = [pytest.mark.benchmark, pytest.mark.timeout(1800)]

JOBS = 10_000
FINISHED_ROWS = 200_000
FETCHED = 1_000

INSERT_FINISHED = """
    INSERT INTO procrastinate_jobs (queue_name, task_name, args, status, attempts)
    SELECT 'default', 'noop', '{{}}', 'succeeded', 1 FROM generate_series(1, {count})
"""


def measure(
    benchmark: BenchmarkFixture,
    bench: Bench,
    name: str,
    jobs: int,
    action: Callable[[], Awaitable[Any]],
    setup: Callable[[], None],
) -> None:
    """Run ``action`` once after ``setup`` (not timed) and report its rate."""
    benchmark.pedantic(
        bench.measured(name, jobs, action), setup=setup, rounds=1, iterations=1
    )
    benchmark.extra_info["jobs"] = jobs
    benchmark.extra_info["jobs_per_second"] = round(bench.figures[-1].jobs_per_second)


def status_counts(bench: Bench) -> dict[str, int]:
    rows = bench.sql(
        "SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY status"
    )
    return {status: count for status, count in rows}


def defer_jobs(bench: Bench, count: int) -> None:
    bench.run(bench.noop.batch_defer_async(*[{}] * count))


def test_defer_one_by_one(benchmark: BenchmarkFixture, bench: Bench) -> None:
    async def defer_each() -> None:
        for _ in range(JOBS):
            await bench.noop.defer_async()

    measure(benchmark, bench, "defer_async x 10,000", JOBS, defer_each, bench.reset)

    assert status_counts(bench) == {"todo": JOBS}


def test_batch_defer(benchmark: BenchmarkFixture, bench: Bench) -> None:
    async def defer_batch() -> None:
        await bench.noop.batch_defer_async(*[{}] * JOBS)

    measure(
        benchmark, bench, "batch_defer_async of 10,000", JOBS, defer_batch, bench.reset
    )

    assert status_counts(bench) == {"todo": JOBS}


@pytest.mark.parametrize("concurrency", [1, 10])
def test_worker(benchmark: BenchmarkFixture, bench: Bench, concurrency: int) -> None:
    def setup() -> None:
        bench.reset()
        defer_jobs(bench, JOBS)

    async def work() -> None:
        await bench.app.run_worker_async(
            wait=False,
            concurrency=concurrency,
            install_signal_handlers=False,
            listen_notify=False,
        )

    name = f"worker, concurrency {concurrency}, 10,000 jobs"
    measure(benchmark, bench, name, JOBS, work, setup)

    assert status_counts(bench) == {"succeeded": JOBS}


@pytest.mark.parametrize("finished", [0, FINISHED_ROWS])
def test_fetch_among_finished_jobs(
    benchmark: BenchmarkFixture, bench: Bench, finished: int
) -> None:
    """Fetching stays as fast with many finished jobs in the table as with none:
    compare the two figures."""
    worker_ids: list[int] = []

    def setup() -> None:
        bench.reset()
        bench.sql(INSERT_FINISHED.format(count=finished))
        defer_jobs(bench, FETCHED)
        # A table that grew this much has been analyzed by autovacuum in production.
        bench.sql("ANALYZE procrastinate_jobs")
        worker_ids.append(bench.run(bench.app.job_manager.register_worker()))

    async def fetch_one_by_one() -> None:
        for _ in range(FETCHED):
            await bench.app.job_manager.fetch_jobs(None, worker_ids[-1], limit=1)

    name = f"fetch 1,000 jobs, {finished:,} finished in table"
    measure(benchmark, bench, name, FETCHED, fetch_one_by_one, setup)

    assert status_counts(bench) == {
        **({"succeeded": finished} if finished else {}),
        "doing": FETCHED,
    }


DEAD_WORKERS = 100
JOBS_PER_DEAD_WORKER = 10
MANY_FINISHED_ROWS = 1_000_000


@pytest.mark.parametrize("finished", [0, MANY_FINISHED_ROWS])
def test_prune_dead_workers_among_finished_jobs(
    benchmark: BenchmarkFixture, bench: Bench, finished: int
) -> None:
    """Pruning dead workers (whose running jobs lose their worker_id) stays as fast
    with a million finished jobs as with none: finished jobs release their worker,
    so the ON DELETE SET NULL only touches running jobs, through a small index."""

    def setup() -> None:
        bench.reset()
        bench.sql(INSERT_FINISHED.format(count=finished))
        defer_jobs(bench, DEAD_WORKERS * JOBS_PER_DEAD_WORKER)
        for _ in range(DEAD_WORKERS):
            worker_id = bench.run(bench.app.job_manager.register_worker())
            bench.run(
                bench.app.job_manager.fetch_jobs(None, worker_id, JOBS_PER_DEAD_WORKER)
            )
        bench.sql(
            "UPDATE procrastinate_workers "
            "SET last_heartbeat = now() - interval '1 hour'"
        )
        bench.sql("ANALYZE procrastinate_jobs")

    async def prune() -> None:
        pruned = await bench.app.job_manager.prune_stalled_workers(60)
        assert len(pruned) == DEAD_WORKERS

    name = f"prune {DEAD_WORKERS} dead workers, {finished:,} finished in table"
    measure(benchmark, bench, name, DEAD_WORKERS, prune, setup)

    orphans = bench.sql(
        "SELECT count(*) FROM procrastinate_jobs "
        "WHERE status = 'doing' AND worker_id IS NULL"
    )
    assert orphans == [(DEAD_WORKERS * JOBS_PER_DEAD_WORKER,)]
