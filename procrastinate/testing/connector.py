"""The in-memory connector: it runs each named query by its handler on in-memory
tables, under a lock, and delivers the notifications of the queries that succeeded to
the running :meth:`~InMemoryConnector.listen_notify` calls, on their event loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import threading
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar, overload

from procrastinate import connector, exceptions
from procrastinate.testing import admin_handlers, job_handlers, read_handlers, registry
from procrastinate.testing.rules import DOING, FINAL_STATUSES, Row
from procrastinate.testing.tables import PeriodicKey, Tables

#: The handler of each named query, by name.
HANDLERS = registry.merge(
    job_handlers.handlers, read_handlers.handlers, admin_handlers.handlers
)

T = TypeVar("T")


class _TableState(Generic[T]):
    """An attribute of the connector that is the attribute of the same name of its
    :class:`~procrastinate.testing.tables.Tables`, to read and to assign."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type) -> _TableState[T]: ...

    @overload
    def __get__(self, instance: InMemoryConnector, owner: type) -> T: ...

    def __get__(
        self, instance: InMemoryConnector | None, owner: type
    ) -> T | _TableState[T]:
        if instance is None:
            return self
        return getattr(instance.tables, self.name)  # type: ignore[no-any-return]

    def __set__(self, instance: InMemoryConnector, value: T) -> None:
        setattr(instance.tables, self.name, value)


@dataclasses.dataclass
class _Listener:
    """One running :meth:`InMemoryConnector.listen_notify`, like a LISTEN session."""

    channels: frozenset[str]
    loop: asyncio.AbstractEventLoop
    inbox: asyncio.Queue[tuple[str, str]]


