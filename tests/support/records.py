"""Reading what workers did from the test database: jobs, events, workers, sessions.

The tasks of the subprocess suites (``tests/acceptance/app.py``) record their runs in
the ``acceptance_events`` table (:data:`EVENTS_DDL`), which :meth:`Database.events` and
:meth:`Database.spans` read.
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
from typing import Any

import psycopg
from psycopg.rows import dict_row

from . import databases

EVENTS_DDL = """
    CREATE TABLE acceptance_events (
        id bigserial PRIMARY KEY,
        job_id bigint NOT NULL,
        task text NOT NULL,
        event text NOT NULL,
        pid integer NOT NULL,
        -- clock_timestamp, not now(): several events of one transaction must differ.
        at timestamptz NOT NULL DEFAULT clock_timestamp()
    )
"""


@dataclasses.dataclass(frozen=True)
class Span:
    """One job's run as recorded by the ``track`` task."""

    job_id: int
    start: datetime.datetime
    end: datetime.datetime | None
    pid: int


@dataclasses.dataclass
class Database:
    """Reads the test database: jobs, task events, workers, connections."""

    connection: psycopg.Connection[Any]
    name: str

    def rows(self, query: str, **params: Any) -> list[dict[str, Any]]:
        """The rows of ``query`` as dicts; ``params`` fill its ``%(name)s``."""
        with self.connection.cursor(row_factory=dict_row) as cursor:
            cursor.execute(query, params)
            return cursor.fetchall()

    def value(self, query: str, **params: Any) -> Any:
        """The first column of the first row of ``query``, or None without rows."""
        rows = self.rows(query, **params)
        return next(iter(rows[0].values())) if rows else None

    def jobs(self) -> list[dict[str, Any]]:
        """Every job, by id."""
        return self.rows("SELECT * FROM procrastinate_jobs ORDER BY id")

    def job(self, job_id: int) -> dict[str, Any]:
        """One job.

        :raises ValueError: there is no such job.
        """
        (job,) = self.rows(
            "SELECT * FROM procrastinate_jobs WHERE id = %(id)s", id=job_id
        )
        return job

    def count_jobs(self) -> int:
        """How many jobs there are."""
        return int(self.value("SELECT count(*) FROM procrastinate_jobs"))

    def statuses(self) -> dict[int, str]:
        """The status of each job, by id."""
        return {job["id"]: job["status"] for job in self.jobs()}

    def all_finished(self, count: int) -> bool:
        """Whether ``count`` jobs exist and none is waiting or running."""
        statuses = self.statuses()
        return len(statuses) == count and not {"todo", "doing"} & set(statuses.values())

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        """Task events in the order they happened."""
        return self.rows(
            "SELECT * FROM acceptance_events "
            "WHERE %(event)s::text IS NULL OR event = %(event)s ORDER BY at, id",
            event=event,
        )

    def start_times(self) -> list[datetime.datetime]:
        """When each job started, by its ``started`` events (the start of the
        transaction of the fetch that took it), in order."""
        rows = self.rows(
            "SELECT at FROM procrastinate_events WHERE type = 'started' ORDER BY at"
        )
        return [row["at"] for row in rows]

    def job_events(self, job_id: int) -> list[str]:
        """The events procrastinate itself stored for a job (procrastinate_events)."""
        rows = self.rows(
            "SELECT type::text FROM procrastinate_events "
            "WHERE job_id = %(id)s ORDER BY id",
            id=job_id,
        )
        return [row["type"] for row in rows]

    def spans(self) -> list[Span]:
        """The runs of ``track`` jobs, in the order they started."""
        rows = self.rows(
            """
            SELECT job_id,
                min(at) FILTER (WHERE event = 'start') AS start,
                max(at) FILTER (WHERE event = 'end') AS end,
                min(pid) AS pid
            FROM acceptance_events
            GROUP BY job_id
            ORDER BY start, job_id
            """
        )
        return [Span(**row) for row in rows]

    def deferred_at(self, job_id: int) -> datetime.datetime:
        """When the job was deferred, by the database clock."""
        return self.value(  # type: ignore[no-any-return]
            "SELECT at FROM procrastinate_events "
            "WHERE job_id = %(id)s AND type = 'deferred'",
            id=job_id,
        )

    def now(self) -> datetime.datetime:
        """The database clock."""
        return self.value("SELECT clock_timestamp()")  # type: ignore[no-any-return]

    def workers_count(self) -> int:
        """How many workers are registered."""
        return int(self.value("SELECT count(*) FROM procrastinate_workers"))

    def newest_worker_id(self) -> int:
        """The id of the last worker to register (ids only grow), 0 before any."""
        return int(self.value("SELECT coalesce(max(id), 0) FROM procrastinate_workers"))

    def listening_connections(self) -> int:
        """Connections to this database whose last statement was a LISTEN."""
        return databases.listening_sessions(self.connection)


def max_running_at_once(spans: list[Span]) -> int:
    """The largest number of runs in progress at one instant."""
    changes = sorted(
        itertools.chain(
            ((span.start, 1) for span in spans),
            # At equal times the end sorts first: a job ending as another starts
            # did not run alongside it.
            ((span.end, -1) for span in spans if span.end is not None),
        )
    )
    running = peak = 0
    for _, change in changes:
        running += change
        peak = max(peak, running)
    return peak


def most_starts_within(starts: list[datetime.datetime], window: float) -> int:
    """The largest number of ``starts`` (sorted) that fall in one sliding window of
    ``window`` seconds."""
    span = datetime.timedelta(seconds=window)
    most = first = 0
    for last, start in enumerate(starts):
        while start - starts[first] >= span:
            first += 1
        most = max(most, last - first + 1)
    return most
