"""Fixtures of the Django integration tests.

Django is configured here, with the settings of ``tests.django_project``, only when
these tests are collected. A template database is migrated once by Django (all apps,
procrastinate's SQL files included); each test that needs it gets it emptied of data,
with Django's ``default`` connection pointed at it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import django
import psycopg
import pytest
from django.conf import settings
from django.core import management
from django.db import connections

from tests.support import databases

REPO_ROOT = Path(__file__).resolve().parents[3]
SETTINGS_MODULE = "tests.django_project.settings"
SUBPROCESS_TIMEOUT = 60


def _configure_django() -> None:
    if settings.configured:
        return
    from tests.django_project import settings as project_settings

    settings.configure(
        **{
            name: getattr(project_settings, name)
            for name in dir(project_settings)
            if name.isupper()
        }
    )
    django.setup()


_configure_django()


def use_database(name: str) -> None:
    """Point Django's ``default`` connection (in every thread) at database ``name``."""
    connections.close_all()
    # Django's connections of every thread share this dict: the next connection
    # made anywhere goes to the new database.
    settings.DATABASES["default"]["NAME"] = name


@pytest.fixture(scope="session")
def django_template_db(run_id: str) -> Iterator[str]:
    """A database migrated by Django: procrastinate's schema and the project's
    tables. The tests share it (see :func:`django_db`); those that change its schema
    use a database of their own."""
    name = databases.unique_name(f"procrastinate_test_{run_id}_django")
    with databases.temporary_database(name):
        try:
            use_database(name)
            management.call_command("migrate", verbosity=0)
            connections.close_all()
            yield name
        finally:
            connections.close_all()


# What the tests write, in an order that respects foreign keys: emptied before each
# test. Django's own tables filled by `migrate` (content types, permissions, applied
# migrations) are kept. DELETE is cheaper than TRUNCATE on such small tables.
DATA_TABLES = [
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_jobs",
    "procrastinate_workers",
    "testapp_greeting",
    "django_admin_log",
    "django_session",
    "auth_user_groups",
    "auth_user_user_permissions",
    "auth_user",
    "auth_group_permissions",
    "auth_group",
]
# Tables whose ids the tests predict (the first job is #1).
RESTARTED_IDS = [
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_jobs",
    "procrastinate_workers",
]


@pytest.fixture
def django_db(django_template_db: str) -> Iterator[str]:
    """The migrated database, emptied of data (job ids start at 1 again), which
    Django uses for the test. Emptying is much cheaper than cloning a database."""
    use_database(django_template_db)
    with databases.connect(django_template_db) as conn:
        databases.empty_tables(conn, DATA_TABLES, restart_ids=RESTARTED_IDS)
    yield django_template_db
    connections.close_all()


@pytest.fixture
def use_other_database(django_template_db: str) -> Iterator[Callable[[str], None]]:
    """Point Django at another database for the test; back to the shared one at
    teardown (the other database is likely dropped by then)."""
    yield use_database
    use_database(django_template_db)


@pytest.fixture
def db_connection(django_db: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection of our own to the test's database, outside Django's
    transactions: what it sees is committed."""
    with databases.connect(django_db) as conn:
        yield conn


@pytest.fixture
def django_env(django_db: str) -> dict[str, str]:
    """The environment of a ``python -m django`` subprocess on the test's database."""
    return databases.environment(
        django_db, DJANGO_SETTINGS_MODULE=SETTINGS_MODULE, PYTHONPATH=str(REPO_ROOT)
    )


@pytest.fixture
def manage(django_env: dict[str, str]) -> Callable[..., Any]:
    """Run ``python -m django ARGS`` on the test's database; return the completed
    process (output as text, stderr merged into stdout)."""
    from tests.integration.django import tasks_e2e

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return tasks_e2e.run_django(sys.executable, django_env, *args)

    return run


@pytest.fixture
def admin_client(django_db: str) -> Any:
    """A Django test client logged in as a superuser."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_superuser("admin", "admin@example.com")
    client = Client()
    client.force_login(user)
    return client
