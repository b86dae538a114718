"""The job manager: every database operation on jobs, queues and workers, and the
listening for notifications.

The operations are declared in :mod:`procrastinate.operations` (query, arguments, rows)
and performed by the two runners of :mod:`procrastinate.runner`: each method is one
line over them. This module holds the operations on jobs along their path (defer,
fetch, finish, retry, recovery) and the listening; the operations an administrator
runs on jobs (list, status, cancel, manual retry, cleanup) come from
:class:`~procrastinate.job_admin.JobAdmin`, those on queues from
:class:`~procrastinate.queue_manager.QueueManager`, those on the worker registry from
:class:`~procrastinate.worker_registry.WorkerRegistry`.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable
from typing import Any

from procrastinate import (
    job_admin,
    jobs,
    notifications,
    operations,
    queue_manager,
    result_reader,
    worker_registry,
)
from procrastinate.runner import Call
from procrastinate.sql import facts

__all__ = [
    "ANY_QUEUE_CHANNEL",
    "MAX_CHANNEL_BYTES",
    "QUEUEING_LOCK_CONSTRAINT",
    "QUEUE_CHANNEL_PREFIX",
    "JobManager",
    "NotificationCallback",
    "RunningJobMarker",
    "Stats",
    "get_channel_for_queues",
    "note_abort_request",
    "parse_notification",
    "queue_channel",
    "running_job",
]

logger = logging.getLogger(__name__)

# Re-exported: 3.x code and tests read them here.
QUEUEING_LOCK_CONSTRAINT = facts.QUEUEING_LOCK_CONSTRAINT
ANY_QUEUE_CHANNEL = facts.ANY_QUEUE_CHANNEL
QUEUE_CHANNEL_PREFIX = facts.QUEUE_CHANNEL_PREFIX
MAX_CHANNEL_BYTES = facts.MAX_CHANNEL_BYTES
queue_channel = facts.queue_channel

# Re-exported: the worker and 3.x code read them here.
NotificationCallback = notifications.NotificationCallback
RunningJobMarker = notifications.RunningJobMarker
running_job = notifications.running_job
note_abort_request = notifications.note_abort_request
parse_notification = notifications.parse_notification

get_channel_for_queues = facts.channels_for_queues

Stats = queue_manager.Stats


class JobManager(
    job_admin.JobAdmin,
    queue_manager.QueueManager,
    worker_registry.WorkerRegistry,
    result_reader.ResultReader,
):
    """
    Performs the database operations on jobs, queues and workers, through a
    connector. The administration methods on jobs are written in
    ``job_admin.JobAdmin``, those on queues in ``queue_manager.QueueManager``,
    those on workers in ``worker_registry.WorkerRegistry``, those reading results in
    ``result_reader.ResultReader``: this class inherits them.

    :param connector: the connector to the database.
    """

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
        return await self._run_async(self._defer(jobs_to_defer), connection)

    def defer_job(self, job: jobs.Job, connection: Any = None) -> jobs.Job:
        """Synchronous version of :meth:`defer_job_async`."""
        (deferred,) = self.batch_defer_jobs([job], connection=connection)
        return deferred

    def batch_defer_jobs(
        self, jobs_to_defer: list[jobs.Job], connection: Any = None
    ) -> list[jobs.Job]:
        """Synchronous version of :meth:`batch_defer_jobs_async`."""
        return self._run(self._defer(jobs_to_defer), connection)

    def _defer(self, jobs_to_defer: list[jobs.Job]) -> Call[list[jobs.Job]]:
        return operations.defer_jobs(jobs_to_defer, self.connector.json_dumps)

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
        call = operations.defer_periodic_job(job, periodic_id, defer_timestamp)
        return await self._run_async(call)

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
        return await self._run_async(operations.fetch_jobs(queues, worker_id, limit))

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
        call = operations.finish_job(job.id, status, delete_job, job.worker_id)
        await self._run_async(call)

    async def store_outcomes(self, rows: list[dict[str, Any]]) -> dict[int, str | None]:
        """
        Store the outcomes of a worker's runs in one statement: each only while its
        worker, or no worker, owns the running job.

        :param rows: one dict per job: ``id``, ``worker_id`` (its owner as fetched),
            ``status`` (its final status, also when a retry cannot be stored),
            ``delete_job``, and for a retry ``retry_at`` (ISO 8601), ``priority``,
            ``queue_name`` and ``lock`` (``None`` keeps them); ``result`` and
            ``error`` as JSON text when the run gave them.

        :returns: by job id, what was done: ``"finished"``, ``"deleted"``,
            ``"retried"``, ``"retry_skipped"`` (its queueing lock was held: the job
            ended with its status instead), or ``None`` (the worker lost the job).
        """
        return await self._run_async(operations.store_outcomes(rows))

    async def store_outcomes_and_fetch(
        self,
        rows: list[dict[str, Any]],
        queues: Iterable[str] | None,
        worker_id: int,
        limit: int,
    ) -> tuple[dict[int, str | None], list[jobs.FetchedJob]]:
        """
        :meth:`store_outcomes` then :meth:`fetch_jobs_to_run`, in one round trip
        and one transaction: the fetch sees the outcomes just stored (a lock they
        release may let the next job of that lock start).

        :returns: what :meth:`store_outcomes` returns, and the fetched jobs.
        :raises ConnectorException: the outcomes could not be stored, or the jobs
            fetched; then neither happened.
        """
        call = operations.store_outcomes_and_fetch(rows, queues, worker_id, limit)
        return await self._run_async(call)

    async def finish_job_by_id_async(
        self, job_id: int, status: jobs.Status, delete_job: bool
    ) -> None:
        """Set the final status of the job ``job_id``, or delete it, whoever runs it.

        :param job_id: the job's id.
        :raises ConnectorException: the job is not waiting or running.
        """
        await self._run_async(operations.finish_job(job_id, status, delete_job, None))

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
        await self._run_async(
            operations.retry_owned_job(
                job.id, retry_at, priority, queue, lock, job.worker_id
            )
        )

    # Lost and orphaned jobs

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
        return await self._run_async(operations.list_jobs_to_stop(worker_id, job_ids))

    async def claim_orphaned_jobs(self, worker_id: int) -> list[jobs.FetchedJob]:
        """
        Take over the running jobs that lost their worker (see
        :meth:`prune_stalled_workers`), each for exactly one caller.

        :param worker_id: the id of the worker taking them over.
        :returns: the claimed jobs, now attributed to ``worker_id``; those whose row
            cannot be loaded carry their ``load_error``.
        """
        return await self._run_async(operations.claim_orphaned_jobs(worker_id))

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
        await self.connector.listen_notify(
            on_notification=notifications.decoder(on_notification),
            channels=get_channel_for_queues(queues),
        )
