"""Testing helpers: a connector that keeps the database in memory.

:class:`InMemoryConnector` lets the tests of an application defer jobs, run workers and
inspect the result without PostgreSQL. It runs the named queries of
:mod:`procrastinate.sql` in Python, with the semantics of the SQL functions and
triggers of ``schema.sql``: queueing-lock uniqueness, the priority-aware lock rule of
fetching, the events of each status change and the LISTEN/NOTIFY notifications.

This module imports no database driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import datetime
import functools
import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

from procrastinate import connector, exceptions, jobs, schema, sql, utils
from procrastinate.sql import facts

Row = dict[str, Any]

TODO = jobs.Status.TODO.value
DOING = jobs.Status.DOING.value
FAILED = jobs.Status.FAILED.value
CANCELLED = jobs.Status.CANCELLED.value
ABORTED = jobs.Status.ABORTED.value
LIVE_STATUSES = frozenset({TODO, DOING})
FINAL_STATUSES = frozenset({jobs.Status.SUCCEEDED.value, FAILED, CANCELLED, ABORTED})
END_STATUSES = (jobs.Status.SUCCEEDED.value, FAILED, ABORTED)
ALL_STATUSES = frozenset(status.value for status in jobs.Status)
MAX_NAME_LENGTH = facts.MAX_NAME_LENGTH

# The event that procrastinate_trigger_function_status_events_update_v1 records for
# each (old status, new status).
STATUS_EVENTS = {
    (TODO, DOING): "started",
    (DOING, TODO): "deferred_for_retry",
    (DOING, FAILED): "failed",
    (DOING, jobs.Status.SUCCEEDED.value): "succeeded",
    (DOING, ABORTED): "aborted",
    (TODO, CANCELLED): "cancelled",
    (TODO, FAILED): "cancelled",
    (TODO, jobs.Status.SUCCEEDED.value): "cancelled",
    (FAILED, TODO): "retried",
}


class UnknownQuery(exceptions.ProcrastinateException):
    """
    The in-memory connector was given a query it does not implement.
    """


@functools.cache
def _schema_text() -> str:
    return schema.SchemaManager.get_schema()


def query_names() -> dict[str, str]:
    """The name of each query text :class:`InMemoryConnector` knows: the named
    queries of :mod:`procrastinate.sql`, and the schema as ``apply_schema``."""
    names: dict[str, str] = {str(text): name for name, text in sql.queries.items()}
    names[_schema_text()] = "apply_schema"
    return names


@dataclasses.dataclass
class _Listener:
    """One running :meth:`InMemoryConnector.listen_notify`, like a LISTEN session."""

    channels: frozenset[str]
    loop: asyncio.AbstractEventLoop
    inbox: asyncio.Queue[tuple[str, str]]


class InMemoryConnector(connector.BaseAsyncConnector):
    """
    A connector keeping jobs, events and workers in memory, for tests.

    Each query text is mapped back to its name in :mod:`procrastinate.sql` and run by
    the method ``<name>_<run|one|all>`` (``run`` for :meth:`execute_query_async`), with
    the semantics of the SQL. Every call is logged in :attr:`queries`. The state is
    public, to inspect or arrange in tests:

    - :attr:`jobs`: job id → row, with the columns of ``procrastinate_jobs``;
    - :attr:`events`: job id → list of ``{"type": ..., "at": ...}``;
    - :attr:`workers`: worker id → last heartbeat;
    - :attr:`periodic_defers`: ``(task name, periodic id)`` → latest deferred tick.

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

    def __init__(
        self,
        *,
        json_dumps: Callable[[Any], str] | None = None,
        json_loads: Callable[[str | bytes], Any] | None = None,
    ) -> None:
        self.json_dumps = json_dumps
        self.json_loads = json_loads
        self._lock = threading.RLock()
        self._listeners: list[_Listener] = []
        self._pending: list[tuple[str, str]] = []
        self._query_names = query_names()
        self.reset()

    def reset(self) -> None:
        """
        Forget every job, event, worker, periodic defer, logged query and state, as
        on a new database. Running :meth:`listen_notify` calls keep listening.
        """
        with self._lock:
            self.jobs: dict[int, Row] = {}
            self.events: dict[int, list[Row]] = {}
            self.workers: dict[int, datetime.datetime] = {}
            self.periodic_defers: dict[tuple[str, str], int] = {}
            self._ticks: dict[tuple[str, str], set[int]] = {}
            self.job_counter = 0
            self.worker_counter = 0
            self.queries: list[tuple[str, dict[str, Any]]] = []
            self.states: list[str] = []
            self.notify_channels: list[str] = []
            self.on_notification: connector.Notify | None = None
            self.table_exists = True

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
        row = self._run(query, "one", arguments)
        if row is None:
            raise exceptions.NoResult
        return row  # type: ignore[no-any-return]

    async def execute_query_all_async(self, query: str, **arguments: Any) -> list[Row]:
        """
        Run a query and return its rows.

        :raises UnknownQuery: the query is not one of :mod:`procrastinate.sql`.
        """
        return self._run(query, "all", arguments)  # type: ignore[no-any-return]

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

    def _run(self, query: str, kind: str, arguments: dict[str, Any]) -> Any:
        name = self._query_name(query)
        handler = getattr(self, f"{name}_{kind}", None)
        if handler is None:
            method = "execute_query" if kind == "run" else f"execute_query_{kind}"
            raise UnknownQuery(
                f"InMemoryConnector does not run the query {name!r} through {method}"
            )
        with self._lock:
            self.queries.append((name, arguments))
            self._pending = []
            result = handler(**arguments)
            # Like notifications sent at commit: only those of a query that succeeded.
            self._send_pending()
        return result

    def _query_name(self, query: str) -> str:
        try:
            return self._query_names[query]
        except KeyError:
            first_line = query.strip().splitlines()[0] if query.strip() else ""
            raise UnknownQuery(
                "InMemoryConnector only runs the queries of procrastinate.sql; "
                f"unknown query: {first_line!r}"
            ) from None

    # Notifications

    def _notify(self, queue_name: str, kind: str, job_id: int) -> None:
        # The same text as jsonb_build_object(...)::text in the SQL triggers.
        payload = json.dumps({"type": kind, "job_id": job_id})
        self._pending.append((facts.queue_channel(queue_name), payload))
        self._pending.append((facts.ANY_QUEUE_CHANNEL, payload))

    def _send_pending(self) -> None:
        pending, self._pending = self._pending, []
        for channel, payload in pending:
            for listener in self._listeners:
                if channel in listener.channels:
                    _deliver(listener, channel, payload)

    # Rows and triggers

    def _public(self, job: Row) -> Row:
        # Rows are read from storage: callers must not share the stored args.
        return {**job, "args": copy.deepcopy(job["args"])}

    def _fetched(self, job: Row) -> Row:
        """A row of ``fetch_jobs``/``claim_orphaned_jobs``/``list_jobs``: args as
        JSON text, scheduled_at as epoch text."""
        row = {
            key: value
            for key, value in job.items()
            if key not in ("args", "scheduled_at")
        }
        row["args_text"] = (self.json_dumps or json.dumps)(job["args"])
        row["scheduled_at_epoch"] = jobs.epoch_text(job["scheduled_at"])
        return row

    def _owns(self, job: Row | None, worker_id: int | None) -> bool:
        """Whether a worker may store the outcome of its run of the job (any caller
        when ``worker_id`` is ``None``)."""
        if worker_id is None:
            return True
        return (
            job is not None
            and job["status"] == DOING
            and job["worker_id"] in (worker_id, None)
        )

    def _add_event(
        self, job_id: int, event_type: str, at: datetime.datetime | None = None
    ) -> None:
        self.events.setdefault(job_id, []).append(
            {"type": event_type, "at": at or utils.utcnow()}
        )

    def _insert(self, values: Row) -> int:
        self.job_counter += 1
        job_id = self.job_counter
        job = {
            "id": job_id,
            "status": TODO,
            "attempts": 0,
            "abort_requested": False,
            "worker_id": None,
            **values,
        }
        self.jobs[job_id] = job
        # Triggers fire in name order: scheduled event, then deferred.
        if job["scheduled_at"] is not None:
            self._add_event(job_id, "scheduled", job["scheduled_at"])
        self._add_event(job_id, "deferred")
        self._notify(job["queue_name"], "job_inserted", job_id)
        return job_id

    def _update(self, job: Row, **changes: Any) -> None:
        """Set columns of a job and fire the triggers of ``UPDATE ... SET <changes>``."""
        old = dict(job)
        job.update(changes)
        if "abort_requested" in changes:
            self._abort_triggers(old, job)
        if job["scheduled_at"] is not None and job["status"] == TODO:
            self._add_event(job["id"], "scheduled", job["scheduled_at"])
        if "status" in changes:
            self._status_triggers(old, job)

    def _abort_triggers(self, old: Row, job: Row) -> None:
        if old["abort_requested"] or not job["abort_requested"]:
            return
        if job["status"] == DOING:
            self._notify(job["queue_name"], "abort_job_requested", job["id"])
        self._add_event(job["id"], "abort_requested")

    def _status_triggers(self, old: Row, job: Row) -> None:
        event = STATUS_EVENTS.get((old["status"], job["status"]))
        if event is not None:
            self._add_event(job["id"], event)
        if old["status"] != TODO and job["status"] == TODO and _is_due(job):
            self._notify(job["queue_name"], "job_inserted", job["id"])

    def _delete(self, job_id: int) -> None:
        del self.jobs[job_id]
        self.events.pop(job_id, None)

    def _detach_worker(self, worker_id: int) -> None:
        # ON DELETE SET NULL of procrastinate_jobs.worker_id.
        for job in self.jobs.values():
            if job["worker_id"] == worker_id:
                job["worker_id"] = None

    def _stored_json(self, value: Any) -> Any:
        """A JSON value parsed from the query's JSON text, as it reads back from a
        ``jsonb`` column: through ``json_loads``."""
        return (self.json_loads or json.loads)(json.dumps(value))

    # Defer

    def defer_jobs_all(self, jobs: str) -> list[Row]:
        """
        Insert a batch of jobs, all or none; ids come back in order.

        :raises UniqueViolation: a queueing lock is taken by a waiting job, or used
            twice in the batch.
        :raises ConnectorException: a queue or task name is missing or too long.
        """
        # The batch comes as JSON text, parsed like the database does.
        values = [self._job_values(job) for job in json.loads(jobs)]
        failure = self._first_invalid(values)
        if failure is not None:
            index, error = failure
            # The sequence gave an id to every row up to the failing one, included.
            self.job_counter += index + 1
            raise error
        return [{"id": self._insert(job)} for job in values]

    def _job_values(self, job: Row) -> Row:
        return {
            "queue_name": job.get("queue_name"),
            "task_name": job.get("task_name"),
            "priority": job.get("priority") or 0,
            "lock": job.get("lock"),
            "queueing_lock": job.get("queueing_lock"),
            "args": self._stored_json(job.get("args") or {}),
            "scheduled_at": _timestamp(job.get("scheduled_at")),
        }

    def _first_invalid(self, values: list[Row]) -> tuple[int, Exception] | None:
        taken = self._waiting_queueing_locks()
        for index, job in enumerate(values):
            error = _name_error(job) or _queueing_lock_error(job, taken)
            if error is not None:
                return index, error
            if job["queueing_lock"] is not None:
                taken.add(job["queueing_lock"])
        return None

    def _waiting_queueing_locks(self, ignore_id: int | None = None) -> set[str]:
        return {
            job["queueing_lock"]
            for job in self.jobs.values()
            if job["status"] == TODO
            and job["queueing_lock"] is not None
            and job["id"] != ignore_id
        }

    def defer_periodic_job_one(
        self,
        queue: str,
        lock: str | None,
        queueing_lock: str | None,
        task_name: str,
        priority: int,
        periodic_id: str,
        defer_timestamp: int,
        args: dict[str, Any],
    ) -> Row:
        """
        Defer the job of a periodic tick, unless the tick was deferred already for
        the task and periodic id (``id`` is then ``None``). Only the ticks from the
        latest deferred one on are remembered.

        :raises UniqueViolation: the queueing lock is taken; the tick is not recorded.
        """
        key = (task_name, periodic_id)
        if self._tick_deferred(key, defer_timestamp):
            return {"id": None}
        job = {
            "queue_name": queue,
            "task_name": task_name,
            "priority": priority,
            "lock": lock,
            "queueing_lock": queueing_lock,
            "args": args,
            "scheduled_at": None,
        }
        (row,) = self.defer_jobs_all((self.json_dumps or json.dumps)([job]))
        self._record_tick(key, defer_timestamp)
        return row

    def _tick_deferred(self, key: tuple[str, str], tick: int) -> bool:
        return tick == self.periodic_defers.get(key) or tick in self._ticks.get(key, ())

    def _record_tick(self, key: tuple[str, str], tick: int) -> None:
        # Like the SQL, which deletes the ticks older than the one just deferred:
        # later ticks stay, so an out-of-order tick is deferred once only too.
        ticks = {kept for kept in self._ticks.get(key, set()) if kept >= tick}
        latest = self.periodic_defers.get(key)
        if latest is not None and latest > tick:
            ticks.add(latest)
        ticks.add(tick)
        self._ticks[key] = ticks
        self.periodic_defers[key] = max(ticks)

    # Fetch, finish, retry, cancel

    def fetch_jobs_all(
        self, queues: list[str] | None, worker_id: int | None, limit: int | None
    ) -> list[Row]:
        """
        Mark up to ``limit`` jobs as ``doing`` for the worker: waiting, in ``queues``
        (all when ``None``), due, and first of their lock (no job of the lock running,
        none waiting with a higher priority or the same priority and a smaller id,
        wherever it waits and whenever it is scheduled). Highest priority first, then
        oldest.

        :raises ConnectorException: the worker is not registered (foreign key).
        """
        now = utils.utcnow()
        heads = self._lock_heads()
        candidates = sorted(
            (
                job
                for job in self.jobs.values()
                if _fetchable(job, queues, now) and _lock_allows(job, heads)
            ),
            key=_fetch_order,
        )[:limit]
        if candidates:
            self._check_worker(worker_id)
        for job in candidates:
            self._update(job, status=DOING, worker_id=worker_id)
        return [self._fetched(job) for job in candidates]

    def _check_worker(self, worker_id: int | None) -> None:
        """Like the foreign key of ``procrastinate_jobs.worker_id``.

        :raises ConnectorException: the worker is not registered.
        """
        if worker_id is not None and worker_id not in self.workers:
            raise exceptions.ConnectorException(
                'insert or update on table "procrastinate_jobs" violates foreign key '
                f'constraint "procrastinate_jobs_worker_id_fkey" (worker {worker_id})'
            )

    def _lock_heads(self) -> dict[str, int | None]:
        """For each lock of a live job: the id of the only job allowed to start, or
        ``None`` when a job of the lock is running."""
        heads: dict[str, Row | None] = {}
        for job in self.jobs.values():
            lock = job["lock"]
            if lock is None or job["status"] not in LIVE_STATUSES:
                continue
            if job["status"] == DOING:
                heads[lock] = None
            elif lock not in heads or _ahead(job, heads[lock]):
                heads[lock] = job
        return {lock: job["id"] if job else None for lock, job in heads.items()}

    def finish_job_all(
        self, job_id: int, status: str, delete_job: bool, worker_id: int | None
    ) -> list[Row]:
        """
        Set the end status of a waiting or running job (clearing its abort request and
        worker, counting an attempt if it ran), or delete it. With ``worker_id``, only
        while the job runs and that worker, or none, owns it: no row otherwise.

        :raises ConnectorException: the status is not an end status, or the job does
            not exist or is not waiting or running.
        """
        if not self._owns(self.jobs.get(job_id), worker_id):
            return []
        self._finish(job_id, status, delete_job)
        return [{"finished": None}]

    def _finish(self, job_id: int, status: str, delete_job: bool) -> None:
        _check_status(status)
        if status not in END_STATUSES:
            raise exceptions.ConnectorException(
                'End status should be either "succeeded", "failed" or "aborted" '
                f"(job id: {job_id})"
            )
        job = self.jobs.get(job_id)
        if job is None or job["status"] not in LIVE_STATUSES:
            raise exceptions.ConnectorException(
                f'Job was not found or not in "doing" or "todo" status (job id: {job_id})'
            )
        if delete_job:
            self._delete(job_id)
            return
        self._update(
            job,
            status=status,
            abort_requested=False,
            attempts=job["attempts"] + 1 if job["status"] == DOING else job["attempts"],
            worker_id=None,
        )

    def retry_job_all(
        self,
        job_id: int,
        retry_at: datetime.datetime | str | None,
        new_priority: int | None,
        new_queue_name: str | None,
        new_lock: str | None,
        worker_id: int | None,
    ) -> list[Row]:
        """
        Send a running or failed job back to the queue, scheduled at ``retry_at``; a
        running job whose abort was requested ends ``failed`` instead. With
        ``worker_id``, only while the job runs and that worker, or none, owns it: no
        row otherwise.

        :raises ConnectorException: the job does not exist or is neither running nor
            failed.
        :raises UniqueViolation: its queueing lock is taken by a waiting job.
        """
        job = self.jobs.get(job_id)
        if not self._owns(job, worker_id):
            return []
        if job is not None and job["status"] == DOING and job["abort_requested"]:
            self._finish(job_id, FAILED, delete_job=False)
            return [{"retried": None}]
        self._retry(job, job_id, retry_at, new_priority, new_queue_name, new_lock)
        return [{"retried": None}]

    def retry_job_run(
        self,
        job_id: int,
        retry_at: datetime.datetime | str | None,
        new_priority: int | None,
        new_queue_name: str | None,
        new_lock: str | None,
        worker_id: int | None,
    ) -> None:
        """Like :meth:`retry_job_all`, ignoring the result (a manual retry)."""
        self.retry_job_all(
            job_id, retry_at, new_priority, new_queue_name, new_lock, worker_id
        )

    def _retry(
        self,
        job: Row | None,
        job_id: int,
        retry_at: datetime.datetime | str | None,
        new_priority: int | None,
        new_queue_name: str | None,
        new_lock: str | None,
    ) -> None:
        if job is None or job["status"] not in (DOING, FAILED):
            raise exceptions.ConnectorException(
                f'Job was not found or not in "doing" or "failed" status (job id: {job_id})'
            )
        attempts = job["attempts"] + 1
        error = _queueing_lock_error(job, self._waiting_queueing_locks(job_id))
        if error is not None:
            raise error
        self._update(
            job,
            status=TODO,
            attempts=attempts,
            scheduled_at=_timestamp(retry_at),
            priority=_coalesce(new_priority, job["priority"]),
            queue_name=_coalesce(new_queue_name, job["queue_name"]),
            lock=_coalesce(new_lock, job["lock"]),
            worker_id=None,
        )

    def cancel_job_all(self, job_id: int, abort: bool, delete_job: bool) -> list[Row]:
        """
        Cancel (or with ``delete_job``, delete) a waiting job; with ``abort``, also
        request the abort of a running one. The row's ``id`` is ``None`` when nothing
        was done.
        """
        job = self.jobs.get(job_id)
        if job is None:
            return [{"id": None}]
        if delete_job and job["status"] == TODO:
            self._delete(job_id)
            return [{"id": job_id}]
        if abort and job["status"] in LIVE_STATUSES:
            new_status = CANCELLED if job["status"] == TODO else job["status"]
            self._update(job, abort_requested=True, status=new_status)
            return [{"id": job_id}]
        if not abort and job["status"] == TODO:
            self._update(job, status=CANCELLED)
            return [{"id": job_id}]
        return [{"id": None}]

    # Reading jobs

    def get_job_status_one(self, job_id: int) -> Row | None:
        """The status of a job, or ``None`` (no row) if there is no such job."""
        job = self.jobs.get(job_id)
        return None if job is None else {"status": job["status"]}

    def list_jobs_to_stop_all(self, worker_id: int, job_ids: list[int]) -> list[Row]:
        """Of the jobs ``job_ids`` that the worker runs: those whose abort was
        requested, and those it lost (``lost``: gone, not running, or run by another
        worker)."""
        rows = []
        for job_id in sorted(job_ids):
            job = self.jobs.get(job_id)
            lost = (
                job is None
                or job["status"] != DOING
                or (job["worker_id"] not in (worker_id, None))
            )
            abort_requested = job is not None and job["abort_requested"]
            if lost or abort_requested:
                rows.append(
                    {"id": job_id, "abort_requested": abort_requested, "lost": lost}
                )
        return rows

    def list_jobs_to_abort_all(self, queue: str | None) -> list[Row]:
        """Ids of the running jobs whose abort was requested."""
        return [
            {"id": job["id"]}
            for job in self._sorted_jobs()
            if job["status"] == DOING
            and job["abort_requested"]
            and _matches(job["queue_name"], queue)
        ]

    def select_stalled_jobs_by_started_all(
        self, nb_seconds: float, queue: str | None, task_name: str | None
    ) -> list[Row]:
        """Running jobs whose latest ``started`` event is older than ``nb_seconds``."""
        threshold = utils.utcnow() - datetime.timedelta(seconds=float(nb_seconds))
        return [
            self._fetched(job)
            for job in self._running_jobs(queue, task_name)
            if (started := self._latest_event(job["id"], "started")) is not None
            and started < threshold
        ]

    def select_stalled_jobs_by_heartbeat_all(
        self, seconds_since_heartbeat: float, queue: str | None, task_name: str | None
    ) -> list[Row]:
        """Running jobs whose worker is gone or silent for that long."""
        threshold = utils.utcnow() - datetime.timedelta(
            seconds=float(seconds_since_heartbeat)
        )
        return [
            self._fetched(job)
            for job in self._running_jobs(queue, task_name)
            if not self._heartbeat_recent(job["worker_id"], threshold)
        ]

    def claim_orphaned_jobs_all(self, worker_id: int) -> list[Row]:
        """
        Give the running jobs without a worker to ``worker_id``.

        :raises ConnectorException: there are such jobs and the worker is not
            registered (foreign key).
        """
        orphans = [
            job
            for job in self._sorted_jobs()
            if job["status"] == DOING and job["worker_id"] is None
        ]
        if orphans:
            self._check_worker(worker_id)
        for job in orphans:
            # Only worker_id changes: no trigger records anything.
            job["worker_id"] = worker_id
        return [self._fetched(job) for job in orphans]

    def _heartbeat_recent(
        self, worker_id: int | None, threshold: datetime.datetime
    ) -> bool:
        heartbeat = self.workers.get(worker_id) if worker_id is not None else None
        return heartbeat is not None and heartbeat >= threshold

    def _running_jobs(self, queue: str | None, task_name: str | None) -> list[Row]:
        return [
            job
            for job in self._sorted_jobs()
            if job["status"] == DOING
            and _matches(job["queue_name"], queue)
            and _matches(job["task_name"], task_name)
        ]

    def _latest_event(
        self, job_id: int, event_type: str | None = None
    ) -> datetime.datetime | None:
        times = [
            event["at"]
            for event in self.events.get(job_id, [])
            if event_type is None or event["type"] == event_type
        ]
        return max(times, default=None)

    def _sorted_jobs(self) -> list[Row]:
        return [self.jobs[job_id] for job_id in sorted(self.jobs)]

    def delete_old_jobs_run(
        self, nb_hours: float, queue: str | None, statuses: list[str]
    ) -> None:
        """Delete the jobs in ``statuses`` whose latest event is older than
        ``nb_hours`` hours."""
        for status in statuses:
            _check_status(status)
        threshold = utils.utcnow() - datetime.timedelta(hours=float(nb_hours))
        for job in self._sorted_jobs():
            latest = self._latest_event(job["id"])
            if (
                job["status"] in statuses
                and _matches(job["queue_name"], queue)
                and latest is not None
                and latest < threshold
            ):
                self._delete(job["id"])

    def check_connection_all(self) -> list[Row]:
        """One row when :attr:`table_exists`, none otherwise."""
        return [{"check": True}] if self.table_exists else []

    def migrations_recorded_one(self) -> Row:
        """The record exists with the schema (:attr:`table_exists`)."""
        return {"recorded": self.table_exists}

    def list_migrations_all(self) -> list[Row]:
        """Every packaged migration: the in-memory schema is always the latest."""
        return [{"name": name} for name in schema.SchemaManager.get_migration_names()]

    def list_jobs_all(
        self,
        id: int | None,
        queue_name: str | None,
        task_name: str | None,
        status: str | None,
        lock: str | None,
        queueing_lock: str | None,
        worker_id: int | None,
    ) -> list[Row]:
        """The jobs matching every given filter, by id."""
        filters = {
            "id": id,
            "queue_name": queue_name,
            "task_name": task_name,
            "status": _checked_status(status),
            "lock": lock,
            "queueing_lock": queueing_lock,
            "worker_id": worker_id,
        }
        return [
            self._fetched(job)
            for job in self._sorted_jobs()
            if all(_matches(job[column], value) for column, value in filters.items())
        ]

    def list_queues_all(
        self,
        queue_name: str | None,
        task_name: str | None,
        status: str | None,
        lock: str | None,
    ) -> list[Row]:
        """Per queue: ``name``, ``jobs_count`` and ``stats`` (count per status)."""
        return self._stats("queue_name", queue_name, task_name, status, lock)

    def list_tasks_all(
        self,
        queue_name: str | None,
        task_name: str | None,
        status: str | None,
        lock: str | None,
    ) -> list[Row]:
        """Per task: ``name``, ``jobs_count`` and ``stats`` (count per status)."""
        return self._stats("task_name", queue_name, task_name, status, lock)

    def list_locks_all(
        self,
        queue_name: str | None,
        task_name: str | None,
        status: str | None,
        lock: str | None,
    ) -> list[Row]:
        """Per lock (jobs without one left out): ``name``, ``jobs_count`` and
        ``stats``."""
        return self._stats("lock", queue_name, task_name, status, lock)

    def _stats(
        self,
        column: str,
        queue_name: str | None,
        task_name: str | None,
        status: str | None,
        lock: str | None,
    ) -> list[Row]:
        filters = {
            "queue_name": queue_name,
            "task_name": task_name,
            "status": _checked_status(status),
            "lock": lock,
        }
        groups: dict[str, dict[str, int]] = {}
        for job in self.jobs.values():
            if job[column] is None or not all(
                _matches(job[key], value) for key, value in filters.items()
            ):
                continue
            counts = groups.setdefault(job[column], {})
            counts[job["status"]] = counts.get(job["status"], 0) + 1
        return [
            {
                "name": name,
                "jobs_count": sum(counts.values()),
                # A jsonb column: read through json_loads like the real one.
                "stats": (self.json_loads or json.loads)(json.dumps(counts)),
            }
            for name, counts in sorted(groups.items())
        ]

    # Workers

    def register_worker_one(self) -> Row:
        """Add a worker, alive now."""
        self.worker_counter += 1
        self.workers[self.worker_counter] = utils.utcnow()
        return {"worker_id": self.worker_counter}

    def unregister_worker_run(self, worker_id: int) -> None:
        """Remove a worker; its jobs lose their ``worker_id``."""
        if self.workers.pop(worker_id, None) is not None:
            self._detach_worker(worker_id)

    def update_heartbeat_all(self, worker_id: int) -> list[Row]:
        """Record that a registered worker is alive; no row when it is not."""
        if worker_id not in self.workers:
            return []
        self.workers[worker_id] = utils.utcnow()
        return [{"id": worker_id}]

    def reregister_worker_one(self, job_ids: list[int]) -> Row:
        """Register a worker again, giving it the unclaimed running jobs among
        ``job_ids``."""
        worker_id = self.register_worker_one()["worker_id"]
        reattached = []
        for job_id in sorted(job_ids):
            job = self.jobs.get(job_id)
            if job and job["status"] == DOING and job["worker_id"] is None:
                job["worker_id"] = worker_id
                reattached.append(job_id)
        return {"worker_id": worker_id, "job_ids": reattached}

    def prune_stalled_workers_all(self, seconds_since_heartbeat: float) -> list[Row]:
        """Remove the workers silent for that long; their jobs lose their
        ``worker_id``."""
        threshold = utils.utcnow() - datetime.timedelta(
            seconds=float(seconds_since_heartbeat)
        )
        stalled = sorted(
            worker_id
            for worker_id, heartbeat in self.workers.items()
            if heartbeat < threshold
        )
        for worker_id in stalled:
            self.unregister_worker_run(worker_id)
        return [{"worker_id": worker_id} for worker_id in stalled]

    # Schema

    def apply_schema_run(self) -> None:
        """Nothing to create: the in-memory tables always exist."""


