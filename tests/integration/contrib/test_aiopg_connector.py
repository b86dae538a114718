"""AiopgConnector against a real database, workers included."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator

import aiopg
import pytest

import procrastinate
from procrastinate import exceptions, jobs, schema
from procrastinate.contrib.aiopg import AiopgConnector
from procrastinate.contrib.psycopg2 import Psycopg2Connector
from tests.integration.contrib import (
    decode_dates,
    encode_dates,
    make_app,
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


async def test_external_connections_are_not_supported(
    aiopg_app: procrastinate.App, connector: AiopgConnector
) -> None:
    async with connector.pool.acquire() as conn:
        with pytest.raises(
            exceptions.ConnectorException, match="does not support external"
        ):
            await aiopg_app.job_manager.cancel_job_by_id_async(1, connection=conn)


async def test_json_loads_applies_to_an_adopted_pool(dsn: str) -> None:
    connector = AiopgConnector(json_dumps=encode_dates, json_loads=decode_dates)
    async with aiopg.create_pool(dsn, minsize=1, maxsize=2) as pool:
        async with make_app(connector).open_async(pool) as app:
            await app.tasks["remember"].defer_async(day=datetime.date(2024, 2, 29))
            (job,) = await app.job_manager.list_jobs_async()
        assert not pool.closed
    assert job.task_kwargs == {"day": datetime.date(2024, 2, 29)}


async def test_the_callers_on_connect_runs_after_the_connectors_own(dsn: str) -> None:
    seen = []

    async def on_connect(connection: aiopg.Connection) -> None:
        # The connector's own hook has run: its json_loads reads this value.
        async with connection.cursor() as cursor:
            await cursor.execute("""SELECT '{"date": "2024-02-29"}'::jsonb AS day""")
            seen.append(dict(await cursor.fetchone()))

    connector = AiopgConnector(
        dsn=dsn, maxsize=1, json_loads=decode_dates, on_connect=on_connect
    )
    async with make_app(connector).open_async() as app:
        assert await app.check_connection_async() is True
    assert seen == [{"day": datetime.date(2024, 2, 29)}]


async def test_applies_the_schema_on_an_empty_database(empty_db_name: str) -> None:
    connector = AiopgConnector(dsn=f"dbname={empty_db_name}")
    async with make_app(connector).open_async() as app:
        with pytest.raises(exceptions.ConnectorException, match="schema is missing"):
            await app.tasks["sum"].defer_async(a=1, b=2)
        await schema.SchemaManager(connector).apply_schema_async()
        assert await app.check_connection_async() is True
        assert await app.tasks["sum"].defer_async(a=1, b=2) == 1


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
