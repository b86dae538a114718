"""``procrastinate schema``, ``healthchecks`` and ``--version``: setting up a database
and checking it, as an operator would."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.acceptance.conftest import Cli, Database

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "procrastinate/sql/schema.sql"


@pytest.fixture
def empty_env(db_env: dict[str, str], empty_db_name: str) -> dict[str, str]:
    return {**db_env, "PGDATABASE": empty_db_name}


def test_schema_apply_then_healthchecks_ok(
    cli: Cli, db: Database, empty_env: dict[str, str], empty_db_name: str
) -> None:
    cli("schema", "--apply", env=empty_env).check()

    assert db.tables_in(empty_db_name) > 0
    healthchecks = cli("healthchecks", env=empty_env).check()
    assert healthchecks.stdout.splitlines() == [
        "App configuration: OK",
        "DB connection: OK",
        "Found procrastinate_jobs table: OK",
    ]


def test_healthchecks_on_an_empty_database_says_to_apply_the_schema(
    cli: Cli, empty_env: dict[str, str]
) -> None:
    line = cli("healthchecks", env=empty_env).error_line()

    assert "schema --apply" in line


def test_schema_read_prints_the_schema_without_a_database(
    cli: Cli, unreachable_env: dict[str, str]
) -> None:
    result = cli("schema", "--read", env=unreachable_env, app=False).check()

    assert result.stdout == SCHEMA_FILE.read_text()


def test_migrations_path_is_an_existing_folder_of_sql_files(
    cli: Cli, unreachable_env: dict[str, str]
) -> None:
    result = cli("schema", "--migrations-path", env=unreachable_env, app=False)

    folder = Path(result.check().stdout.strip())
    assert folder.is_dir()
    assert list(folder.glob("*.sql"))


@pytest.mark.parametrize("option", ["-V", "--version"])
def test_version(cli: Cli, option: str) -> None:
    result = cli(option, app=False).check()

    assert result.stdout.startswith("procrastinate, version ")
