"""The mechanics of the in-memory connector: dispatch, state, notifications, threads.

What the queries do is checked against PostgreSQL by tests/scenarios.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import pathlib
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

import procrastinate
from procrastinate import exceptions, jobs, manager, schema, sql, testing, utils
from procrastinate.testing import connector as connector_module
from tests.support.jobs import make_job


@pytest.fixture
def connector() -> testing.InMemoryConnector:
    return testing.InMemoryConnector()


@pytest.fixture
def job_manager(connector: testing.InMemoryConnector) -> manager.JobManager:
    return manager.JobManager(connector)


class Inbox:
    """Collects notifications and waits for them."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self.changed = asyncio.Event()

    async def __call__(self, *, channel: str, payload: str) -> None:
        self.received.append((channel, payload))
        self.changed.set()

    async def wait_for(self, count: int) -> list[tuple[str, str]]:
        while len(self.received) < count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 5)
        return self.received


@contextlib.asynccontextmanager
async def listening(
    connector: testing.InMemoryConnector, channels: list[str]
) -> AsyncIterator[Inbox]:
    inbox = Inbox()
    task = asyncio.ensure_future(connector.listen_notify(inbox, channels))
    # One step of the task runs listen_notify up to its first wait: it listens then.
    await asyncio.sleep(0)
    assert connector.on_notification is inbox
    try:
        yield inbox
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def inserted(job_id: int) -> str:
    return json.dumps({"type": "job_inserted", "job_id": job_id})


# Dispatch


@pytest.mark.parametrize("name", sorted(set(sql.queries) - {"listen_queue"}))
def test_every_named_query_has_a_handler(name: str) -> None:
    assert name in connector_module.HANDLERS, f"no handler for query {name}"


def test_every_handler_is_for_a_named_query() -> None:
    assert set(connector_module.HANDLERS) == set(sql.queries) - {"listen_queue"} | {
        "apply_schema"
    }


def test_query_names_include_the_schema() -> None:
    names = testing.query_names()
    assert names[sql.queries["fetch_jobs"]] == "fetch_jobs"
    assert names[schema.SchemaManager.get_schema()] == "apply_schema"


async def test_named_query_is_run_by_its_name_whatever_its_text(
    connector: testing.InMemoryConnector,
) -> None:
    query = sql.Query("check_connection", "SELECT 'another text'")
    assert await connector.execute_query_all_async(query) == [{"check": True}]
    assert connector.queries == [("check_connection", {})]


async def test_plain_text_of_a_named_query_is_run_by_its_name(
    connector: testing.InMemoryConnector,
) -> None:
    text = str(sql.queries["check_connection"])
    assert type(text) is str
    assert await connector.execute_query_all_async(text) == [{"check": True}]
    assert connector.queries == [("check_connection", {})]


async def test_unknown_query_is_named(connector: testing.InMemoryConnector) -> None:
    with pytest.raises(testing.UnknownQuery, match="unknown query: 'SELECT 42;'"):
        await connector.execute_query_all_async("\nSELECT 42;\nSELECT 43;")
    assert connector.queries == []


async def test_query_run_the_wrong_way_is_named(
    connector: testing.InMemoryConnector,
) -> None:
    with pytest.raises(
        testing.UnknownQuery, match=r"'finish_job' through execute_query$"
    ):
        await connector.execute_query_async(
            sql.queries["finish_job"], job_id=1, status="succeeded", delete_job=False
        )
    with pytest.raises(testing.UnknownQuery, match=r"through execute_query$"):
        await connector.execute_query_async(sql.queries["check_connection"])


async def test_queries_are_logged_with_their_arguments(
    job_manager: manager.JobManager, connector: testing.InMemoryConnector
) -> None:
    await job_manager.defer_job_async(make_job(task_kwargs={"a": 1}))
    await job_manager.get_job_status_async(1)
    (defer, status) = connector.queries
    assert defer[0] == "defer_jobs"
    assert json.loads(defer[1]["jobs"])[0]["args"] == {"a": 1}
    assert status == ("get_job_status", {"job_id": 1})


