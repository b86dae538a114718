"""Workers and deferrers through PgBouncer in transaction pooling mode: Debian's
``pgbouncer``, started on a free port in front of the test database.

PgBouncer gives each transaction (here each statement: connections are in autocommit)
any server connection of its pool, so nothing may rely on session state, prepared
statements included (PgBouncer 1.21 and later can track them; Debian 12 has 1.18:
the connections disable them with ``prepare_threshold=None``), and a LISTEN through it
loses its notifications.

Without the ``pgbouncer`` executable, these tests are skipped (one line in the summary,
saying how to run them), unless ``PROCRASTINATE_REQUIRE_PGBOUNCER=1``, set by
``.ci/run`` after it installs it, makes them mandatory.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from procrastinate import app as app_module
from procrastinate import psycopg_connector, sync_psycopg_connector

REPO = Path(__file__).resolve().parents[2]
# Debian installs it in /usr/sbin, which is not on every user's PATH.
PGBOUNCER = shutil.which("pgbouncer", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
REQUIRE_VARIABLE = "PROCRASTINATE_REQUIRE_PGBOUNCER"
STARTUP_TIMEOUT = 15.0
# Server connections of PgBouncer's pool: fewer than the clients, so that they are
# shared between them.
POOL_SIZE = 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def pgbouncer_folder() -> Iterator[Path]:
    """A folder for PgBouncer's files, outside pytest's own (which only root may
    enter, while PgBouncer run by root switches to nobody)."""
    folder = Path(tempfile.mkdtemp(prefix="procrastinate-pgbouncer-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def pgbouncer_or_skip() -> str:
    """The path of ``pgbouncer``; without it, skip the test, or fail it when required."""
    if PGBOUNCER is not None:
        return PGBOUNCER
    if os.environ.get(REQUIRE_VARIABLE) == "1":
        pytest.fail(
            f"The PgBouncer tests need pgbouncer ({REQUIRE_VARIABLE}=1), which is not "
            "installed: apt-get install pgbouncer.",
            pytrace=False,
        )
    pytest.skip(
        "pgbouncer is not installed: install it (apt-get install pgbouncer) to run "
        "the PgBouncer tests, as .ci/run does"
    )


@pytest.fixture
def pool_mode() -> str:
    """PgBouncer's pooling mode; transaction pooling is the one that needs care."""
    return "transaction"


