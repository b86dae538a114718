"""``procrastinate worker``: which jobs it runs, in which order, how it retries, waits,
wakes up and stops. Every claim is read from the database rows the tasks wrote."""

from __future__ import annotations

import datetime
import itertools
import signal
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.support.commands import Cli, Workers
    from tests.support.jobs import Deferrer
    from tests.support.records import Database, Span
    from tests.support.waiting import WaitUntil

TRACK = "tests.acceptance.app.track"


def job_ids(spans: list[Span]) -> list[int]:
    return [span.job_id for span in spans]


def assert_in_sequence(spans: list[Span]) -> None:
    """Each run ends before the next one starts."""
    for before, after in itertools.pairwise(spans):
        assert before.end is not None
        assert before.end <= after.start, (
            f"job {after.job_id} started before job {before.job_id} ended"
        )


def overlap(first: Span, second: Span) -> bool:
    assert first.end is not None
    assert second.end is not None
    return first.start < second.end and second.start < first.end


def test_one_worker_runs_jobs_in_fifo_order(
    cli: Cli, db: Database, defer: Deferrer
) -> None:
    ids = defer("track", *[{}] * 5)

    cli("worker", "--one-shot", "--concurrency=1").check()

    spans = db.spans()
    assert job_ids(spans) == ids
    assert_in_sequence(spans)
    assert set(db.statuses().values()) == {"succeeded"}


def test_worker_leaves_other_queues_alone(
    cli: Cli, db: Database, defer: Deferrer
) -> None:
    in_a = defer("track", {}, {}, queue="a")
    in_b = defer("track", {}, {}, queue="b")

    cli("worker", "--queues=a", "--one-shot").check()

    statuses = db.statuses()
    assert [statuses[job_id] for job_id in in_a] == ["succeeded", "succeeded"]
    assert [statuses[job_id] for job_id in in_b] == ["todo", "todo"]
    assert job_ids(db.spans()) == in_a


def test_higher_priority_runs_first(cli: Cli, db: Database) -> None:
    priorities = [0, -5, 10, 0, 3]
    deferred = cli.many(
        [["defer", f"--priority={priority}", TRACK] for priority in priorities]
    )
    priority_of = {
        int(result.check().stdout): priority
        for result, priority in zip(deferred, priorities)
    }
    assert {job["id"]: job["priority"] for job in db.jobs()} == priority_of

    cli("worker", "--one-shot", "--concurrency=1").check()

    expected = sorted(priority_of, key=lambda job_id: (-priority_of[job_id], job_id))
    assert job_ids(db.spans()) == expected


def test_jobs_sharing_a_lock_never_overlap_across_two_workers(
    db: Database, defer: Deferrer, workers: Workers, wait_until: WaitUntil
) -> None:
    options = ("--concurrency=2", "--fetch-job-polling-interval=0.1")
    started = [workers.start(*options), workers.start(*options)]
    locks = ["L1", "L2", "L3"]
    ids_by_lock: dict[str, list[int]] = {lock: [] for lock in locks}
    # Interleaved, so that the workers see jobs of every lock waiting together.
    for _, lock in itertools.product(range(3), locks):
        ids_by_lock[lock] += defer("track", {"sleep": 0.15}, lock=lock)

    wait_until(lambda: db.all_finished(9), 20, "the 9 jobs to finish")
    assert [worker.stop() for worker in started] == [0, 0]

    spans = db.spans()
    by_id = {span.job_id: span for span in spans}
    for ids in ids_by_lock.values():
        assert_in_sequence([by_id[job_id] for job_id in ids])
    assert set(db.statuses().values()) == {"succeeded"}
    # Without these, the test could pass with jobs that never had a chance to collide.
    assert len({span.pid for span in spans}) == 2, "one worker ran every job"
    assert any(overlap(a, b) for a, b in itertools.combinations(spans, 2))