async def test_failed_queries_are_logged_too(
    job_manager: manager.JobManager, connector: testing.InMemoryConnector
) -> None:
    with pytest.raises(exceptions.NoResult):
        await job_manager.get_job_status_async(1)
    assert connector.queries == [("get_job_status", {"job_id": 1})]


async def test_apply_schema_is_a_logged_no_op(
    connector: testing.InMemoryConnector,
) -> None:
    await schema.SchemaManager(connector).apply_schema_async()
    assert connector.queries == [("apply_schema", {})]


async def test_connection_arguments_are_ignored(
    job_manager: manager.JobManager, connector: testing.InMemoryConnector
) -> None:
    job = await job_manager.defer_job_async(make_job(), connection=object())
    assert job.id == 1
    assert (
        await job_manager.get_job_status_async(1, connection=object())
        == jobs.Status.TODO
    )
    assert await job_manager.cancel_job_by_id_async(1, connection=object())


def test_sync_api_without_an_event_loop(
    job_manager: manager.JobManager, connector: testing.InMemoryConnector
) -> None:
    assert job_manager.defer_job(make_job(), connection=object()).id == 1
    assert job_manager.get_job_status(1, connection=object()) == jobs.Status.TODO
    assert job_manager.cancel_job_by_id(1, connection=object())
    assert job_manager.check_connection()
    schema.SchemaManager(connector).apply_schema()
    assert [name for name, _ in connector.queries] == [
        "defer_jobs",
        "get_job_status",
        "cancel_job",
        "check_connection",
        "apply_schema",
    ]


# State


def test_app_opened_synchronously(connector: testing.InMemoryConnector) -> None:
    app = procrastinate.App(connector=connector)

    @app.task
    def task(a: int) -> None: ...

    with app.open():
        assert task.defer(a=1) == 1
    assert connector.states == ["open", "closed"]
    assert connector.jobs[1]["args"] == {"a": 1}


async def test_app_opened_asynchronously(connector: testing.InMemoryConnector) -> None:
    async with procrastinate.App(connector=connector).open_async():
        pass
    assert connector.states == ["open_async", "closed_async"]


async def test_stored_rows(
    job_manager: manager.JobManager, connector: testing.InMemoryConnector
) -> None:
    at = utils.utcnow()
    await job_manager.defer_job_async(
        make_job(lock="l", queueing_lock="q", priority=2, scheduled_at=at)
    )
    assert connector.jobs == {
        1: {
            "id": 1,
            "queue_name": "default",
            "task_name": "t",
            "priority": 2,
            "lock": "l",
            "queueing_lock": "q",
            "args": {},
            "status": "todo",
            "scheduled_at": at,
            "attempts": 0,
            "abort_requested": False,
            "worker_id": None,
            "lock_mode": "ordered",
            "result": None,
            "error": None,
        }
    }
    assert [event["type"] for event in connector.events[1]] == ["scheduled", "deferred"]
    assert connector.events[1][0]["at"] == at


async def test_returned_arguments_are_copies(
    job_manager: manager.JobManager, connector: testing.InMemoryConnector
) -> None:
    await job_manager.defer_job_async(make_job(task_kwargs={"items": [1]}))
    (job,) = await job_manager.list_jobs_async()
    job.task_kwargs["items"].append(2)
    assert connector.jobs[1]["args"] == {"items": [1]}


async def test_json_hooks_are_used() -> None:
    calls: list[str] = []

    def dumps(value: Any) -> str:
        calls.append("dumps")
        return json.dumps(value)

    def loads(raw: str | bytes) -> Any:
        calls.append("loads")
        return json.loads(raw)

    connector = testing.InMemoryConnector(json_dumps=dumps, json_loads=loads)
    await manager.JobManager(connector).defer_job_async(make_job())
    assert calls == ["dumps", "loads"]


async def test_reset_keeps_the_json_hooks() -> None:
    def loads(raw: str | bytes) -> Any:
        return {"loaded": json.loads(raw)}

    connector = testing.InMemoryConnector(json_loads=loads)
    connector.reset()
    await manager.JobManager(connector).defer_job_async(make_job())
    assert connector.jobs[1]["args"] == {"loaded": {}}


