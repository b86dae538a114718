"""The throughput chart: jobs ended per minute over the last hour, as stacked bars
drawn by the server (SVG), so that the page needs no JavaScript."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attr

MINUTES = 60
# Stacking order, bottom up, with the CSS class of each kind of ending.
KINDS = (
    ("succeeded", "succeeded"),
    ("deferred_for_retry", "retried"),
    ("failed", "failed"),
    ("aborted", "aborted"),
)
WIDTH = 600
HEIGHT = 160
BAR_GAP = 1


@attr.dataclass(frozen=True, kw_only=True)
class Bar:
    """One rectangle of the chart."""

    x: float
    y: float
    width: float
    height: float
    css_class: str
    title: str


@attr.dataclass(frozen=True, kw_only=True)
class Chart:
    """What the template draws."""

    bars: list[Bar]
    maximum: int
    total: dict[str, int]
    covered_minutes: int
    width: int = WIDTH
    height: int = HEIGHT


def build(rows: Iterable[dict[str, Any]]) -> Chart:
    """The chart of the rows of the ``dashboard_throughput`` query."""
    counts: dict[tuple[int, str], int] = {}
    covered_seconds = MINUTES * 60
    for row in rows:
        if row["minute"] < 0:
            covered_seconds = row["jobs"]
            continue
        counts[(row["minute"], row["type"])] = row["jobs"]
    per_minute = [
        sum(counts.get((minute, kind), 0) for kind, _ in KINDS)
        for minute in range(MINUTES)
    ]
    maximum = max(per_minute, default=0)
    slot = WIDTH / MINUTES
    bars: list[Bar] = []
    for minute in range(MINUTES):
        # Minute 0 (the current one) is on the right.
        x = WIDTH - (minute + 1) * slot
        bottom = float(HEIGHT)
        for kind, css_class in KINDS:
            jobs = counts.get((minute, kind), 0)
            if not jobs:
                continue
            height = HEIGHT * jobs / maximum
            bottom -= height
            bars.append(
                Bar(
                    x=round(x, 2),
                    y=round(bottom, 2),
                    width=round(slot - BAR_GAP, 2),
                    height=round(height, 2),
                    css_class=css_class,
                    title=f"{jobs} {css_class}, {minute} min ago",
                )
            )
    total = {
        css_class: sum(counts.get((minute, kind), 0) for minute in range(MINUTES))
        for kind, css_class in KINDS
    }
    return Chart(
        bars=bars,
        maximum=maximum,
        total=total,
        covered_minutes=min(MINUTES, covered_seconds // 60),
    )
