"""The job manager: every database operation on jobs and workers.

Each operation is split in two: a pure function that builds the query arguments (or
reads the rows), and a one-line I/O call. The sync and async methods share the former
and differ only in the latter.
"""

from __future__ import annotations

import contextvars
import datetime
import json
import logging
import warnings
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import attr

from procrastinate import connector, exceptions, jobs, sql, utils
from procrastinate.sql import facts

logger = logging.getLogger(__name__)

# Re-exported: 3.x code and tests read them here.
QUEUEING_LOCK_CONSTRAINT = facts.QUEUEING_LOCK_CONSTRAINT
ANY_QUEUE_CHANNEL = facts.ANY_QUEUE_CHANNEL
QUEUE_CHANNEL_PREFIX = facts.QUEUE_CHANNEL_PREFIX
MAX_CHANNEL_BYTES = facts.MAX_CHANNEL_BYTES
queue_channel = facts.queue_channel

NotificationCallback = Callable[..., Awaitable[None]]
NOTIFICATION_TYPES = ("job_inserted", "abort_job_requested")
# How much of a malformed notification a warning shows.
PAYLOAD_PREVIEW = 100


@attr.dataclass(kw_only=True)
class RunningJobMarker:
    """What a worker's running job tells the worker from inside its own task."""

    job_id: int
    #: The job requested its own abort: it stops by itself (or raises), so the
    #: worker does not interrupt it, and its own error decides its outcome.
    aborted_itself: bool = False


#: Set by the worker in each job's task (and inherited by the threads of sync tasks).
running_job: contextvars.ContextVar[RunningJobMarker | None] = contextvars.ContextVar(
    "procrastinate_running_job", default=None
)


def note_abort_request(job_id: int, abort: bool) -> None:
    """Record that the job running in this context asks for its own abort."""
    marker = running_job.get()
    if abort and marker is not None and marker.job_id == job_id:
        marker.aborted_itself = True


def parse_notification(payload: str) -> jobs.Notification | None:
    """
    The notification a LISTEN payload carries, or ``None`` when it is not one that
    procrastinate sends: any database user can NOTIFY, so a payload is only a hint.
    """
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    kind, job_id = data.get("type"), data.get("job_id")
    # bool is an int subclass, but true is no job id.
    if kind not in NOTIFICATION_TYPES or type(job_id) is not int:
        return None
    if kind == "job_inserted":
        return jobs.JobInserted(type="job_inserted", job_id=job_id)
    return jobs.AbortJobRequested(type="abort_job_requested", job_id=job_id)


get_channel_for_queues = facts.channels_for_queues


def defer_jobs_arguments(
    jobs_to_defer: Iterable[jobs.Job], json_dumps: Callable[[Any], str] | None = None
) -> dict[str, Any]:
    """
    The arguments of the ``defer_jobs`` query for a batch of jobs. The batch goes as
    JSON text, serialized here with ``json_dumps``: a plain string parameter, that
    every connector passes alike (one written for procrastinate 3.x included).
    """
    batch = [
        {
            "queue_name": job.queue,
            "task_name": job.task_name,
            "priority": job.priority,
            "lock": job.lock,
            "queueing_lock": job.queueing_lock,
            "args": job.task_kwargs,
            "scheduled_at": job.scheduled_at.isoformat() if job.scheduled_at else None,
        }
        for job in jobs_to_defer
    ]
    return {"jobs": (json_dumps or json.dumps)(batch)}


def deferred_jobs(
    jobs_to_defer: list[jobs.Job], rows: list[dict[str, Any]]
) -> list[jobs.Job]:
    """The jobs as stored: with their new id and the ``todo`` status."""
    return [
        job.evolve(id=row["id"], status=jobs.Status.TODO.value)
        for job, row in zip(jobs_to_defer, rows)
    ]


def already_enqueued(error: exceptions.UniqueViolation) -> exceptions.AlreadyEnqueued:
    """The user-facing error for a taken queueing lock."""
    return exceptions.AlreadyEnqueued(
        "Job cannot be enqueued: there is already a job in the queue with the "
        f"queueing lock {error.queueing_lock!r}"
    )


