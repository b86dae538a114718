"""``procrastinate defer``: a job stored as asked, its id on stdout, and queueing locks
honoured, as a script calling the command would see it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.support.commands import Cli
    from tests.support.records import Database

ADD = "tests.acceptance.app.add"


def test_defer_stores_json_arguments_and_prints_the_job_id(
    cli: Cli, db: Database
) -> None:
    by_name, by_alias = cli.many(
        [
            ["defer", ADD, '{"a": 3, "b": 4}'],
            ["defer", "acceptance_add", '{"a": 5, "b": 6}'],
        ]
    )

    ids = sorted(int(result.check().stdout) for result in (by_name, by_alias))
    jobs = db.jobs()
    assert [job["id"] for job in jobs] == ids
    # The alias finds the task; the job is stored under the task's real name.
    assert {job["task_name"] for job in jobs} == {ADD}
    assert sorted(job["args"]["a"] for job in jobs) == [3, 5]

    cli("worker", "--one-shot").check()
    assert sorted(event["event"] for event in db.events()) == ["sum=11", "sum=7"]


def test_defer_options_are_stored(cli: Cli, db: Database) -> None:
    job_id = int(
        cli(
            "defer",
            "--queue=sums",
            "--priority=7",
            "--lock=one-at-a-time",
            ADD,
            '{"a": 1, "b": 2}',
        )
        .check()
        .stdout
    )

    job = db.job(job_id)
    assert (job["queue_name"], job["priority"], job["lock"], job["status"]) == (
        "sums",
        7,
        "one-at-a-time",
        "todo",
    )
    assert job["args"] == {"a": 1, "b": 2}


def test_second_job_with_the_same_queueing_lock_is_refused(
    cli: Cli, db: Database
) -> None:
    command = ["defer", "--queueing-lock=only-one", ADD, '{"a": 1, "b": 2}']
    first = int(cli(*command).check().stdout)

    refused = cli(*command)
    assert "only-one" in refused.error_line()
    assert refused.stdout == ""

    ignored = cli(*command, "--ignore-already-enqueued").check()
    assert ignored.stdout == ""

    assert [job["id"] for job in db.jobs()] == [first]


def test_demo_app_task_is_deferred_and_run(cli: Cli, db: Database) -> None:
    # The demo app registers its tasks through import_paths: deferring by name must
    # import them first.
    demo = ["--app=procrastinate_demo.app.app"]
    deferred = cli(
        *demo, "defer", "procrastinate_demo.tasks.sum", '{"a": 3, "b": 5}', app=False
    )
    job_id = int(deferred.check().stdout)

    cli(*demo, "worker", "--one-shot", app=False).check()

    job = db.job(job_id)
    assert (job["task_name"], job["queue_name"], job["args"], job["status"]) == (
        "procrastinate_demo.tasks.sum",
        "sums",
        {"a": 3, "b": 5},
        "succeeded",
    )
