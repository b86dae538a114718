"""Psycopg2Connector against a real database."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import psycopg
import psycopg2
import psycopg2.pool
import pytest

import procrastinate
from procrastinate import exceptions, jobs, schema
from procrastinate.contrib.psycopg2 import Psycopg2Connector
from tests.integration.contrib import (
    UNREACHABLE_DSN,
    count_actions,
    decode_dates,
    encode_dates,
    make_app,
    terminate_other_backends,
)


@pytest.fixture
def dsn(db_name: str) -> str:
    return f"dbname={db_name}"


@pytest.fixture
def connector(dsn: str) -> Iterator[Psycopg2Connector]:
    connector = Psycopg2Connector(dsn=dsn, maxconn=3)
    connector.open()
    yield connector
    connector.close()


@pytest.fixture
def psycopg2_app(connector: Psycopg2Connector) -> procrastinate.App:
    return make_app(connector)


def test_defers_one_job_and_a_batch(psycopg2_app: procrastinate.App) -> None:
    task = psycopg2_app.tasks["sum"]
    first = task.defer(a=1, b=2)
    batch = task.batch_defer({"a": 3, "b": 4}, {"a": 5, "b": 6})
    assert [first, *batch] == [1, 2, 3]
    listed = psycopg2_app.job_manager.list_jobs()
    assert [job.task_kwargs for job in listed] == [
        {"a": 1, "b": 2},
        {"a": 3, "b": 4},
        {"a": 5, "b": 6},
    ]
    assert {job.status for job in listed} == {"todo"}


def test_reads_status_and_cancels(psycopg2_app: procrastinate.App) -> None:
    job_manager = psycopg2_app.job_manager
    job_id = psycopg2_app.tasks["sum"].defer(a=1, b=2)
    assert job_manager.get_job_status(job_id) == jobs.Status.TODO
    assert job_manager.cancel_job_by_id(job_id) is True
    assert job_manager.get_job_status(job_id) == jobs.Status.CANCELLED
    assert job_manager.cancel_job_by_id(job_id) is False


def test_status_of_a_missing_job_is_no_result(
    psycopg2_app: procrastinate.App,
) -> None:
    with pytest.raises(exceptions.NoResult):
        psycopg2_app.job_manager.get_job_status(42)


def test_runs_queries_in_the_callers_transaction(
    psycopg2_app: procrastinate.App, dsn: str
) -> None:
    job_manager = psycopg2_app.job_manager
    conn = psycopg2.connect(dsn)
    try:
        job_id = psycopg2_app.tasks["sum"].configure(connection=conn).defer(a=1, b=1)
        assert job_manager.cancel_job_by_id(job_id, connection=conn) is True
        status = job_manager.get_job_status(job_id, connection=conn)
        assert status == jobs.Status.CANCELLED
        assert job_manager.list_jobs() == []
        conn.commit()
    finally:
        conn.close()
    assert [job.status for job in job_manager.list_jobs()] == ["cancelled"]


def test_json_hooks_round_trip(dsn: str, connection: psycopg.Connection[Any]) -> None:
    connector = Psycopg2Connector(
        dsn=dsn, json_dumps=encode_dates, json_loads=decode_dates
    )
    with make_app(connector).open() as app:
        app.tasks["remember"].defer(day=datetime.date(2024, 2, 29))
        (job,) = app.job_manager.list_jobs()
    assert job.task_kwargs == {"day": datetime.date(2024, 2, 29)}
    stored = connection.execute("SELECT args FROM procrastinate_jobs").fetchone()
    assert stored == ({"day": {"date": "2024-02-29"}},)


def test_queueing_lock_raises_already_enqueued(
    psycopg2_app: procrastinate.App,
) -> None:
    psycopg2_app.tasks["unique"].defer()
    with pytest.raises(exceptions.AlreadyEnqueued, match="the-only-one"):
        psycopg2_app.tasks["unique"].defer()


def test_applies_the_schema_on_an_empty_database(empty_db_name: str) -> None:
    connector = Psycopg2Connector(dsn=f"dbname={empty_db_name}")
    with make_app(connector).open() as app:
        with pytest.raises(exceptions.ConnectorException, match="schema is missing"):
            app.tasks["sum"].defer(a=1, b=2)
        schema.SchemaManager(connector).apply_schema()
        assert app.check_connection() is True
        assert app.tasks["sum"].defer(a=1, b=2) == 1


def test_unreachable_database_is_a_connector_exception() -> None:
    connector = Psycopg2Connector(dsn=UNREACHABLE_DSN)
    with pytest.raises(
        exceptions.ConnectorException, match="Could not connect to PostgreSQL"
    ) as excinfo:
        connector.open()
    assert isinstance(excinfo.value.__cause__, psycopg2.OperationalError)


def test_other_errors_are_chained_connector_exceptions(
    connector: Psycopg2Connector,
) -> None:
    with pytest.raises(exceptions.ConnectorException) as excinfo:
        connector.execute_query("SELECT 1/0")
    assert isinstance(excinfo.value.__cause__, psycopg2.errors.DivisionByZero)
    assert connector.execute_query_one("SELECT 1 AS one") == {"one": 1}


async def test_asynchronous_use_is_refused() -> None:
    connector = Psycopg2Connector()
    with pytest.raises(exceptions.SyncConnectorConfigurationError):
        await connector.execute_query_all_async("SELECT 1")
    with pytest.raises(exceptions.SyncConnectorConfigurationError):
        await connector.open_async()


def test_not_open_is_app_not_open() -> None:
    with pytest.raises(exceptions.AppNotOpen):
        Psycopg2Connector().execute_query("SELECT 1")


def test_adopted_pool_is_used_and_left_open(dsn: str) -> None:
    # A pool of the caller, whose connections are not in autocommit mode.
    pool = psycopg2.pool.ThreadedConnectionPool(1, 2, dsn=dsn)
    try:
        connector = Psycopg2Connector()
        with make_app(connector).open(pool) as app:
            app.tasks["sum"].defer(a=1, b=2)
        assert not pool.closed
        other = Psycopg2Connector(dsn=dsn)
        with make_app(other).open() as other_app:
            # Committed, so visible from another connection.
            assert len(other_app.job_manager.list_jobs()) == 1
    finally:
        pool.closeall()


def test_retries_on_connections_killed_in_the_pool(
    dsn: str, connection: psycopg.Connection[Any], caplog: pytest.LogCaptureFixture
) -> None:
    # The pool keeps minconn idle connections: all of them die.
    connector = Psycopg2Connector(dsn=dsn, minconn=3, maxconn=3)
    with make_app(connector).open() as app:
        assert terminate_other_backends(connection) == 3
        assert app.tasks["sum"].defer(a=1, b=2) == 1
        assert connector.execute_query_one("SELECT 1 AS one") == {"one": 1}
    # Every dead connection was tried once, and dropped.
    assert count_actions(caplog.records, "connection_lost_retry") == 3
