"""Psycopg2Connector against a real database."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg2
import psycopg2.pool
import pytest

import procrastinate
from procrastinate import exceptions, jobs, schema
from procrastinate.contrib.psycopg2 import Psycopg2Connector
from tests.integration.contrib import (
    make_app,
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


def test_applies_the_schema_on_an_empty_database(empty_db_name: str) -> None:
    connector = Psycopg2Connector(dsn=f"dbname={empty_db_name}")
    with make_app(connector).open() as app:
        with pytest.raises(exceptions.ConnectorException, match="schema is missing"):
            app.tasks["sum"].defer(a=1, b=2)
        schema.SchemaManager(connector).apply_schema()
        assert app.check_connection() is True
        assert app.tasks["sum"].defer(a=1, b=2) == 1


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
