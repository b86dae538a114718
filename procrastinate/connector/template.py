"""The connector template: what every connector does alike.

The base classes own the retry policy of a statement whose connection was lost, the
exceptions raised for driver errors (through :mod:`procrastinate.connector.errors`),
the opening and closing of a pool that may be the caller's, and the listener's
reconnect loop with its backoff. A driver supplies hooks, all private:

- ``_create_pool`` / ``_close_pool`` (``_async`` for an asynchronous connector);
- ``_execute`` (``_execute_async``): run one statement on a connection of the
  connector, once, returning its rows (``None`` when it returns none);
- ``_execute_with_connection`` (``_async``): the same on the caller's connection;
- ``_describe_error``: what a driver error says
  (:class:`~procrastinate.connector.errors.DriverError`);
- ``_is_connection_lost``: whether the connection of a failed statement was lost;
- ``_recover`` (``_async``): drop the dead connections before a retry;
- for LISTEN/NOTIFY: ``_listen`` (open a dedicated connection and run the LISTEN
  statements), ``_notifications`` (wait for them) and ``_check_listener``.

A connector written for procrastinate 3.x overrides the public methods directly
(``execute_query_async``, ``listen_notify``...) and keeps its own behaviour.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from types import TracebackType
from typing import Any

from procrastinate import exceptions, sql, utils
from procrastinate.connector import base, errors

logger = logging.getLogger(__name__)

#: How many times a statement runs at most: once more after a lost connection.
MAX_ATTEMPTS = 2


@dataclasses.dataclass
class Backoff:
    """
    The delays between the attempts of an operation that keeps failing: ``first``
    seconds, doubling up to ``maximum``. Short at first, so that the end of an outage
    is noticed at once; long later, so that a long one costs little.
    """

    first: float = 0.1
    maximum: float = 10.0
    failures: int = 0

    def next_delay(self) -> float:
        """The delay before the next attempt, counting one more failure."""
        # Past 2**30 the doubling has long reached any sensible maximum.
        delay = min(self.maximum, self.first * 2.0 ** min(self.failures, 30))
        self.failures += 1
        return delay

    def reset(self) -> None:
        """The operation worked: the next failure waits ``first`` again."""
        self.failures = 0


def quote_identifier(name: str) -> str:
    """``name`` as a PostgreSQL identifier, double-quoted."""
    return '"' + name.replace('"', '""') + '"'


def listen_statements(channels: Iterable[str]) -> list[str]:
    """The ``LISTEN`` statements for ``channels``."""
    return [
        sql.queries["listen_queue"].format(channel_name=quote_identifier(channel))
        for channel in channels
    ]


class Attempt:
    """
    One run of a statement, as a context manager that applies the policy to its
    failure: a driver error becomes its procrastinate exception, unless the
    connection was lost and another attempt is allowed, in which case the error is
    swallowed (and logged) for the caller to run the statement again.
    """

    def __init__(self, connector: ConnectorTemplate, *, retry: bool) -> None:
        self.connector = connector
        self.retry = retry

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        error_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        if not isinstance(error, Exception):
            return False
        described = self.connector._describe_error(error)
        if described is None:
            return False
        if self.retry and self.connector._is_connection_lost(error, described):
            logger.warning(
                f"Lost a database connection ({described.message}), retrying",
                extra={"action": "connection_lost_retry"},
            )
            return True
        raise errors.translate(described) from error


class ConnectorTemplate(base.BaseConnector):
    """What the synchronous and asynchronous templates share: the pool, the policy."""

    _pool: Any = None
    _pool_externally_set: bool = False

    def _describe_error(self, error: Exception) -> errors.DriverError | None:
        """What ``error`` says, if it is a driver error (``None`` lets it through)."""
        return None

    def _is_connection_lost(
        self, error: Exception, described: errors.DriverError
    ) -> bool:
        """Whether the connection of the statement that raised ``error`` was lost."""
        return described.session_ended

    def _owns_transaction(self) -> bool:
        """
        Whether the statements run in transactions of the connector's own (not in a
        transaction of the caller, which a lost session takes with it).
        """
        return True

    def _attempts(self) -> Iterator[Attempt]:
        """
        The retry policy, for every connector alike: a statement whose connection
        turned out lost (the server ended the session, or the driver found it closed:
        the statement was rolled back, or never sent) runs once more, on another
        connection, after the connector dropped its dead ones. Not when it belongs to
        a transaction that the connector does not own: the caller's transaction is
        gone, and the error says so (:class:`DatabaseUnavailable`).
        """
        retry = self._owns_transaction()
        for number in range(1, MAX_ATTEMPTS + 1):
            yield Attempt(self, retry=retry and number < MAX_ATTEMPTS)

    def _single_attempt(self) -> Attempt:
        """A statement on the caller's connection: never retried."""
        return Attempt(self, retry=False)

    def _open_pool(self) -> Any:
        """
        The open pool.

        :raises AppNotOpen: the connector is not open.
        """
        if self._pool is None:
            raise exceptions.AppNotOpen
        return self._pool

    def _check_adopted(self, pool: Any) -> None:
        """Refuse a pool given by the caller that the connector cannot use."""

    def _needs_pool(self, pool: Any) -> bool:
        """
        Adopt ``pool`` if given (it is then left open on close); whether a pool is
        still to be created.
        """
        if pool is not None:
            self._check_adopted(pool)
            self._pool, self._pool_externally_set = pool, True
            return False
        return self._pool is None

    def _set_pool(self, pool: Any) -> None:
        self._pool, self._pool_externally_set = pool, False

    def _release_pool(self) -> Any:
        """Forget the pool; it, if the connector must close it, else ``None``."""
        pool, owned = self._pool, not self._pool_externally_set
        self._pool = None
        return pool if owned else None


