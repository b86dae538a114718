"""A task's time limit, through the real ``procrastinate worker`` command."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.support.commands import Cli
    from tests.support.jobs import Deferrer
    from tests.support.records import Database


def test_a_job_past_its_time_limit_fails_and_the_others_run(
    cli: Cli, db: Database, defer: Deferrer
) -> None:
    too_long, in_time = defer("limited", {"sleep": 30}, {"sleep": 0.01})

    result = cli("worker", "--one-shot", "--concurrency=2").check()

    assert db.statuses() == {too_long: "failed", in_time: "succeeded"}
    # The run was cancelled at its limit: it never recorded its end.
    assert db.job_events(too_long)[-1] == "failed"
    spans = {span.job_id: span for span in db.spans()}
    assert spans[too_long].end is None
    assert "Timed out" in result.stderr
    assert (
        "TaskTimeout: Task tests.acceptance.app.limited ran past its time limit of 0.3 s"
        in result.stderr
    )


TRACK = "tests.acceptance.app.track"


def test_defer_timeout_limits_that_job_only(cli: Cli, db: Database) -> None:
    limited = int(cli("defer", "--timeout=0.2", TRACK, '{"sleep": 30}').check().stdout)
    free = int(cli("defer", TRACK, '{"sleep": 0.3}').check().stdout)
    assert {job["id"]: job["timeout"] for job in db.jobs()} == {
        limited: 0.2,
        free: None,
    }

    result = cli("worker", "--one-shot", "--concurrency=2").check()

    assert db.statuses() == {limited: "failed", free: "succeeded"}
    spans = {span.job_id: span for span in db.spans()}
    assert spans[limited].end is None
    assert spans[free].end is not None
    assert f"{TRACK} ran past its time limit of 0.2 s" in result.stderr


def test_a_bad_defer_timeout_is_one_line_and_writes_nothing(
    cli: Cli, db: Database
) -> None:
    for value in ("0", "-1", "soon", "nan"):
        refused = cli("defer", f"--timeout={value}", TRACK)
        assert "--timeout" in refused.error_line()
        assert refused.stdout == ""
    assert db.jobs() == []
