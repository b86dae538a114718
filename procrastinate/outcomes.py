"""What a job's run means, decided without I/O: its final status or a retry, the log
line that reports it, and whether the job is then deleted. The worker stores what is
decided here."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attr

from procrastinate import exceptions, jobs, results, utils
from procrastinate.job_context import AbortReason

if TYPE_CHECKING:
    from procrastinate import tasks


@attr.dataclass(frozen=True, kw_only=True)
class Outcome:
    """What happened to a job and what to store: its final status, or a retry."""

    status: jobs.Status
    title: str
    action: str
    level: int
    retry: exceptions.JobRetry | None = None
    #: The JSON text to store in the job's ``result`` column, or ``None``.
    result: str | None = None
    #: The JSON text to store in the job's ``error`` column, or ``None``.
    error: str | None = None
    #: Why the task's return value is not stored (too big, not JSON), or ``None``.
    refused: str | None = None


# How a run that raised ends, by (aborted, retried): its status, title and log action.
# Only a final failure is logged as an error.
ENDINGS = {
    (True, True): (jobs.Status.ABORTED, "Aborted, to retry", "job_aborted_retry"),
    (True, False): (jobs.Status.ABORTED, "Aborted", "job_aborted"),
    (False, True): (jobs.Status.FAILED, "Error, to retry", "job_error_retry"),
    (False, False): (jobs.Status.FAILED, "Error", "job_error"),
}
# A run past its time limit fails, retried or not.
TIMED_OUT = {
    True: (jobs.Status.FAILED, "Timed out, to retry", "job_timeout_retry"),
    False: (jobs.Status.FAILED, "Timed out", "job_timeout"),
}


def outcome_of(
    error: BaseException | None,
    task: tasks.Task[Any, Any, Any] | None,
    job: jobs.Job,
    abort_reason: AbortReason | None,
) -> Outcome:
    """
    Decide what a job's run means. A task's retry strategy applies to any error
    except an abort requested by a user; a job aborted because the worker stopped is
    retried when its strategy allows, so no work is lost to a deployment, and so is a
    run past its time limit (:class:`~procrastinate.exceptions.TaskTimeout`).
    """
    error = run_error(error, task, job, abort_reason)
    if error is None:
        return Outcome(
            status=jobs.Status.SUCCEEDED,
            title="Success",
            action="job_success",
            level=logging.INFO,
        )
    aborted = isinstance(error, (exceptions.JobAborted, asyncio.CancelledError))
    # An abort request (or the loss of the job) forbids a retry, whatever ends the job.
    user_abort = abort_reason in (AbortReason.USER_REQUEST, AbortReason.LOST)
    retry = None
    if task is not None and not user_abort:
        retry = task.get_retry_exception(error, job)
    if isinstance(error, exceptions.TaskTimeout):
        status, title, action = TIMED_OUT[retry is not None]
    else:
        status, title, action = ENDINGS[aborted, retry is not None]
    final_failure = status == jobs.Status.FAILED and retry is None
    return Outcome(
        status=status,
        title=title,
        action=action,
        level=logging.ERROR if final_failure else logging.INFO,
        retry=retry,
    )


def time_limit(task: tasks.Task[Any, Any, Any] | None, job: jobs.Job) -> float | None:
    """The time limit of a run of ``job``, in seconds: the job's own (given at
    defer), else its task's; ``None`` when neither has one, or the task is not
    registered (the run then fails at once)."""
    if task is None:
        return None
    return job.timeout if job.timeout is not None else task.timeout


def run_error(
    error: BaseException | None,
    task: tasks.Task[Any, Any, Any] | None,
    job: jobs.Job,
    abort_reason: AbortReason | None,
) -> BaseException | None:
    """
    What ended a run: ``error`` as raised (``None`` when the task returned), except
    for a run stopped at its time limit (see :func:`time_limit`), which ends with
    :class:`~procrastinate.exceptions.TaskTimeout` whatever it raised or returned
    then (chained to it).
    """
    limit = time_limit(task, job)
    if abort_reason != AbortReason.TIMEOUT or limit is None:
        return error
    if isinstance(error, exceptions.TaskTimeout):
        return error
    timeout = exceptions.TaskTimeout(
        f"Task {job.task_name} ran past its time limit of {limit:g} s"
    )
    timeout.__cause__ = error
    return timeout


def should_delete(condition: jobs.DeleteJobCondition, status: jobs.Status) -> bool:
    """Whether a job that ended with ``status`` is deleted rather than kept."""
    if condition == jobs.DeleteJobCondition.ALWAYS:
        return True
    return (
        condition == jobs.DeleteJobCondition.SUCCESSFUL
        and status == jobs.Status.SUCCEEDED
    )


def recorded(
    outcome: Outcome,
    value: Any,
    error: BaseException | None,
    json_dumps: Callable[[Any], str] | None,
    max_result_bytes: int | None,
) -> Outcome:
    """
    ``outcome`` with what to store of the run: the task's return value when it
    succeeded (see :func:`~procrastinate.results.encode_result`: a value that is too
    big or not JSON is refused, and the job succeeds all the same), the error that
    ended it otherwise (see :func:`~procrastinate.results.encode_error`).
    """
    if outcome.status == jobs.Status.SUCCEEDED:
        text, refused = results.encode_result(value, json_dumps, max_result_bytes)
        return attr.evolve(outcome, result=text, refused=refused)
    if error is None:
        return outcome
    return attr.evolve(outcome, error=results.encode_error(error))


def refusal_message(job: jobs.Job, refused: str) -> str:
    """The warning of a result that is not stored: the job, and why."""
    return (
        f"Job {job.call_string} succeeded, but its result is not stored: {refused}. "
        "get_job_result gives this reason instead of the value"
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


def stored_row(
    job: jobs.Job, outcome: Outcome, delete_condition: jobs.DeleteJobCondition
) -> dict[str, Any]:
    """
    The row of the ``store_outcomes`` query for ``outcome``: the job's id and
    owner, its final status (used too when a retry cannot be stored) and, for a
    retry, when and where it runs again.
    """
    row: dict[str, Any] = {
        "id": job.id,
        "worker_id": job.worker_id,
        "status": outcome.status.value,
        "delete_job": should_delete(delete_condition, outcome.status),
    }
    # Most runs return nothing: their rows say so by leaving the keys out.
    if outcome.result is not None:
        row["result"] = outcome.result
    if outcome.error is not None:
        row["error"] = outcome.error
    if outcome.retry is None:
        return row
    decision = outcome.retry.retry_decision
    row["retry_at"] = (decision.retry_at or utils.utcnow()).isoformat()
    row["priority"] = decision.priority
    row["queue_name"] = decision.queue
    row["lock"] = decision.lock
    return row
