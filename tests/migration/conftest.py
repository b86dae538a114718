"""Fixtures of the migration tests: where the migration folders are, and how to build
and describe a database from SQL files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from procrastinate import schema
from tests.support import databases

from . import naming, schema_inspection

ApplyFiles = Callable[[str, Path], list[str]]
Describe = Callable[[str], schema_inspection.Description]
Execute = Callable[[str, str], None]
Change = str | Callable[[psycopg.Connection[Any]], str]
DescribeAfter = Callable[[str, Change], schema_inspection.Description]


@pytest.fixture(scope="session")
def migrations_dir() -> Path:
    """The folder of the migrations, as the package exposes it to migration tools."""
    return Path(schema.SchemaManager.get_migrations_path())


@pytest.fixture(scope="session")
def future_migrations_dir(migrations_dir: Path) -> Path:
    """The folder of the migrations that may only be applied after the next major."""
    return migrations_dir.parent / "future_migrations"


def _apply_files(dbname: str, folder: Path) -> list[str]:
    applied: list[str] = []
    with databases.connect(dbname) as conn:
        for name in naming.migration_files(folder):
            text = (folder / name).read_text(encoding="utf-8")
            try:
                # One transaction per file, as a migration tool runs them: a file that
                # only works when merged with its neighbours must fail here.
                with conn.transaction():
                    conn.execute(text)
            except psycopg.Error as exc:
                after = f"after {applied[-1]}" if applied else "on an empty database"
                pytest.fail(
                    f"{folder.name}/{name} does not apply {after}: "
                    f"{type(exc).__name__}: {exc}"
                )
            applied.append(name)
    return applied


@pytest.fixture
def apply_migration_files() -> ApplyFiles:
    """Apply the files of a migration folder to a database, in name order, each in
    its own transaction; fail the test naming the first file that breaks."""
    return _apply_files


@pytest.fixture
def execute_sql() -> Execute:
    """Run a SQL script (no parameters, so several statements) on a database."""
    return databases.execute


def _describe(dbname: str) -> schema_inspection.Description:
    with databases.connect(dbname) as conn:
        return schema_inspection.describe_schema(conn)


@pytest.fixture
def describe_db() -> Describe:
    """Describe the schema of a database, by name."""
    return _describe


@pytest.fixture(scope="session")
def template_description(template_db: str) -> schema_inspection.Description:
    """The description of the template, which every clone of it shares (computed once:
    describing is cheap, but a clone costs a CREATE and a DROP DATABASE)."""
    return _describe(template_db)


@pytest.fixture
def cloned_pair(db_factory: databases.Factory, template_db: str) -> tuple[str, str]:
    """Two databases cloned from the template: identical until a test changes one."""
    return db_factory(template=template_db), db_factory(template=template_db)


@pytest.fixture(scope="module")
def scratch_db(
    template_db: str, run_id: str, database_supply: databases.DatabaseSupply
) -> Iterator[str]:
    """A clone of the template shared by the tests of a module, which change it only in
    transactions they roll back.

    A clone per test costs a CREATE and a DROP DATABASE, and the DROP waits for a
    checkpoint of the whole server: on a busy server that was most of the suite's time.
    """
    name = databases.unique_name(f"procrastinate_test_{run_id}_scratch")
    databases.create_database(name, template=template_db)
    yield name
    # Dropped in the background: the drop waits for a checkpoint.
    database_supply.give_back(name)


def _describe_after(dbname: str, change: Change) -> schema_inspection.Description:
    # Not autocommit: the change and the description share one transaction, rolled back
    # whatever happens, so the database is left as it was.
    with psycopg.connect(dbname=dbname) as conn:
        try:
            conn.execute(change if isinstance(change, str) else change(conn))
            return schema_inspection.describe_schema(conn)
        finally:
            conn.rollback()


@pytest.fixture
def describe_after() -> DescribeAfter:
    """Describe a database as it is after a change (SQL, or a function of a connection
    returning SQL), without keeping the change."""
    return _describe_after
