"""Test databases: create, clone, empty, drop.

Connection parameters come from the libpq environment (``PG*`` variables, set by
``scripts/tests``); the functions that take ``**params`` let a caller aim at another
server (the private cluster of the fault suite) with libpq keywords such as ``host``
and ``port``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import threading
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import psycopg
from psycopg import sql

from procrastinate import schema

# The tables of the packaged schema that tests fill, in an order that the foreign
# keys accept for a DELETE.
PROCRASTINATE_TABLES = (
    "procrastinate_periodic_defers",
    "procrastinate_events",
    "procrastinate_jobs",
    "procrastinate_workers",
)


def connect(dbname: str, **params: Any) -> psycopg.Connection[Any]:
    """An autocommit connection to ``dbname`` (the rest from ``PG*``, or ``params``).

    :raises psycopg.OperationalError: the server cannot be reached.
    """
    return psycopg.connect(dbname=dbname, autocommit=True, **params)


def execute(dbname: str, query: str | sql.Composable, **params: Any) -> None:
    """Run one query, or a script without parameters, on ``dbname``.

    :raises psycopg.Error: the query failed.
    """
    with connect(dbname, **params) as conn:
        conn.execute(query)  # type: ignore[arg-type]


def unique_name(prefix: str) -> str:
    """A database name starting with ``prefix`` that no other test run uses."""
    return f"{prefix}_{uuid.uuid4().hex[:6]}"


def create_database(name: str, template: str | None = None, **params: Any) -> None:
    """Create database ``name``, empty or as a copy of ``template``.

    :raises psycopg.Error: it exists already, or the template is in use.
    """
    query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
    execute("postgres", query, **params)


def drop_database(name: str, **params: Any) -> None:
    """Drop database ``name`` if it exists, ending the sessions still on it."""
    execute(
        "postgres",
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)),
        **params,
    )


def install_schema(name: str, **params: Any) -> None:
    """Apply the packaged schema (``schema.sql``) to database ``name``.

    :raises psycopg.Error: the schema does not apply (it is there already).
    """
    execute(name, schema.SchemaManager.get_schema(), **params)


@contextlib.contextmanager
def temporary_database(
    name: str, template: str | None = None, **params: Any
) -> Iterator[str]:
    """Create database ``name`` (see :func:`create_database`) for the block, then
    drop it whatever happened; yields its name."""
    create_database(name, template=template, **params)
    try:
        yield name
    finally:
        drop_database(name, **params)


def empty_tables(
    conn: psycopg.Connection[Any],
    tables: Iterable[str] = PROCRASTINATE_TABLES,
    restart_ids: Iterable[str] | None = None,
) -> None:
    """Delete every row of ``tables`` (in that order) and restart the id sequences of
    ``restart_ids`` (all of ``tables`` by default), in one round trip and one
    transaction: the state of a fresh database, for much less than a clone costs.

    ``DELETE`` rather than ``TRUNCATE``, which syncs new files to disk and costs a
    fifth of a second on these small tables.
    """
    tables = list(tables)
    restarted = tables if restart_ids is None else list(restart_ids)
    statements = [
        sql.SQL("DELETE FROM {}").format(sql.Identifier(table)) for table in tables
    ] + [
        sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'id'), 1, false)").format(
            sql.Literal(table)
        )
        for table in restarted
    ]
    # Without parameters, the statements go as one simple query: one transaction.
    conn.execute(sql.SQL("; ").join(statements))


def environment(dbname: str, **extra: str) -> dict[str, str]:
    """The environment of a subprocess that should use ``dbname``, plus ``extra``."""
    return {**os.environ, "PGDATABASE": dbname, **extra}


def conninfo(dbname: str) -> str:
    """The libpq connection string of ``dbname`` (the rest comes from ``PG*``)."""
    return f"dbname={dbname}"


def listening_pids(conn: psycopg.Connection[Any]) -> set[int]:
    """The sessions on the database of ``conn`` whose last statement was a
    ``LISTEN`` (a session shows its last statement until it runs another one)."""
    rows = conn.execute(
        "SELECT pid FROM pg_stat_activity "
        "WHERE datname = current_database() AND query ILIKE 'LISTEN %%'"
    ).fetchall()
    return {int(pid) for (pid,) in rows}


def listening_sessions(conn: psycopg.Connection[Any]) -> int:
    """How many sessions on the database of ``conn`` listen (see
    :func:`listening_pids`): a worker listens once this is positive."""
    return len(listening_pids(conn))


def count_tables(dbname: str) -> int:
    """Number of tables in the public schema of ``dbname``."""
    with connect(dbname) as conn:
        row = conn.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'public'"
        ).fetchone()
    assert row is not None
    return int(row[0])


class DatabaseSupply:
    """
    Clones of a template database, prepared ahead by a background thread so that a
    test rarely waits for ``CREATE DATABASE``; used clones are dropped by the same
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
                drop_database(name)
                continue
            new_name = f"{self.prefix}_{next(self.counter)}"
            create_database(new_name, template=self.template)
            self.ready.put(new_name)

    def take(self) -> str:
        """A fresh clone; another one is ordered to replace it.

        :raises queue.Empty: no clone came within two minutes (the thread failed).
        """
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
            drop_database(self.ready.get())


class Factory:
    """Creates databases for one test (empty, or clones of a template) and drops
    them all at :meth:`close`."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.created: list[str] = []

    def __call__(self, template: str | None = None) -> str:
        """A new database, empty or cloned from ``template``; returns its name."""
        name = unique_name(f"{self.prefix}_f{len(self.created)}")
        create_database(name, template=template)
        self.created.append(name)
        return name

    def close(self) -> None:
        """Drop the databases created so far."""
        for name in self.created:
            drop_database(name)
