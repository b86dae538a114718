"""What the psycopg2-based connectors (psycopg2, aiopg, SQLAlchemy) share: parameter
adaptation, JSON hooks and the translation of driver errors.

It mirrors :mod:`procrastinate.psycopg_common`, so that every connector raises the
same procrastinate exceptions for the same database errors.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, NoReturn

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras

from procrastinate import connector, exceptions, psycopg_common

JSONDumps = psycopg_common.JSONDumps
JSONLoads = psycopg_common.JSONLoads


def adapt_arguments(
    arguments: dict[str, Any], json_dumps: JSONDumps | None
) -> dict[str, Any] | None:
    """
    Wrap the values meant for ``jsonb`` (dicts, and lists of dicts such as a batch of
    jobs) in :class:`psycopg2.extras.Json`, serialized with the user's ``json_dumps``.

    A query without arguments gets ``None``: psycopg2 then sends it untouched, so
    that several statements (the schema) and literal ``%`` signs go through.
    """
    if not arguments:
        return None
    return {
        key: psycopg2.extras.Json(value, dumps=json_dumps)
        if connector.is_json_argument(value)
        else value
        for key, value in arguments.items()
    }


def register_json_loads(
    context: psycopg2.extensions.connection | psycopg2.extensions.cursor,
    json_loads: JSONLoads | None,
) -> None:
    """
    Make ``json``/``jsonb`` values read through ``context`` (a connection, or just a
    cursor) use ``json_loads``. Without ``json_loads``, psycopg2's global defaults
    (:func:`json.loads`) stay in place.
    """
    if json_loads is None:
        return
    # The type oids are built in, so the registration sends no query: it is safe on
    # an asynchronous (aiopg) connection too.
    psycopg2.extras.register_default_json(context, loads=json_loads)
    psycopg2.extras.register_default_jsonb(context, loads=json_loads)


def translate_error(error: psycopg2.Error) -> exceptions.ConnectorException:
    """The procrastinate exception for a psycopg2 error."""
    if isinstance(
        error,
        (
            psycopg2.errors.UndefinedTable,
            psycopg2.errors.UndefinedFunction,
            psycopg2.errors.UndefinedObject,
        ),
    ):
        return exceptions.ConnectorException(
            f"{psycopg_common.SCHEMA_MISSING_HINT} ({_message(error)})"
        )
    if isinstance(error, psycopg2.errors.UniqueViolation):
        return exceptions.UniqueViolation(
            _message(error),
            constraint_name=error.diag.constraint_name,
            queueing_lock=psycopg_common.queueing_lock_from_detail(
                error.diag.message_detail
            ),
        )
    return exceptions.ConnectorException(_message(error))


def _message(error: psycopg2.Error) -> str:
    diag = error.diag
    if diag.message_primary:
        return psycopg_common.server_message(
            diag.message_primary, diag.message_detail, diag.message_hint
        )
    return " ".join(str(error).split()) or type(error).__name__


@contextlib.contextmanager
def wrap_exceptions() -> Iterator[None]:
    """Raise procrastinate exceptions for psycopg2 errors, chaining the original."""
    try:
        yield
    except psycopg2.Error as error:
        raise translate_error(error) from error


def raise_unreachable(error: Exception, conninfo: str = "") -> NoReturn:
    """
    Raise the error for a database that cannot be reached, or for a dsn that cannot
    be read, with any password masked.

    :raises DatabaseUnavailable: always.
    """
    psycopg_common.raise_unreachable(error, conninfo)


def is_connection_lost(error: psycopg2.Error) -> bool:
    """
    Whether ``error`` says that the server ended the session (a restart, a
    ``pg_terminate_backend``) rather than refused the query: the statement was then
    rolled back or never sent, so running it again on another connection is safe.
    """
    if isinstance(error, psycopg2.errors.AdminShutdown):
        return True
    if isinstance(error, psycopg2.InterfaceError):
        # "connection already closed": nothing was sent at all.
        return True
    # A session killed while idle in the pool: libpq reports the closed socket on
    # the next query, without any SQLSTATE.
    return isinstance(error, psycopg2.OperationalError) and error.pgcode is None
