"""Input that used to be ignored or stored silently is refused, naming the argument."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

import procrastinate


@pytest.fixture
def task(unopened_app: procrastinate.App) -> Any:
    @unopened_app.task
    def my_task() -> None: ...

    return my_task


def test_misspelled_configure_option_is_refused(task: Any) -> None:
    # It was ignored: the job went to the default queue.
    with pytest.raises(TypeError, match=r"unknown option\(s\) queu: the options are"):
        task.configure(queu="other")


def test_misspelled_configure_option_through_the_app_is_refused(
    unopened_app: procrastinate.App, task: Any
) -> None:
    with pytest.raises(TypeError, match="priorty"):
        unopened_app.configure_task(task.name, priorty=3)
    with pytest.raises(TypeError, match="priorty"):
        unopened_app.configure_task("elsewhere.task", priorty=3)


def test_misspelled_periodic_option_is_refused(unopened_app: procrastinate.App) -> None:
    with pytest.raises(TypeError, match=r"periodic\(\) got unknown option\(s\) queu"):

        @unopened_app.periodic(cron="* * * * *", queu="other")  # type: ignore[call-arg]
        @unopened_app.task
        def tick(timestamp: int) -> None: ...


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        # Used to be stored as 7.
        ({"priority": "7"}, TypeError, r"^priority must be an int, not str: e\.g\."),
        ({"priority": True}, TypeError, "priority must be an int, not bool"),
        ({"priority": 2**31}, ValueError, r"priority=2147483648 is out of range"),
        ({"queue": 3}, TypeError, "queue must be a string, not int"),
        ({"queue": "a\x00b"}, ValueError, "queue contains a NUL character"),
        ({"lock": ["l"]}, TypeError, "lock must be a string or None, not list"),
        ({"queueing_lock": 1}, TypeError, "queueing_lock must be a string or None"),
        ({"task_kwargs": [1]}, TypeError, "task_kwargs must be a dict, not list"),
        ({"schedule_at": "2030-01-01"}, TypeError, "schedule_at must be a datetime"),
        (
            {"schedule_at": datetime.datetime(2030, 1, 1)},
            ValueError,
            "schedule_at=2030-01-01T00:00:00 has no time zone",
        ),
        (
            {
                "schedule_at": datetime.datetime(
                    9999,
                    12,
                    31,
                    tzinfo=datetime.timezone(-datetime.timedelta(hours=14)),
                )
            },
            ValueError,
            r"schedule_at=9999-12-31T00:00:00-14:00 is out of range",
        ),
        (
            {"schedule_in": {"days": -(10**9)}},
            ValueError,
            "schedule_in=.* out of range",
        ),
        ({"schedule_in": {"day": 1}}, TypeError, r"schedule_in=\{'day': 1\} is not"),
    ],
)
def test_ill_typed_options_are_refused(
    task: Any, options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        task.configure(**options)


def test_ill_typed_task_defaults_are_refused(unopened_app: procrastinate.App) -> None:
    with pytest.raises(TypeError, match="priority must be an int, not str"):

        @unopened_app.task(priority="7")  # type: ignore[call-overload]
        def my_task() -> None: ...


def test_json_arguments_are_checked_before_sending(task: Any) -> None:
    # PostgreSQL used to answer "invalid input syntax for type json".
    with pytest.raises(ValueError, match="Task argument ratio is NaN"):
        task.configure().make_new_job(ratio=float("nan"))
    with pytest.raises(ValueError, match=r"Task argument a\['b'\] contains a NUL"):
        task.configure(task_kwargs={"a": {"b": "\x00"}}).make_new_job()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        # The worker listened on the queues d, e, f, a, u, l, t.
        ({"queues": "default"}, r"queues=\['default'\]"),
        ({"queues": ["a", 1]}, "queue names"),
        ({"concurency": 2}, r"Unknown worker option\(s\) concurency"),
    ],
)
async def test_worker_options_are_checked(
    unopened_app: procrastinate.App, options: dict[str, Any], message: str
) -> None:
    # Refused before the worker touches the database (the app is not even open).
    with pytest.raises(TypeError, match=message):
        await unopened_app.run_worker_async(**options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"worker_defaults": {"queues": "default"}}, r"queues=\['default'\]"),
        ({"worker_defaults": {"concurency": 2}}, "worker_defaults option.* concurency"),
        ({"periodic_defaults": {"max_dealy": 2}}, "periodic_defaults option.* max_d"),
    ],
)
def test_app_defaults_are_checked(options: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        procrastinate.App(connector=procrastinate.PsycopgConnector(), **options)


@pytest.mark.parametrize("max_hours", [-1, 1.5, "72", True, 2**31])
async def test_remove_old_jobs_refuses_a_bad_max_hours(
    unopened_app: procrastinate.App, max_hours: Any
) -> None:
    # -1 deleted every finished job.
    remove_old_jobs = unopened_app.tasks["procrastinate.builtin_tasks.remove_old_jobs"]
    with pytest.raises(ValueError, match=r"^max_hours must be a whole number"):
        await remove_old_jobs.func(None, max_hours=max_hours)


def test_one_string_instead_of_a_list_is_refused(
    unopened_app: procrastinate.App,
) -> None:
    # Each letter became a module to import, or an alias of the task.
    with pytest.raises(TypeError, match=r"import_paths=\['tasks'\]"):
        procrastinate.App(
            connector=procrastinate.PsycopgConnector(),
            import_paths="tasks",  # type: ignore[arg-type]
        )
    with pytest.raises(TypeError, match=r"aliases=\['old_name'\]"):

        @unopened_app.task(aliases="old_name")  # type: ignore[call-overload]
        def my_task() -> None: ...


def test_periodic_task_kwargs_are_checked_at_declaration(
    unopened_app: procrastinate.App,
) -> None:
    # Every tick would have failed to defer, one error log a minute.
    with pytest.raises(ValueError, match="Task argument ratio is NaN"):

        @unopened_app.periodic(cron="* * * * *", task_kwargs={"ratio": float("nan")})
        @unopened_app.task
        def tick(timestamp: int, ratio: float) -> None: ...
