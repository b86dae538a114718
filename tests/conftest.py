"""Fixtures shared by every suite, over :mod:`tests.support.databases`.

The database comes from the libpq environment (PG* variables; scripts/tests sets them
after finding or starting a server). A template database with the packaged schema is
built once per test run; each test that asks for a database gets a fresh clone of it
(job ids start at 1), dropped afterwards. Clones are made ahead of time and dropped in
the background, so that the tests do not wait for CREATE/DROP DATABASE.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import hypothesis
import psycopg
import pytest

from procrastinate import app as app_module
from procrastinate import psycopg_connector, sync_psycopg_connector
from tests.support import databases

# Property tests run few examples by default (CI time matters). For a thorough run:
# PROCRASTINATE_HYPOTHESIS_PROFILE=long scripts/tests --timeout=0 -k properties
# Their examples share the test's database, hence function-scoped fixtures are fine.
_HYPOTHESIS_COMMON = {
    "deadline": None,
    "suppress_health_check": [
        hypothesis.HealthCheck.function_scoped_fixture,
        hypothesis.HealthCheck.too_slow,
    ],
}
hypothesis.settings.register_profile("default", max_examples=12, **_HYPOTHESIS_COMMON)
hypothesis.settings.register_profile("long", max_examples=500, **_HYPOTHESIS_COMMON)
hypothesis.settings.load_profile(
    os.environ.get("PROCRASTINATE_HYPOTHESIS_PROFILE", "default")
)


# The slow lane, which `scripts/tests --fast` leaves out: the folders and modules whose
# tests start processes, build something big or wait on purpose (each takes seconds;
# measured with --durations), and the tests using a fixture that starts a process. A
# slow test elsewhere carries @pytest.mark.slow itself.
SLOW = {
    "acceptance": "the real command, in subprocesses",
    "faults": "workers through database and process faults",
    "benchmarks/test_compare.py": "the comparison harness, in subprocesses",
    "docs/test_browser.py": "headless Chromium",
    "docs/test_examples.py": "the examples of the documentation, run in a shell",
    "docs/test_site.py": "a build of the documentation site",
    "integration/django/test_migrations.py": "Django migrations, from 3.10's too",
    "migration/test_upgrade_from_3_10.py": "procrastinate 3.10, in its own venv",
    "repo/test_packaging.py": "builds of the sdist and the wheel",
    "tooling/test_lint.py": "the linters, over the whole repository",
    "unit/test_typing.py": "mypy, over typing examples",
    "docs/test_browser_skip.py": "pytest, in subprocesses",
    "integration/django/test_demo.py": "the demo project's commands, in subprocesses",
    "integration/django/test_tasks_backend.py": "django.tasks: workers in subprocesses, Django 6 in its venv",
}
SLOW_FIXTURES = {"manage": "python -m django, in a subprocess"}
TESTS_ROOT = Path(__file__).parent


def is_slow(path: Path) -> bool:
    """Whether the test file at ``path`` belongs to the slow lane (:data:`SLOW`)."""
    relative = path.relative_to(TESTS_ROOT).as_posix()
    return any(relative == slow or relative.startswith(f"{slow}/") for slow in SLOW)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if is_slow(item.path) or fixtures & SLOW_FIXTURES.keys():
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def run_id() -> str:
    """Distinguishes the databases of concurrent test runs on one server."""
    return f"{os.getpid()}_{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session")
def template_db(run_id: str) -> Iterator[str]:
    """A database holding the packaged schema, to clone for each test."""
    with databases.temporary_database(f"procrastinate_test_template_{run_id}") as name:
        databases.install_schema(name)
        yield name


@pytest.fixture(scope="session")
def database_supply(
    template_db: str, run_id: str
) -> Iterator[databases.DatabaseSupply]:
    """The clones of the template database."""
    supply = databases.DatabaseSupply(
        template_db, prefix=f"procrastinate_test_{run_id}"
    )
    yield supply
    supply.close()


@pytest.fixture
def db_factory(
    run_id: str, database_supply: databases.DatabaseSupply
) -> Iterator[databases.Factory]:
    """Create databases (empty, or cloned from a template) dropped after the test,
    in the background."""
    factory = databases.Factory(
        prefix=f"procrastinate_test_{run_id}", discard=database_supply.give_back
    )
    yield factory
    factory.close()


@pytest.fixture
def db_name(database_supply: databases.DatabaseSupply) -> Iterator[str]:
    """A fresh database with the procrastinate schema."""
    name = database_supply.take()
    yield name
    database_supply.give_back(name)


@pytest.fixture
def empty_db_name(db_factory: databases.Factory) -> str:
    """A fresh database without any schema."""
    return db_factory()


@pytest.fixture
def conninfo(db_name: str) -> str:
    """libpq connection string of the test database (the rest comes from PG*)."""
    return databases.conninfo(db_name)


@pytest.fixture
def db_env(db_name: str) -> dict[str, str]:
    """The environment for a subprocess that should use the test database."""
    return databases.environment(db_name)


@pytest.fixture
def connection(conninfo: str) -> Iterator[psycopg.Connection[Any]]:
    """A direct autocommit connection to the test database, to check its content."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        yield conn


@pytest.fixture
async def psycopg_connector_open(
    conninfo: str,
) -> AsyncIterator[psycopg_connector.PsycopgConnector]:
    """An open async connector on the test database."""
    connector = psycopg_connector.PsycopgConnector(conninfo=conninfo, min_size=1)
    await connector.open_async()
    yield connector
    await connector.close_async()


@pytest.fixture
def sync_connector_open(
    conninfo: str,
) -> Iterator[sync_psycopg_connector.SyncPsycopgConnector]:
    """An open sync connector on the test database."""
    connector = sync_psycopg_connector.SyncPsycopgConnector(
        conninfo=conninfo, min_size=1
    )
    connector.open()
    yield connector
    connector.close()


@pytest.fixture
async def app(
    psycopg_connector_open: psycopg_connector.PsycopgConnector,
) -> app_module.App:
    """An open app on the test database, with no task of its own."""
    return app_module.App(connector=psycopg_connector_open)
