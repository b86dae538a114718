"""The checks of ``./manage.py procrastinate healthchecks``.

Each check prints one ``...: OK`` line, or raises an exception saying what is wrong.
"""

from __future__ import annotations

from django import db
from django.db import migrations
from django.db.migrations import executor

from procrastinate import app as app_module
from procrastinate import exceptions, schema
from procrastinate.contrib.django import django_connector, migrations_utils

APP_LABEL = "procrastinate"


class HealthcheckFailed(exceptions.ProcrastinateException):
    """A healthcheck failed."""


def pending_migrations(alias: str) -> list[migrations.Migration]:
    """
    This app's Django migrations not yet applied to ``alias``, in applying order,
    including one that a later, applied migration skipped (after a partial
    ``migrate`` followed by the application of a newer migration).
    """
    loader = executor.MigrationExecutor(db.connections[alias]).loader
    applied = loader.applied_migrations
    return [
        loader.graph.nodes[key]
        for leaf in loader.graph.leaf_nodes(APP_LABEL)
        for key in loader.graph.forwards_plan(leaf)
        if key[0] == APP_LABEL and key not in applied
    ]


def runs_only_post_sql(migration: migrations.Migration) -> bool:
    """Whether a migration only runs "post" SQL migrations, which remove what the
    previous version of procrastinate used: the code runs without them."""
    names = [
        operation.name
        for operation in migration.operations
        if isinstance(operation, migrations_utils.RunProcrastinateSQL)
    ]
    return len(names) == len(migration.operations) and all(
        schema.is_post_migration(name) for name in names
    )


def check_database(alias: str) -> None:
    """Connect through Django's connection ``alias``."""
    db.connections[alias].ensure_connection()
    print("Database connection: OK")


def check_migrations(alias: str) -> None:
    """
    Check that the database of ``alias`` has every migration this version of
    procrastinate needs: in Django's history, and in the schema's own record (which
    ``migrate --fake`` would not fill). Post migrations may wait, with a note.

    :raises HealthcheckFailed: a needed migration is missing; the message names the
        first missing one.
    """
    pending = pending_migrations(alias)
    if not all(runs_only_post_sql(migration) for migration in pending):
        raise HealthcheckFailed(
            f"The database {alias!r} lacks the procrastinate migration "
            f"{pending[0].name}, which this version needs: apply it with "
            f"`./manage.py migrate {APP_LABEL}`"
        )
    manager = schema.SchemaManager(django_connector.DjangoConnector(alias=alias))
    try:
        missing_post = schema.check_migrations(manager.get_missing_migrations())
    except schema.MissingMigrations as exc:
        raise HealthcheckFailed(
            f"The database {alias!r} lacks the SQL migration {exc.missing[0]}, which "
            "this version of procrastinate needs, although Django's history records "
            "it (as `migrate --fake` does): run its SQL on the database (`./manage.py "
            f"sqlmigrate {APP_LABEL}` with the Django migration that wraps it prints "
            "it)"
        ) from exc
    # Django users apply Django migrations: name those, when Django knows them.
    names = [migration.name for migration in pending] or missing_post
    print(schema.migrations_line(names))


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
