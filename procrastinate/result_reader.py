"""What the job manager does with the results of jobs: reading them, and waiting for a
job to finish. :class:`~procrastinate.manager.JobManager` inherits these methods; what
a result is, and how it is stored, is :mod:`procrastinate.results`'s.
"""

from __future__ import annotations

from typing import Any

from procrastinate import results, runner


class ResultReader(runner.OperationRunner):
    """The job manager's reading of results (see
    :class:`~procrastinate.manager.JobManager`)."""

    async def get_job_result_async(
        self, job_id: int, connection: Any = None
    ) -> results.JobResult:
        """
        The result of a finished job: its status, what its task returned, what its
        last failed attempt raised, and its times.

        :param job_id: the job's id.
        :param connection: run the query in the caller's transaction.
        :raises JobNotFound: there is no such job (or it was deleted).
        :raises JobNotFinished: the job is waiting or running; its ``job_result``
            holds what is known so far.
        """
        return await self._run_async(results.get_job_result(job_id), connection)

    def get_job_result(self, job_id: int, connection: Any = None) -> results.JobResult:
        """Synchronous version of :meth:`get_job_result_async`."""
        return self._run(results.get_job_result(job_id), connection)

    async def wait_for_job_async(
        self,
        job_id: int,
        timeout: float | None = None,
        poll_interval: float = results.ASYNC_POLL_INTERVAL,
    ) -> results.JobResult:
        """
        Wait until a job reaches a final status, and return its result (see
        :meth:`get_job_result_async`). The notification of its end wakes the wait at
        once (on a connector that can ``LISTEN``); the job is also read every
        ``poll_interval`` seconds, in case a notification is missed.

        :param job_id: the job's id.
        :param timeout: the most seconds to wait; ``None``: as long as it takes.
        :param poll_interval: the seconds between two reads of the job.
        :raises JobNotFound: there is no such job, or it was deleted meanwhile.
        :raises JobWaitTimeout: the job did not finish within ``timeout`` (a
            :class:`TimeoutError`).
        :raises ValueError: a negative ``timeout``, a ``poll_interval`` not positive.
        """
        return await results.wait_async(self.connector, job_id, timeout, poll_interval)

    def wait_for_job(
        self,
        job_id: int,
        timeout: float | None = None,
        poll_interval: float = results.SYNC_POLL_INTERVAL,
    ) -> results.JobResult:
        """Synchronous version of :meth:`wait_for_job_async`, which reads the job
        every ``poll_interval`` seconds (a synchronous connection cannot listen)."""
        return results.wait(self.connector, job_id, timeout, poll_interval)
