"""The app of the integration: the proxy, the future app, settings and hooks."""

from __future__ import annotations

import sys

import pytest
from django.test import override_settings

import procrastinate
from procrastinate import testing
from procrastinate.contrib import django as procrastinate_django
from procrastinate.contrib.django import apps, django_app, procrastinate_app
from tests.django_project.testapp import hooks, tasks


def test_proxy_forwards_to_the_django_app() -> None:
    current = procrastinate_app.current_app

    assert isinstance(current, procrastinate_django.DjangoApp)
    assert procrastinate_django.app.job_manager is current.job_manager
    assert tasks.greet.blueprint is current


def test_app_is_configured_by_settings() -> None:
    app = procrastinate_django.app

    assert isinstance(app.connector, procrastinate_django.DjangoConnector)
    assert app.connector.alias == "default"
    assert "tests.django_project.testapp.tasks" in app.import_paths
    assert app.worker_defaults["fetch_job_polling_interval"] == 0.1


def test_on_app_ready_hook_received_the_app() -> None:
    assert hooks.ready_apps == [procrastinate_app.current_app]


def test_import_paths_register_the_tasks() -> None:
    procrastinate_django.app.perform_import_paths()

    assert "tests.django_project.testapp.tasks.greet" in procrastinate_django.app.tasks


@override_settings(
    PROCRASTINATE_AUTODISCOVER_MODULE_NAME=None,
    PROCRASTINATE_IMPORT_PATHS=["some.module"],
    PROCRASTINATE_DATABASE_ALIAS="other",
    PROCRASTINATE_PERIODIC_DEFAULTS={"max_delay": 10},
)
def test_create_app_without_autodiscovery() -> None:
    app = apps.create_app()

    # The runner of Django tasks is imported whatever the settings.
    assert app.import_paths == ["some.module", apps.DJANGO_TASKS_WORKER]
    assert isinstance(app.connector, procrastinate_django.DjangoConnector)
    assert app.connector.alias == "other"
    assert app.periodic_defaults == {"max_delay": 10}


@override_settings(PROCRASTINATE_AUTODISCOVER_MODULE_NAME="views")
def test_autodiscovery_module_name_setting() -> None:
    modules = list(apps.autodiscovered_modules("views"))

    assert "tests.django_project.testapp.views" in modules
    assert "procrastinate.contrib.django.views" not in modules
    assert "tests.django_project.testapp.views" in apps.create_app().import_paths


def test_autodiscovery_leaves_out_the_backend_module() -> None:
    # procrastinate.contrib.django.tasks is the django.tasks backend, not tasks of
    # ours: importing it needs Django's task API.
    modules = list(apps.autodiscovered_modules("tasks"))

    assert "tests.django_project.testapp.tasks" in modules
    assert "procrastinate.contrib.django.tasks" not in modules


def test_no_django_tasks_runner_without_the_task_api(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # None in sys.modules makes the import fail, as without Django 6 or the backport.
    monkeypatch.setitem(sys.modules, "procrastinate.contrib.django.tasks_compat", None)

    assert apps.integration_modules() == []


@pytest.mark.parametrize(
    "attribute",
    ["open", "open_async", "run_worker", "configure_task", "replace_connector"],
)
def test_future_app_refuses_app_methods(attribute: str) -> None:
    future = procrastinate_app.FutureApp()

    with pytest.raises(procrastinate_django.DjangoNotReady, match=f"app.{attribute}"):
        getattr(future, attribute)


def test_future_app_refuses_app_attributes() -> None:
    with pytest.raises(procrastinate_django.DjangoNotReady):
        _ = procrastinate_app.FutureApp().job_manager


def test_future_app_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        _ = procrastinate_app.FutureApp().no_such_thing  # type: ignore[attr-defined]


def test_task_of_future_app_cannot_be_deferred() -> None:
    future = procrastinate_app.FutureApp()

    @future.task
    def early() -> None: ...

    with pytest.raises(procrastinate_django.DjangoNotReady):
        early.defer()


def test_set_current_app_moves_the_collected_tasks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    future = procrastinate_app.FutureApp()

    @future.task(name="early")
    def early() -> None: ...

    @future.periodic(cron="* * * * *")
    @future.task(name="ticking")
    def ticking(timestamp: int) -> None: ...

    monkeypatch.setattr(procrastinate_app, "current_app", future)
    app = procrastinate.App(connector=testing.InMemoryConnector())

    procrastinate_app.set_current_app(app)

    assert procrastinate_app.current_app is app
    assert app.tasks["early"] is early
    assert early.blueprint is app
    periodic = app.periodic_registry.periodic_tasks.values()
    assert {periodic_task.task.name for periodic_task in periodic} == {"ticking"}
    assert early.defer() == 1


def test_django_app_adds_db_cleanup_middleware() -> None:
    def mine(call_next, context, worker):  # type: ignore[no-untyped-def]
        return call_next()

    app = procrastinate_django.DjangoApp(
        connector=testing.InMemoryConnector(),
        worker_defaults={"task_middleware": [mine]},
    )

    assert app.worker_defaults["task_middleware"] == [
        django_app.close_db_connections,
        django_app.close_db_connections_async,
        mine,
    ]


def test_with_db_cleanup_does_not_add_twice() -> None:
    once = django_app.with_db_cleanup(None)

    assert django_app.with_db_cleanup(once) == once


@pytest.fixture
def cleanup_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr(
        django_app.db, "close_old_connections", lambda: calls.append("close")
    )
    monkeypatch.setattr(django_app.db, "reset_queries", lambda: calls.append("reset"))
    return calls


def test_sync_middleware_cleans_up_around_the_job(cleanup_calls: list[str]) -> None:
    def call_next() -> str:
        cleanup_calls.append("job")
        return "result"

    result = django_app.close_db_connections(call_next, None, None)  # type: ignore[arg-type]

    assert result == "result"
    assert cleanup_calls == ["close", "job", "close", "reset"]


def test_sync_middleware_cleans_up_after_a_failure(cleanup_calls: list[str]) -> None:
    def call_next() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        django_app.close_db_connections(call_next, None, None)  # type: ignore[arg-type]

    assert cleanup_calls == ["close", "close", "reset"]


async def test_async_middleware_cleans_up_around_the_job(
    cleanup_calls: list[str],
) -> None:
    async def call_next() -> str:
        cleanup_calls.append("job")
        return "result"

    result = await django_app.close_db_connections_async(call_next, None, None)  # type: ignore[arg-type]

    assert result == "result"
    assert cleanup_calls == ["close", "job", "close", "reset"]


def test_proxy_writes_go_to_the_current_app(monkeypatch: pytest.MonkeyPatch) -> None:
    app = procrastinate.App(connector=testing.InMemoryConnector())
    monkeypatch.setattr(procrastinate_app, "current_app", app)
    proxy = procrastinate_app.ProxyApp()

    proxy.import_paths = ["a.b"]

    assert app.import_paths == ["a.b"]
    assert repr(app) in repr(proxy)
