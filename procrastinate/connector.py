"""The connector interface: how procrastinate talks to PostgreSQL.

The job manager only ever calls these methods. Queries are SQL texts from
:mod:`procrastinate.sql` with ``%(name)s`` parameters; rows come back as dicts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from procrastinate import exceptions, utils

LISTEN_TIMEOUT = 30.0

Rows = list[dict[str, Any]]


def first_row(rows: Rows | None) -> dict[str, Any]:
    """
    The first row of a query's result.

    :param rows: the rows a query returned, if any.
    :raises NoResult: the query returned no row.
    """
    if not rows:
        raise exceptions.NoResult
    return rows[0]


def is_json_argument(value: Any) -> bool:
    """
    Whether a query argument goes to PostgreSQL as JSON (``jsonb``): a dict, or a
    non-empty list of dicts (a batch of jobs). Other lists are SQL arrays.
    """
    if isinstance(value, dict):
        return True
    return (
        isinstance(value, (list, tuple))
        and bool(value)
        and all(isinstance(item, dict) for item in value)
    )


class Notify(Protocol):
    """Callback receiving a LISTEN/NOTIFY notification."""

    def __call__(self, *, channel: str, payload: str) -> Awaitable[None]:
        """
        :param channel: the channel the notification was sent on.
        :param payload: its payload, as sent (a JSON document for procrastinate's).
        """


class BaseConnector:
    """
    Base class of all connectors. A synchronous connector implements the sync methods;
    an asynchronous one derives from :class:`BaseAsyncConnector` instead.
    """

    json_dumps: Callable[[Any], str] | None = None
    json_loads: Callable[[str | bytes], Any] | None = None

    def get_sync_connector(self) -> BaseConnector:
        """The connector to use from synchronous code."""
        return self

    def open(self, pool: Any = None) -> None:
        """Open the connector, or adopt an already open ``pool``.

        :param pool: a pool of the connector's driver, opened and closed by the
            caller; ``None`` to create one.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Close the connector (an adopted pool is left open)."""
        raise NotImplementedError

    def execute_query(self, query: str, **arguments: Any) -> None:
        """Run a query, ignoring its result.

        :param query: the SQL, with ``%(name)s`` placeholders (see
            :data:`procrastinate.sql.queries`).
        :param arguments: the values of the placeholders.
        """
        raise NotImplementedError

    def execute_query_one(self, query: str, **arguments: Any) -> dict[str, Any]:
        """Run a query and return its first row."""
        raise NotImplementedError

    def execute_query_all(self, query: str, **arguments: Any) -> list[dict[str, Any]]:
        """Run a query and return all its rows."""
        raise NotImplementedError

    def execute_query_one_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> dict[str, Any]:
        """
        Run a query on a connection owned by the caller (who commits), and return
        its first row.

        :param connection: the caller's connection, of the connector's driver.
        :param query: the SQL, with ``%(name)s`` placeholders.
        :param arguments: the values of the placeholders.
        :raises ConnectorException: the connector does not support external connections.
        """
        raise self._no_external_connection()

    def execute_query_all_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> list[dict[str, Any]]:
        """Like :meth:`execute_query_one_with_connection`, returning all rows."""
        raise self._no_external_connection()

    async def open_async(self, pool: Any = None) -> None:
        """Open the connector for asynchronous use.

        :raises SyncConnectorConfigurationError: the connector is synchronous only.
        """
        raise exceptions.SyncConnectorConfigurationError

    async def close_async(self) -> None:
        """Close the connector opened with :meth:`open_async`."""
        raise exceptions.SyncConnectorConfigurationError

    async def execute_query_async(self, query: str, **arguments: Any) -> None:
        """Asynchronous :meth:`execute_query`."""
        raise exceptions.SyncConnectorConfigurationError

    async def execute_query_one_async(
        self, query: str, **arguments: Any
    ) -> dict[str, Any]:
        """Asynchronous :meth:`execute_query_one`."""
        raise exceptions.SyncConnectorConfigurationError

    async def execute_query_all_async(
        self, query: str, **arguments: Any
    ) -> list[dict[str, Any]]:
        """Asynchronous :meth:`execute_query_all`."""
        raise exceptions.SyncConnectorConfigurationError

    async def execute_query_one_with_connection_async(
        self, connection: Any, query: str, **arguments: Any
    ) -> dict[str, Any]:
        """Asynchronous :meth:`execute_query_one_with_connection`."""
        raise self._no_external_connection()

    async def execute_query_all_with_connection_async(
        self, connection: Any, query: str, **arguments: Any
    ) -> list[dict[str, Any]]:
        """Asynchronous :meth:`execute_query_all_with_connection`."""
        raise self._no_external_connection()

    async def listen_notify(
        self,
        on_notification: Notify,
        channels: Iterable[str],
    ) -> None:
        """
        Listen to the channels and await ``on_notification`` for each notification;
        reconnect when the connection drops. Never returns: cancel it to stop.

        :param on_notification: called with each notification's channel and payload.
        :param channels: the channels to ``LISTEN`` to.
        :raises SyncConnectorConfigurationError: the connector is synchronous only.
        """
        raise exceptions.SyncConnectorConfigurationError

    def _no_external_connection(self) -> exceptions.ConnectorException:
        return exceptions.ConnectorException(
            f"{type(self).__name__} does not support external connections"
        )


class BaseSyncConnector(BaseConnector):
    """
    Base class of synchronous connectors: implement :meth:`_execute` (and
    :meth:`_execute_with_connection` to support connections owned by the caller);
    the ``execute_query*`` methods are built on them.
    """

    def _execute(self, query: str, arguments: dict[str, Any]) -> Rows | None:
        """Run a query; its rows, or ``None`` when it returns none."""
        raise NotImplementedError

    def _execute_with_connection(
        self, connection: Any, query: str, arguments: dict[str, Any]
    ) -> Rows:
        """Run a query on the caller's connection (the caller commits); its rows."""
        raise self._no_external_connection()

    def execute_query(self, query: str, **arguments: Any) -> None:
        self._execute(query, arguments)

    def execute_query_one(self, query: str, **arguments: Any) -> dict[str, Any]:
        return first_row(self._execute(query, arguments))

    def execute_query_all(self, query: str, **arguments: Any) -> Rows:
        return self._execute(query, arguments) or []

    def execute_query_one_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> dict[str, Any]:
        return first_row(self._execute_with_connection(connection, query, arguments))

    def execute_query_all_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> Rows:
        return self._execute_with_connection(connection, query, arguments)


class BaseAsyncConnector(BaseConnector):
    """
    Base class of asynchronous connectors. The synchronous methods run the
    asynchronous ones through :func:`asgiref.sync.async_to_sync`, which works from a
    thread started by ``sync_to_async`` (a sync task in a worker, for instance).
    """

    async def open_async(self, pool: Any = None) -> None:
        raise NotImplementedError

    async def close_async(self) -> None:
        raise NotImplementedError

    async def execute_query_async(self, query: str, **arguments: Any) -> None:
        raise NotImplementedError

    async def execute_query_one_async(
        self, query: str, **arguments: Any
    ) -> dict[str, Any]:
        raise NotImplementedError

    async def execute_query_all_async(
        self, query: str, **arguments: Any
    ) -> list[dict[str, Any]]:
        raise NotImplementedError

    def execute_query(self, query: str, **arguments: Any) -> None:
        utils.async_to_sync(self.execute_query_async, query, **arguments)

    def execute_query_one(self, query: str, **arguments: Any) -> dict[str, Any]:
        return utils.async_to_sync(self.execute_query_one_async, query, **arguments)

    def execute_query_all(self, query: str, **arguments: Any) -> list[dict[str, Any]]:
        return utils.async_to_sync(self.execute_query_all_async, query, **arguments)

    def open(self, pool: Any = None) -> None:
        utils.async_to_sync(self.open_async, pool)

    def close(self) -> None:
        utils.async_to_sync(self.close_async)


async def sleep_backoff(attempt: int, maximum: float = 10.0) -> None:
    """Wait before a reconnection: 0.1 s doubling up to ``maximum``."""
    await asyncio.sleep(min(maximum, 0.1 * 2**attempt))
