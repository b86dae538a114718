"""The synchronous psycopg connector, for code that defers from sync frameworks."""

from __future__ import annotations

import json

import psycopg
import pytest

import procrastinate
from procrastinate import exceptions, jobs, manager
from procrastinate.sync_psycopg_connector import SyncPsycopgConnector
from tests.support.jobs import make_job


def test_defer_read_cancel(sync_connector_open: SyncPsycopgConnector) -> None:
    job_manager = manager.JobManager(sync_connector_open)
    (first, second) = job_manager.batch_defer_jobs(
        [make_job(queue="q"), make_job(queue="q", queueing_lock="x")]
    )
    assert (first.id, second.id) == (1, 2)
    with pytest.raises(exceptions.AlreadyEnqueued):
        job_manager.defer_job(make_job(queueing_lock="x"))
    assert job_manager.cancel_job_by_id(1)
    assert job_manager.get_job_status(1) == jobs.Status.CANCELLED
    assert [row["name"] for row in job_manager.list_queues()] == ["q"]
    assert job_manager.check_connection()


def test_external_connection(
    sync_connector_open: SyncPsycopgConnector, conninfo: str
) -> None:
    job_manager = manager.JobManager(sync_connector_open)
    with psycopg.connect(conninfo) as conn:
        job_manager.defer_job(make_job(), connection=conn)
        conn.rollback()
        job = job_manager.defer_job(make_job(), connection=conn)
        assert (
            job_manager.get_job_status(job.id or 0, connection=conn) == jobs.Status.TODO
        )
        assert job_manager.list_jobs() == []  # not committed yet
        conn.commit()
    assert [j.id for j in job_manager.list_jobs()] == [2]


def test_json_hooks(conninfo: str) -> None:
    connector = SyncPsycopgConnector(
        conninfo=conninfo,
        json_dumps=lambda value: json.dumps(value, default=lambda o: sorted(o)),
        json_loads=lambda raw: json.loads(
            raw, object_hook=lambda d: {**d, "seen": True}
        ),
    )
    connector.open()
    try:
        job_manager = manager.JobManager(connector)
        job_manager.defer_job(make_job(task_kwargs={"tags": {"b", "a"}}))
        (job,) = job_manager.list_jobs()
        assert job.task_kwargs == {"tags": ["a", "b"], "seen": True}
    finally:
        connector.close()


def test_apply_schema(empty_db_name: str) -> None:
    connector = SyncPsycopgConnector(conninfo=f"dbname={empty_db_name}")
    connector.open()
    try:
        app = procrastinate.App(connector=connector)
        assert not app.check_connection()
        app.schema_manager.apply_schema()
        assert app.check_connection()
        with pytest.raises(exceptions.ConnectorException, match="already exists"):
            app.schema_manager.apply_schema()
    finally:
        connector.close()


def test_unreachable_database_is_one_clear_error() -> None:
    connector = SyncPsycopgConnector(conninfo="host=127.0.0.1 port=1 connect_timeout=2")
    with pytest.raises(exceptions.DatabaseUnavailable, match="Could not connect"):
        connector.open()


def test_async_use_is_refused(sync_connector_open: SyncPsycopgConnector) -> None:
    app = procrastinate.App(connector=sync_connector_open)
    with pytest.raises(exceptions.SyncConnectorConfigurationError):
        app.run_worker(wait=False)


def test_not_open_is_a_clear_error(conninfo: str) -> None:
    job_manager = manager.JobManager(SyncPsycopgConnector(conninfo=conninfo))
    with pytest.raises(exceptions.AppNotOpen):
        job_manager.list_jobs()
