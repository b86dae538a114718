"""A synchronous connector on a SQLAlchemy engine with the psycopg2 driver, for
applications that already hold one."""

from __future__ import annotations

from typing import Any

import sqlalchemy
import sqlalchemy.engine
import sqlalchemy.exc

from procrastinate import connector, exceptions, psycopg_common
from procrastinate.connector import errors
from procrastinate.contrib import psycopg2_common

Rows = connector.Rows

PSYCOPG2_DRIVERNAME = "postgresql+psycopg2"

# Sent with a query that has no arguments: SQLAlchemy then calls the driver without
# parameters, so that psycopg2 leaves "%" signs alone (the schema holds some).
_NO_PARAMETERS = {"no_parameters": True}


class SQLAlchemyPsycopg2Connector(connector.BaseSyncConnector):
    """
    Synchronous connector based on a SQLAlchemy :class:`~sqlalchemy.engine.Engine`
    using the psycopg2 driver. Each query runs in its own transaction
    (``engine.begin()``).

    It can also run a query on a :class:`~sqlalchemy.engine.Connection` of the
    caller (``connection=`` of :meth:`Task.configure`, of ``cancel_job_by_id``...),
    within the caller's transaction.

    :param dsn: the database URL, ``postgresql://`` or ``postgresql+psycopg2://``
        (both mean psycopg2); without host or database, the libpq ``PG*``
        environment variables apply.
    :param json_dumps: serializes job arguments to JSON (default: :func:`json.dumps`).
    :param json_loads: reads job arguments back (default: :func:`json.loads`), as the
        engine's ``json_deserializer``. An engine given to :meth:`open` keeps its own
        ``json_deserializer``.
    :param engine_kwargs: passed to :func:`sqlalchemy.create_engine`.
    :raises ConnectorException: ``dsn`` names another driver than psycopg2.
    """

    def __init__(
        self,
        *,
        dsn: str = "postgresql://",
        json_dumps: psycopg_common.JSONDumps | None = None,
        json_loads: psycopg_common.JSONLoads | None = None,
        **engine_kwargs: Any,
    ) -> None:
        self.json_dumps = json_dumps
        self.json_loads = json_loads
        self._url = psycopg2_url(dsn)
        self._engine_kwargs = engine_kwargs

    @property
    def engine(self) -> sqlalchemy.engine.Engine:
        """The open engine; :raises AppNotOpen: the connector is not open."""
        return self._open_pool()  # type: ignore[no-any-return]

    def open(self, engine: sqlalchemy.engine.Engine | None = None) -> None:
        """
        Create the engine and check that the database answers, or adopt ``engine``
        (which is then not disposed by :meth:`close`).

        :param engine: a SQLAlchemy engine using psycopg2, owned by the caller;
            ``None`` to create one from the connector's ``dsn``.
        :raises ConnectorException: ``engine`` does not use psycopg2.
        :raises DatabaseUnavailable: the database cannot be reached.
        """
        super().open(engine)

    def _check_adopted(self, pool: sqlalchemy.engine.Engine) -> None:
        check_driver(pool.url)

    def _create_pool(self) -> sqlalchemy.engine.Engine:
        new_engine = sqlalchemy.create_engine(self._url, **self._engine_options())
        try:
            with new_engine.connect():
                pass
        except sqlalchemy.exc.DBAPIError as exc:
            new_engine.dispose()
            errors.raise_unreachable(
                exc.orig or exc, self._url.render_as_string(hide_password=False)
            )
        return new_engine

    def _engine_options(self) -> dict[str, Any]:
        options = dict(self._engine_kwargs)
        if self.json_loads is not None:
            # The psycopg2 dialect registers it for json and jsonb on each connection.
            options.setdefault("json_deserializer", self.json_loads)
        return options

    def close(self) -> None:
        """Dispose of the engine, unless it was given to :meth:`open`."""
        super().close()

    def _close_pool(self, pool: sqlalchemy.engine.Engine) -> None:
        pool.dispose()

    def _describe_error(self, error: Exception) -> errors.DriverError | None:
        if not isinstance(error, sqlalchemy.exc.DBAPIError):
            return None
        # SQLAlchemy wraps the driver's error, which carries the SQLSTATE.
        return psycopg2_common.describe(error.orig) or errors.DriverError(str(error))

    def _is_connection_lost(
        self, error: Exception, described: errors.DriverError
    ) -> bool:
        # SQLAlchemy invalidated the connection, and the pool's other connections of
        # the same age with it: the next one is fresh.
        invalidated = getattr(error, "connection_invalidated", False)
        return bool(invalidated) or described.session_ended

    def _execute(self, query: str, arguments: dict[str, Any]) -> Rows | None:
        with self.engine.begin() as conn:
            return self._execute_with_connection(conn, query, arguments)

    def _execute_with_connection(
        self,
        connection: sqlalchemy.engine.Connection,
        query: str,
        arguments: dict[str, Any],
    ) -> Rows | None:
        adapted = psycopg2_common.adapt_arguments(arguments, self.json_dumps)
        if adapted is None:
            result = connection.exec_driver_sql(query, execution_options=_NO_PARAMETERS)
        else:
            result = connection.exec_driver_sql(query, adapted)
        if not result.returns_rows:
            return None
        return [dict(row) for row in result.mappings()]


def psycopg2_url(dsn: str) -> sqlalchemy.engine.URL:
    """
    The URL of ``dsn`` with the psycopg2 driver spelled out.

    :raises ConnectorException: ``dsn`` names another driver.
    """
    url = sqlalchemy.engine.make_url(dsn)
    if url.drivername == "postgresql":
        url = url.set(drivername=PSYCOPG2_DRIVERNAME)
    check_driver(url)
    return url


def check_driver(url: sqlalchemy.engine.URL) -> None:
    """
    :raises ConnectorException: ``url`` does not use the psycopg2 driver, the only
        one whose parameters and errors this connector knows.
    """
    if url.get_backend_name() != "postgresql" or url.get_driver_name() != "psycopg2":
        raise exceptions.ConnectorException(
            f"SQLAlchemyPsycopg2Connector needs a {PSYCOPG2_DRIVERNAME}:// engine, "
            f"not {url.drivername}://"
        )
