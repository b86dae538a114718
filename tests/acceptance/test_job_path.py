"""The real worker against what a database user can do: NOTIFY anything on its
channels, edit a job's row into something Python cannot load (issue 12 items 1-3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.support.commands import Cli, Workers
    from tests.support.jobs import Deferrer
    from tests.support.records import Database
    from tests.support.waiting import WaitUntil

PAYLOADS = ["{}", "[]", "1", "null", '{"type": "abort_job_requested", "job_id": "1"}']


def test_notifications_from_a_stranger_do_not_stop_the_worker(
    db: Database, defer: Deferrer, workers: Workers, wait_until: WaitUntil
) -> None:
    # Polling every minute: the job below runs in time only through a notification.
    worker = workers.start("--fetch-job-polling-interval=60")
    wait_until(lambda: db.listening_connections() >= 1, 10, "the worker to listen")
    for payload in PAYLOADS:
        for channel in ("procrastinate_any_queue_v1", "procrastinate_queue_v1#default"):
            db.rows("SELECT pg_notify(%(c)s, %(p)s)", c=channel, p=payload)
    (job_id,) = defer("track")
    wait_until(lambda: db.job(job_id)["status"] == "succeeded", 10, "the job to run")
    assert worker.popen.poll() is None
    assert worker.stop() == 0
    log = worker.log
    assert "Traceback" not in log
    # Only the any-queue channel is listened to: one warning per payload sent on it.
    assert log.count("that procrastinate did not send") == len(PAYLOADS)


def test_one_shot_worker_fails_unloadable_jobs_and_runs_the_others(
    cli: Cli, db: Database, defer: Deferrer
) -> None:
    ids = defer("track", *({} for _ in range(4)))
    db.connection.execute(
        "UPDATE procrastinate_jobs SET scheduled_at = '0001-01-01T00:00:00+14:00' "
        "WHERE id = %(id)s",
        {"id": ids[0]},
    )
    db.connection.execute(
        "UPDATE procrastinate_jobs SET args = ('{\"a\": ' || repeat('[', 3000) "
        "|| repeat(']', 3000) || '}')::jsonb WHERE id = %(id)s",
        {"id": ids[1]},
    )
    db.connection.execute(
        "UPDATE procrastinate_jobs SET args = "
        "('{\"sleep\": ' || repeat('9', 5000) || '}')::jsonb WHERE id = %(id)s",
        {"id": ids[2]},
    )
    result = cli("worker", "--one-shot", "--concurrency=2").check()
    # SELECT * would fail on the year 0 too: read the statuses only.
    rows = db.rows("SELECT id, status::text FROM procrastinate_jobs ORDER BY id")
    assert [row["status"] for row in rows] == ["failed"] * 3 + ["succeeded"]
    assert "Traceback" not in result.stderr
    reasons = ["outside the years 1 to 9999", "nested too deeply", "cannot be decoded"]
    for job_id, reason in zip(ids, reasons):
        (line,) = [
            line
            for line in result.stderr.splitlines()
            if f"[{job_id}]" in line and "cannot be loaded" in line
        ]
        assert reason in line
    assert [event["job_id"] for event in db.events("end")] == [ids[3]]
