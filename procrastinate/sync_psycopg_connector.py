"""A synchronous psycopg 3 connector, for code that only defers jobs or reads them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import psycopg.errors
import psycopg_pool
from psycopg.rows import dict_row

from procrastinate import connector, exceptions, psycopg_common


class SyncPsycopgConnector(connector.BaseSyncConnector):
    """
    Synchronous connector based on a :class:`psycopg_pool.ConnectionPool`.

    It can defer jobs and query them from synchronous code (a web app, a script), but
    cannot run workers, which need an asynchronous connector such as
    :class:`~procrastinate.PsycopgConnector`.

    :param json_dumps: serializes job arguments to JSON (default: :func:`json.dumps`).
    :param json_loads: reads job arguments back (default: :func:`json.loads`).
    :param pool_factory: the pool class or factory to use.
    :param kwargs: passed to :class:`psycopg_pool.ConnectionPool` (``conninfo``,
        ``min_size``, ``max_size``, ``kwargs``...).
    """

    def __init__(
        self,
        *,
        json_dumps: psycopg_common.JSONDumps | None = None,
        json_loads: psycopg_common.JSONLoads | None = None,
        pool_factory: Callable[..., psycopg_pool.ConnectionPool[Any]] = (
            psycopg_pool.ConnectionPool
        ),
        **kwargs: Any,
    ) -> None:
        self.json_dumps = json_dumps
        self.json_loads = json_loads
        self._pool_factory = pool_factory
        self._pool_args = kwargs
        self._pool: psycopg_pool.ConnectionPool[Any] | None = None
        self._pool_externally_set = False

    @property
    def is_open(self) -> bool:
        """Whether the pool is open."""
        return self._pool is not None

    @property
    def pool(self) -> psycopg_pool.ConnectionPool[Any]:
        """The open pool.

        :raises AppNotOpen: the connector is not open.
        """
        if self._pool is None:
            raise exceptions.AppNotOpen
        return self._pool

    def open(self, pool: psycopg_pool.ConnectionPool[Any] | None = None) -> None:
        """Open the pool, or adopt ``pool`` (then left open by :meth:`close`)."""
        if pool is not None:
            self._pool = pool
            self._pool_externally_set = True
            return
        if self._pool is not None:
            return
        kwargs: dict[str, Any] = dict(self._pool_args.get("kwargs") or {})
        kwargs.setdefault("autocommit", True)
        # The pool would retry an unreachable server for its whole timeout; one
        # direct attempt fails at once, with the server's own explanation.
        conninfo = str(self._pool_args.get("conninfo", ""))
        try:
            psycopg.connect(conninfo, **kwargs).close()
        except psycopg.Error as exc:
            # Also a malformed conninfo, whose message may quote the password.
            psycopg_common.raise_unreachable(exc, conninfo)
        new_pool = self._pool_factory(
            **{**self._pool_args, "kwargs": kwargs}, open=False
        )
        try:
            new_pool.open(wait=True)
        except psycopg_pool.PoolTimeout as exc:
            new_pool.close()
            psycopg_common.raise_unreachable(exc, conninfo)
        self._pool = new_pool
        self._pool_externally_set = False

    def close(self) -> None:
        """Close the pool, unless it was given to :meth:`open`."""
        if self._pool is None:
            return
        if not self._pool_externally_set:
            self._pool.close()
        self._pool = None

    def _execute(
        self, query: str, arguments: dict[str, Any]
    ) -> list[dict[str, Any]] | None:
        adapted = psycopg_common.adapt_arguments(arguments, self.json_dumps)
        for attempt in (1, 2):
            try:
                with self.pool.connection() as conn:
                    with conn.cursor(row_factory=dict_row) as cursor:
                        psycopg_common.configure_json(cursor, self.json_loads)
                        cursor.execute(query, adapted)
                        return cursor.fetchall() if cursor.description else None
            except psycopg.errors.AdminShutdown as error:
                if attempt == 2:
                    raise psycopg_common.translate_error(error) from error
                self.pool.check()
            except psycopg_pool.PoolTimeout as error:
                psycopg_common.raise_unreachable(
                    error, str(self._pool_args.get("conninfo", ""))
                )
            except psycopg.Error as error:
                raise psycopg_common.translate_error(error) from error
        return None  # pragma: no cover

    def _execute_with_connection(
        self, connection: psycopg.Connection[Any], query: str, arguments: dict[str, Any]
    ) -> list[dict[str, Any]]:
        adapted = psycopg_common.adapt_arguments(arguments, self.json_dumps)
        with psycopg_common.wrap_exceptions():
            with connection.cursor(row_factory=dict_row) as cursor:
                psycopg_common.configure_json(cursor, self.json_loads)
                cursor.execute(query, adapted)
                return cursor.fetchall()
