"""What a worker does beside fetching jobs, over and over while it runs: beat its
heartbeat (registering again when another worker pruned it as stalled), prune the
stalled workers and recover their jobs, poll for abort requests. Each step is
repeated by :func:`repeat`, which rides out database errors.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attr

from procrastinate import connector, exceptions, jobs, manager
from procrastinate.job_runner import JobRunner, LogExtra


async def repeat(
    step: Callable[[], Awaitable[object]],
    interval: float,
    *,
    what: str,
    action: str,
    logger: logging.Logger,
    log_extra: LogExtra,
) -> None:
    """
    Await ``step`` every ``interval`` seconds, forever. A database error is logged
    (as ``Could not <what>``, with ``action``), and the step tried again sooner:
    after a short delay that grows back to ``interval`` while the error lasts.
    """
    backoff = connector.Backoff(maximum=interval)
    delay = interval
    while True:
        await asyncio.sleep(delay)
        try:
            await step()
        except exceptions.ConnectorException as exc:
            delay = backoff.next_delay()
            logger.warning(
                f"Could not {what} ({exc}), retrying in {delay:.1f} s",
                extra=log_extra(action=action, delay=delay),
            )
            continue
        backoff.reset()
        delay = interval


@attr.dataclass(kw_only=True)
class Registration:
    """
    A worker's row among the registered workers: created at start, kept alive by
    heartbeats, created again when another worker pruned it (its heartbeat was late
    for ``stalled_worker_timeout``: a frozen process, a long outage), removed at
    stop.

    :param runner: the worker's running jobs, which follow the worker's id; the
        registration uses its job manager and its logger.
    :param stalled_worker_timeout: seconds without a heartbeat after which a worker
        counts as dead.
    """

    runner: JobRunner
    stalled_worker_timeout: float
    #: The worker's id while it is registered.
    worker_id: int | None = attr.ib(default=None, init=False)
    # Since when the heartbeats go through; None while they fail.
    _beating_since: float | None = attr.ib(default=None, init=False)
    _lock: asyncio.Lock = attr.ib(factory=asyncio.Lock, init=False)

    @property
    def job_manager(self) -> manager.JobManager:
        """The app's job manager."""
        return self.runner.job_manager

    @property
    def logger(self) -> logging.Logger:
        """The worker's logger."""
        return self.runner.logger

    def log_extra(self, **fields: Any) -> dict[str, Any]:
        """The ``extra`` of a worker's log record."""
        return self.runner.log_extra(**fields)

    async def register(self) -> None:
        """Prune the stalled workers, then register this one."""
        await self.job_manager.prune_stalled_workers(self.stalled_worker_timeout)
        self.worker_id = await self.job_manager.register_worker()
        self._beating_since = time.monotonic()

    async def unregister(self) -> None:
        """Remove this worker's row; a database error is only logged, as the worker
        stops anyway (its row is pruned later)."""
        if self.worker_id is None:
            return
        try:
            await self.job_manager.unregister_worker(self.worker_id)
        except exceptions.ConnectorException as exc:
            self.logger.warning(
                f"Could not unregister the worker: {exc}",
                extra=self.log_extra(action="unregister_worker_error"),
            )

    def steady(self) -> bool:
        """Whether the heartbeats have gone through for a whole
        ``stalled_worker_timeout``."""
        since = self._beating_since
        return (
            since is not None
            and time.monotonic() - since >= self.stalled_worker_timeout
        )

    async def beat(self) -> None:
        """
        One heartbeat; register again if this worker was pruned.

        :raises ConnectorException: the heartbeat failed.
        """
        assert self.worker_id is not None
        worker_id = self.worker_id
        try:
            registered = await self.job_manager.update_heartbeat(worker_id)
        except exceptions.ConnectorException:
            self._beating_since = None
            raise
        if self._beating_since is None:
            self._beating_since = time.monotonic()
        if not registered:
            await self.reregister(worker_id)

    async def repair(self) -> bool:
        """Register again if this worker was pruned; whether it was."""
        assert self.worker_id is not None
        worker_id = self.worker_id
        try:
            if await self.job_manager.update_heartbeat(worker_id):
                return False
            await self.reregister(worker_id)
        except exceptions.ConnectorException:
            # The database fails this query too: the caller reports the first
            # error, which is the one that matters.
            return False
        return True

    async def reregister(self, pruned_id: int) -> None:
        """
        Register again after being pruned as ``pruned_id``, and take back the running
        jobs no other worker recovered meanwhile; stop the others.
        """
        async with self._lock:
            if self.worker_id != pruned_id:
                return
            running = sorted(self.runner.running)
            worker_id, reattached = await self.job_manager.reregister_worker(running)
            self.worker_id = worker_id
            for job_id in reattached:
                self.runner.take_back(job_id, worker_id)
        self.logger.warning(
            f"This worker (id {pruned_id}) was removed from the registered workers "
            f"as stalled: registered again with id {worker_id}",
            extra=self.log_extra(
                action="worker_reregistered",
                pruned_worker_id=pruned_id,
                job_ids=reattached,
            ),
        )
        for job_id in sorted(set(running) - set(reattached)):
            self.runner.give_up(job_id)

    async def prune_stalled_workers(self) -> None:
        """Remove the workers silent for ``stalled_worker_timeout``; when this one is
        among them, register it again."""
        assert self.worker_id is not None
        worker_id = self.worker_id
        pruned = await self.job_manager.prune_stalled_workers(
            self.stalled_worker_timeout
        )
        if pruned:
            self.logger.warning(
                f"Pruned stalled workers {pruned}",
                extra=self.log_extra(action="prune_stalled_workers", worker_ids=pruned),
            )
        if worker_id in pruned:
            # Late with its own heartbeat: its running jobs are not orphans.
            await self.reregister(worker_id)

    async def recover_orphaned_jobs(self) -> list[jobs.Job]:
        """Claim the running jobs of no registered worker and end each through its
        task's retry strategy.

        :returns: the recovered jobs.
        """
        assert self.worker_id is not None
        claimed = await self.job_manager.claim_orphaned_jobs(self.worker_id)
        return await self.runner.end_orphans(claimed)

    async def recover_stalled_jobs(self) -> None:
        """One step of ``recover_stalled_jobs``: prune the stalled workers, once this
        one's own heartbeats are steady, and recover the orphaned jobs."""
        # After an outage every worker's heartbeat is late, this one's included:
        # pruning waits until its own heartbeats have gone through for a whole
        # timeout, which gave the others the same chance. Orphans have no worker
        # to wait for.
        if self.steady():
            await self.prune_stalled_workers()
        await self.recover_orphaned_jobs()
