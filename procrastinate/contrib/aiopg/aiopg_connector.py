"""An asynchronous connector on aiopg (psycopg2 in asynchronous mode)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, ClassVar

import aiopg
import psycopg2
import psycopg2.extras

from procrastinate import connector
from procrastinate.connector import errors
from procrastinate.contrib import psycopg2_common
from procrastinate.contrib.psycopg2 import Psycopg2Connector

Rows = list[dict[str, Any]]
OnConnect = Callable[[aiopg.Connection], Awaitable[None]]

# Arguments of aiopg.create_pool() that are not connection arguments.
_POOL_ONLY_ARGUMENTS = frozenset({"minsize", "maxsize", "pool_recycle", "on_connect"})
# Connection arguments that aiopg handles itself and psycopg2.connect() refuses.
_AIOPG_ONLY_ARGUMENTS = frozenset(
    {"timeout", "enable_json", "enable_hstore", "enable_uuid", "echo"}
)


class AiopgConnector(psycopg2_common.Psycopg2Settings, connector.BaseAsyncConnector):
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

    _POOL_DEFAULTS: ClassVar[Mapping[str, Any]] = {
        "dsn": "",
        "enable_json": False,
        "enable_hstore": False,
        "enable_uuid": False,
        "cursor_factory": psycopg2.extras.RealDictCursor,
    }
    _sync_connector: Psycopg2Connector | None = None

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
        """The open pool; :raises AppNotOpen: the connector is not open."""
        return self._open_pool()  # type: ignore[no-any-return]

    async def _on_connect(self, connection: aiopg.Connection) -> None:
        psycopg2_common.register_json_loads(connection.raw, self.json_loads)
        # The caller's on_connect runs after ours, which the pool is given instead.
        user_on_connect: OnConnect | None = self._pool_args.get("on_connect")
        if user_on_connect is not None:
            await user_on_connect(connection)

    async def open_async(self, pool: aiopg.Pool | None = None) -> None:
        """
        Open the pool, or adopt ``pool`` (which is then left open by
        :meth:`close_async`).

        :raises DatabaseUnavailable: the database cannot be reached.
        """
        if self._sync_connector is not None:
            self._sync_connector.close()
            self._sync_connector = None
        await super().open_async(pool)

    async def _create_pool_async(self) -> aiopg.Pool:
        try:
            return await aiopg.create_pool(
                **{**self._pool_args, "on_connect": self._on_connect}
            )
        except (psycopg2.OperationalError, psycopg2.ProgrammingError) as exc:
            # ProgrammingError: a malformed dsn, whose message may quote the password.
            errors.raise_unreachable(exc, self._pool_args["dsn"])

    async def close_async(self) -> None:
        """Close the pool, unless it was given to :meth:`open_async`."""
        await super().close_async()

    async def _close_pool_async(self, pool: aiopg.Pool) -> None:
        pool.close()
        await pool.wait_closed()

    def _describe_error(self, error: Exception) -> errors.DriverError | None:
        return psycopg2_common.describe(error)

    async def _recover_async(self) -> None:
        # The idle connections are most likely dead as well.
        await self.pool.clear()

    async def _execute_async(
        self, query: str, arguments: dict[str, Any]
    ) -> connector.Rows | None:
        async with self.pool.acquire() as conn:
            try:
                return await self._run_cursor(conn, query, arguments)
            except psycopg2.Error:
                if conn.closed:
                    # The pool drops it on release; closing it through aiopg also
                    # stops the event loop from watching its dead socket.
                    await conn.close()
                raise

    async def _run_cursor(
        self, conn: aiopg.Connection, query: str, arguments: dict[str, Any]
    ) -> connector.Rows | None:
        adapted = psycopg2_common.adapt_arguments(arguments, self.json_dumps)
        async with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            if self._pool_externally_set:
                # An adopted pool did not run our on_connect.
                psycopg2_common.register_json_loads(cur.raw, self.json_loads)
            await cur.execute(query, adapted)
            if cur.description is None:
                return None
            return [dict(row) for row in await cur.fetchall()]

    @contextlib.asynccontextmanager
    async def _listen(self, statements: list[str]) -> AsyncIterator[aiopg.Connection]:
        async with aiopg.connect(**self._connection_args()) as conn:
            async with conn.cursor() as cursor:
                for statement in statements:
                    await cursor.execute(statement)
            yield conn

    async def _notifications(
        self, listener: aiopg.Connection, timeout: float
    ) -> AsyncIterator[tuple[str, str]]:
        while True:
            try:
                notify = await asyncio.wait_for(listener.notifies.get(), timeout)
            except asyncio.TimeoutError:
                return
            yield notify.channel, notify.payload

    async def _check_listener(self, listener: aiopg.Connection) -> None:
        async with listener.cursor() as cursor:
            await cursor.execute("SELECT 1")
