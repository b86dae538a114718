"""Tests of procrastinate.contrib against a real database (and a Sphinx build).

The helpers below are shared by the connector tests: an app with a few tasks, JSON
hooks that round-trip dates and a way to empty a database between tests. What every
connector does alike is tested once for all in ``tests/scenarios``.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import psycopg
from psycopg import sql

import procrastinate
from procrastinate import connector as connector_module


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
