"""The cost of old jobs and of the triggers, measured on the real server.

``scripts/benchmarks finished`` runs it (``--help`` for the options):

- *finished jobs*: a database whose jobs table holds N finished jobs (10 million by
  default; succeeded and failed, four queues, some with a lock or a queueing lock, and
  three events each, as a table that served that many jobs holds), written by
  set-based ``INSERT ... SELECT ... FROM generate_series``, then vacuumed and
  analyzed as autovacuum would have done. On it and on an empty database, interleaved,
  it measures a worker of concurrency 10 running async no-op jobs until the queue is
  empty, and the latency of fetching one job at a time; it prints the figures with
  the ratio filled / empty (1.0: old jobs cost nothing).
- *triggers*: on an empty database, ``batch_defer_async`` of 1,000 jobs per call,
  and the set-based UPDATE of 1,000 rows that a batched fetch (todo to doing) and a
  batched completion (doing to succeeded) run: what the event and notification
  triggers cost per statement.

Every database is created here and dropped at the end; the server is the one the
PG* variables name.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

import procrastinate
from procrastinate import jobs, schema

CONCURRENCY = 10
BATCH_SIZE = 1_000
QUEUES = ("default", "emails", "reports", "imports")
# One live job in LOCK_EVERY has a lock, one lock name the finished jobs used too.
LOCK_EVERY = 5
LOCK_NAMES = 1_000

# Triggers are bypassed (session_replication_role) while filling: the events that they
# would have written over the jobs' lives are written by the second statement.
FILL_JOBS = """
    INSERT INTO procrastinate_jobs (
        queue_name, task_name, priority, lock, queueing_lock, args, status, attempts
    )
    SELECT
        (%(queues)s::text[])[1 + n %% cardinality(%(queues)s::text[])],
        'noop',
        n %% 3,
        CASE WHEN n %% 5 = 0 THEN 'lock_' || n %% 1000 END,
        CASE WHEN n %% 7 = 0 THEN 'queueing_lock_' || n %% 1000 END,
        jsonb_build_object('n', n),
        CASE WHEN n %% 10 = 0 THEN 'failed' ELSE 'succeeded' END::procrastinate_job_status,
        CASE WHEN n %% 10 = 0 THEN 3 ELSE 1 END
    FROM generate_series(1, %(rows)s) AS n
"""
FILL_EVENTS = """
    INSERT INTO procrastinate_events (job_id, type, at)
    SELECT job.id, event.type, NOW() - make_interval(secs => %(rows)s - job.id)
        + event.delay
    FROM procrastinate_jobs AS job
    CROSS JOIN LATERAL (
        VALUES
            ('deferred'::procrastinate_job_event_type, interval '0'),
            ('started', interval '1 second'),
            (job.status::text::procrastinate_job_event_type, interval '2 seconds')
    ) AS event(type, delay)
