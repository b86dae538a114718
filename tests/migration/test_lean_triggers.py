"""The statement-level triggers of ``03.10.00_60_post_lean_triggers.sql`` record the
same events and send the same notifications as the row triggers they replace, for
statements of one row and of many.

Database A stops before that migration (the row triggers), database B has them all;
the same statements run on both.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

if TYPE_CHECKING:
    from .conftest import ApplyFiles

LEAN_TRIGGERS = "03.10.00_60_post_lean_triggers.sql"
PAST, FUTURE = "2000-01-01 00:00:00+00", "2100-01-01 00:00:00+00"


def _job(queue: str, lock: str | None = None, at: str | None = None) -> str:
    lock_sql = f"'{lock}'" if lock else "NULL"
    at_sql = f"'{at}'::timestamptz" if at else "NULL"
    return (
        f"ROW('{queue}', 'task', 0, {lock_sql}, NULL, '{{}}', {at_sql})"
        "::procrastinate_job_to_defer_v1"
    )


def _defer(*jobs: str) -> str:
    return f"SELECT procrastinate_defer_jobs_v1(ARRAY[{', '.join(jobs)}])"


# Ids 1 to 8: one batch of six, then two single defers.
STATEMENTS = [
    _defer(
        _job("q"),
        _job("r", lock="a"),
        _job("q", at=PAST),
        _job("r", at=FUTURE),
        _job("q", lock="a"),
        _job("s"),
    ),
    _defer(_job("q")),
    _defer(_job("r", at=FUTURE)),
    "SELECT procrastinate_fetch_jobs_v1(NULL, NULL, 3)",
    "SELECT procrastinate_fetch_jobs_v1(ARRAY['q'], NULL, 1)",
    # A batch of outcomes, one statement.
    "UPDATE procrastinate_jobs SET status = CASE id WHEN 1 THEN 'succeeded' "
    "WHEN 2 THEN 'failed' ELSE 'aborted' END::procrastinate_job_status, "
    "attempts = attempts + 1, worker_id = NULL, abort_requested = false "
    "WHERE id IN (1, 2, 3)",
    "SELECT procrastinate_fetch_jobs_v1(ARRAY['s'], NULL, 1)",
    "SELECT procrastinate_cancel_job_v1(6, true, false)",
    "SELECT procrastinate_retry_job_v2(7, NULL, NULL, 'r', NULL)",
    "SELECT procrastinate_cancel_job_v1(8, false, false)",
    # Failed and succeeded jobs sent back to the queue together, one due, one later.
    "UPDATE procrastinate_jobs SET status = 'todo', scheduled_at = CASE id "
    f"WHEN 2 THEN '{FUTURE}'::timestamptz END WHERE id IN (1, 2)",
    # An update of scheduled waiting jobs that leaves their status alone.
    "UPDATE procrastinate_jobs SET priority = 5 WHERE status = 'todo'",
    "SELECT procrastinate_fetch_jobs_v1(NULL, NULL, 10)",
    "SELECT procrastinate_cancel_job_v1(1, true, false)",
    "UPDATE procrastinate_jobs SET status = 'succeeded', abort_requested = false "
    "WHERE status = 'doing'",
]


def _apply(dbname: str, folder: Path, names: list[str]) -> None:
    with psycopg.connect(dbname=dbname, autocommit=True) as conn:
        for name in names:
            conn.execute((folder / name).read_text(encoding="utf-8"))


def _run(dbname: str) -> tuple[list[Any], dict[int, list[Any]]]:
    """The events of each job in their order (the time of the non-scheduled ones
    left out: it is the moment of the run), and the notifications of each job in the
    order they came."""
    notifications: dict[int, list[Any]] = collections.defaultdict(list)
    with psycopg.connect(dbname=dbname, autocommit=True) as conn:
        conn.execute('LISTEN "procrastinate_any_queue_v1"')
        for queue in "qrs":
            conn.execute(f'LISTEN "procrastinate_queue_v1#{queue}"')
        for statement in STATEMENTS:
            conn.execute(statement)
        for notify in conn.notifies(timeout=1):
            payload = json.loads(notify.payload)
            notifications[payload["job_id"]].append((notify.channel, payload["type"]))
        events = conn.execute(
            "SELECT job_id, type::text, CASE type WHEN 'scheduled' THEN at END "
            "FROM procrastinate_events ORDER BY job_id, id"
        ).fetchall()
    return events, dict(notifications)


def test_statement_triggers_record_what_the_row_triggers_did(
    db_factory: Any, migrations_dir: Path, apply_migration_files: ApplyFiles
) -> None:
    files = sorted(path.name for path in migrations_dir.glob("*.sql"))
    row_triggers, lean = db_factory(), db_factory()
    _apply(row_triggers, migrations_dir, files[: files.index(LEAN_TRIGGERS)])
    apply_migration_files(lean, migrations_dir)

    expected_events, expected_notifications = _run(row_triggers)
    events, notifications = _run(lean)

    assert events == expected_events
    assert notifications == expected_notifications
    # The statements above make every kind of event and notification.
    assert {event[1] for event in events} == {
        "deferred",
        "scheduled",
        "started",
        "succeeded",
        "failed",
        "aborted",
        "deferred_for_retry",
        "cancelled",
        "abort_requested",
        "retried",
    }
    assert {kind for notes in notifications.values() for _, kind in notes} == {
        "job_inserted",
        "abort_job_requested",
    }
