"""``procrastinate queue pause|resume|list``: several worker processes honour a pause,
and take the queue's jobs at once when it is resumed."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.support.commands import Cli, Workers
    from tests.support.jobs import Deferrer
    from tests.support.records import Database
    from tests.support.waiting import WaitUntil


def test_workers_honour_a_pause_and_wake_on_resume(
    cli: Cli, db: Database, defer: Deferrer, workers: Workers, wait_until: WaitUntil
) -> None:
    assert cli("queue", "pause", "a").check().stdout == "Queue 'a' paused\n"
    # Polling every minute: the jobs run in time only through the resume's
    # notification.
    started = [workers.start("--fetch-job-polling-interval=60") for _ in range(3)]
    wait_until(lambda: db.listening_connections() >= 3, 20, "the workers to listen")
    in_a = defer("track", *[{}] * 4, queue="a")
    (in_b,) = defer("track", queue="b")
    wait_until(lambda: db.job(in_b)["status"] == "succeeded", 10, "the job of b")
    # Each worker was woken by the jobs of a and fetched meanwhile: none took one.
    time.sleep(1)
    assert [db.job(job_id)["status"] for job_id in in_a] == ["todo"] * 4
    listed = cli("queue", "list").check().stdout.splitlines()
    assert listed[0].startswith("a: paused since ")
    assert listed[0].endswith(
        ", 4 jobs (todo: 4, doing: 0, succeeded: 0, failed: 0, "
        "cancelled: 0, aborted: 0)"
    )
    assert listed[1].startswith("b: active, 1 jobs")

    assert cli("queue", "resume", "a").check().stdout == "Queue 'a' resumed\n"
    wait_until(
        lambda: all(db.job(job_id)["status"] == "succeeded" for job_id in in_a),
        10,
        "the jobs of a",
    )
    assert cli("queue", "list").check().stdout.startswith("a: active, 4 jobs")
    for worker in started:
        assert worker.stop() == 0


def test_pausing_twice_and_resuming_an_active_queue_say_so(cli: Cli) -> None:
    cli("queue", "pause", "a").check()
    assert cli("queue", "pause", "a").check().stdout == "Queue 'a' was paused already\n"
    assert cli("queue", "resume", "b").check().stdout == "Queue 'b' was not paused\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["queue", "pause", ""], "A queue name has 1 to 128 characters"),
        (["queue", "resume", "q" * 129], "A queue name has 1 to 128 characters"),
        (["queue"], "the following arguments are required: ACTION"),
        (["queue", "pause"], "the following arguments are required: queue"),
        (["queue", "stop", "a"], "invalid choice: 'stop'"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_1(
    cli: Cli, db: Database, args: list[str], message: str
) -> None:
    assert message in cli(*args).error_line()
    assert db.rows("SELECT * FROM procrastinate_queues") == []
