"""Fixtures of the benchmarks, and the summary table printed at the end of the run.

pytest-benchmark calls its target synchronously, so the async API is driven from an
event loop owned by the test (:class:`Bench`), on which the app's pool is opened. Each
benchmark gets a fresh database (the ``db_name`` fixture) and resets it in its setup.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import psycopg
import pytest

import procrastinate
from procrastinate import tasks

T = TypeVar("T")

RESULTS = pytest.StashKey[list["Figure"]]()

RESET = """
    TRUNCATE procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs,
        procrastinate_workers
    RESTART IDENTITY
"""


@dataclasses.dataclass(frozen=True)
class Figure:
    """One measured run: how many jobs it handled, in how long."""

    name: str
    jobs: int
    seconds: float

    @property
    def jobs_per_second(self) -> float:
        return self.jobs / self.seconds


class Bench:
    """An open app with a no-op task, driven from its own event loop."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, conninfo: str, figures: list[Figure]
    ) -> None:
        self.loop = loop
        self.conninfo = conninfo
        self.figures = figures
        self.app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(conninfo=conninfo)
        )
        self.noop = self._register_noop()

    def _register_noop(self) -> tasks.Task[Any, Any, Any]:
        @self.app.task(name="noop")
        async def noop() -> None:
            """Does nothing: what is measured is the queue around it."""

        return noop

    def run(self, awaitable: Awaitable[T]) -> T:
        return self.loop.run_until_complete(awaitable)

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        """Run SQL on a connection of its own (outside the app's pool)."""
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            cursor = conn.execute(query)
            return cursor.fetchall() if cursor.description else []

    def reset(self) -> None:
        """Empty every procrastinate table: the state of a new database."""
        self.sql(RESET)

    def measured(
        self, name: str, jobs: int, action: Callable[[], Awaitable[Any]]
    ) -> Callable[[], None]:
        """
        A benchmark target running ``action`` once and recording its duration as a
        :class:`Figure` (pytest-benchmark's own stats are absent when it is disabled).
        """

        def target() -> None:
            start = time.perf_counter()
            self.run(action())
            self.figures.append(Figure(name, jobs, time.perf_counter() - start))

        return target


@pytest.fixture
def figures(pytestconfig: pytest.Config) -> list[Figure]:
    return pytestconfig.stash.setdefault(RESULTS, [])


@pytest.fixture
def bench(conninfo: str, figures: list[Figure]) -> Iterator[Bench]:
    loop = asyncio.new_event_loop()
    bench = Bench(loop, conninfo, figures)
    bench.run(bench.app.open_async())
    try:
        yield bench
    finally:
        bench.run(bench.app.close_async())
        loop.close()


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    figures = config.stash.get(RESULTS, [])
    if not figures:
        return
    width = max(len(figure.name) for figure in figures)
    terminalreporter.section("procrastinate benchmarks")
    terminalreporter.write_line(
        f"{'benchmark':<{width}}  {'jobs':>7}  {'seconds':>8}  {'jobs/s':>8}"
    )
    for figure in figures:
        terminalreporter.write_line(
            f"{figure.name:<{width}}  {figure.jobs:>7}  {figure.seconds:>8.3f}  "
            f"{figure.jobs_per_second:>8.0f}"
        )
