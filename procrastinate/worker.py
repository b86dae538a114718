"""The worker: fetches jobs and runs them, on one event loop.

Each job runs in its own asyncio task, at most ``concurrency`` at a time; sync task
functions run in threads. The worker wakes up on LISTEN/NOTIFY and polls as a fallback.
What to do with a job's outcome is decided by pure functions (:func:`outcome_of`); the
worker only performs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import attr

from procrastinate import (
    connector,
    exceptions,
    job_context,
    jobs,
    manager,
    middleware,
    periodic,
    signals,
    utils,
)
from procrastinate.job_context import AbortReason

if TYPE_CHECKING:
    from procrastinate import app as app_module
    from procrastinate import tasks

logger = logging.getLogger(__name__)

WORKER_NAME = "worker"
# The fetch query takes its limit as a PostgreSQL integer.
MAX_CONCURRENCY = 2**31 - 1
# A one-shot worker gives up when fetching fails this many times in a row: about 20 s
# of outage with the default polling interval.
ONE_SHOT_FETCH_ATTEMPTS = 8
# The longest wait between two attempts to store an outcome.
PERSIST_BACKOFF_MAX = 10.0


def check_seconds(name: str, value: float | None, *, zero: bool = False) -> None:
    """
    :raises TypeError: ``value`` is not a number.
    :raises ValueError: it is not finite, or not positive (negative when ``zero``).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        kind = "a non-negative" if zero else "a positive"
        raise ValueError(f"{name} must be {kind} number of seconds, got {value!r}")


