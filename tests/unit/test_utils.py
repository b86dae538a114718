"""Small helpers."""

from __future__ import annotations

import datetime
import sys

import pytest

from procrastinate import utils


def test_parse_datetime_iso() -> None:
    assert utils.parse_datetime(
        "2020-01-02T03:04:05+02:00"
    ).utcoffset() == datetime.timedelta(hours=2)
    assert utils.parse_datetime("2020-01-02 03:04").tzinfo == datetime.timezone.utc
    assert utils.parse_datetime("2020-01-02T03:04Z").hour == 3
    assert utils.parse_datetime("2020-01-02") == datetime.datetime(
        2020, 1, 2, tzinfo=datetime.timezone.utc
    )


@pytest.mark.parametrize(
    "raw",
    [
        "tomorrow-ish",
        # dateutil read this as the 5th of the current month.
        "5",
        # A time zone name: dateutil warned and stored the time as UTC.
        "2030-01-01T10:00 PST",
        "Jan 2 2020 3:04",
        "2030",
        "2030-01",
    ],
)
def test_parse_datetime_refuses_ambiguous_forms(raw: str) -> None:
    with pytest.raises(ValueError, match=r"not an ISO 8601 date and time: use e\.g\. "):
        utils.parse_datetime(raw)


@pytest.mark.parametrize(
    "raw",
    [
        # Year 10000 in UTC: listing the jobs failed for the whole table.
        "9999-12-31T23:59:59-14:00",
        # Before year 1 in UTC: the worker could not load the job.
        "0001-01-01T00:00:00+14:00",
    ],
)
def test_parse_datetime_refuses_out_of_range(raw: str) -> None:
    with pytest.raises(ValueError, match=r"^--at=.* is out of range: schedule between"):
        utils.parse_datetime(raw, "--at")


def test_check_schedule() -> None:
    with pytest.raises(TypeError, match="schedule_at must be a datetime, not str"):
        utils.check_schedule("2030-01-01", "schedule_at")
    with pytest.raises(ValueError, match="schedule_at=2030-01-01T00:00:00 has no time"):
        utils.check_schedule(datetime.datetime(2030, 1, 1), "schedule_at")
    edge = utils.LATEST_SCHEDULE
    assert utils.check_schedule(edge, "schedule_at") is edge


def test_schedule_from_delay_names_what_is_wrong() -> None:
    with pytest.raises(TypeError, match="schedule_in must be a dict"):
        utils.schedule_from_delay(30)
    with pytest.raises(TypeError, match=r"schedule_in=\{'day': 1\} is not a valid"):
        utils.schedule_from_delay({"day": 1})
    with pytest.raises(ValueError, match="out of range"):
        utils.schedule_from_delay({"seconds": float("nan")})
    delay = utils.schedule_from_delay({"hours": 1}) - utils.utcnow()
    assert datetime.timedelta(minutes=59) < delay <= datetime.timedelta(hours=1)


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("task_kwargs", "message"),
    [
        ({"a": float("nan")}, r"^Task argument a is NaN, which PostgreSQL"),
        ({"a": {"b": [1, float("-inf")]}}, r"^Task argument a\['b'\]\[1\] is -Inf"),
        ({"a": "x\x00"}, r"^Task argument a contains a NUL character"),
        ({"a\x00": 1}, r"^The name of task argument 'a\\x00' contains a NUL"),
        ({"a": {"k\x00": 1}}, r"^A key of task argument a contains a NUL"),
        ({"a": "\ud800"}, r"^Task argument a contains '\\ud800', a lone surrogate"),
        pytest.param(
            {"a": 10**5000},
            r"^Task argument a is an integer of more than 4300 digits",
            marks=pytest.mark.skipif(
                not hasattr(sys, "get_int_max_str_digits"),
                reason="Python < 3.11 has no limit on the digits of an int",
            ),
        ),
        ({"a": _nested(600)}, r"^Task argument a is nested more than 500 levels"),
    ],
)
def test_check_json_args_refuses_what_postgresql_refuses(
    task_kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        utils.check_json_args(task_kwargs)


def test_check_json_args_accepts_json() -> None:
    utils.check_json_args(
        {"a": [1, 2.5, {"b": None, "c": True}], "d": "text", "e": _nested(400)}
    )


async def test_awaitable_context_both_ways() -> None:
    events: list[str] = []

    async def opening() -> None:
        events.append("open")

    async def closing() -> None:
        events.append("close")

    assert await utils.AwaitableContext(opening, closing, 42) == 42
    async with utils.AwaitableContext(opening, closing, 43) as value:
        assert value == 43
    assert events == ["open", "open", "close"]


def test_queues_display() -> None:
    assert utils.queues_display(None) == "all queues"
    assert utils.queues_display(["a", "b"]) == "queues a, b"


def test_causes_walks_the_chain() -> None:
    outer = ValueError("outer")
    outer.__cause__ = KeyError("inner")
    assert [type(e) for e in utils.causes(outer)] == [ValueError, KeyError]


def test_missing_extra_says_what_to_install() -> None:
    error = utils.missing_extra("The metrics", "prometheus_client", "metrics")

    assert isinstance(error, ImportError)
    assert str(error) == (
        "The metrics need the prometheus_client package: "
        "pip install 'procrastinate[metrics]'"
    )
