"""``procrastinate shell <command>``: one administration command, its output in the
documented formats."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.support.commands import Cli
    from tests.support.jobs import Deferrer
    from tests.support.records import Database

TASKS = "tests.acceptance.app"


def stats(name: str, **counts: int) -> str:
    """A ``list_queues``/``list_tasks``/``list_locks`` line."""
    statuses = ("todo", "doing", "succeeded", "failed", "cancelled", "aborted")
    total = sum(counts.values())
    details = ", ".join(f"{status}: {counts.get(status, 0)}" for status in statuses)
    return f"{name}: {total} jobs ({details})"


@pytest.fixture
def jobs(cli: Cli, defer: Deferrer) -> None:
    """#1 succeeded in "sums", #2 failed in "errors", #3 (lock L) and #4 waiting."""
    defer("add", {"a": 1, "b": 2}, queue="sums")
    defer("picky", {"error": "permanent"}, queue="errors")
    defer("track", lock="L")
    defer("track")
    cli("worker", "--queues=sums,errors", "--one-shot").check()


def shell(cli: Cli, *commands: str) -> list[list[str]]:
    """The output lines of each one-shot shell command (run at the same time)."""
    results = cli.many([["shell", *command.split()] for command in commands])
    return [result.check().stdout.splitlines() for result in results]


@pytest.mark.usefixtures("jobs")
def test_list_commands(cli: Cli) -> None:
    jobs, queues, tasks, locks = shell(
        cli, "list_jobs", "list_queues", "list_tasks", "list_locks"
    )

    assert jobs == [
        f"#1 {TASKS}.add on sums - [succeeded]",
        f"#2 {TASKS}.picky on errors - [failed]",
        f"#3 {TASKS}.track on default - [todo]",
        f"#4 {TASKS}.track on default - [todo]",
    ]
    assert queues == [
        stats("default", todo=2),
        stats("errors", failed=1),
        stats("sums", succeeded=1),
    ]
    assert tasks == [
        stats(f"{TASKS}.add", succeeded=1),
        stats(f"{TASKS}.picky", failed=1),
        stats(f"{TASKS}.track", todo=2),
    ]
    assert locks == [stats("L", todo=1)]


@pytest.mark.usefixtures("jobs")
def test_cancel_and_retry(cli: Cli, db: Database) -> None:
    cancelled, retried = shell(cli, "cancel 4", "retry 2")

    assert cancelled == [f"#4 {TASKS}.track on default - [cancelled]"]
    assert retried == [f"#2 {TASKS}.picky on errors - [todo]"]
    assert db.statuses() == {1: "succeeded", 2: "todo", 3: "todo", 4: "cancelled"}


def test_failing_one_shot_command_is_one_error_line(cli: Cli, db: Database) -> None:
    # Job 999 does not exist: retrying it fails. Unlike the interactive shell, which
    # must survive a failed command, a one-shot command must report it to its caller.
    line = cli("shell", "retry", "999").error_line()

    assert "999" in line
    assert db.count_jobs() == 0


def test_one_shot_filter_values_keep_their_spaces(cli: Cli, defer: Deferrer) -> None:
    # The words were shlex-joined, then split on whitespace: "queue=a b" failed.
    defer("track", queue="a b", lock="it's")
    defer("track", queue="a")

    by_queue = cli("shell", "list_jobs", "queue=a b").check()
    by_lock = cli("shell", "list_jobs", "lock=it's").check()

    assert by_queue.stdout.splitlines() == [f"#1 {TASKS}.track on a b - [todo]"]
    assert by_lock.stdout == by_queue.stdout


@pytest.mark.usefixtures("jobs")
def test_result_shows_the_value_or_the_error(cli: Cli) -> None:
    succeeded, failed = shell(cli, "result 1", "result 2")
    waiting = cli("shell", "result", "3").error_line()

    # The worker stored what add returned, and what picky raised.
    assert succeeded[0].startswith("#1 [succeeded] (attempts=1, deferred_at=20")
    assert succeeded[1:] == ["Result: 3"]
    assert failed[0].startswith("#2 [failed] (attempts=1, ")
    assert failed[1] == f"Error: {TASKS}.PermanentError: not worth a retry"
    assert failed[2] == "Traceback (most recent call last):"
    assert failed[-1] == f"{TASKS}.PermanentError: not worth a retry"
    assert "Job 3 has not finished yet (status todo)" in waiting
