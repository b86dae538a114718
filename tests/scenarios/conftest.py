"""Fixtures of the shared scenarios: one backend per run of each test.

What differs between the backends (building a connector, reading events, making time
pass for events and heartbeats) hides behind a :class:`Backend`, so that the body of
each scenario is the same for both.

The PostgreSQL scenarios share one database, cloned once from the session's template
and emptied before each test, its sequences restarted: the state is that of a fresh
database (ids start at 1 again), without paying a ``CREATE DATABASE`` (a checkpoint,
most of a second) per test. ``DELETE`` is used rather than ``TRUNCATE``, which syncs
new files to disk and costs a fifth of a second.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

import procrastinate
from procrastinate import connector as connector_module
from procrastinate import manager, testing
from procrastinate.contrib.aiopg import AiopgConnector
from procrastinate.contrib.psycopg2 import Psycopg2Connector
from procrastinate.contrib.sqlalchemy import SQLAlchemyPsycopg2Connector
from procrastinate.psycopg_connector import PsycopgConnector
from procrastinate.sync_psycopg_connector import SyncPsycopgConnector


class Backend:
    """A database the scenarios run on, with the few helpers that depend on it."""

    name: str
    connector: connector_module.BaseAsyncConnector
    #: Whether its connector can LISTEN (workers listening for jobs, notifications).
    listens: bool = True

    def require_listening(self) -> None:
        """Skip the test unless the connector can LISTEN."""
        if not self.listens:
            pytest.skip(f"the {self.name} connector cannot LISTEN")

    def new_connector(self, **json_hooks: Any) -> connector_module.BaseAsyncConnector:
        """An unopened connector on the same database, with ``json_dumps`` /
        ``json_loads``."""
        raise NotImplementedError

    def event_types(self, job_id: int) -> list[str]:
        """The types of the events of a job, oldest first."""
        raise NotImplementedError

    def age_events(self, job_id: int, hours: float) -> None:
        """Move the events of a job ``hours`` into the past."""
        raise NotImplementedError

    def age_heartbeat(self, worker_id: int, seconds: float) -> None:
        """Move the last heartbeat of a worker ``seconds`` into the past."""
        raise NotImplementedError

    async def is_listening(self) -> bool:
        """Whether a ``listen_notify`` call has started listening."""
        raise NotImplementedError

    def set_args(self, job_id: int, args_json: str) -> None:
        """Store ``args_json`` as the arguments of a job, as an SQL edit would."""
        raise NotImplementedError


class InMemoryBackend(Backend):
    """The :class:`~procrastinate.testing.InMemoryConnector`: state edited directly."""

    name = "in_memory"

    def __init__(self) -> None:
        self.memory = testing.InMemoryConnector()
        self.connector = self.memory

    def new_connector(self, **json_hooks: Any) -> connector_module.BaseAsyncConnector:
        return testing.InMemoryConnector(**json_hooks)

    def event_types(self, job_id: int) -> list[str]:
        return [event["type"] for event in self.memory.events.get(job_id, [])]

    def age_events(self, job_id: int, hours: float) -> None:
        for event in self.memory.events.get(job_id, []):
            event["at"] -= datetime.timedelta(hours=hours)

    def age_heartbeat(self, worker_id: int, seconds: float) -> None:
        self.memory.workers[worker_id] -= datetime.timedelta(seconds=seconds)

    async def is_listening(self) -> bool:
        return self.memory.on_notification is not None

    def set_args(self, job_id: int, args_json: str) -> None:
        self.memory.jobs[job_id]["args"] = json.loads(args_json)


class PostgresBackend(Backend):
    """A fresh test database, edited with SQL through a direct connection, and one
    of the real connectors on it."""

    def __init__(
        self,
        name: str,
        db_name: str,
        connection: psycopg.Connection[Any],
        factory: ConnectorFactory,
    ) -> None:
        self.name = name
        self.db_name = db_name
        self.connection = connection
        self.factory = factory
        self.listens = name in LISTENING
        if name == "django":
            _point_django_at(db_name)
        self.connector = self.new_connector()

    def new_connector(self, **json_hooks: Any) -> connector_module.BaseAsyncConnector:
        return self.factory(f"postgresql:///{self.db_name}", **json_hooks)

    def terminate_sessions(self, *, listening: bool = False) -> int:
        """
        Terminate the connector's sessions (those that ran ``LISTEN`` last, or the
        others), waiting until they are gone; how many there were.
        """
        rows = self.connection.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend' "
            "AND (query LIKE 'LISTEN %%') = %s",
            (listening,),
        ).fetchall()
        return len(rows)

    def event_types(self, job_id: int) -> list[str]:
        rows = self.connection.execute(
            "SELECT type FROM procrastinate_events WHERE job_id = %s ORDER BY id",
            (job_id,),
        )
        return [row[0] for row in rows]

    def age_events(self, job_id: int, hours: float) -> None:
        self.connection.execute(
            "UPDATE procrastinate_events SET at = at - make_interval(hours => %s) "
            "WHERE job_id = %s",
            (hours, job_id),
        )

    def age_heartbeat(self, worker_id: int, seconds: float) -> None:
        self.connection.execute(
            "UPDATE procrastinate_workers "
            "SET last_heartbeat = last_heartbeat - make_interval(secs => %s) "
            "WHERE id = %s",
            (seconds, worker_id),
        )

    async def is_listening(self) -> bool:
        # The LISTEN session shows its last statement until it runs another one.
        row = self.connection.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN %%'"
        ).fetchone()
        return bool(row and row[0])

    def set_args(self, job_id: int, args_json: str) -> None:
        self.connection.execute(
            "UPDATE procrastinate_jobs SET args = %s::jsonb WHERE id = %s",
            (args_json, job_id),
        )


class ThreadedSyncConnector(connector_module.BaseAsyncConnector):
    """
    A synchronous connector seen as an asynchronous one, the way a custom connector
    of 3.x overrides the ``_async`` methods: each call runs in a thread, through the
    synchronous connector's statements, errors and retries. It cannot listen, as the
    synchronous connector cannot.
    """

    def __init__(self, sync: connector_module.BaseSyncConnector) -> None:
        self.sync = sync
        self.json_dumps = sync.json_dumps
        self.json_loads = sync.json_loads

    def get_sync_connector(self) -> connector_module.BaseConnector:
        return self.sync

    async def open_async(self, pool: Any = None) -> None:
        await asyncio.to_thread(self.sync.open, pool)

    async def close_async(self) -> None:
        await asyncio.to_thread(self.sync.close)

    async def execute_query_async(self, query: str, **arguments: Any) -> None:
        await asyncio.to_thread(
            functools.partial(self.sync.execute_query, query, **arguments)
        )

    async def execute_query_one_async(
        self, query: str, **arguments: Any
    ) -> dict[str, Any]:
        return await asyncio.to_thread(
            functools.partial(self.sync.execute_query_one, query, **arguments)
        )

    async def execute_query_all_async(
        self, query: str, **arguments: Any
    ) -> list[dict[str, Any]]:
        return await asyncio.to_thread(
            functools.partial(self.sync.execute_query_all, query, **arguments)
        )


def _psycopg(uri: str, **hooks: Any) -> connector_module.BaseAsyncConnector:
    return PsycopgConnector(conninfo=uri, min_size=1, **hooks)


def _sync_psycopg(uri: str, **hooks: Any) -> connector_module.BaseAsyncConnector:
    return ThreadedSyncConnector(
        SyncPsycopgConnector(conninfo=uri, min_size=1, **hooks)
    )


def _aiopg(uri: str, **hooks: Any) -> connector_module.BaseAsyncConnector:
    return AiopgConnector(dsn=uri, minsize=1, **hooks)


def _psycopg2(uri: str, **hooks: Any) -> connector_module.BaseAsyncConnector:
    return ThreadedSyncConnector(Psycopg2Connector(dsn=uri, **hooks))


def _sqlalchemy(uri: str, **hooks: Any) -> connector_module.BaseAsyncConnector:
    # postgresql:// means psycopg2 to SQLAlchemy.
    return ThreadedSyncConnector(SQLAlchemyPsycopg2Connector(dsn=uri, **hooks))


def _django(uri: str, **hooks: Any) -> connector_module.BaseAsyncConnector:
    # Django's own connection, to the database of its settings.
    from procrastinate.contrib.django.django_connector import DjangoConnector

    return DjangoConnector(**hooks)


def _point_django_at(db_name: str) -> None:
    # Importing the Django tests' fixtures configures Django, with their settings;
    # the scenario database has the schema that Django's migrations build.
    from django.conf import settings

    from tests.integration.django import conftest  # noqa: F401

    settings.DATABASES["default"]["NAME"] = db_name


ConnectorFactory = Callable[..., connector_module.BaseAsyncConnector]
# Every real connector, by backend name, from a libpq URI.
FACTORIES: dict[str, ConnectorFactory] = {
    "psycopg": _psycopg,
    "sync_psycopg": _sync_psycopg,
    "aiopg": _aiopg,
    "psycopg2": _psycopg2,
    "sqlalchemy": _sqlalchemy,
    "django": _django,
}
# Those that can LISTEN, hence run a worker listening for jobs.
LISTENING = frozenset({"psycopg", "aiopg"})


# In an order that the foreign keys accept.
TABLES = (
    "procrastinate_periodic_defers",
    "procrastinate_events",
    "procrastinate_jobs",
    "procrastinate_workers",
)


# Tables without an id sequence.
KEYED_TABLES = ("procrastinate_queues",)


def empty_database(conn: psycopg.Connection[Any]) -> None:
    """Delete every row and restart the id sequences, in one commit."""
    with conn.transaction():
        for table in KEYED_TABLES:
            conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
        for table in TABLES:
            conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
            conn.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'id'), 1, false)", (table,)
            )


def _admin(statement: sql.Composed) -> None:
    with psycopg.connect(dbname="postgres", autocommit=True) as conn:
        conn.execute(statement)


@pytest.fixture(scope="session")
def scenario_db_name(run_id: str, template_db: str) -> Iterator[str]:
    """The database of the PostgreSQL scenarios, with the packaged schema."""
    db_name = f"procrastinate_test_{run_id}_scenarios"
    name = sql.Identifier(db_name)
    _admin(
        sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            name, sql.Identifier(template_db)
        )
    )
    try:
        yield db_name
    finally:
        _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


@pytest.fixture
def scenario_connection(
    scenario_db_name: str,
) -> Iterator[psycopg.Connection[Any]]:
    """A direct connection to the emptied scenario database."""
    with psycopg.connect(dbname=scenario_db_name, autocommit=True) as conn:
        empty_database(conn)
        yield conn


# The fast lane (scripts/tests --fast) runs the scenarios on the in-memory connector
# and the default one; the other connectors, in the full run.
FAST_BACKENDS = ("in_memory", "psycopg")


@pytest.fixture(
    params=[
        name if name in FAST_BACKENDS else pytest.param(name, marks=pytest.mark.slow)
        for name in ("in_memory", *FACTORIES)
    ]
)
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """Each backend in turn, its connector open."""
    chosen: Backend
    if request.param == "in_memory":
        chosen = InMemoryBackend()
    else:
        chosen = PostgresBackend(
            request.param,
            request.getfixturevalue("scenario_db_name"),
            request.getfixturevalue("scenario_connection"),
            FACTORIES[request.param],
        )
    opened = _DjangoConnections() if request.param == "django" else None
    await chosen.connector.open_async()
    yield chosen
    await chosen.connector.close_async()
    if opened is not None:
        opened.close()


class _DjangoConnections:
    """
    The connections that Django opens, in whatever thread or context (the sync API
    runs in threads of its own), to close them once the test is done: closed, a
    Django connection opens again, to the database that the settings name.
    """

    def __init__(self) -> None:
        from django.db.backends import signals

        self.wrappers: list[Any] = []
        signals.connection_created.connect(self._created, weak=False)

    def _created(self, sender: Any, connection: Any, **kwargs: Any) -> None:
        self.wrappers.append(connection)

    def close(self) -> None:
        from django.db.backends import signals

        signals.connection_created.disconnect(self._created)
        for wrapper in self.wrappers:
            # The driver's connection: Django refuses to close another thread's.
            if wrapper.connection is not None:
                wrapper.connection.close()


@pytest.fixture
def app(backend: Backend) -> procrastinate.App:
    """An app on the backend's open connector, with no task of its own."""
    return procrastinate.App(connector=backend.connector)


@pytest.fixture
def job_manager(app: procrastinate.App) -> manager.JobManager:
    """The job manager of the app."""
    return app.job_manager


@pytest.fixture
async def worker_id(job_manager: manager.JobManager) -> int:
    """A registered worker."""
    return await job_manager.register_worker()
