"""What the monitoring queries cost with many finished jobs: a scrape of the metrics,
the dashboard's pages.

``scripts/benchmarks monitoring`` runs it (``--help`` for the options). It builds the
database of :mod:`tests.benchmarks.finished_jobs` (10 million finished jobs by
default, with their events), adds a live backlog (waiting, scheduled and running jobs
in every queue, a worker, a limited and a paused queue), then runs each query of the
metrics and of the dashboard's pages under ``EXPLAIN (ANALYZE, BUFFERS)`` and prints
its execution time (the median of the runs), the buffers it touched and the plan's
top node. The jobs page is measured as a reader walks it: the newest page, a page
filtered on a status that few jobs have, and a deep page (``before`` half-way down
the ids), each with its keyset window.

The values are inlined in the statements (custom plans), as a first execution gets
them. ``--keep`` leaves the database for another run (``--reuse`` takes it back
without filling it again).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from typing import Any

import psycopg
from psycopg import sql

from procrastinate import monitoring, schema
from procrastinate.contrib.web import dashboard
from procrastinate.sql import monitoring_queries, queries
from tests.benchmarks import finished_jobs

DATABASE = "procrastinate_bench_monitoring"
LIVE_JOBS = 10_000
RUNS = 5

LIVE = """
    INSERT INTO procrastinate_jobs (queue_name, task_name, status, scheduled_at, lock,
        worker_id)
    SELECT (%(queues)s::text[])[1 + n %% cardinality(%(queues)s::text[])], 'noop',
        CASE WHEN n %% 100 = 0 THEN 'doing' ELSE 'todo' END::procrastinate_job_status,
        CASE WHEN n %% 10 = 1 THEN NOW() + interval '1 hour' END,
        CASE WHEN n %% 100 = 0 THEN 'live_lock_' || n END,
        CASE WHEN n %% 100 = 0 THEN %(worker_id)s END
    FROM generate_series(1, %(count)s) AS n
"""


def statements(first_id: int, last_id: int) -> dict[str, tuple[str, dict[str, Any]]]:
    """The measured statements, by what they serve, with their arguments."""
    page = dashboard.PAGE_SIZE + 1
    newest = dashboard.page_window(None, first_id, last_id)
    deep = dashboard.page_window((first_id + last_id) // 2, first_id, last_id)
    assert newest is not None
    assert deep is not None
    no_filter = {"queue_name": None, "task_name": None, "status": None, "lock": None}
    return {
        "metrics scrape (metrics_snapshot)": (
            monitoring_queries["metrics_snapshot"],
            {"seconds_since_heartbeat": monitoring.alive_seconds()},
        ),
        "queues page: throughput chart": (
            monitoring_queries["dashboard_throughput"],
            {"max_events": dashboard.CHART_MAX_EVENTS},
        ),
        "queues page: limits": (queries["list_queue_limits"], {}),
        "queues page: pause states": (
            queries["list_queue_states"],
            {"queue_name": None},
        ),
        "jobs page: id bounds": (monitoring_queries["dashboard_job_ids"], {}),
        "jobs page: newest": (
            monitoring_queries["dashboard_jobs"],
            {"floor": newest[0], "before": newest[1], "limit": page, **no_filter},
        ),
        "jobs page: status=doing, queue=emails": (
            monitoring_queries["dashboard_jobs"],
            {
                "floor": newest[0],
                "before": newest[1],
                "limit": page,
                **no_filter,
                "status": "doing",
                "queue_name": "emails",
            },
        ),
        "jobs page: deep (before = middle id)": (
            monitoring_queries["dashboard_jobs"],
            {"floor": deep[0], "before": deep[1], "limit": page, **no_filter},
        ),
        "jobs page: deep, status=failed": (
            monitoring_queries["dashboard_jobs"],
            {
                "floor": deep[0],
                "before": deep[1],
                "limit": page,
                **no_filter,
                "status": "failed",
            },
        ),
        "jobs page: a task no job has (whole window)": (
            monitoring_queries["dashboard_jobs"],
            {
                "floor": newest[0],
                "before": newest[1],
                "limit": page,
                **no_filter,
                "task_name": "no_such_task",
            },
        ),
        "job page: result": (queries["get_job_result"], {"job_id": deep[0]}),
        "job page: events": (
            monitoring_queries["dashboard_job_events"],
            {"job_id": deep[0]},
        ),
        "workers page": (monitoring_queries["dashboard_workers"], {}),
    }


def build(rows: int) -> None:
    """The database: the finished jobs, then the live ones, a worker and limits."""
    with finished_jobs.admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    with finished_jobs.connect(DATABASE) as conn:
        conn.execute(schema.SchemaManager.get_schema().encode())
    finished_jobs.say(f"filling {rows:,} finished jobs")
    seconds = finished_jobs.fill(DATABASE, rows)
    finished_jobs.say(f"filled in {seconds:.0f} s")
    with finished_jobs.connect(DATABASE) as conn:
        (worker_id,) = conn.execute(
            "SELECT worker_id FROM procrastinate_register_worker_v1()"
        ).fetchone() or (None,)
        conn.execute(
            LIVE,
            {
                "queues": list(finished_jobs.QUEUES),
                "count": LIVE_JOBS,
                "worker_id": worker_id,
            },
        )
        conn.execute(
            "INSERT INTO procrastinate_queue_limits (queue_name, max_running) "
            "VALUES ('emails', 5)"
        )
        conn.execute(
            "INSERT INTO procrastinate_queues (queue_name, paused, paused_at) "
            "VALUES ('reports', true, NOW())"
        )
        conn.execute("VACUUM ANALYZE")


def measure(conn: psycopg.Connection[Any], query: str, arguments: Any) -> str:
    """One line: median execution time, buffers, plan's top node."""
    cursor = psycopg.ClientCursor(conn)
    times = []
    plan: dict[str, Any] = {}
    for _ in range(RUNS):
        cursor.execute(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query, arguments or None
        )
        ((explained,),) = cursor.fetchall()
        plan = explained[0]
        times.append(plan["Execution Time"])
    top = plan["Plan"]
    hit = top.get("Shared Hit Blocks", 0)
    read = top.get("Shared Read Blocks", 0)
    return (
        f"{statistics.median(times):8.2f} ms  buffers hit={hit} read={read}  "
        f"top={top['Node Type']}"
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/benchmarks monitoring",
        description=(
            "EXPLAIN (ANALYZE, BUFFERS) of the metrics and dashboard queries on a "
            "database of many finished jobs."
        ),
    )
    parser.add_argument("--rows", type=int, default=10_000_000, help="finished jobs")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument(
        "--reuse", action="store_true", help="use the database a --keep run left"
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if not args.reuse:
        build(args.rows)
    try:
        with finished_jobs.connect(DATABASE) as conn:
            first_id, last_id = conn.execute(
                "SELECT min(id), max(id) FROM procrastinate_jobs"
            ).fetchone() or (0, 0)
            total = conn.execute("SELECT count(*) FROM procrastinate_jobs").fetchone()
            print(f"{total[0] if total else 0:,} jobs, ids {first_id:,} to {last_id:,}")
            for name, (query, arguments) in statements(first_id, last_id).items():
                print(f"{name:<44} {measure(conn, query, arguments)}")
    finally:
        if not args.keep:
            with finished_jobs.admin() as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(DATABASE)
                    )
                )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
