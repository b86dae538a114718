"""Job results: what a worker stores of a run (the value, the error, a refusal),
reading it back, the notification of finished jobs, and waiting for a job."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

import procrastinate
from procrastinate import exceptions, jobs, manager, results, runner, utils
from procrastinate.sql import facts
from tests.scenarios import count_reaches, make_job, wait_until
from tests.scenarios.conftest import Backend

WORKER_OPTIONS: dict[str, Any] = {
    "wait": False,
    "install_signal_handlers": False,
    "listen_notify": False,
}


async def run_one(app: procrastinate.App, task: Any, **kwargs: Any) -> int:
    """Defer a job of ``task``, run the worker until the queue is empty; its id."""
    job_id = await task.defer_async(**kwargs)
    await app.run_worker_async(**WORKER_OPTIONS)
    return int(job_id)


async def test_a_returned_value_is_stored_and_read_back(
    app: procrastinate.App,
) -> None:
    @app.task
    async def add(a: int, b: int) -> dict[str, Any]:
        return {"sum": a + b, "items": [a, b], "text": "é"}

    job_id = await run_one(app, add, a=2, b=3)
    found = await app.job_manager.get_job_result_async(job_id)
    assert (found.status, found.value) == (
        jobs.Status.SUCCEEDED,
        {"sum": 5, "items": [2, 3], "text": "é"},
    )
    assert (found.refused, found.error, found.attempts) == (None, None, 1)
    assert found.deferred_at is not None
    assert found.started_at is not None
    assert found.finished_at is not None
    assert found.deferred_at <= found.started_at <= found.finished_at
    # The synchronous API reads the same.
    same = await utils.sync_to_async(app.job_manager.get_job_result, job_id)
    assert same == found


async def test_a_task_returning_none_stores_nothing(app: procrastinate.App) -> None:
    @app.task
    def nothing() -> None:
        return None

    job_id = await run_one(app, nothing)
    found = await app.job_manager.get_job_result_async(job_id)
    assert (found.status, found.value, found.refused) == (
        jobs.Status.SUCCEEDED,
        None,
        None,
    )


async def test_the_error_of_a_failed_job_is_stored(app: procrastinate.App) -> None:
    @app.task
    def broken() -> None:
        raise ValueError("bad input\x00 \udcff")

    job_id = await run_one(app, broken)
    found = await app.job_manager.get_job_result_async(job_id)
    assert found.status == jobs.Status.FAILED
    assert found.error is not None
    assert found.error.type == "builtins.ValueError"
    # What PostgreSQL cannot store is escaped, not lost.
    assert found.error.message == "bad input\\x00 \\udcff"
    assert found.error.traceback.startswith("Traceback (most recent call last)")
    assert "in broken" in found.error.traceback
    assert found.value is None


async def test_a_retried_job_keeps_the_error_of_its_last_failed_attempt(
    app: procrastinate.App,
) -> None:
    calls: list[int] = []

    @app.task(retry=procrastinate.RetryStrategy(max_attempts=2))
    async def flaky() -> int:
        calls.append(1)
        if len(calls) < 3:
            raise KeyError(f"attempt {len(calls)}")
        return len(calls)

    job_id = await run_one(app, flaky)
    found = await app.job_manager.get_job_result_async(job_id)
    assert (found.status, found.value, found.attempts) == (
        jobs.Status.SUCCEEDED,
        3,
        3,
    )
    # The success keeps the error of the attempt before: why there was a retry.
    assert found.error is not None
    assert (found.error.type, found.error.message) == (
        "builtins.KeyError",
        "'attempt 2'",
    )


def _row(result: runner.Result, *_: Any, **__: Any) -> dict[str, Any]:
    return result.rows[0]


#: The whole row of get_job_result, for readers that rebuild the job (the Django tasks
#: backend): what JobResult leaves out.
read_row = runner.Operation(
    "get_job_result", results.get_job_result_arguments, _row, fetch="all"
)


async def test_the_result_row_describes_the_job_and_its_starts(
    app: procrastinate.App,
) -> None:
    calls: list[int] = []

    @app.task(name="flaky", queue="q", priority=7, retry=1)
    async def flaky(n: int) -> None:
        calls.append(n)
        if len(calls) < 2:
            raise KeyError(n)

    job_id = await run_one(app, flaky, n=3)
    row = await runner.run_async(app.connector, read_row(job_id))
    assert {
        name: row[name]
        for name in (
            "task_name",
            "queue_name",
            "priority",
            "args",
            "worker_id",
            "starts",
        )
    } == {
        "task_name": "flaky",
        "queue_name": "q",
        "priority": 7,
        "args": {"n": 3},
        "worker_id": None,
        "starts": 2,
    }
    assert row["scheduled_at"] is not None  # set by the retry
    assert row["first_started_at"] < row["started_at"] <= row["finished_at"]


async def test_a_value_too_big_is_refused_and_the_job_succeeds(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    app = procrastinate.App(connector=backend.connector, max_result_bytes=10)

    @app.task
    async def big() -> str:
        return "x" * 20

    caplog.set_level(logging.WARNING)
    job_id = await run_one(app, big)
    found = await app.job_manager.get_job_result_async(job_id)
    assert (found.status, found.value) == (jobs.Status.SUCCEEDED, None)
    assert found.refused == (
        "the value is 22 bytes of JSON, more than the app's max_result_bytes=10"
    )
    (record,) = [
        r for r in caplog.records if getattr(r, "action", None) == "job_result_refused"
    ]
    assert f"[{job_id}]" in record.message
    assert "22 bytes" in record.message
    assert "max_result_bytes=10" in record.message


async def test_a_value_that_is_not_json_is_refused_and_the_job_succeeds(
    app: procrastinate.App,
) -> None:
    @app.task
    async def odd() -> object:
        return object()

    job_id = await run_one(app, odd)
    found = await app.job_manager.get_job_result_async(job_id)
    assert (found.status, found.value) == (jobs.Status.SUCCEEDED, None)
    assert found.refused is not None
    assert found.refused.startswith("the value is not JSON-serializable")
    assert "TypeError" in found.refused


async def test_json_the_database_refuses_stores_the_reason(
    app: procrastinate.App,
) -> None:
    @app.task
    async def not_a_number() -> float:
        return float("nan")

    job_id = await run_one(app, not_a_number)
    found = await app.job_manager.get_job_result_async(job_id)
    assert (found.status, found.value) == (jobs.Status.SUCCEEDED, None)
    assert found.refused is not None
    assert found.refused.startswith("the database cannot store the value as JSON")


async def test_the_app_json_hooks_encode_and_decode_the_value(
    backend: Backend,
) -> None:
    def dumps(value: Any) -> str:
        return json.dumps(value, default=lambda item: {"set": sorted(item)})

    def loads(text: str | bytes) -> Any:
        return json.loads(
            text, object_hook=lambda d: set(d["set"]) if "set" in d else d
        )

    connector = backend.new_connector(json_dumps=dumps, json_loads=loads)
    await connector.open_async()
    try:
        app = procrastinate.App(connector=connector)

        @app.task
        async def letters() -> set[str]:
            return {"b", "a"}

        job_id = await run_one(app, letters)
        found = await app.job_manager.get_job_result_async(job_id)
        assert found.value == {"a", "b"}
    finally:
        await connector.close_async()


async def test_reading_the_result_of_an_unknown_or_unfinished_job_fails_clearly(
    job_manager: manager.JobManager,
) -> None:
    with pytest.raises(exceptions.JobNotFound, match="There is no job 9"):
        await job_manager.get_job_result_async(9)
    job = await job_manager.defer_job_async(make_job())
    assert job.id is not None
    with pytest.raises(exceptions.JobNotFinished, match="status todo") as raised:
        await job_manager.get_job_result_async(job.id)
    partial = raised.value.job_result
    assert isinstance(partial, results.JobResult)
    assert (partial.status, partial.attempts) == (jobs.Status.TODO, 0)
    assert partial.deferred_at is not None
    assert partial.finished_at is None


async def test_a_cancelled_job_has_a_result_without_value(
    job_manager: manager.JobManager,
) -> None:
    job = await job_manager.defer_job_async(make_job())
    assert job.id is not None
    await job_manager.cancel_job_by_id_async(job.id)
    found = await job_manager.get_job_result_async(job.id)
    assert (found.status, found.value, found.error) == (
        jobs.Status.CANCELLED,
        None,
        None,
    )
    assert found.finished_at is not None


async def test_deleting_jobs_deletes_their_results(
    app: procrastinate.App, backend: Backend
) -> None:
    @app.task
    async def answer() -> int:
        return 42

    kept = await run_one(app, answer)
    backend.age_events(kept, hours=2)
    await app.job_manager.delete_old_jobs(nb_hours=1)
    with pytest.raises(exceptions.JobNotFound):
        await app.job_manager.get_job_result_async(kept)
    job_id = await answer.defer_async()
    await app.run_worker_async(**WORKER_OPTIONS, delete_jobs="successful")
    with pytest.raises(exceptions.JobNotFound):
        await app.job_manager.get_job_result_async(job_id)


async def test_one_notification_names_the_jobs_a_statement_finished(
    backend: Backend, job_manager: manager.JobManager, worker_id: int
) -> None:
    backend.require_listening()
    received: list[str] = []

    async def on_notification(*, channel: str, payload: str) -> None:
        received.append(payload)

    listener = asyncio.create_task(
        backend.connector.listen_notify(
            on_notification=on_notification, channels=[facts.JOB_FINISHED_CHANNEL]
        )
    )
    try:
        await wait_until(backend.is_listening)
        await job_manager.batch_defer_jobs_async([make_job(), make_job()])
        # A fetch finishes nothing: no notification.
        (first, second) = await job_manager.fetch_jobs(None, worker_id, 2)
        await job_manager.finish_job(first, jobs.Status.SUCCEEDED, False)
        await job_manager.cancel_job_by_id_async(second.id or 0, abort=True)
        await job_manager.finish_job(second, jobs.Status.ABORTED, False)
        await wait_until(count_reaches(received, 2))
        await asyncio.sleep(0.1)  # nothing else comes: fetch and abort are silent
    finally:
        listener.cancel()
    assert [results.finished_ids(payload) for payload in received] == [{1}, {2}]
    assert received[0] == '{"job_ids": [1]}'


async def test_wait_for_job_wakes_on_the_notification(
    backend: Backend, job_manager: manager.JobManager, worker_id: int
) -> None:
    backend.require_listening()
    job = await job_manager.defer_job_async(make_job())
    assert job.id is not None
    (running,) = await job_manager.fetch_jobs(None, worker_id, 1)
    # A poll interval far longer than the test: only the notification can end it.
    waiting = asyncio.create_task(
        job_manager.wait_for_job_async(job.id, timeout=30, poll_interval=60)
    )
    await wait_until(backend.is_listening)
    await asyncio.sleep(0.05)  # let the wait read the job once before it finishes
    row = {"id": running.id, "worker_id": worker_id, "status": "succeeded"}
    await job_manager.store_outcomes(
        [{**row, "delete_job": False, "result": '{"value": [1, 2]}'}]
    )
    found = await asyncio.wait_for(waiting, 10)
    assert (found.status, found.value) == (jobs.Status.SUCCEEDED, [1, 2])


async def test_wait_for_job_polls_without_notifications(
    job_manager: manager.JobManager, worker_id: int
) -> None:
    job = await job_manager.defer_job_async(make_job())
    assert job.id is not None
    (running,) = await job_manager.fetch_jobs(None, worker_id, 1)

    async def finish_later() -> None:
        await asyncio.sleep(0.1)
        await job_manager.finish_job(running, jobs.Status.FAILED, False)

    finisher = asyncio.create_task(finish_later())
    found = await job_manager.wait_for_job_async(job.id, timeout=10, poll_interval=0.05)
    await finisher
    assert found.status == jobs.Status.FAILED
    # The synchronous wait polls too.
    same = await utils.sync_to_async(job_manager.wait_for_job, job.id, 1, 0.05)
    assert same.status == jobs.Status.FAILED


async def test_wait_for_job_times_out_clearly(
    job_manager: manager.JobManager,
) -> None:
    job = await job_manager.defer_job_async(make_job())
    assert job.id is not None
    with pytest.raises(exceptions.JobWaitTimeout, match="did not finish in time"):
        await job_manager.wait_for_job_async(job.id, timeout=0.2, poll_interval=0.05)
    with pytest.raises(TimeoutError):
        await utils.sync_to_async(job_manager.wait_for_job, job.id, 0.1, 0.05)
    with pytest.raises(exceptions.JobNotFound):
        await job_manager.wait_for_job_async(job.id + 1, timeout=1)
    with pytest.raises(ValueError, match="timeout"):
        await job_manager.wait_for_job_async(job.id, timeout=-1)
