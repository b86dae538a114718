"""What a running task may know about its job and worker."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import attr

from procrastinate import jobs, utils

if TYPE_CHECKING:
    from procrastinate import app as app_module
    from procrastinate import tasks


class AbortReason(enum.Enum):
    """
    Why a running job is asked to stop.
    """

    USER_REQUEST = (
        "user_request"  #: Someone requested it (``cancel_job_by_id(abort=True)``)
    )
    SHUTDOWN = "shutdown"  #: The worker is stopping and its graceful timeout ran out
    #: The run passed the time limit of its task (``@app.task(timeout=...)``)
    TIMEOUT = "timeout"
    #: The worker lost the job: another worker recovered it, or it was retried or
    #: finished meanwhile, so this run's outcome would not be stored
    LOST = "lost"


@attr.dataclass(kw_only=True)
class JobResult:
    """Timing and result of a job run, for logs."""

    start_timestamp: float
    end_timestamp: float | None = None
    result: Any = None

    def duration(self, current_timestamp: float | None = None) -> float:
        """Seconds since the start (until the end, when ended)."""
        end = self.end_timestamp or current_timestamp or time.time()
        return end - self.start_timestamp

    def as_dict(self) -> dict[str, Any]:
        """The fields that go into the ``extra`` of log records."""
        result: dict[str, Any] = {
            "start_timestamp": self.start_timestamp,
            "duration": self.duration(),
        }
        if self.end_timestamp is not None:
            result["end_timestamp"] = self.end_timestamp
            result["result"] = self.result
        return result


def _no_abort() -> AbortReason | None:
    return None


@attr.dataclass(frozen=True, kw_only=True)
class JobContext:
    """
    Execution context of a running job, given as first argument to tasks declared with
    ``pass_context=True``.
    """

    #: Procrastinate `App` running this job
    app: app_module.App
    #: Name of the worker (may be useful for logging)
    worker_name: str | None = None
    #: Queues listened by this worker
    worker_queues: Iterable[str] | None = None
    #: Corresponding :py:class:`~jobs.Job`
    job: jobs.Job
    #: Time the job started, as a Unix timestamp
    start_timestamp: float = attr.ib(factory=time.time)
    #: The worker's ``additional_context``, copied for each job
    additional_context: dict[str, Any] = attr.ib(factory=dict)
    #: Why the job is asked to stop, or ``None`` while it may go on (the worker sets it)
    abort_reason: Callable[[], AbortReason | None] = attr.ib(default=_no_abort)

    def should_abort(self) -> bool:
        """Whether the job was asked to stop: a sync task checks this and raises
        :class:`~procrastinate.exceptions.JobAborted`."""
        return self.abort_reason() is not None

    def evolve(self, **update: Any) -> JobContext:
        """A copy with some fields changed.

        :param update: the fields to change, with their new values.
        """
        return attr.evolve(self, **update)

    @property
    def queues_display(self) -> str:
        """The worker's queues, for logs."""
        return utils.queues_display(self.worker_queues)

    @property
    def task(self) -> tasks.Task[Any, Any, Any]:
        """The task of the job."""
        return self.app.tasks[self.job.task_name]
