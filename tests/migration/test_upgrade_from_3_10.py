"""A database made by the published procrastinate 3.10 (``schema --apply``, then rows of
every kind written by its own SQL functions) reaches exactly the schema of
``schema.sql`` through our migrations, and keeps its rows.

The 3.10 database is built once per module, by 3.10's command in its own venv (see
:mod:`tests.procrastinate_310`); each test works on a clone of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from tests import procrastinate_310
from tests.support import databases

from . import naming, schema_inspection
from .schema_inspection import diff_schemas

if TYPE_CHECKING:
    from .conftest import ApplyFiles, Describe

# Jobs in every state 3.10 leaves them, through its own functions. Priorities make the
# fetch order the id order.
ROWS_OF_3_10 = """
SELECT procrastinate_register_worker_v1();
SELECT procrastinate_register_worker_v1();
SELECT procrastinate_defer_jobs_v1(ARRAY[
    ROW('q', 'done', 7, NULL, NULL, '{"n": 1}', NULL),
    ROW('q', 'broken', 6, 'lock-a', NULL, '{}', NULL),
    ROW('q', 'flaky', 5, NULL, NULL, '{}', NULL),
    ROW('q', 'stopped', 4, NULL, NULL, '{}', NULL),
    ROW('q', 'running', 3, 'lock-b', NULL, '{}', NULL),
    ROW('q', 'waiting', 0, NULL, 'only-one', '{}', NULL),
    ROW('other', 'later', 0, NULL, NULL, '{}', NOW() + interval '1 hour'),
    ROW('q', 'unwanted', 0, NULL, NULL, '{}', NULL)
]::procrastinate_job_to_defer_v1[]);
SELECT procrastinate_fetch_job_v2(NULL, 1) FROM generate_series(1, 4);
SELECT procrastinate_fetch_job_v2(NULL, 2);
SELECT procrastinate_finish_job_v1(1, 'succeeded', false);
SELECT procrastinate_finish_job_v1(2, 'failed', false);
SELECT procrastinate_retry_job_v2(3, NOW() + interval '1 day', NULL, NULL, NULL);
SELECT procrastinate_cancel_job_v1(4, true, false);
SELECT procrastinate_retry_job_v2(4, NOW(), NULL, NULL, NULL);
SELECT procrastinate_cancel_job_v1(8, true, false);
SELECT procrastinate_defer_periodic_job_v2(
    'q', NULL, NULL, 'tick', 0, '', 1700000000, '{"timestamp": 1700000000}'
);
"""
TABLES = [
    "procrastinate_workers",
    "procrastinate_jobs",
    "procrastinate_events",
    "procrastinate_periodic_defers",
]
Rows = dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def db_of_3_10(run_id: str) -> Iterator[str]:
    """A database of procrastinate 3.10 holding :data:`ROWS_OF_3_10`; not to be
    changed (clone it)."""
    name = databases.unique_name(f"procrastinate_test_{run_id}_v310")
    with databases.temporary_database(name):
        procrastinate_310.apply_schema(name)
        databases.execute(name, ROWS_OF_3_10)
        yield name


@pytest.fixture
def upgraded(db_factory: databases.Factory, db_of_3_10: str) -> str:
    """A clone of the 3.10 database, for the test to migrate."""
    return db_factory(template=db_of_3_10)


def _rows(dbname: str) -> Rows:
    with psycopg.connect(dbname=dbname, row_factory=dict_row) as conn:
        return {
            table: conn.execute(
                sql.SQL("SELECT * FROM {} ORDER BY id").format(sql.Identifier(table))
            ).fetchall()
            for table in TABLES
        }


def _jobs_by_task(rows: Rows) -> dict[str, dict[str, Any]]:
    return {job["task_name"]: job for job in rows["procrastinate_jobs"]}


def test_the_3_10_database_holds_what_the_upgrade_must_transform(
    db_of_3_10: str,
) -> None:
    # What the migration cleans up must be there to begin with, or the tests below
    # prove nothing.
    jobs = _jobs_by_task(_rows(db_of_3_10))

    assert {task: job["status"] for task, job in jobs.items()} == {
        "done": "succeeded",
        "broken": "failed",
        "flaky": "todo",
        "stopped": "failed",
        "running": "doing",
        "waiting": "todo",
        "later": "todo",
        "unwanted": "cancelled",
        "tick": "todo",
    }
    assert [jobs[task]["worker_id"] for task in ("done", "flaky", "running")] == [
        1,
        1,
        2,
    ]
    assert jobs["stopped"]["abort_requested"] is True


def test_migrations_bring_3_10_to_the_schema_of_schema_sql(
    upgraded: str,
    migrations_dir: Path,
    apply_migration_files: ApplyFiles,
    describe_db: Describe,
    template_description: schema_inspection.Description,
) -> None:
    apply_migration_files(upgraded, migrations_dir)

    differences = diff_schemas(
        template_description,
        describe_db(upgraded),
        a_name="schema.sql",
        b_name="3.10 + migrations",
    )

    assert differences == [], (
        "a database of procrastinate 3.10 does not reach schema.sql through the "
        "migrations:\n" + "\n".join(differences)
    )


def test_migrations_continue_the_sql_migrations_of_3_x(
    empty_db_name: str,
    migrations_dir: Path,
    apply_migration_files: ApplyFiles,
    describe_db: Describe,
    template_description: schema_inspection.Description,
) -> None:
    # A database that a migration tool built with every file of procrastinate 3.x, in
    # order, then ours.
    apply_migration_files(empty_db_name, procrastinate_310.migrations_path())
    apply_migration_files(empty_db_name, migrations_dir)

    # Only the order of the columns of procrastinate_jobs, added along 3.x's history,
    # differs (see without_column_order).
    differences = diff_schemas(
        schema_inspection.without_column_order(template_description),
        schema_inspection.without_column_order(describe_db(empty_db_name)),
        a_name="schema.sql",
        b_name="3.x's migrations + ours",
    )

    assert differences == []


def test_migrations_keep_the_rows_of_3_10(
    db_of_3_10: str, upgraded: str, migrations_dir: Path
) -> None:
    before = _rows(db_of_3_10)

    procrastinate_310.apply_files(upgraded, migrations_dir, "pre")
    after_pre = _rows(upgraded)
    procrastinate_310.apply_files(upgraded, migrations_dir, "post")

    expected = _rows(db_of_3_10)
    for job in expected["procrastinate_jobs"]:
        # Jobs of 3.10 keep its lock rule (the column's default), and have no result.
        job["lock_mode"] = "ordered"
        job["result"] = job["error"] = None
        # They have no time limit nor metadata of their own: NULL.
        job["timeout"] = None
        job["metadata"] = None
        # Only running jobs keep their worker; a refused retry (3.10 marked the job
        # failed, the abort flag still set) no longer asks for an abort.
        if job["status"] != "doing":
            job["worker_id"] = None
        if job["status"] == "failed":
            job["abort_requested"] = False
    assert after_pre == expected
    assert _rows(upgraded) == expected
    # The clean-up recorded no event, nor did anything else.
    assert after_pre["procrastinate_events"] == before["procrastinate_events"]


def test_migrations_run_again_change_nothing(
    upgraded: str,
    migrations_dir: Path,
    apply_migration_files: ApplyFiles,
    describe_db: Describe,
    template_description: schema_inspection.Description,
) -> None:
    # A tool that runs a file without a transaction may stop halfway: running the
    # file again must finish the job, not fail on what the first run created.
    apply_migration_files(upgraded, migrations_dir)
    rows = _rows(upgraded)

    apply_migration_files(upgraded, migrations_dir)

    assert diff_schemas(template_description, describe_db(upgraded)) == []
    assert _rows(upgraded) == rows


def test_pre_migrations_keep_what_3_10_uses(
    db_of_3_10: str, upgraded: str, migrations_dir: Path, describe_db: Describe
) -> None:
    of_3_10 = describe_db(db_of_3_10)

    procrastinate_310.apply_files(upgraded, migrations_dir, "pre")

    after_pre = describe_db(upgraded)
    assert set(of_3_10["functions"]) <= set(after_pre["functions"])
    assert set(of_3_10["tables"]) <= set(after_pre["tables"])
    # The heartbeat index was only renamed; no code names indexes.
    renamed = {"idx_procrastinate_workers_last_heartbeat"}
    assert set(of_3_10["indexes"]) - renamed <= set(after_pre["indexes"])


def test_pre_migration_refuses_a_schema_older_than_3_10(
    upgraded: str, migrations_dir: Path
) -> None:
    with psycopg.connect(dbname=upgraded, autocommit=True) as conn:
        # What 3.4 added, and so what a 3.3 database lacks.
        conn.execute(
            "DROP FUNCTION procrastinate_retry_job_v2(bigint, timestamp with time "
            "zone, integer, character varying, character varying)"
        )
    first = naming.migration_files(migrations_dir)[0]

    with pytest.raises(psycopg.errors.RaiseException) as excinfo:
        procrastinate_310.apply_files(upgraded, migrations_dir, "pre")

    assert "upgrade it to procrastinate 3.10 first" in str(excinfo.value)
    assert first.startswith("03.10.00_01_pre_")
    with psycopg.connect(dbname=upgraded, autocommit=True) as conn:
        recorded = conn.execute(
            "SELECT to_regclass('procrastinate_migrations')"
        ).fetchone()
    assert recorded == (None,)
