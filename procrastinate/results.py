"""Job results: what a task returned, or what its last failed attempt raised, stored
with its job; reading them, and waiting for a job to finish.

The worker stores a result through :func:`encode_result` and an error through
:func:`encode_error` (pure: see :mod:`procrastinate.outcomes`); the job manager reads
them with :data:`get_job_result` and waits with :func:`wait_async` or :func:`wait`,
woken by the notifications of :data:`~procrastinate.sql.facts.JOB_FINISHED_CHANNEL`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
import time
import traceback
from collections.abc import Callable
from typing import Any

import attr

from procrastinate import connector, exceptions, jobs, runner, utils
from procrastinate.runner import Operation, Result
from procrastinate.sql import facts

logger = logging.getLogger(__name__)

#: The default of ``App(max_result_bytes=...)``: 1 MiB of JSON.
DEFAULT_MAX_RESULT_BYTES = 1024 * 1024
#: The most characters kept of an error's message, and of its traceback (its end).
MAX_ERROR_TEXT = 32_000
#: The default seconds between two reads of the job by :func:`wait_async`, which
#: notifications wake sooner, and by :func:`wait`, which only reads.
ASYNC_POLL_INTERVAL = 5.0
SYNC_POLL_INTERVAL = 1.0

FINAL_STATUSES = frozenset(jobs.Status(status) for status in facts.FINAL_STATUSES)


@attr.dataclass(frozen=True, kw_only=True)
class JobError:
    """
    What a job's attempt raised.

    :param type: the exception class, as a dotted path (``builtins.ValueError``).
    :param message: ``str()`` of the exception.
    :param traceback: the formatted traceback, chained exceptions included (its last
        32,000 characters).
    """

    type: str
    message: str
    traceback: str


@attr.dataclass(frozen=True, kw_only=True)
class JobResult:
    """
    A job's status, stored result and error, and times.

    :param job_id: the job's id.
    :param status: its status.
    :param value: what its task returned (``None`` when it returned ``None``, failed,
        or its value was refused).
    :param refused: why the value was not stored (too big, not JSON), or ``None``.
    :param error: what its last failed attempt raised, or ``None``. A job that
        succeeded after a retry keeps the error of the attempt before.
    :param attempts: how many times it ran.
    :param deferred_at: when it was deferred.
    :param started_at: when its last attempt started.
    :param finished_at: when it reached its final status.
    """

    job_id: int
    status: jobs.Status
    value: Any = None
    refused: str | None = None
    error: JobError | None = None
    attempts: int = 0
    deferred_at: datetime.datetime | None = None
    started_at: datetime.datetime | None = None
    finished_at: datetime.datetime | None = None

    @property
    def finished(self) -> bool:
        """Whether the job reached a final status (succeeded, failed, cancelled or
        aborted)."""
        return self.status in FINAL_STATUSES


# Storing


def refusal(reason: str) -> str:
    """The stored result of a value that was refused, as JSON text."""
    return json.dumps({"refused": reason})


def encode_result(
    value: Any, json_dumps: Callable[[Any], str] | None, max_bytes: int | None
) -> tuple[str | None, str | None]:
    """
    What to store of a task's return value: the JSON text of the ``result`` column
    (``None`` for ``None``: nothing is stored), and why the value was refused, if it
    was (the text then stores that reason). The job succeeds either way.

    :param value: what the task returned.
    :param json_dumps: the app's JSON encoder; :func:`json.dumps` when ``None``. The
        value goes through it once.
    :param max_bytes: past this many bytes of JSON, the value is refused; ``None``:
        no limit.
    """
    if value is None:
        return None, None
    try:
        text = (json_dumps or json.dumps)(value)
    except Exception as exc:
        reason = (
            f"the value is not JSON-serializable by the app's json_dumps: "
            f"{type(exc).__name__}: {exc}"
        )
        return refusal(reason), reason
    try:
        utils.check_text(text, "the JSON of the value")
    except ValueError as exc:
        return refusal(str(exc)), str(exc)
    size = len(text.encode("utf-8"))
    if max_bytes is not None and size > max_bytes:
        reason = (
            f"the value is {size} bytes of JSON, more than the app's "
            f"max_result_bytes={max_bytes}"
        )
        return refusal(reason), reason
    return '{"value": ' + text + "}", None


def class_path(error: BaseException) -> str:
    """The dotted path of the class of ``error`` (``builtins.ValueError``)."""
    kind = type(error)
    return f"{kind.__module__}.{kind.__qualname__}"


def storable_text(text: str, limit: int = MAX_ERROR_TEXT) -> str:
    """``text`` as PostgreSQL can store it in JSON (NUL characters and lone surrogates
    escaped), its last ``limit`` characters at most."""
    text = text.replace("\x00", "\\x00")
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) > limit:
        text = "...\n" + text[-limit:]
    return text


def error_of(error: BaseException) -> JobError:
    """What to record of an exception: its class path, message and traceback."""
    formatted = traceback.format_exception(type(error), error, error.__traceback__)
    return JobError(
        type=class_path(error),
        message=storable_text(str(error)),
        traceback=storable_text("".join(formatted)),
    )


def encode_error(error: BaseException) -> str:
    """The JSON text of the ``error`` column for an exception: its class path,
    message and traceback, as :class:`JobError` has them.

    :param error: what the attempt raised.
    """
    return json.dumps(attr.asdict(error_of(error)))


# Reading


def get_job_result_arguments(job_id: int) -> runner.Arguments:
    """The arguments of ``get_job_result``."""
    return {"job_id": job_id}


def job_result(result: Result, *_: Any, **__: Any) -> JobResult:
    """
    The row of ``get_job_result``; the value read by the app's ``json_loads``.

    :raises JobNotFound: there is no such job.
    """
    if not result.rows:
        raise exceptions.JobNotFound(
            f"There is no job {result.arguments['job_id']}: it was never deferred, "
            "or it was deleted with its result"
        )
    row = result.rows[0]
    value_text = row["value_text"]
    error = json.loads(row["error_text"]) if row["error_text"] is not None else None
    return JobResult(
        job_id=row["id"],
        status=jobs.Status(row["status"]),
        value=(
            (result.json_loads or json.loads)(value_text)
            if value_text is not None
            else None
        ),
        refused=row["refused"],
        error=(
            JobError(
                type=error.get("type", ""),
                message=error.get("message", ""),
                traceback=error.get("traceback", ""),
            )
            if isinstance(error, dict)
            else None
        ),
        attempts=row["attempts"],
        deferred_at=row["deferred_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


def finished_result(result: Result, *_: Any, **__: Any) -> JobResult:
    """
    Like :func:`job_result`, for a job that reached a final status.

    :raises JobNotFound: there is no such job.
    :raises JobNotFinished: the job is waiting or running.
    """
    found = job_result(result)
    if not found.finished:
        raise exceptions.JobNotFinished(
            f"Job {found.job_id} has not finished yet (status {found.status.value}): "
            "it has no result yet; wait_for_job waits for it",
            job_result=found,
        )
    return found


#: A job's result, whatever its status.
read_job_result = Operation(
    "get_job_result", get_job_result_arguments, job_result, fetch="all"
)
#: The result of a finished job.
get_job_result = Operation(
    "get_job_result", get_job_result_arguments, finished_result, fetch="all"
)


# Waiting


def finished_ids(payload: str) -> set[int]:
    """The job ids of a notification of the finished jobs; none for a payload that
    is not one (read defensively: anybody may ``NOTIFY`` on a channel)."""
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        ids = json.loads(payload).get("job_ids")
        return {job_id for job_id in ids if isinstance(job_id, int)}
    return set()


def next_wait(
    found: JobResult, deadline: float | None, now: float, poll_interval: float
) -> float | None:
    """
    How long to wait before reading the job again: ``None`` when it finished.

    :raises JobWaitTimeout: it did not finish by ``deadline`` (``None``: no deadline).
    """
    if found.finished:
        return None
    if deadline is not None and now >= deadline:
        raise exceptions.JobWaitTimeout(
            f"Job {found.job_id} did not finish in time (status "
            f"{found.status.value}): it may still finish later"
        )
    return poll_interval if deadline is None else min(poll_interval, deadline - now)


def check_wait(timeout: float | None, poll_interval: float) -> None:
    """
    :raises ValueError: a negative ``timeout`` or a ``poll_interval`` that is not
        positive.
    """
    if timeout is not None and timeout < 0:
        raise ValueError(f"timeout must be 0 or more seconds (or None), not {timeout}")
    if poll_interval <= 0:
        raise ValueError(f"poll_interval must be positive, not {poll_interval}")


async def _listen(target: connector.BaseConnector, woken: connector.Notify) -> None:
    try:
        await target.listen_notify(
            on_notification=woken, channels=[facts.JOB_FINISHED_CHANNEL]
        )
    except exceptions.SyncConnectorConfigurationError:
        return
    except Exception as exc:
        # A custom connector's listener may fail its own way: reading the job every
        # poll interval still finds its end.
        logger.warning(
            f"Cannot listen for finished jobs ({utils.safe_repr(exc)}): waiting by "
            "polling only",
            extra={"action": "wait_listen_error"},
        )


async def wait_async(
    target: connector.BaseConnector,
    job_id: int,
    timeout: float | None,
    poll_interval: float = ASYNC_POLL_INTERVAL,
) -> JobResult:
    """
    Wait until the job reaches a final status, and return its result. A
    notification of the job's end wakes the wait (on a connector that can
    ``LISTEN``); the job is also read every ``poll_interval`` seconds, which finds a
    job whose notification was missed (sent before the listener started, or lost
    with its connection).

    :param target: the app's connector.
    :param timeout: how many seconds to wait at most; ``None``: as long as it takes.
    :raises JobNotFound: there is no such job, or it was deleted meanwhile.
    :raises JobWaitTimeout: the job did not finish within ``timeout``.
    :raises ValueError: a negative ``timeout``, a ``poll_interval`` not positive.
    """
    check_wait(timeout, poll_interval)
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    woken = asyncio.Event()

    async def on_notification(*, channel: str, payload: str) -> None:
        if job_id in finished_ids(payload):
            woken.set()

    listener = asyncio.create_task(_listen(target, on_notification))
    try:
        while True:
            # Cleared before the read: a notification sent after it is not lost.
            woken.clear()
            found = await runner.run_async(target, read_job_result(job_id))
            delay = next_wait(found, deadline, loop.time(), poll_interval)
            if delay is None:
                return found
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(woken.wait(), delay)
    finally:
        # Cancelled again until it ends: before Python 3.12, asyncio.wait_for (in
        # aiopg's every statement, for one) swallows a cancellation that comes as
        # its inner wait ends, and the listener would then listen for ever.
        await utils.cancel_and_capture_errors([listener])


def wait(
    target: connector.BaseConnector,
    job_id: int,
    timeout: float | None,
    poll_interval: float = SYNC_POLL_INTERVAL,
) -> JobResult:
    """Synchronous :func:`wait_async`, which only reads the job every
    ``poll_interval`` seconds: a synchronous connector cannot ``LISTEN``."""
    check_wait(timeout, poll_interval)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        found = runner.run(target, read_job_result(job_id))
        delay = next_wait(found, deadline, time.monotonic(), poll_interval)
        if delay is None:
            return found
        time.sleep(delay)