async def test_helpers_and_reset(
    job_manager: manager.JobManager, connector: testing.InMemoryConnector
) -> None:
    worker_id = await job_manager.register_worker()
    await job_manager.batch_defer_jobs_async(
        [make_job(lock="a"), make_job(lock="b"), make_job()]
    )
    await job_manager.fetch_jobs(None, worker_id, 2)
    await job_manager.finish_job_by_id_async(2, jobs.Status.FAILED, False)
    assert await job_manager.cancel_job_by_id_async(3)
    job = make_job(task_kwargs={"timestamp": 5})
    await job_manager.defer_periodic_job(job, periodic_id="p", defer_timestamp=5)
    await connector.open_async()
    assert connector.current_locks == {"a"}
    assert [row["id"] for row in connector.finished_jobs] == [2, 3]
    assert connector.periodic_defers == {("t", "p"): 5}

    connector.reset()
    assert (connector.jobs, connector.events, connector.workers) == ({}, {}, {})
    assert (connector.queries, connector.states, connector.periodic_defers) == (
        [],
        [],
        {},
    )
    assert await job_manager.register_worker() == 1
    assert (await job_manager.defer_periodic_job(job, "p", 5)) == 1


async def test_check_connection_follows_table_exists(
    job_manager: manager.JobManager, connector: testing.InMemoryConnector
) -> None:
    assert await job_manager.check_connection_async()
    connector.table_exists = False
    assert not await job_manager.check_connection_async()