class InMemoryConnector(connector.BaseAsyncConnector):
    """
    A connector keeping jobs, events and workers in memory, for tests.

    Each named query of :mod:`procrastinate.sql` is run by its handler, with the
    semantics of the SQL; a plain SQL text is recognised when it is the text of a
    named query or the schema. Every call is logged in :attr:`queries`. The state is
    public, to inspect or arrange in tests:

    - :attr:`jobs`: job id → row, with the columns of ``procrastinate_jobs``;
    - :attr:`events`: job id → list of ``{"type": ..., "at": ...}``;
    - :attr:`workers`: worker id → last heartbeat;
    - :attr:`periodic_defers`: ``(task name, periodic id)`` → latest deferred tick;
    - ``queues``: queue name → ``{"paused": ..., "paused_at": ...}``, for the
      queues that were ever paused;
    - :attr:`queue_limits`: queue name → its limits and recent starts;
    - ``tables``: the object holding all of these (attributes of the connector are its
      attributes, to read and to assign), replaced by :meth:`reset`.

    The synchronous query methods run the asynchronous ones through
    ``async_to_sync``, like other asynchronous connectors (``open`` and ``close`` only
    record the state, and need no event loop); the lock around every change makes it
    safe to defer from the threads running sync tasks.

    Where the database depends on its settings, the in-memory tables behave like a
    database with the ``C`` collation (``list_queues`` and the like sort names by code
    point) and store the job arguments as they come back from ``json_loads``.

    :param json_dumps: serializes job arguments (default: :func:`json.dumps`); the
        arguments of each job go through it and ``json_loads`` once, as through the
        database.
    :param json_loads: reads job arguments back (default: :func:`json.loads`).
    """

    json_dumps = _TableState[Callable[[Any], str] | None]()
    json_loads = _TableState[Callable[[str | bytes], Any] | None]()
    jobs = _TableState[dict[int, Row]]()
    events = _TableState[dict[int, list[Row]]]()
    workers = _TableState[dict[int, datetime.datetime]]()
    queues = _TableState[dict[str, Row]]()
    periodic_defers = _TableState[dict[PeriodicKey, int]]()
    queue_limits = _TableState[dict[str, Row]]()
    job_counter = _TableState[int]()
    worker_counter = _TableState[int]()
    table_exists = _TableState[bool]()

    def __init__(
        self,
        *,
        json_dumps: Callable[[Any], str] | None = None,
        json_loads: Callable[[str | bytes], Any] | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._listeners: list[_Listener] = []
        self.tables = Tables(json_dumps=json_dumps, json_loads=json_loads)
        self.reset()

    def reset(self) -> None:
        """
        Forget every job, event, worker, periodic defer, logged query and state, as
        on a new database. Running :meth:`listen_notify` calls keep listening.
        """
        with self._lock:
            self.tables = Tables(json_dumps=self.json_dumps, json_loads=self.json_loads)
            self.queries: list[tuple[str, dict[str, Any]]] = []
            self.states: list[str] = []
            self.notify_channels: list[str] = []
            self.on_notification: connector.Notify | None = None

    # Connector interface

    async def open_async(self, pool: Any = None) -> None:
        """Record ``"open_async"`` in :attr:`states`; ``pool`` is ignored."""
        self.states.append("open_async")

    async def close_async(self) -> None:
        """Record ``"closed_async"`` in :attr:`states`."""
        self.states.append("closed_async")

    def open(self, pool: Any = None) -> None:
        """Record ``"open"`` in :attr:`states` (no event loop needed)."""
        self.states.append("open")

    def close(self) -> None:
        """Record ``"closed"`` in :attr:`states`."""
        self.states.append("closed")

    async def execute_query_async(self, query: str, **arguments: Any) -> None:
        """
        Run a query, ignoring its result.

        :raises UnknownQuery: the query is not one of :mod:`procrastinate.sql`.
        :raises ConnectorException: the query fails, as it would in the database.
        """
        self._run(query, "run", arguments)

    async def execute_query_one_async(self, query: str, **arguments: Any) -> Row:
        """
        Run a query and return its row.

        :raises NoResult: the query returns no row.
        :raises UnknownQuery: the query is not one of :mod:`procrastinate.sql`.
        """
        rows = self._run(query, "one", arguments)
        if not rows:
            raise exceptions.NoResult
        return rows[0]

    async def execute_query_all_async(self, query: str, **arguments: Any) -> list[Row]:
        """
        Run a query and return its rows.

        :raises UnknownQuery: the query is not one of :mod:`procrastinate.sql`.
        """
        return self._run(query, "all", arguments)

    async def execute_query_one_async_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> Row:
        """Like :meth:`execute_query_one_async`: there is no transaction to join, so
        ``connection`` is ignored."""
        return await self.execute_query_one_async(query, **arguments)

    async def execute_query_all_async_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> list[Row]:
        """Like :meth:`execute_query_all_async`; ``connection`` is ignored."""
        return await self.execute_query_all_async(query, **arguments)

    def execute_query_one_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> Row:
        """Like :meth:`execute_query_one`; ``connection`` is ignored."""
        return self.execute_query_one(query, **arguments)

    def execute_query_all_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> list[Row]:
        """Like :meth:`execute_query_all`; ``connection`` is ignored."""
        return self.execute_query_all(query, **arguments)

    async def listen_notify(
        self, on_notification: connector.Notify, channels: Iterable[str]
    ) -> None:
        """
        Await ``on_notification(channel=..., payload=...)`` for each notification sent
        on ``channels`` (a job inserted or retried, an abort requested), in order, on
        this event loop, wherever the query ran. Never returns: cancel it to stop.
        An error of ``on_notification`` ends it, as it ends a real listener.
        """
        channels = list(channels)
        listener = _Listener(
            channels=frozenset(channels),
            loop=asyncio.get_running_loop(),
            inbox=asyncio.Queue(),
        )
        with self._lock:
            self.on_notification = on_notification
            self.notify_channels = channels
            self._listeners.append(listener)
        try:
            while True:
                channel, payload = await listener.inbox.get()
                await on_notification(channel=channel, payload=payload)
        finally:
            with self._lock:
                self._listeners.remove(listener)

    # Helpers for tests

    @property
    def current_locks(self) -> set[str]:
        """The locks of the running jobs."""
        with self._lock:
            return {
                job["lock"]
                for job in self.jobs.values()
                if job["status"] == DOING and job["lock"] is not None
            }

    @property
    def finished_jobs(self) -> list[Row]:
        """The jobs that ended: succeeded, failed, cancelled or aborted."""
        with self._lock:
            return [
                job for job in self.jobs.values() if job["status"] in FINAL_STATUSES
            ]

    # Dispatch

    def _run(
        self, query: str, kind: registry.Kind, arguments: dict[str, Any]
    ) -> list[Row]:
        name = registry.query_name(query)
        handler = registry.find(HANDLERS, name, kind)
        with self._lock:
            self.queries.append((name, arguments))
            # Like notifications sent at commit: only those of a query that succeeded.
            self.tables.take_notifications()
            rows = handler(self.tables, **arguments)
            self._send(self.tables.take_notifications())
        return rows

    def _send(self, notifications: list[tuple[str, str]]) -> None:
        for channel, payload in notifications:
            for listener in self._listeners:
                if channel in listener.channels:
                    _deliver(listener, channel, payload)


def _deliver(listener: _Listener, channel: str, payload: str) -> None:
    # The listener's loop may run in another thread, or be closed already (like a
    # LISTEN connection that went away).
    with contextlib.suppress(RuntimeError):
        listener.loop.call_soon_threadsafe(
            listener.inbox.put_nowait, (channel, payload)
        )
