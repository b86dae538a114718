"""Fixtures of the acceptance suite: the real ``procrastinate`` command, in subprocesses.

Each test gets a fresh database holding the procrastinate schema plus the
``acceptance_events`` table where the tasks of tests/acceptance/app.py record what
they do (see :mod:`tests.support.records`). The command line and the background
workers are those of :mod:`tests.support.commands`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import procrastinate
from procrastinate import sync_psycopg_connector
from tests.support import commands, databases, jobs, records, waiting

APP_PATH = "tests.acceptance.app.app"
TASKS = "tests.acceptance.app"


@pytest.fixture(scope="session")
def acceptance_template_db(template_db: str) -> Iterator[str]:
    """The template database of the whole run, plus the events table."""
    name = f"{template_db}_acceptance"
    with databases.temporary_database(name, template=template_db):
        databases.execute(name, records.EVENTS_DDL)
        yield name


@pytest.fixture
def db_name(db_factory: databases.Factory, acceptance_template_db: str) -> str:
    """A fresh database with the procrastinate schema and the events table."""
    return db_factory(template=acceptance_template_db)


@pytest.fixture
def db(connection: psycopg.Connection[Any], db_name: str) -> records.Database:
    return records.Database(connection=connection, name=db_name)


@pytest.fixture
def cli(db_env: dict[str, str]) -> commands.Cli:
    """The command line on the test database."""
    return commands.Cli(env=db_env, app_path=APP_PATH)


@pytest.fixture
def offline_cli(unreachable_env: dict[str, str]) -> commands.Cli:
    """The command line with no database to talk to (and none created)."""
    return commands.Cli(env=unreachable_env, app_path=APP_PATH)


@pytest.fixture
def empty_env(empty_db_name: str) -> dict[str, str]:
    """The environment of a command on a database without any schema."""
    return databases.environment(empty_db_name)


@pytest.fixture
def empty_cli(empty_env: dict[str, str]) -> commands.Cli:
    """The command line on a database without any schema."""
    return commands.Cli(env=empty_env, app_path=APP_PATH)


@pytest.fixture(name="count_tables")
def count_tables_fixture() -> Callable[[str], int]:
    """:func:`tests.support.databases.count_tables`, for the tests."""
    return databases.count_tables


@pytest.fixture
def workers(
    cli: commands.Cli, db: records.Database, tmp_path: Path
) -> Iterator[commands.Workers]:
    started = commands.Workers(cli=cli, db=db, log_dir=tmp_path)
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def defer(
    sync_connector_open: sync_psycopg_connector.SyncPsycopgConnector,
) -> jobs.Deferrer:
    return jobs.Deferrer(procrastinate.App(connector=sync_connector_open), TASKS)


@pytest.fixture(name="wait_until")
def wait_until_fixture() -> waiting.WaitUntil:
    """:func:`tests.support.waiting.wait_until_sync`, for the tests."""
    return waiting.wait_until_sync


@pytest.fixture
def closed_port() -> int:
    """A local TCP port on which nothing listens (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def unreachable_env(closed_port: int) -> dict[str, str]:
    """An environment where PostgreSQL is expected on a closed port."""
    return {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(closed_port)}


@pytest.fixture(autouse=True)
def _isolated_from_caller_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A PROCRASTINATE_* variable in the developer's shell would change every command.
    # Autouse fixtures run first, so db_env copies the cleaned environment.
    for name in list(os.environ):
        if name.startswith("PROCRASTINATE_"):
            monkeypatch.delenv(name)