def test_import_loads_no_database_driver() -> None:
    code = (
        "import sys, procrastinate; before = set(sys.modules); "
        "import procrastinate.testing; "
        "print(sorted(m for m in set(sys.modules) - before if 'psycopg' in m))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# The modules of procrastinate below the connector layer, which a connector may use.
CONNECTOR_LAYER = {
    "procrastinate.connector",
    "procrastinate.exceptions",
    "procrastinate.jobs",
    "procrastinate.sql",
    "procrastinate.sql.facts",
    "procrastinate.types",
    "procrastinate.utils",
}


def imported_modules(path: pathlib.Path) -> set[str]:
    """The procrastinate modules a file imports, type-only imports included."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module == "procrastinate":
            modules.update(f"procrastinate.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return {module for module in modules if module.startswith("procrastinate")}


@pytest.mark.parametrize(
    "path",
    sorted(pathlib.Path(testing.__file__).parent.glob("*.py")),
    ids=lambda path: path.name,
)
def test_package_imports_nothing_above_the_connector_layer(
    path: pathlib.Path,
) -> None:
    above = {
        module
        for module in imported_modules(path)
        if module not in CONNECTOR_LAYER
        and not module.startswith("procrastinate.testing")
    }
    assert above == set()


def test_imported_modules_sees_every_form_of_import(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "module.py"
    path.write_text(
        "import procrastinate.app\n"
        "from procrastinate import manager\n"
        "from procrastinate.worker import Worker\n"
        "if TYPE_CHECKING:\n"
        "    from procrastinate import blueprints\n"
    )
    assert imported_modules(path) == {
        "procrastinate.app",
        "procrastinate.manager",
        "procrastinate.worker",
        "procrastinate.blueprints",
    }


# Notifications


async def test_insert_notifies_the_queue_and_any_queue_channels(
    job_manager: manager.JobManager, connector: testing.InMemoryConnector
) -> None:
    channels = ["procrastinate_queue_v1#q", "procrastinate_any_queue_v1"]
    async with listening(connector, channels) as inbox:
        await job_manager.defer_job_async(make_job(queue="q"))
        await job_manager.defer_job_async(make_job(queue="r"))
        received = await inbox.wait_for(3)
    assert received == [
        ("procrastinate_queue_v1#q", inserted(1)),
        ("procrastinate_any_queue_v1", inserted(1)),
        ("procrastinate_any_queue_v1", inserted(2)),
    ]
    assert received[0][1] == '{"type": "job_inserted", "job_id": 1}'
    assert connector.notify_channels == channels


async def test_notifications_reach_every_listener(
    job_manager: manager.JobManager, connector: testing.InMemoryConnector
) -> None:
    async with listening(connector, ["procrastinate_queue_v1#a"]) as first:
        async with listening(connector, ["procrastinate_queue_v1#a"]) as second:
            await job_manager.defer_job_async(make_job(queue="a"))
            assert await first.wait_for(1) == await second.wait_for(1)


async def test_listen_notify_ends_with_the_error_of_its_callback(
    job_manager: manager.JobManager, connector: testing.InMemoryConnector
) -> None:
    async def broken(*, channel: str, payload: str) -> None:
        raise RuntimeError("boom")

    task = asyncio.ensure_future(
        connector.listen_notify(broken, ["procrastinate_any_queue_v1"])
    )
    await asyncio.sleep(0)
    await job_manager.defer_job_async(make_job())
    with pytest.raises(RuntimeError, match="boom"):
        await asyncio.wait_for(task, 5)


async def test_no_notification_without_listener(
    job_manager: manager.JobManager, connector: testing.InMemoryConnector
) -> None:
    async with listening(connector, ["procrastinate_any_queue_v1"]) as inbox:
        pass
    await job_manager.defer_job_async(make_job())
    await asyncio.sleep(0.01)
    assert inbox.received == []


async def test_notification_from_another_thread(
    job_manager: manager.JobManager, connector: testing.InMemoryConnector
) -> None:
    async with listening(connector, ["procrastinate_any_queue_v1"]) as inbox:
        # A plain thread: async_to_sync runs the query on an event loop of its own.
        thread = threading.Thread(target=job_manager.defer_job, args=(make_job(),))
        thread.start()
        await utils.sync_to_async(thread.join)
        assert await inbox.wait_for(1) == [("procrastinate_any_queue_v1", inserted(1))]


async def test_refused_query_notifies_nothing(
    job_manager: manager.JobManager, connector: testing.InMemoryConnector
) -> None:
    await job_manager.defer_job_async(make_job(queueing_lock="ql"))
    async with listening(connector, ["procrastinate_any_queue_v1"]) as inbox:
        with pytest.raises(exceptions.AlreadyEnqueued):
            await job_manager.batch_defer_jobs_async(
                [make_job(), make_job(queueing_lock="ql")]
            )
        await job_manager.defer_job_async(make_job())
        assert await inbox.wait_for(1) == [("procrastinate_any_queue_v1", inserted(4))]


async def test_abort_and_retry_notifications(
    job_manager: manager.JobManager, connector: testing.InMemoryConnector
) -> None:
    worker_id = await job_manager.register_worker()
    await job_manager.batch_defer_jobs_async([make_job(), make_job()])
    await job_manager.fetch_jobs(None, worker_id, 2)
    async with listening(connector, ["procrastinate_queue_v1#default"]) as inbox:
        assert await job_manager.cancel_job_by_id_async(1, abort=True)
        await job_manager.retry_job_by_id_async(2, queue="default")
        received = await inbox.wait_for(2)
    assert [json.loads(payload) for _, payload in received] == [
        {"type": "abort_job_requested", "job_id": 1},
        {"type": "job_inserted", "job_id": 2},
    ]


# Threads


async def test_concurrent_defers_from_threads(
    job_manager: manager.JobManager, connector: testing.InMemoryConnector
) -> None:
    def defer_many() -> None:
        for _ in range(20):
            job_manager.defer_job(make_job())

    threads = [threading.Thread(target=defer_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        await utils.sync_to_async(thread.join)
    assert sorted(connector.jobs) == list(range(1, 161))
    assert all(len(events) == 1 for events in connector.events.values())


async def test_concurrent_queueing_lock_defers_keep_one(
    job_manager: manager.JobManager, connector: testing.InMemoryConnector
) -> None:
    outcomes: list[str] = []

    def defer() -> None:
        try:
            job_manager.defer_job(make_job(queueing_lock="ql"))
            outcomes.append("deferred")
        except exceptions.AlreadyEnqueued:
            outcomes.append("refused")

    threads = [threading.Thread(target=defer) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        await utils.sync_to_async(thread.join)
    assert sorted(outcomes) == ["deferred"] + ["refused"] * 9
    assert len(connector.jobs) == 1
