"""Declaring tasks on apps and blueprints."""

from __future__ import annotations

import pytest

import procrastinate
from procrastinate import exceptions


def test_task_names_default_to_the_function_path(
    unopened_app: procrastinate.App,
) -> None:
    @unopened_app.task
    def my_task() -> None:
        """Does things."""

    assert my_task.name == f"{__name__}.my_task"
    assert unopened_app.tasks[my_task.name] is my_task
    assert my_task.__doc__ == "Does things."


def test_task_options(unopened_app: procrastinate.App) -> None:
    @unopened_app.task(
        name="named", aliases=["old"], queue="q", priority=3, lock="l", retry=2
    )
    def my_task() -> None: ...

    assert (my_task.name, my_task.queue, my_task.priority, my_task.lock) == (
        "named",
        "q",
        3,
        "l",
    )
    assert unopened_app.tasks["old"] is my_task
    assert my_task.retry_strategy == procrastinate.RetryStrategy(max_attempts=2)


def test_calling_a_task_calls_the_function(unopened_app: procrastinate.App) -> None:
    @unopened_app.task
    def add(a: int, b: int) -> int:
        return a + b

    assert add(1, b=2) == 3


def test_duplicate_names_are_refused_without_partial_registration(
    unopened_app: procrastinate.App,
) -> None:
    @unopened_app.task(name="a")
    def first() -> None: ...

    with pytest.raises(exceptions.TaskAlreadyRegistered):

        @unopened_app.task(name="b", aliases=["a"])
        def second() -> None: ...

    assert "b" not in unopened_app.tasks


def test_blueprint_tasks_cannot_be_deferred_before_attachment() -> None:
    blueprint = procrastinate.Blueprint()

    @blueprint.task
    def my_task() -> None: ...

    with pytest.raises(exceptions.UnboundTaskError):
        my_task.defer()


def test_add_tasks_from_namespaces_names_and_aliases(
    unopened_app: procrastinate.App,
) -> None:
    blueprint = procrastinate.Blueprint()

    @blueprint.task(name="t", aliases=["old_t"])
    def my_task() -> None: ...

    unopened_app.add_tasks_from(blueprint, namespace="ns")
    assert my_task.name == "ns:t"
    assert unopened_app.tasks["ns:t"] is my_task
    assert unopened_app.tasks["ns:old_t"] is my_task
    assert my_task.blueprint is unopened_app


def test_add_tasks_from_refuses_overlaps(unopened_app: procrastinate.App) -> None:
    @unopened_app.task(name="ns:t")
    def taken() -> None: ...

    blueprint = procrastinate.Blueprint()

    @blueprint.task(name="t")
    def my_task() -> None: ...

    with pytest.raises(exceptions.TaskAlreadyRegistered):
        unopened_app.add_tasks_from(blueprint, namespace="ns")
    assert my_task.name == "t"


def test_builtin_task_is_registered_with_its_alias(
    unopened_app: procrastinate.App,
) -> None:
    task = unopened_app.tasks["builtin:procrastinate.builtin_tasks.remove_old_jobs"]
    assert unopened_app.tasks["procrastinate.builtin_tasks.remove_old_jobs"] is task
    assert task.queue == "builtin"


def test_defer_refuses_positional_arguments(unopened_app: procrastinate.App) -> None:
    @unopened_app.task
    def add(a: int) -> int:
        return a

    with pytest.raises(TypeError, match="keyword arguments"):
        add.defer(1)


def test_configure_refuses_two_schedules(unopened_app: procrastinate.App) -> None:
    @unopened_app.task
    def my_task() -> None: ...

    with pytest.raises(ValueError, match="schedule_at and schedule_in"):
        my_task.configure(
            schedule_at=procrastinate.utils.utcnow(), schedule_in={"seconds": 3}
        )


def test_configure_takes_task_defaults_and_overrides(
    unopened_app: procrastinate.App,
) -> None:
    @unopened_app.task(queue="q", priority=2, lock="l", queueing_lock="ql")
    def my_task() -> None: ...

    job = my_task.configure(priority=5, task_kwargs={"a": 1}).job
    assert (job.queue, job.priority, job.lock, job.queueing_lock) == ("q", 5, "l", "ql")
    assert job.task_kwargs == {"a": 1}


@pytest.mark.parametrize(
    "schedule_in", [{"weeks": 10**9}, {"days": -(10**9)}, {"seconds": -99999999999}]
)
def test_schedule_in_out_of_range_is_refused(
    unopened_app: procrastinate.App, schedule_in: dict[str, int]
) -> None:
    # It used to become 9999-12-31 silently: a job that never runs.
    @unopened_app.task
    def my_task() -> None: ...

    with pytest.raises(ValueError, match=r"^schedule_in=.* is out of range: .*UTC"):
        my_task.configure(schedule_in=schedule_in)  # type: ignore[typeddict-item]


def test_configure_task_unknown(unopened_app: procrastinate.App) -> None:
    assert (
        unopened_app.configure_task("elsewhere.task").job.task_name == "elsewhere.task"
    )
    with pytest.raises(exceptions.TaskNotFound, match=r"elsewhere\.task"):
        unopened_app.configure_task("elsewhere.task", allow_unknown=False)


def test_middleware_kind_must_match_the_task(unopened_app: procrastinate.App) -> None:
    async def async_middleware(call_next, context, worker):  # type: ignore[no-untyped-def]
        return await call_next()

    with pytest.raises(exceptions.MiddlewareKindMismatch):

        @unopened_app.task(task_middleware=[async_middleware])
        def sync_task() -> None: ...


def test_from_path_errors() -> None:
    with pytest.raises(exceptions.LoadFromPathError, match="Could not import"):
        procrastinate.App.from_path("nope.nothing.app")
    with pytest.raises(
        exceptions.LoadFromPathError, match="expected an instance of App"
    ):
        procrastinate.App.from_path("procrastinate.exceptions.ProcrastinateException")
    assert isinstance(
        procrastinate.App.from_path("procrastinate_demo.app.app"), procrastinate.App
    )


def test_moved_connectors_raise_a_clear_error() -> None:
    with pytest.raises(
        exceptions.MovedElsewhere, match=r"procrastinate\.contrib\.aiopg"
    ):
        procrastinate.AiopgConnector()  # type: ignore[operator]
    with pytest.raises(exceptions.MovedElsewhere, match="psycopg2"):
        procrastinate.Psycopg2Connector.anything  # noqa: B018


def test_replace_connector_restores(unopened_app: procrastinate.App) -> None:
    other = procrastinate.PsycopgConnector()
    original = unopened_app.connector
    with unopened_app.replace_connector(other) as app:
        assert app.connector is other
        assert app.job_manager.connector is other
    assert unopened_app.connector is original
    assert unopened_app.job_manager.connector is original


def test_with_connector_keeps_periodic_defaults() -> None:
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(), periodic_defaults={"max_delay": 5}
    )
    other = app.with_connector(procrastinate.PsycopgConnector())
    assert other.periodic_defaults == {"max_delay": 5}
    assert other.tasks is app.tasks
