"""A synchronous connector on psycopg2, for code bases that cannot use psycopg 3."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import psycopg2
import psycopg2.extensions
import psycopg2.extras
import psycopg2.pool

from procrastinate import connector, exceptions
from procrastinate.connector import errors
from procrastinate.contrib import psycopg2_common

Rows = connector.Rows


class Psycopg2Connector(psycopg2_common.Psycopg2Settings, connector.BaseSyncConnector):
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

    _POOL_DEFAULTS: ClassVar[Mapping[str, Any]] = {
        "minconn": 1,
        "maxconn": 10,
        "dsn": "",
        "cursor_factory": psycopg2.extras.RealDictCursor,
    }

    @property
    def pool(self) -> psycopg2.pool.AbstractConnectionPool:
        """The open pool; :raises AppNotOpen: the connector is not open."""
        return self._open_pool()  # type: ignore[no-any-return]

    def open(self, pool: psycopg2.pool.AbstractConnectionPool | None = None) -> None:
        """
        Open the pool, or adopt ``pool`` (then left open by :meth:`close`).

        :raises DatabaseUnavailable: the database cannot be reached.
        """
        super().open(pool)

    def _create_pool(self) -> psycopg2.pool.AbstractConnectionPool:
        try:
            return psycopg2.pool.ThreadedConnectionPool(**self._pool_args)
        except (psycopg2.OperationalError, psycopg2.ProgrammingError) as exc:
            # ProgrammingError: a malformed dsn, whose message may quote the password.
            errors.raise_unreachable(exc, self._pool_args["dsn"])

    def _close_pool(self, pool: psycopg2.pool.AbstractConnectionPool) -> None:
        pool.closeall()

    def _describe_error(self, error: Exception) -> errors.DriverError | None:
        return psycopg2_common.describe(error)

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg2.extensions.connection]:
        pool = self.pool
        conn = self._live_connection(pool)
        if not self._pool_externally_set and not conn.autocommit:
            conn.autocommit = True
        try:
            yield conn
        finally:
            # A connection that the server dropped must not go back to the pool.
            pool.putconn(conn, close=bool(conn.closed))

    def _live_connection(
        self, pool: psycopg2.pool.AbstractConnectionPool
    ) -> psycopg2.extensions.connection:
        # A psycopg2 pool cannot check its idle connections: those that the server
        # ended (a restart kills them all) are dropped here, as they come out.
        try:
            for _ in range(pool.maxconn):
                conn = pool.getconn()
                if not psycopg2_common.is_dead(conn):
                    return conn
                pool.putconn(conn, close=True)
            return pool.getconn()
        except psycopg2.OperationalError as exc:
            errors.raise_unreachable(exc, self._pool_args["dsn"])
        except psycopg2.pool.PoolError as exc:
            raise exceptions.ConnectorException(str(exc)) from exc

    def _execute(self, query: str, arguments: dict[str, Any]) -> Rows | None:
        with self._connection() as conn:
            if conn.autocommit:
                return self._execute_with_connection(conn, query, arguments)
            # The connection of an adopted pool may not be in autocommit mode: the
            # block commits the statement, or rolls it back if it fails.
            with conn:
                return self._execute_with_connection(conn, query, arguments)

    def _execute_with_connection(
        self,
        connection: psycopg2.extensions.connection,
        query: str,
        arguments: dict[str, Any],
    ) -> Rows | None:
        adapted = psycopg2_common.adapt_arguments(arguments, self.json_dumps)
        # The cursor factory is explicit because a caller's connection or pool may
        # have another default.
        with connection.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            psycopg2_common.register_json_loads(cur, self.json_loads)
            cur.execute(query, adapted)
            if cur.description is None:
                return None
            return [dict(row) for row in cur.fetchall()]
