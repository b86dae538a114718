"""The errors that every connector raises alike: no result, a server error, a
connector not open."""

from __future__ import annotations

import pytest

from procrastinate import exceptions, manager
from tests.scenarios.conftest import Backend, PostgresBackend


async def test_the_status_of_a_missing_job_is_no_result(
    job_manager: manager.JobManager,
) -> None:
    with pytest.raises(exceptions.NoResult):
        await job_manager.get_job_status_async(42)


async def test_a_server_error_chains_the_drivers_and_the_connector_goes_on(
    backend: Backend,
) -> None:
    if not isinstance(backend, PostgresBackend):
        pytest.skip("the in-memory connector runs no SQL of its own")
    connector = backend.connector
    with pytest.raises(exceptions.ConnectorException) as excinfo:
        await connector.execute_query_async("SELECT 1/0")
    assert not isinstance(excinfo.value, exceptions.TransientDatabaseError)
    assert str(excinfo.value) == "division by zero"
    assert excinfo.value.__cause__ is not None
    # The failed statement was rolled back: the connection is usable again.
    assert await connector.execute_query_one_async("SELECT 1 AS one") == {"one": 1}


async def test_a_connector_not_open_says_so(backend: Backend) -> None:
    if backend.name in ("in_memory", "django"):
        pytest.skip("the connector has nothing to open")
    with pytest.raises(exceptions.AppNotOpen):
        await backend.new_connector().execute_query_async("SELECT 1")