@pytest.fixture
def pgbouncer(db_name: str, pgbouncer_folder: Path, pool_mode: str) -> Iterator[str]:
    """A PgBouncer in front of the test database, in ``pool_mode``; its conninfo."""
    executable = pgbouncer_or_skip()
    port = free_port()
    folder = pgbouncer_folder
    user = os.environ.get("PGUSER", "postgres")
    (folder / "users.txt").write_text(f'"{user}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        f"""
[databases]
{db_name} = host={os.environ.get("PGHOST", "127.0.0.1")} port={os.environ.get("PGPORT", "5432")} dbname={db_name} user={user}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder}/users.txt
pool_mode = {pool_mode}
default_pool_size = {POOL_SIZE}
max_client_conn = 200
logfile = {folder}/pgbouncer.log
ignore_startup_parameters = extra_float_digits,options
"""
    )
    command = [executable]
    if os.geteuid() == 0:
        # PgBouncer refuses to run as root.
        folder.chmod(0o777)
        for path in folder.iterdir():
            path.chmod(0o666)
        command += ["-u", "nobody"]
    process = subprocess.Popen(
        [*command, str(folder / "pgbouncer.ini")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    conninfo = f"host=127.0.0.1 port={port} dbname={db_name} user={user}"
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            psycopg.connect(conninfo, connect_timeout=2).close()
            break
        except psycopg.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                output = process.communicate()[0].decode(errors="replace")
                pytest.fail(f"PgBouncer did not start:\n{output}")
            time.sleep(0.1)
    try:
        yield conninfo
    finally:
        process.terminate()
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def through(conninfo: str, **options: Any) -> psycopg_connector.PsycopgConnector:
    return psycopg_connector.PsycopgConnector(
        conninfo=conninfo,
        kwargs={"prepare_threshold": None},
        min_size=2,
        max_size=4,
        **options,
    )


async def test_workers_and_deferrers_through_pgbouncer(
    pgbouncer: str, connection: psycopg.Connection[Any]
):
    # Server connections really are shared: more clients than POOL_SIZE.
    connectors = [through(pgbouncer) for _ in range(3)]
    apps = [app_module.App(connector=connector) for connector in connectors]
    for app in apps:

        @app.task(name="work", queue="q", retry=1, pass_context=True)
        async def work(context: Any, n: int) -> int:
            # Fail the first attempt of some jobs: retries go through PgBouncer too.
            if n % 10 == 0 and context.job.attempts == 0:
                raise ValueError("first attempt")
            await asyncio.sleep(0)
            return n

    sync_connector = sync_psycopg_connector.SyncPsycopgConnector(
        conninfo=pgbouncer, kwargs={"prepare_threshold": None}
    )
    sync_app = app_module.App(connector=sync_connector)
    for app in apps:
        await app.open_async()
    try:
        deferrer = apps[0].configure_task("work")
        await deferrer.batch_defer_async(*({"n": n} for n in range(50)))
        for n in range(50, 60):
            await apps[1].configure_task("work", lock=f"L{n % 3}").defer_async(n=n)
        with sync_app.open():
            sync_deferrer = sync_app.configure_task("work", allow_unknown=True)
            for n in range(60, 70):
                sync_deferrer.defer(n=n)
        await asyncio.gather(
            *(
                app.run_worker_async(
                    wait=False,
                    concurrency=4,
                    listen_notify=False,
                    install_signal_handlers=False,
                )
                for app in apps[1:]
            )
        )
    finally:
        for app in apps:
            await app.close_async()
    rows = connection.execute(
        "SELECT status, count(*), sum(attempts) FROM procrastinate_jobs GROUP BY status"
    ).fetchall()
    # 70 jobs succeeded; the 7 multiples of 10 after a retry.
    assert rows == [("succeeded", 70, 77)]
    assert connection.execute(
        "SELECT count(*) FROM procrastinate_workers"
    ).fetchone() == (0,)


async def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


def job_status(connection: psycopg.Connection[Any], job_id: int) -> str:
    row = connection.execute(
        "SELECT status FROM procrastinate_jobs WHERE id = %s", (job_id,)
    ).fetchone()
    assert row is not None
    return str(row[0])


async def test_listen_through_pgbouncer_falls_back_to_polling(
    pgbouncer: str,
    connection: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.WARNING, logger="procrastinate")
    app = app_module.App(connector=through(pgbouncer))

    @app.task(queue="q")
    async def ping() -> None: ...

    async with app.open_async():
        worker = asyncio.ensure_future(
            app.run_worker_async(
                install_signal_handlers=False, fetch_job_polling_interval=0.2
            )
        )
        try:
            await wait_for(
                lambda: any(
                    getattr(r, "action", None) == "listen_notify_lost"
                    for r in caplog.records
                ),
                psycopg_connector.PROBE_TIMEOUT + 10,
                "the lost notifications to be noticed",
            )
            job_id = await ping.defer_async()
            await wait_for(
                lambda: job_status(connection, job_id) == "succeeded", 10, "the job"
            )
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
    (record,) = [
        r for r in caplog.records if getattr(r, "action", None) == "listen_notify_lost"
    ]
    assert "PgBouncer" in record.getMessage()
    assert "listen_conninfo" in record.getMessage()
    # The listener did not die, nor stop the worker: no error was logged.
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_listen_conninfo_goes_around_pgbouncer(
    pgbouncer: str,
    conninfo: str,
    connection: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.DEBUG, logger="procrastinate")
    app = app_module.App(connector=through(pgbouncer, listen_conninfo=conninfo))

    @app.task(queue="q")
    async def ping() -> None: ...

    async with app.open_async():
        # Polling alone would take a minute: only a notification can be this fast.
        worker = asyncio.ensure_future(
            app.run_worker_async(
                install_signal_handlers=False, fetch_job_polling_interval=60
            )
        )
        try:
            await wait_for(
                lambda: any(
                    getattr(r, "action", None) == "listen_notify_started"
                    for r in caplog.records
                ),
                10,
                "the listener",
            )
            job_id = await ping.defer_async()
            await wait_for(
                lambda: job_status(connection, job_id) == "succeeded", 10, "the job"
            )
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
    assert not [
        r for r in caplog.records if getattr(r, "action", None) == "listen_notify_lost"
    ]


async def listener_log(
    app: app_module.App,
    connection: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
) -> list[str]:
    """Run a worker until its listener has started or given up, and a job deferred
    then has run without polling; the actions of the connector's log records."""
    caplog.set_level(logging.DEBUG, logger="procrastinate")

    @app.task(queue="q")
    async def ping() -> None: ...

    def actions() -> list[str]:
        return [
            getattr(r, "action", "")
            for r in caplog.records
            if r.name.startswith("procrastinate.")
        ]

    async with app.open_async():
        # Polling alone would take a minute: only a notification can be this fast.
        worker = asyncio.ensure_future(
            app.run_worker_async(
                install_signal_handlers=False, fetch_job_polling_interval=60
            )
        )
        try:
            await wait_for(
                lambda: (
                    "listen_notify_started" in actions()
                    or "listen_notify_lost" in actions()
                ),
                psycopg_connector.PROBE_TIMEOUT + 10,
                "the listener",
            )
            job_id = await ping.defer_async()
            await wait_for(
                lambda: job_status(connection, job_id) == "succeeded", 10, "the job"
            )
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
    return actions()


@pytest.mark.parametrize("pool_mode", ["session"])
async def test_listen_through_session_pooling_keeps_notifications(
    pgbouncer: str,
    connection: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
):
    # Behind a proxy, the listener checks that notifications reach it: with session
    # pooling they do, and it goes on listening.
    app = app_module.App(connector=through(pgbouncer))
    actions = await listener_log(app, connection, caplog)
    assert "listen_notify_started" in actions
    assert "listen_notify_lost" not in actions


async def test_a_direct_listener_sends_no_probe(
    conninfo: str,
    connection: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
):
    connector = psycopg_connector.PsycopgConnector(conninfo=conninfo)
    sent: list[str] = []
    execute = connector.execute_query_async

    async def recording(query: str, **arguments: Any) -> None:
        sent.append(getattr(query, "name", query))
        await execute(query, **arguments)

    connector.execute_query_async = recording  # type: ignore[method-assign]
    started = time.monotonic()
    actions = await listener_log(
        app_module.App(connector=connector), connection, caplog
    )
    assert "listen_notify_started" in actions
    assert "notify_probe" not in sent
    assert time.monotonic() - started < psycopg_connector.PROBE_TIMEOUT


def test_ci_requires_pgbouncer() -> None:
    assert f"export {REQUIRE_VARIABLE}=1" in (REPO / ".ci/run").read_text()
