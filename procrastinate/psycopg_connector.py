"""The default connector: asynchronous, psycopg 3 with a connection pool."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import psycopg
import psycopg.errors
import psycopg.sql
import psycopg_pool
from psycopg.rows import dict_row

from procrastinate import connector, exceptions, ops, psycopg_common, sql
from procrastinate.sync_psycopg_connector import SyncPsycopgConnector

logger = logging.getLogger(__name__)

# How long a query waits for a connection of the pool while the pool recovers from
# lost connections, before it takes a connection of its own.
RECOVERING_WAIT = 0.1
# Seconds a listener behind a proxy waits for the notification it sends itself.
PROBE_TIMEOUT = 5.0


class PsycopgConnector(connector.BaseAsyncConnector):
    """
    Asynchronous connector based on a :class:`psycopg_pool.AsyncConnectionPool`.

    Connections run in autocommit mode: each query is a single statement, so it needs
    no transaction around it and costs one round trip.

    :param json_dumps: serializes job arguments to JSON (default: :func:`json.dumps`);
        use it to store types that :mod:`json` does not know.
    :param json_loads: reads job arguments back (default: :func:`json.loads`).
    :param pool_factory: the pool class or factory to use.
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
        ] = psycopg_pool.AsyncConnectionPool,
        listen_conninfo: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.json_dumps = json_dumps
        self._listen_conninfo = listen_conninfo
        self.json_loads = json_loads
        self._pool_factory = pool_factory
        self._pool_args = kwargs
        self._pool: psycopg_pool.AsyncConnectionPool[Any] | None = None
        self._pool_externally_set = False
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
        """The open pool.

        :raises AppNotOpen: the connector is not open.
        """
        if self._pool is None:
            raise exceptions.AppNotOpen
        return self._pool

    @property
    def _conninfo(self) -> str:
        return str(self._pool_args.get("conninfo", ""))

    def _connection_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = dict(self._pool_args.get("kwargs") or {})
        kwargs.setdefault("autocommit", True)
        return kwargs

    async def open_async(
        self, pool: psycopg_pool.AsyncConnectionPool[Any] | None = None
    ) -> None:
        """
        Open the pool, or adopt ``pool`` (which is then left open by
        :meth:`close_async`).
        """
        if pool is not None:
            self._pool = pool
            self._pool_externally_set = True
            return
        if self._pool is not None:
            return
        await self._check_reachable()
        pool_args = {**self._pool_args, "kwargs": self._connection_kwargs()}
        new_pool = self._pool_factory(**pool_args, open=False)
        try:
            await new_pool.open(wait=True, timeout=new_pool.timeout)
        except psycopg_pool.PoolTimeout as exc:
            await new_pool.close()
            # Asking for as many connections as the pool wanted gets the server's
            # reason (too many clients...), which the pool does not tell.
            reason = await self._probe(count=new_pool.min_size)
            raise psycopg_common.pool_exhausted(exc, reason) from exc
        self._pool = new_pool
        self._pool_externally_set = False

    async def _check_reachable(self) -> None:
        # The pool would retry an unreachable server for its whole timeout; one
        # direct attempt fails at once, with the server's own explanation.
        reason = await self._probe()
        if reason is not None:
            raise reason

    async def _probe(self, count: int = 1) -> exceptions.DatabaseUnavailable | None:
        """
        Why ``count`` direct connections at once fail (too many clients...), ``None``
        if they work.
        """
        connections = []
        try:
            for _ in range(count):
                connections.append(
                    await psycopg.AsyncConnection.connect(
                        self._conninfo, **self._connection_kwargs()
                    )
                )
        except psycopg.Error as exc:
            # Also a malformed conninfo, whose message may quote the password.
            try:
                psycopg_common.raise_unreachable(exc, self._conninfo)
            except exceptions.DatabaseUnavailable as reason:
                return reason
        finally:
            for conn in connections:
                await conn.close()
        return None

    async def close_async(self) -> None:
        """Close the pool, unless it was given to :meth:`open_async`."""
        if self._pool is None:
            return
        if not self._pool_externally_set:
            await self._pool.close()
        self._pool = None

    async def _execute(
        self,
        query: str,
        arguments: dict[str, Any],
        fetch: Callable[[psycopg.AsyncCursor[Any]], Any],
    ) -> Any:
        adapted = psycopg_common.adapt_arguments(arguments, self.json_dumps)
        # One retry, only when the server ended the session before our query ran
        # (restart, failover): the query cannot have been executed then.
        for attempt in (1, 2):
            try:
                async with self._connection() as conn:
                    async with conn.cursor(row_factory=dict_row) as cursor:
                        psycopg_common.configure_json(cursor, self.json_loads)
                        await cursor.execute(query, adapted)
                        return await fetch(cursor)
            except psycopg.errors.AdminShutdown as error:
                self._recovering = True
                if attempt == 2:
                    raise psycopg_common.translate_error(error) from error
                await self.pool.check()
            except psycopg_pool.PoolTimeout as error:
                reason = await self._probe()
                # Only a server that is away: a pool merely busy must stay the
                # limit of this process's connections.
                self._recovering = reason is not None
                raise psycopg_common.pool_exhausted(error, reason) from error
            except (psycopg.OperationalError, psycopg.InterfaceError) as error:
                self._recovering = True
                raise psycopg_common.translate_error(error) from error
            except psycopg.Error as error:
                raise psycopg_common.translate_error(error) from error

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        if not self._recovering:
            async with self.pool.connection() as conn:
                yield conn
            return
        # The pool reconnects with a delay that grows to half a minute, and a query
        # would wait for it as long: after a short wait, a direct connection says at
        # once whether the server is back, and does the work until the pool has
        # recovered.
        try:
            conn = await self.pool.getconn(timeout=RECOVERING_WAIT)
        except psycopg_pool.PoolTimeout:
            async with await psycopg.AsyncConnection.connect(
                self._conninfo, **self._connection_kwargs()
            ) as direct:
                yield direct
            return
        self._recovering = False
        try:
            yield conn
        finally:
            await self.pool.putconn(conn)

    async def execute_query_async(self, query: str, **arguments: Any) -> None:
        await self._execute(query, arguments, _fetch_none)

    async def execute_query_one_async(
        self, query: str, **arguments: Any
    ) -> dict[str, Any]:
        return await self._execute(query, arguments, _fetch_one)  # type: ignore[no-any-return]

    async def execute_query_all_async(
        self, query: str, **arguments: Any
    ) -> list[dict[str, Any]]:
        return await self._execute(query, arguments, _fetch_all)  # type: ignore[no-any-return]

    async def _execute_with_connection(
        self,
        connection: psycopg.AsyncConnection[Any],
        query: str,
        arguments: dict[str, Any],
    ) -> list[dict[str, Any]]:
        adapted = psycopg_common.adapt_arguments(arguments, self.json_dumps)
        with psycopg_common.wrap_exceptions():
            async with connection.cursor(row_factory=dict_row) as cursor:
                psycopg_common.configure_json(cursor, self.json_loads)
                await cursor.execute(query, adapted)
                return await cursor.fetchall()

    async def execute_query_one_async_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> dict[str, Any]:
        rows = await self._execute_with_connection(connection, query, arguments)
        return connector.first_row(rows)

    async def execute_query_all_async_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> list[dict[str, Any]]:
        return await self._execute_with_connection(connection, query, arguments)

    async def listen_notify(
        self, on_notification: connector.Notify, channels: Iterable[str]
    ) -> None:
        """
        Listen on a dedicated connection (outside the pool, which must not lose a
        connection to it), and reconnect with backoff whenever it drops.
        """
        channels = list(channels)
        backoff = connector.Backoff()
        while True:
            try:
                await self._listen(on_notification, channels, backoff)
            except psycopg.Error as exc:
                # Any server error: the next connection may well work (a restart,
                # a read-only spell); a notification is only a hint anyway.
                delay = backoff.next_delay()
                logger.warning(
                    f"Lost the LISTEN connection ({psycopg_common.error_message(exc)}),"
                    f" reconnecting in {delay:.1f} s",
                    extra={"action": "listen_notify_reconnect", "delay": delay},
                )
                await asyncio.sleep(delay)

    async def _listen(
        self,
        on_notification: connector.Notify,
        channels: list[str],
        backoff: connector.Backoff,
    ) -> None:
        conninfo = self._listen_conninfo or self._conninfo
        kwargs = {**self._connection_kwargs(), "autocommit": True}
        async with await psycopg.AsyncConnection.connect(conninfo, **kwargs) as conn:
            await self._poll_if_notifications_lost(conn)
            for channel in channels:
                query = psycopg.sql.SQL(sql.queries["listen_queue"]).format(
                    channel_name=psycopg.sql.Identifier(channel)
                )
                await conn.execute(query)
            backoff.reset()
            logger.debug(
                f"Listening to {', '.join(channels)}",
                extra={"action": "listen_notify_started", "channels": channels},
            )
            while True:
                received = False
                async for notify in conn.notifies(timeout=connector.LISTEN_TIMEOUT):
                    received = True
                    await on_notification(
                        channel=notify.channel, payload=notify.payload
                    )
                if not received:
                    # A silent connection may be a dead one: a query finds out.
                    await conn.execute("SELECT 1")

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
        cursor = await conn.execute(ops.queries["listener_server_pid"])
        if await cursor.fetchone() == (conn.info.backend_pid,):
            return
        probe = f"procrastinate_probe_{uuid.uuid4().hex}"
        await conn.execute(
            psycopg.sql.SQL(sql.queries["listen_queue"]).format(
                channel_name=psycopg.sql.Identifier(probe)
            )
        )
        try:
            await self.execute_query_async(ops.queries["notify_probe"], channel=probe)
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


async def _fetch_none(cursor: psycopg.AsyncCursor[Any]) -> None:
    return None


async def _fetch_one(cursor: psycopg.AsyncCursor[Any]) -> dict[str, Any]:
    return connector.first_row(await cursor.fetchall())


async def _fetch_all(cursor: psycopg.AsyncCursor[Any]) -> list[dict[str, Any]]:
    return await cursor.fetchall()
