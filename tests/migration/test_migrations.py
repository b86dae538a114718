"""The migrations bring an existing database to exactly the schema that ``schema.sql``
gives a new one.

Database A gets ``schema.sql``, database B every file of ``migrations/`` in name order,
each in its own transaction; their pg_catalog descriptions must be identical.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from procrastinate import schema

from . import naming
from .schema_inspection import diff_schemas

if TYPE_CHECKING:
    from .conftest import ApplyFiles, Describe, Execute

# Python may leave its cache beside an __init__.py; it is never packaged.
_IGNORED_ENTRIES = frozenset({"__pycache__"})


def test_migrations_apply_cleanly_from_an_empty_database(
    empty_db_name: str, migrations_dir: Path, apply_migration_files: ApplyFiles
) -> None:
    applied = apply_migration_files(empty_db_name, migrations_dir)

    assert applied, f"no migration in {migrations_dir}"


def test_migrations_give_the_schema_of_schema_sql(
    db_factory: Any,
    migrations_dir: Path,
    apply_migration_files: ApplyFiles,
    execute_sql: Execute,
    describe_db: Describe,
) -> None:
    from_schema, from_migrations = str(db_factory()), str(db_factory())
    execute_sql(from_schema, schema.SchemaManager.get_schema())
    apply_migration_files(from_migrations, migrations_dir)

    differences = diff_schemas(
        describe_db(from_schema),
        describe_db(from_migrations),
        a_name="schema.sql",
        b_name="migrations",
    )

    assert differences == [], (
        "schema.sql and the migrations disagree; write a migration (or fix "
        "schema.sql) for each of:\n" + "\n".join(differences)
    )


def test_future_migrations_apply_after_the_migrations(
    db_factory: Any,
    migrations_dir: Path,
    future_migrations_dir: Path,
    apply_migration_files: ApplyFiles,
) -> None:
    if not naming.migration_files(future_migrations_dir):
        pytest.skip("no future migration to apply")
    dbname = str(db_factory())
    apply_migration_files(dbname, migrations_dir)

    assert apply_migration_files(dbname, future_migrations_dir)


def test_migrations_path_is_the_packaged_migrations_folder(
    migrations_dir: Path,
) -> None:
    package_sql = Path(schema.__file__).parent / "sql"

    assert migrations_dir.is_dir()
    assert migrations_dir.resolve() == (package_sql / "migrations").resolve()


def test_future_migrations_folder_sits_beside_the_migrations(
    future_migrations_dir: Path,
) -> None:
    # git keeps no empty folder: the README is what makes this one exist in a checkout.
    assert future_migrations_dir.is_dir(), (
        f"{future_migrations_dir} is missing; it must be committed with its README.md"
    )
    assert (future_migrations_dir / "README.md").is_file()


@pytest.mark.parametrize("folder", ["migrations", "future_migrations"])
def test_migration_folders_hold_only_sql_files(
    folder: str, migrations_dir: Path
) -> None:
    path = migrations_dir.parent / folder
    unexpected = sorted(
        entry.name
        for entry in path.iterdir()
        if entry.name not in naming.NON_MIGRATION_FILES | _IGNORED_ENTRIES
        and not (entry.is_file() and entry.name.endswith(".sql"))
    )

    assert unexpected == [], (
        f"{folder}/ may only hold .sql files, README.md and __init__.py: "
        "migration tools would skip or choke on the others"
    )


def _recorded(dbname: str) -> list[str]:
    with psycopg.connect(dbname=dbname, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT name FROM procrastinate_migrations ORDER BY name"
        ).fetchall()
    return [name for (name,) in rows]


def test_each_migration_records_its_own_name(
    empty_db_name: str, migrations_dir: Path, apply_migration_files: ApplyFiles
) -> None:
    applied = apply_migration_files(empty_db_name, migrations_dir)

    assert _recorded(empty_db_name) == applied


def test_schema_sql_records_every_migration(
    template_db: str, migrations_dir: Path
) -> None:
    # Healthchecks compare this record with the packaged files: a new database must
    # not look as if it lacked a migration.
    assert _recorded(template_db) == naming.migration_files(migrations_dir)
