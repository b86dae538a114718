"""The job deferrer: what :meth:`Task.configure <procrastinate.tasks.Task.configure>`
returns, a configured job waiting for its arguments, stored by the job manager."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from procrastinate import manager, types, utils
from procrastinate.jobs import Job

# Deferrals are logged where procrastinate 3.x logged them, for logging set-ups that
# name this logger.
logger = logging.getLogger("procrastinate.jobs")


class JobDeferrer:
    """
    A job that is configured but not deferred yet: calling :meth:`defer` (or one of its
    variants) with the task's keyword arguments stores it in the database.

    :param job_manager: the job manager that stores the jobs.
    :param job: the configured job, without the task's arguments.
    :param connection: defer on this connection, owned by the caller (see
        :meth:`Task.configure <procrastinate.tasks.Task.configure>`).
    """

    def __init__(
        self, job_manager: manager.JobManager, job: Job, connection: Any = None
    ) -> None:
        self.job = job
        self.job_manager = job_manager
        self.connection = connection

    def make_new_job(self, **task_kwargs: types.JSONValue) -> Job:
        """
        The job to defer: the configured one with ``task_kwargs`` merged in.

        :param task_kwargs: the task's keyword arguments (JSON values).
        :raises ValueError: an argument that PostgreSQL or a worker would refuse
            (NaN, a NUL character...), named in the message.
        """
        merged = {**self.job.task_kwargs, **task_kwargs}
        utils.check_json_args(merged)
        return self.job.evolve(task_kwargs=merged)

    # The records, and the job dicts of their ``extra``, cost more than the defer's
    # own Python: built only when someone listens.

    def _log_before_defer(self, jobs: Iterable[Job]) -> None:
        if not logger.isEnabledFor(logging.DEBUG):
            return
        logger.debug(
            "About to defer jobs",
            extra={
                "action": "about_to_defer_jobs",
                "jobs": [job.log_context() for job in jobs],
            },
        )

    def _log_after_defer(self, jobs: list[Job]) -> None:
        if not logger.isEnabledFor(logging.INFO):
            return
        logger.info(
            f"Deferred {len(jobs)} job{'s' if len(jobs) != 1 else ''}: "
            + ", ".join(job.call_string for job in jobs),
            extra={
                "action": "jobs_deferred",
                "jobs": [job.log_context() for job in jobs],
            },
        )

    async def defer_async(self, **task_kwargs: types.JSONValue) -> int:
        """
        Defer one job.

        :returns: the id of the new job.
        :raises AlreadyEnqueued: a job with the same queueing lock is waiting already.
        """
        (job_id,) = await self.batch_defer_async(task_kwargs)
        return job_id

    async def batch_defer_async(self, *task_kwargs: types.JSONDict) -> list[int]:
        """
        Defer several jobs in one query.

        :param task_kwargs: the task's keyword arguments for each job, as dicts.
        :returns: the ids of the new jobs, in the order of the arguments.
        :raises AlreadyEnqueued: a queueing lock is taken; no job was deferred.
        """
        jobs = [self.make_new_job(**kwargs) for kwargs in task_kwargs]
        self._log_before_defer(jobs)
        deferred = await self.job_manager.batch_defer_jobs_async(
            jobs, connection=self.connection
        )
        self._log_after_defer(deferred)
        return [job.id for job in deferred if job.id is not None]

    def defer(self, **task_kwargs: types.JSONValue) -> int:
        """Synchronous version of :meth:`defer_async`."""
        (job_id,) = self.batch_defer(task_kwargs)
        return job_id

    def batch_defer(self, *task_kwargs: types.JSONDict) -> list[int]:
        """Synchronous version of :meth:`batch_defer_async`."""
        jobs = [self.make_new_job(**kwargs) for kwargs in task_kwargs]
        self._log_before_defer(jobs)
        deferred = self.job_manager.batch_defer_jobs(jobs, connection=self.connection)
        self._log_after_defer(deferred)
        return [job.id for job in deferred if job.id is not None]