def _deliver(listener: _Listener, channel: str, payload: str) -> None:
    # The listener's loop may run in another thread, or be closed already (like a
    # LISTEN connection that went away).
    with contextlib.suppress(RuntimeError):
        listener.loop.call_soon_threadsafe(
            listener.inbox.put_nowait, (channel, payload)
        )


def _fetch_order(job: Row) -> tuple[int, int]:
    return (-job["priority"], job["id"])


def _ahead(job: Row, other: Row | None) -> bool:
    return other is not None and _fetch_order(job) < _fetch_order(other)


def _fetchable(job: Row, queues: list[str] | None, now: datetime.datetime) -> bool:
    return (
        job["status"] == TODO
        and (queues is None or job["queue_name"] in queues)
        and (job["scheduled_at"] is None or job["scheduled_at"] <= now)
    )


def _lock_allows(job: Row, heads: dict[str, int | None]) -> bool:
    return job["lock"] is None or heads.get(job["lock"]) == job["id"]


def _is_due(job: Row) -> bool:
    return job["scheduled_at"] is None or job["scheduled_at"] <= utils.utcnow()


def _matches(value: Any, wanted: Any) -> bool:
    """A ``(%(x)s IS NULL OR column = %(x)s)`` filter."""
    return wanted is None or value == wanted


