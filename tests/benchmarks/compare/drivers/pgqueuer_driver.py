"""Benchmark driver of pgqueuer 1.6 (asyncpg), through its public API only.

pgqueuer runs async entrypoints only: the sync workload is its documented way of
running blocking code, an async entrypoint awaiting ``asyncio.to_thread``. At most
``CONCURRENCY`` jobs are in flight (``max_concurrent_tasks``), dequeued in batches of
half that, the largest batch pgqueuer allows under that cap. It keeps no finished jobs
in its queue table, so it has no "finished jobs" workload. See ``common.py`` for the
phases and the result line.
"""

from __future__ import annotations

import asyncio
import sys
import time

import asyncpg
import common
from pgqueuer import AsyncpgDriver, Queries, QueueManager
from pgqueuer.models import Job
from pgqueuer.types import QueueExecutionMode


class Driver:
    """One pgqueuer queue manager on its own connection, and its entrypoints."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.queries = Queries(AsyncpgDriver(connection))
        self.qm = QueueManager(self.queries)
        self.executed = 0
        self.started: asyncio.Future[float] | None = None
        self.qm.entrypoint("noop")(self.noop)
        self.qm.entrypoint("noop_sync")(self.noop_sync)
        self.qm.entrypoint("stamp")(self.stamp)

    async def noop(self, job: Job) -> None:
        self.executed += 1

    async def noop_sync(self, job: Job) -> None:
        await asyncio.to_thread(self.count)

    def count(self) -> None:
        self.executed += 1

    async def stamp(self, job: Job) -> None:
        if self.started and not self.started.done():
            self.started.set_result(time.perf_counter())

    async def work(self, mode: QueueExecutionMode) -> None:
        """Run jobs, at most 10 at a time, until the queue is empty (``drain``) or
        until shut down (``continuous``)."""
        await self.qm.run(
            batch_size=common.CONCURRENCY // 2,
            max_concurrent_tasks=common.CONCURRENCY,
            mode=mode,
        )


async def defer(queries: Queries, entrypoint: str, count: int) -> None:
    """Enqueue ``count`` jobs in one call."""
    await queries.enqueue([entrypoint] * count, [None] * count, [0] * count)


async def prepare(queries: Queries, workload: str, jobs: int) -> None:
    """Enqueue the jobs of ``workload`` by batches of 1,000."""
    entrypoint = "noop_sync" if workload == "worker-sync" else "noop"
    for start in range(0, jobs, common.BATCH_SIZE):
        await defer(queries, entrypoint, min(common.BATCH_SIZE, jobs - start))


async def measure_latency(driver: Driver, jobs: int) -> None:
    """Enqueue ``jobs`` jobs one at a time to a listening queue manager and report
    the delays until each one starts."""
    worker = asyncio.create_task(driver.work(QueueExecutionMode.continuous))
    connection = await asyncpg.connect()
    queries = Queries(AsyncpgDriver(connection))
    samples: list[float] = []
    with common.measured() as figures:
        # The first jobs only prove that the worker dequeues and listens.
        for index in range(-common.WARM_UP, jobs):
            driver.started = asyncio.get_running_loop().create_future()
            deferred = time.perf_counter()
            await queries.enqueue("stamp", None)
            start = await asyncio.wait_for(driver.started, timeout=30)
            if index >= 0:
                samples.append(start - deferred)
            await asyncio.sleep(common.ARRIVAL_GAP)
    driver.qm.shutdown.set()
    await worker
    await connection.close()
    common.report(len(samples), figures, **common.latency_summary(samples))


async def run(driver: Driver, workload: str, jobs: int) -> None:
    """Measure ``workload`` and print its result line."""
    if workload == "latency":
        await measure_latency(driver, jobs)
        return
    with common.measured() as figures:
        if workload == "defer-one":
            for _ in range(jobs):
                await driver.queries.enqueue("noop", None)
        elif workload == "batch-defer":
            await prepare(driver.queries, workload, jobs)
        else:
            await driver.work(QueueExecutionMode.drain)
    common.report(jobs if "defer" in workload else driver.executed, figures)


async def main() -> None:
    args = common.parse_args()
    if args.phase == "fill":
        sys.exit("pgqueuer keeps no finished jobs in its queue table")
    connection = await asyncpg.connect()
    driver = Driver(connection)
    try:
        if args.phase == "install":
            await driver.queries.install()
        elif args.phase == "prepare":
            await prepare(driver.queries, args.workload, args.jobs)
        else:
            await run(driver, args.workload, args.jobs)
    finally:
        await connection.close()


if __name__ == "__main__":
    asyncio.run(main())
