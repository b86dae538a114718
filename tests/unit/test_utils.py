"""Small helpers."""

from __future__ import annotations

import datetime

import pytest

from procrastinate import utils


def test_parse_datetime_iso_and_lenient() -> None:
    assert utils.parse_datetime(
        "2020-01-02T03:04:05+02:00"
    ).utcoffset() == datetime.timedelta(hours=2)
    assert utils.parse_datetime("2020-01-02 03:04").tzinfo == datetime.timezone.utc
    assert utils.parse_datetime("Jan 2 2020 3:04").year == 2020


def test_parse_datetime_error() -> None:
    with pytest.raises(ValueError, match="not a valid date"):
        utils.parse_datetime("tomorrow-ish")


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
