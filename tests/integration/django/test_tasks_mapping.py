"""The pure parts of the ``django.tasks`` backend, without a database: priorities,
statuses, job arguments, task results from rows, options and retries."""

from __future__ import annotations

import datetime
import sys
import types
from typing import Any

import pytest

from procrastinate import jobs, results
from procrastinate import retry as retry_module
from procrastinate.contrib.django import tasks as backend_module
from procrastinate.contrib.django import tasks_compat as api
from procrastinate.contrib.django import tasks_mapping as mapping
from procrastinate.contrib.django import tasks_options as options
from procrastinate.contrib.django import tasks_worker
from tests.django_project.testapp import standard_tasks

NOW = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
ADD_PATH = "tests.django_project.testapp.standard_tasks.add"


def row(**changes: Any) -> dict[str, Any]:
    """A row of get_job_result for a finished job of ``add``."""
    base: dict[str, Any] = {
        "id": 7,
        "status": "succeeded",
        "task_name": mapping.BRIDGE_TASK_NAME,
        "queue_name": "default",
        "priority": 0,
        "scheduled_at": None,
        "worker_id": None,
        "starts": 1,
        "args": {
            "task_path": ADD_PATH,
            "backend": "default",
            "args": [2, 3],
            "kwargs": {},
            "retry": None,
        },
        "deferred_at": NOW,
        "first_started_at": NOW + datetime.timedelta(seconds=1),
        "started_at": NOW + datetime.timedelta(seconds=1),
        "finished_at": NOW + datetime.timedelta(seconds=2),
    }
    return {**base, **changes}


def test_django_priorities_are_job_priorities() -> None:
    django_range = range(api.TASK_MIN_PRIORITY, api.TASK_MAX_PRIORITY + 1)

    assert [mapping.job_priority(p) for p in django_range] == list(django_range)
    assert mapping.job_priority(0) == 0 == jobs.DEFAULT_PRIORITY
    assert [mapping.django_priority(mapping.job_priority(p)) for p in django_range] == (
        list(django_range)
    )


def test_job_priorities_out_of_django_range_are_clamped() -> None:
    assert [mapping.django_priority(p) for p in (-1000, -101, 101, 1000)] == [
        -100,
        -100,
        100,
        100,
    ]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("todo", "READY"),
        ("doing", "RUNNING"),
        ("aborting", "RUNNING"),
        ("succeeded", "SUCCESSFUL"),
        ("failed", "FAILED"),
        ("cancelled", "FAILED"),
        ("aborted", "FAILED"),
    ],
)
def test_statuses(status: str, expected: str) -> None:
    assert mapping.django_status(jobs.Status(status)) == expected


def test_every_job_status_has_a_django_status() -> None:
    for status in jobs.Status:
        assert mapping.django_status(status) in api.TaskResultStatus.values


@pytest.mark.parametrize(
    ("starts", "running", "expected"),
    [
        (0, None, []),
        (2, None, ["unknown", "unknown"]),
        (1, 12, ["12"]),
        (3, 12, ["unknown", "unknown", "12"]),
    ],
)
def test_worker_ids_have_one_entry_per_attempt(
    starts: int, running: int | None, expected: list[str]
) -> None:
    assert mapping.worker_ids(starts, running) == expected


def test_result_ids_are_job_ids() -> None:
    assert mapping.job_id("42") == 42
    with pytest.raises(api.TaskResultDoesNotExist, match="'abc' is not the id"):
        mapping.job_id("abc")


def test_job_arguments() -> None:
    assert mapping.job_arguments(
        standard_tasks.add, "default", (2,), {"b": 3}, {"max_attempts": 2}
    ) == {
        "task_path": ADD_PATH,
        "backend": "default",
        "args": [2],
        "kwargs": {"b": 3},
        "retry": {"max_attempts": 2},
    }


def test_job_arguments_must_be_json() -> None:
    with pytest.raises(TypeError):
        mapping.job_arguments(standard_tasks.add, "default", (object(),), {}, None)


def test_task_result_of_a_successful_job() -> None:
    result = mapping.task_result(row(), 5, None)

    assert result.task.func is standard_tasks.add.func
    assert (result.id, result.status, result.return_value) == ("7", "SUCCESSFUL", 5)
    assert (result.args, result.kwargs, result.backend) == ([2, 3], {}, "default")
    assert (result.enqueued_at, result.finished_at) == (
        NOW,
        NOW + datetime.timedelta(seconds=2),
    )
    assert result.errors == []
    assert result.attempts == 1


