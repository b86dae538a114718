"""The worker's life through database faults, in-process against a real database:
registration lost and regained, side loops and outcomes riding out errors, one-shot
workers that cannot work, pools that cannot fill."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

import procrastinate
from procrastinate import exceptions
from tests.support import databases
from tests.support.waiting import wait_until
from tests.support.workers import (
    count_actions,
    running_worker,
    status_of,
    wait_listening,
)


def terminate_other_sessions(connection: psycopg.Connection[Any]) -> int:
    """End every session of the test database but ``connection``'s own."""
    rows = connection.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    ).fetchall()
    return len(rows)


@contextlib.contextmanager
def read_only(connection: psycopg.Connection[Any]) -> Iterator[None]:
    """
    The test database refuses writes in the block: new sessions are read-only, and
    the existing ones (but ``connection``, which stays writable) are ended so that
    they reconnect as such. The same on the way out.
    """
    name = sql.Identifier(connection.info.dbname)
    connection.execute(
        sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(name)
    )
    terminate_other_sessions(connection)
    try:
        yield
    finally:
        connection.execute(
            sql.SQL("ALTER DATABASE {} RESET default_transaction_read_only").format(
                name
            )
        )
        terminate_other_sessions(connection)


def workers_rows(connection: psycopg.Connection[Any]) -> list[int]:
    return [
        row[0]
        for row in connection.execute(
            "SELECT id FROM procrastinate_workers ORDER BY id"
        ).fetchall()
    ]


