"""Turns the runs of a comparison into medians with ranges, checks ours against the
targets of issue 14, and writes the table (Markdown), the raw results (JSON) and the
chart (PNG)."""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.benchmarks.compare.harness import Run

PEER = "pgqueuer-1.6"
FULL_FINISHED_ROWS = 10_000_000


def rate(run: Run, _: dict[str, Run]) -> float:
    """Jobs per second."""
    return run.jobs / run.seconds


def transactions_per_job(run: Run, _: dict[str, Run]) -> float:
    """Server transactions per job."""
    return (run.transactions or 0) / run.jobs


def cpu_per_job(run: Run, _: dict[str, Run]) -> float:
    """Client CPU microseconds per job."""
    return run.cpu_seconds / run.jobs * 1e6


def p50(run: Run, _: dict[str, Run]) -> float:
    return run.p50_ms or 0.0


def p99(run: Run, _: dict[str, Run]) -> float:
    return run.p99_ms or 0.0


def finished_ratio(run: Run, same_repetition: dict[str, Run]) -> float:
    """Throughput among finished jobs over throughput on an empty table, both of the
    same repetition."""
    return rate(run, same_repetition) / rate(same_repetition["worker-async"], {})


@dataclasses.dataclass(frozen=True)
class Metric:
    """A row of the table: which runs it reads, how, and ours' target."""

    label: str
    workload: str
    value: Callable[[Run, dict[str, Run]], float]
    target: str
    threshold: float
    # Whether the target is a floor (rates) or a ceiling (costs, latencies).
    floor: bool = True
    digits: int = 0
    # Ours must also beat pgqueuer's median of the same run by this factor.
    peer_factor: float | None = None

    def reached(self, value: float) -> bool:
        """Whether ``value`` meets the threshold."""
        return value >= self.threshold if self.floor else value <= self.threshold


METRICS = (
    Metric(
        "worker, async no-op, concurrency 10 (jobs/s)",
        "worker-async",
        rate,
        ">= 6,000 and >= 2.5x pgqueuer",
        6_000,
        peer_factor=2.5,
    ),
    Metric(
        "worker, sync no-op, concurrency 10 (jobs/s)",
        "worker-sync",
        rate,
        ">= 3,000",
        3_000,
    ),
    Metric(
        "server transactions per executed job",
        "worker-async",
        transactions_per_job,
        "<= 0.2",
        0.2,
        floor=False,
        digits=2,
    ),
    Metric(
        "client CPU per executed job, C=10 (us)",
        "worker-async",
        cpu_per_job,
        "<= 150",
        150,
        floor=False,
    ),
    Metric(
        "`defer_async` one by one (jobs/s)",
        "defer-one",
        rate,
        ">= 1,500",
        1_500,
    ),
    Metric(
        "client CPU per `defer_async` (us)",
        "defer-one",
        cpu_per_job,
        "<= 250",
        250,
        floor=False,
    ),
    Metric(
        "`batch_defer_async`, 1,000 per call (jobs/s)",
        "batch-defer",
        rate,
        ">= 40,000",
        40_000,
    ),
    Metric(
        "defer-to-start latency p50 (ms)",
        "latency",
        p50,
        "<= 3",
        3,
        floor=False,
        digits=1,
    ),
    Metric(
        "defer-to-start latency p99 (ms)",
        "latency",
        p99,
        "<= 8",
        8,
        floor=False,
        digits=1,
    ),
    Metric(
        "C=10 throughput with N finished jobs / with none",
        "finished",
        finished_ratio,
        ">= 0.95 at 10M",
        0.95,
        digits=2,
    ),
)


