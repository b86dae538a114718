"""Tests of procrastinate.contrib against a real database (and a Sphinx build).

The helpers below are shared by the connector tests: an app with a few tasks, JSON
hooks that round-trip dates, a way to empty a database between tests and one to kill
its connections.
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import sql

import procrastinate
from procrastinate import connector as connector_module

UNREACHABLE_DSN = "host=127.0.0.1 port=1 dbname=nowhere connect_timeout=2"


def encode_dates(value: Any) -> str:
    """A ``json_dumps`` storing dates as ``{"date": "<iso>"}`` objects."""

    def default(obj: Any) -> Any:
        if isinstance(obj, datetime.date):
            return {"date": obj.isoformat()}
        raise TypeError(f"{obj!r} is not JSON serializable")

    return json.dumps(value, default=default)


def decode_dates(raw: str | bytes) -> Any:
    """The ``json_loads`` matching :func:`encode_dates`."""

    def object_hook(obj: dict[str, Any]) -> Any:
        if set(obj) == {"date"}:
            return datetime.date.fromisoformat(obj["date"])
        return obj

    return json.loads(raw, object_hook=object_hook)


def make_app(connector: connector_module.BaseConnector) -> procrastinate.App:
    """An app with a ``sum`` task and a ``unique`` task holding a queueing lock."""
    app = procrastinate.App(connector=connector)

    @app.task(name="sum")
    def sum_(a: int, b: int) -> int:
        return a + b

    @app.task(name="unique", queueing_lock="the-only-one")
    def unique() -> None:
        pass

    @app.task(name="remember")
    def remember(day: datetime.date) -> None:
        pass

    return app


def empty_tables(dbname: str) -> None:
    """
    Delete every row of the tables of ``dbname`` and restart their ids at 1, so that
    a module's tests can share one database: emptying it is much faster than
    cloning a new one for each test.
    """
    with psycopg.connect(dbname=dbname, autocommit=True) as conn:
        tables = [
            sql.Identifier(row[0])
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        ]
        conn.execute(
            sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
                sql.SQL(", ").join(tables)
            )
        )


def terminate_other_backends(
    connection: psycopg.Connection[Any], query_prefix: str | None = None
) -> int:
    """
    Terminate the other sessions on the database of ``connection`` (only those
    whose last query starts with ``query_prefix``, if given), waiting until they are
    gone. Returns how many were terminated.
    """
    rows = connection.execute(
        """
        SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()
            AND (%(prefix)s::text IS NULL OR query LIKE %(prefix)s || '%%')
        """,
        {"prefix": query_prefix},
    ).fetchall()
    return len(rows)


def listening_sessions(connection: psycopg.Connection[Any]) -> int:
    """How many sessions on the database of ``connection`` ran LISTEN last."""
    row = connection.execute(
        """
        SELECT count(*) FROM pg_stat_activity
        WHERE datname = current_database() AND query LIKE 'LISTEN%'
        """
    ).fetchone()
    assert row is not None
    return int(row[0])


def count_actions(records: Iterable[logging.LogRecord], action: str) -> int:
    """How many log records carry ``extra={"action": action}``."""
    return sum(getattr(record, "action", None) == action for record in records)
