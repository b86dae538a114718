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

``--schema FILE``, given once or more, measures those schema files instead of the
package's, interleaved: main's against this branch's, for instance. Every database
is created here and dropped at the end; the server is the one the PG* variables name
(filling needs a superuser, to bypass the triggers).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import itertools
import os
import statistics
import sys
import time
from collections.abc import Iterator
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


@contextlib.contextmanager
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


@dataclasses.dataclass
class Filled:
    """The two databases of one schema, and the figures measured on each."""

    label: str
    empty: str
    filled: str
    rates: dict[str, list[float]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(list)
    )
    p50s: dict[str, list[float]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(list)
    )
    p99s: dict[str, list[float]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(list)
    )

    def rows(self) -> list[str]:
        """The lines of the table about this schema."""
        lines = []
        for metric, figures, digits in (
            ("worker, async no-op, C=10 (jobs/s)", self.rates, 0),
            ("fetch of one job, p50 (ms)", self.p50s, 2),
            ("fetch of one job, p99 (ms)", self.p99s, 2),
        ):
            none, filled = figures[self.empty], figures[self.filled]
            ratios = [f / e for f, e in zip(filled, none)]
            lines.append(
                f"| {self.label} | {metric} | {spread(none, digits)} | "
                f"{spread(filled, digits)} | {spread(ratios, 2)} |"
            )
        return lines


def finished_jobs(schemas: dict[str, str], counts: Counts, prefix: str) -> None:
    """The worker and fetch figures on an empty and a filled table of each schema,
    interleaved."""
    with contextlib.ExitStack() as stack:
        pairs = []
        for index, (label, schema_sql) in enumerate(schemas.items()):
            empty = stack.enter_context(database(f"{prefix}_{index}_e", schema_sql))
            filled = stack.enter_context(database(f"{prefix}_{index}_f", schema_sql))
            say(f"{label}: filling {counts.rows:,} finished jobs...")
            seconds = fill(filled, counts.rows)
            say(f"{label}: filled in {seconds:,.0f} s ({size(filled)})")
            pairs.append(Filled(label, empty, filled))
        for repetition in range(counts.repeat):
            for pair in pairs:
                for name, rows in ((pair.empty, 0), (pair.filled, counts.rows)):
                    measure_finished(pair, name, rows, counts)
                    say(
                        f"{repetition + 1}/{counts.repeat} {pair.label} {rows:>11,} "
                        f"finished: {pair.rates[name][-1]:,.0f} jobs/s, fetch p50 "
                        f"{pair.p50s[name][-1]:.2f} ms, p99 {pair.p99s[name][-1]:.2f} ms"
                    )
    print(f"\nfinished jobs: {counts.rows:,}\n")
    print("| schema | metric | none | filled | filled / none |")
    print("|---|---|---|---|---|")
    for pair in pairs:
        print("\n".join(pair.rows()))


def size(name: str) -> str:
    with connect(name) as conn:
        row = conn.execute(
            "SELECT pg_size_pretty(pg_database_size(current_database()))"
        ).fetchone()
    return str(row[0]) if row else "?"


def measure_finished(pair: Filled, name: str, rows: int, counts: Counts) -> None:
    """One worker run and one series of fetches on ``name``."""
    pair.rates[name].append(asyncio.run(worker_rate(name, rows, counts.worker_jobs)))
    latencies = asyncio.run(fetch_latencies(name, rows, counts.fetches))
    pair.p50s[name].append(centile(latencies, 50) * 1000)
    pair.p99s[name].append(centile(latencies, 99) * 1000)


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


def triggers(schemas: dict[str, str], counts: Counts, prefix: str) -> None:
    """The cost of the triggers for statements of 1,000 rows, schemas interleaved."""
    rates: dict[str, list[float]] = collections.defaultdict(list)
    costs: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    for repetition, (label, schema_sql) in itertools.product(
        range(counts.repeat), schemas.items()
    ):
        with database(f"{prefix}_triggers", schema_sql) as name:
            rates[label].append(asyncio.run(batch_defer_rate(name, counts.batches)))
            for statement, values in update_costs(name, counts.batches).items():
                costs[label, statement].extend(values)
        say(
            f"{repetition + 1}/{counts.repeat} {label}: batch_defer "
            f"{rates[label][-1]:,.0f} jobs/s"
        )
    print("\n| schema | statement | figure |")
    print("|---|---|---|")
    for label in schemas:
        print(
            f"| {label} | `batch_defer_async`, 1,000 per call (jobs/s) | "
            f"{spread(rates[label])} |"
        )
        for statement in UPDATE_STATEMENTS:
            print(
                f"| {label} | {statement} (ms) | {spread(costs[label, statement], 1)} |"
            )


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
        action="append",
        help=(
            "a schema file to measure instead of the package's (e.g. an older one); "
            "given several times, each is measured, interleaved"
        ),
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    counts = QUICK if args.quick else Counts()
    if args.rows is not None:
        counts = dataclasses.replace(counts, rows=args.rows)
    if args.repeat is not None:
        counts = dataclasses.replace(counts, repeat=args.repeat)
    schemas = (
        {str(path): path.read_text() for path in args.schema}
        if args.schema
        else {"package": schema.SchemaManager.get_schema()}
    )
    prefix = f"procrastinate_bench_finished_{os.getpid()}"
    if args.part in ("all", "triggers"):
        triggers(schemas, counts, prefix)
    if args.part in ("all", "finished"):
        finished_jobs(schemas, counts, prefix)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
