"""``procrastinate queue limit|unlimit|limits``, and the limits and lock modes held by
real worker processes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.records import max_running_at_once, most_starts_within

if TYPE_CHECKING:
    from tests.support.commands import Cli, Workers
    from tests.support.jobs import Deferrer
    from tests.support.records import Database
    from tests.support.waiting import WaitUntil


def limits(db: Database) -> list[tuple[str, int | None, int | None, float | None]]:
    return [
        (row["queue_name"], row["max_running"], row["max_starts"], row["per_seconds"])
        for row in db.rows(
            "SELECT * FROM procrastinate_queue_limits ORDER BY queue_name"
        )
    ]


def test_limits_are_set_listed_and_cleared(cli: Cli, db: Database) -> None:
    assert cli("queue", "limits").check().stdout == "No queue has limits\n"

    set_line = cli("queue", "limit", "emails", "--max-running=2").check().stdout
    cli("queue", "limit", "api", "--max-starts=10", "--per=60").check()

    assert set_line == "Limited queue 'emails': at most 2 running\n"
    assert limits(db) == [("api", None, 10, 60.0), ("emails", 2, None, None)]
    assert cli("queue", "limits").check().stdout == (
        "api: at most 10 starts per 60 s; 0 running\n"
        "emails: at most 2 running; 0 running\n"
    )
    assert cli("queue", "unlimit", "emails").check().stdout == (
        "Queue 'emails' has no limits any more\n"
    )
    assert cli("queue", "unlimit", "emails").check().stdout == (
        "Queue 'emails' had no limits\n"
    )
    assert limits(db) == [("api", None, 10, 60.0)]


@pytest.mark.parametrize(
    ("args", "mention"),
    [
        (["q"], "give max_running"),
        (["q", "--max-running=0"], "--max-running"),
        (["q", "--max-starts=5"], "max_starts and per go together"),
        (["q", "--max-starts=5000", "--per=1"], "max_starts=5000 is out of range"),
        (["q", "--max-running=2", "--per=0"], "--per"),
    ],
)
def test_bad_limits_are_one_error_line_and_write_nothing(
    cli: Cli, db: Database, args: list[str], mention: str
) -> None:
    result = cli("queue", "limit", *args)

    assert result.returncode == 1
    assert mention in result.error_line()
    assert limits(db) == []


@pytest.fixture
def limited_run(
    cli: Cli, db: Database, defer: Deferrer, workers: Workers, wait_until: WaitUntil
) -> Callable[..., None]:
    """Limit the default queue, start three workers of concurrency 3 (9 slots), defer
    ``track`` jobs with the given arguments, and wait until they have all ended."""

    def run(limit: list[str], track_args: list[dict[str, Any]]) -> None:
        cli("queue", "limit", "default", *limit).check()
        for _ in range(3):
            workers.start("--concurrency=3", "--fetch-job-polling-interval=0.05")
        job_ids = defer("track", *track_args)
        wait_until(lambda: db.all_finished(len(job_ids)), 60, "the jobs to finish")

    return run


@pytest.mark.slow
def test_max_running_holds_across_worker_processes(
    limited_run: Callable[..., None], db: Database
) -> None:
    limited_run(["--max-running=2"], [{"sleep": 0.3}] * 9)

    spans = db.spans()
    assert len(spans) == 9
    # Without the limit, 9 slots would run the 9 jobs at once.
    assert max_running_at_once(spans) == 2


@pytest.mark.slow
def test_max_starts_per_period_holds_across_worker_processes(
    limited_run: Callable[..., None], db: Database
) -> None:
    limited_run(["--max-starts=2", "--per=1"], [{}] * 8)

    starts = db.start_times()
    assert len(starts) == 8
    # Without the limit, 9 slots would start the 8 jobs within a few milliseconds.
    # A started event bears the time its fetch's transaction began, which precedes
    # the start the limit counts by that fetch's wait for the queue's lock: windows
    # half a period shorter leave it room on a loaded machine.
    assert most_starts_within(starts, 0.5) == 2


@pytest.mark.slow
def test_a_mutex_job_runs_while_its_lock_head_is_scheduled_later(
    cli: Cli, db: Database, workers: Workers, wait_until: WaitUntil
) -> None:
    later = [
        "defer",
        "--lock=l",
        "--lock-mode=mutex",
        "--in=3600",
        "tests.acceptance.app.track",
    ]
    now = ["defer", "--lock=l", "--lock-mode=mutex", "tests.acceptance.app.track"]
    blocked = ["defer", "--lock=m", "--in=3600", "tests.acceptance.app.track"]
    ordered = ["defer", "--lock=m", "tests.acceptance.app.track"]
    ids = [int(cli(*args).check().stdout) for args in (later, now, blocked, ordered)]
    workers.start("--fetch-job-polling-interval=0.1")

    wait_until(lambda: db.statuses()[ids[1]] == "succeeded", 30, "the mutex job")
    statuses = db.statuses()
    # The ordered job of lock m still waits behind its head, scheduled in an hour.
    assert [statuses[job_id] for job_id in ids] == ["todo", "succeeded", "todo", "todo"]
