"""What the psycopg2-based connectors (psycopg2, aiopg, SQLAlchemy) share: settings,
parameter adaptation, JSON hooks and the description of driver errors, read the same way as
psycopg 3's (:mod:`procrastinate.psycopg_common`), so that every connector raises the
same procrastinate exceptions for the same database errors."""

from __future__ import annotations

import contextlib
import functools
import select
from collections.abc import Mapping
from typing import Any, ClassVar

import psycopg2
import psycopg2.errorcodes
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras

from procrastinate import connector, exceptions, psycopg_common
from procrastinate.connector import errors


class Psycopg2Settings:
    """
    The settings of a connector on a psycopg2 pool: its JSON hooks, and the
    arguments of its pool: the caller's, over the defaults of the connector class.

    :param json_dumps: serializes job arguments to JSON (default: :func:`json.dumps`).
    :param json_loads: reads job arguments back (default: :func:`json.loads`).
    :param kwargs: the arguments of the pool.
    """

    #: The arguments of the pool that the caller does not give.
    _POOL_DEFAULTS: ClassVar[Mapping[str, Any]] = {}

    def __init__(
        self,
        *,
        json_dumps: psycopg_common.JSONDumps | None = None,
        json_loads: psycopg_common.JSONLoads | None = None,
        **kwargs: Any,
    ) -> None:
        self.json_dumps = json_dumps
        self.json_loads = json_loads
        self._pool_args: dict[str, Any] = {**self._POOL_DEFAULTS, **kwargs}


def adapt_arguments(
    arguments: dict[str, Any], json_dumps: psycopg_common.JSONDumps | None
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
    json_loads: psycopg_common.JSONLoads | None,
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


def describe(error: BaseException | None) -> errors.DriverError | None:
    """What a psycopg2 error says; ``None`` for any other exception."""
    if not isinstance(error, psycopg2.Error):
        return None
    return errors.describe_dbapi_error(
        error,
        sqlstate=error.pgcode or _class_sqlstates().get(type(error)),
        connection_error=isinstance(
            error, (psycopg2.OperationalError, psycopg2.InterfaceError)
        ),
    )


@functools.cache
def _class_sqlstates() -> dict[type[Exception], str]:
    # psycopg2 only knows the SQLSTATE of an error that came from the server; its
    # class stands for one (an error raised on purpose, by a proxy or a test).
    sqlstates: dict[type[Exception], str] = {}
    for name, code in vars(psycopg2.errorcodes).items():
        if name.isupper() and isinstance(code, str) and len(code) == 5:
            with contextlib.suppress(KeyError):
                sqlstates.setdefault(psycopg2.errors.lookup(code), code)
    return sqlstates


def translate_error(error: psycopg2.Error) -> exceptions.ConnectorException:
    """The procrastinate exception for a psycopg2 error."""
    described = describe(error)
    assert described is not None
    return errors.translate(described)


def is_dead(conn: psycopg2.extensions.connection) -> bool:
    """
    Whether an idle connection was ended by the server. An idle session receives
    nothing unless the server ends it (its last message, then end of file): a
    readable socket tells, without a round trip.
    """
    if conn.closed:
        return True
    readable, _, _ = select.select([conn], [], [], 0)
    return bool(readable)
