"""What the psycopg 3 connectors, async and sync, share: parameter adaptation, JSON
hooks and the translation of driver errors."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import psycopg.errors
from psycopg.types import json as psycopg_json

from procrastinate import connector, exceptions

JSONDumps = Callable[[Any], str]
JSONLoads = Callable[[str | bytes], Any]

_QUEUEING_LOCK_DETAIL = re.compile(
    r"Key \(queueing_lock\)=\((?P<value>.*)\) already exists"
)


def adapt_arguments(
    arguments: dict[str, Any], json_dumps: JSONDumps | None
) -> dict[str, Any] | None:
    """
    Wrap the values meant for ``jsonb`` (dicts, and lists of dicts such as a batch of
    jobs) so that psycopg sends them as JSON, through the user's ``json_dumps``.

    A query without arguments gets ``None``: psycopg then sends it as is, with the
    simple protocol, which allows several statements (the schema) and literal ``%``.
    """
    if not arguments:
        return None
    return {
        key: psycopg_json.Jsonb(value, json_dumps)
        if connector.is_json_argument(value)
        else value
        for key, value in arguments.items()
    }


def configure_json(
    context: psycopg.AsyncCursor[Any] | psycopg.Cursor[Any],
    json_loads: JSONLoads | None,
) -> None:
    """Make ``json``/``jsonb`` values read through this cursor use ``json_loads``."""
    if json_loads is not None:
        psycopg_json.set_json_loads(json_loads, context)


def queueing_lock_from_detail(detail: str | None) -> str | None:
    """The queueing lock value named in a unique violation's detail message."""
    match = _QUEUEING_LOCK_DETAIL.search(detail or "")
    return match.group("value") if match else None


SCHEMA_MISSING_HINT = (
    "The procrastinate schema is missing from this database (or outdated): apply it "
    "with `procrastinate schema --apply`, or run the migrations."
)


def error_message(error: psycopg.Error) -> str:
    """The server's one-line message (without its CONTEXT lines), or the driver's."""
    return error.diag.message_primary or str(error).strip()


def translate_error(error: psycopg.Error) -> exceptions.ConnectorException:
    """The procrastinate exception for a psycopg error."""
    message = error_message(error)
    if isinstance(
        error,
        (
            psycopg.errors.UndefinedTable,
            psycopg.errors.UndefinedFunction,
            psycopg.errors.UndefinedObject,
        ),
    ):
        return exceptions.ConnectorException(f"{SCHEMA_MISSING_HINT} ({message})")
    if isinstance(error, psycopg.errors.UniqueViolation):
        return exceptions.UniqueViolation(
            message,
            constraint_name=error.diag.constraint_name,
            queueing_lock=queueing_lock_from_detail(error.diag.message_detail),
        )
    if isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)):
        return exceptions.DatabaseUnavailable(message)
    if isinstance(error, psycopg.errors.ReadOnlySqlTransaction):
        return exceptions.TransientDatabaseError(message)
    return exceptions.ConnectorException(message)


@contextlib.contextmanager
def wrap_exceptions() -> Iterator[None]:
    """Raise procrastinate exceptions for psycopg errors, chaining the original."""
    try:
        yield
    except psycopg.Error as error:
        raise translate_error(error) from error


def unreachable(error: Exception) -> exceptions.DatabaseUnavailable:
    """The error for a database that cannot be reached."""
    return exceptions.DatabaseUnavailable(
        f"Could not connect to PostgreSQL: {str(error).strip()}. Check the connection "
        "settings (conninfo, PG* environment variables) and that the server runs."
    )


def pool_exhausted(
    error: Exception, reason: exceptions.DatabaseUnavailable | None
) -> exceptions.DatabaseUnavailable:
    """
    The error for a pool that gave no connection in time. The pool does not say why:
    ``reason`` is what a direct connection attempt got from the server (too many
    clients, shutting down...), ``None`` when that attempt worked.
    """
    if reason is not None:
        return reason
    return exceptions.DatabaseUnavailable(
        f"No connection of the pool became free in time ({str(error).strip()}): the "
        "pool's max_size may be too small for what this process runs at once."
    )
