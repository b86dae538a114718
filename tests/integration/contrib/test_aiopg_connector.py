"""AiopgConnector against a real database, workers included."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiopg
import psycopg
import psycopg2.errors
import pytest

import procrastinate
from procrastinate import exceptions, jobs, schema
from procrastinate.contrib.aiopg import AiopgConnector
from procrastinate.contrib.psycopg2 import Psycopg2Connector
from tests.integration.contrib import (
    UNREACHABLE_DSN,
    count_actions,
    decode_dates,
    encode_dates,
    listening_sessions,
    make_app,
    terminate_other_backends,
)


@pytest.fixture
def dsn(db_name: str) -> str:
    return f"dbname={db_name}"


@pytest.fixture
async def connector(dsn: str) -> AsyncIterator[AiopgConnector]:
    connector = AiopgConnector(dsn=dsn, maxsize=4)
    await connector.open_async()
    yield connector
    await connector.close_async()


@pytest.fixture
def aiopg_app(connector: AiopgConnector) -> procrastinate.App:
    return make_app(connector)


async def wait_until(
    predicate: Callable[[], Awaitable[bool] | bool], timeout: float = 5.0
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def background_worker(
    app: procrastinate.App, **options: Any
) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.ensure_future(
        app.run_worker_async(install_signal_handlers=False, **options)
    )
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_defers_one_job_and_a_batch(aiopg_app: procrastinate.App) -> None:
    task = aiopg_app.tasks["sum"]
    first = await task.defer_async(a=1, b=2)
    batch = await task.batch_defer_async({"a": 3, "b": 4}, {"a": 5, "b": 6})
    assert [first, *batch] == [1, 2, 3]
    listed = await aiopg_app.job_manager.list_jobs_async()
    assert [job.task_kwargs for job in listed] == [
        {"a": 1, "b": 2},
        {"a": 3, "b": 4},
        {"a": 5, "b": 6},
    ]
    assert {job.status for job in listed} == {"todo"}


async def test_reads_status_and_cancels(aiopg_app: procrastinate.App) -> None:
    job_manager = aiopg_app.job_manager
    job_id = await aiopg_app.tasks["sum"].defer_async(a=1, b=2)
    assert await job_manager.get_job_status_async(job_id) == jobs.Status.TODO
    assert await job_manager.cancel_job_by_id_async(job_id) is True
    assert await job_manager.get_job_status_async(job_id) == jobs.Status.CANCELLED
    assert await job_manager.cancel_job_by_id_async(job_id) is False
    with pytest.raises(exceptions.NoResult):
        await job_manager.get_job_status_async(42)


async def test_external_connections_are_not_supported(
    aiopg_app: procrastinate.App, connector: AiopgConnector
) -> None:
    async with connector.pool.acquire() as conn:
        with pytest.raises(
            exceptions.ConnectorException, match="does not support external"
        ):
            await aiopg_app.job_manager.cancel_job_by_id_async(1, connection=conn)


async def test_json_hooks_round_trip(
    dsn: str, connection: psycopg.Connection[Any]
) -> None:
    connector = AiopgConnector(
        dsn=dsn, json_dumps=encode_dates, json_loads=decode_dates
    )
    async with make_app(connector).open_async() as app:
        await app.tasks["remember"].defer_async(day=datetime.date(2024, 2, 29))
        (job,) = await app.job_manager.list_jobs_async()
    assert job.task_kwargs == {"day": datetime.date(2024, 2, 29)}
    stored = connection.execute("SELECT args FROM procrastinate_jobs").fetchone()
    assert stored == ({"day": {"date": "2024-02-29"}},)


async def test_json_loads_applies_to_an_adopted_pool(dsn: str) -> None:
    connector = AiopgConnector(json_dumps=encode_dates, json_loads=decode_dates)
    async with aiopg.create_pool(dsn, minsize=1, maxsize=2) as pool:
        async with make_app(connector).open_async(pool) as app:
            await app.tasks["remember"].defer_async(day=datetime.date(2024, 2, 29))
            (job,) = await app.job_manager.list_jobs_async()
        assert not pool.closed
    assert job.task_kwargs == {"day": datetime.date(2024, 2, 29)}


async def test_queueing_lock_raises_already_enqueued(
    aiopg_app: procrastinate.App,
) -> None:
    await aiopg_app.tasks["unique"].defer_async()
    with pytest.raises(exceptions.AlreadyEnqueued, match="the-only-one"):
        await aiopg_app.tasks["unique"].defer_async()


async def test_other_errors_are_chained_connector_exceptions(
    connector: AiopgConnector,
) -> None:
    with pytest.raises(exceptions.ConnectorException) as excinfo:
        await connector.execute_query_async("SELECT 1/0")
    assert isinstance(excinfo.value.__cause__, psycopg2.errors.DivisionByZero)


async def test_applies_the_schema_on_an_empty_database(empty_db_name: str) -> None:
    connector = AiopgConnector(dsn=f"dbname={empty_db_name}")
    async with make_app(connector).open_async() as app:
        with pytest.raises(exceptions.ConnectorException, match="schema is missing"):
            await app.tasks["sum"].defer_async(a=1, b=2)
        await schema.SchemaManager(connector).apply_schema_async()
        assert await app.check_connection_async() is True
        assert await app.tasks["sum"].defer_async(a=1, b=2) == 1


async def test_unreachable_database_is_a_connector_exception() -> None:
    connector = AiopgConnector(dsn=UNREACHABLE_DSN)
    with pytest.raises(
        exceptions.ConnectorException, match="Could not connect to PostgreSQL"
    ):
        await connector.open_async()
    with pytest.raises(exceptions.AppNotOpen):
        await connector.execute_query_async("SELECT 1")


def test_sync_connector_before_opening_is_psycopg2(dsn: str) -> None:
    connector = AiopgConnector(
        dsn=dsn, minsize=1, maxsize=3, timeout=5, enable_json=True, echo=False
    )
    sync_connector = connector.get_sync_connector()
    assert isinstance(sync_connector, Psycopg2Connector)
    # aiopg's own arguments are translated or left out for psycopg2.
    with make_app(connector).open() as app:
        assert sync_connector.pool.maxconn == 3
        assert app.tasks["sum"].defer(a=1, b=2) == 1
        assert app.job_manager.get_job_status(1) == jobs.Status.TODO


async def test_sync_connector_once_open_is_itself(connector: AiopgConnector) -> None:
    assert connector.get_sync_connector() is connector


async def test_retries_after_the_server_ended_the_sessions(
    connector: AiopgConnector,
    aiopg_app: procrastinate.App,
    connection: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    await asyncio.gather(
        *(connector.execute_query_async("SELECT pg_sleep(0.05)") for _ in range(3))
    )
    assert terminate_other_backends(connection) == 3
    assert await aiopg_app.tasks["sum"].defer_async(a=1, b=2) == 1
    # aiopg may notice some dead connections by itself, and drop them; the first
    # dead one used makes the connector clear the pool and retry, once.
    assert count_actions(caplog.records, "connection_lost_retry") <= 1


async def test_runs_a_worker_with_sync_and_async_tasks(
    aiopg_app: procrastinate.App,
) -> None:
    done: list[str] = []

    @aiopg_app.task(name="follow_up")
    async def follow_up(origin: str) -> None:
        done.append(f"follow_up of {origin}")

    @aiopg_app.task(name="sync_then_defer")
    def sync_then_defer() -> None:
        # From a worker thread: the sync API goes through async_to_sync.
        follow_up.defer(origin="sync")
        done.append("sync")

    await sync_then_defer.defer_async()
    await aiopg_app.run_worker_async(wait=False, install_signal_handlers=False)
    assert done == ["sync", "follow_up of sync"]
    statuses = {job.status for job in await aiopg_app.job_manager.list_jobs_async()}
    assert statuses == {"succeeded"}


async def test_listen_notify_wakes_the_worker_up(
    aiopg_app: procrastinate.App, connection: psycopg.Connection[Any]
) -> None:
    done = asyncio.Event()

    @aiopg_app.task(name="ping")
    async def ping() -> None:
        done.set()

    async with background_worker(aiopg_app, fetch_job_polling_interval=60):
        await wait_until(lambda: listening_sessions(connection) == 1)
        started = time.monotonic()
        await ping.defer_async()
        await asyncio.wait_for(done.wait(), timeout=1)
        assert time.monotonic() - started < 1


async def test_listen_notify_reconnects(
    aiopg_app: procrastinate.App,
    connection: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    done = asyncio.Event()

    @aiopg_app.task(name="ping")
    async def ping() -> None:
        done.set()

    async with background_worker(aiopg_app, fetch_job_polling_interval=60):
        await wait_until(lambda: listening_sessions(connection) == 1)
        assert terminate_other_backends(connection, query_prefix="LISTEN") == 1
        await wait_until(
            lambda: count_actions(caplog.records, "listen_notify_reconnect") == 1
        )
        await wait_until(lambda: listening_sessions(connection) == 1)
        await ping.defer_async()
        await asyncio.wait_for(done.wait(), timeout=1)
