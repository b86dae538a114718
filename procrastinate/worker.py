"""The worker: fetches jobs and runs them, on one event loop.

Each job runs in its own asyncio task, at most ``concurrency`` at a time; sync task
functions run in threads. The worker wakes up on LISTEN/NOTIFY and polls as a fallback.
This module holds the worker's options and its fetch loop; its life around the loop
(start, side tasks, stop requests, shutdown) is
:mod:`~procrastinate.worker_lifecycle`'s, running the jobs is
:mod:`~procrastinate.job_runner`'s, the side loops live in
:mod:`~procrastinate.side_loops`, and :mod:`~procrastinate.outcomes` decides, without
I/O, what an outcome means.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from procrastinate import (
    connector,
    exceptions,
    job_context,
    jobs,
    middleware,
    outcome_writer,
)
from procrastinate.job_runner import (
    PERSIST_BACKOFF_MAX,
    JobRunner,
    RunningJob,
    until_done,
)
from procrastinate.outcomes import (
    FAILED_UNRUNNABLE,
    Outcome,
    end_message,
    outcome_of,
    should_delete,
)
from procrastinate.side_loops import Registration
from procrastinate.worker_lifecycle import WorkerLifecycle
from procrastinate.worker_options import (
    MAX_CONCURRENCY,
    ONE_SHOT_FETCH_ATTEMPTS,
    check_middleware,
    check_seconds,
    check_worker_options,
    gives_up_fetching,
)

if TYPE_CHECKING:
    from procrastinate import app as app_module

__all__ = [
    "FAILED_UNRUNNABLE",
    "MAX_CONCURRENCY",
    "ONE_SHOT_FETCH_ATTEMPTS",
    "PERSIST_BACKOFF_MAX",
    "WORKER_NAME",
    "Outcome",
    "RunningJob",
    "Worker",
    "check_seconds",
    "check_worker_options",
    "end_message",
    "outcome_of",
    "should_delete",
    "until_done",
]

logger = logging.getLogger(__name__)

WORKER_NAME = "worker"


class Worker(WorkerLifecycle):
    """
    Fetches jobs from the database and runs them. Usually created by
    :meth:`App.run_worker_async` and the ``procrastinate worker`` command.

    :param app: the app whose tasks to run.
    :param queues: the queues to take jobs from; ``None`` for all.
    :param name: a name for logs.
    :param concurrency: how many jobs run at the same time.
    :param wait: keep waiting for new jobs; when false, stop once the queues are empty.
    :param fetch_job_polling_interval: seconds between fetches when no notification
        comes (the safety net of LISTEN/NOTIFY, or the only way without it).
    :param abort_job_polling_interval: seconds between checks for abort requests,
        while jobs run.
    :param shutdown_graceful_timeout: on stop, seconds to let running jobs finish
        before aborting them; ``None`` waits for them however long they take.
    :param listen_notify: wake up on PostgreSQL notifications.
    :param delete_jobs: which finished jobs to delete: ``"never"``, ``"successful"``
        or ``"always"``.
    :param additional_context: a dict copied into each job's context.
    :param install_signal_handlers: stop on SIGINT and SIGTERM.
    :param update_heartbeat_interval: seconds between heartbeats.
    :param stalled_worker_timeout: seconds without a heartbeat after which a worker
        counts as dead; larger than ``update_heartbeat_interval``. A live worker
        that finds itself pruned registers again.
    :param recover_stalled_jobs: periodically remove the workers without a recent
        heartbeat and recover their running jobs: each is retried when its task's
        retry strategy allows it (the error is
        :class:`~procrastinate.exceptions.StalledJob`), or else marked failed. Turn it
        on when your tasks can safely run again after a crash (idempotent tasks).
    :param task_middleware: middleware wrapping the jobs of every task of the
        matching kind (sync or async).
    :param worker_middleware: async middleware wrapping every job.
    :param outcome_batch_size: the most outcomes stored in one statement: the
        outcomes of the runs that end while the previous ones are being stored
        are stored together.
    :param outcome_batch_delay: seconds an outcome may wait for others before it
        is stored (``0``: none; on stop, the waiting ones are stored at once).
        Until its outcome is stored, a job stays ``doing``: a job sharing its lock
        cannot start, and if the worker is killed the job is recovered as stalled
        and runs again.
    :raises TypeError: an interval, a timeout, ``concurrency`` or
        ``outcome_batch_size`` is not a number.
    :raises ValueError: one of them is out of range (intervals must be positive,
        ``stalled_worker_timeout`` larger than ``update_heartbeat_interval``,
        ``concurrency`` from 1 to 2147483647, ``outcome_batch_size`` from 1 to
        10,000), or a queue name holds a NUL character.
    """

    def __init__(
        self,
        app: app_module.App,
        *,
        queues: Iterable[str] | None = None,
        name: str | None = WORKER_NAME,
        concurrency: int = 1,
        wait: bool = True,
        fetch_job_polling_interval: float = 5.0,
        abort_job_polling_interval: float = 5.0,
        shutdown_graceful_timeout: float | None = None,
        listen_notify: bool = True,
        delete_jobs: str | jobs.DeleteJobCondition | None = None,
        additional_context: dict[str, Any] | None = None,
        install_signal_handlers: bool = True,
        update_heartbeat_interval: float = 10.0,
        stalled_worker_timeout: float = 30.0,
        recover_stalled_jobs: bool = False,
        task_middleware: list[middleware.TaskMiddleware] | None = None,
        worker_middleware: list[middleware.WorkerMiddleware] | None = None,
        outcome_batch_size: int = outcome_writer.DEFAULT_BATCH_SIZE,
        outcome_batch_delay: float = outcome_writer.DEFAULT_DELAY,
    ) -> None:
        self.queues = list(queues) if queues else None
        check_worker_options(
            queues=self.queues,
            concurrency=concurrency,
            fetch_job_polling_interval=fetch_job_polling_interval,
            abort_job_polling_interval=abort_job_polling_interval,
            shutdown_graceful_timeout=shutdown_graceful_timeout,
            update_heartbeat_interval=update_heartbeat_interval,
            stalled_worker_timeout=stalled_worker_timeout,
            outcome_batch_size=outcome_batch_size,
            outcome_batch_delay=outcome_batch_delay,
        )
        self.app = app
        self.worker_name = name or WORKER_NAME
        self.concurrency = concurrency
        self.wait = wait
        self.fetch_job_polling_interval = fetch_job_polling_interval
        self.abort_job_polling_interval = abort_job_polling_interval
        self.shutdown_graceful_timeout = shutdown_graceful_timeout
        self.listen_notify = listen_notify
        self.delete_jobs = jobs.DeleteJobCondition(delete_jobs or "never")
        self.additional_context = additional_context or {}
        self.install_signal_handlers = install_signal_handlers
        self.update_heartbeat_interval = update_heartbeat_interval
        self.stalled_worker_timeout = stalled_worker_timeout
        self.recover_stalled_jobs = recover_stalled_jobs
        self.task_middleware = list(task_middleware or [])
        self.worker_middleware = list(worker_middleware or [])
        check_middleware(self.task_middleware, self.worker_middleware)

        self.job_manager = app.job_manager
        self.logger = logger.getChild(self.worker_name)
        #: The jobs running now; it starts, aborts and ends them.
        self.runner = JobRunner(
            tasks=app.tasks,
            job_manager=self.job_manager,
            worker=self,
            task_middleware=self.task_middleware,
            worker_middleware=self.worker_middleware,
            delete_jobs=self.delete_jobs,
            logger=self.logger,
            log_extra=self._log_extra,
            outcome_batch_size=outcome_batch_size,
            outcome_batch_delay=outcome_batch_delay,
            max_result_bytes=app.max_result_bytes,
            store_outcomes=self._store_and_fetch,
        )
        #: This worker's row among the registered workers.
        self.registration = Registration(
            runner=self.runner, stalled_worker_timeout=stalled_worker_timeout
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._force_event: asyncio.Event | None = None
        self._new_job = asyncio.Event()
        # Held while a fetch runs, the fetch loop's or that of a batch of outcomes:
        # each counts the free slots once the other's jobs have started.
        self._fetching = asyncio.Lock()
        self._error: BaseException | None = None

    # The fetch loop

    async def _fetch_loop(self) -> None:
        assert self._stop_event is not None
        # After an outage, fetching resumes within a fraction of a second, not a
        # whole polling interval.
        backoff = connector.Backoff(maximum=self.fetch_job_polling_interval)
        while not self._stop_event.is_set():
            # Cleared before fetching, so that a notification arriving meanwhile
            # is not lost.
            self._new_job.clear()
            self.runner.slot_freed.clear()
            # Outcomes being stored fetch the jobs of the slots they free in the same
            # round trip: look again once they are stored.
            if self.runner.writer.busy:
                await self._wait_for(self.runner.slot_freed, timeout=None)
                continue
            free_slots = self.runner.free_slots(self.concurrency)
            if free_slots <= 0:
                await self._wait_for(self.runner.slot_freed, timeout=None)
                continue
            try:
                fetched, free_slots = await self._fetch_and_start()
            except exceptions.ConnectorException as exc:
                # A pruned worker's fetches fail (its id is gone): that is repaired
                # at once, and not counted as a failure.
                if await self.registration.repair():
                    continue
                if gives_up_fetching(exc, wait=self.wait, failures=backoff.failures):
                    self.logger.error(
                        f"Could not fetch jobs ({exc}): stopping the worker, which "
                        "runs with wait=False",
                        extra=self._log_extra(action="fetch_error"),
                    )
                    raise
                delay = backoff.next_delay()
                self.logger.error(
                    f"Could not fetch jobs ({exc}), retrying in {delay:.1f} s",
                    extra=self._log_extra(action="fetch_error", delay=delay),
                )
                await self._wait_for(timeout=delay)
                continue
            backoff.reset()
            # A run that ended or an outcome stored during the fetch may have freed a
            # slot or a lock (or sent a job back for a retry): look again.
            if fetched == free_slots or self.runner.slot_freed.is_set():
                continue
            if not self.wait and (fetched or self.runner.running):
                # The queues look empty, but running jobs may unblock others (a lock)
                # or retry: look again once one ends.
                await self._wait_for(self.runner.slot_freed, timeout=None)
                continue
            if not self.wait:
                self.logger.info(
                    "No job found. Stopping worker because wait=False",
                    extra=self._log_extra(action="stop_worker_no_wait"),
                )
                return
            await self._wait_for(
                self._new_job,
                self.runner.slot_freed,
                timeout=self.fetch_job_polling_interval,
            )

    async def _wait_for(self, *events: asyncio.Event, timeout: float | None) -> None:
        assert self._stop_event is not None
        waiters = [asyncio.ensure_future(self._stop_event.wait())]
        waiters.extend(asyncio.ensure_future(event.wait()) for event in events)
        try:
            await asyncio.wait(
                waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _fetch_and_start(self) -> tuple[int, int]:
        """Fetch and start the jobs of the free slots: how many started, of how
        many slots."""
        assert self.worker_id is not None
        async with self._fetching:
            free_slots = self.runner.free_slots(self.concurrency)
            if free_slots <= 0:
                return 0, 0
            fetched = await self.job_manager.fetch_jobs_to_run(
                self.queues, self.worker_id, free_slots
            )
            self._start_all(fetched)
        return len(fetched), free_slots

    def _start_all(self, fetched: list[jobs.FetchedJob]) -> None:
        for item in fetched:
            self.runner.start(self._context(item.job), item.load_error)

    async def _store_and_fetch(
        self, rows: list[dict[str, Any]]
    ) -> dict[int, str | None]:
        """Store a batch of outcomes and, in the same round trip, fetch the jobs of
        the slots free now (those of the batch included); only store them when the
        worker is not running its fetch loop or has no free slot."""
        async with self._fetching:
            worker_id = self.worker_id
            limit = self.runner.free_slots(self.concurrency)
            stopping = self._stop_event is None or self._stop_event.is_set()
            if stopping or worker_id is None or limit <= 0:
                return await self.job_manager.store_outcomes(rows)
            try:
                stored, fetched = await self.job_manager.store_outcomes_and_fetch(
                    rows, self.queues, worker_id, limit
                )
            except (exceptions.TransientDatabaseError, exceptions.UniqueViolation):
                raise
            except exceptions.ConnectorException:
                # A fetch that fails (this worker pruned, say) must not keep the
                # outcomes from being stored: the fetch loop sees the error itself.
                return await self.job_manager.store_outcomes(rows)
            self._start_all(fetched)
        return stored

    def _context(self, job: jobs.Job) -> job_context.JobContext:
        return job_context.JobContext(
            app=self.app,
            worker_name=self.worker_name,
            worker_queues=self.queues,
            job=job,
            additional_context=dict(self.additional_context),
        )

    async def recover_stalled_jobs_once(self) -> list[jobs.Job]:
        """
        Remove the workers silent for ``stalled_worker_timeout`` seconds, claim their
        running jobs and retry or fail each through its task's retry strategy.

        :returns: the recovered jobs.
        """
        await self.registration.prune_stalled_workers()
        return await self.registration.recover_orphaned_jobs()