def _coalesce(value: Any, default: Any) -> Any:
    return default if value is None else value


def _timestamp(value: datetime.datetime | str | None) -> datetime.datetime | None:
    """A ``timestamptz`` parameter: an ISO string or a datetime, naive ones as UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        return utils.parse_datetime(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=datetime.timezone.utc)
    return value


def _check_status(status: str) -> None:
    """Like the cast to ``procrastinate_job_status``.

    :raises ConnectorException: not a status.
    """
    if status not in ALL_STATUSES:
        raise exceptions.ConnectorException(
            f'invalid input value for enum procrastinate_job_status: "{status}"'
        )


def _checked_status(status: str | None) -> str | None:
    if status is not None:
        _check_status(status)
    return status


def _name_error(job: Row) -> Exception | None:
    for column in ("queue_name", "task_name"):
        value = job[column]
        if value is None:
            return exceptions.ConnectorException(
                f'null value in column "{column}" of relation "procrastinate_jobs" '
                "violates not-null constraint"
            )
        if len(value) > MAX_NAME_LENGTH:
            return exceptions.ConnectorException(
                f"value too long for type character varying({MAX_NAME_LENGTH}) "
                f"({column})"
            )
    return None


def _queueing_lock_error(job: Row, taken: set[str]) -> Exception | None:
    queueing_lock = job["queueing_lock"]
    if queueing_lock is None or queueing_lock not in taken:
        return None
    return exceptions.UniqueViolation(
        "duplicate key value violates unique constraint "
        f'"{facts.QUEUEING_LOCK_CONSTRAINT}": Key (queueing_lock)=({queueing_lock}) '
        "already exists.",
        constraint_name=facts.QUEUEING_LOCK_CONSTRAINT,
        queueing_lock=queueing_lock,
    )
