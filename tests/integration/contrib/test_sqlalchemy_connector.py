"""SQLAlchemyPsycopg2Connector against a real database."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import psycopg
import psycopg2.errors
import pytest
import sqlalchemy

import procrastinate
from procrastinate import exceptions, jobs, schema
from procrastinate.contrib.sqlalchemy import SQLAlchemyPsycopg2Connector
from tests.integration.contrib import (
    count_actions,
    decode_dates,
    encode_dates,
    make_app,
    terminate_other_backends,
)


@pytest.fixture
def dsn(db_name: str) -> str:
    return f"postgresql+psycopg2:///{db_name}"


@pytest.fixture
def connector(dsn: str) -> Iterator[SQLAlchemyPsycopg2Connector]:
    connector = SQLAlchemyPsycopg2Connector(dsn=dsn)
    connector.open()
    yield connector
    connector.close()


@pytest.fixture
def sqlalchemy_app(connector: SQLAlchemyPsycopg2Connector) -> procrastinate.App:
    return make_app(connector)


def test_defers_one_job_and_a_batch(sqlalchemy_app: procrastinate.App) -> None:
    task = sqlalchemy_app.tasks["sum"]
    first = task.defer(a=1, b=2)
    batch = task.batch_defer({"a": 3, "b": 4}, {"a": 5, "b": 6})
    assert [first, *batch] == [1, 2, 3]
    listed = sqlalchemy_app.job_manager.list_jobs()
    assert [job.task_kwargs for job in listed] == [
        {"a": 1, "b": 2},
        {"a": 3, "b": 4},
        {"a": 5, "b": 6},
    ]
    assert {job.status for job in listed} == {"todo"}


def test_reads_status_and_cancels(sqlalchemy_app: procrastinate.App) -> None:
    job_manager = sqlalchemy_app.job_manager
    job_id = sqlalchemy_app.tasks["sum"].defer(a=1, b=2)
    assert job_manager.get_job_status(job_id) == jobs.Status.TODO
    assert job_manager.cancel_job_by_id(job_id) is True
    assert job_manager.get_job_status(job_id) == jobs.Status.CANCELLED
    assert job_manager.cancel_job_by_id(job_id) is False
    with pytest.raises(exceptions.NoResult):
        job_manager.get_job_status(42)


def test_runs_queries_in_the_callers_transaction(
    sqlalchemy_app: procrastinate.App, connector: SQLAlchemyPsycopg2Connector
) -> None:
    job_manager = sqlalchemy_app.job_manager
    with connector.engine.connect() as conn:
        task = sqlalchemy_app.tasks["sum"]
        job_id = task.configure(connection=conn).defer(a=1, b=1)
        assert job_manager.cancel_job_by_id(job_id, connection=conn) is True
        status = job_manager.get_job_status(job_id, connection=conn)
        assert status == jobs.Status.CANCELLED
        assert job_manager.list_jobs() == []
        conn.commit()
    assert [job.status for job in job_manager.list_jobs()] == ["cancelled"]


def test_errors_on_the_callers_connection_are_translated(
    sqlalchemy_app: procrastinate.App, connector: SQLAlchemyPsycopg2Connector
) -> None:
    sqlalchemy_app.tasks["unique"].defer()
    with connector.engine.connect() as conn:
        deferrer = sqlalchemy_app.tasks["unique"].configure(connection=conn)
        with pytest.raises(exceptions.AlreadyEnqueued):
            deferrer.defer()


def test_json_hooks_round_trip(dsn: str, connection: psycopg.Connection[Any]) -> None:
    connector = SQLAlchemyPsycopg2Connector(
        dsn=dsn, json_dumps=encode_dates, json_loads=decode_dates
    )
    with make_app(connector).open() as app:
        app.tasks["remember"].defer(day=datetime.date(2024, 2, 29))
        (job,) = app.job_manager.list_jobs()
    assert job.task_kwargs == {"day": datetime.date(2024, 2, 29)}
    stored = connection.execute("SELECT args FROM procrastinate_jobs").fetchone()
    assert stored == ({"day": {"date": "2024-02-29"}},)


def test_queueing_lock_raises_already_enqueued(
    sqlalchemy_app: procrastinate.App,
) -> None:
    sqlalchemy_app.tasks["unique"].defer()
    with pytest.raises(exceptions.AlreadyEnqueued, match="the-only-one"):
        sqlalchemy_app.tasks["unique"].defer()


def test_other_errors_are_chained_connector_exceptions(
    connector: SQLAlchemyPsycopg2Connector,
) -> None:
    with pytest.raises(exceptions.ConnectorException) as excinfo:
        connector.execute_query("SELECT 1/0")
    cause = excinfo.value.__cause__
    assert isinstance(cause, sqlalchemy.exc.DBAPIError)
    assert isinstance(cause.orig, psycopg2.errors.DivisionByZero)
    # The failed transaction was rolled back: the connector goes on.
    assert connector.execute_query_one("SELECT 1 AS one") == {"one": 1}


def test_applies_the_schema_on_an_empty_database(empty_db_name: str) -> None:
    # Plain postgresql:// means psycopg2 to SQLAlchemy; the schema holds "%" signs.
    connector = SQLAlchemyPsycopg2Connector(dsn=f"postgresql:///{empty_db_name}")
    with make_app(connector).open() as app:
        assert connector.engine.dialect.driver == "psycopg2"
        with pytest.raises(exceptions.ConnectorException, match="schema is missing"):
            app.tasks["sum"].defer(a=1, b=2)
        schema.SchemaManager(connector).apply_schema()
        assert app.check_connection() is True
        assert app.tasks["sum"].defer(a=1, b=2) == 1


def test_unreachable_database_is_a_connector_exception() -> None:
    connector = SQLAlchemyPsycopg2Connector(
        dsn="postgresql://postgres@127.0.0.1:1/nowhere"
    )
    with pytest.raises(
        exceptions.ConnectorException, match="Could not connect to PostgreSQL"
    ):
        connector.open()
    with pytest.raises(exceptions.AppNotOpen):
        connector.execute_query("SELECT 1")


def test_other_drivers_are_refused() -> None:
    with pytest.raises(exceptions.ConnectorException, match="postgresql\\+psycopg2"):
        SQLAlchemyPsycopg2Connector(dsn="postgresql+psycopg://")
    engine = sqlalchemy.create_engine("sqlite://")
    try:
        with pytest.raises(exceptions.ConnectorException, match="sqlite"):
            SQLAlchemyPsycopg2Connector().open(engine)
    finally:
        engine.dispose()


def test_adopted_engine_is_used_and_not_disposed(dsn: str) -> None:
    engine = sqlalchemy.create_engine(dsn)
    try:
        pool = engine.pool
        connector = SQLAlchemyPsycopg2Connector()
        with make_app(connector).open(engine) as app:
            assert app.tasks["sum"].defer(a=1, b=2) == 1
        # dispose() would have replaced the pool.
        assert engine.pool is pool
    finally:
        engine.dispose()


def test_own_engine_is_disposed_on_close(dsn: str) -> None:
    connector = SQLAlchemyPsycopg2Connector(dsn=dsn, pool_size=2)
    connector.open()
    engine = connector.engine
    pool = engine.pool
    connector.close()
    assert engine.pool is not pool
    with pytest.raises(exceptions.AppNotOpen):
        connector.engine  # noqa: B018


def test_retries_once_the_connections_were_invalidated(
    dsn: str, connection: psycopg.Connection[Any], caplog: pytest.LogCaptureFixture
) -> None:
    connector = SQLAlchemyPsycopg2Connector(dsn=dsn)
    with make_app(connector).open() as app:
        holders = [connector.engine.connect() for _ in range(3)]
        for holder in holders:
            holder.close()
        assert terminate_other_backends(connection) == 3
        assert app.tasks["sum"].defer(a=1, b=2) == 1
        assert connector.execute_query_one("SELECT 1 AS one") == {"one": 1}
    assert count_actions(caplog.records, "connection_lost_retry") == 1
