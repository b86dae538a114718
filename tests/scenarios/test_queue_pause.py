"""Pausing and resuming queues: what the fetch skips, what stays possible, and the
notification that wakes the workers of a resumed queue."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

import procrastinate
from procrastinate import exceptions, jobs, manager, utils
from tests.scenarios import count_reaches, fetch_ids, make_job, wait_until
from tests.scenarios.conftest import Backend


async def test_a_paused_queue_is_skipped_by_every_fetch(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.batch_defer_jobs_async(
        [make_job(queue="a"), make_job(queue="b"), make_job(queue="a")]
    )
    assert await job_manager.pause_queue_async("a") is True
    assert await fetch_ids(job_manager, worker_id, queues=["a"]) == []
    assert await fetch_ids(job_manager, worker_id) == [2]
    assert await job_manager.resume_queue_async("a") is True
    assert await fetch_ids(job_manager, worker_id, queues=["a", "b"]) == [1, 3]


async def test_jobs_can_be_deferred_into_a_paused_queue(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.pause_queue_async("a")
    job = await job_manager.defer_job_async(make_job(queue="a"))
    assert job.status == "todo"
    assert await fetch_ids(job_manager, worker_id) == []
    await job_manager.resume_queue_async("a")
    assert await fetch_ids(job_manager, worker_id) == [job.id]


async def test_running_jobs_of_a_paused_queue_finish(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.defer_job_async(make_job(queue="a"))
    (running,) = await job_manager.fetch_jobs(["a"], worker_id, 1)
    await job_manager.pause_queue_async("a")
    await job_manager.finish_job(running, jobs.Status.SUCCEEDED, False)
    assert await job_manager.get_job_status_async(1) == jobs.Status.SUCCEEDED


async def test_pausing_twice_and_resuming_an_active_queue_change_nothing(
    job_manager: manager.JobManager,
) -> None:
    assert await job_manager.resume_queue_async("never_paused") is False
    assert await job_manager.list_queue_states_async() == [
        jobs.QueueState(name="never_paused", paused=False, paused_at=None)
    ]
    before = utils.utcnow()
    assert await job_manager.pause_queue_async("a") is True
    (first,) = await job_manager.list_queue_states_async("a")
    assert await job_manager.pause_queue_async("a") is False
    (second,) = await job_manager.list_queue_states_async("a")
    assert first.paused
    assert first.paused_at is not None
    assert first.paused_at >= before.replace(microsecond=0)
    # The second pause keeps the time of the first.
    assert second == first


async def test_the_states_list_every_queue_ever_paused_by_name(
    job_manager: manager.JobManager,
) -> None:
    for queue in ("b", "a", "c"):
        await job_manager.pause_queue_async(queue)
    await job_manager.resume_queue_async("c")
    states = await job_manager.list_queue_states_async()
    assert [(state.name, state.paused) for state in states] == [
        ("a", True),
        ("b", True),
        ("c", False),
    ]
    assert states[2].paused_at is None
    assert await job_manager.list_queue_states_async("x") == []


async def test_a_queue_can_be_paused_before_it_holds_a_job(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.pause_queue_async("later")
    await job_manager.defer_job_async(make_job(queue="later"))
    assert await fetch_ids(job_manager, worker_id) == []


async def test_a_lock_head_in_a_paused_queue_keeps_the_lock_order(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    await job_manager.batch_defer_jobs_async(
        [make_job(queue="a", lock="l"), make_job(queue="b", lock="l")]
    )
    await job_manager.pause_queue_async("a")
    assert await fetch_ids(job_manager, worker_id) == []
    await job_manager.resume_queue_async("a")
    assert await fetch_ids(job_manager, worker_id) == [1]


@pytest.mark.parametrize("name", ["", "q" * 129, "nul\x00"])
async def test_a_name_no_queue_can_have_is_refused(
    job_manager: manager.JobManager, name: str
) -> None:
    with pytest.raises(exceptions.InvalidQueueName) as excinfo:
        await job_manager.pause_queue_async(name)
    assert "\n" not in str(excinfo.value)
    assert await job_manager.list_queue_states_async() == []


async def test_the_longest_name_is_accepted(
    job_manager: manager.JobManager,
) -> None:
    assert await job_manager.pause_queue_async("q" * 128) is True


async def test_resuming_notifies_the_queue_and_the_any_queue_channels(
    backend: Backend, job_manager: manager.JobManager
) -> None:
    backend.require_listening()
    received: list[Any] = []

    async def on_notification(*, channel: str, notification: Any) -> None:
        received.append((channel, notification))

    listeners = [
        asyncio.ensure_future(
            job_manager.listen_for_jobs(on_notification=on_notification, queues=queues)
        )
        for queues in (["a"], None)
    ]
    try:
        await wait_until(backend.is_listening)
        # Both listeners listen once the first notification reaches both.
        await job_manager.pause_queue_async("a")
        await job_manager.resume_queue_async("a")
        await wait_until(count_reaches(received, 2))
    finally:
        for listener in listeners:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
    resumed = {"type": "queue_resumed", "queue": "a"}
    assert sorted(received, key=lambda item: item[0]) == [
        ("procrastinate_any_queue_v1", resumed),
        ("procrastinate_queue_v1#a", resumed),
    ]


async def test_a_worker_takes_the_jobs_of_a_queue_once_resumed(
    app: procrastinate.App, backend: Backend
) -> None:
    backend.require_listening()
    done: list[int] = []

    @app.task(queue="a")
    async def work(n: int) -> None:
        done.append(n)

    await app.job_manager.pause_queue_async("a")
    await work.defer_async(n=1)
    # A long polling interval: only the notification of the resume can wake it.
    worker = asyncio.ensure_future(
        app.run_worker_async(
            install_signal_handlers=False, fetch_job_polling_interval=60
        )
    )
    try:
        await wait_until(backend.is_listening)
        await asyncio.sleep(0.2)
        assert done == []
        await app.job_manager.resume_queue_async("a")
        await wait_until(count_reaches(done, 1))
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    assert done == [1]
