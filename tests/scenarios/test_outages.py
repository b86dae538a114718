"""Outages, the same for every real connector: sessions that the server ends, a server
that refuses connections, a listener whose session ends. The retry policy and the
error classes are those of :mod:`procrastinate.connector.template`."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import traceback
from typing import Any

import pytest

import procrastinate
from procrastinate import connector as connector_module
from procrastinate import exceptions, manager
from tests.scenarios import count_reaches, make_job, wait_until
from tests.scenarios.conftest import Backend, PostgresBackend

PASSWORD = "Hunter2-pw"


def real(backend: Backend) -> PostgresBackend:
    """The backend, unless it has no server to lose (then the test is skipped)."""
    if not isinstance(backend, PostgresBackend):
        pytest.skip("the in-memory connector has no connection to lose")
    return backend


async def test_statements_go_on_after_the_server_ended_the_sessions(
    backend: Backend, job_manager: manager.JobManager
) -> None:
    postgres = real(backend)
    connector = postgres.connector
    # Several connections in the pool, all of which the server ends.
    await asyncio.gather(
        *(connector.execute_query_async("SELECT pg_sleep(0.05)") for _ in range(3))
    )
    assert postgres.terminate_sessions() >= 1
    assert await connector.execute_query_one_async("SELECT 1 AS one") == {"one": 1}
    assert (await job_manager.defer_job_async(make_job())).id == 1
    assert await connector.execute_query_one_async("SELECT 2 AS two") == {"two": 2}


async def test_a_lost_session_in_the_callers_transaction_is_unavailable(
    backend: Backend,
) -> None:
    # Only Django runs the connector's statements in the caller's transaction
    # without a connection given: an atomic block. It cannot be run again.
    if backend.name != "django":
        pytest.skip("the connector has no transaction of the caller to lose")
    from django.db import transaction

    postgres = real(backend)

    def in_atomic_block() -> None:
        with transaction.atomic():
            postgres.connector.execute_query("SELECT 1")
            assert postgres.terminate_sessions() == 1
            postgres.connector.execute_query("SELECT 2")

    with pytest.raises(exceptions.DatabaseUnavailable):
        await asyncio.to_thread(in_atomic_block)


@pytest.fixture
def closed_port() -> int:
    """A local TCP port on which nothing listens (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def refusing_server(backend: PostgresBackend, port: int) -> Any:
    """A connector of the backend's kind on a closed port, a password given."""
    if backend.name != "django":
        yield backend.factory(f"postgresql://me:{PASSWORD}@127.0.0.1:{port}/db")
        return
    from django.conf import settings

    database = settings.DATABASES["default"]
    saved = dict(database)
    database.update(HOST="127.0.0.1", PORT=str(port), USER="me", PASSWORD=PASSWORD)
    try:
        yield backend.new_connector()
    finally:
        database.clear()
        database.update(saved)


async def open_and_query(connector: connector_module.BaseAsyncConnector) -> None:
    # Django's connector has nothing to open: its first query connects.
    await connector.open_async()
    await connector.execute_query_async("SELECT 1")


async def test_a_refused_connection_is_unavailable_in_one_line(
    backend: Backend, closed_port: int
) -> None:
    postgres = real(backend)
    with refusing_server(postgres, closed_port) as connector:
        with pytest.raises(exceptions.DatabaseUnavailable) as excinfo:
            await open_and_query(connector)
    message = str(excinfo.value)
    assert message
    assert "\n" not in message
    assert PASSWORD not in "".join(traceback.format_exception(excinfo.value))


async def test_the_listener_reconnects_with_a_backoff_that_starts_again(
    backend: Backend,
    job_manager: manager.JobManager,
    caplog: pytest.LogCaptureFixture,
) -> None:
    postgres = real(backend)
    backend.require_listening()
    received: list[Any] = []

    async def on_notification(*, channel: str, notification: Any) -> None:
        received.append(notification)

    listener = asyncio.ensure_future(
        job_manager.listen_for_jobs(on_notification=on_notification, queues=["q"])
    )
    try:
        await wait_until(backend.is_listening)
        for round_ in (1, 2):
            assert postgres.terminate_sessions(listening=True) == 1
            await wait_until(backend.is_listening)
            await job_manager.defer_job_async(make_job(queue="q"))
            await wait_until(count_reaches(received, round_))
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
    assert [n["job_id"] for n in received] == [1, 2]
    delays = [
        record.delay  # type: ignore[attr-defined]
        for record in caplog.records
        if getattr(record, "action", None) == "listen_notify_reconnect"
    ]
    # Each reconnection worked at once: the next loss waits the first delay again.
    assert delays == [connector_module.Backoff().next_delay()] * 2


async def test_a_worker_rides_out_terminated_sessions(
    app: procrastinate.App, backend: Backend
) -> None:
    postgres = real(backend)
    done: list[int] = []

    @app.task
    async def work(n: int) -> None:
        if n == 1:
            # Between the fetch of this job and the storing of its outcome.
            await asyncio.to_thread(postgres.terminate_sessions)
        done.append(n)

    await work.batch_defer_async({"n": 1}, {"n": 2})
    await app.run_worker_async(
        wait=False, install_signal_handlers=False, listen_notify=False
    )
    assert done == [1, 2]
    statuses = [job.status for job in await app.job_manager.list_jobs_async()]
    assert statuses == ["succeeded", "succeeded"]
