"""Type aliases shared across procrastinate."""

from __future__ import annotations

from typing import Any, TypeAlias

from typing_extensions import TypedDict

JSONValue: TypeAlias = (
    dict[str, "JSONValue"] | list["JSONValue"] | str | int | float | bool | None
)
JSONDict: TypeAlias = dict[str, Any]


class TimeDeltaParams(TypedDict, total=False):
    """Keyword arguments of :class:`datetime.timedelta`, as accepted by ``schedule_in``."""

    weeks: float
    days: float
    hours: float
    minutes: float
    seconds: float
    milliseconds: float
    microseconds: float