@dataclasses.dataclass(frozen=True)
class Figures:
    """The values of one metric for one contestant, one per repetition."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        """The median over the repetitions."""
        return statistics.median(self.values)

    def as_dict(self) -> dict[str, Any]:
        """Median, range and every value, as a JSON object."""
        return {
            "median": self.median,
            "min": min(self.values),
            "max": max(self.values),
            "values": list(self.values),
        }

    def text(self, digits: int) -> str:
        """``median (min-max)``, or the value alone when there is no range."""
        low, high = min(self.values), max(self.values)
        if len(self.values) == 1 or low == high:
            return f"{self.median:,.{digits}f}"
        return f"{self.median:,.{digits}f} ({low:,.{digits}f}-{high:,.{digits}f})"


def figures(metric: Metric, runs: Sequence[Run]) -> dict[str, Figures]:
    """The metric's figures per contestant, in the contestants' order."""
    by_repetition: dict[tuple[str, int], dict[str, Run]] = {}
    for run in runs:
        by_repetition.setdefault((run.contestant, run.repetition), {})[run.workload] = (
            run
        )
    values: dict[str, list[float]] = {}
    for (contestant, _), same in by_repetition.items():
        if metric.workload in same:
            values.setdefault(contestant, []).append(
                metric.value(same[metric.workload], same)
            )
    return {name: Figures(tuple(found)) for name, found in values.items()}


def verdict(
    metric: Metric, found: dict[str, Figures], finished_rows: int
) -> bool | None:
    """Whether ours meets the metric's target: None when ours was not measured, or
    when the target needs pgqueuer's figure from the same run and it is missing."""
    ours = found.get("ours")
    if ours is None:
        return None
    if metric.peer_factor is not None:
        peer = found.get(PEER)
        if peer is None:
            return None
        if ours.median < metric.peer_factor * peer.median:
            return False
    if metric.workload == "finished" and finished_rows < FULL_FINISHED_ROWS:
        return None
    return metric.reached(ours.median)


def summarize(
    runs: Sequence[Run], contestants: Sequence[str], finished_rows: int
) -> list[dict[str, Any]]:
    """One entry per metric measured: figures per contestant, target and verdict."""
    rows = []
    for metric in METRICS:
        found = figures(metric, runs)
        if not found:
            continue
        rows.append(
            {
                "metric": metric.label,
                "digits": metric.digits,
                "figures": {
                    name: found[name].as_dict() for name in contestants if name in found
                },
                "target": metric.target,
                "threshold": metric.threshold,
                "met": verdict(metric, found, finished_rows),
            }
        )
    return rows


VERDICTS = {True: "met", False: "not met", None: "not checked"}


def markdown(summary: Sequence[dict[str, Any]], contestants: Sequence[str]) -> str:
    """The table of medians, with ranges (min-max over the repetitions)."""
    header = ["metric", *contestants, "target (ours)", "met"]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for row in summary:
        cells = [row["metric"]]
        for name in contestants:
            found = row["figures"].get(name)
            cells.append(
                Figures(tuple(found["values"])).text(row["digits"]) if found else "-"
            )
        cells += [row["target"], VERDICTS[row["met"]]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def chart(
    summary: Sequence[dict[str, Any]], contestants: Sequence[str], path: Path
) -> None:
    """One panel per metric: a bar per contestant at its median, a line over its
    range, and ours' target as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    columns = 5
    rows = -(-len(summary) // columns)
    figure, axes = pyplot.subplots(
        rows, columns, figsize=(15, 3.2 * rows), squeeze=False
    )
    colours = ["#2f6f9f", "#b0b0b0", "#e39a3b", "#6a9f4f"]
    for axis, row in zip(axes.flat, summary):
        names = [name for name in contestants if name in row["figures"]]
        found = [row["figures"][name] for name in names]
        medians = [entry["median"] for entry in found]
        errors = [
            [entry["median"] - entry["min"] for entry in found],
            [entry["max"] - entry["median"] for entry in found],
        ]
        axis.bar(
            names,
            medians,
            yerr=errors,
            color=[colours[contestants.index(name) % len(colours)] for name in names],
            capsize=4,
        )
        axis.axhline(row["threshold"], color="#c0392b", linestyle="--", linewidth=1)
        axis.set_title(row["metric"].replace("`", ""), fontsize=9, wrap=True)
        axis.tick_params(axis="x", labelsize=8, rotation=15)
        axis.tick_params(axis="y", labelsize=8)
    for axis in list(axes.flat)[len(summary) :]:
        axis.set_visible(False)
    figure.tight_layout()
    figure.savefig(path, dpi=72)
    pyplot.close(figure)


def write(
    folder: Path,
    runs: Sequence[Run],
    contestants: Sequence[str],
    meta: dict[str, Any],
) -> dict[str, Any]:
    """Write ``table.md``, ``results.json`` and ``chart.png`` into ``folder``; return
    what went into the JSON file."""
    folder.mkdir(parents=True, exist_ok=True)
    summary = summarize(runs, contestants, meta["counts"]["finished_rows"])
    table = markdown(summary, contestants)
    (folder / "table.md").write_text(table)
    results = {
        "meta": meta,
        "contestants": list(contestants),
        "summary": summary,
        "runs": [run.as_dict() for run in runs],
    }
    (folder / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    chart(summary, contestants, folder / "chart.png")
    return results
