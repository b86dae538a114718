"""A worker's life around its fetch loop: the start (registration, side tasks), the
stop requests (from any thread, a signal or a cancellation), the side tasks (heartbeat,
abort polling, periodic deferrer, stalled recovery, listener) and the shutdown (let
the running jobs finish, cancel the side tasks, unregister).

:class:`~procrastinate.worker.Worker` inherits it and adds its options and the fetch
loop.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from procrastinate import jobs, periodic, signals, utils
from procrastinate.job_context import AbortReason
from procrastinate.job_runner import JobRunner
from procrastinate.side_loops import Registration, repeat

if TYPE_CHECKING:
    from procrastinate import app as app_module
    from procrastinate import manager


class WorkerLifecycle(abc.ABC):
    """
    The start, stop and shutdown of a worker, and its side tasks, around the fetch
    loop that :class:`~procrastinate.worker.Worker` writes (``_fetch_loop``) with the
    attributes declared here.
    """

    app: app_module.App
    job_manager: manager.JobManager
    runner: JobRunner
    registration: Registration
    logger: logging.Logger
    worker_name: str
    queues: list[str] | None
    install_signal_handlers: bool
    update_heartbeat_interval: float
    abort_job_polling_interval: float
    shutdown_graceful_timeout: float | None
    recover_stalled_jobs: bool
    listen_notify: bool
    _loop: asyncio.AbstractEventLoop | None
    _stop_event: asyncio.Event | None
    _force_event: asyncio.Event | None
    _new_job: asyncio.Event
    _fetching: asyncio.Lock
    _error: BaseException | None

    @property
    def worker_id(self) -> int | None:
        """This worker's id while it is registered: a new one after being pruned."""
        return self.registration.worker_id

    @worker_id.setter
    def worker_id(self, value: int | None) -> None:
        self.registration.worker_id = value

    @abc.abstractmethod
    async def _fetch_loop(self) -> None:
        """Fetch and run jobs until the worker is asked to stop."""

    # Stop requests

    def stop(self) -> None:
        """
        Ask the worker to stop: it fetches no more jobs and lets the running ones
        finish (within ``shutdown_graceful_timeout``). Idempotent, callable from any
        thread.
        """
        self._threadsafe(self._set_event, "_stop_event")

    def _force_stop(self) -> None:
        self.stop()
        self._threadsafe(self._set_event, "_force_event")

    def _set_event(self, name: str) -> None:
        event: asyncio.Event | None = getattr(self, name)
        if event is not None and not event.is_set():
            if name == "_stop_event":
                self.logger.info(
                    "Stop requested", extra=self._log_extra(action="stopping_worker")
                )
            event.set()

    def _threadsafe(self, func: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            func(*args)
        else:
            loop.call_soon_threadsafe(func, *args)

    async def run(self) -> None:
        """
        Run until stopped (by :meth:`stop`, a signal, cancellation, or empty queues
        with ``wait=False``). Cancelling it stops the worker gracefully; the
        cancellation is re-raised once the worker has stopped.

        :raises ConnectorException: the worker could not start (database
            unreachable, schema missing), or, with ``wait=False``, could not fetch
            jobs.
        :raises Exception: a side task (heartbeat, periodic deferrer, listener...)
            failed for a reason other than a database error; the worker stopped
            first, as cleanly as it could.
        """
        self._loop = asyncio.get_running_loop()
        # Created here, not earlier: stop() may be called as soon as run() starts.
        self._stop_event = asyncio.Event()
        self._force_event = asyncio.Event()
        self._new_job = asyncio.Event()
        self._fetching = asyncio.Lock()
        self.runner.slot_freed = asyncio.Event()
        self._error = None
        # Installed first and kept until the worker has unregistered: a signal at any
        # moment of its life, start-up and shutdown included, is a stop request.
        with self._signal_handlers():
            run_loop = asyncio.create_task(self._run_loop(), name="worker run loop")
            try:
                await asyncio.shield(run_loop)
            except asyncio.CancelledError:
                self.stop()
                await self._wait_stopped(run_loop)
                raise
        if self._error is not None:
            raise self._error

    async def _wait_stopped(self, run_loop: asyncio.Task[None]) -> None:
        # Each further cancellation while stopping forces the stop (running jobs are
        # aborted), but the worker still finishes its shutdown before run() ends.
        while True:
            try:
                await asyncio.shield(run_loop)
                return
            except asyncio.CancelledError:
                # The main loop itself was cancelled: nothing is left to wait for.
                if run_loop.done():
                    raise
                self._force_stop()

    # The main loop

    async def _run_loop(self) -> None:
        await self.registration.register()
        self.logger.info(
            f"Starting worker on {utils.queues_display(self.queues)}",
            extra=self._log_extra(action="start_worker"),
        )
        side_tasks = self._start_side_tasks()
        try:
            await self._fetch_loop()
        finally:
            await self._shutdown(side_tasks)

    def _signal_handlers(self) -> contextlib.AbstractContextManager[None]:
        if not self.install_signal_handlers:
            return contextlib.nullcontext()
        return signals.on_stop(self.stop, self._force_stop)

    async def _poll_jobs_to_abort_once(self) -> None:
        assert self.worker_id is not None
        await self.runner.abort_requested(self.worker_id)

    # Side tasks

    def _start_side_tasks(self) -> list[asyncio.Task[None]]:
        heartbeat = self.update_heartbeat_interval
        coroutines: dict[str, Awaitable[None]] = {
            "update_heartbeats": self._repeat(
                self.registration.beat,
                heartbeat,
                what="update the heartbeat",
                action="update_heartbeat_error",
            ),
            "poll_jobs_to_abort": self._repeat(
                self._poll_jobs_to_abort_once,
                self.abort_job_polling_interval,
                what="check for jobs to abort",
                action="poll_jobs_to_abort_error",
            ),
            "periodic_deferrer": periodic.PeriodicDeferrer(
                registry=self.app.periodic_registry,
                **self.app.periodic_defaults,
            ).worker(),
        }
        if self.recover_stalled_jobs:
            coroutines["recover_stalled_jobs"] = self._repeat(
                self.registration.recover_stalled_jobs,
                heartbeat,
                what="recover stalled jobs",
                action="recover_stalled_jobs_error",
            )
        if self.listen_notify:
            coroutines["listener"] = self.job_manager.listen_for_jobs(
                on_notification=self._on_notification, queues=self.queues
            )
        side_tasks = [asyncio.ensure_future(coro) for coro in coroutines.values()]
        for name, side_task in zip(coroutines, side_tasks):
            side_task.set_name(name)
            side_task.add_done_callback(self._side_task_done)
        return side_tasks

    def _side_task_done(self, side_task: asyncio.Task[None]) -> None:
        if side_task.cancelled() or side_task.exception() is None:
            return
        exc = side_task.exception()
        self.logger.error(
            f"Side task {side_task.get_name()} failed ({exc!r}): stopping the worker",
            exc_info=exc,
            extra=self._log_extra(action="side_task_failed"),
        )
        # run() raises it once the worker has stopped: a supervisor must see that
        # the worker did not stop on request.
        if self._error is None:
            self._error = exc
        self.stop()

    async def _repeat(
        self, step: Callable[[], Awaitable[object]], interval: float, **log: str
    ) -> None:
        await repeat(
            step, interval, logger=self.logger, log_extra=self._log_extra, **log
        )

    async def _on_notification(
        self, *, channel: str, notification: jobs.Notification
    ) -> None:
        # A resumed queue may hold jobs that waited: fetch them as new ones.
        if notification["type"] in ("job_inserted", "queue_resumed"):
            self._new_job.set()
        elif notification["type"] == "abort_job_requested":
            self.runner.abort(notification["job_id"], AbortReason.USER_REQUEST)

    # Shutdown

    async def _shutdown(self, side_tasks: list[asyncio.Task[None]]) -> None:
        assert self._force_event is not None
        self.runner.writer.hurry()
        await self.runner.wait_all(self.shutdown_graceful_timeout, self._force_event)
        # Those that failed already were reported by _side_task_done.
        await utils.cancel_and_capture_errors(
            [side_task for side_task in side_tasks if not side_task.done()]
        )
        await self.registration.unregister()
        self.logger.info(
            f"Stopped worker on {utils.queues_display(self.queues)}",
            extra=self._log_extra(action="stop_worker"),
        )

    # Logging

    def _log_extra(
        self, *, action: str, job: jobs.Job | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        worker = {
            "name": self.worker_name,
            "worker_id": self.worker_id,
            "job_id": job.id if job else None,
            "queues": self.queues,
        }
        extra: dict[str, Any] = {"action": action, "worker": worker, **kwargs}
        if job is not None:
            extra["job"] = job.log_context()
        return extra
