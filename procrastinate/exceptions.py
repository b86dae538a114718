"""The exceptions procrastinate raises.

Every exception derives from :class:`ProcrastinateException`; when no message is given,
the first paragraph of the class docstring is used, without its reST markup, so that
each error reads well on its own, in a terminal too.
"""

from __future__ import annotations

import datetime
from typing import Protocol


class RetryPlan(Protocol):
    """
    What a :class:`JobRetry` carries: a :class:`~procrastinate.retry.RetryDecision`
    (or anything with its four fields). Described here, not imported, so that this
    module, imported by every other, imports none of them.
    """

    @property
    def retry_at(self) -> datetime.datetime | None:
        """When to run the job again; ``None`` for now."""

    @property
    def priority(self) -> int | None:
        """The job's new priority; ``None`` keeps it."""

    @property
    def queue(self) -> str | None:
        """The job's new queue; ``None`` keeps it."""

    @property
    def lock(self) -> str | None:
        """The job's new lock; ``None`` keeps it."""


class ProcrastinateException(Exception):
    """Unexpected Procrastinate error.

    :param message: what went wrong; by default, the first paragraph of the
        exception's docstring.
    """

    def __init__(self, message: str | None = None) -> None:
        if not message:
            first_paragraph = (self.__doc__ or "").strip().split("\n\n")[0]
            message = " ".join(first_paragraph.replace("``", "").split())
        super().__init__(message)


class TaskNotFound(ProcrastinateException):
    """
    Task cannot be imported.
    """


class UnboundTaskError(ProcrastinateException):
    """
    The task is declared on a blueprint that is not attached to an app yet: call
    ``app.add_tasks_from(blueprint, namespace=...)`` before deferring it.
    """


class TaskAlreadyRegistered(ProcrastinateException):
    """
    A task with this name or alias is already registered.
    """


class MiddlewareKindMismatch(ProcrastinateException):
    """
    A sync middleware was given for an async task, or the reverse.
    """


class LoadFromPathError(ImportError, ProcrastinateException):
    """
    App was not found at the provided path, or the loaded object is not an App.
    """


class JobRetry(ProcrastinateException):
    """
    Job should be retried.

    :param retry_decision: when and how to retry it (a
        :class:`~procrastinate.retry.RetryDecision`).
    """

    def __init__(self, retry_decision: RetryPlan) -> None:
        self.retry_decision = retry_decision
        super().__init__()


class JobAborted(ProcrastinateException):
    """
    Job was aborted.
    """


class TaskTimeout(ProcrastinateException):
    """
    A job ran past its time limit (``@app.task(timeout=...)``, or its own, given by
    ``configure(timeout=...)``): the job
    failed with this error, and the task's retry strategy decides whether it runs
    again (name it in ``retry_exceptions`` to retry only on it).
    """


class AppNotOpen(ProcrastinateException):
    """
    App was not open: open it with ``app.open()``, ``await app.open_async()``, or use it
    as a context manager (``with app.open():`` / ``async with app.open_async():``).
    """


class ConnectorException(ProcrastinateException):
    """
    Database error.
    """

    # The underlying driver error is always chained as __cause__.


class TransientDatabaseError(ConnectorException):
    """
    The database refused the query for a reason that passes by itself (read-only
    transaction, serialization failure, deadlock, lock timeout, too many connections,
    server shutting down, lost connection): worth retrying later.
    """


class DatabaseUnavailable(TransientDatabaseError):
    """
    The database could not be reached, or the connection was lost: a transient error
    worth retrying later.
    """


class AlreadyEnqueued(ProcrastinateException):
    """
    There is already a job waiting in the queue with the same queueing lock.
    """


class UniqueViolation(ConnectorException):
    """
    A unique constraint is violated. The constraint name is available in
    ``exception.constraint_name``.

    :param args: the message, as for any exception.
    :param constraint_name: the name of the violated constraint.
    :param queueing_lock: the queueing lock of the job that could not be deferred,
        when that is the constraint.
    """

    def __init__(
        self,
        *args: object,
        constraint_name: str | None,
        queueing_lock: str | None = None,
    ) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.constraint_name = constraint_name
        self.queueing_lock = queueing_lock


class NoResult(ConnectorException):
    """
    No result was returned by a query that should have returned one.
    """


class MissingApp(ProcrastinateException):
    """
    No app was given: pass ``--app=<dotted.path.to.app>`` or set the
    PROCRASTINATE_APP environment variable.
    """


class SyncConnectorConfigurationError(ProcrastinateException):
    """
    A synchronous connector (like SyncPsycopgConnector) was used where an asynchronous
    connector is needed (workers, the CLI, listen/notify). Use an asynchronous connector
    such as PsycopgConnector.
    """


class CallerModuleUnknown(ProcrastinateException):
    """
    Unable to determine the module of the caller.
    """


class RunTaskError(ProcrastinateException):
    """
    One of the tasks raised an exception.
    """


class InvalidTimestamp(ProcrastinateException):
    """
    The periodic task's timestamp does not match the deferred one.
    """


class FunctionPathError(ProcrastinateException):
    """
    Could not determine the full path of the function: give the task a ``name=``.
    """


class MovedElsewhere(ProcrastinateException):
    """
    This object has moved to another module.
    """


class StalledJob(ProcrastinateException):
    """
    The worker running the job stopped sending heartbeats: it crashed, was killed, or
    lost its connection. The job was recovered by another worker.
    """


class InvalidCronExpression(ProcrastinateException):
    """
    A periodic task was declared with a cron expression that cannot be parsed.
    """


class UnloadableJob(ProcrastinateException):
    """
    A job's row cannot be turned into a job by this client: its arguments are not a
    JSON object or cannot be decoded, or its ``scheduled_at`` is out of Python's range.
    The job is marked failed.
    """


class JobLost(ConnectorException):
    """
    The worker no longer owns the job: another worker recovered it, or it was retried
    or finished meanwhile. The outcome of this worker's run of it is not stored.
    """


class InvalidQueueName(ProcrastinateException):
    """
    A queue name that no job can have: empty, or longer than the 128 characters of
    ``procrastinate_jobs.queue_name``.
    """


class JobNotFound(NoResult):
    """
    There is no such job: it was never deferred, or it was deleted (with its result),
    by ``delete_jobs``, ``remove_old_jobs`` or a cancellation with ``delete_job``.
    """


class JobNotFinished(ProcrastinateException):
    """
    The job has not reached a final status yet: it has no result to read.

    :param message: what went wrong.
    :param job_result: what is known of the job so far (its ``status``, attempts,
        times, the error of an earlier attempt), a
        :class:`~procrastinate.results.JobResult`.
    """

    def __init__(self, message: str | None = None, job_result: object = None) -> None:
        super().__init__(message)
        self.job_result = job_result


class JobWaitTimeout(ProcrastinateException, TimeoutError):
    """
    The job did not reach a final status within the time given to ``wait_for_job``.
    It may still: the wait only stopped watching it.
    """
