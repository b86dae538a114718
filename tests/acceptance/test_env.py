"""``PROCRASTINATE_*`` environment variables stand for command-line options."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.support.records import max_running_at_once

if TYPE_CHECKING:
    from tests.support.commands import Cli
    from tests.support.jobs import Deferrer
    from tests.support.records import Database

APP = "tests.acceptance.app.app"


def test_app_and_defer_queue_from_the_environment(
    cli: Cli, db: Database, db_env: dict[str, str]
) -> None:
    env = {
        **db_env,
        "PROCRASTINATE_APP": APP,
        "PROCRASTINATE_DEFER_QUEUE": "from_env",
    }

    result = cli("defer", "acceptance_add", '{"a": 1, "b": 1}', env=env, app=False)

    job = db.job(int(result.check().stdout))
    assert job["queue_name"] == "from_env"


def test_worker_concurrency_from_the_environment(
    cli: Cli, db: Database, defer: Deferrer, db_env: dict[str, str]
) -> None:
    defer("track", *[{"sleep": 0.3}] * 4)
    env = {
        **db_env,
        "PROCRASTINATE_APP": APP,
        "PROCRASTINATE_WORKER_CONCURRENCY": "4",
    }

    cli("worker", "--one-shot", env=env, app=False).check()

    assert max_running_at_once(db.spans()) == 4


def test_bad_environment_value_is_one_error_line(
    cli: Cli, db: Database, defer: Deferrer, db_env: dict[str, str]
) -> None:
    defer("track")
    env = {**db_env, "PROCRASTINATE_WORKER_CONCURRENCY": "abc"}

    line = cli("worker", "--one-shot", env=env).error_line()

    assert "PROCRASTINATE_WORKER_CONCURRENCY" in line
    assert db.statuses() == {1: "todo"}
