"""A connector running its queries on Django's own database connection."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from asgiref import sync
from django import db

from procrastinate import connector, psycopg_common
from procrastinate.connector import errors
from procrastinate.contrib.django import exceptions as django_exceptions
from procrastinate.psycopg_connector import PsycopgConnector

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

# Set by Django on its connections, meaningless (or harmful) for a connection that
# procrastinate opens itself.
_DJANGO_ONLY_PARAMS = ("cursor_factory", "context")


def connector_params(alias: str = "default") -> dict[str, Any]:
    """
    The keyword arguments of :func:`psycopg.connect` that reach the database of the
    Django connection ``alias`` (without Django's cursor class and adapters), e.g. for
    ``PsycopgConnector(kwargs=connector_params())``.

    :param alias: the Django database alias.
    """
    params = dict(db.connections[alias].get_connection_params())
    for name in _DJANGO_ONLY_PARAMS:
        params.pop(name, None)
    return params


class DjangoConnector(connector.BaseSyncConnector, connector.BaseAsyncConnector):
    """
    Runs procrastinate's queries on the Django connection ``alias``: a job deferred
    inside ``transaction.atomic()`` is stored only if the transaction commits.

    Django opens and closes the connection, so :meth:`open` and :meth:`close` do
    nothing. Asynchronous methods run the synchronous ones through
    :func:`asgiref.sync.sync_to_async`, in Django's thread for database access.
    Workers need LISTEN/NOTIFY, which this connector cannot do: they use
    :meth:`get_worker_connector`.

    :param alias: the key of the database in ``settings.DATABASES``.
    :param json_dumps: serializes job arguments to JSON (default: :func:`json.dumps`).
    :param json_loads: reads job arguments back (default: :func:`json.loads`).
    """

    def __init__(
        self,
        alias: str = "default",
        *,
        json_dumps: psycopg_common.JSONDumps | None = None,
        json_loads: psycopg_common.JSONLoads | None = None,
    ) -> None:
        self.alias = alias
        self.json_dumps = json_dumps
        self.json_loads = json_loads

    @property
    def connection(self) -> BaseDatabaseWrapper:
        """The Django connection (of the current thread)."""
        return db.connections[self.alias]

    def get_worker_connector(self) -> PsycopgConnector:
        """A :class:`~procrastinate.PsycopgConnector` to the same database, with the
        same JSON hooks: what workers and the management command use."""
        return PsycopgConnector(
            kwargs=connector_params(self.alias),
            json_dumps=self.json_dumps,
            json_loads=self.json_loads,
        )

    def get_sync_connector(self) -> connector.BaseConnector:
        """This connector: its synchronous methods use Django's connection directly."""
        return self

    def open(self, pool: Any = None) -> None:
        """Nothing to open: Django manages its connections.

        :param pool: ignored.
        """

    def close(self) -> None:
        """Nothing to close: Django manages its connections."""

    async def open_async(self, pool: Any = None) -> None:
        """Nothing to open: Django manages its connections."""

    async def close_async(self) -> None:
        """Nothing to close: Django manages its connections."""

    def _describe_error(self, error: Exception) -> errors.DriverError | None:
        if not isinstance(error, db.Error):
            return None
        # Django wraps the driver's error: the original carries the SQLSTATE and the
        # constraint name that procrastinate needs (queueing locks).
        return psycopg_common.describe(error.__cause__) or errors.DriverError(
            " ".join(str(error).split())
        )

    def _owns_transaction(self) -> bool:
        # In an atomic block, the statement belongs to the caller's transaction.
        return not self.connection.in_atomic_block

    def _recover(self) -> None:
        # Django reconnects only once it closed a connection that failed.
        self.connection.close_if_unusable_or_obsolete()

    def _execute(
        self, query: str, arguments: dict[str, Any]
    ) -> list[dict[str, Any]] | None:
        adapted = psycopg_common.adapt_arguments(arguments, self.json_dumps)
        with self.connection.cursor() as cursor:
            # Django reads jsonb as text (its JSONField decodes it): procrastinate
            # wants the decoded values, as from its own connectors.
            psycopg_common.configure_json(cursor.cursor, self.json_loads or json.loads)
            cursor.execute(query, adapted)
            if cursor.description is None:
                return None
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    async def execute_query_async(self, query: str, **arguments: Any) -> None:
        await sync.sync_to_async(self.execute_query)(query, **arguments)

    async def execute_query_one_async(
        self, query: str, **arguments: Any
    ) -> dict[str, Any]:
        return await sync.sync_to_async(self.execute_query_one)(query, **arguments)

    async def execute_query_all_async(
        self, query: str, **arguments: Any
    ) -> list[dict[str, Any]]:
        return await sync.sync_to_async(self.execute_query_all)(query, **arguments)

    async def listen_notify(
        self, on_notification: connector.Notify, channels: Iterable[str]
    ) -> None:
        """
        :raises WorkerConnectorUnsupported: always; Django's connection takes part in
            the request's transactions, it cannot wait for notifications.
        """
        raise django_exceptions.WorkerConnectorUnsupported