class BaseSyncConnector(ConnectorTemplate):
    """
    Base class of synchronous connectors: implement :meth:`_execute` (and
    :meth:`_execute_with_connection` to support connections owned by the caller),
    and the other hooks of :mod:`procrastinate.connector.template`; the
    ``execute_query*`` methods, ``open`` and ``close`` are built on them.
    """

    def _create_pool(self) -> Any:
        """A new, open pool."""
        raise NotImplementedError

    def _close_pool(self, pool: Any) -> None:
        """Close a pool that the connector created."""
        raise NotImplementedError

    def _execute(self, query: str, arguments: dict[str, Any]) -> base.Rows | None:
        """Run a query once; its rows, or ``None`` when it returns none."""
        raise NotImplementedError

    def _execute_with_connection(
        self, connection: Any, query: str, arguments: dict[str, Any]
    ) -> base.Rows | None:
        """Run a query on the caller's connection (the caller commits); its rows."""
        raise self._no_external_connection()

    def _recover(self) -> None:
        """Drop the connections that were lost, before a statement runs again."""

    def _run(self, query: str, arguments: dict[str, Any]) -> base.Rows | None:
        attempts = self._attempts()
        while True:
            with next(attempts):
                return self._execute(query, arguments)
            self._recover()

    def _run_with_connection(
        self, connection: Any, query: str, arguments: dict[str, Any]
    ) -> base.Rows:
        with self._single_attempt():
            rows = self._execute_with_connection(connection, query, arguments)
        return rows or []

    def open(self, pool: Any = None) -> None:
        if self._needs_pool(pool):
            self._set_pool(self._create_pool())

    def close(self) -> None:
        pool = self._release_pool()
        if pool is not None:
            self._close_pool(pool)

    def execute_query(self, query: str, **arguments: Any) -> None:
        self._run(query, arguments)

    def execute_query_one(self, query: str, **arguments: Any) -> dict[str, Any]:
        return base.first_row(self._run(query, arguments))

    def execute_query_all(self, query: str, **arguments: Any) -> base.Rows:
        return self._run(query, arguments) or []

    def execute_query_one_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> dict[str, Any]:
        return base.first_row(self._run_with_connection(connection, query, arguments))

    def execute_query_all_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> base.Rows:
        return self._run_with_connection(connection, query, arguments)