"""
# Back to the filled state: the jobs of a run are removed (their events cascade).
RESET = "DELETE FROM procrastinate_jobs WHERE id > %(rows)s"
UPDATE_STATEMENTS = {
    "fetch 1,000 (UPDATE todo -> doing)": """
        UPDATE procrastinate_jobs SET status = 'doing', worker_id = %(worker_id)s
        WHERE id IN (
            SELECT id FROM procrastinate_jobs WHERE status = 'todo'
            ORDER BY id LIMIT 1000
        )
    """,
    "finish 1,000 (UPDATE doing -> succeeded)": """
        UPDATE procrastinate_jobs
        SET status = 'succeeded', attempts = attempts + 1, worker_id = NULL
        WHERE id IN (
            SELECT id FROM procrastinate_jobs WHERE status = 'doing'
            ORDER BY id LIMIT 1000
        )
    """,
}


@dataclasses.dataclass(frozen=True)
class Counts:
    """How much each part handles."""

    rows: int = 10_000_000
    worker_jobs: int = 5_000
    fetches: int = 1_000
    batches: int = 20
    repeat: int = 3


QUICK = Counts(rows=100_000, worker_jobs=1_000, fetches=200, batches=5, repeat=2)


def say(message: str) -> None:
    """One line of progress on standard error."""
    print(message, file=sys.stderr, flush=True)


def admin() -> psycopg.Connection[Any]:
    return psycopg.connect(dbname="postgres", autocommit=True)


def connect(database: str) -> psycopg.Connection[Any]:
    return psycopg.connect(dbname=database, autocommit=True)


@contextmanager
def database(name: str, schema_sql: str) -> Iterator[str]:
    """A new database holding ``schema_sql``, dropped on the way out."""
    with admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with connect(name) as conn:
            conn.execute(schema_sql.encode())
        yield name
    finally:
        with admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )


def fill(name: str, rows: int) -> float:
    """Write ``rows`` finished jobs and their events; the seconds it took."""
    start = time.perf_counter()
    with connect(name) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(FILL_JOBS, {"rows": rows, "queues": list(QUEUES)})
        conn.execute(FILL_EVENTS, {"rows": rows})
        conn.execute("SET session_replication_role = DEFAULT")
        conn.execute("VACUUM ANALYZE procrastinate_jobs, procrastinate_events")
    return time.perf_counter() - start


def reset(name: str, rows: int) -> None:
    """Remove the jobs of the previous run and give the planner fresh statistics."""
    with connect(name) as conn:
        conn.execute(RESET, {"rows": rows})
        conn.execute("VACUUM ANALYZE procrastinate_jobs, procrastinate_events")


def make_app(name: str) -> tuple[procrastinate.App, Any]:
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(kwargs={"dbname": name})
    )

    @app.task(name="noop")
    async def noop() -> None:
        """Does nothing: what is measured is the queue around it."""

    return app, noop


def live_jobs(noop: Any, count: int) -> list[jobs.Job]:
    """``count`` jobs to run, spread over the queues, one in LOCK_EVERY with a lock."""
    return [
        noop.configure(
            queue=QUEUES[index % len(QUEUES)],
            lock=f"lock_{index % LOCK_NAMES}" if index % LOCK_EVERY == 0 else None,
        ).make_new_job()
        for index in range(count)
    ]


async def defer_live(app: procrastinate.App, noop: Any, count: int) -> None:
    """Defer ``count`` live jobs by batches."""
    pending = live_jobs(noop, count)
    for start in range(0, count, BATCH_SIZE):
        batch = pending[start : start + BATCH_SIZE]
        await app.job_manager.batch_defer_jobs_async(batch)


async def worker_rate(name: str, rows: int, count: int) -> float:
    """Jobs per second of a worker of concurrency 10 emptying a queue of ``count``."""
    reset(name, rows)
    app, noop = make_app(name)
    async with app.open_async():
        await defer_live(app, noop, count)
        reset_statistics(name)
        start = time.perf_counter()
        await app.run_worker_async(
            wait=False,
            concurrency=CONCURRENCY,
            install_signal_handlers=False,
            listen_notify=False,
        )
        seconds = time.perf_counter() - start
    with connect(name) as conn:
        row = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE id > %s AND status = "
            "'succeeded'",
            (rows,),
        ).fetchone()
    if not row or row[0] != count:
        raise RuntimeError(f"the worker ran {row} of {count} jobs")
    return count / seconds


def reset_statistics(name: str) -> None:
    """Statistics of the new live jobs, as autovacuum would have them."""
    with connect(name) as conn:
        conn.execute("ANALYZE procrastinate_jobs")


async def fetch_latencies(name: str, rows: int, count: int) -> list[float]:
    """Seconds of each of ``count`` fetches of one job."""
    reset(name, rows)
    app, noop = make_app(name)
    async with app.open_async():
        await defer_live(app, noop, count)
        reset_statistics(name)
        worker_id = await app.job_manager.register_worker()
        latencies = []
        for _ in range(count):
            start = time.perf_counter()
            fetched = await app.job_manager.fetch_jobs(None, worker_id, limit=1)
            latencies.append(time.perf_counter() - start)
            if len(fetched) != 1:
                raise RuntimeError("a fetch found no job")
    return latencies


def centile(values: list[float], which: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[which - 1]


def spread(values: list[float], digits: int = 0) -> str:
    """Median (lowest-highest)."""
    return (
        f"{statistics.median(values):,.{digits}f} "
        f"({min(values):,.{digits}f}-{max(values):,.{digits}f})"
    )


def finished_jobs(schema_sql: str, counts: Counts, prefix: str) -> None:
    """The worker and fetch figures on an empty and a filled table, interleaved."""
    with (
        database(f"{prefix}_empty", schema_sql) as empty,
        database(f"{prefix}_filled", schema_sql) as filled,
    ):
        say(f"filling {counts.rows:,} finished jobs...")
        seconds = fill(filled, counts.rows)
        with connect(filled) as conn:
            size = conn.execute(
                "SELECT pg_size_pretty(pg_database_size(current_database()))"
            ).fetchone()
        say(f"filled in {seconds:,.0f} s ({size[0] if size else '?'})")
        sizes = {empty: 0, filled: counts.rows}
        rates: dict[str, list[float]] = {empty: [], filled: []}
        p50s: dict[str, list[float]] = {empty: [], filled: []}
        p99s: dict[str, list[float]] = {empty: [], filled: []}
        for repetition, name in itertools.product(range(counts.repeat), sizes):
            rate = asyncio.run(worker_rate(name, sizes[name], counts.worker_jobs))
            rates[name].append(rate)
            latencies = asyncio.run(fetch_latencies(name, sizes[name], counts.fetches))
            p50s[name].append(centile(latencies, 50) * 1000)
            p99s[name].append(centile(latencies, 99) * 1000)
            say(
                f"{repetition + 1}/{counts.repeat} {sizes[name]:>11,} finished: "
                f"{rate:,.0f} jobs/s, fetch p50 {p50s[name][-1]:.2f} ms, "
                f"p99 {p99s[name][-1]:.2f} ms"
            )
    ratios = [f / e for f, e in zip(rates[filled], rates[empty])]
    print(f"\nfinished jobs: {counts.rows:,} (filled in {seconds:,.0f} s)\n")
    print("| metric | none | filled | filled / none |")
    print("|---|---|---|---|")
    print(
        f"| worker, async no-op, C=10 (jobs/s) | {spread(rates[empty])} | "
        f"{spread(rates[filled])} | {spread(ratios, 2)} |"
    )
    for label, figures in (("p50", p50s), ("p99", p99s)):
        ratio = [f / e for f, e in zip(figures[filled], figures[empty])]
        print(
            f"| fetch of one job, {label} (ms) | {spread(figures[empty], 2)} | "
            f"{spread(figures[filled], 2)} | {spread(ratio, 2)} |"
        )


async def batch_defer_rate(name: str, batches: int) -> float:
    """Jobs per second of ``batch_defer_async`` with 1,000 jobs per call."""
    app, noop = make_app(name)
    async with app.open_async():
        start = time.perf_counter()
        for _ in range(batches):
            await noop.batch_defer_async(*[{}] * BATCH_SIZE)
        return batches * BATCH_SIZE / (time.perf_counter() - start)


def update_costs(name: str, batches: int) -> dict[str, list[float]]:
    """Milliseconds of each 1,000-row UPDATE, ``batches`` times each."""
    costs: dict[str, list[float]] = {label: [] for label in UPDATE_STATEMENTS}
    with connect(name) as conn:
        row = conn.execute(
            "SELECT worker_id FROM procrastinate_register_worker_v1()"
        ).fetchone()
        worker_id = row[0] if row else None
        for _ in range(batches):
            for label, statement in UPDATE_STATEMENTS.items():
                start = time.perf_counter()
                conn.execute(statement, {"worker_id": worker_id})
                costs[label].append((time.perf_counter() - start) * 1000)
    return costs


def triggers(schema_sql: str, counts: Counts, prefix: str) -> None:
    """The cost of the triggers for statements of 1,000 rows."""
    rates: list[float] = []
    costs: dict[str, list[float]] = {label: [] for label in UPDATE_STATEMENTS}
    for repetition in range(counts.repeat):
        with database(f"{prefix}_triggers", schema_sql) as name:
            rates.append(asyncio.run(batch_defer_rate(name, counts.batches)))
            for label, values in update_costs(name, counts.batches).items():
                costs[label].extend(values)
        say(f"{repetition + 1}/{counts.repeat} batch_defer {rates[-1]:,.0f} jobs/s")
    print("\n| statement | figure |")
    print("|---|---|")
    print(f"| `batch_defer_async`, 1,000 per call (jobs/s) | {spread(rates)} |")
    for label, values in costs.items():
        print(f"| {label} (ms) | {spread(values, 1)} |")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/benchmarks finished",
        description=(
            "Worker throughput and fetch latency with many finished jobs against "
            "none, and the cost of the triggers for 1,000-row statements."
        ),
    )
    parser.add_argument(
        "--quick", action="store_true", help="100,000 finished jobs, fewer runs"
    )
    parser.add_argument("--rows", type=int, help="finished jobs (default 10 million)")
    parser.add_argument("--repeat", type=int, help="repetitions (default 3)")
    parser.add_argument(
        "--part",
        choices=("all", "finished", "triggers"),
        default="all",
        help="what to measure (default: all)",
    )
    parser.add_argument(
        "--schema",
        type=Path,
        help="a schema file to measure instead of the package's (e.g. an older one)",
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    counts = QUICK if args.quick else Counts()
    if args.rows is not None:
        counts = dataclasses.replace(counts, rows=args.rows)
    if args.repeat is not None:
        counts = dataclasses.replace(counts, repeat=args.repeat)
    schema_sql = (
        args.schema.read_text() if args.schema else schema.SchemaManager.get_schema()
    )
    prefix = f"procrastinate_bench_finished_{os.getpid()}"
    if args.part in ("all", "triggers"):
        triggers(schema_sql, counts, prefix)
    if args.part in ("all", "finished"):
        finished_jobs(schema_sql, counts, prefix)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