def test_failing_job_is_retried_until_it_succeeds(
    cli: Cli, db: Database, defer: Deferrer
) -> None:
    (job_id,) = defer("flaky", {"fail_times": 2})

    cli("worker", "--one-shot").check()

    assert len(db.events("attempt")) == 3
    job = db.job(job_id)
    assert (job["status"], job["attempts"]) == ("succeeded", 3)
    assert db.job_events(job_id).count("deferred_for_retry") == 2


def test_only_listed_exceptions_are_retried(
    cli: Cli, db: Database, defer: Deferrer
) -> None:
    transient, permanent = defer(
        "picky", {"error": "transient"}, {"error": "permanent"}
    )

    cli("worker", "--one-shot").check()

    attempts = [event["job_id"] for event in db.events("attempt")]
    assert (attempts.count(transient), attempts.count(permanent)) == (2, 1)
    statuses = db.statuses()
    assert (statuses[transient], statuses[permanent]) == ("succeeded", "failed")


def test_scheduled_jobs_run_when_due_and_not_before(
    cli: Cli, db: Database, workers: Workers, wait_until: WaitUntil
) -> None:
    # Polling all along, the worker could take the jobs early if the queue allowed it.
    workers.start("--fetch-job-polling-interval=0.1")
    at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=3)
    deferred = cli.many(
        [["defer", "--in=3", TRACK], ["defer", f"--at={at.isoformat()}", TRACK]]
    )
    in_id, at_id = (int(result.check().stdout) for result in deferred)
    scheduled = {job["id"]: job["scheduled_at"] for job in db.jobs()}
    assert scheduled[at_id] == at
    delay = scheduled[in_id] - db.deferred_at(in_id)
    assert abs(delay.total_seconds() - 3) < 0.5

    wait_until(lambda: db.all_finished(2), 10, "the scheduled jobs to run")

    for span in db.spans():
        assert span.start >= scheduled[span.job_id]


def test_listen_notify_starts_a_job_at_once_despite_slow_polling(
    cli: Cli, db: Database, workers: Workers, wait_until: WaitUntil
) -> None:
    workers.start("--fetch-job-polling-interval=60")
    wait_until(lambda: db.listening_connections() > 0, 10, "the worker to LISTEN")

    job_id = int(cli("defer", TRACK).check().stdout)
    wait_until(lambda: db.all_finished(1), 10, "the job to run")

    (span,) = db.spans()
    latency = (span.start - db.deferred_at(job_id)).total_seconds()
    assert latency < 1, f"the job started {latency:.3f} s after it was deferred"


def test_polling_finds_jobs_without_listen_notify(
    cli: Cli, db: Database, workers: Workers, wait_until: WaitUntil
) -> None:
    workers.start("--no-listen-notify", "--fetch-job-polling-interval=0.2")

    job_id = int(cli("defer", TRACK).check().stdout)
    wait_until(lambda: db.all_finished(1), 10, "the job to run")

    (span,) = db.spans()
    assert (span.start - db.deferred_at(job_id)).total_seconds() < 1
    assert db.listening_connections() == 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_stop_signal_lets_the_running_job_finish(
    sig: signal.Signals,
    db: Database,
    defer: Deferrer,
    workers: Workers,
    wait_until: WaitUntil,
) -> None:
    worker = workers.start("--fetch-job-polling-interval=0.1")
    (job_id,) = defer("track", {"sleep": 1})
    wait_until(lambda: bool(db.events("start")), 10, "the job to start")
    assert db.job(job_id)["status"] == "doing"
    assert not db.events("end")

    assert worker.stop(sig) == 0

    assert db.job(job_id)["status"] == "succeeded"
    (span,) = db.spans()
    assert span.end is not None
    assert (span.end - span.start).total_seconds() >= 0.95
    assert db.workers_count() == 0


def test_100_short_jobs_at_concurrency_20_all_run_once(
    cli: Cli, db: Database, defer: Deferrer
) -> None:
    # How fast: tests/benchmarks/test_concurrency.py (under 2 s on a quiet machine).
    defer("track", *[{"sleep": 0.1}] * 100)

    cli("worker", "--one-shot", "--concurrency=20").check()

    spans = db.spans()
    assert len(spans) == 100
    assert set(db.statuses().values()) == {"succeeded"}
