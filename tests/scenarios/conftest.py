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

import datetime
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

import procrastinate
from procrastinate import connector as connector_module
from procrastinate import manager, testing
from procrastinate.psycopg_connector import PsycopgConnector


class Backend:
    """A database the scenarios run on, with the few helpers that depend on it."""

    name: str
    connector: connector_module.BaseAsyncConnector

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
    """A fresh test database, edited with SQL through a direct connection."""

    name = "postgres"

    def __init__(self, conninfo: str, connection: psycopg.Connection[Any]) -> None:
        self.conninfo = conninfo
        self.connection = connection
        self.connector = self.new_connector()

    def new_connector(self, **json_hooks: Any) -> connector_module.BaseAsyncConnector:
        return PsycopgConnector(conninfo=self.conninfo, min_size=1, **json_hooks)

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


# In an order that the foreign keys accept.
TABLES = (
    "procrastinate_periodic_defers",
    "procrastinate_events",
    "procrastinate_jobs",
    "procrastinate_workers",
)


def empty_database(conn: psycopg.Connection[Any]) -> None:
    """Delete every row and restart the id sequences, in one commit."""
    with conn.transaction():
        for table in TABLES:
            conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
            conn.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'id'), 1, false)", (table,)
            )


def _admin(statement: sql.Composed) -> None:
    with psycopg.connect(dbname="postgres", autocommit=True) as conn:
        conn.execute(statement)


@pytest.fixture(scope="session")
def scenario_conninfo(run_id: str, template_db: str) -> Iterator[str]:
    """The database of the PostgreSQL scenarios, with the packaged schema."""
    db_name = f"procrastinate_test_{run_id}_scenarios"
    name = sql.Identifier(db_name)
    _admin(
        sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            name, sql.Identifier(template_db)
        )
    )
    try:
        yield f"dbname={db_name}"
    finally:
        _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


@pytest.fixture
def scenario_connection(
    scenario_conninfo: str,
) -> Iterator[psycopg.Connection[Any]]:
    """A direct connection to the emptied scenario database."""
    with psycopg.connect(scenario_conninfo, autocommit=True) as conn:
        empty_database(conn)
        yield conn


@pytest.fixture(params=["in_memory", "postgres"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """Each backend in turn, its connector open."""
    chosen: Backend
    if request.param == "in_memory":
        chosen = InMemoryBackend()
    else:
        chosen = PostgresBackend(
            request.getfixturevalue("scenario_conninfo"),
            request.getfixturevalue("scenario_connection"),
        )
    await chosen.connector.open_async()
    yield chosen
    await chosen.connector.close_async()


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
