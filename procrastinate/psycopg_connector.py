"""The default connector: asynchronous, psycopg 3 with a connection pool."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
import psycopg_pool
from psycopg.rows import dict_row

from procrastinate import connector, exceptions, psycopg_common, sql
from procrastinate.connector import errors, template
from procrastinate.sync_psycopg_connector import SyncPsycopgConnector

# How long a query waits for a connection of the pool while the pool recovers from
# lost connections, before it takes a connection of its own.
RECOVERING_WAIT = 0.1
# Seconds a listener behind a proxy waits for the notification it sends itself.
PROBE_TIMEOUT = 5.0

logger = logging.getLogger(__name__)


class PsycopgConnector(psycopg_common.PsycopgSettings, connector.BaseAsyncConnector):
    """
    Asynchronous connector based on a :class:`psycopg_pool.AsyncConnectionPool`.

    Connections run in autocommit mode: each query is a single statement, so it needs
    no transaction around it and costs one round trip.

    :param json_dumps: serializes job arguments to JSON (default: :func:`json.dumps`);
        use it to store types that :mod:`json` does not know.
    :param json_loads: reads job arguments back (default: :func:`json.loads`).
    :param pool_factory: the pool class or factory to use; by default, a
        :class:`psycopg_pool.AsyncConnectionPool` that hands out the connection
        used last (``procrastinate.psycopg_common.AsyncLastUsedFirstPool``),
        which keeps one-by-one queries on a warm connection.
    :param listen_conninfo: where the worker's LISTEN connection goes, when the pool's
        ``conninfo`` leads to a transaction-pooling proxy (PgBouncer) that would lose
        its notifications: a direct connection to PostgreSQL. Default: ``conninfo``.
    :param kwargs: passed to the pool factory: ``conninfo``, ``min_size``,
        ``max_size``, ``kwargs`` (connection arguments), and so on. See
        :class:`psycopg_pool.AsyncConnectionPool`.
    """

    def __init__(
        self,
        *,
        json_dumps: psycopg_common.JSONDumps | None = None,
        json_loads: psycopg_common.JSONLoads | None = None,
        pool_factory: Callable[
            ..., psycopg_pool.AsyncConnectionPool[Any]
        ] = psycopg_common.AsyncLastUsedFirstPool,
        listen_conninfo: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            json_dumps=json_dumps,
            json_loads=json_loads,
            pool_factory=pool_factory,
            pool_args=kwargs,
        )
        self._listen_conninfo = listen_conninfo
        self._sync_connector: SyncPsycopgConnector | None = None
        # Set when connections were lost, until the pool gives one again.
        self._recovering = False

    def get_sync_connector(self) -> connector.BaseConnector:
        """
        The connector for synchronous calls: a :class:`SyncPsycopgConnector` with the
        same settings when it was opened (by ``app.open()``), else this connector
        while its pool is open (its sync methods go through ``async_to_sync``), else a
        new, not yet open, :class:`SyncPsycopgConnector`.
        """
        if self._sync_connector is not None and self._sync_connector.is_open:
            return self._sync_connector
        if self._pool is not None:
            return self
        if self._sync_connector is None:
            self._sync_connector = SyncPsycopgConnector(
                json_dumps=self.json_dumps,
                json_loads=self.json_loads,
                **self._pool_args,
            )
        return self._sync_connector

    @property
    def pool(self) -> psycopg_pool.AsyncConnectionPool[Any]:
        """The open pool; :raises AppNotOpen: the connector is not open."""
        return self._open_pool()  # type: ignore[no-any-return]

    async def open_async(
        self, pool: psycopg_pool.AsyncConnectionPool[Any] | None = None
    ) -> None:
        """
        Open the pool, or adopt ``pool`` (which is then left open by
        :meth:`close_async`).
        """
        await super().open_async(pool)

    async def close_async(self) -> None:
        """Close the pool, unless it was given to :meth:`open_async`."""
        await super().close_async()

    async def _create_pool_async(self) -> psycopg_pool.AsyncConnectionPool[Any]:
        # The pool would retry an unreachable server for its whole timeout; one
        # direct attempt fails at once, with the server's own explanation.
        reason = await asyncio.to_thread(self._probe)
        if reason is not None:
            raise reason
        new_pool: psycopg_pool.AsyncConnectionPool[Any] = self._new_pool()
        try:
            await new_pool.open(wait=True, timeout=new_pool.timeout)
        except psycopg_pool.PoolTimeout as exc:
            await new_pool.close()
            # Asking for as many connections as the pool wanted gets the server's
            # reason (too many clients...), which the pool does not tell.
            count = new_pool.min_size
            raise await asyncio.to_thread(self._pool_timeout, exc, count) from exc
        return new_pool

    async def _close_pool_async(
        self, pool: psycopg_pool.AsyncConnectionPool[Any]
    ) -> None:
        await pool.close()

    async def _execute_async(
        self, query: str, arguments: dict[str, Any]
    ) -> list[dict[str, Any]] | None:
        try:
            async with self._connection() as conn:
                return await self._execute_with_connection_async(conn, query, arguments)
        except psycopg_pool.PoolTimeout as error:
            reason = await asyncio.to_thread(self._probe)
            # Only a server that is away: a pool merely busy must stay the limit of
            # this process's connections.
            self._recovering = reason is not None
            raise errors.pool_exhausted(error, reason) from error
        except (psycopg.OperationalError, psycopg.InterfaceError):
            self._recovering = True
            raise

    async def _recover_async(self) -> None:
        await self.pool.check()

    def _connection(
        self,
    ) -> contextlib.AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]:
        # The pool's own context, not wrapped in another generator: every query
        # goes through here, and each layer costs a few microseconds.
        if not self._recovering:
            return self.pool.connection()
        return self._recovering_connection()

    @contextlib.asynccontextmanager
    async def _recovering_connection(
        self,
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        # The pool reconnects with a delay that grows to half a minute, and a query
        # would wait for it as long: after a short wait, a direct connection says at
        # once whether the server is back, and does the work until the pool has
        # recovered.
        try:
            conn = await self.pool.getconn(timeout=RECOVERING_WAIT)
        except psycopg_pool.PoolTimeout:
            async with _connect(self._conninfo, self._connection_kwargs()) as direct:
                yield direct
            return
        self._recovering = False
        try:
            yield conn
        finally:
            await self.pool.putconn(conn)

    async def _execute_with_connection_async(
        self,
        connection: psycopg.AsyncConnection[Any],
        query: str,
        arguments: dict[str, Any],
    ) -> list[dict[str, Any]] | None:
        adapted = psycopg_common.adapt_arguments(arguments, self.json_dumps)
        async with connection.cursor(row_factory=dict_row) as cursor:
            psycopg_common.configure_json(cursor, self.json_loads)
            await cursor.execute(query, adapted)
            return await cursor.fetchall() if cursor.description else None

    @contextlib.asynccontextmanager
    async def _listen(
        self, statements: list[str]
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        kwargs = {**self._connection_kwargs(), "autocommit": True}
        async with _connect(self._listen_conninfo or self._conninfo, kwargs) as conn:
            await self._poll_if_notifications_lost(conn)
            for statement in statements:
                await conn.execute(statement)
            yield conn

    async def _notifications(
        self, listener: psycopg.AsyncConnection[Any], timeout: float
    ) -> AsyncIterator[tuple[str, str]]:
        async for notify in listener.notifies(timeout=timeout):
            yield notify.channel, notify.payload

    async def _check_listener(self, listener: psycopg.AsyncConnection[Any]) -> None:
        await listener.execute("SELECT 1")

    async def _poll_if_notifications_lost(
        self, conn: psycopg.AsyncConnection[Any]
    ) -> None:
        """
        Return at once when ``conn`` reaches PostgreSQL directly: the server's process
        id is the one the connection was given at connect. Behind a proxy (PgBouncer
        gives its own), check that a notification sent through the pool reaches
        ``conn``. When it does not (the proxy pools transactions), say so, close
        ``conn`` and never return: the worker then finds new jobs by polling. Run
        before any LISTEN: through transaction pooling, a LISTEN would stay on a
        server connection that other clients get.

        :raises psycopg.Error: ``conn`` failed.
        """
        cursor = await conn.execute(sql.listener_queries["listener_server_pid"])
        if await cursor.fetchone() == (conn.info.backend_pid,):
            return
        probe = f"procrastinate_probe_{uuid.uuid4().hex}"
        for statement in template.listen_statements([probe]):
            await conn.execute(statement)
        try:
            await self.execute_query_async(
                sql.listener_queries["notify_probe"], channel=probe
            )
        except exceptions.ConnectorException as exc:
            # Not worth stopping the worker for: its polling finds the jobs anyway.
            logger.warning(
                f"Could not check that notifications reach the LISTEN connection: {exc}",
                extra={"action": "listen_notify_check_error"},
            )
            return
        # Closed at once, not when garbage-collected: the generator holds the
        # connection's lock, which the listening loop needs next.
        async with contextlib.aclosing(
            conn.notifies(timeout=PROBE_TIMEOUT)
        ) as notifies:
            # Nothing else is listened to yet: any notification is the probe.
            async for _ in notifies:
                return
        logger.warning(
            "Notifications do not reach the LISTEN connection, which goes through a "
            "transaction-pooling proxy such as PgBouncer: new jobs are found by "
            "polling only. Give the connector a direct listen_conninfo to be woken up "
            "at once.",
            extra={"action": "listen_notify_lost"},
        )
        await conn.close()
        await asyncio.Event().wait()


@contextlib.asynccontextmanager
async def _connect(
    conninfo: str, kwargs: dict[str, Any]
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(conninfo, **kwargs) as conn:
        yield conn
