"""The Django migrations of procrastinate: one per SQL migration file, building the
same schema as ``schema.sql``, and in step with the models."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.core import management
from django.db import connections
from django.db.migrations import loader

from procrastinate import schema
from procrastinate.contrib.django import migrations_utils
from tests import procrastinate_310
from tests.migration import schema_inspection

APP_LABEL = "procrastinate"
DJANGO_MIGRATIONS_DIR = Path(migrations_utils.__file__).parent / "migrations"


def sql_migration_files() -> list[str]:
    folder = Path(schema.SchemaManager.get_migrations_path())
    return sorted(path.name for path in folder.glob("*.sql"))


def django_migrations_in_order() -> list[Any]:
    """This app's Django migrations, in the order Django applies them."""
    migration_loader = loader.MigrationLoader(None, ignore_no_migrations=True)
    graph = migration_loader.graph
    (leaf,) = [key for key in graph.leaf_nodes() if key[0] == APP_LABEL]
    return [
        migration_loader.disk_migrations[key]
        for key in graph.forwards_plan(leaf)
        if key[0] == APP_LABEL
    ]


def sql_operations(migrations: list[Any]) -> list[tuple[str, str]]:
    """(Django migration name, SQL file name) of each RunProcrastinateSQL."""
    return [
        (migration.name, operation.name)
        for migration in migrations
        for operation in migration.operations
        if isinstance(operation, migrations_utils.RunProcrastinateSQL)
    ]


def missing_twins(sql_files: list[str], wrapped: list[tuple[str, str]]) -> list[str]:
    """What to add for each SQL file that no Django migration runs."""
    done = {sql_file for _, sql_file in wrapped}
    last = wrapped[-1][0] if wrapped else None
    number = int(last.split("_", 1)[0]) if last else 0
    messages = []
    for sql_file in sql_files:
        if sql_file in done:
            continue
        number += 1
        description = sql_file.removesuffix(".sql").split("_", 2)[2]
        name = f"{number:04d}_{description}"
        messages.append(
            f"{sql_file} has no Django migration: add "
            f"procrastinate/contrib/django/migrations/{name}.py, depending on "
            f'("{APP_LABEL}", "{last}"), with the operation '
            f'RunProcrastinateSQL(name="{sql_file}")'
        )
        last = name
    return messages


def test_one_django_migration_per_sql_migration() -> None:
    wrapped = sql_operations(django_migrations_in_order())

    assert missing_twins(sql_migration_files(), wrapped) == []
    assert [sql_file for _, sql_file in wrapped] == sql_migration_files(), (
        "The Django migrations must run the SQL files once each, in name order"
    )


def test_missing_twin_message_says_what_to_add() -> None:
    wrapped = [("0042_pre_upgrade", "03.10.00_01_pre_upgrade.sql")]
    sql_files = ["03.10.00_01_pre_upgrade.sql", "04.00.00_01_pre_add_things.sql"]

    assert missing_twins(sql_files, wrapped) == [
        "04.00.00_01_pre_add_things.sql has no Django migration: add "
        "procrastinate/contrib/django/migrations/0043_pre_add_things.py, depending "
        'on ("procrastinate", "0042_pre_upgrade"), with the operation '
        'RunProcrastinateSQL(name="04.00.00_01_pre_add_things.sql")'
    ]


def test_operation_reads_the_packaged_file() -> None:
    operation = migrations_utils.RunProcrastinateSQL(name=sql_migration_files()[0])

    assert "CREATE TABLE IF NOT EXISTS procrastinate_jobs" in operation.script
    assert operation.deconstruct() == (
        "procrastinate.contrib.django.migrations_utils.RunProcrastinateSQL",
        [],
        {"name": sql_migration_files()[0]},
    )
    assert operation.describe().endswith(sql_migration_files()[0])


def test_models_match_the_migrations(django_db: str) -> None:
    try:
        management.call_command("makemigrations", "--check", "--dry-run", verbosity=0)
    except SystemExit as exc:  # pragma: no cover - the failure message
        pytest.fail(
            "The models changed without a migration: run `python -m django "
            "makemigrations procrastinate` with DJANGO_SETTINGS_MODULE="
            f"tests.django_project.settings (exit {exc.code})"
        )


