"""A custom connector written against procrastinate 3.x's connector interface runs
unchanged (issue 11 item 6): the method names of 3.x, dict arguments wrapped the way
3.x's own psycopg connector did it, rows as dicts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

import procrastinate
from procrastinate import connector as connector_module
from procrastinate import exceptions, sql


def wrap_json(value: Any) -> Any:
    """Dicts, also inside lists and tuples, go to psycopg as jsonb (as in 3.x)."""
    if isinstance(value, dict):
        return Jsonb(value)
    if isinstance(value, (list, tuple)):
        return type(value)(wrap_json(item) for item in value)
    return value


class ThreeXConnector(connector_module.BaseAsyncConnector):
    """A minimal asynchronous connector: one connection per query, as a user of 3.x
    could write it. It only overrides the methods that 3.x's base class declares."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.calls: list[str] = []

    async def open_async(self, pool: Any = None) -> None:
        self.calls.append("open_async")

    async def close_async(self) -> None:
        self.calls.append("close_async")

    async def _rows(
        self, conn: psycopg.AsyncConnection[Any], query: str, arguments: dict[str, Any]
    ) -> list[dict[str, Any]]:
        params = {key: wrap_json(value) for key, value in arguments.items()} or None
        try:
            async with conn.cursor(row_factory=dict_row) as cursor:
                await cursor.execute(query, params)
                return await cursor.fetchall() if cursor.description else []
        except psycopg.errors.UniqueViolation as exc:
            raise exceptions.UniqueViolation(
                str(exc), constraint_name=exc.diag.constraint_name
            ) from exc
        except psycopg.Error as exc:
            raise exceptions.ConnectorException(str(exc)) from exc

    async def _run(self, query: str, arguments: dict[str, Any]) -> list[dict[str, Any]]:
        async with await psycopg.AsyncConnection.connect(
            self.conninfo, autocommit=True
        ) as conn:
            return await self._rows(conn, query, arguments)

    async def execute_query_async(self, query: str, **arguments: Any) -> None:
        self.calls.append("execute_query_async")
        await self._run(query, arguments)

    async def execute_query_one_async(
        self, query: str, **arguments: Any
    ) -> dict[str, Any]:
        self.calls.append("execute_query_one_async")
        return (await self._run(query, arguments))[0]

    async def execute_query_all_async(
        self, query: str, **arguments: Any
    ) -> list[dict[str, Any]]:
        self.calls.append("execute_query_all_async")
        return await self._run(query, arguments)

    async def execute_query_one_async_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> dict[str, Any]:
        self.calls.append("execute_query_one_async_with_connection")
        return (await self._rows(connection, query, arguments))[0]

    async def execute_query_all_async_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> list[dict[str, Any]]:
        self.calls.append("execute_query_all_async_with_connection")
        return await self._rows(connection, query, arguments)

    async def listen_notify(
        self, on_notification: connector_module.Notify, channels: Iterable[str]
    ) -> None:
        self.calls.append("listen_notify")
        async with await psycopg.AsyncConnection.connect(
            self.conninfo, autocommit=True
        ) as conn:
            for channel in channels:
                query = psycopg.sql.SQL(sql.queries["listen_queue"]).format(
                    channel_name=psycopg.sql.Identifier(channel)
                )
                await conn.execute(query)
            async for notify in conn.notifies():
                await on_notification(channel=notify.channel, payload=notify.payload)


async def test_a_3x_connector_defers_runs_and_inspects_jobs(conninfo: str) -> None:
    connector = ThreeXConnector(conninfo)
    app = procrastinate.App(connector=connector)
    seen: list[int] = []
    done = asyncio.Event()

    @app.task
    async def add(a: int, b: int) -> int:
        seen.append(a + b)
        if len(seen) == 4:
            done.set()
        return a + b

    async with app.open_async():
        await add.batch_defer_async({"a": 1, "b": 2}, {"a": 3, "b": 4})
        async with await psycopg.AsyncConnection.connect(conninfo) as conn:
            # In the caller's transaction: it exists once committed.
            job_id = await add.configure(connection=conn).defer_async(a=5, b=6)
            assert (
                await app.job_manager.get_job_status_async(job_id, connection=conn)
                == procrastinate.jobs.Status.TODO
            )
            await conn.commit()
        await add.configure(queueing_lock="one").defer_async(a=7, b=8)
        try:
            await add.configure(queueing_lock="one").defer_async(a=0, b=0)
        except exceptions.AlreadyEnqueued:
            pass
        else:
            raise AssertionError("the queueing lock was not enforced")
        worker = asyncio.ensure_future(
            app.run_worker_async(
                install_signal_handlers=False, fetch_job_polling_interval=60
            )
        )
        try:
            await asyncio.wait_for(done.wait(), timeout=10)
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        (queue,) = await app.job_manager.list_queues_async()
        cancelled = await app.job_manager.cancel_job_by_id_async(99)
    assert sorted(seen) == [3, 7, 11, 15]
    assert (queue["name"], queue["succeeded"]) == ("default", 4)
    assert not cancelled
    assert {
        "listen_notify",
        "execute_query_all_async_with_connection",
        "execute_query_one_async_with_connection",
    } <= set(connector.calls)
