"""Storing the outcomes of a worker's runs in batches: one statement, one commit, for
every outcome ready at the same time.

Every commit waits for PostgreSQL to flush its write-ahead log, so a worker that
stored each outcome on its own would be bound by the disk, not by its jobs. The
:class:`OutcomeWriter` gathers the outcomes of the runs that end while a write is in
flight (and, with a ``delay``, within that delay) and writes them together. Until its
outcome is written a job stays ``doing`` in the database: a job that shares its lock
cannot start, and after a crash the job is recovered as stalled and runs again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from procrastinate import connector, exceptions, jobs, manager, outcomes

#: The most outcomes written in one statement, by default.
DEFAULT_BATCH_SIZE = 1000
#: How long an outcome waits for others before it is written, by default: not at
#: all; outcomes that end while a write is in flight still share the next one.
DEFAULT_DELAY = 0.0
# The longest wait between two attempts to write a batch.
BACKOFF_MAX = 10.0

LogExtra = Callable[..., dict[str, Any]]
#: Stores rows of outcomes (see :meth:`JobManager.store_outcomes`) and says what was
#: done to each job.
Store = Callable[[list[dict[str, Any]]], Awaitable[dict[int, str | None]]]


@dataclasses.dataclass
class Pending:
    """An outcome waiting to be written, and who waits for it."""

    job: jobs.Job
    outcome: outcomes.Outcome
    done: asyncio.Future[str | None]


@dataclasses.dataclass
class OutcomeWriter:
    """
    Writes a worker's outcomes in batches.

    :param job_manager: the app's job manager.
    :param delete_jobs: which finished jobs to delete.
    :param logger: the worker's logger.
    :param log_extra: the worker's builder of log ``extra``.
    :param batch_size: the most outcomes per statement.
    :param delay: seconds an outcome may wait for others before the batch is
        written; a full batch is written at once.
    :param store: writes a batch; :meth:`JobManager.store_outcomes` by default (a
        worker's also fetches its next jobs in the same round trip).
    """

    job_manager: manager.JobManager
    delete_jobs: jobs.DeleteJobCondition
    logger: logging.Logger
    log_extra: LogExtra
    batch_size: int = DEFAULT_BATCH_SIZE
    delay: float = DEFAULT_DELAY
    store: Store | None = None
    _pending: list[Pending] = dataclasses.field(default_factory=list, init=False)
    _writing: asyncio.Task[None] | None = dataclasses.field(default=None, init=False)
    _full: asyncio.Event | None = dataclasses.field(default=None, init=False)

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def busy(self) -> bool:
        """Whether outcomes wait to be written, or are being written."""
        return bool(self._pending) or (
            self._writing is not None and not self._writing.done()
        )

    def submit(
        self, job: jobs.Job, outcome: outcomes.Outcome
    ) -> asyncio.Future[str | None]:
        """
        Store ``outcome`` for ``job`` with the others ready meanwhile, retrying a
        transient database error for as long as it takes: while this worker lives,
        nobody else would ever finish the job.

        :returns: a future of what was done (see :meth:`JobManager.store_outcomes`;
            ``None`` when the job is no longer this worker's), which fails with the
            error of a batch that would fail again (a custom connector's own error,
            say): the job then stays ``doing``.
        """
        done: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._pending.append(Pending(job=job, outcome=outcome, done=done))
        if len(self._pending) >= self.batch_size and self._full is not None:
            self._full.set()
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(
                self._write_all(), name="store outcomes"
            )
        done.add_done_callback(functools.partial(self._report, job, outcome))
        return done

    def hurry(self) -> None:
        """Store the waiting outcomes, and the next ones, without waiting for
        others: the worker stops."""
        self.delay = 0.0
        if self._full is not None:
            self._full.set()

    def follow_owner(self, job_id: int, worker_id: int) -> None:
        """Write the waiting outcome of ``job_id`` for its new owner, ``worker_id``
        (the worker registered again after being pruned)."""
        for pending in self._pending:
            if pending.job.id == job_id:
                pending.job = pending.job.evolve(worker_id=worker_id)

    def _report(
        self,
        job: jobs.Job,
        outcome: outcomes.Outcome,
        stored: asyncio.Future[str | None],
    ) -> None:
        # Logged whoever waits for the outcome, and whatever happens to them.
        error = stored.exception()
        if error is not None:
            # A custom connector may raise its driver's own errors.
            self.logger.error(
                f"Could not store the outcome of job {job.call_string}: {error}. "
                "It stays 'doing' while this worker runs; once the worker has "
                "stopped, a worker with recover_stalled_jobs, or `retry "
                f"{job.id}` in the shell, can retry it.",
                extra=self.log_extra(action="persist_job_error", job=job),
            )
        elif stored.result() is None:
            self.logger.warning(
                f"Dropped the outcome of job {job.call_string}: it is no longer run "
                "by this worker (another worker recovered it, or it was retried or "
                "finished meanwhile)",
                extra=self.log_extra(action="job_lost", job=job),
            )
        elif stored.result() == "retry_skipped":
            # Another job with the same queueing lock waits already: it will do the
            # work this retry would have done.
            self.logger.warning(
                f"Job {job.call_string} not retried: a job with its queueing lock "
                f"{job.queueing_lock!r} is waiting already",
                extra=self.log_extra(action="retry_skipped_queueing_lock", job=job),
            )
        elif self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug(
                f"Stored the outcome of job {job.call_string}",
                extra=self.log_extra(
                    action="finish_task", job=job, status=outcome.status.value
                ),
            )

    async def _write_all(self) -> None:
        while self._pending:
            if self.delay > 0 and len(self._pending) < self.batch_size:
                await self._wait_for_more()
            batch = self._take()
            await self._write_batch(batch)

    async def _wait_for_more(self) -> None:
        self._full = asyncio.Event()
        try:
            await asyncio.wait_for(self._full.wait(), self.delay)
        except asyncio.TimeoutError:
            pass
        finally:
            self._full = None

    def _take(self) -> list[Pending]:
        # A job fetched again after being lost may end twice: one row per job and
        # statement, the other waits for the next one.
        batch: list[Pending] = []
        ids: set[int | None] = set()
        rest: list[Pending] = []
        for pending in self._pending:
            if len(batch) < self.batch_size and pending.job.id not in ids:
                ids.add(pending.job.id)
                batch.append(pending)
            else:
                rest.append(pending)
        self._pending = rest
        return batch

    async def _write_batch(self, batch: list[Pending]) -> None:
        rows = [
            outcomes.stored_row(pending.job, pending.outcome, self.delete_jobs)
            for pending in batch
        ]
        backoff = connector.Backoff(maximum=BACKOFF_MAX)
        store = self.store or self.job_manager.store_outcomes
        while True:
            try:
                stored = await store(rows)
            # A retry that met a queueing lock taken meanwhile is decided again.
            except (
                exceptions.TransientDatabaseError,
                exceptions.UniqueViolation,
            ) as exc:
                delay = backoff.next_delay()
                self.logger.warning(
                    f"Could not store the outcome of {len(batch)} job(s) ({exc}), "
                    f"retrying in {delay:.1f} s",
                    extra=self.log_extra(
                        action="persist_job_retry", jobs=len(batch), delay=delay
                    ),
                )
                await asyncio.sleep(delay)
                continue
            except Exception as exc:
                for pending in batch:
                    if not pending.done.done():
                        pending.done.set_exception(exc)
                return
            for pending in batch:
                if not pending.done.done():
                    pending.done.set_result(stored.get(pending.job.id or 0))
            return
