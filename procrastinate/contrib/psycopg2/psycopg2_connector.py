"""A synchronous connector on psycopg2, for code bases that cannot use psycopg 3."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import psycopg2
import psycopg2.extensions
import psycopg2.extras
import psycopg2.pool

from procrastinate import connector, exceptions
from procrastinate.contrib import psycopg2_common

logger = logging.getLogger(__name__)

Rows = connector.Rows


class Psycopg2Connector(connector.BaseSyncConnector):
    """
    Synchronous connector based on a :class:`psycopg2.pool.ThreadedConnectionPool`.

    It defers jobs and queries them from synchronous code; running workers needs an
    asynchronous connector, such as :class:`~procrastinate.contrib.aiopg.AiopgConnector`
    or :class:`~procrastinate.PsycopgConnector`.

    The connections of its own pool run in autocommit mode: each query is a single
    statement, so it needs no transaction around it and costs one round trip.

    :param json_dumps: serializes job arguments to JSON (default: :func:`json.dumps`).
    :param json_loads: reads job arguments back (default: :func:`json.loads`).
    :param kwargs: passed to :class:`psycopg2.pool.ThreadedConnectionPool`:
        ``minconn`` (default 1), ``maxconn`` (default 10), and the arguments of
        :func:`psycopg2.connect` (``dsn``, default ``""`` so that the libpq ``PG*``
        environment variables apply; ``cursor_factory``, default
        :class:`~psycopg2.extras.RealDictCursor`...).
    """

    def __init__(
        self,
        *,
        json_dumps: psycopg2_common.JSONDumps | None = None,
        json_loads: psycopg2_common.JSONLoads | None = None,
        **kwargs: Any,
    ) -> None:
        self.json_dumps = json_dumps
        self.json_loads = json_loads
        self._pool_args: dict[str, Any] = {
            "minconn": 1,
            "maxconn": 10,
            "dsn": "",
            "cursor_factory": psycopg2.extras.RealDictCursor,
            **kwargs,
        }
        self._pool: psycopg2.pool.AbstractConnectionPool | None = None
        self._pool_externally_set = False

    @property
    def pool(self) -> psycopg2.pool.AbstractConnectionPool:
        """The open pool.

        :raises AppNotOpen: the connector is not open.
        """
        if self._pool is None:
            raise exceptions.AppNotOpen
        return self._pool

    def open(self, pool: psycopg2.pool.AbstractConnectionPool | None = None) -> None:
        """
        Open the pool, or adopt ``pool`` (then left open by :meth:`close`).

        :raises ConnectorException: the database cannot be reached.
        """
        if pool is not None:
            self._pool = pool
            self._pool_externally_set = True
            return
        if self._pool is not None:
            return
        try:
            self._pool = psycopg2.pool.ThreadedConnectionPool(**self._pool_args)
        except (psycopg2.OperationalError, psycopg2.ProgrammingError) as exc:
            # ProgrammingError: a malformed dsn, whose message may quote the password.
            psycopg2_common.raise_unreachable(exc, self._pool_args["dsn"])
        self._pool_externally_set = False

    def close(self) -> None:
        """Close the pool, unless it was given to :meth:`open`."""
        if self._pool is None:
            return
        if not self._pool_externally_set:
            self._pool.closeall()
        self._pool = None

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg2.extensions.connection]:
        pool = self.pool
        try:
            conn = pool.getconn()
        except psycopg2.OperationalError as exc:
            psycopg2_common.raise_unreachable(exc, self._pool_args["dsn"])
        except psycopg2.pool.PoolError as exc:
            raise exceptions.ConnectorException(str(exc)) from exc
        if not self._pool_externally_set and not conn.autocommit:
            conn.autocommit = True
        try:
            yield conn
        finally:
            # A connection that the server dropped must not go back to the pool.
            pool.putconn(conn, close=bool(conn.closed))

    def _execute(self, query: str, arguments: dict[str, Any]) -> Rows | None:
        adapted = psycopg2_common.adapt_arguments(arguments, self.json_dumps)
        # A lost connection is discarded and the query retried. After a server
        # restart, every idle connection of the pool (up to minconn) is dead, and a
        # psycopg2 pool cannot be checked in bulk: each is tried and dropped in
        # turn, so maxconn + 1 attempts always reach a fresh connection.
        attempts_left = self.pool.maxconn + 1
        while True:
            attempts_left -= 1
            with self._connection() as conn:
                try:
                    return _run(conn, query, adapted, self.json_loads)
                except psycopg2.Error as error:
                    if attempts_left and psycopg2_common.is_connection_lost(error):
                        logger.warning(
                            f"Lost a database connection ({error}), retrying",
                            extra={"action": "connection_lost_retry"},
                        )
                        continue
                    raise psycopg2_common.translate_error(error) from error

    def _execute_with_connection(
        self,
        connection: psycopg2.extensions.connection,
        query: str,
        arguments: dict[str, Any],
    ) -> Rows:
        adapted = psycopg2_common.adapt_arguments(arguments, self.json_dumps)
        with psycopg2_common.wrap_exceptions():
            return _run_cursor(connection, query, adapted, self.json_loads) or []


def _run(
    conn: psycopg2.extensions.connection,
    query: str,
    adapted: dict[str, Any] | None,
    json_loads: psycopg2_common.JSONLoads | None,
) -> Rows | None:
    if conn.autocommit:
        return _run_cursor(conn, query, adapted, json_loads)
    # The connection of an adopted pool may not be in autocommit mode: the block
    # commits the statement, or rolls it back if it fails.
    with conn:
        return _run_cursor(conn, query, adapted, json_loads)


def _run_cursor(
    conn: psycopg2.extensions.connection,
    query: str,
    adapted: dict[str, Any] | None,
    json_loads: psycopg2_common.JSONLoads | None,
) -> Rows | None:
    # The cursor factory is explicit because a caller's connection or pool may have
    # another default.
    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
        psycopg2_common.register_json_loads(cursor, json_loads)
        cursor.execute(query, adapted)
        if cursor.description is None:
            return None
        return [dict(row) for row in cursor.fetchall()]