def check_worker_options(
    *,
    queues: list[str] | None,
    concurrency: int,
    fetch_job_polling_interval: float,
    abort_job_polling_interval: float,
    shutdown_graceful_timeout: float | None,
    update_heartbeat_interval: float,
    stalled_worker_timeout: float,
) -> None:
    """
    Refuse the options a worker cannot run with: it would fail on every fetch, spin
    on zero intervals, or count itself dead between two heartbeats.

    :raises TypeError: an option is not a number.
    :raises ValueError: an option is out of range.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int):
        raise TypeError(f"concurrency must be an integer, got {concurrency!r}")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(
            f"concurrency must be between 1 and {MAX_CONCURRENCY}, got {concurrency}"
        )
    for queue in queues or ():
        if "\x00" in queue:
            raise ValueError(
                f"Queue names cannot contain a NUL character (\\x00): {queue!r}"
            )
    check_seconds("fetch_job_polling_interval", fetch_job_polling_interval)
    check_seconds("abort_job_polling_interval", abort_job_polling_interval)
    check_seconds("update_heartbeat_interval", update_heartbeat_interval)
    check_seconds("stalled_worker_timeout", stalled_worker_timeout)
    if shutdown_graceful_timeout is not None:
        check_seconds("shutdown_graceful_timeout", shutdown_graceful_timeout, zero=True)
    if stalled_worker_timeout <= update_heartbeat_interval:
        raise ValueError(
            f"stalled_worker_timeout ({stalled_worker_timeout}) must be larger than "
            f"update_heartbeat_interval ({update_heartbeat_interval}): otherwise "
            "workers count as dead between two of their heartbeats"
        )


@attr.dataclass(frozen=True, kw_only=True)
class Outcome:
    """What happened to a job and what to store: its final status, or a retry."""

    status: jobs.Status
    title: str
    action: str
    level: int
    retry: exceptions.JobRetry | None = None


def outcome_of(
    error: BaseException | None,
    task: tasks.Task[Any, Any, Any] | None,
    job: jobs.Job,
    abort_reason: AbortReason | None,
) -> Outcome:
    """
    Decide what a job's run means. A task's retry strategy applies to any error
    except an abort requested by a user; a job aborted because the worker stopped is
    retried when its strategy allows, so no work is lost to a deployment.
    """
    if error is None:
        return Outcome(
            status=jobs.Status.SUCCEEDED,
            title="Success",
            action="job_success",
            level=logging.INFO,
        )
    aborted = isinstance(error, (exceptions.JobAborted, asyncio.CancelledError))
    # An abort request (or the loss of the job) forbids a retry, whatever ends the job.
    user_abort = abort_reason is not None and abort_reason != AbortReason.SHUTDOWN
    retry = None
    if task is not None and not user_abort:
        retry = task.get_retry_exception(error, job)
    if aborted:
        if retry is not None:
            return Outcome(
                status=jobs.Status.ABORTED,
                title="Aborted, to retry",
                action="job_aborted_retry",
                level=logging.INFO,
                retry=retry,
            )
        return Outcome(
            status=jobs.Status.ABORTED,
            title="Aborted",
            action="job_aborted",
            level=logging.INFO,
        )
    if retry is not None:
        return Outcome(
            status=jobs.Status.FAILED,
            title="Error, to retry",
            action="job_error_retry",
            level=logging.INFO,
            retry=retry,
        )
    return Outcome(
        status=jobs.Status.FAILED,
        title="Error",
        action="job_error",
        level=logging.ERROR,
    )


def should_delete(condition: jobs.DeleteJobCondition, status: jobs.Status) -> bool:
    """Whether a job that ended with ``status`` is deleted rather than kept."""
    if condition == jobs.DeleteJobCondition.ALWAYS:
        return True
    return (
        condition == jobs.DeleteJobCondition.SUCCESSFUL
        and status == jobs.Status.SUCCEEDED
    )


def end_message(job: jobs.Job, outcome: Outcome, duration: float, result: Any) -> str:
    """``Job <call> ended with status: <title>, lasted <s> s[ - Result: ...]``."""
    message = (
        f"Job {job.call_string} ended with status: {outcome.title}, "
        f"lasted {duration:.3f} s"
    )
    if result is not None:
        message += f" - Result: {utils.safe_repr(result)}"[:250]
    return message


# The outcome of a job that could not be loaded, or whose processing failed in the
# worker itself: retrying would fail the same way.
FAILED_UNRUNNABLE = Outcome(
    status=jobs.Status.FAILED, title="Error", action="job_error", level=logging.ERROR
)


async def until_done(coro: Awaitable[None]) -> None:
    """
    Await ``coro`` to its end even when the caller is cancelled meanwhile (the
    cancellation is re-raised afterwards): storing a job's outcome must not be cut
    short, nor look finished while it still runs.
    """
    inner = asyncio.ensure_future(coro)
    cancelled: asyncio.CancelledError | None = None
    while not inner.done():
        try:
            await asyncio.shield(inner)
        except asyncio.CancelledError as exc:
            cancelled = exc
    inner.result()
    if cancelled is not None:
        raise cancelled


@attr.dataclass(kw_only=True)
class RunningJob:
    """A job being processed by this worker."""

    context: job_context.JobContext
    marker: manager.RunningJobMarker
    task: asyncio.Task[None] | None = None
    abort_reason: AbortReason | None = None
    is_async: bool = True
    #: Why the fetched row could not be loaded: the job then only ends as failed.
    load_error: exceptions.UnloadableJob | None = None
    #: The run ended and its outcome is being stored: nothing may interrupt it now.
    persisting: bool = False
    #: The task was cancelled (an async job's abort): once is enough.
    cancelled: bool = False


class Worker:
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
    :raises TypeError: an interval, a timeout or ``concurrency`` is not a number.
    :raises ValueError: one of them is out of range (intervals must be positive,
        ``stalled_worker_timeout`` larger than ``update_heartbeat_interval``,
        ``concurrency`` from 1 to 2147483647), or a queue name holds a NUL
        character.
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
        middleware.check_worker_middleware(self.worker_middleware)
        for item in self.task_middleware:
            if not callable(item):
                raise TypeError(f"Middleware {item!r} is not callable")

        self.job_manager = app.job_manager
        self.worker_id: int | None = None
        self.logger = logger.getChild(self.worker_name)
        self._running: dict[int, RunningJob] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._force_event: asyncio.Event | None = None
        self._new_job = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._registration = asyncio.Lock()
        # Since when this worker's heartbeats go through; None while they fail.
        self._beating_since: float | None = None
        self._error: BaseException | None = None

    # Public API

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
        self._slot_freed = asyncio.Event()
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
        await self.job_manager.prune_stalled_workers(self.stalled_worker_timeout)
        self.worker_id = await self.job_manager.register_worker()
        self._beating_since = time.monotonic()
        self.logger.info(
            f"Starting worker on {utils.queues_display(self.queues)}",
            extra=self._log_extra(action="start_worker"),
        )
        side_tasks = self._start_side_tasks()
        try:
            await self._fetch_loop()
        finally:
            await self._shutdown(side_tasks)

    @contextlib.contextmanager
    def _signal_handlers(self) -> Any:
        if not self.install_signal_handlers:
            yield
            return
        with signals.on_stop(self.stop, self._force_stop):
            yield

    async def _fetch_loop(self) -> None:
        assert self._stop_event is not None
        # After an outage, fetching resumes within a fraction of a second, not a
        # whole polling interval.
        backoff = connector.Backoff(maximum=self.fetch_job_polling_interval)
        while not self._stop_event.is_set():
            # Cleared before fetching, so that a notification arriving meanwhile
            # is not lost.
            self._new_job.clear()
            self._slot_freed.clear()
            free_slots = self.concurrency - len(self._running)
            if free_slots <= 0:
                await self._wait_for(self._slot_freed, timeout=None)
                continue
            try:
                fetched = await self._fetch_and_start(free_slots)
            except exceptions.ConnectorException as exc:
                # A pruned worker's fetches fail (its id is gone): that is repaired
                # at once, and not counted as a failure.
                if await self._check_registration():
                    continue
                if self._gives_up_fetching(exc, backoff):
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
                await self._wait_for(None, timeout=delay)
                continue
            backoff.reset()
            if fetched == free_slots:
                continue
            if not self.wait and (fetched or self._running):
                # The queues look empty, but running jobs may unblock others (a lock)
                # or retry: look again once one ends.
                await self._wait_for(self._slot_freed, timeout=None)
                continue
            if not self.wait:
                self.logger.info(
                    "No job found. Stopping worker because wait=False",
                    extra=self._log_extra(action="stop_worker_no_wait"),
                )
                return
            await self._wait_for(self._new_job, timeout=self.fetch_job_polling_interval)

    def _gives_up_fetching(
        self, error: exceptions.ConnectorException, backoff: connector.Backoff
    ) -> bool:
        # A waiting worker keeps trying: the database may come back, the schema may
        # be migrated. A one-shot worker must end, and say it could not work.
        if self.wait:
            return False
        transient = isinstance(error, exceptions.TransientDatabaseError)
        return not transient or backoff.failures + 1 >= ONE_SHOT_FETCH_ATTEMPTS

    async def _wait_for(
        self, event: asyncio.Event | None, timeout: float | None
    ) -> None:
        assert self._stop_event is not None
        waiters = [asyncio.ensure_future(self._stop_event.wait())]
        if event is not None:
            waiters.append(asyncio.ensure_future(event.wait()))
        try:
            await asyncio.wait(
                waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _fetch_and_start(self, limit: int) -> int:
        assert self.worker_id is not None
        fetched = await self.job_manager.fetch_jobs_to_run(
            self.queues, self.worker_id, limit
        )
        for item in fetched:
            self._start_job(item.job, item.load_error)
        return len(fetched)

    def _start_job(
        self, job: jobs.Job, load_error: exceptions.UnloadableJob | None = None
    ) -> None:
        assert job.id is not None
        job_id = job.id
        running = RunningJob(
            context=self._context(job),
            marker=manager.RunningJobMarker(job_id=job_id),
            load_error=load_error,
        )
        running.context = running.context.evolve(
            abort_reason=lambda: running.abort_reason
        )
        task = self.app.tasks.get(job.task_name)
        running.is_async = task is None or task.is_async
        self._running[job_id] = running
        running.task = asyncio.create_task(
            self._process_job(running), name=f"process job {job.task_name}[{job_id}]"
        )
        running.task.add_done_callback(
            functools.partial(self._job_done, job_id, running)
        )

    def _job_done(
        self, job_id: int, running: RunningJob, _: asyncio.Task[None]
    ) -> None:
        # A lost job may be fetched again while its old copy ends.
        if self._running.get(job_id) is running:
            del self._running[job_id]
        self._slot_freed.set()

    def _context(self, job: jobs.Job) -> job_context.JobContext:
        return job_context.JobContext(
            app=self.app,
            worker_name=self.worker_name,
            worker_queues=self.queues,
            job=job,
            additional_context=dict(self.additional_context),
        )

    # Processing a job

    async def _process_job(self, running: RunningJob) -> None:
        # Any error between the fetch and the outcome still ends the job.
        manager.running_job.set(running.marker)
        job = running.context.job
        error: BaseException | None = None
        try:
            outcome, error = await self._run_job(running)
        except Exception as exc:
            outcome = FAILED_UNRUNNABLE
            self.logger.exception(
                f"Job {job.task_name}[{job.id}] could not be processed "
                f"({utils.safe_repr(exc)}): marking it failed",
                extra=self._log_extra(action="job_processing_error", job=job),
            )
        running.persisting = True
        # Read again: a re-registration may have given the job a new owner id.
        await until_done(self._persist(running.context.job, outcome))
        if isinstance(error, asyncio.CancelledError) and running.abort_reason is None:
            raise error

    async def _run_job(
        self, running: RunningJob
    ) -> tuple[Outcome, BaseException | None]:
        """Run the job's task and log how it ended: the outcome to store, and the
        error that ended the run, if any."""
        context = running.context
        job = context.job
        if running.load_error is not None:
            self.logger.error(
                f"Job {job.call_string} cannot be loaded: {running.load_error}. "
                "Marking it failed.",
                extra=self._log_extra(action="job_unloadable", job=job),
            )
            return FAILED_UNRUNNABLE, running.load_error
        task = self.app.tasks.get(job.task_name)
        start = time.time()
        error: BaseException | None = None
        result: Any = None
        extra = self._log_extra(action="start_job", job=job)
        self.logger.info(f"Starting job {job.call_string}", extra=extra)
        try:
            if task is None:
                raise exceptions.TaskNotFound(
                    f"Task {job.task_name!r} is not registered in this worker's app"
                )
            result = await self._run_task(task, context)
        except BaseException as exc:
            error = exc
        outcome = outcome_of(error, task, job, running.abort_reason)
        duration = time.time() - start
        log_extra = self._log_extra(
            action=outcome.action,
            job=job,
            start_timestamp=start,
            end_timestamp=start + duration,
            duration=duration,
            result=result,
        )
        self.logger.log(
            outcome.level,
            end_message(job, outcome, duration, result),
            exc_info=error
            if error is not None and not isinstance(error, asyncio.CancelledError)
            else None,
            extra=log_extra,
        )
        return outcome, error

    async def _run_task(
        self, task: tasks.Task[Any, Any, Any], context: job_context.JobContext
    ) -> Any:
        args = (context,) if task.pass_context else ()
        kwargs = context.job.task_kwargs
        task_middleware = [
            item
            for item in self.task_middleware
            if middleware.is_async_callable(item) == task.is_async
        ] + task.task_middleware
        if task.is_async:

            async def call_task() -> Any:
                return await task.func(*args, **kwargs)

            call = middleware.compose(task_middleware, call_task, context, self)
        else:

            def call_sync() -> Any:
                return task.func(*args, **kwargs)

            sync_call = middleware.compose(task_middleware, call_sync, context, self)

            async def call_in_thread() -> Any:
                return await utils.sync_to_async(sync_call)

            call = call_in_thread
        call = middleware.compose(self.worker_middleware, call, context, self)
        result = await call()
        if inspect.isawaitable(result):
            result = await result
        return result

    async def _persist(self, job: jobs.Job, outcome: Outcome) -> None:
        # A transient error is retried for as long as it takes: while this worker
        # lives, nobody else would ever finish the job. Any other error would fail
        # again.
        backoff = connector.Backoff(maximum=PERSIST_BACKOFF_MAX)
        while True:
            try:
                await self._store_outcome(job, outcome)
                return
            except exceptions.JobLost as exc:
                self.logger.warning(
                    f"Dropped the outcome of job {job.call_string}: {exc}",
                    extra=self._log_extra(action="job_lost", job=job),
                )
                return
            except exceptions.TransientDatabaseError as exc:
                delay = backoff.next_delay()
                self.logger.warning(
                    f"Could not store the outcome of job {job.call_string} ({exc}), "
                    f"retrying in {delay:.1f} s",
                    extra=self._log_extra(
                        action="persist_job_retry", job=job, delay=delay
                    ),
                )
                await asyncio.sleep(delay)
            except Exception as exc:
                # A custom connector may raise its driver's own errors.
                self.logger.error(
                    f"Could not store the outcome of job {job.call_string}: {exc}. "
                    "It stays 'doing' while this worker runs; once the worker has "
                    "stopped, a worker with recover_stalled_jobs, or `retry "
                    f"{job.id}` in the shell, can retry it.",
                    extra=self._log_extra(action="persist_job_error", job=job),
                )
                return

    async def _store_outcome(self, job: jobs.Job, outcome: Outcome) -> None:
        if outcome.retry is not None:
            decision = outcome.retry.retry_decision
            try:
                await self.job_manager.retry_job(
                    job,
                    retry_at=decision.retry_at,
                    priority=decision.priority,
                    queue=decision.queue,
                    lock=decision.lock,
                )
                return
            except exceptions.UniqueViolation:
                # Another job with the same queueing lock waits already: it will do
                # the work this retry would have done.
                self.logger.warning(
                    f"Job {job.call_string} not retried: a job with its queueing lock "
                    f"{job.queueing_lock!r} is waiting already",
                    extra=self._log_extra(
                        action="retry_skipped_queueing_lock", job=job
                    ),
                )
        await self.job_manager.finish_job(
            job, outcome.status, should_delete(self.delete_jobs, outcome.status)
        )
        self.logger.debug(
            f"Stored the outcome of job {job.call_string}",
            extra=self._log_extra(
                action="finish_task", job=job, status=outcome.status.value
            ),
        )

    # Abort

    def _abort(self, job_id: int, reason: AbortReason) -> None:
        running = self._running.get(job_id)
        # Once the run ended, its outcome is stored whatever arrives.
        if running is None or running.persisting or running.cancelled:
            return
        if running.abort_reason is None:
            running.abort_reason = reason
            self.logger.info(
                f"Aborting job {running.context.job.call_string} ({reason.value})",
                extra=self._log_extra(
                    action="abort_job", job=running.context.job, reason=reason.value
                ),
            )
        # A job that requested its own abort stops by itself, and what it raises
        # decides its outcome.
        if reason == AbortReason.USER_REQUEST and running.marker.aborted_itself:
            return
        # A thread cannot be interrupted: a sync task sees should_abort() instead.
        if running.is_async and running.task is not None:
            running.cancelled = True
            running.task.cancel()

    def _lose(self, job_id: int) -> None:
        running = self._running.get(job_id)
        if running is None or running.persisting:
            return
        self.logger.warning(
            f"Job {running.context.job.call_string} is no longer this worker's "
            "(recovered by another worker, or retried or finished meanwhile): "
            "stopping this run of it",
            extra=self._log_extra(action="job_lost", job=running.context.job),
        )
        self._abort(job_id, AbortReason.LOST)

    async def _poll_jobs_to_abort(self) -> None:
        await self._repeat(
            self._poll_jobs_to_abort_once,
            self.abort_job_polling_interval,
            what="check for jobs to abort",
            action="poll_jobs_to_abort_error",
        )

    async def _poll_jobs_to_abort_once(self) -> None:
        if not self._running:
            return
        assert self.worker_id is not None
        to_abort, lost = await self.job_manager.list_jobs_to_stop(
            self.worker_id, list(self._running)
        )
        for job_id in lost:
            self._lose(job_id)
        for job_id in to_abort:
            self._abort(job_id, AbortReason.USER_REQUEST)

    # Side tasks

    def _start_side_tasks(self) -> list[asyncio.Task[None]]:
        coroutines: dict[str, Awaitable[None]] = {
            "update_heartbeats": self._update_heartbeats(),
            "poll_jobs_to_abort": self._poll_jobs_to_abort(),
            "periodic_deferrer": periodic.PeriodicDeferrer(
                registry=self.app.periodic_registry,
                **self.app.periodic_defaults,
            ).worker(),
        }
        if self.recover_stalled_jobs:
            coroutines["recover_stalled_jobs"] = self._recover_stalled_jobs_loop()
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
        self,
        step: Callable[[], Awaitable[object]],
        interval: float,
        *,
        what: str,
        action: str,
    ) -> None:
        """
        Await ``step`` every ``interval`` seconds, forever. A database error is
        logged, and the step tried again sooner: after a short delay that grows back
        to ``interval`` while the error lasts.
        """
        backoff = connector.Backoff(maximum=interval)
        delay = interval
        while True:
            await asyncio.sleep(delay)
            try:
                await step()
            except exceptions.ConnectorException as exc:
                delay = backoff.next_delay()
                self.logger.warning(
                    f"Could not {what} ({exc}), retrying in {delay:.1f} s",
                    extra=self._log_extra(action=action, delay=delay),
                )
                continue
            backoff.reset()
            delay = interval

    async def _update_heartbeats(self) -> None:
        await self._repeat(
            self._update_heartbeat_once,
            self.update_heartbeat_interval,
            what="update the heartbeat",
            action="update_heartbeat_error",
        )

    async def _update_heartbeat_once(self) -> None:
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
            await self._reregister(worker_id)

    async def _check_registration(self) -> bool:
        """Register again if this worker was pruned; whether it was."""
        assert self.worker_id is not None
        worker_id = self.worker_id
        try:
            if await self.job_manager.update_heartbeat(worker_id):
                return False
            await self._reregister(worker_id)
        except exceptions.ConnectorException:
            # The database fails this query too: the caller reports the first
            # error, which is the one that matters.
            return False
        return True

    async def _reregister(self, pruned_id: int) -> None:
        """
        This worker was pruned (its heartbeat was late for another worker's
        ``stalled_worker_timeout``: a frozen process, a long outage): register it
        again and take back the running jobs no other worker recovered meanwhile.
        """
        async with self._registration:
            if self.worker_id != pruned_id:
                return
            running = sorted(self._running)
            worker_id, reattached = await self.job_manager.reregister_worker(running)
            self.worker_id = worker_id
            for job_id in reattached:
                self._take_back(job_id, worker_id)
        self.logger.warning(
            f"This worker (id {pruned_id}) was removed from the registered workers "
            f"as stalled: registered again with id {worker_id}",
            extra=self._log_extra(
                action="worker_reregistered",
                pruned_worker_id=pruned_id,
                job_ids=reattached,
            ),
        )
        for job_id in sorted(set(running) - set(reattached)):
            self._give_up(job_id)

    def _take_back(self, job_id: int, worker_id: int) -> None:
        # Outcomes are stored for the job's owner: now this worker's new id.
        running_job = self._running.get(job_id)
        if running_job is None:
            return
        context = running_job.context
        running_job.context = context.evolve(
            job=context.job.evolve(worker_id=worker_id)
        )

    def _give_up(self, job_id: int) -> None:
        """Stop this worker's copy of a job that another worker recovered."""
        running_job = self._running.get(job_id)
        if running_job is None or running_job.task is None or running_job.task.done():
            return
        self.logger.warning(
            f"Job {running_job.context.job.call_string} was recovered by another "
            "worker while this one was pruned: stopping this worker's copy",
            extra=self._log_extra(action="lost_job", job=running_job.context.job),
        )
        # Its outcome is refused as the job's owner changed (JobLost), so the other
        # run's outcome stands.
        self._abort(job_id, AbortReason.LOST)

    async def _recover_stalled_jobs_loop(self) -> None:
        await self._repeat(
            self._recover_stalled_jobs_step,
            self.update_heartbeat_interval,
            what="recover stalled jobs",
            action="recover_stalled_jobs_error",
        )

    async def recover_stalled_jobs_once(self) -> list[jobs.Job]:
        """
        Remove the workers silent for ``stalled_worker_timeout`` seconds, claim their
        running jobs and retry or fail each through its task's retry strategy.

        :returns: the recovered jobs.
        """
        await self._prune_stalled_workers()
        return await self._recover_orphaned_jobs()

    async def _recover_stalled_jobs_step(self) -> None:
        # After an outage every worker's heartbeat is late, this one's included:
        # pruning waits until its own heartbeats have gone through for a whole
        # timeout, which gave the others the same chance. Orphans have no worker
        # to wait for.
        since = self._beating_since
        if (
            since is not None
            and time.monotonic() - since >= self.stalled_worker_timeout
        ):
            await self._prune_stalled_workers()
        await self._recover_orphaned_jobs()

    async def _prune_stalled_workers(self) -> None:
        assert self.worker_id is not None
        worker_id = self.worker_id
        pruned = await self.job_manager.prune_stalled_workers(
            self.stalled_worker_timeout
        )
        if pruned:
            self.logger.warning(
                f"Pruned stalled workers {pruned}",
                extra=self._log_extra(
                    action="prune_stalled_workers", worker_ids=pruned
                ),
            )
        if worker_id in pruned:
            # Late with its own heartbeat: its running jobs are not orphans.
            await self._reregister(worker_id)

    async def _recover_orphaned_jobs(self) -> list[jobs.Job]:
        assert self.worker_id is not None
        claimed = await self.job_manager.claim_orphaned_jobs(self.worker_id)
        for item in claimed:
            job = item.job
            if item.load_error is not None:
                outcome = FAILED_UNRUNNABLE
                message = f"cannot be loaded ({item.load_error}), marking it failed"
            else:
                task = self.app.tasks.get(job.task_name)
                outcome = outcome_of(exceptions.StalledJob(), task, job, None)
                message = "retrying it" if outcome.retry else "marking it failed"
            self.logger.warning(
                f"Recovering stalled job {job.call_string}: {message}",
                extra=self._log_extra(action="recover_stalled_job", job=job),
            )
            await self._persist(job, outcome)
        return [item.job for item in claimed]

    async def _on_notification(
        self, *, channel: str, notification: jobs.Notification
    ) -> None:
        if notification["type"] == "job_inserted":
            self._new_job.set()
        elif notification["type"] == "abort_job_requested":
            self._abort(notification["job_id"], AbortReason.USER_REQUEST)

    # Shutdown

    async def _shutdown(self, side_tasks: list[asyncio.Task[None]]) -> None:
        assert self._force_event is not None
        for running in list(self._running.values()):
            self.logger.info(
                f"Waiting for job {running.context.job.call_string} to finish",
                extra=self._log_extra(action="ending_job", job=running.context.job),
            )
        await self._wait_running_jobs()
        # Those that failed already were reported by _side_task_done.
        await utils.cancel_and_capture_errors(
            [side_task for side_task in side_tasks if not side_task.done()]
        )
        if self.worker_id is not None:
            try:
                await self.job_manager.unregister_worker(self.worker_id)
            except exceptions.ConnectorException as exc:
                self.logger.warning(
                    f"Could not unregister the worker: {exc}",
                    extra=self._log_extra(action="unregister_worker_error"),
                )
        self.logger.info(
            f"Stopped worker on {utils.queues_display(self.queues)}",
            extra=self._log_extra(action="stop_worker"),
        )

    async def _wait_running_jobs(self) -> None:
        """Let the running jobs finish within the graceful timeout (or until a forced
        stop), then abort the others and wait for them to store their outcome."""
        assert self._force_event is not None
        loop = asyncio.get_running_loop()
        timeout = self.shutdown_graceful_timeout
        deadline = None if timeout is None else loop.time() + timeout
        force = asyncio.ensure_future(self._force_event.wait())
        try:
            while self._running and not force.done():
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    break
                pending = {r.task for r in self._running.values() if r.task is not None}
                await asyncio.wait(
                    {*pending, force},
                    timeout=remaining,
                    return_when=asyncio.FIRST_COMPLETED,
                )
        finally:
            force.cancel()
        for job_id in list(self._running):
            self._abort(job_id, AbortReason.SHUTDOWN)
        remaining_tasks = [r.task for r in self._running.values() if r.task is not None]
        await asyncio.gather(*remaining_tasks, return_exceptions=True)

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
