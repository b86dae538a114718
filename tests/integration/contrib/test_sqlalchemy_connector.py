"""SQLAlchemyPsycopg2Connector against a real database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy

import procrastinate
from procrastinate import exceptions, jobs, schema
from procrastinate.contrib.sqlalchemy import SQLAlchemyPsycopg2Connector
from tests.integration.contrib import (
    make_app,
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
