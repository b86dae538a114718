"""What the ``procrastinate`` command line accepts as values: each reader turns one
argument (or environment variable) into what the app takes, or refuses it with a
message that says what was expected. No I/O here."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from procrastinate import (
    exceptions,
    queue_operations,
    tasks,
    types,
    utils,
    worker_options,
)


def env_bool(value: str) -> bool:
    """Read a boolean from an environment variable: 1/y/t/on or 0/n/f/off."""
    lowered = value.strip().lower()
    if lowered in ("1", "y", "yes", "t", "true", "on"):
        return True
    if lowered in ("0", "n", "no", "f", "false", "off"):
        return False
    raise ValueError(f"{value!r} is not a boolean (use 1 or 0, true or false)")


def parse_queues(raw: str) -> list[str] | None:
    """Comma-separated queue names; empty means all queues."""
    queues = [queue.strip() for queue in raw.split(",") if queue.strip()]
    return queues or None


def parse_queue_name(raw: str) -> str:
    """One queue name, as ``queue pause`` and ``queue resume`` take it."""
    try:
        return queue_operations.queue_name_argument(raw)
    except exceptions.InvalidQueueName as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_concurrency(raw: str) -> int:
    """A number of jobs at once, for ``--concurrency``."""
    return _parse_whole_number(raw, worker_options.MAX_CONCURRENCY)


def parse_outcome_batch_size(raw: str) -> int:
    """A number of outcomes per statement, for ``--outcome-batch-size``."""
    return _parse_whole_number(raw, worker_options.MAX_OUTCOME_BATCH_SIZE)


def parse_positive_int(raw: str) -> int:
    """A whole number, 1 or more, for the limits of ``procrastinate queue limit``."""
    return _parse_whole_number(raw, None)


def _parse_whole_number(raw: str, highest: int | None) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value >= 1 and (highest is None or value <= highest):
        return value
    expected = ", 1 or more," if highest is None else f" from 1 to {highest},"
    raise argparse.ArgumentTypeError(f"expected a whole number{expected} got {raw!r}")


def parse_interval(raw: str) -> float:
    """A positive number of seconds, for the worker's intervals and timeouts."""
    return _parse_float_seconds(raw, zero=False)


def parse_timeout(raw: str) -> float:
    """A number of seconds, zero included, for ``--shutdown-graceful-timeout``."""
    return _parse_float_seconds(raw, zero=True)


def _parse_float_seconds(raw: str, *, zero: bool) -> float:
    try:
        worker_options.check_seconds("value", float(raw), zero=zero)
    except ValueError:
        kind = (
            "a number of seconds, 0 or more" if zero else "a number of seconds above 0"
        )
        raise argparse.ArgumentTypeError(f"expected {kind}, got {raw!r}") from None
    return float(raw)


def parse_seconds(raw: str) -> types.TimeDeltaParams:
    """A number of seconds, for ``--in``, that leads to a time in range."""
    try:
        seconds = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not a whole number of seconds: e.g. --in 3600"
        ) from None
    try:
        utils.schedule_from_delay({"seconds": seconds})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{seconds} seconds from now is out of range: schedule "
            f"{utils.SCHEDULE_RANGE}, e.g. --in 3600"
        ) from None
    return {"seconds": seconds}


def parse_datetime_argument(raw: str) -> Any:
    """An ISO 8601 date and time, for ``--at``."""
    try:
        return utils.parse_datetime(raw, "--at")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_priority(raw: str) -> int:
    """A priority, for ``--priority``: an int that PostgreSQL's ``integer`` holds."""
    try:
        priority = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not a whole number: e.g. --priority 7"
        ) from None
    try:
        tasks.check_priority(priority, "--priority")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return priority


def load_json_args(raw: str | None, json_loads: Callable[[str], Any]) -> types.JSONDict:
    """
    The task arguments given on the command line.

    :raises ValueError: not JSON, or not a JSON object.
    """
    if not raw:
        return {}
    try:
        args = json_loads(raw)
    except ValueError as exc:
        raise ValueError(
            f"Incorrect JSON_ARGS value {raw!r}: not valid JSON ({exc}). "
            "Expected an object such as '{\"a\": 1}'."
        ) from exc
    if not isinstance(args, dict):
        raise ValueError(
            f"Incorrect JSON_ARGS value {raw!r}: expected a JSON object such as "
            "'{\"a\": 1}', got " + type(args).__name__
        )
    return args
