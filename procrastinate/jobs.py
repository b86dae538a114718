"""Jobs: one run of a task with its arguments, as stored in ``procrastinate_jobs``."""

from __future__ import annotations

import datetime
import decimal
import enum
import functools
import json
import logging
from collections.abc import Callable
from typing import Any, Literal

import attr
from typing_extensions import TypedDict

from procrastinate import exceptions, types, utils

logger = logging.getLogger(__name__)

DEFAULT_QUEUE = "default"
DEFAULT_PRIORITY = 0
#: The lock mode of a job unless told otherwise: procrastinate 3.x's lock rule.
DEFAULT_LOCK_MODE = "ordered"
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
MICROSECONDS = 1_000_000


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


class QueueResumed(TypedDict):
    """Payload of the notification sent when a paused queue is resumed."""

    type: Literal["queue_resumed"]
    queue: str


Notification = JobInserted | AbortJobRequested | QueueResumed


@attr.dataclass(frozen=True, kw_only=True)
class QueueState:
    """
    Whether a queue is paused. Workers fetch no job of a paused queue; jobs can still
    be deferred into it.

    :param name: the queue's name.
    :param paused: whether it is paused.
    :param paused_at: when it was paused; ``None`` when it is not.
    """

    name: str
    paused: bool
    paused_at: datetime.datetime | None = None


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
    #: How the lock orders the job with the other jobs of its lock: ``"ordered"``
    #: (every job ahead blocks it, even one scheduled later) or ``"mutex"`` (only
    #: running jobs and due jobs ahead do).
    lock_mode: str = DEFAULT_LOCK_MODE
    #: The job's own time limit in seconds, in place of its task's; ``None``: the
    #: task's.
    timeout: float | None = None
    #: What travels with the job beside its arguments (the trace context of its
    #: defer, see :doc:`/howto/production/tracing`); ``None`` when unused.
    metadata: types.JSONDict | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Job:
        """Build a job from a row of ``procrastinate_jobs``.

        :param row: the row, as a dict of its columns.
        """
        return cls(
            **_plain_fields(row),
            task_kwargs=row["args"],
            scheduled_at=row["scheduled_at"],
            metadata=row.get("metadata"),
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
        :raises TypeError: a name that is not a field.
        """
        # As attr.evolve, at a third of its cost (it runs twice per deferred job):
        # the instance's dict holds the fields, and the cached call string, which
        # the copy must compute again.
        values = {**self.__dict__, **kwargs}
        values.pop("call_string", None)
        return Job(**values)

    @functools.cached_property
    def call_string(self) -> str:
        """``task_name[id](arg=value, ...)``, to name the job in logs."""
        kwargs_string = ", ".join(
            f"{key}={utils.safe_repr(value)}" for key, value in self.task_kwargs.items()
        )
        return f"{self.task_name}[{self.id}]({kwargs_string})"


@attr.dataclass(frozen=True, kw_only=True)
class FetchedJob:
    """
    A job row read by a worker. When the row cannot be loaded, ``load_error`` says
    why and ``job`` holds only its plain columns (no arguments, no schedule).

    :param job: the job, complete when the row loaded.
    :param load_error: why the row could not be loaded, or ``None``.
    """

    job: Job
    load_error: exceptions.UnloadableJob | None = None


def epoch_text(value: datetime.datetime | None) -> str | None:
    """A time as the text of ``extract(epoch FROM ...)``: seconds since 1970, with
    six decimals."""
    if value is None:
        return None
    micros = (value - EPOCH) // datetime.timedelta(microseconds=1)
    sign = "-" if micros < 0 else ""
    seconds, fraction = divmod(abs(micros), MICROSECONDS)
    return f"{sign}{seconds}.{fraction:06d}"


def _from_epoch(text: str | None) -> datetime.datetime | None:
    if text is None:
        return None
    try:
        micros = int(decimal.Decimal(text) * MICROSECONDS)
        return EPOCH + datetime.timedelta(microseconds=micros)
    except (ArithmeticError, ValueError) as exc:
        raise exceptions.UnloadableJob(
            f"its scheduled_at ({text} s from 1970) is outside the years 1 to 9999 "
            "that Python can represent"
        ) from exc


def _load_args(text: str, json_loads: Callable[[str], Any]) -> types.JSONDict:
    try:
        args = json_loads(text)
    except RecursionError as exc:
        raise exceptions.UnloadableJob(
            "its args are nested too deeply to be decoded"
        ) from exc
    except Exception as exc:
        raise exceptions.UnloadableJob(
            f"its args cannot be decoded ({utils.safe_repr(exc)})"
        ) from exc
    if not isinstance(args, dict):
        raise exceptions.UnloadableJob(
            f"its args must be a JSON object, not {type(args).__name__}"
        )
    return args


def _plain_fields(row: dict[str, Any]) -> dict[str, Any]:
    # The fields that every query returning jobs gives as they are; the arguments
    # and the schedule come in a different form from one query to another.
    return {
        "id": row["id"],
        "status": row["status"],
        "lock": row["lock"],
        "queueing_lock": row["queueing_lock"],
        "task_name": row["task_name"],
        "queue": row["queue_name"],
        "priority": row["priority"],
        "attempts": row["attempts"],
        "abort_requested": row.get("abort_requested", False),
        "worker_id": row.get("worker_id"),
        # A row built by hand (as in tests) may leave them out.
        "lock_mode": row.get("lock_mode", DEFAULT_LOCK_MODE),
        "timeout": row.get("timeout"),
    }


def _load_metadata(text: str | None) -> types.JSONDict | None:
    # Written by procrastinate itself, hence read with the standard decoder, not the
    # app's (which is meant for the task's arguments).
    if text is None:
        return None
    try:
        metadata = json.loads(text)
    except RecursionError as exc:
        raise exceptions.UnloadableJob(
            "its metadata is nested too deeply to be decoded"
        ) from exc
    if not isinstance(metadata, dict):
        raise exceptions.UnloadableJob(
            f"its metadata must be a JSON object, not {type(metadata).__name__}"
        )
    return metadata


def load_fetched_row(
    row: dict[str, Any], json_loads: Callable[[str], Any] | None
) -> FetchedJob:
    """
    The job of a row of the worker's queries (``fetch_jobs``, ``claim_orphaned_jobs``),
    which send the arguments as JSON text (``args_text``) and the schedule as epoch
    text (``scheduled_at_epoch``), so that no driver fails on a value that Python
    cannot hold: such a row gives a :class:`FetchedJob` with a ``load_error``, and the
    rest of the batch loads normally.

    :param row: the row, as a dict of its columns.
    :param json_loads: the app's JSON decoder, or ``None`` for :func:`json.loads`.
    """
    fields = _plain_fields(row)
    try:
        task_kwargs = _load_args(row["args_text"], json_loads or json.loads)
        scheduled_at = _from_epoch(row["scheduled_at_epoch"])
        metadata = _load_metadata(row.get("metadata_text"))
    except exceptions.UnloadableJob as exc:
        return FetchedJob(job=Job(**fields), load_error=exc)
    return FetchedJob(
        job=Job(
            **fields,
            task_kwargs=task_kwargs,
            scheduled_at=scheduled_at,
            metadata=metadata,
        )
    )


def __getattr__(name: str) -> Any:
    """
    ``procrastinate.jobs.JobDeferrer``, its procrastinate 3.x place: the class is
    :class:`procrastinate.deferrer.JobDeferrer`, a service above the job manager,
    imported here only when asked for, so that this data module stays below both.

    :raises AttributeError: any other missing name.
    """
    if name == "JobDeferrer":
        from procrastinate import deferrer

        return deferrer.JobDeferrer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
