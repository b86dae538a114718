"""The Django app config: builds the Procrastinate app once Django is ready."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

from django import apps
from django.utils import module_loading

from procrastinate.contrib.django import (
    django_app,
    django_connector,
    procrastinate_app,
)
from procrastinate.contrib.django.settings import settings

#: The procrastinate tasks of the integration itself, imported when Django's task API
#: is there (see :mod:`procrastinate.contrib.django.tasks_worker`).
DJANGO_TASKS_WORKER = "procrastinate.contrib.django.tasks_worker"


def autodiscovered_modules(module_name: str | None) -> Iterator[str]:
    """The ``<app>.<module_name>`` modules of the installed apps that have one, except
    this app's own (its ``tasks`` module is the ``django.tasks`` backend, which needs
    Django's task API)."""
    if not module_name:
        return
    for config in apps.apps.get_app_configs():
        if config.name == ProcrastinateConfig.name:
            continue
        if module_loading.module_has_submodule(config.module, module_name):
            yield f"{config.name}.{module_name}"


def integration_modules() -> list[str]:
    """The modules of the integration that declare procrastinate tasks: the runner
    of Django tasks, when Django's task API is installed."""
    try:
        importlib.import_module("procrastinate.contrib.django.tasks_compat")
    except ImportError:
        # Neither Django 6 nor the django-tasks backport: no Django tasks to run.
        return []
    return [DJANGO_TASKS_WORKER]


def create_app() -> django_app.DjangoApp:
    """A :class:`~procrastinate.contrib.django.django_app.DjangoApp` configured by the
    ``PROCRASTINATE_*`` settings, on the Django connection of
    ``PROCRASTINATE_DATABASE_ALIAS``."""
    import_paths = [
        *autodiscovered_modules(settings.autodiscover_module_name),
        *settings.import_paths,
        *integration_modules(),
    ]
    return django_app.DjangoApp(
        connector=django_connector.DjangoConnector(alias=settings.database_alias),
        import_paths=import_paths,
        worker_defaults=settings.worker_defaults,
        periodic_defaults=settings.periodic_defaults,
    )


def run_on_app_ready_hook(app: django_app.DjangoApp) -> None:
    """Call the ``PROCRASTINATE_ON_APP_READY`` callable, if any, with the app."""
    hook = settings.on_app_ready
    if hook is None:
        return
    if isinstance(hook, str):
        hook = module_loading.import_string(hook)
    hook(app)


class ProcrastinateConfig(apps.AppConfig):
    """The ``procrastinate.contrib.django`` Django app (label ``procrastinate``)."""

    name = "procrastinate.contrib.django"
    label = "procrastinate"
    verbose_name = "Procrastinate"

    def ready(self) -> None:
        """Replace the future app by the real one, then run the user's hook."""
        app = create_app()
        procrastinate_app.set_current_app(app)
        run_on_app_ready_hook(app)
