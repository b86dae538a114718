"""The job path, fetch to persist, against hostile input and races (real PostgreSQL).

A NOTIFY anyone may send, rows edited in SQL that Python cannot load, a worker that
lost its job to another one, a task that asks for its own abort: whatever happens, the
worker keeps running and every job ends with a final status (issue 12 items 1, 2, 3,
5; issue 11 item 6).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import psycopg
import pytest

import procrastinate
from procrastinate import exceptions, manager, sql
from procrastinate import worker as worker_module
from procrastinate.job_context import AbortReason
from tests.support.waiting import wait_until
from tests.support.workers import running_worker, wait_listening

WORKER = {"install_signal_handlers": False}

# Payloads that procrastinate never sends, on its own channels.
HOSTILE_PAYLOADS = [
    "{}",
    "[]",
    "1",
    "null",
    '"job_inserted"',
    '{"type": "job_inserted"}',
    '{"type": "job_inserted", "job_id": "1"}',
    '{"type": "job_inserted", "job_id": true}',
    '{"type": "abort_job_requested", "job_id": [1]}',
    '{"type": "abort_job_requested", "job_id": {"a": 1}}',
    '{"type": ["job_inserted"], "job_id": 1}',
    '{"type": "unknown", "job_id": 1}',
    "not json at all",
    "[" * 7000,
    '{"a": ' + "1" * 5000 + "}",
    "x" * 7999,
]


def statuses(connection: psycopg.Connection[Any]) -> dict[int, str]:
    rows = connection.execute(
        "SELECT id, status::text FROM procrastinate_jobs ORDER BY id"
    ).fetchall()
    return dict(rows)


# 12.1: a notification is a hint


@pytest.mark.parametrize("queues", [None, ["default"]], ids=["any-queue", "queue"])
async def test_hostile_notifications_are_logged_and_ignored(
    app: procrastinate.App,
    connection: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
    queues: list[str] | None,
) -> None:
    done = asyncio.Event()

    @app.task
    async def ping() -> None:
        done.set()

    channel = (
        manager.ANY_QUEUE_CHANNEL
        if queues is None
        else manager.queue_channel("default")
    )
    caplog.set_level(logging.WARNING, logger="procrastinate.manager")
    # Polling every minute: only a notification can wake the worker in time.
    async with running_worker(
        app, queues=queues, fetch_job_polling_interval=60
    ) as worker:
        await wait_listening(connection)
        for payload in HOSTILE_PAYLOADS:
            connection.execute("SELECT pg_notify(%s, %s)", (channel, payload))
        await ping.defer_async()
        await asyncio.wait_for(done.wait(), timeout=5)
        assert not worker.done()
    warnings = [r for r in caplog.records if r.action == "malformed_notification"]  # type: ignore[attr-defined]
    assert len(warnings) == len(HOSTILE_PAYLOADS)
    assert all(len(r.getMessage()) < 300 for r in warnings)


# 12.2 and 12.3: a row that cannot be loaded fails alone

UNLOADABLE = {
    "before year 1": (
        "UPDATE procrastinate_jobs SET scheduled_at = '0001-01-01T00:00:00+14:00' "
        "WHERE id = %(id)s",
        "scheduled_at",
    ),
    "nested 3000 levels": (
        "UPDATE procrastinate_jobs SET args = ('{\"a\": ' || repeat('[', 3000) "
        "|| repeat(']', 3000) || '}')::jsonb WHERE id = %(id)s",
        "nested too deeply",
    ),
    "5000 digits": (
        "UPDATE procrastinate_jobs SET args = "
        "('{\"a\": ' || repeat('7', 5000) || '}')::jsonb WHERE id = %(id)s",
        "cannot be decoded",
    ),
    "a list": (
        "UPDATE procrastinate_jobs SET args = '[1, 2]' WHERE id = %(id)s",
        "list",
    ),
    "a number": ("UPDATE procrastinate_jobs SET args = '42' WHERE id = %(id)s", "int"),
    "null": ("UPDATE procrastinate_jobs SET args = 'null' WHERE id = %(id)s", "None"),
}


def spoil(connection: psycopg.Connection[Any], job_id: int, how: str) -> None:
    statement, _ = UNLOADABLE[how]
    connection.execute(statement, {"id": job_id})


@pytest.mark.parametrize("concurrency", [1, 10])
async def test_unloadable_rows_fail_alone_and_the_batch_runs(
    app: procrastinate.App,
    connection: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
    concurrency: int,
) -> None:
    ran: list[int] = []

    @app.task(pass_context=True, retry=3)
    async def work(context: procrastinate.JobContext, n: int) -> None:
        ran.append(n)

    # Job 1 and the last one are sound, each one between is spoiled one way.
    count = len(UNLOADABLE) + 2
    await work.batch_defer_async(*({"n": n} for n in range(1, count + 1)))
    for job_id, how in enumerate(UNLOADABLE, start=2):
        spoil(connection, job_id, how)
    caplog.set_level(logging.INFO)
    await app.run_worker_async(
        **WORKER, wait=False, concurrency=concurrency, listen_notify=False
    )
    assert sorted(ran) == [1, count]
    expected = {1: "succeeded", count: "succeeded"}
    expected.update({job_id: "failed" for job_id in range(2, count)})
    assert statuses(connection) == expected
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    for job_id, (how, (_, reason)) in enumerate(UNLOADABLE.items(), start=2):
        (message,) = [m for m in messages if f"[{job_id}]" in m]
        assert "cannot be loaded" in message, (how, message)
        assert reason in message, (how, message)
    # One line each, not a traceback per job.
    assert not [r for r in caplog.records if r.exc_info and "loaded" in r.getMessage()]


async def test_listing_shows_every_job_despite_unloadable_rows(
    app: procrastinate.App,
    connection: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    @app.task
    async def work(n: int) -> None: ...

    count = len(UNLOADABLE) + 1
    await work.batch_defer_async(*({"n": n} for n in range(1, count + 1)))
    for job_id, how in enumerate(UNLOADABLE, start=2):
        spoil(connection, job_id, how)
    caplog.set_level(logging.WARNING)
    listed = await app.job_manager.list_jobs_async()
    assert [job.id for job in listed] == list(range(1, count + 1))
    assert listed[0].task_kwargs == {"n": 1}
    spoiled = listed[1:]
    assert all(job.task_kwargs == {} and job.scheduled_at is None for job in spoiled)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    for job_id in range(2, count + 1):
        (message,) = [m for m in warned if f"Job {job_id} " in m]
        assert "without its arguments and schedule" in message


async def test_one_shot_worker_goes_on_after_an_unloadable_first_job(
    app: procrastinate.App,
    connection: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    @app.task
    async def work() -> None: ...

    await work.batch_defer_async({}, {})
    spoil(connection, 1, "before year 1")
    caplog.set_level(logging.INFO)
    await app.run_worker_async(**WORKER, wait=False, listen_notify=False)
    assert statuses(connection) == {1: "failed", 2: "succeeded"}
    stops = [r for r in caplog.records if "No job found" in r.getMessage()]
    assert len(stops) == 1
    assert stops[0].created >= max(
        r.created for r in caplog.records if "[2]" in r.getMessage()
    )


async def test_recovery_fails_an_unloadable_stalled_job_once(
    app: procrastinate.App, connection: psycopg.Connection[Any]
) -> None:
    @app.task(retry=5)
    async def work() -> None: ...

    await work.batch_defer_async({}, {})
    dead = await app.job_manager.register_worker()
    assert len(await app.job_manager.fetch_jobs_to_run(None, dead, 2)) == 2
    spoil(connection, 1, "nested 3000 levels")
    await app.job_manager.unregister_worker(dead)
    rescuer = worker_module.Worker(app, **WORKER)
    rescuer.worker_id = await app.job_manager.register_worker()
    recovered = await rescuer.recover_stalled_jobs_once()
    assert [job.id for job in recovered] == [1, 2]
    # The sound one is retried, the unloadable one ends; nothing is left to recover.
    assert statuses(connection) == {1: "failed", 2: "todo"}
    assert await rescuer.recover_stalled_jobs_once() == []


async def test_unloadable_job_through_fetch_jobs_is_failed(
    app: procrastinate.App, connection: psycopg.Connection[Any]
) -> None:
    await app.configure_task("t").batch_defer_async({}, {})
    spoil(connection, 2, "a list")
    worker_id = await app.job_manager.register_worker()
    fetched = await app.job_manager.fetch_jobs(None, worker_id, 2)
    assert [job.id for job in fetched] == [1]
    assert statuses(connection) == {1: "doing", 2: "failed"}


async def test_an_error_of_the_worker_itself_still_ends_the_job(
    app: procrastinate.App,
    connection: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(procrastinate.BaseRetryStrategy):
        def get_retry_decision(
            self, *, exception: BaseException, job: Any
        ) -> procrastinate.RetryDecision | None:
            raise RuntimeError("the retry strategy itself fails")

    @app.task(retry=Broken())
    async def fails() -> None:
        raise ValueError("first")

    await fails.defer_async()
    await app.run_worker_async(**WORKER, wait=False, listen_notify=False)
    assert statuses(connection) == {1: "failed"}
    assert any(
        "could not be processed" in r.getMessage()
        and "retry strategy" in r.getMessage()
        for r in caplog.records
    )


async def test_result_whose_repr_fails_is_logged_and_the_job_succeeds(
    app: procrastinate.App,
    connection: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Opaque:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    @app.task
    async def opaque(value: Any = None) -> Opaque:
        return Opaque()

    await opaque.defer_async()
    caplog.set_level(logging.INFO)
    await app.run_worker_async(**WORKER, wait=False, listen_notify=False)
    # The task did its work: its outcome is stored, its result shown as a placeholder.
    assert statuses(connection) == {1: "succeeded"}
    assert any("Opaque object, repr failed" in r.getMessage() for r in caplog.records)


# 12.5: only the worker that owns a job stores its outcome


async def take_over(
    app: procrastinate.App, connection: psycopg.Connection[Any], worker_id: int
) -> tuple[int, procrastinate.jobs.Job]:
    """Prune ``worker_id`` as a stalled worker and let another worker recover its job."""
    connection.execute(
        "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour' "
        "WHERE id = %s",
        (worker_id,),
    )
    assert await app.job_manager.prune_stalled_workers(60) == [worker_id]
    rescuer = await app.job_manager.register_worker()
    (claimed,) = await app.job_manager.claim_orphaned_jobs(rescuer)
    return rescuer, claimed.job


async def test_a_worker_that_lost_its_job_stops_its_run(
    app: procrastinate.App,
    connection: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    started, interrupted = asyncio.Event(), asyncio.Event()

    @app.task(lock="the-lock")
    async def long() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            interrupted.set()
            raise

    await long.defer_async()
    await long.defer_async()
    async with running_worker(app, abort_job_polling_interval=0.1, listen_notify=False):
        await asyncio.wait_for(started.wait(), timeout=5)
        first_worker = connection.execute(
            "SELECT worker_id FROM procrastinate_jobs WHERE id = 1"
        ).fetchone()
        assert first_worker is not None
        rescuer, job = await take_over(app, connection, first_worker[0])
        await asyncio.wait_for(interrupted.wait(), timeout=5)

        async def dropped() -> bool:
            return any("Dropped the outcome" in r.getMessage() for r in caplog.records)

        await wait_until(dropped)
    # The rescuer's run is untouched: still doing, still its own, the lock held.
    row = connection.execute(
        "SELECT status::text, worker_id FROM procrastinate_jobs WHERE id = 1"
    ).fetchone()
    assert row == ("doing", rescuer)
    assert await app.job_manager.fetch_jobs(None, rescuer, 5) == []
    await app.job_manager.finish_job(job, procrastinate.jobs.Status.SUCCEEDED, False)
    assert statuses(connection)[1] == "succeeded"
    messages = [r.getMessage() for r in caplog.records]
    assert any("is no longer this worker's" in m for m in messages)
    assert any("Dropped the outcome of job" in m and "long[1]" in m for m in messages)


async def test_a_late_outcome_of_a_lost_job_is_dropped(
    app: procrastinate.App,
    connection: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    @app.task(lock="the-lock")
    async def long() -> None:
        started.set()
        await release.wait()

    await long.defer_async()
    await long.defer_async()
    # Abort polling every minute: the worker only learns it lost the job when it
    # stores the outcome.
    async with running_worker(app, abort_job_polling_interval=60, listen_notify=False):
        await asyncio.wait_for(started.wait(), timeout=5)
        row = connection.execute(
            "SELECT worker_id FROM procrastinate_jobs WHERE id = 1"
        ).fetchone()
        assert row is not None
        rescuer, _ = await take_over(app, connection, row[0])
        release.set()

        async def dropped() -> bool:
            return any("Dropped the outcome" in r.getMessage() for r in caplog.records)

        await wait_until(dropped)
        row = connection.execute(
            "SELECT status::text, worker_id FROM procrastinate_jobs WHERE id = 1"
        ).fetchone()
        assert row == ("doing", rescuer)
        # The lock is still held by the rescuer's run: job 2 must wait.
        assert statuses(connection)[2] == "todo"


async def test_an_orphaned_job_outcome_is_still_stored(
    app: procrastinate.App, connection: psycopg.Connection[Any]
) -> None:
    await app.configure_task("t").defer_async()
    worker_id = await app.job_manager.register_worker()
    (job,) = await app.job_manager.fetch_jobs(None, worker_id, 1)
    # Pruned, but nobody recovered the job: the work done is not thrown away.
    await app.job_manager.unregister_worker(worker_id)
    await app.job_manager.finish_job(job, procrastinate.jobs.Status.SUCCEEDED, False)
    assert statuses(connection) == {1: "succeeded"}


async def test_manual_operations_ignore_ownership(
    app: procrastinate.App, connection: psycopg.Connection[Any]
) -> None:
    await app.configure_task("t").batch_defer_async({}, {})
    worker_id = await app.job_manager.register_worker()
    await app.job_manager.fetch_jobs(None, worker_id, 2)
    await app.job_manager.retry_job_by_id_async(1)
    await app.job_manager.finish_job_by_id_async(
        2, procrastinate.jobs.Status.FAILED, False
    )
    assert statuses(connection) == {1: "todo", 2: "failed"}
    with pytest.raises(exceptions.ConnectorException, match="not found"):
        await app.job_manager.retry_job_by_id_async(99)


# 11.6: a task that asks for its own abort and then raises ends failed


def self_aborting_tasks(
    app: procrastinate.App,
) -> dict[str, procrastinate.tasks.Task[Any, Any, Any]]:
    @app.task(pass_context=True, retry=True, name="async_self_abort")
    async def async_self_abort(context: procrastinate.JobContext) -> None:
        assert context.job.id is not None
        await context.app.job_manager.cancel_job_by_id_async(context.job.id, abort=True)
        raise ValueError("after asking for my own abort")

    @app.task(pass_context=True, retry=True, name="sync_self_abort")
    def sync_self_abort(context: procrastinate.JobContext) -> None:
        assert context.job.id is not None
        context.app.job_manager.cancel_job_by_id(context.job.id, abort=True)
        raise ValueError("after asking for my own abort")

    return {"async": async_self_abort, "sync": sync_self_abort}


@pytest.mark.parametrize("kind", ["async", "sync"])
@pytest.mark.parametrize("listen_notify", [True, False])
async def test_self_abort_then_raise_ends_failed_after_one_attempt(
    app: procrastinate.App,
    connection: psycopg.Connection[Any],
    kind: str,
    listen_notify: bool,
) -> None:
    task = self_aborting_tasks(app)[kind]
    await task.defer_async()
    await app.run_worker_async(
        **WORKER,
        wait=False,
        listen_notify=listen_notify,
        abort_job_polling_interval=0.01,
    )
    row = connection.execute(
        "SELECT status::text, attempts FROM procrastinate_jobs"
    ).fetchone()
    assert row == ("failed", 1)


# Slow: many one-shot workers in a row, for up to 30 s.
@pytest.mark.slow
async def test_self_abort_then_raise_stress(
    app: procrastinate.App, connection: psycopg.Connection[Any]
) -> None:
    tasks = self_aborting_tasks(app)
    start = time.monotonic()
    rounds = 0
    # Many one-shot runs (the abort notification races the task's own error and the
    # storing of its outcome), then one run of many jobs at once.
    while rounds < 60 and time.monotonic() - start < 30:
        await tasks["async" if rounds % 2 else "sync"].defer_async()
        await app.run_worker_async(
            **WORKER, wait=False, abort_job_polling_interval=0.01
        )
        assert statuses(connection)[rounds + 1] == "failed", rounds
        rounds += 1
    assert rounds >= 20
    for task in tasks.values():
        await task.batch_defer_async(*({} for _ in range(30)))
    await app.run_worker_async(
        **WORKER, wait=False, concurrency=20, abort_job_polling_interval=0.01
    )
    rows = connection.execute(
        "SELECT status::text, attempts, count(*) FROM procrastinate_jobs GROUP BY 1, 2"
    ).fetchall()
    assert rows == [("failed", 1, rounds + 60)]


async def test_an_abort_arriving_while_the_outcome_is_stored_waits_for_it(
    app: procrastinate.App,
    connection: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Issue 11: the abort of a job whose run just ended landed on the worker's wait
    # for the outcome to be stored. The job's task ended at once, the one-shot worker
    # saw no running job and stopped, the storing was cut off: the job stayed doing.
    persisting, release = asyncio.Event(), asyncio.Event()
    outcome_queries = (
        sql.queries["store_outcomes"],
        sql.queries["store_outcomes_and_fetch"],
    )
    for name in ("execute_query_async", "execute_query_all_async"):
        original = getattr(app.connector, name)

        async def gated(
            query: str, *, _original: Any = original, **arguments: Any
        ) -> Any:
            if query in outcome_queries:
                persisting.set()
                await release.wait()
            return await _original(query, **arguments)

        monkeypatch.setattr(app.connector, name, gated)

    @app.task
    async def quick() -> None: ...

    job_id = await quick.defer_async()
    worker = worker_module.Worker(
        app, wait=False, listen_notify=False, install_signal_handlers=False
    )
    run = asyncio.ensure_future(worker.run())
    await asyncio.wait_for(persisting.wait(), timeout=5)
    worker.runner.abort(job_id, AbortReason.USER_REQUEST)
    for _ in range(20):  # enough loop turns for a cancelled task to end
        await asyncio.sleep(0)
    assert job_id in worker.runner.running
    assert not run.done()
    release.set()
    await asyncio.wait_for(run, timeout=10)
    assert statuses(connection) == {job_id: "succeeded"}


def test_parse_notification_accepts_only_procrastinate_payloads() -> None:
    assert manager.parse_notification(
        json.dumps({"type": "job_inserted", "job_id": 3})
    ) == {"type": "job_inserted", "job_id": 3}
    for payload in HOSTILE_PAYLOADS:
        assert manager.parse_notification(payload) is None, payload


async def test_stalled_jobs_list_an_unloadable_job_and_a_retry_fails_it(
    app: procrastinate.App,
    connection: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The recipe of procrastinate 3.x: list the stalled jobs, retry each.
    await app.configure_task("t").batch_defer_async({}, {})
    dead = await app.job_manager.register_worker()
    await app.job_manager.fetch_jobs(None, dead, 2)
    spoil(connection, 1, "5000 digits")
    await app.job_manager.unregister_worker(dead)
    stalled = await app.job_manager.get_stalled_jobs()
    assert [job.id for job in stalled] == [1, 2]
    assert any("cannot be loaded" in r.getMessage() for r in caplog.records)
    for job in stalled:
        await app.job_manager.retry_job(job)
    worker_id = await app.job_manager.register_worker()
    assert [job.id for job in await app.job_manager.fetch_jobs(None, worker_id, 2)] == [
        2
    ]
    assert statuses(connection) == {1: "failed", 2: "doing"}
