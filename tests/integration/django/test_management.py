"""``./manage.py procrastinate``: workers, defer, healthchecks and shell."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from django.core import management

from procrastinate.contrib import django as procrastinate_django
from procrastinate.contrib.django import django_connector
from procrastinate.contrib.django.management.commands import procrastinate as command
from tests.django_project.testapp import models, tasks

Manage = Callable[..., Any]


def test_worker_runs_the_jobs(
    manage: Manage, db_connection: psycopg.Connection[Any]
) -> None:
    greet_id = tasks.greet.defer(name="Ada")
    async_id = tasks.async_greet.defer(name="Bob")

    result = manage("procrastinate", "worker", "--one-shot")

    assert result.returncode == 0, result.stdout
    statuses = db_connection.execute(
        "SELECT id, status FROM procrastinate_jobs ORDER BY id"
    ).fetchall()
    assert statuses == [(greet_id, "succeeded"), (async_id, "succeeded")]
    assert sorted(models.Greeting.objects.values_list("name", flat=True)) == [
        "Ada",
        "Bob",
    ]


def test_defer_command(manage: Manage, db_connection: psycopg.Connection[Any]) -> None:
    result = manage(
        "procrastinate",
        "defer",
        "tests.django_project.testapp.tasks.greet",
        '{"name": "Ada"}',
    )

    assert result.returncode == 0, result.stdout
    assert db_connection.execute("SELECT args FROM procrastinate_jobs").fetchall() == [
        ({"name": "Ada"},)
    ]


def test_healthchecks(capsys: pytest.CaptureFixture[str], django_db: str) -> None:
    management.call_command("procrastinate", "healthchecks")

    assert capsys.readouterr().out.splitlines() == [
        "Database connection: OK",
        "Migrations: OK",
        "Default Django Procrastinate App: OK",
        "Worker App: OK",
    ]


def test_healthchecks_with_pending_migrations(
    capsys: pytest.CaptureFixture[str],
    db_factory: Callable[..., str],
    django_template_db: str,
    use_other_database: Callable[[str], None],
) -> None:
    name = db_factory(template=django_template_db)
    with psycopg.connect(dbname=name, autocommit=True) as conn:
        conn.execute("DELETE FROM django_migrations WHERE app = 'procrastinate'")
    use_other_database(name)

    with pytest.raises(management.CommandError, match="0041_squashed_3_10") as info:
        management.call_command("procrastinate", "healthchecks")

    assert "manage.py migrate procrastinate" in str(info.value)
    assert capsys.readouterr().out.splitlines() == ["Database connection: OK"]


def _database_with(db_factory: Callable[..., str], template: str, change: str) -> str:
    name = db_factory(template=template)
    with psycopg.connect(dbname=name, autocommit=True) as conn:
        conn.execute(change)
    return name


def test_healthchecks_let_post_migrations_wait(
    capsys: pytest.CaptureFixture[str],
    db_factory: Callable[..., str],
    django_template_db: str,
    use_other_database: Callable[[str], None],
) -> None:
    # A rolling upgrade: `migrate procrastinate 0042_pre_upgrade_from_3_10`, deploy,
    # and only then the post migration.
    use_other_database(
        _database_with(
            db_factory,
            django_template_db,
            "DELETE FROM django_migrations WHERE name = '0048_post_upgrade_from_3_10'",
        )
    )

    management.call_command("procrastinate", "healthchecks")

    assert capsys.readouterr().out.splitlines()[1] == (
        "Migrations: OK, but apply the post migrations once no worker of the "
        "previous version runs: 0048_post_upgrade_from_3_10"
    )


def test_healthchecks_name_post_sql_migrations_missing_from_the_record(
    capsys: pytest.CaptureFixture[str],
    db_factory: Callable[..., str],
    django_template_db: str,
    use_other_database: Callable[[str], None],
) -> None:
    use_other_database(
        _database_with(
            db_factory,
            django_template_db,
            "DELETE FROM procrastinate_migrations "
            "WHERE name = '03.10.00_50_post_upgrade_from_3_10.sql'",
        )
    )

    management.call_command("procrastinate", "healthchecks")

    assert (
        capsys.readouterr()
        .out.splitlines()[1]
        .endswith("runs: 03.10.00_50_post_upgrade_from_3_10.sql")
    )


def test_healthchecks_read_the_schema_record_too(
    capsys: pytest.CaptureFixture[str],
    db_factory: Callable[..., str],
    django_template_db: str,
    use_other_database: Callable[[str], None],
) -> None:
    # What `migrate --fake` leaves: Django's history says applied, the SQL never ran.
    use_other_database(
        _database_with(
            db_factory,
            django_template_db,
            "DELETE FROM procrastinate_migrations "
            "WHERE name = '03.10.00_01_pre_upgrade_from_3_10.sql'",
        )
    )

    with pytest.raises(management.CommandError) as info:
        management.call_command("procrastinate", "healthchecks")

    assert "lacks the SQL migration 03.10.00_01_pre_upgrade_from_3_10.sql" in str(
        info.value
    )
    assert "\n" not in str(info.value)


def test_healthchecks_from_the_command_line(manage: Manage) -> None:
    result = manage("procrastinate", "healthchecks")

    assert result.returncode == 0, result.stdout
    assert "Worker App: OK" in result.stdout


def test_command_swaps_the_connector_for_its_duration(
    capsys: pytest.CaptureFixture[str], django_db: str
) -> None:
    job_id = tasks.greet.defer(name="Ada")

    management.call_command("procrastinate", "shell", "list_jobs")

    assert f"#{job_id} tests.django_project.testapp.tasks.greet" in (
        capsys.readouterr().out
    )
    assert isinstance(
        procrastinate_django.app.connector, django_connector.DjangoConnector
    )


def test_no_app_option_nor_schema_command(django_db: str) -> None:
    with pytest.raises(management.CommandError):
        management.call_command("procrastinate", "--app", "x.y", "healthchecks")
    with pytest.raises(management.CommandError):
        management.call_command("procrastinate", "schema")


def test_errors_are_command_errors(django_db: str) -> None:
    with pytest.raises(management.CommandError, match="not registered"):
        management.call_command("procrastinate", "defer", "no.such.task")


def test_without_subcommand_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    management.call_command("procrastinate")

    out = capsys.readouterr().out
    assert "worker" in out
    assert "--app" not in out


@pytest.fixture
def restore_logging() -> Any:
    root = logging.getLogger()
    logger = logging.getLogger("procrastinate")
    saved = (list(root.handlers), root.level, list(logger.handlers), logger.level)
    yield logger
    root.handlers[:], root.level = saved[0], saved[1]
    logger.handlers[:], logger.level = saved[2], saved[3]


def test_logging_left_to_the_project_when_configured(restore_logging: Any) -> None:
    handler = logging.NullHandler()
    restore_logging.handlers[:] = [handler]
    restore_logging.setLevel(logging.NOTSET)
    root_handlers = list(logging.getLogger().handlers)

    command.configure_logging(verbosity=0, format="%(message)s", style="%")

    assert restore_logging.handlers == [handler]
    assert logging.getLogger().handlers == root_handlers
    assert restore_logging.level == logging.INFO


def test_logging_verbose_with_project_configuration(restore_logging: Any) -> None:
    restore_logging.handlers[:] = [logging.NullHandler()]
    restore_logging.setLevel(logging.WARNING)

    command.configure_logging(verbosity=1, format="%(message)s", style="%")

    assert restore_logging.level == logging.DEBUG


def test_logging_of_the_command_line_otherwise(restore_logging: Any) -> None:
    restore_logging.handlers[:] = []
    logging.getLogger().handlers[:] = []

    command.configure_logging(verbosity=0, format="%(message)s", style="%")

    assert logging.getLogger().handlers