def _describe_procrastinate(name: str) -> schema_inspection.Description:
    with psycopg.connect(dbname=name, autocommit=True) as conn:
        description = schema_inspection.describe_schema(conn)
    # Django's bookkeeping table is not part of procrastinate's schema.
    return {
        kind: {
            object_name: record
            for object_name, record in collection.items()
            if not object_name.startswith("django_migrations")
        }
        for kind, collection in description.items()
    }


def test_django_migrations_build_the_schema_of_schema_sql(
    empty_db_name: str, db_name: str, use_other_database: Callable[[str], None]
) -> None:
    use_other_database(empty_db_name)
    try:
        management.call_command("migrate", APP_LABEL, verbosity=0)
    finally:
        connections.close_all()

    differences = schema_inspection.diff_schemas(
        _describe_procrastinate(db_name),
        _describe_procrastinate(empty_db_name),
        a_name="schema.sql",
        b_name="Django migrations",
    )

    assert differences == []


def test_sqlmigrate_shows_the_sql(
    capsys: pytest.CaptureFixture[str], django_db: str
) -> None:
    (first, *_) = sql_operations(django_migrations_in_order())

    management.call_command("sqlmigrate", APP_LABEL, first[0])

    assert "CREATE TABLE IF NOT EXISTS procrastinate_jobs" in capsys.readouterr().out


SQUASHED = "0041_squashed_3_10"
PEER_SETTINGS = {"DJANGO_SETTINGS_MODULE": "peer_settings"}


def test_squashed_migration_replaces_every_migration_of_3_10() -> None:
    migration_loader = loader.MigrationLoader(None, ignore_no_migrations=True)
    squashed = migration_loader.disk_migrations[(APP_LABEL, SQUASHED)]

    assert [name for _, name in squashed.replaces] == (
        procrastinate_310.django_migration_names()
    )


def _our_django(dbname: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=procrastinate_310.PEER_APP_DIR,
        env=procrastinate_310.peer_env(dbname, **PEER_SETTINGS),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=procrastinate_310.TIMEOUT,
        check=False,
    )


def _job_statuses(dbname: str) -> list[tuple[int, str]]:
    with psycopg.connect(dbname=dbname, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT id, status::text FROM procrastinate_jobs ORDER BY id"
        ).fetchall()
    return [(job_id, status) for job_id, status in rows]


def test_a_project_migrated_by_3_10_upgrades_with_migrate(
    db_factory: Callable[[], str], db_name: str
) -> None:
    project_db = db_factory()
    procrastinate_310.run(["-m", "django", "migrate"], project_db, PEER_SETTINGS)
    defer = "from peer_django.tasks import double; print(double.defer(n=21))"
    procrastinate_310.run(
        ["-m", "django", "shell", "-c", defer], project_db, PEER_SETTINGS
    )
    assert _job_statuses(project_db) == [(1, "todo")]

    migrate = _our_django(project_db, "migrate")
    shown = _our_django(project_db, "showmigrations", APP_LABEL)
    check = _our_django(project_db, "makemigrations", "--check", "--dry-run")
    worker = _our_django(project_db, "procrastinate", "worker", "--one-shot")

    assert migrate.returncode == 0, migrate.stdout
    assert "[ ]" not in shown.stdout, shown.stdout
    assert f"[X] {SQUASHED} (41 squashed migrations)" in shown.stdout, shown.stdout
    assert "[X] 0048_post_upgrade_from_3_10" in shown.stdout, shown.stdout
    assert check.returncode == 0, check.stdout
    assert worker.returncode == 0, worker.stdout
    assert _job_statuses(project_db) == [(1, "succeeded")]
    # 3.10's Django migrations added the columns of procrastinate_jobs in the order
    # of its history: only that differs.
    differences = schema_inspection.diff_schemas(
        schema_inspection.without_column_order(_describe_procrastinate(db_name)),
        schema_inspection.without_column_order(_describe_procrastinate(project_db)),
        a_name="schema.sql",
        b_name="3.10's Django migrations + ours",
    )
    assert differences == []
