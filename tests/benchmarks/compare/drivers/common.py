"""What every driver shares: the command line, the measure of CPU and time, the
result line.

A driver is run by the harness with the interpreter of the library's own venv, so it
imports nothing from the repository but the modules of its folder (``sys.path[0]``).
It reaches the database named by the libpq variables (PG*), which asyncpg reads too.

Phases: ``install`` creates the library's schema, ``fill`` adds finished jobs,
``prepare`` defers the jobs a worker workload will run, ``run`` measures a workload
and prints its result as one JSON line on standard output.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CONCURRENCY = 10
BATCH_SIZE = 1_000
QUEUE = "default"
# Latency samples: the first jobs only warm the worker up; each later job is deferred
# this long after the previous one started, so that it finds an idle, listening worker.
WARM_UP = 5
ARRIVAL_GAP = 0.005


def parse_args() -> argparse.Namespace:
    """The phase, the workload and the job count given by the harness."""
    parser = argparse.ArgumentParser()
    parser.add_argument("phase", choices=["install", "fill", "prepare", "run"])
    parser.add_argument("workload", nargs="?", default="")
    parser.add_argument("--jobs", type=int, default=0)
    return parser.parse_args()


def cpu_seconds() -> float:
    """CPU time (user + system) of this process so far, every thread included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Measure:
    """Wall-clock and CPU time of the measured part of a run."""

    seconds = 0.0
    cpu = 0.0


@contextmanager
def measured() -> Iterator[Measure]:
    """Time the block, in wall-clock seconds and in CPU seconds of this process."""
    figures = Measure()
    wall, cpu = time.perf_counter(), cpu_seconds()
    yield figures
    figures.seconds = time.perf_counter() - wall
    figures.cpu = cpu_seconds() - cpu


def report(jobs: int, figures: Measure, **extra: Any) -> None:
    """Print the result line the harness reads."""
    line = {"jobs": jobs, "seconds": figures.seconds, "cpu_seconds": figures.cpu}
    json.dump({**line, **extra}, sys.stdout)
    sys.stdout.write("\n")


def latency_summary(latencies: list[float]) -> dict[str, float]:
    """p50 and p99 of defer-to-start latencies given in seconds, in milliseconds."""
    centiles = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"p50_ms": centiles[49] * 1000, "p99_ms": centiles[98] * 1000}
