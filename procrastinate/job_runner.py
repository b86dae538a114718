"""Running the jobs a worker fetched: each in its own asyncio task, through the
middleware, to an outcome that is stored whatever happens meanwhile.

A :class:`JobRunner` knows the jobs running now; it starts them, aborts them (a
cancellation for an async task, ``should_abort()`` for a sync one), and stores their
outcome, retrying while the database is away. What an outcome means is decided in
:mod:`procrastinate.outcomes`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import attr

from procrastinate import (
    exceptions,
    job_context,
    jobs,
    manager,
    middleware,
    outcome_writer,
    results,
    utils,
)
from procrastinate.job_context import AbortReason
from procrastinate.outcomes import (
    FAILED_UNRUNNABLE,
    Outcome,
    end_message,
    outcome_of,
    recorded,
    refusal_message,
    run_error,
    should_delete,
    time_limit,
)

if TYPE_CHECKING:
    from procrastinate import tasks as tasks_module

# Re-exported: the longest wait between two attempts to store an outcome.
PERSIST_BACKOFF_MAX = outcome_writer.BACKOFF_MAX

T = TypeVar("T")

#: Builds the ``extra`` of a worker's log record: ``(action=..., job=..., **fields)``.
LogExtra = Callable[..., dict[str, Any]]


async def until_done(coro: Awaitable[T]) -> T:
    """
    Await ``coro`` (a coroutine, or a future: then without a task of its own) to its
    end even when the caller is cancelled meanwhile (the cancellation is re-raised
    afterwards): storing a job's outcome must not be cut short, nor look finished
    while it still runs.
    """
    inner = asyncio.ensure_future(coro)
    cancelled: asyncio.CancelledError | None = None
    while not inner.done():
        try:
            await asyncio.shield(inner)
        except asyncio.CancelledError as exc:
            cancelled = exc
    if cancelled is not None:
        raise cancelled
    return inner.result()


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


@attr.dataclass(kw_only=True)
class JobRunner:
    """
    Runs a worker's jobs and stores their outcomes.

    :param tasks: the app's tasks, by name.
    :param job_manager: the app's job manager.
    :param worker: the worker, given as is to each middleware.
    :param task_middleware: middleware wrapping the jobs of every task of the
        matching kind (sync or async).
    :param worker_middleware: async middleware wrapping every job.
    :param delete_jobs: which finished jobs to delete.
    :param logger: the worker's logger.
    :param log_extra: the worker's builder of log ``extra``.
    :param outcome_batch_size: the most outcomes stored in one statement.
    :param outcome_batch_delay: seconds an outcome may wait for others before it is
        stored.
    :param max_result_bytes: the most bytes of JSON of a stored result (``None``:
        no limit).
    :param store_outcomes: writes a batch of outcomes (see
        :class:`~procrastinate.outcome_writer.OutcomeWriter`).
    """

    tasks: Mapping[str, tasks_module.Task[Any, Any, Any]]
    job_manager: manager.JobManager
    # Typed loosely: the worker module sits above this one.
    worker: Any
    task_middleware: list[middleware.TaskMiddleware]
    worker_middleware: list[middleware.WorkerMiddleware]
    delete_jobs: jobs.DeleteJobCondition
    logger: logging.Logger
    log_extra: LogExtra
    outcome_batch_size: int = outcome_writer.DEFAULT_BATCH_SIZE
    outcome_batch_delay: float = outcome_writer.DEFAULT_DELAY
    max_result_bytes: int | None = results.DEFAULT_MAX_RESULT_BYTES
    store_outcomes: outcome_writer.Store | None = None
    #: The jobs being processed, by id: running, or storing their outcome.
    running: dict[int, RunningJob] = attr.ib(factory=dict, init=False)
    #: Set each time a run ends and each time an outcome is stored: the fetch loop
    #: may take another job (one that waited for the lock of a stored job, say).
    slot_freed: asyncio.Event = attr.ib(factory=asyncio.Event, init=False)
    #: Stores the outcomes, in batches.
    writer: outcome_writer.OutcomeWriter = attr.ib(init=False)

    def __attrs_post_init__(self) -> None:
        self.writer = outcome_writer.OutcomeWriter(
            job_manager=self.job_manager,
            delete_jobs=self.delete_jobs,
            logger=self.logger,
            log_extra=self.log_extra,
            batch_size=self.outcome_batch_size,
            delay=self.outcome_batch_delay,
            store=self.store_outcomes,
        )

    def free_slots(self, concurrency: int) -> int:
        """
        How many more jobs may start: ``concurrency`` counts the runs, not the jobs
        whose outcome waits to be stored, so that the next jobs start while the
        outcomes of the previous ones are written. Those may add at most one batch.
        """
        runs = sum(not running.persisting for running in self.running.values())
        return min(
            concurrency - runs,
            concurrency + self.outcome_batch_size - len(self.running),
        )

    # Starting and aborting

    def start(
        self,
        context: job_context.JobContext,
        load_error: exceptions.UnloadableJob | None = None,
    ) -> None:
        """Process the job of ``context`` in a new asyncio task."""
        job = context.job
        assert job.id is not None
        job_id = job.id
        running = RunningJob(
            context=context,
            marker=manager.RunningJobMarker(job_id=job_id),
            load_error=load_error,
        )
        running.context = context.evolve(abort_reason=lambda: running.abort_reason)
        task = self.tasks.get(job.task_name)
        running.is_async = task is None or task.is_async
        self.running[job_id] = running
        running.task = asyncio.create_task(
            self._process(running), name=f"process job {job.task_name}[{job_id}]"
        )
        running.task.add_done_callback(functools.partial(self._done, job_id, running))

    def _done(self, job_id: int, running: RunningJob, _: asyncio.Task[None]) -> None:
        # A lost job may be fetched again while its old copy ends.
        if self.running.get(job_id) is running:
            del self.running[job_id]
        self.slot_freed.set()

    def abort(self, job_id: int, reason: AbortReason) -> None:
        """Ask a running job to stop, for ``reason``; a job whose run has ended, or
        that is not running here, is left alone."""
        running = self.running.get(job_id)
        # Once the run ended, its outcome is stored whatever arrives.
        if running is None or running.persisting or running.cancelled:
            return
        if running.abort_reason is None:
            running.abort_reason = reason
            self.logger.info(
                f"Aborting job {running.context.job.call_string} ({reason.value})",
                extra=self.log_extra(
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

    def lose(self, job_id: int) -> None:
        """Stop a job that is no longer this worker's (see :attr:`AbortReason.LOST`)."""
        running = self.running.get(job_id)
        if running is None or running.persisting:
            return
        self.logger.warning(
            f"Job {running.context.job.call_string} is no longer this worker's "
            "(recovered by another worker, or retried or finished meanwhile): "
            "stopping this run of it",
            extra=self.log_extra(action="job_lost", job=running.context.job),
        )
        self.abort(job_id, AbortReason.LOST)

    def take_back(self, job_id: int, worker_id: int) -> None:
        """Store the outcome of a running job for its new owner, ``worker_id``."""
        running_job = self.running.get(job_id)
        if running_job is None:
            return
        context = running_job.context
        running_job.context = context.evolve(
            job=context.job.evolve(worker_id=worker_id)
        )
        self.writer.follow_owner(job_id, worker_id)

    def give_up(self, job_id: int) -> None:
        """Stop this worker's copy of a job that another worker recovered."""
        running_job = self.running.get(job_id)
        if running_job is None or running_job.task is None or running_job.task.done():
            return
        self.logger.warning(
            f"Job {running_job.context.job.call_string} was recovered by another "
            "worker while this one was pruned: stopping this worker's copy",
            extra=self.log_extra(action="lost_job", job=running_job.context.job),
        )
        # Its outcome is refused as the job's owner changed (JobLost), so the other
        # run's outcome stands.
        self.abort(job_id, AbortReason.LOST)

    async def abort_requested(self, worker_id: int) -> None:
        """Ask the database which running jobs to stop: those whose abort was
        requested, and those that are no longer this worker's."""
        if not self.running:
            return
        to_abort, lost = await self.job_manager.list_jobs_to_stop(
            worker_id, list(self.running)
        )
        for job_id in lost:
            self.lose(job_id)
        for job_id in to_abort:
            self.abort(job_id, AbortReason.USER_REQUEST)

    async def wait_all(self, timeout: float | None, force: asyncio.Event) -> None:
        """
        Let the running jobs finish within ``timeout`` seconds (``None``: however
        long they take) or until ``force`` is set, then abort the others and wait
        for them to store their outcome.
        """
        for running in list(self.running.values()):
            self.logger.info(
                f"Waiting for job {running.context.job.call_string} to finish",
                extra=self.log_extra(action="ending_job", job=running.context.job),
            )
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        forced = asyncio.ensure_future(force.wait())
        try:
            while self.running and not forced.done():
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    break
                await asyncio.wait(
                    {*self._tasks(), forced},
                    timeout=remaining,
                    return_when=asyncio.FIRST_COMPLETED,
                )
        finally:
            forced.cancel()
        for job_id in list(self.running):
            self.abort(job_id, AbortReason.SHUTDOWN)
        await asyncio.gather(*self._tasks(), return_exceptions=True)

    def _tasks(self) -> list[asyncio.Task[None]]:
        return [r.task for r in self.running.values() if r.task is not None]

    # Processing a job

    async def _process(self, running: RunningJob) -> None:
        # Any error between the fetch and the outcome still ends the job.
        manager.running_job.set(running.marker)
        job = running.context.job
        error: BaseException | None = None
        try:
            outcome, error = await self._run(running)
        except Exception as exc:
            outcome = FAILED_UNRUNNABLE
            self.logger.exception(
                f"Job {job.task_name}[{job.id}] could not be processed "
                f"({utils.safe_repr(exc)}): marking it failed",
                extra=self.log_extra(action="job_processing_error", job=job),
            )
        running.persisting = True
        self.slot_freed.set()
        # Read again: a re-registration may have given the job a new owner id.
        await self.persist(running.context.job, outcome)
        if isinstance(error, asyncio.CancelledError) and running.abort_reason is None:
            raise error

    async def _run(self, running: RunningJob) -> tuple[Outcome, BaseException | None]:
        """Run the job's task and log how it ended: the outcome to store, and the
        error that ended the run, if any."""
        context = running.context
        job = context.job
        if running.load_error is not None:
            self.logger.error(
                f"Job {job.call_string} cannot be loaded: {running.load_error}. "
                "Marking it failed.",
                extra=self.log_extra(action="job_unloadable", job=job),
            )
            outcome = self._recorded(job, FAILED_UNRUNNABLE, None, running.load_error)
            return outcome, running.load_error
        task = self.tasks.get(job.task_name)
        start = time.time()
        error: BaseException | None = None
        result: Any = None
        # Log records are built only when someone reads them: per job, they cost
        # more than the rest of the worker's own work.
        if self.logger.isEnabledFor(logging.INFO):
            extra = self.log_extra(action="start_job", job=job)
            self.logger.info(f"Starting job {job.call_string}", extra=extra)
        timer = self._start_time_limit(running, task)
        try:
            if task is None:
                raise exceptions.TaskNotFound(
                    f"Task {job.task_name!r} is not registered in this worker's app"
                )
            result = await self._run_task(task, context)
        except BaseException as exc:
            error = exc
        finally:
            if timer is not None:
                timer.cancel()
        error = run_error(error, task, job, running.abort_reason)
        if isinstance(error, exceptions.TaskTimeout):
            result = None
        outcome = self._recorded(
            job, outcome_of(error, task, job, running.abort_reason), result, error
        )
        if self.logger.isEnabledFor(outcome.level):
            self._log_end(job, outcome, error, start, result)
        return outcome, error

    def _log_end(
        self,
        job: jobs.Job,
        outcome: Outcome,
        error: BaseException | None,
        start: float,
        result: Any,
    ) -> None:
        duration = time.time() - start
        log_extra = self.log_extra(
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

    def _recorded(
        self, job: jobs.Job, outcome: Outcome, value: Any, error: BaseException | None
    ) -> Outcome:
        # A job deleted at its end keeps nothing: its result is not even encoded.
        if should_delete(self.delete_jobs, outcome.status):
            return outcome
        json_dumps = self.job_manager.connector.json_dumps
        outcome = recorded(outcome, value, error, json_dumps, self.max_result_bytes)
        if outcome.refused is not None:
            self.logger.warning(
                refusal_message(job, outcome.refused),
                extra=self.log_extra(action="job_result_refused", job=job),
            )
        return outcome

    def _start_time_limit(
        self, running: RunningJob, task: tasks_module.Task[Any, Any, Any] | None
    ) -> asyncio.TimerHandle | None:
        """Abort the job when its time limit (its own, else its task's) passes: an
        async task is cancelled, a sync one sees ``should_abort()`` (a thread cannot
        be stopped)."""
        job = running.context.job
        limit = time_limit(task, job)
        if limit is None:
            return None
        assert job.id is not None
        return asyncio.get_running_loop().call_later(
            limit, self.abort, job.id, AbortReason.TIMEOUT
        )

    async def _run_task(
        self, task: tasks_module.Task[Any, Any, Any], context: job_context.JobContext
    ) -> Any:
        args = (context,) if task.pass_context else ()
        kwargs = context.job.task_kwargs
        worker = self.worker
        task_middleware = [
            item
            for item in self.task_middleware
            if middleware.is_async_callable(item) == task.is_async
        ] + task.task_middleware
        if task.is_async:

            async def call_task() -> Any:
                return await task.func(*args, **kwargs)

            call = middleware.compose(task_middleware, call_task, context, worker)
        else:

            def call_sync() -> Any:
                return task.func(*args, **kwargs)

            sync_call = middleware.compose(task_middleware, call_sync, context, worker)

            async def call_in_thread() -> Any:
                return await utils.sync_to_async(sync_call)

            call = call_in_thread
        call = middleware.compose(self.worker_middleware, call, context, worker)
        result = await call()
        if inspect.isawaitable(result):
            result = await result
        return result

    # Storing the outcome

    async def persist(self, job: jobs.Job, outcome: Outcome) -> None:
        """
        Store ``outcome`` for ``job``, with the outcomes of the other runs ready
        meanwhile (see :class:`~procrastinate.outcome_writer.OutcomeWriter`, which logs
        what it could not store); a cancellation waits for it.
        """
        with contextlib.suppress(Exception):
            await until_done(self.writer.submit(job, outcome))

    async def end_orphans(self, claimed: list[jobs.FetchedJob]) -> list[jobs.Job]:
        """
        End the running jobs of dead workers, now claimed by this one: each is
        retried or failed as if it had raised
        :class:`~procrastinate.exceptions.StalledJob`.

        :returns: the jobs.
        """
        endings = []
        for item in claimed:
            job = item.job
            if item.load_error is not None:
                outcome = FAILED_UNRUNNABLE
                message = f"cannot be loaded ({item.load_error}), marking it failed"
            else:
                task = self.tasks.get(job.task_name)
                stalled = exceptions.StalledJob()
                outcome = self._recorded(
                    job, outcome_of(stalled, task, job, None), None, stalled
                )
                message = "retrying it" if outcome.retry else "marking it failed"
            self.logger.warning(
                f"Recovering stalled job {job.call_string}: {message}",
                extra=self.log_extra(action="recover_stalled_job", job=job),
            )
            endings.append(self.persist(job, outcome))
        await asyncio.gather(*endings)
        return [item.job for item in claimed]
