"""What the psycopg 3 connectors (async, sync, Django's) share: their settings and
probe, parameter adaptation, JSON hooks and the description of driver errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import psycopg_pool
from psycopg.types import json as psycopg_json

from procrastinate import connector, exceptions
from procrastinate.connector import errors
from procrastinate.connector.errors import mask_passwords

__all__ = [
    "AsyncLastUsedFirstPool",
    "JSONDumps",
    "JSONLoads",
    "LastUsedFirstPool",
    "PsycopgSettings",
    "adapt_arguments",
    "configure_json",
    "describe",
    "mask_passwords",
    "translate_error",
]

JSONDumps = Callable[[Any], str]
JSONLoads = Callable[[str | bytes], Any]


# psycopg_pool hands out the connection that has been idle the longest (its ready
# connections are a queue): one query after another then goes round all of them,
# each time to a server process, and client buffers, gone cold meanwhile. Handing out
# the one returned last keeps sequential queries on one warm connection: with four
# connections, one-by-one defers measured a third less client CPU per defer and a
# third more defers per second. Concurrent queries still get one connection each.
# The pools override one private method of psycopg_pool, called under the pool's
# lock; if a later psycopg_pool no longer calls it, they behave as the base class.


class AsyncLastUsedFirstPool(psycopg_pool.AsyncConnectionPool[Any]):
    """
    A :class:`psycopg_pool.AsyncConnectionPool` that hands out the connection
    returned last (the default pool of
    ``PsycopgConnector``).
    """

    async def _get_ready_connection(self, timeout: float | None) -> Any:
        _newest_first(self)
        return await super()._get_ready_connection(timeout)


class LastUsedFirstPool(psycopg_pool.ConnectionPool[Any]):
    """
    The synchronous :class:`AsyncLastUsedFirstPool` (the default pool of
    ``SyncPsycopgConnector``).
    """

    def _get_ready_connection(self, timeout: float | None) -> Any:
        _newest_first(self)
        return super()._get_ready_connection(timeout)


def _newest_first(pool: Any) -> None:
    # The ready connections, oldest first: the pool takes the leftmost one.
    ready = getattr(pool, "_pool", None)
    if ready:
        ready.rotate(1)


def adapt_arguments(
    arguments: dict[str, Any], json_dumps: JSONDumps | None
) -> dict[str, Any] | None:
    """
    Wrap the values meant for ``jsonb`` (dicts, and lists of dicts such as a batch of
    jobs) so that psycopg sends them as JSON, through the user's ``json_dumps``.

    A query without arguments gets ``None``: psycopg then sends it as is, with the
    simple protocol, which allows several statements (the schema) and literal ``%``.
    """
    if not arguments:
        return None
    return {
        key: psycopg_json.Jsonb(value, json_dumps)
        if connector.is_json_argument(value)
        else value
        for key, value in arguments.items()
    }


def configure_json(
    context: psycopg.AsyncCursor[Any] | psycopg.Cursor[Any],
    json_loads: JSONLoads | None,
) -> None:
    """Make ``json``/``jsonb`` values read through this cursor use ``json_loads``."""
    if json_loads is not None:
        psycopg_json.set_json_loads(json_loads, context)


def describe(error: BaseException | None) -> errors.DriverError | None:
    """What a psycopg error says; ``None`` for any other exception."""
    if not isinstance(error, psycopg.Error):
        return None
    return errors.describe_dbapi_error(
        error,
        sqlstate=error.sqlstate,
        connection_error=isinstance(
            error, (psycopg.OperationalError, psycopg.InterfaceError)
        ),
    )


def translate_error(error: psycopg.Error) -> exceptions.ConnectorException:
    """The procrastinate exception for a psycopg error."""
    described = describe(error)
    assert described is not None
    return errors.translate(described)


class PsycopgSettings:
    """
    The settings of a psycopg connector (JSON hooks, pool factory and its
    arguments) and the direct connections that tell why the server cannot be used.

    :param json_dumps: serializes job arguments to JSON.
    :param json_loads: reads job arguments back.
    :param pool_factory: the pool class or factory.
    :param pool_args: its arguments (``conninfo``, ``kwargs``...).
    """

    def __init__(
        self,
        *,
        json_dumps: JSONDumps | None,
        json_loads: JSONLoads | None,
        pool_factory: Callable[..., Any],
        pool_args: dict[str, Any],
    ) -> None:
        self.json_dumps = json_dumps
        self.json_loads = json_loads
        self._pool_factory = pool_factory
        self._pool_args = pool_args

    @property
    def _conninfo(self) -> str:
        return str(self._pool_args.get("conninfo", ""))

    def _connection_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = dict(self._pool_args.get("kwargs") or {})
        kwargs.setdefault("autocommit", True)
        return kwargs

    def _new_pool(self) -> Any:
        """A pool of the factory, not open yet."""
        return self._pool_factory(
            **{**self._pool_args, "kwargs": self._connection_kwargs()}, open=False
        )

    def _describe_error(self, error: Exception) -> errors.DriverError | None:
        return describe(error)

    def _probe(self, count: int = 1) -> exceptions.DatabaseUnavailable | None:
        """
        Why ``count`` direct connections at once fail (too many clients...), ``None``
        if they work. Synchronous, also for the asynchronous connector (in a thread):
        it only runs when the pool cannot help.
        """
        connections = []
        try:
            for _ in range(count):
                connections.append(
                    psycopg.connect(self._conninfo, **self._connection_kwargs())
                )
        except psycopg.Error as exc:
            # Also a malformed conninfo, whose message may quote the password.
            return errors.unreachable(exc, self._conninfo)
        finally:
            for conn in connections:
                conn.close()
        return None

    def _pool_timeout(
        self, error: Exception, count: int = 1
    ) -> exceptions.DatabaseUnavailable:
        """The error for a pool that gave no connection in time: the server's reason
        when ``count`` direct connections get one (too many clients...)."""
        return errors.pool_exhausted(error, self._probe(count))
