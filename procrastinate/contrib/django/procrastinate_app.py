"""The app of the Django integration, usable before Django is ready.

``procrastinate.contrib.django.app`` is a :class:`ProxyApp`: every attribute is read
from :data:`current_app`. Until ``AppConfig.ready()``, that is a :class:`FutureApp`,
which collects the tasks declared at import time (models and task modules are imported
while Django populates its app registry) and refuses everything else with
:class:`~procrastinate.contrib.django.exceptions.DjangoNotReady`. ``ready()`` then
builds the real :class:`~procrastinate.contrib.django.django_app.DjangoApp`, moves the
collected tasks to it, and makes it the current app.
"""

from __future__ import annotations

import functools
from typing import Any, NoReturn

from procrastinate import app as app_module
from procrastinate import blueprints
from procrastinate.contrib.django import exceptions

# Attributes that App sets on its instances, which dir(App) does not list.
_APP_INSTANCE_ATTRIBUTES = frozenset(
    {"connector", "import_paths", "worker_defaults", "periodic_defaults", "job_manager"}
)


@functools.cache
def app_only_attributes() -> frozenset[str]:
    """The names an :class:`~procrastinate.App` has and a blueprint lacks."""
    app_names = {name for name in dir(app_module.App) if not name.startswith("_")}
    blueprint_names = set(dir(blueprints.Blueprint))
    return frozenset(app_names - blueprint_names) | _APP_INSTANCE_ATTRIBUTES


def _not_ready(name: str) -> exceptions.DjangoNotReady:
    return exceptions.DjangoNotReady(
        f"Cannot use app.{name} yet: Django is not ready, so the Procrastinate app "
        "does not exist. Tasks can be declared at import time, but use the app "
        "itself only once Django has started (in views, management commands, or a "
        "PROCRASTINATE_ON_APP_READY hook), and check that "
        '"procrastinate.contrib.django" is in INSTALLED_APPS.'
    )


class FutureApp(blueprints.Blueprint):
    """
    Stands for the app until Django is ready: a blueprint collecting tasks, whose
    app-only attributes raise
    :class:`~procrastinate.contrib.django.exceptions.DjangoNotReady`.
    """

    def will_configure_task(self) -> NoReturn:
        """:raises DjangoNotReady: jobs cannot be deferred before Django is ready."""
        raise _not_ready("configure_task")

    def __getattr__(self, name: str) -> Any:
        if name in app_only_attributes():
            raise _not_ready(name)
        raise AttributeError(
            f"{type(self).__name__!r} object has no attribute {name!r}"
        )


# The app that ProxyApp forwards to; AppConfig.ready() replaces it.
current_app: FutureApp | app_module.App = FutureApp()


class ProxyApp:
    """
    Forwards attribute reads and writes to :data:`current_app`, so that the object
    imported at module level keeps working once Django has built the real app.
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(current_app, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(current_app, name, value)

    def __repr__(self) -> str:
        return f"<ProxyApp of {current_app!r}>"


def set_current_app(app: app_module.App) -> None:
    """
    Make ``app`` the current app, moving to it the tasks declared so far on the
    :class:`FutureApp` (under their own names).

    :raises TaskAlreadyRegistered: a collected task's name is taken in ``app``.
    """
    global current_app
    previous = current_app
    if isinstance(previous, FutureApp):
        app.add_tasks_from(previous, namespace="")
    current_app = app