def list_filters(
    *,
    queue: str | None = None,
    task: str | None = None,
    status: str | jobs.Status | None = None,
    lock: str | None = None,
) -> dict[str, Any]:
    """The filter arguments shared by the ``list_*`` queries."""
    return {
        "queue_name": queue,
        "task_name": task,
        "status": status.value if isinstance(status, jobs.Status) else status,
        "lock": lock,
    }


def stats_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of ``list_queues``/``list_tasks``/``list_locks``: one count per status."""
    statuses = [
        status.value for status in jobs.Status if status != jobs.Status.ABORTING
    ]
    return [
        {
            "name": row["name"],
            "jobs_count": row["jobs_count"],
            **{status: row["stats"].get(status, 0) for status in statuses},
        }
        for row in rows
    ]


def retry_arguments(
    job_id: int,
    retry_at: datetime.datetime | None,
    priority: int | None,
    queue: str | None,
    lock: str | None,
    worker_id: int | None = None,
) -> dict[str, Any]:
    """The arguments of the ``retry_job`` query (``worker_id``: the worker storing
    its outcome; ``None`` for a manual retry)."""
    return {
        "job_id": job_id,
        "worker_id": worker_id,
        "retry_at": retry_at or utils.utcnow(),
        "new_priority": priority,
        "new_queue_name": queue,
        "new_lock": lock,
    }


def delete_old_jobs_arguments(
    nb_hours: int,
    queue: str | None,
    include_failed: bool,
    include_cancelled: bool,
    include_aborted: bool,
) -> dict[str, Any]:
    """The arguments of the ``delete_old_jobs`` query."""
    statuses = [jobs.Status.SUCCEEDED.value]
    if include_failed:
        statuses.append(jobs.Status.FAILED.value)
    if include_cancelled:
        statuses.append(jobs.Status.CANCELLED.value)
    if include_aborted:
        statuses.append(jobs.Status.ABORTED.value)
    return {"nb_hours": nb_hours, "queue": queue, "statuses": statuses}


class JobManager:
    """
    Performs the database operations on jobs and workers, through a connector.

    :param connector: the connector to the database.
    """

    def __init__(self, connector: connector.BaseConnector) -> None:
        self.connector = connector

    # Defer

    async def defer_job_async(self, job: jobs.Job, connection: Any = None) -> jobs.Job:
        """
        Store a job in the database.

        :param job: the job, without an id.
        :param connection: run the query on this connection, owned by the caller: the
            job exists only once the caller's transaction commits.
        :returns: the job with its id and status.
        :raises AlreadyEnqueued: a job with the same queueing lock is waiting already.
        """
        (deferred,) = await self.batch_defer_jobs_async([job], connection=connection)
        return deferred

    async def batch_defer_jobs_async(
        self, jobs_to_defer: list[jobs.Job], connection: Any = None
    ) -> list[jobs.Job]:
        """
        Store several jobs in one query: all of them, or none.

        :param jobs_to_defer: the jobs, without ids.
        :param connection: run the query on this connection, owned by the caller.
        :raises AlreadyEnqueued: a queueing lock is taken; no job was stored.
        """
        if not jobs_to_defer:
            return []
        arguments = defer_jobs_arguments(jobs_to_defer, self.connector.json_dumps)
        query = sql.queries["defer_jobs"]
        try:
            if connection is None:
                rows = await self.connector.execute_query_all_async(query, **arguments)
            else:
                rows = await self.connector.execute_query_all_async_with_connection(
                    connection, query, **arguments
                )
        except exceptions.UniqueViolation as error:
            raise self._defer_error(error) from error
        return deferred_jobs(jobs_to_defer, rows)

    def defer_job(self, job: jobs.Job, connection: Any = None) -> jobs.Job:
        """Synchronous version of :meth:`defer_job_async`."""
        (deferred,) = self.batch_defer_jobs([job], connection=connection)
        return deferred

    def batch_defer_jobs(
        self, jobs_to_defer: list[jobs.Job], connection: Any = None
    ) -> list[jobs.Job]:
        """Synchronous version of :meth:`batch_defer_jobs_async`."""
        if not jobs_to_defer:
            return []
        arguments = defer_jobs_arguments(jobs_to_defer, self.connector.json_dumps)
        query = sql.queries["defer_jobs"]
        sync_connector = self.connector.get_sync_connector()
        try:
            if connection is None:
                rows = sync_connector.execute_query_all(query, **arguments)
            else:
                rows = sync_connector.execute_query_all_with_connection(
                    connection, query, **arguments
                )
        except exceptions.UniqueViolation as error:
            raise self._defer_error(error) from error
        return deferred_jobs(jobs_to_defer, rows)

    @staticmethod
    def _defer_error(error: exceptions.UniqueViolation) -> Exception:
        if error.constraint_name == QUEUEING_LOCK_CONSTRAINT:
            return already_enqueued(error)
        return error

    async def defer_periodic_job(
        self, job: jobs.Job, periodic_id: str, defer_timestamp: int
    ) -> int | None:
        """
        Defer the job of a periodic task's tick, unless another worker did already.

        :param job: the job, whose ``timestamp`` argument is the tick.
        :param periodic_id: which of the task's periodic schedules it is for.
        :param defer_timestamp: the tick, as a Unix timestamp.
        :returns: the new job id, or ``None`` if this tick was deferred already.
        :raises InvalidTimestamp: the job's ``timestamp`` argument is not the tick's.
        :raises AlreadyEnqueued: the periodic task's queueing lock is taken.
        """
        if job.task_kwargs.get("timestamp") != defer_timestamp:
            raise exceptions.InvalidTimestamp
        try:
            row = await self.connector.execute_query_one_async(
                sql.queries["defer_periodic_job"],
                task_name=job.task_name,
                periodic_id=periodic_id,
                defer_timestamp=defer_timestamp,
                queue=job.queue,
                priority=job.priority,
                lock=job.lock,
                queueing_lock=job.queueing_lock,
                args=job.task_kwargs,
            )
        except exceptions.UniqueViolation as error:
            raise self._defer_error(error) from error
        return row["id"]  # type: ignore[no-any-return]

    # Fetch and finish

    async def fetch_jobs(
        self, queues: Iterable[str] | None, worker_id: int, limit: int = 1
    ) -> list[jobs.Job]:
        """
        Mark up to ``limit`` runnable jobs as ``doing`` for a worker, in one query. A
        job whose row cannot be loaded is marked failed (and logged) instead of
        returned.

        :param queues: the queues to take jobs from; ``None`` for all.
        :param worker_id: the id of the worker taking them.
        :param limit: how many jobs to take at most.
        """
        fetched = await self.fetch_jobs_to_run(queues, worker_id, limit)
        for item in fetched:
            if item.load_error is not None:
                await self.fail_unloadable_job(item)
        return [item.job for item in fetched if item.load_error is None]

    async def fetch_jobs_to_run(
        self, queues: Iterable[str] | None, worker_id: int, limit: int = 1
    ) -> list[jobs.FetchedJob]:
        """
        Like :meth:`fetch_jobs`, but a job whose row cannot be loaded comes back with
        its ``load_error``, for the caller to fail.
        """
        rows = await self.connector.execute_query_all_async(
            sql.queries["fetch_jobs"],
            queues=list(queues) if queues is not None else None,
            worker_id=worker_id,
            limit=limit,
        )
        return self._load_fetched(rows)

    def _load_fetched(self, rows: list[dict[str, Any]]) -> list[jobs.FetchedJob]:
        return [jobs.load_fetched_row(row, self.connector.json_loads) for row in rows]

    async def fail_unloadable_job(self, fetched: jobs.FetchedJob) -> None:
        """Log why a fetched job cannot be loaded and mark it failed.

        :param fetched: the job, as the fetch loaded it, with its ``load_error``.
        """
        job = fetched.job
        logger.error(
            f"Job {job.call_string} cannot be loaded: {fetched.load_error}. "
            "Marking it failed.",
            extra={"action": "job_unloadable", "job": job.log_context()},
        )
        await self.finish_job(job, jobs.Status.FAILED, delete_job=False)

    async def fetch_job(
        self, queues: Iterable[str] | None, worker_id: int
    ) -> jobs.Job | None:
        """Mark one runnable job as ``doing`` for a worker; ``None`` if there is none."""
        fetched = await self.fetch_jobs(queues, worker_id, limit=1)
        return fetched[0] if fetched else None

    async def finish_job(
        self, job: jobs.Job, status: jobs.Status, delete_job: bool
    ) -> None:
        """
        Set a job's final status (succeeded, failed or aborted), or delete it: the
        outcome of a worker's run. When the job names its worker (``job.worker_id``,
        as fetched), it is stored only while that worker (or no worker) owns the
        running job.

        :param job: the running job.
        :param status: its final status.
        :param delete_job: delete the job instead of keeping it.
        :raises JobLost: another worker owns the job, or it no longer runs.
        :raises ConnectorException: the job is not waiting or running.
        """
        assert job.id is not None
        await self._finish(job.id, status, delete_job, job.worker_id)

    async def finish_job_by_id_async(
        self, job_id: int, status: jobs.Status, delete_job: bool
    ) -> None:
        """Set the final status of the job ``job_id``, or delete it, whoever runs it.

        :param job_id: the job's id.
        :raises ConnectorException: the job is not waiting or running.
        """
        await self._finish(job_id, status, delete_job, None)

    async def _finish(
        self, job_id: int, status: jobs.Status, delete_job: bool, worker_id: int | None
    ) -> None:
        rows = await self.connector.execute_query_all_async(
            sql.queries["finish_job"],
            job_id=job_id,
            status=status.value,
            delete_job=delete_job,
            worker_id=worker_id,
        )
        _check_owned(rows, job_id, worker_id)

    # Retry

    async def retry_job(
        self,
        job: jobs.Job,
        retry_at: datetime.datetime | None = None,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> None:
        """
        Send a running or failed job back to its queue, to run at ``retry_at`` (now by
        default), optionally with a new priority, queue or lock. A running job whose
        abort was requested ends failed instead. Like :meth:`finish_job`, it applies
        only while the job's worker (``job.worker_id``), or no worker, owns it.

        :param job: the job.
        :param retry_at: when to run it again; ``None`` for now.
        :param priority: its new priority; ``None`` keeps it.
        :param queue: its new queue; ``None`` keeps it.
        :param lock: its new lock; ``None`` keeps it.
        :raises JobLost: another worker owns the job, or it no longer runs.
        """
        assert job.id is not None
        rows = await self.connector.execute_query_all_async(
            sql.queries["retry_job"],
            **retry_arguments(job.id, retry_at, priority, queue, lock, job.worker_id),
        )
        _check_owned(rows, job.id, job.worker_id)

    async def retry_job_by_id_async(
        self,
        job_id: int,
        retry_at: datetime.datetime | None = None,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> None:
        """
        Like :meth:`retry_job`, by job id, whoever runs it (a manual retry).

        :raises ConnectorException: the job is not running nor failed.
        """
        await self.connector.execute_query_async(
            sql.queries["retry_job"],
            **retry_arguments(job_id, retry_at, priority, queue, lock),
        )

    def retry_job_by_id(
        self,
        job_id: int,
        retry_at: datetime.datetime | None = None,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> None:
        """Synchronous version of :meth:`retry_job_by_id_async`."""
        self.connector.get_sync_connector().execute_query(
            sql.queries["retry_job"],
            **retry_arguments(job_id, retry_at, priority, queue, lock),
        )

    # Cancel and status

    async def cancel_job_by_id_async(
        self,
        job_id: int,
        abort: bool = False,
        delete_job: bool = False,
        connection: Any = None,
    ) -> bool:
        """
        Cancel a waiting job; with ``abort``, also ask a running job to stop.

        :param job_id: the job's id.
        :param abort: also ask the job to stop if it is running.
        :param delete_job: delete a cancelled job instead of keeping it.
        :param connection: run the query in the caller's transaction.
        :returns: whether the job was cancelled or its abort requested.
        """
        note_abort_request(job_id, abort)
        arguments = {"job_id": job_id, "abort": abort, "delete_job": delete_job}
        query = sql.queries["cancel_job"]
        if connection is None:
            rows = await self.connector.execute_query_all_async(query, **arguments)
        else:
            rows = await self.connector.execute_query_all_async_with_connection(
                connection, query, **arguments
            )
        return _cancelled(rows, job_id)

    def cancel_job_by_id(
        self,
        job_id: int,
        abort: bool = False,
        delete_job: bool = False,
        connection: Any = None,
    ) -> bool:
        """Synchronous version of :meth:`cancel_job_by_id_async`."""
        note_abort_request(job_id, abort)
        arguments = {"job_id": job_id, "abort": abort, "delete_job": delete_job}
        query = sql.queries["cancel_job"]
        sync_connector = self.connector.get_sync_connector()
        if connection is None:
            rows = sync_connector.execute_query_all(query, **arguments)
        else:
            rows = sync_connector.execute_query_all_with_connection(
                connection, query, **arguments
            )
        return _cancelled(rows, job_id)

    async def get_job_status_async(
        self, job_id: int, connection: Any = None
    ) -> jobs.Status:
        """
        The status of a job.

        :param job_id: the job's id.
        :param connection: run the query in the caller's transaction.
        :raises NoResult: there is no such job.
        """
        query = sql.queries["get_job_status"]
        if connection is None:
            row = await self.connector.execute_query_one_async(query, job_id=job_id)
        else:
            row = await self.connector.execute_query_one_async_with_connection(
                connection, query, job_id=job_id
            )
        return jobs.Status(row["status"])

    def get_job_status(self, job_id: int, connection: Any = None) -> jobs.Status:
        """Synchronous version of :meth:`get_job_status_async`."""
        query = sql.queries["get_job_status"]
        sync_connector = self.connector.get_sync_connector()
        if connection is None:
            row = sync_connector.execute_query_one(query, job_id=job_id)
        else:
            row = sync_connector.execute_query_one_with_connection(
                connection, query, job_id=job_id
            )
        return jobs.Status(row["status"])

    async def list_jobs_to_abort_async(self, queue: str | None = None) -> list[int]:
        """Ids of the running jobs whose abort was requested.

        :param queue: only the jobs of this queue.
        """
        rows = await self.connector.execute_query_all_async(
            sql.queries["list_jobs_to_abort"], queue=queue
        )
        return [row["id"] for row in rows]

    async def list_jobs_to_stop(
        self, worker_id: int, job_ids: Iterable[int]
    ) -> tuple[list[int], list[int]]:
        """
        Of the jobs a worker runs: those whose abort was requested, and those it lost
        (recovered by another worker, retried, finished or deleted meanwhile).

        :param worker_id: the worker that runs the jobs.
        :param job_ids: the ids of the jobs it runs.
        :returns: the ids to abort, and the ids it lost.
        """
        rows = await self.connector.execute_query_all_async(
            sql.queries["list_jobs_to_stop"], worker_id=worker_id, job_ids=list(job_ids)
        )
        lost = [row["id"] for row in rows if row["lost"]]
        to_abort = [
            row["id"] for row in rows if row["abort_requested"] and not row["lost"]
        ]
        return to_abort, lost

    # Stalled and old jobs

    async def get_stalled_jobs(
        self,
        nb_seconds: int | None = None,
        queue: str | None = None,
        task_name: str | None = None,
        seconds_since_heartbeat: float = 30,
    ) -> list[jobs.Job]:
        """
        The running jobs whose worker is gone or silent for
        ``seconds_since_heartbeat`` seconds.

        :param nb_seconds: deprecated: use the time since the job started instead of
            the worker's heartbeat.
        :param queue: only the jobs of this queue.
        :param task_name: only the jobs of this task.
        :param seconds_since_heartbeat: how long a worker may stay silent.
        :returns: the jobs; one whose row cannot be loaded comes with its plain columns
            only (no arguments, no schedule), and a warning says why: retrying it
            makes a worker mark it failed.
        """
        if nb_seconds is not None:
            warnings.warn(
                "nb_seconds is deprecated: stalled jobs are now found by the "
                "heartbeat of their worker (seconds_since_heartbeat).",
                DeprecationWarning,
                stacklevel=2,
            )
            rows = await self.connector.execute_query_all_async(
                sql.queries["select_stalled_jobs_by_started"],
                nb_seconds=nb_seconds,
                queue=queue,
                task_name=task_name,
            )
        else:
            rows = await self.connector.execute_query_all_async(
                sql.queries["select_stalled_jobs_by_heartbeat"],
                seconds_since_heartbeat=seconds_since_heartbeat,
                queue=queue,
                task_name=task_name,
            )
        return [self._warn_unloadable(item) for item in self._load_fetched(rows)]

    def _warn_unloadable(self, fetched: jobs.FetchedJob) -> jobs.Job:
        if fetched.load_error is not None:
            logger.warning(
                f"Stalled job {fetched.job.call_string} cannot be loaded: "
                f"{fetched.load_error}",
                extra={"action": "job_unloadable", "job": fetched.job.log_context()},
            )
        return fetched.job

    async def claim_orphaned_jobs(self, worker_id: int) -> list[jobs.FetchedJob]:
        """
        Take over the running jobs that lost their worker (see
        :meth:`prune_stalled_workers`), each for exactly one caller.

        :param worker_id: the id of the worker taking them over.
        :returns: the claimed jobs, now attributed to ``worker_id``; those whose row
            cannot be loaded carry their ``load_error``.
        """
        rows = await self.connector.execute_query_all_async(
            sql.queries["claim_orphaned_jobs"], worker_id=worker_id
        )
        return self._load_fetched(rows)

    async def delete_old_jobs(
        self,
        nb_hours: int,
        queue: str | None = None,
        include_failed: bool = False,
        include_cancelled: bool = False,
        include_aborted: bool = False,
    ) -> None:
        """
        Delete the succeeded jobs (and optionally failed, cancelled, aborted ones)
        whose last event is older than ``nb_hours`` hours.

        :param nb_hours: the age, in hours, of the jobs to delete.
        :param queue: only the jobs of this queue.
        :param include_failed: also delete failed jobs.
        :param include_cancelled: also delete cancelled jobs.
        :param include_aborted: also delete aborted jobs.
        """
        await self.connector.execute_query_async(
            sql.queries["delete_old_jobs"],
            **delete_old_jobs_arguments(
                nb_hours, queue, include_failed, include_cancelled, include_aborted
            ),
        )

    # Listen/notify

    async def listen_for_jobs(
        self,
        *,
        on_notification: NotificationCallback,
        queues: Iterable[str] | None = None,
    ) -> None:
        """
        Await ``on_notification(channel=..., notification=...)`` for each notification
        about the queues (a job inserted, an abort requested). Never returns.

        :param on_notification: awaited with each notification, decoded.
        :param queues: the queues to listen to; ``None`` for all.
        """

        async def decode(*, channel: str, payload: str) -> None:
            notification = parse_notification(payload)
            if notification is None:
                preview = payload[:PAYLOAD_PREVIEW]
                logger.warning(
                    f"Ignoring a notification on {channel} that procrastinate did not "
                    f"send: {preview!r}"
                    + ("..." if len(payload) > PAYLOAD_PREVIEW else ""),
                    extra={"action": "malformed_notification", "payload": preview},
                )
                return
            await on_notification(channel=channel, notification=notification)

        await self.connector.listen_notify(
            on_notification=decode, channels=get_channel_for_queues(queues)
        )

    # Connection check

    async def check_connection_async(self) -> bool:
        """Whether the database answers and holds the procrastinate schema."""
        rows = await self.connector.execute_query_all_async(
            sql.queries["check_connection"]
        )
        return bool(rows)

    def check_connection(self) -> bool:
        """Synchronous version of :meth:`check_connection_async`."""
        rows = self.connector.get_sync_connector().execute_query_all(
            sql.queries["check_connection"]
        )
        return bool(rows)

    # Listing

    async def list_jobs_async(
        self,
        id: int | None = None,
        queue: str | None = None,
        task: str | None = None,
        status: str | jobs.Status | None = None,
        lock: str | None = None,
        queueing_lock: str | None = None,
        worker_id: int | None = None,
    ) -> list[jobs.Job]:
        """The jobs matching every given filter, by id.

        :param id: only the job with this id.
        :param queue: only the jobs of this queue.
        :param task: only the jobs of this task.
        :param status: only the jobs in this status.
        :param lock: only the jobs with this lock.
        :param queueing_lock: only the jobs with this queueing lock.
        :param worker_id: only the jobs run by this worker.
        """
        rows = await self.connector.execute_query_all_async(
            sql.queries["list_jobs"],
            **_list_jobs_arguments(
                id, queue, task, status, lock, queueing_lock, worker_id
            ),
        )
        return [self._listed_job(row) for row in rows]

    def _listed_job(self, row: dict[str, Any]) -> jobs.Job:
        fetched = jobs.load_fetched_row(row, self.connector.json_loads)
        if fetched.load_error:
            logger.warning(
                "Job %s is listed without its arguments and schedule: %s",
                fetched.job.id,
                fetched.load_error,
                extra={"action": "unloadable_job_listed", "job_id": fetched.job.id},
            )
        return fetched.job

    def list_jobs(
        self,
        id: int | None = None,
        queue: str | None = None,
        task: str | None = None,
        status: str | jobs.Status | None = None,
        lock: str | None = None,
        queueing_lock: str | None = None,
        worker_id: int | None = None,
    ) -> list[jobs.Job]:
        """Synchronous version of :meth:`list_jobs_async`."""
        rows = self.connector.get_sync_connector().execute_query_all(
            sql.queries["list_jobs"],
            **_list_jobs_arguments(
                id, queue, task, status, lock, queueing_lock, worker_id
            ),
        )
        return [self._listed_job(row) for row in rows]

    async def list_queues_async(
        self,
        queue: str | None = None,
        task: str | None = None,
        status: str | jobs.Status | None = None,
        lock: str | None = None,
    ) -> list[dict[str, Any]]:
        """Per queue: its name, its number of jobs, and the number in each status.

        :param queue: only this queue.
        :param task: only the jobs of this task.
        :param status: only the jobs in this status.
        :param lock: only the jobs with this lock.
        """
        rows = await self.connector.execute_query_all_async(
            sql.queries["list_queues"],
            **list_filters(queue=queue, task=task, status=status, lock=lock),
        )
        return stats_rows(rows)

    def list_queues(
        self,
        queue: str | None = None,
        task: str | None = None,
        status: str | jobs.Status | None = None,
        lock: str | None = None,
    ) -> list[dict[str, Any]]:
        """Synchronous version of :meth:`list_queues_async`."""
        rows = self.connector.get_sync_connector().execute_query_all(
            sql.queries["list_queues"],
            **list_filters(queue=queue, task=task, status=status, lock=lock),
        )
        return stats_rows(rows)

    async def list_tasks_async(
        self,
        queue: str | None = None,
        task: str | None = None,
        status: str | jobs.Status | None = None,
        lock: str | None = None,
    ) -> list[dict[str, Any]]:
        """Per task: its name, its number of jobs, and the number in each status.

        :param queue: only the jobs of this queue.
        :param task: only this task.
        :param status: only the jobs in this status.
        :param lock: only the jobs with this lock.
        """
        rows = await self.connector.execute_query_all_async(
            sql.queries["list_tasks"],
            **list_filters(queue=queue, task=task, status=status, lock=lock),
        )
        return stats_rows(rows)

    def list_tasks(
        self,
        queue: str | None = None,
        task: str | None = None,
        status: str | jobs.Status | None = None,
        lock: str | None = None,
    ) -> list[dict[str, Any]]:
        """Synchronous version of :meth:`list_tasks_async`."""
        rows = self.connector.get_sync_connector().execute_query_all(
            sql.queries["list_tasks"],
            **list_filters(queue=queue, task=task, status=status, lock=lock),
        )
        return stats_rows(rows)

    async def list_locks_async(
        self,
        queue: str | None = None,
        task: str | None = None,
        status: str | jobs.Status | None = None,
        lock: str | None = None,
    ) -> list[dict[str, Any]]:
        """Per lock: its name, its number of jobs, and the number in each status.

        :param queue: only the jobs of this queue.
        :param task: only the jobs of this task.
        :param status: only the jobs in this status.
        :param lock: only this lock.
        """
        rows = await self.connector.execute_query_all_async(
            sql.queries["list_locks"],
            **list_filters(queue=queue, task=task, status=status, lock=lock),
        )
        return stats_rows(rows)

    def list_locks(
        self,
        queue: str | None = None,
        task: str | None = None,
        status: str | jobs.Status | None = None,
        lock: str | None = None,
    ) -> list[dict[str, Any]]:
        """Synchronous version of :meth:`list_locks_async`."""
        rows = self.connector.get_sync_connector().execute_query_all(
            sql.queries["list_locks"],
            **list_filters(queue=queue, task=task, status=status, lock=lock),
        )
        return stats_rows(rows)

    # Worker registry

    async def register_worker(self) -> int:
        """Add a worker to the registry; returns its id."""
        row = await self.connector.execute_query_one_async(
            sql.queries["register_worker"]
        )
        return row["worker_id"]  # type: ignore[no-any-return]

    async def unregister_worker(self, worker_id: int) -> None:
        """Remove a worker from the registry; its running jobs lose their worker."""
        await self.connector.execute_query_async(
            sql.queries["unregister_worker"], worker_id=worker_id
        )

    async def update_heartbeat(self, worker_id: int) -> bool:
        """
        Record that a worker is alive.

        :returns: whether the worker is registered; ``False`` once it was pruned.
        """
        rows = await self.connector.execute_query_all_async(
            sql.queries["update_heartbeat"], worker_id=worker_id
        )
        return bool(rows)

    async def reregister_worker(self, job_ids: Iterable[int]) -> tuple[int, list[int]]:
        """
        Register a pruned worker again, and give it back those of its running jobs
        (``job_ids``) that no other worker claimed meanwhile.

        :returns: the new worker id, and the ids of the jobs given back.
        """
        row = await self.connector.execute_query_one_async(
            sql.queries["reregister_worker"], job_ids=list(job_ids)
        )
        return row["worker_id"], list(row["job_ids"])

    async def prune_stalled_workers(self, seconds_since_heartbeat: float) -> list[int]:
        """Remove the workers silent for that long; returns their ids.

        :param seconds_since_heartbeat: how long a worker may stay silent.
        """
        rows = await self.connector.execute_query_all_async(
            sql.queries["prune_stalled_workers"],
            seconds_since_heartbeat=seconds_since_heartbeat,
        )
        return [row["worker_id"] for row in rows]


def _check_owned(
    rows: list[dict[str, Any]], job_id: int, worker_id: int | None
) -> None:
    """
    :raises JobLost: the outcome of ``worker_id``'s run was not stored (no row).
    """
    if not rows:
        raise exceptions.JobLost(
            f"Job {job_id} is no longer run by worker {worker_id}: another worker "
            "recovered it, or it was retried or finished meanwhile"
        )


def _cancelled(rows: list[dict[str, Any]], job_id: int) -> bool:
    cancelled = bool(rows) and rows[0]["id"] is not None
    if cancelled:
        logger.debug(
            f"Cancelled job {job_id}",
            extra={"action": "job_cancelled", "job_id": job_id},
        )
    return cancelled


def _list_jobs_arguments(
    id: int | None,
    queue: str | None,
    task: str | None,
    status: str | jobs.Status | None,
    lock: str | None,
    queueing_lock: str | None,
    worker_id: int | None,
) -> dict[str, Any]:
    return {
        "id": id,
        **list_filters(queue=queue, task=task, status=status, lock=lock),
        "queueing_lock": queueing_lock,
        "worker_id": worker_id,
    }
