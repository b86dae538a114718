"""The checks of ``./manage.py procrastinate healthchecks``.

Each check prints one ``...: OK`` line, or raises an exception saying what is wrong.
"""

from __future__ import annotations

from django import db
from django.db.migrations import executor

from procrastinate import app as app_module
from procrastinate import exceptions

APP_LABEL = "procrastinate"


class HealthcheckFailed(exceptions.ProcrastinateException):
    """A healthcheck failed."""


def pending_migrations(alias: str) -> list[str]:
    """The names of this app's Django migrations not yet applied to ``alias``."""
    migration_executor = executor.MigrationExecutor(db.connections[alias])
    targets = [
        key
        for key in migration_executor.loader.graph.leaf_nodes()
        if key[0] == APP_LABEL
    ]
    plan = migration_executor.migration_plan(targets)
    return [
        migration.name
        for migration, backwards in plan
        if migration.app_label == APP_LABEL and not backwards
    ]


def check_database(alias: str) -> None:
    """Connect through Django's connection ``alias``."""
    db.connections[alias].ensure_connection()
    print("Database connection: OK")


def check_migrations(alias: str) -> None:
    """:raises HealthcheckFailed: procrastinate's migrations are not all applied."""
    pending = pending_migrations(alias)
    if pending:
        raise HealthcheckFailed(
            f"Procrastinate migrations are not applied to the database {alias!r}: "
            f"{', '.join(pending)}. Apply them with `./manage.py migrate "
            f"{APP_LABEL}`."
        )
    print("Migrations: OK")


def check_django_app(app: app_module.App) -> None:
    """:raises HealthcheckFailed: the app (on Django's connection) does not find
    procrastinate's tables."""
    _check_found(app.check_connection(), "the default Django Procrastinate app")
    print("Default Django Procrastinate App: OK")


async def check_worker_app(app: app_module.App) -> None:
    """:raises HealthcheckFailed: the app, on the workers' connector, does not find
    procrastinate's tables."""
    _check_found(await app.check_connection_async(), "the worker app")
    print("Worker App: OK")


def _check_found(found: bool, what: str) -> None:
    if not found:
        raise HealthcheckFailed(
            f"Connected with {what}, but the procrastinate_jobs table was not found: "
            "have you applied the migrations (`./manage.py migrate`)?"
        )
