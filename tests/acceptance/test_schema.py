"""``procrastinate schema``, ``healthchecks`` and ``--version``: setting up a database
and checking it, as an operator would."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest

if TYPE_CHECKING:
    from tests.support.commands import Cli

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "procrastinate/sql/schema.sql"
PRE = "03.10.00_01_pre_upgrade_from_3_10.sql"
POST = "03.10.00_50_post_upgrade_from_3_10.sql"


def test_schema_apply_then_healthchecks_ok(
    empty_cli: Cli, empty_db_name: str, count_tables: Callable[[str], int]
) -> None:
    empty_cli("schema", "--apply").check()

    assert count_tables(empty_db_name) > 0
    healthchecks = empty_cli("healthchecks").check()
    assert healthchecks.stdout.splitlines() == [
        "App configuration: OK",
        "DB connection: OK",
        "Found procrastinate_jobs table: OK",
        "Migrations: OK",
    ]


def test_healthchecks_on_an_empty_database_says_to_apply_the_schema(
    empty_cli: Cli, empty_db_name: str, count_tables: Callable[[str], int]
) -> None:
    line = empty_cli("healthchecks").error_line()

    assert "schema --apply" in line
    assert count_tables(empty_db_name) == 0


def _forget(dbname: str, migration: str) -> None:
    with psycopg.connect(dbname=dbname, autocommit=True) as conn:
        conn.execute(
            "DELETE FROM procrastinate_migrations WHERE name = %s", (migration,)
        )


def test_healthchecks_name_the_first_missing_migration(
    empty_cli: Cli, empty_db_name: str
) -> None:
    empty_cli("schema", "--apply").check()
    _forget(empty_db_name, PRE)

    line = empty_cli("healthchecks").error_line()

    assert line == (
        f"procrastinate: error: The database lacks the migration {PRE}, which this "
        "version of procrastinate needs: apply the migrations from that one on, in "
        "order"
    )


def test_healthchecks_let_post_migrations_wait(
    empty_cli: Cli, empty_db_name: str
) -> None:
    empty_cli("schema", "--apply").check()
    _forget(empty_db_name, POST)

    healthchecks = empty_cli("healthchecks").check()

    assert healthchecks.stdout.splitlines()[-1] == (
        "Migrations: OK, but apply the post migrations once no worker of the previous "
        f"version runs: {POST}"
    )


def test_schema_read_prints_the_schema_without_a_database(offline_cli: Cli) -> None:
    result = offline_cli("schema", "--read", app=False).check()

    assert result.stdout == SCHEMA_FILE.read_text()


def test_migrations_path_is_an_existing_folder_of_sql_files(offline_cli: Cli) -> None:
    result = offline_cli("schema", "--migrations-path", app=False).check()

    folder = Path(result.stdout.strip())
    assert folder.is_dir()
    assert list(folder.glob("*.sql"))


@pytest.mark.parametrize("option", ["-V", "--version"])
def test_version(offline_cli: Cli, option: str) -> None:
    result = offline_cli(option, app=False).check()

    assert result.stdout.startswith("procrastinate, version ")
