"""The Django connector: jobs deferred in Django's transactions."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from asgiref import sync
from django import db
from django.db import transaction

from procrastinate import exceptions, psycopg_connector
from procrastinate.contrib import django as procrastinate_django
from procrastinate.contrib.django import exceptions as django_exceptions
from tests.django_project.testapp import tasks


def job_count(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM procrastinate_jobs").fetchone()
    assert row is not None
    return int(row[0])


def test_rolled_back_transaction_leaves_no_job(
    db_connection: psycopg.Connection[Any],
) -> None:
    def defer_then_fail() -> None:
        with transaction.atomic():
            tasks.greet.defer(name="Ada")
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        defer_then_fail()

    assert job_count(db_connection) == 0


def test_committed_transaction_leaves_the_job(
    db_connection: psycopg.Connection[Any],
) -> None:
    with transaction.atomic():
        job_id = tasks.greet.defer(name="Ada")
        # Not committed yet: another connection does not see it.
        assert job_count(db_connection) == 0

    row = db_connection.execute(
        "SELECT task_name, queue_name, args FROM procrastinate_jobs WHERE id = %s",
        (job_id,),
    ).fetchone()
    assert row == (
        "tests.django_project.testapp.tasks.greet",
        "greetings",
        {"name": "Ada"},
    )


def test_view_defers_in_its_transaction(
    db_connection: psycopg.Connection[Any], admin_client: Any
) -> None:
    ok = admin_client.get("/greet/", {"name": "Bob"})
    failed = admin_client.get("/greet/", {"name": "Eve", "fail": "1"})

    assert ok.status_code == 200
    assert failed.status_code == 500
    rows = db_connection.execute("SELECT id, args FROM procrastinate_jobs").fetchall()
    assert rows == [(ok.json()["job_id"], {"name": "Bob"})]


def test_queries_read_json_and_rows(django_db: str) -> None:
    job_id = tasks.greet.configure(lock="L", priority=3).defer(name="Ada")

    (job,) = procrastinate_django.app.job_manager.list_jobs(id=job_id)

    assert job.task_kwargs == {"name": "Ada"}
    assert (job.lock, job.priority, job.status) == ("L", 3, "todo")


def test_queueing_lock_taken_is_already_enqueued(django_db: str) -> None:
    deferrer = tasks.greet.configure(queueing_lock="only-one")
    deferrer.defer(name="Ada")

    with pytest.raises(exceptions.AlreadyEnqueued):
        deferrer.defer(name="Bob")


def test_missing_function_is_a_connector_error(django_db: str) -> None:
    connector = procrastinate_django.DjangoConnector()

    with pytest.raises(exceptions.ConnectorException, match="schema"):
        connector.execute_query("SELECT procrastinate_no_such_function()")


def test_execute_query_one_without_row(django_db: str) -> None:
    connector = procrastinate_django.DjangoConnector()

    with pytest.raises(exceptions.NoResult):
        connector.execute_query_one("SELECT 1 WHERE false")


async def test_defer_async(db_connection: psycopg.Connection[Any]) -> None:
    try:
        job_id = await tasks.greet.defer_async(name="Ada")
    finally:
        # The connection was made in asgiref's thread for database access: close it
        # there, before the database is dropped.
        await sync.sync_to_async(db.connections.close_all)()

    assert job_count(db_connection) == 1
    assert job_id == 1


async def test_listen_notify_is_refused() -> None:
    connector = procrastinate_django.DjangoConnector()

    async def on_notification(*, channel: str, payload: str) -> None: ...

    with pytest.raises(django_exceptions.WorkerConnectorUnsupported):
        await connector.listen_notify(on_notification, ["channel"])


def test_connector_params_reach_the_database(django_db: str) -> None:
    params = procrastinate_django.connector_params()

    assert params["dbname"] == django_db
    assert "cursor_factory" not in params
    assert "context" not in params
    with psycopg.connect(**params) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (django_db,)


def test_worker_connector_is_a_psycopg_connector(django_db: str) -> None:
    def loads(text: str | bytes) -> Any: ...

    connector = procrastinate_django.DjangoConnector(json_loads=loads)

    worker_connector = connector.get_worker_connector()

    assert isinstance(worker_connector, psycopg_connector.PsycopgConnector)
    assert worker_connector.json_loads is loads


def test_open_and_close_leave_django_in_charge(django_db: str) -> None:
    connector = procrastinate_django.DjangoConnector()
    connector.open()
    connector.close()

    assert connector.get_sync_connector() is connector
    assert connector.execute_query_all("SELECT 1 AS one") == [{"one": 1}]