def test_task_result_of_a_retried_job_running() -> None:
    error = results.JobError(type="builtins.KeyError", message="x", traceback="tb")
    result = mapping.task_result(
        row(
            status="doing",
            worker_id=3,
            starts=2,
            started_at=NOW + datetime.timedelta(seconds=5),
            finished_at=None,
        ),
        None,
        error,
    )

    assert result.status == "RUNNING"
    assert result.worker_ids == ["unknown", "3"]
    assert result.started_at == NOW + datetime.timedelta(seconds=1)
    assert result.last_attempted_at == NOW + datetime.timedelta(seconds=5)
    assert [(e.exception_class_path, e.traceback) for e in result.errors] == [
        ("builtins.KeyError", "tb")
    ]
    with pytest.raises(ValueError, match="not finished"):
        result.return_value  # noqa: B018


def test_task_result_keeps_the_job_options() -> None:
    result = mapping.task_result(
        row(queue_name="reports", priority=250, scheduled_at=NOW), 5, None
    )

    assert (result.task.queue_name, result.task.priority, result.task.run_after) == (
        "reports",
        100,
        NOW,
    )


def test_task_result_of_a_job_moved_out_of_the_queues() -> None:
    result = mapping.task_result(row(queue_name="elsewhere"), 5, None)

    assert result.task.queue_name == "default"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"task_name": "some.other.task"}, "is not a Django task's"),
        (
            {"args": {**row()["args"], "task_path": "tests.nowhere.add"}},
            "cannot be loaded",
        ),
    ],
)
def test_task_result_of_no_django_task(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(api.TaskResultDoesNotExist, match=message):
        mapping.task_result(row(**changes), None, None)


def test_finished_results() -> None:
    running = mapping.task_result(row(status="doing", worker_id=1), None, None)

    succeeded = mapping.finished(running, at=NOW, value=[1])
    failed = mapping.finished(running, at=NOW, error=KeyError("k"))

    assert (succeeded.status, succeeded.return_value, succeeded.finished_at) == (
        "SUCCESSFUL",
        [1],
        NOW,
    )
    assert failed.status == "FAILED"
    assert failed.errors[0].exception_class_path == "builtins.KeyError"
    assert running.status == "RUNNING"


@pytest.mark.parametrize(
    ("value", "spec"),
    [
        (False, False),
        (3, 3),
        (
            retry_module.RetryStrategy(max_attempts=2, retry_exceptions=[KeyError]),
            {
                "max_attempts": 2,
                "wait": 0,
                "linear_wait": 0,
                "exponential_wait": 0,
                "retry_exceptions": ["builtins.KeyError"],
            },
        ),
        ({"max_attempts": 1, "wait": 5}, {"max_attempts": 1, "wait": 5}),
    ],
)
def test_retry_specs(value: Any, spec: Any) -> None:
    assert options.retry_spec(value) == spec


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "0 or more"),
        ("3", "must be a bool, an int"),
        (retry_module.BaseRetryStrategy(), "must be a bool, an int"),
        ({"tries": 3}, "unknown retry field"),
        ({"retry_exceptions": ["builtins.len"]}, "expected an instance of type"),
        ({"retry_exceptions": ["builtins.int"]}, "not an exception class"),
        ({"retry_exceptions": ["nowhere.Error"]}, "retry_exceptions"),
    ],
)
def test_bad_retry_specs(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        options.retry_spec(value)


def test_stored_retry_follows_the_job() -> None:
    strategy = tasks_worker.StoredRetry()

    def decision(retry: Any, attempts: int, error: BaseException) -> Any:
        job = jobs.Job(
            id=1,
            queue="default",
            lock=None,
            queueing_lock=None,
            task_name=mapping.BRIDGE_TASK_NAME,
            task_kwargs={"retry": retry},
            attempts=attempts,
        )
        return strategy.get_retry_decision(exception=error, job=job)

    spec = {"max_attempts": 2, "retry_exceptions": ["builtins.KeyError"]}
    assert decision(spec, 0, KeyError()) is not None
    assert decision(spec, 2, KeyError()) is None
    assert decision(spec, 0, ValueError()) is None
    assert decision(None, 0, KeyError()) is None
    assert decision({"retry_exceptions": ["gone.Error"]}, 0, KeyError()) is None


def test_backend_options_precedence() -> None:
    parsed = options.backend_options(
        {
            "retry": 1,
            "lock": "all",
            "TASKS": {ADD_PATH: {"retry": 5, "queueing_lock": "add"}},
        }
    )

    assert parsed.for_task(ADD_PATH) == options.JobOptions(
        retry=5, lock="all", queueing_lock="add"
    )
    assert parsed.for_task("other.task") == options.JobOptions(retry=1, lock="all")
    with options.job_options(retry=0, lock="call"):
        with options.job_options(queueing_lock="inner"):
            assert options.call_options().over(parsed.for_task(ADD_PATH)) == (
                options.JobOptions(retry=0, lock="call", queueing_lock="inner")
            )
    assert options.call_options() == options.JobOptions()


@pytest.mark.parametrize(
    ("backend_options", "message"),
    [
        ({"retries": 1}, r"TASKS\['default'\]: OPTIONS: unknown option\(s\) retries"),
        ({"TASKS": {ADD_PATH: {"lock": 3}}}, "lock must be a string"),
        ({"TASKS": [ADD_PATH]}, "must be a dict"),
        ({"retry": "often"}, "OPTIONS: retry must be"),
    ],
)
def test_bad_backend_options_are_django_errors(
    backend_options: dict[str, Any], message: str
) -> None:
    with pytest.raises(api.InvalidTaskBackend, match=message):
        backend_module.ProcrastinateBackend("default", {"OPTIONS": backend_options})


def test_bad_call_options() -> None:
    with pytest.raises(ValueError, match="job_options: unknown retry field"):
        with options.job_options(retry={"tries": 1}):
            pass


def test_check_wants_the_django_app(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = backend_module.ProcrastinateBackend("default", {})
    assert list(backend.check()) == []

    monkeypatch.setattr(backend_module.apps, "is_installed", lambda name: False)
    assert [message.id for message in backend.check()] == ["procrastinate.E001"]


def test_the_backend_supports_everything() -> None:
    backend = backend_module.ProcrastinateBackend("default", {})

    assert (
        backend.supports_defer,
        backend.supports_async_task,
        backend.supports_get_result,
        backend.supports_priority,
    ) == (True, True, True, True)


def test_queue_names_longer_than_procrastinates_are_refused() -> None:
    backend = backend_module.ProcrastinateBackend("default", {"QUEUES": ["q" * 129]})
    # Django's Task would validate itself on its configured backend first.
    task = types.SimpleNamespace(
        func=standard_tasks.add.func,
        takes_context=False,
        priority=0,
        run_after=None,
        queue_name="q" * 129,
    )

    with pytest.raises(api.InvalidTask, match="longer than procrastinate's 128"):
        backend.validate_task(task)  # type: ignore[arg-type]


def test_the_loaded_api_is_what_the_module_exports() -> None:
    defined_here = {"FAILED", "MISSING_API", "READY", "RUNNING", "SUCCESSFUL"}
    loaded = api._load_api("django_tasks")
    assert set(loaded) == set(api.__all__) - defined_here - {"api_module_name"}
    assert loaded["InvalidTask"] is api.InvalidTask
    assert loaded["TaskResultStatus"] is api.TaskResultStatus


def test_the_api_of_django_6_is_loaded_under_its_own_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Django 6 needs Python 3.12: its modules are stood in for by ones that hold, under
    # Django's names, which name each object has.
    for module, names in api._API_NAMES.items():
        stand_in = types.ModuleType("django.tasks" + module)
        for name in names:
            setattr(stand_in, name, name)
        monkeypatch.setitem(sys.modules, "django.tasks" + module, stand_in)
    helpers = types.ModuleType("django.utils.json")
    helpers.normalize_json = "normalize_json"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "django.utils.json", helpers)
    loaded = api._load_api("django.tasks")
    assert loaded == {name: name for name in loaded}
    assert {"InvalidTask", "InvalidTaskBackend", "normalize_json"} <= set(loaded)
