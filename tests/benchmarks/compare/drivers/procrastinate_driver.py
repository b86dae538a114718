"""Benchmark driver of procrastinate, through its public API only.

The same script drives this repository's package and the published procrastinate
3.10, whose APIs are the same: the harness runs it with one venv's interpreter or the
other's. See ``common.py`` for the phases and the result line.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import common
import psycopg
from procrastinate_tasks import State, app, noop, noop_sync, stamp

FILL = """
    INSERT INTO procrastinate_jobs (queue_name, task_name, args, status, attempts)
    SELECT %s, 'noop', '{}', 'succeeded', 1 FROM generate_series(1, %s)
"""


def fill(rows: int) -> None:
    """``rows`` finished jobs, written by one set-based statement, then vacuumed and
    analyzed as autovacuum would have done in production."""
    with psycopg.connect(autocommit=True) as conn:
        conn.execute(FILL, (common.QUEUE, rows))
        conn.execute("VACUUM ANALYZE procrastinate_jobs")


async def run_worker(**options: object) -> None:
    """A worker of concurrency 10, as a user would start it."""
    await app.run_worker_async(
        concurrency=common.CONCURRENCY, install_signal_handlers=False, **options
    )


async def defer_batches(workload: str, jobs: int) -> None:
    """Defer the jobs of ``workload`` by batches of 1,000."""
    task = noop_sync if workload == "worker-sync" else noop
    for start in range(0, jobs, common.BATCH_SIZE):
        await task.batch_defer_async(*[{}] * min(common.BATCH_SIZE, jobs - start))


async def measure_latency(jobs: int) -> None:
    """Defer ``jobs`` jobs one at a time to a listening worker and report the delays
    until each one starts."""
    worker = asyncio.create_task(run_worker(wait=True, listen_notify=True))
    samples: list[float] = []
    with common.measured() as figures:
        # The first jobs only prove that the worker fetches and listens.
        for index in range(-common.WARM_UP, jobs):
            State.started = asyncio.get_running_loop().create_future()
            deferred = time.perf_counter()
            await stamp.defer_async()
            start = await asyncio.wait_for(State.started, timeout=30)
            if index >= 0:
                samples.append(start - deferred)
            await asyncio.sleep(common.ARRIVAL_GAP)
    worker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await worker
    common.report(len(samples), figures, **common.latency_summary(samples))


async def run(workload: str, jobs: int) -> None:
    """Measure ``workload`` and print its result line."""
    if workload == "latency":
        await measure_latency(jobs)
        return
    with common.measured() as figures:
        if workload == "defer-one":
            for _ in range(jobs):
                await noop.defer_async()
        elif workload == "batch-defer":
            await defer_batches(workload, jobs)
        else:
            await run_worker(wait=False, listen_notify=False)
    common.report(jobs if "defer" in workload else State.executed, figures)


async def main() -> None:
    args = common.parse_args()
    if args.phase == "fill":
        fill(args.jobs)
        return
    async with app.open_async():
        if args.phase == "install":
            await app.schema_manager.apply_schema_async()
        elif args.phase == "prepare":
            await defer_batches(args.workload, args.jobs)
        else:
            await run(args.workload, args.jobs)


if __name__ == "__main__":
    asyncio.run(main())
