"""The Django migrations of procrastinate: one per SQL migration file, building the
same schema as ``schema.sql``, and in step with the models."""

from __future__ import annotations

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
    wrapped = [("0001_pre_initial", "00.01.00_01_pre_initial.sql")]
    sql_files = ["00.01.00_01_pre_initial.sql", "00.02.00_01_pre_add_things.sql"]

    assert missing_twins(sql_files, wrapped) == [
        "00.02.00_01_pre_add_things.sql has no Django migration: add "
        "procrastinate/contrib/django/migrations/0002_pre_add_things.py, depending "
        'on ("procrastinate", "0001_pre_initial"), with the operation '
        'RunProcrastinateSQL(name="00.02.00_01_pre_add_things.sql")'
    ]


def test_operation_reads_the_packaged_file() -> None:
    operation = migrations_utils.RunProcrastinateSQL(name=sql_migration_files()[0])

    assert "CREATE TABLE procrastinate_jobs" in operation.script
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
    (first, *_) = django_migrations_in_order()

    management.call_command("sqlmigrate", APP_LABEL, first.name)

    assert "CREATE TABLE procrastinate_jobs" in capsys.readouterr().out
