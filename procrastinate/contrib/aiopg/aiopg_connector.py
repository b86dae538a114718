"""An asynchronous connector on aiopg (psycopg2 in asynchronous mode)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import aiopg
import psycopg2
import psycopg2.extras
import psycopg2.sql

from procrastinate import connector, exceptions, sql
from procrastinate.contrib import psycopg2_common
from procrastinate.contrib.psycopg2 import Psycopg2Connector

logger = logging.getLogger(__name__)

Rows = list[dict[str, Any]]
OnConnect = Callable[[aiopg.Connection], Awaitable[None]]

# Arguments of aiopg.create_pool() that are not connection arguments.
_POOL_ONLY_ARGUMENTS = frozenset({"minsize", "maxsize", "pool_recycle", "on_connect"})
# Connection arguments that aiopg handles itself and psycopg2.connect() refuses.
_AIOPG_ONLY_ARGUMENTS = frozenset(
    {"timeout", "enable_json", "enable_hstore", "enable_uuid", "echo"}
)


class AiopgConnector(connector.BaseAsyncConnector):
    """
    Asynchronous connector based on an :func:`aiopg.create_pool` pool. It can run
    workers, LISTEN/NOTIFY included.

    aiopg connections are always in autocommit mode: each query is a single
    statement, run in its own transaction.

    :param json_dumps: serializes job arguments to JSON (default: :func:`json.dumps`).
    :param json_loads: reads job arguments back (default: :func:`json.loads`).
    :param kwargs: passed to :func:`aiopg.create_pool`: ``dsn`` (default ``""``, so
        that the libpq ``PG*`` environment variables apply), ``minsize``,
        ``maxsize``, ``timeout``, and the arguments of :func:`psycopg2.connect`.
        Defaults differ from aiopg's: ``enable_json``, ``enable_hstore`` and
        ``enable_uuid`` are ``False``, ``cursor_factory`` is
        :class:`~psycopg2.extras.RealDictCursor`. An ``on_connect`` coroutine
        function runs after the connector's own, which registers ``json_loads``.
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
        self._user_on_connect: OnConnect | None = kwargs.pop("on_connect", None)
        self._pool_args: dict[str, Any] = {
            "dsn": "",
            "enable_json": False,
            "enable_hstore": False,
            "enable_uuid": False,
            "cursor_factory": psycopg2.extras.RealDictCursor,
            **kwargs,
        }
        self._pool: aiopg.Pool | None = None
        self._pool_externally_set = False
        self._sync_connector: Psycopg2Connector | None = None

    def get_sync_connector(self) -> connector.BaseConnector:
        """
        When the pool is open, this connector (its sync methods go through
        ``async_to_sync``); otherwise a
        :class:`~procrastinate.contrib.psycopg2.Psycopg2Connector` with the same
        settings, for apps that only defer from synchronous code.
        """
        if self._pool is not None:
            return self
        if self._sync_connector is None:
            self._sync_connector = Psycopg2Connector(
                json_dumps=self.json_dumps,
                json_loads=self.json_loads,
                **self._psycopg2_pool_args(),
            )
        return self._sync_connector

    def _psycopg2_pool_args(self) -> dict[str, Any]:
        args = {
            key: value
            for key, value in self._connection_args().items()
            if key not in _AIOPG_ONLY_ARGUMENTS
        }
        if "minsize" in self._pool_args:
            args["minconn"] = self._pool_args["minsize"]
        # aiopg reads maxsize=0 as "unbounded", which a psycopg2 pool cannot be.
        if self._pool_args.get("maxsize"):
            args["maxconn"] = self._pool_args["maxsize"]
        return args

    def _connection_args(self) -> dict[str, Any]:
        return {
            key: value
            for key, value in self._pool_args.items()
            if key not in _POOL_ONLY_ARGUMENTS
        }

    @property
    def pool(self) -> aiopg.Pool:
        """The open pool.

        :raises AppNotOpen: the connector is not open.
        """
        if self._pool is None:
            raise exceptions.AppNotOpen
        return self._pool

    async def _on_connect(self, connection: aiopg.Connection) -> None:
        psycopg2_common.register_json_loads(connection.raw, self.json_loads)
        if self._user_on_connect is not None:
            await self._user_on_connect(connection)

    async def open_async(self, pool: aiopg.Pool | None = None) -> None:
        """
        Open the pool, or adopt ``pool`` (which is then left open by
        :meth:`close_async`).

        :raises ConnectorException: the database cannot be reached.
        """
        if self._sync_connector is not None:
            self._sync_connector.close()
            self._sync_connector = None
        if pool is not None:
            self._pool = pool
            self._pool_externally_set = True
            return
        if self._pool is not None:
            return
        try:
            self._pool = await aiopg.create_pool(
                **self._pool_args, on_connect=self._on_connect
            )
        except (psycopg2.OperationalError, psycopg2.ProgrammingError) as exc:
            # ProgrammingError: a malformed dsn, whose message may quote the password.
            psycopg2_common.raise_unreachable(exc, self._pool_args["dsn"])
        self._pool_externally_set = False

    async def close_async(self) -> None:
        """Close the pool, unless it was given to :meth:`open_async`."""
        if self._pool is None:
            return
        if not self._pool_externally_set:
            self._pool.close()
            await self._pool.wait_closed()
        self._pool = None

    async def _execute(self, query: str, arguments: dict[str, Any]) -> Rows | None:
        adapted = psycopg2_common.adapt_arguments(arguments, self.json_dumps)
        # One retry, when the server ended the session before the query ran (a
        # restart, pg_terminate_backend): the pool is cleared of its idle
        # connections first, as they are most likely dead as well.
        for attempt in (1, 2):
            try:
                return await self._run(query, adapted)
            except psycopg2.Error as error:
                if attempt == 2 or not psycopg2_common.is_connection_lost(error):
                    raise psycopg2_common.translate_error(error) from error
                logger.warning(
                    f"Lost a database connection ({error}), retrying",
                    extra={"action": "connection_lost_retry"},
                )
                await self.pool.clear()
        return None  # pragma: no cover

    async def _run(self, query: str, adapted: dict[str, Any] | None) -> Rows | None:
        async with self.pool.acquire() as conn:
            try:
                return await self._run_cursor(conn, query, adapted)
            except psycopg2.Error:
                if conn.closed:
                    # The pool drops it on release; closing it through aiopg also
                    # stops the event loop from watching its dead socket.
                    await conn.close()
                raise

    async def _run_cursor(
        self, conn: aiopg.Connection, query: str, adapted: dict[str, Any] | None
    ) -> Rows | None:
        async with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            if self._pool_externally_set:
                # An adopted pool did not run our on_connect.
                psycopg2_common.register_json_loads(cur.raw, self.json_loads)
            await cur.execute(query, adapted)
            if cur.description is None:
                return None
            return [dict(row) for row in await cur.fetchall()]

    async def execute_query_async(self, query: str, **arguments: Any) -> None:
        await self._execute(query, arguments)

    async def execute_query_one_async(
        self, query: str, **arguments: Any
    ) -> dict[str, Any]:
        rows = await self._execute(query, arguments)
        if not rows:
            raise exceptions.NoResult
        return rows[0]

    async def execute_query_all_async(
        self, query: str, **arguments: Any
    ) -> list[dict[str, Any]]:
        return await self._execute(query, arguments) or []

    async def listen_notify(
        self, on_notification: connector.Notify, channels: Iterable[str]
    ) -> None:
        """
        Listen on a dedicated connection (outside the pool, which must not lose a
        connection to it), and reconnect with backoff whenever it drops. Never
        returns: cancel it to stop.
        """
        channels = list(channels)
        attempt = 0
        while True:
            try:
                conn = await self._listening_connection(channels)
            except (psycopg2.Error, OSError, asyncio.TimeoutError) as exc:
                logger.warning(
                    f"Could not open the LISTEN connection ({exc}), retrying",
                    extra={"action": "listen_notify_connect_error"},
                )
                await connector.sleep_backoff(attempt)
                attempt += 1
                continue
            attempt = 0
            try:
                await _relay_notifications(conn, on_notification)
            except psycopg2.Error as exc:
                logger.warning(
                    f"Lost the LISTEN connection ({exc}), reconnecting",
                    extra={"action": "listen_notify_reconnect"},
                )
            finally:
                await conn.close()
            await connector.sleep_backoff(attempt)

    async def _listening_connection(self, channels: list[str]) -> aiopg.Connection:
        conn = await aiopg.connect(**self._connection_args())
        try:
            async with conn.cursor() as cursor:
                for channel in channels:
                    query = psycopg2.sql.SQL(sql.queries["listen_queue"]).format(
                        channel_name=psycopg2.sql.Identifier(channel)
                    )
                    await cursor.execute(query.as_string(conn.raw))
        except BaseException:
            await conn.close()
            raise
        logger.debug(
            f"Listening to {', '.join(channels)}",
            extra={"action": "listen_notify_started", "channels": channels},
        )
        return conn


async def _relay_notifications(
    conn: aiopg.Connection, on_notification: connector.Notify
) -> None:
    while True:
        try:
            notify = await asyncio.wait_for(
                conn.notifies.get(), timeout=connector.LISTEN_TIMEOUT
            )
        except asyncio.TimeoutError:
            # A silent connection may be a dead one: a query finds out.
            async with conn.cursor() as cursor:
                await cursor.execute("SELECT 1")
            continue
        await on_notification(channel=notify.channel, payload=notify.payload)
