"""Fixtures shared by every suite.

The database comes from the libpq environment (PG* variables; scripts/tests sets them
after finding or starting a server). A template database with the packaged schema is
built once per test run; each test that asks for a database gets a fresh clone of it
(job ids start at 1), dropped afterwards. Clones are made ahead of time and dropped in
the background, so that the tests do not wait for CREATE/DROP DATABASE.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import hypothesis
import psycopg
import pytest
from psycopg import sql

from procrastinate import app as app_module
from procrastinate import psycopg_connector, schema, sync_psycopg_connector

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


def _admin_connect() -> psycopg.Connection[Any]:
    return psycopg.connect(dbname="postgres", autocommit=True)


def _create_database(name: str, template: str | None = None) -> None:
    with _admin_connect() as conn:
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
        conn.execute(query)


def _drop_database(name: str) -> None:
    with _admin_connect() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)
            )
        )


@pytest.fixture(scope="session")
def run_id() -> str:
    """Distinguishes the databases of concurrent test runs on one server."""
    return f"{os.getpid()}_{uuid.uuid4().hex[:6]}"


class DatabaseSupply:
    """
    Clones of the template database, prepared ahead by a background thread so that a
    test rarely waits for CREATE DATABASE; used databases are dropped by the same
    thread, off the tests' critical path.
    """

    AHEAD = 2

    def __init__(self, template: str, prefix: str) -> None:
        self.template = template
        self.prefix = prefix
        self.counter = itertools.count()
        self.ready: queue.Queue[str] = queue.Queue()
        self.orders: queue.Queue[tuple[str, str | None]] = queue.Queue()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        for _ in range(self.AHEAD):
            self.orders.put(("create", None))

    def _serve(self) -> None:
        while True:
            order, name = self.orders.get()
            if order == "stop":
                return
            if order == "drop" and name:
                _drop_database(name)
                continue
            new_name = f"{self.prefix}_{next(self.counter)}"
            _create_database(new_name, template=self.template)
            self.ready.put(new_name)

    def take(self) -> str:
        """A fresh clone; another one is ordered to replace it."""
        self.orders.put(("create", None))
        return self.ready.get(timeout=120)

    def give_back(self, name: str) -> None:
        """Drop a used clone, in the background."""
        self.orders.put(("drop", name))

    def close(self) -> None:
        """Drop what is left and stop the thread."""
        self.orders.put(("stop", None))
        self.thread.join(timeout=120)
        while not self.ready.empty():
            _drop_database(self.ready.get())


@pytest.fixture(scope="session")
def template_db(run_id: str) -> Iterator[str]:
    """A database holding the packaged schema, to clone for each test."""
    name = f"procrastinate_test_template_{run_id}"
    _create_database(name)
    try:
        with psycopg.connect(dbname=name, autocommit=True) as conn:
            conn.execute(schema.SchemaManager.get_schema())
        yield name
    finally:
        _drop_database(name)


@pytest.fixture(scope="session")
def database_supply(template_db: str, run_id: str) -> Iterator[DatabaseSupply]:
    """The clones of the template database."""
    supply = DatabaseSupply(template_db, prefix=f"procrastinate_test_{run_id}")
    yield supply
    supply.close()


@pytest.fixture
def db_factory(run_id: str) -> Iterator[Any]:
    """Create databases (empty, or cloned from a template) dropped after the test."""
    created: list[str] = []

    def create(template: str | None = None) -> str:
        name = f"procrastinate_test_{run_id}_f{len(created)}_{uuid.uuid4().hex[:6]}"
        _create_database(name, template=template)
        created.append(name)
        return name

    yield create
    for name in created:
        _drop_database(name)


@pytest.fixture
def db_name(database_supply: DatabaseSupply) -> Iterator[str]:
    """A fresh database with the procrastinate schema."""
    name = database_supply.take()
    yield name
    database_supply.give_back(name)


@pytest.fixture
def empty_db_name(db_factory: Any) -> str:
    """A fresh database without any schema."""
    return str(db_factory())


@pytest.fixture
def conninfo(db_name: str) -> str:
    """libpq connection string of the test database (the rest comes from PG*)."""
    return f"dbname={db_name}"


@pytest.fixture
def db_env(db_name: str) -> dict[str, str]:
    """The environment for a subprocess that should use the test database."""
    return {**os.environ, "PGDATABASE": db_name}


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
