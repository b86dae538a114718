"""What the job manager does with the worker registry: registering a worker, its
heartbeat, and pruning the silent ones.

Each method is one line over an operation of :mod:`procrastinate.worker_operations`;
:class:`~procrastinate.manager.JobManager` inherits them all.
"""

from __future__ import annotations

from collections.abc import Iterable

from procrastinate import runner, worker_operations


class WorkerRegistry(runner.OperationRunner):
    """The job manager's operations on the worker registry (see
    :class:`~procrastinate.manager.JobManager`)."""

    async def register_worker(self) -> int:
        """Add a worker to the registry; returns its id."""
        return await self._run_async(worker_operations.register_worker())

    async def unregister_worker(self, worker_id: int) -> None:
        """Remove a worker from the registry; its running jobs lose their worker.

        :param worker_id: the worker's id.
        """
        await self._run_async(worker_operations.unregister_worker(worker_id))

    async def update_heartbeat(self, worker_id: int) -> bool:
        """
        Record that a worker is alive.

        :param worker_id: the worker's id.
        :returns: whether the worker is registered; ``False`` once it was pruned.
        """
        return await self._run_async(worker_operations.update_heartbeat(worker_id))

    async def reregister_worker(self, job_ids: Iterable[int]) -> tuple[int, list[int]]:
        """
        Register a pruned worker again, and give it back those of its running jobs
        (``job_ids``) that no other worker claimed meanwhile.

        :returns: the new worker id, and the ids of the jobs given back.
        """
        return await self._run_async(worker_operations.reregister_worker(job_ids))

    async def prune_stalled_workers(self, seconds_since_heartbeat: float) -> list[int]:
        """Remove the workers silent for that long; returns their ids.

        :param seconds_since_heartbeat: how long a worker may stay silent.
        """
        call = worker_operations.prune_stalled_workers(seconds_since_heartbeat)
        return await self._run_async(call)
