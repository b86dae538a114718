"""Jobs: one run of a task with its arguments, as stored in ``procrastinate_jobs``."""

from __future__ import annotations

import datetime
import enum
import functools
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

import attr
from typing_extensions import TypedDict

from procrastinate import types, utils

if TYPE_CHECKING:
    from procrastinate import manager

logger = logging.getLogger(__name__)

DEFAULT_QUEUE = "default"
DEFAULT_PRIORITY = 0


def check_aware(
    instance: Job, attribute: attr.Attribute[Any], value: datetime.datetime | None
) -> None:
    """attrs validator: a scheduled time must carry its time zone."""
    if value is not None and value.utcoffset() is None:
        raise ValueError("Timezone aware datetime is required")


class Status(enum.Enum):
    """
    An enumeration with all the possible job statuses.
    """

    TODO = "todo"  #: The job is waiting in a queue
    DOING = "doing"  #: A worker is running the job
    SUCCEEDED = "succeeded"  #: The job ended successfully
    FAILED = "failed"  #: The job ended with an error
    CANCELLED = "cancelled"  #: The job was cancelled before it started
    ABORTING = "aborting"  #: Legacy, not used anymore
    ABORTED = "aborted"  #: The job was aborted while running


class DeleteJobCondition(enum.Enum):
    """
    Which finished jobs a worker deletes from the database.
    """

    NEVER = "never"  #: Keep every job
    SUCCESSFUL = "successful"  #: Delete the jobs that succeeded
    ALWAYS = "always"  #: Delete every finished job


class JobInserted(TypedDict):
    """Payload of the notification sent when a job enters a queue."""

    type: Literal["job_inserted"]
    job_id: int


class AbortJobRequested(TypedDict):
    """Payload of the notification sent when the abort of a running job is requested."""

    type: Literal["abort_job_requested"]
    job_id: int


Notification = JobInserted | AbortJobRequested


@attr.dataclass(frozen=True, kw_only=True)
class Job:
    """
    A job is the launching of a specific task with specific values for the
    keyword arguments.
    """

    #: Internal id uniquely identifying the job.
    id: int | None = None
    #: Status of the job.
    status: str | None = None
    #: Queue name the job will be run in.
    queue: str
    #: Priority of the job: higher runs first.
    priority: int = DEFAULT_PRIORITY
    #: No two jobs with the same lock string can run simultaneously
    lock: str | None
    #: No two jobs with the same queueing lock can be waiting in the queue.
    queueing_lock: str | None
    #: Name of the associated task.
    task_name: str
    #: Arguments used to call the task.
    task_kwargs: types.JSONDict = attr.ib(factory=dict)
    #: Date and time after which the job is expected to run.
    scheduled_at: datetime.datetime | None = attr.ib(
        default=None, validator=check_aware
    )
    #: Number of times the job has been tried.
    attempts: int = 0
    #: True if the job is requested to abort
    abort_requested: bool = False
    #: ID of the worker that is processing the job
    worker_id: int | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Job:
        """Build a job from a row of ``procrastinate_jobs``.

        :param row: the row, as a dict of its columns.
        """
        return cls(
            id=row["id"],
            status=row["status"],
            lock=row["lock"],
            queueing_lock=row["queueing_lock"],
            task_name=row["task_name"],
            task_kwargs=row["args"],
            scheduled_at=row["scheduled_at"],
            queue=row["queue_name"],
            priority=row["priority"],
            attempts=row["attempts"],
            abort_requested=row.get("abort_requested", False),
            worker_id=row.get("worker_id"),
        )

    def asdict(self) -> dict[str, Any]:
        """The job's fields as a dict."""
        return attr.asdict(self)

    def log_context(self) -> types.JSONDict:
        """The job as JSON-friendly values, for the ``extra`` of log records."""
        context = self.asdict()
        if context["scheduled_at"]:
            context["scheduled_at"] = context["scheduled_at"].isoformat()
        context["call_string"] = self.call_string
        return context

    def evolve(self, **kwargs: Any) -> Job:
        """A copy of the job with some fields changed.

        :param kwargs: the fields to change, with their new values.
        """
        return attr.evolve(self, **kwargs)

    @functools.cached_property
    def call_string(self) -> str:
        """``task_name[id](arg=value, ...)``, to name the job in logs."""
        kwargs_string = ", ".join(
            f"{key}={value!r}" for key, value in self.task_kwargs.items()
        )
        return f"{self.task_name}[{self.id}]({kwargs_string})"


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

    def _log_before_defer(self, jobs: Iterable[Job]) -> None:
        logger.debug(
            "About to defer jobs",
            extra={
                "action": "about_to_defer_jobs",
                "jobs": [job.log_context() for job in jobs],
            },
        )

    def _log_after_defer(self, jobs: list[Job]) -> None:
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