class BaseAsyncConnector(ConnectorTemplate):
    """
    Base class of asynchronous connectors: implement the ``_async`` hooks of
    :mod:`procrastinate.connector.template` (or, as in 3.x, override the
    ``execute_query*_async`` methods). The synchronous methods run the asynchronous
    ones through :func:`asgiref.sync.async_to_sync`, which works from a thread
    started by ``sync_to_async`` (a sync task in a worker, for instance).
    """

    async def _create_pool_async(self) -> Any:
        """A new, open pool."""
        raise NotImplementedError

    async def _close_pool_async(self, pool: Any) -> None:
        """Close a pool that the connector created."""
        raise NotImplementedError

    async def _execute_async(
        self, query: str, arguments: dict[str, Any]
    ) -> base.Rows | None:
        """Run a query once; its rows, or ``None`` when it returns none."""
        raise NotImplementedError

    async def _execute_with_connection_async(
        self, connection: Any, query: str, arguments: dict[str, Any]
    ) -> base.Rows | None:
        """Run a query on the caller's connection (the caller commits); its rows."""
        raise self._no_external_connection()

    async def _recover_async(self) -> None:
        """Drop the connections that were lost, before a statement runs again."""

    async def _run_async(
        self, query: str, arguments: dict[str, Any]
    ) -> base.Rows | None:
        attempts = self._attempts()
        while True:
            with next(attempts):
                return await self._execute_async(query, arguments)
            await self._recover_async()

    async def _run_with_connection_async(
        self, connection: Any, query: str, arguments: dict[str, Any]
    ) -> base.Rows:
        with self._single_attempt():
            rows = await self._execute_with_connection_async(
                connection, query, arguments
            )
        return rows or []

    async def open_async(self, pool: Any = None) -> None:
        if self._needs_pool(pool):
            self._set_pool(await self._create_pool_async())

    async def close_async(self) -> None:
        pool = self._release_pool()
        if pool is not None:
            await self._close_pool_async(pool)

    async def execute_query_async(self, query: str, **arguments: Any) -> None:
        await self._run_async(query, arguments)

    async def execute_query_one_async(
        self, query: str, **arguments: Any
    ) -> dict[str, Any]:
        return base.first_row(await self._run_async(query, arguments))

    async def execute_query_all_async(self, query: str, **arguments: Any) -> base.Rows:
        return await self._run_async(query, arguments) or []

    async def execute_query_one_async_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> dict[str, Any]:
        rows = await self._run_with_connection_async(connection, query, arguments)
        return base.first_row(rows)

    async def execute_query_all_async_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> base.Rows:
        return await self._run_with_connection_async(connection, query, arguments)

    def execute_query(self, query: str, **arguments: Any) -> None:
        utils.async_to_sync(self.execute_query_async, query, **arguments)

    def execute_query_one(self, query: str, **arguments: Any) -> dict[str, Any]:
        return utils.async_to_sync(self.execute_query_one_async, query, **arguments)

    def execute_query_all(self, query: str, **arguments: Any) -> base.Rows:
        return utils.async_to_sync(self.execute_query_all_async, query, **arguments)

    def open(self, pool: Any = None) -> None:
        utils.async_to_sync(self.open_async, pool)

    def close(self) -> None:
        utils.async_to_sync(self.close_async)

    def _listen(
        self, statements: list[str]
    ) -> contextlib.AbstractAsyncContextManager[Any]:
        """A dedicated connection (outside the pool, which must not lose a connection
        to it) that ran the ``LISTEN`` statements; closed on exit."""
        raise exceptions.SyncConnectorConfigurationError

    def _notifications(
        self, listener: Any, timeout: float
    ) -> AsyncIterator[tuple[str, str]]:
        """The ``(channel, payload)`` of the notifications received, until
        ``timeout`` seconds pass without any."""
        raise NotImplementedError

    async def _check_listener(self, listener: Any) -> None:
        """Run a query on a silent listening connection: it may be a dead one."""
        raise NotImplementedError

    async def listen_notify(
        self, on_notification: base.Notify, channels: Iterable[str]
    ) -> None:
        """
        Listen on a dedicated connection and relay each notification; reconnect when
        the connection drops or cannot be opened, after a delay that grows with each
        failure and starts short again once a connection worked. Never returns:
        cancel it to stop.

        :raises SyncConnectorConfigurationError: the connector cannot listen.
        """
        channels = list(channels)
        statements = listen_statements(channels)
        backoff = Backoff()
        while True:
            try:
                async with self._listen(statements) as listener:
                    backoff.reset()
                    logger.debug(
                        f"Listening to {', '.join(channels)}",
                        extra={"action": "listen_notify_started", "channels": channels},
                    )
                    await self._relay(listener, on_notification)
            except Exception as error:
                described = self._describe_listen_error(error)
                delay = backoff.next_delay()
                logger.warning(
                    f"Lost the LISTEN connection ({described.message}), "
                    f"reconnecting in {delay:.1f} s",
                    extra={"action": "listen_notify_reconnect", "delay": delay},
                )
                await asyncio.sleep(delay)

    def _describe_listen_error(self, error: Exception) -> errors.DriverError:
        # Any driver error: the next connection may well work (a restart, a
        # read-only spell); a notification is only a hint anyway. Other errors (of
        # the callback, of the connector's configuration) go through.
        described = self._describe_error(error)
        if described is not None:
            return described
        if isinstance(error, (OSError, asyncio.TimeoutError)):
            return errors.DriverError(message=str(error), connection_error=True)
        raise error

    async def _relay(self, listener: Any, on_notification: base.Notify) -> None:
        while True:
            received = False
            async for channel, payload in self._notifications(
                listener, base.LISTEN_TIMEOUT
            ):
                received = True
                await on_notification(channel=channel, payload=payload)
            if not received:
                await self._check_listener(listener)
