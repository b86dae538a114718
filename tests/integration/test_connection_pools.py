"""The default pools of the psycopg connectors hand out the connection returned last:
one query after another stays on one warm connection."""

from __future__ import annotations

import asyncio

from procrastinate import psycopg_common, psycopg_connector, sync_psycopg_connector

BACKEND_PID = "SELECT pg_backend_pid() AS pid"


async def test_sequential_queries_stay_on_one_connection(conninfo: str) -> None:
    connector = psycopg_connector.PsycopgConnector(
        conninfo=conninfo, min_size=3, max_size=3
    )
    await connector.open_async()
    try:
        assert isinstance(connector.pool, psycopg_common.AsyncLastUsedFirstPool)
        pids = [
            (await connector.execute_query_one_async(BACKEND_PID))["pid"]
            for _ in range(6)
        ]
        assert len(set(pids)) == 1

        # Concurrent queries still get a connection each.
        async with connector.pool.connection() as first:
            async with connector.pool.connection() as second:
                assert first is not second
                await asyncio.sleep(0)
    finally:
        await connector.close_async()


def test_the_sync_pool_too(conninfo: str) -> None:
    connector = sync_psycopg_connector.SyncPsycopgConnector(
        conninfo=conninfo, min_size=3, max_size=3
    )
    connector.open()
    try:
        assert isinstance(connector.pool, psycopg_common.LastUsedFirstPool)
        pids = {connector.execute_query_one(BACKEND_PID)["pid"] for _ in range(6)}
        assert len(pids) == 1
    finally:
        connector.close()
