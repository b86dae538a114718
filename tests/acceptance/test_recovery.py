"""``--recover-stalled-jobs``: the job of a worker killed with SIGKILL is completed by
another worker, never running twice at the same time."""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.support.commands import Workers
    from tests.support.jobs import Deferrer
    from tests.support.records import Database
    from tests.support.waiting import WaitUntil

RECOVERY = [
    "--fetch-job-polling-interval=0.2",
    "--update-heartbeat-interval=0.3",
    "--stalled-worker-timeout=1.5",
    "--recover-stalled-jobs",
]


def test_killed_worker_job_is_completed_by_another_worker(
    db: Database, defer: Deferrer, workers: Workers, wait_until: WaitUntil
) -> None:
    first = workers.start(*RECOVERY)
    second = workers.start(*RECOVERY)
    (job_id,) = defer("resilient", {"sleep": 2})
    wait_until(lambda: bool(db.events("start")), 10, "the job to start")
    (started,) = db.events("start")
    victim, rescuer = (
        (first, second) if started["pid"] == first.popen.pid else (second, first)
    )

    victim.popen.kill()
    victim.popen.wait()
    killed_at = db.now()

    wait_until(
        lambda: db.job(job_id)["status"] == "succeeded", 30, "the job to be recovered"
    )
    starts, ends = db.events("start"), db.events("end")
    assert [event["pid"] for event in starts] == [victim.popen.pid, rescuer.popen.pid]
    assert [event["pid"] for event in ends] == [rescuer.popen.pid]
    assert starts[1]["at"] > killed_at
    assert "deferred_for_retry" in db.job_events(job_id)
    assert rescuer.stop() == 0


def test_without_recovery_the_job_of_a_killed_worker_stays_doing(
    db: Database, defer: Deferrer, workers: Workers, wait_until: WaitUntil
) -> None:
    options = [option for option in RECOVERY if option != "--recover-stalled-jobs"]
    victim = workers.start(*options)
    (job_id,) = defer("resilient", {"sleep": 5})
    wait_until(lambda: bool(db.events("start")), 10, "the job to start")
    victim.popen.kill()
    victim.popen.wait()
    other = workers.start(*options)
    # Long enough for a recovering worker to have acted (timeout 1.5 s, checks every
    # 0.3 s): this one must not.
    wait_until(lambda: db.workers_count() >= 1, 5, "the other worker to register")
    time.sleep(2.5)
    assert db.job(job_id)["status"] == "doing"
    assert other.stop() == 0


def test_a_frozen_worker_cannot_end_a_job_another_worker_recovered(
    db: Database, defer: Deferrer, workers: Workers, wait_until: WaitUntil
) -> None:
    # Issue 12 item 5: the first worker, frozen past the stalled timeout, comes back
    # while the job it ran is re-run by the rescuer. Its late outcome must neither end
    # the job mid-run nor free its lock for the next job of the same lock.
    options = [*RECOVERY, "--abort-job-polling-interval=0.2"]
    frozen = workers.start(*options)
    (job_id,) = defer("resilient", {"sleep": 3}, lock="the-lock")
    wait_until(lambda: bool(db.events("start")), 10, "the job to start")
    # Two slots: the rescuer could run the next job of the lock if the lock were freed.
    rescuer = workers.start(*options, "--concurrency=2")
    (next_id,) = defer("track", lock="the-lock")
    frozen.popen.send_signal(signal.SIGSTOP)
    try:
        wait_until(
            lambda: len(db.events("start")) == 2, 20, "the rescuer to re-run the job"
        )
    finally:
        frozen.popen.send_signal(signal.SIGCONT)
    wait_until(
        lambda: db.job(next_id)["status"] == "succeeded", 30, "the next job to run"
    )
    rerun_ends = [
        event["at"]
        for event in db.events("end")
        if event["job_id"] == job_id and event["pid"] == rescuer.popen.pid
    ]
    assert rerun_ends, "the next job of the lock ran while the job was re-run"
    (next_start,) = [
        event["at"] for event in db.events("start") if event["job_id"] == next_id
    ]
    # The lock held until the rescuer's run ended, which alone ended the job.
    assert next_start > rerun_ends[0]
    assert db.job(job_id)["status"] == "succeeded"
    wait_until(
        lambda: (
            "no longer this worker's" in frozen.log
            or "Dropped the outcome" in frozen.log
        ),
        10,
        "the frozen worker to learn it lost the job",
    )


def test_a_job_whose_outcome_was_not_yet_stored_runs_again_after_a_crash(
    db: Database, defer: Deferrer, workers: Workers, wait_until: WaitUntil
) -> None:
    # Issue 14: the outcome waits a minute for others; the worker is killed meanwhile.
    # The job is recovered as stalled and runs again: at least once, never lost.
    victim = workers.start(*RECOVERY, "--outcome-batch-delay=60")
    (job_id,) = defer("resilient", {})
    wait_until(lambda: bool(db.events("end")), 10, "the job's run to end")
    assert db.job(job_id)["status"] == "doing"
    victim.popen.kill()
    victim.popen.wait()

    rescuer = workers.start(*RECOVERY)
    wait_until(
        lambda: db.job(job_id)["status"] == "succeeded", 30, "the job to be recovered"
    )
    assert [event["pid"] for event in db.events("end")] == [
        victim.popen.pid,
        rescuer.popen.pid,
    ]
    assert rescuer.stop() == 0


def test_a_graceful_stop_stores_the_waiting_outcomes_first(
    db: Database, defer: Deferrer, workers: Workers, wait_until: WaitUntil
) -> None:
    # The stop does not wait for the delay, and the outcome is stored before the
    # worker removes its registration.
    worker = workers.start(*RECOVERY, "--outcome-batch-delay=60", "--concurrency=3")
    job_ids = defer("resilient", {}, {}, {})
    wait_until(lambda: len(db.events("end")) == 3, 10, "the runs to end")
    assert {db.job(job_id)["status"] for job_id in job_ids} == {"doing"}
    started = time.monotonic()
    assert worker.stop(timeout=15) == 0
    assert time.monotonic() - started < 10
    assert {db.job(job_id)["status"] for job_id in job_ids} == {"succeeded"}
    assert db.workers_count() == 0
