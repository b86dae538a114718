"""The worker, run in-process against a real database."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import psycopg
import pytest

import procrastinate
from procrastinate import exceptions, worker
from tests.support import databases
from tests.support.waiting import wait_until
from tests.support.workers import (
    count_actions,
    running_worker,
    status_of,
    wait_listening,
)


async def test_runs_sync_and_async_tasks_with_context(app: procrastinate.App) -> None:
    seen: list[Any] = []

    @app.task(pass_context=True)
    async def async_task(context: procrastinate.JobContext, a: int) -> None:
        seen.append(("async", a, context.job.id, context.additional_context["key"]))

    @app.task(pass_context=True)
    def sync_task(context: procrastinate.JobContext, a: int) -> None:
        seen.append(("sync", a, context.job.id, context.worker_name))

    await async_task.defer_async(a=1)
    await sync_task.defer_async(a=2)
    await app.run_worker_async(
        wait=False,
        install_signal_handlers=False,
        additional_context={"key": "v"},
        name="w1",
    )
    assert seen == [("async", 1, 1, "v"), ("sync", 2, 2, "w1")]


async def test_concurrency_runs_jobs_in_parallel(app: procrastinate.App) -> None:
    # Each job waits for all ten to be running: they succeed only if they run at
    # once. How fast they do is measured by tests/benchmarks/test_concurrency.py.
    started = 0
    everyone = asyncio.Event()

    @app.task
    async def sleeper() -> None:
        nonlocal started
        started += 1
        if started == 10:
            everyone.set()
        await asyncio.wait_for(everyone.wait(), timeout=10)

    await sleeper.batch_defer_async(*[{} for _ in range(10)])
    await app.run_worker_async(
        wait=False, concurrency=10, install_signal_handlers=False, listen_notify=False
    )
    assert {j.status for j in await app.job_manager.list_jobs_async()} == {"succeeded"}


async def test_failure_retry_then_success(app: procrastinate.App) -> None:
    @app.task(retry=2, pass_context=True)
    def flaky(context: procrastinate.JobContext) -> None:
        if context.job.attempts < 2:
            raise ValueError("not yet")

    job_id = await flaky.defer_async()
    await app.run_worker_async(wait=False, install_signal_handlers=False)
    (job,) = await app.job_manager.list_jobs_async(id=job_id)
    assert (job.status, job.attempts) == ("succeeded", 3)


async def test_unknown_task_fails_the_job(app: procrastinate.App) -> None:
    job_id = await app.configure_task("nobody.knows").defer_async()
    await app.run_worker_async(wait=False, install_signal_handlers=False)
    assert await status_of(app, job_id) == "failed"


async def test_delete_jobs_successful(app: procrastinate.App) -> None:
    @app.task
    def ok() -> None: ...

    @app.task
    def ko() -> None:
        raise ValueError

    await ok.defer_async()
    await ko.defer_async()
    await app.run_worker_async(
        wait=False, install_signal_handlers=False, delete_jobs="successful"
    )
    assert [j.status for j in await app.job_manager.list_jobs_async()] == ["failed"]


async def test_listen_notify_wakes_the_worker(
    app: procrastinate.App, connection: psycopg.Connection[Any]
) -> None:
    done = asyncio.Event()

    @app.task
    async def ping() -> None:
        done.set()

    async with running_worker(app, fetch_job_polling_interval=60):
        await wait_listening(connection)
        await ping.defer_async()
        await asyncio.wait_for(done.wait(), timeout=1)


async def test_listener_reconnects_after_the_connection_drops(
    app: procrastinate.App, connection: psycopg.Connection[Any]
) -> None:
    done = asyncio.Event()

    @app.task
    async def ping() -> None:
        done.set()

    async with running_worker(app, fetch_job_polling_interval=60):
        await wait_listening(connection)
        listeners = databases.listening_pids(connection)
        killed = connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN%%'"
        ).fetchall()
        assert killed
        await wait_listening(connection, besides=listeners)
        await ping.defer_async()
        await asyncio.wait_for(done.wait(), timeout=2)


async def test_worker_survives_pool_connections_being_killed(
    app: procrastinate.App, connection: psycopg.Connection[Any]
) -> None:
    @app.task
    async def noop() -> None: ...

    connection.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    await noop.defer_async()
    await app.run_worker_async(
        wait=False, install_signal_handlers=False, listen_notify=False
    )
    assert await status_of(app, 1) == "succeeded"


@pytest.mark.parametrize("listen_notify", [True, False])
async def test_abort_async_job(app: procrastinate.App, listen_notify: bool) -> None:
    started = asyncio.Event()

    @app.task
    async def forever() -> None:
        started.set()
        await asyncio.sleep(60)

    job_id = await forever.defer_async()
    async with running_worker(
        app, listen_notify=listen_notify, abort_job_polling_interval=0.5
    ):
        await asyncio.wait_for(started.wait(), timeout=5)
        asked = time.monotonic()
        assert await app.job_manager.cancel_job_by_id_async(job_id, abort=True)

        async def aborted() -> bool:
            return await status_of(app, job_id) == "aborted"

        await wait_until(aborted, timeout=2 if not listen_notify else 1)
        assert time.monotonic() - asked < (2 if not listen_notify else 1)


async def test_abort_sync_job_through_should_abort(
    app: procrastinate.App, connection: psycopg.Connection[Any]
) -> None:
    @app.task(pass_context=True)
    def cooperative(context: procrastinate.JobContext) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if context.should_abort():
                raise exceptions.JobAborted
            time.sleep(0.02)

    job_id = await cooperative.defer_async()
    async with running_worker(app):

        async def running() -> bool:
            return await status_of(app, job_id) == "doing"

        await wait_until(running)
        # The abort request is heard at once only once the worker listens (the job
        # may start before): otherwise the next abort poll, seconds later, sees it.
        await wait_listening(connection)
        await app.job_manager.cancel_job_by_id_async(job_id, abort=True)

        async def aborted() -> bool:
            return await status_of(app, job_id) == "aborted"

        await wait_until(aborted, timeout=2)


async def test_graceful_stop_lets_jobs_finish(app: procrastinate.App) -> None:
    started = asyncio.Event()

    @app.task
    async def slow() -> None:
        started.set()
        await asyncio.sleep(0.3)

    job_id = await slow.defer_async()
    async with running_worker(app) as task:
        await asyncio.wait_for(started.wait(), timeout=5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert await status_of(app, job_id) == "succeeded"


async def test_shutdown_timeout_aborts_and_retries_when_allowed(
    app: procrastinate.App,
) -> None:
    started = asyncio.Event()

    @app.task(retry=True)
    async def stubborn() -> None:
        started.set()
        await asyncio.sleep(60)

    @app.task
    async def plain_stubborn() -> None:
        await asyncio.sleep(60)

    retried = await stubborn.defer_async()
    aborted = await plain_stubborn.defer_async()
    async with running_worker(
        app, concurrency=2, shutdown_graceful_timeout=0.2
    ) as task:
        await asyncio.wait_for(started.wait(), timeout=5)

        async def both_running() -> bool:
            return await status_of(app, aborted) == "doing"

        await wait_until(both_running)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert await status_of(app, retried) == "todo"
    assert await status_of(app, aborted) == "aborted"


async def test_worker_registers_and_unregisters(
    app: procrastinate.App, connection: psycopg.Connection[Any]
) -> None:
    async with running_worker(app):

        async def registered() -> bool:
            return bool(
                connection.execute(
                    "SELECT count(*) FROM procrastinate_workers"
                ).fetchone()[0]
            )  # type: ignore[index]

        await wait_until(registered)
    assert connection.execute(
        "SELECT count(*) FROM procrastinate_workers"
    ).fetchone() == (0,)


async def test_middleware_order(app: procrastinate.App) -> None:
    calls: list[str] = []

    async def worker_mw(call_next, context, worker):  # type: ignore[no-untyped-def]
        calls.append("worker")
        return await call_next()

    def sync_mw(call_next, context, worker):  # type: ignore[no-untyped-def]
        calls.append("worker-wide task")
        return call_next()

    def task_mw(call_next, context, worker):  # type: ignore[no-untyped-def]
        calls.append("task")
        return call_next()

    @app.task(task_middleware=[task_mw])
    def job() -> None:
        calls.append("job")

    await job.defer_async()
    await app.run_worker_async(
        wait=False,
        install_signal_handlers=False,
        worker_middleware=[worker_mw],
        task_middleware=[sync_mw],
    )
    assert calls == ["worker", "worker-wide task", "task", "job"]


# Slow: three ticks of a once-a-second periodic task.
@pytest.mark.slow
async def test_two_workers_defer_one_job_per_periodic_tick(
    app: procrastinate.App, conninfo: str
) -> None:
    @app.periodic(cron="* * * * * *")
    @app.task
    async def tick(timestamp: int) -> None: ...

    other = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=conninfo)
    )
    other.tasks = app.tasks
    other.periodic_registry = app.periodic_registry

    async def three_ticks() -> bool:
        return len(await app.job_manager.list_jobs_async(task=tick.name)) >= 3

    async with other.open_async():
        async with running_worker(app, name="a"), running_worker(other, name="b"):
            # Ticks come once a second: this takes three seconds whatever the machine.
            await wait_until(three_ticks, timeout=15)
    rows = await app.job_manager.list_jobs_async(task=tick.name)
    timestamps = [job.task_kwargs["timestamp"] for job in rows]
    assert len(timestamps) >= 3
    assert len(timestamps) == len(set(timestamps))
    assert sorted(timestamps) == list(range(min(timestamps), max(timestamps) + 1))


async def test_remove_old_jobs_builtin(
    app: procrastinate.App, connection: psycopg.Connection[Any]
) -> None:
    @app.task
    def ok() -> None: ...

    await ok.batch_defer_async({}, {})
    await app.run_worker_async(wait=False, install_signal_handlers=False)
    connection.execute(
        "UPDATE procrastinate_events SET at = now() - interval '5 hours' WHERE job_id = 1"
    )
    await app.configure_task("procrastinate.builtin_tasks.remove_old_jobs").defer_async(
        max_hours=2
    )
    await app.run_worker_async(
        wait=False, install_signal_handlers=False, queues=["builtin"]
    )
    remaining = [(j.id, j.status) for j in await app.job_manager.list_jobs_async()]
    assert remaining == [(2, "succeeded"), (3, "succeeded")]


async def test_stop_is_threadsafe_and_idempotent(app: procrastinate.App) -> None:
    w = worker.Worker(app, install_signal_handlers=False)
    run = asyncio.ensure_future(w.run())
    await wait_until(lambda: w.worker_id is not None, what="the worker to register")
    await asyncio.to_thread(w.stop)
    w.stop()
    await asyncio.wait_for(run, timeout=3)
    assert run.exception() is None


async def test_recovery_retries_or_fails_the_jobs_of_dead_workers(
    app: procrastinate.App, connection: psycopg.Connection[Any]
) -> None:
    @app.task(retry=1)
    async def retried() -> None: ...

    @app.task
    async def not_retried() -> None: ...

    await retried.defer_async()
    await not_retried.defer_async()
    dead = await app.job_manager.register_worker()
    await app.job_manager.fetch_jobs(None, dead, 2)
    connection.execute(
        "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour'"
    )
    recovering = worker.Worker(
        app, recover_stalled_jobs=True, install_signal_handlers=False
    )
    recovering.worker_id = await app.job_manager.register_worker()
    recovered = await recovering.recover_stalled_jobs_once()
    assert [job.id for job in recovered] == [1, 2]
    assert await status_of(app, 1) == "todo"
    assert await status_of(app, 2) == "failed"
    assert await recovering.recover_stalled_jobs_once() == []


async def test_claiming_orphaned_jobs_is_exclusive(app: procrastinate.App) -> None:
    await app.configure_task("t").batch_defer_async(*[{} for _ in range(20)])
    dead = await app.job_manager.register_worker()
    await app.job_manager.fetch_jobs(None, dead, 20)
    await app.job_manager.unregister_worker(dead)
    first, second = (
        await app.job_manager.register_worker(),
        await app.job_manager.register_worker(),
    )
    claims = await asyncio.gather(
        app.job_manager.claim_orphaned_jobs(first),
        app.job_manager.claim_orphaned_jobs(second),
    )
    ids = [item.job.id for claim in claims for item in claim]
    assert sorted(ids) == list(range(1, 21))


async def test_one_shot_worker_runs_jobs_unblocked_by_running_ones(
    app: procrastinate.App,
) -> None:
    @app.task(lock="l")
    async def locked() -> None:
        await asyncio.sleep(0.05)

    await locked.batch_defer_async({}, {}, {})
    await app.run_worker_async(wait=False, concurrency=4, install_signal_handlers=False)
    assert [j.status for j in await app.job_manager.list_jobs_async()] == [
        "succeeded"
    ] * 3


async def test_retry_into_a_taken_queueing_lock_fails_the_job_at_once(
    app: procrastinate.App,
) -> None:
    @app.task(retry=True, queueing_lock="only-one", pass_context=True)
    async def flaky(context: procrastinate.JobContext) -> None:
        if context.job.id == 1:
            await flaky.defer_async()  # a waiting twin takes the queueing lock
            raise ValueError

    await flaky.defer_async()
    start = time.monotonic()
    await app.run_worker_async(
        wait=False, install_signal_handlers=False, listen_notify=False
    )
    assert time.monotonic() - start < 5
    statuses = [(j.id, j.status) for j in await app.job_manager.list_jobs_async()]
    assert statuses == [(1, "failed"), (2, "succeeded")]


async def test_a_repeated_abort_request_is_one_event(
    app: procrastinate.App, connection: psycopg.Connection[Any]
) -> None:
    job_id = await app.configure_task("t").defer_async()
    worker_id = await app.job_manager.register_worker()
    await app.job_manager.fetch_jobs(None, worker_id, 1)
    assert await app.job_manager.cancel_job_by_id_async(job_id, abort=True)
    assert await app.job_manager.cancel_job_by_id_async(job_id, abort=True)
    events = connection.execute(
        "SELECT count(*) FROM procrastinate_events WHERE type = 'abort_requested'"
    ).fetchone()
    assert events == (1,)


def test_run_worker_keeps_the_sync_connection_the_user_opened(conninfo: str) -> None:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo))

    @app.task
    def noop() -> None: ...

    with app.open():
        job_id = noop.defer()
        app.run_worker(wait=False, install_signal_handlers=False, listen_notify=False)
        assert app.job_manager.get_job_status(job_id).value == "succeeded"


async def test_a_second_cancellation_aborts_jobs_but_still_shuts_down(
    app: procrastinate.App,
    connection: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="procrastinate")
    started = asyncio.Event()

    @app.task
    async def forever() -> None:
        started.set()
        await asyncio.sleep(60)

    job_id = await forever.defer_async()
    task = asyncio.ensure_future(app.run_worker_async(install_signal_handlers=False))
    await asyncio.wait_for(started.wait(), timeout=5)
    task.cancel()

    def stopping() -> bool:
        return count_actions(caplog.records, "stopping_worker") > 0

    await wait_until(stopping, what="the worker to start stopping")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=5)
    assert await status_of(app, job_id) == "aborted"
    assert connection.execute(
        "SELECT count(*) FROM procrastinate_workers"
    ).fetchone() == (0,)
