"""A synchronous psycopg 3 connector, for code that only defers jobs or reads them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import psycopg_pool
from psycopg.rows import dict_row

from procrastinate import connector, psycopg_common


class SyncPsycopgConnector(psycopg_common.PsycopgSettings, connector.BaseSyncConnector):
    """
    Synchronous connector based on a :class:`psycopg_pool.ConnectionPool`.

    It can defer jobs and query them from synchronous code (a web app, a script), but
    cannot run workers, which need an asynchronous connector such as
    :class:`~procrastinate.PsycopgConnector`.

    :param json_dumps: serializes job arguments to JSON (default: :func:`json.dumps`).
    :param json_loads: reads job arguments back (default: :func:`json.loads`).
    :param pool_factory: the pool class or factory to use; by default, a
        :class:`psycopg_pool.ConnectionPool` that hands out the connection used
        last (``procrastinate.psycopg_common.LastUsedFirstPool``).
    :param kwargs: passed to :class:`psycopg_pool.ConnectionPool` (``conninfo``,
        ``min_size``, ``max_size``, ``kwargs``...).
    """

    def __init__(
        self,
        *,
        json_dumps: psycopg_common.JSONDumps | None = None,
        json_loads: psycopg_common.JSONLoads | None = None,
        pool_factory: Callable[..., psycopg_pool.ConnectionPool[Any]] = (
            psycopg_common.LastUsedFirstPool
        ),
        **kwargs: Any,
    ) -> None:
        super().__init__(
            json_dumps=json_dumps,
            json_loads=json_loads,
            pool_factory=pool_factory,
            pool_args=kwargs,
        )

    @property
    def is_open(self) -> bool:
        """Whether the pool is open."""
        return self._pool is not None

    @property
    def pool(self) -> psycopg_pool.ConnectionPool[Any]:
        """The open pool; :raises AppNotOpen: the connector is not open."""
        return self._open_pool()  # type: ignore[no-any-return]

    def open(self, pool: psycopg_pool.ConnectionPool[Any] | None = None) -> None:
        """Open the pool, or adopt ``pool`` (then left open by :meth:`close`)."""
        super().open(pool)

    def _create_pool(self) -> psycopg_pool.ConnectionPool[Any]:
        # The pool would retry an unreachable server for its whole timeout; one
        # direct attempt fails at once, with the server's own explanation.
        reason = self._probe()
        if reason is not None:
            raise reason
        new_pool: psycopg_pool.ConnectionPool[Any] = self._new_pool()
        try:
            new_pool.open(wait=True, timeout=new_pool.timeout)
        except psycopg_pool.PoolTimeout as exc:
            new_pool.close()
            # Asking for as many connections as the pool wanted gets the server's
            # reason (too many clients...), which the pool does not tell.
            raise self._pool_timeout(exc, count=new_pool.min_size) from exc
        return new_pool

    def _close_pool(self, pool: psycopg_pool.ConnectionPool[Any]) -> None:
        pool.close()

    def _execute(
        self, query: str, arguments: dict[str, Any]
    ) -> list[dict[str, Any]] | None:
        try:
            with self.pool.connection() as conn:
                return self._execute_with_connection(conn, query, arguments)
        except psycopg_pool.PoolTimeout as error:
            raise self._pool_timeout(error) from error

    def _recover(self) -> None:
        self.pool.check()

    def _execute_with_connection(
        self, connection: psycopg.Connection[Any], query: str, arguments: dict[str, Any]
    ) -> list[dict[str, Any]] | None:
        adapted = psycopg_common.adapt_arguments(arguments, self.json_dumps)
        with connection.cursor(row_factory=dict_row) as cursor:
            psycopg_common.configure_json(cursor, self.json_loads)
            cursor.execute(query, adapted)
            return cursor.fetchall() if cursor.description else None
