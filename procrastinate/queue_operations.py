"""The database operations on queues: their limits, shared by every worker, and their
state (paused or active). Declared like those of :mod:`procrastinate.operations`
(named query, arguments, rows), performed by :mod:`procrastinate.runner`.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

import attr

from procrastinate import exceptions, jobs, utils
from procrastinate.operations import any_row, no_arguments, nothing
from procrastinate.runner import Arguments, Operation, Result
from procrastinate.sql import facts


@attr.dataclass(frozen=True, kw_only=True)
class QueueLimit:
    """
    The limits of a queue, which every worker's fetch honours together.

    :param queue: the queue's name.
    :param max_running: at most this many of its jobs run at once, or ``None``.
    :param max_starts: at most this many of its jobs start in any ``per_seconds``,
        or ``None``.
    :param per_seconds: the period of ``max_starts``, in seconds.
    :param running: how many of its jobs were running when the limits were read.
    """

    queue: str
    max_running: int | None = None
    max_starts: int | None = None
    per_seconds: float | None = None
    running: int = 0


def limit_text(
    max_running: int | None, max_starts: int | None, per: float | None
) -> str:
    """The limits of a queue, in words: ``at most 2 running, at most 10 starts per
    60 s``."""
    parts = []
    if max_running is not None:
        parts.append(f"at most {max_running} running")
    if max_starts is not None:
        parts.append(f"at most {max_starts} starts per {per:g} s")
    return ", ".join(parts)


def _check_count(value: Any, name: str, high: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 1 or (high is not None and value > high):
        bounds = f"1 to {high}" if high is not None else "1 or more"
        raise ValueError(f"{name}={value} is out of range: use {bounds}")


def queue_limit_arguments(
    queue: str,
    max_running: int | None = None,
    max_starts: int | None = None,
    per: float | datetime.timedelta | None = None,
) -> Arguments:
    """
    The arguments of ``set_queue_limit``, checked like the table's constraint.

    :raises TypeError: a value of the wrong type.
    :raises ValueError: no limit given, ``max_starts`` without ``per`` (or the
        reverse), or a value out of range.
    """
    if not isinstance(queue, str) or not queue:
        raise ValueError("the queue must be a non-empty name")
    if len(queue) > facts.MAX_NAME_LENGTH:
        raise ValueError(f"the queue name is longer than {facts.MAX_NAME_LENGTH}")
    utils.check_text(queue, "queue")
    if max_running is None and max_starts is None:
        raise ValueError("give max_running, max_starts (with per), or both")
    if max_running is not None:
        _check_count(max_running, "max_running")
    if (max_starts is None) != (per is None):
        raise ValueError("max_starts and per go together: at most N starts per period")
    per_seconds = None
    if max_starts is not None:
        _check_count(max_starts, "max_starts", facts.MAX_STARTS_LIMIT)
        per_seconds = (
            per.total_seconds() if isinstance(per, datetime.timedelta) else per
        )
        if (
            not isinstance(per_seconds, int | float)
            or isinstance(per_seconds, bool)
            or not math.isfinite(per_seconds)
            or per_seconds <= 0
        ):
            raise ValueError(f"per must be a positive number of seconds, not {per!r}")
    return {
        "queue_name": queue,
        "max_running": max_running,
        "max_starts": max_starts,
        "per_seconds": float(per_seconds) if per_seconds is not None else None,
    }


def queue_limits(result: Result, *_: Any, **__: Any) -> list[QueueLimit]:
    """The rows of ``list_queue_limits``."""
    return [
        QueueLimit(
            queue=row["queue_name"],
            max_running=row["max_running"],
            max_starts=row["max_starts"],
            per_seconds=row["per_seconds"],
            running=row["running"],
        )
        for row in result.rows
    ]


def queue_name_argument(queue: str) -> str:
    """
    A queue name as the queue state queries take it.

    :raises InvalidQueueName: empty, longer than a job's queue name can be, or holding
        what PostgreSQL cannot store in text.
    """
    if not queue or len(queue) > facts.MAX_NAME_LENGTH:
        shown = repr(queue) if len(queue) <= 40 else f"{queue[:40]!r}..."
        raise exceptions.InvalidQueueName(
            f"A queue name has 1 to {facts.MAX_NAME_LENGTH} characters, got {shown} "
            f"({len(queue)} characters)"
        )
    try:
        utils.check_text(queue, "The queue name")
    except ValueError as exc:
        raise exceptions.InvalidQueueName(str(exc)) from None
    return queue


def set_queue_paused_arguments(queue: str, pause: bool) -> Arguments:
    """The arguments of ``set_queue_paused``.

    :raises InvalidQueueName: see :func:`queue_name_argument`.
    """
    return {"queue_name": queue_name_argument(queue), "pause": pause}


def list_queue_states_arguments(queue: str | None = None) -> Arguments:
    """The arguments of ``list_queue_states``: all queues, or only ``queue``."""
    return {"queue_name": queue}


def queue_states(result: Result, *_: Any, **__: Any) -> list[jobs.QueueState]:
    """Rows of ``list_queue_states``."""
    return [
        jobs.QueueState(
            name=row["name"], paused=row["paused"], paused_at=row["paused_at"]
        )
        for row in result.rows
    ]


# The declarations.

#: Pause or resume a queue: whether its state changed.
set_queue_paused = Operation(
    "set_queue_paused",
    set_queue_paused_arguments,
    lambda result, *_: bool(result.rows[0]["changed"]),
    fetch="one",
)
list_queue_states = Operation(
    "list_queue_states", list_queue_states_arguments, queue_states
)
set_queue_limit = Operation(
    "set_queue_limit", queue_limit_arguments, nothing, fetch="none"
)
#: Whether the queue had limits.
clear_queue_limit = Operation(
    "clear_queue_limit", lambda queue: {"queue_name": queue}, any_row
)
list_queue_limits = Operation("list_queue_limits", no_arguments, queue_limits)
