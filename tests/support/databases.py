"""Test databases: create, clone, empty, drop.

Connection parameters come from the libpq environment (``PG*`` variables, set by
``scripts/tests``); the functions that take ``**params`` let a caller aim at another
server (the private cluster of the fault suite) with libpq keywords such as ``host``
and ``port``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import os
import queue
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
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
    "procrastinate_queue_limits",
    "procrastinate_queues",
)
# Those of them without an id sequence to restart.
NAMED_ROWS = frozenset({"procrastinate_queue_limits", "procrastinate_queues"})


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
    ``restart_ids`` (by default, all of ``tables`` that have one), in one round trip and one
    transaction: the state of a fresh database, for much less than a clone costs.

    ``DELETE`` rather than ``TRUNCATE``, which syncs new files to disk and costs a
    fifth of a second on these small tables.
    """
    tables = list(tables)
    restarted = (
        [table for table in tables if table not in NAMED_ROWS]
        if restart_ids is None
        else list(restart_ids)
    )
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
    test rarely waits for ``CREATE DATABASE``, and used databases dropped by another.

    A ``DROP DATABASE`` waits for a checkpoint of the whole server, most of a second
    or more on a busy one: the dropping thread takes every database given back since
    its last round and drops them all at once, so that they share one checkpoint, and
    the clones are never queued behind the drops.
    """

    AHEAD = 3
    PARALLEL_DROPS = 8

    def __init__(self, template: str, prefix: str) -> None:
        self.template = template
        self.prefix = prefix
        self.counter = itertools.count()
        self.ready: queue.Queue[str | Exception] = queue.Queue()
        self.wanted: queue.Queue[bool] = queue.Queue()
        self.used: queue.Queue[str | None] = queue.Queue()
        self.failures: list[BaseException] = []
        self.threads = [
            threading.Thread(target=self._create_wanted, daemon=True),
            threading.Thread(target=self._drop_used, daemon=True),
        ]
        for thread in self.threads:
            thread.start()
        for _ in range(self.AHEAD):
            self.wanted.put(True)

    def _create_wanted(self) -> None:
        while self.wanted.get():
            name = f"{self.prefix}_{next(self.counter)}"
            try:
                create_database(name, template=self.template)
            except psycopg.Error as exc:
                self.ready.put(exc)
                continue
            self.ready.put(name)

    def _drop_used(self) -> None:
        while True:
            batch = [self.used.get()]
            while not self.used.empty():
                batch.append(self.used.get())
            names = [name for name in batch if name is not None]
            with concurrent.futures.ThreadPoolExecutor(self.PARALLEL_DROPS) as pool:
                for future in [pool.submit(drop_database, name) for name in names]:
                    if (error := future.exception()) is not None:
                        self.failures.append(error)
            if None in batch:
                return

    def take(self) -> str:
        """A fresh clone; another one is ordered to replace it.

        :raises psycopg.Error: the clone could not be created.
        :raises queue.Empty: no clone came within two minutes.
        """
        self.wanted.put(True)
        taken = self.ready.get(timeout=120)
        if isinstance(taken, Exception):
            raise taken
        return taken

    def give_back(self, name: str) -> None:
        """Drop a used database (a clone, or any other), in the background."""
        self.used.put(name)

    def close(self) -> None:
        """Drop what is left and stop the threads.

        :raises Exception: the first drop that failed during the run.
        """
        self.wanted.put(False)
        self.threads[0].join(timeout=120)
        while not self.ready.empty():
            if isinstance(name := self.ready.get(), str):
                self.used.put(name)
        self.used.put(None)
        self.threads[1].join(timeout=120)
        if self.failures:
            raise self.failures[0]


class Factory:
    """Creates databases for one test (empty, or clones of a template); at
    :meth:`close`, hands them all to ``discard`` (by default, drops them)."""

    def __init__(
        self, prefix: str, discard: Callable[[str], None] = drop_database
    ) -> None:
        self.prefix = prefix
        self.discard = discard
        self.created: list[str] = []

    def __call__(self, template: str | None = None) -> str:
        """A new database, empty or cloned from ``template``; returns its name."""
        name = unique_name(f"{self.prefix}_f{len(self.created)}")
        create_database(name, template=template)
        self.created.append(name)
        return name

    def close(self) -> None:
        """Discard the databases created so far."""
        for name in self.created:
            self.discard(name)