async def test_a_pruned_worker_registers_again_keeps_its_job_and_fetches_again(
    app: procrastinate.App, connection: psycopg.Connection[Any]
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    later_ran = asyncio.Event()

    @app.task
    async def long() -> None:
        started.set()
        await release.wait()

    @app.task
    async def later() -> None:
        later_ran.set()

    job_id = await long.defer_async()
    async with running_worker(
        app,
        update_heartbeat_interval=0.1,
        fetch_job_polling_interval=0.1,
        listen_notify=False,
        concurrency=2,
    ) as task:
        await asyncio.wait_for(started.wait(), timeout=5)
        (first_id,) = workers_rows(connection)
        # What another worker's prune does: the row goes, its jobs lose their worker.
        connection.execute("DELETE FROM procrastinate_workers")

        async def registered_again() -> bool:
            return bool(workers_rows(connection))

        await wait_until(registered_again, timeout=5)
        (second_id,) = workers_rows(connection)
        assert second_id != first_id
        assert connection.execute(
            "SELECT worker_id FROM procrastinate_jobs WHERE id = %s", [job_id]
        ).fetchone() == (second_id,)

        await later.defer_async()
        await asyncio.wait_for(later_ran.wait(), timeout=5)
        release.set()

        async def long_done() -> bool:
            return await status_of(app, job_id) == "succeeded"

        await wait_until(long_done, timeout=5)
        assert not task.done()
    assert workers_rows(connection) == []


async def test_a_worker_late_with_its_own_heartbeat_does_not_recover_its_own_job(
    app: procrastinate.App, connection: psycopg.Connection[Any]
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    @app.task(retry=3)
    async def long() -> None:
        started.set()
        await release.wait()

    job_id = await long.defer_async()
    async with running_worker(
        app,
        update_heartbeat_interval=0.1,
        stalled_worker_timeout=0.5,
        recover_stalled_jobs=True,
        listen_notify=False,
    ):
        await asyncio.wait_for(started.wait(), timeout=5)
        # As after a long freeze: its recovery round prunes the worker itself.
        connection.execute(
            "UPDATE procrastinate_workers "
            "SET last_heartbeat = now() - interval '1 hour'"
        )
        # About time: several recovery rounds (every 0.5 s) must pass meanwhile.
        await asyncio.sleep(1)
        release.set()

        async def long_done() -> bool:
            return await status_of(app, job_id) == "succeeded"

        await wait_until(long_done, timeout=5)
    events = connection.execute(
        "SELECT type::text FROM procrastinate_events WHERE job_id = %s ORDER BY id",
        [job_id],
    ).fetchall()
    assert [event for (event,) in events] == ["deferred", "started", "succeeded"]


# Slow: a storm of three seconds, then a tick.
@pytest.mark.slow
async def test_the_periodic_deferrer_rides_out_terminated_connections(
    app: procrastinate.App, connection: psycopg.Connection[Any]
) -> None:
    @app.periodic(cron="* * * * * *")
    @app.task
    async def every_second(timestamp: int) -> None: ...

    async with running_worker(app, fetch_job_polling_interval=0.2) as task:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            terminate_other_sessions(connection)
            # About time: the pace of the storm, lasting three seconds.
            await asyncio.sleep(0.05)
        assert not task.done(), task
        storm_end = connection.execute("SELECT now()").fetchone()
        assert storm_end is not None

        async def deferred_after_the_storm() -> bool:
            row = connection.execute(
                "SELECT count(*) FROM procrastinate_events "
                "WHERE type = 'deferred' AND at > %s",
                [storm_end[0]],
            ).fetchone()
            return row is not None and row[0] > 0

        await wait_until(deferred_after_the_storm, timeout=5)
        assert not task.done()


class FailingListenConnector(procrastinate.PsycopgConnector):
    """Its listener fails for a reason that is no database error."""

    async def listen_notify(self, on_notification: Any, channels: Any) -> None:
        await asyncio.sleep(0.2)
        raise RuntimeError("the listener broke")


async def test_a_side_task_failure_stops_the_worker_and_run_raises(
    conninfo: str, connection: psycopg.Connection[Any]
) -> None:
    app = procrastinate.App(connector=FailingListenConnector(conninfo=conninfo))
    async with app.open_async():
        with pytest.raises(RuntimeError, match="the listener broke"):
            await asyncio.wait_for(
                app.run_worker_async(install_signal_handlers=False), timeout=10
            )
    assert workers_rows(connection) == []


async def test_a_one_shot_worker_ends_with_the_error_when_fetching_cannot_work(
    app: procrastinate.App, connection: psycopg.Connection[Any]
) -> None:
    connection.execute("DROP FUNCTION procrastinate_fetch_jobs_v2")
    with pytest.raises(exceptions.ConnectorException, match="schema is missing"):
        await asyncio.wait_for(
            app.run_worker_async(wait=False, install_signal_handlers=False),
            timeout=10,
        )
    assert workers_rows(connection) == []


async def test_a_one_shot_worker_gives_up_when_the_database_keeps_failing(
    conninfo: str, connection: psycopg.Connection[Any]
) -> None:
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(
            conninfo=f"{conninfo} options='-c lock_timeout=50'", min_size=1
        )
    )
    connection.autocommit = False
    connection.execute("LOCK TABLE procrastinate_jobs IN ACCESS EXCLUSIVE MODE")
    try:
        async with app.open_async():
            start = time.monotonic()
            with pytest.raises(exceptions.DatabaseUnavailable, match="lock timeout"):
                await asyncio.wait_for(
                    app.run_worker_async(
                        wait=False,
                        install_signal_handlers=False,
                        listen_notify=False,
                        fetch_job_polling_interval=0.3,
                    ),
                    timeout=20,
                )
            assert time.monotonic() - start < 10
    finally:
        connection.rollback()
        connection.autocommit = True


async def test_an_outcome_is_stored_once_a_read_only_spell_ends(
    app: procrastinate.App,
    connection: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    @app.task
    async def long() -> None:
        started.set()
        await release.wait()

    job_id = await long.defer_async()
    async with running_worker(app, listen_notify=False):
        await asyncio.wait_for(started.wait(), timeout=5)
        with read_only(connection):
            release.set()

            def refused_twice() -> bool:
                return count_actions(caplog.records, "persist_job_retry") >= 2

            await wait_until(refused_twice, timeout=10)
            assert connection.execute(
                "SELECT status FROM procrastinate_jobs"
            ).fetchone() == ("doing",)

        async def stored() -> bool:
            return await status_of(app, job_id) == "succeeded"

        await wait_until(stored, timeout=10)


async def test_fetching_resumes_within_a_second_after_a_read_only_spell(
    app: procrastinate.App,
    connection: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = asyncio.Event()

    @app.task
    async def ping() -> None:
        started.set()

    async with running_worker(app, fetch_job_polling_interval=5):
        await wait_listening(connection)
        listeners = databases.listening_pids(connection)
        with read_only(connection):
            # The listener is back (LISTEN is no write).
            await wait_listening(connection, besides=listeners)
            # Written by the test's own, writable, session; the notification wakes
            # the worker, whose fetch is then refused.
            connection.execute(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, lock, "
                "queueing_lock, args, priority) VALUES ('default', %s, NULL, NULL, "
                "'{}', 0)",
                [ping.name],
            )

            def fetch_refused() -> bool:
                return count_actions(caplog.records, "fetch_error") > 0

            await wait_until(fetch_refused, timeout=10)
        resumed = time.monotonic()
        await asyncio.wait_for(started.wait(), timeout=10)
        assert time.monotonic() - resumed < 2.5


@pytest.fixture
def limited_role(connection: psycopg.Connection[Any]) -> Iterator[str]:
    """A role allowed two connections at once (superusers have no limit)."""
    name = f"procrastinate_test_limited_{uuid.uuid4().hex[:8]}"
    role = sql.Identifier(name)
    connection.execute(sql.SQL("CREATE ROLE {} LOGIN CONNECTION LIMIT 2").format(role))
    try:
        yield name
    finally:
        terminate = (
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s"
        )
        connection.execute(terminate, [name])
        connection.execute(sql.SQL("DROP ROLE {}").format(role))


# Slow: waits out the pool's timeout of two seconds, on purpose.
@pytest.mark.slow
async def test_a_pool_that_cannot_fill_says_why_within_its_timeout(
    conninfo: str, limited_role: str
) -> None:
    connector = procrastinate.PsycopgConnector(
        conninfo=f"{conninfo} user={limited_role}", min_size=4, timeout=2
    )
    # One connection of the two is taken: the pool gets one of the four it needs.
    blocker = await psycopg.AsyncConnection.connect(f"{conninfo} user={limited_role}")
    start = time.monotonic()
    try:
        with pytest.raises(
            exceptions.DatabaseUnavailable, match="too many connections"
        ):
            await connector.open_async()
    finally:
        await blocker.close()
    assert time.monotonic() - start < 10
