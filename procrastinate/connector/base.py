"""The connector interface, as in procrastinate 3.x: what the job manager calls.

Queries are SQL texts from :mod:`procrastinate.sql` with ``%(name)s`` parameters; rows
come back as dicts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from procrastinate import exceptions

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

    async def execute_query_one_async_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> dict[str, Any]:
        """Asynchronous :meth:`execute_query_one_with_connection`."""
        raise self._no_external_connection()

    async def execute_query_all_async_with_connection(
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
