"""Running a worker, deferring from its threads, and the notifications it listens to."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from typing import Any

import procrastinate
from procrastinate import manager, utils
from tests.scenarios import count_reaches, fetch_ids, make_job, wait_until
from tests.scenarios.conftest import Backend

WORKER_OPTIONS: dict[str, Any] = {
    "wait": False,
    "install_signal_handlers": False,
    "listen_notify": False,
}


async def test_worker_retries_a_failing_task(
    app: procrastinate.App, backend: Backend
) -> None:
    calls: list[int] = []

    @app.task(retry=procrastinate.RetryStrategy(max_attempts=2), pass_context=True)
    async def flaky(context: procrastinate.JobContext) -> None:
        calls.append(context.job.attempts)
        if len(calls) < 3:
            raise ValueError("not yet")

    await flaky.defer_async()
    await app.run_worker_async(**WORKER_OPTIONS)
    assert calls == [0, 1, 2]
    (job,) = await app.job_manager.list_jobs_async()
    assert (job.status, job.attempts, job.worker_id) == ("succeeded", 3, None)
    retry = ["started", "scheduled", "deferred_for_retry"]
    assert backend.event_types(1) == [
        "deferred",
        *retry,
        *retry,
        "started",
        "succeeded",
    ]


async def test_worker_fails_a_task_out_of_retries(app: procrastinate.App) -> None:
    @app.task(retry=1)
    def always_fails() -> None:
        raise ValueError("never")

    await always_fails.defer_async()
    await app.run_worker_async(**WORKER_OPTIONS)
    (job,) = await app.job_manager.list_jobs_async()
    assert (job.status, job.attempts) == ("failed", 2)


async def test_sync_tasks_defer_from_their_threads(app: procrastinate.App) -> None:
    @app.task(queue="children")
    def child(n: int) -> None: ...

    @app.task
    def parent(n: int) -> None:
        child.batch_defer(*({"n": n * 10 + i} for i in range(5)))

    await parent.batch_defer_async(*({"n": n} for n in range(4)))
    await app.run_worker_async(queues=["default"], concurrency=4, **WORKER_OPTIONS)
    children = await app.job_manager.list_jobs_async(queue="children")
    assert sorted(job.task_kwargs["n"] for job in children) == sorted(
        n * 10 + i for n in range(4) for i in range(5)
    )
    assert len({job.id for job in children}) == 20
    await app.run_worker_async(**WORKER_OPTIONS)
    statuses = {job.status for job in await app.job_manager.list_jobs_async()}
    assert statuses == {"succeeded"}


async def test_worker_deletes_jobs_on_request(app: procrastinate.App) -> None:
    @app.task
    async def ok() -> None: ...

    @app.task
    async def ko() -> None:
        raise ValueError

    await ok.defer_async()
    await ko.defer_async()
    await app.run_worker_async(delete_jobs="successful", **WORKER_OPTIONS)
    assert [job.status for job in await app.job_manager.list_jobs_async()] == ["failed"]


async def test_worker_follows_the_order_of_a_lock(app: procrastinate.App) -> None:
    order: list[int] = []

    @app.task(lock="l")
    async def locked(n: int) -> None:
        order.append(n)
        await asyncio.sleep(0.01)
        order.append(n)

    await locked.configure(priority=1).defer_async(n=1)
    await locked.configure(priority=2).defer_async(n=2)
    await locked.defer_async(n=3)
    await app.run_worker_async(**WORKER_OPTIONS)
    assert order == [2, 2, 1, 1, 3, 3]


async def test_notifications(
    job_manager: manager.JobManager, worker_id: int, backend: Backend
) -> None:
    backend.require_listening()
    received: list[tuple[str, dict[str, Any]]] = []

    async def on_notification(*, channel: str, notification: Any) -> None:
        received.append((channel, notification))

    listener = asyncio.ensure_future(
        job_manager.listen_for_jobs(on_notification=on_notification, queues=["q"])
    )
    try:
        await wait_until(backend.is_listening)
        await job_manager.defer_job_async(make_job(queue="q"))
        await job_manager.defer_job_async(make_job(queue="other"))
        assert await fetch_ids(job_manager, worker_id, queues=["q"]) == [1]
        assert await job_manager.cancel_job_by_id_async(1, abort=True)
        # Asking again sends nothing: the abort was requested already.
        assert await job_manager.cancel_job_by_id_async(1, abort=True)
        await job_manager.defer_job_async(make_job(queue="q"))
        assert await fetch_ids(job_manager, worker_id, queues=["q"]) == [3]
        later = utils.utcnow() + datetime.timedelta(days=1)
        await job_manager.retry_job_by_id_async(3, retry_at=later)
        await job_manager.defer_job_async(make_job(queue="q"))
        assert await fetch_ids(job_manager, worker_id, queues=["q"]) == [4]
        await job_manager.retry_job_by_id_async(4, queue="q")
        # Delivery is ordered: once the last one arrives, none is missing or extra.
        await wait_until(count_reaches(received, 5))
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
    channel = "procrastinate_queue_v1#q"
    assert received == [
        (channel, {"type": "job_inserted", "job_id": 1}),
        (channel, {"type": "abort_job_requested", "job_id": 1}),
        (channel, {"type": "job_inserted", "job_id": 3}),
        (channel, {"type": "job_inserted", "job_id": 4}),
        (channel, {"type": "job_inserted", "job_id": 4}),
    ]


async def test_notification_of_a_long_queue_name(
    job_manager: manager.JobManager, backend: Backend
) -> None:
    backend.require_listening()
    queue = "q" + "é" * 40
    received: list[Any] = []

    async def on_notification(*, channel: str, notification: Any) -> None:
        received.append(notification)

    listener = asyncio.ensure_future(
        job_manager.listen_for_jobs(on_notification=on_notification, queues=[queue])
    )
    try:
        await wait_until(backend.is_listening)
        await job_manager.defer_job_async(make_job(queue=queue))
        await wait_until(count_reaches(received, 1))
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
    assert received == [{"type": "job_inserted", "job_id": 1}]


async def test_jobs_whose_args_are_not_an_object_fail_alone(
    app: procrastinate.App, backend: Backend
) -> None:
    ran: list[int] = []

    @app.task
    async def work(n: int) -> None:
        ran.append(n)

    await work.batch_defer_async(*({"n": n} for n in range(1, 6)))
    for job_id, args in ((2, "[1, 2]"), (3, "42"), (4, "null")):
        backend.set_args(job_id, args)
    await app.run_worker_async(**WORKER_OPTIONS)
    assert ran == [1, 5]
    statuses = [job.status for job in await app.job_manager.list_jobs_async()]
    assert statuses == ["succeeded", "failed", "failed", "failed", "succeeded"]


async def test_a_task_aborting_itself_then_raising_ends_failed(
    app: procrastinate.App, backend: Backend
) -> None:
    backend.require_listening()

    @app.task(pass_context=True, retry=True)
    async def self_abort(context: procrastinate.JobContext) -> None:
        assert context.job.id is not None
        await context.app.job_manager.cancel_job_by_id_async(context.job.id, abort=True)
        raise ValueError("after asking for my own abort")

    await self_abort.defer_async()
    await app.run_worker_async(
        **{**WORKER_OPTIONS, "listen_notify": True}, abort_job_polling_interval=0.01
    )
    (job,) = await app.job_manager.list_jobs_async()
    assert (job.status, job.attempts) == ("failed", 1)
