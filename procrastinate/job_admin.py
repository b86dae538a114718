"""What the job manager does with jobs on an administrator's behalf, outside a worker's
path: list them, read a status, cancel, retry by hand, find the stalled ones, delete
the old ones, and check the connection.

Each method is one line over an operation of :mod:`procrastinate.operations`; a pair
of methods (sync and async) is one call builder, made into both by
:func:`~procrastinate.runner.twin_methods`. :class:`~procrastinate.manager.JobManager`
inherits them all.
"""

from __future__ import annotations

import datetime
import warnings
from typing import Any

from procrastinate import jobs, notifications, operations, runner
from procrastinate.runner import Call


class JobAdmin(runner.OperationRunner):
    """The job manager's administration operations on jobs (see
    :class:`~procrastinate.manager.JobManager`)."""

    # Manual retry

    def _retry_job_by_id(
        self,
        job_id: int,
        retry_at: datetime.datetime | None = None,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> Call[None]:
        """
        Like :meth:`retry_job`, by job id, whoever runs it (a manual retry).

        :param job_id: the job's id.
        :param retry_at: when to run it again; ``None`` for now.
        :param priority: its new priority; ``None`` keeps it.
        :param queue: its new queue; ``None`` keeps it.
        :param lock: its new lock; ``None`` keeps it.
        :raises ConnectorException: the job is not running nor failed.
        """
        return operations.retry_job_by_id(job_id, retry_at, priority, queue, lock)

    retry_job_by_id_async, retry_job_by_id = runner.twin_methods(_retry_job_by_id)

    # Cancel and status

    def _cancel_job_by_id(
        self,
        job_id: int,
        abort: bool = False,
        delete_job: bool = False,
        connection: Any = None,
    ) -> Call[bool]:
        """
        Cancel a waiting job; with ``abort``, also ask a running job to stop.

        :param job_id: the job's id.
        :param abort: also ask the job to stop if it is running.
        :param delete_job: delete a cancelled job instead of keeping it.
        :param connection: run the query in the caller's transaction.
        :returns: whether the job was cancelled or its abort requested.
        """
        # A job that aborts itself must know it before the worker hears of it.
        notifications.note_abort_request(job_id, abort)
        return operations.cancel_job(job_id, abort, delete_job)

    cancel_job_by_id_async, cancel_job_by_id = runner.twin_methods(_cancel_job_by_id)

    def _get_job_status(self, job_id: int, connection: Any = None) -> Call[jobs.Status]:
        """
        The status of a job.

        :param job_id: the job's id.
        :param connection: run the query in the caller's transaction.
        :raises NoResult: there is no such job.
        """
        return operations.get_job_status(job_id)

    get_job_status_async, get_job_status = runner.twin_methods(_get_job_status)

    async def list_jobs_to_abort_async(self, queue: str | None = None) -> list[int]:
        """Ids of the running jobs whose abort was requested.

        :param queue: only the jobs of this queue.
        """
        return await self._run_async(operations.list_jobs_to_abort(queue))

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
        if nb_seconds is None:
            call = operations.stalled_by_heartbeat(
                seconds_since_heartbeat, queue, task_name
            )
            return await self._run_async(call)
        warnings.warn(
            "nb_seconds is deprecated: stalled jobs are now found by the "
            "heartbeat of their worker (seconds_since_heartbeat).",
            DeprecationWarning,
            stacklevel=2,
        )
        return await self._run_async(
            operations.stalled_by_started(nb_seconds, queue, task_name)
        )

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
        await self._run_async(
            operations.delete_old_jobs(
                nb_hours, queue, include_failed, include_cancelled, include_aborted
            )
        )

    # Connection check

    def _check_connection(self) -> Call[bool]:
        """Whether the database answers and holds the procrastinate schema."""
        return operations.check_connection()

    check_connection_async, check_connection = runner.twin_methods(_check_connection)

    # Listing

    def _list_jobs(
        self,
        id: int | None = None,
        queue: str | None = None,
        task: str | None = None,
        status: str | jobs.Status | None = None,
        lock: str | None = None,
        queueing_lock: str | None = None,
        worker_id: int | None = None,
    ) -> Call[list[jobs.Job]]:
        """The jobs matching every given filter, by id.

        :param id: only the job with this id.
        :param queue: only the jobs of this queue.
        :param task: only the jobs of this task.
        :param status: only the jobs in this status.
        :param lock: only the jobs with this lock.
        :param queueing_lock: only the jobs with this queueing lock.
        :param worker_id: only the jobs run by this worker.
        """
        filters = operations.list_filters(queue, task, status, lock)
        return operations.list_jobs(id, filters, queueing_lock, worker_id)

    list_jobs_async, list_jobs = runner.twin_methods(_list_jobs)
