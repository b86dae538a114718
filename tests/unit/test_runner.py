"""The runners: which connector method performs a call, and how its result and
errors come back."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from procrastinate import (
    connector,
    exceptions,
    jobs,
    operations,
    queue_operations,
    runner,
    sql,
    worker_operations,
)


class RecordingConnector(connector.BaseConnector):
    """Answers every ``execute_query*`` method with ``answer``, recording the calls."""

    def __init__(self, answer: Any = None, error: Exception | None = None) -> None:
        self.answer = answer
        self.error = error
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattribute__(self, name: str) -> Any:
        if not name.startswith("execute_query"):
            return super().__getattribute__(name)

        def method(*args: Any, **arguments: Any) -> Any:
            self.calls.append((name, args, arguments))
            if self.error is not None:
                raise self.error
            return self.answer

        async def async_method(*args: Any, **arguments: Any) -> Any:
            return method(*args, **arguments)

        return async_method if "_async" in name else method


STATUS = operations.get_job_status(7)
FINISH = operations.finish_job(7, jobs.Status.SUCCEEDED, False, 3)
DELETE = operations.delete_old_jobs(5)


@pytest.mark.parametrize(
    ("call", "answer", "connection", "method"),
    [
        (STATUS, {"status": "todo"}, None, "execute_query_one"),
        (STATUS, {"status": "todo"}, "conn", "execute_query_one_with_connection"),
        (FINISH, [{"id": 7}], None, "execute_query_all"),
        (DELETE, None, None, "execute_query"),
        # There is no row-less method on a caller's connection.
        (DELETE, [], "conn", "execute_query_all_with_connection"),
    ],
)
async def test_each_fetch_kind_uses_its_3x_connector_method(
    call: runner.Call[Any], answer: Any, connection: Any, method: str
) -> None:
    target = RecordingConnector(answer)
    runner.run(target, call, connection)
    await runner.run_async(target, call, connection)
    head = (call.query,) if connection is None else (connection, call.query)
    async_method = (
        method.replace("_with_connection", "_async_with_connection")
        if connection
        else f"{method}_async"
    )
    assert target.calls == [
        (method, head, call.arguments),
        (async_method, head, call.arguments),
    ]


async def test_the_query_sent_is_the_named_query_itself() -> None:
    target = RecordingConnector({"status": "doing"})
    assert await runner.run_async(target, STATUS) == jobs.Status.DOING
    ((_, (query,), arguments),) = target.calls
    assert query is sql.queries["get_job_status"]
    assert query.name == "get_job_status"
    assert arguments == {"job_id": 7}


async def test_an_empty_batch_asks_nothing() -> None:
    target = RecordingConnector()
    call = operations.defer_jobs([])
    assert await runner.run_async(target, call) == []
    assert runner.run(target, call) == []
    assert target.calls == []


def make_job(**fields: Any) -> jobs.Job:
    return jobs.Job(queue="q", lock=None, queueing_lock="ql", task_name="t", **fields)


async def test_a_taken_queueing_lock_is_already_enqueued_with_the_driver_cause() -> (
    None
):
    violation = exceptions.UniqueViolation(
        constraint_name="procrastinate_jobs_queueing_lock_idx_v1", queueing_lock="ql"
    )
    target = RecordingConnector(error=violation)
    with pytest.raises(exceptions.AlreadyEnqueued, match="'ql'") as caught:
        await runner.run_async(target, operations.defer_jobs([make_job()]))
    assert caught.value.__cause__ is violation
    with pytest.raises(exceptions.AlreadyEnqueued):
        runner.run(target, operations.defer_jobs([make_job()]))


@pytest.mark.parametrize("constraint", ["another_idx", None])
async def test_other_unique_violations_pass_unchanged(constraint: str | None) -> None:
    violation = exceptions.UniqueViolation(constraint_name=constraint)
    target = RecordingConnector(error=violation)
    with pytest.raises(exceptions.UniqueViolation) as caught:
        await runner.run_async(target, operations.defer_jobs([make_job()]))
    assert caught.value is violation
    with pytest.raises(exceptions.UniqueViolation) as caught:
        runner.run(target, FINISH)
    assert caught.value is violation


def test_a_lost_job_names_the_job_and_the_worker() -> None:
    with pytest.raises(exceptions.JobLost, match=r"Job 7 .* by worker 3"):
        runner.run(RecordingConnector([]), FINISH)


def test_deferred_jobs_get_their_id_and_status() -> None:
    target = RecordingConnector([{"id": 11}, {"id": 12}])
    first, second = runner.run(
        target, operations.defer_jobs([make_job(), make_job(priority=3)])
    )
    assert (first.id, first.status, second.id, second.priority) == (11, "todo", 12, 3)


def test_the_sync_runner_uses_the_sync_connector() -> None:
    sync_target = RecordingConnector({"status": "failed"})

    class AsyncOnly(connector.BaseConnector):
        def get_sync_connector(self) -> connector.BaseConnector:
            return sync_target

    assert runner.run(AsyncOnly(), STATUS) == jobs.Status.FAILED
    assert [name for name, _, _ in sync_target.calls] == ["execute_query_one"]


def test_every_declared_operation_names_a_query_of_queries_sql() -> None:
    declared = [
        value
        for module in (operations, queue_operations, worker_operations)
        for value in vars(module).values()
        if isinstance(value, runner.Operation)
    ]
    assert len(declared) > 20
    assert {op.query_name for op in declared} <= set(sql.queries)


@pytest.mark.parametrize("kind", ["queues", "tasks", "locks"])
def test_stats_listings_count_every_status(kind: str) -> None:
    row = {"name": "a", "jobs_count": 3, "stats": {"todo": 2, "failed": 1}}
    target = RecordingConnector([row])
    call = operations.list_stats(kind, operations.list_filters(status=jobs.Status.TODO))
    (listed,) = runner.run(target, call)
    assert call.query.name == "list_stats"
    assert call.arguments == {
        "group_by": operations.STATS_COLUMNS[kind],
        "queue_name": None,
        "task_name": None,
        "status": "todo",
        "lock": None,
    }
    assert listed == {
        "name": "a",
        "jobs_count": 3,
        "todo": 2,
        "doing": 0,
        "succeeded": 0,
        "failed": 1,
        "cancelled": 0,
        "aborted": 0,
    }


class StatusReader(runner.OperationRunner):
    def _read_status(
        self, job_id: int, connection: Any = None
    ) -> runner.Call[jobs.Status]:
        """The status of a job."""
        return operations.get_job_status(job_id)

    read_status_async, read_status = runner.twin_methods(_read_status)


@pytest.mark.parametrize(
    ("args", "kwargs", "connection"),
    [
        ((7,), {}, None),
        ((7, "conn"), {}, "conn"),
        ((7,), {"connection": "conn"}, "conn"),
    ],
)
async def test_twin_methods_run_the_built_call_on_the_callers_connection(
    args: tuple[Any, ...], kwargs: dict[str, Any], connection: Any
) -> None:
    target = RecordingConnector({"status": "todo"})
    reader = StatusReader(target)
    assert reader.read_status(*args, **kwargs) == jobs.Status.TODO
    assert await reader.read_status_async(*args, **kwargs) == jobs.Status.TODO
    head = (STATUS.query,) if connection is None else (connection, STATUS.query)
    suffix = "_with_connection" if connection else ""
    assert target.calls == [
        (f"execute_query_one{suffix}", head, {"job_id": 7}),
        (f"execute_query_one_async{suffix}", head, {"job_id": 7}),
    ]


def test_twin_methods_are_named_typed_and_documented_after_the_builder() -> None:
    sync, asynchronous = StatusReader.read_status, StatusReader.read_status_async
    assert (sync.__name__, asynchronous.__name__) == (
        "read_status",
        "read_status_async",
    )
    assert asynchronous.__doc__ == "The status of a job."
    assert sync.__doc__ == "Synchronous version of :meth:`read_status_async`."
    signature = inspect.signature(sync)
    assert list(signature.parameters) == ["self", "job_id", "connection"]
    assert signature.return_annotation is jobs.Status
    assert inspect.iscoroutinefunction(asynchronous)
